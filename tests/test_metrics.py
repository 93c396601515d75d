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
    # mean 2.5, sd 1.2910, t(0.975, 3) = 3.182446 (printed tables) → half-width 2.0542
    assert m == 2.5
    assert hi - m == pytest.approx(3.182446 * 1.2909944 / 2, rel=1e-6)
    assert lo == pytest.approx(2 * m - hi)
    assert all(math.isnan(x) for x in mx.mean_ci95([]))


def test_mean_ci95_of_one_value_has_no_interval_not_a_zero_width_one() -> None:
    m, lo, hi = mx.mean_ci95([5.0])
    assert m == 5.0 and math.isnan(lo) and math.isnan(hi)


def test_mean_ci95_uses_the_exact_t_between_printed_table_rows() -> None:
    # df 22: t(0.975, 22) = 2.073873 (between the df 20 and df 25 rows of a printed table)
    xs = [float(i % 3) for i in range(23)]
    m, _lo, hi = mx.mean_ci95(xs)
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / 22)
    assert hi - m == pytest.approx(2.073873 * sd / math.sqrt(23), rel=1e-6)


def test_mean_ci95_is_clipped_to_the_domain() -> None:
    # three seeds of a count: 0, 0, 3 → the t interval reaches −3.27; a count cannot
    m, lo, hi = mx.mean_ci95([0.0, 0.0, 3.0], 0.0, None)
    assert m == 1.0 and lo == 0.0 and hi == pytest.approx(1 + 4.302653 * math.sqrt(3) / math.sqrt(3))
    # a rate of 1, 1, 0.5 → the t interval passes 1
    m, lo, hi = mx.mean_ci95([1.0, 1.0, 0.5], 0.0, 1.0)
    assert hi == 1.0 and 0.0 <= lo < m < hi


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=2, max_size=30))
def test_mean_ci95_of_a_rate_stays_in_0_1_and_holds_the_mean(xs: list[float]) -> None:
    m, lo, hi = mx.mean_ci95(xs, 0.0, 1.0)
    assert 0.0 <= lo <= m + 1e-12 and m - 1e-12 <= hi <= 1.0
    m2, lo2, hi2 = mx.mean_ci95(xs)
    assert lo2 <= lo and hi <= hi2  # clipping only ever narrows the unclipped interval
    assert hi2 - m2 == pytest.approx(m2 - lo2, abs=1e-9)


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
