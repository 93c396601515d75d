"""Paper queue model on a scripted feed: prints before or after their book change count once;
and exact accounting under random order flow (hypothesis)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from protocols import (
    BookDelta,
    BookSnapshot,
    Fill,
    LevelChange,
    MarketInfo,
    OrderRequest,
    OrderStatus,
    Payload,
    ReasonCode,
    Side,
    Sink,
    TickSizeChange,
    TimeInForce,
    TradePrint,
)
from venues.paper import PaperConfig, PaperVenue

M = "0x" + "ef" * 32
YES, NO = "3" * 70, "4" * 70
T0 = 1_790_000_000_000_000_000


class ScriptFeed:
    """A feed the test writes to: exactly the payload types a live feed delivers."""

    def __init__(self) -> None:
        self.sink: Sink | None = None
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}

    def set_sink(self, sink: Sink) -> None:
        self.sink = sink

    async def list_markets(self) -> list[MarketInfo]:
        return [MarketInfo(time_ns=T0, market=M, question="q", token_ids=(YES, NO), min_order_size=Decimal(1))]

    async def subscribe_market_data(self, token_ids: Sequence[str]) -> None:
        self.push(self.snapshot())

    async def unsubscribe_market_data(self, token_ids: Sequence[str]) -> None: ...

    async def get_book(self, token_id: str) -> BookSnapshot:
        return self.snapshot()

    def snapshot(self) -> BookSnapshot:
        return BookSnapshot(
            time_ns=T0,
            token_id=YES,
            market=M,
            min_order_size=Decimal(1),
            bids=tuple(sorted(((p, q) for p, q in self.bids.items()), reverse=True)),
            asks=tuple(sorted((p, q) for p, q in self.asks.items())),
        )

    def push(self, p: Payload) -> None:
        assert self.sink is not None
        self.sink(p)

    def level(self, side: Side, price: str, size: str) -> None:
        book = self.bids if side is Side.BUY else self.asks
        p, q = Decimal(price), Decimal(size)
        if q:
            book[p] = q
        else:
            book.pop(p, None)
        self.push(BookDelta(time_ns=T0, token_id=YES, market=M, changes=(LevelChange(side=side, price=p, size=q),)))

    def trade(self, taker: Side, price: str, size: str) -> None:
        self.push(TradePrint(time_ns=T0, token_id=YES, market=M, price=Decimal(price), size=Decimal(size), side=taker))


def req(
    coid: str, side: Side, price: str, size: str, tif: TimeInForce = TimeInForce.GTC, tick: str = "0.01"
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
        tick_size=Decimal(tick),
    )


async def setup(bid_size: str = "30") -> tuple[ScriptFeed, PaperVenue, list[Payload]]:
    feed = ScriptFeed()
    feed.bids[Decimal("0.50")] = Decimal(bid_size)
    venue = PaperVenue(feed, PaperConfig(account="paper", starting_cash=Decimal(10_000)), clock_ns=lambda: T0)
    out: list[Payload] = []
    venue.set_sink(out.append)
    await venue.list_markets()
    await venue.subscribe_market_data([YES])
    return feed, venue, out


def filled(out: list[Payload]) -> Decimal:
    return sum((p.size for p in out if isinstance(p, Fill)), Decimal(0))


async def test_a_trade_counts_once_whether_its_print_comes_before_or_after_the_book_change() -> None:
    feed, venue, out = await setup("30")
    await venue.place_order(req("p", Side.BUY, "0.50", "10"))
    feed.level(Side.BUY, "0.50", "20")  # book change first...
    feed.trade(Side.SELL, "0.50", "10")  # ...then its print
    assert filled(out) == 0
    feed.trade(Side.SELL, "0.50", "15")  # print first...
    feed.level(Side.BUY, "0.50", "5")  # ...then its book change
    assert filled(out) == 0
    feed.level(Side.BUY, "0.50", "0")  # the last 5 ahead go, book change first
    feed.trade(Side.SELL, "0.50", "12")  # the print is bigger than the level was: 7 meet us
    assert filled(out) == Decimal(7)


async def test_a_bare_cancellation_before_a_later_print_is_not_mistaken_for_that_trade() -> None:
    feed, venue, out = await setup("30")
    await venue.place_order(req("p", Side.BUY, "0.50", "10"))
    feed.level(Side.BUY, "0.50", "22")  # 8 cancelled (no print follows)
    feed.level(Side.BUY, "0.50", "25")  # someone joins behind us
    feed.trade(Side.SELL, "0.50", "24")  # print first: 22 ahead, then 2 for us
    assert filled(out) == Decimal(2)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["buy", "sell", "cancel", "crowd_sell", "crowd_buy"]),
            st.integers(min_value=30, max_value=70),  # price in cents
            st.integers(min_value=1, max_value=40),  # size
        ),
        min_size=1,
        max_size=25,
    )
)
def test_accounting_is_exact_under_random_flow(steps: list[tuple[str, int, int]]) -> None:
    async def run() -> None:
        feed, venue, out = await setup("30")
        for n, (kind, cents, size) in enumerate(steps):
            price = f"0.{cents:02d}"
            if kind == "buy":
                await venue.place_order(req(f"o{n}", Side.BUY, price, str(size)))
            elif kind == "sell":
                await venue.place_order(req(f"o{n}", Side.SELL, price, str(size)))
            elif kind == "cancel":
                opens = await venue.open_orders()
                if opens:
                    await venue.cancel_order(opens[0].client_order_id)
            elif kind == "crowd_sell":
                feed.level(Side.SELL, price, str(size))  # a seller rests: may meet our bids
            else:
                feed.trade(Side.BUY, price, str(size))  # a buyer lifts: may meet our asks
        fills = [p for p in out if isinstance(p, Fill)]
        bought = sum((f.size for f in fills if f.side is Side.BUY), Decimal(0))
        sold = sum((f.size for f in fills if f.side is Side.SELL), Decimal(0))
        flows = sum((f.cash_flow for f in fills), Decimal(0))
        assert venue.cash == Decimal(10_000) + flows
        pos = {p.token_id: p.size for p in await venue.positions()}
        assert pos.get(YES, Decimal(0)) == bought - sold >= 0
        opens = await venue.open_orders()
        assert venue.reserved_cash == sum((o.remaining * o.price for o in opens if o.side is Side.BUY), Decimal(0))
        for o in opens:
            assert 0 <= o.filled < o.size
        assert all(e.filled <= e.size for e in out if hasattr(e, "filled"))
        assert venue.cash - venue.reserved_cash >= 0
        statuses = {(await venue.order_status(f.client_order_id)).status for f in fills}  # type: ignore[union-attr]
        assert statuses <= {OrderStatus.FILLED, OrderStatus.PARTIALLY_FILLED, OrderStatus.CANCELLED}

    asyncio.run(run())


def _snapshot(tick: str, bids: dict[str, str], asks: dict[str, str]) -> BookSnapshot:
    return BookSnapshot(
        time_ns=T0,
        token_id=YES,
        market=M,
        tick_size=Decimal(tick),
        min_order_size=Decimal(1),
        bids=tuple(sorted(((Decimal(p), Decimal(q)) for p, q in bids.items()), reverse=True)),
        asks=tuple(sorted((Decimal(p), Decimal(q)) for p, q in asks.items())),
    )


async def test_a_change_off_the_books_tick_grid_makes_the_token_untradable_until_a_fresh_snapshot() -> None:
    feed, venue, out = await setup("30")
    feed.push(BookDelta(time_ns=T0, token_id=YES, market=M,
                        changes=(LevelChange(side=Side.SELL, price=Decimal("0.555"), size=Decimal(5)),)))
    refused = await venue.place_order(req("p1", Side.BUY, "0.40", "5"))
    assert (refused.status, refused.reason) == (OrderStatus.REJECTED, ReasonCode.NO_MARKET_DATA)
    feed.push(_snapshot("0.01", {"0.50": "30"}, {"0.56": "5"}))  # the venue's word on the whole book
    taken = await venue.place_order(req("p2", Side.BUY, "0.56", "5", TimeInForce.FOK))
    assert (taken.status, taken.filled) == (OrderStatus.FILLED, Decimal(5))
    assert [(f.price, f.size) for f in out if isinstance(f, Fill)] == [(Decimal("0.56"), Decimal(5))]


async def test_a_resting_bid_left_off_the_grid_by_a_coarser_tick_meets_asks_at_or_below_it_only() -> None:
    feed = ScriptFeed()
    venue = PaperVenue(feed, PaperConfig(account="paper", starting_cash=Decimal(10_000)), clock_ns=lambda: T0)
    out: list[Payload] = []
    venue.set_sink(out.append)
    feed.push(_snapshot("0.001", {"0.550": "10"}, {"0.560": "10"}))
    ack = await venue.place_order(req("p", Side.BUY, "0.555", "10", tick="0.001"))
    assert ack.status is OrderStatus.ACKNOWLEDGED
    feed.push(TickSizeChange(time_ns=T0, token_id=YES, market=M, old_tick_size=Decimal("0.001"),
                             new_tick_size=Decimal("0.01")))
    feed.push(_snapshot("0.01", {"0.55": "10"}, {"0.56": "10"}))  # 0.56 is above our 0.555: no fill
    assert filled(out) == 0
    feed.push(BookDelta(time_ns=T0, token_id=YES, market=M,
                        changes=(LevelChange(side=Side.SELL, price=Decimal("0.55"), size=Decimal(4)),)))
    assert [(f.price, f.size) for f in out if isinstance(f, Fill)] == [(Decimal("0.555"), Decimal(4))]
    status = await venue.order_status("p")
    assert status is not None and (status.status, status.filled) == (OrderStatus.PARTIALLY_FILLED, Decimal(4))
