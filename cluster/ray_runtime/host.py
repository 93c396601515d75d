"""``AgentHost``: the Ray actor that hosts one agent, unchanged, in either of two modes.

*Lockstep* (simulation): the coordinator (:mod:`cluster.ray_runtime.lockstep`) drives the host one
step at a time with the step protocol of :mod:`cluster.ray_runtime.lockstep_protocol`; the host
never talks to anyone else, so a Ray run reproduces a local one.

*Live* (wall or accelerated clock): the host owns a bounded mailbox, runs timers on the clock,
pushes what its agent publishes straight to subscriber hosts (:mod:`cluster.ray_runtime.routing`),
calls the venue actor for its venue port and the journal actor for its journal, and checkpoints
its agent's ``snapshot()`` every N messages or T seconds.

Why ``setup()`` instead of ``__init__``: an exception in an actor's constructor kills it for good;
building and restoring the agent in a method lets the supervisor see the error and decide.
Health pings and ``state()`` live in their own concurrency group so a busy handler never makes a
healthy agent look dead.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import random
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import ray
from ray import cloudpickle
from ray.exceptions import RayActorError

from agents.base import Agent, Subscription, Timer
from cluster.metrics import AgentMetrics, observe_published
from cluster.ray_runtime.lockstep_protocol import (
    CancelTimer,
    Metric,
    Op,
    PortCall,
    PortResult,
    Publish,
    SetTimer,
    Step,
    StepKind,
    Subscribe,
)
from cluster.ray_runtime.mailbox import Mailbox
from cluster.ray_runtime.routing import Router, RouteTable
from protocols import Envelope, JournalUnavailable, Payload
from supervisors.spec import import_object

log = logging.getLogger("polyagents.host")


@dataclass(frozen=True)
class HostSpec:
    """Everything a host needs to build its agent; picklable, so a replacement gets the same."""

    agent_id: str
    role: str
    path: str
    namespace: str = "polyagents"
    cls: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    agent_bytes: bytes | None = None
    seed: int = 0
    metrics: str = "ray"
    # live mode
    journal_name: str | None = None
    venue_name: str | None = None
    venue_account: str | None = None
    registry_name: str | None = None
    checkpoint_every_n: int = 100
    checkpoint_every_s: float = 5.0
    mailbox_capacity: int = 10_000
    clock_start_ns: int = 0
    clock_wall0_ns: int = 0
    clock_speed: float = 1.0
    restarted: bool = False
    reconcile_on_restart: bool = True
    continue_on_error: bool = False
    """A handler error is logged and counted and the agent keeps its state (crowd agents in a
    simulation); otherwise it is a crash (see ``AgentHost._handle``)."""


HANDLER_ERROR = "HANDLER_ERROR"


@dataclass(frozen=True, slots=True)
class _TimerItem:
    """A fired timer in the mailbox, tagged with the agent incarnation that armed it: a timer of an
    incarnation that crashed dies with it, as it would with its process."""

    incarnation: int
    timer: Timer


def build_agent(spec: HostSpec) -> Agent[Any]:
    if spec.agent_bytes is not None:
        agent: Agent[Any] = cloudpickle.loads(spec.agent_bytes)
        return agent
    if spec.cls is None:
        raise ValueError(f"host {spec.agent_id}: neither a class path nor a pickled agent")
    cls = import_object(spec.cls)
    return cls(spec.agent_id, spec.config or None)  # type: ignore[no-any-return]


def kind_of(t: type[Payload]) -> str:
    return str(t.model_fields["kind"].default)


class _PortProxy:
    """Base of the venue and journal proxies: every call is forwarded by ``caller``."""

    _target: str

    def __init__(self, caller: Any) -> None:
        self._caller = caller

    def __getattr__(self, method: str) -> Any:
        if method.startswith("_"):
            raise AttributeError(method)

        async def call(*args: Any, **kwargs: Any) -> Any:
            return await self._caller(self._target, method, args, kwargs)

        return call


class VenueProxy(_PortProxy):
    """``protocols.VenuePort`` onto the venue that lives elsewhere (coordinator or venue actor)."""

    _target = "venue"

    def __init__(self, caller: Any, name: str, account: str) -> None:
        super().__init__(caller)
        self.name = name
        self.account = account

    def set_sink(self, sink: Any) -> None:
        """The real venue's sink is wired where the venue lives; events arrive by routing."""

    async def list_markets(self) -> Any:
        return await self._caller("venue", "list_markets", (), {})

    async def subscribe_market_data(self, token_ids: Any) -> Any:
        return await self._caller("venue", "subscribe_market_data", (list(token_ids),), {})

    async def unsubscribe_market_data(self, token_ids: Any) -> Any:
        return await self._caller("venue", "unsubscribe_market_data", (list(token_ids),), {})

    async def get_book(self, token_id: str) -> Any:
        return await self._caller("venue", "get_book", (token_id,), {})

    async def place_order(self, request: Any) -> Any:
        return await self._caller("venue", "place_order", (request,), {})

    async def place_orders(self, requests: Any) -> Any:
        return await self._caller("venue", "place_orders", (list(requests),), {})

    async def cancel_order(self, client_order_id: str) -> Any:
        return await self._caller("venue", "cancel_order", (client_order_id,), {})

    async def cancel_all(self, market: str | None = None) -> Any:
        return await self._caller("venue", "cancel_all", (market,), {})

    async def order_status(self, client_order_id: str) -> Any:
        return await self._caller("venue", "order_status", (client_order_id,), {})

    async def open_orders(self) -> Any:
        return await self._caller("venue", "open_orders", (), {})

    async def trades(self, since_ns: int | None = None) -> Any:
        return await self._caller("venue", "trades", (since_ns,), {})

    async def positions(self) -> Any:
        return await self._caller("venue", "positions", (), {})

    async def balance(self) -> Any:
        return await self._caller("venue", "balance", (), {})

    async def close(self) -> Any:
        return await self._caller("venue", "close", (), {})


