"""The user channel: order and trade events through MATCHED → MINED → CONFIRMED, FAILED reversed."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pm_exec_harness import CONDITION, YES, connect, request, start_loopback

from protocols import Fill, OrderEvent, OrderStatus, ReasonCode, SettlementStatus, Side
from venues.polymarket.user_ws import FillLedger, UserStreamDecoder, stream_for_execution


@pytest.fixture
async def lb():
    loop = await start_loopback()
    yield loop
    await loop.close()


class Inbox:
    """Collects what the stream delivers; ``take`` removes the first payload matching a kind and
    predicate, waiting for it if needed (a 10 s guard against a hang, not a timing assertion)."""

    def __init__(self) -> None:
        self.items: list = []
        self._changed = asyncio.Event()

    def put(self, p) -> None:
        self.items.append(p)
        self._changed.set()

    async def take(self, kind: type, pred=lambda p: True):
        async def find():
            while True:
                for i, p in enumerate(self.items):
                    if isinstance(p, kind) and pred(p):
                        return self.items.pop(i)
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(find(), 10)


async def test_fills_move_matched_to_confirmed_and_a_failed_fill_is_reversed(lb) -> None:
    ex = await connect(lb)
    stream = stream_for_execution(ex, f"{lb.ws_url}/user", markets=[CONDITION])
    q = Inbox()
    stream.set_sink(q.put)
    await stream.start()
    await asyncio.wait_for(stream.connected.wait(), 10)
    ledger = FillLedger()
    try:
        lb.maker("mm", Side.SELL, "0.55", "10")
        lb.maker("mm", Side.SELL, "0.56", "10")
        await ex.place_order(request("c-1", Side.BUY, "0.55", "10"))
        placed = await q.take(OrderEvent, lambda e: e.client_order_id == "c-1")
        assert placed.status is OrderStatus.FILLED
        f1 = await q.take(Fill)
        assert (f1.client_order_id, f1.settlement, f1.size) == ("c-1", SettlementStatus.MATCHED, Decimal(10))
        ledger.apply(f1)
        trade_id = f1.fill_id.split(":")[0]
        for step in (SettlementStatus.MINED, SettlementStatus.CONFIRMED):
            lb.state.set_trade_status(trade_id, step)
            f = await q.take(Fill)
            assert (f.fill_id, f.settlement) == (f1.fill_id, step)
            ledger.apply(f)
        assert ledger.shares[YES] == Decimal(10)

        await ex.place_order(request("c-2", Side.BUY, "0.56", "10"))
        f2 = await q.take(Fill, lambda f: f.client_order_id == "c-2")
        ledger.apply(f2)
        assert ledger.shares[YES] == Decimal(20)
        t2 = f2.fill_id.split(":")[0]
        lb.state.set_trade_status(t2, SettlementStatus.RETRYING)
        ledger.apply(await q.take(Fill))
        lb.state.set_trade_status(t2, SettlementStatus.FAILED)
        failed = await q.take(Fill)
        assert failed.settlement is SettlementStatus.FAILED
        ledger.apply(failed)
        assert ledger.shares[YES] == Decimal(10) and ledger.reversed == 1
        assert ledger.cash == -(Decimal("5.5") + f1.fee)
        # the REST record agrees: FAILED fills do not count in positions
        (pos,) = await ex.positions()
        assert pos.size == Decimal(10)
        # a replayed CONFIRMED after the end of the story is ignored
        lb.state.set_trade_status(trade_id, SettlementStatus.CONFIRMED)
        await ex.place_order(request("c-3", Side.BUY, "0.30", "5"))
        nxt = await q.take(OrderEvent, lambda e: e.client_order_id == "c-3")
        assert nxt.status is OrderStatus.ACKNOWLEDGED
        assert not [p for p in q.items if isinstance(p, Fill)]
        await ex.cancel_order("c-3")
        cancel = await q.take(OrderEvent, lambda e: e.client_order_id == "c-3")
        assert cancel.status is OrderStatus.CANCELLED
    finally:
        await stream.close()
        await ex.close()


async def test_user_channel_refuses_bad_credentials(lb) -> None:
    async with aiohttp.ClientSession() as s, s.ws_connect(f"{lb.ws_url}/user") as ws:
        await ws.send_str(json.dumps({"auth": {"apiKey": "nope", "secret": "x", "passphrase": "y"}, "type": "user"}))
        msg = await asyncio.wait_for(ws.receive(), 10)
        assert json.loads(msg.data) == {"error": "invalid api key"}
        closing = await asyncio.wait_for(ws.receive(), 10)
        assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)


async def test_stream_reconnects_and_reports_the_gap(lb) -> None:
    ex = await connect(lb)
    gaps: list[int] = []
    regained = asyncio.Event()

    def on_gap() -> None:
        gaps.append(1)
        regained.set()

    stream = stream_for_execution(ex, f"{lb.ws_url}/user", on_gap=on_gap)
    q = Inbox()
    stream.set_sink(q.put)
    await stream.start()
    try:
        await asyncio.wait_for(stream.connected.wait(), 10)
        await _drop_user_sockets(lb)  # the server closes every user socket
        await asyncio.wait_for(regained.wait(), 10)
        assert gaps == [1] and stream.connects == 2
        await ex.place_order(request("c-after", Side.BUY, "0.20", "5"))
        ev = await q.take(OrderEvent, lambda e: e.client_order_id == "c-after")
        assert ev.status is OrderStatus.ACKNOWLEDGED
    finally:
        await stream.close()
        await ex.close()


async def test_a_silent_socket_is_declared_stale_and_replaced(lb) -> None:
    ex = await connect(lb)
    regained = asyncio.Event()
    # no PINGs from us, so the server says nothing: the socket must be presumed dead
    stream = stream_for_execution(ex, f"{lb.ws_url}/user", on_gap=regained.set, ping_interval_s=3600, stale_after_s=0.2)
    await stream.start()
    try:
        await asyncio.wait_for(regained.wait(), 10)
        assert stream.stale_sockets >= 1 and stream.connects >= 2
    finally:
        await stream.close()
        await ex.close()


async def test_refused_credentials_stop_the_stream_instead_of_retrying_forever(lb) -> None:
    from pydantic import SecretStr

    from venues.polymarket.user_ws import UserStream, UserStreamConfig

    stream = UserStream(
        UserStreamConfig(url=f"{lb.ws_url}/user"),
        api_key=SecretStr("not-a-key"),
        api_secret=SecretStr("x"),
        api_passphrase=SecretStr("y"),
        decoder=_decoder(),
    )
    await stream.start()
    try:
        assert stream._task is not None
        await asyncio.wait_for(asyncio.shield(stream._task), 10)
        assert stream.refused == "invalid api key" and stream.connects == 1
    finally:
        await stream.close()


async def test_cancel_of_an_unknown_order_is_rejected_not_raised(lb) -> None:
    ex = await connect(lb)
    try:
        ev = await ex.cancel_order("never-placed")
        assert (ev.status, ev.reason) == (OrderStatus.REJECTED, ReasonCode.UNKNOWN_ORDER)
    finally:
        await ex.close()


async def _drop_user_sockets(lb) -> None:
    for fn in lb.app.on_shutdown:
        if getattr(fn, "__name__", "") == "close_all":
            await fn(lb.app)


def _decoder() -> UserStreamDecoder:
    return UserStreamDecoder(account="trader", wallet="0x" + "11" * 20, api_key="k", resolve=lambda _v: None)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=12), c, max_size=5),
    max_leaves=12,
)
_frames = st.one_of(
    st.text(max_size=40),
    _json.map(json.dumps),
    st.dictionaries(
        st.sampled_from(
            [
                "event_type",
                "id",
                "market",
                "asset_id",
                "side",
                "price",
                "size",
                "status",
                "type",
                "original_size",
                "size_matched",
                "owner",
                "taker_order_id",
                "maker_orders",
            ]
        ),
        st.one_of(st.sampled_from(["order", "trade", "BUY", "0.5", "10", "MATCHED", "PLACEMENT"]), _json),
    ).map(json.dumps),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_frames, max_size=6))
def test_decoder_never_raises_and_counts_every_frame(frames: list[str]) -> None:
    d = _decoder()
    objects = 0
    for text in frames:
        d.decode(text)
        if text in ("PING", "PONG"):
            continue
        try:
            raw = json.loads(text)
        except ValueError:
            objects += 1
            continue
        objects += len(raw) if isinstance(raw, list) else 1
    assert d.accepted + sum(d.rejected.values()) == objects


async def test_a_resting_order_hit_by_another_account_arrives_as_a_maker_fill(lb) -> None:
    ex = await connect(lb)
    stream = stream_for_execution(ex, f"{lb.ws_url}/user")
    q = Inbox()
    stream.set_sink(q.put)
    await stream.start()
    try:
        await asyncio.wait_for(stream.connected.wait(), 10)
        await ex.place_order(request("m-1", Side.BUY, "0.45", "10"))
        lb.maker("taker", Side.SELL, "0.45", "6")  # another account sells into our bid
        f = await q.take(Fill, lambda f: f.client_order_id == "m-1")
        assert (f.liquidity.value, f.side, f.size, f.price, f.fee) == (
            "MAKER",
            Side.BUY,
            Decimal(6),
            Decimal("0.45"),
            0,
        )
        upd = await q.take(OrderEvent, lambda e: e.client_order_id == "m-1" and e.filled > 0)
        assert (upd.status, upd.filled) == (OrderStatus.PARTIALLY_FILLED, Decimal(6))
        (rest,) = [f for f in await ex.trades() if f.client_order_id == "m-1"]
        assert rest.fill_id == f.fill_id and rest.liquidity is f.liquidity
    finally:
        await stream.close()
        await ex.close()
