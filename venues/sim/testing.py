"""Stubs for tests and benchmarks: markets and requests with sensible defaults.

Shared so that every package's tests build simulated markets the same way.
"""

from __future__ import annotations

from decimal import Decimal

from protocols import FeeSchedule, MarketInfo, OrderRequest, Side, TimeInForce
from venues.sim.config import DEFAULT_START_NS


def binary_market(
    name: str = "m1",
    *,
    tick: str = "0.01",
    min_size: str = "5",
    fee_rate: str = "0.07",
    fee_exponent: int = 1,
    fees_enabled: bool = True,
    rebate_rate: str = "0",
    neg_risk: bool = False,
    event_id: str = "",
) -> MarketInfo:
    """A market ``name`` with tokens ``{name}-yes`` / ``{name}-no``."""
    return MarketInfo(
        time_ns=DEFAULT_START_NS,
        market=name,
        question=f"Will {name} happen?",
        token_ids=(f"{name}-yes", f"{name}-no"),
        tick_size=Decimal(tick),
        min_order_size=Decimal(min_size),
        fees=FeeSchedule(
            rate=Decimal(fee_rate), exponent=fee_exponent, enabled=fees_enabled, rebate_rate=Decimal(rebate_rate)
        ),
        neg_risk=neg_risk,
        event_id=event_id,
    )


def order(
    account: str,
    coid: str,
    token: str,
    side: Side | str,
    price: str | Decimal,
    size: str | Decimal | int,
    *,
    market: str | None = None,
    tif: TimeInForce | str = TimeInForce.GTC,
    post_only: bool = False,
    expires_ns: int | None = None,
    tick: str = "0.0001",
    time_ns: int = DEFAULT_START_NS,
) -> OrderRequest:
    """An order request; ``market`` defaults to the token's prefix before the last '-'."""
    return OrderRequest(
        time_ns=time_ns,
        client_order_id=coid,
        account=account,
        token_id=token,
        market=market or token.rsplit("-", 1)[0],
        side=Side(side),
        price=Decimal(price),
        size=Decimal(size),
        tick_size=Decimal(tick),
        tif=TimeInForce(tif),
        post_only=post_only,
        expires_ns=expires_ns,
    )
