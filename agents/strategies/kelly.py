"""Fractional Kelly sizing for binary contracts, on the edge net of fees.

For a contract bought at ``p`` that pays 1 with probability ``q``: f* = (q − p)/(1 − p) for YES,
and for NO (bought at 1 − p, paying with probability 1 − q) f* = (p − q)/p. Fees come off first:
the price used is the net cost per share (price + fee), so a trade whose edge does not clear the
fee gets a zero fraction. A fraction ``c`` of f* keeps about c(2 − c) of the maximum growth rate
with far less variance, which is why ``kelly_fraction`` defaults to 0.25.
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal

ZERO = Decimal(0)
ONE = Decimal(1)


def kelly_yes(q: Decimal, p: Decimal) -> Decimal:
    """Full-Kelly fraction of bankroll for buying YES at ``p`` with model probability ``q``."""
    if not ZERO <= q <= ONE:
        raise ValueError(f"probability {q} is outside [0, 1]")
    if not ZERO < p < ONE:
        raise ValueError(f"price {p} must be strictly inside (0, 1)")
    return max(ZERO, (q - p) / (ONE - p))


def kelly_no(q: Decimal, p: Decimal) -> Decimal:
    """Full-Kelly fraction for buying NO when YES trades at ``p`` and YES has probability ``q``."""
    if not ZERO <= q <= ONE:
        raise ValueError(f"probability {q} is outside [0, 1]")
    if not ZERO < p < ONE:
        raise ValueError(f"price {p} must be strictly inside (0, 1)")
    return max(ZERO, (p - q) / p)


def kelly_buy(win_probability: Decimal, net_price: Decimal) -> Decimal:
    """Full-Kelly fraction for buying a token that wins with ``win_probability`` at ``net_price``.

    ``net_price`` is price plus fee per share; this is :func:`kelly_yes` for the token bought.
    A net price at or above 1 can never pay and gives 0.
    """
    if net_price >= ONE:
        return ZERO
    return kelly_yes(win_probability, net_price)


def round_down(value: Decimal, step: Decimal) -> Decimal:
    """``value`` rounded down to a multiple of ``step`` (sizes never round up into more risk)."""
    if step <= ZERO:
        raise ValueError(f"step must be positive, got {step}")
    if value <= ZERO:
        return ZERO
    return (value / step).to_integral_value(rounding=ROUND_FLOOR) * step


def kelly_shares(
    win_probability: Decimal,
    price: Decimal,
    fee_per_share: Decimal,
    *,
    bankroll: Decimal,
    fraction: Decimal,
    size_step: Decimal,
    min_size: Decimal,
) -> Decimal:
    """Shares to buy: fraction × f* × bankroll spent at the net cost, on the size grid.

    Returns 0 when the result is below the venue's minimum size: a trade too small to place is no
    trade, never a trade rounded up.
    """
    net = price + fee_per_share
    if net <= ZERO:
        return ZERO
    f = kelly_buy(win_probability, net) * fraction
    shares = round_down(f * bankroll / net, size_step)
    return shares if shares >= min_size and shares > ZERO else ZERO
