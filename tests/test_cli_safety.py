"""The CLI is safe to use: no run overwrites another, bad input is one line naming the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cluster.cli import main
from cluster.journal import open_read_only
from simulation.runner import RUN_META_KEY, claim_run_dir, make_run_id
from simulation.scenario import load_scenario, resolve_scenario_path


def _err_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().err.strip().splitlines()


def test_two_identical_sim_runs_keep_both_journals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["sim", "run", "quiet_market", "--set", "duration_s=20", "--seed", "3", "--no-report",
            "--out", str(tmp_path), "--json"]
    summaries = []
    for _ in range(2):
        assert main(argv) == 0
        summaries.append(json.loads(capsys.readouterr().out.strip().splitlines()[-1]))
    a, b = (Path(s["journal"]) for s in summaries)
    assert a != b and a.exists() and b.exists()
    assert summaries[0]["run_id"] != summaries[1]["run_id"]
    for s in summaries:
        assert "quiet_market" in s["run_id"] and "-s3-" in s["run_id"] and "-local-" in s["run_id"]
        con = open_read_only(Path(s["journal"]))
        try:
            row = con.execute("SELECT value FROM meta WHERE key = ?", [RUN_META_KEY]).fetchone()
        finally:
            con.close()
        assert row is not None and json.loads(row[0])["run_id"] == s["run_id"]
    # same scenario and seed: the same trading, in two separate journals
    assert summaries[0]["trading_hash"] == summaries[1]["trading_hash"]


def test_run_id_names_runtime_and_differs_within_one_second() -> None:
    sc = load_scenario(resolve_scenario_path("quiet_market"))
    ids = {make_run_id(sc, 1, "ray", now_ns=1_767_225_600_000_000_000) for _ in range(50)}
    assert len(ids) == 50
    assert all(i.startswith("20260101T000000Z-quiet_market-s1-ray-") for i in ids)


def test_existing_run_directory_is_refused_not_overwritten(tmp_path: Path) -> None:
    from cluster.errors import UserError

    taken = tmp_path / "run"
    taken.mkdir()
    (taken / "journal.duckdb").write_text("precious")
    with pytest.raises(UserError, match="already exists"):
        claim_run_dir(taken)
    assert (taken / "journal.duckdb").read_text() == "precious"


def _closed_port() -> int:
    """A local TCP port nothing listens on (bound once to pick it, then closed)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("query", ["", "   ", ";", "/* only a comment */"])
def test_journal_sql_without_a_statement_is_one_line_exit_2(
    query: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cluster.journal import Journal

    db = tmp_path / "j.duckdb"
    Journal(db).close()
    assert main(["journal", "sql", "--db", str(db), query]) == 2
    err = _err_lines(capsys)
    assert len(err) == 1 and err[0].startswith("error: journal sql:")


def test_agents_add_with_a_bad_value_names_the_field_before_connecting(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # the address is a closed port: had the CLI connected first, the error would be about the cluster
    address = f"127.0.0.1:{_closed_port()}"
    rc = main(["agents", "add", "strategist", "--name", "s2", "--set", "bankroll=lots", "--address", address])
    err = _err_lines(capsys)
    assert rc == 2
    assert len(err) == 1 and err[0].startswith("error: --set bankroll:") and "'lots'" in err[0]
    assert "http" not in err[0]  # no pydantic dump with its documentation URL


def test_agents_add_with_an_unknown_role_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["agents", "add", "banker", "--name", "b", "--address", f"127.0.0.1:{_closed_port()}"])
    err = _err_lines(capsys)
    assert rc == 2 and len(err) == 1 and "unknown role 'banker'" in err[0]


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"tree": {"strategists": "two"}}, "tree.strategists:"),
        ({"tree": {"agent_configs": {"trader": {"bankroll": "lots"}}}}, "tree.agent_configs.trader.bankroll:"),
        ({"tree": {"agent_configs": {"ghost": {"x": 1}}}}, "tree.agent_configs.ghost:"),
        ({"tree": {"no_such_knob": 1}}, "tree.no_such_knob: unknown field"),
        ({"world": {"markets": "many"}}, "world.markets:"),
        ({"settings": {"ping_every": 3}}, "settings.ping_every: unknown setting"),
        ({"trees": {}}, "unknown section"),
    ],
)
def test_up_with_a_bad_config_names_the_field_before_any_connection(
    config: dict[str, object], field: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import yaml

    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(config))
    rc = main(["up", "--config", str(bad), "--address", f"127.0.0.1:{_closed_port()}", "--run-dir",
               str(tmp_path / "run")])
    err = _err_lines(capsys)
    assert rc == 2
    assert len(err) == 1 and err[0].startswith(f"error: {bad}: ") and field in err[0], err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("command", [["status"], ["agents", "ls"], ["kill-switch", "on"], ["down"], ["up"]])
