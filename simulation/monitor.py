"""Measuring the arbitrage a run offered: ``arb_available`` and the half-life of gaps.

Definition (also in docs/scenarios.md). For every neg-risk event (augmented ones excluded) and both
of its complete sets — every outcome's YES (pays 1) and every outcome's NO (pays N − 1) — after
every change of any of its books the monitor computes ``G(t)``: the profit of buying sets by
walking the asks level by level while the marginal set still pays, net of taker fees charged as
the exchange charges them (floored at 0.00001 pUSD per fill, ``protocols.fees``; the walk gives
back the at most one such quantum per resting order that this rounding can save a taker, so it
never understates). Then:

* a **gap episode** is a maximal interval with ``G > 0``;
* ``arb_available`` is the sum of every *increase* of ``G`` (from 0 at the start of an episode,
  and whenever new cheap liquidity arrives inside one). A perfect taker who swept every gap the
  instant it appeared would have made exactly this; each unit of gap is counted once, however
  long it rests;
* an episode's **half-life** is the time from its start until ``G`` first falls to half its
  opening value or less (episodes still open at the end count until the end); the run reports
  the median.

Single binary markets hold no complete-set gap: YES ask + NO ask < 1 would be a crossed book, which
complement matching fills at once, so they are not watched.

The monitor reads the engine's books directly at the instant of each change (it is part of the
simulator, like a referee, not a participant with latency).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from protocols import BookDelta, MarketClosed, MarketResolved, Payload
from simulation.arb import ONE, top_margin, walk_sets
from simulation.crowd.venue import CrowdVenue
from simulation.metrics import half_life
from simulation.world import SimMarket, World
from venues.sim import SimExchange


@dataclass
class Episode:
    event: str
    basket: str  # "yes" | "no"
    start_ns: int
    opening: int  # micro-pUSD
    peak: int
    added: int  # sum of increases during the episode
    half_ns: int | None = None
    end_ns: int | None = None

    def as_dict(self, start_ns: int) -> dict[str, Any]:
        return {
            "event": self.event,
            "basket": self.basket,
            "start_s": (self.start_ns - start_ns) / 1e9,
            "opening": self.opening / ONE,
            "peak": self.peak / ONE,
            "available": self.added / ONE,
            "half_life_s": None if self.half_ns is None else (self.half_ns - self.start_ns) / 1e9,
            "duration_s": None if self.end_ns is None else (self.end_ns - self.start_ns) / 1e9,
        }


class ArbMonitor:
    def __init__(self, world: World, exchange: SimExchange) -> None:
        self.world = world
        self.exchange = exchange
        self._reader = CrowdVenue(exchange, "arb-monitor")
        self._event_of: dict[str, str] = {}
        self._markets: dict[str, list[SimMarket]] = {}
        for e in world.events.values():
            if e.augmented:
                continue
            ms = [world.markets[mid] for mid in e.markets]
            self._markets[e.id] = ms
            for m in ms:
                self._event_of[m.yes] = e.id
        self._market_event = {m.id: eid for eid, ms in self._markets.items() for m in ms}
        self._g: dict[tuple[str, str], int] = {}
        self._open: dict[tuple[str, str], Episode] = {}
        self.episodes: list[Episode] = []
        self.available = 0
        self.evaluations = 0
        if self._markets:
            exchange.add_market_data_listener(self.on_payload)

    def on_payload(self, payload: Payload) -> None:
        if isinstance(payload, BookDelta):
            eid = self._event_of.get(payload.token_id)
            if eid is not None:
                self.evaluate(eid, payload.time_ns)
        elif isinstance(payload, MarketClosed | MarketResolved):
            eid = self._market_event.get(payload.market)
            if eid is not None:
                self.evaluate(eid, payload.time_ns, closed=True)

    def evaluate(self, eid: str, now: int, closed: bool = False) -> None:
        self.evaluations += 1
        ms = self._markets[eid]
        n = len(ms)
        fees = [m.fee_micro for m in ms]
        r = self._reader
        for basket in ("yes", "no"):
            if closed:
                g = 0
            else:
                tokens = [m.yes if basket == "yes" else m.no for m in ms]
                payout = ONE if basket == "yes" else (n - 1) * ONE
                tops = [r.top(t)[2] for t in tokens]
                if top_margin(tops, fees, payout) <= 0:
                    g = 0
                else:
                    g = walk_sets([r.asks_with_counts(t, 50) for t in tokens], fees, payout).profit
            self._update((eid, basket), g, now)

    def _update(self, key: tuple[str, str], g: int, now: int) -> None:
        prev = self._g.get(key, 0)
        if g == prev:
            return
        self._g[key] = g
        ep = self._open.get(key)
        if g > prev:
            self.available += g - prev
            if ep is None:
                ep = Episode(key[0], key[1], now, g, g, g - prev)
                self._open[key] = ep
                self.episodes.append(ep)
            else:
                ep.added += g - prev
                ep.peak = max(ep.peak, g)
        if ep is not None:
            if ep.half_ns is None and 2 * g <= ep.opening:
                ep.half_ns = now
            if g == 0:
                ep.end_ns = now
                del self._open[key]

    def finish(self, end_ns: int) -> dict[str, Any]:
        """Close the books on the run; returns the record kept in the journal's meta."""
        halves: list[float] = []
        for ep in self.episodes:
            until = ep.half_ns if ep.half_ns is not None else (ep.end_ns if ep.end_ns is not None else end_ns)
            halves.append((until - ep.start_ns) / 1e9)
        return {
            "available": str(Decimal(self.available) / ONE),
            "episodes_count": len(self.episodes),
            "half_life_s": half_life(halves),
            "episodes": [ep.as_dict(self.world.start_ns) for ep in self.episodes[:500]],
            "evaluations": self.evaluations,
        }
