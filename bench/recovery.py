"""Recovery time of the live tree, per fault kind, against a bare Ray actor restart in the same run.

A live tree (the default society, ``polyagents up``'s tree) trades a scenario world on this
machine's Ray. Faults are injected one at a time, each only once the tree has recovered from the
last and traded again:

- ``agent:<id>``   — ``ray.kill`` of an agent's host (its branch supervisor restarts it by policy);
- ``branch:<id>``  — ``ray.kill`` of a branch supervisor (the root restarts it; it adopts its
  running children by name);
- ``root``         — ``ray.kill`` of the root with Ray's restart (it resumes by itself and adopts);
- ``journal``      — ``ray.kill`` of the journal service (``services`` restarts it; hosts refresh
  their handle and keep writing ahead).

Per fault, two times from the kill: ``recovered_s`` — the tree answers ``status`` with every desired
agent running *and* the fault was answered (a new ``restart`` row for the victim in the journal's
``agent_events``, or, for the root, its branches adopted); ``next_order_s`` — the next order the
trader writes ahead (this includes waiting for the scenario's next opportunity, so it is an upper
bound on the trading pause, stated as such). The baseline ``bare_actor_restart_s`` is a plain Ray
actor with ``max_restarts=1`` killed and answering again, measured in the same run.

Usage: ``uv run python bench/recovery.py [--rounds N] [--speed X]``. Progress goes to stderr; the
last stdout line is one JSON object: per kind the median and max of each time, and the ratio of the
median recovery to the bare restart's median.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import ray

from cluster.ray_runtime import control

AGENTS = ("market_watcher", "strategist", "risk_officer", "trader")
BRANCHES = ("data", "decision", "execution")


@ray.remote(max_restarts=1)
class _Bare:
    def ping(self) -> str:
        return "pong"


def _poll(what: str, cond: Callable[[], Any], timeout: float, t0: float) -> float | None:
    """Seconds from ``t0`` until ``cond()`` is truthy (None past ``timeout``); errors mean "not yet"."""
    while time.monotonic() - t0 < timeout:
        try:
            if cond():
                return time.monotonic() - t0
        except Exception:
            pass
        time.sleep(0.05)
    print(f"  {what}: not within {timeout:.0f} s", file=sys.stderr)
    return None


def bare_restart_s() -> float:
    a = _Bare.remote()  # type: ignore[attr-defined]
    ray.get(a.ping.remote())
    t0 = time.monotonic()
    ray.kill(a, no_restart=False)
    while True:
        try:
            ray.get(a.ping.remote(), timeout=30)
            return time.monotonic() - t0
        except Exception:
            time.sleep(0.01)


class Tree:
    def __init__(self, ns: str) -> None:
        self.ns = ns

    def q(self, sql: str) -> list[tuple[Any, ...]]:
        journal = ray.get_actor("root/services/journal", namespace=self.ns)
        return list(ray.get(journal.query.remote(sql), timeout=10))

    def count(self, sql: str) -> int:
        return int(self.q(sql)[0][0])

    def all_running(self) -> bool:
        st = control.tree_status(self.ns)
        return bool(st["agents"]) and all(a["state"] == "running" for a in st["agents"])

    def orders(self) -> int:
        return self.count("SELECT count(*) FROM orders")

    def restarts_of(self, agent: str) -> int:
        return self.count(f"SELECT count(*) FROM agent_events WHERE agent = '{agent}' AND event = 'restart'")

    def adoptions(self) -> int:
        return self.count("SELECT count(*) FROM agent_events WHERE detail LIKE 'adopted root/%'")


def inject(tree: Tree, kind: str, timeout: float) -> dict[str, Any]:
    ns = tree.ns
    orders0 = tree.orders()
    if kind == "root":
        seen = tree.adoptions()

        def answered() -> bool:
            return tree.adoptions() >= seen + len(BRANCHES) + 1  # + services

        victim = ray.get_actor("root", namespace=ns)
        t0 = time.monotonic()
        ray.kill(victim, no_restart=False)
    else:
        what, _, name = kind.partition(":")
        agent_id = name or what  # the kind "journal" names no id: the service's id is "journal"
        if what == "agent":
            path = next(a["path"] for a in control.tree_status(ns)["agents"] if a["id"] == name)
        else:
            path = f"root/{name}" if what == "branch" else "root/services/journal"
        before = tree.restarts_of(agent_id)
        victim = ray.get_actor(str(path), namespace=ns)

        def answered() -> bool:
            return tree.restarts_of(agent_id) > before

        t0 = time.monotonic()
        ray.kill(victim, no_restart=True)
    # both from the kill
    rec = _poll(f"{kind} recovered", lambda: answered() and tree.all_running(), timeout, t0)
    nxt = _poll(f"{kind} next order", lambda: tree.orders() > orders0, timeout, t0)
    return {"kind": kind, "recovered_s": rec, "next_order_s": nxt}


def summarise(values: list[float | None]) -> dict[str, Any]:
    got = [v for v in values if v is not None]
    return {
        "median": round(statistics.median(got), 3) if got else None,
        "max": round(max(got), 3) if got else None,
        "n": len(values),
        "missed": len(values) - len(got),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3, help="faults per kind")
    ap.add_argument(
        "--speed", type=float, default=1.0, help="the world's clock speed (the scenario must outlast the run)"
    )
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for each recovery")
    args = ap.parse_args()

    ns = f"bench-recovery-{uuid.uuid4().hex[:6]}"
    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        namespace=ns,
        log_to_driver=False,
        object_store_memory=200 * 1024 * 1024,
    )
    run_dir = Path(tempfile.mkdtemp(prefix="polyagents-recovery-"))
    kinds = [f"agent:{a}" for a in AGENTS] + [f"branch:{b}" for b in BRANCHES] + ["root", "journal"]
    results: list[dict[str, Any]] = []
    bare: list[float] = []
    try:
        print("starting the tree ...", file=sys.stderr)
        control.start_tree(
            namespace=ns,
            run_dir=run_dir,
            world={"scenario": "arbitrage_bursts", "speed": args.speed},
            settings={"ping_interval_s": 0.2, "checkpoint_every_n": 20},
        )
        tree = Tree(ns)
        if _poll("first order", lambda: tree.orders() > 0, 180, time.monotonic()) is None:
            raise SystemExit("error: the tree never traded; no recovery to measure")
        for r in range(args.rounds):
            bare.append(bare_restart_s())
            for kind in kinds:
                res = inject(tree, kind, args.timeout)
                results.append(res)
                print(
                    f"  round {r + 1} {kind}: recovered {res['recovered_s']} s, next order {res['next_order_s']} s",
                    file=sys.stderr,
                )
        final_ok = tree.all_running()
    finally:
        try:
            control.stop_tree(ns)
        finally:
            ray.shutdown()
    bare_med = statistics.median(bare)
    per_kind: dict[str, Any] = {}
    for kind in kinds:
        rows = [x for x in results if x["kind"] == kind]
        rec = summarise([x["recovered_s"] for x in rows])
        per_kind[kind] = {
            "recovered_s": rec,
            "next_order_s": summarise([x["next_order_s"] for x in rows]),
            "recovered_vs_bare": round(rec["median"] / bare_med, 1) if rec["median"] else None,
        }
    print(
        json.dumps(
            {
                "faults": len(results),
                "bare_actor_restart_s": {"median": round(bare_med, 3), "max": round(max(bare), 3)},
                "per_kind": per_kind,
                "every_desired_agent_running_at_the_end": final_ok,
                "note": "next_order_s includes the wait for the next opportunity: an upper bound on the pause",
            }
        )
    )


if __name__ == "__main__":
    main()
