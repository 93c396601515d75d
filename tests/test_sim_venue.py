"""SimVenue: one account's VenuePort onto the shared exchange, with latency on the runtime's clock."""

from __future__ import annotations

import heapq
from collections.abc import Callable
from decimal import Decimal as D
from itertools import pairwise
from typing import Any

import pytest

from agents.base import Agent, Subscription
from cluster.runtime_local import LocalRuntime
from protocols import (
    BookDelta,
    BookSnapshot,
    Envelope,
    Fill,
    OrderEvent,
    OrderStatus,
    Payload,
    ReasonCode,
    TradePrint,
    VenuePort,
)
from venues.sim import DEFAULT_START_NS, LatencyModel, SimExchange, SimVenue
from venues.sim.testing import binary_market, order

MS = 1_000_000


class Clock:
    """A deterministic scheduler: callbacks run in (time, sequence) order as time is advanced."""

    def __init__(self) -> None:
        self.now = DEFAULT_START_NS
        self._q: list[tuple[int, int, Callable[[], None]]] = []
        self._seq = 0

    def now_ns(self) -> int:
        return self.now

    def call_at(self, time_ns: int, callback: Callable[[], None]) -> None:
        self._seq += 1
        heapq.heappush(self._q, (max(time_ns, self.now), self._seq, callback))

    def run_until(self, t: int) -> None:
        while self._q and self._q[0][0] <= t:
            when, _, cb = heapq.heappop(self._q)
            self.now = when
            cb()
        self.now = max(self.now, t)


class Recorder:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.got: list[tuple[int, Payload]] = []

    def __call__(self, p: Payload) -> None:
        self.got.append((self.clock.now, p))

    def of(self, kind: type[Any]) -> list[Any]:
        return [p for _, p in self.got if isinstance(p, kind)]


def world(latency: LatencyModel | None = None) -> tuple[Clock, SimExchange, SimVenue, SimVenue, Recorder, Recorder]:
    clock = Clock()
    ex = SimExchange(scheduler=clock)
    ex.add_market(binary_market("m1"))
    ex.open_account("us", 1000)
    ex.open_account("crowd", 1000)
    ex.split("crowd", "m1", 100)
    us, crowd = SimVenue(ex, "us", latency), SimVenue(ex, "crowd")
    rec_us, rec_crowd = Recorder(clock), Recorder(clock)
    us.set_sink(rec_us)
    crowd.set_sink(rec_crowd)
    return clock, ex, us, crowd, rec_us, rec_crowd


def test_sim_venue_implements_the_venue_port() -> None:
    _, _, us, _, _, _ = world()
    assert isinstance(us, VenuePort)
    assert (us.name, us.account) == ("sim", "us")


async def test_zero_latency_returns_the_real_outcome_and_also_tells_the_sink() -> None:
    _, _, us, crowd, rec_us, rec_crowd = world()
    await crowd.place_order(order("crowd", "s1", "m1-yes", "SELL", "0.50", 10))
    ev = await us.place_order(order("us", "b1", "m1-yes", "BUY", "0.50", 10))
    assert ev.status is OrderStatus.FILLED
    assert rec_us.of(OrderEvent)[-1] == ev
    assert [f.client_order_id for f in rec_us.of(Fill)] == ["b1"]
    assert [f.client_order_id for f in rec_crowd.of(Fill)] == ["s1"]  # each account only its own
    assert all(p.account == "us" for p in rec_us.of(OrderEvent))
    assert (await us.order_status("b1")) == ev
    assert [f.fill_id for f in await us.trades()] == [rec_us.of(Fill)[0].fill_id]


