"""``polyagents runs ls`` and ``runs compare`` over two real (short) simulated runs."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from cluster.cli import main
from cluster.journal import Journal
from simulation.runner import RunResult, run_scenario
from simulation.scenario import load_scenario

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, RunResult, RunResult]:
    out = tmp_path_factory.mktemp("runs")
    sc = load_scenario(ROOT / "scenarios" / "arbitrage_bursts.yaml", {"duration_s": 200, "events.0.resolve_at_s": 200})
    a = run_scenario(sc, 1, "local", out, report=False)
    b = run_scenario(sc, 2, "local", out, report=False)
    assert a.run_id != b.run_id
    return out, a, b


def test_runs_ls_json_lists_both_runs_with_the_numbers_of_their_journals(
    two_runs: tuple[Path, RunResult, RunResult], capsys: pytest.CaptureFixture[str]
) -> None:
    out, a, b = two_runs
    assert main(["runs", "ls", "--dir", str(out), "--json"]) == 0
    rows = {r["run_id"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == {a.run_id, b.run_id}
    for res in (a, b):
        r = rows[res.run_id]
        assert (r["scenario"], r["seed"], r["runtime"]) == ("arbitrage_bursts", res.seed, "local")
        assert r["pnl"] == res.summary["pnl"] and r["return_pct"] == res.summary["return_pct"]
        assert r["trades"] == res.summary["trades"] and r["source"] == "journal"
        assert r["started"].endswith(" UTC")


def test_runs_ls_table_fits_80_columns_and_csv_has_every_column(
    two_runs: tuple[Path, RunResult, RunResult], capsys: pytest.CaptureFixture[str]
) -> None:
    out, a, b = two_runs
    assert main(["runs", "ls", "--dir", str(out)]) == 0
    text = capsys.readouterr().out
    assert all(len(line) <= 80 for line in text.splitlines())
    assert f"{a.summary['pnl']:+,.4f}" in text and f"{b.summary['pnl']:+,.4f}" in text  # never cut
    assert main(["runs", "ls", "--dir", str(out), "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["run_id"] for r in rows] == [a.run_id, b.run_id]  # oldest first (ties by id)
    assert set(rows[0]) >= {"run_id", "scenario", "seed", "runtime", "started", "pnl", "return_pct", "trades"}


def test_runs_compare_puts_metrics_side_by_side_with_the_difference(
    two_runs: tuple[Path, RunResult, RunResult], capsys: pytest.CaptureFixture[str]
) -> None:
    out, a, b = two_runs
    assert main(["runs", "compare", a.run_id, str(b.out_dir), "--dir", str(out), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    rows = {r["metric"]: r for r in got["rows"]}
    assert (got["a"], got["b"]) == (a.run_id, b.run_id)
    pnl = rows["PnL (pUSD)"]
    assert (pnl["a"], pnl["b"]) == (a.summary["pnl"], b.summary["pnl"])
    assert pnl["b_minus_a"] == round(b.summary["pnl"] - a.summary["pnl"], 6)
    assert rows["seed"]["a"] == 1 and rows["seed"]["b"] == 2
    for metric in ("expectancy (pUSD/trade)", "max drawdown (pUSD)", "max drawdown (%)", "return (%)",
                   "best trade (pUSD)", "holding time mean (s)"):
        assert metric in rows
    assert main(["runs", "compare", a.run_id, b.run_id, "--dir", str(out)]) == 0
    table = capsys.readouterr().out
    assert "B − A" in table and "differs" in table


def test_runs_compare_of_an_unknown_or_ambiguous_run_is_one_line_and_exit_2(
    two_runs: tuple[Path, RunResult, RunResult], capsys: pytest.CaptureFixture[str]
) -> None:
    out, a, _b = two_runs
    assert main(["runs", "compare", a.run_id, "ghost", "--dir", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "no run 'ghost'" in err and len(err.splitlines()) == 1
    common = a.run_id[:4]  # run ids start with their UTC time: both begin with the year
    assert _b.run_id.startswith(common)
    assert main(["runs", "compare", common, a.run_id, "--dir", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "ambiguous" in err and len(err.splitlines()) == 1


def test_runs_ls_lists_a_journal_without_a_run_record_with_its_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    j = Journal(tmp_path / "bare" / "journal.duckdb")
    j.close()
    assert main(["runs", "ls", "--dir", str(tmp_path), "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["run_id"] == "bare" and row["source"] == "none" and "no simulation run record" in row["error"]
    assert main(["runs", "ls", "--dir", str(tmp_path / "nope")]) == 2
