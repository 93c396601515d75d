"""Polymarket's fee model: one copy, used by strategies, risk, the simulated exchange, paper,
the live fill builder and the reports.

Why here: the fee is a domain contract every layer must agree on *to the unit*, so it lives in
the lowest layer all of them may import. Fees are **per market**: Gamma sends each market's
``feesEnabled`` and ``feeSchedule = {rate, exponent, takerOnly, rebateRate}``
(``FeeSchedule`` mirrors it). The venue's formula for ``C`` shares filled at price ``p``:

    fee = C × rate × (p(1 − p))^exponent            (pUSD, on either side of the trade)

and the chain books that amount **truncated (floored) at the 5th decimal of pUSD** — not
rounded at the 6th, pUSD's own unit (``/work/shared/reference/polymarket.md``, "Fees, neg-risk,
resolution"; also the captured on-chain ``OrderFilled`` amounts). ``FEE_QUANTUM`` is that step.
Makers pay nothing on a taker-only schedule; ``rebateRate`` is the share of the fees a maker's
fills generated that the venue pays back to the maker (daily).

Two exact paths, proven equal by property tests: Decimal (``taker_fee``) for everything that
thinks in pUSD, and integers in micro-units (``MicroFee``) for the simulated exchange's hot path.
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal, localcontext
from functools import cached_property

from pydantic import BaseModel, ConfigDict, Field

from protocols.enums import Liquidity, Side

ZERO = Decimal(0)
ONE = Decimal(1)
QUARTER = Decimal("0.25")

#: The chain floors every fee to this step (the 5th decimal of pUSD).
FEE_QUANTUM = Decimal("0.00001")
#: pUSD's on-chain unit (6 decimals); rebates are floored to it.
MICRO_QUANTUM = Decimal("0.000001")
#: Micro-units per pUSD / per share, and micro-units per ``FEE_QUANTUM``.
MICRO = 1_000_000
FEE_STEP_MICRO = 10
#: Enough digits that every product of on-tick prices and 6-decimal sizes is exact.
_PREC = 200

MAX_EXPONENT = 8


def _floor(value: Decimal, quantum: Decimal) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = _PREC
        return value.quantize(quantum, rounding=ROUND_FLOOR)


def _check_price(price: Decimal) -> None:
    if not ZERO <= price <= ONE:
        raise ValueError(f"price {price} is outside [0, 1]")


class FeeSchedule(BaseModel):
    """One market's fee schedule, as Gamma sends it (``feesEnabled`` + ``feeSchedule``).

    ``enabled`` False (``feesEnabled: false``) means no fee at all, whatever the other fields say.
    ``fee_type`` is Gamma's label (``crypto_fees``, ``sports_fees_v2``...), kept for reports only:
    nothing keys off it, because the numbers come with every market.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    rate: Decimal = Field(default=ZERO, ge=0, lt=1, allow_inf_nan=False)
    exponent: int = Field(default=1, ge=1, le=MAX_EXPONENT)
    taker_only: bool = True
    rebate_rate: Decimal = Field(default=ZERO, ge=0, le=1, allow_inf_nan=False)
    enabled: bool = True
    fee_type: str = ""

    @classmethod
    def free(cls, fee_type: str = "") -> FeeSchedule:
        """A market with fees disabled (``feesEnabled: false``): every fee is zero."""
        return cls(enabled=False, fee_type=fee_type)

    @property
    def charges(self) -> bool:
        """True when some fill can cost a fee (enabled and a positive rate)."""
        return self.enabled and self.rate > ZERO

    @property
    def effective_rate(self) -> Decimal:
        """The rate that applies: ``rate``, or 0 when fees are disabled."""
        return self.rate if self.enabled else ZERO

    @property
    def rate_bps(self) -> int:
        """The effective rate in whole basis points (what ``fee_rate_bps`` fields carry)."""
        return int(self.effective_rate * 10_000)

    @cached_property
    def micro(self) -> MicroFee:
        """The same schedule on integers (micro-pUSD, micro-shares) for the exchange's hot path."""
        return MicroFee.of(self)


def fee_per_share(schedule: FeeSchedule, price: Decimal) -> Decimal:
    """The taker fee of one share at ``price``, unrounded: ``rate × (p(1 − p))^exponent``.

    For edge estimates per share; what a fill *books* is ``taker_fee`` (rounded as the chain).
    """
    _check_price(price)
    if not schedule.charges:
        return ZERO
    with localcontext() as ctx:
        ctx.prec = _PREC
        return +(schedule.rate * (price * (ONE - price)) ** schedule.exponent)


def fee_cap_per_share(schedule: FeeSchedule) -> Decimal:
    """The highest fee per share any price can cost: the curve's peak at ``p = 1/2``."""
    if not schedule.charges:
        return ZERO
    return schedule.rate * QUARTER**schedule.exponent


