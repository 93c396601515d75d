"""Our society in a simulation: the six roles, their venue ports on the simulated exchange, and the
scenario's config overrides.

``agents.society.default_agents`` builds the agents so that bankroll and account agree between the
strategist, the risk officer and the trader; the scenario's ``ours.agents`` overrides go on top.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from agents.base import Agent
from agents.society import DEFAULT_IDS, default_agents, default_configs, role_class
from cluster.errors import UserError
from protocols import VenuePort
from protocols.base import validation_problem
from simulation.scenario import Scenario
from venues.sim import LatencyModel, SimExchange, SimVenue

log = logging.getLogger("polyagents.simulation")

ROLES: tuple[str, ...] = DEFAULT_IDS
NS_PER_MS = 1_000_000


@dataclass(frozen=True, slots=True)
class Member:
    agent: Agent[Any]
    venue: VenuePort | None


def config_problem(scenario: Scenario) -> tuple[tuple[str | int, ...], str] | None:
    """The first invalid agent config of ``ours.agents`` as (YAML path, message), or None.

    Checked when a scenario is loaded, so the error can name the file's line, before any run.
    """
    ours = scenario.ours
    if not ours.enabled:
        return None
    for agent_id in ours.agents:
        if agent_id not in ROLES:
            return ("ours", "agents", agent_id), f"not an agent of the society (known: {', '.join(ROLES)})"
    configs = default_configs(Decimal(ours.bankroll), account=ours.account, overrides=ours.agents)
    for agent_id in ROLES:
        cls = role_class(agent_id)
        try:
            cls.config_model.model_validate(configs[agent_id])
        except ValidationError as exc:
            loc, msg = validation_problem(exc)
            return ("ours", "agents", agent_id, *loc), msg
    return None


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
    unknown = sorted(set(ours.agents) - set(ROLES))
    if unknown:
        raise UserError(f"ours.agents.{unknown[0]}: not an agent of the society (known: {', '.join(ROLES)})")
    try:
        agents = default_agents(Decimal(ours.bankroll), account=ours.account, overrides=ours.agents)
    except ValidationError as exc:
        err = exc.errors()[0]
        agent_id = _which(exc, ours.agents)
        loc = ".".join(str(p) for p in err.get("loc", ()))
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        raise UserError(f"ours.agents.{agent_id}{'.' + loc if loc else ''}: {msg}") from None
    except ValueError as exc:
        raise UserError(f"ours.agents: {exc}") from None
    members: list[Member] = []
    for agent in agents:
        venue: VenuePort | None = None
        if agent.agent_id == "trader":
            venue = SimVenue(exchange, ours.account, order_model)
        elif agent.agent_id == "market_watcher":
            venue = SimVenue(exchange, f"{ours.account}:data", data_model)
        members.append(Member(agent, venue))
    return members


def _which(exc: ValidationError, overrides: dict[str, dict[str, Any]]) -> str:
    """The agent whose config failed (pydantic names the model, e.g. RiskOfficerConfig)."""
    title = (exc.title or "").removesuffix("Config")
    for role in ROLES:
        if "".join(p.capitalize() for p in role.split("_")) == title:
            return role
    return next(iter(overrides), "?")
