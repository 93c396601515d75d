"""Paper venue: fills against a live book (here the real SimExchange's public feed), queue position,
latency, exact accounting."""

from __future__ import annotations

import time
from collections.abc import Sequence
from decimal import ROUND_FLOOR, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols import (
    BookSnapshot,
    Fill,
    Liquidity,
    MarketInfo,
    MarketResolved,
    OrderRequest,
    OrderStatus,
    Payload,
    ReasonCode,
    Settlement,
    Side,
    Sink,
    TimeInForce,
)
from protocols.fees import FEE_QUANTUM, FeeSchedule
from venues.paper import PaperConfig, PaperVenue
from venues.sim.exchange import SimExchange

M = "0x" + "cd" * 32
YES, NO = "1" * 70, "2" * 70
T0 = 1_790_000_000_000_000_000


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> int:
        return self.t


class SimFeed:
    """The public market data of a real SimExchange, as a live feed would deliver it."""

    def __init__(self, ex: SimExchange) -> None:
        self.ex = ex
        self.sink: Sink | None = None
        self.subs: set[str] = set()
        ex.add_market_data_listener(self._on)

    def set_sink(self, sink: Sink) -> None:
        self.sink = sink

    async def list_markets(self) -> list[MarketInfo]:
        return self.ex.markets()

    async def subscribe_market_data(self, token_ids: Sequence[str]) -> None:
        for t in token_ids:
            self.subs.add(t)
            assert self.sink is not None
            self.sink(self.ex.book(t))

    async def unsubscribe_market_data(self, token_ids: Sequence[str]) -> None:
        self.subs.difference_update(token_ids)

    async def get_book(self, token_id: str) -> BookSnapshot:
        return self.ex.book(token_id)

    def _on(self, p: Payload) -> None:
        if self.sink is not None and (getattr(p, "token_id", None) in self.subs or isinstance(p, MarketResolved)):
            self.sink(p)


class World:
    def __init__(self, fees: FeeSchedule | None = None, **cfg: object) -> None:
        self.clock = Clock()
        self.ex = SimExchange()
        self.info = MarketInfo(
            time_ns=T0,
            market=M,
            question="q",
            token_ids=(YES, NO),
            fees=fees or FeeSchedule(rate=Decimal("0.07")),
            min_order_size=Decimal(1),
        )
        self.ex.add_market(self.info)
        self.feed = SimFeed(self.ex)
        self.in_flight: list = []

        async def sleep(_s: float) -> None:
            self.clock.t += int(_s * 1e9)
            while self.in_flight:
                self.in_flight.pop(0)()

        self.venue = PaperVenue(self.feed, PaperConfig(**cfg), clock_ns=self.clock, sleep=sleep)  # type: ignore[arg-type]
        self.out: list[Payload] = []
        self.venue.set_sink(self.out.append)
        self.venue.register_market(self.info)
        self.n = 0

    def crowd(self, who: str, side: Side, price: str, size: str, tif: TimeInForce = TimeInForce.GTC) -> None:
        if not self.ex.has_account(who):
            self.ex.open_account(who, Decimal(100_000))
            self.ex.split(who, M, Decimal(1_000))
        self.n += 1
        ev = self.ex.submit(
            who,
            OrderRequest(
                time_ns=T0,
                client_order_id=f"{who}-{self.n}",
                account=who,
                token_id=YES,
                market=M,
                side=side,
                price=Decimal(price),
                size=Decimal(size),
                tif=tif,
            ),
        )
        assert ev.reason is None, ev

    def cancel_crowd(self, who: str, n: int) -> None:
        self.ex.cancel(who, f"{who}-{n}")

    def fills(self) -> list[Fill]:
        return [p for p in self.out if isinstance(p, Fill)]


def order(
    coid: str, side: Side, price: str, size: str, tif: TimeInForce = TimeInForce.GTC, **kw: object
) -> OrderRequest:
    return OrderRequest(
        time_ns=T0,
        client_order_id=coid,
        account="paper",
        token_id=YES,
        market=M,
        side=side,
        price=Decimal(price),
        size=Decimal(size),
        tif=tif,
        **kw,  # type: ignore[arg-type]
    )