class JournalProxy(_PortProxy):
    """``protocols.JournalPort`` onto the journal that lives elsewhere."""

    _target = "journal"

    async def record(self, payload: Payload, *, agent: str, durable: bool = False) -> None:
        await self._caller("journal", "record", (payload,), {"agent": agent, "durable": durable})

    async def checkpoint(self, agent: str, time_ns: int, state: dict[str, Any]) -> None:
        await self._caller("journal", "checkpoint", (agent, time_ns, state), {})

    async def last_checkpoint(self, agent: str) -> Any:
        return await self._caller("journal", "last_checkpoint", (agent,), {})

    async def orders(self, agent: str) -> Any:
        return await self._caller("journal", "orders", (agent,), {})

    async def order_events(self, agent: str) -> Any:
        return await self._caller("journal", "order_events", (agent,), {})

    async def fills(self, agent: str) -> Any:
        return await self._caller("journal", "fills", (agent,), {})

    async def flush(self) -> None:
        await self._caller("journal", "flush", (), {})


class HostContext:
    """The agent's :class:`agents.base.Context` inside a host (both modes)."""

    def __init__(self, host: AgentHost, agent: Agent[Any], venue: VenueProxy | None, journal: JournalProxy | None):
        self._host = host
        self._agent_id = agent.agent_id
        self._role = agent.role
        self._venue = venue
        self._journal = journal
        self._log = logging.getLogger(f"polyagents.agent.{agent.agent_id}")
        self.rng = random.Random(f"{host.spec.seed}:{agent.agent_id}")
        self.now = 0
        self.pub_seq = 0
        self.current: Envelope | None = None

    @property
    def agent_id(self) -> str:
        return self._agent_id

    @property
    def log(self) -> logging.Logger:
        return self._log

    @property
    def venue(self) -> Any:
        return self._venue

    @property
    def journal(self) -> Any:
        return self._journal

    def now_ns(self) -> int:
        return self._host.now_ns()

    def publish(
        self, payload: Payload, *, correlation_id: str | None = None, causation_id: str | None = None
    ) -> Envelope:
        self.pub_seq += 1
        cur = self.current
        corr, caus = correlation_id, causation_id
        if cur is not None:
            if caus is None:
                caus = cur.id
            if corr is None:
                corr = cur.correlation_id or cur.id
        env = Envelope.trusted(f"{self._agent_id}#{self.pub_seq}", self.now_ns(), self._agent_id, payload, corr, caus)
        self._host._emit_publish(env, Publish(payload, correlation_id, causation_id))
        return env

    def set_timer(self, name: str, delay_ns: int, data: Any = None, *, periodic: bool = False) -> None:
        if delay_ns < 0:
            raise ValueError(f"delay_ns must not be negative, got {delay_ns}")
        if periodic and delay_ns == 0:
            raise ValueError("a periodic timer needs a positive period")
        self._host._emit_timer(SetTimer(name, delay_ns, data, periodic))

    def cancel_timer(self, name: str) -> None:
        self._host._emit_timer(CancelTimer(name))

    def subscribe(self, type: type[Payload], key: str | None = None) -> None:
        self._host._emit_sub(Subscribe(kind_of(type), key, True))

    def unsubscribe(self, type: type[Payload], key: str | None = None) -> None:
        self._host._emit_sub(Subscribe(kind_of(type), key, False))

    def metric(self, name: str, value: float, kind: str = "gauge", **tags: str) -> None:
        self._host._emit_metric(Metric(name, value, kind, dict(tags)))


