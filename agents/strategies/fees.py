"""Polymarket's taker fee curve, in exact Decimal.

Why a module of its own: every strategy must clear fees before it may trade, and the curve is
configuration per market (``MarketInfo.fee_rate`` / ``fee_exponent`` / ``fees_enabled``), not a
constant. Per share a taker pays ``rate × (p(1 − p))^exponent``; makers pay nothing.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal

from protocols import MarketInfo

ZERO = Decimal(0)
ONE = Decimal(1)
MICRO_Q = Decimal("0.000001")


def fee_per_share(price: Decimal, rate: Decimal, exponent: int = 1, *, enabled: bool = True) -> Decimal:
    """Taker fee per share at ``price``: ``rate × (p(1 − p))^exponent`` (0 when fees are off)."""
    if not enabled or rate == ZERO:
        return ZERO
    if price < ZERO or price > ONE:
        raise ValueError(f"price {price} is outside [0, 1]")
    if exponent < 0:
        raise ValueError(f"fee exponent must not be negative, got {exponent}")
    return rate * (price * (ONE - price)) ** exponent


def market_fee_per_share(info: MarketInfo, price: Decimal) -> Decimal:
    """The taker fee per share of ``info``'s market at ``price``."""
    return fee_per_share(price, info.fee_rate, info.fee_exponent, enabled=info.fees_enabled)


def taker_fee(info: MarketInfo, price: Decimal, size: Decimal) -> Decimal:
    """Total taker fee for ``size`` shares at ``price``, rounded *up* to a micro-pUSD.

    Rounding up keeps every edge estimate on the safe side of the venue's own rounding.
    """
    return (market_fee_per_share(info, price) * size).quantize(MICRO_Q, rounding=ROUND_CEILING)


def net_cost(info: MarketInfo, price: Decimal) -> Decimal:
    """What one share bought as a taker really costs: price plus fee."""
    return price + market_fee_per_share(info, price)
