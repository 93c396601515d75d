"""High-probability "bonds": buy the favourite at ≥ 0.95 close to resolution.

Assumptions: a favourite priced at ``min_price`` or more shortly before resolution still loses with
probability ``tail_risk`` (resolution disputes, late surprises) and no more, so its fair value is
1 − tail_risk; the trade is worth it only when the return per share *net of the taker fee*,
annualised simply over the time left (r × year / τ), clears ``min_annual_return``, and when the
net edge (fair − price − fee) clears ``min_edge``. Money is locked until payout, which UMA may
delay by its 2 h challenge window (``settlement_delay_ns`` is added to τ).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import Field

from agents.strategies.base import (
    NS_PER_S,
    ONE,
    ZERO,
    MarketView,
    Proposal,
    Strategy,
    StrategyConfig,
    register,
    taker_buy,
)
from protocols import Payload, TimeInForce, TopOfBook
from protocols.fees import fee_per_share

NS_PER_YEAR = Decimal(365 * 24 * 3600) * NS_PER_S


class BondsConfig(StrategyConfig):
    min_edge: Decimal = Field(default=Decimal("0.001"), ge=0)
    min_price: Decimal = Field(default=Decimal("0.95"), gt=0, lt=1)
    tail_risk: Decimal = Field(default=Decimal("0.01"), ge=0, lt=1)
    max_time_to_end_ns: int = Field(default=3 * 24 * 3600 * NS_PER_S, gt=0)
    min_time_to_end_ns: int = Field(default=60 * NS_PER_S, ge=0)
    settlement_delay_ns: int = Field(default=2 * 3600 * NS_PER_S, ge=0)
    min_annual_return: Decimal = Field(default=Decimal("0.20"), ge=0)
    tif: Literal[TimeInForce.FOK, TimeInForce.FAK] = TimeInForce.FAK
    ttl_ns: int = Field(default=30 * NS_PER_S, gt=0)


def annualised_return(price: Decimal, fee: Decimal, win_probability: Decimal, tau_ns: int) -> Decimal:
    """Expected simple return per year of buying at ``price`` + ``fee`` and holding ``tau_ns``."""
    cost = price + fee
    if cost <= ZERO or tau_ns <= 0:
        return ZERO
    return (win_probability - cost) / cost * NS_PER_YEAR / Decimal(tau_ns)


@register
class HighProbabilityBonds(Strategy[BondsConfig]):
    name = "bonds"
    config_model = BondsConfig
    handles = frozenset({TopOfBook})

    def __init__(self, config: BondsConfig | dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.last_return: dict[str, Decimal] = {}

    def on_payload(self, payload: Payload, view: MarketView) -> list[Proposal]:
        if not isinstance(payload, TopOfBook):
            return []
        c = self.config
        info = view.info(payload.market)
        if info is None or info.end_ns is None or not view.tradable(info.market):
            return []
        left = info.end_ns - view.now_ns
        if not c.min_time_to_end_ns <= left <= c.max_time_to_end_ns:
            return []
        book = view.book(payload.token_id)
        if book is None or book.best_ask is None or book.best_ask < c.min_price or book.best_ask >= ONE:
            return []
        fair = ONE - c.tail_risk
        fee = fee_per_share(info.fees, book.best_ask)
        ann = annualised_return(book.best_ask, fee, fair, left + c.settlement_delay_ns)
        self.last_return[info.market] = ann
        if ann < c.min_annual_return:
            return []
        prop = taker_buy(
            strategy=self.name, info=info, token=payload.token_id, book=book, win_probability=fair, view=view,
            cfg=c, tif=c.tif, rationale=f"favourite at {book.best_ask}, {left // NS_PER_S}s left, {ann:.2%} a year",
        )
        return [] if prop is None else [prop]

    def status(self) -> dict[str, Any]:
        return {"annualised": {m: f"{r:.4f}" for m, r in sorted(self.last_return.items())}}
