"""The strategist behind the real market watcher and simulated exchange: the contract holds end to end.

A neg-risk event whose YES asks sum below 1 is laid out on the SimExchange; the market watcher
discovers it and publishes books; the strategist's basket intent is then executed leg by leg on
the same exchange and the event resolved — the profit booked must be at least the intent's
expected value (the venue rounds fees down to a micro-pUSD, the strategist rounds nothing up in
its favour) and within a micro-pUSD per leg of it.
"""

from __future__ import annotations

from decimal import Decimal

from test_strategist_harness import Collector

from agents.market_watcher import MarketWatcher
from agents.strategist import Strategist
from cluster.clock import DEFAULT_START_NS
from cluster.runtime_local import LocalRuntime
from protocols import MarketInfo, OrderStatus
from venues.sim import SimExchange, SimVenue
from venues.sim.testing import order

T0 = DEFAULT_START_NS
S = 1_000_000_000
D = Decimal


def _outcome(i: int) -> MarketInfo:
    return MarketInfo(
        time_ns=T0, market=f"e{i}", question=f"Will outcome {i} win?", token_ids=(f"e{i}-yes", f"e{i}-no"),
        event_id="ev", neg_risk=True, event_market_count=3, fee_rate=D("0.07"),
    )


async def test_neg_risk_basket_seen_through_watcher_is_profitable_on_the_exchange() -> None:
    rt = LocalRuntime(seed=3, record_events=True)
    ex = SimExchange(scheduler=rt)
    # event_market_count is set here: SimExchange.add_neg_risk_event keeps it but does not fill it in
    ex.add_neg_risk_event("ev", [_outcome(i) for i in range(3)])
    ex.open_account("mm", D(100_000))
    ex.open_account("us", D(1_000))
    # a maker's NO bids at 0.70 are YES asks at 0.30 (complement matching): Σ YES asks = 0.90
    for i in range(3):
        ev = ex.submit("mm", order("mm", f"mm{i}", f"e{i}-no", "BUY", "0.70", 40, tick="0.01", time_ns=T0))
        assert ev.status is not OrderStatus.REJECTED, ev
    watcher = MarketWatcher("market_watcher")
    strat = Strategist("strategist", {"strategies": {"neg_risk_basket": {}}, "cooldown_ns": 0})
    col = Collector()
    rt.add_agent(watcher, venue=SimVenue(ex, "watcher"))
    rt.add_agent(strat)
    rt.add_agent(col)
    await rt.run(until_ns=T0 + 2 * S)
    assert not rt.crashes, rt.crashes
    assert col.intents, strat.status()
    intent = col.intents[0]
    assert intent.paired and len(intent.legs) == 3
    assert {leg.token_id for leg in intent.legs} == {"e0-yes", "e1-yes", "e2-yes"}
    assert all(leg.size == D(40) and leg.price == D("0.30") for leg in intent.legs)

    cash0 = ex.balance("us").cash
    for k, leg in enumerate(intent.legs):
        req = order("us", f"us{k}", leg.token_id, "BUY", str(leg.price), leg.size, tif=leg.tif.value,
                    tick=str(leg.tick_size), time_ns=rt.now_ns())
        ev = ex.submit("us", req)
        assert ev.status is OrderStatus.FILLED, ev
    ex.resolve_event("ev", "e1")
    profit = ex.balance("us").cash - cash0
    assert profit >= intent.ev
    assert profit - intent.ev <= D("0.000001") * len(intent.legs)
