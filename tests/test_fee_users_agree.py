"""Every user of the fee model books the same fee for the same fill: the simulated exchange, the
paper venue, and the strategies' fee estimate (which must never count less than what is booked).

One taker BUY of ``q`` shares against one resting ask at ``p``, for random schedules.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from test_paper_venue import World, order

from protocols import Liquidity, Side
from protocols.fees import FEE_QUANTUM, FeeSchedule, fee_per_share, taker_fee

D = Decimal

schedules = st.builds(
    FeeSchedule,
    rate=st.integers(0, 2000).map(lambda r: D(r) / 10_000),
    exponent=st.integers(1, 3),
    enabled=st.booleans(),
)
prices = st.integers(1, 99).map(lambda c: D(c) / 100)
sizes = st.integers(100, 50_000).map(lambda c: D(c) / 100)


@settings(max_examples=40, deadline=None)
@given(schedules, prices, sizes)
def test_sim_exchange_paper_and_strategy_book_the_same_fee_for_one_taker_fill(
    fees: FeeSchedule, price: Decimal, size: Decimal
) -> None:
    expected = taker_fee(fees, price, size)

    # the simulated exchange and the paper venue, each taking the same resting ask
    w = World(fees)
    w.crowd("mm", Side.SELL, str(price), str(size * 2))

    async def take() -> None:
        await w.venue.subscribe_market_data([w.info.yes_token])
        await w.venue.place_order(order("p1", Side.BUY, str(price), str(size)))

    asyncio.run(take())
    paper = [f for f in w.fills() if f.liquidity is Liquidity.TAKER]
    assert [(f.price, f.size) for f in paper] == [(price, size)]
    assert paper[0].fee == expected

    w.ex.open_account("taker", D(100_000))
    w.ex.submit("taker", order("t1", Side.BUY, str(price), str(size)).model_copy(update={"account": "taker"}))
    sim = [f for f in w.ex.trades("taker") if f.liquidity is Liquidity.TAKER]
    assert [f.fee for f in sim] == [expected]

    # what a strategy counts for this fill: never less than booked, short by under one quantum
    counted = size * fee_per_share(fees, price)
    assert expected <= counted < expected + FEE_QUANTUM
