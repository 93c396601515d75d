"""The one L2 book (``protocols.book.L2Book``) on a realistic stream of level changes.

A seeded stream of ``price_change`` level updates around a drifting mid (most near the touch, some
deep, a third removing a level), each followed by a best-bid/ask query, as the websocket keeper and
the watcher do per event. Paths, same stream:

* ``l2book``          — ``L2Book.set_level`` + ``best_bid``/``best_ask`` (integer tick grid,
  sorted price index);
* ``l2book_hashed``   — the same with ``track_hash()`` on (the watcher's per-change hash check);
* ``dict_baseline``   — what the book replaced: a dict of Decimal price → size per side, best prices
  by a full scan (``max``/``min``) on every query. Written inline here, measured in the same run.

Rates use the process's CPU time (``time.process_time``), best of ``--repeat`` runs, so other work
on a shared machine does not inflate them; wall rates are printed beside. Both books must end
equal (same levels), or the benchmark fails: a fast wrong book is no result.

Usage: ``uv run python bench/book.py [--ops N] [--seed S] [--repeat R]``. The last stdout line is
one JSON object; ``speedup`` is ``l2book`` over ``dict_baseline`` (CPU time).
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from protocols.book import L2Book

TICK = Decimal("0.01")
Op = tuple[bool, Decimal, Decimal]  # (is_bid, price, new size; 0 removes)


def gen_ops(n: int, seed: int) -> list[Op]:
    rng = random.Random(seed)
    mid = 50
    ops: list[Op] = []
    for _ in range(n):
        if rng.random() < 0.01:
            mid = min(max(mid + rng.choice((-1, 1)), 10), 90)
        is_bid = rng.random() < 0.5
        dist = rng.choice((1, 1, 1, 2, 2, 3, 4, 6, 10, 20))
        ticks = mid - dist if is_bid else mid + dist
        ticks = min(max(ticks, 1), 99)
        size = Decimal(0) if rng.random() < 0.33 else Decimal(rng.randint(5, 2000))
        ops.append((is_bid, TICK * ticks, size))
    return ops


def run_l2book(ops: list[Op], hashed: bool) -> tuple[float, float, Any]:
    book = L2Book("tok", "mkt", TICK)
    if hashed:
        book.track_hash()
    set_level = book.set_level
    w0, c0 = time.perf_counter(), time.process_time()
    for is_bid, price, size in ops:
        set_level(is_bid, price, size)
        _ = book.best_bid
        _ = book.best_ask
    return time.process_time() - c0, time.perf_counter() - w0, (book.bids(), book.asks())


def run_dict(ops: list[Op]) -> tuple[float, float, Any]:
    bids: dict[Decimal, Decimal] = {}
    asks: dict[Decimal, Decimal] = {}
    w0, c0 = time.perf_counter(), time.process_time()
    for is_bid, price, size in ops:
        side = bids if is_bid else asks
        if size == 0:
            side.pop(price, None)
        else:
            side[price] = size
        _ = max(bids) if bids else None
        _ = min(asks) if asks else None
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    return cpu, wall, (sorted(bids.items(), reverse=True), sorted(asks.items()))


def best_of(repeat: int, fn: Callable[[], tuple[float, float, Any]]) -> tuple[float, float, Any]:
    runs = [fn() for _ in range(repeat)]
    cpu = min(r[0] for r in runs)
    wall = min(r[1] for r in runs)
    return cpu, wall, runs[-1][2]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ops", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    if args.ops < 1 or args.repeat < 1:
        print("error: --ops and --repeat must be at least 1", file=sys.stderr)
        return 2
    ops = gen_ops(args.ops, args.seed)
    gc.freeze()  # the input stream is not the books' garbage
    results: dict[str, Any] = {}
    ends: dict[str, Any] = {}
    for name, fn in (
        ("l2book", lambda: run_l2book(ops, hashed=False)),
        ("l2book_hashed", lambda: run_l2book(ops, hashed=True)),
        ("dict_baseline", lambda: run_dict(ops)),
    ):
        cpu, wall, end = best_of(args.repeat, fn)
        results[name] = {
            "ops_per_s_cpu": round(args.ops / cpu) if cpu > 0 else None,
            "ops_per_s_wall": round(args.ops / wall) if wall > 0 else None,
        }
        ends[name] = end
    bids, asks = ends["l2book"]
    want_bids, want_asks = ends["dict_baseline"]
    same = [tuple(lv) for lv in bids] == want_bids and [tuple(lv) for lv in asks] == want_asks
    if not same or ends["l2book_hashed"] != ends["l2book"]:
        print("error: the books disagree at the end of the stream", file=sys.stderr)
        return 1
    base = results["dict_baseline"]["ops_per_s_cpu"]
    out = {
        "bench": "book",
        "ops": args.ops,
        "seed": args.seed,
        "repeat": args.repeat,
        "levels_at_end": {"bids": len(bids), "asks": len(asks)},
        **results,
        "speedup": round(results["l2book"]["ops_per_s_cpu"] / base, 2) if base else None,
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
