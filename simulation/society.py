"""Our society in a simulation: the six roles, their venue ports on the simulated exchange, and the
scenario's config overrides.

If ``agents.society.default_agents`` exists it builds the agents; otherwise each role's class is
found by the documented name (``agents.<role>.<Role>``). Either way every agent's config gets the
run's account and bankroll where it has such fields, then the scenario's overrides on top.
"""

from __future__ import annotations

import importlib
import inspect
import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from agents.base import Agent
from cluster.errors import UserError
from protocols import VenuePort
from simulation.scenario import Scenario
from venues.sim import LatencyModel, SimExchange, SimVenue

log = logging.getLogger("polyagents.simulation")

ROLES: tuple[str, ...] = ("market_watcher", "whale_tracker", "news_scout", "strategist", "risk_officer", "trader")
NS_PER_MS = 1_000_000


@dataclass(frozen=True, slots=True)
class Member:
    agent: Agent[Any]
    venue: VenuePort | None


def _class_for(role: str) -> type[Agent[Any]] | None:
    try:
        module = importlib.import_module(f"agents.{role}")
    except ModuleNotFoundError as exc:
        if exc.name == f"agents.{role}":
            return None
        raise
    name = "".join(part.capitalize() for part in role.split("_"))
    cls = getattr(module, name, None)
    return cls if isinstance(cls, type) and issubclass(cls, Agent) else None


def role_config(cls: type[Agent[Any]], scenario: Scenario, agent_id: str) -> dict[str, Any]:
    """Defaults this run imposes (account, bankroll) plus the scenario's overrides for the agent."""
    fields = cls.config_model.model_fields
    cfg: dict[str, Any] = {}
    ours = scenario.ours
    if "account" in fields:
        cfg["account"] = ours.account
    if "bankroll" in fields:
        cfg["bankroll"] = ours.bankroll
    overrides = ours.agents.get(agent_id, ours.agents.get(cls.role, {}))
    cfg.update(overrides)
    unknown = sorted(set(cfg) - set(fields))
    if unknown:
        raise UserError(f"ours.agents.{agent_id}.{unknown[0]}: unknown field for {cls.__name__}")
    try:
        cls.config_model.model_validate(cfg)
    except Exception as exc:
        first = str(exc).splitlines()
        detail = first[1].strip() + ": " + first[2].strip() if len(first) > 2 else str(exc)
        raise UserError(f"ours.agents.{agent_id}: {detail}") from None
    return cfg


def build_society(scenario: Scenario, exchange: SimExchange, seed: int) -> list[Member]:
    """The six agents (those whose modules exist), the trader on our account, the watcher on a
    data-only port. Latency comes from ``ours.latency``."""
    ours = scenario.ours
    lat = ours.latency
    order_model = LatencyModel(
        order_latency_ns=round(lat.order_ms * NS_PER_MS),
        order_jitter_ns=round(lat.order_jitter_ms * NS_PER_MS),
        data_latency_ns=round(lat.data_ms * NS_PER_MS),
        data_jitter_ns=round(lat.data_jitter_ms * NS_PER_MS),
        seed=seed,
    )
    data_model = LatencyModel(
        data_latency_ns=round(lat.data_ms * NS_PER_MS), data_jitter_ns=round(lat.data_jitter_ms * NS_PER_MS), seed=seed
    )
    if not exchange.has_account(ours.account):
        exchange.open_account(ours.account, Decimal(ours.bankroll))
    members: list[Member] = []
    unknown = sorted(set(ours.agents) - set(ROLES))
    if unknown:
        raise UserError(f"ours.agents.{unknown[0]}: not an agent of the society (known: {', '.join(ROLES)})")
    for role in ROLES:
        cls = _class_for(role)
        if cls is None:
            log.warning("agents.%s is not available; the society runs without it", role)
            continue
        cfg = role_config(cls, scenario, role)
        params = inspect.signature(cls.__init__).parameters
        agent = cls(role, cfg) if "config" in params else cls(role)  # type: ignore[call-arg]
        venue: VenuePort | None = None
        if role == "trader":
            venue = SimVenue(exchange, ours.account, order_model)
        elif role == "market_watcher":
            venue = SimVenue(exchange, f"{ours.account}:data", data_model)
        members.append(Member(agent, venue))
    return members
