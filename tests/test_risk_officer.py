"""The risk officer on the local runtime: each limit rejects (or resizes) with its own reason code."""

from __future__ import annotations

import itertools
import json
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import pytest

from agents.base import Agent, Subscription
from agents.risk_officer import NS_PER_DAY, RiskOfficer
from cluster.clock import DEFAULT_START_NS
from cluster.journal import Journal
from cluster.runtime_local import LocalRuntime
from protocols import (
    BookStale,
    Command,
    Envelope,
    Fill,
    IntentLeg,
    MarketInfo,
    OrderEvent,
    OrderIntent,
    OrderStatus,
    ReasonCode,
    RiskDecision,
    RiskEvent,
    Side,
    TopOfBook,
    TradingState,
    TradingStateChange,
)

S = 1_000_000_000
T0 = DEFAULT_START_NS
D = Decimal


class Recorder(Agent[Any]):
    role: ClassVar[str] = "recorder"
    subscriptions = (Subscription(RiskDecision), Subscription(TradingStateChange), Subscription(RiskEvent))

    def __init__(self) -> None:
        super().__init__("recorder")
        self.decisions: dict[str, RiskDecision] = {}
        self.states: list[TradingStateChange] = []
        self.events: list[RiskEvent] = []

    def on_message(self, envelope: Envelope) -> None:
        p = envelope.payload
        if isinstance(p, RiskDecision):
            self.decisions[p.intent_id] = p
        elif isinstance(p, TradingStateChange):
            self.states.append(p)
        elif isinstance(p, RiskEvent):
            self.events.append(p)


class Desk:
    """A risk officer, a recorder, and helpers to feed books, intents, fills and order events."""

    def __init__(self, journal: Journal | None = None, **cfg: Any) -> None:
        self.rt = LocalRuntime(seed=1, journal=journal)
        self.ro = RiskOfficer("risk_officer", {"check_interval_ns": S, **cfg})
        self.rec = Recorder()
        self.rt.add_agent(self.ro)
        self.rt.add_agent(self.rec)
        self._n = itertools.count(1)
        self._fills = itertools.count(1)

    async def start(self) -> None:
        await self.rt.run(until_ns=self.rt.now_ns())

    async def step(self, seconds: float = 0.0) -> None:
        await self.rt.run(until_ns=self.rt.now_ns() + int(seconds * S))

    def market(self, name: str, *, event_id: str = "", end_ns: int | None = None) -> None:
        self.rt.inject(
            MarketInfo(
                time_ns=self.rt.now_ns(), market=name, question="?", token_ids=(f"{name}-yes", f"{name}-no"),
                event_id=event_id, end_ns=end_ns,
            )
        )

    def book(self, token: str, asks: list[tuple[str, str]], bids: list[tuple[str, str]] | None = None) -> None:
        bids = bids if bids is not None else [("0.01", "1000")]
        a = tuple((D(p), D(s)) for p, s in asks)
        b = tuple((D(p), D(s)) for p, s in bids)
        self.rt.inject(
            TopOfBook(
                time_ns=self.rt.now_ns(), token_id=token, market=token.rsplit("-", 1)[0],
                best_bid=b[0][0] if b else None, best_bid_size=b[0][1] if b else D(0),
                best_ask=a[0][0] if a else None, best_ask_size=a[0][1] if a else D(0), bids=b, asks=a,
            )
        )

    def deep(self, token: str, price: str = "0.50") -> None:
        """A deep book: plenty offered at ``price`` and bid one tick below."""
        below = str(D(price) - D("0.01"))
        self.book(token, [(price, "100000")], [(below, "100000")])

    async def intent(
        self, *legs: tuple[str, Side, str, str], paired: bool = False, event_id: str = "", expires_ns: int | None = None
    ) -> RiskDecision:
        iid = f"i{next(self._n)}"
        intent = OrderIntent(
            time_ns=self.rt.now_ns(), intent_id=iid, strategy="test", paired=paired, expires_ns=expires_ns,
            legs=tuple(
                IntentLeg(token_id=t, market=t.rsplit("-", 1)[0], side=side, price=D(p), size=D(s), event_id=event_id)
                for t, side, p, s in legs
            ),
        )
        self.rt.inject(intent)
        await self.step()
        return self.rec.decisions[iid]

    def fill(self, token: str, side: Side, price: str, size: str, coid: str = "x", fee: str = "0") -> None:
        self.rt.inject(
            Fill(
                time_ns=self.rt.now_ns(), fill_id=f"f{next(self._fills)}", client_order_id=coid, account="us",
                token_id=token, market=token.rsplit("-", 1)[0], side=side, price=D(price), size=D(size), fee=D(fee),
            )
        )

    def order_event(self, coid: str, status: OrderStatus, *, reason: ReasonCode | None = None,
                    filled: str = "0", at_ns: int | None = None) -> None:
        self.rt.inject(
            OrderEvent(
                time_ns=at_ns or self.rt.now_ns(), client_order_id=coid, account="us", token_id="m1-yes",
                market="m1", side=Side.BUY, price=D("0.5"), size=D(10), status=status, filled=D(filled),
                reason=reason,
            )
        )

    def command(self, name: str, **args: str) -> None:
        self.rt.inject(Command(time_ns=self.rt.now_ns(), target="risk_officer", name=name, args=args))

    @property
    def state(self) -> TradingState:
        return self.ro.state


