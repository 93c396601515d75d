"""A reference spot price (e.g. BTC) as a Merton jump diffusion, and the up-probability it implies.

Why the same model on both sides: the crypto up/down market's *truth* is the probability, under the
scenario's own process, that the price ends at or above the strike. A strategist that knows the
process (and the current price) can at best find that value; the edge it shows in a run is then
about latency and the crowd, not about a model the simulator secretly disagrees with.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from dataclasses import dataclass

from simulation.scenario import ReferenceSpec

SECONDS_PER_YEAR = 365.0 * 86_400.0
NS_PER_S = 1_000_000_000


def _phi(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def merton_up_probability(
    spot: float,
    strike: float,
    tau_years: float,
    *,
    sigma: float,
    mu: float = 0.0,
    jump_intensity_per_year: float = 0.0,
    jump_mean: float = 0.0,
    jump_std: float = 0.0,
    terms: int = 20,
) -> float:
    """P(S_T ≥ K | S_t = spot) under Merton: Σₙ e^{−λτ}(λτ)ⁿ/n! · Φ(dₙ).

    dₙ = [ln(S/K) + (μ − λk̄ − σ²/2)τ + n·μ_J] / √(σ²τ + n·σ_J²), k̄ = e^{μ_J + σ_J²/2} − 1.
    At τ = 0 (or zero variance) it is the indicator S ≥ K (ties go Up, as the markets resolve).
    """
    if spot <= 0 or strike <= 0:
        raise ValueError("spot and strike must be positive")
    lam = jump_intensity_per_year
    kbar = math.exp(jump_mean + 0.5 * jump_std * jump_std) - 1.0
    drift = (mu - lam * kbar - 0.5 * sigma * sigma) * tau_years
    log_m = math.log(spot / strike)
    if tau_years <= 0:
        return 1.0 if spot >= strike else 0.0
    lt = lam * tau_years
    total = 0.0
    weight = math.exp(-lt)
    n_terms = terms if lam > 0 else 1
    for n in range(n_terms):
        if n > 0:
            weight *= lt / n
        var = sigma * sigma * tau_years + n * jump_std * jump_std
        num = log_m + drift + n * jump_mean
        p = (1.0 if num >= 0 else 0.0) if var <= 0 else _phi(num / math.sqrt(var))
        total += weight * p
    if lam > 0:
        # the tail beyond ``terms`` (negligible for λτ ≪ terms) is given the last term's probability
        total += max(0.0, 1.0 - sum_poisson(lt, n_terms)) * p
    return min(1.0, max(0.0, total))


def sum_poisson(lt: float, n: int) -> float:
    """P(N < n) for N ~ Poisson(lt)."""
    w = math.exp(-lt)
    s = 0.0
    for k in range(n):
        if k > 0:
            w *= lt / k
        s += w
    return s


@dataclass(frozen=True, slots=True)
class ReferencePath:
    """The sampled path: ``times_ns`` (absolute) and ``prices`` (rounded to the spec's decimals)."""

    spec: ReferenceSpec
    times_ns: tuple[int, ...]
    prices: tuple[float, ...]

    def price_at(self, t_ns: int) -> float:
        i = bisect_right(self.times_ns, t_ns) - 1
        return self.prices[max(i, 0)]

    def up_probability(self, t_ns: int, strike: float, resolve_ns: int) -> float:
        """The truth of an up/down market: P(S_T ≥ strike) given the price now."""
        s = self.price_at(t_ns)
        tau = max(0, resolve_ns - t_ns) / NS_PER_S / SECONDS_PER_YEAR
        sp = self.spec
        return merton_up_probability(
            s,
            strike,
            tau,
            sigma=sp.sigma,
            mu=sp.mu,
            jump_intensity_per_year=sp.jump_intensity * 365.0,
            jump_mean=sp.jump_mean,
            jump_std=sp.jump_std,
        )


def simulate_reference(spec: ReferenceSpec, start_ns: int, duration_ns: int, seed: int) -> ReferencePath:
    """Sample S on a grid of ``tick_s``: log-Euler diffusion plus compound-Poisson log jumps.

    The drift is compensated (μ − λk̄ − σ²/2) so that E[S_T] = S₀·e^{μT}, matching the pricing formula.
    """
    rng = random.Random(f"{seed}:reference:{spec.symbol}")
    dt_s = spec.tick_s
    dt = dt_s / SECONDS_PER_YEAR
    lam = spec.jump_intensity * 365.0
    kbar = math.exp(spec.jump_mean + 0.5 * spec.jump_std**2) - 1.0
    drift = (spec.mu - lam * kbar - 0.5 * spec.sigma**2) * dt
    vol = spec.sigma * math.sqrt(dt)
    step_ns = round(dt_s * NS_PER_S)
    n = duration_ns // step_ns + 1
    times: list[int] = []
    prices: list[float] = []
    x = math.log(spec.s0)
    p_jump = lam * dt
    for i in range(n):
        if i:
            x += drift + vol * rng.gauss(0.0, 1.0)
            if p_jump > 0:
                # Poisson count by inversion (λ·dt is tiny: almost always 0 or 1)
                k = 0
                u = rng.random()
                w = math.exp(-p_jump)
                c = w
                while u > c and k < 20:
                    k += 1
                    w *= p_jump / k
                    c += w
                for _ in range(k):
                    x += rng.gauss(spec.jump_mean, spec.jump_std) if spec.jump_std > 0 else spec.jump_mean
        times.append(start_ns + i * step_ns)
        prices.append(round(math.exp(x), spec.decimals))
    return ReferencePath(spec, tuple(times), tuple(prices))
