"""A host's bounded mailbox: market data conflates to the latest per key, orders and fills never drop.

Why: a slow strategist must not make the watcher's books pile up without bound, but a fill or a
risk decision lost to a full queue is money lost. So the mailbox treats kinds differently:

- *conflating* kinds (top of book, reference prices, heartbeats, status) keep only the newest per
  routing key, in the position of the oldest — a reader always sees the latest price;
- *droppable* raw market data (book deltas and snapshots, trade prints) is dropped when the box is
  full and counted (the watcher resyncs a book from a snapshot when it sees a gap);
- everything else (intents, decisions, orders, fills, positions, commands) is *critical*:
  when the box is full the putter waits, which pushes back on the sending host;
- the host's own timers are critical too but have no one to push back on (a timer fires from the
  event loop): :meth:`Mailbox.put_critical` always enqueues them, past the capacity if it must,
  and counts how often it had to (``over_capacity``). The trader's status retries ride on them.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

CONFLATING_KINDS = frozenset({"top_of_book", "reference_price", "reference_probability", "heartbeat", "agent_status"})
DROPPABLE_KINDS = frozenset({"book_delta", "book_snapshot", "trade_print"})


class Mailbox:
    """FIFO of items ``(kind, key, value)``; see the module docstring for the policy."""

    def __init__(self, capacity: int = 10_000) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self._q: deque[list[Any]] = deque()
        self._latest: dict[tuple[str, Any], list[Any]] = {}
        self._not_empty = asyncio.Event()
        self._not_full = asyncio.Event()
        self._not_full.set()
        self.conflated = 0
        self.dropped = 0
        self.over_capacity = 0

    def __len__(self) -> int:
        return len(self._q)

    def offer(self, kind: str, key: Any, value: Any) -> bool:
        """Add without waiting. False when a critical item found the box full (caller must wait)."""
        if kind in CONFLATING_KINDS:
            slot = self._latest.get((kind, key))
            if slot is not None:
                slot[2] = value
                self.conflated += 1
                return True
            if len(self._q) >= self.capacity:
                self.dropped += 1
                return True
            entry = [kind, key, value]
            self._latest[(kind, key)] = entry
            self._append(entry)
            return True
        if len(self._q) >= self.capacity:
            if kind in DROPPABLE_KINDS:
                self.dropped += 1
                return True
            return False
        self._append([kind, key, value])
        return True

    def put_critical(self, kind: str, key: Any, value: Any) -> None:
        """Enqueue now, whatever the fill: for items that must never be dropped and cannot wait
        (timers). Going past the capacity is counted, never silent."""
        if kind in CONFLATING_KINDS or kind in DROPPABLE_KINDS:
            raise ValueError(f"{kind!r} is not a critical kind")
        if len(self._q) >= self.capacity:
            self.over_capacity += 1
        self._append([kind, key, value])

    async def put(self, kind: str, key: Any, value: Any) -> None:
        while not self.offer(kind, key, value):
            self._not_full.clear()
            await self._not_full.wait()

    def _append(self, entry: list[Any]) -> None:
        self._q.append(entry)
        self._not_empty.set()
        if len(self._q) >= self.capacity:
            self._not_full.clear()

    async def get(self) -> Any:
        while not self._q:
            self._not_empty.clear()
            await self._not_empty.wait()
        entry = self._q.popleft()
        kind, key = entry[0], entry[1]
        if self._latest.get((kind, key)) is entry:
            del self._latest[(kind, key)]
        if len(self._q) < self.capacity:
            self._not_full.set()
        return entry[2]
