"""``SupervisorActor``: the live supervision tree on Ray, carrying out :mod:`supervisors.policy`.

Each supervisor is an async actor named by its tree path (``root``, ``root/execution``) in the
run's namespace. It starts its children in order (looking each up by name first, so a child that
survived is adopted rather than doubled), pings them from a loop that never blocks on a slow
child (``ray.wait(..., timeout=0)``) and never lets an exception escape, and on a death asks the
policy what to do: restart by strategy with jittered backoff, or — past its intensity — stop its
children and escalate to its parent. ``ActorUnavailableError`` puts a child in quarantine: it is
re-pinged, and only if it stays unreachable is it killed and then replaced, so there is never a
second copy of an agent (never two traders sending orders).

The root is detached, keeps the route registry, serves the control API, and persists the desired
tree in Ray's internal KV store: agents added at runtime survive a restart of the root.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import dataclass, field
from typing import Any

import ray
from ray.exceptions import ActorDiedError, ActorUnavailableError, GetTimeoutError, RayActorError

from cluster.ray_runtime.host import AgentHost, HostSpec
from cluster.ray_runtime.routing import RouteTable
from protocols import AgentEvent, Command
from supervisors.policy import Action, SupervisorState
from supervisors.spec import ChildKind, ChildSpec, SupervisorSpec, import_object
from supervisors.tree import ROLE_BRANCH, agent_child, agent_config_problem, agents_in, supervisor_at
from supervisors.tree import add_agent as tree_add
from supervisors.tree import remove_agent as tree_remove

log = logging.getLogger("polyagents.supervisor")


@dataclass
class LiveSettings:
    """What every supervisor and host of one live tree shares."""

    namespace: str = "polyagents"
    journal_path: str = "runs/live/journal.duckdb"
    ping_interval_s: float = 0.5
    ping_timeout_s: float = 5.0
    max_missed_pings: int = 3
    quarantine_s: float = 10.0
    checkpoint_every_n: int = 100
    checkpoint_every_s: float = 5.0
    clock: tuple[int, int, float] = (0, 0, 1.0)
    world_name: str | None = "world"
    metrics: str = "ray"
    actor_options: dict[str, Any] = field(default_factory=dict)
    """Ray options for the tree's own actors (supervisors, services), e.g. pin them to the head."""
    alerts: Any = None
    """A :class:`cluster.alerts.AlertConfig` (URLs as ``SecretStr``): the journal service sends alerts."""


@dataclass
class _Child:
    spec: ChildSpec | SupervisorSpec
    path: str
    handle: Any = None
    ping_ref: Any = None
    ping_sent: float = 0.0
    missed: int = 0
    quarantined_since: float | None = None
    running: bool = False
    restarts: int = 0
    last_error: str = ""


def _kv_key(namespace: str) -> bytes:
    return f"polyagents:{namespace}:tree".encode()


def load_tree(namespace: str) -> SupervisorSpec | None:
    from ray.experimental.internal_kv import _internal_kv_get

    raw = _internal_kv_get(_kv_key(namespace))
    return None if raw is None else SupervisorSpec.model_validate_json(raw)


def _persisted_branch(namespace: str, path: str) -> SupervisorSpec | None:
    tree = load_tree(namespace)
    if tree is None:
        return None
    try:
        return supervisor_at(tree, path)
    except KeyError:
        return None


def save_tree(namespace: str, tree: SupervisorSpec) -> None:
    from ray.experimental.internal_kv import _internal_kv_put

    _internal_kv_put(_kv_key(namespace), tree.model_dump_json().encode(), overwrite=True)