def test_unreachable_address_fails_with_one_line_and_exit_1(
    command: list[str], tmp_path: Path
) -> None:
    """A closed port: the command ends by itself (the subprocess timeout is only a guard against a
    hang) with one line on stderr, instead of Ray's endless retries."""
    import os
    import subprocess
    import sys

    exe = Path(sys.executable).with_name("polyagents")
    env = {**os.environ, "POLYAGENTS_STATE_DIR": str(tmp_path / "state")}
    out = subprocess.run([str(exe), *command, "--address", f"127.0.0.1:{_closed_port()}"],
                         capture_output=True, text=True, timeout=120, env=env)
    err = out.stderr.strip().splitlines()
    assert out.returncode == 1
    assert len(err) == 1 and err[0].startswith("error: no Ray cluster at 127.0.0.1:"), err


def test_control_command_without_a_recorded_cluster_refuses_instead_of_guessing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("POLYAGENTS_STATE_DIR", str(tmp_path / "state"))
    assert main(["kill-switch", "on"]) == 2
    err = _err_lines(capsys)
    assert len(err) == 1 and "no polyagents cluster recorded" in err[0]


def test_journal_sql_table_fits_80_columns_piped_and_csv_is_exact(tmp_path: Path) -> None:
    """Piped (no terminal) at COLUMNS=80: every line fits, no cell is cut to `…`, times are UTC."""
    import csv
    import io
    import os
    import subprocess
    import sys
    from decimal import Decimal

    from cluster.journal import Journal
    from protocols import Fill, Side

    db = tmp_path / "run.duckdb"
    j = Journal(db)
    j.record_sync(Fill(time_ns=1_767_225_600_000_000_000, fill_id="fill-with-a-long-identifier-0001",
                       client_order_id="client-order-with-a-long-id", account="us", token_id="yes-token-long-id",
                       market="market-with-a-long-name", side=Side.BUY, price=Decimal("0.41"), size=Decimal(10),
                       fee=Decimal("0.1")), agent="trader")
    j.close()
    exe = Path(sys.executable).with_name("polyagents")
    env = {**os.environ, "COLUMNS": "80"}
    out = subprocess.run([str(exe), "journal", "sql", "--db", str(db), "SELECT * FROM fills"],
                         capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines and max(len(ln) for ln in lines) <= 80
    assert "…" not in out.stdout
    assert "2026-01-01T00:00:00.000+00:00" in out.stdout  # a human time, not raw nanoseconds
    assert "fill-with-a-long-identifier-0001" in out.stdout  # whole, not folded into a 3-wide column
    csv_out = subprocess.run([str(exe), "journal", "sql", "--db", str(db), "--csv", "SELECT fill_id, price FROM fills"],
                             capture_output=True, text=True, timeout=120, env=env)
    assert list(csv.reader(io.StringIO(csv_out.stdout))) == [["fill_id", "price"],
                                                            ["fill-with-a-long-identifier-0001", "0.410000"]]


def test_help_has_no_type_noise_on_flags_and_version_flag_works() -> None:
    import subprocess
    import sys

    exe = Path(sys.executable).with_name("polyagents")
    helped = subprocess.run([str(exe), "journal", "sql", "--help"], capture_output=True, text=True, timeout=120,
                            env={"COLUMNS": "80", "PATH": "/usr/bin:/bin"})
    assert helped.returncode == 0 and "--csv" in helped.stdout and "<bool>" not in helped.stdout
    v = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=120)
    assert v.returncode == 0 and v.stdout.startswith("polyagents ")


