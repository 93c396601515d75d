"""Performance metrics of a run, from an equity series and per-trade results.

Conventions (stated in every report):

* Returns are simple returns of equity between samples, ``r_i = E_i / E_{i−1} − 1``.
* Ratios are annualised with ``periods_per_year`` (the runner passes ``seconds per year /
  sample interval``; prediction markets trade around the clock). Sharpe uses the sample standard
  deviation (ddof = 1), Sortino the downside deviation ``√(mean(min(r, 0)²))`` over all periods,
  both against a zero risk-free rate.
* Max drawdown is the largest fall from a running peak, as a positive fraction of that peak.
* Calmar is the annualised *arithmetic* return (``total return × year / duration``; compounding
  a 15-minute result over a year means nothing) divided by max drawdown.
* Win rate is winners / all trades; profit factor is gross profit / gross loss.

A ratio with a zero denominator is undefined and returned as ``None`` (JSON ``null``), never as an
infinity that a JSON reader would choke on.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from decimal import Decimal

SECONDS_PER_YEAR = 365.0 * 86_400.0

Number = float | Decimal | int


def simple_returns(equity: Sequence[Number]) -> list[float]:
    out: list[float] = []
    for prev, cur in itertools.pairwise(equity):
        p = float(prev)
        if p <= 0:
            raise ValueError("equity must stay positive to define returns")
        out.append(float(cur) / p - 1.0)
    return out


def _mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs)


def sharpe(returns: Sequence[float], periods_per_year: float) -> float | None:
    if len(returns) < 2:
        return None
    m = _mean(returns)
    var = sum((r - m) ** 2 for r in returns) / (len(returns) - 1)
    if var <= 0:
        return None if m != 0 else 0.0
    return m / math.sqrt(var) * math.sqrt(periods_per_year)


def sortino(returns: Sequence[float], periods_per_year: float) -> float | None:
    if not returns:
        return None
    m = _mean(returns)
    downside = math.sqrt(sum(min(r, 0.0) ** 2 for r in returns) / len(returns))
    if downside <= 0:
        return None if m != 0 else 0.0
    return m / downside * math.sqrt(periods_per_year)


def drawdown_series(equity: Sequence[Number]) -> list[float]:
    """Drawdown at each point as a positive fraction of the running peak (0 at a new high)."""
    out: list[float] = []
    peak = -math.inf
    for e in equity:
        v = float(e)
        peak = max(peak, v)
        out.append(0.0 if peak <= 0 else (peak - v) / peak)
    return out


def max_drawdown(equity: Sequence[Number]) -> float:
    dd = drawdown_series(equity)
    return max(dd) if dd else 0.0


def annualized_return(equity: Sequence[Number], duration_s: float) -> float | None:
    if len(equity) < 2 or duration_s <= 0 or float(equity[0]) <= 0:
        return None
    total = float(equity[-1]) / float(equity[0]) - 1.0
    return total * SECONDS_PER_YEAR / duration_s


def calmar(equity: Sequence[Number], duration_s: float) -> float | None:
    ann = annualized_return(equity, duration_s)
    mdd = max_drawdown(equity)
    if ann is None or mdd <= 0:
        return None
    return ann / mdd


def win_rate(trade_pnls: Sequence[Number]) -> float | None:
    if not trade_pnls:
        return None
    return sum(1 for p in trade_pnls if p > 0) / len(trade_pnls)


def profit_factor(trade_pnls: Sequence[Number]) -> float | None:
    gains = sum((float(p) for p in trade_pnls if p > 0), 0.0)
    losses = -sum((float(p) for p in trade_pnls if p < 0), 0.0)
    if losses <= 0:
        return None
    return gains / losses


def half_life(durations_s: Sequence[float]) -> float | None:
    """The median of per-episode half-lives (seconds); None without episodes."""
    if not durations_s:
        return None
    xs = sorted(durations_s)
    n = len(xs)
    mid = n // 2
    return xs[mid] if n % 2 else (xs[mid - 1] + xs[mid]) / 2


def mean_ci95(
    xs: Sequence[float], lower: float | None = None, upper: float | None = None
) -> tuple[float, float, float]:
    """Mean and a 95 % confidence interval of the mean: ``(mean, lo, hi)``.

    Student t over the values (``scipy.stats.t``), clipped to the quantity's domain
    ``[lower, upper]`` (a count or a fee is never below 0, a rate never above 1: the t interval
    of a few seeds easily crosses those, and a bound no value can reach is not an interval of the
    quantity). One value has no interval: ``lo`` and ``hi`` are NaN, not a half-width of 0; no
    value: all three are NaN."""
    n = len(xs)
    if n == 0:
        return math.nan, math.nan, math.nan
    m = _mean(xs)
    if n == 1:
        return m, math.nan, math.nan
    from scipy import stats

    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (n - 1))
    half = float(stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
    lo, hi = m - half, m + half
    if lower is not None:
        lo, hi = max(lo, lower), max(hi, lower)
    if upper is not None:
        lo, hi = min(lo, upper), min(hi, upper)
    return m, lo, hi
