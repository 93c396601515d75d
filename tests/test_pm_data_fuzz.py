"""Fuzzed market-WebSocket frames: the client never crashes and counts every frame it skips.

Each generated item is malformed or unusable by construction (not JSON, not an object, no or an
unknown ``event_type``, a required field missing or of the wrong type, an asset we do not
follow), so the expected reject count is known exactly: one per item, one per non-JSON frame or
empty array.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocols import BookSnapshot, Side, TradePrint
from venues.polymarket import PolymarketDataFeed
from venues.polymarket.loopback import LoopbackServer
from venues.polymarket.loopback.testing import Recorder, market, order
from venues.polymarket.schemas import WS_EVENT_MODELS, WireBook
from venues.polymarket.websocket import BookKeeper, FrameDecoder, StreamStats, TokenMeta

M = market(1)
TOKEN, MKT = M.yes_token, M.market
TS = "1790000000000"


def template(event_type: str, asset: str) -> dict[str, Any]:
    """A valid item of each kind (for ``asset``)."""
    t: dict[str, dict[str, Any]] = {
        "book": {"event_type": "book", "asset_id": asset, "market": MKT, "timestamp": TS, "hash": "h",
                 "bids": [{"price": "0.4", "size": "10"}], "asks": [{"price": "0.6", "size": "10"}]},
        "price_change": {"event_type": "price_change", "market": MKT, "timestamp": TS, "price_changes": [
            {"asset_id": asset, "price": "0.4", "size": "11", "side": "BUY", "hash": "h",
             "best_bid": "0.4", "best_ask": "0.6"}]},
        "last_trade_price": {"event_type": "last_trade_price", "asset_id": asset, "market": MKT, "price": "0.5",
                             "size": "3", "side": "SELL", "fee_rate_bps": "0", "timestamp": TS},
        "tick_size_change": {"event_type": "tick_size_change", "asset_id": asset, "market": MKT,
                             "old_tick_size": "0.01", "new_tick_size": "0.001", "timestamp": TS},
        "best_bid_ask": {"event_type": "best_bid_ask", "asset_id": asset, "market": MKT, "best_bid": "0.4",
                         "best_ask": "0.6", "spread": "0.2", "timestamp": TS},
        "new_market": {"event_type": "new_market", "market": MKT, "question": "q", "assets_ids": [asset, "x"],
                       "outcomes": ["Yes", "No"], "timestamp": TS},
        "market_resolved": {"event_type": "market_resolved", "market": MKT, "assets_ids": [asset, "x"],
                            "winning_asset_id": asset, "timestamp": TS},
    }
    return t[event_type]


REQUIRED = {
    "book": ["asset_id", "market", "timestamp"],
    "price_change": ["market", "price_changes", "timestamp"],
    "last_trade_price": ["asset_id", "market", "price", "size", "side", "timestamp"],
    "tick_size_change": ["asset_id", "market", "old_tick_size", "new_tick_size", "timestamp"],
    "best_bid_ask": ["asset_id", "market", "timestamp"],
    "new_market": ["market", "assets_ids", "outcomes", "timestamp"],
    "market_resolved": ["market", "timestamp"],
}
assert set(REQUIRED) == set(WS_EVENT_MODELS)

# values no required field accepts
junk = st.one_of(
    st.none(),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.lists(st.integers(), max_size=3),
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=8))


@st.composite
def broken_known(draw: st.DrawFn) -> dict[str, Any]:
    et = draw(st.sampled_from(sorted(REQUIRED)))
    item = dict(template(et, TOKEN))
    field = draw(st.sampled_from(REQUIRED[et]))
    if draw(st.booleans()):
        del item[field]
    else:
        item[field] = draw(junk)
    return item


@st.composite
def unknown_asset(draw: st.DrawFn) -> dict[str, Any]:
    et = draw(st.sampled_from(["book", "price_change", "last_trade_price", "tick_size_change", "best_bid_ask"]))
    return template(et, "zz" + draw(st.text(alphabet="0123456789", min_size=1, max_size=12)))


bad_item = st.one_of(
    scalars,  # JSON, but not an object
    st.lists(scalars, min_size=1, max_size=3),  # a nested array is not an object either
    st.dictionaries(st.text(max_size=5).filter(lambda k: k != "event_type"), scalars, max_size=3),
    st.fixed_dictionaries({"event_type": st.one_of(st.integers(), st.none(), st.booleans())}),
    st.fixed_dictionaries({"event_type": st.text(max_size=15).filter(lambda s: s not in WS_EVENT_MODELS)}),
    broken_known(),
    unknown_asset(),
)


def _not_json(s: str) -> bool:
    if s == "PONG":
        return False
    try:
        json.loads(s)
    except ValueError:
        return True
    return False


utf8_text = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=40)


@st.composite
def bad_frame(draw: st.DrawFn) -> tuple[str, int]:
    """(frame text, number of rejects it must cause)."""
    kind = draw(st.sampled_from(["text", "item", "array", "empty"]))
    if kind == "text":
        return draw(utf8_text.filter(_not_json)), 1
    if kind == "empty":
        return "[]", 1
    if kind == "item":
        item = draw(bad_item)
        # a top-level list is itself an array frame: each of its elements is an item
        return json.dumps(item), len(item) if isinstance(item, list) else 1
    items = draw(st.lists(bad_item, min_size=1, max_size=4))
    return json.dumps(items), len(items)


def _keeper() -> tuple[BookKeeper, StreamStats, list[Any]]:
    stats = StreamStats()
    out: list[Any] = []
    keeper = BookKeeper(stats, sink=out.append, clock=time.time_ns)
    keeper.track(TOKEN, TokenMeta(MKT))
    keeper.on_connection_up([TOKEN])
    keeper.handle(WireBook.parse(template("book", TOKEN)))
    return keeper, stats, out


@settings(max_examples=200, deadline=None)
@given(frames=st.lists(bad_frame(), min_size=1, max_size=12))
def test_decoder_counts_every_malformed_frame_and_leaves_the_book_alone(frames: list[tuple[str, int]]) -> None:
    keeper, stats, out = _keeper()
    decoder = FrameDecoder(stats)
    before = keeper.book(TOKEN)
    for text, _n in frames:
        for ev in decoder.decode(text):
            keeper.handle(ev)
    assert stats.rejected_total == sum(n for _t, n in frames)
    assert stats.frames == len(frames)
    assert len(out) == 1  # only the initial snapshot: nothing malformed was delivered
    assert keeper.book(TOKEN) == before


def test_each_reject_kind_is_logged_once(caplog: Any) -> None:
    _k, stats, _out = _keeper()
    decoder = FrameDecoder(stats)
    for _ in range(5):
        decoder.decode("not json")
        decoder.decode('{"event_type": "mystery"}')
    assert stats.rejected == {"NOT_JSON": 5, "UNKNOWN_EVENT": 5}
    logged = [r for r in caplog.records if "skipped" in r.getMessage()]
    assert len(logged) == 2


def test_off_grid_book_for_a_followed_asset_is_counted_and_marks_the_book_for_rebuild() -> None:
    keeper, stats, _out = _keeper()
    requested: list[str] = []
    keeper._request_snapshot = requested.append
    bad = template("book", TOKEN) | {"bids": [{"price": "0.405", "size": "1"}], "timestamp": "1790000000001"}
    keeper.handle(WireBook.parse(bad))
    assert stats.rejected["INVALID_BOOK"] == 1
    assert requested == [TOKEN]
    assert keeper.book(TOKEN) is None  # not to be traded on until the fresh snapshot arrives


def test_fuzzed_frames_over_the_socket_never_crash_and_are_fully_counted() -> None:
    loop = asyncio.new_event_loop()
    srv = LoopbackServer()
    srv.exchange.add_market(M)
    order(srv.exchange, "mm", M, Side.BUY, "0.40", "100")
    rec = Recorder()
    sizes = itertools.count(1)

    async def setup() -> PolymarketDataFeed:
        await srv.start()
        feed = PolymarketDataFeed(srv.data_config())
        feed.set_sink(rec)
        await feed.list_markets()
        await feed.subscribe_market_data([TOKEN])
        await rec.wait_for(lambda: bool(rec.of(BookSnapshot)), "snapshot")
        return feed

    feed = loop.run_until_complete(setup())
    injected = 0

    async def run(frames: list[tuple[str, int]]) -> None:
        before = feed.stats.rejected_total
        for text, _n in frames:
            srv.inject_market_frame(text, TOKEN)
        # a valid sentinel after the junk: once it arrives, every frame before it was handled
        size = next(sizes)
        sentinel = template("last_trade_price", TOKEN) | {
            "size": str(size), "timestamp": str(time.time_ns() // 1_000_000)
        }
        srv.inject_market_frame(json.dumps(sentinel), TOKEN)
        await rec.wait_for(
            lambda: any(p.size == Decimal(size) for p in rec.of(TradePrint)), "sentinel trade"
        )
        assert feed.stats.rejected_total - before == sum(n for _t, n in frames)

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(frames=st.lists(bad_frame(), min_size=1, max_size=8))
    def example(frames: list[tuple[str, int]]) -> None:
        nonlocal injected
        injected += sum(n for _t, n in frames)
        loop.run_until_complete(run(frames))

    try:
        example()
        assert feed.stats.rejected_total == injected  # counters == frames injected, over the whole run
        assert feed.stats.connects == 1  # the socket never died
        assert feed.local_book(TOKEN) is not None
        assert feed.local_book(TOKEN).bids == srv.exchange.book(TOKEN).bids  # type: ignore[union-attr]
    finally:
        loop.run_until_complete(feed.close())
        loop.run_until_complete(srv.stop())
        loop.close()
