"""The cost of the risk officer's VaR check (``protocols.var.value_at_risk``) on books of growing size.

Why it matters: with ``max_var_fraction`` set, every intent costs one or two VaR evaluations, and a
resize up to 16 more (bisection). Books: ``n`` independent binaries plus one 4-outcome neg-risk
event, seeded. Paths, same book:

* ``exact``        — convolution (the officer's choice while the support stays ≤ 4096 values);
* ``monte_carlo``  — 20,000 seeded samples (its choice for larger or correlated books);
* ``baseline``     — brute-force enumeration of every joint outcome in plain Python, written
  inline here and measured in the same run (only for the small books it can finish). Its VaR
  must equal the exact one, or the benchmark fails: a fast wrong VaR is no result.

CPU time (``time.process_time``), best of ``--repeat``. Usage:
``uv run python bench/var.py [--repeat R]``. The last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
import time
from collections.abc import Callable
from typing import Any

from protocols.var import MarketModel, RiskPosition, value_at_risk


def book(n: int, seed: int) -> tuple[list[RiskPosition], dict[str, MarketModel]]:
    rng = random.Random(seed)
    models: dict[str, MarketModel] = {}
    pos: list[RiskPosition] = []
    for i in range(n):
        p = rng.randint(5, 95) / 100
        models[f"m{i}"] = MarketModel(p)
        outcome = rng.randint(0, 1)
        pos.append(RiskPosition(f"m{i}", outcome, rng.randint(5, 100), p if outcome == 0 else 1 - p))
    for j, p in enumerate((0.1, 0.3, 0.4, 0.15)):
        models[f"e{j}"] = MarketModel(p, "E")
        pos.append(RiskPosition(f"e{j}", 0, rng.randint(5, 50), p))
    return pos, models


def brute(pos: list[RiskPosition], models: dict[str, MarketModel], conf: float) -> float:
    """Every joint outcome: each binary YES/NO, the event's one winner (or none)."""
    binaries = sorted({p.market for p in pos if not models[p.market].group})
    event = sorted(m for m, mm in models.items() if mm.group == "E")
    winners: list[str | None] = [*event, None]
    p_none = 1 - sum(models[m].p_yes for m in event)
    dist: list[tuple[float, float]] = []
    for yes in itertools.product((True, False), repeat=len(binaries)):
        pb = 1.0
        for m, y in zip(binaries, yes, strict=True):
            pb *= models[m].p_yes if y else 1 - models[m].p_yes
        won = dict(zip(binaries, yes, strict=True))
        for w in winners:
            pw = p_none if w is None else models[w].p_yes
            loss = 0.0
            for p in pos:
                if models[p.market].group:
                    pays = (p.market == w) == (p.outcome == 0)
                else:
                    pays = won[p.market] == (p.outcome == 0)
                loss += p.shares * (p.price - (1.0 if pays else 0.0))
            dist.append((loss, pb * pw))
    dist.sort()
    acc = 0.0
    for loss, pr in dist:
        acc += pr
        if acc >= conf - 1e-12:
            return max(loss, 0.0)
    return max(dist[-1][0], 0.0)


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.process_time()
        out = fn()
        best = min(best, time.process_time() - t0)
    return best, out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    results: dict[str, Any] = {}
    for n in (4, 8, 12, 40):
        pos, models = book(n, seed=n)
        t_exact, exact = timed(lambda pos=pos, models=models: value_at_risk(pos, models, 0.95), args.repeat)
        t_mc, mc = timed(lambda pos=pos, models=models: value_at_risk(pos, models, 0.95, method="monte_carlo"),
                         args.repeat)
        row: dict[str, Any] = {"auto_method": exact.method, "var_auto": round(exact.var, 6),
                               "var_mc": round(mc.var, 6), "auto_ms": round(t_exact * 1e3, 3),
                               "mc_ms": round(t_mc * 1e3, 3)}
        if n <= 12:
            t_b, b = timed(lambda pos=pos, models=models: brute(pos, models, 0.95), 1)
            if abs(b - exact.var) > 1e-6:
                print(f"exact VaR {exact.var} differs from brute force {b} on n={n}", file=sys.stderr)
                return 1
            row.update(baseline_ms=round(t_b * 1e3, 3), speedup=round(t_b / max(t_exact, 1e-9), 1))
        results[f"binaries_{n}"] = row
        print(f"n={n}: {row}", file=sys.stderr)
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
