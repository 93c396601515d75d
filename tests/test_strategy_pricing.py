"""Jump diffusion, Black–Scholes digital limit, Dixon–Coles totals, and Kelly sizing."""

from __future__ import annotations

import math
import random
from decimal import Decimal
from statistics import NormalDist

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.strategies.kelly import kelly_buy, kelly_no, kelly_shares, kelly_yes, round_down
from agents.strategies.pricing import (
    bs_digital_up,
    merton_up_probability,
    poisson_pmf,
    score_matrix,
    total_over_probability,
)
from protocols.fees import FeeSchedule, fee_per_share, taker_fee

D = Decimal


def _closed_form_digital(s: float, k: float, tau: float, sigma: float, mu: float = 0.0) -> float:
    d2 = (math.log(s / k) + (mu - sigma**2 / 2) * tau) / (sigma * math.sqrt(tau))
    return NormalDist().cdf(d2)


@pytest.mark.parametrize(
    ("s", "k", "tau", "sigma"),
    [(100.0, 100.0, 0.01, 0.5), (101.0, 100.0, 15 / 525960, 0.6), (95.0, 100.0, 0.25, 0.8), (100.0, 120.0, 1.0, 0.3)],
)
def test_merton_without_jumps_equals_black_scholes_digital(s: float, k: float, tau: float, sigma: float) -> None:
    expected = _closed_form_digital(s, k, tau, sigma)
    assert merton_up_probability(s, k, tau, sigma, jump_intensity=0.0) == pytest.approx(expected, abs=1e-12)
    # jumps of size exactly zero change nothing, however frequent
    assert merton_up_probability(s, k, tau, sigma, 50.0, 0.0, 0.0) == pytest.approx(expected, abs=1e-10)
    # vanishing intensity converges to the diffusion
    assert merton_up_probability(s, k, tau, sigma, 1e-9, -0.1, 0.2) == pytest.approx(expected, abs=1e-8)
    assert bs_digital_up(s, k, tau, sigma) == pytest.approx(expected, abs=1e-12)


def test_merton_with_jumps_matches_monte_carlo() -> None:
    s, k, tau, sigma, lam, mj, sj = 100.0, 101.0, 0.05, 0.4, 20.0, -0.01, 0.05
    kbar = math.exp(mj + sj**2 / 2) - 1
    rng = random.Random(1)
    n, hits = 100_000, 0
    for _ in range(n):
        jumps = 0
        t = rng.expovariate(lam)
        while t < tau:
            jumps += 1
            t += rng.expovariate(lam)
        x = (-lam * kbar - sigma**2 / 2) * tau + sigma * math.sqrt(tau) * rng.gauss(0, 1)
        x += sum(rng.gauss(mj, sj) for _ in range(jumps))
        hits += s * math.exp(x) >= k
    mc = hits / n
    stderr = math.sqrt(mc * (1 - mc) / n)
    assert merton_up_probability(s, k, tau, sigma, lam, mj, sj) == pytest.approx(mc, abs=4 * stderr)


@settings(max_examples=100, deadline=None)
@given(
    s1=st.floats(50, 150),
    s2=st.floats(50, 150),
    tau=st.floats(1e-6, 1.0),
    sigma=st.floats(0.05, 1.5),
    lam=st.floats(0, 100),
    mj=st.floats(-0.1, 0.1),
    sj=st.floats(0, 0.2),
)
def test_merton_probability_is_monotone_in_spot(
    s1: float, s2: float, tau: float, sigma: float, lam: float, mj: float, sj: float
) -> None:
    lo, hi = sorted((s1, s2))
    p_lo = merton_up_probability(lo, 100.0, tau, sigma, lam, mj, sj)
    p_hi = merton_up_probability(hi, 100.0, tau, sigma, lam, mj, sj)
    assert 0.0 <= p_lo <= p_hi + 1e-12 <= 1.0 + 1e-12


def test_merton_at_expiry_is_the_indicator_with_ties_up() -> None:
    assert merton_up_probability(100.0, 100.0, 0.0, 0.5, 10.0, 0.0, 0.1) == 1.0
    assert merton_up_probability(99.99, 100.0, 0.0, 0.5) == 0.0


def test_merton_refuses_bad_inputs() -> None:
    with pytest.raises(ValueError, match="spot and strike"):
        merton_up_probability(0.0, 100.0, 0.1, 0.5)
    with pytest.raises(ValueError, match="tau and sigma"):
        merton_up_probability(100.0, 100.0, -1.0, 0.5)


def test_totals_without_correction_equal_a_poisson_of_summed_rates() -> None:
    lam, mu = 1.6, 1.1
    expected = 1.0 - sum(poisson_pmf(k, lam + mu) for k in range(3))
    assert total_over_probability(2.5, lam, mu, rho=0.0, max_goals=25) == pytest.approx(expected, abs=1e-9)


