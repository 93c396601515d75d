"""``RayLockstepRuntime``: the local runtime's queue and clock, with our agents in Ray actors.

A drop-in for :class:`cluster.runtime_local.LocalRuntime` (same constructor and methods). The
(time, sequence) queue, the virtual clock, the venues and the journal stay in this process; each of
*our* six roles runs in its own :class:`~cluster.ray_runtime.host.AgentHost` actor, driven through
the step protocol (:mod:`cluster.ray_runtime.lockstep_protocol`). Crowd agents (any other role, or
``add_agent(..., local=True)``) stay in-process for speed. Because every effect of a remote handler
is applied here at the point of the sequence where the local runtime would apply it, a Ray run
produces the same event log, orders and fills as a local one.

Supervision in lockstep: when a host dies (``ActorDiedError``) or cannot be reached
(``ActorUnavailableError`` — it is killed first, so there is never a second live copy), the
supervisor of its branch decides by OTP policy (:mod:`supervisors.policy`) which hosts to replace.
A replacement is restored from the agent's last checkpoint and replays the steps logged since,
answered from the log, so nothing reaches the venue twice and no state is lost; the trader then
reconciles with the venue before the interrupted step resumes, and the resumed step's calls are
answered from the log only where they are the very calls made before (the reconciled trader may
take another path; see lockstep_protocol). A handler that raises in its host
is a crash too (``HANDLER_ERROR``): the host is replaced the same way, replaying the good steps but
never the failing one, so its half-updated state is gone. The tree, the policy and the intensity
are the local runtime's (:meth:`LocalRuntime._child_exited`); this runtime supplies how a hosted
child is killed, stopped and restarted. Crashes, restarts and escalations go to the journal's
``agent_events``.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Awaitable
from typing import Any, Literal

import ray
from ray import cloudpickle
from ray.exceptions import RayActorError

from agents.base import Agent, AgentConfig, Subscription, Timer
from cluster.ray_runtime.host import AgentHost, HostSpec
from cluster.ray_runtime.lockstep_protocol import (
    CancelTimer,
    Metric,
    PortCall,
    PortResult,
    Publish,
    SetTimer,
    Step,
    StepKind,
    StepRecord,
    Subscribe,
)
from cluster.runtime_local import (
    BRANCH_STRATEGY,
    HANDLER_ERROR,
    LatencyHook,
    LocalRuntime,
    MetricsSink,
    SupervisionFailed,
    _Slot,
)

__all__ = ["BRANCH_STRATEGY", "NonDeterministicReplay", "RayLockstepRuntime", "RemoteHandlerError", "SupervisionFailed"]
from protocols import KIND_TO_TYPE, AgentEvent, JournalPort, VenuePort
from supervisors.tree import ROLE_BRANCH

log = logging.getLogger("polyagents.ray.lockstep")

OUR_ROLES = frozenset(ROLE_BRANCH)
_REPLAY_ALL = 1 << 62


class RemoteHandlerError(Exception):
    """An agent's handler raised inside its host; the message is the original error."""


class NonDeterministicReplay(Exception):
    """A replayed step asked the outside world for more than it did the first time."""


class _ProbeContext:
    """Enough of a context to ask an unbound agent for its initial subscriptions."""

    def __init__(self, agent_id: str, venue: VenuePort | None, rt: LocalRuntime) -> None:
        self.agent_id = agent_id
        self.venue = venue
        self.journal = rt.journal
        self.log = log
        self._rt = rt

    def now_ns(self) -> int:
        return self._rt.now_ns()


