"""The synthetic crowd on the real simulated exchange and the local runtime, without our agents."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from agents.base import Agent, AgentConfig, Subscription
from cluster.runtime_local import LocalRuntime
from protocols import Envelope, WalletTrade
from simulation.crowd import CrowdMember, CrowdVenue, MarketMaker, build_crowd
from simulation.monitor import ArbMonitor
from simulation.runner import _listen_to_whales, build_exchange
from simulation.scenario import Scenario, scenario_from_data
from simulation.world import ONE, World, build_world
from venues.sim import SimExchange

S = 1_000_000_000


def binary(p0: float = 0.5, crowd: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "name": "t",
        "duration_s": 300,
        "markets": [{"id": "m", "truth": {"kind": "fixed", "p0": p0}}],
        "crowd": crowd or {},
        "ours": {"enabled": False},
        **extra,
    }


def event(crowd: dict[str, Any], gaps: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "name": "e",
        "duration_s": 300,
        "events": [
            {
                "id": "ev",
                "outcomes": [{"id": "a", "p0": 0.5}, {"id": "b", "p0": 0.3}, {"id": "c", "p0": 0.2}],
            }
        ],
        "crowd": crowd,
        "gaps": gaps or [],
        "ours": {"enabled": False},
    }


class World_:
    def __init__(self, data: dict[str, Any], seed: int = 1) -> None:
        self.sc: Scenario = scenario_from_data(data)
        self.world: World = build_world(self.sc, seed)
        self.rt = LocalRuntime(seed=seed, start_ns=self.world.start_ns)
        self.ex: SimExchange = build_exchange(self.world, self.rt)
        self.crowd: list[CrowdMember] = build_crowd(self.sc, self.world, self.ex, self.rt)
        for c in self.crowd:
            self.rt.add_agent(c.agent, venue=c.venue)

    async def run(self, seconds: float) -> None:
        await self.rt.run(until_ns=self.world.start_ns + round(seconds * S))

    def mid(self, market: str = "m") -> float | None:
        top = self.ex.top(f"{market}-YES")
        if top.best_bid is None or top.best_ask is None:
            return None
        return float((top.best_bid + top.best_ask) / 2)


MAKERS = {"kind": "market_maker", "count": 2, "half_spread": 0.02, "size": 100, "requote_s": 2, "noise_sd": 0.0}


async def test_crowd_venue_reads_the_same_top_of_book_as_the_exchange() -> None:
    w = World_(binary(0.4, {"mm": MAKERS, "noise": {"kind": "noise", "count": 30, "rate_per_min": 6}}))
    await w.run(60)
    reader = CrowdVenue(w.ex, "reader")
    for token in ("m-YES", "m-NO"):
        top = w.ex.top(token)
        assert top.best_bid is not None and top.best_ask is not None
        bid, bsz, ask, asz = reader.top(token)
        assert (bid, bsz) == (int(top.best_bid * ONE), int(top.best_bid_size * ONE))
        assert (ask, asz) == (int(top.best_ask * ONE), int(top.best_ask_size * ONE))
        assert reader.asks(token, 3) == [(int(p * ONE), int(s * ONE)) for p, s in top.asks[:3]]


async def test_makers_quote_around_the_truth_and_noise_trades_conserve_money() -> None:
    w = World_(binary(0.7, {"mm": MAKERS, "noise": {"kind": "noise", "count": 50, "rate_per_min": 4}}))
    await w.run(120)
    mid = w.mid()
    assert mid is not None and abs(mid - 0.7) <= 0.03
    noise_fills = sum(len(w.ex.trades(c.venue.account)) for c in w.crowd if c.kind == "noise")
    assert noise_fills > 20
    audit = w.ex.audit()
    assert audit["mismatches"] == []
    supply = audit["supply"]
    assert supply["m-YES"] == supply["m-NO"]  # every share was minted as a complete set


async def test_maker_leans_its_quotes_against_inventory() -> None:
    w = World_(binary(0.5, {"mm": {**MAKERS, "count": 1, "inventory_skew": 0.0005, "requote_s": 1000}}))
    mm = next(c for c in w.crowd if c.kind == "market_maker")
    assert isinstance(mm.agent, MarketMaker)
    mm.agent.quote(w.world.markets["m"])
    before = w.ex.top("m-YES")
    assert before.best_bid is not None and before.best_ask is not None
    # a taker sells 100 YES into the maker's bid (a BUY NO at 1 − bid mints against it)
    w.ex.open_account("taker", 1000)
    taker = CrowdVenue(w.ex, "taker")
    taker.take("m-NO", True, ONE - int(before.best_bid * ONE), 100 * ONE)
    assert w.ex.shares("mm-0", "m-YES") == Decimal(100)
    mm.agent.quote(w.world.markets["m"])
    after = w.ex.top("m-YES")
    assert after.best_bid is not None and after.best_ask is not None
    # 100 shares × 0.0005 = 0.05 lower: the long maker now sells cheaper and buys cheaper
    assert after.best_ask <= before.best_ask - Decimal("0.04")
    assert after.best_bid <= before.best_bid - Decimal("0.04")


async def test_informed_traders_pull_an_uninformed_book_towards_the_truth() -> None:
    crowd = {
        "mm": {**MAKERS, "fair": "mid", "half_spread": 0.01, "requote_s": 3, "inventory_skew": 0.0,
               "max_inventory": 1_000_000},
        "informed": {"kind": "informed", "count": 20, "rate_per_min": 6, "noise_sd": 0.02, "edge": 0.02},
    }
    w = World_(binary(0.8, crowd))
    await w.run(0.5)
    start = w.mid()
    assert start is not None and abs(start - 0.5) <= 0.02  # uninformed makers start at 0.5
    await w.run(300)
    end = w.mid()
    assert end is not None and end > 0.7


async def test_competing_arbitrageur_takes_injected_gaps_as_complete_sets() -> None:
    makers = {**MAKERS, "half_spread": 0.03, "requote_s": 10}
    arbs = {"kind": "arbitrageur", "count": 1, "scan_ms": 200, "order_latency_ms": 20, "min_profit": "0.001"}
    gaps = [{"event": "ev", "rate_per_min": 2, "discount": 0.1, "size": 50, "ttl_s": 30}]
    w = World_(event({"mm": makers, "arbs": arbs}, gaps))
    monitor = ArbMonitor(w.world, w.ex)
    await w.run(300)
    assert monitor.episodes, "the injector opened no gap"
    assert monitor.available > 0
    held = [w.ex.shares("arbs-0", f"{o}-YES") for o in ("a", "b", "c")]
    assert min(held) > 0, "the arbitrageur bought no complete set"
    finished = [e for e in monitor.episodes if e.half_ns is not None]
    assert finished and all(e.half_ns is not None and e.half_ns - e.start_ns < 30 * S for e in finished)


async def test_whale_fills_reach_subscribers_as_wallet_trades() -> None:
    crowd = {
        "mm": MAKERS,
        "whales": {"kind": "whale", "count": 1, "rate_per_min": 6, "informed": False, "size_min": 50,
                   "size_max": 100},
    }
    w = World_(binary(0.5, crowd))

    class Tap(Agent[AgentConfig]):
        subscriptions = (Subscription(WalletTrade),)

        def __init__(self) -> None:
            super().__init__("tap")
            self.seen: list[WalletTrade] = []

        def on_message(self, envelope: Envelope) -> None:
            assert isinstance(envelope.payload, WalletTrade)
            self.seen.append(envelope.payload)

    tap = Tap()
    w.rt.add_agent(tap)
    _listen_to_whales(w.rt, w.ex, w.crowd)
    await w.run(120)
    fills = w.ex.trades("whales-0")
    assert fills
    assert [t.trade_id for t in tap.seen] == [f.fill_id for f in fills]
    assert all(t.wallet == "whales-0" for t in tap.seen)


async def test_a_thousand_agent_crowd_runs() -> None:
    crowd = {
        "mm": {**MAKERS, "count": 4, "requote_s": 5},
        "noise": {"kind": "noise", "count": 1000, "rate_per_min": 0.2},
        "informed": {"kind": "informed", "count": 50, "rate_per_min": 0.5},
    }
    w = World_(binary(0.5, crowd, duration_s=300))
    await w.run(300)
    assert len(w.crowd) == 1054
    assert w.rt.stats.handler_errors == 0
    traded = {c.venue.account for c in w.crowd if c.kind == "noise" and w.ex.trades(c.venue.account)}
    assert len(traded) > 400  # most of the thousand acted at least once in five minutes
    assert w.ex.audit()["mismatches"] == []


async def test_informed_traders_act_on_the_truth_only_after_their_reaction_time() -> None:
    crowd = {
        "mm": {**MAKERS, "truth_lag_s": 10_000},  # the makers never learn: the book stays near 0.3
        "informed": {"kind": "informed", "count": 5, "rate_per_min": 30, "noise_sd": 0.0, "edge": 0.05,
                     "reaction_s": 60},
    }
    data = binary(0.3, crowd)
    data["markets"][0]["truth"]["jumps"] = [{"at_s": 30, "to": 0.8}]
    w = World_(data)
    informed = [c.venue.account for c in w.crowd if c.kind == "informed"]
    await w.run(85)  # the truth moved at 30 s, but they see it only from 90 s
    assert sum(w.ex.shares(a, "m-YES") for a in informed) == 0
    await w.run(150)
    assert sum(w.ex.shares(a, "m-YES") for a in informed) > 0


@settings(max_examples=12, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    noise=st.integers(0, 30),
    informed=st.integers(0, 5),
    makers=st.integers(0, 3),
    p0=st.floats(0.05, 0.95),
)
def test_any_crowd_keeps_the_exchange_books_balanced(seed: int, noise: int, informed: int, makers: int,
                                                     p0: float) -> None:
    crowd = {
        "mm": {**MAKERS, "count": makers},
        "noise": {"kind": "noise", "count": noise, "rate_per_min": 10},
        "informed": {"kind": "informed", "count": informed, "rate_per_min": 10},
        "whales": {"kind": "whale", "count": 1, "rate_per_min": 5, "informed": False, "size_min": 20,
                   "size_max": 200},
    }
    w = World_(binary(p0, crowd), seed)
    asyncio.run(w.run(60))
    audit = w.ex.audit()
    assert audit["mismatches"] == []
    assert audit["supply"]["m-YES"] == audit["supply"]["m-NO"]  # only complete sets ever minted
    cash_and_fees = audit["cash"] + audit["fee_pool"]
    minted = audit["supply"]["m-YES"]  # each set minted took exactly 1 pUSD (in micro-units)
    assert cash_and_fees + minted == audit["deposits"]
    assert w.rt.stats.handler_errors == 0
