"""One pure backoff rule for agents that retry on a timer (a journal that is away, a venue that
does not answer): exponential from ``base_ns``, capped at ``cap_ns``, optionally jittered.

Why in ``protocols``: agents may not import ``supervisors``, and the project keeps one retry helper
in the lowest layer its users can import. The jitter is drawn from the caller's generator (an
agent's ``ctx.rng``), so a simulation stays deterministic per seed.
"""

from __future__ import annotations

import random


def exponential_backoff(
    attempt: int,
    initial: float,
    cap: float,
    *,
    multiplier: float = 2.0,
    jitter: float = 0.0,
    rng: random.Random | None = None,
) -> float:
    """The one backoff rule: ``min(cap, initial * multiplier**(attempt-1))`` for retry number
    ``attempt`` (1-based), spread by ±``jitter`` (a fraction) drawn from ``rng`` and capped again.
    In whatever unit the caller uses (seconds for supervisors, nanoseconds for agents' timers)."""
    if attempt < 1:
        raise ValueError(f"attempt is 1-based, got {attempt}")
    base = min(cap, initial * multiplier ** (attempt - 1))
    if not jitter or rng is None or base == 0:
        return base
    return min(cap, rng.uniform(base * (1 - jitter), base * (1 + jitter)))


def backoff_ns(
    attempt: int, base_ns: int, cap_ns: int, *, jitter: float = 0.0, rng: random.Random | None = None
) -> int:
    """Delay before retry number ``attempt`` (1-based): ``min(cap, base * 2**(attempt-1))``, then
    spread by ±``jitter`` (a fraction) and capped again."""
    if attempt < 1:
        raise ValueError(f"attempt is 1-based, got {attempt}")
    if base_ns <= 0 or cap_ns < base_ns:
        raise ValueError(f"need 0 < base_ns <= cap_ns, got base_ns={base_ns}, cap_ns={cap_ns}")
    if not 0 <= jitter < 1:
        raise ValueError(f"jitter is a fraction in [0, 1), got {jitter}")
    delay = exponential_backoff(min(attempt, 63), base_ns, cap_ns, jitter=jitter, rng=rng)
    return max(1, min(cap_ns, int(delay)))