async def test_order_latency_answers_sent_and_delivers_the_outcome_later_without_blocking_time() -> None:
    lat = LatencyModel(order_latency_ns=20 * MS, data_latency_ns=5 * MS)
    clock, ex, us, _, rec_us, _ = world(lat)
    t0 = clock.now
    ev = await us.place_order(order("us", "b1", "m1-yes", "BUY", "0.40", 10))
    assert ev.status is OrderStatus.SENT and clock.now == t0
    assert (await us.order_status("b1")).status is OrderStatus.SENT  # type: ignore[union-attr]
    assert ex.order("us", "b1") is None  # not at the venue yet
    clock.run_until(t0 + 20 * MS)
    assert ex.order("us", "b1").status is OrderStatus.ACKNOWLEDGED  # type: ignore[union-attr]
    assert rec_us.of(OrderEvent) == []  # the answer is still on its way
    clock.run_until(t0 + 25 * MS)
    [(when, ack)] = rec_us.got
    assert when == t0 + 25 * MS and isinstance(ack, OrderEvent) and ack.status is OrderStatus.ACKNOWLEDGED


async def test_order_latency_rejection_arrives_through_the_sink() -> None:
    clock, _, us, _, rec_us, _ = world(LatencyModel.fixed(order_ns=10 * MS))
    ev = await us.place_order(order("us", "b1", "m1-yes", "BUY", "0.40", 1))
    assert ev.status is OrderStatus.SENT
    clock.run_until(clock.now + 10 * MS)
    [rej] = rec_us.of(OrderEvent)
    assert (rej.status, rej.reason) == (OrderStatus.REJECTED, ReasonCode.BELOW_MIN_SIZE)


async def test_cancel_with_latency_cannot_overtake_its_order() -> None:
    clock, _, us, _, rec_us, _ = world(LatencyModel(order_latency_ns=10 * MS, order_jitter_ns=50 * MS, seed=3))
    await us.place_order(order("us", "b1", "m1-yes", "BUY", "0.40", 10))
    sent = await us.cancel_order("b1")
    assert sent.status is OrderStatus.SENT
    clock.run_until(clock.now + 200 * MS)
    assert [e.status for e in rec_us.of(OrderEvent)] == [OrderStatus.ACKNOWLEDGED, OrderStatus.CANCELLED]


async def test_market_data_reaches_only_subscribers_of_the_token_after_an_initial_snapshot() -> None:
    _, ex, us, crowd, rec_us, rec_crowd = world()
    ex.add_market(binary_market("m2"))
    await us.subscribe_market_data(["m1-no"])
    [snap] = rec_us.of(BookSnapshot)
    assert snap.token_id == "m1-no"
    await crowd.place_order(order("crowd", "s1", "m1-yes", "SELL", "0.60", 10))
    await crowd.place_order(order("crowd", "s2", "m2-yes", "BUY", "0.30", 10))
    deltas = rec_us.of(BookDelta)
    assert [(d.token_id, d.best_bid) for d in deltas] == [("m1-no", D("0.40"))]  # the mirror, m1 only
    assert rec_crowd.of(BookDelta) == []  # the crowd's venue never subscribed
    await us.unsubscribe_market_data(["m1-no"])
    await crowd.place_order(order("crowd", "s3", "m1-yes", "SELL", "0.61", 10))
    assert len(rec_us.of(BookDelta)) == 1


async def test_jittered_data_latency_keeps_order_and_replays_identically_with_the_same_seed() -> None:
    async def once() -> list[tuple[int, int]]:
        lat = LatencyModel(data_latency_ns=2 * MS, data_jitter_ns=30 * MS, seed=7)
        clock, _, us, crowd, rec_us, _ = world(lat)
        await us.subscribe_market_data(["m1-yes"])
        for i in range(20):
            clock.run_until(clock.now + MS)
            await crowd.place_order(order("crowd", f"s{i}", "m1-yes", "SELL", D("0.50") + D(i) / 100, 5))
        clock.run_until(clock.now + 100 * MS)
        seqs = [(t, p.seq) for t, p in rec_us.got if isinstance(p, BookDelta | BookSnapshot)]
        assert len(seqs) == 21
        return seqs

    first, second = await once(), await once()
    assert first == second
    assert [s for _, s in first] == list(range(1, 22))  # in order, none overtaken
    assert [t for t, _ in first] == sorted(t for t, _ in first)
    gaps = {b - a for (a, _), (b, _) in pairwise(first)}
    assert len(gaps) > 1  # the jitter did something


