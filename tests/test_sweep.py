"""Sweeps on the session's Ray cluster: every (seed, value) pair as a task, one table of results."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from cluster.cli import main
from cluster.errors import UserError
from simulation.runner import run_scenario
from simulation.scenario import load_scenario, load_scenario_data
from simulation.sweep import aggregate, combinations, run_sweep

ROOT = Path(__file__).resolve().parent.parent
QUIET = ROOT / "scenarios" / "quiet_market.yaml"
SMALL = {"duration_s": [60]}


def test_combinations_are_the_cartesian_product() -> None:
    assert combinations({}) == [{}]
    assert combinations({"a": [1, 2], "b": ["x"]}) == [{"a": 1, "b": "x"}, {"a": 2, "b": "x"}]


def test_aggregate_gives_mean_and_interval_per_value_and_skips_failures() -> None:
    runs: list[dict[str, Any]] = [
        {"param:k": 1, "pnl": 1.0, "error": None},
        {"param:k": 1, "pnl": 3.0, "error": None},
        {"param:k": 2, "pnl": 5.0, "error": None},
        {"param:k": 2, "pnl": 99.0, "error": "boom"},
    ]
    rows = {r["param:k"]: r for r in aggregate(runs, ["k"])}
    assert rows[1]["n"] == 2 and rows[1]["pnl_mean"] == 2.0
    assert rows[1]["pnl_ci_lo"] < 2.0 < rows[1]["pnl_ci_hi"]
    assert rows[2]["n"] == 1 and rows[2]["pnl_mean"] == 5.0
    assert rows[2]["pnl_ci_lo"] is None and rows[2]["pnl_ci_hi"] is None  # one seed: no interval


def _result(summary: list[dict[str, Any]], params: dict[str, list[Any]], tmp_path: Path) -> Any:
    from simulation.sweep import SweepResult

    return SweepResult(sweep_id="s", scenario="quiet_market", seeds=[1, 2, 3], params=params, runs=[],
                       summary=summary, out_dir=tmp_path, duckdb_path=tmp_path / "results.duckdb",
                       runs_csv=tmp_path / "runs.csv", summary_csv=tmp_path / "summary.csv", wall_s=1.0)


def test_sweep_intervals_stay_in_each_metrics_domain_and_one_seed_prints_no_interval(tmp_path: Path) -> None:
    """Counts and fees never below 0, rates never above 1 — though Student t over three seeds
    of 0, 0, 3 trades reaches −3.3 and over win rates 1, 1, 0.5 passes 1 — and a single seed says
    it has no interval instead of ``± 0``."""
    import io

    from rich.console import Console

    from simulation.sweep import print_sweep

    base = {"pnl": -1.0, "fees": 0.0, "trades": 0, "win_rate": 1.0, "max_drawdown": 0.0, "error": None}
    runs: list[dict[str, Any]] = [
        {**base, "param:k": 1, "seed": 1}, {**base, "param:k": 1, "seed": 2},
        {**base, "param:k": 1, "seed": 3, "fees": 0.3, "trades": 3, "win_rate": 0.5, "max_drawdown": 0.9},
        {**base, "param:k": 2, "seed": 1},
    ]
    rows = {r["param:k"]: r for r in aggregate(runs, ["k"])}
    three = rows[1]
    for m in ("fees", "trades"):
        assert three[f"{m}_ci_lo"] == 0.0 < three[f"{m}_mean"] < three[f"{m}_ci_hi"], m
    assert three["win_rate_ci_hi"] == 1.0 and 0.0 < three["win_rate_ci_lo"] < three["win_rate_mean"]
    assert three["max_drawdown_ci_lo"] == 0.0 and three["max_drawdown_ci_hi"] <= 1.0
    assert three["pnl_ci_lo"] == three["pnl_ci_hi"] == -1.0  # every seed the same: a zero-width interval
    buf = io.StringIO()
    print_sweep(_result(list(rows.values()), {"k": [1, 2]}, tmp_path), Console(file=buf, width=80))
    text = buf.getvalue()
    assert "±" not in text and "(n=1, no interval)" in text
    assert "0.3 [0, " in text or "0.9 [0, " in text  # max_drawdown of seeds 0, 0, 0.9: the lower bound is 0
    assert max(len(line) for line in text.splitlines()) <= 80


def test_bad_value_in_the_grid_fails_before_any_task_runs(tmp_path: Path) -> None:
    data, _lines, src = load_scenario_data(QUIET)
    with pytest.raises(UserError, match=r"crowd\.noise\.count=-3.*crowd\.noise\.count"):
        run_sweep(data, source=src, seeds=1, grid={"crowd.noise.count": [5, -3]}, out_dir=tmp_path)
    assert not any(tmp_path.iterdir())
    with pytest.raises(UserError, match=r"ours\.agents\.risk_officer\.max_trade_fraction"):
        run_sweep(data, source=src, seeds=1, grid={"ours.agents.risk_officer.max_trade_fraction": [0.1, 5]},
                  out_dir=tmp_path)


def test_sweep_runs_every_pair_on_ray_and_writes_one_table(ray_session: str, tmp_path: Path) -> None:
    data, _lines, src = load_scenario_data(QUIET)
    grid = {**SMALL, "crowd.noise.count": [10, 40]}
    res = run_sweep(data, source=src, seeds=2, grid=grid, out_dir=tmp_path, progress=False)
    assert res.failed == 0
    assert len(res.runs) == 4
    assert sorted((r["param:crowd.noise.count"], r["seed"]) for r in res.runs) == [(10, 1), (10, 2), (40, 1), (40, 2)]
    assert {r["param:crowd.noise.count"]: r["n"] for r in res.summary} == {10: 2, 40: 2}
    con = duckdb.connect(str(res.duckdb_path), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM runs").fetchone() == (4,)
        assert con.execute("SELECT count(*) FROM summary").fetchone() == (2,)
    finally:
        con.close()
    with res.summary_csv.open() as fh:
        rows = list(csv.DictReader(fh))
    assert {"pnl_mean", "pnl_ci_lo", "pnl_ci_hi", "arb_captured_mean"} <= set(rows[0])
    # a task on a Ray worker gives the same journal as the same run here
    sc = load_scenario(QUIET, {"duration_s": 60, "crowd.noise.count": 40})
    local = run_scenario(sc, 2, "local", tmp_path / "local", report=False)
    remote = next(r for r in res.runs if r["seed"] == 2 and r["param:crowd.noise.count"] == 40)
    assert remote["journal_hash"] == local.journal_hash


def test_cli_sweep_json_last_line(ray_session: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["sim", "sweep", str(QUIET), "--seeds", "2", "--set", "duration_s=30", "--json",
                 "--out", str(tmp_path)])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    res = json.loads(out[-1])
    assert res["tasks"] == 2 and res["failed"] == 0
    assert Path(res["duckdb"]).exists() and Path(res["csv"]).exists()
    assert res["summary"][0]["n"] == 2
