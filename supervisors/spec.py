"""Child and supervisor specifications: the supervision tree as data.

Why data: the tree the root keeps alive is the tree it persisted, so an agent added at runtime is a
new child spec written to storage, and a restarted root rebuilds exactly that. Specs are frozen
pydantic models so an invalid tree is refused at start with the field named.
"""

from __future__ import annotations

import importlib
import re
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_ID = re.compile(r"^[A-Za-z0-9_.\-]+$")
_IMPORT_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


class RestartType(StrEnum):
    """OTP restart types.

    PERMANENT is always restarted; TRANSIENT only after an abnormal exit (a crash, not a clean
    stop); TEMPORARY never.
    """

    PERMANENT = "permanent"
    TRANSIENT = "transient"
    TEMPORARY = "temporary"


class Strategy(StrEnum):
    ONE_FOR_ONE = "one_for_one"
    ONE_FOR_ALL = "one_for_all"
    REST_FOR_ONE = "rest_for_one"


class ChildKind(StrEnum):
    AGENT = "agent"
    """An :class:`agents.base.Agent` hosted in an AgentHost actor."""
    SERVICE = "service"
    """A plain actor class (e.g. the journal) created directly."""


class Backoff(BaseModel):
    """Jittered exponential backoff between a crash and the restart it causes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    initial_s: float = Field(default=0.05, ge=0.0)
    max_s: float = Field(default=5.0, ge=0.0)
    multiplier: float = Field(default=2.0, ge=1.0)
    jitter: float = Field(default=0.2, ge=0.0, le=1.0)


class ChildSpec(BaseModel):
    """One supervised child."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1)
    cls: str = Field(description="import path 'package.module:Class'")
    config: dict[str, Any] = Field(default_factory=dict)
    restart: RestartType = RestartType.PERMANENT
    shutdown_timeout_s: float = Field(default=5.0, gt=0.0)
    kind: ChildKind = ChildKind.AGENT
    continue_on_error: bool = Field(
        default=False,
        description="a handler error is logged and counted and the agent goes on (crowd agents in a "
        "simulation); by default it is a crash: restart from the last good checkpoint",
    )
    ray_options: dict[str, Any] = Field(
        default_factory=dict,
        description="extra actor options, e.g. {'resources': {'feed': 0.01}} to pin a feed agent",
    )

    @field_validator("id")
    @classmethod
    def _id_ok(cls, v: str) -> str:
        if not _ID.match(v):
            raise ValueError(f"id {v!r} may contain only letters, digits, '_', '-' and '.'")
        return v

    @field_validator("cls")
    @classmethod
    def _cls_ok(cls, v: str) -> str:
        if not _IMPORT_PATH.match(v):
            raise ValueError(f"cls {v!r} must look like 'package.module:Class'")
        return v

    @field_validator("ray_options")
    @classmethod
    def _options_ok(cls, v: dict[str, Any]) -> dict[str, Any]:
        forbidden = {"name", "namespace", "lifetime", "max_restarts"} & set(v)
        if forbidden:
            raise ValueError(f"ray_options may not set {sorted(forbidden)}: the supervisor owns them")
        return v


class SupervisorSpec(BaseModel):
    """A supervisor: a restart strategy, an intensity, and ordered children (agents or supervisors).

    Order matters: children start in order and stop in reverse, and rest_for_one restarts the
    failed child and every child *after* it (the trader after the risk officer it depends on).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1)
    strategy: Strategy = Strategy.ONE_FOR_ONE
    intensity: int = Field(default=3, ge=0, description="at most this many restarts ...")
    period_s: float = Field(default=5.0, gt=0.0, description="... within this many seconds")
    backoff: Backoff = Field(default_factory=Backoff)
    children: tuple[ChildSpec | SupervisorSpec, ...] = ()

    @field_validator("id")
    @classmethod
    def _id_ok(cls, v: str) -> str:
        if not _ID.match(v):
            raise ValueError(f"id {v!r} may contain only letters, digits, '_', '-' and '.'")
        return v

    @model_validator(mode="after")
    def _unique_ids(self) -> SupervisorSpec:
        seen: set[str] = set()
        for child in self.children:
            if child.id in seen:
                raise ValueError(f"supervisor {self.id!r} has two children with id {child.id!r}")
            seen.add(child.id)
        return self

    def child(self, child_id: str) -> ChildSpec | SupervisorSpec:
        for c in self.children:
            if c.id == child_id:
                return c
        raise KeyError(f"supervisor {self.id!r} has no child {child_id!r}")

    def with_child(self, child: ChildSpec | SupervisorSpec) -> SupervisorSpec:
        """A copy with ``child`` appended (or replacing the child of the same id)."""
        kids = [c for c in self.children if c.id != child.id]
        kids.append(child)
        return self.model_copy(update={"children": tuple(kids)})

    def without_child(self, child_id: str) -> SupervisorSpec:
        kids = tuple(c for c in self.children if c.id != child_id)
        if len(kids) == len(self.children):
            raise KeyError(f"supervisor {self.id!r} has no child {child_id!r}")
        return self.model_copy(update={"children": kids})


def import_object(path: str) -> Any:
    """Resolve 'package.module:Name'. Raises ValueError naming the path when it does not resolve."""
    module, _, name = path.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cannot import {path!r}: {exc}") from exc


def class_path(obj: type) -> str:
    return f"{obj.__module__}:{obj.__qualname__}"
