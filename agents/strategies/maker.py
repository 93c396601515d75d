"""Maker quoting: Avellaneda–Stoikov adapted to prices in [0, 1].

Assumptions and adaptations:
- the mid of the YES book is the fair price s; a binary price is a martingale ending at 0 or 1,
  so its remaining variance until resolution is s(1 − s); the variance over the quoting horizon
  h is s(1 − s) × h / (time to resolution), or s(1 − s) × ``variance_fraction`` when the market
  has no end time;
- reservation price r = s − q·γ·var, with q the net YES inventory (YES − NO shares) in units of
  ``quote_size``; total spread δ = γ·var + (2/γ)·ln(1 + γ/κ); bid = floor_tick(r − δ/2),
  ask = ceil_tick(r + δ/2), clamped inside (0, 1) and so neither crosses the book;
- the ask is posted as a BUY of NO at 1 − ask (economically the same, needs no inventory); both
  legs are post-only GTC, so they pay no taker fee — makers pay none on Polymarket — and the
  edge per share is the distance from r to each quote; past ``max_inventory`` units the leg that
  would add to the inventory is not quoted.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from pydantic import Field

from agents.strategies.base import (
    NS_PER_S,
    ONE,
    ZERO,
    MarketView,
    Proposal,
    Strategy,
    StrategyConfig,
    ceil_tick,
    floor_tick,
    register,
)
from agents.strategies.kelly import round_down
from agents.strategies.pricing import to_prob
from protocols import IntentLeg, Payload, Side, TimeInForce, TopOfBook


class MakerQuotingConfig(StrategyConfig):
    markets: tuple[str, ...] = ()
    """Markets to quote; empty = every market with a two-sided YES book."""
    gamma: float = Field(default=1.0, gt=0, allow_inf_nan=False)
    kappa: float = Field(default=100.0, gt=0, allow_inf_nan=False)
    horizon_ns: int = Field(default=3600 * NS_PER_S, gt=0)
    variance_fraction: float = Field(default=0.05, gt=0, le=1, allow_inf_nan=False)
    quote_size: Decimal = Field(default=Decimal(10), gt=0)
    max_inventory: Decimal = Field(default=Decimal(5), gt=0)
    """In units of ``quote_size``."""
    fill_probability: Decimal = Field(default=Decimal("0.5"), gt=0, le=1)
    min_edge: Decimal = Field(default=Decimal("0.005"), ge=0)
    ttl_ns: int = Field(default=15 * NS_PER_S, gt=0)


class Quote:
    __slots__ = ("ask", "bid", "reservation", "spread", "variance")

    def __init__(self, reservation: Decimal, spread: Decimal, variance: float, bid: Decimal, ask: Decimal) -> None:
        self.reservation = reservation
        self.spread = spread
        self.variance = variance
        self.bid = bid
        self.ask = ask


@register
class MakerQuoting(Strategy[MakerQuotingConfig]):
    name = "maker_quoting"
    config_model = MakerQuotingConfig
    handles = frozenset({TopOfBook})

    def __init__(self, config: MakerQuotingConfig | dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.last: dict[str, tuple[str, str, str]] = {}

    def quote(self, mid: Decimal, inventory_units: Decimal, tick: Decimal, time_left_ns: int | None) -> Quote | None:
        """The Avellaneda–Stoikov quote around ``mid`` (None if it collapses)."""
        c = self.config
        s = float(mid)
        if not 0.0 < s < 1.0:
            return None
        base_var = s * (1.0 - s)
        if time_left_ns is None:
            var = base_var * c.variance_fraction
        else:
            var = base_var * min(1.0, c.horizon_ns / max(time_left_ns, 1))
        r = s - float(inventory_units) * c.gamma * var
        spread = c.gamma * var + (2.0 / c.gamma) * math.log(1.0 + c.gamma / c.kappa)
        rd = to_prob(r)
        half = Decimal(repr(spread / 2.0))
        bid = floor_tick(rd - half, tick)
        ask = ceil_tick(rd + half, tick)
        return Quote(rd, Decimal(repr(spread)), var, bid, ask)

    def on_payload(self, payload: Payload, view: MarketView) -> list[Proposal]:
        if not isinstance(payload, TopOfBook):
            return []
        c = self.config
        info = view.info(payload.market)
        if info is None or not view.tradable(info.market) or (c.markets and info.market not in c.markets):
            return []
        yb = view.book(info.yes_token)
        if yb is None or yb.best_bid is None or yb.best_ask is None or yb.mid is None:
            return []
        tick = yb.tick_size
        units = view.net_yes(info.market) / c.quote_size
        left = None if info.end_ns is None else info.end_ns - view.now_ns
        if left is not None and left <= 0:
            return []
        q = self.quote(yb.mid, units, tick, left)
        if q is None:
            return []
        bid = max(tick, min(q.bid, yb.best_ask - tick))
        ask = min(ONE - tick, max(q.ask, yb.best_bid + tick))
        if bid >= ask:
            return []
        size = round_down(
            min(c.quote_size, view.bankroll * c.max_notional_fraction), c.size_step
        )
        if size < info.min_order_size or size <= ZERO:
            return []
        r = q.reservation
        legs: list[IntentLeg] = []
        edges: list[Decimal] = []
        if units < c.max_inventory and r - bid > c.min_edge:
            legs.append(self._leg(info.yes_token, info, bid, size, tick))
            edges.append(r - bid)
        if units > -c.max_inventory and ask - r > c.min_edge:
            legs.append(self._leg(info.no_token, info, ONE - ask, size, tick))
            edges.append(ask - r)
        if not legs:
            return []
        self.last[info.market] = (str(bid), str(r), str(ask))
        edge = min(edges)
        direction = 0 if len(legs) == 2 else (1 if legs[0].token_id == info.yes_token else -1)
        return [
            Proposal(
                strategy=self.name,
                key=info.market,
                legs=tuple(legs),
                fair_value=r if legs[0].token_id == info.yes_token else ONE - r,
                edge=edge,
                ev=sum(edges, ZERO) * size * c.fill_probability,
                direction=direction,
                ttl_ns=c.ttl_ns,
                liquidity="MAKER",
                rationale=f"A-S: mid {yb.mid}, inventory {units} units, r {r}, quotes {bid}/{ask}",
            )
        ]

    @staticmethod
    def _leg(token: str, info: Any, price: Decimal, size: Decimal, tick: Decimal) -> IntentLeg:
        return IntentLeg(
            token_id=token, market=info.market, side=Side.BUY, price=price, size=size, tick_size=tick,
            tif=TimeInForce.GTC, post_only=True, neg_risk=info.neg_risk, event_id=info.event_id,
        )

    def status(self) -> dict[str, Any]:
        return {"quotes": {m: {"bid": b, "reservation": r, "ask": a} for m, (b, r, a) in sorted(self.last.items())}}
