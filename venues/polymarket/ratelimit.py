"""Client-side sliding-window rate limits.

Why client-side: Polymarket's limits are enforced by Cloudflare, which throttles (delays, then
429s) rather than failing fast; a bot that discovers the limit by hitting it sees its book
requests stall exactly when the market moves. Each limiter keeps a log of the send times inside
its longest window, so "at most N in any W seconds" holds for every window, not just aligned ones.
"""

from __future__ import annotations

import asyncio
import bisect
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``limit`` requests in any ``window_s`` seconds."""

    limit: int
    window_s: float

    def __post_init__(self) -> None:
        if self.limit < 1:
            raise ValueError(f"limit must be >= 1, got {self.limit}")
        if not self.window_s > 0:
            raise ValueError(f"window_s must be > 0, got {self.window_s}")


class SlidingWindowLimiter:
    """One or more sliding windows; ``acquire`` waits until every window has room.

    ``clock`` and ``sleep`` are injectable so the limiter runs on a virtual clock in tests and
    simulations.
    """

    def __init__(
        self,
        limits: Sequence[RateLimit],
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if not limits:
            raise ValueError("a limiter needs at least one RateLimit")
        self.limits = tuple(limits)
        self._clock = clock
        self._sleep = sleep
        self._horizon = max(rl.window_s for rl in self.limits)
        self._log: list[float] = []
        self._lock = asyncio.Lock()
        self.waited_s = 0.0
        self.acquired = 0

    def _delay(self, now: float) -> float:
        """Seconds until one more request fits every window (0 if it fits now).

        The log is sorted (the clock does not go back), so each window's count is one bisect."""
        log = self._log
        cut = bisect.bisect_right(log, now - self._horizon)
        if cut:
            del log[:cut]
        delay = 0.0
        for rl in self.limits:
            start = bisect.bisect_right(log, now - rl.window_s)
            inside = len(log) - start
            if inside >= rl.limit:
                # enough sends must leave the window that one more fits; the last of them is this one
                leave = log[start + inside - rl.limit]
                delay = max(delay, leave + rl.window_s - now)
        return delay

    def try_acquire(self) -> bool:
        now = self._clock()
        if self._delay(now) > 0:
            return False
        self._log.append(now)
        self.acquired += 1
        return True

    async def acquire(self) -> float:
        """Take a slot, waiting as long as needed; returns the seconds waited."""
        async with self._lock:
            waited = 0.0
            while True:
                now = self._clock()
                delay = self._delay(now)
                if delay <= 0:
                    self._log.append(now)
                    self.acquired += 1
                    self.waited_s += waited
                    return waited
                await self._sleep(delay)
                waited += delay


class RateLimitBook:
    """Limiters by key: ``"<api>"`` for a whole API and ``"<api> <path>"`` for one endpoint."""

    def __init__(
        self,
        limits: dict[str, tuple[RateLimit, ...]],
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._limiters = {
            key: SlidingWindowLimiter(rls, clock=clock, sleep=sleep) for key, rls in limits.items() if rls
        }

    def limiters_for(self, api: str, path: str) -> Iterable[SlidingWindowLimiter]:
        for key in (api, f"{api} {path}"):
            limiter = self._limiters.get(key)
            if limiter is not None:
                yield limiter

    async def acquire(self, api: str, path: str) -> float:
        waited = 0.0
        for limiter in self.limiters_for(api, path):
            waited += await limiter.acquire()
        return waited

    def stats(self) -> dict[str, dict[str, float]]:
        return {k: {"acquired": v.acquired, "waited_s": v.waited_s} for k, v in self._limiters.items()}
