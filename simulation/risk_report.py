"""The portfolio-risk numbers of a finished run, read from its journal: the VaR of the book over the
run, the decisions the VaR and correlation limits bound, the most correlated held markets, and the
correlation between the strategies' PnL.

Why from the journal and not from the risk officer's memory: the report of any finished run is
rebuilt from its journal (``polyagents report``), whichever runtime ran it; the officer's own view
is in ``polyagents status`` while the run is live. The math is the officer's own
(:mod:`protocols.var`), applied to the journal's book:

* **VaR over the run**: at every equity sample, the positions held then (fills and settlements up to
  that instant), each valued and given its probability by the market's fair value at that instant
  (the marks the report values positions at), outcomes of one neg-risk event exclusive, the
  declared correlations of the risk officer's config. Open orders are not in the journal's book,
  so this is the VaR of positions only (the officer's also counts open buys).
* **Correlation of held markets**: co-movement of the fair values of every pair of markets held at
  some point, over the whole run (the officer estimates from the mids it saw, over a window).
* **Strategy correlation**: each strategy's PnL (its fills' cash plus its shares at the marks) per
  bucket, a UTC day when the run spans at least 3 days, else the run cut into
  :data:`MIN_BUCKETS` equal buckets (said so in the section); Pearson correlation of every pair.
  The seeds ask for less than 0.3.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import combinations, pairwise
from typing import Any

import duckdb

from protocols.var import MarketModel, RiskPosition, comovement, pearson, value_at_risk
from simulation.ledger import Ledger, MarkPoint

NS_PER_S = 1_000_000_000
NS_PER_DAY = 86_400 * NS_PER_S
MIN_BUCKETS = 20
STRATEGY_CORRELATION_TARGET = 0.3
ZERO = Decimal(0)


@dataclass
class PortfolioRisk:
    var_limit: float | None
    confidence: float
    correlation_limit: float | None
    var_final: float
    var_peak: float
    var_peak_s: float | None
    var_method: str
    var_samples: int
    bound: dict[str, dict[str, int]]  # code -> {"RESIZED": n, "REJECTED": n}
    market_correlations: list[tuple[str, str, float]]  # top pairs of held markets
    strategy_bucket: str
    strategy_buckets: int
    strategy_correlations: list[tuple[str, str, float | None]]
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "var_limit": self.var_limit,
            "var_confidence": self.confidence,
            "var_final": round(self.var_final, 6),
            "var_peak": round(self.var_peak, 6),
            "var_peak_s": self.var_peak_s,
            "correlation_limit": self.correlation_limit,
            "bound": self.bound,
            "market_correlations": [[a, b, round(c, 4)] for a, b, c in self.market_correlations],
            "strategy_bucket": self.strategy_bucket,
            "strategy_correlations": [[a, b, None if c is None else round(c, 4)]
                                      for a, b, c in self.strategy_correlations],
        }


def _value(p: MarkPoint) -> float | None:
    """A mark's fair value, else its mid, else its last trade."""
    v = p.fair
    if v is None and p.best_bid is not None and p.best_ask is not None:
        v = (p.best_bid + p.best_ask) / 2
    v = v if v is not None else p.last
    return None if v is None else float(v)


def _fair(points: Sequence[MarkPoint], times: list[int], t: int) -> float | None:
    """The value of the last mark at or before ``t`` that has one."""
    i = bisect.bisect_right(times, t) - 1
    while i >= 0:
        v = _value(points[i])
        if v is not None:
            return v
        i -= 1
    return None


class _Marks:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.times = {m: [p.time_ns for p in pts] for m, pts in ledger.marks.items()}

    def yes(self, market: str, t: int) -> float | None:
        pts = self.ledger.marks.get(market)
        return None if not pts else _fair(pts, self.times[market], t)

    def token(self, token: str, t: int) -> tuple[str, int, float] | None:
        """(market, 0 YES / 1 NO, the token's value) at ``t``."""
        market = self.ledger.token_market.get(token)
        if market is None:
            return None
        p = self.yes(market, t)
        if p is None:
            return None
        is_yes = self.ledger.mark_tokens.get(market) == token
        return market, 0 if is_yes else 1, p if is_yes else 1.0 - p


def _held_at(ledger: Ledger, t: int) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for tok, steps in ledger.positions.items():
        i = bisect.bisect_right([s[0] for s in steps], t) - 1
        if i >= 0 and steps[i][1] != 0:
            out[tok] = steps[i][1]
    return out


