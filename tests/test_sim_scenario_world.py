"""The made-up world a scenario describes: truth paths, news timing, the reference process."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulation.reference import merton_up_probability, simulate_reference
from simulation.scenario import EventSpec, ReferenceSpec, TruthSpec, scenario_from_data
from simulation.truth import binary_path, event_paths
from simulation.world import build_world

S = 1_000_000_000
T0 = 1_767_225_600_000_000_000


def test_fixed_truth_is_constant_and_jumps_at_its_time() -> None:
    spec = TruthSpec(kind="fixed", p0=0.3, jumps=({"at_s": 10, "to": 0.7},))  # type: ignore[arg-type]
    path = binary_path(spec, T0, 60 * S, random.Random(0))
    assert path.at(T0) == pytest.approx(0.3)
    assert path.at(T0 + 10 * S - 1) == pytest.approx(0.3)
    assert path.at(T0 + 10 * S) == pytest.approx(0.7)
    assert path.at(T0 + 59 * S) == pytest.approx(0.7)


@settings(max_examples=50, deadline=None)
@given(st.floats(0.02, 0.98), st.floats(0.0, 0.05), st.integers(0, 10_000))
def test_random_walk_stays_inside_the_unit_interval_and_is_reproducible(p0: float, vol: float, seed: int) -> None:
    spec = TruthSpec(kind="random_walk", p0=p0, vol=vol, step_s=1.0)
    a = binary_path(spec, T0, 300 * S, random.Random(seed))
    b = binary_path(spec, T0, 300 * S, random.Random(seed))
    assert a.values == b.values and a.times == b.times
    assert all(0.0 < v < 1.0 for v in a.values)
    assert a.times == sorted(a.times)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0.05, 1.0), min_size=2, max_size=6), st.floats(0, 0.05), st.integers(0, 1000))
def test_event_outcomes_sum_to_one_at_every_time(weights: list[float], vol: float, seed: int) -> None:
    total = sum(weights)
    probs = [w / total for w in weights]
    probs[-1] = 1.0 - sum(probs[:-1])
    if min(probs) <= 0 or max(probs) >= 1:
        return
    spec = EventSpec.model_validate(
        {"id": "e", "outcomes": [{"id": f"o{i}", "p0": p} for i, p in enumerate(probs)], "vol": vol,
         "jumps": [{"at_s": 30, "outcome": "o0", "to": 0.6}]}
    )
    paths = event_paths(spec, T0, 120 * S, random.Random(seed))
    times = next(iter(paths.values())).times
    for t in times:
        assert sum(p.at(t) for p in paths.values()) == pytest.approx(1.0, abs=1e-9)
    assert paths["o0"].at(T0 + 30 * S) == pytest.approx(0.6, abs=1e-9)


def test_news_moves_the_truth_when_it_happens_not_when_it_is_published() -> None:
    sc = scenario_from_data({
        "name": "n", "duration_s": 100,
        "markets": [{"id": "m", "truth": {"kind": "fixed", "p0": 0.2}}],
        "news": [{"at_s": 40, "title": "x", "publication_delay_s": 30, "effects": [{"market": "m", "shift": 0.5}]}],
    })
    w = build_world(sc, 1)
    start = w.start_ns
    assert w.truth("m", start + 39 * S) == pytest.approx(0.2)
    assert w.truth("m", start + 40 * S) == pytest.approx(0.7)


def test_merton_without_jumps_is_black_scholes_digital() -> None:
    s, k, tau, sigma = 100.0, 101.0, 0.01, 0.5
    d2 = (math.log(s / k) - 0.5 * sigma**2 * tau) / (sigma * math.sqrt(tau))
    expected = 0.5 * math.erfc(-d2 / math.sqrt(2))
    assert merton_up_probability(s, k, tau, sigma=sigma) == pytest.approx(expected, rel=1e-12)
    assert merton_up_probability(s, s, 0.0, sigma=sigma) == 1.0  # ties resolve Up
    assert merton_up_probability(s, k, 0.0, sigma=sigma) == 0.0


def test_reference_paths_agree_with_the_pricing_formula() -> None:
    # the fraction of simulated paths ending at or above the strike ≈ the formula's probability
    spec = ReferenceSpec(s0=100.0, sigma=0.8, jump_intensity=200.0, jump_mean=-0.002, jump_std=0.004,
                         tick_s=30.0, decimals=6)
    horizon = 900 * S
    p = merton_up_probability(100.0, 100.0, 900 / (365 * 86400), sigma=0.8, jump_intensity_per_year=200 * 365,
                              jump_mean=-0.002, jump_std=0.004)
    n = 3000
    ups = sum(simulate_reference(spec, T0, horizon, seed).prices[-1] >= 100.0 for seed in range(n))
    assert abs(ups / n - p) < 4 * math.sqrt(p * (1 - p) / n)


def test_reference_truth_of_an_updown_market_follows_the_price() -> None:
    sc = scenario_from_data({
        "name": "c", "duration_s": 900,
        "reference": {"s0": 100000, "sigma": 0.6, "tick_s": 1},
        "markets": [{"id": "btc", "resolve_at_s": 900, "truth": {"kind": "reference"}}],
    })
    w = build_world(sc, 3)
    assert w.reference is not None
    assert w.truth("btc", w.start_ns) == pytest.approx(0.5, abs=0.01)
    end = w.start_ns + 899 * S
    above = w.reference.price_at(end) >= 100000
    assert (w.truth("btc", end) > 0.5) == above
