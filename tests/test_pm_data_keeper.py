"""BookKeeper rules in isolation: multi-asset deltas, stale and buffered deltas around snapshots,
duplicate snapshots, and the replay guard across a reconnect."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from protocols import BookDelta, BookSnapshot, BookStale, TradePrint
from venues.polymarket.schemas import WireBook, WireLastTrade, WirePriceChange
from venues.polymarket.websocket import BookKeeper, StreamStats, TokenMeta

MKT = "0x" + "cd" * 32
YES, NO = "1001", "1002"
T = 1_790_000_000_000  # ms


def book(asset: str, ts: int, bids: list[tuple[str, str]], asks: list[tuple[str, str]], h: str = "h") -> WireBook:
    return WireBook.parse({
        "event_type": "book", "asset_id": asset, "market": MKT, "timestamp": str(ts), "hash": h,
        "bids": [{"price": p, "size": s} for p, s in reversed(bids)],
        "asks": [{"price": p, "size": s} for p, s in reversed(asks)],
    })


def change(ts: int, *items: tuple[str, str, str, str, str, str]) -> WirePriceChange:
    return WirePriceChange.model_validate({
        "event_type": "price_change", "market": MKT, "timestamp": str(ts),
        "price_changes": [
            {"asset_id": a, "price": p, "size": s, "side": side, "hash": "", "best_bid": bb, "best_ask": ba}
            for a, p, s, side, bb, ba in items
        ],
    })


def trade(ts: int, size: str) -> WireLastTrade:
    return WireLastTrade.model_validate({
        "event_type": "last_trade_price", "asset_id": YES, "market": MKT, "price": "0.5", "size": size,
        "side": "BUY", "timestamp": str(ts),
    })


def keeper() -> tuple[BookKeeper, StreamStats, list[Any], list[str]]:
    stats = StreamStats()
    out: list[Any] = []
    asked: list[str] = []
    k = BookKeeper(stats, sink=out.append, request_snapshot=asked.append, clock=lambda: T * 1_000_000)
    for t in (YES, NO):
        k.track(t, TokenMeta(MKT))
    k.on_connection_up([YES, NO])
    k.handle(book(YES, T, [("0.40", "10")], [("0.60", "10")]))
    k.handle(book(NO, T, [("0.40", "10")], [("0.60", "10")]))
    out.clear()
    return k, stats, out, asked


def test_one_price_change_for_both_tokens_becomes_one_delta_per_token() -> None:
    k, _stats, out, asked = keeper()
    k.handle(change(T + 1, (YES, "0.45", "5", "BUY", "0.45", "0.6"), (NO, "0.55", "5", "SELL", "0.4", "0.55")))
    deltas = [p for p in out if isinstance(p, BookDelta)]
    assert [(d.token_id, d.best_bid, d.best_ask) for d in deltas] == [
        (YES, Decimal("0.45"), Decimal("0.6")),
        (NO, Decimal("0.4"), Decimal("0.55")),
    ]
    assert asked == []


def test_delta_older_than_the_snapshot_is_dropped_as_already_applied() -> None:
    k, stats, out, _ = keeper()
    k.handle(change(T - 5, (YES, "0.30", "9", "BUY", "0.4", "0.6")))
    assert out == [] and stats.dropped["STALE_DELTA"] == 1
    assert k.book(YES) is not None and k.book(YES).bids == ((Decimal("0.4"), Decimal(10)),)  # type: ignore[union-attr]


def test_deltas_during_a_rebuild_are_buffered_and_replayed_after_the_fresh_snapshot() -> None:
    k, _stats, out, asked = keeper()
    k.handle(change(T + 1, (YES, "0.10", "1", "BUY", "0.44", "0.6")))  # disagrees with the venue's best
    assert asked == []  # judged when its burst settles
    k.settle()  # it did, still disagreeing: a gap
    assert asked == [YES] and k.book(YES) is None
    assert isinstance(out[-1], BookStale)
    k.handle(change(T + 3, (YES, "0.41", "7", "BUY", "0.41", "0.6")))  # arrives while rebuilding
    k.handle(change(T + 1, (YES, "0.39", "2", "BUY", "0.41", "0.6")))  # older than the REST book
    k.on_rest_snapshot(book(YES, T + 2, [("0.40", "10")], [("0.60", "10")], h="rest"))
    b = k.book(YES)
    assert b is not None and b.bids == ((Decimal("0.41"), Decimal(7)), (Decimal("0.40"), Decimal(10)))
    kinds = [type(p).__name__ for p in out]
    assert kinds[-2:] == ["BookSnapshot", "BookDelta"]


def test_identical_snapshot_is_not_delivered_twice_but_a_changed_one_is() -> None:
    k, stats, out, _ = keeper()
    k.handle(book(YES, T, [("0.40", "10")], [("0.60", "10")]))
    assert out == [] and stats.dropped["DUPLICATE_BOOK"] == 1
    k.handle(book(YES, T + 1, [("0.41", "10")], [("0.60", "10")], h="h2"))
    assert [type(p) for p in out] == [BookSnapshot]


def test_trades_replayed_after_a_reconnect_are_dropped_but_new_identical_ones_pass() -> None:
    k, stats, out, _ = keeper()
    k.handle(trade(T + 1, "5"))
    k.handle(trade(T + 2, "6"))
    k.handle(trade(T + 2, "6"))  # two genuine identical prints in one ms: both delivered
    k.on_connection_down([YES, NO])
    k.on_connection_up([YES, NO])
    k.handle(book(YES, T + 3, [("0.40", "10")], [("0.60", "10")]))
    k.handle(trade(T + 1, "5"))  # replays
    k.handle(trade(T + 2, "6"))
    k.handle(trade(T + 2, "6"))
    k.handle(trade(T + 2, "6"))  # a third at that ms was never seen: it is new
    k.handle(trade(T + 4, "5"))
    prints = [(p.time_ns // 1_000_000 - T, p.size) for p in out if isinstance(p, TradePrint)]
    assert prints == [(1, 5), (2, 6), (2, 6), (2, 6), (4, 5)]
    assert stats.dropped["REPLAYED_TRADE"] == 3


def test_disconnect_marks_live_books_stale_until_their_snapshot() -> None:
    k, _stats, out, _ = keeper()
    k.on_connection_down([YES])
    assert [(p.token_id, p.reason) for p in out if isinstance(p, BookStale)] == [(YES, "RESYNC")]
    assert k.book(YES) is None and k.book(NO) is not None


def test_transient_cross_inside_a_burst_of_same_timestamp_frames_causes_no_resync() -> None:
    k, stats, out, asked = keeper()
    # one match sent as two frames at one timestamp: the bid lands before the ask side is emptied
    k.handle(change(T + 1, (YES, "0.60", "5", "BUY", "0.6", "0.61")))
    assert any(isinstance(p, BookDelta) and p.best_bid == p.best_ask for p in out)  # crossed for a moment
    k.handle(change(T + 1, (YES, "0.60", "0", "SELL", "0.6", "0.61"), (YES, "0.61", "3", "SELL", "0.6", "0.61")))
    k.settle()
    b = k.book(YES)
    assert asked == [] and stats.resyncs == 0
    assert b is not None and b.bids[0] == (Decimal("0.6"), Decimal(5)) and b.asks[0] == (Decimal("0.61"), Decimal(3))


def test_book_still_crossed_after_its_burst_settles_is_resynced() -> None:
    k, stats, _out, asked = keeper()
    k.handle(change(T + 1, (YES, "0.60", "5", "BUY", "0.6", "0.6")))
    k.handle(change(T + 2, (YES, "0.30", "1", "BUY", "0.6", "0.6")))  # another timestamp: the burst is over
    assert asked == [YES] and stats.resyncs == 1
