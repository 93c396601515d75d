"""The command line against a tree that runs (on the session's Ray cluster): the live journal is
readable through `journal sql` (the journal actor holds the file), `up` on a running tree reports
the agents that run, and control commands print none of Ray's own log lines unless `--verbose`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from cluster.cli import main

EXE = Path(sys.executable).with_name("polyagents")
#: A line of Ray's own logging: ``2026-12-04 01:11:05,123\tINFO worker.py:1 -- ...`` (its Python
#: loggers) or ``[2026-12-04 01:11:05,123 I 123 456] core_worker.cc:...`` (its C++ core).
RAY_LOG_LINE = re.compile(r"^(\x1b\[[0-9;]*m)*(\[?\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[,.]\d+.*(INFO|WARNING| [IWE] \d+)"
                          r"|.*\b(worker|node|client_mode_hook)\.py:\d+ -- )")


def _last_json(capsys: pytest.CaptureFixture[str]) -> Any:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def live_tree(ray_session: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One tree (the default society, one strategist) started with `up --address` on the session's
    cluster; its cluster record in a tmp state directory; stopped with `down` at the end."""
    import ray

    root = tmp_path_factory.mktemp("live")
    state = root / "state"
    mp = pytest.MonkeyPatch()
    mp.setenv("POLYAGENTS_STATE_DIR", str(state))
    address = ray.get_runtime_context().gcs_address
    cfg = root / "tree.yaml"
    cfg.write_text(yaml.safe_dump({"world": {"markets": 1, "crowd": False}, "tree": {"strategists": 1}}))
    run_dir = root / "run"
    capture = _Capture()
    try:
        with capture:
            rc = main(["up", "--address", address, "--config", str(cfg), "--run-dir", str(run_dir), "--json"])
        assert rc == 0, capture.err
        info = json.loads(capture.out.strip().splitlines()[-1])
        yield {"address": address, "root": root, "state": state, "run_dir": run_dir, "info": info}
    finally:
        with capture:
            main(["down", "--address", address])
        mp.undo()


class _Capture:
    """stdout/stderr of in-process CLI calls in a module-scoped fixture (capsys is per test)."""

    def __enter__(self) -> _Capture:
        import contextlib
        import io

        self._out, self._err = io.StringIO(), io.StringIO()
        self._cms = [contextlib.redirect_stdout(self._out), contextlib.redirect_stderr(self._err)]
        for cm in self._cms:
            cm.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        for cm in reversed(self._cms):
            cm.__exit__(None, None, None)
        self.out, self.err = self._out.getvalue(), self._err.getvalue()


def _agents_running(address: str, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """The agents (not services) the running tree's status shows as running."""
    assert main(["status", "--json", "--address", address]) == 0
    st = _last_json(capsys)
    return sorted(a["id"] for a in st["agents"] if a["role"] != "journal" and a["state"] == "running")


@pytest.mark.slow
@pytest.mark.timeout(900)  # the module's tree starts in the first test (a loaded machine: minutes)
def test_journal_sql_reads_the_running_trees_journal_through_its_actor_read_only(
    live_tree: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    import duckdb

    db = live_tree["run_dir"] / "journal.duckdb"
    # the journal actor (another process) holds the file: a direct read is refused by DuckDB
    with pytest.raises(duckdb.IOException, match="lock"):
        duckdb.connect(str(db), read_only=True)
    assert main(["journal", "sql", "--db", str(db), "--json",
                 "SELECT agent, event FROM agent_events ORDER BY time_ns"]) == 0
    rows = _last_json(capsys)
    assert {"agent": "trader", "event": "start"} in rows  # what the tree journalled as it started
    # without --db: the journal of the tree `up` recorded
    assert main(["journal", "sql", "--csv", "SELECT count(*) AS n FROM agent_events"]) == 0
    head, value = capsys.readouterr().out.strip().splitlines()[-2:]
    assert head == "n" and int(value) >= len(rows)
    assert main(["journal", "sql", "SELECT event FROM agent_events LIMIT 1"]) == 0
    assert "(live, through the running tree's journal)" in " ".join(capsys.readouterr().out.split())
    # still read-only, and one line for a bad query
    for query, needle in (("DELETE FROM agent_events", "read-only"), ("SELEKT 1", "query failed"),
                          ("/* nothing */", "no SQL statement")):
        assert main(["journal", "sql", "--db", str(db), query]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and needle in err[0], (query, err)
    assert main(["journal", "sql", "--db", str(db), "--json", "SELECT count(*) AS n FROM agent_events"]) == 0
    assert _last_json(capsys)[0]["n"] >= len(rows)  # the DELETE was refused, not run


@pytest.mark.slow
@pytest.mark.timeout(900)  # the module's tree starts in the first test (a loaded machine: minutes)
def test_up_on_a_running_tree_reports_the_agents_that_run_not_the_configs(
    live_tree: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    address = live_tree["address"]
    first = live_tree["info"]
    running = _agents_running(address, capsys)
    assert first["agents"] == running and first["running"] == running and not first["adopted"]
    two = live_tree["root"] / "two.yaml"
    two.write_text(yaml.safe_dump({"world": {"markets": 1, "crowd": False}, "tree": {"strategists": 2}}))
    assert main(["up", "--address", address, "--config", str(two), "--json"]) == 0
    again = _last_json(capsys)
    assert again["adopted"] and again["tree_id"] == first["tree_id"]
    assert again["agents"] == again["running"] == _agents_running(address, capsys)
    assert "strategist_2" not in again["agents"]  # the running tree was adopted, not re-shaped
    assert main(["up", "--address", address, "--config", str(two)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert f"{len(running)} agents," in out and "the config's tree section was not applied" in out


def _status_process(address: str, state: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "POLYAGENTS_STATE_DIR": str(state), "COLUMNS": "80"}
    return subprocess.run([str(EXE), "status", "--address", address, *extra], capture_output=True, text=True,
                          timeout=300, env=env)


@pytest.mark.slow
@pytest.mark.timeout(900)  # the module's tree starts in the first test (a loaded machine: minutes)
def test_status_prints_no_ray_log_lines_unless_verbose_and_fits_80_columns(live_tree: dict[str, Any]) -> None:
    quiet = _status_process(live_tree["address"], live_tree["state"])
    assert quiet.returncode == 0, quiet.stderr
    lines = (quiet.stdout + quiet.stderr).splitlines()
    assert not [ln for ln in lines if RAY_LOG_LINE.match(ln)], lines
    assert quiet.stderr.strip() == ""
    assert max(len(ln) for ln in quiet.stdout.splitlines()) <= 80
    assert "…" not in quiet.stdout  # no id or time cut short
    for agent in live_tree["info"]["agents"]:
        assert re.search(rf"^\s*{agent}\s+running\b", quiet.stdout, re.M), agent
    loud = _status_process(live_tree["address"], live_tree["state"], "--verbose")
    assert loud.returncode == 0, loud.stderr
    assert [ln for ln in (loud.stdout + loud.stderr).splitlines() if RAY_LOG_LINE.match(ln)], loud.stderr


def test_journal_held_by_a_process_no_tree_recorded_is_one_line_naming_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("POLYAGENTS_STATE_DIR", str(tmp_path / "state"))
    db = tmp_path / "held.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from cluster.journal import Journal; j = Journal(sys.argv[1]); "
         "print('open', flush=True); sys.stdin.read()", str(db)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parent.parent,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        assert main(["journal", "sql", "--db", str(db), "SELECT 1"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "open for writing in another process" in err[0] and "--address" in err[0], err
    finally:
        holder.communicate("", timeout=60)
