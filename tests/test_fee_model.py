"""The one fee model (protocols.fees): the venue's formula, the chain's rounding, and the two
exact paths (Decimal and micro-integers) agreeing to the unit.

The rounding rule under test: the chain books ``C × rate × (p(1 − p))^exponent`` pUSD
**floored at the 5th decimal** (reference/polymarket.md, "Fees, neg-risk, resolution").
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from protocols import Liquidity, Side
from protocols.fees import (
    FEE_QUANTUM,
    FeeSchedule,
    fee_cap_per_share,
    fee_per_share,
    fill_fee,
    maker_fee,
    maker_rebate,
    net_price,
    taker_cash,
    taker_edge,
    taker_fee,
)

D = Decimal
CRYPTO = FeeSchedule(rate=D("0.07"), exponent=1, taker_only=True, rebate_rate=D(0), fee_type="crypto_fees")
SPORTS = FeeSchedule(rate=D("0.05"), exponent=1, taker_only=True, fee_type="sports_fees_v2")
POLITICS = FeeSchedule(rate=D("0.04"), exponent=1, rebate_rate=D("0.25"), fee_type="politics_fees")


# Worked fills: (schedule, price, shares, fee the chain books). Each exact value is written out so
# a reader can check the floor; the last column is what the old 6th-decimal roundings booked.
@pytest.mark.parametrize(
    ("schedule", "price", "shares", "exact", "booked"),
    [
        (CRYPTO, "0.5", "10", "0.175", "0.17500"),
        (SPORTS, "0.33", "7", "0.077385", "0.07738"),  # half-even/ceil at 1e-6 booked 0.077385
        (CRYPTO, "0.123", "13.37", "0.1009564689", "0.10095"),  # ceil at 1e-6 booked 0.100957
        (POLITICS, "0.999", "5", "0.0001998", "0.00019"),
        (CRYPTO, "0.01", "1", "0.000693", "0.00069"),
        (CRYPTO, "0.0001", "5", "0.0000349965", "0.00003"),
    ],
)
def test_taker_fee_of_a_fill_is_the_formula_floored_at_the_fifth_decimal(
    schedule: FeeSchedule, price: str, shares: str, exact: str, booked: str
) -> None:
    p, c = D(price), D(shares)
    assert c * fee_per_share(schedule, p) == D(exact)
    fee = taker_fee(schedule, p, c)
    assert fee == D(booked)
    assert fee.as_tuple().exponent == -5
    assert schedule.micro.taker_fee(int(p * 1_000_000), int(c * 1_000_000)) == int(D(booked) * 1_000_000)


def test_taker_fee_with_exponent_two_uses_the_squared_curve() -> None:
    s = FeeSchedule(rate=D("0.25"), exponent=2)
    # 100 × 0.25 × (0.4 × 0.6)² = 1.44
    assert taker_fee(s, D("0.4"), D(100)) == D("1.44000")


def test_taker_fee_when_fees_disabled_is_zero_whatever_the_rate() -> None:
    s = FeeSchedule(rate=D("0.07"), enabled=False)
    assert taker_fee(s, D("0.5"), D(1000)) == 0
    assert fee_per_share(s, D("0.5")) == 0
    assert fee_cap_per_share(s) == 0
    assert s.rate_bps == 0
    assert s.micro.taker_fee(500_000, 10**9) == 0
    assert FeeSchedule.free().charges is False


def test_maker_on_a_taker_only_schedule_pays_nothing_and_earns_the_rebate_share() -> None:
    p, c = D("0.4"), D(100)
    assert maker_fee(POLITICS, p, c) == 0
    assert fill_fee(POLITICS, p, c, Liquidity.MAKER) == 0
    assert fill_fee(POLITICS, p, c, Liquidity.TAKER) == D("0.96000")
    assert maker_rebate(POLITICS, p, c) == D("0.24")
    assert maker_rebate(CRYPTO, p, c) == 0
    fee_micro = POLITICS.micro.taker_fee(400_000, 100_000_000)
    assert POLITICS.micro.rebate(fee_micro) == 240_000


def test_maker_on_a_schedule_not_taker_only_pays_the_taker_curve() -> None:
    s = FeeSchedule(rate=D("0.02"), taker_only=False)
    assert maker_fee(s, D("0.3"), D(50)) == taker_fee(s, D("0.3"), D(50)) == D("0.21000")


def test_net_price_and_edge_add_the_fee_for_a_buy_and_subtract_it_for_a_sell() -> None:
    p = D("0.40")
    per = D("0.07") * p * (1 - p)
    assert net_price(CRYPTO, Side.BUY, p) == p + per
    assert net_price(CRYPTO, Side.SELL, p) == p - per
    assert taker_edge(CRYPTO, Side.BUY, p, D("0.45")) == D("0.45") - p - per
    assert taker_edge(CRYPTO, Side.SELL, p, D("0.35")) == p - per - D("0.35")


def test_taker_cash_books_notional_and_floored_fee() -> None:
    assert taker_cash(SPORTS, Side.BUY, D("0.33"), D(7)) == -(D("2.31") + D("0.07738"))
    assert taker_cash(SPORTS, Side.SELL, D("0.33"), D(7)) == D("2.31") - D("0.07738")


def test_schedule_with_invalid_fields_is_refused_with_the_field_named() -> None:
    with pytest.raises(ValidationError, match="rate"):
        FeeSchedule(rate=D("-0.01"))
    with pytest.raises(ValidationError, match="exponent"):
        FeeSchedule(rate=D("0.07"), exponent=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="exponent"):
        FeeSchedule(rate=D("0.07"), exponent=0)
    with pytest.raises(ValidationError, match="rebate_rate"):
        FeeSchedule(rate=D("0.07"), rebate_rate=D(2))
    with pytest.raises(ValueError, match="outside"):
        taker_fee(CRYPTO, D("1.01"), D(1))


def test_schedule_round_trips_through_json_and_accepts_whole_exponent_numbers() -> None:
    s = FeeSchedule.model_validate({"rate": 0.07, "exponent": 1.0, "rebate_rate": "0.25"})
    assert s.exponent == 1 and s.rate == D("0.07")
    assert FeeSchedule.model_validate_json(s.model_dump_json()) == s


# ---------------------------------------------------------------------------------- properties

ticks = st.sampled_from([D("0.1"), D("0.01"), D("0.001"), D("0.0001")])
schedules = st.builds(
    FeeSchedule,
    rate=st.integers(0, 2500).map(lambda r: D(r) / 10_000),
    exponent=st.integers(1, 4),
    taker_only=st.booleans(),
    rebate_rate=st.integers(0, 100).map(lambda r: D(r) / 100),
    enabled=st.booleans(),
)


@st.composite
def fills(draw: st.DrawFn) -> tuple[Decimal, Decimal]:
    tick = draw(ticks)
    n = int(1 / tick)
    price = draw(st.integers(0, n)) * tick
    shares = D(draw(st.integers(0, 10**10))) / 1_000_000  # up to 10,000 shares, 6 decimals
    return price, shares


@given(schedules, fills())
def test_taker_fee_is_nonnegative_symmetric_capped_and_within_one_quantum_of_exact(
    s: FeeSchedule, fill: tuple[Decimal, Decimal]
) -> None:
    price, shares = fill
    fee = taker_fee(s, price, shares)
    exact = shares * fee_per_share(s, price)
    assert fee >= 0
    assert fee == taker_fee(s, 1 - price, shares)
    assert fee <= shares * fee_cap_per_share(s)
    assert fee <= exact < fee + FEE_QUANTUM
    assert fee == fee.quantize(FEE_QUANTUM, rounding=ROUND_HALF_EVEN)  # on the chain's grid


@given(schedules, fills())
def test_micro_integer_path_books_the_same_fee_and_rebate_as_the_decimal_path(
    s: FeeSchedule, fill: tuple[Decimal, Decimal]
) -> None:
    price, shares = fill
    fee = taker_fee(s, price, shares)
    micro = s.micro.taker_fee(int(price * 1_000_000), int(shares * 1_000_000))
    assert D(micro) / 1_000_000 == fee
    assert D(s.micro.rebate(micro)) / 1_000_000 == maker_rebate(s, price, shares)