class RemoteAgent(Agent[AgentConfig]):
    """Stands in the local runtime's slot for an agent that runs in an AgentHost."""

    def __init__(self, rt: RayLockstepRuntime, agent: Agent[Any], venue: VenuePort | None, path: str) -> None:
        super().__init__(agent.agent_id)
        self.role = agent.role  # type: ignore[misc]
        self.rt = rt
        self.path = path
        self.venue = venue
        self.agent_cls = type(agent)
        ctx, agent._ctx = agent._ctx, None
        try:
            self.agent_bytes = cloudpickle.dumps(agent)
            # Subscriptions may depend on the context (the trader keys fills by its account):
            # ask with a context that knows the venue, as the host's will.
            agent._ctx = _ProbeContext(agent.agent_id, venue, rt)  # type: ignore[assignment]
            self._subs = tuple(agent.initial_subscriptions())
        finally:
            agent._ctx = ctx
        self.host: Any = None
        self.ready: Any = None
        self.generation = 0
        self.replay: list[StepRecord] = []
        self.checkpoint: dict[str, Any] | None = None
        self.steps_since_ckpt = 0
        self.last_ckpt_ns = rt.now_ns()
        self.kill_requests: list[int | None] = []
        self.messages = 0
        self.last_message_ns: int | None = None
        self.armed = False
        self.restarts = 0
        self.needs_start = False
        """Its ``on_start`` raised: a restart runs it again (a start is retried until the intensity)."""
        self.restarting = False
        self.start_error: str | None = None
        self.spawn(restarted=False)

    def initial_subscriptions(self) -> tuple[Subscription, ...]:
        return self._subs

    def __repr__(self) -> str:
        return f"RemoteAgent(id={self.agent_id!r}, role={self.role!r}, gen={self.generation})"

    # -- host lifecycle --------------------------------------------------------------------------
    def spawn(self, *, restarted: bool) -> None:
        rt = self.rt
        self.generation += 1
        spec = HostSpec(
            agent_id=self.agent_id,
            role=self.role,
            path=self.path,
            namespace=rt.namespace,
            agent_bytes=self.agent_bytes,
            seed=rt.seed,
            metrics=rt.host_metrics,
            journal_name="coordinator" if rt.journal is not None else None,
            venue_account=self.venue.account if self.venue is not None else None,
            restarted=restarted,
        )
        opts: dict[str, Any] = {
            "name": f"{rt.run_id}/{self.path}#{self.generation}",
            "namespace": rt.namespace,
            "max_restarts": 0,
            "num_cpus": 0,
        }
        opts.update(rt.host_options.get(self.agent_id, {}))
        self.host = AgentHost.options(**opts).remote(spec, "lockstep")  # type: ignore[attr-defined]
        self.ready = self.host.setup.remote(self.checkpoint)

    async def await_ready(self) -> None:
        if self.ready is None:
            return
        ref, self.ready = self.ready, None
        res = await ref
        if not res.get("ok"):
            raise RemoteHandlerError(f"{self.agent_id}: setup failed: {res.get('error')}")

    def kill(self) -> None:
        if self.host is not None:
            with contextlib.suppress(Exception):
                ray.kill(self.host, no_restart=True)

    async def respawn(self) -> None:
        """New host, restored from the checkpoint, with every completed step since replayed."""
        self.kill()
        self.armed = False
        self.spawn(restarted=True)
        self.restarts += 1
        await self.await_ready()
        for rec in self.replay:
            if not rec.done:
                continue
            step: Step = await self.host.step.remote(
                rec.kind, rec.arg, rec.now_ns, rec.pub_seq, rec.current, rec.recorded(), _REPLAY_ALL, False
            )
            if step.call is not None:
                raise NonDeterministicReplay(
                    f"{self.agent_id}: replayed {rec.kind} made a call it never made: {step.call.method}"
                )

    # -- handlers (called by the local runtime's loop) ------------------------------------------
    async def on_start(self) -> None:
        await self.run_step("start", None)

    async def on_message(self, envelope: Any) -> None:
        await self.run_step("message", envelope)

    async def on_timer(self, timer: Timer) -> None:
        await self.run_step("timer", timer)

    async def on_stop(self) -> None:
        await self.run_step("stop", None)

    async def run_step(self, kind: StepKind, arg: Any) -> None:
        rt = self.rt
        await self.await_ready()
        await self._apply_kill_requests()
        ctx = self.ctx
        rec = StepRecord(kind, arg, rt._now, ctx._seq, rt._current)  # type: ignore[attr-defined]
        if kind == "message":
            self.messages += 1
            self.last_message_ns = rt._now
        self.replay.append(rec)
        want_ckpt: bool | str = False
        if kind in ("message", "timer", "start", "call") and self._checkpoint_due():
            want_ckpt = "image" if rt.checkpoint_mode == "image" else True
        result: PortResult | None = None
        while True:
            try:
                if result is None:
                    # a first attempt, or the step its host died in, resumed on the replacement
                    # (after a trader's reconcile): its calls and ops so far are matched, not replayed
                    # by position (see lockstep_protocol)
                    step: Step = await self.host.step.remote(
                        rec.kind,
                        rec.arg,
                        rec.now_ns,
                        rec.pub_seq,
                        rec.current,
                        rec.recorded(),
                        0,
                        want_ckpt,
                        list(rec.ops),
                    )
                else:
                    step = await self.host.resume.remote(result)
            except RayActorError as exc:
                await rt._host_failed(self, exc)
                result = None
                continue
            self._apply(step, rec)
            if step.call is None:
                break
            result = await self._perform(step.call)
            rec.calls.append(step.call)
            rec.results.append(result)
        rec.done = True
        if step.checkpoint is not None:
            await self._store_checkpoint(step.checkpoint)
        else:
            self.steps_since_ckpt += 1
        if step.error is not None:
            await self._handler_failed(rec, step.error)

    async def _handler_failed(self, rec: StepRecord, error: str) -> None:
        """The handler raised in its host: a crash. The host's agent is half-updated, so it is
        replaced from the last good checkpoint (never one taken after the failing step: a step that
        raised takes none) and the steps since are replayed without the failing one; a crowd agent
        with ``continue_on_error`` keeps its state instead, counted."""
        rt = self.rt
        rt.stats.handler_errors += 1
        rt.crashes.append((self.agent_id, RemoteHandlerError(error)))
        log.warning("agent %s handler failed in its host: %s", self.agent_id, error)
        slot = rt._slots.get(self.agent_id)
        if slot is None or slot.continue_on_error or slot.removed or rt._stopped or rec.kind == "stop":
            if slot is not None:
                slot.errors_continued += 1
            return
        if rec in self.replay:
            self.replay.remove(rec)
        if rec.kind == "start":
            self.needs_start = True
            if self.restarting:  # the restart's own start failed: its supervisor counts it
                self.start_error = f"{HANDLER_ERROR}: {error}"
                return
        await rt._child_exited(self.path, f"{HANDLER_ERROR}: {error}")

    async def _apply_kill_requests(self) -> None:
        """At most one requested kill per step, so every request kills a host of its own."""
        if not self.kill_requests or self.armed:
            return
        after = self.kill_requests.pop(0)
        if after is None:
            with contextlib.suppress(RayActorError):
                await self.host.die.remote()
        else:
            # the host keeps the arm across steps until a step makes that many port calls
            self.armed = True
            with contextlib.suppress(RayActorError):
                await self.host.arm_crash.remote(after)

    def _checkpoint_due(self) -> bool:
        rt = self.rt
        return self.steps_since_ckpt + 1 >= rt.checkpoint_every_n or (
            rt._now - self.last_ckpt_ns >= rt.checkpoint_every_ns
        )

    async def _store_checkpoint(self, ckpt: dict[str, Any]) -> None:
        self.checkpoint = ckpt
        self.replay = []
        self.steps_since_ckpt = 0
        self.last_ckpt_ns = self.rt._now
        self.rt.checkpoints_taken += 1
        if self.rt.journal is not None and self.rt.journal_checkpoints:
            state = {k: v for k, v in ckpt.items() if k != "image"}
            await self.rt.journal.checkpoint(self.agent_id, self.rt._now, state)

    def _apply(self, step: Step, rec: StepRecord) -> None:
        ctx = self.ctx
        for op in step.ops:
            if isinstance(op, Publish):
                ctx.publish(op.payload, correlation_id=op.correlation_id, causation_id=op.causation_id)
            elif isinstance(op, SetTimer):
                ctx.set_timer(op.name, op.delay_ns, op.data, periodic=op.periodic)
            elif isinstance(op, CancelTimer):
                ctx.cancel_timer(op.name)
            elif isinstance(op, Subscribe):
                typ = KIND_TO_TYPE[op.type_kind]
                if op.on:
                    ctx.subscribe(typ, op.key)
                else:
                    ctx.unsubscribe(typ, op.key)
            elif isinstance(op, Metric):
                ctx.metric(op.name, op.value, op.kind, **op.tags)
            rec.ops.append(op)

    async def _perform(self, call: PortCall) -> PortResult:
        if call.target == "venue":
            port: Any = self.venue
        else:
            port = self.rt.journal
        try:
            if port is None:
                raise RuntimeError(f"{self.agent_id} has no {call.target}")
            value = getattr(port, call.method)(*call.args, **call.kwargs)
            if isinstance(value, Awaitable):
                value = await value
            return PortResult(True, value)
        except Exception as exc:
            try:
                cloudpickle.dumps(exc)
                err: BaseException = exc
            except Exception:
                err = RuntimeError(f"{type(exc).__name__}: {exc}")
            return PortResult(False, error=err)

    def status(self) -> dict[str, Any]:
        try:
            st: dict[str, Any] = ray.get(self.host.state.remote(), timeout=10)
            return dict(st.get("status", {}))
        except Exception as exc:
            return {"role": self.role, "error": f"{type(exc).__name__}: {exc}"}


