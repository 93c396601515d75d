"""The gap injector: a forced NO buyer that opens complete-set gaps in a neg-risk event.

Why a NO buyer: a BUY NO at q rests as a YES ask at 1 − q, so bidding high for every outcome's NO
puts the outcomes' YES asks below their fair values — their sum at most ``discount`` below 1 (each ask is rounded
up to the tick, so the discount is a bound, never exceeded). It
needs only cash, pays for its hurry (the basket it bids for is worth N − 1, it bids more), and its
orders rest for ``ttl_s`` unless someone takes them: exactly the mispricing an arbitrageur hunts.
Asks are never placed at or below an outcome's best bid (they would trade at once, not rest).
"""

from __future__ import annotations

from typing import ClassVar

from agents.base import Timer
from simulation.crowd.base import NS_PER_S, CrowdAgent, ceil_tick, clamp_price, micro
from simulation.scenario import GapSpec
from simulation.world import ONE, World


class GapInjector(CrowdAgent[GapSpec]):
    kind: ClassVar[str] = "gap_injector"

    def __init__(self, agent_id: str, config: GapSpec, world: World) -> None:
        super().__init__(agent_id, config, world)
        self.event = world.events[config.event]
        self._n = 0
        self.bursts = 0
        self._start = world.start_ns + round(config.start_s * NS_PER_S)
        self._end = world.end_ns if config.end_s is None else world.start_ns + round(config.end_s * NS_PER_S)

    def on_start(self) -> None:
        now = self.ctx.now_ns()
        for i, at in enumerate(self.config.at_s):
            t = self.world.start_ns + round(at * NS_PER_S)
            if t >= now:
                self.ctx.set_timer(f"fixed{i}", t - now)
        if self.config.rate_per_min > 0:
            self._next_poisson(max(now, self._start))

    def _next_poisson(self, base: int) -> None:
        delay = round(self.ctx.rng.expovariate(self.config.rate_per_min / 60.0) * NS_PER_S)
        self.ctx.set_timer("burst", max(1, base - self.ctx.now_ns() + delay))

    def act(self, timer: Timer) -> None:
        if timer.name.startswith("ttl"):
            for coid in timer.data:
                self.venue.cancel(coid)
            return
        if timer.name == "burst":
            self._next_poisson(self.ctx.now_ns())
        now = self.ctx.now_ns()
        if not self._start <= now <= self._end:
            return
        if self.event.resolve_ns is not None and now >= self.event.resolve_ns:
            return
        self.burst(now)

    def burst(self, now: int) -> None:
        cfg = self.config
        v = self.venue
        markets = [self.world.markets[mid] for mid in self.event.markets]
        asks: list[int] = []
        for m in markets:
            fair = self.world.truth(m.id, now)
            a = clamp_price(ceil_tick(micro(fair * (1.0 - cfg.discount)), m.tick), m.tick)
            bid, _bs, _ask, _as = v.top(m.yes)
            if bid is not None and a <= bid:
                a = bid + m.tick
            if a >= ONE:
                return
            asks.append(a)
        if sum(asks) >= ONE:
            return  # the bids already sit too high for a gap to rest
        self.bursts += 1
        size = int(cfg.size * ONE)
        coids = [v.send(m.no, True, ONE - a, size) for m, a in zip(markets, asks, strict=True)]
        self._n += 1
        self.ctx.set_timer(f"ttl{self._n}", round(cfg.ttl_s * NS_PER_S), coids)
