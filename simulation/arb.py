"""Complete-set arithmetic on integer books, shared by the competing arbitrageurs and the monitor
that measures how much arbitrage the run offered.

A neg-risk event of N outcomes pays exactly 1 per set of every outcome's YES, and exactly N − 1 per
set of every outcome's NO. Buying a set below its payout after taker fees is riskless profit. The
walk takes the cheapest level of every leg, one set size at a time, while the *marginal* set still
pays; its profit is what a perfect taker arriving at that instant would have made.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from protocols.fees import FEE_STEP_MICRO

ONE = 1_000_000
STEP = 10_000  # 0.01 share, the exchange's size step

FeeFn = Callable[[int, int], int]
"""(price, size) → taker fee, all micro-units, exactly as the exchange charges it."""


@dataclass(frozen=True, slots=True)
class Walk:
    sets: int  # micro-shares
    profit: int  # micro-pUSD, after fees
    limits: tuple[int, ...]  # worst price reached per leg


def walk_sets(
    legs: Sequence[Sequence[tuple[int, ...]]],
    fees: Sequence[FeeFn],
    payout: int = ONE,
    min_margin: int = 0,
    max_sets: int | None = None,
) -> Walk:
    """Depth-walk buying complete sets from ``legs`` (asks best first, micro-units).

    ``min_margin`` is the least profit per set (micro-pUSD per share) the marginal set must keep.
    Fees are charged per leg per chunk, rounded down as the exchange rounds each fill's fee. A
    level may be given as ``(price, size, resting orders)``: a chunk taken from it may then be
    filled in up to that many fills, each rounded down to the chain's fee quantum, so up to that
    many quanta (``FEE_STEP_MICRO`` micro-pUSD each) of fee are given back —
    the walk counts them, which keeps its profit an upper bound of what a taker gets.
    """
    n = len(legs)
    if n == 0 or any(not lv for lv in legs):
        return Walk(0, 0, ())
    idx = [0] * n
    left = [legs[i][0][1] for i in range(n)]
    limits = [0] * n
    sets = profit = 0
    while True:
        prices = [legs[i][idx[i]][0] for i in range(n)]
        # margin per whole share at these prices (fee of one share at each price)
        margin = payout - sum(prices) - sum(fees[i](prices[i], ONE) for i in range(n))
        if margin <= min_margin:
            break
        q = min(left)
        if max_sets is not None:
            q = min(q, max_sets - sets)
        q -= q % STEP
        if q <= 0:
            break
        slack = FEE_STEP_MICRO * sum(legs[i][idx[i]][2] if len(legs[i][idx[i]]) > 2 else 0 for i in range(n))
        cost = sum(p * q // ONE for p in prices) + sum(fees[i](prices[i], q) for i in range(n)) - slack
        gain = payout * q // ONE - cost
        if gain <= 0:
            break
        profit += gain
        sets += q
        for i in range(n):
            limits[i] = prices[i]
            left[i] -= q
        if max_sets is not None and sets >= max_sets:
            break
        exhausted = False
        for i in range(n):
            if left[i] < STEP:
                idx[i] += 1
                if idx[i] >= len(legs[i]):
                    exhausted = True
                    break
                left[i] = legs[i][idx[i]][1]
        if exhausted:
            break
    return Walk(sets, profit, tuple(limits))


def top_margin(tops: Sequence[int | None], fees: Sequence[FeeFn], payout: int = ONE) -> int:
    """Margin per set at the best asks only (an upper bound on the walk's margin); −1 if a leg is empty."""
    total = 0
    for i, p in enumerate(tops):
        if p is None:
            return -1
        total += p + fees[i](p, ONE)
    return payout - total
