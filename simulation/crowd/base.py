"""What every synthetic participant shares: a world to look at, its own timer, integer helpers.

Why timers and not subscriptions: with a thousand participants, delivering every book update to
each of them would be a thousand deliveries per update. A participant instead wakes at Poisson
times (or on its own period), reads the top of the book through its venue, acts, and sleeps again;
its cost is proportional to its own activity, not to the market's.
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

from agents.base import Agent, AgentConfig, Timer
from simulation.crowd.venue import CrowdVenue
from simulation.world import ONE, SimMarket, World

NS_PER_S = 1_000_000_000
STEP = 10_000  # 0.01 share in micro-shares

C = TypeVar("C", bound=AgentConfig)


def floor_tick(p: int, tick: int) -> int:
    return p - p % tick


def ceil_tick(p: int, tick: int) -> int:
    r = p % tick
    return p if r == 0 else p + tick - r


def clamp_price(p: int, tick: int) -> int:
    return min(ONE - tick, max(tick, p))


def micro(x: float) -> int:
    return round(x * ONE)


class CrowdAgent(Agent[C]):
    """Base of the crowd: ``world`` is read-only truth; ``venue`` is this participant's own port."""

    role: ClassVar[str] = "crowd"
    kind: ClassVar[str] = "crowd"

    def __init__(self, agent_id: str, config: C, world: World) -> None:
        super().__init__(agent_id, config)
        self.world = world
        self.actions = 0
        self._markets: list[SimMarket] = world.tradable(getattr(config, "markets", ()))

    def fresh(self) -> CrowdAgent[C]:
        """A new participant in the same world (restarts; simulations usually let the crowd continue)."""
        return type(self)(self.agent_id, self.config, self.world)

    @property
    def venue(self) -> CrowdVenue:
        v = self.ctx.venue
        assert isinstance(v, CrowdVenue), "a crowd agent trades through a CrowdVenue"
        return v

    # -- scheduling ----------------------------------------------------------------------------------
    def wake_in_poisson(self, rate_per_min: float) -> None:
        if rate_per_min <= 0:
            return
        delay_s = self.ctx.rng.expovariate(rate_per_min / 60.0)
        self.ctx.set_timer("wake", max(1, round(delay_s * NS_PER_S)))

    def live_markets(self) -> list[SimMarket]:
        now = self.ctx.now_ns()
        return [m for m in self._markets if m.resolve_ns is None or m.resolve_ns > now]

    def random_size(self, lo: Any, hi: Any, m: SimMarket) -> int:
        a, b = int(lo * ONE), int(hi * ONE)
        q = a if b <= a else self.ctx.rng.randint(a, b)
        q -= q % STEP
        return max(q, m.min_size)

    def noisy_truth(self, m: SimMarket, sd: float, lag_s: float = 0.0) -> float:
        """The truth as this participant sees it: ``lag_s`` late, with N(0, sd) noise."""
        now = self.ctx.now_ns()
        seen = now if lag_s <= 0 else max(self.world.start_ns, now - round(lag_s * NS_PER_S))
        p = self.world.truth(m.id, seen)
        if sd > 0:
            p += self.ctx.rng.gauss(0.0, sd)
        return min(0.99, max(0.01, p))

    # -- contract --------------------------------------------------------------------------------------
    def on_timer(self, timer: Timer) -> None:
        self.act(timer)

    def act(self, timer: Timer) -> None:
        raise NotImplementedError

    def status(self) -> dict[str, Any]:
        v = self.ctx.venue
        return {
            "role": self.role,
            "kind": self.kind,
            "actions": self.actions,
            "sent": v.sent if isinstance(v, CrowdVenue) else 0,
        }

    # -- trading helpers (YES-space reasoning, executed on the cheaper token) ----------------------
    def buy_yes_upto(self, m: SimMarket, limit: int, size: int) -> bool:
        """Take YES at ``limit`` or better: sell NO held first, else buy YES."""
        v = self.venue
        limit = clamp_price(floor_tick(limit, m.tick), m.tick)
        held_no = v.free_shares(m.no)
        if held_no >= m.min_size:
            q = min(held_no, size)
            q -= q % STEP
            if q >= m.min_size:
                v.take(m.no, False, ONE - limit, q)
                return True
        v.take(m.yes, True, limit, size)
        return True

    def sell_yes_downto(self, m: SimMarket, limit: int, size: int) -> bool:
        """Take the YES bid at ``limit`` or better: sell YES held first, else buy NO at 1 − limit."""
        v = self.venue
        limit = clamp_price(ceil_tick(limit, m.tick), m.tick)
        held = v.free_shares(m.yes)
        if held >= m.min_size:
            q = min(held, size)
            q -= q % STEP
            if q >= m.min_size:
                v.take(m.yes, False, limit, q)
                return True
        v.take(m.no, True, ONE - limit, size)
        return True
