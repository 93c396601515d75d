"""The local runtime: one process, one asyncio loop, one priority queue ordered by (time, sequence).

Why one queue: every delivery, timer and venue callback goes through it, so a run is a pure function
of its agents, inputs and seed. With the virtual clock the queue *is* time: popping an item advances
the clock to it. Handlers run to completion one at a time (an ``await`` inside a handler on a
simulated venue never yields to other agents), which is what makes the event log byte-identical
from run to run. With the wall clock the loop sleeps until the next item is due or something is
injected from outside (a websocket task, the CLI).

Let it crash: a handler that raises leaves its agent half-updated, so the agent is supervised as on
Ray — rebuilt from its last good checkpoint (taken every ``checkpoint_every_n`` handled items, only
after a handler that returned), started again (a trader reconciles), and counted by its branch
supervisor under :mod:`supervisors.policy`'s intensity rules, escalating to root and then to
:class:`SupervisionFailed`. Items handled between that checkpoint and the crash are not replayed
(as after a kill on Ray). ``add_agent(..., continue_on_error=True)`` (a simulation's crowd) instead
counts the error and keeps the agent as it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import heapq
import inspect
import logging
import random
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any, Literal

from agents.base import Agent, Subscription, Timer
from cluster.clock import DEFAULT_START_NS, wall_ns
from cluster.metrics import observe_published, series_key
from protocols import AgentEvent, Envelope, JournalPort, Payload, VenuePort
from supervisors.policy import Action, SupervisorState
from supervisors.spec import ChildSpec, Strategy, SupervisorSpec, class_path
from supervisors.tree import ROLE_BRANCH

log = logging.getLogger("polyagents.runtime")

LatencyHook = Callable[[str, str, Payload], int]
"""(sender id, receiver id, payload) → delivery delay in ns. Per link, so a slow arbitrageur and a
fast one can see the same book at different times."""

_DELIVER, _TIMER, _CALL, _ROUTE = 0, 1, 2, 3

HANDLER_ERROR = "HANDLER_ERROR"
"""The crash reason of an agent whose handler raised (status, agent events, supervisor counters)."""

#: The branch supervisors' strategies (the design's tree: the trader restarts after its risk officer).
BRANCH_STRATEGY = {
    "data": Strategy.ONE_FOR_ONE,
    "decision": Strategy.ONE_FOR_ONE,
    "execution": Strategy.REST_FOR_ONE,
    "other": Strategy.ONE_FOR_ONE,
}

_CLASS_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


class SupervisionFailed(Exception):
    """The root supervisor exceeded its intensity: the run cannot continue."""


class MetricsSink:
    """Where ``ctx.metric`` goes. The default keeps the last value per (agent, series): the series is
    the name, with its tags when it has any (``name{strategy=maker}``, see cluster.metrics.series_key)."""

    def __init__(self) -> None:
        self.last: dict[tuple[str, str], float] = {}
        self.counters: dict[tuple[str, str], float] = {}

    def record(self, agent_id: str, role: str, name: str, value: float, kind: str, tags: dict[str, str]) -> None:
        key = (agent_id, series_key(name, tags))
        if kind == "counter":
            self.counters[key] = self.counters.get(key, 0.0) + value
        else:
            self.last[key] = value


@dataclass
class RunStats:
    events: int = 0
    deliveries: int = 0
    timers: int = 0
    callbacks: int = 0
    handler_errors: int = 0
    start_ns: int = 0
    end_ns: int = 0


class _Slot:
    """One hosted agent and its context."""

    __slots__ = (
        "agent",
        "agent_id",
        "checkpoint",
        "continue_on_error",
        "ctx",
        "errors_continued",
        "last_crash",
        "msg_async",
        "on_message",
        "on_timer",
        "path",
        "removed",
        "restarts",
        "role",
        "since_ckpt",
        "subs",
        "timer_async",
        "timer_gen",
    )

    def __init__(self, agent: Agent[Any], ctx: LocalContext, *, continue_on_error: bool = False) -> None:
        self.agent_id = agent.agent_id
        self.role = agent.role
        self.ctx = ctx
        self.set_agent(agent)
        self.timer_gen: dict[str, int] = {}
        self.subs: set[tuple[type[Payload], str | None]] = set()
        self.removed = False
        self.path = f"root/{ROLE_BRANCH.get(agent.role, 'other')}/{agent.agent_id}"
        self.continue_on_error = continue_on_error
        self.checkpoint: dict[str, Any] | None = None
        """The last good checkpoint: taken after a handler that returned, never after one that raised."""
        self.since_ckpt = 0
        self.restarts = 0
        self.last_crash: str | None = None
        self.errors_continued = 0

    def set_agent(self, agent: Agent[Any]) -> None:
        self.agent = agent
        self.on_message = agent.on_message
        self.on_timer = agent.on_timer
        self.msg_async = inspect.iscoroutinefunction(agent.on_message)
        self.timer_async = inspect.iscoroutinefunction(agent.on_timer)


class LocalContext:
    """The :class:`agents.base.Context` of the local runtime."""

    def __init__(
        self,
        runtime: LocalRuntime,
        agent: Agent[Any],
        venue: VenuePort | None,
        rng: random.Random,
    ) -> None:
        self._rt = runtime
        self._agent_id = agent.agent_id
        self._role = agent.role
        self._venue = venue
        self._rng = rng
        self._log = logging.getLogger(f"polyagents.agent.{agent.agent_id}")
        self._seq = 0
        self.slot: _Slot | None = None

    @property
    def agent_id(self) -> str:
        return self._agent_id

    @property
    def log(self) -> logging.Logger:
        return self._log

    @property
    def rng(self) -> random.Random:
        return self._rng

    @property
    def venue(self) -> VenuePort | None:
        return self._venue

    @property
    def journal(self) -> JournalPort | None:
        return self._rt.journal

    def now_ns(self) -> int:
        return self._rt.now_ns()

    def publish(
        self,
        payload: Payload,
        *,
        correlation_id: str | None = None,
        causation_id: str | None = None,
    ) -> Envelope:
        self._seq += 1
        cur = self._rt._current
        if cur is not None:
            if causation_id is None:
                causation_id = cur.id
            if correlation_id is None:
                correlation_id = cur.correlation_id or cur.id
        env = Envelope.trusted(
            f"{self._agent_id}#{self._seq}",
            self._rt._now,
            self._agent_id,
            payload,
            correlation_id,
            causation_id,
        )
        self._rt._route(env, self._agent_id)
        if self._rt._per_message:
            observe_published(payload, self._record)
        return env

    def _record(self, name: str, value: float, kind: str = "gauge") -> None:
        self._rt.metrics.record(self._agent_id, self._role, name, value, kind, {})

    def set_timer(self, name: str, delay_ns: int, data: Any = None, *, periodic: bool = False) -> None:
        if delay_ns < 0:
            raise ValueError(f"delay_ns must not be negative, got {delay_ns}")
        if periodic and delay_ns == 0:
            raise ValueError("a periodic timer needs a positive period")
        slot = self.slot
        assert slot is not None
        gen = slot.timer_gen.get(name, 0) + 1
        slot.timer_gen[name] = gen
        due = self._rt._now + delay_ns
        timer = Timer(name, due, data, delay_ns if periodic else None)
        self._rt._push(due, _TIMER, slot, (timer, gen))

    def cancel_timer(self, name: str) -> None:
        slot = self.slot
        assert slot is not None
        if name in slot.timer_gen:
            slot.timer_gen[name] += 1

    def subscribe(self, type: type[Payload], key: str | None = None) -> None:
        assert self.slot is not None
        self._rt._subscribe(self.slot, Subscription(type, key))

    def unsubscribe(self, type: type[Payload], key: str | None = None) -> None:
        assert self.slot is not None
        self._rt._unsubscribe(self.slot, Subscription(type, key))

    def metric(self, name: str, value: float, kind: str = "gauge", **tags: str) -> None:
        self._rt.metrics.record(self._agent_id, self._role, name, value, kind, tags)


@dataclass
class _Route:
    wildcard: list[_Slot] = field(default_factory=list)
    keyed: dict[str, list[_Slot]] = field(default_factory=dict)


class LocalRuntime:
    """Hosts agents in one process. See the module docstring for the determinism contract."""

    def __init__(
        self,
        *,
        seed: int = 0,
        clock: Literal["virtual", "wall"] = "virtual",
        start_ns: int | None = None,
        journal: JournalPort | None = None,
        latency: LatencyHook | None = None,
        record_events: bool = False,
        strict: bool = False,
        metrics: MetricsSink | None = None,
        intensity: int = 10,
        period_s: float = 60.0,
        checkpoint_every_n: int = 50,
        checkpoint_every_ns: int = 60 * 1_000_000_000,
    ) -> None:
        if clock not in ("virtual", "wall"):
            raise ValueError(f"clock must be 'virtual' or 'wall', got {clock!r}")
        self.seed = seed
        self.clock = clock
        self.journal = journal
        self.latency = latency
        self.strict = strict
        self.metrics = metrics or MetricsSink()
        # the same per-delivery series an AgentHost records on Ray, when a Prometheus sink wants them
        self._per_message = bool(getattr(self.metrics, "per_message", False))
        self._now = (start_ns if start_ns is not None else DEFAULT_START_NS) if clock == "virtual" else wall_ns()
        self._queue: list[tuple[int, int, int, Any, Any]] = []
        self._seq = 0
        self._slots: dict[str, _Slot] = {}
        self._routes: dict[type[Payload], _Route] = {}
        self._current: Envelope | None = None
        self._started = False
        self._stopped = False
        self._ext_seq: dict[str, int] = {}
        self._wake: asyncio.Event | None = None
        self._record = record_events
        self._hash = hashlib.sha256()
        self.event_log: list[str] = []
        self.stats = RunStats(start_ns=self._now, end_ns=self._now)
        self.crashes: list[tuple[str, BaseException]] = []
        self._pending_starts: list[_Slot] = []
        if checkpoint_every_n < 1:
            raise ValueError(f"checkpoint_every_n must be at least 1, got {checkpoint_every_n}")
        self.intensity = intensity
        self.period_s = period_s
        self.checkpoint_every_n = checkpoint_every_n
        self.checkpoint_every_ns = checkpoint_every_ns
        self.lifecycle: list[AgentEvent] = []
        self._order: list[str] = []
        """Every supervised agent id in the order it was added (the tree's child order)."""
        self._sups: dict[str, SupervisorState] = {}

    # -- Scheduler (lent to venues) --------------------------------------------------------------
    def now_ns(self) -> int:
        if self.clock == "wall":
            return max(self._now, wall_ns())
        return self._now

    def call_at(self, time_ns: int, callback: Callable[[], None]) -> None:
        self._push(max(time_ns, self._now), _CALL, None, callback)

    # -- wiring -----------------------------------------------------------------------------------
    @property
    def agents(self) -> dict[str, Agent[Any]]:
        return {k: s.agent for k, s in self._slots.items()}

    def add_agent(
        self, agent: Agent[Any], *, venue: VenuePort | None = None, continue_on_error: bool = False
    ) -> None:
        """Host an agent. Its venue's sink is wired to this runtime under the venue's name.

        A handler that raises is a crash: the agent is rebuilt from its last good checkpoint,
        started again (a trader reconciles) and counted against its supervisor's intensity (see
        :meth:`_child_exited`). ``continue_on_error`` (crowd agents of a simulation) keeps the
        agent running as it is instead; each such error is counted (``errors_continued``).
        """
        if agent.agent_id in self._slots:
            raise ValueError(f"an agent with id {agent.agent_id!r} is already running")
        rng = random.Random(f"{self.seed}:{agent.agent_id}")
        ctx = LocalContext(self, agent, venue, rng)
        slot = _Slot(agent, ctx, continue_on_error=continue_on_error)
        ctx.slot = slot
        agent.bind(ctx)
        self._slots[agent.agent_id] = slot
        if not continue_on_error:
            self._supervise(slot)
        for sub in agent.initial_subscriptions():
            self._subscribe(slot, sub)
        if venue is not None:
            self.attach_source(venue)
        if self._started:
            self._pending_starts.append(slot)

    def attach_source(self, source: Any, name: str | None = None) -> None:
        """Wire a venue or feed (anything with ``set_sink``) to inject what it observes."""
        sender = name or f"venue:{getattr(source, 'name', 'venue')}:{getattr(source, 'account', '')}"
        source.set_sink(lambda payload: self.inject(payload, sender=sender))

    async def remove_agent(self, agent_id: str) -> None:
        slot = self._slots.pop(agent_id, None)
        if slot is None:
            raise KeyError(f"no agent {agent_id!r}")
        slot.removed = True
        self._unsupervise(slot)
        for typ, key in list(slot.subs):
            self._unsubscribe(slot, Subscription(typ, key))
        await self._call(slot, slot.agent.on_stop)
        await self._lifecycle(slot, "stop")

    def _subscribe(self, slot: _Slot, sub: Subscription) -> None:
        token = (sub.type, sub.key)
        if token in slot.subs:
            return
        slot.subs.add(token)
        route = self._routes.setdefault(sub.type, _Route())
        if sub.key is None:
            route.wildcard.append(slot)
        else:
            route.keyed.setdefault(sub.key, []).append(slot)

    def _unsubscribe(self, slot: _Slot, sub: Subscription) -> None:
        token = (sub.type, sub.key)
        if token not in slot.subs:
            return
        slot.subs.discard(token)
        route = self._routes[sub.type]
        if sub.key is None:
            route.wildcard.remove(slot)
        else:
            lst = route.keyed[sub.key]
            lst.remove(slot)
            if not lst:
                del route.keyed[sub.key]

    # -- messages ---------------------------------------------------------------------------------
    def _push(self, time_ns: int, action: int, target: Any, item: Any) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (time_ns, self._seq, action, target, item))
        if self._wake is not None:
            self._wake.set()

    def _route(self, env: Envelope, sender_id: str | None) -> None:
        payload = env.payload
        route = self._routes.get(type(payload))
        if route is None:
            return
        targets = route.wildcard
        if route.keyed:
            rk = payload.routing_key
            keyed = route.keyed.get(rk) if rk is not None else None
            if keyed:
                targets = targets + keyed
        now = env.time_ns
        lat = self.latency
        for slot in targets:
            if slot.agent_id == sender_id:
                continue
            t = now if lat is None else now + lat(env.sender, slot.agent_id, payload)
            self._seq += 1
            heapq.heappush(self._queue, (t, self._seq, _DELIVER, slot, env))
        if self._wake is not None:
            self._wake.set()

    def inject(
        self,
        payload: Payload,
        *,
        sender: str = "external",
        at_ns: int | None = None,
        correlation_id: str | None = None,
    ) -> Envelope:
        """Deliver a payload from outside the agents (a venue, a feed, a scenario, the CLI)."""
        n = self._ext_seq.get(sender, 0) + 1
        self._ext_seq[sender] = n
        t = self.now_ns() if at_ns is None else at_ns
        env = Envelope.trusted(f"{sender}#{n}", t, sender, payload, correlation_id, None)
        if t <= self._now:
            self._route(env, None)
        else:
            self._push(t, _ROUTE, None, env)
        return env

    def deliver(self, envelope: Envelope) -> None:
        """Route a pre-built envelope at its own time (benchmarks, replays)."""
        if envelope.time_ns <= self._now:
            self._route(envelope, None)
        else:
            self._push(envelope.time_ns, _ROUTE, None, envelope)

    # -- running ----------------------------------------------------------------------------------
    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        for slot in list(self._slots.values()):
            await self._start_slot(slot)

    async def _start_pending(self) -> None:
        while self._pending_starts:
            pending, self._pending_starts = self._pending_starts, []
            for slot in pending:
                await self._start_slot(slot)

    async def _start_slot(self, slot: _Slot) -> None:
        await self._call(slot, slot.agent.on_start)
        await self._lifecycle(slot, "start")

    async def _lifecycle(self, slot: _Slot, event: Literal["start", "stop", "crash"], detail: str = "") -> None:
        if self.journal is not None:
            ev = AgentEvent(time_ns=self.now_ns(), agent_id=slot.agent_id, role=slot.role, event=event, detail=detail)
            await self.journal.record(ev, agent=slot.agent_id)

    async def _event(self, agent_id: str, role: str, event: Any, detail: str = "") -> None:
        """A supervision event (crash, restart, escalate, remove): kept and journalled."""
        ev = AgentEvent(time_ns=self.now_ns(), agent_id=agent_id, role=role, event=event, detail=detail[:500])
        self.lifecycle.append(ev)
        if self.journal is not None:
            await self.journal.record(ev, agent=agent_id)

    async def _call(self, slot: _Slot, fn: Callable[..., Any], *args: Any) -> None:
        try:
            res = fn(*args)
            if inspect.isawaitable(res):
                await res
        except Exception as exc:
            await self._crashed(slot, exc)

    async def _crashed(self, slot: _Slot, exc: Exception) -> None:
        """A handler raised: a crash. Restart from the last good checkpoint (or continue, counted)."""
        if isinstance(exc, SupervisionFailed):
            raise exc  # the tree gave up (e.g. a remote agent's root escalated): the run ends
        self.stats.handler_errors += 1
        self.crashes.append((slot.agent_id, exc))
        log.exception("agent %s failed in a handler", slot.agent_id, exc_info=exc)
        if self.strict:
            await self._lifecycle(slot, "crash", f"{type(exc).__name__}: {exc}")
            raise exc
        if slot.continue_on_error or slot.removed or self._stopped:
            slot.errors_continued += 1
            await self._lifecycle(slot, "crash", f"{type(exc).__name__}: {exc}; continuing (continue_on_error)")
            return
        reason = f"{HANDLER_ERROR}: {type(exc).__name__}: {exc}"
        await self._child_exited(slot.path, reason)

    # -- checkpoints and supervision ------------------------------------------------------------
    def _handled(self, slot: _Slot) -> None:
        """A handler returned: the agent's state is good; checkpoint it when due."""
        if slot.continue_on_error:
            return
        slot.since_ckpt += 1
        if slot.since_ckpt >= self.checkpoint_every_n or (
            slot.checkpoint is not None and self._now - slot.checkpoint["time_ns"] >= self.checkpoint_every_ns
        ):
            self._take_checkpoint(slot)

    def _take_checkpoint(self, slot: _Slot) -> None:
        slot.since_ckpt = 0
        slot.checkpoint = {
            "time_ns": self._now,
            # a copy: the snapshot may share lists and dicts the agent goes on mutating
            "state": copy.deepcopy(slot.agent.snapshot()),
            "rng": slot.ctx.rng.getstate(),
        }

    def agent_status(self, agent_id: str) -> dict[str, Any]:
        """Supervision view of one agent: restarts, last crash reason, checkpoint age, errors continued."""
        slot = self._slots[agent_id]
        ck = slot.checkpoint
        return {
            "path": slot.path,
            "restarts": slot.restarts,
            "last_crash": slot.last_crash,
            "checkpoint_age_ns": None if ck is None else self._now - ck["time_ns"],
            "errors_continued": slot.errors_continued,
            "continue_on_error": slot.continue_on_error,
        }

    def _supervise(self, slot: _Slot) -> None:
        self._order.append(slot.agent_id)
        parent = slot.path.rsplit("/", 1)[0]
        st = self._sups.get(parent)
        if st is not None:
            st.add(slot.agent_id)
        elif "root" in self._sups and parent.rsplit("/", 1)[1] not in self._sups["root"].order:
            self._sups["root"].add(parent.rsplit("/", 1)[1])

    def _unsupervise(self, slot: _Slot) -> None:
        if slot.agent_id not in self._order:
            return
        self._order.remove(slot.agent_id)
        st = self._sups.get(slot.path.rsplit("/", 1)[0])
        if st is not None and slot.agent_id in st.restart_types:
            st.remove(slot.agent_id)

    def _supervised_paths(self) -> list[str]:
        return [self._slots[a].path for a in self._order if a in self._slots]

    def tree(self) -> SupervisorSpec:
        """The supervision tree of the supervised agents: the design's branches under root."""
        branches: dict[str, list[ChildSpec]] = {}
        for a in self._order:
            slot = self._slots.get(a)
            if slot is None:
                continue
            cls = class_path(type(slot.agent))
            if not _CLASS_PATH.match(cls):  # a class defined in a function: the spec only names it
                cls = "agents.base:Agent"
            branches.setdefault(slot.path.split("/")[1], []).append(ChildSpec(id=a, cls=cls))
        return SupervisorSpec(
            id="root",
            intensity=self.intensity,
            period_s=self.period_s,
            children=tuple(
                SupervisorSpec(
                    id=b,
                    strategy=BRANCH_STRATEGY.get(b, Strategy.ONE_FOR_ONE),
                    intensity=self.intensity,
                    period_s=self.period_s,
                    children=tuple(kids),
                )
                for b, kids in branches.items()
            ),
        )

    def _sup(self, path: str) -> SupervisorState:
        st = self._sups.get(path)
        if st is None:
            tree = self.tree()
            spec = tree if path == "root" else tree.child(path.split("/", 1)[1])
            assert isinstance(spec, SupervisorSpec)
            st = SupervisorState(spec, random.Random(f"{self.seed}:{path}"))
            self._sups[path] = st
        return st

    def _agents_under(self, path: str) -> list[str]:
        return [p.rsplit("/", 1)[1] for p in self._supervised_paths() if p == path or p.startswith(path + "/")]

    async def _child_exited(self, path: str, reason: str) -> None:
        """A supervised child crashed: its supervisor's policy (:mod:`supervisors.policy`) decides.

        Restarts happen at once, in the queue's order (virtual time: a backoff would only shift
        the run); a restart whose start fails is the next crash, handled here in turn rather than
        by recursion, until the intensity is exceeded and the branch escalates to root; root
        exceeding its own raises :class:`SupervisionFailed`.
        """
        pending: deque[tuple[str, str]] = deque([(path, reason)])
        while pending:
            path, reason = pending.popleft()
            parent, child = path.rsplit("/", 1)
            if path.count("/") == 2:
                aid = child
                if aid not in self._slots:
                    continue
                self._slots[aid].last_crash = reason[:300]
                await self._event(aid, self._slots[aid].role, "crash", reason)
                await self._kill_child(aid)
            sup = self._sup(parent)
            decision = sup.on_exit(child, abnormal=True, now_s=self._now / 1e9)
            if decision.action is Action.RESTART:
                for cid in decision.stop:
                    for aid in self._agents_under(f"{parent}/{cid}"):
                        await self._stop_child(aid)
                for cid in decision.start:
                    sub = f"{parent}/{cid}"
                    if sub.count("/") == 1:  # a branch restarted by root: fresh supervisor state
                        self._sups.pop(sub, None)
                    for aid in self._agents_under(sub):
                        failed = await self._restart_child(aid, decision.reason)
                        if failed is not None:
                            pending.append((self._slots[aid].path, f"START_FAILED: {failed}"))
            elif decision.action is Action.ESCALATE:
                sup_id = parent.rsplit("/", 1)[-1]
                await self._event(sup_id, "supervisor", "escalate", decision.reason)
                for aid in reversed(self._agents_under(parent)):
                    if aid != child:  # the crashed one is already gone; its siblings stop cleanly
                        await self._stop_child(aid)
                if parent == "root":
                    raise SupervisionFailed(decision.reason)
                self._sups.pop(parent, None)
                pending.append((parent, f"ESCALATED: {decision.reason}"))
            else:
                for cid in decision.forget:
                    slot = self._slots.get(cid)
                    if slot is not None:
                        await self._kill_child(cid)
                        slot.removed = True
                        await self._event(cid, slot.role, "remove", decision.reason)

    async def crash_agent(self, agent_id: str, reason: str = "KILLED") -> None:
        """Chaos: the agent dies as a killed process does — its timers and every change since its
        last checkpoint are gone — and its supervisor's policy restarts it (a trader reconciles)."""
        slot = self._slots.get(agent_id)
        if slot is None or slot.removed:
            raise KeyError(f"no running agent {agent_id!r}")
        await self._child_exited(slot.path, reason)

    async def _kill_child(self, agent_id: str) -> None:
        """The agent is gone as a killed process is: its pending timers die with it."""
        slot = self._slots[agent_id]
        for name in slot.timer_gen:
            slot.timer_gen[name] += 1

    async def _stop_child(self, agent_id: str) -> None:
        """A sibling stopped by its supervisor's strategy: its state is good, so it is checkpointed
        first (it comes back as it was), then ``on_stop`` runs."""
        slot = self._slots[agent_id]
        self._take_checkpoint(slot)
        try:
            res = slot.agent.on_stop()
            if inspect.isawaitable(res):
                await res
        except Exception:
            log.exception("agent %s: on_stop failed while its supervisor restarted it", agent_id)
        await self._kill_child(agent_id)

    async def _restart_child(self, agent_id: str, reason: str) -> str | None:
        """A fresh agent object from the last good checkpoint, started again; a trader reconciles.
        Returns the error when the restart itself failed (counted by the caller as a crash)."""
        slot = self._slots[agent_id]
        slot.restarts += 1
        old = slot.agent
        ck = slot.checkpoint
        try:
            agent = old.fresh()
            agent.bind(slot.ctx)
            if ck is not None:
                agent.restore(copy.deepcopy(ck["state"]))
                slot.ctx.rng.setstate(ck["rng"])
        except Exception as exc:
            log.exception("agent %s: could not be rebuilt", agent_id)
            return f"{type(exc).__name__}: {exc}"
        slot.set_agent(agent)
        slot.since_ckpt = 0
        for typ, key in list(slot.subs):
            self._unsubscribe(slot, Subscription(typ, key))
        for sub in agent.initial_subscriptions():
            self._subscribe(slot, sub)
        await self._event(
            agent_id, slot.role, "restart", f"{reason}; from {'checkpoint' if ck is not None else 'initial state'}"
        )
        try:
            for fn in (agent.on_start, self._reconcile_fn(agent)):
                if fn is None:
                    continue
                res = fn()
                if inspect.isawaitable(res):
                    await res
        except Exception as exc:
            self.stats.handler_errors += 1
            self.crashes.append((agent_id, exc))
            log.exception("agent %s failed to start again", agent_id)
            return f"{type(exc).__name__}: {exc}"
        return None

    @staticmethod
    def _reconcile_fn(agent: Agent[Any]) -> Callable[[], Any] | None:
        """A trader reconciles after a restart, as after a kill (unless its ``on_start`` does)."""
        fn = getattr(agent, "reconcile", None)
        if not callable(fn) or getattr(getattr(agent, "config", None), "reconcile_on_start", False):
            return None
        return fn  # type: ignore[no-any-return]

    async def run(self, until_ns: int | None = None, *, max_events: int | None = None) -> RunStats:
        """Process the queue until it is empty, ``until_ns`` is reached, or ``max_events`` ran.

        With the wall clock and no ``until_ns`` it runs until :meth:`stop` is called.
        """
        await self.start()
        if self.clock == "wall":
            return await self._run_wall(until_ns, max_events)
        queue = self._queue
        stats = self.stats
        pop = heapq.heappop
        record = self._record
        per_message = self._per_message
        budget = max_events if max_events is not None else -1
        await self._start_pending()
        while queue and budget != 0:
            if self._pending_starts:
                await self._start_pending()
            t = queue[0][0]
            if until_ns is not None and t > until_ns:
                break
            _, _, action, target, item = pop(queue)
            if t > self._now:
                self._now = t
            budget -= 1
            stats.events += 1
            if action == _DELIVER:
                if target.removed:
                    continue
                stats.deliveries += 1
                if record:
                    self._log_delivery(target, item)
                self._current = item
                t_handler = perf_counter() if per_message else 0.0
                try:
                    if target.msg_async:
                        await target.on_message(item)
                    else:
                        target.on_message(item)
                except Exception as exc:
                    self._current = None
                    await self._crashed(target, exc)
                else:
                    self._handled(target)
                self._current = None
                if per_message:
                    self._observe_delivery(target, perf_counter() - t_handler)
            elif action == _ROUTE:
                self._route(item, None)
            elif action == _TIMER:
                await self._fire_timer(target, item)
            else:
                stats.callbacks += 1
                item()
        if until_ns is not None and self._now < until_ns and (not queue or queue[0][0] > until_ns):
            self._now = until_ns
        stats.end_ns = self._now
        return stats

    def _observe_delivery(self, slot: _Slot, handler_s: float) -> None:
        rec = self.metrics.record
        rec(slot.agent_id, slot.role, "polyagents_messages_total", 1, "counter", {})
        rec(slot.agent_id, slot.role, "polyagents_handler_seconds", handler_s, "histogram", {})

    async def _fire_timer(self, slot: _Slot, item: tuple[Timer, int]) -> None:
        timer, gen = item
        if slot.removed or slot.timer_gen.get(timer.name) != gen:
            return
        self.stats.timers += 1
        if self._record:
            self._log_line(f"{self._now}|timer|{slot.agent_id}|{timer.name}")
        if timer.periodic_ns:
            nxt = Timer(timer.name, self._now + timer.periodic_ns, timer.data, timer.periodic_ns)
            self._push(nxt.due_ns, _TIMER, slot, (nxt, gen))
        try:
            res = slot.on_timer(timer)
            if slot.timer_async or inspect.isawaitable(res):
                await res  # type: ignore[misc]
        except Exception as exc:
            await self._crashed(slot, exc)
        else:
            self._handled(slot)

    async def _run_wall(self, until_ns: int | None, max_events: int | None) -> RunStats:
        self._wake = asyncio.Event()
        budget = max_events if max_events is not None else -1
        while not self._stopped and budget != 0:
            now = wall_ns()
            if until_ns is not None and now >= until_ns:
                break
            if self._queue and self._queue[0][0] <= now:
                self._now = max(self._now, now)
                before = self.stats.events
                await self.run_due()
                budget -= self.stats.events - before
                continue
            self._wake.clear()
            nxt = self._queue[0][0] if self._queue else None
            limit = until_ns if nxt is None else (nxt if until_ns is None else min(nxt, until_ns))
            timeout = None if limit is None else max(0.0, (limit - now) / 1e9)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
        self.stats.end_ns = self.now_ns()
        return self.stats

    async def run_due(self) -> None:
        """Wall clock: process everything already due, as in virtual time."""
        clock, self.clock = self.clock, "virtual"
        try:
            self.stats.end_ns = self._now
            await self.run(until_ns=self._now)
        finally:
            self.clock = clock

    async def stop(self) -> None:
        """Clean shutdown: every agent's ``on_stop``, then the journal is flushed."""
        if self._stopped:
            return
        self._stopped = True
        if self._wake is not None:
            self._wake.set()
        for slot in list(self._slots.values()):
            await self._call(slot, slot.agent.on_stop)
            await self._lifecycle(slot, "stop")
        if self.journal is not None:
            await self.journal.flush()

    # -- determinism ------------------------------------------------------------------------------
    def _log_delivery(self, slot: _Slot, env: Envelope) -> None:
        self._log_line(
            f"{self._now}|{env.id}|{env.sender}>{slot.agent_id}|{env.causation_id}|"
            f"{env.payload.model_dump_json()}"
        )

    def _log_line(self, line: str) -> None:
        self._hash.update(line.encode())
        self._hash.update(b"\n")
        self.event_log.append(line)

    def event_log_digest(self) -> str:
        """SHA-256 of every delivery and timer, in order: equal digests mean equal runs."""
        return self._hash.hexdigest()
