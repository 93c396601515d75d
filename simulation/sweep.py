"""Sweeps: every (seed, parameter combination) of a scenario as a Ray task, one results table.

Why Ray tasks and not actors: each run is an independent, deterministic function of (scenario,
seed) — no state to keep between runs — so tasks are the right grain, and Ray spreads them over
whatever cluster ``ray.init`` finds (a local one with every core by default). Each task runs the
local runtime in its worker process; the driver only collects summaries.

The table has one row per run (``runs``) and one row per parameter combination (``summary``) with
the mean and a 95 % confidence interval (Student t over seeds, clipped to the metric's domain: a
count is never below 0, a rate never above 1; one seed has none) of each metric, written both to
DuckDB (``results.duckdb``) and CSV.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import logging
import math
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cluster.errors import OperationError, UserError
from simulation.metrics import mean_ci95
from simulation.scenario import Scenario, apply_overrides, scenario_from_data
from simulation.society import config_problem

log = logging.getLogger("polyagents.sweep")

#: Metrics aggregated per parameter combination.
AGG_METRICS: tuple[str, ...] = (
    "pnl",
    "arb_residual_pnl",
    "fees",
    "trades",
    "orders_sent",
    "sharpe",
    "max_drawdown",
    "win_rate",
    "arb_available",
    "arb_captured",
    "gap_half_life_s",
    "gap_episodes",
    "wall_s",
)

#: The domain ``(lower, upper)`` of each aggregated metric; its interval is clipped to it. Counts,
#: fees, durations and the arbitrage on offer are never negative; rates and drawdown fractions lie
#: in [0, 1]; PnL, ratios and what a complete set captured (fees can make it a loss) are unbounded.
METRIC_DOMAIN: dict[str, tuple[float | None, float | None]] = {
    "pnl": (None, None),
    "arb_residual_pnl": (None, None),
    "fees": (0.0, None),
    "trades": (0.0, None),
    "orders_sent": (0.0, None),
    "sharpe": (None, None),
    "max_drawdown": (0.0, 1.0),
    "win_rate": (0.0, 1.0),
    "arb_available": (0.0, None),
    "arb_captured": (None, None),
    "gap_half_life_s": (0.0, None),
    "gap_episodes": (0.0, None),
    "wall_s": (0.0, None),
}

RUN_COLUMNS: tuple[str, ...] = (
    "run_id",
    "seed",
    "pnl",
    "fees",
    "trades",
    "orders_sent",
    "orders_rejected",
    "sharpe",
    "sortino",
    "calmar",
    "max_drawdown",
    "win_rate",
    "profit_factor",
    "arb_available",
    "arb_captured",
    "arb_residual_pnl",
    "gap_episodes",
    "gap_half_life_s",
    "events",
    "wall_s",
    "cpu_s",
    "journal_hash",
    "error",
)


def run_one(scenario_json: dict[str, Any], seed: int, out_dir: str, run_id: str) -> dict[str, Any]:
    """One run inside a worker: validate, run on the local runtime, return the summary (no report)."""
    import logging

    from simulation.runner import run_scenario

    logging.getLogger("polyagents").setLevel(logging.CRITICAL)
    scenario = Scenario.model_validate(scenario_json)
    cpu0 = time.process_time()
    try:
        result = run_scenario(scenario, seed, "local", out_dir, report=False, run_id=run_id)
    except Exception as exc:  # reported in the table, never lost
        return {"run_id": run_id, "seed": seed, "error": f"{type(exc).__name__}: {exc}"}
    out = dict(result.summary)
    out["cpu_s"] = round(time.process_time() - cpu0, 3)
    out["error"] = None
    return out


@dataclass
class SweepResult:
    sweep_id: str
    scenario: str
    seeds: list[int]
    params: dict[str, list[Any]]
    runs: list[dict[str, Any]]
    summary: list[dict[str, Any]]
    out_dir: Path
    duckdb_path: Path
    runs_csv: Path
    summary_csv: Path
    wall_s: float
    failed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "sweep_id": self.sweep_id,
            "scenario": self.scenario,
            "tasks": len(self.runs),
            "failed": self.failed,
            "seeds": self.seeds,
            "params": self.params,
            "wall_s": round(self.wall_s, 3),
            "summary": self.summary,
            "duckdb": str(self.duckdb_path),
            "csv": str(self.summary_csv),
            "runs_csv": str(self.runs_csv),
        }


def combinations(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    if not grid:
        return [{}]
    keys = list(grid)
    return [dict(zip(keys, vals, strict=True)) for vals in itertools.product(*(grid[k] for k in keys))]


def _ensure_ray(address: str | None, num_cpus: int | None) -> Any:
    import os

    # under `uv run`, Ray would start every worker through `uv run` (seconds each); this venv's
    # interpreter is the same one, so workers use it directly
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    import ray

    if not ray.is_initialized():
        quiet: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False}
        try:
            if address:
                ray.init(address=address, **quiet)
            else:
                # ray.init's own rule: join the cluster this machine already runs (RAY_ADDRESS or
                # `ray start`), else start a local one (every CPU unless --num-cpus)
                joined = False
                if os.environ.get("RAY_ADDRESS") or Path("/tmp/ray/ray_current_cluster").exists():
                    try:
                        ray.init(**quiet)
                        joined = True
                    except (ConnectionError, ValueError, RuntimeError):
                        joined = False  # a stale record of a cluster that is gone
                if not joined:
                    ray.init(address="local", num_cpus=num_cpus, include_dashboard=False,
                             object_store_memory=200 * 1024 * 1024, **quiet)
                elif num_cpus is not None:
                    log.warning("--num-cpus %s ignored: joined an existing cluster", num_cpus)
        except Exception as exc:
            raise OperationError(f"cannot start or reach a Ray cluster: {str(exc).splitlines()[0]}") from None
    return ray


def run_sweep(
    data: dict[str, Any],
    *,
    source: str = "<scenario>",
    base: Scenario | None = None,
    seeds: int = 4,
    grid: dict[str, list[Any]] | None = None,
    out_dir: str | Path = "sweeps",
    address: str | None = None,
    num_cpus: int | None = None,
    progress: bool = True,
    max_in_flight: int | None = None,
    sweep_id: str | None = None,
) -> SweepResult:
    """Run the sweep (blocking). ``max_in_flight`` caps concurrent tasks (1 = one worker at a time)."""
    grid = dict(grid or {})
    base = base or scenario_from_data(data, source=source)
    combos = combinations(grid)
    # validate every combination before launching anything: a bad --set fails fast, in one line
    scenarios: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for combo in combos:
        label = ", ".join(f"{k}={v}" for k, v in combo.items())
        try:
            sc = scenario_from_data(apply_overrides(data, combo), source=source)
        except UserError as exc:
            raise UserError(f"--set {label}: {exc}") from None
        problem = config_problem(sc)
        if problem is not None:
            raise UserError(f"--set {label}: {'.'.join(str(p) for p in problem[0])}: {problem[1]}")
        scenarios.append((combo, sc.model_dump(mode="json")))
    seed_list = [base.seed + i for i in range(seeds)]
    digest = hashlib.sha256(json.dumps([data, grid, seed_list], sort_keys=True, default=str).encode()).hexdigest()[:8]
    from simulation.runner import claim_run_dir

    if sweep_id is None:
        started = datetime.fromtimestamp(time.time(), tz=UTC)
        sweep_id = f"{started:%Y%m%dT%H%M%SZ}-{base.name}-sweep-{digest}-{secrets.token_hex(3)}"
    root = claim_run_dir(Path(out_dir) / sweep_id)

    ray = _ensure_ray(address, num_cpus)
    task = ray.remote(num_cpus=1, max_retries=0)(run_one)
    jobs: list[tuple[dict[str, Any], int, dict[str, Any], str]] = []
    for ci, (combo, sc_json) in enumerate(scenarios):
        for seed in seed_list:
            jobs.append((combo, seed, sc_json, f"c{ci}-s{seed}"))
    t0 = time.perf_counter()
    results: dict[int, dict[str, Any]] = {}
    pending: dict[Any, int] = {}
    next_job = 0
    limit = max_in_flight or len(jobs)

    def submit() -> None:
        nonlocal next_job
        while next_job < len(jobs) and len(pending) < limit:
            _combo, seed, sc_json, rid = jobs[next_job]
            ref = task.remote(sc_json, seed, str(root / "runs"), rid)
            pending[ref] = next_job
            next_job += 1

    progress_ctx: Any = None
    bar: Any = None
    if progress:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        progress_ctx = Progress(
            TextColumn("[bold]sweep[/] {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        progress_ctx.start()
        bar = progress_ctx.add_task(base.name, total=len(jobs))
    try:
        submit()
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                idx = pending.pop(ref)
                try:
                    results[idx] = ray.get(ref)
                except Exception as exc:
                    combo, seed, _sc, rid = jobs[idx]
                    results[idx] = {"run_id": rid, "seed": seed, "error": f"{type(exc).__name__}: {exc}"}
                if bar is not None:
                    progress_ctx.advance(bar)
            submit()
    finally:
        if progress_ctx is not None:
            progress_ctx.stop()
    wall = time.perf_counter() - t0

    runs: list[dict[str, Any]] = []
    for idx, (combo, seed, _sc, rid) in enumerate(jobs):
        r = results[idx]
        row = {k: r.get(k) for k in RUN_COLUMNS}
        row["run_id"] = r.get("run_id", rid)
        row["seed"] = seed
        for k, v in combo.items():
            row[f"param:{k}"] = v
        runs.append(row)
    summary = aggregate(runs, list(grid))
    failed = sum(1 for r in runs if r.get("error"))
    db, runs_csv, sum_csv = write_tables(root, runs, summary)
    return SweepResult(
        sweep_id=sweep_id,
        scenario=base.name,
        seeds=seed_list,
        params=grid,
        runs=runs,
        summary=summary,
        out_dir=root,
        duckdb_path=db,
        runs_csv=runs_csv,
        summary_csv=sum_csv,
        wall_s=wall,
        failed=failed,
    )


def aggregate(runs: list[dict[str, Any]], keys: list[str]) -> list[dict[str, Any]]:
    """Mean and 95 % CI of each metric per parameter combination (runs with errors left out), the
    interval clipped to the metric's domain (:data:`METRIC_DOMAIN`); ``None`` bounds when a
    combination has one run (one seed has no interval)."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for r in runs:
        if r.get("error"):
            continue
        groups.setdefault(tuple(r.get(f"param:{k}") for k in keys), []).append(r)
    out: list[dict[str, Any]] = []
    for combo, rows in groups.items():
        rec: dict[str, Any] = {f"param:{k}": v for k, v in zip(keys, combo, strict=True)}
        rec["n"] = len(rows)
        for m in AGG_METRICS:
            xs = [float(r[m]) for r in rows if r.get(m) is not None]
            mean, lo, hi = mean_ci95(xs, *METRIC_DOMAIN[m])
            rec[f"{m}_mean"] = None if math.isnan(mean) else round(mean, 6)
            rec[f"{m}_ci_lo"] = None if math.isnan(lo) else round(lo, 6)
            rec[f"{m}_ci_hi"] = None if math.isnan(hi) else round(hi, 6)
        out.append(rec)
    return out


