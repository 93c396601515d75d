"""Whale copy: follow a trade of a wallet whose score clears a bar, smaller, and only if still cheap.

Assumptions: a good wallet's trade carries an informational edge of ``edge_per_score × score``
over the price it paid (so fair value = whale's price + that edge, in the token it bought); we
arrive late (``max_delay_ns``) and the price may have run away, so we copy only if our best ask is
within ``max_slippage`` of the whale's price, and only if the edge left clears the taker fee plus
``min_edge``. A whale SELL of a token is copied as a BUY of the complement (same exposure, no
inventory needed). Size: ``copy_fraction`` × the whale's size, capped at ``max_shares`` and by
fractional Kelly on the remaining edge.
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
    taker_buy,
)
from agents.strategies.kelly import round_down
from protocols import Payload, Side, TimeInForce, WhaleTrade


class WhaleCopyConfig(StrategyConfig):
    min_score: float = Field(default=0.3, ge=-1, le=1, allow_inf_nan=False)
    min_trades: int = Field(default=5, ge=0)
    copy_fraction: Decimal = Field(default=Decimal("0.1"), gt=0, le=1)
    max_shares: Decimal = Field(default=Decimal(200), gt=0)
    max_delay_ns: int = Field(default=60 * NS_PER_S, gt=0)
    max_slippage: Decimal = Field(default=Decimal("0.02"), ge=0)
    edge_per_score: Decimal = Field(default=Decimal("0.08"), ge=0)
    copy_sells: bool = True
    use_kelly: bool = True
    tif: Literal[TimeInForce.FOK, TimeInForce.FAK] = TimeInForce.FAK


@register
class WhaleCopy(Strategy[WhaleCopyConfig]):
    name = "whale_copy"
    config_model = WhaleCopyConfig
    handles = frozenset({WhaleTrade})

    def __init__(self, config: WhaleCopyConfig | dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.copied = 0
        self.skipped: dict[str, int] = {}

    def _skip(self, reason: str) -> list[Proposal]:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1
        return []

    def on_payload(self, payload: Payload, view: MarketView) -> list[Proposal]:
        if not isinstance(payload, WhaleTrade):
            return []
        c = self.config
        info = view.info(payload.market)
        if info is None or not view.tradable(info.market) or payload.token_id not in info.token_ids:
            return self._skip("UNKNOWN_MARKET")
        score = payload.score
        if score is None or score.score < c.min_score or score.trades < c.min_trades:
            return self._skip("LOW_SCORE")
        if view.now_ns - payload.time_ns > c.max_delay_ns:
            return self._skip("TOO_LATE")
        if payload.side is Side.BUY:
            token, whale_price = payload.token_id, payload.price
        elif c.copy_sells:
            token = info.no_token if payload.token_id == info.yes_token else info.yes_token
            whale_price = ONE - payload.price
        else:
            return self._skip("SELL_NOT_COPIED")
        book = view.book(token)
        if book is None or book.best_ask is None:
            return self._skip("NO_BOOK")
        if book.best_ask > whale_price + c.max_slippage:
            return self._skip("RAN_AWAY")
        fair = min(Decimal("0.99"), whale_price + c.edge_per_score * Decimal(repr(score.score)))
        max_shares = round_down(min(payload.size * c.copy_fraction, c.max_shares), c.size_step)
        prop = taker_buy(
            strategy=self.name, info=info, token=token, book=book, win_probability=fair, view=view, cfg=c,
            tif=c.tif, max_shares=max_shares, use_kelly=c.use_kelly,
            rationale=(
                f"copy {payload.wallet} (score {score.score:.2f}) "
                f"{payload.side.value} {payload.size}@{payload.price}"
            ),
        )
        if prop is None:
            return self._skip("NO_EDGE")
        self.copied += 1
        return [prop]

    def snapshot(self) -> dict[str, Any]:
        return {"copied": self.copied, "skipped": dict(self.skipped)}

    def restore(self, state: dict[str, Any]) -> None:
        self.copied = int(state.get("copied", 0))
        self.skipped = {k: int(v) for k, v in state.get("skipped", {}).items()}

    def status(self) -> dict[str, Any]:
        return {"copied": self.copied, "skipped": dict(sorted(self.skipped.items()))}