class RayLockstepRuntime(LocalRuntime):
    """See the module docstring. Extra arguments beyond LocalRuntime's:

    - ``namespace``: Ray namespace of the hosts; ``host_options``: per agent id Ray options
      (e.g. ``{"resources": {"node_b": 0.01}}``);
    - ``checkpoint_every_n`` / ``checkpoint_every_ns``: checkpoint cadence (virtual time);
    - ``checkpoint_mode``: ``image`` (default) checkpoints the whole agent object, so a replacement
      is restored exactly whatever its ``snapshot()`` covers; ``snapshot`` uses the agent's own
      ``snapshot()``/``restore()`` (as live mode does) — a replay that then diverges from the log
      raises ``NonDeterministicReplay`` naming the agent, which is how an incomplete snapshot shows;
    - ``journal_checkpoints``: also write each checkpoint's ``snapshot()`` to the journal (off by
      default, so a lockstep journal stays identical to a local one);
    - ``intensity`` / ``period_s``: every branch supervisor's restart intensity (virtual seconds);
    - ``remote_roles``: roles that run in hosts (default: the six roles of the society).
    """

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
        namespace: str | None = None,
        host_options: dict[str, dict[str, Any]] | None = None,
        checkpoint_every_n: int = 50,
        checkpoint_every_ns: int = 60 * 1_000_000_000,
        journal_checkpoints: bool = False,
        checkpoint_mode: Literal["image", "snapshot"] = "image",
        intensity: int = 10,
        period_s: float = 60.0,
        remote_roles: frozenset[str] = OUR_ROLES,
        reconcile_on_restart: bool = True,
        host_metrics: str = "ray",
    ) -> None:
        if clock != "virtual":
            raise ValueError("RayLockstepRuntime runs on the virtual clock; live mode is cluster.ray_runtime.control")
        super().__init__(
            seed=seed,
            clock=clock,
            start_ns=start_ns,
            journal=journal,
            latency=latency,
            record_events=record_events,
            strict=strict,
            metrics=metrics,
            intensity=intensity,
            period_s=period_s,
            checkpoint_every_n=checkpoint_every_n,
            checkpoint_every_ns=checkpoint_every_ns,
        )
        if not ray.is_initialized():
            ray.init(namespace=namespace or "polyagents", include_dashboard=False, log_to_driver=False)
        if checkpoint_every_n < 1:
            raise ValueError(f"checkpoint_every_n must be at least 1, got {checkpoint_every_n}")
        self.namespace = namespace or ray.get_runtime_context().namespace
        self.run_id = f"lockstep-{uuid.uuid4().hex[:8]}"
        self.host_options = host_options or {}
        self.checkpoint_every_n = checkpoint_every_n
        self.checkpoint_every_ns = checkpoint_every_ns
        self.journal_checkpoints = journal_checkpoints
        if checkpoint_mode not in ("image", "snapshot"):
            raise ValueError(f"checkpoint_mode must be 'image' or 'snapshot', got {checkpoint_mode!r}")
        self.checkpoint_mode = checkpoint_mode
        self.remote_roles = remote_roles
        self.reconcile_on_restart = reconcile_on_restart
        self.host_metrics = host_metrics
        self.remotes: dict[str, RemoteAgent] = {}
        self.host_failures: list[tuple[str, str]] = []
        self.lifecycle: list[AgentEvent] = []
        self.checkpoints_taken = 0
        self.final_agents: dict[str, Agent[Any]] = {}

    # -- wiring ------------------------------------------------------------------------------------
    def add_agent(
        self,
        agent: Agent[Any],
        *,
        venue: VenuePort | None = None,
        local: bool | None = None,
        continue_on_error: bool = False,
    ) -> None:
        """Host ``agent`` in an AgentHost actor (our roles) or in-process (crowd, ``local=True``)."""
        remote = (agent.role in self.remote_roles) if local is None else not local
        if not remote:
            super().add_agent(agent, venue=venue, continue_on_error=continue_on_error)
            return
        if agent.agent_id in self._slots:
            raise ValueError(f"an agent with id {agent.agent_id!r} is already running")
        branch = ROLE_BRANCH.get(agent.role, "other")
        proxy = RemoteAgent(self, agent, venue, f"root/{branch}/{agent.agent_id}")
        self.remotes[agent.agent_id] = proxy
        super().add_agent(proxy, venue=venue, continue_on_error=continue_on_error)

    async def remove_agent(self, agent_id: str) -> None:
        """Stop the agent (its ``on_stop`` runs in its host), then end its host."""
        await super().remove_agent(agent_id)
        remote = self.remotes.pop(agent_id, None)
        if remote is not None:
            remote.kill()

    @property
    def agents(self) -> dict[str, Agent[Any]]:
        out = super().agents
        out.update(self.final_agents)
        return out

    def kill_agent(self, agent_id: str, *, after_calls: int | None = None) -> None:
        """Chaos: make the agent's host exit (``os._exit``) at its next step — at once, or, with
        ``after_calls``, right after the coordinator answered that many of the step's port calls."""
        self.remotes[agent_id].kill_requests.append(after_calls)

    def agent_table(self) -> list[dict[str, Any]]:
        """One row per hosted agent, from the coordinator's own books (no remote calls), for a
        live display while :meth:`run` is awaited in another task."""
        return [
            {
                "id": r.agent_id,
                "role": r.role,
                "path": r.path,
                "state": "removed" if self._slots[a].removed else ("restarting" if r.ready is not None else "running"),
                "restarts": r.restarts,
                "messages": r.messages,
                "last_message_ns": r.last_message_ns,
                "replay_log": len(r.replay),
            }
            for a, r in self.remotes.items()
        ]

    def pending_kills(self) -> dict[str, int]:
        """Requested kills that have not landed yet (the agent had no step since, or an armed
        crash waits for a step with enough port calls), by agent."""
        return {a: len(r.kill_requests) + int(r.armed) for a, r in self.remotes.items() if r.kill_requests or r.armed}

    # -- supervision (the policy and the tree are the local runtime's; hosts are the children) -----
    async def _host_failed(self, remote: RemoteAgent, exc: BaseException) -> None:
        self.host_failures.append((remote.agent_id, type(exc).__name__))
        remote.kill()  # ActorUnavailableError: it may still be alive; never leave two copies
        await self._child_exited(remote.path, f"{type(exc).__name__}: {exc}")

    def _handled(self, slot: _Slot) -> None:
        if slot.agent_id not in self.remotes:  # a host checkpoints its own agent
            super()._handled(slot)

    async def _kill_child(self, agent_id: str) -> None:
        remote = self.remotes.get(agent_id)
        if remote is None:
            await super()._kill_child(agent_id)
        else:
            remote.kill()

    async def _stop_child(self, agent_id: str) -> None:
        remote = self.remotes.get(agent_id)
        if remote is None:
            await super()._stop_child(agent_id)
        else:
            remote.kill()  # replaced from its checkpoint and replayed: it comes back exactly as it was

    async def _restart_child(self, agent_id: str, reason: str) -> str | None:
        r = self.remotes.get(agent_id)
        if r is None:
            return await super()._restart_child(agent_id, reason)
        self._slots[agent_id].restarts += 1
        try:
            await r.respawn()
        except RemoteHandlerError as exc:
            return str(exc)
        await self._event(r.agent_id, r.role, "restart", f"{reason}; replayed {sum(x.done for x in r.replay)} steps")
        if r.needs_start:  # it never started: start it again, a failure being this restart's
            r.restarting, r.start_error = True, None
            try:
                await r.run_step("start", None)
            finally:
                r.restarting = False
            if r.start_error is not None:
                return r.start_error
            r.needs_start = False
        if self.reconcile_on_restart and callable(getattr(r.agent_cls, "reconcile", None)):
            await self._reconcile(r)
        return None

    async def _reconcile(self, r: RemoteAgent) -> None:
        """Run the restarted agent's ``reconcile()`` as a step of its own, before anything else."""
        inflight = r.replay.pop() if r.replay and not r.replay[-1].done else None
        await r.run_step("call", "reconcile")
        if inflight is not None:
            r.replay.append(inflight)

    # -- shutdown ----------------------------------------------------------------------------------
    async def fetch_agents(self) -> dict[str, Agent[Any]]:
        """Copies of the hosted agents, state and all (for reports after a run)."""
        out: dict[str, Agent[Any]] = {}
        for aid, r in self.remotes.items():
            blob = await r.host.dump_agent.remote()
            out[aid] = cloudpickle.loads(blob)
        return out

    async def stop(self) -> None:
        if self._stopped:
            return
        # kills still waiting for a step (see pending_kills) land now, before the agents stop
        for r in self.remotes.values():
            for _ in range(len(r.kill_requests) + int(r.armed)):
                with contextlib.suppress(RayActorError):
                    await r.host.die.remote()
                r.kill_requests, r.armed = [], False
                await self._host_failed(r, RayActorError(f"killed at shutdown ({r.agent_id})"))
        await super().stop()
        try:
            self.final_agents = await self.fetch_agents()
        except Exception:
            log.exception("could not fetch the hosted agents' final state")
        for r in self.remotes.values():
            r.kill()