def test_dixon_coles_correction_moves_low_scores_and_keeps_total_mass() -> None:
    plain = score_matrix(1.4, 1.2, 0.0)
    corrected = score_matrix(1.4, 1.2, -0.1)
    assert sum(map(sum, corrected)) == pytest.approx(1.0)
    # negative rho inflates 0-0 and 1-1 and deflates 1-0 / 0-1
    assert corrected[0][0] > plain[0][0] and corrected[1][1] > plain[1][1]
    assert corrected[1][0] < plain[1][0] and corrected[0][1] < plain[0][1]


# -- fees and Kelly ----------------------------------------------------------------------------------


def test_fee_curve_matches_rate_times_p_one_minus_p() -> None:
    assert fee_per_share(FeeSchedule(rate=D("0.07")), D("0.5")) == D("0.0175")
    assert fee_per_share(FeeSchedule(rate=D("0.25"), exponent=2), D("0.5")) == D("0.015625")
    assert fee_per_share(FeeSchedule(rate=D("0.07"), enabled=False), D("0.5")) == 0
    assert fee_per_share(FeeSchedule(rate=D("0.07")), D("0.99")) == D("0.000693")


def test_taker_fee_total_is_floored_at_the_fifth_decimal_as_the_chain_books_it() -> None:
    from test_strategist_harness import market

    info = market("m1", fee_rate="0.07")
    # 0.07·0.33·0.67 = 0.015477 per share, × 3.33 = 0.05153841 → 0.05153 (was ceil'd to 0.051539)
    assert taker_fee(info.fees, D("0.33"), D("3.33")) == D("0.05153")


def test_kelly_fractions_for_yes_and_no() -> None:
    assert kelly_yes(D("0.6"), D("0.5")) == D("0.2")
    assert kelly_no(D("0.4"), D("0.5")) == D("0.2")
    assert kelly_yes(D("0.7"), D("0.6")) == D("0.25")  # (0.7 − 0.6)/0.4
    assert kelly_no(D("0.3"), D("0.6")) == D("0.5")  # (0.6 − 0.3)/0.6
    assert kelly_yes(D("0.4"), D("0.5")) == 0  # no edge → no bet
    assert kelly_no(D("0.6"), D("0.5")) == 0
    # NO at YES price p is YES-of-NO at 1 − p with probability 1 − q
    assert kelly_no(D("0.3"), D("0.6")) == kelly_yes(D("0.7"), D("0.4"))
    assert kelly_buy(D("0.9"), D("1")) == 0


@settings(max_examples=200, deadline=None)
@given(
    q=st.decimals(D("0.01"), D("0.99"), places=3),
    p=st.decimals(D("0.01"), D("0.99"), places=2),
    fee_rate=st.decimals(D(0), D("0.1"), places=3),
    frac=st.decimals(D("0.05"), D(1), places=2),
    bankroll=st.decimals(D(10), D(100000), places=2),
)
def test_kelly_shares_spend_at_most_the_fractional_kelly_stake_on_the_grid(
    q: Decimal, p: Decimal, fee_rate: Decimal, frac: Decimal, bankroll: Decimal
) -> None:
    fee = fee_per_share(FeeSchedule(rate=fee_rate), p)
    shares = kelly_shares(q, p, fee, bankroll=bankroll, fraction=frac, size_step=D("0.01"), min_size=D(5))
    net = p + fee
    stake = kelly_buy(q, net) * frac * bankroll
    if q - net <= 0:
        assert shares == 0
        return
    assert shares == round_down(shares, D("0.01"))
    assert shares * net <= stake
    if shares == 0:
        assert (stake / net) < 5 + D("0.01")  # below the minimum size after rounding down
    else:
        assert shares >= 5 and (shares + D("0.01")) * net > stake


@settings(max_examples=100, deadline=None)
@given(
    s=st.floats(90, 110),
    tau_min=st.floats(0.01, 60 * 24),
    sigma=st.floats(0.05, 1.5),
    per_day=st.floats(0, 5),
    mj=st.floats(-0.05, 0.05),
    sj=st.floats(0, 0.05),
)
def test_strategist_fair_value_agrees_with_the_simulations_truth(
    s: float, tau_min: float, sigma: float, per_day: float, mj: float, sj: float
) -> None:
    """A strategist configured with the scenario's process finds the simulator's truth exactly."""
    from agents.strategies.crypto_fair_value import CryptoFairValue
    from simulation.reference import merton_up_probability as sim_truth

    tau_ns = int(tau_min * 60 * 1_000_000_000)
    strat = CryptoFairValue({"sigma": sigma, "jumps_per_day": per_day, "jump_mean": mj, "jump_std": sj})
    t0 = 1_767_225_600_000_000_000
    ours = strat.probability_up(Decimal(repr(s)), Decimal(100), t0, t0 + tau_ns)
    truth = sim_truth(s, 100.0, tau_ns / 1e9 / (365 * 86400), sigma=sigma, jump_intensity_per_year=per_day * 365,
                      jump_mean=mj, jump_std=sj)
    assert abs(float(ours) - truth) <= 1e-6 + 1e-9
