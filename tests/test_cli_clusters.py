"""Two polyagents clusters on one machine: each control command acts on its own, and `down` stops
only the head its `up` started (the other cluster keeps running)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

EXE = Path(sys.executable).with_name("polyagents")


def _cli(state: Path, *argv: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "POLYAGENTS_STATE_DIR": str(state)}
    for k in ("RAY_ADDRESS", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN_PATH"):
        env.pop(k, None)
    return subprocess.run([str(EXE), *argv], capture_output=True, text=True, timeout=timeout, env=env,
                          cwd=state.parent)


def _json(out: subprocess.CompletedProcess[str]) -> Any:
    assert out.returncode == 0, out.stderr[-2000:]
    # the JSON line is ours; Ray's raylet may still print a warning of its own after it
    for line in reversed(out.stdout.strip().splitlines()):
        if line.startswith(("{", "[")):
            return json.loads(line)
    raise AssertionError(f"no JSON line in {out.stdout[-2000:]!r}")


def _alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow
@pytest.mark.timeout(600)  # two Ray heads and two trees from scratch, each command a new process
def test_two_clusters_each_command_acts_on_its_own_and_down_leaves_the_other_running(tmp_path: Path) -> None:
    states = {name: tmp_path / name / "state" for name in ("a", "b")}
    pids: list[int] = []
    for name, n in (("a", 1), ("b", 2)):
        states[name].parent.mkdir(parents=True)
        (states[name].parent / "tree.yaml").write_text(
            yaml.safe_dump({"world": {"markets": 1, "crowd": False}, "tree": {"strategists": n}}))
    try:
        a = _json(_cli(states["a"], "up", "--config", "tree.yaml", "--no-dashboard", "--num-cpus", "2", "--json"))
        pids.append(int(a["head_pid"]))
        b = _json(_cli(states["b"], "up", "--config", "tree.yaml", "--no-dashboard", "--num-cpus", "2", "--json"))
        pids.append(int(b["head_pid"]))
        # b started a head of its own: it did not join a's (latest-started) cluster
        assert a["address"] != b["address"] and a["tree_id"] != b["tree_id"]
        assert "strategist_2" in b["agents"] and "strategist_2" not in a["agents"]
        rec_a = json.loads((states["a"] / "cluster.json").read_text())
        assert rec_a["address"] == a["address"] and rec_a["tree_id"] == a["tree_id"]
        assert json.loads((Path(rec_a["run_dir"]) / "cluster.json").read_text()) == rec_a

        ids_a = {x["id"] for x in _json(_cli(states["a"], "agents", "ls", "--json"))}
        ids_b = {x["id"] for x in _json(_cli(states["b"], "agents", "ls", "--json"))}
        assert "strategist_2" in ids_b and "strategist_2" not in ids_a
        assert _cli(states["a"], "kill-switch", "on").returncode == 0
        deadline = time.monotonic() + 300
        while (state_a := _json(_cli(states["a"], "status", "--json"))["totals"]["trading_state"]) != "HALTED":
            assert time.monotonic() < deadline, f"a's tree never halted: {state_a}"
            time.sleep(1)  # polling for the halt to reach a's risk officer, with the deadline above
        # the kill switch halted a's tree only: b's still trades
        assert _json(_cli(states["b"], "status", "--json"))["totals"]["trading_state"] == "ACTIVE"

        down_a = _cli(states["a"], "down")
        assert down_a.returncode == 0, down_a.stderr[-2000:]
        assert not _alive(pids[0])
        assert not (states["a"] / "cluster.json").exists()
        assert _alive(pids[1])
        ids_b_after = {x["id"] for x in _json(_cli(states["b"], "agents", "ls", "--json"))}
        assert ids_b_after == ids_b
        gone = _cli(states["a"], "status")
        assert gone.returncode == 2 and "no polyagents cluster recorded" in gone.stderr
    finally:
        down_b = _cli(states["b"], "down")
        for pid in pids:  # only the heads these ups started, if a down could not stop them
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
    assert down_b.returncode == 0, down_b.stderr[-2000:]
