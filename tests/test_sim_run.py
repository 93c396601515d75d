"""Whole runs: our society against the crowd on the simulated exchange, on the virtual clock.

These are the simulator's honesty checks: determinism by journal hash (also across processes),
no phantom arbitrage, captured ≤ available, and faster competitors shortening gaps.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from cluster.cli import main
from simulation.analysis import ARB_STRATEGIES, analyze
from simulation.runner import RunResult, run_scenario
from simulation.scenario import load_scenario

ROOT = Path(__file__).resolve().parent.parent
SCEN = ROOT / "scenarios"
SUMMARY_KEYS = {
    "run_id", "pnl", "fees", "trades", "orders_sent", "orders_rejected", "sharpe", "sortino", "calmar",
    "max_drawdown", "win_rate", "profit_factor", "arb_available", "arb_captured", "journal", "report",
}


def run(name: str, tmp: Path, seed: int = 1, report: bool = False, **overrides: Any) -> RunResult:
    if name == "arbitrage_bursts" and "duration_s" in overrides:
        overrides.setdefault("events.0.resolve_at_s", overrides["duration_s"])  # resolve at the (new) end
    sc = load_scenario(SCEN / f"{name}.yaml", overrides)
    return run_scenario(sc, seed, "local", tmp, report=report)


def arb_orders(result: RunResult) -> int:
    con = duckdb.connect(str(result.journal), read_only=True)
    try:
        row = con.execute(
            f"SELECT count(*) FROM orders WHERE strategy IN ({','.join('?' * len(ARB_STRATEGIES))})",
            sorted(ARB_STRATEGIES),
        ).fetchone()
    finally:
        con.close()
    return int(row[0]) if row else 0


def test_same_scenario_and_seed_give_the_same_journal_hash_and_another_seed_does_not(tmp_path: Path) -> None:
    a = run("arbitrage_bursts", tmp_path / "a", duration_s=300)
    b = run("arbitrage_bursts", tmp_path / "b", duration_s=300)
    c = run("arbitrage_bursts", tmp_path / "c", seed=2, duration_s=300)
    assert a.summary["orders_sent"] > 0  # the hash covers real trading, not an empty journal
    assert a.journal_hash == b.journal_hash
    per_run = ("journal", "report", "wall_s", "run_id", "started_at")  # where and when it ran, not what
    assert a.summary == {**b.summary, **{k: a.summary[k] for k in per_run if k in a.summary}}
    assert c.journal_hash != a.journal_hash


def test_journal_hash_is_the_same_in_another_process(tmp_path: Path) -> None:
    here = run("arbitrage_bursts", tmp_path / "here", duration_s=200)
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    proc = subprocess.run(
        [sys.executable, "-m", "cluster.cli", "sim", "run", str(SCEN / "arbitrage_bursts.yaml"), "--seed", "1",
         "--set", "duration_s=200", "--set", "events.0.resolve_at_s=200", "--json", "--no-report",
         "--out", str(tmp_path / "there")],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=240, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    there = json.loads(proc.stdout.strip().splitlines()[-1])
    assert there["journal_hash"] == here.journal_hash


def test_no_mispricing_and_fees_on_means_no_phantom_arbitrage(tmp_path: Path) -> None:
    r = run("quiet_market", tmp_path, duration_s=300)
    assert r.summary["arb_available"] == 0
    assert r.summary["arb_captured"] == 0
    assert arb_orders(r) == 0
    assert r.summary["handler_errors"] == 0


def test_gaps_smaller_than_fees_are_left_alone(tmp_path: Path) -> None:
    # the injected asks sum to ~0.97: below 1, but not after the ~0.04 of taker fees on the basket
    overrides: dict[str, Any] = {"duration_s": 300, "gaps.0.discount": 0.03}
    r = run("arbitrage_bursts", tmp_path, **overrides)
    assert r.extra["monitor"].episodes == []
    assert r.summary["arb_available"] == 0
    assert arb_orders(r) == 0
    assert r.summary["arb_captured"] == 0


def test_injected_gaps_are_captured_but_never_more_than_available(tmp_path: Path) -> None:
    r = run("arbitrage_bursts", tmp_path, duration_s=400, report=True)
    s = r.summary
    assert 0 < s["arb_captured"] <= s["arb_available"]
    a = r.analysis
    # attribution adds up: every fill valued at its payout equals the equity change
    assert sum(a.strategy_pnl.values(), Decimal(0)) == a.pnl
    # with no competitor every basket completes: all of the arbitrage PnL is complete sets
    assert a.arb_residual == 0
    assert a.arb_captured <= a.arb_available
    assert r.report is not None and r.report.exists()
    page = r.report.read_text()
    for needle in ("Assumptions", "equity.png", "drawdown.png", "attribution.png", "neg_risk_basket"):
        assert needle in page
    for png in ("equity.png", "drawdown.png", "attribution.png"):
        assert (r.out_dir / png).stat().st_size > 1000


def test_faster_competing_arbitrageurs_shorten_gaps_and_lower_our_capture(tmp_path: Path) -> None:
    alone = run("arbitrage_bursts", tmp_path / "alone", duration_s=600)
    fast: dict[str, Any] = {"crowd.arbs.count": 2, "crowd.arbs.scan_ms": 10, "crowd.arbs.order_latency_ms": 5}
    raced = run("arbitrage_bursts", tmp_path / "raced", duration_s=600, **fast)
    assert alone.summary["gap_episodes"] > 3 and raced.summary["gap_episodes"] > 3
    assert raced.summary["gap_half_life_s"] < alone.summary["gap_half_life_s"]
    assert raced.summary["arb_captured"] < alone.summary["arb_captured"]
    assert raced.summary["arb_captured"] <= raced.summary["arb_available"]


def test_cli_sim_run_json_last_line_has_the_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["sim", "run", str(SCEN / "quiet_market.yaml"), "--seed", "3", "--json", "--out", str(tmp_path),
                 "--set", "duration_s=60", "--set", "crowd.noise.count=20"])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    summary = json.loads(out[-1])
    assert set(summary) >= SUMMARY_KEYS
    assert Path(summary["journal"]).exists() and Path(summary["report"]).exists()
    # `polyagents report` rebuilds the same numbers from the journal alone
    code = main(["report", str(Path(summary["journal"]).parent), "--json"])
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0
    for k in ("pnl", "fees", "trades", "sharpe", "arb_available", "arb_captured"):
        assert again[k] == summary[k]
    assert analyze(summary["journal"]).run["seed"] == 3


def test_cli_sim_run_prints_a_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["sim", "run", "quiet_market", "--out", str(tmp_path), "--set", "duration_s=30", "--no-report"])
    assert code == 0
    out = capsys.readouterr().out
    assert "Arbitrage captured" in out and "Max drawdown" in out


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["sim", "run", "no/such/file.yaml"], "no scenario file"),
        (["sim", "run", "{bad}"], "no scenario file"),
        (["sim", "run", "quiet_market", "--set", "nokey"], "expected key=value"),
        (["sim", "run", "quiet_market", "--set", "crowd.nobody.count=3"], "no 'nobody'"),
        (["sim", "run", "quiet_market", "--set", "crowd.noise.count=-1"], "crowd.noise.count"),
        (["sim", "run", "quiet_market", "--set", "duration_s=1,2"], "one value"),
        (["sim", "run", "quiet_market", "--runtime", "mars"], "--runtime mars"),
        (["sim", "sweep", "quiet_market", "--seeds", "0"], "--seeds 0"),
        (["sim", "sweep", "quiet_market", "--set", "crowd.noise.count=5,-1"], "crowd.noise.count"),
        (["report", "/no/such/run"], "no journal"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(args: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(args)
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert needle in err
    assert len(err.splitlines()) == 1


def test_cli_invalid_yaml_names_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nduration_s: 10\nmarkets:\n  - id: m\n    truth: {kind: fixed, p0: 2}\n")
    assert main(["sim", "run", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert f"{bad}:5: markets.0.truth.p0" in err


def test_report_of_a_non_simulation_journal_is_a_user_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cluster.journal import Journal

    j = Journal(tmp_path / "journal.duckdb")
    j.close()
    assert main(["report", str(tmp_path)]) == 2
    assert "no simulation run record" in capsys.readouterr().err


def test_whale_fills_reach_our_whale_copy_through_the_tracker(tmp_path: Path) -> None:
    r = run("informed_whale", tmp_path)
    con = duckdb.connect(str(r.journal), read_only=True)
    try:
        row = con.execute("SELECT count(*) FROM orders WHERE strategy = 'whale_copy'").fetchone()
    finally:
        con.close()
    assert row is not None and row[0] >= 1
