"""``polyagents demo``: the society on Ray, one agent killed part-way comes back, the run finishes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cluster.cli import main


@pytest.mark.slow
def test_demo_kills_one_agent_which_restarts_and_the_run_finishes_with_a_report(
    ray_session: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(["demo", "--duration", "120", "--kill", "trader", "--kill-at", "0.3", "--no-dashboard",
               "--out", str(tmp_path), "--json"])
    out = capsys.readouterr().out.strip().splitlines()
    assert rc == 0
    summary = json.loads(out[-1])
    assert summary["runtime"] == "ray" and summary["killed"] == "trader"
    assert summary["restarts_by_agent"].get("trader", 0) >= 1
    assert summary["restarts"] >= 1
    assert Path(summary["report"]).exists() and Path(summary["journal"]).exists()
    assert summary["handler_errors"] == 0
    for key in ("run_id", "pnl", "fees", "trades", "orders_sent", "orders_rejected", "sharpe", "max_drawdown",
                "arb_available", "arb_captured"):
        assert key in summary
    # the report marks the kill and the restart, from the journal's lifecycle records
    from simulation.analysis import analyze

    ledger = analyze(summary["journal"]).ledger
    assert ledger is not None
    marked = {(m.kind, m.subject) for m in ledger.markers}
    assert {("crash", "trader"), ("restart", "trader")} <= marked
    page = Path(summary["report"]).read_text()
    assert '<h2 id="events">' in page and "<td>restart</td><td>trader</td>" in page


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["demo", "--kill", "nobody"], "--kill nobody"),
        (["demo", "--duration", "1"], "--duration"),
        (["demo", "--scenario", "no_such_scenario"], "no_such_scenario"),
    ],
)
def test_demo_bad_arguments_exit_non_zero_with_one_line(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc != 0 and len(err) == 1 and needle in err[0]
