"""The market watcher: the one place where venue market data becomes books others may trade on.

It discovers markets from its venue, keeps an L2 book per token from snapshot + deltas, and only
publishes a :class:`~protocols.TopOfBook` for a book it believes: in sequence, agreeing with the
best prices the venue reported, matching the venue's hash when the venue's hash scheme is ours,
neither crossed nor empty, and fresh. Everything else becomes a :class:`~protocols.BookStale` with a
reason, so the strategist and the risk officer stop trading on that token until a good book returns.

Why conflation: a burst of deltas (a sweep through ten levels) would otherwise be ten TopOfBooks,
and a slow consumer would work through nine obsolete books before seeing the current one. The
watcher publishes at most one TopOfBook per token per ``conflate_ns`` window — the first update of
a window goes out at once, later ones mark the token dirty and a timer flushes the latest book at
the window's end — so its output rate is bounded whatever the input rate.

Sync rules (a book "lost sync" and is rebuilt from ``venue.get_book`` when):
- a delta's ``seq`` is not the previous ``seq + 1`` (``seq == 0`` means the venue does not number
  its messages and the check is skipped; a ``seq`` at or below the book's is an old duplicate and
  is ignored);
- after applying a delta the book's best bid/ask differ from the ones the delta carries (checked
  when the delta carries at least one of them);
- the delta's ``hash`` differs from the book's content hash, when hashes are checked (``"auto"``:
  only for tokens whose snapshot hash matched :func:`protocols.book.book_hash`, which is the simulated
  exchange's scheme and not Polymarket's);
- a change is off the tick grid, or a delta arrives for a token without a book;
- a burst of deltas ends with the book crossed (``CROSSED``, then rebuilt). A venue sends one
  match as several deltas with one timestamp, and between two of them the book can be crossed for
  a moment; that is no gap. So crossedness is judged once the burst has settled — a delta with
  another timestamp, or ``burst_settle_s`` without the cross resolving — by the same rule the
  Polymarket WebSocket client applies (``protocols.burst.BurstJudge``). Meanwhile the crossed book
  is neither published nor flagged.
A tick-size change drops the book and rebuilds it from a fresh snapshot (``TICK_CHANGE``) and the
market's ``MarketInfo`` is republished with the new tick.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar, Literal

from pydantic import Field

from agents.base import Agent, AgentConfig, Subscription, Timer
from protocols import (
    BookDelta,
    BookSnapshot,
    BookStale,
    Envelope,
    MarketClosed,
    MarketInfo,
    MarketResolved,
    TickSizeChange,
    TopOfBook,
)
from protocols.book import BookError, L2Book
from protocols.burst import BurstJudge

StaleReason = Literal["STALE", "CROSSED", "EMPTY", "RESYNC", "TICK_CHANGE"]

NS_PER_S = 1_000_000_000


class MarketWatcherConfig(AgentConfig):
    """Which markets to watch and how strict to be with their books."""

    markets: tuple[str, ...] = ()
    """Condition ids to watch; empty watches every active, open market the venue lists."""
    max_markets: int = Field(default=0, ge=0)
    """Watch at most this many markets (in the venue's order); 0 = no limit."""
    stale_after_s: float = Field(default=60.0, gt=0)
    """A book with no update for this long is checked against the venue (``refresh_stale``) or,
    failing that, published as ``BookStale(STALE)``."""
    stale_check_s: float = Field(default=1.0, gt=0)
    """How often the staleness timer looks."""
    conflate_ns: int = Field(default=50_000_000, ge=0)
    """At most one TopOfBook per token per window of this length; 0 publishes every update."""
    top_levels: int = Field(default=5, ge=1, le=100)
    """Levels per side carried by each TopOfBook (best first)."""
    hash_check: Literal["auto", "on", "off"] = "auto"
    check_bbo: bool = True
    resync_backoff_s: float = Field(default=1.0, ge=0)
    """Minimum time between two snapshot fetches for one token (a failing venue is not hammered)."""
    refresh_stale: bool = True
    """Ask the venue for a snapshot when a book has been quiet for ``stale_after_s``: a quiet but
    correct book is confirmed and republished, a book that missed messages is rebuilt (RESYNC), and
    only a book the venue cannot confirm is flagged STALE. Costs one REST call per quiet token per
    ``stale_after_s``. Off: every quiet book is flagged STALE."""
    rediscover_s: float = Field(default=0.0, ge=0)
    """Re-list the venue's markets this often to pick up new ones; 0 = only at start."""
    burst_settle_s: float = Field(default=0.25, gt=0)
    """How long a burst of deltas may leave a book crossed before the watcher calls it lost sync
    (``CROSSED`` and a rebuild), when no delta with another timestamp ends the burst first."""


@dataclass(slots=True)
class _Track:
    token: str
    market: str
    book: L2Book | None = None
    last_update_ns: int = 0
    flag: StaleReason | None = None
    dirty: bool = False
    last_pub_ns: int | None = None
    hash_trusted: bool = False
    last_fetch_ns: int | None = None
    resyncs: int = 0
    burst: BurstJudge = field(default_factory=BurstJudge)


class MarketWatcher(Agent[MarketWatcherConfig]):
    role: ClassVar[str] = "market_watcher"
    config_model: ClassVar[type[AgentConfig]] = MarketWatcherConfig
    subscriptions: ClassVar[tuple[Subscription, ...]] = (
        Subscription(BookSnapshot),
        Subscription(BookDelta),
        Subscription(TickSizeChange),
        Subscription(MarketResolved),
        Subscription(MarketClosed),
    )

    def __init__(self, agent_id: str = "market_watcher", config: MarketWatcherConfig | dict[str, Any] | None = None):
        super().__init__(agent_id, config)
        self._markets: dict[str, MarketInfo] = {}
        self._tracks: dict[str, _Track] = {}
        self._dirty: set[str] = set()
        self._flush_due: int | None = None
        self._doubts: dict[str, tuple[int, int]] = {}  # token -> (doubt mark, settle due ns)
        self._settle_due: int | None = None
        self._stale_ns = int(self.config.stale_after_s * NS_PER_S)
        self._backoff_ns = int(self.config.resync_backoff_s * NS_PER_S)
        self.counters: dict[str, int] = dict.fromkeys(
            (
                "msgs_in",
                "msgs_out",
                "tops_out",
                "stale_out",
                "conflated",
                "resyncs",
                "resync_failures",
                "seq_gaps",
                "old_messages",
                "bbo_mismatches",
                "hash_mismatches",
                "bad_changes",
                "tick_changes",
                "unknown_token",
                "bad_snapshots",
                "refreshed",
                "crossed_bursts",
            ),
            0,
        )

    # -- public reads ---------------------------------------------------------------------------
    def book(self, token_id: str) -> L2Book | None:
        tr = self._tracks.get(token_id)
        return None if tr is None else tr.book

    def markets(self) -> list[MarketInfo]:
        return list(self._markets.values())

    def flag(self, token_id: str) -> StaleReason | None:
        tr = self._tracks.get(token_id)
        return None if tr is None else tr.flag

    # -- lifecycle ------------------------------------------------------------------------------
    async def on_start(self) -> None:
        ctx = self.ctx
        restored = list(self._tracks)
        for info in self._markets.values():  # consumers may have restarted too: tell them again
            self._publish(info)
        if ctx.venue is None:
            ctx.log.warning("market watcher %s has no venue: no markets will be discovered", self.agent_id)
        else:
            await self._discover()
        # markets restored from a checkpoint are re-subscribed even if the venue stopped listing them
        await self._subscribe_tokens(restored)
        ctx.set_timer("stale", int(self.config.stale_check_s * NS_PER_S), periodic=True)
        if self.config.rediscover_s > 0:
            ctx.set_timer("discover", int(self.config.rediscover_s * NS_PER_S), periodic=True)

    async def _discover(self) -> None:
        venue = self.ctx.venue
        assert venue is not None
        try:
            listed = await venue.list_markets()
        except Exception as exc:  # a venue outage at start must not kill the watcher
            self.ctx.log.warning("list_markets failed: %s", exc)
            return
        wanted = set(self.config.markets)
        new_tokens: list[str] = []
        for info in listed:
            if wanted and info.market not in wanted:
                continue
            known = self._markets.get(info.market)
            if known is None:
                if not info.active or info.closed:
                    continue
                if self.config.max_markets and len(self._markets) >= self.config.max_markets:
                    continue
                new_tokens.extend(self._register(info))
                self._publish(info)
            elif known != info:
                self._markets[info.market] = info
                self._publish(info)
        if new_tokens:
            await self._subscribe_tokens(new_tokens)

    def _register(self, info: MarketInfo) -> list[str]:
        self._markets[info.market] = info
        now = self.ctx.now_ns()
        out = []
        for token in info.token_ids:
            if token not in self._tracks:
                self._tracks[token] = _Track(token, info.market, last_update_ns=now)
                out.append(token)
        return out

    async def _subscribe_tokens(self, tokens: list[str]) -> None:
        venue = self.ctx.venue
        if venue is None or not tokens:
            return
        try:
            await venue.subscribe_market_data(tokens)
        except Exception as exc:
            self.ctx.log.warning("subscribe_market_data failed for %d tokens: %s", len(tokens), exc)

    # -- messages -------------------------------------------------------------------------------
    async def on_message(self, envelope: Envelope) -> None:
        self.counters["msgs_in"] += 1
        p = envelope.payload
        if isinstance(p, BookDelta):
            await self._on_delta(p)
        elif isinstance(p, BookSnapshot):
            self._on_snapshot(p)
        elif isinstance(p, TickSizeChange):
            await self._on_tick_change(p)
        elif isinstance(p, MarketResolved | MarketClosed):
            await self._on_market_end(p.market)

    def _on_snapshot(self, snap: BookSnapshot) -> None:
        tr = self._tracks.get(snap.token_id)
        if tr is None:
            self.counters["unknown_token"] += 1
            return
        if tr.book is not None and snap.seq and tr.book.seq and snap.seq < tr.book.seq:
            self.counters["old_messages"] += 1
            return
        try:
            book = L2Book.from_snapshot(snap)
        except BookError as exc:
            self.counters["bad_snapshots"] += 1
            self.ctx.log.warning("bad snapshot for %s: %s", snap.token_id, exc)
            return
        mode = self.config.hash_check
        if mode == "on":
            tr.hash_trusted = True
            if snap.hash and snap.hash != book.content_hash():
                self.counters["hash_mismatches"] += 1
        elif mode == "auto":
            tr.hash_trusted = bool(snap.hash) and snap.hash == book.content_hash()
        if tr.hash_trusted and mode != "off":
            book.track_hash()  # every delta's hash is checked: keep ours current per change
        tr.burst.end()  # the snapshot is the venue's word on the whole book
        tr.book = book
        tr.last_update_ns = self.ctx.now_ns()
        self._touch(tr)

    async def _on_delta(self, d: BookDelta) -> None:
        tr = self._tracks.get(d.token_id)
        if tr is None:
            self.counters["unknown_token"] += 1
            return
        if tr.book is not None and tr.burst.other(d.time_ns):
            await self._settle(tr)  # the open burst is over; if it ended crossed the book was rebuilt
        book = tr.book
        if book is None:
            await self._resync(tr)
            return
        if d.seq and book.seq:
            if d.seq <= book.seq:
                self.counters["old_messages"] += 1
                return
            if d.seq != book.seq + 1:
                self.counters["seq_gaps"] += 1
                await self._resync(tr)
                return
        try:
            book.apply_delta(d)
        except BookError as exc:
            self.counters["bad_changes"] += 1
            self.ctx.log.warning("delta for %s does not apply: %s", d.token_id, exc)
            await self._resync(tr)
            return
        reported = d.best_bid is not None or d.best_ask is not None
        if self.config.check_bbo and reported and not book.bbo_matches(d.best_bid, d.best_ask):
            self.counters["bbo_mismatches"] += 1
            await self._resync(tr)
            return
        if d.hash and tr.hash_trusted and self.config.hash_check != "off" and d.hash != book.content_hash():
            self.counters["hash_mismatches"] += 1
            await self._resync(tr)
            return
        tr.last_update_ns = now = self.ctx.now_ns()
        # best prices were checked against this delta's own report above; what is left in doubt
        # until the burst settles is crossedness
        if tr.burst.observe(book, d.time_ns):
            due = now + int(self.config.burst_settle_s * NS_PER_S)
            self._doubts[tr.token] = (tr.burst.mark, due)
            self._arm_settle(due, now)
        self._touch(tr)

    async def _on_tick_change(self, c: TickSizeChange) -> None:
        tr = self._tracks.get(c.token_id)
        if tr is None:
            self.counters["unknown_token"] += 1
            return
        self.counters["tick_changes"] += 1
        info = self._markets.get(tr.market)
        if info is not None and info.tick_size != c.new_tick_size:
            info = info.model_copy(update={"tick_size": c.new_tick_size, "time_ns": self.ctx.now_ns()})
            self._markets[tr.market] = info
            self._publish(info)
        self._drop(tr, "TICK_CHANGE")
        await self._fetch(tr, force=True)

    async def _on_market_end(self, market: str) -> None:
        info = self._markets.pop(market, None)
        if info is None:
            return
        tokens = [t for t in info.token_ids if t in self._tracks]
        for t in tokens:
            self._tracks.pop(t)
            self._dirty.discard(t)
            self._doubts.pop(t, None)
        self._publish(info.model_copy(update={"active": False, "closed": True, "time_ns": self.ctx.now_ns()}))
        venue = self.ctx.venue
        if venue is not None and tokens:
            try:
                await venue.unsubscribe_market_data(tokens)
            except Exception as exc:
                self.ctx.log.warning("unsubscribe_market_data failed: %s", exc)

    # -- sync -----------------------------------------------------------------------------------
    def _drop(self, tr: _Track, reason: StaleReason) -> None:
        tr.book = None
        tr.burst.end()
        tr.dirty = False
        self._dirty.discard(tr.token)
        tr.flag = reason
        self._stale(tr, reason)

    async def _settle(self, tr: _Track) -> bool:
        """Close the token's open burst. A book still crossed at its end lost sync: flag it CROSSED
        and rebuild it from the venue's snapshot. True if the book was in sync."""
        self._doubts.pop(tr.token, None)
        if not tr.burst.settle():
            return True
        self.counters["crossed_bursts"] += 1
        self.counters["resyncs"] += 1
        tr.resyncs += 1
        self._drop(tr, "CROSSED")
        await self._fetch(tr)
        return False

    def _arm_settle(self, due: int, now: int) -> None:
        if self._settle_due is None or due < self._settle_due:
            self._settle_due = due
            self.ctx.set_timer("settle", max(0, due - now))

    async def _settle_doubts(self) -> None:
        """Bursts that left a book crossed ``burst_settle_s`` ago and did not come right are over."""
        self._settle_due = None
        now = self.ctx.now_ns()
        nxt: int | None = None
        for token, (mark, due) in sorted(self._doubts.items()):
            tr = self._tracks.get(token)
            if tr is None or not tr.burst.doubt or tr.burst.mark != mark:
                self._doubts.pop(token, None)  # resolved, replaced by a snapshot, or a later doubt
            elif due <= now:
                await self._settle(tr)
            elif nxt is None or due < nxt:
                nxt = due
        if nxt is not None:
            self._arm_settle(nxt, now)

    async def _resync(self, tr: _Track) -> None:
        """Lost sync: tell consumers, drop the book and rebuild it from the venue's snapshot."""
        self.counters["resyncs"] += 1
        tr.resyncs += 1
        if tr.flag != "RESYNC" or tr.book is not None:
            self._drop(tr, "RESYNC")
        await self._fetch(tr)

    async def _get_book(self, tr: _Track, *, force: bool = False) -> BookSnapshot | None:
        """One snapshot from the venue, or None (no venue, backing off, or the call failed)."""
        venue = self.ctx.venue
        if venue is None:
            return None
        now = self.ctx.now_ns()
        if not force and tr.last_fetch_ns is not None and now - tr.last_fetch_ns < self._backoff_ns:
            return None
        tr.last_fetch_ns = now
        try:
            snap = await venue.get_book(tr.token)
        except Exception as exc:
            self.counters["resync_failures"] += 1
            self.ctx.log.warning("get_book(%s) failed: %s", tr.token, exc)
            return None
        if tr.token not in self._tracks:  # the market ended while we waited
            return None
        return snap

    async def _fetch(self, tr: _Track, *, force: bool = False) -> None:
        snap = await self._get_book(tr, force=force)
        if snap is not None:
            self._on_snapshot(snap)

    async def _refresh(self, tr: _Track) -> bool:
        """Ask the venue whether a quiet book is still right; True if we now hold a confirmed book.

        Same levels: the book was merely quiet — it is re-stamped and republished, so consumers'
        freshness clocks move on. Different levels: messages were lost — RESYNC and rebuild.
        """
        snap = await self._get_book(tr)
        if snap is None:
            return False
        book = tr.book
        if book is not None:
            try:
                same = L2Book.from_snapshot(snap).same_levels(book)
            except BookError:
                same = False
            if same and book.tick_size == snap.tick_size:
                book.seq = snap.seq or book.seq
                book.time_ns = snap.time_ns
                book.hash = snap.hash
                tr.last_update_ns = self.ctx.now_ns()
                self.counters["refreshed"] += 1
                if tr.flag == "STALE":
                    tr.flag = None
                if tr.flag is None:
                    self._touch(tr)
                return True
            self.counters["resyncs"] += 1
            tr.resyncs += 1
            self._drop(tr, "RESYNC")
        self._on_snapshot(snap)
        return tr.book is not None

    def _touch(self, tr: _Track) -> None:
        """A book changed: judge it and publish (conflated) or flag it."""
        book = tr.book
        assert book is not None
        reason: StaleReason | None = None
        if book.is_empty:
            reason = "EMPTY"
        elif book.is_crossed:
            if tr.burst.doubt:  # maybe a passing state inside a burst: judged when it settles
                tr.dirty = False
                self._dirty.discard(tr.token)
                return
            reason = "CROSSED"
        if reason is not None:
            tr.dirty = False
            self._dirty.discard(tr.token)
            if tr.flag != reason:
                tr.flag = reason
                self._stale(tr, reason)
            return
        tr.flag = None
        tr.dirty = True
        now = self.ctx.now_ns()
        window = self.config.conflate_ns
        if tr.last_pub_ns is None or now >= tr.last_pub_ns + window:
            self._publish_top(tr, now)
            return
        self.counters["conflated"] += 1
        self._dirty.add(tr.token)
        self._arm_flush(tr.last_pub_ns + window, now)

    def _arm_flush(self, due: int, now: int) -> None:
        if self._flush_due is None or due < self._flush_due:
            self._flush_due = due
            self.ctx.set_timer("flush", due - now)

    def _flush(self) -> None:
        self._flush_due = None
        now = self.ctx.now_ns()
        window = self.config.conflate_ns
        nxt: int | None = None
        for token in sorted(self._dirty):
            tr = self._tracks.get(token)
            if tr is None or not tr.dirty or tr.book is None:
                self._dirty.discard(token)
                continue
            due = (tr.last_pub_ns or 0) + window
            if now >= due:
                self._publish_top(tr, now)
            elif nxt is None or due < nxt:
                nxt = due
        if nxt is not None:
            self._arm_flush(nxt, now)

    def _publish_top(self, tr: _Track, now: int) -> None:
        book = tr.book
        assert book is not None
        tr.dirty = False
        self._dirty.discard(tr.token)
        if book.is_crossed or book.is_empty:  # never report a bad book as valid
            return
        n = self.config.top_levels
        bids = book.bids(n)
        asks = book.asks(n)
        top = TopOfBook(
            time_ns=now,
            token_id=tr.token,
            market=tr.market,
            best_bid=bids[0][0] if bids else None,
            best_bid_size=bids[0][1] if bids else Decimal(0),
            best_ask=asks[0][0] if asks else None,
            best_ask_size=asks[0][1] if asks else Decimal(0),
            bids=bids,
            asks=asks,
            tick_size=book.tick_size,
            min_order_size=book.min_order_size,
            seq=book.seq,
            book_time_ns=book.time_ns or None,
        )
        tr.last_pub_ns = now
        self.counters["tops_out"] += 1
        self._publish(top)

    def _stale(self, tr: _Track, reason: StaleReason) -> None:
        self.counters["stale_out"] += 1
        self._publish(
            BookStale(
                time_ns=self.ctx.now_ns(),
                token_id=tr.token,
                market=tr.market,
                reason=reason,
                last_update_ns=tr.last_update_ns or None,
            )
        )

    def _publish(self, payload: Any) -> None:
        self.counters["msgs_out"] += 1
        self.ctx.publish(payload)

    # -- timers ---------------------------------------------------------------------------------
    async def on_timer(self, timer: Timer) -> None:
        if timer.name == "flush":
            self._flush()
        elif timer.name == "settle":
            await self._settle_doubts()
        elif timer.name == "stale":
            await self._check_stale()
        elif timer.name == "discover" and self.ctx.venue is not None:
            await self._discover()

    async def _check_stale(self) -> None:
        now = self.ctx.now_ns()
        refresh = self.config.refresh_stale and self.ctx.venue is not None
        quiet = [tr for tr in self._tracks.values() if now - tr.last_update_ns >= self._stale_ns]
        for tr in quiet:
            if refresh and await self._refresh(tr):
                continue
            if tr.token not in self._tracks:
                continue
            if tr.flag is None or (tr.book is None and tr.flag != "STALE"):
                tr.flag = "STALE"
                tr.dirty = False
                self._dirty.discard(tr.token)
                self._stale(tr, "STALE")
            if tr.book is None and not refresh:
                await self._fetch(tr)
        self.ctx.metric("books_tracked", float(sum(1 for t in self._tracks.values() if t.book is not None)))
        self.ctx.metric("books_flagged", float(sum(1 for t in self._tracks.values() if t.flag is not None)))

    # -- state ----------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Markets and counters. Books are not kept: after a restart they are rebuilt from fresh
        snapshots, because a book saved minutes ago is exactly the stale data we must not serve."""
        return {
            "markets": [m.model_dump(mode="json") for m in self._markets.values()],
            "counters": dict(self.counters),
        }

    def restore(self, state: dict[str, Any]) -> None:
        for raw in state.get("markets", []):
            info = MarketInfo.model_validate(raw)
            self._markets[info.market] = info
            for token in info.token_ids:
                self._tracks.setdefault(token, _Track(token, info.market))
        for k, v in state.get("counters", {}).items():
            if k in self.counters:
                self.counters[k] = int(v)

    def status(self) -> dict[str, Any]:
        flags: dict[str, int] = {}
        for tr in self._tracks.values():
            if tr.flag is not None:
                flags[tr.flag] = flags.get(tr.flag, 0) + 1
        return {
            "role": self.role,
            "markets": len(self._markets),
            "tokens": len(self._tracks),
            "books": sum(1 for t in self._tracks.values() if t.book is not None),
            "valid": sum(1 for t in self._tracks.values() if t.book is not None and t.flag is None),
            "stale": flags.get("STALE", 0),
            "flagged": flags,
            **self.counters,
        }

    def tokens(self) -> Iterable[str]:
        return self._tracks.keys()
