"""Pricing models: Merton jump diffusion for crypto up/down markets, Dixon–Coles for totals.

These produce *model probabilities* (floats: they are beliefs, not money). Strategies turn them
into Decimal at the boundary, quantised to 1e-6, before they meet prices and fees.
"""

from __future__ import annotations

import math
from decimal import Decimal

#: A 365-day year: crypto trades every day, and the simulation's reference process uses the same.
NS_PER_YEAR = 365 * 24 * 3600 * 1_000_000_000
DAYS_PER_YEAR = 365.0


def norm_cdf(x: float) -> float:
    """Standard normal CDF Φ(x), via erfc for accuracy in the tails."""
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def bs_digital_up(spot: float, strike: float, tau: float, sigma: float, mu: float = 0.0) -> float:
    """P(S_T ≥ K) under geometric Brownian motion: Φ(d₂), d₂ = [ln(S/K) + (μ − σ²/2)τ] / (σ√τ)."""
    _check(spot, strike, tau, sigma)
    if tau == 0.0 or sigma == 0.0:
        drift = math.log(spot / strike) + (mu - 0.5 * sigma * sigma) * tau
        return 1.0 if drift >= 0.0 else 0.0
    d2 = (math.log(spot / strike) + (mu - 0.5 * sigma * sigma) * tau) / (sigma * math.sqrt(tau))
    return norm_cdf(d2)


def merton_up_probability(
    spot: float,
    strike: float,
    tau: float,
    sigma: float,
    jump_intensity: float = 0.0,
    jump_mean: float = 0.0,
    jump_std: float = 0.0,
    mu: float = 0.0,
    min_terms: int = 20,
) -> float:
    """P(S_T ≥ K) under Merton's jump diffusion (ties resolve Up, as Chainlink markets do).

    P = Σₙ e^{−λτ}(λτ)ⁿ/n! · Φ(dₙ),
    dₙ = [ln(S/K) + (μ − λk̄ − σ²/2)τ + n·μ_J] / √(σ²τ + n·σ_J²), k̄ = e^{μ_J + σ_J²/2} − 1.

    ``tau`` is in years, ``sigma`` annualised, ``jump_intensity`` λ in jumps per year, jump sizes
    log-normal with mean ``jump_mean`` and std ``jump_std``. The Poisson sum runs for at least
    ``min_terms`` terms and until the remaining Poisson weight is below 1e-12.
    """
    _check(spot, strike, tau, sigma)
    if jump_intensity < 0.0 or jump_std < 0.0:
        raise ValueError("jump intensity and jump std must not be negative")
    lam_tau = jump_intensity * tau
    if lam_tau == 0.0:
        return bs_digital_up(spot, strike, tau, sigma, mu)
    kbar = math.exp(jump_mean + 0.5 * jump_std * jump_std) - 1.0
    base = math.log(spot / strike) + (mu - jump_intensity * kbar - 0.5 * sigma * sigma) * tau
    max_terms = max(min_terms, int(lam_tau + 12.0 * math.sqrt(lam_tau) + 12.0))
    total = 0.0
    weight_sum = 0.0
    log_w = -lam_tau  # log of the n = 0 Poisson weight
    for n in range(max_terms + 1):
        if n > 0:
            log_w += math.log(lam_tau) - math.log(n)
        w = math.exp(log_w)
        var = sigma * sigma * tau + n * jump_std * jump_std
        num = base + n * jump_mean
        phi = (1.0 if num >= 0.0 else 0.0) if var == 0.0 else norm_cdf(num / math.sqrt(var))
        total += w * phi
        weight_sum += w
        if n >= min_terms and 1.0 - weight_sum < 1e-12:
            break
    return min(1.0, max(0.0, total))


def _check(spot: float, strike: float, tau: float, sigma: float) -> None:
    if not (spot > 0.0 and strike > 0.0):
        raise ValueError(f"spot and strike must be positive, got S={spot}, K={strike}")
    if tau < 0.0 or sigma < 0.0 or math.isnan(tau) or math.isnan(sigma):
        raise ValueError(f"tau and sigma must be non-negative numbers, got tau={tau}, sigma={sigma}")


def years_between(start_ns: int, end_ns: int) -> float:
    return max(0, end_ns - start_ns) / NS_PER_YEAR


# -- sports totals ---------------------------------------------------------------------------------


def poisson_pmf(k: int, lam: float) -> float:
    if k < 0:
        return 0.0
    if lam < 0.0:
        raise ValueError(f"Poisson rate must not be negative, got {lam}")
    if lam == 0.0:
        return 1.0 if k == 0 else 0.0
    return math.exp(k * math.log(lam) - lam - math.lgamma(k + 1))


def dixon_coles_tau(h: int, a: int, lam: float, mu: float, rho: float) -> float:
    """Dixon–Coles low-score correction: τ(0,0)=1−λμρ, τ(0,1)=1+λρ, τ(1,0)=1+μρ, τ(1,1)=1−ρ."""
    if h == 0 and a == 0:
        return 1.0 - lam * mu * rho
    if h == 0 and a == 1:
        return 1.0 + lam * rho
    if h == 1 and a == 0:
        return 1.0 + mu * rho
    if h == 1 and a == 1:
        return 1.0 - rho
    return 1.0


def score_matrix(lam: float, mu: float, rho: float = 0.0, max_goals: int = 15) -> list[list[float]]:
    """P(home = h, away = a) for h, a ≤ ``max_goals``, renormalised to sum to 1.

    ``lam`` is the home rate (α_home·β_away·γ), ``mu`` the away rate (α_away·β_home).
    """
    m = [
        [poisson_pmf(h, lam) * poisson_pmf(a, mu) * dixon_coles_tau(h, a, lam, mu, rho) for a in range(max_goals + 1)]
        for h in range(max_goals + 1)
    ]
    if any(v < 0.0 for row in m for v in row):
        raise ValueError(f"rho={rho} makes a Dixon–Coles probability negative for lam={lam}, mu={mu}")
    total = sum(sum(row) for row in m)
    return [[v / total for v in row] for row in m]


def total_over_probability(line: float, lam: float, mu: float, rho: float = 0.0, max_goals: int = 15) -> float:
    """P(home + away > ``line``) — the YES of an "Over L" market (use a half line to avoid pushes)."""
    m = score_matrix(lam, mu, rho, max_goals)
    return sum(m[h][a] for h in range(max_goals + 1) for a in range(max_goals + 1) if h + a > line)


# -- conversions -----------------------------------------------------------------------------------


def logit(p: float) -> float:
    p = min(max(p, 1e-9), 1.0 - 1e-9)
    return math.log(p / (1.0 - p))


def expit(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


PROB_Q = Decimal("0.000001")


def to_prob(x: float) -> Decimal:
    """A model probability as a Decimal in [0, 1], quantised to 1e-6."""
    if math.isnan(x):
        raise ValueError("probability is NaN")
    return Decimal(repr(min(1.0, max(0.0, x)))).quantize(PROB_Q)
