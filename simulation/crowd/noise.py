"""Noise traders: no view, random side and size, mostly marketable, sometimes a resting limit.

They are the uninformed flow every real market has (and most accounts: >67% of Polymarket
accounts lose); their orders are what makers earn the spread on and what informed traders trade
against.
"""

from __future__ import annotations

from typing import ClassVar

from agents.base import Timer
from simulation.crowd.base import STEP, CrowdAgent, clamp_price, floor_tick, micro
from simulation.scenario import NoiseGroup
from simulation.world import ONE, World


class NoiseTrader(CrowdAgent[NoiseGroup]):
    kind: ClassVar[str] = "noise"

    def __init__(self, agent_id: str, config: NoiseGroup, world: World) -> None:
        super().__init__(agent_id, config, world)
        self._resting: str | None = None

    def on_start(self) -> None:
        self.wake_in_poisson(self.config.rate_per_min)

    def act(self, timer: Timer) -> None:
        self.wake_in_poisson(self.config.rate_per_min)
        markets = self.live_markets()
        if not markets:
            return
        rng = self.ctx.rng
        cfg = self.config
        v = self.venue
        if self._resting is not None:
            v.cancel(self._resting)
            self._resting = None
        m = markets[rng.randrange(len(markets))] if len(markets) > 1 else markets[0]
        token = m.yes if rng.random() < 0.5 else m.no
        self.actions += 1
        bid, _bs, ask, _as = v.top(token)
        held = v.free_shares(token)
        if held >= m.min_size and rng.random() < 0.4:
            # take profit / cut: sell what it holds into the bid
            if bid is None:
                return
            q = held - held % STEP
            limit = clamp_price(floor_tick(bid - micro(cfg.max_slippage), m.tick), m.tick)
            v.take(token, False, limit, q)
            return
        size = self.random_size(cfg.size_min, cfg.size_max, m)
        if rng.random() < cfg.limit_share:
            if bid is not None:
                price = bid + m.tick * rng.randint(0, 2)
            elif ask is not None:
                price = ask - 2 * m.tick
            else:
                price = ONE // 2
            price = clamp_price(floor_tick(price, m.tick), m.tick)
            if ask is not None and price >= ask:
                price = ask - m.tick
            if price < m.tick:
                return
            self._resting = v.send(token, True, price, size)
            return
        if ask is None:
            return
        limit = clamp_price(floor_tick(ask + micro(cfg.max_slippage), m.tick), m.tick)
        v.take(token, True, limit, size)
