"""Market makers: inventory-aware quotes around a fair value, refreshed on their own period.

A maker's fair value is the noisy truth (``fair: truth``; with ``truth_lag_s`` it learns the truth
that much late, so informed flow beats it) or, for an uninformed maker (``fair: mid``), a smoothed
last trade (else the mid). The reservation price leans against inventory (Avellaneda–Stoikov's
r = s − q·γσ², reduced to a linear skew per share): a maker long YES quotes lower on both sides so
it sells more than it buys. Past ``max_inventory`` it quotes only the side that reduces it. Quotes
are replaced only when the desired price moved, so a quiet market costs no order churn. Asks are
posted as NO bids (a BUY NO at 1 − a is a YES ask at a) unless the maker holds YES to sell, so
cash alone is enough to make a two-sided market, as on the real CLOB.
"""

from __future__ import annotations

from typing import ClassVar

from agents.base import Timer
from simulation.crowd.base import NS_PER_S, CrowdAgent, ceil_tick, clamp_price, floor_tick, micro
from simulation.scenario import MarketMakerGroup
from simulation.world import ONE, SimMarket, World


class MarketMaker(CrowdAgent[MarketMakerGroup]):
    kind: ClassVar[str] = "market_maker"

    def __init__(self, agent_id: str, config: MarketMakerGroup, world: World) -> None:
        super().__init__(agent_id, config, world)
        # (market, is_bid, level) -> (client order id, YES-space price)
        self._quotes: dict[tuple[str, bool, int], tuple[str, int]] = {}
        self._tape: dict[str, float] = {}  # uninformed makers' smoothed view of the tape
        self.requotes = 0

    def on_start(self) -> None:
        period = round(self.config.requote_s * NS_PER_S)
        self.ctx.set_timer("quote", 1 + self.ctx.rng.randrange(max(1, period // 10)))

    def act(self, timer: Timer) -> None:
        cfg = self.config
        period = cfg.requote_s * NS_PER_S
        # ±20 % jitter so makers do not move in lockstep
        self.ctx.set_timer("quote", max(1, round(period * (0.8 + 0.4 * self.ctx.rng.random()))))
        for m in self.live_markets():
            self.quote(m)

    def fair(self, m: SimMarket) -> float | None:
        cfg = self.config
        if cfg.fair == "truth":
            return self.noisy_truth(m, cfg.noise_sd, cfg.truth_lag_s)
        # an uninformed maker follows the tape, smoothed: each requote moves its fair value a share
        # ``tape_weight`` of the way to the last trade (jumping to every print would let one
        # aggressive order drag the whole book, and noise prints would random-walk it)
        last = self.venue.last_trade(m.yes)
        prev = self._tape.get(m.id)
        if last is not None:
            cur = last / ONE if prev is None else prev + cfg.tape_weight * (last / ONE - prev)
        elif prev is not None:
            cur = prev
        else:
            bid, _bs, ask, _as = self.venue.top(m.yes)
            if bid is None or ask is None:
                return None
            cur = (bid + ask) / 2 / ONE
        self._tape[m.id] = cur
        return cur

    def quote(self, m: SimMarket) -> None:
        cfg = self.config
        v = self.venue
        fair = self.fair(m)
        if fair is None:
            fair = 0.5
        inv = (v.held(m.yes) - v.held(m.no)) / ONE  # net YES shares
        r = fair - cfg.inventory_skew * inv
        size = int(cfg.size * ONE)
        max_inv = float(cfg.max_inventory)
        acct_open = set(v.open_ids())
        for level in range(cfg.levels):
            off = cfg.half_spread + level * cfg.level_step
            bid = clamp_price(floor_tick(micro(r - off), m.tick), m.tick)
            ask = clamp_price(ceil_tick(micro(r + off), m.tick), m.tick)
            if ask <= bid:
                ask = bid + m.tick
            self._place(m, True, level, bid if inv < max_inv else None, size, acct_open)
            self._place(m, False, level, ask if ask < ONE and inv > -max_inv else None, size, acct_open)
        self.actions += 1

    def _place(self, m: SimMarket, is_bid: bool, level: int, yprice: int | None, size: int, live: set[str]) -> None:
        v = self.venue
        key = (m.id, is_bid, level)
        cur = self._quotes.get(key)
        if cur is not None:
            coid, p = cur
            if coid in live and p == yprice:
                return  # unchanged and still resting
            if coid in live:
                v.cancel(coid)
            del self._quotes[key]
        if yprice is None or not (0 < yprice < ONE):
            return
        self.requotes += 1
        if is_bid:
            # SELL NO at 1 − b is a YES bid at b: use inventory first, else bid with cash
            if v.free_shares(m.no) >= size:
                coid = v.send(m.no, False, ONE - yprice, size)
            else:
                coid = v.send(m.yes, True, yprice, size)
        elif v.free_shares(m.yes) >= size:
            coid = v.send(m.yes, False, yprice, size)
        else:
            coid = v.send(m.no, True, ONE - yprice, size)  # BUY NO at 1 − a is a YES ask at a
        self._quotes[key] = (coid, yprice)