@ray.remote(concurrency_groups={"control": 4})  # type: ignore[call-overload]
class AgentHost:
    """Hosts one agent. Construct, then ``setup()``; see the module docstring for the modes."""

    def __init__(self, spec: HostSpec, mode: str = "lockstep") -> None:
        self.spec = spec
        self.mode = mode
        self.agent: Agent[Any] | None = None
        self.ctx: HostContext | None = None
        self.setup_error: str | None = None
        self.metrics = AgentMetrics(spec.agent_id, spec.role, spec.metrics)  # type: ignore[arg-type]
        self.messages = 0
        self.last_message_ns: int | None = None
        self.state_name = "created"
        self.started_wall = time.time()
        # lockstep
        self._ops: list[Op] = []
        self._skip = 0
        self._recorded: list[tuple[PortCall, PortResult]] = []
        self._applied: list[Op] = []
        self._task: asyncio.Future[Any] | None = None
        self._wakeup: asyncio.Event | None = None
        self._pending: tuple[PortCall, asyncio.Future[Any]] | None = None
        self._waiting: asyncio.Future[Any] | None = None
        self._crash_after_calls: int | None = None
        self._want_ckpt: bool | str = False
        self._calls_answered = 0
        # live
        self.router: Router | None = None
        self.mailbox: Mailbox | None = None
        self._subs: set[tuple[str, str | None]] = set()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._loop_task: asyncio.Task[Any] | None = None
        self._incarnation = 0
        self._stash: deque[Any] = deque()
        """Items taken from the mailbox while the agent was crashed: handled first after its restart."""
        self._last_ckpt: dict[str, Any] | None = None
        """The last good checkpoint this host took (the state after a handler that returned)."""
        self.last_crash: str | None = None
        self.handler_errors = 0
        self.errors_continued = 0
        self.restarts_in_place = 0
        self._since_ckpt = 0
        self._last_ckpt_wall = time.monotonic()
        self._venue_actor: Any = None
        self._journal_actor: Any = None
        self.journal_unavailable = 0
        self.checkpoint_failures = 0
        self._registry: Any = None
        self._accepting = False
        self._idle = False
        self._handler_lock = asyncio.Lock()
        self._account = spec.venue_account or spec.agent_id

    def __repr__(self) -> str:
        return f"AgentHost(role={self.spec.role}, id={self.spec.agent_id})"

    # ------------------------------------------------------------------ setup (both modes)
    async def setup(self, checkpoint: dict[str, Any] | None = None) -> dict[str, Any]:
        """Build the agent and restore its state; returns its subscriptions. Errors are returned."""
        try:
            image = checkpoint.get("image") if checkpoint else None
            # an "image" checkpoint is the whole agent object (lockstep's exact restarts)
            agent = cloudpickle.loads(image) if image is not None else build_agent(self.spec)
            venue: VenueProxy | None = None
            journal: JournalProxy | None = None
            if self.mode == "lockstep":
                venue = (
                    VenueProxy(self._lockstep_call, "venue", self.spec.venue_account or "")
                    if self.spec.venue_account is not None
                    else None
                )
                journal = JournalProxy(self._lockstep_call) if self.spec.journal_name is not None else None
            else:
                if self.spec.venue_name is not None:
                    self._venue_actor = ray.get_actor(self.spec.venue_name, namespace=self.spec.namespace)
                    # the agent's own configured account wins (the trader's TraderConfig.account)
                    acct = getattr(agent.config, "account", None) or self.spec.venue_account or self.spec.agent_id
                    self._account = str(acct)
                    venue = VenueProxy(self._live_call, "sim", self._account)
                if self.spec.journal_name is not None:
                    # found by name on first use (_journal_call): a journal being restarted is a
                    # pause for whoever calls it, not a failed setup when a checkpoint is in hand
                    self._journal_actor = None
                    journal = JournalProxy(self._live_call)
            ctx = HostContext(self, agent, venue, journal)
            agent.bind(ctx)
            self.agent, self.ctx = agent, ctx
            if checkpoint is not None:
                self._restore(checkpoint)
            elif self.mode == "live" and self.spec.journal_name is not None:  # no journal: no restore
                saved = await self._journal_call("last_checkpoint", (self.spec.agent_id,), {})
                if saved is not None:
                    self._restore(saved)
            subs = [(kind_of(s.type), s.key) for s in agent.initial_subscriptions()]
            self._subs = set(subs)
            self.state_name = "ready"
            if self.spec.restarted:
                self.metrics.record("polyagents_restarts_total", 1, "counter")
            return {"ok": True, "subs": subs, "role": agent.role}
        except Exception as exc:  # reported, not raised: the supervisor decides
            self.setup_error = f"{type(exc).__name__}: {exc}"
            self.state_name = "failed"
            log.exception("host %s: setup failed", self.spec.agent_id)
            return {"ok": False, "error": self.setup_error}

    def _restore(self, checkpoint: dict[str, Any]) -> None:
        assert self.agent is not None and self.ctx is not None
        if checkpoint.get("image") is None:
            self.agent.restore(checkpoint.get("state", {}))
        rng = checkpoint.get("rng")
        if rng is not None:
            self.ctx.rng.setstate(_rng_state(rng))
        self.ctx.pub_seq = int(checkpoint.get("pub_seq", 0))
        self.messages = int(checkpoint.get("messages", 0))

    def _image(self) -> bytes:
        agent = self.agent
        assert agent is not None
        ctx, agent._ctx = agent._ctx, None
        try:
            return bytes(cloudpickle.dumps(agent))
        finally:
            agent._ctx = ctx

    def _checkpoint(self, image: bool = False) -> dict[str, Any]:
        assert self.agent is not None and self.ctx is not None
        return {
            "state": self.agent.snapshot(),
            "image": self._image() if image else None,
            "rng": list(_rng_jsonable(self.ctx.rng.getstate())),
            "pub_seq": self.ctx.pub_seq,
            "messages": self.messages,
        }

    def now_ns(self) -> int:
        if self.mode == "lockstep":
            return self.ctx.now if self.ctx is not None else 0
        s = self.spec
        return s.clock_start_ns + int((time.time_ns() - s.clock_wall0_ns) * s.clock_speed)

    # ------------------------------------------------------------------ control group
    @ray.method(concurrency_group="control")
    def ping(self) -> str:
        return self.state_name

    @ray.method(concurrency_group="control")
    def state(self) -> dict[str, Any]:
        status: dict[str, Any] = {}
        if self.agent is not None:
            try:
                status = self.agent.status()
            except Exception as exc:
                status = {"error": f"{type(exc).__name__}: {exc}"}
        return {
            "agent": self.spec.agent_id,
            "role": self.spec.role,
            "path": self.spec.path,
            "state": self.state_name,
            "pid": os.getpid(),
            "node": ray.get_runtime_context().get_node_id(),
            "messages": self.messages,
            "mailbox": len(self.mailbox) if self.mailbox is not None else 0,
            "last_message_ns": self.last_message_ns,
            "restarted": self.spec.restarted,
            "status": status,
            "error": self.setup_error,
            "journal_unavailable": self.journal_unavailable,
            "checkpoint_failures": self.checkpoint_failures,
            "last_crash": self.last_crash,
            "handler_errors": self.handler_errors,
            "errors_continued": self.errors_continued,
            "restarts_in_place": self.restarts_in_place,
            "timers_over_capacity": self.mailbox.over_capacity if self.mailbox is not None else 0,
            "metrics": dict(self.metrics.values),
        }

    @ray.method(concurrency_group="control")
    def crash_reason(self) -> str | None:
        """Why the agent crashed (``HANDLER_ERROR: ...``), for its supervisor."""
        return self.last_crash

    @ray.method(concurrency_group="control")
    def die(self, code: int = 1) -> None:
        """Crash on purpose (chaos tests, the demo): the process exits without cleanup."""
        os._exit(code)

    @ray.method(concurrency_group="control")
    def arm_crash(self, after_calls: int) -> None:
        """Lockstep chaos: exit when the Nth port call of a step has been answered by the coordinator,
        i.e. after the venue did something and before the agent learnt of it."""
        self._crash_after_calls = after_calls

    # ------------------------------------------------------------------ emit (both modes)
    def _emit(self, op: Op) -> None:
        if self._skip > 0:
            self._skip -= 1
            return
        if self._applied:
            i = _index_of(self._applied, op)
            if i is not None:  # applied by an earlier attempt of this step: not twice
                del self._applied[i]
                return
        self._ops.append(op)

    def _emit_publish(self, env: Envelope, op: Publish) -> None:
        if self.mode == "lockstep":
            self._emit(op)
        elif self.router is not None:
            self.router.publish(env)
            self._observe_out(env)

    def _emit_timer(self, op: SetTimer | CancelTimer) -> None:
        if self.mode == "lockstep":
            self._emit(op)
            return
        old = self._timers.pop(op.name, None)
        if old is not None:
            old.cancel()
        if isinstance(op, SetTimer):
            self._arm_timer(op, self.now_ns() + op.delay_ns)

    def _emit_sub(self, op: Subscribe) -> None:
        if self.mode == "lockstep":
            self._emit(op)
            return
        token = (op.type_kind, op.key)
        changed = (token not in self._subs) if op.on else (token in self._subs)
        if op.on:
            self._subs.add(token)
        else:
            self._subs.discard(token)
        if changed and self._registry is not None:
            self._registry.register.remote(self.spec.path, self.spec.agent_id, sorted(self._subs, key=str))

    def _emit_metric(self, op: Metric) -> None:
        self.metrics.record(op.name, op.value, op.kind, op.tags)
        if self.mode == "lockstep":
            self._emit(op)

    # ------------------------------------------------------------------ lockstep
    async def _lockstep_call(self, target: str, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        call = PortCall(target, method, args, kwargs)  # type: ignore[arg-type]
        i = _index_of([c for c, _ in self._recorded], call) if self._recorded else None
        if i is not None:  # this very call was made before: its answer, not another call's
            r = self._recorded.pop(i)[1]
        else:
            loop = asyncio.get_running_loop()
            fut: asyncio.Future[Any] = loop.create_future()
            self._pending = (call, fut)
            assert self._wakeup is not None
            self._wakeup.set()
            r = await fut
        if r.ok:
            return r.value
        assert r.error is not None
        raise r.error

    async def step(
        self,
        kind: StepKind,
        arg: Any,
        now_ns: int,
        pub_seq: int,
        current: Envelope | None,
        recorded: list[tuple[PortCall, PortResult]],
        skip_ops: int,
        checkpoint: bool | str = False,
        applied: list[Op] | None = None,
    ) -> Step:
        """Run one handler until it needs the outside world or ends (see lockstep_protocol).

        ``recorded``: calls made and answered before (answered again only when made again);
        ``skip_ops``: drop that many ops (a replay of a completed step drops them all);
        ``applied``: ops an earlier attempt of this step applied (an equal op is not emitted)."""
        assert self.agent is not None and self.ctx is not None, "setup() first"
        ctx = self.ctx
        ctx.now, ctx.pub_seq, ctx.current = now_ns, pub_seq, current
        self._recorded = list(recorded)
        self._skip = skip_ops
        self._applied = list(applied or ())
        self._ops = []
        self._wakeup = asyncio.Event()
        self._pending = None
        self._want_ckpt = checkpoint
        self._calls_answered = len(recorded)
        self._task = asyncio.ensure_future(self._run(kind, arg))
        return await self._advance()

    async def resume(self, result: PortResult) -> Step:
        self._calls_answered += 1
        if self._crash_after_calls is not None and self._calls_answered >= self._crash_after_calls:
            os._exit(1)
        fut, self._waiting = self._waiting, None
        assert fut is not None, "resume without a pending call"
        fut.set_result(result)
        return await self._advance()

    async def _run(self, kind: StepKind, arg: Any) -> None:
        agent = self.agent
        assert agent is not None
        if kind == "message":
            self.messages += 1
            self.last_message_ns = self.ctx.now if self.ctx else None
            res = agent.on_message(arg)
        elif kind == "timer":
            res = agent.on_timer(arg)
        elif kind == "start":
            self.state_name = "running"
            res = agent.on_start()
        elif kind == "stop":
            self.state_name = "stopped"
            res = agent.on_stop()
        else:
            res = getattr(agent, str(arg))()
        if inspect.isawaitable(res):
            await res

    async def _advance(self) -> Step:
        assert self._task is not None and self._wakeup is not None
        waiter = asyncio.ensure_future(self._wakeup.wait())
        await asyncio.wait({self._task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if not waiter.done():
            waiter.cancel()
        ops, self._ops = tuple(self._ops), []
        if self._pending is not None:
            call, fut = self._pending
            self._pending = None
            self._waiting = fut
            self._wakeup.clear()
            return Step(ops, call=call)
        task, self._task = self._task, None
        exc = task.exception()
        ctx = self.ctx
        if ctx is not None:
            ctx.current = None
        error = None if exc is None else f"{type(exc).__name__}: {exc}"
        if exc is not None:
            log.warning("agent %s handler failed: %s", self.spec.agent_id, error)
        ckpt = None
        if self._want_ckpt and error is None:
            ckpt = self._checkpoint(image=self._want_ckpt == "image")
        return Step(ops, error=error, checkpoint=ckpt)

    # ------------------------------------------------------------------ live
    async def _live_call(self, target: str, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if target == "venue":
            cur = self.ctx.current if self.ctx is not None else None
            if method in ("place_order", "place_orders") and cur is not None:
                t0 = _tick_time(cur)
                if t0 is not None:
                    self.metrics.record("polyagents_tick_to_order_ms", (self.now_ns() - t0) / 1e6, "histogram")
            return await self._venue_actor.venue_call.remote(self._account, method, args, kwargs)
        return await self._journal_call(method, args, kwargs)

    async def _journal_call(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Call the journal found by name: a restarted journal is a new actor under the same name.

        The handle looked up at start goes stale when the journal is restarted; a call that finds
        it dead drops it, and the next call looks the name up again. While no journal answers, the
        caller gets ``JournalUnavailable`` — a pause for the trader, never a venue failure. A failed
        call is not retried here: whether it ran is unknown, and the caller decides (the trader
        holds its write-ahead and tries again).
        """
        if self._journal_actor is None:
            if self.spec.journal_name is None:
                raise JournalUnavailable("this host has no journal")
            try:
                self._journal_actor = ray.get_actor(self.spec.journal_name, namespace=self.spec.namespace)
            except ValueError as exc:
                self.journal_unavailable += 1
                raise JournalUnavailable(f"journal {self.spec.journal_name!r} is not running") from exc
        try:
            return await getattr(self._journal_actor, method).remote(*args, **kwargs)
        except RayActorError as exc:
            self._journal_actor = None
            self.journal_unavailable += 1
            raise JournalUnavailable(f"journal {self.spec.journal_name!r} unreachable: {type(exc).__name__}") from exc

    async def start_live(self) -> dict[str, Any]:
        """Register routes, run ``on_start`` (the trader reconciles there or right after), then
        open the mailbox. Messages that arrive before are queued, not handled: a restarted trader
        accepts no intent before it has reconciled."""
        assert self.agent is not None and self.ctx is not None
        self.mailbox = self.mailbox or Mailbox(self.spec.mailbox_capacity)
        self.router = self.router or Router(self.spec.path, self.spec.namespace)
        if self.spec.registry_name is not None:
            self._registry = ray.get_actor(self.spec.registry_name, namespace=self.spec.namespace)
            table, version = await self._registry.register.remote(
                self.spec.path, self.spec.agent_id, sorted(self._subs, key=str)
            )
            self.router.set_table(table, version)
        res = await self._start_agent(reconcile=self.spec.restarted)
        if res.get("ok"):
            self._loop_task = asyncio.ensure_future(self._mail_loop())
        return res

    async def _start_agent(self, *, reconcile: bool) -> dict[str, Any]:
        assert self.agent is not None
        self.state_name = "starting"
        try:
            await _maybe_await(self.agent.on_start())
            if reconcile and self.spec.reconcile_on_restart:
                await self._reconcile_if_trader()
        except Exception as exc:
            self.state_name = "failed"
            self.setup_error = f"{type(exc).__name__}: {exc}"
            log.exception("agent %s failed to start", self.spec.agent_id)
            return {"ok": False, "error": self.setup_error}
        self.state_name = "running"
        return {"ok": True}

    async def restart_in_place(self) -> dict[str, Any]:
        """The supervisor's restart of a crashed agent (its handler raised) inside this host.

        Equivalent to a new host, minus the process: a fresh agent object built from the spec and
        restored from the last good checkpoint (this host's latest, else the journal's — never the
        half-updated state), started again, and a trader reconciles before it handles anything.
        What the mailbox holds is kept, and handled by the new incarnation; the old one's timers
        died with it. Returns ``{"ok": False, "error": ...}`` when the restart itself fails.
        """
        if self.state_name != "crashed":
            return {"ok": False, "error": f"restart_in_place of a host that is {self.state_name}"}
        async with self._handler_lock:  # no handler runs while the agent is replaced
            pub_seq = self.ctx.pub_seq if self.ctx is not None else 0
            messages = self.messages
            res = await self.setup(self._last_ckpt)
            if not res.get("ok"):
                return res
            assert self.ctx is not None
            self.ctx.pub_seq = max(self.ctx.pub_seq, pub_seq)  # envelope ids stay unique
            self.messages = messages
            self._since_ckpt = 0
            self._last_ckpt_wall = time.monotonic()
            self.restarts_in_place += 1
            self.metrics.record("polyagents_restarts_total", 1, "counter")
            if self._registry is not None:
                await self._registry.register.remote(self.spec.path, self.spec.agent_id, sorted(self._subs, key=str))
            res = await self._start_agent(reconcile=True)
            if not res.get("ok"):
                return res
            if self._loop_task is None or self._loop_task.done():
                # the old loop ended at the crash (or stashed what it held); one loop per host
                self._loop_task = asyncio.ensure_future(self._mail_loop())
        return {"ok": True}

    async def _reconcile_if_trader(self) -> None:
        agent = self.agent
        reconcile = getattr(agent, "reconcile", None)
        if reconcile is None:
            return
        cfg = getattr(agent, "config", None)
        if getattr(cfg, "reconcile_on_start", False):
            return  # on_start already did it
        await _maybe_await(reconcile())

    async def update_routes(self, table: RouteTable, version: int) -> None:
        """On the default event loop (not the control group's): the router's sends live there."""
        if self.router is None:
            self.router = Router(self.spec.path, self.spec.namespace)
        self.router.set_table(table, version)

    async def deliver(self, batch: list[Envelope]) -> int:
        """Called by other hosts and the venue actor with a batch for this host.

        A single message for an idle host is handled right here (one event-loop hop less on the
        hot path); anything else goes through the mailbox. Handlers never overlap either way: both
        paths hold the handler lock, and the inline path is taken only when nothing is queued.
        """
        if self.mailbox is None:
            self.mailbox = Mailbox(self.spec.mailbox_capacity)
        box = self.mailbox
        if (
            len(batch) == 1
            and self._idle
            and not len(box)
            and not self._handler_lock.locked()
            and self.state_name == "running"
        ):
            self._idle = False
            async with self._handler_lock:
                if self.state_name == "running":
                    await self._handle(batch[0])
                else:
                    self._stash.append(batch[0])
            return len(box)
        lost = box.dropped + box.conflated
        for env in batch:
            await box.put(env.payload.kind, env.payload.routing_key, env)
        if box.dropped + box.conflated > lost:  # superseded or shed market data, never orders/fills
            self.metrics.record("polyagents_dropped_total", box.dropped + box.conflated - lost, "counter")
        self.metrics.record("polyagents_mailbox_depth", len(box))
        return len(box)

    def _arm_timer(self, op: SetTimer, due_ns: int) -> None:
        loop = asyncio.get_running_loop()
        delay_s = max(0.0, (due_ns - self.now_ns()) / 1e9 / max(self.spec.clock_speed, 1e-9))
        timer = Timer(op.name, due_ns, op.data, op.delay_ns if op.periodic else None)

        incarnation = self._incarnation

        def fire() -> None:
            self._timers.pop(op.name, None)
            box = self.mailbox
            if box is not None:
                # a timer is a critical item (the trader's status retries ride on them): it always
                # enqueues, past a full mailbox if it must (counted), never dropped
                box.put_critical("_timer", op.name, _TimerItem(incarnation, timer))
            if op.periodic:
                self._arm_timer(op, due_ns + op.delay_ns)

        self._timers[op.name] = loop.call_later(delay_s, fire)

    async def _mail_loop(self) -> None:
        """Handle the mailbox in order until the agent crashes (its restart starts a new loop)."""
        assert self.mailbox is not None
        box = self.mailbox
        while True:
            if self._stash:
                item = self._stash.popleft()
            else:
                self._idle = not len(box)
                item = await box.get()
            self._idle = False
            async with self._handler_lock:
                if self.state_name != "running":  # crashed while this item waited for the lock
                    self._stash.appendleft(item)
                    return
                if not await self._handle(item):
                    return

    async def _handle(self, item: Any) -> bool:
        """One message or timer. A handler that raises is a crash (False): the agent is left
        half-updated, so nothing more is handled and nothing is checkpointed until its supervisor
        restarts it from the last good checkpoint (:meth:`restart_in_place`). With
        ``continue_on_error`` the error is counted and the agent goes on."""
        agent, ctx, box = self.agent, self.ctx, self.mailbox
        assert agent is not None and ctx is not None and box is not None
        if isinstance(item, _TimerItem) and item.incarnation != self._incarnation:
            return True  # armed by an incarnation that crashed: it died with it
        t0 = time.perf_counter()
        try:
            if isinstance(item, _TimerItem):
                await _maybe_await(agent.on_timer(item.timer))
            else:
                ctx.current = item
                self.messages += 1
                self.last_message_ns = self.now_ns()
                self.metrics.record("polyagents_messages_total", 1, "counter")
                await _maybe_await(agent.on_message(item))
        except Exception as exc:
            self.handler_errors += 1
            self.metrics.record("polyagents_handler_errors_total", 1, "counter")
            if not self.spec.continue_on_error:
                self._crash(f"{HANDLER_ERROR}: {type(exc).__name__}: {exc}")
                log.exception("agent %s handler failed: a crash, waiting for its supervisor", self.spec.agent_id)
                return False
            self.errors_continued += 1
            log.exception("agent %s handler failed (continue_on_error: it goes on)", self.spec.agent_id)
            return True  # no checkpoint of a state the error may have left half-done
        finally:
            ctx.current = None
        self.metrics.record("polyagents_handler_seconds", time.perf_counter() - t0, "histogram")
        self.metrics.record("polyagents_mailbox_depth", len(box))
        self._since_ckpt += 1
        if self._since_ckpt >= self.spec.checkpoint_every_n or (
            time.monotonic() - self._last_ckpt_wall >= self.spec.checkpoint_every_s
        ):
            await self.checkpoint_now()
        return True

    def _crash(self, reason: str) -> None:
        """The agent's state can no longer be trusted: stop handling, timers die, ping says so."""
        self.state_name = "crashed"
        self.last_crash = reason[:500]
        self._incarnation += 1
        for h in self._timers.values():
            h.cancel()
        self._timers.clear()

    async def checkpoint_now(self) -> bool:
        self._since_ckpt = 0
        self._last_ckpt_wall = time.monotonic()
        if self.spec.journal_name is None or self.agent is None or self.state_name == "crashed":
            return False  # never a checkpoint of a half-updated agent
        try:
            ckpt = self._checkpoint()
            self._last_ckpt = ckpt
            await self._journal_call("checkpoint", (self.spec.agent_id, self.now_ns(), ckpt), {})
            return True
        except JournalUnavailable:
            self.checkpoint_failures += 1  # retried on the next schedule, against the journal found by name
            log.warning("agent %s: checkpoint deferred, journal unavailable", self.spec.agent_id)
            return False
        except Exception:
            self.checkpoint_failures += 1
            log.exception("agent %s: checkpoint failed", self.spec.agent_id)
            return False

    def _observe_out(self, env: Envelope) -> None:
        observe_published(env.payload, self.metrics.record)

    async def stop_live(self) -> None:
        """Graceful stop: final checkpoint, ``on_stop``, timers cancelled."""
        for h in self._timers.values():
            h.cancel()
        self._timers.clear()
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(BaseException):
                await self._loop_task
        if self.agent is not None:
            await self.checkpoint_now()
            try:
                await _maybe_await(self.agent.on_stop())
            except Exception:
                log.exception("agent %s: on_stop failed", self.spec.agent_id)
        self.state_name = "stopped"

    async def call_agent(self, method: str, *args: Any) -> Any:
        """Run an agent method (control commands, reconcile) inside the host's loop."""
        if self.state_name == "crashed":
            raise RuntimeError(f"agent {self.spec.agent_id} crashed ({self.last_crash}); wait for its restart")
        return await _maybe_await(getattr(self.agent, method)(*args))

    async def dump_agent(self) -> bytes:
        """The agent object itself (pickled), e.g. for a simulation report after a Ray run."""
        return self._image()


def _index_of(items: list[Any], x: Any) -> int | None:
    """First index of an item equal to ``x`` (a comparison that fails is no match)."""
    for i, item in enumerate(items):
        try:
            if item == x:
                return i
        except Exception:
            continue
    return None


async def _maybe_await(res: Any) -> Any:
    if inspect.isawaitable(res):
        return await res
    return res


def _tick_time(env: Envelope) -> int | None:
    """The time of the tick that started ``env``'s chain: the venue world stamps it into its
    envelope ids (``venue:sim:acct#N@<ns>``), and correlation ids carry the first id onwards."""
    cid = env.correlation_id or env.id
    _, at, t = cid.rpartition("@")
    return int(t) if at and t.isdigit() else None


def _rng_jsonable(state: Any) -> Any:
    if isinstance(state, tuple):
        return [_rng_jsonable(s) for s in state]
    return state


def _rng_state(state: Any) -> Any:
    if isinstance(state, list):
        return tuple(_rng_state(s) for s in state)
    return state


__all__ = ["AgentHost", "HostContext", "HostSpec", "JournalProxy", "Subscription", "VenueProxy", "build_agent"]
