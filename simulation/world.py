"""The made-up world of one run: listed markets, their truth paths, the reference process, and the
schedule of news and resolutions, all derived from (scenario, seed) and nothing else.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from decimal import Decimal

from protocols import MarketInfo
from protocols.fees import MicroFee
from simulation.reference import ReferencePath, simulate_reference
from simulation.scenario import FeeSpec, Scenario
from simulation.truth import TruthPath, binary_path, event_paths, news_jumps

NS_PER_S = 1_000_000_000
ONE = 1_000_000


def token_ids(market_id: str) -> tuple[str, str]:
    return f"{market_id}-YES", f"{market_id}-NO"


@dataclass(slots=True)
class SimMarket:
    """One listed binary market as the world knows it."""

    id: str
    info: MarketInfo
    yes: str
    no: str
    tick: int  # micro-units
    min_size: int  # micro-shares
    fee: MicroFee  # info.fees on integers: the exchange's own fee of a fill (protocols.fees)
    truth_path: TruthPath | None = None
    strike: float | None = None  # reference markets
    event_id: str | None = None
    resolve_ns: int | None = None

    def fee_micro(self, price: int, q: int) -> int:
        """The taker fee the exchange charges for ``q`` micro-shares at ``price`` (same integers)."""
        return self.fee.taker_fee(price, q)


@dataclass(slots=True)
class SimEvent:
    id: str
    markets: list[str]
    augmented: bool
    resolve_ns: int | None


@dataclass
class World:
    scenario: Scenario
    seed: int
    start_ns: int
    end_ns: int
    markets: dict[str, SimMarket] = field(default_factory=dict)
    tokens: dict[str, tuple[SimMarket, bool]] = field(default_factory=dict)
    events: dict[str, SimEvent] = field(default_factory=dict)
    reference: ReferencePath | None = None
    _ref_cache: dict[tuple[str, int], float] = field(default_factory=dict)

    def truth(self, market_id: str, t_ns: int) -> float:
        """The true probability of YES of ``market_id`` at ``t_ns``."""
        m = self.markets[market_id]
        if m.truth_path is not None:
            return m.truth_path.at(t_ns)
        assert self.reference is not None and m.strike is not None and m.resolve_ns is not None
        # one evaluation per reference tick is enough (the price is constant in between)
        step = round(self.reference.spec.tick_s * NS_PER_S)
        key = (market_id, (t_ns - self.start_ns) // step)
        v = self._ref_cache.get(key)
        if v is None:
            v = self.reference.up_probability(t_ns, m.strike, m.resolve_ns)
            if len(self._ref_cache) > 200_000:
                self._ref_cache.clear()
            self._ref_cache[key] = v
        return v

    def tradable(self, market_ids: tuple[str, ...] = ()) -> list[SimMarket]:
        ids = market_ids or tuple(self.markets)
        return [self.markets[i] for i in ids]


def build_world(scenario: Scenario, seed: int) -> World:
    """Everything random about the world comes from ``seed`` (the crowd draws its own, per agent)."""
    start = scenario.start_ns
    duration = scenario.duration_ns
    world = World(scenario=scenario, seed=seed, start_ns=start, end_ns=start + duration)
    jumps = news_jumps(scenario.news, start)
    if scenario.reference is not None:
        world.reference = simulate_reference(scenario.reference, start, duration, seed)

    def make(
        mid: str,
        question: str,
        outcomes: tuple[str, str],
        tick: Decimal,
        min_size: Decimal,
        fees: FeeSpec | None,
        resolve_at_s: float | None,
        category: str,
        event_id: str = "",
        neg_risk: bool = False,
        augmented: bool = False,
        n_event: int = 0,
    ) -> SimMarket:
        schedule = (fees or scenario.fees).schedule
        resolve_ns = None if resolve_at_s is None else start + round(resolve_at_s * NS_PER_S)
        yes, no = token_ids(mid)
        info = MarketInfo(
            time_ns=start,
            market=mid,
            question=question or mid,
            slug=mid,
            event_id=event_id,
            outcomes=outcomes,
            token_ids=(yes, no),
            tick_size=tick,
            min_order_size=min_size,
            neg_risk=neg_risk,
            neg_risk_augmented=augmented,
            fees=schedule,
            category=category,
            end_ns=resolve_ns,
            event_market_count=n_event,
        )
        return SimMarket(
            id=mid,
            info=info,
            yes=yes,
            no=no,
            tick=int(tick * ONE),
            min_size=int(min_size * ONE),
            fee=schedule.micro,
            event_id=event_id or None,
            resolve_ns=resolve_ns,
        )

    for m in scenario.markets:
        sm = make(m.id, m.question, m.outcomes, m.tick_size, m.min_order_size, m.fees, m.resolve_at_s, m.category)
        if m.truth.kind == "reference":
            assert world.reference is not None
            sm.strike = m.truth.strike or world.reference.prices[0]
        else:
            rng = random.Random(f"{seed}:truth:{m.id}")
            sm.truth_path = binary_path(m.truth, start, duration, rng, jumps.get(m.id))
        world.markets[m.id] = sm
    for e in scenario.events:
        rng = random.Random(f"{seed}:truth:{e.id}")
        extra = {o.id: jumps[o.id] for o in e.outcomes if o.id in jumps}
        paths = event_paths(e, start, duration, rng, extra)
        ids: list[str] = []
        for o in e.outcomes:
            sm = make(
                o.id, o.question, ("Yes", "No"), e.tick_size, e.min_order_size, e.fees, e.resolve_at_s,
                e.category, event_id=e.id, neg_risk=True, augmented=e.augmented, n_event=len(e.outcomes),
            )
            sm.truth_path = paths[o.id]
            world.markets[o.id] = sm
            ids.append(o.id)
        world.events[e.id] = SimEvent(
            e.id, ids, e.augmented, None if e.resolve_at_s is None else start + round(e.resolve_at_s * NS_PER_S)
        )
    for sm in world.markets.values():
        world.tokens[sm.yes] = (sm, True)
        world.tokens[sm.no] = (sm, False)
    return world