BUY, SELL = Side.BUY, Side.SELL


@pytest.fixture
async def desk() -> Desk:
    d = Desk()
    await d.start()
    for m in ("m1", "m2", "m3", "m4"):
        d.market(m, event_id="e1" if m in ("m1", "m2") else "")
        d.deep(f"{m}-yes")
        d.deep(f"{m}-no")
    await d.step()
    return d


async def test_risk_officer_approves_an_intent_within_every_limit(desk: Desk) -> None:
    dec = await desk.intent(("m1-yes", BUY, "0.50", "20"))
    assert dec.action.value == "APPROVED" and dec.reasons == ()
    assert desk.rec.states[0].state is TradingState.ACTIVE


async def test_trade_size_over_two_percent_is_resized_down_to_the_limit(desk: Desk) -> None:
    dec = await desk.intent(("m1-yes", BUY, "0.50", "100"))  # 50 pUSD > 20
    assert dec.action.value == "RESIZED" and dec.reasons == (ReasonCode.MAX_TRADE_SIZE,)
    assert dec.intent.legs[0].size == D(40)


async def test_trade_that_cannot_be_resized_above_min_size_is_rejected(desk: Desk) -> None:
    dec = await desk.intent(("m1-yes", BUY, "0.99", "1000"))  # resized to 20.2 shares: above the minimum
    assert dec.action.value == "RESIZED"
    desk2 = Desk(max_trade_fraction=D("0.002"))  # 2 pUSD a trade: 4 shares at 0.50, below the 5 minimum
    await desk2.start()
    desk2.market("m1")
    desk2.deep("m1-yes")
    dec2 = await desk2.intent(("m1-yes", BUY, "0.50", "10"))
    assert dec2.action.value == "REJECTED" and dec2.reasons == (ReasonCode.MAX_TRADE_SIZE,)


async def test_market_exposure_counts_open_orders_before_any_fill(desk: Desk) -> None:
    # 5% of 1000 = 50 per market; each intent is 20: two fit, the third only partly, the fourth not
    assert (await desk.intent(("m3-yes", BUY, "0.50", "40"))).action.value == "APPROVED"
    assert (await desk.intent(("m3-no", BUY, "0.50", "40"))).action.value == "APPROVED"
    third = await desk.intent(("m3-yes", BUY, "0.50", "40"))
    assert third.action.value == "RESIZED" and third.reasons == (ReasonCode.MAX_MARKET_EXPOSURE,)
    assert third.intent.legs[0].size == D(20)
    fourth = await desk.intent(("m3-yes", BUY, "0.50", "40"))
    assert fourth.action.value == "REJECTED" and ReasonCode.MAX_MARKET_EXPOSURE in fourth.reasons


async def test_cancelled_order_frees_its_reservation(desk: Desk) -> None:
    for _ in range(2):
        await desk.intent(("m3-yes", BUY, "0.50", "40"))
    await desk.intent(("m3-yes", BUY, "0.50", "20"))
    assert (await desk.intent(("m3-yes", BUY, "0.50", "20"))).action.value == "REJECTED"
    desk.order_event("i1:0", OrderStatus.CANCELLED)
    await desk.step()
    assert (await desk.intent(("m3-yes", BUY, "0.50", "40"))).action.value == "APPROVED"


