"""The control commands from the user's side: up, status, agents add/ls/remove, kill-switch, down."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from cluster.cli import main


@pytest.fixture(autouse=True)
def _state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cluster record `up` writes goes to a tmp dir, never the user's ~/.polyagents."""
    monkeypatch.setenv("POLYAGENTS_STATE_DIR", str(tmp_path / "state"))


def _last_json(capsys: pytest.CaptureFixture[str]) -> object:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.mark.slow
def test_cli_starts_changes_halts_and_stops_a_tree(
    ray_session: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import ray

    address = ray.get_runtime_context().gcs_address
    cfg = tmp_path / "tree.yaml"
    cfg.write_text(yaml.safe_dump({"world": {"markets": 1, "crowd": False},
                                   "tree": {"agent_configs": {"trader": {"account": "trader"}}}}))
    assert main(["up", "--address", address, "--config", str(cfg), "--run-dir", str(tmp_path), "--json"]) == 0
    try:
        info = _last_json(capsys)
        assert isinstance(info, dict) and "strategist" in info["agents"]
        assert main(["agents", "add", "strategist", "--name", "strategist_cli", "--set", "bankroll=500",
                     "--address", address]) == 0
        assert main(["agents", "ls", "--json", "--address", address]) == 0
        listed = {a["id"]: a for a in _last_json(capsys)}  # type: ignore[union-attr]
        assert listed["strategist_cli"]["role"] == "strategist"
        assert main(["agents", "add", "strategist", "--name", "bad", "--set", "no_such_field=1",
                     "--address", address]) == 2
        assert "no_such_field" in capsys.readouterr().err
        assert main(["kill-switch", "on", "--address", address]) == 0
        assert main(["status", "--json", "--address", address]) == 0
        status = _last_json(capsys)
        assert isinstance(status, dict)
        assert {a["id"] for a in status["agents"]} >= {"trader", "risk_officer", "strategist_cli"}
        assert main(["agents", "remove", "strategist_cli", "--address", address]) == 0
        capsys.readouterr()
        assert main(["agents", "remove", "ghost", "--address", address]) == 2
        assert capsys.readouterr().err.strip().splitlines() == ["error: no agent named 'ghost'"]
        assert main(["agents", "ls", "--json", "--address", address]) == 0
        assert "strategist_cli" not in {a["id"] for a in _last_json(capsys)}  # type: ignore[union-attr]
    finally:
        assert main(["down", "--address", address]) == 0
    assert main(["status", "--address", address]) == 1
    assert "no running tree" in capsys.readouterr().err
