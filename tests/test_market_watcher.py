"""Market watcher on the local runtime against the real simulated exchange.

Books are built by placing orders on ``SimExchange``; sync faults (gaps, wrong best prices, wrong
hashes, crossing deltas) are injected as venue messages next to the venue's own stream.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from agents.base import Agent, AgentConfig, Subscription
from agents.market_watcher import MarketWatcher, MarketWatcherConfig
from cluster.clock import DEFAULT_START_NS
from cluster.runtime_local import LocalRuntime
from protocols import (
    BookDelta,
    BookStale,
    Envelope,
    LevelChange,
    MarketInfo,
    Payload,
    Side,
    TopOfBook,
)
from protocols.book import L2Book
from venues.sim import LatencyModel, SimExchange, SimVenue
from venues.sim.testing import binary_market, order

T0 = DEFAULT_START_NS
MS = 1_000_000
S = 1_000_000_000
D = Decimal
VENUE = "venue:sim:watcher"


class Recorder(Agent[AgentConfig]):
    role = "recorder"
    subscriptions = (Subscription(TopOfBook), Subscription(BookStale), Subscription(MarketInfo))

    def __init__(self, agent_id: str = "rec") -> None:
        super().__init__(agent_id)
        self.seen: list[tuple[int, Payload]] = []

    def on_message(self, envelope: Envelope) -> None:
        self.seen.append((self.ctx.now_ns(), envelope.payload))

    def of(self, kind: type[Payload], token: str | None = None) -> list[Any]:
        return [p for _, p in self.seen if isinstance(p, kind) and (token is None or p.routing_key == token)]

    def stale(self, token: str) -> list[str]:
        return [p.reason for p in self.of(BookStale, token)]


class World:
    def __init__(
        self,
        config: dict[str, Any] | None = None,
        markets: tuple[str, ...] = ("m1",),
        latency: LatencyModel | None = None,
    ) -> None:
        self.rt = LocalRuntime(seed=1, record_events=True)
        self.ex = SimExchange(scheduler=self.rt)
        for m in markets:
            self.ex.add_market(binary_market(m))
        self.ex.open_account("mm", D(1_000_000))
        self.venue = SimVenue(self.ex, "watcher", latency)
        self.watcher = MarketWatcher("market_watcher", config)
        self.rec = Recorder()
        self.rt.add_agent(self.watcher, venue=self.venue)
        self.rt.add_agent(self.rec)
        self._n = 0

    def place(self, token: str, side: str, price: str, size: int = 10) -> None:
        self._n += 1
        ev = self.ex.submit("mm", order("mm", f"c{self._n}", token, side, price, size, time_ns=self.rt.now_ns()))
        assert ev.status.value not in ("REJECTED",), ev

    def at(self, t: int, token: str, side: str, price: str, size: int = 10) -> None:
        self.rt.call_at(t, lambda: self.place(token, side, price, size))

    def inject(self, payload: Payload, at_ns: int | None = None) -> None:
        self.rt.inject(payload, sender=VENUE, at_ns=at_ns)

    async def run(self, until: int) -> None:
        await self.rt.run(until_ns=until)
        assert not self.rt.crashes, self.rt.crashes


def two_sided(w: World) -> None:
    w.place("m1-yes", "BUY", "0.40", 10)
    w.place("m1-yes", "BUY", "0.39", 20)
    w.place("m1-no", "BUY", "0.55", 15)  # a YES ask at 0.45


def bad_delta(token: str, *changes: tuple[Side, str, str], seq: int, **kw: Any) -> BookDelta:
    return BookDelta(
        time_ns=T0,
        token_id=token,
        market="m1",
        changes=tuple(LevelChange(side=s, price=D(p), size=D(z)) for s, p, z in changes),
        seq=seq,
        **kw,
    )


def assert_top_matches_venue(top: TopOfBook, w: World) -> None:
    venue_book = L2Book.from_snapshot(w.ex.book(top.token_id))
    assert top.bids == venue_book.bids(len(top.bids)) and top.asks == venue_book.asks(len(top.asks))
    assert top.best_bid == venue_book.best_bid and top.best_ask == venue_book.best_ask


async def test_watcher_discovers_markets_and_publishes_both_tokens_books() -> None:
    w = World({"conflate_ns": 0})
    two_sided(w)
    await w.run(T0 + 10 * MS)
    infos = w.rec.of(MarketInfo)
    assert [i.market for i in infos] == ["m1"]
    yes = w.rec.of(TopOfBook, "m1-yes")[-1]
    no = w.rec.of(TopOfBook, "m1-no")[-1]
    assert (yes.best_bid, yes.best_ask) == (D("0.40"), D("0.45"))
    assert (no.best_bid, no.best_ask) == (D("0.55"), D("0.60"))  # the mirror of YES
    assert yes.bids == ((D("0.40"), D(10)), (D("0.39"), D(20)))
    assert_top_matches_venue(yes, w)
    st = w.watcher.status()
    assert st["markets"] == 1 and st["books"] == 2 and st["valid"] == 2 and st["resyncs"] == 0


async def test_watcher_follows_venue_deltas_and_checks_hash_without_resync() -> None:
    w = World({"conflate_ns": 0})
    two_sided(w)
    for i in range(10):
        w.at(T0 + (i + 1) * MS, "m1-yes", "BUY", f"0.{30 + i}", 5)
    w.at(T0 + 20 * MS, "m1-no", "BUY", "0.58", 5)  # crosses: trades against the 0.40..0.42 bids
    await w.run(T0 + 50 * MS)
    assert w.watcher.counters["resyncs"] == 0
    assert w.watcher.counters["hash_mismatches"] == 0
    assert_top_matches_venue(w.rec.of(TopOfBook, "m1-yes")[-1], w)


async def test_watcher_seq_gap_publishes_resync_and_rebuilds_from_venue() -> None:
    w = World({"conflate_ns": 0})
    two_sided(w)
    await w.run(T0 + MS)
    book = w.watcher.book("m1-yes")
    assert book is not None
    # a delta two ahead of the book: one message was lost
    w.inject(bad_delta("m1-yes", (Side.BUY, "0.20", "99"), seq=book.seq + 2))
    await w.run(T0 + 2 * MS)
    assert w.rec.stale("m1-yes") == ["RESYNC"]
    assert w.watcher.counters["seq_gaps"] == 1 and w.watcher.counters["resyncs"] == 1
    top = w.rec.of(TopOfBook, "m1-yes")[-1]
    assert (D("0.20"), D(99)) not in top.bids  # the orphan delta was not kept
    assert_top_matches_venue(top, w)
    assert w.watcher.flag("m1-yes") is None


async def test_watcher_old_delta_is_ignored_not_resynced() -> None:
    w = World({"conflate_ns": 0})
    two_sided(w)
    await w.run(T0 + MS)
    book = w.watcher.book("m1-yes")
    assert book is not None
    w.inject(bad_delta("m1-yes", (Side.BUY, "0.20", "99"), seq=book.seq))
    await w.run(T0 + 2 * MS)
    assert w.watcher.counters["old_messages"] == 1 and w.watcher.counters["resyncs"] == 0
    assert book.size_at(True, D("0.20")) == 0


async def test_watcher_best_price_disagreement_triggers_resync() -> None:
    w = World({"conflate_ns": 0})
    two_sided(w)
    await w.run(T0 + MS)
    book = w.watcher.book("m1-yes")
    assert book is not None
    # in sequence, but the venue says the best bid is 0.41 while our book would say 0.40
    w.inject(bad_delta("m1-yes", (Side.BUY, "0.38", "5"), seq=book.seq + 1, best_bid=D("0.41"), best_ask=D("0.45")))
    await w.run(T0 + 2 * MS)
    assert w.watcher.counters["bbo_mismatches"] == 1
    assert w.rec.stale("m1-yes") == ["RESYNC"]
    assert_top_matches_venue(w.rec.of(TopOfBook, "m1-yes")[-1], w)


async def test_watcher_hash_mismatch_triggers_resync_when_venue_hash_scheme_is_known() -> None:
    w = World({"conflate_ns": 0})
    two_sided(w)
    await w.run(T0 + MS)
    book = w.watcher.book("m1-yes")
    assert book is not None
    bb, ba = book.best_bid, book.best_ask
    w.inject(bad_delta("m1-yes", (Side.BUY, "0.38", "5"), seq=book.seq + 1, best_bid=bb, best_ask=ba, hash="f" * 40))
    await w.run(T0 + 2 * MS)
    assert w.watcher.counters["hash_mismatches"] == 1 and w.watcher.counters["resyncs"] == 1
    assert_top_matches_venue(w.rec.of(TopOfBook, "m1-yes")[-1], w)


async def test_watcher_hash_check_off_applies_delta_with_foreign_hash() -> None:
    w = World({"conflate_ns": 0, "hash_check": "off"})
    two_sided(w)
    await w.run(T0 + MS)
    book = w.watcher.book("m1-yes")
    assert book is not None
    bb, ba = book.best_bid, book.best_ask
    w.inject(bad_delta("m1-yes", (Side.BUY, "0.38", "5"), seq=book.seq + 1, best_bid=bb, best_ask=ba, hash="f" * 40))
    await w.run(T0 + 2 * MS)
    assert w.watcher.counters["resyncs"] == 0
    assert book.size_at(True, D("0.38")) == 5


async def test_watcher_tick_change_drops_book_and_rebuilds_with_new_tick() -> None:
    w = World({"conflate_ns": 0})
    two_sided(w)
    await w.run(T0 + MS)
    w.rt.call_at(T0 + 2 * MS, lambda: w.ex.set_tick_size("m1", D("0.001")))
    w.at(T0 + 3 * MS, "m1-yes", "BUY", "0.405", 7)
    await w.run(T0 + 5 * MS)
    assert "TICK_CHANGE" in w.rec.stale("m1-yes") and "TICK_CHANGE" in w.rec.stale("m1-no")
    infos = w.rec.of(MarketInfo)
    assert infos[-1].tick_size == D("0.001")
    top = w.rec.of(TopOfBook, "m1-yes")[-1]
    assert top.tick_size == D("0.001") and top.best_bid == D("0.405")
    assert_top_matches_venue(top, w)
    assert w.watcher.counters["tick_changes"] == 2 and w.watcher.counters["resyncs"] == 0


async def test_watcher_conflates_burst_to_at_most_one_top_per_window_and_latest_wins() -> None:
    window = 10 * MS
    w = World({"conflate_ns": window})
    two_sided(w)
    n, spacing = 200, MS // 4  # 200 updates in 50 ms
    for i in range(n):
        w.at(T0 + MS + i * spacing, "m1-yes", "BUY", f"0.{(i % 30) + 10:02d}", 5)
    await w.run(T0 + 200 * MS)
    tops = w.rec.of(TopOfBook, "m1-yes")
    span = (n - 1) * spacing + MS
    windows = math.ceil(span / window) + 1
    assert 1 <= len(tops) <= windows, (len(tops), windows)
    times = [t for t, p in w.rec.seen if isinstance(p, TopOfBook) and p.token_id == "m1-yes"]
    assert all(b - a >= window for a, b in itertools.pairwise(times))
    assert_top_matches_venue(tops[-1], w)  # the latest book wins
    assert w.watcher.counters["conflated"] > 0


async def test_watcher_detects_stale_book_by_virtual_time_and_clears_on_update() -> None:
    w = World({"conflate_ns": 0, "stale_after_s": 5.0, "stale_check_s": 1.0, "refresh_stale": False})
    two_sided(w)
    await w.run(T0 + 4 * S)
    assert w.rec.stale("m1-yes") == []
    await w.run(T0 + 6 * S + 1)
    assert w.rec.stale("m1-yes") == ["STALE"] and w.rec.stale("m1-no") == ["STALE"]
    assert w.watcher.status()["stale"] == 2
    await w.run(T0 + 10 * S)
    assert w.rec.stale("m1-yes") == ["STALE"]  # reported once, not every check
    n_before = len(w.rec.of(TopOfBook, "m1-yes"))
    w.at(T0 + 11 * S, "m1-yes", "BUY", "0.41", 5)
    await w.run(T0 + 11 * S + MS)
    assert len(w.rec.of(TopOfBook, "m1-yes")) == n_before + 1
    assert w.watcher.flag("m1-yes") is None


async def test_watcher_quiet_book_confirmed_by_venue_is_republished_not_stale() -> None:
    w = World({"conflate_ns": 0, "stale_after_s": 5.0, "stale_check_s": 1.0})
    two_sided(w)
    await w.run(T0 + 12 * S)
    assert w.rec.stale("m1-yes") == []
    tops = w.rec.of(TopOfBook, "m1-yes")
    assert len(tops) >= 3  # the initial book, then one re-confirmation per quiet period
    assert tops[-1].book_time_ns is not None and tops[-1].book_time_ns > T0 + 5 * S
    assert w.watcher.counters["refreshed"] >= 2 and w.watcher.counters["resyncs"] == 0
    assert_top_matches_venue(tops[-1], w)


async def test_watcher_quiet_book_that_missed_a_delta_is_resynced_on_refresh() -> None:
    w = World({"conflate_ns": 0, "stale_after_s": 5.0, "stale_check_s": 1.0})
    two_sided(w)
    await w.run(T0 + MS)
    w.venue.set_sink(lambda payload: None)  # the connection drops one message...
    w.place("m1-yes", "BUY", "0.42", 5)
    w.rt.attach_source(w.venue)  # ...and comes back
    await w.run(T0 + 7 * S)
    assert w.rec.stale("m1-yes") == ["RESYNC"]
    top = w.rec.of(TopOfBook, "m1-yes")[-1]
    assert top.best_bid == D("0.42")
    assert_top_matches_venue(top, w)


def never_crossed(tops: list[TopOfBook]) -> bool:
    return all(t.best_bid is None or t.best_ask is None or t.best_bid < t.best_ask for t in tops)


async def test_watcher_transient_cross_inside_a_gap_free_burst_is_neither_flagged_nor_resynced() -> None:
    """One match as two in-sequence deltas with one timestamp, each reporting the best prices after
    it (as the Polymarket client delivers them): the new 0.47 bid lands before the 0.45 ask it
    took is gone, so the book is crossed between the two. No gap: nothing is flagged or rebuilt."""
    w = World({"conflate_ns": 0})
    two_sided(w)
    await w.run(T0 + MS)
    book = w.watcher.book("m1-yes")
    assert book is not None and (book.best_bid, book.best_ask) == (D("0.40"), D("0.45"))
    ts, seq = T0 + MS, book.seq
    w.inject(bad_delta("m1-yes", (Side.BUY, "0.47", "5"), seq=seq + 1, best_bid=D("0.47"), best_ask=D("0.45"))
             .model_copy(update={"time_ns": ts}))
    w.inject(bad_delta("m1-yes", (Side.SELL, "0.45", "0"), (Side.SELL, "0.48", "3"), seq=seq + 2,
                       best_bid=D("0.47"), best_ask=D("0.48")).model_copy(update={"time_ns": ts}))
    await w.run(T0 + 2 * S)  # far past the settle window
    assert w.rec.stale("m1-yes") == []
    c = w.watcher.counters
    assert c["resyncs"] == 0 and c["crossed_bursts"] == 0 and c["bbo_mismatches"] == 0 and c["seq_gaps"] == 0
    tops = w.rec.of(TopOfBook, "m1-yes")
    assert never_crossed(tops)
    assert (tops[-1].best_bid, tops[-1].best_ask) == (D("0.47"), D("0.48")) and w.watcher.flag("m1-yes") is None


async def test_watcher_book_still_crossed_when_its_burst_settles_is_flagged_crossed_and_rebuilt() -> None:
    w = World({"conflate_ns": 0, "burst_settle_s": 0.1})
    two_sided(w)
    await w.run(T0 + MS)
    book = w.watcher.book("m1-yes")
    assert book is not None
    w.inject(bad_delta("m1-yes", (Side.BUY, "0.47", "5"), seq=book.seq + 1, best_bid=D("0.47"), best_ask=D("0.45"))
             .model_copy(update={"time_ns": T0 + MS}))
    await w.run(T0 + 50 * MS)  # inside the settle window: in doubt, neither published nor flagged
    assert w.rec.stale("m1-yes") == [] and w.watcher.counters["resyncs"] == 0
    await w.run(T0 + 2 * S)
    assert w.rec.stale("m1-yes") == ["CROSSED"]
    c = w.watcher.counters
    assert c["crossed_bursts"] == 1 and c["resyncs"] == 1
    tops = w.rec.of(TopOfBook, "m1-yes")
    assert never_crossed(tops)
    assert_top_matches_venue(tops[-1], w)  # rebuilt from the venue's snapshot, without the phantom bid
    assert w.watcher.flag("m1-yes") is None


async def test_watcher_crossed_burst_is_judged_when_a_delta_with_another_timestamp_arrives() -> None:
    # unsequenced deltas without best prices (a venue that sends neither): crossedness is all there is
    w = World({"conflate_ns": 0})
    two_sided(w)
    await w.run(T0 + MS)
    w.inject(bad_delta("m1-yes", (Side.BUY, "0.47", "5"), seq=0).model_copy(update={"time_ns": T0 + MS}))
    w.inject(bad_delta("m1-yes", (Side.BUY, "0.30", "1"), seq=0).model_copy(update={"time_ns": T0 + 2 * MS}))
    await w.run(T0 + 3 * MS)  # long before the settle window: the later timestamp ended the burst
    assert w.rec.stale("m1-yes") == ["CROSSED"] and w.watcher.counters["crossed_bursts"] == 1
    tops = w.rec.of(TopOfBook, "m1-yes")
    assert never_crossed(tops)
    book = w.watcher.book("m1-yes")
    assert book is not None and book.size_at(True, D("0.47")) == 0 and not book.is_crossed
    assert book.size_at(True, D("0.30")) == 1  # the next burst applies to the rebuilt book


async def test_watcher_crossed_snapshot_is_flagged_crossed_at_once() -> None:
    w = World({"conflate_ns": 0})
    two_sided(w)
    await w.run(T0 + MS)
    snap = w.ex.book("m1-yes")
    crossed = snap.model_copy(update={"bids": ((D("0.47"), D(5)), *snap.bids), "seq": snap.seq + 1, "hash": ""})
    w.inject(crossed)
    await w.run(T0 + 2 * MS)
    assert w.rec.stale("m1-yes") == ["CROSSED"]
    assert never_crossed(w.rec.of(TopOfBook, "m1-yes"))


async def test_watcher_empty_book_is_flagged_empty() -> None:
    w = World({"conflate_ns": 0})
    await w.run(T0 + MS)
    assert w.rec.stale("m1-yes") == ["EMPTY"] and w.rec.of(TopOfBook, "m1-yes") == []


async def test_watcher_delta_for_token_without_book_fetches_snapshot() -> None:
    w = World({"conflate_ns": 0})
    two_sided(w)
    w.watcher.restore({"markets": [binary_market("m1").model_dump(mode="json")]})
    # no venue listing needed: restored market; drop the book the subscription will deliver
    await w.run(T0 + MS)
    tr = w.watcher._tracks["m1-yes"]
    tr.book = None
    w.inject(bad_delta("m1-yes", (Side.BUY, "0.10", "1"), seq=0))
    await w.run(T0 + 2 * S)
    assert w.watcher.book("m1-yes") is not None
    assert_top_matches_venue(w.rec.of(TopOfBook, "m1-yes")[-1], w)


async def test_watcher_market_resolution_stops_tracking_and_republishes_closed_info() -> None:
    w = World({"conflate_ns": 0})
    two_sided(w)
    await w.run(T0 + MS)

    def resolve() -> None:
        w.ex.resolve("m1", "m1-yes")

    w.rt.call_at(T0 + 2 * MS, resolve)
    await w.run(T0 + 3 * MS)
    assert w.watcher.status()["tokens"] == 0
    last = w.rec.of(MarketInfo)[-1]
    assert last.closed and not last.active


async def test_watcher_snapshot_restore_keeps_markets_and_counters_not_books() -> None:
    w = World({"conflate_ns": 0})
    two_sided(w)
    await w.run(T0 + MS)
    state = w.watcher.snapshot()
    fresh = MarketWatcher("market_watcher")
    fresh.restore(state)
    assert fresh.status()["markets"] == 1 and fresh.status()["books"] == 0
    assert fresh.counters["tops_out"] == w.watcher.counters["tops_out"]
    json.dumps(state)  # JSON-able


def test_watcher_config_refuses_unknown_field_naming_it() -> None:
    with pytest.raises(ValidationError, match="stale_after"):
        MarketWatcherConfig.model_validate({"stale_after": 3})


# -- property: the watcher never reports a crossed or empty book as valid ------------------------

_change = st.tuples(st.booleans(), st.integers(min_value=1, max_value=99), st.integers(min_value=0, max_value=50))


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(st.lists(_change, min_size=1, max_size=4), min_size=1, max_size=30),
    conflate_ms=st.sampled_from([0, 3]),
)
def test_watcher_random_deltas_never_publish_crossed_top_and_end_on_final_book(
    steps: list[list[tuple[bool, int, int]]], conflate_ms: int
) -> None:
    async def scenario() -> None:
        w = World({"conflate_ns": conflate_ms * MS, "top_levels": 100})
        two_sided(w)
        await w.run(T0 + MS)
        for i, step in enumerate(steps):
            ch = tuple((Side.BUY if b else Side.SELL, f"{p / 100:.2f}", str(z)) for b, p, z in step)
            w.inject(bad_delta("m1-yes", *ch, seq=0), at_ns=T0 + (i + 2) * MS)
        await w.run(T0 + 10 * S)
        tops = w.rec.of(TopOfBook, "m1-yes")
        for t in tops:
            assert t.bids or t.asks
            assert t.best_bid is None or t.best_ask is None or t.best_bid < t.best_ask
        book = w.watcher.book("m1-yes")
        assert book is not None
        events = [p for _, p in w.rec.seen if isinstance(p, TopOfBook | BookStale) and p.token_id == "m1-yes"]
        last = events[-1]
        if book.is_crossed or book.is_empty:
            assert isinstance(last, BookStale) and last.reason in ("CROSSED", "EMPTY")
        else:
            assert isinstance(last, TopOfBook)
            assert last.bids == book.bids() and last.asks == book.asks()

    asyncio.run(scenario())


# -- against the simulated exchange's own order flow, with data latency ----------------------------
_order = st.tuples(
    st.sampled_from(["m1-yes", "m1-no"]),
    st.sampled_from(["BUY", "SELL"]),
    st.integers(min_value=5, max_value=95),
    st.integers(min_value=5, max_value=40),
)


@settings(max_examples=25, deadline=None)
@given(orders=st.lists(_order, min_size=1, max_size=60), jitter_ms=st.integers(min_value=0, max_value=4))
def test_watcher_tracks_random_sim_order_flow_with_latency_without_resync(
    orders: list[tuple[str, str, int, int]], jitter_ms: int
) -> None:
    """Whatever the crowd does, a watcher on a lossless (if late) feed never resyncs and ends on
    the venue's book; every TopOfBook it published was a valid book."""

    async def scenario() -> None:
        lat = LatencyModel(data_latency_ns=3 * MS, data_jitter_ns=jitter_ms * MS, seed=jitter_ms)
        w = World({"conflate_ns": 2 * MS}, latency=lat)
        w.ex.split("mm", "m1", D(10_000))  # inventory on both sides, so SELLs can rest
        for i, (token, side, cents, size) in enumerate(orders):
            w.at(T0 + (i + 1) * MS, token, side, f"0.{cents:02d}", size)
        await w.run(T0 + 5 * S)
        c = w.watcher.counters
        assert c["resyncs"] == 0 and c["hash_mismatches"] == 0 and c["bbo_mismatches"] == 0
        for token in ("m1-yes", "m1-no"):
            mine = w.watcher.book(token)
            assert mine is not None
            assert mine.same_levels(L2Book.from_snapshot(w.ex.book(token)))
            for t in w.rec.of(TopOfBook, token):
                assert t.best_bid is None or t.best_ask is None or t.best_bid < t.best_ask

    asyncio.run(scenario())