@ray.remote(concurrency_groups={"control": 4})  # type: ignore[call-overload]
class SupervisorActor:
    async def __init__(  # type: ignore[misc]
        self, spec_json: str, path: str, parent: str | None, settings: LiveSettings
    ) -> None:
        # async (as Ray Serve's controller): a restarted root starts its loop here, in its own event
        # loop; a call to itself from __init__ would be refused while Ray still marks it restarting
        self.settings = settings
        self.path = path
        self.parent_name = parent
        self.is_root = parent is None
        if self.is_root:
            persisted = load_tree(settings.namespace)
            self.spec = persisted or SupervisorSpec.model_validate_json(spec_json)
            save_tree(settings.namespace, self.spec)
        else:
            # the persisted tree is the one copy of the truth, runtime adds and removes included:
            # a branch restarted by its parent (or by Ray) comes back with today's children
            self.spec = _persisted_branch(settings.namespace, path) or SupervisorSpec.model_validate_json(spec_json)
        self.state = SupervisorState(self.spec, random.Random(path))
        self.children: dict[str, _Child] = {}
        self.status = "created"
        self._loop: asyncio.Task[Any] | None = None
        self._busy = asyncio.Lock()
        self.reconstructed = ray.get_runtime_context().was_current_actor_reconstructed
        # root only: route registry
        self.routes: dict[str, tuple[str, list[tuple[str, str | None]]]] = {}
        self.route_version = 0
        self.events: list[dict[str, Any]] = []
        self._restarts_due: set[asyncio.TimerHandle] = set()
        self._restarting: set[asyncio.Future[None]] = set()
        if self.is_root and self.reconstructed:
            # a root Ray restarted resumes supervising at once, not at the first call it receives:
            # its children kept running (they are detached) and are adopted by name
            self._resume = asyncio.get_running_loop().create_task(self.ensure_started())

    def __repr__(self) -> str:
        return f"Supervisor(path={self.path}, strategy={self.spec.strategy.value})"

    # ------------------------------------------------------------------ lifecycle
    async def ensure_started(self) -> None:
        """A reconstructed root rebuilds its persisted tree on the first call it receives."""
        if self.status == "created":
            await self.start()

    async def start(self) -> dict[str, Any]:
        async with self._busy:
            if self.status == "running":
                return {"ok": True}
            self.status = "starting"
            for c in self.spec.children:
                child = _Child(c, f"{self.path}/{c.id}")
                self.children[c.id] = child
                if not await self._start_child(child, restarted=self.reconstructed):
                    self._failed_start(child)
            self.status = "running"
            if self._loop is None:
                self._loop = asyncio.ensure_future(self._health_loop())
            return {"ok": True}

    async def _journal(self, agent_id: str, role: str, event: str, detail: str = "") -> None:
        ev = {"agent": agent_id, "role": role, "event": event, "detail": detail, "time": time.time()}
        self.events.append(ev)
        try:
            j = ray.get_actor("root/services/journal", namespace=self.settings.namespace)
            start, wall0, speed = self.settings.clock
            now = start + int((time.time_ns() - wall0) * speed) if wall0 else time.time_ns()
            await j.record.remote(
                AgentEvent(time_ns=now, agent_id=agent_id, role=role, event=event, detail=detail[:500]),  # type: ignore[arg-type]
                agent=agent_id,
            )
        except Exception:
            log.info("agent event %s/%s not journalled (journal unavailable)", agent_id, event)

    def _host_spec(self, c: ChildSpec, path: str, restarted: bool) -> HostSpec:
        s = self.settings
        role = c.config.get("_role") or next((r for r, p in ROLE_CLASSES_INV.items() if p == c.cls), c.id)
        cfg = {k: v for k, v in c.config.items() if not k.startswith("_")}
        start, wall0, speed = s.clock
        return HostSpec(
            agent_id=c.id,
            role=role,
            path=path,
            namespace=s.namespace,
            cls=c.cls,
            config=cfg,
            metrics=s.metrics,
            journal_name="root/services/journal",
            venue_name=s.world_name,
            venue_account=c.config.get("_account"),
            registry_name="root",
            checkpoint_every_n=s.checkpoint_every_n,
            checkpoint_every_s=s.checkpoint_every_s,
            clock_start_ns=start,
            clock_wall0_ns=wall0,
            clock_speed=speed,
            restarted=restarted,
            continue_on_error=c.continue_on_error,
        )

    async def _lookup(self, name: str) -> Any:
        try:
            h = ray.get_actor(name, namespace=self.settings.namespace)
        except ValueError:
            return None
        try:
            st: str = await asyncio.wait_for(h.ping.remote(), timeout=self.settings.ping_timeout_s)
        except Exception:
            with contextlib.suppress(Exception):
                ray.kill(h, no_restart=True)
            return None
        return h if st in ("running", "ready", "starting") else None

    async def _create(self, factory: Any) -> Any:
        """Create a named actor; a name still held by a dying actor is retried briefly."""
        for attempt in range(300):  # a killed detached actor can hold its name for seconds under load
            try:
                return factory()
            except ValueError as exc:
                if "already" not in str(exc) or attempt == 299:
                    raise
                await asyncio.sleep(0.1)
        raise RuntimeError("unreachable")

    async def _start_child(self, child: _Child, *, restarted: bool) -> bool:
        c, path, ns = child.spec, child.path, self.settings.namespace
        adopted = await self._lookup(path)
        if adopted is not None:
            child.handle, child.running = adopted, True
            await self._journal(c.id, "", "start", f"adopted {path}")
            return True
        # detached: a child's life is its supervisor's decision, not its creator's process's, so a
        # crashed root or branch leaves healthy children running for its restarted self to adopt
        opts = {"name": path, "namespace": ns, "max_restarts": 0, "num_cpus": 0, "lifetime": "detached"}
        try:
            if isinstance(c, SupervisorSpec):
                sopts = {**opts, **self.settings.actor_options}
                h = await self._create(
                    lambda: SupervisorActor.options(**sopts).remote(  # type: ignore[attr-defined]
                        c.model_dump_json(), path, self.path, self.settings
                    )
                )
                child.handle = h
                res = await h.start.remote()
            elif c.kind is ChildKind.SERVICE:
                cls = import_object(c.cls)
                arg = c.config.get("path", self.settings.journal_path)
                extra = {"alerts": self.settings.alerts} if c.id == "journal" and self.settings.alerts else {}
                h = await self._create(
                    lambda: cls.options(**{**opts, **self.settings.actor_options, **c.ray_options}).remote(
                        arg, **extra
                    )
                )
                child.handle = h
                res = await h.setup.remote()
            else:
                spec = self._host_spec(c, path, restarted)
                h = await self._create(lambda: AgentHost.options(**opts, **c.ray_options).remote(spec, "live"))  # type: ignore[attr-defined]
                child.handle = h
                res = await h.setup.remote(None)
                if res.get("ok"):
                    res = await h.start_live.remote()
        except RayActorError as exc:
            res = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        child.ping_ref, child.missed, child.quarantined_since = None, 0, None
        if not res.get("ok"):
            child.last_error = str(res.get("error"))
            child.running = False
            return False
        child.running = True
        await self._journal(c.id, getattr(c, "cls", "supervisor"), "restart" if restarted else "start", path)
        return True

    def _failed_start(self, child: _Child) -> None:
        """A start that failed counts as a crash (against the intensity), handled after this one."""
        if child.handle is not None:  # the host that failed to start must not keep the name
            with contextlib.suppress(Exception):
                ray.kill(child.handle, no_restart=True)
        child.running, child.handle = True, None
        asyncio.get_running_loop().call_soon(
            lambda: asyncio.ensure_future(self._child_down(child, f"start failed: {child.last_error}"))
        )

    async def _stop_child(self, child: _Child) -> None:
        h, child.handle, child.running, child.ping_ref = child.handle, None, False, None
        if h is None:
            return
        timeout = getattr(child.spec, "shutdown_timeout_s", 5.0)
        with contextlib.suppress(Exception):
            if isinstance(child.spec, SupervisorSpec):
                await asyncio.wait_for(h.stop_all.remote(), timeout=timeout * 3)
            else:
                await asyncio.wait_for(h.stop_live.remote(), timeout=timeout)
        with contextlib.suppress(Exception):
            ray.kill(h, no_restart=True)
        await self._journal(child.spec.id, "", "stop", child.path)

    async def stop_all(self) -> None:
        async with self._busy:
            for handle in self._restarts_due:
                handle.cancel()
            self._restarts_due.clear()
            if self._loop is not None:
                self._loop.cancel()
                self._loop = None
            for cid in reversed(list(self.children)):
                await self._stop_child(self.children[cid])
            self.status = "stopped"

    # ------------------------------------------------------------------ health
    async def _health_loop(self) -> None:
        while True:
            try:
                await asyncio.sleep(self.settings.ping_interval_s)
                if self.status != "running":
                    continue
                await self._check_children()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("supervisor %s: health round failed", self.path)

    async def _check_children(self) -> None:
        now = time.monotonic()
        live = [c for c in self.children.values() if c.running and c.handle is not None]
        for c in live:
            if c.ping_ref is None:
                c.ping_ref, c.ping_sent = c.handle.ping.remote(), now
        refs = [c.ping_ref for c in live]
        if not refs:
            return
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        ready_set = set(ready)
        for c in live:
            if c.ping_ref in ready_set:
                ref, c.ping_ref = c.ping_ref, None
                try:
                    st = await ref  # already complete: does not block
                    c.missed, c.quarantined_since = 0, None
                    if st in ("failed", "escalated"):
                        await self._child_down(c, f"child reports {st}")
                    elif st == "crashed":  # its handler raised: a crash, restarted inside its host
                        await self._child_down(c, await self._crash_reason(c), in_place=True)
                except ActorDiedError as exc:
                    await self._child_down(c, f"ActorDiedError: {exc}"[:300])
                except ActorUnavailableError:
                    if c.quarantined_since is None:
                        c.quarantined_since = now
                        await self._journal(c.spec.id, "", "quarantine", "ActorUnavailableError; re-pinging")
                    elif now - c.quarantined_since > self.settings.quarantine_s:
                        with contextlib.suppress(Exception):
                            ray.kill(c.handle, no_restart=True)
                        await self._child_down(c, "unreachable past quarantine; killed")
                except (RayActorError, GetTimeoutError) as exc:
                    await self._child_down(c, f"{type(exc).__name__}")
            elif now - c.ping_sent > self.settings.ping_timeout_s:
                c.ping_ref = None
                c.missed += 1
                if c.missed >= self.settings.max_missed_pings:
                    with contextlib.suppress(Exception):
                        ray.kill(c.handle, no_restart=True)
                    await self._child_down(c, f"{c.missed} pings unanswered; killed")

    async def _crash_reason(self, child: _Child) -> str:
        try:
            why = await asyncio.wait_for(child.handle.crash_reason.remote(), timeout=self.settings.ping_timeout_s)
        except Exception:
            why = None
        return str(why or "HANDLER_ERROR")

    async def _child_down(self, child: _Child, why: str, *, in_place: bool = False) -> None:
        """A child died: apply the policy (restart by strategy, or escalate).

        ``in_place``: the child's host is alive but its agent crashed (a handler raised). It counts
        as any crash (restarts, intensity, escalation); when the policy restarts it, the agent is
        rebuilt from its last good checkpoint inside the same host (no process start, nothing in
        its mailbox lost); otherwise the host is killed like any other.
        """
        async with self._busy:
            if not child.running:
                return
            crashed = child.handle if in_place else None
            if child.handle is not None and crashed is None:  # e.g. alive but failed: never leave a second copy
                with contextlib.suppress(Exception):
                    ray.kill(child.handle, no_restart=True)
            child.running, child.handle, child.ping_ref = False, None, None
            child.last_error = why[:300]
            await self._journal(child.spec.id, "", "crash", why)
            decision = self.state.on_exit(child.spec.id, abnormal=True, now_s=time.monotonic())
            if decision.action is Action.RESTART:
                for cid in decision.stop:
                    await self._stop_child(self.children[cid])
                for cid in decision.forget:
                    self.children.pop(cid, None)
                if decision.delay_s > 0:
                    # the backoff is a deadline, never a sleep under the lock: meanwhile the other
                    # children are pinged, added, removed and reported as usual
                    self._restart_later(list(decision.start), decision.delay_s, child, crashed)
                else:
                    await self._restart(list(decision.start), child, crashed)
                crashed = None  # handed over: restarted in place, or killed by _restart
            elif decision.action is Action.ESCALATE:
                await self._journal(self.spec.id, "supervisor", "escalate", decision.reason)
                for cid in reversed(list(self.children)):
                    await self._stop_child(self.children[cid])
                self.status = "escalated"
                if self.parent_name is not None:
                    with contextlib.suppress(Exception):
                        parent = ray.get_actor(self.parent_name, namespace=self.settings.namespace)
                        parent.child_escalated.remote(self.spec.id)
            else:
                for cid in decision.forget:
                    self.children.pop(cid, None)
            if crashed is not None:  # not restarted in place (escalated, forgotten): it goes
                with contextlib.suppress(Exception):
                    ray.kill(crashed, no_restart=True)

    async def _restart_in_place(self, child: _Child, handle: Any) -> bool:
        """Restart a crashed agent inside its live host; a host that died meanwhile is replaced."""
        try:
            res = await handle.restart_in_place.remote()
        except RayActorError as exc:
            log.info("supervisor %s: %s died before its restart (%s); a new host", self.path, child.path, exc)
            return await self._start_child(child, restarted=True)
        child.ping_ref, child.missed, child.quarantined_since = None, 0, None
        if not res.get("ok"):
            with contextlib.suppress(Exception):
                ray.kill(handle, no_restart=True)
            child.last_error = str(res.get("error"))
            return False
        child.handle, child.running = handle, True
        await self._journal(child.spec.id, "", "restart", f"{child.path} in its host, from the last good checkpoint")
        return True

    async def _restart(self, ids: list[str], crashed_child: _Child | None = None, crashed: Any = None) -> None:
        """Start the named children again (caller holds the lock); one already back is left alone.

        ``crashed``: the live host of ``crashed_child`` whose agent raised; it is restarted in place,
        or killed if that child is not restarted after all."""
        for cid in ids:
            c = self.children.get(cid)
            if c is None or c.running or self.status != "running":
                continue  # removed, restarted by a later decision meanwhile, or we are stopping
            c.restarts += 1
            if c is crashed_child and crashed is not None:
                ok = await self._restart_in_place(c, crashed)
                crashed = None
            else:
                try:
                    ok = await self._start_child(c, restarted=True)
                except Exception as exc:  # never lost in a background task: a failed start
                    c.last_error, ok = f"{type(exc).__name__}: {exc}"[:300], False
            if not ok:
                self._failed_start(c)
        if crashed is not None:
            with contextlib.suppress(Exception):
                ray.kill(crashed, no_restart=True)

    def _restart_later(self, ids: list[str], delay_s: float, crashed_child: _Child, crashed: Any) -> None:
        loop = asyncio.get_running_loop()

        async def due() -> None:
            async with self._busy:
                await self._restart(ids, crashed_child, crashed)

        def fire() -> None:
            self._restarts_due.discard(handle)
            task = asyncio.ensure_future(due())
            self._restarting.add(task)
            task.add_done_callback(self._restarting.discard)

        handle = loop.call_later(delay_s, fire)
        self._restarts_due.add(handle)

    async def child_escalated(self, child_id: str) -> None:
        """A child supervisor gave up: it is a crashed child of ours."""
        child = self.children.get(child_id)
        if child is None or not child.running:
            return
        h = child.handle
        await self._child_down(child, "child supervisor escalated")
        if h is not None and child.handle is not h:
            with contextlib.suppress(Exception):
                ray.kill(h, no_restart=True)

    @ray.method(concurrency_group="control")
    def ping(self) -> str:
        return self.status

    # ------------------------------------------------------------------ introspection
    async def tree_state(self) -> dict[str, Any]:
        if self.is_root:
            await self.ensure_started()
        out: dict[str, Any] = {
            "path": self.path,
            "strategy": self.spec.strategy.value,
            "status": self.status,
            "intensity": self.spec.intensity,
            "period_s": self.spec.period_s,
            "children": [],
        }
        for cid, c in self.children.items():
            entry: dict[str, Any] = {"id": cid, "path": c.path, "restarts": c.restarts, "running": c.running}
            if c.handle is not None:
                try:
                    if isinstance(c.spec, SupervisorSpec):
                        entry.update(await asyncio.wait_for(c.handle.tree_state.remote(), timeout=10))
                    else:
                        entry.update(await asyncio.wait_for(c.handle.state.remote(), timeout=5))
                except Exception as exc:
                    entry["state"] = f"unreachable ({type(exc).__name__})"
            else:
                entry["state"] = "down"
            entry["restarts"] = c.restarts
            entry["last_crash"] = c.last_error or None
            out["children"].append(entry)
        return out

    # ------------------------------------------------------------------ root: registry
    def register(self, name: str, agent_id: str, subs: list[tuple[str, str | None]]) -> tuple[RouteTable, int]:
        self.routes[name] = (agent_id, [tuple(s) for s in subs])  # type: ignore[misc]
        return self._broadcast()

    def unregister(self, name: str) -> None:
        if self.routes.pop(name, None) is not None:
            self._broadcast()

    def route_table(self) -> tuple[RouteTable, int]:
        return self._table(), self.route_version

    def _table(self) -> RouteTable:
        table: RouteTable = {}
        for name, (_aid, subs) in self.routes.items():
            for kind, key in subs:
                table.setdefault(kind, {}).setdefault("*" if key is None else str(key), []).append(name)
        return table

    def _broadcast(self) -> tuple[RouteTable, int]:
        self.route_version += 1
        table, version = self._table(), self.route_version
        names = [*self.routes, *([self.settings.world_name] if self.settings.world_name else [])]
        for name in names:
            try:
                ray.get_actor(name, namespace=self.settings.namespace).update_routes.remote(table, version)
            except Exception:
                log.debug("route update to %s failed", name)
        return table, version

    # ------------------------------------------------------------------ root: control
    def desired_tree(self) -> str:
        return self.spec.model_dump_json()

    async def add_agent(self, role: str, name: str, overrides: dict[str, Any]) -> str:
        branch = ROLE_BRANCH.get(role)
        if branch is None:
            raise ValueError(f"unknown role {role!r}; known: {sorted(ROLE_BRANCH)}")
        cls = overrides.pop("_cls", None)
        child = agent_child(role, name, {**overrides, "_role": role})
        if cls is not None:  # a custom agent class for this role (tests, plug-ins)
            child = child.model_copy(update={"cls": cls})
        # refuse a bad config here, with the field named, rather than crash-looping the new host
        problem = agent_config_problem(child.cls, overrides)
        if problem is not None:
            raise ValueError(f"invalid config for {role} {name!r}: {problem}")
        self.spec = tree_add(self.spec, f"root/{branch}", child)
        save_tree(self.settings.namespace, self.spec)
        self._refresh_child_specs()
        sup = ray.get_actor(f"root/{branch}", namespace=self.settings.namespace)
        await sup.start_new_child.remote(child.model_dump_json())
        return f"root/{branch}/{name}"

    async def remove_agent(self, name: str) -> str:
        found = agents_in(self.spec).get(name)
        if found is None:
            raise KeyError(f"no agent named {name!r}")
        path = found[0]
        self.spec = tree_remove(self.spec, name)
        save_tree(self.settings.namespace, self.spec)
        self._refresh_child_specs()
        sup = ray.get_actor(path.rsplit("/", 1)[0], namespace=self.settings.namespace)
        await sup.remove_child.remote(name)
        self.routes.pop(path, None)
        self._broadcast()
        return path

    def _refresh_child_specs(self) -> None:
        """Our children's specs follow the tree's, so a branch we restart gets today's spec."""
        for c in self.spec.children:
            if c.id in self.children:
                self.children[c.id].spec = c

    async def start_new_child(self, child_json: str) -> bool:
        c = ChildSpec.model_validate_json(child_json)
        async with self._busy:
            self.spec = self.spec.with_child(c)
            self.state.add(c.id, c.restart)
            child = _Child(c, f"{self.path}/{c.id}")
            self.children[c.id] = child
            await self._journal(c.id, c.config.get("_role", ""), "add", child.path)
            ok = await self._start_child(child, restarted=False)
            if not ok:
                self._failed_start(child)
            return ok

    async def remove_child(self, child_id: str) -> None:
        async with self._busy:
            child = self.children.pop(child_id, None)
            if child is None:
                return
            self.state.remove(child_id)
            self.spec = self.spec.without_child(child_id)
            await self._stop_child(child)
            await self._journal(child_id, "", "remove", child.path)

    async def restart_child(self, child_id: str) -> None:
        """Operator restart: stop and start one child (not counted against the intensity)."""
        async with self._busy:
            child = self.children[child_id]
            await self._stop_child(child)
            child.restarts += 1
            await self._start_child(child, restarted=True)

    async def operator_command(self, command: Command) -> None:
        world = ray.get_actor(self.settings.world_name or "world", namespace=self.settings.namespace)
        await world.inject.remote(command, "operator")


ROLE_CLASSES_INV: dict[str, str] = {}


def _init_roles() -> None:
    from supervisors.tree import ROLE_CLASSES

    ROLE_CLASSES_INV.update(ROLE_CLASSES)


_init_roles()
