"""Pull-based feeds on the wall clock: the Data API's large trades, RSS/Atom news.

Why a poller of its own: a feed that must be asked (``poll()``) cannot push into the runtime, and
agents may not call feeds (they see the world only through messages). Each feed's ``set_sink`` is
wired to the runtime under the feed's name; the poller only keeps asking, on its interval, and
never lets a failure escape — a feed that fails is counted, logged once per kind, and asked again
after a backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import Counter
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger("polyagents.sources")


class PolledFeed(Protocol):
    name: str

    def set_sink(self, sink: Any) -> None: ...

    async def poll(self) -> list[Any]: ...

    async def close(self) -> None: ...


class Injectable(Protocol):
    def attach_source(self, source: Any, name: str | None = None) -> None: ...


@dataclass
class _Polled:
    feed: PolledFeed
    interval_s: float
    task: asyncio.Task[None] | None = None


class FeedPoller:
    """Polls feeds and lets their sinks deliver into a runtime (``LocalRuntime(clock="wall")``)."""

    def __init__(self, runtime: Injectable, *, max_backoff_s: float = 60.0, seed: int = 0) -> None:
        self.runtime = runtime
        self.max_backoff_s = max_backoff_s
        self._feeds: list[_Polled] = []
        self._rng = random.Random(seed)
        self.stats: Counter[str] = Counter()
        self._logged: set[str] = set()
        self.polled = asyncio.Event()  # set after every completed poll round of any feed

    def add(self, feed: PolledFeed, interval_s: float) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be positive, got {interval_s}")
        self.runtime.attach_source(feed, name=f"feed:{feed.name}")
        self._feeds.append(_Polled(feed, interval_s))

    def start(self) -> None:
        for p in self._feeds:
            if p.task is None:
                p.task = asyncio.ensure_future(self._loop(p))

    async def _loop(self, p: _Polled) -> None:
        failures = 0
        while True:
            try:
                items = await p.feed.poll()
                self.stats[f"{p.feed.name}.items"] += len(items)
                self.stats[f"{p.feed.name}.polls"] += 1
                failures = 0
                delay = p.interval_s
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                kind = f"{p.feed.name}.{type(exc).__name__}"
                self.stats[f"{p.feed.name}.failures"] += 1
                if kind not in self._logged:
                    self._logged.add(kind)
                    log.warning("feed %s failed (%s: %s); retrying with backoff", p.feed.name,
                                type(exc).__name__, exc)
                base = min(self.max_backoff_s, p.interval_s * 2 ** min(failures, 10))
                delay = base * (0.5 + self._rng.random() / 2)
            self.polled.set()
            await asyncio.sleep(delay)

    async def stop(self) -> None:
        for p in self._feeds:
            if p.task is not None:
                p.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await p.task
                p.task = None
            with contextlib.suppress(Exception):
                await p.feed.close()
