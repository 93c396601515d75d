"""Value against a reference probability feed, scored by closing-line value.

Assumptions: an outside probability for a market's YES (a sharp sportsbook's de-vigged line, a
model) is better calibrated than the Polymarket book, so buying the side whose ask is below it by
more than fee + ``min_edge`` is positive EV. References older than ``max_reference_age_ns`` are
ignored. A reference marked ``closing`` is the last line before the event: no new trades after it
(unless ``trade_after_close``), and each of our fills in the market is scored against it —
closing-line value = closing probability of the token bought − price paid, the best single
predictor of long-run profit. For sports totals without a feed, ``totals`` prices an "Over L"
market from Dixon–Coles Poisson rates (YES = over).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agents.strategies.base import (
    NS_PER_S,
    ONE,
    ZERO,
    MarketView,
    Proposal,
    Strategy,
    StrategyConfig,
    register,
    take_best_side,
)
from agents.strategies.pricing import to_prob, total_over_probability
from protocols import Fill, Payload, ReferenceProbability, Side, TimeInForce, TopOfBook


class TotalsSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    home_rate: float = Field(gt=0, allow_inf_nan=False)
    away_rate: float = Field(gt=0, allow_inf_nan=False)
    line: float = Field(ge=0, allow_inf_nan=False)
    rho: float = Field(default=0.0, ge=-1, le=1, allow_inf_nan=False)


class ClosingLineValueConfig(StrategyConfig):
    max_reference_age_ns: int = Field(default=60 * NS_PER_S, gt=0)
    totals: dict[str, TotalsSpec] = Field(default_factory=dict)
    trade_after_close: bool = False
    tif: Literal[TimeInForce.FOK, TimeInForce.FAK] = TimeInForce.FAK


@register
class ClosingLineValue(Strategy[ClosingLineValueConfig]):
    name = "clv_value"
    config_model = ClosingLineValueConfig
    handles = frozenset({ReferenceProbability, TopOfBook, Fill})

    def __init__(self, config: ClosingLineValueConfig | dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.closed: dict[str, Decimal] = {}  # market -> closing P(YES)
        self.entries: dict[str, list[tuple[str, Decimal, Decimal]]] = {}  # market -> (token, price, size)
        self.clv_sum = ZERO
        self.clv_size = ZERO
        self.model: dict[str, Decimal] = {
            m: to_prob(total_over_probability(s.line, s.home_rate, s.away_rate, s.rho))
            for m, s in self.config.totals.items()
        }

    def reference(self, market: str, view: MarketView) -> Decimal | None:
        ref = view.ref_probs.get(market)
        if ref is not None and view.now_ns - ref.time_ns <= self.config.max_reference_age_ns:
            return ref.probability
        return self.model.get(market)

    def on_payload(self, payload: Payload, view: MarketView) -> list[Proposal]:
        if isinstance(payload, Fill):
            self._record_fill(payload, view)
            return []
        if isinstance(payload, ReferenceProbability):
            if payload.closing:
                self._close(payload.market, payload.probability, view)
                if not self.config.trade_after_close:
                    return []
            return self._evaluate(payload.market, view)
        if isinstance(payload, TopOfBook):
            return self._evaluate(payload.market, view)
        return []

    def _evaluate(self, market: str, view: MarketView) -> list[Proposal]:
        if market in self.closed and not self.config.trade_after_close:
            return []
        info = view.info(market)
        q = self.reference(market, view)
        if info is None or q is None or not view.tradable(market):
            return []
        return take_best_side(
            strategy=self.name, info=info, q_yes=q, view=view, cfg=self.config, tif=self.config.tif,
            rationale=f"reference P(YES)={q}",
        )

    def _record_fill(self, fill: Fill, view: MarketView) -> None:
        if fill.side is not Side.BUY:
            return
        if fill.market not in view.ref_probs and fill.market not in self.model:
            return
        self.entries.setdefault(fill.market, []).append((fill.token_id, fill.price, fill.size))
        closing = self.closed.get(fill.market)
        if closing is not None:
            self._score(fill.market, fill.token_id, fill.price, fill.size, closing, view)

    def _close(self, market: str, closing_yes: Decimal, view: MarketView) -> None:
        if market in self.closed:
            return
        self.closed[market] = closing_yes
        for token, price, size in self.entries.get(market, []):
            self._score(market, token, price, size, closing_yes, view)

    def _score(self, market: str, token: str, price: Decimal, size: Decimal, closing_yes: Decimal,
               view: MarketView) -> None:
        info = view.info(market)
        if info is None:
            return
        p_token = closing_yes if token == info.yes_token else ONE - closing_yes
        self.clv_sum += (p_token - price) * size
        self.clv_size += size

    @property
    def average_clv(self) -> Decimal | None:
        return None if self.clv_size == ZERO else self.clv_sum / self.clv_size

    def snapshot(self) -> dict[str, Any]:
        return {
            "closed": {m: str(p) for m, p in self.closed.items()},
            "entries": {m: [[t, str(p), str(s)] for t, p, s in e] for m, e in self.entries.items()},
            "clv_sum": str(self.clv_sum),
            "clv_size": str(self.clv_size),
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.closed = {m: Decimal(p) for m, p in state.get("closed", {}).items()}
        self.entries = {
            m: [(t, Decimal(p), Decimal(s)) for t, p, s in e] for m, e in state.get("entries", {}).items()
        }
        self.clv_sum = Decimal(state.get("clv_sum", "0"))
        self.clv_size = Decimal(state.get("clv_size", "0"))

    def status(self) -> dict[str, Any]:
        avg = self.average_clv
        return {
            "closed_markets": len(self.closed),
            "scored_shares": str(self.clv_size),
            "average_clv": None if avg is None else f"{avg:.4f}",
        }