async def test_resting_bid_fills_only_after_the_volume_ahead_has_traded() -> None:
    w = World()
    w.crowd("mm", Side.BUY, "0.50", "30")
    await w.venue.subscribe_market_data([YES])
    ack = await w.venue.place_order(order("p1", Side.BUY, "0.50", "10"))
    assert ack.status is OrderStatus.ACKNOWLEDGED
    w.crowd("s", Side.SELL, "0.50", "20", TimeInForce.FAK)  # 20 of the 30 ahead
    assert w.fills() == []
    w.crowd("s", Side.SELL, "0.50", "10", TimeInForce.FAK)  # exactly the rest ahead
    assert w.fills() == []
    w.crowd("s", Side.SELL, "0.50", "4")  # a seller now rests at our price: it meets us first
    (f,) = w.fills()
    assert (f.size, f.price, f.liquidity, f.fee) == (Decimal(4), Decimal("0.50"), Liquidity.MAKER, Decimal(0))
    w.crowd("mm", Side.BUY, "0.49", "20")
    w.crowd("s", Side.SELL, "0.49", "20", TimeInForce.FAK)  # a print through our price takes us all
    assert sum(x.size for x in w.fills()) == Decimal(10)
    st_ = await w.venue.order_status("p1")
    assert st_ is not None and st_.status is OrderStatus.FILLED
    assert w.venue.cash == Decimal(1000) - Decimal("5.00")
    assert w.venue.reserved_cash == 0


async def test_cancellations_ahead_move_the_order_up_the_queue() -> None:
    w = World()
    for who in ("a", "b", "c"):
        w.crowd(who, Side.BUY, "0.40", "10")
    await w.venue.subscribe_market_data([YES])
    await w.venue.place_order(order("p1", Side.BUY, "0.40", "10"))
    w.cancel_crowd("a", 1)  # 30 → 20 ahead
    w.crowd("s", Side.SELL, "0.40", "15", TimeInForce.FAK)  # 15 of the 20 ahead: nothing for us
    assert w.fills() == []
    w.crowd("z", Side.BUY, "0.40", "8")  # joins behind us
    w.cancel_crowd("z", 5)  # a cancel behind us does not move us
    w.crowd("s", Side.SELL, "0.40", "8", TimeInForce.FAK)  # only the 5 ahead trade on the live book
    assert w.fills() == []
    w.crowd("s", Side.SELL, "0.40", "6")  # a seller resting at our price meets us now
    assert [(f.size, f.liquidity) for f in w.fills()] == [(Decimal(6), Liquidity.MAKER)]


async def test_marketable_order_walks_visible_levels_with_exact_fees() -> None:
    w = World()
    w.crowd("mm", Side.SELL, "0.55", "5")
    w.crowd("mm", Side.SELL, "0.56", "10")
    await w.venue.subscribe_market_data([YES])
    ev = await w.venue.place_order(order("p1", Side.BUY, "0.56", "12"))
    assert (ev.status, ev.filled) == (OrderStatus.FILLED, Decimal(12))
    got = [(f.price, f.size, f.fee) for f in w.fills()]
    # the chain floors each fill's fee at the 5th decimal: 0.086625 → 0.08662, 0.120736 → 0.12073
    fee1 = (Decimal(5) * Decimal("0.07") * Decimal("0.55") * Decimal("0.45")).quantize(FEE_QUANTUM, ROUND_FLOOR)
    fee2 = (Decimal(7) * Decimal("0.07") * Decimal("0.56") * Decimal("0.44")).quantize(FEE_QUANTUM, ROUND_FLOOR)
    assert got == [(Decimal("0.55"), Decimal(5), fee1), (Decimal("0.56"), Decimal(7), fee2)]
    assert w.venue.cash == Decimal(1000) - Decimal("2.75") - Decimal("3.92") - fee1 - fee2
    (pos,) = await w.venue.positions()
    assert pos.size == Decimal(12)
    # our paper take is invisible to the market but eats our local copy: no double take
    ev2 = await w.venue.place_order(order("p2", Side.BUY, "0.56", "5", TimeInForce.FOK))
    assert (ev2.status, ev2.reason) == (OrderStatus.REJECTED, ReasonCode.FOK_NOT_FILLABLE)
    sell = await w.venue.place_order(order("p3", Side.SELL, "0.30", "12", TimeInForce.FAK))
    assert sell.status is OrderStatus.REJECTED and sell.reason is ReasonCode.FAK_NO_MATCH


async def test_latency_means_the_order_meets_the_book_at_arrival() -> None:
    w = World(order_latency_ns=50_000_000)
    w.crowd("mm", Side.SELL, "0.55", "10")
    await w.venue.subscribe_market_data([YES])
    # while our order is on the wire, someone faster takes the ask
    w.in_flight.append(lambda: w.crowd("fast", Side.BUY, "0.55", "10", TimeInForce.FAK))
    ev = await w.venue.place_order(order("p1", Side.BUY, "0.55", "10", TimeInForce.FAK))
    assert (ev.status, ev.reason) == (OrderStatus.REJECTED, ReasonCode.FAK_NO_MATCH)
    assert w.clock.t == T0 + 50_000_000
    # a cancel in flight can lose the race against a fill
    await w.venue.place_order(order("p2", Side.BUY, "0.50", "10"))
    w.in_flight.append(lambda: w.crowd("s", Side.SELL, "0.50", "10"))
    cancelled = await w.venue.cancel_order("p2")
    assert cancelled.status is OrderStatus.FILLED and "not cancelled" in cancelled.message


