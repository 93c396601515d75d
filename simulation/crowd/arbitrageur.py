"""Competing complete-set arbitrageurs: they scan every neg-risk event on their own period and
send FAK legs for every set that still pays after fees, after their own order latency.

Their speed is the point: the faster they scan and send, the shorter a gap lives and the less is
left for us. Legs are independent orders on independent books, so a leg can miss (the price moved
while the order travelled); the arbitrageur then simply holds an incomplete set, as a real one
would until it unwinds.
"""

from __future__ import annotations

from typing import ClassVar

from agents.base import Timer
from simulation.arb import walk_sets
from simulation.crowd.base import NS_PER_S, CrowdAgent
from simulation.scenario import ArbitrageurGroup
from simulation.world import ONE, SimEvent, World


class Arbitrageur(CrowdAgent[ArbitrageurGroup]):
    kind: ClassVar[str] = "arbitrageur"

    def __init__(self, agent_id: str, config: ArbitrageurGroup, world: World) -> None:
        super().__init__(agent_id, config, world)
        allowed = set(config.markets)
        self._events: list[SimEvent] = [
            e
            for e in world.events.values()
            if not e.augmented and (not allowed or any(mid in allowed for mid in e.markets))
        ]
        self._busy_until: dict[str, int] = {}
        self.captures = 0

    def on_start(self) -> None:
        period = max(1, round(self.config.scan_ms * 1_000_000))
        self.ctx.set_timer("scan", 1 + self.ctx.rng.randrange(period), periodic=False)

    def act(self, timer: Timer) -> None:
        period = max(1, round(self.config.scan_ms * 1_000_000))
        self.ctx.set_timer("scan", period)
        now = self.ctx.now_ns()
        for e in self._events:
            if self._busy_until.get(e.id, 0) > now:
                continue
            if e.resolve_ns is not None and e.resolve_ns <= now:
                continue
            self.scan(e, now)

    def scan(self, e: SimEvent, now: int) -> None:
        v = self.venue
        markets = [self.world.markets[mid] for mid in e.markets]
        legs = [v.asks(m.yes, 5) for m in markets]
        if any(not lv for lv in legs):
            return
        cfg = self.config
        cash = v.free_cash()
        max_sets = int(cfg.max_sets * ONE)
        walk = walk_sets(legs, [m.fee_micro for m in markets], ONE, int(cfg.min_profit * ONE), max_sets)
        if walk.sets <= 0:
            return
        need = sum(p * walk.sets // ONE + m.fee_micro(p, walk.sets) for p, m in zip(walk.limits, markets, strict=True))
        if need > cash:
            return
        if walk.sets < max(m.min_size for m in markets):
            return
        self.actions += 1
        self.captures += 1
        for m, limit in zip(markets, walk.limits, strict=True):
            v.take(m.yes, True, limit, walk.sets)
        latency = self.venue.order_latency_ns
        self._busy_until[e.id] = now + latency + round(0.001 * NS_PER_S)
