"""True-probability paths: what the made-up world *really* believes about each market over time.

Informed traders, whales and market makers see these (with noise); our agents never do — they see
only books, trades, news and reference prices. A path is piecewise constant between breakpoints,
so a lookup is one bisect.

Walks run in logit space (a step of the same size moves 0.5 more than 0.95), which keeps every
value strictly inside (0, 1) without clamping artefacts.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from dataclasses import dataclass

from simulation.scenario import EventSpec, NewsSpec, TruthSpec

NS_PER_S = 1_000_000_000
_EPS = 1e-4


def logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def expit(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _clamp(p: float) -> float:
    return min(1.0 - _EPS, max(_EPS, p))


@dataclass(frozen=True, slots=True)
class Jump:
    t_ns: int
    to: float | None = None
    shift: float | None = None

    def apply(self, p: float) -> float:
        if self.to is not None:
            return _clamp(self.to)
        assert self.shift is not None
        return _clamp(p + self.shift)


class TruthPath:
    """A piecewise-constant path of probabilities: value ``values[i]`` from ``times[i]`` on."""

    __slots__ = ("times", "values")

    def __init__(self, times: list[int], values: list[float]) -> None:
        if not times or len(times) != len(values):
            raise ValueError("a truth path needs matching, non-empty times and values")
        self.times = times
        self.values = values

    def at(self, t_ns: int) -> float:
        i = bisect_right(self.times, t_ns) - 1
        return self.values[i if i >= 0 else 0]

    def jump_times(self, min_move: float = 0.05) -> list[int]:
        """Times at which the path moved by at least ``min_move`` in one step (news, jumps)."""
        out = []
        for i in range(1, len(self.values)):
            if abs(self.values[i] - self.values[i - 1]) >= min_move:
                out.append(self.times[i])
        return out


def binary_path(
    spec: TruthSpec,
    start_ns: int,
    duration_ns: int,
    rng: random.Random,
    extra_jumps: list[Jump] | None = None,
) -> TruthPath:
    """A binary market's path from its spec (fixed or logit random walk) plus jumps."""
    jumps = sorted(
        [Jump(start_ns + round(j.at_s * NS_PER_S), j.to, j.shift) for j in spec.jumps] + list(extra_jumps or []),
        key=lambda j: j.t_ns,
    )
    step_ns = max(1, round(spec.step_s * NS_PER_S))
    sd = spec.vol * math.sqrt(spec.step_s)
    walk = spec.kind == "random_walk" and sd > 0
    times = [start_ns]
    values = [_clamp(spec.p0)]
    x = logit(values[0])
    end = start_ns + duration_ns
    ji = 0
    t = start_ns
    next_step = start_ns + step_ns if walk else end + 1
    while True:
        next_jump = jumps[ji].t_ns if ji < len(jumps) else end + 1
        t = min(next_step, next_jump)
        if t > end:
            break
        if t == next_step:  # the walk's step first: a jump at the same instant sets the level
            x += rng.gauss(0.0, sd)
            next_step += step_ns
        if t == next_jump:
            while ji < len(jumps) and jumps[ji].t_ns == t:
                p = jumps[ji].apply(expit(x))
                x = logit(p)
                ji += 1
        p = _clamp(expit(x))
        if times[-1] == t:
            values[-1] = p
        else:
            times.append(t)
            values.append(p)
    return TruthPath(times, values)


def event_paths(
    spec: EventSpec,
    start_ns: int,
    duration_ns: int,
    rng: random.Random,
    extra_jumps: dict[str, list[Jump]] | None = None,
) -> dict[str, TruthPath]:
    """Paths of a neg-risk event's outcomes, summing to 1 at every time.

    Each outcome's log-weight walks with ``vol`` per √s; the probabilities are the normalised
    weights. A jump sets one outcome to its level and rescales the others in proportion.
    """
    ids = [o.id for o in spec.outcomes]
    jumps: list[tuple[int, str, Jump]] = [
        (start_ns + round(j.at_s * NS_PER_S), j.outcome, Jump(0, to=j.to)) for j in spec.jumps
    ]
    for oid, js in (extra_jumps or {}).items():
        jumps.extend((j.t_ns, oid, j) for j in js)
    jumps.sort(key=lambda x: x[0])
    step_ns = max(1, round(spec.step_s * NS_PER_S))
    sd = spec.vol * math.sqrt(spec.step_s)
    walk = sd > 0
    logw = [math.log(o.p0) for o in spec.outcomes]

    def probs() -> list[float]:
        m = max(logw)
        w = [math.exp(v - m) for v in logw]
        s = sum(w)
        return [v / s for v in w]

    times = [start_ns]
    values = [probs()]
    end = start_ns + duration_ns
    ji = 0
    next_step = start_ns + step_ns if walk else end + 1
    while True:
        next_jump = jumps[ji][0] if ji < len(jumps) else end + 1
        t = min(next_step, next_jump)
        if t > end:
            break
        if t == next_step:  # the walk's step first: a jump at the same instant sets the level
            logw = [v + rng.gauss(0.0, sd) for v in logw]
            next_step += step_ns
        if t == next_jump:
            while ji < len(jumps) and jumps[ji][0] == t:
                _, oid, jump = jumps[ji]
                cur = probs()
                k = ids.index(oid)
                new_k = min(0.999, max(0.001, jump.apply(cur[k])))
                rest = 1.0 - cur[k]
                scaled = [
                    new_k if i == k else (cur[i] / rest * (1.0 - new_k) if rest > 0 else (1.0 - new_k) / (len(ids) - 1))
                    for i in range(len(ids))
                ]
                logw = [math.log(max(v, 1e-12)) for v in scaled]
                ji += 1
        ps = probs()
        if times[-1] == t:
            values[-1] = ps
        else:
            times.append(t)
            values.append(ps)
    return {oid: TruthPath(times, [v[i] for v in values]) for i, oid in enumerate(ids)}


def news_jumps(news: tuple[NewsSpec, ...], start_ns: int) -> dict[str, list[Jump]]:
    """News effects as jumps per market id, at the time the news *happens* (not when published)."""
    out: dict[str, list[Jump]] = {}
    for n in news:
        t = start_ns + round(n.at_s * NS_PER_S)
        for eff in n.effects:
            out.setdefault(eff.market, []).append(Jump(t, eff.to, eff.shift))
    return out
