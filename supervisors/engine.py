"""One supervisor state machine, driven by every runtime: level-triggered, deadline-scheduled.

Why level-triggered (as Ray Serve's controller): each :meth:`SupervisorEngine.tick` compares the
*desired* children (the supervisor's spec — the only copy of the truth, runtime adds and removes
included, persisted through a :class:`SpecStore` under the supervisor's path) with what a
:class:`Driver` *observes*, and acts. A lost event (a death nobody reported) is therefore found on
the next tick, and a restarted supervisor simply observes: children still running are adopted,
missing ones are started.

Why deadlines: a restart's backoff is a due time stored with the child, never a sleep, so one
child's backoff never holds up the loop, a lock, or another child. Why one loop that catches: a
driver call that raises for one child (a start that fails) is that child's failed start, counted
against the intensity like a crash, retried after backoff, and escalated past the intensity; it
never escapes :meth:`tick`.

The decisions themselves (which children a strategy restarts, the intensity window, backoff) stay
in :mod:`supervisors.policy`, the pure part; this module adds time, state and the driver.
Nested supervisors are run in-process by :class:`EngineTree` (local and lockstep runtimes); the
live Ray runtime runs one engine per supervisor actor.
"""

from __future__ import annotations

import inspect
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from supervisors.policy import Action, SupervisorState
from supervisors.spec import ChildSpec, RestartType, SupervisorSpec

Spec = ChildSpec | SupervisorSpec


class Observed(StrEnum):
    """What a driver sees of one child."""

    RUNNING = "RUNNING"
    ABSENT = "ABSENT"
    """Not there (never started, stopped by us, or vanished without a word)."""
    EXITED_ABNORMAL = "EXITED_ABNORMAL"
    """Crashed: died, a handler raised, hung past its pings, or its own supervisor escalated."""
    EXITED_NORMAL = "EXITED_NORMAL"
    START_FAILED = "START_FAILED"


@dataclass(frozen=True, slots=True)
class Observation:
    status: Observed
    reason: str = ""
    epoch: int | None = None
    """The incarnation the driver sees (adoption keeps it; the next start goes above it)."""


class Driver(Protocol):
    """What an engine needs from its runtime. Any method may be sync or async.

    ``start_child`` raising means the start failed (counted as a crash). ``kill_child`` must leave
    no live incarnation of the child behind (it fences a hung one before its replacement starts).
    """

    def observe(self, path: str, spec: Spec) -> Observation | Awaitable[Observation]: ...

    def start_child(self, path: str, spec: Spec, epoch: int) -> Any: ...

    def stop_child(self, path: str, spec: Spec | None) -> Any: ...

    def kill_child(self, path: str, spec: Spec | None) -> Any: ...

    def escalate(self, path: str, reason: str) -> Any: ...


class SpecStore(Protocol):
    """Where each supervisor's desired spec lives (Ray internal KV live, a dict in process)."""

    def load(self, path: str) -> SupervisorSpec | None: ...

    def save(self, path: str, spec: SupervisorSpec) -> None: ...


class MemoryStore:
    """A :class:`SpecStore` in a dict (local runtime, lockstep, tests)."""

    def __init__(self) -> None:
        self.specs: dict[str, str] = {}

    def load(self, path: str) -> SupervisorSpec | None:
        raw = self.specs.get(path)
        return None if raw is None else SupervisorSpec.model_validate_json(raw)

    def save(self, path: str, spec: SupervisorSpec) -> None:
        self.specs[path] = spec.model_dump_json()


class Phase(StrEnum):
    PENDING = "PENDING"
    """To be started at ``due``."""
    RUNNING = "RUNNING"
    DONE = "DONE"
    """Exited and not to be restarted (a transient child's clean exit)."""


