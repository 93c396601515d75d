"""The synthetic crowd: noise traders, informed traders, whales, market makers, competing
arbitrageurs and the gap injector — ordinary agents on the ``agents.base.Agent`` contract.

They live here, not in ``agents/``: they are part of the made-up world, and they read its truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from protocols import Scheduler
from simulation.crowd.arbitrageur import Arbitrageur
from simulation.crowd.base import CrowdAgent
from simulation.crowd.gaps import GapInjector
from simulation.crowd.informed import InformedTrader, Whale
from simulation.crowd.market_maker import MarketMaker
from simulation.crowd.noise import NoiseTrader
from simulation.crowd.venue import CrowdVenue
from simulation.scenario import (
    ArbitrageurGroup,
    InformedGroup,
    MarketMakerGroup,
    NoiseGroup,
    Scenario,
    WhaleGroup,
)
from simulation.world import World
from venues.sim import SimExchange

__all__ = [
    "Arbitrageur",
    "CrowdAgent",
    "CrowdMember",
    "CrowdVenue",
    "GapInjector",
    "InformedTrader",
    "MarketMaker",
    "NoiseTrader",
    "Whale",
    "build_crowd",
]

_KINDS: dict[type, type[CrowdAgent[Any]]] = {
    NoiseGroup: NoiseTrader,
    InformedGroup: InformedTrader,
    WhaleGroup: Whale,
    MarketMakerGroup: MarketMaker,
    ArbitrageurGroup: Arbitrageur,
}


@dataclass(frozen=True, slots=True)
class CrowdMember:
    agent: CrowdAgent[Any]
    venue: CrowdVenue
    group: str
    kind: str


def build_crowd(scenario: Scenario, world: World, exchange: SimExchange, scheduler: Scheduler) -> list[CrowdMember]:
    """One agent and one funded account per member, named ``{group}-{i}`` (groups in file order)."""
    out: list[CrowdMember] = []
    for name, group in scenario.crowd.items():
        cls = _KINDS[type(group)]
        latency = round(group.order_latency_ms * 1_000_000) if isinstance(group, ArbitrageurGroup) else 0
        for i in range(group.count):
            account = f"{name}-{i}"
            exchange.open_account(account, group.cash)
            venue = CrowdVenue(exchange, account, scheduler=scheduler, order_latency_ns=latency)
            out.append(CrowdMember(cls(account, group, world), venue, name, cls.kind))
    for i, gap in enumerate(scenario.gaps):
        account = f"gaps-{i}"
        exchange.open_account(account, gap.cash)
        venue = CrowdVenue(exchange, account, scheduler=scheduler)
        out.append(CrowdMember(GapInjector(account, gap, world), venue, "gaps", GapInjector.kind))
    return out
