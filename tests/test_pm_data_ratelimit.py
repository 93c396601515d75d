"""Sliding-window limiter on a virtual clock: no window ever holds more than its limit."""

from __future__ import annotations

import asyncio
import bisect

from hypothesis import given, settings
from hypothesis import strategies as st

from venues.polymarket.ratelimit import RateLimit, RateLimitBook, SlidingWindowLimiter


class VirtualClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def now(self) -> float:
        return self.t

    async def sleep(self, d: float) -> None:
        self.t += d


def _max_in_window(times: list[float], window: float) -> int:
    best = 0
    for i, t in enumerate(times):
        j = bisect.bisect_right(times, t + window - 1e-9)
        best = max(best, j - i)
    return best


@settings(max_examples=100, deadline=None)
@given(
    limits=st.lists(
        st.tuples(st.integers(1, 6), st.sampled_from([0.5, 1.0, 2.5, 10.0])), min_size=1, max_size=3
    ),
    gaps=st.lists(st.sampled_from([0.0, 0.0, 0.01, 0.1, 0.4, 1.3]), min_size=1, max_size=60),
)
def test_limiter_never_exceeds_any_window_under_random_arrivals(
    limits: list[tuple[int, float]], gaps: list[float]
) -> None:
    clock = VirtualClock()
    rls = [RateLimit(n, w) for n, w in limits]
    lim = SlidingWindowLimiter(rls, clock=clock.now, sleep=clock.sleep)
    sent: list[float] = []

    async def run() -> None:
        for g in gaps:
            clock.t += g
            await lim.acquire()
            sent.append(clock.t)

    asyncio.run(run())
    assert len(sent) == len(gaps)
    for rl in rls:
        assert _max_in_window(sent, rl.window_s) <= rl.limit


def test_limiter_waits_exactly_until_the_oldest_send_leaves_the_window() -> None:
    clock = VirtualClock()
    lim = SlidingWindowLimiter([RateLimit(3, 10.0)], clock=clock.now, sleep=clock.sleep)

    async def run() -> list[float]:
        waits = []
        for _ in range(4):
            waits.append(await lim.acquire())
        return waits

    waits = asyncio.run(run())
    assert waits == [0.0, 0.0, 0.0, 10.0]
    # at t=1010 the three sends of t=1000 have left; the window holds the 4th, so two more fit
    assert lim.try_acquire() and lim.try_acquire()
    assert not lim.try_acquire()


def test_rate_limit_book_takes_a_slot_from_the_api_and_the_endpoint() -> None:
    clock = VirtualClock()
    book = RateLimitBook(
        {"data": (RateLimit(100, 10.0),), "data /trades": (RateLimit(2, 10.0),)}, clock=clock.now, sleep=clock.sleep
    )

    async def run() -> float:
        await book.acquire("data", "/trades")
        await book.acquire("data", "/activity")  # only the API-wide window
        await book.acquire("data", "/trades")
        return await book.acquire("data", "/trades")

    assert asyncio.run(run()) == 10.0
    stats = book.stats()
    assert stats["data"]["acquired"] == 4 and stats["data /trades"]["acquired"] == 3


def test_rate_limit_refuses_nonsense() -> None:
    import pytest

    with pytest.raises(ValueError):
        RateLimit(0, 1.0)
    with pytest.raises(ValueError):
        RateLimit(1, 0.0)
