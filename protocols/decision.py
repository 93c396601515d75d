"""Decisions: what a strategy believes (Signal) and what it wants done (OrderIntent)."""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from protocols.base import Payload
from protocols.enums import Side, TimeInForce
from protocols.numbers import (
    DurationNs,
    MarketId,
    Money,
    PositiveSize,
    Price,
    TickSize,
    TimeNs,
    TokenId,
    require_on_tick,
)


class Signal(Payload):
    kind: Literal["signal"] = "signal"
    routing_key_field: ClassVar[str | None] = "market"

    time_ns: TimeNs
    strategy: str = Field(min_length=1)
    market: MarketId
    token_id: TokenId
    side: Side
    fair_value: Price
    price: Price
    edge: Decimal
    ev: Money
    ttl_ns: DurationNs
    rationale: str = ""


class IntentLeg(Payload):
    kind: Literal["intent_leg"] = "intent_leg"

    token_id: TokenId
    market: MarketId
    side: Side
    price: Price
    size: PositiveSize
    tick_size: TickSize = Decimal("0.01")
    tif: TimeInForce = TimeInForce.GTC
    post_only: bool = False
    neg_risk: bool = False
    event_id: str = ""

    @model_validator(mode="after")
    def _tick(self) -> IntentLeg:
        require_on_tick(self.price, self.tick_size)
        if self.post_only and self.tif in (TimeInForce.FOK, TimeInForce.FAK):
            raise ValueError("post_only cannot be combined with FOK/FAK")
        return self

    @property
    def notional(self) -> Decimal:
        return self.price * self.size


class OrderIntent(Payload):
    """One or more legs a strategy wants executed. ``paired`` legs are all-or-unwind."""

    kind: Literal["order_intent"] = "order_intent"
    routing_key_field: ClassVar[str | None] = None

    time_ns: TimeNs
    intent_id: str = Field(min_length=1)
    strategy: str = Field(min_length=1)
    legs: tuple[IntentLeg, ...] = Field(min_length=1)
    paired: bool = False
    reduce_only: bool = False
    expires_ns: TimeNs | None = None
    fair_value: Price | None = None
    edge: Decimal = Decimal(0)
    ev: Money = Decimal(0)
    kelly_fraction: Decimal = Decimal(0)
    rationale: str = ""

    @property
    def notional(self) -> Decimal:
        return sum((leg.notional for leg in self.legs), Decimal(0))
