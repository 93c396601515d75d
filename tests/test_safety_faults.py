"""Safety under faults (issue 20): the real agents on the local runtime against the real simulated
exchange, with the faults a supervisor sees — a journal restart (the journal becomes unreachable,
then a new one opens on the same file), and agents removed and re-added restored from a checkpoint.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from test_society import gap_view, requote_no_after_yes_lifted, society
from test_society_world import NS_PER_S, World, market

from agents.risk_officer import RiskOfficer
from agents.strategist import Strategist
from cluster.journal import Journal
from protocols import (
    Command,
    IntentLeg,
    OrderEvent,
    OrderIntent,
    OrderStatus,
    ReasonCode,
    RiskAction,
    RiskDecision,
    Side,
    TradingState,
)
from venues.sim import SimVenue


class VenueView(SimVenue):
    """Our account at the exchange, read-only for the risk officer: its events already reach the
    society through the trader's port, so this one delivers nothing."""

    def set_sink(self, sink: Any) -> None:
        return None


def journal_down(w: World) -> None:
    assert w.journal is not None
    w.journal.close()  # the runtime still holds it: every call raises JournalUnavailable


def journal_up(w: World, path: Path) -> None:
    w.journal = Journal(path)
    w.rt.journal = w.journal


def stale(state: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(json.dumps(state, default=str))  # as a checkpoint stores it
    return out


def arb_world(tmp_path: Path) -> World:
    w = World(tmp_path)
    w.add_market(market("m0"))
    w.add_market(market("m1"))
    w.crowd("m1-yes", Side.SELL, "0.45", 15)
    requote_no_after_yes_lifted(w, "m1", "0.48", 15)
    return w


async def replace_risk_officer(w: World, state: dict[str, Any]) -> RiskOfficer:
    old = w.rt.agents["risk_officer"]
    assert isinstance(old, RiskOfficer)
    await w.rt.remove_agent("risk_officer")
    ro = RiskOfficer("risk_officer", old.config)
    ro.restore(stale(state))
    w.rt.add_agent(ro, venue=VenueView(w.ex, w.account))
    return ro


async def test_risk_officer_after_journal_restart_still_halts_on_kill_switch(tmp_path: Path) -> None:
    w = arb_world(tmp_path)
    society(w, market_watcher={"markets": ("m0",)})
    await w.run_for(0.5)
    ro, tr = w.rt.agents["risk_officer"], w.rt.agents["trader"]
    journal_down(w)
    w.inject(Command(time_ns=w.rt.now_ns(), target="*", name="kill_switch", args={"reason": "test"}))
    await w.run_for(0.01)  # one message round
    assert ro.status()["state"] == "HALTED"
    assert tr.status()["accepting_intents"] is False
    assert ro.status()["unjournalled"] > 0  # the record waits for the journal, the halt did not
    journal_up(w, tmp_path / "journal.duckdb")
    await w.run_for(30)  # the journal is back well before the intents' 60 s expiry (then they are cancelled)
    assert ro.status()["unjournalled"] == 0
    assert ("HALTED", "KILL_SWITCH") in w.q("SELECT state, code FROM risk_events WHERE kind='state'")
    await w.rt.stop()


async def test_risk_officer_restored_from_a_stale_checkpoint_has_a_book_equal_to_the_venues(tmp_path: Path) -> None:
    w = arb_world(tmp_path)
    society(w, market_watcher={"markets": ("m0",)})
    await w.run_for(0.5)
    checkpoint = w.rt.agents["risk_officer"].snapshot()  # taken before anything was bought
    gap_view(w, "m1", "0.45", "0.48")
    await w.run_for(2)
    assert w.shares("m1-yes") == w.shares("m1-no") == 15
    ro = await replace_risk_officer(w, checkpoint)
    await w.run_for(1)
    held = {t: h.size for t, h in ro.portfolio.holdings.items() if h.size}
    assert held == {"m1-yes": Decimal(15), "m1-no": Decimal(15)}
    assert (await ro.compare_with_venue())["differences"] == {}
    assert ro.status()["state"] == "ACTIVE"
    await w.rt.stop()


async def test_strategist_restored_from_a_stale_checkpoint_never_reuses_an_intent_id(tmp_path: Path) -> None:
    w = World(tmp_path)
    for m in ("m0", "m1", "m2"):
        w.add_market(market(m))
    society(w, market_watcher={"markets": ("m0",)})
    await w.run_for(0.5)
    checkpoint = w.rt.agents["strategist"].snapshot()
    gap_view(w, "m1", "0.45", "0.48")
    await w.run_for(2)
    old = w.rt.agents["strategist"]
    await w.rt.remove_agent("strategist")
    st = Strategist("strategist", old.config)
    st.restore(stale(checkpoint))
    w.rt.add_agent(st)
    await w.run_for(0.1)
    gap_view(w, "m2", "0.45", "0.48")  # the same counter value comes round again
    await w.run_for(2)
    ids = [d[0] for d in w.decisions()]
    assert len(ids) == 2 and len(set(ids)) == 2, ids
    assert w.rt.agents["risk_officer"].status()["duplicate_intents"] == 0
    await w.rt.stop()


async def test_restored_risk_officer_with_a_pending_order_in_its_checkpoint_does_not_halt_on_latency(
    tmp_path: Path,
) -> None:
    w = World(tmp_path)
    w.add_market(market("m1"))
    society(w, {})
    await w.run_for(0.5)
    ro = w.rt.agents["risk_officer"]
    # the officer saw an order sent; it crashes before the acknowledgement reaches it
    w.inject(OrderEvent(time_ns=w.rt.now_ns(), client_order_id="x:0", account="us", token_id="m1-yes",
                        market="m1", side=Side.BUY, price=Decimal("0.4"), size=Decimal(10), status=OrderStatus.SENT))
    await w.run_for(0.01)
    checkpoint = ro.snapshot()
    assert checkpoint["sent_at"]
    ro = await replace_risk_officer(w, checkpoint)
    await w.run_for(30)  # far past max_venue_latency
    assert ReasonCode.VENUE_LATENCY not in ro.halt_reasons
    assert ro.status()["state"] == "ACTIVE"
    await w.rt.stop()


async def test_write_ahead_journal_unavailable_holds_the_intent_without_halting_and_sends_it_once_back(
    tmp_path: Path,
) -> None:
    w = World(tmp_path)
    w.add_market(market("m1"))
    w.crowd("m1-yes", Side.SELL, "0.50", 100)
    society(w, {})
    await w.run_for(0.5)
    ro, tr = w.rt.agents["risk_officer"], w.rt.agents["trader"]
    journal_down(w)
    now = w.rt.now_ns()
    for i in range(5):  # more than max_execution_failures
        intent = OrderIntent(time_ns=now, intent_id=f"j{i}", strategy="test",
                             expires_ns=now + (60 if i else 1) * NS_PER_S,
                             legs=(IntentLeg(token_id="m1-yes", market="m1", side=Side.BUY, price=Decimal("0.40"),
                                             size=Decimal(5), post_only=True),))
        w.inject(RiskDecision(time_ns=now, intent_id=intent.intent_id, action=RiskAction.APPROVED, intent=intent))
    await w.run_for(5)
    assert tr.status()["journal_holds"] == 5 and w.open_orders() == []  # nothing sent without a write-ahead
    assert ro.status()["state"] == "ACTIVE" and ReasonCode.EXECUTION_FAILURES not in ro.halt_reasons
    journal_up(w, tmp_path / "journal.duckdb")
    await w.run_for(30)  # the journal is back well before the intents' 60 s expiry (then they are cancelled)
    sent = sorted(c for (c,) in w.q("SELECT client_order_id FROM orders"))
    assert sent == ["j1:0", "j2:0", "j3:0", "j4:0"]  # j0 expired while held: never sent
    assert sorted(o.client_order_id for o in w.open_orders()) == sent
    assert ro.status()["state"] == TradingState.ACTIVE.value
    await w.rt.stop()
