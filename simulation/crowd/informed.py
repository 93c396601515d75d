"""Informed traders and whales: a noisy view of the truth, acted on when the book is off by more
than their edge. Whales trade large (and may be uninformed); their fills become ``WalletTrade``s
for the whale tracker (the runner listens to their accounts — see ``simulation.runner``).
"""

from __future__ import annotations

from typing import ClassVar

from agents.base import Timer
from simulation.crowd.base import CrowdAgent, micro
from simulation.scenario import InformedGroup, WhaleGroup
from simulation.world import SimMarket


class InformedTrader(CrowdAgent[InformedGroup]):
    kind: ClassVar[str] = "informed"

    def on_start(self) -> None:
        self.wake_in_poisson(self.config.rate_per_min)

    def act(self, timer: Timer) -> None:
        self.wake_in_poisson(self.config.rate_per_min)
        markets = self.live_markets()
        if not markets:
            return
        rng = self.ctx.rng
        m = markets[rng.randrange(len(markets))] if len(markets) > 1 else markets[0]
        cfg = self.config
        size = self.random_size(cfg.size_min, cfg.size_max, m)
        trade_on_view(self, m, self.noisy_truth(m, cfg.noise_sd, cfg.reaction_s), cfg.edge, size)


def trade_on_view(agent: CrowdAgent, m: SimMarket, est: float, edge: float, size: int) -> bool:
    """Buy YES up to ``est − edge`` when asks are below it; sell down to ``est + edge`` when bids
    are above it. Returns whether an order went out."""
    bid, _bs, ask, _as = agent.venue.top(m.yes)
    lo, hi = micro(est - edge), micro(est + edge)
    if ask is not None and ask <= lo:
        agent.actions += 1
        return agent.buy_yes_upto(m, lo, size)
    if bid is not None and bid >= hi:
        agent.actions += 1
        return agent.sell_yes_downto(m, hi, size)
    return False


class Whale(CrowdAgent[WhaleGroup]):
    kind: ClassVar[str] = "whale"

    def on_start(self) -> None:
        self.wake_in_poisson(self.config.rate_per_min)

    def act(self, timer: Timer) -> None:
        self.wake_in_poisson(self.config.rate_per_min)
        markets = self.live_markets()
        if not markets:
            return
        rng = self.ctx.rng
        cfg = self.config
        m = markets[rng.randrange(len(markets))] if len(markets) > 1 else markets[0]
        size = self.random_size(cfg.size_min, cfg.size_max, m)
        if cfg.informed:
            trade_on_view(self, m, self.noisy_truth(m, cfg.noise_sd), cfg.edge, size)
            return
        bid, _bs, ask, _as = self.venue.top(m.yes)
        self.actions += 1
        if rng.random() < 0.5:
            if ask is not None:
                self.buy_yes_upto(m, ask + micro(cfg.max_slippage), size)
        elif bid is not None:
            self.sell_yes_downto(m, bid - micro(cfg.max_slippage), size)