async def test_watcher_resync_under_data_latency_ignores_in_flight_older_deltas() -> None:
    w = World({"conflate_ns": 0}, latency=LatencyModel(data_latency_ns=5 * MS))
    two_sided(w)
    await w.run(T0 + 10 * MS)
    for i in range(5):
        w.at(T0 + 11 * MS + i * MS // 5, "m1-yes", "BUY", f"0.{20 + i}", 5)
    book = w.watcher.book("m1-yes")
    assert book is not None
    # a gap seen before the venue's five in-flight deltas land
    w.inject(bad_delta("m1-yes", (Side.BUY, "0.10", "9"), seq=book.seq + 50), at_ns=T0 + 13 * MS)
    await w.run(T0 + 50 * MS)
    c = w.watcher.counters
    assert c["resyncs"] == 1 and c["old_messages"] >= 1
    mine = w.watcher.book("m1-yes")
    assert mine is not None and mine.same_levels(L2Book.from_snapshot(w.ex.book("m1-yes")))


# -- property: on a gap-free stream, a cross inside a burst is never a gap ---------------------------

_burst = st.tuples(
    st.sampled_from(["sweep_up", "sweep_down", "bid", "ask"]),
    st.integers(min_value=1, max_value=99),
    st.integers(min_value=1, max_value=40),
)


@settings(max_examples=40, deadline=None)
@given(bursts=st.lists(_burst, min_size=1, max_size=20))
def test_watcher_on_a_gap_free_stream_of_bursts_with_transient_crosses_never_flags_or_resyncs(
    bursts: list[tuple[str, int, int]],
) -> None:
    """Each burst is what a matching engine sends for one event, in sequence, with the best prices
    after each delta (as the Polymarket client reports them): a sweep is a new order resting through
    the other side's best levels, then those levels going — crossed in between. The book after
    every burst is uncrossed, so the watcher must never flag, never rebuild, and end on it."""

    async def scenario() -> None:
        w = World({"conflate_ns": 0, "top_levels": 100})
        two_sided(w)
        await w.run(T0 + MS)
        book = w.watcher.book("m1-yes")
        assert book is not None
        bids = {int(p * 100): s for p, s in book.bids()}
        asks = {int(p * 100): s for p, s in book.asks()}
        seq = book.seq

        def send(ts: int, at: int, *changes: tuple[Side, int, Decimal]) -> None:
            nonlocal seq
            for side, cents, size in changes:
                levels = bids if side is Side.BUY else asks
                if size:
                    levels[cents] = size
                else:
                    levels.pop(cents, None)
            seq += 1
            best_bid = D(max(bids)) / 100 if bids else None
            best_ask = D(min(asks)) / 100 if asks else None
            d = bad_delta("m1-yes", *((s, f"{c / 100:.2f}", str(z)) for s, c, z in changes), seq=seq,
                          best_bid=best_bid, best_ask=best_ask)
            w.inject(d.model_copy(update={"time_ns": ts}), at_ns=at)

        for k, (kind, cents, size) in enumerate(bursts):
            ts, at = T0 + (k + 2) * MS, T0 + (k + 2) * MS
            z = D(size)
            if kind == "sweep_up" and asks and cents >= min(asks):  # a bid through the asks, then they go
                gone = sorted(a for a in asks if a <= cents)
                send(ts, at, (Side.BUY, cents, z))
                send(ts, at, *((Side.SELL, a, D(0)) for a in gone))
            elif kind == "sweep_down" and bids and cents <= max(bids):
                gone = sorted((b for b in bids if b >= cents), reverse=True)
                send(ts, at, (Side.SELL, cents, z))
                send(ts, at, *((Side.BUY, b, D(0)) for b in gone))
            elif kind == "bid" and (not asks or cents < min(asks)):
                send(ts, at, (Side.BUY, cents, z))
            elif kind == "ask" and (not bids or cents > max(bids)):
                send(ts, at, (Side.SELL, cents, z))
        await w.run(T0 + 10 * S)
        c = w.watcher.counters
        assert c["resyncs"] == 0 and c["crossed_bursts"] == 0 and c["bbo_mismatches"] == 0, c
        assert [r for r in w.rec.stale("m1-yes") if r != "EMPTY"] == []
        tops = w.rec.of(TopOfBook, "m1-yes")
        assert never_crossed(tops)
        mine = w.watcher.book("m1-yes")
        assert mine is not None
        want_b = tuple((D(p) / 100, s) for p, s in sorted(bids.items(), reverse=True))
        want_a = tuple((D(p) / 100, s) for p, s in sorted(asks.items()))
        assert mine.bids() == want_b and mine.asks() == want_a
        if want_b or want_a:
            assert (tops[-1].bids, tops[-1].asks) == (want_b, want_a)

    asyncio.run(scenario())
