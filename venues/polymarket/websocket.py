"""The market WebSocket: frames in, validated protocol payloads out, books kept in sync.

Three parts, each with one job:

* :class:`FrameDecoder` turns a text frame (one object or an array of them) into validated wire
  events. Anything it cannot use — not JSON, not an object, an unknown ``event_type``, a field of
  the wrong type — is counted under an UPPER_SNAKE kind, logged once per kind, and skipped. The
  socket never dies of a bad frame; Polymarket changes its schema without notice.
* :class:`BookKeeper` mirrors each subscribed book so it can tell when the stream has a gap
  (a ``price_change``'s best bid/ask disagrees with the mirror, a tick-size change, a reconnect)
  and rebuild from a fresh snapshot, buffering deltas meanwhile. It also refuses to deliver an
  event twice across a reconnect (stale deltas older than the snapshot, replayed trades).
* :class:`MarketDataStream` owns the sockets: at most ``max_assets_per_connection`` assets each,
  text ``PING`` every ``ping_interval_s``, a watchdog that declares a silent socket dead, and
  reconnection with jittered exponential backoff that resubscribes every asset (the server then
  resends each ``book``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import aiohttp
import msgspec
from pydantic import ValidationError

from protocols import (
    BookDelta,
    BookSnapshot,
    BookStale,
    LevelChange,
    MarketInfo,
    MarketResolved,
    Payload,
    Side,
    Sink,
    TickSizeChange,
    TradePrint,
)
from protocols.book import BookError, L2Book
from protocols.burst import UNSAID, BurstJudge, Reported
from venues.polymarket.config import PolymarketDataConfig
from venues.polymarket.http import SharedSession
from venues.polymarket.market_msgs import (
    BestBidAskMsg,
    BookMsg,
    LastTradeMsg,
    PriceChangeItemMsg,
    PriceChangeMsg,
    TickSizeChangeMsg,
    decode_frame,
)
from venues.polymarket.schemas import (
    WS_EVENT_MODELS,
    WireBestBidAsk,
    WireBook,
    WireLastTrade,
    WireMarketResolved,
    WireNewMarket,
    WirePriceChange,
    WirePriceChangeItem,
    WireTickSizeChange,
    book_to_snapshot,
)

log = logging.getLogger(__name__)

# -- counting and logging of rejects ------------------------------------------------------------


@dataclass
class StreamStats:
    """Counters a dashboard can show; ``rejected`` is keyed by UPPER_SNAKE reject kind."""

    frames: int = 0
    accepted: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)
    missing: Counter[str] = field(default_factory=Counter)
    """Optional fields an accepted event came without (absent, empty or null), by ``event.field``:
    counted, never fatal (the venue leaves some out as a matter of course)."""
    connects: int = 0
    connect_failures: int = 0
    disconnects: int = 0
    stale_sockets: int = 0
    resyncs: int = 0
    pongs: int = 0
    _logged: set[str] = field(default_factory=set)

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    def reject(self, kind: str, detail: str) -> None:
        self.rejected[kind] += 1
        if kind not in self._logged:
            self._logged.add(kind)
            log.warning("market ws: skipped a %s frame (logged once per kind): %s", kind, detail[:300])

    def as_dict(self) -> dict[str, Any]:
        return {
            "frames": self.frames,
            "accepted": dict(self.accepted),
            "rejected": dict(self.rejected),
            "rejected_total": self.rejected_total,
            "dropped": dict(self.dropped),
            "missing": dict(self.missing),
            "connects": self.connects,
            "connect_failures": self.connect_failures,
            "disconnects": self.disconnects,
            "stale_sockets": self.stale_sockets,
            "resyncs": self.resyncs,
            "pongs": self.pongs,
        }


# -- decoding -----------------------------------------------------------------------------------


class FrameDecoder:
    """Frame (text or bytes) → validated wire events. Every item not used is counted exactly once.

    Two paths, one result. The fast one decodes the whole frame straight from its bytes into the
    typed structs of :mod:`venues.polymarket.market_msgs` (msgspec, in C); it takes only the shapes
    the venue sends and fails on anything else. Then the frame is decoded the lenient way
    (``json.loads`` and the pydantic wire models, item by item), which decides what is a value,
    what is counted and what is skipped — so an odd frame costs more, never behaves differently.
    """

    def __init__(self, stats: StreamStats) -> None:
        self.stats = stats

    def decode(self, text: str | bytes) -> list[Any]:
        self.stats.frames += 1
        try:
            events: list[Any] = decode_frame(text)
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
            return self._decode_lenient(text)
        if not events:
            self.stats.reject("EMPTY_ARRAY", "[]")
        return events

    def _decode_lenient(self, text: str | bytes) -> list[Any]:
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, RecursionError, ValueError):  # UnicodeDecodeError is a ValueError
            self.stats.reject("NOT_JSON", repr(text[:120]))
            return []
        if isinstance(data, list):
            if not data:
                self.stats.reject("EMPTY_ARRAY", "[]")
                return []
            items = data
        else:
            items = [data]
        out: list[Any] = []
        for item in items:
            event = self._item(item)
            if event is not None:
                out.append(event)
        return out

    def _item(self, item: Any) -> Any:
        if not isinstance(item, dict):
            self.stats.reject("NOT_OBJECT", repr(item)[:120])
            return None
        et = item.get("event_type")
        if not isinstance(et, str):
            self.stats.reject("NO_EVENT_TYPE", repr(item)[:120])
            return None
        model = WS_EVENT_MODELS.get(et)
        if model is None:
            self.stats.reject("UNKNOWN_EVENT", f"event_type={et[:60]!r}")
            return None
        try:
            if model is WireBook:
                return WireBook.parse(item)
            return model.model_validate(item)
        except (ValidationError, ValueError, TypeError, ArithmeticError) as exc:
            self.stats.reject(f"INVALID_{et.upper()}", str(exc))
            return None


# -- book keeping -------------------------------------------------------------------------------


@dataclass
class TokenMeta:
    market: str
    tick_size: Decimal = Decimal("0.01")
    min_order_size: Decimal = Decimal(5)


@dataclass
class _BookState:
    """One token's mirror (``book.hash`` is the venue's last hash, ``book.seq`` our delivery count)."""

    meta: TokenMeta
    book: L2Book
    have_book: bool = False
    book_ts: int = 0
    awaiting: bool = True  # no valid snapshot since (re)subscription, a gap or a tick change
    resync_pending: bool = False
    buffer: list[tuple[int, WirePriceChangeItem | PriceChangeItemMsg]] = field(default_factory=list)
    last_update_ns: int | None = None
    # the open burst (see BookKeeper and protocols.burst): its timestamp, the best prices the venue
    # last reported in it, and whether the mirror is in doubt — judged when it settles
    burst: BurstJudge = field(default_factory=BurstJudge)
    trade_ts: int = 0
    trade_keys: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    guard_ts: int = 0
    guard_keys: Counter[tuple[str, str, str]] = field(default_factory=Counter)

    def end_burst(self) -> None:
        self.burst.end()


MAX_BUFFERED_CHANGES = 10_000


def _wire_best(v: Decimal | None, *, bid: bool) -> Decimal | None:
    """Polymarket reports an empty side as "0" (and sometimes an empty ask as "1")."""
    if v is None:
        return None
    if bid:
        return None if v <= 0 else v
    return None if v <= 0 or v >= 1 else v


class BookKeeper:
    """Wire events → protocol payloads for the subscribed tokens, with gap detection.

    ``request_snapshot(token_id)`` is called when a book must be rebuilt from REST; the owner
    fetches it and hands the result to :meth:`on_rest_snapshot`.

    Bursts: the venue sends one match as several ``price_change`` items — in one frame, or in
    consecutive frames carrying the same timestamp — and between two of them the mirror can be
    crossed or disagree with the best prices an item reports (a new best bid above the old best
    ask before the ask side's change arrives). So every change of a burst is applied and delivered
    as it comes, and the book is judged only once the burst has settled: when an event for the
    token with another timestamp arrives, or when the owner calls :meth:`settle`. A burst that
    ends agreeing with the venue's last reported best prices and uncrossed was no gap; one that
    ends crossed or disagreeing is, and the book is rebuilt (RESYNC). The rule is
    ``protocols.burst.BurstJudge``'s, shared with the market watcher.
    """

    def __init__(
        self,
        stats: StreamStats,
        *,
        sink: Sink | None = None,
        request_snapshot: Callable[[str], None] | None = None,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.stats = stats
        self.sink: Sink = sink or (lambda _p: None)
        self._request_snapshot = request_snapshot or (lambda _t: None)
        self._clock = clock
        self._books: dict[str, _BookState] = {}
        self._doubtful: set[str] = set()  # tokens whose open burst left the book in doubt (may be stale)

    # -- subscription ------------------------------------------------------------------------
    def track(self, token_id: str, meta: TokenMeta) -> None:
        st = self._books.get(token_id)
        if st is None:
            book = L2Book(token_id, meta.market, meta.tick_size, meta.min_order_size)
            self._books[token_id] = _BookState(meta=meta, book=book)
        else:
            st.meta = meta

    def untrack(self, token_id: str) -> None:
        self._books.pop(token_id, None)

    def tracked(self) -> list[str]:
        return list(self._books)

    def meta(self, token_id: str) -> TokenMeta | None:
        st = self._books.get(token_id)
        return None if st is None else st.meta

    def book(self, token_id: str) -> BookSnapshot | None:
        """The mirror, best first; None until a snapshot has arrived (or while rebuilding)."""
        st = self._books.get(token_id)
        if st is None or not st.have_book or st.awaiting:
            return None
        return st.book.to_snapshot(st.book_ts)

    def settle(self, token_ids: Iterable[str] | None = None) -> None:
        """Judge the open burst of these tokens (all by default) now: the owner's way to say "no
        more of this burst is coming" (e.g. the stream went quiet) without waiting for the next
        event. A book that is crossed or disagrees with the venue's last report is rebuilt."""
        for t in list(self._books) if token_ids is None else token_ids:
            st = self._books.get(t)
            if st is not None:
                self._settle(t, st)

    @property
    def in_doubt(self) -> bool:
        """Does some open burst leave its book crossed or disagreeing with the venue (yet)?"""
        return bool(self._doubtful)

    def doubts(self) -> dict[str, int]:
        """The tokens in doubt now, each with the mark of its doubt (for :meth:`settle_doubts`)."""
        out: dict[str, int] = {}
        for t in list(self._doubtful):
            st = self._books.get(t)
            if st is None or not st.burst.doubt:
                self._doubtful.discard(t)
            else:
                out[t] = st.burst.mark
        return out

    def settle_doubts(self, marks: dict[str, int]) -> None:
        """Judge the bursts still in the same doubt as when :meth:`doubts` returned ``marks``: the
        owner waited and the book did not come right, so no more of that burst is coming."""
        for t, mark in marks.items():
            st = self._books.get(t)
            if st is not None and st.burst.doubt and st.burst.mark == mark:
                self._settle(t, st)

    def on_connection_up(self, token_ids: Iterable[str]) -> None:
        """A (re)connected socket resubscribed these tokens: each waits for the server's ``book``;
        trades already delivered must not be delivered again."""
        for t in token_ids:
            st = self._books.get(t)
            if st is None:
                continue
            st.awaiting = True
            st.end_burst()
            st.guard_ts, st.guard_keys = st.trade_ts, Counter(st.trade_keys)

    def on_connection_down(self, token_ids: Iterable[str]) -> None:
        now = self._clock()
        for t in token_ids:
            st = self._books.get(t)
            if st is None:
                continue
            was_live = st.have_book and not st.awaiting
            st.awaiting = True
            st.end_burst()
            if was_live:
                self._emit(
                    BookStale(
                        time_ns=now, token_id=t, market=st.meta.market, reason="RESYNC",
                        last_update_ns=st.last_update_ns,
                    )
                )

    # -- events --------------------------------------------------------------------------------
    def handle(self, event: Any) -> None:
        """One decoded event: a fast-path struct (``market_msgs``) or its pydantic twin (REST, the
        lenient path); both carry the same fields with the same meaning."""
        if isinstance(event, PriceChangeMsg | WirePriceChange):
            self._on_price_change(event)
        elif isinstance(event, BookMsg | WireBook):
            self._on_book(event, from_rest=False)
        elif isinstance(event, LastTradeMsg | WireLastTrade):
            self._on_trade(event)
        elif isinstance(event, BestBidAskMsg | WireBestBidAsk):
            self._on_bba(event)
        elif isinstance(event, TickSizeChangeMsg | WireTickSizeChange):
            self._on_tick(event)
        elif isinstance(event, WireNewMarket):
            self._on_new_market(event)
        elif isinstance(event, WireMarketResolved):
            self._on_resolved(event)
        else:  # pragma: no cover - the decoder only yields the types above
            self.stats.reject("UNKNOWN_EVENT", repr(event)[:120])

    def on_rest_snapshot(self, wire: WireBook) -> None:
        st = self._books.get(wire.asset_id)
        if st is None:
            return
        st.resync_pending = False
        self._on_book(wire, from_rest=True)

    def resync_failed(self, token_id: str) -> None:
        st = self._books.get(token_id)
        if st is not None:
            st.resync_pending = False

    def _state(self, token_id: str, kind: str) -> _BookState | None:
        st = self._books.get(token_id)
        if st is None:
            self.stats.reject("UNKNOWN_ASSET", f"{kind} for unsubscribed asset {token_id[:40]!r}")
        return st

    def _on_book(self, wire: WireBook | BookMsg, *, from_rest: bool) -> None:
        st = self._state(wire.asset_id, "book")
        if st is None:
            return
        if wire.market != st.meta.market:
            self.stats.reject("INVALID_BOOK", f"book market {wire.market!r} != {st.meta.market!r}")
            return
        if not wire.hash:
            self.stats.missing["book.hash"] += 1
        if st.have_book and wire.timestamp < st.book_ts and not st.awaiting:
            self.stats.dropped["STALE_BOOK"] += 1
            return
        if from_rest and wire.tick_size is not None:
            st.meta.tick_size = wire.tick_size
        if from_rest and wire.min_order_size is not None:
            st.meta.min_order_size = wire.min_order_size
        if (
            st.have_book
            and not st.awaiting
            and wire.timestamp == st.book_ts
            and wire.hash
            and wire.hash == st.book.hash
        ):
            self.stats.dropped["DUPLICATE_BOOK"] += 1
            return
        try:
            snap = book_to_snapshot(
                wire,
                tick_size=st.meta.tick_size,
                min_order_size=st.meta.min_order_size,
                seq=st.book.seq + 1,
            )
            if wire.tick_size is None:
                # the WebSocket book does not carry the tick; keep ours
                snap = snap.model_copy(update={"tick_size": st.meta.tick_size})
            st.book.load_snapshot(snap)  # all or nothing: a refused book leaves the mirror as it was
        except (ValidationError, ValueError) as exc:
            self.stats.reject("INVALID_BOOK", str(exc))
            self._resync(wire.asset_id, st)
            return
        st.have_book = True
        st.awaiting = False
        st.end_burst()  # the snapshot is the venue's word on the whole book
        st.book_ts = wire.timestamp
        st.last_update_ns = wire.timestamp
        self.stats.accepted["book"] += 1
        self._emit(snap)
        buffered, st.buffer = st.buffer, []
        i = 0
        while i < len(buffered):  # replayed burst by burst, judged like live ones
            ts = buffered[i][0]
            j = i
            while j < len(buffered) and buffered[j][0] == ts:
                j += 1
            if ts < st.book_ts:
                self.stats.dropped["STALE_DELTA"] += j - i
            elif st.burst.other(ts) and not self._settle(wire.asset_id, st):
                return  # lost sync again: a fresh snapshot is on its way
            elif not self._apply_items(wire.asset_id, st, ts, [it for _ts, it in buffered[i:j]], report=False):
                return
            i = j

    def _on_price_change(self, ev: WirePriceChange | PriceChangeMsg) -> None:
        by_asset: dict[str, list[WirePriceChangeItem | PriceChangeItemMsg]] = {}
        for item in ev.price_changes:
            by_asset.setdefault(item.asset_id, []).append(item)
        known = {a: items for a, items in by_asset.items() if a in self._books}
        if not known:
            self.stats.reject("UNKNOWN_ASSET", f"price_change for {sorted(by_asset)[:3]}")
            return
        # check the tick grid first: an off-grid level means our tick is wrong → whole event refused
        for asset, items in known.items():
            book = self._books[asset].book
            for it in items:
                if not book.on_grid(it.price):
                    self.stats.reject("INVALID_PRICE_CHANGE", f"price {it.price} off tick {book.tick_size}")
                    self._resync(asset, self._books[asset])
                    return
        missing = self.stats.missing
        for it in ev.price_changes:
            if not it.hash:
                missing["price_change.hash"] += 1
            if it.best_bid is None:
                missing["price_change.best_bid"] += 1
            if it.best_ask is None:
                missing["price_change.best_ask"] += 1
        self.stats.accepted["price_change"] += 1
        for asset, items in known.items():
            st = self._books[asset]
            if st.burst.other(ev.timestamp) and ev.timestamp >= st.book_ts and not st.awaiting:
                self._settle(asset, st)  # another timestamp: the open burst is over (may start a rebuild)
            if st.awaiting or st.resync_pending:
                if len(st.buffer) + len(items) > MAX_BUFFERED_CHANGES:
                    st.buffer.clear()
                    self.stats.dropped["BUFFER_OVERFLOW"] += 1
                st.buffer.extend((ev.timestamp, it) for it in items)
                continue
            if ev.timestamp < st.book_ts:
                self.stats.dropped["STALE_DELTA"] += 1
                continue
            self._apply_items(asset, st, ev.timestamp, items, report=True)

    def _apply_items(
        self,
        asset: str,
        st: _BookState,
        ts: int,
        items: Sequence[WirePriceChangeItem | PriceChangeItemMsg],
        *,
        report: bool,
    ) -> bool:
        """Apply one event's changes for one token as part of the burst at ``ts`` and deliver them.

        ``report``: the last item's best bid/ask are the venue's word on the book after them (not
        for deltas replayed after a snapshot). The book is judged when the burst settles. False
        (and a rebuild) if the changes do not fit the book (a replayed change off a new tick grid).
        """
        # Built without re-validation: every field was checked at the wire boundary (side BUY/SELL,
        # price a finite Decimal in [0, 1], size finite and >= 0) and the book refuses off-grid
        # prices below; the one validated model per published message is the BookDelta.
        trusted = LevelChange.trusted
        buy, sell = Side.BUY, Side.SELL
        changes = [trusted(buy if it.side == "BUY" else sell, it.price, it.size) for it in items]
        book = st.book
        try:
            book.apply_changes(changes)  # all or nothing
        except BookError as exc:
            self.stats.reject("INVALID_PRICE_CHANGE", str(exc))
            self._resync(asset, st)
            return False
        last = items[-1]
        book.seq += 1
        st.last_update_ns = ts
        if last.hash:
            book.hash = last.hash
        self._emit(
            BookDelta(
                time_ns=ts,
                token_id=asset,
                market=st.meta.market,
                changes=tuple(changes),
                best_bid=book.best_bid,
                best_ask=book.best_ask,
                hash=last.hash,
                seq=book.seq,
            )
        )
        self._join_burst(asset, st, ts, (last.best_bid, last.best_ask) if report else None)
        return True

    def _join_burst(
        self, asset: str, st: _BookState, ts: int, reported: tuple[Decimal | None, Decimal | None] | None
    ) -> None:
        """Make ``ts`` the open burst, remember what the venue last reported in it, and note
        whether the mirror is in doubt (crossed, or disagreeing with that report) right now."""
        said: tuple[Reported, Reported] | None = None
        if reported is not None:
            bid, ask = reported
            said = (
                UNSAID if bid is None else _wire_best(bid, bid=True),
                UNSAID if ask is None else _wire_best(ask, bid=False),
            )
        if st.burst.observe(st.book, ts, said):
            self._doubtful.add(asset)

    def _settle(self, asset: str, st: _BookState) -> bool:
        """Close the open burst; a book still in doubt lost sync and is rebuilt. True if in sync."""
        doubt = st.burst.settle()
        self._doubtful.discard(asset)
        if doubt:
            self._resync(asset, st)
        return not doubt

    def _resync(self, asset: str, st: _BookState) -> None:
        """Declare the book out of sync: tell consumers, buffer deltas, fetch a fresh snapshot."""
        if st.resync_pending:
            return
        st.resync_pending = True
        st.awaiting = True
        st.end_burst()
        st.buffer.clear()
        self.stats.resyncs += 1
        self._emit(
            BookStale(
                time_ns=self._clock(), token_id=asset, market=st.meta.market, reason="RESYNC",
                last_update_ns=st.last_update_ns,
            )
        )
        self._request_snapshot(asset)

    def _on_trade(self, ev: WireLastTrade | LastTradeMsg) -> None:
        st = self._state(ev.asset_id, "last_trade_price")
        if st is None:
            return
        if st.burst.open and ev.timestamp > st.burst.ts:
            self._settle(ev.asset_id, st)  # time moved on: the open burst is over
        key = (str(ev.price.normalize()), str(ev.size.normalize()), ev.side)
        if st.guard_ts:
            if ev.timestamp < st.guard_ts:
                self.stats.dropped["REPLAYED_TRADE"] += 1
                return
            if ev.timestamp == st.guard_ts and st.guard_keys[key] > 0:
                st.guard_keys[key] -= 1
                self.stats.dropped["REPLAYED_TRADE"] += 1
                return
            if ev.timestamp > st.guard_ts:
                st.guard_ts, st.guard_keys = 0, Counter()
        try:
            tp = TradePrint(
                time_ns=ev.timestamp,
                token_id=ev.asset_id,
                market=ev.market,
                price=ev.price,
                size=ev.size,
                side=Side(ev.side),
                fee_rate_bps=int(ev.fee_rate_bps or 0),  # "" or absent: the venue names no rate
            )
        except (ValidationError, ValueError) as exc:
            self.stats.reject("INVALID_LAST_TRADE_PRICE", str(exc))
            return
        if ev.fee_rate_bps is None:
            self.stats.missing["last_trade_price.fee_rate_bps"] += 1
        if ev.timestamp > st.trade_ts:
            st.trade_ts, st.trade_keys = ev.timestamp, Counter({key: 1})
        elif ev.timestamp == st.trade_ts:
            st.trade_keys[key] += 1
        self.stats.accepted["last_trade_price"] += 1
        self._emit(tp)

    def _on_tick(self, ev: WireTickSizeChange | TickSizeChangeMsg) -> None:
        st = self._state(ev.asset_id, "tick_size_change")
        if st is None:
            return
        self.stats.accepted["tick_size_change"] += 1
        old = st.meta.tick_size
        st.meta.tick_size = ev.new_tick_size
        st.book.clear(ev.new_tick_size)
        st.have_book = False
        st.end_burst()
        self._emit(
            TickSizeChange(
                time_ns=ev.timestamp, token_id=ev.asset_id, market=st.meta.market,
                old_tick_size=old, new_tick_size=ev.new_tick_size,
            )
        )
        self._resync(ev.asset_id, st)

    def _on_bba(self, ev: WireBestBidAsk | BestBidAskMsg) -> None:
        st = self._state(ev.asset_id, "best_bid_ask")
        if st is None:
            return
        self.stats.accepted["best_bid_ask"] += 1
        if st.awaiting or st.resync_pending or ev.timestamp < st.book_ts:
            return
        if st.burst.other(ev.timestamp) and not self._settle(ev.asset_id, st):
            return
        # the venue's word on the best prices at ev.timestamp: judged once that burst has settled
        self._join_burst(ev.asset_id, st, ev.timestamp, (ev.best_bid, ev.best_ask))

    def _on_new_market(self, ev: WireNewMarket) -> None:
        try:
            info = MarketInfo(
                time_ns=ev.timestamp,
                market=ev.market,
                question=ev.question,
                slug=ev.slug,
                outcomes=(ev.outcomes[0], ev.outcomes[1]),
                token_ids=(ev.assets_ids[0], ev.assets_ids[1]),
                tick_size=ev.order_price_min_tick_size or Decimal("0.01"),
            )
        except (ValidationError, ValueError) as exc:
            self.stats.reject("INVALID_NEW_MARKET", str(exc))
            return
        self.stats.accepted["new_market"] += 1
        self._emit(info)

    def _on_resolved(self, ev: WireMarketResolved) -> None:
        winner = ev.winning_asset_id or None
        if winner is not None and ev.assets_ids and winner not in ev.assets_ids:
            self.stats.reject("INVALID_MARKET_RESOLVED", f"winner {winner!r} not among assets_ids")
            return
        self.stats.accepted["market_resolved"] += 1
        self._emit(MarketResolved(time_ns=ev.timestamp, market=ev.market, winning_token_id=winner))

    def _emit(self, payload: Payload) -> None:
        try:
            self.sink(payload)
        except Exception:  # a consumer's bug must not kill the socket
            log.exception("market ws: sink raised on %s", payload.kind)  # type: ignore[attr-defined]


# -- sockets ------------------------------------------------------------------------------------


def backoff_delay(attempt: int, initial_s: float, max_s: float, rng: random.Random) -> float:
    """Exponential backoff with "equal jitter": half fixed, half random, capped."""
    if attempt <= 0:
        return 0.0
    cap = min(max_s, initial_s * (2 ** (attempt - 1)))
    return cap / 2 + rng.random() * cap / 2


class MarketWsConnection:
    """One socket carrying up to ``max_assets_per_connection`` assets; reconnects until closed."""

    def __init__(
        self,
        conn_id: int,
        config: PolymarketDataConfig,
        session: SharedSession,
        stats: StreamStats,
        on_text: Callable[[str], None],
        on_up: Callable[[list[str]], None],
        on_down: Callable[[list[str]], None],
        rng: random.Random,
    ) -> None:
        self.conn_id = conn_id
        self.assets: set[str] = set()
        self._cfg = config
        self._session = session
        self._stats = stats
        self._on_text = on_text
        self._on_up = on_up
        self._on_down = on_down
        self._rng = rng
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.connected = asyncio.Event()
        self.connects = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"pm-market-ws-{self.conn_id}")

    async def send_operation(self, operation: str, assets: Sequence[str]) -> None:
        ws = self._ws
        if ws is None or ws.closed or not assets:
            return  # sent with the full asset list on (re)connect
        msg: dict[str, Any] = {"operation": operation, "assets_ids": list(assets)}
        if self._cfg.custom_features:
            msg["custom_feature_enabled"] = True
        with contextlib.suppress(ConnectionError, RuntimeError, aiohttp.ClientError):
            await ws.send_str(json.dumps(msg))

    async def _run(self) -> None:
        attempt = 0
        while not self._closing:
            try:
                ws = await self._session.get().ws_connect(
                    self._cfg.market_ws_url, autoping=True, heartbeat=None, max_msg_size=0
                )
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                attempt += 1
                self._stats.connect_failures += 1
                delay = backoff_delay(attempt, self._cfg.reconnect_initial_s, self._cfg.reconnect_max_s, self._rng)
                log.info("market ws %d: connect failed (%s); retry in %.2fs", self.conn_id, exc, delay)
                await asyncio.sleep(delay)
                continue
            assets = sorted(self.assets)
            self._ws = ws
            self.connects += 1
            self._stats.connects += 1
            got_frame = False
            try:
                sub: dict[str, Any] = {"type": "market", "assets_ids": assets}
                if self._cfg.custom_features:
                    sub["custom_feature_enabled"] = True
                self._on_up(assets)
                # connected before the first await: an asset added from here on is sent as an
                # "operation", one added before is in ``assets``; none can fall in between
                self.connected.set()
                await ws.send_str(json.dumps(sub))
                got_frame = await self._read(ws)
            except (aiohttp.ClientError, ConnectionError, RuntimeError) as exc:
                log.info("market ws %d: connection error: %s", self.conn_id, exc)
            finally:
                self.connected.clear()
                self._ws = None
                with contextlib.suppress(Exception):
                    await ws.close()
                self._stats.disconnects += 1
                self._on_down(sorted(self.assets))
            if self._closing:
                break
            attempt = 1 if got_frame else attempt + 1
            await asyncio.sleep(
                backoff_delay(attempt, self._cfg.reconnect_initial_s, self._cfg.reconnect_max_s, self._rng)
            )

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> bool:
        pinger = asyncio.create_task(self._ping(ws))
        got_frame = False
        try:
            while True:
                try:
                    msg = await ws.receive(timeout=self._cfg.stale_after_s)
                except TimeoutError:
                    self._stats.stale_sockets += 1
                    log.warning("market ws %d: silent for %.1fs; reconnecting", self.conn_id, self._cfg.stale_after_s)
                    return got_frame
                if msg.type == aiohttp.WSMsgType.TEXT:
                    got_frame = True
                    if msg.data == "PONG":
                        self._stats.pongs += 1
                        continue
                    self._on_text(msg.data)
                elif msg.type == aiohttp.WSMsgType.BINARY:
                    got_frame = True
                    self._stats.frames += 1
                    self._stats.reject("BINARY_FRAME", f"{len(msg.data)} bytes")
                else:  # CLOSE, CLOSING, CLOSED, ERROR
                    return got_frame
        finally:
            pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pinger

    async def _ping(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError, aiohttp.ClientError):
            while not ws.closed:
                await asyncio.sleep(self._cfg.ping_interval_s)
                await ws.send_str("PING")

    async def close(self) -> None:
        self._closing = True
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None


