"""Portfolio risk of a book of binary outcome tokens: value at risk, and price co-movement.

Why its own module, in the lowest layer: the risk officer bounds new intents by it and the run
report measures the run's book by it; one copy of the math, so the two cannot disagree.

The model, and why:

* **Every token pays 0 or 1** at resolution. A position of ``shares`` valued now at ``price`` per
  share loses ``shares × (price − payoff)``; the loss of the book is the sum. The horizon is the
  resolution of each market, which for markets that resolve later than a day over-states a one-day
  VaR (a safe side to err on: a price can at most travel to its payoff).
* **Probabilities are the market's**: a market's YES pays with probability ``p_yes`` (its mid, or
  the mark the caller trusts). Under these probabilities a book held at its marks has zero expected
  loss, so the VaR is all risk and no drift.
* **An event's outcomes are one group**: the markets of a neg-risk event are mutually exclusive
  (at most one YES pays), so the group has one state per market plus, when the YES prices sum to
  less than 1, a "none of the listed" state. A YES and a NO of one market, or a complete set of an
  event, therefore carry no risk, which is what lets the arbitrage strategies through.
* **Groups are independent unless a correlation is configured** between two markets of their own
  (non-event) groups: then a Gaussian copula ties the groups' outcomes (positive = their YES
  outcomes tend to happen together). A matrix that is not positive semi-definite is repaired to the
  nearest one that is (eigenvalues clipped), and the result says so.
* **Exact when small**: independent groups are convolved exactly (the loss distribution is a sum of
  independent discrete variables) while the support stays under ``max_exact_states``; otherwise
  Monte Carlo with a generator seeded by the caller, so the same book always gives the same VaR.

VaR at confidence α is the smallest loss ``x`` with ``P(loss ≤ x) ≥ α``, floored at 0 (a book that
cannot lose has no VaR). Statistics are floats; money elsewhere stays Decimal.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist

import numpy as np

#: Exact enumeration while the loss distribution has at most this many distinct values.
MAX_EXACT_STATES = 4096
MC_SAMPLES = 20_000
_MERGE_DIGITS = 9
_EPS = 1e-12


@dataclass(frozen=True)
class RiskPosition:
    """Shares of one outcome token: ``outcome`` 0 is the market's YES (first token), 1 its NO.

    ``shares`` is signed (an open sell is negative); ``price`` is what a share is worth now (its
    mark) or, for an order assumed filled, the price paid."""

    market: str
    outcome: int
    shares: float
    price: float


@dataclass(frozen=True)
class MarketModel:
    """What the model needs of a market: the probability its YES pays, and its exclusive group
    (the neg-risk event it belongs to; "" = a market of its own)."""

    p_yes: float
    group: str = ""


@dataclass(frozen=True)
class VaRResult:
    var: float
    expected_loss: float
    worst_loss: float
    method: str  # "exact", "monte_carlo" or "empty"
    groups: int
    confidence: float
    notes: tuple[str, ...] = field(default_factory=tuple)


@dataclass
class _Group:
    gid: str
    markets: list[str]
    probs: np.ndarray  # one per state
    losses: np.ndarray  # loss of the group's positions in each state
    binary: bool  # a market of its own: state 0 = YES, state 1 = NO


def _clip_p(p: float) -> float:
    return min(max(float(p), 0.0), 1.0)


def _groups(positions: Iterable[RiskPosition], markets: Mapping[str, MarketModel]) -> list[_Group]:
    by_group: dict[str, list[RiskPosition]] = {}
    for pos in positions:
        if pos.shares == 0:
            continue
        model = markets.get(pos.market)
        if model is None:
            raise ValueError(f"no probability for market {pos.market!r}: the VaR needs every held market")
        gid = f"event:{model.group}" if model.group else f"market:{pos.market}"
        by_group.setdefault(gid, []).append(pos)
    out: list[_Group] = []
    for gid, poss in sorted(by_group.items()):
        if gid.startswith("market:"):
            mkts = [poss[0].market]
            p = _clip_p(markets[mkts[0]].p_yes)
            probs = np.array([p, 1.0 - p])
            binary = True
        else:
            group = gid.removeprefix("event:")
            mkts = sorted(m for m, mm in markets.items() if mm.group == group)
            ps = np.array([_clip_p(markets[m].p_yes) for m in mkts])
            total = float(ps.sum())
            if total > 1.0:
                ps = ps / total
                probs = ps
            else:
                probs = np.append(ps, 1.0 - total)  # none of the listed outcomes
            binary = False
        losses = np.zeros(len(probs))
        for pos in poss:
            i = mkts.index(pos.market)
            pays = np.zeros(len(probs))
            if binary:
                pays[0 if pos.outcome == 0 else 1] = 1.0
            elif pos.outcome == 0:
                pays[i] = 1.0
            else:
                pays[:] = 1.0
                pays[i] = 0.0
            losses += pos.shares * (pos.price - pays)
        out.append(_Group(gid, mkts, probs, losses, binary))
    return out


def _quantile(values: np.ndarray, probs: np.ndarray, confidence: float) -> float:
    order = np.argsort(values, kind="stable")
    v, cum = values[order], np.cumsum(probs[order])
    cum /= cum[-1]
    i = int(np.searchsorted(cum, confidence - _EPS, side="left"))
    return float(v[min(i, len(v) - 1)])


def _exact(groups: Sequence[_Group], max_states: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The loss distribution of independent groups by convolution (equal losses merged at 1e-9);
    None once it would hold more than ``max_states`` values."""
    values: np.ndarray = np.zeros(1)
    probs: np.ndarray = np.ones(1)
    for g in groups:
        keep = g.probs > 0
        v = (values[:, None] + g.losses[keep][None, :]).ravel()
        p = (probs[:, None] * g.probs[keep][None, :]).ravel()
        values, inverse = np.unique(np.round(v, _MERGE_DIGITS), return_inverse=True)
        probs = np.bincount(inverse.ravel(), weights=p, minlength=len(values))
        if len(values) > max_states:
            return None
    return values, probs


