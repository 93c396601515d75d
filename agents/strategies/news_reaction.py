"""News reaction: shift a market's fair value by sentiment × impact and trade the gap.

Assumptions: the market's mid just before the news is its fair value; a matched item moves the
log-odds by ``impact × sentiment × novelty`` (log-odds so the shift can never leave (0, 1) and a
favourite moves less in price than a coin flip); the move is tradable only while the item is
fresh (``max_news_age_ns`` since it became public) and for ``window_ns`` after, after which the
market is assumed to have absorbed it. Duplicates and recycled stories arrive with low novelty
from the news scout and move little.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import Field

from agents.strategies.base import (
    NS_PER_S,
    ONE,
    MarketView,
    Proposal,
    Strategy,
    StrategyConfig,
    register,
    take_best_side,
)
from agents.strategies.pricing import expit, logit, to_prob
from protocols import NewsItem, Payload, TimeInForce, TopOfBook


class NewsReactionConfig(StrategyConfig):
    impact: float = Field(default=1.0, ge=0, allow_inf_nan=False)
    """Log-odds shift for sentiment 1 and novelty 1 (0.5 → 0.73)."""
    min_abs_sentiment: float = Field(default=0.1, ge=0, le=1, allow_inf_nan=False)
    max_news_age_ns: int = Field(default=120 * NS_PER_S, gt=0)
    window_ns: int = Field(default=300 * NS_PER_S, gt=0)
    tif: Literal[TimeInForce.FOK, TimeInForce.FAK] = TimeInForce.FAK


def market_mid(view: MarketView, market: str) -> Decimal | None:
    """The YES mid, from the YES book, else mirrored from the NO book, else the last trade."""
    info = view.info(market)
    if info is None:
        return None
    yb = view.book(info.yes_token)
    if yb is not None and yb.mid is not None:
        return yb.mid
    nb = view.book(info.no_token)
    if nb is not None and nb.mid is not None:
        return ONE - nb.mid
    last = view.last_trade.get(info.yes_token)
    if last is not None:
        return last
    last_no = view.last_trade.get(info.no_token)
    return None if last_no is None else ONE - last_no


@register
class NewsReaction(Strategy[NewsReactionConfig]):
    name = "news_reaction"
    config_model = NewsReactionConfig
    handles = frozenset({NewsItem, TopOfBook})

    def __init__(self, config: NewsReactionConfig | dict[str, Any] | None = None) -> None:
        super().__init__(config)
        # market -> (fair value of YES, valid until ns, item id)
        self.fair: dict[str, tuple[Decimal, int, str]] = {}
        self.reacted = 0

    def on_payload(self, payload: Payload, view: MarketView) -> list[Proposal]:
        c = self.config
        now = view.now_ns
        if isinstance(payload, NewsItem):
            if abs(payload.sentiment) < c.min_abs_sentiment or now - payload.published_ns > c.max_news_age_ns:
                return []
            out: list[Proposal] = []
            for market in payload.markets:
                base = market_mid(view, market)
                if base is None or not view.tradable(market):
                    continue
                prev = self.fair.get(market)
                if prev is not None and prev[1] > now:
                    base = prev[0]  # stories stack on the fair value still in force
                shift = c.impact * payload.sentiment * payload.novelty
                fair = to_prob(expit(logit(float(base)) + shift))
                self.fair[market] = (fair, now + c.window_ns, payload.item_id)
                self.reacted += 1
                out.extend(self._trade(market, view, f"news {payload.item_id}: {base} -> {fair}"))
            return out
        if isinstance(payload, TopOfBook):
            entry = self.fair.get(payload.market)
            if entry is None:
                return []
            if entry[1] <= now:
                del self.fair[payload.market]
                return []
            return self._trade(payload.market, view, f"news {entry[2]}: fair {entry[0]}")
        return []

    def fair_value(self, market: str, now_ns: int) -> Decimal | None:
        entry = self.fair.get(market)
        return entry[0] if entry is not None and entry[1] > now_ns else None

    def _trade(self, market: str, view: MarketView, why: str) -> list[Proposal]:
        info = view.info(market)
        fair = self.fair_value(market, view.now_ns)
        if info is None or fair is None:
            return []
        return take_best_side(
            strategy=self.name, info=info, q_yes=fair, view=view, cfg=self.config, tif=self.config.tif,
            rationale=why,
        )

    def snapshot(self) -> dict[str, Any]:
        return {"fair": {m: [str(f), t, i] for m, (f, t, i) in self.fair.items()}, "reacted": self.reacted}

    def restore(self, state: dict[str, Any]) -> None:
        self.fair = {m: (Decimal(f), int(t), str(i)) for m, (f, t, i) in state.get("fair", {}).items()}
        self.reacted = int(state.get("reacted", 0))

    def status(self) -> dict[str, Any]:
        return {"reacted": self.reacted, "fair": {m: str(f) for m, (f, _, _) in sorted(self.fair.items())}}