async def test_latency_without_a_scheduler_is_refused() -> None:
    ex = SimExchange()
    ex.open_account("us", 10)
    with pytest.raises(ValueError, match="scheduler"):
        SimVenue(ex, "us", LatencyModel.fixed(order_ns=MS))


async def test_gtd_expiry_is_driven_by_the_scheduler() -> None:
    clock, ex, us, _, rec_us, _ = world()
    exp = clock.now + 90 * 1_000_000_000
    await us.place_order(order("us", "g1", "m1-yes", "BUY", "0.40", 10, tif="GTD", expires_ns=exp))
    clock.run_until(exp - 60 * 1_000_000_000 - 1)
    assert ex.order("us", "g1").status is OrderStatus.ACKNOWLEDGED  # type: ignore[union-attr]
    clock.run_until(exp)
    assert rec_us.of(OrderEvent)[-1].status is OrderStatus.EXPIRED
    assert (await us.balance()).reserved == 0


async def test_closed_venue_delivers_nothing_more() -> None:
    _, _, us, crowd, rec_us, _ = world()
    await us.subscribe_market_data(["m1-yes"])
    await us.close()
    n = len(rec_us.got)
    await crowd.place_order(order("crowd", "s1", "m1-yes", "SELL", "0.60", 10))
    assert len(rec_us.got) == n


class _Recorder(Agent[Any]):
    subscriptions = (Subscription(OrderEvent), Subscription(Fill), Subscription(TradePrint))

    def __init__(self, agent_id: str) -> None:
        super().__init__(agent_id)
        self.seen: list[tuple[int, Payload]] = []
        self.placed: list[OrderEvent] = []

    async def on_start(self) -> None:
        venue = self.ctx.venue
        assert venue is not None
        await venue.subscribe_market_data(["m1-yes"])
        self.placed.append(await venue.place_order(order("us", "b1", "m1-yes", "BUY", "0.50", 10)))

    def on_message(self, envelope: Envelope) -> None:
        self.seen.append((envelope.time_ns, envelope.payload))


async def test_runs_on_the_local_runtime_clock_with_latency() -> None:
    rt = LocalRuntime(seed=1)
    ex = SimExchange(scheduler=rt)
    ex.add_market(binary_market("m1"))
    ex.open_account("us", 100)
    ex.open_account("crowd", 100)
    ex.split("crowd", "m1", 10)
    ex.submit("crowd", order("crowd", "s1", "m1-yes", "SELL", "0.50", 10))
    venue = SimVenue(ex, "us", LatencyModel.fixed(order_ns=30 * MS, data_ns=10 * MS))
    agent = _Recorder("rec")
    rt.add_agent(agent, venue=venue)
    t0 = rt.now_ns()
    await rt.run(until_ns=t0 + 1_000 * MS)
    assert [p.status for p in agent.placed] == [OrderStatus.SENT]
    kinds = [(t - t0, type(p).__name__) for t, p in agent.seen]
    assert (40 * MS, "Fill") in kinds and (40 * MS, "OrderEvent") in kinds and (40 * MS, "TradePrint") in kinds
    fills = [p for _, p in agent.seen if isinstance(p, Fill)]
    assert [(f.account, f.price, f.size) for f in fills] == [("us", D("0.5"), D(10))]


async def test_public_data_is_built_only_while_some_venue_is_subscribed() -> None:
    _, ex, us, crowd, rec_us, _ = world()
    assert not ex.publishing  # two venues, neither subscribed: the engine builds no market data
    await us.subscribe_market_data(["m1-yes", "m1-no"])
    assert ex.publishing
    await us.unsubscribe_market_data(["m1-yes"])
    assert ex.publishing
    await us.unsubscribe_market_data(["m1-no"])
    assert not ex.publishing
    await crowd.place_order(order("crowd", "s1", "m1-yes", "SELL", "0.60", 10))
    await us.subscribe_market_data(["m1-no"])  # resubscribing starts from a fresh snapshot
    last = rec_us.of(BookSnapshot)[-1]
    assert (last.token_id, last.bids, last.hash) == ("m1-no", ((D("0.40"), D(10)),), ex.book("m1-no").hash)