async def test_event_exposure_limits_correlated_markets() -> None:
    d = Desk(max_event_fraction=D("0.06"))
    await d.start()
    for m in ("m1", "m2"):
        d.market(m, event_id="e1")
        d.deep(f"{m}-yes")
    await d.step()
    assert (await d.intent(("m1-yes", BUY, "0.50", "40"))).action.value == "APPROVED"  # 20 of 60
    assert (await d.intent(("m2-yes", BUY, "0.50", "40"))).action.value == "APPROVED"  # 40 of 60
    third = await d.intent(("m2-yes", BUY, "0.50", "40"))  # market m2 at 20 + 20 = 40 < 50, event 60
    assert third.action.value == "APPROVED"
    fourth = await d.intent(("m1-yes", BUY, "0.50", "40"))
    assert fourth.action.value == "REJECTED" and ReasonCode.MAX_EVENT_EXPOSURE in fourth.reasons


async def test_total_exposure_is_capped_at_half_the_bankroll() -> None:
    d = Desk(max_total_fraction=D("0.05"), max_market_fraction=D("0.05"))
    await d.start()
    for m in ("m1", "m2", "m3"):
        d.market(m)
        d.deep(f"{m}-yes")
    await d.step()
    assert (await d.intent(("m1-yes", BUY, "0.50", "40"))).action.value == "APPROVED"
    assert (await d.intent(("m2-yes", BUY, "0.50", "40"))).action.value == "APPROVED"
    third = await d.intent(("m3-yes", BUY, "0.50", "40"))
    assert third.action.value == "RESIZED" and third.reasons == (ReasonCode.MAX_TOTAL_EXPOSURE,)
    assert third.intent.legs[0].size == D(20)


async def test_paired_intent_is_checked_and_resized_as_a_whole(desk: Desk) -> None:
    dec = await desk.intent(("m4-yes", BUY, "0.50", "30"), ("m4-no", BUY, "0.50", "30"), paired=True)
    # 30 pUSD together > 20: both legs scale by the same factor, so the set stays a set
    assert dec.action.value == "RESIZED" and dec.reasons == (ReasonCode.MAX_TRADE_SIZE,)
    assert [leg.size for leg in dec.intent.legs] == [D(20), D(20)]


async def test_price_impact_resizes_to_what_the_book_absorbs(desk: Desk) -> None:
    desk.book("m1-yes", [("0.50", "10"), ("0.60", "1000")])
    await desk.step()
    dec = await desk.intent(("m1-yes", BUY, "0.60", "30"))  # 10 @ .50 then .60: the average runs off
    assert dec.action.value == "RESIZED" and ReasonCode.PRICE_IMPACT in dec.reasons
    size = dec.intent.legs[0].size
    # VWAP of the resized order stays within 1% of the best ask
    vwap = (D("0.50") * 10 + D("0.60") * (size - 10)) / size
    assert vwap <= D("0.505") and size > 10


async def test_thin_book_is_rejected_for_insufficient_liquidity(desk: Desk) -> None:
    desk.book("m1-yes", [("0.50", "5")], [])
    await desk.step()
    dec = await desk.intent(("m1-yes", BUY, "0.50", "5"))
    assert dec.action.value == "REJECTED" and dec.reasons == (ReasonCode.INSUFFICIENT_LIQUIDITY,)


async def test_paired_leg_is_resized_to_the_depth_at_its_limit(desk: Desk) -> None:
    desk.book("m4-no", [("0.45", "12"), ("0.46", "1000")], [("0.44", "1000")])
    await desk.step()
    dec = await desk.intent(("m4-yes", BUY, "0.50", "15"), ("m4-no", BUY, "0.45", "15"), paired=True)
    assert dec.action.value == "RESIZED" and ReasonCode.INSUFFICIENT_LIQUIDITY in dec.reasons
    assert [leg.size for leg in dec.intent.legs] == [D(12), D(12)]


