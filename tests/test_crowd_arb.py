"""The complete-set walk (used by the competing arbitrageurs and the gap monitor) against the real
exchange: what it promises is an upper bound of what a taker gets, within fee rounding."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from protocols import MarketInfo
from simulation.arb import ONE, walk_sets
from simulation.crowd.venue import CrowdVenue
from venues.sim import SimExchange

START = 1_767_225_600_000_000_000


def event(n: int) -> tuple[SimExchange, list[MarketInfo]]:
    ex = SimExchange()
    infos = [
        MarketInfo(time_ns=START, market=f"o{i}", question=f"o{i}?", event_id="ev", token_ids=(f"o{i}-Y", f"o{i}-N"),
                   neg_risk=True, fee_rate=Decimal("0.07"), event_market_count=n)
        for i in range(n)
    ]
    ex.add_neg_risk_event("ev", infos)
    return ex, infos


def fee_fn(ex: SimExchange, market: str):  # type: ignore[no-untyped-def]
    m = ex._markets[market]
    return m.fee.taker_fee


level = st.tuples(st.integers(1, 60), st.integers(5, 80), st.integers(1, 3))  # price ¢, size, orders


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(level, min_size=1, max_size=4), min_size=2, max_size=4))
def test_walk_profit_bounds_what_a_taker_actually_makes(books: list[list[tuple[int, int, int]]]) -> None:
    n = len(books)
    ex, _infos = event(n)
    ex.open_account("maker", 10**6)
    k = 0
    for i, levels in enumerate(books):
        for cents, size, orders in levels:
            for _ in range(orders):
                k += 1
                # a resting YES ask at p: the maker bids for NO at 1 − p (cash only)
                ex.submit_fast("maker", f"m{k}", f"o{i}-N", True, ONE - cents * 10_000, size * ONE)
    reader = CrowdVenue(ex, "reader")
    legs = [reader.asks_with_counts(f"o{i}-Y", 50) for i in range(n)]
    walk = walk_sets(legs, [fee_fn(ex, f"o{i}") for i in range(n)])
    if walk.sets == 0:
        return
    ex.open_account("taker", 10**6)
    before = ex._accounts["taker"].cash
    for i in range(n):
        _state, filled, reason = ex.submit_fast("taker", f"t{i}", f"o{i}-Y", True, walk.limits[i], walk.sets, 3)
        assert reason is None and filled == walk.sets
    spent = before - ex._accounts["taker"].cash
    actual = walk.sets - spent  # each complete set pays exactly 1
    orders = sum(c for lv in legs for _p, _q, c in lv)
    chunks = sum(len(lv) for lv in legs)
    assert actual <= walk.profit  # never more than promised: `available` is an upper bound
    # and short of it only by fee rounding (≤ one fee quantum, 10 micro-pUSD, per fill)
    assert actual >= walk.profit - 10 * orders * chunks
