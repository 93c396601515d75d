"""Gamma's per-market fee fields → ``MarketInfo.fees``, through the same ``market_to_info`` the
market discovery uses. Fixtures reproduce the shapes Gamma sends (reference/polymarket.md,
"Fees"): a ``feeSchedule`` object with JSON numbers, ``feesEnabled``, ``feeType``; no
``category`` on modern markets.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from protocols.fees import FeeSchedule, taker_fee
from venues.polymarket.schemas import GammaMarket, market_to_info

NOW = 1_790_000_000_000_000_000
D = Decimal


def gamma(**fee_fields: Any) -> dict[str, Any]:
    """A modern Gamma market row (no ``category``), with the given fee fields."""
    row: dict[str, Any] = {
        "id": "fee-1",
        "conditionId": "0x" + "cd" * 32,
        "question": "Fee market?",
        "clobTokenIds": '["7001", "7002"]',
        "outcomes": '["Yes", "No"]',
        "active": True,
        "closed": False,
        "acceptingOrders": True,
        "orderPriceMinTickSize": 0.01,
        "orderMinSize": 5,
    }
    row.update(fee_fields)
    return row


def info_fees(row: dict[str, Any]) -> FeeSchedule:
    return market_to_info(GammaMarket.model_validate(row), now_ns=NOW).fees


@pytest.mark.parametrize(
    ("fee_type", "schedule", "expected"),
    [
        ("crypto_fees", {"exponent": 1, "rate": 0.07, "takerOnly": True, "rebateRate": 0},
         FeeSchedule(rate=D("0.07"), exponent=1, taker_only=True, rebate_rate=D(0), fee_type="crypto_fees")),
        ("sports_fees_v2", {"exponent": 1, "rate": 0.05, "takerOnly": True, "rebateRate": 0},
         FeeSchedule(rate=D("0.05"), fee_type="sports_fees_v2")),
        ("sports_fees_v2", {"exponent": 1, "rate": 0.03, "takerOnly": True, "rebateRate": 0},
         FeeSchedule(rate=D("0.03"), fee_type="sports_fees_v2")),
        ("politics_fees", {"exponent": 1, "rate": 0.04, "takerOnly": True, "rebateRate": 0.25},
         FeeSchedule(rate=D("0.04"), rebate_rate=D("0.25"), fee_type="politics_fees")),
    ],
)
def test_gamma_market_with_fee_schedule_gets_that_schedule_not_a_category_rate(
    fee_type: str, schedule: dict[str, Any], expected: FeeSchedule
) -> None:
    assert info_fees(gamma(feesEnabled=True, feeType=fee_type, feeSchedule=schedule)) == expected


def test_gamma_market_with_fees_disabled_books_zero_fees_whatever_the_schedule_says() -> None:
    fees = info_fees(gamma(feesEnabled=False, feeSchedule={"exponent": 1, "rate": 0.07}))
    assert not fees.enabled and not fees.charges
    assert taker_fee(fees, D("0.5"), D(1000)) == 0


def test_gamma_market_without_fee_fields_is_a_market_without_fees() -> None:
    fees = info_fees(gamma())
    assert fees == FeeSchedule.free()


def test_gamma_market_with_fees_enabled_but_no_schedule_uses_the_configured_fallback_rate() -> None:
    m = GammaMarket.model_validate(gamma(feesEnabled=True, feeSchedule=None))
    fees = market_to_info(m, now_ns=NOW, default_fee_rate=D("0.04")).fees
    assert fees == FeeSchedule(rate=D("0.04"))


def test_gamma_fee_schedule_with_empty_and_null_fields_takes_the_venue_defaults() -> None:
    fees = info_fees(
        gamma(feesEnabled=True, feeType="", feeSchedule={"rate": "0.07", "exponent": None, "takerOnly": None,
                                                          "rebateRate": ""})
    )
    assert fees == FeeSchedule(rate=D("0.07"), exponent=1, taker_only=True, rebate_rate=D(0))


def test_gamma_market_with_a_fractional_fee_exponent_is_refused_with_the_field_named() -> None:
    with pytest.raises(ValueError, match="exponent"):
        info_fees(gamma(feesEnabled=True, feeSchedule={"rate": 0.07, "exponent": 1.5}))


def test_gamma_market_info_fee_schedule_survives_the_journal_json_round_trip() -> None:
    from protocols import MarketInfo

    info = market_to_info(GammaMarket.model_validate(gamma(feesEnabled=True, feeSchedule={"rate": 0.05})), now_ns=NOW)
    assert MarketInfo.model_validate_json(info.model_dump_json()) == info
    # a record written before the schedule existed (flat fields) still decodes
    old = info.model_dump(mode="json")
    del old["fees"]
    old.update(fee_rate="0.05", fee_exponent=1, fees_enabled=True)
    assert MarketInfo.model_validate(old).fees == FeeSchedule(rate=D("0.05"))