def taker_fee(schedule: FeeSchedule, price: Decimal, shares: Decimal) -> Decimal:
    """The fee the chain books for a taker fill of ``shares`` at ``price``, in pUSD.

    ``shares × rate × (p(1 − p))^exponent`` floored at the 5th decimal. The venue takes it in
    pUSD on both sides of the trade, so it does not depend on the side.
    """
    if shares < ZERO:
        raise ValueError(f"shares must not be negative, got {shares}")
    per_share = fee_per_share(schedule, price)
    if per_share == ZERO or shares == ZERO:
        return ZERO
    with localcontext() as ctx:
        ctx.prec = _PREC
        return _floor(shares * per_share, FEE_QUANTUM)


def maker_fee(schedule: FeeSchedule, price: Decimal, shares: Decimal) -> Decimal:
    """What a maker pays for a fill: nothing on a taker-only schedule, the taker's fee otherwise."""
    return ZERO if schedule.taker_only else taker_fee(schedule, price, shares)


def fill_fee(schedule: FeeSchedule, price: Decimal, shares: Decimal, liquidity: Liquidity) -> Decimal:
    """The fee booked on one fill, by the liquidity it took or made."""
    if liquidity is Liquidity.TAKER:
        return taker_fee(schedule, price, shares)
    return maker_fee(schedule, price, shares)


def maker_rebate(schedule: FeeSchedule, price: Decimal, shares: Decimal) -> Decimal:
    """The rebate a maker earns on one fill: ``rebate_rate`` of the taker fee that fill booked,
    floored to pUSD's unit (the venue pays the day's sum; per fill this never overstates it)."""
    if schedule.rebate_rate == ZERO:
        return ZERO
    return _floor(taker_fee(schedule, price, shares) * schedule.rebate_rate, MICRO_QUANTUM)


def net_price(schedule: FeeSchedule, side: Side, price: Decimal) -> Decimal:
    """What one share really costs (BUY) or brings (SELL) as a taker, per share, unrounded.

    For edges: a BUY at ``p`` is worth it only when the share is worth more than this; a SELL
    only when it is worth less.
    """
    fee = fee_per_share(schedule, price)
    return price + fee if side is Side.BUY else price - fee


def taker_cash(schedule: FeeSchedule, side: Side, price: Decimal, shares: Decimal) -> Decimal:
    """The cash a taker fill moves, fee included, as the chain books it: negative for a BUY
    (``-(p × C + fee)``), positive for a SELL (``p × C − fee``)."""
    gross = price * shares
    fee = taker_fee(schedule, price, shares)
    return -(gross + fee) if side is Side.BUY else gross - fee


def taker_edge(schedule: FeeSchedule, side: Side, price: Decimal, fair: Decimal) -> Decimal:
    """Expected profit per share of taking at ``price`` when the share is worth ``fair``, after
    the fee (unrounded; multiply by a size and compare with ``taker_fee`` for the booked one)."""
    net = net_price(schedule, side, price)
    return fair - net if side is Side.BUY else net - fair


class MicroFee:
    """A ``FeeSchedule`` on integers: prices and sizes in micro-units, fees in micro-pUSD.

    Equal to ``taker_fee`` for every on-grid input (a property test checks it): the exact value
    ``q × rate × (p(10⁶ − p))^e / 10^(12e)`` micro-pUSD, floored to a multiple of 10 (1e-5 pUSD).
    """

    __slots__ = ("_den", "_exp", "_num", "_rebate_den", "_rebate_num", "bps")

    def __init__(self, num: int, den: int, exponent: int, rebate_num: int, rebate_den: int, bps: int) -> None:
        self._num = num
        self._exp = exponent
        self._den = den * MICRO ** (2 * exponent) * FEE_STEP_MICRO
        self._rebate_num = rebate_num
        self._rebate_den = rebate_den
        self.bps = bps

    @classmethod
    def of(cls, s: FeeSchedule) -> MicroFee:
        num, den = s.effective_rate.as_integer_ratio()
        rnum, rden = s.rebate_rate.as_integer_ratio()
        return cls(num, den, s.exponent, rnum, rden, s.rate_bps)

    @property
    def charges(self) -> bool:
        return self._num != 0

    def taker_fee(self, price: int, q: int) -> int:
        """Fee in micro-pUSD of ``q`` micro-shares at ``price`` micro-pUSD, floored as the chain."""
        if not self._num:
            return 0
        x = price * (MICRO - price)
        if self._exp != 1:
            x = x**self._exp
        return q * self._num * x // self._den * FEE_STEP_MICRO

    def rebate(self, fee: int) -> int:
        """The maker's rebate in micro-pUSD on a fill whose taker paid ``fee`` micro-pUSD."""
        return fee * self._rebate_num // self._rebate_den if self._rebate_num else 0


__all__ = [
    "FEE_QUANTUM",
    "FEE_STEP_MICRO",
    "MAX_EXPONENT",
    "MICRO_QUANTUM",
    "FeeSchedule",
    "MicroFee",
    "fee_cap_per_share",
    "fee_per_share",
    "fill_fee",
    "maker_fee",
    "maker_rebate",
    "net_price",
    "taker_cash",
    "taker_edge",
    "taker_fee",
]
