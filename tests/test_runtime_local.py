"""The local runtime: (time, sequence) order, timers, keyed routing, latency, determinism."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import pytest

from agents.base import Agent, AgentConfig, Subscription, Timer
from cluster.clock import DEFAULT_START_NS
from cluster.runtime_local import LocalRuntime
from protocols import Envelope, ReferencePrice, Side, TradePrint

MS = 1_000_000


class Recorder(Agent[AgentConfig]):
    role = "recorder"
    subscriptions = (Subscription(TradePrint),)

    def __init__(self, agent_id: str, subs: tuple[Subscription, ...] | None = None) -> None:
        super().__init__(agent_id)
        self.seen: list[tuple[int, str, Any]] = []
        self._subs = subs

    def initial_subscriptions(self) -> tuple[Subscription, ...]:
        return self._subs if self._subs is not None else self.subscriptions

    def fresh(self) -> Recorder:
        return Recorder(self.agent_id, self._subs)

    def on_message(self, envelope: Envelope) -> None:
        self.seen.append((self.ctx.now_ns(), envelope.sender, envelope.payload))


class Echo(Agent[AgentConfig]):
    """Republishes each trade as a reference price after a random think time (timer)."""

    role = "echo"
    subscriptions = (Subscription(TradePrint),)

    def __init__(self, agent_id: str) -> None:
        super().__init__(agent_id)
        self.n = 0

    async def on_message(self, envelope: Envelope) -> None:
        self.n += 1
        delay = self.ctx.rng.randint(0, 5) * MS
        self.ctx.set_timer(f"t{self.n}", delay, envelope.payload)

    def on_timer(self, timer: Timer) -> None:
        p = timer.data
        self.ctx.publish(ReferencePrice(time_ns=self.ctx.now_ns(), symbol=p.token_id, price=p.price + 1))


def trade(t: int, token: str = "tok", price: str = "0.5") -> TradePrint:
    return TradePrint(time_ns=t, token_id=token, market="m", price=Decimal(price), size=Decimal(1), side=Side.BUY)


async def test_deliveries_follow_time_then_sequence_order() -> None:
    rt = LocalRuntime()
    rec = Recorder("rec")
    rt.add_agent(rec)
    t0 = DEFAULT_START_NS
    rt.inject(trade(t0 + 3 * MS, price="0.3"), at_ns=t0 + 3 * MS)
    rt.inject(trade(t0 + 1 * MS, price="0.1"), at_ns=t0 + 1 * MS)
    rt.inject(trade(t0 + 3 * MS, price="0.4"), at_ns=t0 + 3 * MS)
    rt.inject(trade(t0 + 2 * MS, price="0.2"), at_ns=t0 + 2 * MS)
    await rt.run()
    assert [str(p.price) for _, _, p in rec.seen] == ["0.1", "0.2", "0.3", "0.4"]
    assert [t for t, _, _ in rec.seen] == [t0 + MS, t0 + 2 * MS, t0 + 3 * MS, t0 + 3 * MS]


async def test_keyed_subscription_receives_only_its_token() -> None:
    rt = LocalRuntime()
    only_a = Recorder("a", (Subscription(TradePrint, "A"),))
    every = Recorder("all")
    rt.add_agent(only_a)
    rt.add_agent(every)
    for tok in ("A", "B", "A", "C"):
        rt.inject(trade(DEFAULT_START_NS, tok))
    await rt.run()
    assert [p.token_id for _, _, p in only_a.seen] == ["A", "A"]
    assert len(every.seen) == 4


async def test_latency_hook_delays_each_link_separately() -> None:
    delays = {"slow": 7 * MS, "fast": 1 * MS}
    rt = LocalRuntime(latency=lambda sender, receiver, payload: delays[receiver])
    slow, fast = Recorder("slow"), Recorder("fast")
    rt.add_agent(slow)
    rt.add_agent(fast)
    rt.inject(trade(DEFAULT_START_NS))
    await rt.run()
    assert slow.seen[0][0] - DEFAULT_START_NS == 7 * MS
    assert fast.seen[0][0] - DEFAULT_START_NS == 1 * MS


async def test_published_message_carries_causation_and_correlation() -> None:
    rt = LocalRuntime()
    rt.add_agent(Echo("echo"))
    got: list[Envelope] = []

    class Sink(Agent[AgentConfig]):
        subscriptions = (Subscription(ReferencePrice),)

        def on_message(self, envelope: Envelope) -> None:
            got.append(envelope)

    rt.add_agent(Sink("sink"))
    class Relay(Agent[AgentConfig]):
        """Publishes inside its handler: the new message is caused by the one being handled."""

        subscriptions = (Subscription(TradePrint),)

        def on_message(self, envelope: Envelope) -> None:
            p = envelope.payload
            self.ctx.publish(ReferencePrice(time_ns=self.ctx.now_ns(), symbol="relay", price=p.price + 2))

    rt.add_agent(Relay("relay"))
    src = rt.inject(trade(DEFAULT_START_NS), sender="venue")
    await rt.run()
    by_sender = {e.sender: e for e in got}
    assert src.id == "venue#1"
    relayed = by_sender["relay"]
    assert relayed.causation_id == src.id and relayed.correlation_id == src.id
    # the echo published from a timer, outside any delivery: no causality is invented
    timed = by_sender["echo"]
    assert timed.payload.price == Decimal("1.5") and timed.causation_id is None


async def test_timer_replaced_by_name_and_cancel_prevents_firing() -> None:
    fired: list[str] = []

    class T(Agent[AgentConfig]):
        def on_start(self) -> None:
            self.ctx.set_timer("x", 5 * MS, "first")
            self.ctx.set_timer("x", 2 * MS, "second")
            self.ctx.set_timer("y", 1 * MS, "cancelled")
            self.ctx.cancel_timer("y")
            self.ctx.set_timer("p", 10 * MS, "tick", periodic=True)

        def on_timer(self, timer: Timer) -> None:
            fired.append(f"{timer.data}@{(self.ctx.now_ns() - DEFAULT_START_NS) // MS}")

    rt = LocalRuntime()
    rt.add_agent(T("t"))
    await rt.run(until_ns=DEFAULT_START_NS + 35 * MS)
    assert fired == ["second@2", "tick@10", "tick@20", "tick@30"]
    assert rt.now_ns() == DEFAULT_START_NS + 35 * MS


async def test_handler_exception_is_a_crash_of_that_agent_alone_restarted_and_counted() -> None:
    class Boom(Agent[AgentConfig]):
        subscriptions = (Subscription(TradePrint),)

        def on_message(self, envelope: Envelope) -> None:
            raise RuntimeError("boom")

    rt = LocalRuntime()
    rec = Recorder("rec")
    rt.add_agent(Boom("boom"))
    rt.add_agent(rec)
    rt.inject(trade(DEFAULT_START_NS))
    rt.inject(trade(DEFAULT_START_NS))
    await rt.run()
    assert len(rec.seen) == 2
    assert rt.stats.handler_errors == 2 and rt.crashes[0][0] == "boom"
    assert rt.agent_status("boom")["restarts"] == 2
    assert rt.agent_status("rec")["restarts"] == 0


class Counter(Agent[AgentConfig]):
    """Counts trade prints by their size; raises on the print of size ``fail_at`` after updating
    its state (a half-updated agent), and on every ``on_start`` when ``fail_start``."""

    role = "counter"
    subscriptions = (Subscription(TradePrint),)
    fail_at: int | None = None
    fail_start = False

    def __init__(self, agent_id: str, config: Any = None) -> None:
        super().__init__(agent_id, config)
        self.seen: list[int] = []
        self.reconciled = 0

    def on_start(self) -> None:
        if self.fail_start:
            raise RuntimeError("cannot start")

    def on_message(self, envelope: Envelope) -> None:
        k = int(envelope.payload.size)
        self.seen.append(k)
        if k == self.fail_at or self.fail_at == 0:
            raise ValueError(f"bad print {k}")

    def snapshot(self) -> dict[str, Any]:
        return {"seen": self.seen}  # the live list: the runtime must copy it

    def restore(self, state: dict[str, Any]) -> None:
        self.seen = list(state["seen"])


def sized(k: int) -> TradePrint:
    t = DEFAULT_START_NS + k * MS
    return TradePrint(time_ns=t, token_id="tok", market="m", price=Decimal("0.5"), size=Decimal(k), side=Side.BUY)


def feed(rt: LocalRuntime, n: int) -> None:
    for k in range(1, n + 1):
        rt.inject(sized(k), at_ns=DEFAULT_START_NS + k * MS)


async def test_local_handler_that_raises_restarts_from_the_last_good_checkpoint_not_the_half_updated_state() -> None:
    class Failing(Counter):
        fail_at = 5

    rt = LocalRuntime(checkpoint_every_n=3)
    first = Failing("c")
    rt.add_agent(first)
    feed(rt, 8)
    await rt.run()
    now = rt.agents["c"]
    assert now is not first  # a fresh object: nothing of the half-updated one survives
    assert first.seen == [1, 2, 3, 4, 5]  # the crashed incarnation had updated its state, then raised
    # the checkpoint after print 3 (the last good one; none is taken after 5 raised) plus the prints after
    assert now.seen == [1, 2, 3, 6, 7, 8]  # type: ignore[attr-defined]
    st = rt.agent_status("c")
    assert st["restarts"] == 1 and st["last_crash"].startswith("HANDLER_ERROR: ValueError: bad print 5")
    assert [(e.agent_id, e.event) for e in rt.lifecycle] == [("c", "crash"), ("c", "restart")]


async def test_local_restarted_agent_with_a_reconcile_method_reconciles_before_its_next_message() -> None:
    class Trader(Counter):
        role = "trader"
        fail_at = 2

        async def reconcile(self) -> None:
            self.reconciled += 1
            assert not self.seen or self.seen == [1], "reconciled after a message of the new incarnation"

    rt = LocalRuntime()
    rt.add_agent(Trader("t"))
    feed(rt, 4)
    await rt.run()
    t = rt.agents["t"]
    assert t.reconciled == 1  # type: ignore[attr-defined]
    assert t.seen == [3, 4]  # type: ignore[attr-defined]  # no checkpoint yet: from the initial state
    assert rt.agent_status("t")["path"] == "root/execution/t"


async def test_local_agent_crashing_past_the_intensity_escalates_its_branch_then_root_fails_the_run() -> None:
    from cluster.runtime_local import SupervisionFailed

    class Always(Counter):
        fail_at = 0

    rt = LocalRuntime(intensity=2, period_s=60.0)
    rt.add_agent(Always("a"))
    rt.add_agent(Counter("sibling"))
    feed(rt, 30)
    with pytest.raises(SupervisionFailed, match="INTENSITY_EXCEEDED"):
        await rt.run()
    escalations = [e.agent_id for e in rt.lifecycle if e.event == "escalate"]
    # the branch gives up on its 3rd crash within the period; root restarts it twice, then gives up too
    assert escalations == ["other", "other", "other", "root"]
    assert rt.stats.handler_errors == 9
    # the healthy sibling was stopped cleanly (checkpointed) and restarted with its branch: no print lost
    assert rt.agents["sibling"].seen == list(range(1, 10))  # type: ignore[attr-defined]
    assert rt.agent_status("sibling")["restarts"] == 2


async def test_local_agent_whose_start_raises_is_retried_until_the_intensity_then_escalates() -> None:
    from cluster.runtime_local import SupervisionFailed

    class NoStart(Counter):
        fail_start = True

    rt = LocalRuntime(intensity=1)
    rt.add_agent(NoStart("s"))
    with pytest.raises(SupervisionFailed):
        await rt.run()
    events = [(e.agent_id, e.event) for e in rt.lifecycle]
    # intensity 1: a branch restarts it once and escalates on the 2nd failure; root restarts the
    # branch once (its restart of the child is the 2nd), whose own retry is the 3rd; then root gives up
    assert events.count(("s", "crash")) == 4
    assert events.count(("s", "restart")) == 3
    assert [a for a, e in events if e == "escalate"] == ["other", "other", "root"]


async def test_local_agent_flagged_continue_on_error_keeps_its_state_and_is_counted_not_restarted() -> None:
    class Failing(Counter):
        fail_at = 2

    rt = LocalRuntime(intensity=0)
    crowd = Failing("crowd")
    rt.add_agent(crowd, continue_on_error=True)
    feed(rt, 3)
    await rt.run()
    assert rt.agents["crowd"] is crowd and crowd.seen == [1, 2, 3]
    st = rt.agent_status("crowd")
    assert st["errors_continued"] == 1 and st["restarts"] == 0
    assert rt.lifecycle == []


async def test_strict_runtime_reraises_handler_errors() -> None:
    class Boom(Agent[AgentConfig]):
        subscriptions = (Subscription(TradePrint),)

        def on_message(self, envelope: Envelope) -> None:
            raise RuntimeError("boom")

    rt = LocalRuntime(strict=True)
    rt.add_agent(Boom("boom"))
    rt.inject(trade(DEFAULT_START_NS))
    with pytest.raises(RuntimeError, match="boom"):
        await rt.run()


async def test_removed_agent_gets_nothing_more() -> None:
    rt = LocalRuntime()
    rec = Recorder("rec")
    rt.add_agent(rec)
    rt.inject(trade(DEFAULT_START_NS + MS), at_ns=DEFAULT_START_NS + MS)
    await rt.run(until_ns=DEFAULT_START_NS)
    await rt.remove_agent("rec")
    await rt.run()
    assert rec.seen == []


async def test_duplicate_agent_id_is_refused() -> None:
    rt = LocalRuntime()
    rt.add_agent(Recorder("x"))
    with pytest.raises(ValueError, match="already running"):
        rt.add_agent(Recorder("x"))


async def _society_digest(seed: int) -> tuple[str, int]:
    rt = LocalRuntime(seed=seed, record_events=True, latency=lambda s, r, p: (1 + len(r) % 3) * MS)
    for i in range(3):
        rt.add_agent(Echo(f"echo{i}"))
    rec = Recorder("rec", (Subscription(TradePrint), Subscription(ReferencePrice)))
    rt.add_agent(rec)
    rnd = random.Random(seed)
    for _ in range(200):
        t = DEFAULT_START_NS + rnd.randint(0, 500) * MS
        price = Decimal(rnd.randint(1, 99)) / 100
        rt.inject(trade(t, rnd.choice("ABC"), str(price)), at_ns=t)
    await rt.run()
    return rt.event_log_digest(), len(rt.event_log)


async def test_same_agents_inputs_and_seed_give_byte_identical_event_log() -> None:
    d1, n1 = await _society_digest(7)
    d2, n2 = await _society_digest(7)
    d3, _ = await _society_digest(8)
    assert n1 > 800
    assert d1 == d2 and n1 == n2
    assert d1 != d3


async def test_agent_added_while_running_is_started_and_routed() -> None:
    started: list[str] = []

    class Late(Recorder):
        def on_start(self) -> None:
            started.append(self.agent_id)

    rt = LocalRuntime()
    rt.add_agent(Recorder("early"))
    rt.inject(trade(DEFAULT_START_NS))
    await rt.run()
    late = Late("late")
    rt.add_agent(late)
    await rt.run()  # nothing queued: the late agent is still started
    assert started == ["late"]
    rt.inject(trade(DEFAULT_START_NS + MS), at_ns=DEFAULT_START_NS + MS)
    await rt.run()
    assert started == ["late"] and len(late.seen) == 1
