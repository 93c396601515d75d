"""The market channel's fast decoder (msgspec, ``market_msgs``) decides exactly as the lenient one.

``FrameDecoder.decode`` tries the typed-struct path and falls back to ``json.loads`` + the pydantic
wire models on anything outside its subset. The property: for frames mutated the ways the venue
(or a bug) mutates them — fields removed, emptied, nulled, padded, sent as JSON numbers, booleans,
garbage, unknown event types, arrays of several items — the decoder and the lenient path alone
yield the same counts (frames, rejects by kind, accepts) and, fed through a ``BookKeeper``, the
same published payloads down to their JSON text (so Decimals keep the same digits).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from venues.polymarket.market_msgs import BookMsg, PriceChangeMsg, decode_frame
from venues.polymarket.websocket import BookKeeper, FrameDecoder, StreamStats, TokenMeta

TOKEN, OTHER, MARKET = "tok-yes", "tok-no", "0xmarket"
TS = "1790000000000"
NOW_NS = 1_790_000_000_000_000_000

BOOK = {"event_type": "book", "market": MARKET, "asset_id": TOKEN, "timestamp": TS, "hash": "h0",
        "bids": [{"price": "0.40", "size": "10"}, {"price": "0.45", "size": "20.5"}],
        "asks": [{"price": "0.60", "size": "10"}, {"price": "0.55", "size": "7"}],
        "min_order_size": "5", "tick_size": "0.01", "neg_risk": False, "last_trade_price": ""}


def _templates(ts: str) -> dict[str, dict[str, Any]]:
    return {
        "book": {**BOOK, "timestamp": ts},
        "price_change": {"event_type": "price_change", "market": MARKET, "timestamp": ts, "price_changes": [
            {"asset_id": TOKEN, "price": "0.46", "size": "11", "side": "BUY", "hash": "h1",
             "best_bid": "0.46", "best_ask": "0.55"},
            {"asset_id": OTHER, "price": "0.54", "size": "0", "side": "SELL", "hash": "h2",
             "best_bid": "0.45", "best_ask": ""}]},
        "last_trade_price": {"event_type": "last_trade_price", "asset_id": TOKEN, "market": MARKET, "price": "0.5",
                             "size": "3", "side": "SELL", "fee_rate_bps": "0", "timestamp": ts},
        "tick_size_change": {"event_type": "tick_size_change", "asset_id": TOKEN, "market": MARKET,
                             "old_tick_size": "0.01", "new_tick_size": "0.001", "timestamp": ts},
        "best_bid_ask": {"event_type": "best_bid_ask", "asset_id": TOKEN, "market": MARKET, "best_bid": "0.45",
                         "best_ask": "0.55", "spread": "0.1", "timestamp": ts},
        "market_resolved": {"event_type": "market_resolved", "market": MARKET, "assets_ids": [TOKEN, OTHER],
                            "winning_asset_id": TOKEN, "timestamp": ts},
    }


def _number(v: str) -> Any:
    try:
        f = float(v)
    except ValueError:
        return 0.5
    if f != f or f in (float("inf"), float("-inf")):
        return 0.5
    return int(f) if f == int(f) else f


NUMERIC = {"price", "size", "best_bid", "best_ask", "spread", "timestamp", "fee_rate_bps", "old_tick_size",
           "new_tick_size", "min_order_size", "tick_size", "last_trade_price"}
# what can happen to one field's value
MUTATIONS = ("drop", "empty", "null", "pad", "number", "bool", "garbage", "negative", "big", "rename")


def _mutate(obj: dict[str, Any], key: str, how: str) -> None:
    v = obj.get(key)
    if how == "drop":
        obj.pop(key, None)
    elif how == "empty":
        obj[key] = ""
    elif how == "null":
        obj[key] = None
    elif how == "pad":
        obj[key] = f"  {v} " if isinstance(v, str) else v
    elif how == "number":
        obj[key] = _number(v) if isinstance(v, str) else v
    elif how == "bool":
        obj[key] = True
    elif how == "garbage":
        obj[key] = "NaN" if key in ("price", "size") else "abc"
    elif how == "negative":
        obj[key] = "-1"
    elif how == "big":
        obj[key] = "1.5"
    elif how == "rename" and key in ("bids", "asks"):
        obj[{"bids": "buys", "asks": "sells"}[key]] = obj.pop(key)


@st.composite
def item(draw: st.DrawFn) -> Any:
    ts = draw(st.sampled_from([TS, "1790000000001", "1790000000000 ", 1790000000002]))
    kind = draw(st.sampled_from([*_templates(ts), "unknown"]))
    if kind == "unknown":
        return draw(st.sampled_from([{"event_type": "nope"}, {"no": "type"}, 5, "x", [], None]))
    obj = json.loads(json.dumps(_templates(ts)[kind]))
    for _ in range(draw(st.integers(0, 3))):
        target = obj
        inner = obj.get("price_changes") if kind == "price_change" else obj.get("bids")
        if isinstance(inner, list) and inner and draw(st.booleans()):
            target = draw(st.sampled_from(inner))
        if not isinstance(target, dict):
            continue
        numeric = sorted(k for k in target if k in NUMERIC)
        if numeric and draw(st.booleans()):
            key = draw(st.sampled_from(numeric))  # where most of the leniency lives
        else:
            key = draw(st.sampled_from(sorted(target) or ["x"]))
        if key == "event_type":
            continue
        _mutate(target, key, draw(st.sampled_from(MUTATIONS)))
    if draw(st.integers(0, 9)) == 0:
        obj["extra_field"] = {"nested": [1, 2]}  # the venue adds fields: ignored on both paths
    return obj


@st.composite
def frame(draw: st.DrawFn) -> str:
    items = draw(st.lists(item(), min_size=1, max_size=3))
    if len(items) == 1 and draw(st.booleans()):
        return json.dumps(items[0])
    if draw(st.integers(0, 20)) == 0:
        return draw(st.sampled_from(["[]", "{not json", "[1,", "NaN", ""]))
    return json.dumps(items)


def _run(frames: list[str], *, lenient_only: bool) -> tuple[dict[str, Any], list[str]]:
    stats = StreamStats()
    got: list[Any] = []
    keeper = BookKeeper(stats, sink=got.append, clock=lambda: NOW_NS)
    keeper.track(TOKEN, TokenMeta(market=MARKET))
    keeper.track(OTHER, TokenMeta(market=MARKET))
    decoder = FrameDecoder(stats)
    for f in frames:
        events = decoder._decode_lenient(f) if lenient_only else decoder.decode(f)
        if lenient_only:
            stats.frames += 1
        for ev in events:
            keeper.handle(ev)
        keeper.settle()
    return stats.as_dict(), [p.model_dump_json() for p in got]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames=st.lists(frame(), min_size=1, max_size=6))
def test_fast_decoder_counts_and_publishes_exactly_what_the_lenient_decoder_does(frames: list[str]) -> None:
    frames = [json.dumps(BOOK), json.dumps({**BOOK, "asset_id": OTHER}), *frames]
    fast_stats, fast_out = _run(frames, lenient_only=False)
    slow_stats, slow_out = _run(frames, lenient_only=True)
    assert fast_stats == slow_stats
    assert fast_out == slow_out


def test_the_venues_own_frames_take_the_fast_path() -> None:
    """Captured-shaped frames decode without the fallback (else the fast path would be dead code)."""
    t = _templates(TS)
    book, = decode_frame(json.dumps(t["book"]).encode())
    assert isinstance(book, BookMsg) and book.last_trade_price is None and book.timestamp == NOW_NS
    batch = decode_frame(json.dumps([t["price_change"], t["last_trade_price"], t["tick_size_change"],
                                     t["best_bid_ask"]]))
    assert [type(e).__name__ for e in batch] == [
        "PriceChangeMsg", "LastTradeMsg", "TickSizeChangeMsg", "BestBidAskMsg"
    ]
    pc = batch[0]
    assert isinstance(pc, PriceChangeMsg)
    assert [(str(c.price), str(c.size), c.best_bid, c.best_ask) for c in pc.price_changes] == [
        ("0.46", "11", Decimal("0.46"), Decimal("0.55")),
        ("0.54", "0", Decimal("0.45"), None),  # an empty best ask is no value, not a malformed frame
    ]


def _single_mutations() -> list[tuple[str, str, str, str]]:
    """Every (event kind, where, field, mutation) with one field changed: finite, so all of them."""
    out = []
    for kind, obj in _templates(TS).items():
        for key in sorted(obj):
            if key != "event_type":
                out += [(kind, "top", key, how) for how in MUTATIONS]
        inner = obj.get("price_changes") or obj.get("bids")
        if isinstance(inner, list):
            for key in sorted(inner[0]):
                out += [(kind, "inner", key, how) for how in MUTATIONS]
    return out


def test_every_single_field_mutation_is_decided_alike_on_both_paths() -> None:
    differ = []
    for kind, where, key, how in _single_mutations():
        obj = json.loads(json.dumps(_templates(TS)[kind]))
        target = obj if where == "top" else (obj.get("price_changes") or obj["bids"])[0]
        _mutate(target, key, how)
        frames = [json.dumps(BOOK), json.dumps({**BOOK, "asset_id": OTHER}), json.dumps(obj)]
        if _run(frames, lenient_only=False) != _run(frames, lenient_only=True):
            differ.append((kind, where, key, how))
    assert differ == []
