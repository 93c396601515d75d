"""The live router's links: a failed delivery of any kind frees the link and holds critical messages.

These run without a Ray cluster: a destination handle is any object whose ``deliver.remote`` returns
an awaitable, which is what a Ray actor handle gives the router.
"""

from __future__ import annotations

import asyncio
from typing import Any

from cluster.ray_runtime.routing import Router
from protocols import Command, Envelope


def command(i: int) -> Envelope:
    t = 1_700_000_000_000_000_000 + i
    return Envelope.trusted(f"m{i}", t, "test", Command(time_ns=t, target="trader", name=f"c{i}"))


class _Deliver:
    def __init__(self, outcomes: list[BaseException | None]) -> None:
        self.outcomes = outcomes
        self.batches: list[list[Envelope]] = []

    def remote(self, batch: list[Envelope]) -> Any:
        self.batches.append(list(batch))
        outcome = self.outcomes.pop(0) if self.outcomes else None

        async def answer() -> int:
            await asyncio.sleep(0)
            if outcome is not None:
                raise outcome
            return 0

        return answer()


class _Handle:
    def __init__(self, outcomes: list[BaseException | None]) -> None:
        self.deliver = _Deliver(outcomes)


def _router(handle: _Handle) -> Router:
    r = Router("sender", "ns")
    r._handle = lambda name: handle  # type: ignore[method-assign]  # the destination, found by name
    r.set_table({"command": {"*": ["trader"]}}, 1)
    return r


async def _settled(r: Router) -> None:
    for _ in range(100):
        if not r._tasks:
            return
        await asyncio.gather(*list(r._tasks), return_exceptions=True)


async def test_router_link_whose_deliver_raises_a_plain_error_is_freed_and_holds_the_critical_batch() -> None:
    handle = _Handle([RuntimeError("deliver blew up")])
    r = _router(handle)
    r.publish(command(1))
    await _settled(r)
    assert "trader" not in r._busy  # not stuck: the next message is not swallowed
    assert r.failures == 1
    assert [e.id for e in r._held["trader"]] == ["m1"]
    # the replacement registers: the held batch goes out first, then the new message, in order
    r.set_table({"command": {"*": ["trader"]}}, 2)
    r.publish(command(2))
    await _settled(r)
    sent = [e.id for b in handle.deliver.batches[1:] for e in b]
    assert sent == ["m1", "m2"]
    assert r.sent == 2


async def test_router_holds_at_most_max_held_messages_for_a_destination_that_never_returns() -> None:
    handle = _Handle([RuntimeError("gone")] * 50)
    r = Router("sender", "ns", max_held=5)
    r._handle = lambda name: handle  # type: ignore[method-assign]
    r.set_table({"command": {"*": ["trader"]}}, 1)
    for i in range(12):
        r.publish(command(i))
        await _settled(r)
    assert len(r._held["trader"]) == 5
    assert r.held_evicted == 12 - 5
    assert [e.id for e in r._held["trader"]] == [f"m{i}" for i in range(7, 12)]


async def test_router_drops_and_counts_held_messages_of_a_destination_that_left_the_route_table() -> None:
    handle = _Handle([RuntimeError("gone")] * 10)
    r = _router(handle)
    for i in range(3):
        r.publish(command(i))
        await _settled(r)
    assert len(r._held["trader"]) == 3
    # the trader was removed from the tree: the next table has no route to it
    r.set_table({"command": {"*": ["other"]}}, 2)
    await _settled(r)
    assert r._held == {} and r.held_evicted == 3
    assert r.pending() == 0


async def test_router_link_whose_deliver_was_cancelled_is_freed_for_the_next_batch() -> None:
    handle = _Handle([asyncio.CancelledError()])
    r = _router(handle)
    r.publish(command(1))
    await _settled(r)
    assert "trader" not in r._busy
    r.set_table({"command": {"*": ["trader"]}}, 2)
    r.publish(command(2))
    await _settled(r)
    assert [e.id for b in handle.deliver.batches[1:] for e in b] == ["m1", "m2"]
