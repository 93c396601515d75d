"""Live routing: each participant (host or venue actor) holds the route table and pushes batches
straight to subscriber hosts, one in-flight batch per destination (so per-link order holds).

Why no broker: a central queue actor would add a hop and a bottleneck to every message. The
registry (in the root supervisor) only distributes the *table* when subscriptions change; messages
never pass through it. A batch to a destination that died is kept if it holds critical messages
and resent when the registry announces the destination's replacement; market data for a dead
destination is dropped (the new host gets fresh data anyway).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import Any

import ray

from cluster.ray_runtime.mailbox import CONFLATING_KINDS, DROPPABLE_KINDS
from protocols import Envelope

log = logging.getLogger("polyagents.routing")

RouteTable = dict[str, dict[str, list[str]]]
"""payload kind → routing key (``"*"`` for all) → actor names of subscriber hosts."""


RETAINED_KINDS = frozenset({"market_info", "trading_state_change", "top_of_book", "market_resolved"})
"""Kinds whose latest message per routing key a publisher keeps and hands to every subscriber that
appears later (a host started after the watcher, a restarted strategist): state, not events."""


def subscribers(table: RouteTable, env: Envelope) -> list[str]:
    by_key = table.get(env.payload.kind)
    if not by_key:
        return []
    out = list(by_key.get("*", ()))
    rk = env.payload.routing_key
    if rk is not None:
        out.extend(n for n in by_key.get(str(rk), ()) if n not in out)
    return out


class Router:
    """Outgoing side of one participant."""

    def __init__(self, own_name: str, namespace: str, max_held: int = 10_000) -> None:
        """``max_held``: critical messages kept per failed destination; held messages exist only
        for destinations in the route table, so the total is bounded by ``max_held`` times them."""
        self.own_name = own_name
        self.max_held = max_held
        self.held_evicted = 0
        self.namespace = namespace
        self.table: RouteTable = {}
        self.version = -1
        self._handles: dict[str, Any] = {}
        self._out: dict[str, list[Envelope]] = defaultdict(list)
        self._busy: set[str] = set()
        self._held: dict[str, list[Envelope]] = {}
        self._tasks: set[asyncio.Future[None]] = set()
        self._retained: dict[tuple[str, Any], Envelope] = {}
        self.sent = 0
        self.lost_market_data = 0
        self.failures = 0

    def set_table(self, table: RouteTable, version: int) -> None:
        if version <= self.version:
            return
        old = self.table
        self.table = table
        self._send_retained(old, table)
        self.version = version
        self._handles.clear()
        names = {n for by_key in table.values() for lst in by_key.values() for n in lst}
        for name, held in list(self._held.items()):
            del self._held[name]
            if name in names:
                self._out[name][:0] = held
                self._kick(name)
            else:
                # the destination left the table (removed from the tree, not restarting: a
                # restarting host keeps its routes): nobody will take these, dropped and counted
                self.held_evicted += len(held)
                log.warning("dropped %d held messages for %s: no longer in the route table", len(held), name)

    def _send_retained(self, old: RouteTable, new: RouteTable) -> None:
        """Retained messages to the subscribers that are new in ``new`` (late joiners, restarts)."""
        if not self._retained:
            return
        before = {(k, n) for k, by_key in old.items() for lst in by_key.values() for n in lst}
        fresh: set[tuple[str, str]] = set()
        for k, by_key in new.items():
            if k in RETAINED_KINDS:
                fresh |= {(k, n) for lst in by_key.values() for n in lst if (k, n) not in before}
        if not fresh:
            return
        for env in self._retained.values():
            for name in subscribers(new, env):
                if (env.payload.kind, name) in fresh and name != self.own_name:
                    self._out[name].append(env)
        for name in {n for _, n in fresh}:
            self._kick(name)

    def publish(self, env: Envelope) -> int:
        if env.payload.kind in RETAINED_KINDS:
            self._retained[(env.payload.kind, env.payload.routing_key)] = env
        n = 0
        for name in subscribers(self.table, env):
            if name == self.own_name:
                continue
            self._out[name].append(env)
            self._kick(name)
            n += 1
        return n

    def _kick(self, name: str) -> None:
        """Send now if nothing is in flight to ``name``; otherwise the message rides in the next
        batch, sent when the in-flight one is acknowledged (one batch in flight per link keeps
        per-link order and batches exactly when the link is busy)."""
        if name in self._busy:
            return
        batch = self._out.pop(name, None)
        if not batch:
            return
        self._busy.add(name)
        try:
            ref = self._handle(name).deliver.remote(batch)
        except ValueError as exc:  # the name is not (yet) registered: the host is being replaced
            self._busy.discard(name)
            self._fail(name, batch, exc)
            return
        task = asyncio.ensure_future(self._settle(name, ref, batch))
        self._tasks.add(task)  # keep a reference until it finishes (asyncio holds only weak ones)
        task.add_done_callback(self._tasks.discard)

    async def _settle(self, name: str, ref: Any, batch: list[Envelope]) -> None:
        """Wait for one batch's acknowledgement; the link is freed whatever the outcome.

        Any failure (not only ``RayActorError``: a deliver that raised, a cancelled call) is a
        failed delivery: critical messages are held for the destination's replacement. A link
        left busy would silently swallow every later message to that host.
        """
        try:
            await ref
            self.sent += len(batch)
        except BaseException as exc:  # a cancellation too: the batch is held, never lost unseen
            self._busy.discard(name)
            self._fail(name, batch, exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        finally:
            self._busy.discard(name)
        if self._out.get(name):
            self._kick(name)

    def _fail(self, name: str, batch: list[Envelope], exc: BaseException) -> None:
        self.failures += 1
        self._handles.pop(name, None)
        skip = DROPPABLE_KINDS | CONFLATING_KINDS
        keep = [e for e in batch if e.payload.kind not in skip]
        rest = self._out.pop(name, [])
        keep.extend(e for e in rest if e.payload.kind not in skip)
        self.lost_market_data += len(batch) + len(rest) - len(keep)
        if keep:
            held = self._held.setdefault(name, [])
            held.extend(keep)
            if len(held) > self.max_held:  # a destination that never comes back: bounded, counted
                self.held_evicted += len(held) - self.max_held
                del held[: len(held) - self.max_held]
        log.info("delivery to %s failed (%s); holding %d critical messages", name, exc, len(keep))

    def _handle(self, name: str) -> Any:
        h = self._handles.get(name)
        if h is None:
            h = ray.get_actor(name, namespace=self.namespace)
            self._handles[name] = h
        return h

    def pending(self) -> int:
        return sum(len(v) for v in self._out.values()) + sum(len(v) for v in self._held.values())
