"""Control: liveness, status for humans, lifecycle facts, and commands from operators."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from protocols.base import Payload
from protocols.numbers import TimeNs


class Heartbeat(Payload):
    kind: Literal["heartbeat"] = "heartbeat"

    time_ns: TimeNs
    agent_id: str = Field(min_length=1)
    seq: int = Field(default=0, ge=0)


class AgentStatus(Payload):
    kind: Literal["agent_status"] = "agent_status"
    routing_key_field: ClassVar[str | None] = "agent_id"

    time_ns: TimeNs
    agent_id: str = Field(min_length=1)
    role: str
    state: str
    detail: dict[str, Any] = Field(default_factory=dict)


AgentEventKind = Literal["start", "stop", "crash", "restart", "escalate", "quarantine", "add", "remove"]


class AgentEvent(Payload):
    """A lifecycle fact the supervisors journal: starts, crashes, restarts, escalations."""

    kind: Literal["agent_event"] = "agent_event"

    time_ns: TimeNs
    agent_id: str = Field(min_length=1)
    role: str = ""
    event: AgentEventKind
    detail: str = ""


class Command(Payload):
    """An operator's instruction, e.g. ``kill_switch`` with ``{"on": "true"}``."""

    kind: Literal["command"] = "command"
    routing_key_field: ClassVar[str | None] = "target"

    time_ns: TimeNs
    target: str = Field(min_length=1)  # an agent id or "*"
    name: str = Field(min_length=1)
    args: dict[str, str] = Field(default_factory=dict)
