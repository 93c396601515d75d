"""The supervisor's decisions, as pure functions: which children to restart, when, and when to give up.

Why pure: every runtime (the lockstep simulation, the live Ray tree) asks the same questions —
a child exited, what now? — and answering them without actors means they are unit tested
exhaustively and behave the same everywhere. Semantics follow Erlang/OTP:

- a PERMANENT child is always restarted, a TRANSIENT one only after an abnormal exit, a TEMPORARY
  one never (and it is forgotten);
- one_for_one restarts the child alone; one_for_all stops the others and restarts all of them;
  rest_for_one stops and restarts the children started after the failed one. Siblings are stopped
  in reverse start order and everything restarts in start order. A TEMPORARY sibling stopped
  because of someone else's crash is not restarted either;
- more than ``intensity`` restarts within ``period_s`` seconds: the supervisor stops all its
  children and escalates to its parent, which treats it as a crashed child.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from protocols.retry import exponential_backoff
from supervisors.spec import Backoff, RestartType, Strategy, SupervisorSpec


class Action(StrEnum):
    RESTART = "RESTART"
    """Stop ``stop`` (reverse order, already done for the failed one), then start ``start`` in order."""
    IGNORE = "IGNORE"
    """Nothing to restart (clean exit of a transient child); ``forget`` lists children to drop."""
    ESCALATE = "ESCALATE"
    """Intensity exceeded: stop every child and report failure to the parent."""


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    stop: tuple[str, ...] = ()
    start: tuple[str, ...] = ()
    forget: tuple[str, ...] = ()
    delay_s: float = 0.0
    reason: str = ""


def should_restart(restart: RestartType, abnormal: bool) -> bool:
    if restart is RestartType.PERMANENT:
        return True
    if restart is RestartType.TRANSIENT:
        return abnormal
    return False


def affected_children(strategy: Strategy, order: Sequence[str], failed: str) -> tuple[str, ...]:
    """Children the strategy restarts when ``failed`` exits abnormally, in start order."""
    if failed not in order:
        raise KeyError(f"unknown child {failed!r}")
    if strategy is Strategy.ONE_FOR_ONE:
        return (failed,)
    if strategy is Strategy.ONE_FOR_ALL:
        return tuple(order)
    i = list(order).index(failed)
    return tuple(order[i:])


class IntensityWindow:
    """Restart timestamps within the sliding window ``period_s``; refuses the one too many."""

    def __init__(self, intensity: int, period_s: float) -> None:
        if intensity < 0:
            raise ValueError(f"intensity must not be negative, got {intensity}")
        if period_s <= 0:
            raise ValueError(f"period_s must be positive, got {period_s}")
        self.intensity = intensity
        self.period_s = period_s
        self._times: deque[float] = deque()

    def _prune(self, now_s: float) -> None:
        while self._times and now_s - self._times[0] >= self.period_s:
            self._times.popleft()

    def count(self, now_s: float) -> int:
        self._prune(now_s)
        return len(self._times)

    def admit(self, now_s: float) -> bool:
        """Record one more restart at ``now_s``; False when that exceeds the intensity."""
        self._prune(now_s)
        self._times.append(now_s)
        return len(self._times) <= self.intensity


def backoff_delay(backoff: Backoff, attempt: int, rng: random.Random) -> float:
    """Delay before restart number ``attempt`` (1-based) within the window: exponential, jittered.

    Jitter spreads restarts of many children so they do not all hit the venue at once.
    """
    return exponential_backoff(
        attempt, backoff.initial_s, backoff.max_s, multiplier=backoff.multiplier, jitter=backoff.jitter, rng=rng
    )


@dataclass
class SupervisorState:
    """What one supervisor knows: its spec, which children are alive, its restart history."""

    spec: SupervisorSpec
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    window: IntensityWindow = field(init=False)
    order: list[str] = field(init=False)
    restart_types: dict[str, RestartType] = field(init=False)
    escalated: bool = False

    def __post_init__(self) -> None:
        self.window = IntensityWindow(self.spec.intensity, self.spec.period_s)
        self.order = [c.id for c in self.spec.children]
        self.restart_types = {c.id: getattr(c, "restart", RestartType.PERMANENT) for c in self.spec.children}

    def add(self, child_id: str, restart: RestartType = RestartType.PERMANENT) -> None:
        if child_id in self.restart_types:
            raise ValueError(f"supervisor {self.spec.id!r} already has a child {child_id!r}")
        self.order.append(child_id)
        self.restart_types[child_id] = restart

    def remove(self, child_id: str) -> None:
        if child_id not in self.restart_types:
            raise KeyError(f"supervisor {self.spec.id!r} has no child {child_id!r}")
        self.order.remove(child_id)
        del self.restart_types[child_id]

    def on_exit(self, child_id: str, *, abnormal: bool, now_s: float) -> Decision:
        """A child exited (``abnormal``: crashed or vanished, not stopped by us). What now?"""
        if self.escalated:
            return Decision(Action.ESCALATE, reason="already escalated")
        restart = self.restart_types.get(child_id)
        if restart is None:
            raise KeyError(f"supervisor {self.spec.id!r} has no child {child_id!r}")
        if not should_restart(restart, abnormal):
            gone: tuple[str, ...] = (child_id,) if restart is RestartType.TEMPORARY else ()
            for c in gone:
                self.remove(c)
            why = "TEMPORARY_CHILD" if restart is RestartType.TEMPORARY else "NORMAL_EXIT"
            return Decision(Action.IGNORE, forget=gone, reason=why)
        if not self.window.admit(now_s):
            self.escalated = True
            others = tuple(reversed([c for c in self.order if c != child_id]))
            return Decision(
                Action.ESCALATE,
                stop=others,
                reason=f"INTENSITY_EXCEEDED: more than {self.spec.intensity} restarts in {self.spec.period_s}s",
            )
        group = affected_children(self.spec.strategy, self.order, child_id)
        siblings = [c for c in group if c != child_id]
        # Temporary siblings stopped because of someone else's failure are not restarted.
        forget = tuple(c for c in siblings if self.restart_types[c] is RestartType.TEMPORARY)
        for c in forget:
            self.remove(c)
        start = tuple(c for c in group if c not in forget)
        delay = backoff_delay(self.spec.backoff, self.window.count(now_s), self.rng)
        return Decision(
            Action.RESTART,
            stop=tuple(reversed(siblings)),
            start=start,
            forget=forget,
            delay_s=delay,
            reason=f"{self.spec.strategy.value}: {child_id} exited abnormally"
            if abnormal
            else f"{self.spec.strategy.value}: {child_id} exited",
        )
