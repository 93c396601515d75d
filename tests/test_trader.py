"""The trader against the real simulated exchange: unknown outcomes, reconciliation, kill switch,
expiry, idempotency. Faults are injected into the real ``SimVenue`` (a lost reply, an unreachable
venue, a refused client), never by mocking the trader's own code."""

from __future__ import annotations

import itertools
import json
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import pytest
from test_society_world import NS_PER_S, T0, World, market

from agents.base import Agent, Subscription
from agents.risk_officer import RiskOfficer
from agents.trader import Trader
from cluster.runtime_local import LocalRuntime
from protocols import (
    ClientMismatch,
    Command,
    Envelope,
    IntentLeg,
    OrderEvent,
    OrderIntent,
    OrderRequest,
    OrderStatus,
    ReasonCode,
    RiskAction,
    RiskDecision,
    Side,
    TimeInForce,
    TradingState,
    TradingStateChange,
    VenueUnavailable,
)
from venues.sim import SimVenue

D = Decimal
_ids = itertools.count(1)


class LostReplyVenue(SimVenue):
    """The order reaches the exchange, but the reply is lost (``lose="reply"``), or the connection
    drops before it leaves (``lose="request"``). Counts every send."""

    def __init__(self, *a: Any, lose: str = "reply", **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.lose = lose
        self.sends: list[str] = []

    async def place_order(self, request: OrderRequest) -> OrderEvent:
        self.sends.append(request.client_order_id)
        if self.lose == "request":
            raise VenueUnavailable("connection reset before the request was written")
        await super().place_order(request)
        raise VenueUnavailable("timed out waiting for the venue's answer")


class UnreachableVenue(SimVenue):
    async def open_orders(self) -> list[OrderEvent]:
        raise VenueUnavailable("503 from the venue")


class MismatchVenue(SimVenue):
    async def place_order(self, request: OrderRequest) -> OrderEvent:
        raise ClientMismatch("order_version_mismatch")


class Watch(Agent[Any]):
    role: ClassVar[str] = "watch"
    subscriptions = (Subscription(Command), Subscription(OrderEvent))

    def __init__(self) -> None:
        super().__init__("watch")
        self.commands: list[Command] = []
        self.events: list[OrderEvent] = []

    def on_message(self, envelope: Envelope) -> None:
        p = envelope.payload
        if isinstance(p, Command):
            self.commands.append(p)
        elif isinstance(p, OrderEvent):
            self.events.append(p)


def decision(
    now: int,
    *legs: tuple[str, Side, str, str],
    paired: bool = False,
    tif: TimeInForce = TimeInForce.GTC,
    post_only: bool = False,
    expires_ns: int | None = None,
    intent_id: str | None = None,
) -> RiskDecision:
    iid = intent_id or f"t{next(_ids)}"
    intent = OrderIntent(
        time_ns=now,
        intent_id=iid,
        strategy="test",
        paired=paired,
        expires_ns=expires_ns,
        legs=tuple(
            IntentLeg(
                token_id=t, market=t.rsplit("-", 1)[0], side=s, price=D(p), size=D(q), tif=tif, post_only=post_only
            )
            for t, s, p, q in legs
        ),
    )
    return RiskDecision(time_ns=now, intent_id=iid, action=RiskAction.APPROVED, intent=intent)


def trader_world(tmp_path: Path, venue_cls: type[SimVenue] = SimVenue, **venue_kw: Any) -> tuple[World, Trader, Any]:
    w = World(tmp_path)
    w.add_market(market("m1"))
    w.crowd("m1-yes", Side.SELL, "0.50", 100)
    w.crowd("m1-yes", Side.BUY, "0.40", 100)
    t = Trader("trader", {"await_risk_state": False, "pnl_interval_ns": 0})
    venue = venue_cls(w.ex, "us", **venue_kw)
    w.rt.add_agent(t, venue=venue)
    return w, t, venue


async def test_unknown_send_outcome_is_resolved_by_asking_the_venue_without_resending(tmp_path: Path) -> None:
    w, t, venue = trader_world(tmp_path, LostReplyVenue)
    await w.run_for(0)
    d = decision(w.rt.now_ns(), ("m1-yes", Side.BUY, "0.50", "10"))
    w.inject(d)
    await w.run_for(1)
    coid = f"{d.intent_id}:0"
    assert venue.sends == [coid]  # sent once, never again
    assert t.orders[coid].status is OrderStatus.FILLED
    assert w.shares("m1-yes") == 10
    statuses = [s for (s,) in w.q("SELECT status FROM order_events WHERE client_order_id = ? ORDER BY rowid", (coid,))]
    assert statuses[:2] == ["SENT", "UNKNOWN"] and statuses[-1] == "FILLED"
    assert w.q("SELECT COUNT(*) FROM orders")[0][0] == 1
    assert t.portfolio.size("m1-yes") == 10


async def test_order_the_venue_never_received_is_closed_not_resent(tmp_path: Path) -> None:
    w, t, venue = trader_world(tmp_path, LostReplyVenue, lose="request")
    await w.run_for(0)
    d = decision(w.rt.now_ns(), ("m1-yes", Side.BUY, "0.40", "10"))
    w.inject(d)
    await w.run_for(5)
    coid = f"{d.intent_id}:0"
    assert venue.sends == [coid]
    o = t.orders[coid]
    assert o.status is OrderStatus.REJECTED and o.reason is ReasonCode.VENUE_ERROR and o.status_queries == 3
    assert w.ex.order("us", coid) is None and w.open_orders() == []


@pytest.mark.parametrize("down_s", [1, 30])
async def test_reconcile_after_a_crash_rebuilds_state_and_never_doubles_an_order(tmp_path: Path, down_s: int) -> None:
    """A crash between the write-ahead of ``lost:0`` and its send: back within the resend window
    (1 s) the order is sent once, under its journalled id; back later (30 s) it is closed unsent."""
    w, _t, venue = trader_world(tmp_path)
    await w.run_for(0)
    now = w.rt.now_ns()
    resting = [decision(now, ("m1-yes", Side.BUY, p, "10"), post_only=True) for p in ("0.41", "0.42")]
    filled = decision(now, ("m1-yes", Side.BUY, "0.50", "20"))
    for d in [*resting, filled]:
        w.inject(d)
    await w.run_for(1)
    assert len(w.open_orders()) == 2 and w.shares("m1-yes") == 20
    # a crash after the write-ahead of one more order but before it was sent
    ghost_req = OrderRequest(
        time_ns=w.rt.now_ns(), client_order_id="lost:0", account="us", token_id="m1-yes", market="m1",
        side=Side.BUY, price=D("0.43"), size=D(10), intent_id="lost",
    )
    assert w.journal is not None
    await w.journal.record(ghost_req, agent="trader", durable=True)
    # while the trader is down, one resting order fills at the exchange
    await venue.close()
    w.crowd("m1-yes", Side.SELL, "0.42", 10)

    rt2 = LocalRuntime(seed=0, journal=w.journal, start_ns=w.rt.now_ns() + down_s * NS_PER_S)
    t2 = Trader("trader", {"await_risk_state": False, "pnl_interval_ns": 0})
    rt2.add_agent(t2, venue=SimVenue(w.ex, "us"))
    await rt2.run(until_ns=rt2.now_ns())
    assert t2.reconciled and not rt2.crashes
    by_state = t2.status()["orders_by_state"]
    resent = down_s * NS_PER_S <= t2.config.resend_unsent_within_ns
    if resent:  # sent now, once, and resting at the venue under the journalled id
        assert by_state == {"ACKNOWLEDGED": 2, "FILLED": 2}
        assert t2.orders["lost:0"].status is OrderStatus.ACKNOWLEDGED and t2.status()["resent_unsent"] == 1
        assert w.ex.order("us", "lost:0") is not None
    else:  # too old to trade on: closed, never sent
        assert by_state == {"ACKNOWLEDGED": 1, "FILLED": 2, "REJECTED": 1}
        assert t2.orders["lost:0"].status is OrderStatus.REJECTED and t2.status()["resent_unsent"] == 0
        assert w.ex.order("us", "lost:0") is None
    assert t2.orders[f"{resting[1].intent_id}:0"].status is OrderStatus.FILLED  # filled while we were down
    assert t2.portfolio.size("m1-yes") == 30 == w.shares("m1-yes")
    # the same decisions delivered again: nothing is sent twice
    for d in [*resting, filled]:
        rt2.inject(d)
    await rt2.run(until_ns=rt2.now_ns() + NS_PER_S)
    assert not rt2.crashes
    assert len(w.open_orders()) == (2 if resent else 1)
    assert w.q("SELECT COUNT(*) FROM orders")[0][0] == 4  # the resend wrote no second write-ahead
    assert w.shares("m1-yes") == 30
    # and it trades again once reconciled
    rt2.inject(decision(rt2.now_ns(), ("m1-yes", Side.BUY, "0.50", "5")))
    await rt2.run(until_ns=rt2.now_ns() + NS_PER_S)
    assert w.shares("m1-yes") == 35


async def test_order_at_the_venue_that_the_journal_never_wrote_halts_the_trader(tmp_path: Path) -> None:
    w = World(tmp_path)
    w.add_market(market("m1"))
    w.crowd("m1-yes", Side.BUY, "0.40", 10, account="us")  # someone else traded on our account
    t = Trader("trader", {"await_risk_state": False, "pnl_interval_ns": 0})
    w.rt.add_agent(t, venue=SimVenue(w.ex, "us"))
    await w.run_for(0)
    assert not t.reconciled and ReasonCode.RECONCILE_FAILED in t.local_halts
    rows = w.q("SELECT detail FROM risk_events WHERE agent='trader' AND code='RECONCILE_FAILED'")
    assert rows and "open orders the journal never wrote" in rows[0][0]
    w.inject(decision(w.rt.now_ns(), ("m1-yes", Side.BUY, "0.40", "10")))
    await w.run_for(1)
    assert w.q("SELECT COUNT(*) FROM orders")[0][0] == 0  # refused, nothing sent


async def test_unreachable_venue_is_retried_then_halts_and_keeps_retrying(tmp_path: Path) -> None:
    w, t, _venue = trader_world(tmp_path, UnreachableVenue)
    await w.run_for(0)
    assert not t.reconciled and t.reconcile_failures == 1
    await w.run_for(10)
    assert t.reconcile_failures >= 3 and ReasonCode.RECONCILE_FAILED in t.local_halts
    assert "unreachable after" in t.local_halts[ReasonCode.RECONCILE_FAILED]
    before = t.reconcile_failures
    await w.run_for(60)
    assert t.reconcile_failures > before  # halted, not given up: an outage that ends lifts the halt


async def test_client_mismatch_trips_the_kill_switch_and_refuses_orders(tmp_path: Path) -> None:
    w, _t, _venue = trader_world(tmp_path, MismatchVenue)
    watch = Watch()
    w.rt.add_agent(watch)
    ro = RiskOfficer("risk_officer")
    w.rt.add_agent(ro)
    await w.run_for(0)
    w.inject(decision(w.rt.now_ns(), ("m1-yes", Side.BUY, "0.40", "10")))
    await w.run_for(1)
    assert [c.name for c in watch.commands] == ["kill_switch"] and watch.commands[0].args["on"] == "true"
    sev = w.q("SELECT agent, json_extract_string(payload, '$.severity') FROM risk_events "
              "WHERE code='CLIENT_MISMATCH' AND kind='event' ORDER BY rowid")
    assert sev == [("trader", "CRITICAL"), ("risk_officer", "CRITICAL")]
    d2 = decision(w.rt.now_ns(), ("m1-yes", Side.BUY, "0.40", "10"))
    w.inject(d2)
    await w.run_for(1)
    assert ro.state is TradingState.HALTED and ReasonCode.CLIENT_MISMATCH in ro.halt_reasons
    refused = [e for e in watch.events if e.client_order_id == f"{d2.intent_id}:0"]
    assert refused and refused[0].reason is ReasonCode.CLIENT_MISMATCH
    assert w.q("SELECT COUNT(*) FROM orders")[0][0] == 1


async def test_halted_cancels_every_open_order_and_refuses_new_intents(tmp_path: Path) -> None:
    w, t, _venue = trader_world(tmp_path)
    await w.run_for(0)
    for p in ("0.41", "0.42", "0.43"):
        w.inject(decision(w.rt.now_ns(), ("m1-yes", Side.BUY, p, "10"), post_only=True))
    await w.run_for(1)
    assert len(w.open_orders()) == 3
    w.inject(TradingStateChange(time_ns=w.rt.now_ns(), state=TradingState.HALTED, previous=TradingState.ACTIVE,
                                reason=ReasonCode.DAILY_LOSS_LIMIT))
    await w.run_for(1)
    assert w.open_orders() == []
    assert t.status()["orders_by_state"] == {"CANCELLED": 3}
    w.inject(decision(w.rt.now_ns(), ("m1-yes", Side.BUY, "0.40", "10")))
    await w.run_for(1)
    assert w.q("SELECT COUNT(*) FROM orders")[0][0] == 3


async def test_reducing_cancels_resting_buys_and_accepts_only_sells_of_held_shares(tmp_path: Path) -> None:
    w, _t, _venue = trader_world(tmp_path)
    await w.run_for(0)
    w.inject(decision(w.rt.now_ns(), ("m1-yes", Side.BUY, "0.50", "10")))
    w.inject(decision(w.rt.now_ns(), ("m1-yes", Side.BUY, "0.41", "10"), post_only=True))
    await w.run_for(1)
    assert len(w.open_orders()) == 1
    w.inject(TradingStateChange(time_ns=w.rt.now_ns(), state=TradingState.REDUCING, previous=TradingState.ACTIVE))
    await w.run_for(0)
    assert w.open_orders() == []
    w.inject(decision(w.rt.now_ns(), ("m1-yes", Side.BUY, "0.50", "10")))
    w.inject(decision(w.rt.now_ns(), ("m1-yes", Side.SELL, "0.40", "10")))
    await w.run_for(1)
    assert w.shares("m1-yes") == 0
    assert w.q("SELECT COUNT(*) FROM orders")[0][0] == 3


async def test_gtd_leg_lives_until_the_intent_expires_past_the_venues_threshold(tmp_path: Path) -> None:
    w, t, _venue = trader_world(tmp_path)
    await w.run_for(0)
    expiry = w.rt.now_ns() + 2 * NS_PER_S
    d = decision(w.rt.now_ns(), ("m1-yes", Side.BUY, "0.41", "10"), tif=TimeInForce.GTD, expires_ns=expiry)
    w.inject(d)
    await w.run_for(1)
    o = t.orders[f"{d.intent_id}:0"]
    assert o.status is OrderStatus.ACKNOWLEDGED and o.request.expires_ns == expiry + 60 * NS_PER_S
    await w.run_for(2)
    # the venue expired it exactly at the intent's expiry (the trader's own cancel found it gone)
    assert w.open_orders() == [] and o.status is OrderStatus.EXPIRED


async def test_intent_expiry_cancels_what_is_still_resting(tmp_path: Path) -> None:
    w, t, _venue = trader_world(tmp_path)
    await w.run_for(0)
    d = decision(w.rt.now_ns(), ("m1-yes", Side.BUY, "0.41", "10"), expires_ns=w.rt.now_ns() + 2 * NS_PER_S)
    w.inject(d)
    await w.run_for(1)
    assert len(w.open_orders()) == 1
    await w.run_for(2)
    assert w.open_orders() == []
    assert t.orders[f"{d.intent_id}:0"].status is OrderStatus.CANCELLED


async def test_duplicate_events_and_fills_change_nothing(tmp_path: Path) -> None:
    w, t, _venue = trader_world(tmp_path)
    await w.run_for(0)
    d = decision(w.rt.now_ns(), ("m1-yes", Side.BUY, "0.50", "10"))
    w.inject(d)
    await w.run_for(1)
    before = (t.portfolio.size("m1-yes"), t.portfolio.fees, len(w.q("SELECT * FROM order_events")))
    for f in w.ex.trades("us"):
        w.inject(f)
        w.inject(f)
    ev = w.ex.order("us", f"{d.intent_id}:0")
    assert ev is not None
    w.inject(ev)
    w.inject(ev.model_copy(update={"status": OrderStatus.ACKNOWLEDGED, "filled": D(0)}))  # stale and late
    await w.run_for(1)
    assert (t.portfolio.size("m1-yes"), t.portfolio.fees, len(w.q("SELECT * FROM order_events"))) == before
    assert t.orders[f"{d.intent_id}:0"].status is OrderStatus.FILLED


async def test_client_order_ids_are_deterministic_sanitised_and_bounded() -> None:
    from agents.orders import client_order_id

    assert client_order_id("complete_set:m1:3", 1) == "complete_set:m1:3:1"
    weird = client_order_id("news reaction/über", 0)
    assert weird == client_order_id("news reaction/über", 0)
    assert " " not in weird and "/" not in weird and weird != client_order_id("news_reaction_über", 0)
    long = client_order_id("x" * 300, 2)
    assert len(long) <= 128 and long != client_order_id("x" * 299 + "y", 2)


def test_trader_refuses_to_start_without_a_journal_and_its_supervisors_give_up() -> None:
    import asyncio

    from cluster.runtime_local import SupervisionFailed

    w = World(None)
    w.rt.add_agent(Trader("trader"), venue=SimVenue(w.ex, "us"))
    with pytest.raises(SupervisionFailed, match="INTENSITY_EXCEEDED"):  # a start that always fails escalates
        asyncio.run(w.rt.run(until_ns=w.rt.now_ns()))
    assert w.rt.crashes and "require_journal" in str(w.rt.crashes[0][1])


def test_trader_refuses_a_venue_for_another_account_and_its_supervisors_give_up() -> None:
    from cluster.runtime_local import SupervisionFailed

    w = World(None)
    t = Trader("trader", {"account": "us", "require_journal": False, "await_risk_state": False})
    w.rt.add_agent(t, venue=SimVenue(w.ex, "crowd"))
    import asyncio

    with pytest.raises(SupervisionFailed, match="INTENSITY_EXCEEDED"):
        asyncio.run(w.rt.run(until_ns=w.rt.now_ns()))
    assert w.rt.crashes and "TraderConfig.account" in str(w.rt.crashes[0][1])



async def test_paired_fak_leg_that_fills_short_has_the_other_legs_excess_unwound(tmp_path: Path) -> None:
    w = World(tmp_path)
    w.add_market(market("m1"))
    w.crowd("m1-yes", Side.SELL, "0.55", 15)
    w.crowd("m1-yes", Side.BUY, "0.50", 50)  # bids to unwind into
    w.crowd("m1-no", Side.SELL, "0.48", 10)  # only 10 NO offered
    t = Trader("trader", {"await_risk_state": False, "pnl_interval_ns": 0})
    w.rt.add_agent(t, venue=SimVenue(w.ex, "us"))
    await w.run_for(0)
    d = decision(w.rt.now_ns(), ("m1-yes", Side.BUY, "0.55", "15"), ("m1-no", Side.BUY, "0.48", "15"),
                 paired=True, tif=TimeInForce.FAK)
    w.inject(d)
    await w.run_for(1)
    iid = d.intent_id
    assert t.orders[f"{iid}:0"].filled == 15 and t.orders[f"{iid}:1"].filled == 10
    assert t.orders[f"{iid}:1"].status is OrderStatus.CANCELLED  # FAK: the rest is cancelled
    unwind = t.orders[f"{iid}:0:u1"]
    assert (unwind.request.side, unwind.request.size, unwind.status) == (Side.SELL, D(5), OrderStatus.FILLED)
    assert w.shares("m1-yes") == 10 == w.shares("m1-no")  # ten complete sets, nothing naked
    assert t.portfolio.size("m1-yes") == 10 and t.unwound == 1


async def test_paired_legs_still_resting_at_the_timeout_are_cancelled_and_unwound(tmp_path: Path) -> None:
    w = World(tmp_path)
    w.add_market(market("m1"))
    w.crowd("m1-yes", Side.SELL, "0.55", 15)
    w.crowd("m1-yes", Side.BUY, "0.50", 50)
    t = Trader("trader", {"await_risk_state": False, "pnl_interval_ns": 0, "paired_timeout_ns": 5 * NS_PER_S})
    w.rt.add_agent(t, venue=SimVenue(w.ex, "us"))
    await w.run_for(0)
    d = decision(w.rt.now_ns(), ("m1-yes", Side.BUY, "0.55", "15"), ("m1-no", Side.BUY, "0.40", "15"), paired=True)
    w.inject(d)
    await w.run_for(1)
    assert t.orders[f"{d.intent_id}:1"].status is OrderStatus.ACKNOWLEDGED  # the NO leg rests
    await w.run_for(5)
    assert t.orders[f"{d.intent_id}:1"].status is OrderStatus.CANCELLED
    assert w.shares("m1-yes") == 0 and w.open_orders() == []


async def test_trader_state_survives_snapshot_and_restore(tmp_path: Path) -> None:
    w, t, _venue = trader_world(tmp_path)
    await w.run_for(0)
    w.inject(decision(w.rt.now_ns(), ("m1-yes", Side.BUY, "0.50", "10")))
    w.inject(decision(w.rt.now_ns(), ("m1-yes", Side.BUY, "0.41", "10"), post_only=True))
    await w.run_for(1)
    snap = json.loads(json.dumps(t.snapshot()))  # checkpoints travel as plain JSON
    clone = Trader("trader", {"await_risk_state": False, "pnl_interval_ns": 0})
    clone.restore(snap)
    assert clone.snapshot() == snap
    assert clone.status()["orders_by_state"] == t.status()["orders_by_state"] == {"ACKNOWLEDGED": 1, "FILLED": 1}
    assert clone.portfolio.equity == t.portfolio.equity


def test_a_fill_that_fails_on_chain_is_reversed() -> None:
    from agents.portfolio import Portfolio
    from protocols import Fill, SettlementStatus

    p = Portfolio(D(100))
    f = Fill(time_ns=T0, fill_id="f1", client_order_id="c", account="us", token_id="a", market="m", side=Side.BUY,
             price=D("0.40"), size=D(10), fee=D("0.1"))
    assert p.apply_fill(f) == D("-0.1")
    assert p.apply_fill(f.model_copy(update={"settlement": SettlementStatus.MINED})) is None  # same fill again
    p.apply_fill(f.model_copy(update={"settlement": SettlementStatus.FAILED}))
    assert p.size("a") == 0 and p.fees == 0 and p.cash == D(100)


async def test_old_fills_of_orders_we_never_sent_are_reported_and_positions_adopted(tmp_path: Path) -> None:
    w = World(tmp_path)
    w.add_market(market("m1"))
    w.crowd("m1-yes", Side.SELL, "0.50", 30)
    w.crowd("m1-yes", Side.BUY, "0.50", 10, account="us")  # a manual trade on our account, filled
    t = Trader("trader", {"await_risk_state": False, "pnl_interval_ns": 0})
    w.rt.add_agent(t, venue=SimVenue(w.ex, "us"))
    await w.run_for(0)
    assert t.reconciled and t.portfolio.size("m1-yes") == 10  # adopted from the venue's positions
    w.inject(decision(w.rt.now_ns(), ("m1-yes", Side.BUY, "0.50", "5")))
    await w.run_for(1)
    assert w.shares("m1-yes") == 15 == t.portfolio.size("m1-yes")


async def test_paired_intent_with_a_leg_that_cannot_be_an_order_sends_nothing(tmp_path: Path) -> None:
    w, t, _venue = trader_world(tmp_path)
    await w.run_for(0)
    d = decision(w.rt.now_ns(), ("m1-yes", Side.BUY, "0.50", "10"), ("m1-no", Side.BUY, "1", "10"), paired=True)
    w.inject(d)
    await w.run_for(1)
    assert t.orders[f"{d.intent_id}:0"].status is OrderStatus.CANCELLED
    assert f"{d.intent_id}:1" not in t.orders
    assert w.q("SELECT COUNT(*) FROM orders")[0][0] == 0 and w.shares("m1-yes") == 0


def test_order_state_moves_only_forward_whatever_order_events_arrive_in() -> None:
    from agents.orders import OrderState

    req = OrderRequest(time_ns=T0, client_order_id="c:0", account="us", token_id="m1-yes", market="m1",
                       side=Side.BUY, price=D("0.5"), size=D(10))
    o = OrderState(req)
    assert o.transition(OrderStatus.SENT, T0)

    def ev(status: OrderStatus, filled: str) -> OrderEvent:
        return OrderEvent(time_ns=T0, client_order_id="c:0", account="us", token_id="m1-yes", market="m1",
                          side=Side.BUY, price=D("0.5"), size=D(10), status=status, filled=D(filled))

    assert o.apply_event(ev(OrderStatus.PARTIALLY_FILLED, "4"))
    assert not o.apply_event(ev(OrderStatus.ACKNOWLEDGED, "0"))  # late ack: nothing new
    assert not o.apply_event(ev(OrderStatus.PARTIALLY_FILLED, "4"))  # the same event twice
    assert o.note_fill("f1", D(6), T0) and o.status is OrderStatus.PARTIALLY_FILLED  # fills ahead of events
    assert not o.note_fill("f1", D(6), T0)
    assert o.apply_event(ev(OrderStatus.CANCELLED, "6"))
    assert o.status is OrderStatus.CANCELLED and o.filled == 6 and o.remaining == 0
    assert not o.apply_event(ev(OrderStatus.ACKNOWLEDGED, "6"))  # terminal is final
    assert o.apply_event(ev(OrderStatus.CANCELLED, "7"))  # ...but a late fill report is still a fact
    assert o.filled == 7 and o.status is OrderStatus.CANCELLED


async def test_a_pair_half_done_at_a_crash_is_finished_by_the_restored_trader(tmp_path: Path) -> None:
    w, t, venue = trader_world(tmp_path)
    w.crowd("m1-yes", Side.BUY, "0.45", 50)
    await w.run_for(0)
    d = decision(w.rt.now_ns(), ("m1-yes", Side.BUY, "0.50", "10"), ("m1-no", Side.BUY, "0.30", "10"), paired=True)
    w.inject(d)
    await w.run_for(1)
    assert w.shares("m1-yes") == 10 and len(w.open_orders()) == 1  # YES filled, the NO leg rests
    snap = t.snapshot()
    await venue.close()  # the process dies; its timers die with it

    rt2 = LocalRuntime(seed=0, journal=w.journal, start_ns=w.rt.now_ns() + NS_PER_S)
    t2 = Trader("trader", {"await_risk_state": False, "pnl_interval_ns": 0, "paired_timeout_ns": 5 * NS_PER_S})
    t2.restore(snap)
    rt2.add_agent(t2, venue=SimVenue(w.ex, "us"))
    await rt2.run(until_ns=rt2.now_ns() + 6 * NS_PER_S)
    assert t2.orders[f"{d.intent_id}:1"].status is OrderStatus.CANCELLED
    assert t2.orders[f"{d.intent_id}:0:u1"].status is OrderStatus.FILLED
    assert w.shares("m1-yes") == 0 and w.open_orders() == []