async def test_stale_book_and_old_book_and_missing_book_are_rejected(desk: Desk) -> None:
    desk.rt.inject(BookStale(time_ns=desk.rt.now_ns(), token_id="m1-yes", market="m1", reason="STALE"))
    await desk.step()
    assert (await desk.intent(("m1-yes", BUY, "0.50", "10"))).reasons == (ReasonCode.STALE_DATA,)
    await desk.step(1)
    desk.deep("m1-yes")  # a fresh book clears the flag
    await desk.step()
    assert (await desk.intent(("m1-yes", BUY, "0.50", "10"))).action.value == "APPROVED"
    await desk.step(121)  # no update for longer than max_book_age
    assert (await desk.intent(("m1-yes", BUY, "0.50", "10"))).reasons == (ReasonCode.STALE_DATA,)
    assert (await desk.intent(("zz-yes", BUY, "0.50", "10"))).reasons == (ReasonCode.NO_MARKET_DATA,)


async def test_market_close_to_its_end_is_rejected(desk: Desk) -> None:
    desk.market("m9", end_ns=desk.rt.now_ns() + 60 * S)
    desk.deep("m9-yes")
    await desk.step()
    dec = await desk.intent(("m9-yes", BUY, "0.50", "10"))
    assert dec.action.value == "REJECTED" and dec.reasons == (ReasonCode.TOO_CLOSE_TO_EXPIRY,)


async def test_expired_intent_is_rejected(desk: Desk) -> None:
    dec = await desk.intent(("m1-yes", BUY, "0.50", "10"), expires_ns=desk.rt.now_ns() - 1)
    assert dec.reasons == (ReasonCode.SIGNAL_EXPIRED,)


async def test_max_trades_per_day_then_a_new_day_resets_it() -> None:
    d = Desk(max_trades_per_day=2)
    await d.start()
    d.market("m1")
    d.deep("m1-yes")
    await d.step()
    for _ in range(2):
        assert (await d.intent(("m1-yes", BUY, "0.50", "10"))).action.value == "APPROVED"
    assert (await d.intent(("m1-yes", BUY, "0.50", "10"))).reasons == (ReasonCode.MAX_TRADES_PER_DAY,)
    await d.step(NS_PER_DAY / S)
    d.deep("m1-yes")
    await d.step()
    assert (await d.intent(("m1-yes", BUY, "0.50", "10"))).action.value == "APPROVED"


async def test_daily_loss_halts_and_everything_is_rejected_until_the_next_day(desk: Desk) -> None:
    desk.fill("m1-yes", BUY, "0.50", "200", coid="big")  # 100 pUSD in (bypassing limits: a venue fact)
    await desk.step()
    desk.book("m1-yes", [("0.26", "1000")], [("0.24", "1000")])  # marked at 0.25: −50 = 5% of bankroll
    await desk.step()
    assert desk.state is TradingState.HALTED
    assert desk.rec.states[-1].reason is ReasonCode.DAILY_LOSS_LIMIT
    dec = await desk.intent(("m2-yes", BUY, "0.50", "10"))
    assert dec.action.value == "REJECTED" and dec.reasons == (ReasonCode.TRADING_HALTED, ReasonCode.DAILY_LOSS_LIMIT)
    codes = [e.code for e in desk.rec.events]
    assert ReasonCode.DAILY_LOSS_LIMIT in codes
    await desk.step(NS_PER_DAY / S)  # next UTC day: the daily halt lifts (drawdown 5% < 10% does not bind)
    assert desk.state is TradingState.ACTIVE


async def test_drawdown_from_peak_halts_until_an_operator_resumes() -> None:
    d = Desk(daily_loss_fraction=D("0.5"), soft_daily_loss_fraction=None)
    await d.start()
    for m in ("m1", "m2"):
        d.market(m)
        d.deep(f"{m}-yes")
    await d.step()
    d.fill("m1-yes", BUY, "0.50", "400", coid="a")
    await d.step()
    d.book("m1-yes", [("0.61", "1000")], [("0.59", "1000")])  # +40 → peak 1040
    await d.step()
    d.book("m1-yes", [("0.36", "1000")], [("0.34", "1000")])  # −60 from peak ≥ 10% of bankroll
    await d.step()
    assert d.state is TradingState.HALTED and ReasonCode.MAX_DRAWDOWN in d.ro.halt_reasons
    await d.step(NS_PER_DAY / S)
    assert d.state is TradingState.HALTED  # a new day does not lift a drawdown halt
    d.command("resume")
    await d.step()
    assert d.state is TradingState.ACTIVE