def write_tables(root: Path, runs: list[dict[str, Any]], summary: list[dict[str, Any]]) -> tuple[Path, Path, Path]:
    import duckdb

    runs_csv = root / "runs.csv"
    sum_csv = root / "summary.csv"
    for path, rows in ((runs_csv, runs), (sum_csv, summary)):
        cols = list(rows[0]) if rows else ["n"]
        with path.open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=cols)
            w.writeheader()
            for r in rows:
                w.writerow(r)
    db = root / "results.duckdb"
    if db.exists():
        db.unlink()
    con = duckdb.connect(str(db))
    try:
        for table, path, rows in (("runs", runs_csv, runs), ("summary", sum_csv, summary)):
            if rows:
                con.execute(f"CREATE TABLE {table} AS SELECT * FROM read_csv_auto(?, header=true)", [str(path)])
    finally:
        con.close()
    return db, runs_csv, sum_csv


def interval_text(mean: float | None, lo: float | None, hi: float | None, n: int) -> str:
    """One cell of the sweep table: ``mean [lo, hi]`` (the 95 % interval, clipped to the metric's
    domain, so not always symmetric), ``mean (n=1, no interval)`` for one seed, ``n/a`` for none."""
    if mean is None:
        return "n/a"
    if lo is None or hi is None:
        return f"{mean:.4g} (n={n}, no interval)"
    return f"{mean:.4g} [{lo:.4g}, {hi:.4g}]"


