"""The default society: the six agents with configs that agree with each other.

Why a builder: bankroll and account must be the same number and name for the strategist (sizing),
the risk officer (limits) and the trader (PnL, its venue account), and the risk officer must know
the trader's id to rebuild from its journal. Tests, the simulation and the Ray runtime all build
the society here, so they cannot drift apart.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from agents.base import Agent

#: Default agent ids, in start order (data first, execution last); each is also the agent's role.
DEFAULT_IDS: tuple[str, ...] = (
    "market_watcher",
    "whale_tracker",
    "news_scout",
    "strategist",
    "risk_officer",
    "trader",
)

#: Where each role's class lives, as "module:Class" (imported on use, so building a subset needs
#: only its modules). The supervision tree's child specs use the same table.
ROLE_CLASSES: dict[str, str] = {
    "market_watcher": "agents.market_watcher:MarketWatcher",
    "whale_tracker": "agents.whale_tracker:WhaleTracker",
    "news_scout": "agents.news_scout:NewsScout",
    "strategist": "agents.strategist:Strategist",
    "risk_officer": "agents.risk_officer:RiskOfficer",
    "trader": "agents.trader:Trader",
}


def role_class(role: str) -> type[Agent[Any]]:
    """The agent class of one of the six roles."""
    module, name = ROLE_CLASSES[role].split(":")
    cls: type[Agent[Any]] = getattr(importlib.import_module(module), name)
    return cls


def default_configs(
    bankroll: Decimal = Decimal(1000),
    strategies: Mapping[str, Mapping[str, Any]] | None = None,
    account: str = "us",
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, dict[str, Any]]:
    """Config dicts per agent id; ``overrides[agent_id]`` fields win over the shared ones."""
    bankroll = Decimal(bankroll)
    configs: dict[str, dict[str, Any]] = {
        "market_watcher": {},
        "whale_tracker": {},
        "news_scout": {},
        "strategist": {"bankroll": bankroll, "account": account},
        "risk_officer": {"bankroll": bankroll, "account": account, "trader_id": "trader"},
        "trader": {"bankroll": bankroll, "account": account},
    }
    if strategies is not None:
        configs["strategist"]["strategies"] = {k: dict(v) for k, v in strategies.items()}
    for agent_id, extra in (overrides or {}).items():
        if agent_id not in configs:
            raise ValueError(f"overrides: unknown agent id {agent_id!r} (known: {', '.join(DEFAULT_IDS)})")
        configs[agent_id].update(extra)
    return configs


def default_agents(
    bankroll: Decimal = Decimal(1000),
    strategies: Mapping[str, Mapping[str, Any]] | None = None,
    account: str = "us",
    *,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    only: tuple[str, ...] | None = None,
) -> list[Agent[Any]]:
    """The six default agents (or ``only`` those ids), configured to agree with each other.

    The market watcher needs a venue for market data and the trader one for orders (the runtime
    binds them: ``rt.add_agent(agent, venue=...)``); the others need none.
    """
    configs = default_configs(bankroll, strategies, account, overrides)
    wanted = DEFAULT_IDS if only is None else only
    for agent_id in wanted:
        if agent_id not in ROLE_CLASSES:
            raise ValueError(f"only: unknown agent id {agent_id!r} (known: {', '.join(DEFAULT_IDS)})")
    out: list[Agent[Any]] = []
    for agent_id in DEFAULT_IDS:
        if agent_id in wanted:
            out.append(role_class(agent_id)(agent_id, configs[agent_id]))
    return out