async def test_consecutive_losses_start_a_cooldown(desk: Desk) -> None:
    desk.fill("m1-yes", BUY, "0.50", "50", coid="b0")
    await desk.step()
    for i in range(5):
        desk.fill("m1-yes", SELL, "0.49", "5", coid=f"s{i}")
        await desk.step()
    dec = await desk.intent(("m2-yes", BUY, "0.50", "10"))
    assert dec.action.value == "REJECTED" and dec.reasons == (ReasonCode.LOSS_STREAK_COOLDOWN,)
    # selling what we hold still passes during the cooldown
    assert (await desk.intent(("m1-yes", SELL, "0.49", "10"))).action.value == "APPROVED"
    await desk.step(15 * 60 + 1)
    desk.deep("m2-yes")
    await desk.step()
    assert (await desk.intent(("m2-yes", BUY, "0.50", "10"))).action.value == "APPROVED"


async def test_three_failed_executions_in_ten_minutes_trip_the_kill_switch(desk: Desk) -> None:
    desk.order_event("a", OrderStatus.REJECTED, reason=ReasonCode.INSUFFICIENT_BALANCE)
    desk.order_event("a", OrderStatus.REJECTED, reason=ReasonCode.INSUFFICIENT_BALANCE)  # duplicate: once
    desk.order_event("b", OrderStatus.REJECTED, reason=ReasonCode.FOK_NOT_FILLABLE)  # the market's answer
    await desk.step(1)
    desk.order_event("c", OrderStatus.REJECTED, reason=ReasonCode.INVALID_TICK)
    await desk.step(600)  # "a" (601 s ago) falls out of the 10-minute window, "c" (600 s) does not
    desk.order_event("d", OrderStatus.REJECTED, reason=ReasonCode.VENUE_ERROR)
    await desk.step()
    assert desk.state is TradingState.ACTIVE
    desk.order_event("e", OrderStatus.REJECTED, reason=ReasonCode.VENUE_ERROR)
    await desk.step()
    assert desk.state is TradingState.HALTED and ReasonCode.EXECUTION_FAILURES in desk.ro.halt_reasons


async def test_slow_venue_ack_trips_the_kill_switch(desk: Desk) -> None:
    desk.order_event("a", OrderStatus.SENT)
    await desk.step(1)
    desk.order_event("a", OrderStatus.ACKNOWLEDGED)
    await desk.step()
    assert desk.state is TradingState.ACTIVE
    desk.order_event("b", OrderStatus.SENT)
    await desk.step(6)  # no answer for more than 5 s: the periodic check trips it
    assert desk.state is TradingState.HALTED and ReasonCode.VENUE_LATENCY in desk.ro.halt_reasons


async def test_manual_kill_switch_halts_and_releases(desk: Desk) -> None:
    desk.command("kill_switch", on="true")
    await desk.step()
    assert desk.state is TradingState.HALTED
    dec = await desk.intent(("m1-yes", BUY, "0.50", "10"))
    assert dec.reasons[0] is ReasonCode.KILL_SWITCH
    desk.command("kill_switch", on="false")
    await desk.step()
    assert desk.state is TradingState.ACTIVE
    assert (await desk.intent(("m1-yes", BUY, "0.50", "10"))).action.value == "APPROVED"


async def test_reducing_lets_only_exposure_cuts_through(desk: Desk) -> None:
    desk.fill("m1-yes", BUY, "0.50", "20", coid="h")
    await desk.step()
    desk.command("reduce_only", on="true")
    await desk.step()
    assert desk.state is TradingState.REDUCING
    assert (await desk.intent(("m2-yes", BUY, "0.50", "10"))).reasons == (ReasonCode.REDUCE_ONLY,)
    assert (await desk.intent(("m1-yes", SELL, "0.49", "30"))).reasons == (ReasonCode.REDUCE_ONLY,)  # > held
    assert (await desk.intent(("m1-yes", SELL, "0.49", "20"))).action.value == "APPROVED"


async def test_duplicate_intent_is_decided_once(desk: Desk) -> None:
    dec = await desk.intent(("m1-yes", BUY, "0.50", "10"))
    desk.rt.inject(dec.intent)
    await desk.step()
    assert desk.ro.counts["APPROVED"] == 1


