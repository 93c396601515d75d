"""The messages between the lockstep coordinator and an AgentHost, as plain data.

Why a step protocol: in a simulation the coordinator owns the one (time, sequence) queue, the
clock and the exchange, and the agent lives in another process. A handler runs in the host until
it needs the outside world (a venue or journal call): the host then returns what the handler did
so far (*ops*: publishes, timers, subscriptions, metrics) and the call it is waiting on; the
coordinator applies the ops, performs the call at exactly that point of the sequence, and resumes
the handler with the answer. Everything happens in the same order as in the local runtime, so the
two give the same orders and fills by construction.

The coordinator logs every call and answer of a host since the host's last checkpoint. A
restarted host is restored from that checkpoint and *replays* the logged steps: handlers run again,
their ops are dropped (they were applied the first time) and their calls are answered from the log,
so nothing reaches the venue twice and the agent's state comes back exactly.

A replayed call is answered from the log only if it **is** a logged call (same target, method and
arguments), never by position. Why: the step a host died in is resumed after the restarted trader
has reconciled with the venue, so its handler may now take another path (a basket's first leg is
known, so it goes straight to the second). Answered by position, the second leg's write-ahead would
get the first leg's answer and never reach the journal, and its send would go out unjournalled. So
in the resumed step a call that matches a logged one is answered from the log, any other goes to the
venue or journal for real, and an op that equals one already applied is not applied twice. In a
replay of a *completed* step, a call the log does not hold is non-determinism and stops the restart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from protocols import Envelope

StepKind = Literal["start", "message", "timer", "stop", "call"]
"""``call``: run ``getattr(agent, arg)()`` (e.g. the trader's ``reconcile``)."""


@dataclass(frozen=True, slots=True)
class Publish:
    payload: Any
    correlation_id: str | None
    causation_id: str | None


@dataclass(frozen=True, slots=True)
class SetTimer:
    name: str
    delay_ns: int
    data: Any
    periodic: bool


@dataclass(frozen=True, slots=True)
class CancelTimer:
    name: str


@dataclass(frozen=True, slots=True)
class Subscribe:
    type_kind: str
    key: str | None
    on: bool


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    value: float
    kind: str
    tags: dict[str, str]


Op = Publish | SetTimer | CancelTimer | Subscribe | Metric


@dataclass(frozen=True, slots=True)
class PortCall:
    """A call the handler waits on: ``target`` is ``venue`` or ``journal``."""

    target: Literal["venue", "journal"]
    method: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


@dataclass(frozen=True, slots=True)
class PortResult:
    ok: bool
    value: Any = None
    error: BaseException | None = None


@dataclass(frozen=True, slots=True)
class Step:
    """The host's answer: ops since the last answer, and either a call to make or the end."""

    ops: tuple[Op, ...]
    call: PortCall | None = None
    error: str | None = None
    checkpoint: dict[str, Any] | None = None


@dataclass
class StepRecord:
    """One step as the coordinator saw it: enough to replay it on a fresh host."""

    kind: StepKind
    arg: Any
    now_ns: int
    pub_seq: int
    current: Envelope | None
    calls: list[PortCall] = field(default_factory=list)
    """Every call the coordinator performed for this step, in order, across all its attempts."""
    results: list[PortResult] = field(default_factory=list)
    """``results[i]`` answered ``calls[i]``."""
    ops: list[Op] = field(default_factory=list)
    """Every op applied for this step, across all its attempts (a resumed attempt skips these)."""
    done: bool = False

    def recorded(self) -> list[tuple[PortCall, PortResult]]:
        return list(zip(self.calls, self.results, strict=True))