class MarketDataStream:
    """Shards subscriptions over sockets and feeds their frames through decoder and keeper."""

    def __init__(
        self,
        config: PolymarketDataConfig,
        session: SharedSession,
        keeper: BookKeeper,
        stats: StreamStats,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self._cfg = config
        self._session = session
        self._keeper = keeper
        self.stats = stats
        self._decoder = FrameDecoder(stats)
        self._rng = rng or random.Random()
        self._conns: list[MarketWsConnection] = []
        self._owner: dict[str, MarketWsConnection] = {}
        self._next_id = 0
        self._settler: asyncio.TimerHandle | None = None
        self.on_link: Callable[[str, bool], None] | None = None
        """``(connection name, up)`` on every socket that comes up or goes down (a new socket is
        down until it connects): what an operator's alert on a long disconnect watches."""

    def _link(self, name: str, up: bool) -> None:
        fn = self.on_link
        if fn is None:
            return
        try:
            fn(name, up)
        except Exception:
            log.exception("market ws: the link observer failed")

    @property
    def connections(self) -> list[MarketWsConnection]:
        return list(self._conns)

    def on_text(self, text: str) -> None:
        for event in self._decoder.decode(text):
            self._keeper.handle(event)
        if self._keeper.in_doubt and self._settler is None:
            self._arm_settler()

    def _arm_settler(self) -> None:
        marks = self._keeper.doubts()
        self._settler = asyncio.get_running_loop().call_later(self._cfg.burst_settle_s, self._settle_bursts, marks)

    def _settle_bursts(self, marks: dict[str, int]) -> None:
        """A burst that left its book in doubt ``burst_settle_s`` ago and has not come right is over."""
        self._settler = None
        self._keeper.settle_doubts(marks)
        if self._keeper.in_doubt:
            self._arm_settler()

    async def subscribe(self, token_ids: Iterable[str]) -> None:
        new = [t for t in dict.fromkeys(token_ids) if t not in self._owner]
        by_conn: dict[int, tuple[MarketWsConnection, list[str]]] = {}
        for t in new:
            conn = next((c for c in self._conns if len(c.assets) < self._cfg.max_assets_per_connection), None)
            if conn is None:
                conn = self._new_connection()
            conn.assets.add(t)
            self._owner[t] = conn
            by_conn.setdefault(conn.conn_id, (conn, []))[1].append(t)
        for conn, assets in by_conn.values():
            if conn.connected.is_set():
                self._keeper.on_connection_up(assets)
                await conn.send_operation("subscribe", assets)
            conn.start()

    async def unsubscribe(self, token_ids: Iterable[str]) -> None:
        by_conn: dict[int, tuple[MarketWsConnection, list[str]]] = {}
        for t in dict.fromkeys(token_ids):
            conn = self._owner.pop(t, None)
            if conn is None:
                continue
            conn.assets.discard(t)
            by_conn.setdefault(conn.conn_id, (conn, []))[1].append(t)
        for conn, assets in by_conn.values():
            if conn.assets:
                await conn.send_operation("unsubscribe", assets)
            else:
                self._conns.remove(conn)
                await conn.close()

    async def wait_connected(self) -> None:
        await asyncio.gather(*(c.connected.wait() for c in self._conns))

    def _new_connection(self) -> MarketWsConnection:
        self._next_id += 1
        name = f"polymarket market ws #{self._next_id}"
        keeper = self._keeper

        def up(assets: list[str]) -> None:
            keeper.on_connection_up(assets)
            self._link(name, True)

        def down(assets: list[str]) -> None:
            keeper.on_connection_down(assets)
            self._link(name, False)

        conn = MarketWsConnection(
            self._next_id,
            self._cfg,
            self._session,
            self.stats,
            self.on_text,
            up,
            down,
            random.Random(self._rng.random()),
        )
        self._conns.append(conn)
        self._link(name, False)
        return conn

    async def close(self) -> None:
        if self._settler is not None:
            self._settler.cancel()
            self._settler = None
        conns, self._conns = self._conns, []
        self._owner.clear()
        await asyncio.gather(*(c.close() for c in conns))


__all__ = [
    "BookKeeper",
    "FrameDecoder",
    "MarketDataStream",
    "MarketWsConnection",
    "StreamStats",
    "TokenMeta",
    "backoff_delay",
]