async def test_rules_post_only_balance_min_size_tick_and_gtd_expiry() -> None:
    w = World(starting_cash=Decimal(10))
    w.crowd("mm", Side.SELL, "0.55", "10")
    reject = await w.venue.place_order(order("x", Side.BUY, "0.55", "10"))
    assert reject.reason is ReasonCode.NO_MARKET_DATA
    await w.venue.subscribe_market_data([YES])
    po = await w.venue.place_order(order("p0", Side.BUY, "0.55", "10", post_only=True))
    assert po.reason is ReasonCode.POST_ONLY_WOULD_CROSS
    rich = await w.venue.place_order(order("p1", Side.BUY, "0.50", "30"))
    assert rich.reason is ReasonCode.INSUFFICIENT_BALANCE
    small = await w.venue.place_order(order("p2", Side.BUY, "0.50", "0.5"))
    assert small.reason is ReasonCode.BELOW_MIN_SIZE
    naked = await w.venue.place_order(order("p3", Side.SELL, "0.50", "5"))
    assert naked.reason is ReasonCode.INSUFFICIENT_BALANCE
    gtd = await w.venue.place_order(order("p4", Side.BUY, "0.40", "10", TimeInForce.GTD, expires_ns=T0 + 120 * 10**9))
    assert gtd.status is OrderStatus.ACKNOWLEDGED and w.venue.reserved_cash == Decimal(4)
    w.clock.t = T0 + 61 * 10**9  # past expiry minus the 60 s threshold
    assert await w.venue.open_orders() == []
    st_ = await w.venue.order_status("p4")
    assert st_ is not None and st_.status is OrderStatus.EXPIRED and w.venue.reserved_cash == 0


async def test_resolution_pays_winners_and_cancels_open_orders() -> None:
    w = World()
    w.crowd("mm", Side.SELL, "0.60", "10")
    await w.venue.subscribe_market_data([YES])
    await w.venue.place_order(order("p1", Side.BUY, "0.60", "10"))
    await w.venue.place_order(order("p2", Side.BUY, "0.30", "10"))
    cash_before = w.venue.cash
    w.ex.resolve(M, YES)
    (s,) = [p for p in w.out if isinstance(p, Settlement)]
    assert (s.size, s.cash) == (Decimal(10), Decimal(10))
    assert w.venue.cash == cash_before + 10 and w.venue.reserved_cash == 0
    st_ = await w.venue.order_status("p2")
    assert st_ is not None and st_.status is OrderStatus.CANCELLED


@settings(max_examples=60, deadline=None)
@given(
    ahead=st.integers(min_value=5, max_value=60),
    mine=st.integers(min_value=5, max_value=30),
    sells=st.lists(st.integers(min_value=1, max_value=25), min_size=1, max_size=8),
)
def test_queue_invariant_fill_is_what_trades_beyond_the_volume_ahead(ahead: int, mine: int, sells: list[int]) -> None:
    import asyncio

    async def run() -> None:
        w = World(starting_cash=Decimal(100_000))
        w.crowd("mm", Side.BUY, "0.50", str(ahead))
        await w.venue.subscribe_market_data([YES])
        await w.venue.place_order(order("p", Side.BUY, "0.50", str(mine)))
        traded = 0
        for q in sells:
            left = ahead - traded
            if left <= 0:
                break
            q = min(q, left)  # sells that the live book can absorb at our level
            w.crowd("s", Side.SELL, "0.50", str(q), TimeInForce.FAK)
            traded += q
        filled = sum((f.size for f in w.fills()), Decimal(0))
        # every traded share was ahead of us: nothing may fill until the queue is exhausted
        assert filled == 0
        # a seller of mine+3 first trades what is still ahead on the live book; the rest meets us
        w.crowd("s2", Side.SELL, "0.50", str(mine + 3))
        filled = sum((f.size for f in w.fills()), Decimal(0))
        assert filled == min(mine, max(0, mine + 3 - (ahead - traded)))
        assert w.venue.cash == Decimal(100_000) - filled * Decimal("0.50")
        assert w.venue.reserved_cash == (Decimal(mine) - filled) * Decimal("0.50")

    asyncio.run(run())


def test_batch_of_more_than_fifteen_is_refused() -> None:
    import asyncio

    w = World()
    with pytest.raises(ValueError, match="at most 15"):
        asyncio.run(w.venue.place_orders([order(f"b{i}", Side.BUY, "0.1", "5") for i in range(16)]))
    _ = time