#: The metrics the console table shows (the CSV and DuckDB tables hold every one).
SHOWN_METRICS: tuple[str, ...] = ("pnl", "arb_captured", "arb_available", "gap_half_life_s", "sharpe",
                                  "max_drawdown")


def print_sweep(res: SweepResult, console: Any = None) -> None:
    """One block per parameter combination, one line per metric (fits 80 columns however many
    parameters vary); the parameters that do not vary are in the title. A cell is the mean and its
    95 % interval over seeds."""
    from rich.console import Console
    from rich.table import Table

    varying = [k for k, vals in res.params.items() if len(vals) > 1]
    fixed = ", ".join(f"{k}={vals[0]}" for k, vals in res.params.items() if len(vals) == 1)
    title = f"sweep {res.scenario}: {len(res.runs)} runs ({res.failed} failed), {res.wall_s:.1f} s"
    if fixed:
        title += f" · {fixed}"
    table = Table(title=title, caption="mean [95 % confidence interval over seeds, within the metric's domain]")
    if varying:
        table.add_column("parameters", overflow="fold")
    table.add_column("n", justify="right")
    table.add_column("metric")
    table.add_column("mean [95 % interval]", justify="right", overflow="fold")
    for rec in res.summary:
        combo = ", ".join(f"{k.rsplit('.', 1)[-1] if len(k) > 24 else k}={rec.get(f'param:{k}')}" for k in varying)
        for i, m in enumerate(SHOWN_METRICS):
            cell = interval_text(rec.get(f"{m}_mean"), rec.get(f"{m}_ci_lo"), rec.get(f"{m}_ci_hi"), rec["n"])
            head = [combo if i == 0 else ""] if varying else []
            table.add_row(*head, str(rec["n"]) if i == 0 else "", m, cell, end_section=i == len(SHOWN_METRICS) - 1)
    console = console or Console()
    console.print(table)
    console.print(f"results: {res.duckdb_path}")
    console.print(f"         {res.summary_csv}")
    console.print(f"         {res.runs_csv}")