def _nearest_correlation(r: np.ndarray) -> tuple[np.ndarray, bool]:
    w, v = np.linalg.eigh(r)
    if w.min() >= 1e-9:
        return r, False
    w = np.clip(w, 1e-9, None)
    fixed = (v * w) @ v.T
    d = np.sqrt(np.diag(fixed))
    return fixed / np.outer(d, d), True


def _group_correlation(
    groups: Sequence[_Group], correlations: Mapping[tuple[str, str], float]
) -> tuple[np.ndarray | None, list[str]]:
    notes: list[str] = []
    index = {g.markets[0]: i for i, g in enumerate(groups) if g.binary}
    in_event = {m for g in groups if not g.binary for m in g.markets}
    r = np.eye(len(groups))
    used = False
    for (a, b), rho in sorted(correlations.items()):
        if a == b:
            continue
        if a in in_event or b in in_event:
            notes.append(f"correlation {a}~{b} ignored: an event's outcomes are modelled as exclusive")
            continue
        i, j = index.get(a), index.get(b)
        if i is None or j is None:
            continue  # not both in this book
        rho = max(-1.0, min(1.0, float(rho)))
        r[i, j] = r[j, i] = rho
        used = used or rho != 0.0
    return (r if used else None), notes


def _monte_carlo(groups: Sequence[_Group], corr: np.ndarray | None, samples: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((samples, len(groups)))
    if corr is not None:
        z = z @ np.linalg.cholesky(corr).T
    nd = NormalDist()
    total = np.zeros(samples)
    for k, g in enumerate(groups):
        cum = np.cumsum(g.probs)[:-1] / max(float(g.probs.sum()), _EPS)
        thresholds = np.array([nd.inv_cdf(min(max(c, _EPS), 1 - _EPS)) for c in cum])
        state = np.searchsorted(thresholds, z[:, k], side="right")
        total += g.losses[state]
    return total


def value_at_risk(
    positions: Iterable[RiskPosition],
    markets: Mapping[str, MarketModel],
    confidence: float = 0.95,
    correlations: Mapping[tuple[str, str], float] | None = None,
    *,
    max_exact_states: int = MAX_EXACT_STATES,
    samples: int = MC_SAMPLES,
    seed: int = 0,
    method: str = "auto",
) -> VaRResult:
    """VaR of ``positions`` at ``confidence`` (see the module doc). ``method``: "auto" (exact when
    the groups are independent and small), "exact" or "monte_carlo" (forced; for tests)."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    groups = _groups(positions, markets)
    if not groups:
        return VaRResult(0.0, 0.0, 0.0, "empty", 0, confidence)
    corr, notes = _group_correlation(groups, correlations or {})
    worst = float(sum(g.losses[g.probs > 0].max() for g in groups))
    if method != "monte_carlo" and corr is None:
        dist = _exact(groups, max_exact_states if method == "auto" else 1 << 62)
        if dist is not None:
            values, probs = dist
            q = _quantile(values, probs, confidence)
            mean = float((values * probs).sum())
            return VaRResult(max(q, 0.0), mean, worst, "exact", len(groups), confidence, tuple(notes))
    if method == "exact":
        raise ValueError("exact enumeration needs independent groups (no correlations)")
    if corr is not None:
        corr, repaired = _nearest_correlation(corr)
        if repaired:
            notes.append("correlation matrix was not positive semi-definite: repaired to the nearest one")
    losses = _monte_carlo(groups, corr, samples, seed)
    q = float(np.quantile(losses, confidence, method="inverted_cdf"))
    return VaRResult(max(q, 0.0), float(losses.mean()), worst, "monte_carlo", len(groups), confidence, tuple(notes))


# -- co-movement ---------------------------------------------------------------------------------


def pearson(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Pearson correlation of two equal-length series; None when either is constant or too short."""
    if len(xs) != len(ys):
        raise ValueError(f"series of different lengths: {len(xs)} and {len(ys)}")
    if len(xs) < 3:
        return None
    x, y = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    dx, dy = x - x.mean(), y - y.mean()
    den = math.sqrt(float((dx * dx).sum()) * float((dy * dy).sum()))
    if den <= 1e-15:
        return None
    return max(-1.0, min(1.0, float((dx * dy).sum()) / den))


def comovement(prices_a: Sequence[float], prices_b: Sequence[float], min_samples: int = 20) -> float | None:
    """Correlation of two price series' changes, sampled at the same instants (the last
    ``min(len)`` samples of each). None with fewer than ``min_samples`` changes or no movement."""
    n = min(len(prices_a), len(prices_b))
    if n - 1 < max(min_samples, 3):
        return None
    a = np.diff(np.asarray(prices_a[-n:], dtype=float))
    b = np.diff(np.asarray(prices_b[-n:], dtype=float))
    return pearson(a.tolist(), b.tolist())