async def test_every_decision_is_journalled_and_state_survives_snapshot_restore(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.duckdb")
    d = Desk(journal=j)
    await d.start()
    d.market("m1")
    d.deep("m1-yes")
    await d.step()
    await d.intent(("m1-yes", BUY, "0.50", "40"))
    await d.intent(("m1-yes", BUY, "0.50", "100"))
    await d.intent(("zz-yes", BUY, "0.50", "10"))
    rows = j.query("SELECT intent_id, action, code FROM risk_events WHERE kind='decision' ORDER BY rowid")
    assert rows == [
        ("i1", "APPROVED", None),
        ("i2", "RESIZED", "MAX_TRADE_SIZE,MAX_MARKET_EXPOSURE"),  # every limit the intent breached
        ("i3", "REJECTED", "NO_MARKET_DATA"),
    ]
    snap = json.loads(json.dumps(d.ro.snapshot()))  # checkpoints travel as plain JSON
    clone = RiskOfficer("risk_officer")
    clone.restore(snap)
    assert clone.snapshot() == snap
    assert clone.exposures() == d.ro.exposures()
    assert "state" in d.ro.status() and d.ro.status()["decisions"]["APPROVED"] == 1


def test_config_refuses_an_impact_limit_of_100_percent() -> None:
    with pytest.raises(ValueError, match="max_price_impact"):
        RiskOfficer("r", {"max_price_impact": "1.5"})



async def test_soft_daily_loss_moves_to_reducing_before_the_halt(desk: Desk) -> None:
    desk.fill("m1-yes", BUY, "0.50", "100", coid="big")
    await desk.step()
    desk.book("m1-yes", [("0.16", "1000")], [("0.14", "1000")])  # marked at 0.15: −35, past the 3% soft line
    await desk.step()
    assert desk.state is TradingState.REDUCING
    assert (await desk.intent(("m2-yes", BUY, "0.50", "10"))).reasons == (ReasonCode.REDUCE_ONLY,)
    assert (await desk.intent(("m1-yes", SELL, "0.14", "50"))).action.value == "APPROVED"


async def test_a_fresh_officer_rebuilds_exposure_from_the_traders_journal(tmp_path: Path) -> None:
    from test_society_world import World, market

    from agents.trader import Trader

    w = World(tmp_path)
    w.add_market(market("m1"))
    w.crowd("m1-yes", Side.SELL, "0.50", 100)
    w.crowd("m1-yes", Side.BUY, "0.30", 100)
    ro = RiskOfficer("risk_officer", {"max_book_age_ns": None})
    w.rt.add_agent(ro)
    w.rt.add_agent(Trader("trader", {"pnl_interval_ns": 0}), venue=w.venue_for("trader"))
    await w.run_for(0)
    w.inject(w.top("m1-yes"))
    for i, (p, post) in enumerate((("0.50", False), ("0.40", True))):
        w.inject(OrderIntent(time_ns=w.rt.now_ns(), intent_id=f"j{i}", strategy="t", legs=(
            IntentLeg(token_id="m1-yes", market="m1", side=BUY, price=D(p), size=D(30), post_only=post),)))
    await w.run_for(1)
    by_market = ro.exposures()[0]
    assert by_market == {"m1": D(27)}  # 30 filled at 0.50 (15) + 30 resting at 0.40 (12)
    fresh = RiskOfficer("risk_officer", {"max_book_age_ns": None})
    rt2 = LocalRuntime(journal=w.journal, start_ns=w.rt.now_ns())
    rt2.add_agent(fresh)
    await rt2.run(until_ns=rt2.now_ns())
    assert fresh.exposures()[0] == by_market


async def test_buying_with_fees_is_not_a_losing_trade(desk: Desk) -> None:
    for i in range(8):
        desk.fill(f"m{1 + i % 2}-yes", BUY, "0.50", "5", coid=f"b{i}", fee="0.01")
        await desk.step()
    assert desk.ro.loss_streak == 0
    assert (await desk.intent(("m3-yes", BUY, "0.50", "10"))).action.value == "APPROVED"


async def test_book_rebuilt_in_the_same_instant_as_its_resync_flag_is_tradable(desk: Desk) -> None:
    desk.rt.inject(BookStale(time_ns=desk.rt.now_ns(), token_id="m1-yes", market="m1", reason="RESYNC"))
    desk.deep("m1-yes")  # the watcher republishes the rebuilt book at the same nanosecond
    await desk.step()
    assert (await desk.intent(("m1-yes", BUY, "0.50", "10"))).action.value == "APPROVED"
