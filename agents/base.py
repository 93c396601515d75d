"""The agent contract: what every role implements, and the Context it acts through.

An agent never imports Ray, a venue or the cluster. It sees the world only through the messages
it subscribed to and the :class:`Context` a runtime hands it; that is what lets one agent class
run unchanged in a unit test, a 10,000-seed sweep and a live Ray cluster.

Handlers (``on_start``, ``on_message``, ``on_timer``, ``on_stop``) may be plain methods or
``async def``; a runtime checks once, at registration, and awaits the async ones. Handlers run one
at a time per agent, so an agent needs no locks.
"""

from __future__ import annotations

import inspect
import logging
import random
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from protocols import Envelope, JournalPort, Payload, VenuePort


class AgentConfig(BaseModel):
    """Base of every agent's config: frozen, unknown fields refused (the field is named)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


@dataclass(frozen=True, slots=True)
class Subscription:
    """Deliver payloads of ``type`` (optionally only those whose routing key equals ``key``)."""

    type: type[Payload]
    key: str | None = None


@dataclass(frozen=True, slots=True)
class Timer:
    name: str
    due_ns: int
    data: Any = None
    periodic_ns: int | None = None


@dataclass(slots=True)
class MetricPoint:
    name: str
    value: float
    kind: str = "gauge"
    tags: dict[str, str] = field(default_factory=dict)


class Context(Protocol):
    """What an agent may do. Implemented by each runtime."""

    @property
    def agent_id(self) -> str: ...

    @property
    def log(self) -> logging.Logger: ...

    @property
    def rng(self) -> random.Random:
        """A generator seeded from the run's seed and the agent id: deterministic per agent."""

    @property
    def venue(self) -> VenuePort | None:
        """The agent's venue port (the trader's for orders, the watcher's for data), if bound."""

    @property
    def journal(self) -> JournalPort | None: ...

    def now_ns(self) -> int: ...

    def publish(
        self,
        payload: Payload,
        *,
        correlation_id: str | None = None,
        causation_id: str | None = None,
    ) -> Envelope:
        """Send a payload to every subscriber. Causality defaults to the message being handled."""

    def set_timer(self, name: str, delay_ns: int, data: Any = None, *, periodic: bool = False) -> None:
        """(Re)arm the named timer; a timer of the same name that is pending is replaced."""

    def cancel_timer(self, name: str) -> None: ...

    def subscribe(self, type: type[Payload], key: str | None = None) -> None: ...

    def unsubscribe(self, type: type[Payload], key: str | None = None) -> None: ...

    def metric(self, name: str, value: float, kind: str = "gauge", **tags: str) -> None: ...


C = TypeVar("C", bound=AgentConfig)


class Agent(Generic[C]):
    """Base class of the six roles, the strategist's hosts and the synthetic crowd."""

    role: ClassVar[str] = "agent"
    config_model: ClassVar[type[AgentConfig]] = AgentConfig
    subscriptions: ClassVar[tuple[Subscription, ...]] = ()

    def __init__(self, agent_id: str, config: C | dict[str, Any] | None = None) -> None:
        self.agent_id = agent_id
        if config is None:
            config = self.config_model()  # type: ignore[assignment]
        elif isinstance(config, dict):
            config = self.config_model.model_validate(config)  # type: ignore[assignment]
        self.config: C = config  # type: ignore[assignment]
        self._ctx: Context | None = None

    # -- wiring -------------------------------------------------------------------------------
    def bind(self, ctx: Context) -> None:
        self._ctx = ctx

    @property
    def ctx(self) -> Context:
        if self._ctx is None:
            raise RuntimeError(f"agent {self.agent_id} is not bound to a runtime")
        return self._ctx

    def initial_subscriptions(self) -> tuple[Subscription, ...]:
        """Subscriptions registered before ``on_start``; override to depend on config."""
        return self.subscriptions

    # -- handlers -----------------------------------------------------------------------------
    def on_start(self) -> Awaitable[None] | None:
        return None

    def on_message(self, envelope: Envelope) -> Awaitable[None] | None:
        return None

    def on_timer(self, timer: Timer) -> Awaitable[None] | None:
        return None

    def on_stop(self) -> Awaitable[None] | None:
        return None

    # -- state --------------------------------------------------------------------------------
    def fresh(self) -> Agent[C]:
        """A new, unbound instance with this one's id and config, as a restarted process builds it
        (then :meth:`restore` loads the last good checkpoint into it).

        The default calls ``type(self)(agent_id, config)``; a class whose constructor takes
        anything else must override this, and until it does a restart of it fails loudly (a failed
        restart counts as a crash) rather than building a wrong agent.
        """
        params = list(inspect.signature(type(self).__init__).parameters.values())[1:]
        ok = (
            len(params) >= 2
            and params[0].name == "agent_id"
            and params[1].name == "config"
            and all(p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params[2:])
        )
        if not ok:
            raise TypeError(
                f"{type(self).__qualname__}.__init__ is not (agent_id, config): override fresh() to rebuild it"
            )
        return type(self)(self.agent_id, self.config)  # type: ignore[call-arg]

    def snapshot(self) -> dict[str, Any]:
        """JSON-serialisable state to checkpoint. Default: nothing worth keeping."""
        return {}

    def restore(self, state: dict[str, Any]) -> None:
        """Reload a :meth:`snapshot`; called after construction, before ``on_start``."""

    def status(self) -> dict[str, Any]:
        """A short, human-readable summary for the CLI and the dashboard. No secrets."""
        return {"role": self.role}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.agent_id!r}, role={self.role!r})"
