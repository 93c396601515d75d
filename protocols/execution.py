"""Execution: orders sent to a venue, what the venue says about them, fills, positions, PnL.

``account`` is the routing key of every private event, so a trader subscribes to its own only.
"""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from protocols.base import Payload
from protocols.enums import Liquidity, OrderStatus, ReasonCode, SettlementStatus, Side, TimeInForce
from protocols.numbers import (
    MarketId,
    Money,
    NonNegMoney,
    PositiveSize,
    Price,
    Size,
    TickSize,
    TimeNs,
    TokenId,
    require_on_tick,
)


class OrderRequest(Payload):
    """A limit order as the trader sends it. ``client_order_id`` is deterministic per intent leg."""

    kind: Literal["order_request"] = "order_request"
    routing_key_field: ClassVar[str | None] = "account"

    time_ns: TimeNs
    client_order_id: str = Field(min_length=1, max_length=128)
    account: str = Field(min_length=1)
    token_id: TokenId
    market: MarketId
    side: Side
    price: Price
    size: PositiveSize
    tick_size: TickSize = Decimal("0.01")
    tif: TimeInForce = TimeInForce.GTC
    post_only: bool = False
    expires_ns: TimeNs | None = None
    neg_risk: bool = False
    intent_id: str = ""
    leg_index: int = Field(default=0, ge=0)
    strategy: str = ""
    reduce_only: bool = False

    @model_validator(mode="after")
    def _rules(self) -> OrderRequest:
        require_on_tick(self.price, self.tick_size)
        if self.tif is TimeInForce.GTD and self.expires_ns is None:
            raise ValueError("expires_ns: a GTD order needs an expiry")
        if self.tif is not TimeInForce.GTD and self.expires_ns is not None:
            raise ValueError("expires_ns: only GTD orders expire")
        if self.post_only and self.tif in (TimeInForce.FOK, TimeInForce.FAK):
            raise ValueError("post_only cannot be combined with FOK/FAK")
        if self.price in (Decimal(0), Decimal(1)):
            raise ValueError(f"price {self.price} must be strictly inside (0, 1) for an order")
        return self

    @property
    def notional(self) -> Decimal:
        return self.price * self.size


class OrderEvent(Payload):
    """A change in an order's life as the venue reports it (ack, fill progress, cancel, reject)."""

    kind: Literal["order_event"] = "order_event"
    routing_key_field: ClassVar[str | None] = "account"

    time_ns: TimeNs
    client_order_id: str = Field(min_length=1)
    venue_order_id: str = ""
    account: str = Field(min_length=1)
    token_id: TokenId
    market: MarketId
    side: Side
    price: Price
    size: Size
    status: OrderStatus
    filled: Size = Decimal(0)
    reason: ReasonCode | None = None
    message: str = ""

    @property
    def remaining(self) -> Decimal:
        return max(self.size - self.filled, Decimal(0))


class Fill(Payload):
    kind: Literal["fill"] = "fill"
    routing_key_field: ClassVar[str | None] = "account"

    time_ns: TimeNs
    fill_id: str = Field(min_length=1)
    client_order_id: str = Field(min_length=1)
    venue_order_id: str = ""
    account: str = Field(min_length=1)
    token_id: TokenId
    market: MarketId
    side: Side
    price: Price
    size: PositiveSize
    fee: NonNegMoney = Decimal(0)
    liquidity: Liquidity = Liquidity.TAKER
    settlement: SettlementStatus = SettlementStatus.MATCHED

    @property
    def cash_flow(self) -> Decimal:
        """Cash out (negative) for a buy, in for a sell, after fees."""
        gross = self.price * self.size
        return (-gross if self.side is Side.BUY else gross) - self.fee


class Position(Payload):
    kind: Literal["position"] = "position"
    routing_key_field: ClassVar[str | None] = "account"

    time_ns: TimeNs
    account: str = Field(min_length=1)
    token_id: TokenId
    market: MarketId
    size: Size
    avg_price: Price = Decimal(0)
    realized_pnl: Money = Decimal(0)


class Balance(Payload):
    kind: Literal["balance"] = "balance"
    routing_key_field: ClassVar[str | None] = "account"

    time_ns: TimeNs
    account: str = Field(min_length=1)
    cash: Money
    reserved: NonNegMoney = Decimal(0)

    @property
    def available(self) -> Decimal:
        return self.cash - self.reserved


class PnLSnapshot(Payload):
    kind: Literal["pnl"] = "pnl"
    routing_key_field: ClassVar[str | None] = "account"

    time_ns: TimeNs
    account: str = Field(min_length=1)
    realized: Money = Decimal(0)
    unrealized: Money = Decimal(0)
    fees: NonNegMoney = Decimal(0)
    equity: Money = Decimal(0)
    exposure: NonNegMoney = Decimal(0)


class Settlement(Payload):
    """Payout of a resolved market to one account: shares redeemed, cash received."""

    kind: Literal["settlement"] = "settlement"
    routing_key_field: ClassVar[str | None] = "account"

    time_ns: TimeNs
    account: str = Field(min_length=1)
    market: MarketId
    token_id: TokenId
    size: Size
    payout_per_share: Price
    cash: Money
