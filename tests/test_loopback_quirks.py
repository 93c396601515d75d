"""The loopback sends what the live venue really sends (quirks on, the default), and our decoders
read each quirk right through the entry points the live path uses.

Each test drives real orders through the loopback CLOB (signed by the official SDK, matched on the
simulated exchange), records the raw frames the loopback published on the user channel, and checks
both sides: the raw frame has the venue's shape (no maker ``side``, ``size_matched: ""`` on a killed
FOK, a FOK BUY's ``original_size`` in pUSD, ``created_at`` in milliseconds, REST
``associate_trades: null``, a book's ``last_trade_price: ""``), and what ``UserStream`` /
``PolymarketExecution`` / ``PolymarketDataFeed`` make of it is the right typed message. With
quirks off the same run sends the documented schema, so the switch is seen to do something.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest
from pm_exec_harness import CONDITION, YES, Loopback, connect, request, start_loopback

from protocols import Fill, OrderEvent, OrderStatus, Side, TimeInForce
from venues.polymarket.auth import ApiCredentials, l2_headers
from venues.polymarket.data import PolymarketDataFeed
from venues.polymarket.execution import PolymarketExecution
from venues.polymarket.loopback import LoopbackServer
from venues.polymarket.loopback.testing import market
from venues.polymarket.user_ws import UserStream, stream_for_execution

#: Bound on each wait (a hang guard on a loaded machine, not a timing assertion).
WAIT_S = 30.0


class Tap:
    """The raw frames the loopback published on the user channel, and what our stream decoded."""

    def __init__(self, lb: Loopback, account: str) -> None:
        self.raw: list[dict[str, Any]] = []
        self.decoded: list[OrderEvent | Fill] = []
        lb.state.user_listeners.append(
            lambda to, frame: self.raw.append(dict(frame)) if to.lower() == account.lower() else None
        )

    def put(self, payload: Any) -> None:
        self.decoded.append(payload)

    async def wait(self, pred: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + WAIT_S
        while not pred():
            if time.monotonic() > deadline:
                raise AssertionError(f"gave up waiting for {what}")
            await asyncio.sleep(0.01)

    def frames(self, event_type: str, **match: str) -> list[dict[str, Any]]:
        return [
            f for f in self.raw if f.get("event_type") == event_type and all(f.get(k) == v for k, v in match.items())
        ]

    def events(self, coid: str) -> list[OrderEvent]:
        return [p for p in self.decoded if isinstance(p, OrderEvent) and p.client_order_id == coid]

    def fills(self, coid: str) -> list[Fill]:
        return [p for p in self.decoded if isinstance(p, Fill) and p.client_order_id == coid]


async def _session(quirks: bool) -> AsyncIterator[tuple[Loopback, PolymarketExecution, UserStream, Tap]]:
    lb = await start_loopback(quirks=quirks)
    ex = await connect(lb)
    tap = Tap(lb, ex.wallet)
    stream = stream_for_execution(ex, f"{lb.ws_url}/user", markets=[CONDITION])
    stream.set_sink(tap.put)
    await stream.start()
    await asyncio.wait_for(stream.connected.wait(), WAIT_S)
    try:
        yield lb, ex, stream, tap
    finally:
        await stream.close()
        await ex.close()
        await lb.close()


@pytest.fixture
async def quirky() -> AsyncIterator[tuple[Loopback, PolymarketExecution, UserStream, Tap]]:
    async for s in _session(True):
        yield s


@pytest.fixture
async def documented() -> AsyncIterator[tuple[Loopback, PolymarketExecution, UserStream, Tap]]:
    async for s in _session(False):
        yield s


async def test_killed_fok_buy_arrives_with_empty_size_matched_and_pusd_size_and_decodes_as_a_cancel_of_its_shares(
    quirky: tuple[Loopback, PolymarketExecution, UserStream, Tap],
) -> None:
    _lb, ex, stream, tap = quirky
    placed = await ex.place_order(request("k-1", Side.BUY, "0.60", "10", tif=TimeInForce.FOK))  # nothing to take
    assert placed.status is OrderStatus.REJECTED
    await tap.wait(lambda: bool(tap.events("k-1")), "the kill on the user channel")
    (raw,) = tap.frames("order", id=placed.venue_order_id)
    assert raw["type"] == "CANCELLATION" and raw["size_matched"] == "" and raw["created_at"] == ""
    assert raw["original_size"] == "6" and raw["status"].startswith("CANCELED_order couldn't be fully filled")
    (ev,) = tap.events("k-1")
    assert (ev.status, ev.size, ev.filled) == (OrderStatus.CANCELLED, Decimal(10), Decimal(0))
    assert stream.decoder.rejected == {}


async def test_taker_fill_whose_maker_orders_lack_side_is_booked_and_the_fok_buy_size_is_shares(
    quirky: tuple[Loopback, PolymarketExecution, UserStream, Tap],
) -> None:
    lb, ex, stream, tap = quirky
    lb.maker("mm", Side.SELL, "0.55", "10")
    placed = await ex.place_order(request("t-1", Side.BUY, "0.55", "10", tif=TimeInForce.FOK))
    assert (placed.status, placed.filled) == (OrderStatus.FILLED, Decimal(10))
    await tap.wait(lambda: bool(tap.fills("t-1")) and bool(tap.events("t-1")), "the fill and the order update")
    (trade,) = tap.frames("trade")
    assert trade["maker_orders"] and all("side" not in m for m in trade["maker_orders"])
    (order_frame,) = tap.frames("order", id=placed.venue_order_id)
    assert order_frame["original_size"] == "5.5"  # 10 shares at 0.55, in pUSD as the venue sends it
    created = order_frame["created_at"]
    assert isinstance(created, str) and len(created) == 13  # milliseconds, as the venue sends it
    assert abs(int(created) - time.time() * 1000) < 3_600_000
    (fill,) = tap.fills("t-1")
    assert (fill.side, fill.size, fill.price) == (Side.BUY, Decimal(10), Decimal("0.55"))
    (ev,) = tap.events("t-1")
    assert (ev.status, ev.size, ev.filled) == (OrderStatus.FILLED, Decimal(10), Decimal(10))
    assert abs(ev.time_ns - time.time_ns()) < 3_600 * 10**9
    assert stream.decoder.rejected == {} and stream.decoder.stats.missing["WireMakerOrder.side"] >= 1


async def test_our_maker_fill_without_a_maker_side_is_booked_on_the_side_we_rested(
    quirky: tuple[Loopback, PolymarketExecution, UserStream, Tap],
) -> None:
    lb, ex, stream, tap = quirky
    rested = await ex.place_order(request("m-1", Side.BUY, "0.40", "10"))
    assert rested.status is OrderStatus.ACKNOWLEDGED
    lb.maker("seller", Side.SELL, "0.40", "10")  # another account takes our bid
    await tap.wait(lambda: bool(tap.fills("m-1")), "our maker fill")
    (trade,) = tap.frames("trade")
    assert all("side" not in m for m in trade["maker_orders"])
    (fill,) = tap.fills("m-1")
    assert (fill.side, fill.size, fill.price) == (Side.BUY, Decimal(10), Decimal("0.40"))
    (pos,) = await ex.positions()
    assert (pos.token_id, pos.size) == (YES, Decimal(10))
    assert stream.decoder.rejected == {}


async def test_rest_order_records_carry_null_associate_trades_and_lookups_still_read_them(
    quirky: tuple[Loopback, PolymarketExecution, UserStream, Tap],
) -> None:
    lb, ex, _stream, _tap = quirky
    lb.maker("mm", Side.SELL, "0.55", "5")
    partly = await ex.place_order(request("r-1", Side.BUY, "0.55", "12"))  # 5 filled, 7 resting
    assert (partly.status, partly.filled) == (OrderStatus.PARTIALLY_FILLED, Decimal(5))
    creds = ex.api_credentials()
    api = ApiCredentials(key=creds.key, secret=creds.secret, passphrase=creds.passphrase)
    headers = l2_headers(address=ex.wallet, api=api, timestamp=int(time.time()), method="GET",
                         path="/data/orders", body=None)
    async with httpx.AsyncClient(base_url=lb.base_url) as http:
        page = (await http.get("/data/orders", headers=headers)).json()
    (row,) = page["data"]
    assert row["associate_trades"] is None and isinstance(row["created_at"], int)  # REST: seconds
    (open_ev,) = await ex.open_orders()
    assert (open_ev.client_order_id, open_ev.status, open_ev.filled) == ("r-1", OrderStatus.PARTIALLY_FILLED,
                                                                         Decimal(5))
    status = await ex.order_status("r-1")
    assert status is not None and (status.status, status.filled) == (OrderStatus.PARTIALLY_FILLED, Decimal(5))


async def test_without_quirks_the_same_orders_send_the_documented_schema(
    documented: tuple[Loopback, PolymarketExecution, UserStream, Tap],
) -> None:
    lb, ex, stream, tap = documented
    killed = await ex.place_order(request("d-1", Side.BUY, "0.60", "10", tif=TimeInForce.FOK))
    lb.maker("mm", Side.SELL, "0.55", "10")
    taken = await ex.place_order(request("d-2", Side.BUY, "0.55", "10", tif=TimeInForce.FOK))
    await tap.wait(lambda: bool(tap.events("d-1")) and bool(tap.fills("d-2")), "the kill and the fill")
    (kill,) = tap.frames("order", id=killed.venue_order_id)
    assert kill["size_matched"] == "0" and kill["original_size"] == "10" and kill["created_at"] != ""
    (trade,) = tap.frames("trade")
    assert [m["side"] for m in trade["maker_orders"]] == ["SELL"]
    (order_frame,) = tap.frames("order", id=taken.venue_order_id)
    assert order_frame["original_size"] == "10" and isinstance(order_frame["created_at"], int)
    assert [e.status for e in tap.events("d-1")] == [OrderStatus.CANCELLED]
    assert [(f.side, f.size) for f in tap.fills("d-2")] == [(Side.BUY, Decimal(10))]
    assert stream.decoder.rejected == {}


async def test_a_book_that_never_traded_reads_as_no_last_trade_through_the_data_feed() -> None:
    info = market(3)
    async with LoopbackServer() as srv:
        srv.exchange.add_market(info)
        feed = PolymarketDataFeed(srv.data_config())
        try:
            await feed.list_markets()
            book = await feed.get_book(info.token_ids[0])
        finally:
            await feed.close()
        async with httpx.AsyncClient(base_url=srv.clob_url) as http:
            raw = (await http.get("/book", params={"token_id": info.token_ids[0]})).json()
    assert raw["last_trade_price"] == ""
    assert book.token_id == info.token_ids[0] and book.last_trade_price is None
