"""Node loss: agents on a removed node come back on another node.

It needs a multi-node cluster of its own (``ray.cluster_utils.Cluster``), so it runs
tests/ray_node_loss_script.py in a subprocess: the session's shared cluster is neither used nor
disturbed, and the two never share a driver.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent


@pytest.mark.slow
def test_agent_on_removed_node_is_restarted_on_another_node() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_ADDRESS")}
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS.parent), str(TESTS)])
    env["RAY_ENABLE_UV_RUN_RUNTIME_ENV"] = "0"
    out = subprocess.run(
        [sys.executable, str(TESTS / "ray_node_loss_script.py")], env=env, capture_output=True, text=True, timeout=280
    )
    assert out.returncode == 0, (out.stdout[-2000:], out.stderr[-3000:])
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["before"] == result["removed"]
    assert result["after"] == result["replacement"]
    assert result["events"][:1] == ["start"]
    assert "crash" in result["events"] and result["events"][-1] == "restart"
    assert result["watcher_restarts"] == 0  # the agent on the surviving node was not touched
