"""Benchmark: one 15-minute crypto up/down window with ~1,100 crowd agents, and a sweep on Ray.

Part 1 runs ``scenarios/crypto_15m.yaml`` (1,056 crowd agents + our six) on the local runtime with
the virtual clock, journal included, report excluded (matplotlib costs ~1 s and is not the
simulator). It reports ``wall_s`` (target ≤ 5), ``events_per_s`` (runtime queue events: deliveries,
timers, venue callbacks) and ``speedup_vs_realtime`` (900 s of market / wall_s).

Part 2 runs the same sweep twice on a local Ray cluster with this machine's CPUs — once capped to
one task at a time (one worker), once with every CPU — after a warm-up that starts the workers,
and reports ``sweep_speedup`` = one-worker wall / all-CPU wall (target ≥ 1.6 on 2 cores). The two settings alternate
``--repeats`` times and the best wall of each counts (the machine is shared); the 1-minute load
average at the end is printed beside it, and a baseline from the same moment: the speedup of a
plain CPU-bound job run in one process vs a pool of every CPU (``cpu_parallelism_baseline``,
≈ 2 on an idle 2-core machine). The sweep cannot beat the baseline; their ratio is
``sweep_efficiency_vs_baseline``.

The last stdout line is one JSON object. Usage:
    uv run python bench/simulation.py [--tasks 8] [--repeats 2] [--skip-sweep]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# this file is named like the package it measures: keep bench/ off the import path
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
SCENARIO = ROOT / "scenarios" / "crypto_15m.yaml"


def single_run(out: Path) -> dict[str, float | int]:
    from simulation.runner import run_scenario
    from simulation.scenario import load_scenario

    sc = load_scenario(SCENARIO)
    t0 = time.perf_counter()
    result = run_scenario(sc, sc.seed, "local", out, report=False)
    wall = time.perf_counter() - t0
    return {
        "wall_s": round(wall, 3),
        "events": result.events,
        "events_per_s": round(result.events / wall),
        "speedup_vs_realtime": round(sc.duration_s / wall, 1),
        "crowd_agents": result.summary["crowd_size"],
        "our_orders": result.summary["orders_sent"],
        "handler_errors": result.summary["handler_errors"],
    }


def _spin(n: int) -> int:
    x = 0
    for i in range(n):
        x = (x * 31 + i) % 1_000_003
    return x


def parallelism_baseline(jobs: int, n: int = 3_000_000) -> float:
    """The machine's free parallelism right now: the same CPU-bound jobs, one process vs a pool of
    every CPU. On an idle 2-core machine ≈ 2; when other work holds the cores it drops, and the
    sweep's speedup cannot beat it."""
    from multiprocessing import get_context

    t0 = time.perf_counter()
    for _ in range(jobs):
        _spin(n)
    serial = time.perf_counter() - t0
    with get_context("spawn").Pool(os.cpu_count() or 2) as pool:
        pool.map(_spin, [1000] * (os.cpu_count() or 2))  # start the processes first
        t0 = time.perf_counter()
        pool.map(_spin, [n] * jobs)
        parallel = time.perf_counter() - t0
    return serial / parallel


def sweep(out: Path, tasks: int, repeats: int) -> dict[str, float | int]:
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    import ray

    from simulation.scenario import load_scenario_data
    from simulation.sweep import run_sweep

    cpus = os.cpu_count() or 2
    # a cluster of our own ("local"), not whatever `ray start` cluster another process left running
    ray.init(address="local", num_cpus=cpus, include_dashboard=False, logging_level=logging.WARNING,
             log_to_driver=False, object_store_memory=200 * 1024 * 1024)
    try:
        data, _lines, src = load_scenario_data(SCENARIO)
        # warm-up: start one worker per CPU and import everything in them
        run_sweep(data, source=src, seeds=cpus, grid={"duration_s": [60], "markets.0.resolve_at_s": [60]},
                  out_dir=out / "warm", progress=False)
        # alternate the two settings and keep the best of each: the machine is shared and noisy
        t_one = t_many = float("inf")
        cpu_share = 0.0
        for rep in range(repeats):
            t0 = time.perf_counter()
            one = run_sweep(data, source=src, seeds=tasks, out_dir=out / f"one{rep}", progress=False,
                            max_in_flight=1)
            t_one = min(t_one, time.perf_counter() - t0)
            t0 = time.perf_counter()
            many = run_sweep(data, source=src, seeds=tasks, out_dir=out / f"many{rep}", progress=False)
            wall = time.perf_counter() - t0
            if wall < t_many:
                t_many = wall
                cpu_share = sum(r["cpu_s"] or 0 for r in many.runs) / (wall * cpus)
        same = [r["journal_hash"] for r in one.runs] == [r["journal_hash"] for r in many.runs]
        baseline = parallelism_baseline(tasks)
        return {
            "sweep_tasks": tasks,
            "sweep_cpus": cpus,
            "sweep_one_worker_s": round(t_one, 3),
            "sweep_all_cpus_s": round(t_many, 3),
            "sweep_speedup": round(t_one / t_many, 3),
            "sweep_failed": one.failed + many.failed,
            "sweep_same_results": same,
            # CPU the tasks got / CPU the cluster had while they ran: < 1 means other processes
            # held the cores (the machine is shared), which caps any speedup
            "sweep_cpu_share": round(cpu_share, 3),
            "cpu_parallelism_baseline": round(baseline, 3),
            "sweep_efficiency_vs_baseline": round((t_one / t_many) / baseline, 3),
            "load_avg_1m": round(os.getloadavg()[0], 2),
        }
    finally:
        ray.shutdown()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--skip-sweep", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("polyagents").setLevel(logging.CRITICAL)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        single_run(out / "warm")  # imports and caches, like any second run of the CLI
        result: dict[str, object] = {"bench": "simulation", "scenario": "crypto_15m", **single_run(out / "run")}
        result["target_wall_s"] = 5.0
        if not args.skip_sweep:
            result.update(sweep(out / "sweep", args.tasks, args.repeats))
            result["target_sweep_speedup"] = 1.6
    print(json.dumps(result))


if __name__ == "__main__":
    main()
