"""ray_config.yaml is a real cluster-launcher config: Ray's own schema and validation accept it."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import ray
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _config() -> dict:
    return yaml.safe_load((ROOT / "ray_config.yaml").read_text())


def test_ray_config_validates_against_rays_launcher_schema() -> None:
    schema = json.loads((Path(ray.__file__).parent / "autoscaler" / "ray-schema.json").read_text())
    jsonschema.validate(_config(), schema)


def test_ray_config_passes_rays_own_prepare_and_validate() -> None:
    from ray.autoscaler._private.util import prepare_config, validate_config

    validate_config(prepare_config(_config()))


def test_ray_config_pins_feed_agents_with_a_custom_resource_and_installs_the_project() -> None:
    cfg = _config()
    assert cfg["provider"]["type"] == "aws"
    feed = cfg["available_node_types"]["feed"]["resources"]
    assert feed.get("feed", 0) >= 1
    assert any("uv sync --frozen" in c for c in cfg["setup_commands"])


def test_ray_config_gives_every_node_the_auth_token_it_starts_with() -> None:
    cfg = _config()
    assert any(remote.endswith(".ray/auth_token") for remote in cfg["file_mounts"])
    starts = cfg["head_start_ray_commands"] + cfg["worker_start_ray_commands"]
    assert sum("RAY_AUTH_MODE=token ray start" in c for c in starts) == 2