def portfolio_risk(con: duckdb.DuckDBPyConnection, run: Mapping[str, Any], ledger: Ledger,
                   times_ns: Sequence[int]) -> PortfolioRisk:
    limits = run.get("risk_limits") or {}
    event_of: dict[str, str] = dict(run.get("event_of") or {})
    bankroll = Decimal(str(limits.get("bankroll", run.get("bankroll", "0"))))
    frac = limits.get("max_var_fraction")
    var_limit = float(bankroll * Decimal(str(frac))) if frac is not None else None
    conf = float(limits.get("var_confidence", 0.95))
    corr_limit = limits.get("correlation_limit")
    declared: dict[tuple[str, str], float] = {}
    members: dict[str, list[str]] = {}
    for m, e in event_of.items():
        members.setdefault(e, []).append(m)
    for d in limits.get("correlations", []):
        a, b, rho = str(d["a"]), str(d["b"]), float(d["rho"])
        expanded = (list(combinations(sorted(members.get(a, [])), 2)) if a == b else
                    [(x, y) for x in members.get(a, [a]) for y in members.get(b, [b]) if x != y])
        for x, y in expanded:
            declared[(x, y)] = declared[(y, x)] = rho
    marks = _Marks(ledger)
    notes: list[str] = []

    peak, peak_t, final, method = 0.0, None, 0.0, "empty"
    start_ns = int(run.get("start_ns", times_ns[0] if times_ns else 0))
    for t in times_ns:
        positions: list[RiskPosition] = []
        for tok, q in _held_at(ledger, t).items():
            placed = marks.token(tok, t)
            if placed is None:
                continue
            market, outcome, value = placed
            positions.append(RiskPosition(market, outcome, float(q), value))
        wanted = {p.market for p in positions}
        groups = {event_of[m] for m in wanted if m in event_of}
        models: dict[str, MarketModel] = {}
        for m in wanted | {m for m, e in event_of.items() if e in groups}:
            p = marks.yes(m, t)
            if p is not None:
                models[m] = MarketModel(p, event_of.get(m, ""))
        res = value_at_risk([p for p in positions if p.market in models], models, conf, declared)
        final, method = res.var, res.method if res.method != "empty" else method
        if res.var > peak:
            peak, peak_t = res.var, (t - start_ns) / NS_PER_S

    bound: dict[str, dict[str, int]] = {}
    for code in ("VAR_LIMIT", "CORRELATION_LIMIT"):
        rows = con.execute(
            """SELECT action, count(*) FROM risk_events WHERE kind = 'decision' AND code LIKE ?
               GROUP BY action ORDER BY action""",
            [f"%{code}%"],
        ).fetchall()
        bound[code] = {str(a): int(n) for a, n in rows}

    held_markets = sorted({ledger.token_market[t] for t in ledger.positions if t in ledger.token_market})
    series = {m: [v for v in (_value(p) for p in ledger.marks.get(m, [])) if v is not None] for m in held_markets}
    pairs: list[tuple[str, str, float]] = []
    for a, b in combinations(held_markets, 2):
        if a in event_of and event_of.get(a) == event_of.get(b):
            continue  # exclusive outcomes: the VaR's event group, not a co-movement
        c: float | None = declared.get((a, b))
        if c is None:
            c = comovement(series[a], series[b], 10)
        if c is not None:
            pairs.append((a, b, c))
    pairs.sort(key=lambda x: -abs(x[2]))

    bucket, names, corr = strategy_correlation(ledger, marks, run, times_ns)
    return PortfolioRisk(var_limit, conf, corr_limit, final, peak, peak_t, method, len(times_ns), bound,
                         pairs[:10], bucket, names, corr, notes)


def strategy_correlation(
    ledger: Ledger, marks: _Marks, run: Mapping[str, Any], times_ns: Sequence[int]
) -> tuple[str, int, list[tuple[str, str, float | None]]]:
    """(bucket description, bucket count, Pearson correlation of each pair of strategies' PnL per bucket)."""
    strategies = sorted({f.strategy for f in ledger.fills})
    if len(strategies) < 2 or not times_ns:
        return "n/a", 0, []
    start = int(run.get("start_ns", times_ns[0]))
    duration_ns = round(float(run.get("duration_s", 0.0)) * NS_PER_S)
    end = start + duration_ns if duration_ns else times_ns[-1]  # no duration recorded: the last sample
    span = end - start
    if span >= 3 * NS_PER_DAY:
        first = (start // NS_PER_DAY + 1) * NS_PER_DAY
        edges = [start, *list(range(first, end, NS_PER_DAY)), end]
        label = "UTC day"
    else:
        step = max(span // MIN_BUCKETS, 1)
        edges = [start + i * step for i in range(MIN_BUCKETS)] + [end]
        label = f"{step / NS_PER_S:,.0f} s (the run is shorter than 3 days: no daily PnL)"

    def pnl_at(strategy: str, t: int) -> float:
        cash = ZERO
        shares: dict[str, Decimal] = {}
        for f in ledger.fills:
            if f.time_ns > t:
                break
            if f.strategy != strategy:
                continue
            cash += f.cash
            shares[f.token_id] = shares.get(f.token_id, ZERO) + f.signed_size
        value = 0.0
        for tok, q in shares.items():
            placed = marks.token(tok, t)
            if placed is not None:
                value += float(q) * placed[2]
        return float(cash) + value

    per: dict[str, list[float]] = {}
    for s in strategies:
        levels = [pnl_at(s, t) for t in edges]
        per[s] = [b - a for a, b in pairwise(levels)]
    out = [(a, b, pearson(per[a], per[b])) for a, b in combinations(strategies, 2)]
    return label, len(edges) - 1, out