@pytest.mark.parametrize("answer", [None, b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"])
def test_an_address_where_something_else_listens_fails_with_one_line_and_exit_1(
    answer: bytes | None, tmp_path: Path
) -> None:
    """A port that accepts and stays silent, or a web server (the dashboard's port given by
    mistake): not a Ray cluster, said in one line, where Ray alone retries for minutes with raw
    GCS warnings. The subprocess timeout only guards against a hang."""
    import os
    import socket
    import subprocess
    import sys
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    conns: list[socket.socket] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            conns.append(conn)
            if answer is not None:
                conn.recv(1024)
                conn.sendall(answer)

    threading.Thread(target=serve, daemon=True).start()
    exe = Path(sys.executable).with_name("polyagents")
    env = {**os.environ, "POLYAGENTS_STATE_DIR": str(tmp_path / "state")}
    try:
        out = subprocess.run([str(exe), "status", "--address", f"127.0.0.1:{server.getsockname()[1]}"],
                             capture_output=True, text=True, timeout=120, env=env)
    finally:
        server.close()
        for c in conns:
            c.close()
    err = out.stderr.strip().splitlines()
    assert out.returncode == 1
    assert len(err) == 1 and err[0].startswith("error: no Ray cluster at 127.0.0.1:"), err
    assert ("did not answer" if answer is None else "not gRPC") in err[0]


@pytest.mark.parametrize(("signame", "code", "line"), [("SIGTERM", 143, "terminated"), ("SIGINT", 130, "interrupted")])
def test_sigterm_and_ctrl_c_end_a_running_command_with_one_line_and_their_exit_code(
    signame: str, code: int, line: str, tmp_path: Path
) -> None:
    """A long `sim run` (a day of virtual time), signalled once its run directory exists: it ends
    on its own with one line and the signal's exit code, not when its run does (nor with DuckDB's
    "Query interrupted" when the signal lands in a journal write). The run directory is polled
    with a bounded wait; the subprocess timeout only guards against a hang."""
    import os
    import signal
    import subprocess
    import sys
    import time

    exe = Path(sys.executable).with_name("polyagents")
    proc = subprocess.Popen([str(exe), "sim", "run", "quiet_market", "--set", "duration_s=86400", "--no-report",
                             "--out", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ})
    try:
        deadline = time.monotonic() + 300
        while not list(tmp_path.glob("*/journal.duckdb")) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)  # polling for a condition, with the deadline above
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        proc.send_signal(getattr(signal, signame))
        _out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == code, err
    assert err.strip().splitlines()[-1] == line, err
    assert "error" not in err


def test_status_and_agents_ls_tables_fit_80_columns_with_long_ids_and_paths_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What `status` and `agents ls` print for a tree with long agent names and a crash, at 80
    columns: every line fits, nothing is cut to ``…``, times are UTC times of day."""
    import io

    from rich.console import Console

    import cluster.commands.runtime_control as rc

    buf = io.StringIO()
    monkeypatch.setattr(rc, "console", Console(file=buf, width=80))
    agents = [
        {"id": name, "role": role, "path": f"root/{branch}/{name}", "state": "running", "restarts": 2,
         "mailbox": 0, "messages": 123456, "last_message_ns": 1_767_225_605_000_000_000, "last_crash": crash}
        for name, role, branch, crash in (
            ("market_watcher", "market_watcher", "data", None),
            ("strategist_with_a_long_name", "strategist", "decision", None),
            ("alpha_momentum_sleeve", "strategist", "decision",
             "RuntimeError: the handler raised on a message it could not parse, and more words after it"),
        )
    ]
    status = {"tree": {"children": []}, "agents": agents,
              "totals": {"trading_state": "ACTIVE", "pnl": {"realized": "0", "equity": "1000"}, "positions": []}}
    rc._print_tree(status)
    rc._print_agents(agents)
    text = buf.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "…" not in text
    lines = text.splitlines()
    for whole in ("strategist_with_a_long_name", "root/decision/strategist_with_a_long_name",
                  "alpha_momentum_sleeve", "(strategist)", "00:00:05"):
        assert any(whole in line for line in lines), whole
    assert agents[2]["last_crash"] in " ".join(text.split())  # the crash in full, below the table
    assert "pnl: realized 0 · equity 1000 pUSD" in text


def test_up_into_a_run_directory_that_holds_a_journal_is_refused_before_connecting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("POLYAGENTS_STATE_DIR", str(tmp_path / "state"))
    taken = tmp_path / "run"
    taken.mkdir()
    (taken / "journal.duckdb").write_text("precious")
    # a closed port: had `up` connected first, the error would be about the cluster
    rc = main(["up", "--address", f"127.0.0.1:{_closed_port()}", "--run-dir", str(taken)])
    err = _err_lines(capsys)
    assert rc == 2 and len(err) == 1 and "already holds a journal" in err[0], err
    assert (taken / "journal.duckdb").read_text() == "precious"


@pytest.mark.parametrize("command", [["up"], ["status"], ["agents", "add"], ["kill-switch"], ["down"],
                                     ["sim", "run"], ["sim", "sweep"], ["markets"], ["runs", "ls"],
                                     ["journal", "sql"]])
def test_help_of_every_command_fits_80_columns_without_type_noise(
    command: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    assert main([*command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "<bool>" not in out and "BOOLEAN" not in out, out
    assert max(len(line) for line in out.splitlines()) <= 80
