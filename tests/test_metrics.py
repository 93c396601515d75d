"""Metrics on known series: every number here is worked out by hand in the comment beside it."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulation import metrics as mx


def test_simple_returns_of_a_known_series() -> None:
    assert mx.simple_returns([100, 110, 99]) == pytest.approx([0.10, -0.10])
    assert mx.simple_returns([Decimal(100), Decimal(100)]) == [0.0]
    with pytest.raises(ValueError):
        mx.simple_returns([0, 1])


def test_sharpe_of_a_known_series() -> None:
    r = [0.01, 0.02, -0.01, 0.02]
    # mean 0.01, sample sd sqrt((0 + 0.0001 + 0.0004 + 0.0001)/3) = 0.0141421
    assert mx.sharpe(r, 1) == pytest.approx(0.01 / math.sqrt(0.0006 / 3))
    assert mx.sharpe(r, 252) == pytest.approx(0.01 / math.sqrt(0.0006 / 3) * math.sqrt(252))


def test_sharpe_is_undefined_for_constant_nonzero_returns_and_zero_for_flat() -> None:
    assert mx.sharpe([0.01, 0.01, 0.01], 1) is None
    assert mx.sharpe([0.0, 0.0], 1) == 0.0
    assert mx.sharpe([0.01], 1) is None


def test_sortino_uses_downside_deviation_over_all_periods() -> None:
    r = [0.02, -0.01, 0.03, -0.02]
    # mean 0.005; downside sqrt((0.0001 + 0.0004)/4) = 0.01118
    assert mx.sortino(r, 1) == pytest.approx(0.005 / math.sqrt(0.0005 / 4))
    assert mx.sortino([0.01, 0.02], 1) is None  # no downside: undefined


def test_max_drawdown_of_a_known_curve() -> None:
    eq = [100, 120, 90, 95, 130, 117]
    # peak 120 → 90 is 25 %; later 130 → 117 is 10 %
    assert mx.max_drawdown(eq) == pytest.approx(0.25)
    assert mx.drawdown_series(eq) == pytest.approx([0, 0, 0.25, 25 / 120, 0, 0.1])
    assert mx.max_drawdown([1, 2, 3]) == 0.0


def test_calmar_is_arithmetic_annual_return_over_drawdown() -> None:
    eq = [100, 90, 110]
    # total return 10 % over half a year → 20 % a year; drawdown 10 %
    half_year = mx.SECONDS_PER_YEAR / 2
    assert mx.annualized_return(eq, half_year) == pytest.approx(0.20)
    assert mx.calmar(eq, half_year) == pytest.approx(2.0)
    assert mx.calmar([100, 101, 102], half_year) is None


def test_win_rate_and_profit_factor_of_known_trades() -> None:
    pnls = [Decimal(3), Decimal(-1), Decimal(2), Decimal(-2), Decimal(0)]
    assert mx.win_rate(pnls) == pytest.approx(2 / 5)
    assert mx.profit_factor(pnls) == pytest.approx(5 / 3)
    assert mx.profit_factor([Decimal(1)]) is None
    assert mx.win_rate([]) is None


def test_half_life_is_the_median() -> None:
    assert mx.half_life([3.0, 1.0, 2.0]) == 2.0
    assert mx.half_life([1.0, 2.0, 3.0, 10.0]) == 2.5
    assert mx.half_life([]) is None


def test_mean_ci95_of_known_values() -> None:
    m, lo, hi = mx.mean_ci95([1.0, 2.0, 3.0, 4.0])
    # mean 2.5, sd 1.2910, t(3) = 3.182 → half-width 2.054
    assert m == 2.5
    assert hi - m == pytest.approx(3.182 * 1.2909944 / 2, rel=1e-4)
    assert lo == pytest.approx(2 * m - hi)
    assert mx.mean_ci95([5.0]) == (5.0, 5.0, 5.0)
    assert all(math.isnan(x) for x in mx.mean_ci95([]))


def test_ci_errs_wide_between_table_rows() -> None:
    # df 22 is not in the table: the t of df 20 (larger) is used, never that of df 25
    xs = [float(i % 3) for i in range(23)]
    m, _lo, hi = mx.mean_ci95(xs)
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / 22)
    assert hi - m == pytest.approx(2.086 * sd / math.sqrt(23))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(1.0, 1e6, allow_nan=False), min_size=1, max_size=50))
def test_drawdown_is_a_fraction_and_zero_at_running_peaks(eq: list[float]) -> None:
    dd = mx.drawdown_series(eq)
    peak = -math.inf
    for e, d in zip(eq, dd, strict=True):
        assert 0.0 <= d < 1.0
        if e >= peak:
            assert d == 0.0
        peak = max(peak, e)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(-0.5, 0.5, allow_nan=False), min_size=2, max_size=40), st.floats(1, 1e6))
def test_sharpe_scales_with_sqrt_of_periods(r: list[float], ppy: float) -> None:
    a = mx.sharpe(r, 1.0)
    b = mx.sharpe(r, ppy)
    if a is None or b is None:
        assert a is None and b is None
    else:
        assert b == pytest.approx(a * math.sqrt(ppy), rel=1e-9, abs=1e-12)