@dataclass
class ChildRecord:
    """The engine's book on one child; ``restarts``/``last_crash``/``epoch`` are what status shows."""

    id: str
    phase: Phase = Phase.PENDING
    due: float = 0.0
    epoch: int = 0
    restarts: int = 0
    last_crash: str | None = None
    adopted: bool = False

    def view(self) -> dict[str, Any]:
        return {
            "restarts": self.restarts,
            "last_crash": self.last_crash,
            "epoch": self.epoch,
            "phase": self.phase.value,
            "adopted": self.adopted,
        }


async def _maybe(res: Any) -> Any:
    return await res if inspect.isawaitable(res) else res


class SupervisorEngine:
    """One supervisor. Construct with its path, spec, driver and store; call :meth:`tick` often."""

    def __init__(
        self,
        path: str,
        spec: SupervisorSpec,
        driver: Driver,
        store: SpecStore | None = None,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self.path = path
        self.driver = driver
        self.store = store or MemoryStore()
        persisted = self.store.load(path)
        self.spec = persisted or spec
        self.store.save(path, self.spec)
        self.policy = SupervisorState(self.spec, rng or random.Random(path))
        self.records: dict[str, ChildRecord] = {}
        self.escalated: str | None = None
        self.stopped = False
        self.events: list[tuple[str, str, str]] = []
        """(child id, event, detail): start, adopt, crash, restart, stop, remove, escalate."""

    # ------------------------------------------------------------------ desired spec
    def child_path(self, child_id: str) -> str:
        return f"{self.path}/{child_id}"

    def add_child(self, child: Spec) -> None:
        """A runtime add: persisted at once, started on the next tick."""
        if any(c.id == child.id for c in self.spec.children):
            raise ValueError(f"supervisor {self.path!r} already has a child {child.id!r}")
        self.spec = self.spec.with_child(child)
        self.policy.add(child.id, getattr(child, "restart", RestartType.PERMANENT))
        self.store.save(self.path, self.spec)
        self.events.append((child.id, "add", self.child_path(child.id)))

    def remove_child(self, child_id: str) -> None:
        """A runtime remove: persisted at once, stopped on the next tick, never restarted."""
        self.spec = self.spec.without_child(child_id)
        self.policy.remove(child_id)
        self.store.save(self.path, self.spec)

    def child_view(self, child_id: str) -> dict[str, Any]:
        rec = self.records.get(child_id)
        return rec.view() if rec is not None else ChildRecord(child_id).view()

    # ------------------------------------------------------------------ the loop
    async def tick(self, now: float) -> None:
        """Compare desired with observed and act. Never raises for a child's failure."""
        if self.escalated is not None or self.stopped:
            return
        desired = {c.id: c for c in self.spec.children}
        for cid in [c for c in self.records if c not in desired]:
            rec = self.records.pop(cid)
            if rec.phase is Phase.RUNNING:
                await self._call(self.driver.stop_child, self.child_path(cid), None)
            self.events.append((cid, "remove", self.child_path(cid)))
        for c in self.spec.children:
            found = self.records.get(c.id)
            path = self.child_path(c.id)
            if found is None:
                rec = self.records[c.id] = ChildRecord(c.id, due=now)
                obs = await self._observe(path, c)
                if obs.status is Observed.RUNNING:  # survived its old supervisor: adopt it
                    rec.phase, rec.adopted = Phase.RUNNING, True
                    rec.epoch = obs.epoch or 0
                    self.events.append((c.id, "adopt", path))
                continue
            if found.phase is not Phase.RUNNING:
                continue
            obs = await self._observe(path, c)
            if obs.status is Observed.RUNNING:
                continue
            abnormal = obs.status is not Observed.EXITED_NORMAL
            await self._exited(c, abnormal, obs.reason or obs.status.value, now)
            if self.escalated is not None:
                return
        for c in list(self.spec.children):
            pending = self.records.get(c.id)
            if pending is None or pending.phase is not Phase.PENDING or pending.due > now:
                continue
            await self._start(c, pending, now)
            if self.escalated is not None:
                return

    def next_due(self) -> float | None:
        """The earliest pending start (a driver may sleep until then, outside any lock)."""
        dues = [r.due for r in self.records.values() if r.phase is Phase.PENDING]
        return min(dues) if dues else None

    async def stop_all(self) -> None:
        """Stop every child, in reverse start order (shutdown, or our parent restarting us)."""
        self.stopped = True
        for c in reversed(self.spec.children):
            rec = self.records.get(c.id)
            if rec is not None and rec.phase is Phase.RUNNING:
                await self._call(self.driver.stop_child, self.child_path(c.id), c)
                rec.phase = Phase.DONE

    # ------------------------------------------------------------------ internals
    async def _call(self, fn: Callable[..., Any], path: str, spec: Spec | None) -> bool:
        try:
            await _maybe(fn(path, spec))
            return True
        except Exception as exc:
            self.events.append((path.rsplit("/", 1)[-1], "driver_error", f"{type(exc).__name__}: {exc}"))
            return False

    async def _observe(self, path: str, spec: Spec) -> Observation:
        try:
            obs: Observation = await _maybe(self.driver.observe(path, spec))
            return obs
        except Exception as exc:
            return Observation(Observed.EXITED_ABNORMAL, f"OBSERVE_FAILED: {type(exc).__name__}: {exc}")

    async def _start(self, c: Spec, rec: ChildRecord, now: float) -> None:
        path = self.child_path(c.id)
        rec.epoch += 1
        try:
            await _maybe(self.driver.start_child(path, c, rec.epoch))
        except Exception as exc:
            rec.phase = Phase.RUNNING  # so the exit below is its own
            await self._call(self.driver.kill_child, path, c)  # nothing half-started stays alive
            await self._exited(c, True, f"START_FAILED: {type(exc).__name__}: {exc}", now)
            return
        rec.phase = Phase.RUNNING
        self.events.append((c.id, "restart" if rec.restarts else "start", f"epoch {rec.epoch}"))

    async def _exited(self, c: Spec, abnormal: bool, reason: str, now: float) -> None:
        rec = self.records[c.id]
        path = self.child_path(c.id)
        # fence first: a hung or half-alive incarnation is gone before any replacement exists
        await self._call(self.driver.kill_child, path, c)
        rec.phase = Phase.DONE
        if abnormal:
            rec.last_crash = reason[:300]
        self.events.append((c.id, "crash" if abnormal else "exit", reason[:300]))
        decision = self.policy.on_exit(c.id, abnormal=abnormal, now_s=now)
        if decision.action is Action.ESCALATE:
            await self._escalate(decision.reason)
            return
        for cid in decision.forget:
            self.spec = self.spec.without_child(cid)
            self.records.pop(cid, None)
            self.store.save(self.path, self.spec)
            if cid != c.id:
                await self._call(self.driver.stop_child, self.child_path(cid), None)
            self.events.append((cid, "remove", decision.reason))
        if decision.action is Action.IGNORE:
            return
        desired = {x.id: x for x in self.spec.children}
        for cid in decision.stop:
            srec = self.records.get(cid)
            if srec is not None and srec.phase is Phase.RUNNING and cid in desired:
                await self._call(self.driver.stop_child, self.child_path(cid), desired[cid])
        due = now + decision.delay_s
        for cid in decision.start:
            srec = self.records.get(cid)
            if srec is None:
                continue
            srec.phase, srec.due = Phase.PENDING, due
            srec.restarts += 1

    async def _escalate(self, reason: str) -> None:
        self.escalated = reason
        for x in reversed(self.spec.children):
            rec = self.records.get(x.id)
            if rec is not None and rec.phase is Phase.RUNNING:
                await self._call(self.driver.stop_child, self.child_path(x.id), x)
            if rec is not None:
                rec.phase = Phase.DONE
        self.events.append((self.spec.id, "escalate", reason))
        try:
            await _maybe(self.driver.escalate(self.path, reason))
        except Exception as exc:
            self.events.append((self.spec.id, "driver_error", f"{type(exc).__name__}: {exc}"))


class EngineTree:
    """A whole tree run in one process: one engine per supervisor, leaves by a leaf driver.

    A supervisor child is observed RUNNING while its engine has not escalated, and is (re)started
    by building a fresh engine for its path — whose spec comes from the store first, so children
    added at runtime come back with the restarted branch and removed ones stay removed.
    """

    def __init__(self, spec: SupervisorSpec, leaves: Driver, store: SpecStore | None = None, seed: int = 0) -> None:
        self.leaves = leaves
        self.store = store or MemoryStore()
        self.seed = seed
        self.engines: dict[str, SupervisorEngine] = {}
        self.failed: str | None = None
        self.root = self._make(spec.id, spec)

    def _make(self, path: str, spec: SupervisorSpec) -> SupervisorEngine:
        eng = SupervisorEngine(path, spec, _Level(self), self.store, rng=random.Random(f"{self.seed}:{path}"))
        self.engines[path] = eng
        return eng

    async def tick(self, now: float) -> None:
        """Tick every live engine, parents before children (a new branch ticks in the same pass)."""
        done: set[str] = set()
        while True:
            todo = [p for p in self.engines if p not in done]
            if not todo:
                return
            for p in todo:
                done.add(p)
                eng = self.engines.get(p)
                if eng is not None:
                    await eng.tick(now)

    def next_due(self) -> float | None:
        dues = [d for e in self.engines.values() if (d := e.next_due()) is not None]
        return min(dues) if dues else None

    def engine_of(self, child_path: str) -> SupervisorEngine:
        return self.engines[child_path.rsplit("/", 1)[0]]

    def child_view(self, child_path: str) -> dict[str, Any]:
        return self.engine_of(child_path).child_view(child_path.rsplit("/", 1)[1])

    async def stop(self) -> None:
        await self.root.stop_all()


class _Level:
    """The driver every engine of an :class:`EngineTree` gets: supervisors here, leaves below."""

    def __init__(self, tree: EngineTree) -> None:
        self.tree = tree

    async def observe(self, path: str, spec: Spec) -> Observation:
        if isinstance(spec, SupervisorSpec):
            eng = self.tree.engines.get(path)
            if eng is None or eng.stopped:
                return Observation(Observed.ABSENT)
            if eng.escalated is not None:
                return Observation(Observed.EXITED_ABNORMAL, f"ESCALATED: {eng.escalated}")
            return Observation(Observed.RUNNING)
        obs: Observation = await _maybe(self.tree.leaves.observe(path, spec))
        return obs

    async def start_child(self, path: str, spec: Spec, epoch: int) -> None:
        if isinstance(spec, SupervisorSpec):
            self.tree._make(path, spec)
            return
        await _maybe(self.tree.leaves.start_child(path, spec, epoch))

    async def _drop(self, path: str) -> None:
        for p in sorted((p for p in self.tree.engines if p == path or p.startswith(path + "/")), reverse=True):
            eng = self.tree.engines.pop(p)
            if p == path:
                await eng.stop_all()

    async def stop_child(self, path: str, spec: Spec | None) -> None:
        if isinstance(spec, SupervisorSpec) or path in self.tree.engines:
            await self._drop(path)
            return
        await _maybe(self.tree.leaves.stop_child(path, spec))

    async def kill_child(self, path: str, spec: Spec | None) -> None:
        if isinstance(spec, SupervisorSpec) or path in self.tree.engines:
            await self._drop(path)
            return
        await _maybe(self.tree.leaves.kill_child(path, spec))

    def escalate(self, path: str, reason: str) -> None:
        if path == self.tree.root.path:
            self.tree.failed = reason


__all__ = [
    "ChildRecord",
    "Driver",
    "EngineTree",
    "MemoryStore",
    "Observation",
    "Observed",
    "Phase",
    "SpecStore",
    "SupervisorEngine",
]
