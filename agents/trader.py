"""The trader: turns approved intents into orders at its venue, and never loses or doubles one.

The rules, and why:

* **Deterministic client order ids** (``intent_id:leg``): the same leg always has the same id, so
  a replayed decision after a crash is recognised (by us, the journal and the venue) instead of
  becoming a second order.
* **Write-ahead**: the ``OrderRequest`` is in the journal (``durable=True``) before the venue sees
  it. After a crash, every order that may exist at the venue is in the journal.
* **Unknown outcomes are asked about, never re-sent**: a send that times out or loses its
  connection may or may not have reached the venue. The order goes to UNKNOWN and the trader asks
  ``order_status``; re-sending could double it.
* **Reconcile before acting**: on start the trader rebuilds orders and positions from the journal,
  asks the venue what it holds, adopts the venue's word, and only then accepts intents. If the
  venue is unreachable or holds an order we never wrote, it halts rather than guess.
* **Paired legs are all-or-unwind**: if one leg of an arbitrage fails or fills short while another
  fills, the excess is sold back with a marketable order, journalled as LEG_UNWOUND.
* **HALTED cancels everything**; REDUCING lets through only intents that sell what we hold.
* **No intents before the risk officer's current state is heard**: a (re)started trader asks the
  officer for it (``state_query``) and refuses intents until a ``TradingStateChange`` arrives, so a
  halt decided while it was down is honoured before anything is sent. The kill switch command is
  also obeyed directly, without waiting for the officer.
* **A journal outage is a pause**: a write-ahead that raises ``JournalUnavailable`` sends nothing
  and holds the order; it is retried on a timer with backoff and goes out once the journal is back,
  or expires at its intent's time-to-live. A hold is never a venue failure.

Venue events arrive twice (the reply and the sink) and sometimes out of order; every handler is
idempotent (see :mod:`agents.orders`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal
from typing import Any, ClassVar

from pydantic import Field

from agents.base import Agent, AgentConfig, Subscription, Timer
from agents.journal_backlog import flush_in_order
from agents.orders import OrderState, client_order_id
from agents.portfolio import Portfolio, is_exposure_cutting
from protocols import (
    ClientMismatch,
    Command,
    Envelope,
    Fill,
    MarketResolved,
    OrderEvent,
    OrderIntent,
    OrderRequest,
    OrderStatus,
    Payload,
    PnLSnapshot,
    ReasonCode,
    RiskAction,
    RiskDecision,
    RiskEvent,
    Settlement,
    Side,
    TimeInForce,
    TopOfBook,
    TradePrint,
    TradingState,
    TradingStateChange,
    VenuePort,
)
from protocols.ports import JournalUnavailable
from protocols.retry import backoff_ns

ZERO = Decimal(0)
NS_PER_S = 1_000_000_000
NS_PER_MS = 1_000_000


class TraderConfig(AgentConfig):
    account: str = Field(default="us", min_length=1)
    bankroll: Decimal = Field(default=Decimal(1000), gt=0)
    """Starting capital, the base of equity in PnL snapshots."""
    reconcile_on_start: bool = True
    require_journal: bool = True
    """Refuse to start without a journal: with nowhere to write ahead, a crash could double orders."""
    reconcile_attempts: int = Field(default=3, ge=1)
    reconcile_retry_ns: int = Field(default=2 * NS_PER_S, gt=0)
    status_retry_ns: int = Field(default=500 * NS_PER_MS, gt=0)
    """Wait before asking the venue again about an order whose send outcome is unknown."""
    status_attempts: int = Field(default=3, ge=1)
    """Answers of "never seen" before an unknown order is closed as REJECTED (it never arrived)."""
    paired_timeout_ns: int = Field(default=30 * NS_PER_S, gt=0)
    """Paired legs still open this long after sending are cancelled and the excess unwound."""
    pnl_interval_ns: int = Field(default=NS_PER_S, ge=0)
    """Period of the mark-to-market PnL snapshot (0: only after fills and settlements)."""
    size_step: Decimal = Field(default=Decimal("0.01"), gt=0)
    default_min_order_size: Decimal = Field(default=Decimal(5), ge=0)
    gtd_threshold_ns: int = Field(default=60 * NS_PER_S, ge=0)
    await_risk_state: bool = True
    """Refuse intents until the risk officer's current state is heard (off only for a trader alone)."""
    risk_officer_id: str = Field(default="risk_officer", min_length=1)
    journal_retry_ns: int = Field(default=500 * NS_PER_MS, gt=0)
    """First wait before retrying a write-ahead (or a record) the journal could not take."""
    journal_retry_cap_ns: int = Field(default=30 * NS_PER_S, gt=0)
    reconcile_retry_cap_ns: int = Field(default=60 * NS_PER_S, gt=0)
    """After ``reconcile_attempts`` failures the trader halts but keeps retrying, this far apart at most."""
    resend_unsent_within_ns: int = Field(default=10 * NS_PER_S, ge=0)
    """An order written ahead by an incarnation that died before sending it, and that the venue
    confirms it never received, is sent again (same client order id) at reconcile when it was
    written this recently and its intent is still live; older ones are closed (0: never resend).
    Safe against doubling because the venues dedupe the client order id (sim, paper) or the
    signed order's hash (Polymarket re-posts the stored signed order)."""
    """The venue's GTD security threshold: a GTD order lives until ``expires_ns - threshold``, so
    the trader adds it to the intent's expiry (and cancels at the intent's expiry itself)."""


@dataclass
class _IntentRun:
    intent_id: str
    paired: bool
    coids: list[str]
    legs_sizes: list[Decimal]
    expires_ns: int | None = None
    settled: bool = False
    unwinds: list[str] = field(default_factory=list)


class Trader(Agent[TraderConfig]):
    role: ClassVar[str] = "trader"
    config_model: ClassVar[type[AgentConfig]] = TraderConfig

    def __init__(self, agent_id: str = "trader", config: TraderConfig | dict[str, Any] | None = None):
        super().__init__(agent_id, config)
        self.orders: dict[str, OrderState] = {}
        self.intents: dict[str, _IntentRun] = {}
        self.refused: set[str] = set()
        self.refused_coids: set[str] = set()
        self.venue_cash: Decimal | None = None
        self.last_reconcile: dict[str, Any] = {}
        self.portfolio = Portfolio(self.config.bankroll)
        self.books: dict[str, TopOfBook] = {}
        self.risk_state = TradingState.ACTIVE
        self.local_halts: dict[ReasonCode, str] = {}
        self.reconciled = not self.config.reconcile_on_start
        self.reconcile_failures = 0
        self.resent_unsent = 0
        self._never_announced: set[str] = set()
        """Written ahead with no journalled order event (its sender died between the two): found at reconcile."""
        self.foreign_events = 0
        self.unwound = 0
        self._last_pnl: tuple[Decimal, ...] | None = None
        self._cancel_all_pending = False
        self.risk_state_heard = not self.config.await_risk_state
        self.held: dict[str, None] = {}
        """Orders whose write-ahead the journal could not take: not sent, retried on a timer."""
        self.journal_holds = 0
        self.unjournalled: list[Payload] = []
        self._journal_attempt = 0

    def initial_subscriptions(self) -> tuple[Subscription, ...]:
        acct = self.config.account
        return (
            Subscription(RiskDecision),
            Subscription(TradingStateChange),
            Subscription(OrderEvent, acct),
            Subscription(Fill, acct),
            Subscription(Settlement, acct),
            Subscription(MarketResolved),
            Subscription(TopOfBook),
            Subscription(TradePrint),
            Subscription(Command, self.agent_id),
            Subscription(Command, "*"),
        )

    @property
    def venue(self) -> VenuePort:
        v = self.ctx.venue
        if v is None:
            raise RuntimeError(f"trader {self.agent_id} has no venue port bound")
        return v

    # -- lifecycle --------------------------------------------------------------------------------
    async def on_start(self) -> None:
        v = self.ctx.venue
        if v is not None and v.account != self.config.account:
            raise ValueError(
                f"TraderConfig.account {self.config.account!r} does not match the venue port's "
                f"account {v.account!r}"
            )
        if self.config.require_journal and self.ctx.journal is None:
            raise ValueError(
                "TraderConfig.require_journal: no journal is bound, so orders cannot be written ahead "
                "(bind one, or set require_journal=false for a throwaway test)"
            )
        if self.config.await_risk_state:
            self.ctx.publish(
                Command(time_ns=self.ctx.now_ns(), target=self.config.risk_officer_id, name="state_query",
                        args={"by": self.agent_id})
            )
        if self.config.reconcile_on_start:
            await self.reconcile()
        if self.config.pnl_interval_ns:
            self.ctx.set_timer("pnl", self.config.pnl_interval_ns, periodic=True)

    async def on_message(self, envelope: Envelope) -> None:
        p: Payload = envelope.payload
        if isinstance(p, RiskDecision):
            if p.action is not RiskAction.REJECTED:
                await self.execute(p.intent)
        elif isinstance(p, TopOfBook):
            self.books[p.token_id] = p
            mark = p.mid if p.mid is not None else None
            if mark is not None and self.portfolio.size(p.token_id):
                self.portfolio.mark(p.token_id, mark)
        elif isinstance(p, TradePrint):
            book = self.books.get(p.token_id)
            if (book is None or book.mid is None) and self.portfolio.size(p.token_id):
                self.portfolio.mark(p.token_id, p.price)
        elif isinstance(p, OrderEvent):
            if p.account == self.config.account:
                await self._on_event(p, publish=False)
        elif isinstance(p, Fill):
            if p.account == self.config.account:
                await self._on_fill(p)
        elif isinstance(p, Settlement):
            if p.account == self.config.account:
                await self._on_settlement(p)
        elif isinstance(p, MarketResolved):
            await self._on_resolved(p)
        elif isinstance(p, TradingStateChange):
            await self._on_state(p)
        elif isinstance(p, Command):
            await self._on_command(p)

    async def on_timer(self, timer: Timer) -> None:
        name = timer.name
        if name == "pnl":
            await self._publish_pnl(only_if_changed=True)
        elif name == "reconcile":
            await self.reconcile()
        elif name == "journal_retry":
            await self._retry_journal()
        elif name == "cancel_all":
            await self.cancel_all(str(timer.data or "retry"))
        elif name.startswith("unknown:"):
            order = self.orders.get(name[len("unknown:") :])
            if order is not None and order.status in (OrderStatus.UNKNOWN, OrderStatus.SENT):
                await self._resolve_unknown(order)
        elif name.startswith("expire:"):
            await self._cancel_intent(name[len("expire:") :], "intent expired")
        elif name.startswith("pair:"):
            await self._cancel_intent(name[len("pair:") :], "paired legs timed out")

    # -- intents ----------------------------------------------------------------------------------
    def _blocked(self) -> tuple[ReasonCode, str] | None:
        if not self.reconciled:
            return ReasonCode.RECONCILE_FAILED, "not reconciled with the venue"
        if self.local_halts:
            code, why = next(iter(self.local_halts.items()))
            return code, why
        if self.risk_state is TradingState.HALTED:
            return ReasonCode.TRADING_HALTED, "the risk officer halted trading"
        if not self.risk_state_heard:
            return ReasonCode.TRADING_HALTED, "the risk officer's current state has not been heard yet"
        return None

    def free_shares(self) -> dict[str, Decimal]:
        free = {t: h.size for t, h in self.portfolio.holdings.items() if h.size > 0}
        for o in self.orders.values():
            r = o.request
            if r.side is Side.SELL and o.is_open and r.token_id in free:
                free[r.token_id] -= o.remaining
        return free

    async def execute(self, intent: OrderIntent) -> list[OrderState]:
        """Send an approved intent's legs. Idempotent per intent and per leg."""
        if intent.intent_id in self.intents or intent.intent_id in self.refused:
            return []
        now = self.ctx.now_ns()
        refusal = self._blocked()
        if refusal is None and self.risk_state is TradingState.REDUCING and not is_exposure_cutting(
            intent, self.free_shares()
        ):
            refusal = ReasonCode.REDUCE_ONLY, "reducing: only sells of held shares"
        if refusal is None and intent.expires_ns is not None and intent.expires_ns <= now:
            refusal = ReasonCode.SIGNAL_EXPIRED, "intent expired before it could be sent"
        if refusal is not None:
            await self._refuse(intent, *refusal)
            return []
        coids = [client_order_id(intent.intent_id, i) for i in range(len(intent.legs))]
        run = _IntentRun(intent.intent_id, intent.paired, coids, [leg.size for leg in intent.legs], intent.expires_ns)
        self.intents[intent.intent_id] = run
        states: list[OrderState] = []
        for i, leg in enumerate(intent.legs):
            coid = coids[i]
            if coid in self.orders:
                continue  # journalled before (a replay after restart): never send twice
            gtd = leg.tif is TimeInForce.GTD and intent.expires_ns is not None
            try:
                req = OrderRequest(
                    time_ns=now,
                    client_order_id=coid,
                    account=self.config.account,
                    token_id=leg.token_id,
                    market=leg.market,
                    side=leg.side,
                    price=leg.price,
                    size=leg.size,
                    tick_size=leg.tick_size,
                    tif=leg.tif if (gtd or leg.tif is not TimeInForce.GTD) else TimeInForce.GTC,
                    post_only=leg.post_only,
                    expires_ns=intent.expires_ns + self.config.gtd_threshold_ns
                    if gtd and intent.expires_ns is not None
                    else None,
                    neg_risk=leg.neg_risk,
                    intent_id=intent.intent_id,
                    leg_index=i,
                    strategy=intent.strategy,
                    reduce_only=intent.reduce_only,
                )
            except ValueError as exc:
                self.ctx.log.error("intent %s leg %d cannot be an order: %s", intent.intent_id, i, exc)
                await self._local_event_for_leg(intent, i, coid, ReasonCode.INVALID_PRICE, str(exc)[:200])
                continue
            self.orders[coid] = OrderState(req)
            states.append(self.orders[coid])
        if intent.expires_ns is not None:
            self.ctx.set_timer(f"expire:{intent.intent_id}", max(intent.expires_ns - now, 0))
        if intent.paired:
            self.ctx.set_timer(f"pair:{intent.intent_id}", self.config.paired_timeout_ns)
        for st in states:
            if st.status is not OrderStatus.NEW:
                continue  # closed before it was sent (its pair already failed)
            if intent.paired and self._pair_failed(run):
                # an earlier leg already failed outright: do not open the rest of the pair
                await self._cancel(st, "paired leg not sent: an earlier leg failed")
                continue
            await self._send(st)
        if intent.paired:
            await self._check_pair(run)
        return states

    async def _refuse(self, intent: OrderIntent, code: ReasonCode, why: str) -> None:
        self.refused.add(intent.intent_id)
        self.refused_coids.update(client_order_id(intent.intent_id, i) for i in range(len(intent.legs)))
        self.ctx.log.info("refused intent %s: %s (%s)", intent.intent_id, code.value, why)
        for i in range(len(intent.legs)):
            await self._local_event_for_leg(intent, i, client_order_id(intent.intent_id, i), code, why)

    async def _local_event_for_leg(
        self, intent: OrderIntent, i: int, coid: str, code: ReasonCode, why: str
    ) -> None:
        """Tell everyone a leg was never sent, so the risk officer frees what it reserved."""
        leg = intent.legs[i]
        ev = OrderEvent(
            time_ns=self.ctx.now_ns(),
            client_order_id=coid,
            account=self.config.account,
            token_id=leg.token_id,
            market=leg.market,
            side=leg.side,
            price=leg.price,
            size=leg.size,
            status=OrderStatus.REJECTED,
            reason=code,
            message=why[:500],
        )
        self.ctx.publish(ev)
        await self._journal(ev)

    async def _send(self, order: OrderState) -> None:
        req = order.request
        journal = self.ctx.journal
        if journal is not None:
            try:
                await journal.record(req, agent=self.agent_id, durable=True)
            except JournalUnavailable as exc:  # a pause: hold, retry, never a venue failure
                self._hold(order, exc)
                return
            except Exception as exc:  # no write-ahead, no send
                self.held.pop(req.client_order_id, None)
                self.ctx.log.error("write-ahead of %s failed, not sending: %s", req.client_order_id, exc)
                order.transition(OrderStatus.REJECTED, self.ctx.now_ns(), reason=ReasonCode.VENUE_ERROR)
                await self._publish_event(order, f"write-ahead failed: {type(exc).__name__}")
                return
            self.held.pop(req.client_order_id, None)
        now = self.ctx.now_ns()
        order.transition(OrderStatus.SENT, now)
        order.sent_ns = now
        await self._publish_event(order)
        self.ctx.metric("orders_sent", 1, "counter")
        try:
            ev = await self.venue.place_order(req)
        except ClientMismatch as exc:
            await self._client_mismatch(order, exc)
            return
        except Exception as exc:  # any failure of the call leaves the outcome unknown: ask, never resend
            await self._unknown(order, f"{type(exc).__name__}: {exc}")
            return
        await self._on_event(ev, publish=False)

    def _hold(self, order: OrderState, exc: Exception) -> None:
        coid = order.client_order_id
        if coid not in self.held:
            self.held[coid] = None
            self.journal_holds += 1
            self.ctx.metric("trader_journal_holds", 1, "counter")
            self.ctx.log.warning("journal away (%s): %s held, not sent", exc, coid)
        if self._journal_attempt == 0:
            self._schedule_journal_retry()

    def _schedule_journal_retry(self) -> None:
        self._journal_attempt += 1
        c = self.config
        self.ctx.set_timer(
            "journal_retry",
            backoff_ns(self._journal_attempt, c.journal_retry_ns, c.journal_retry_cap_ns, jitter=0.2, rng=self.ctx.rng),
        )

    async def _retry_journal(self) -> None:
        """The journal may be back: write what waited, then send held orders still worth sending."""
        if self.ctx.journal is not None and not await flush_in_order(self.ctx.journal, self.unjournalled,
                                                                     self.agent_id):
            self._schedule_journal_retry()
            return
        now = self.ctx.now_ns()
        for coid in list(self.held):
            order = self.orders.get(coid)
            if order is None or order.status is not OrderStatus.NEW:
                self.held.pop(coid, None)  # closed meanwhile (expired, pair failed, halted)
                continue
            run = self.intents.get(order.request.intent_id)
            blocked = self._blocked()
            if blocked is not None or (run is not None and run.expires_ns is not None and run.expires_ns <= now):
                self.held.pop(coid, None)
                code, why = blocked or (ReasonCode.SIGNAL_EXPIRED, "intent expired while the journal was away")
                status = OrderStatus.REJECTED if blocked else OrderStatus.EXPIRED
                order.transition(status, now, reason=code)
                await self._publish_event(order, why)
                await self._after_change(order)
                continue
            if run is not None and run.paired and self._pair_failed(run):
                self.held.pop(coid, None)
                await self._cancel(order, "paired leg not sent: an earlier leg failed")
                continue
            await self._send(order)  # a write-ahead that is taken releases the hold
            if coid in self.held:
                self._schedule_journal_retry()  # still away: ask again, later
                return
        self._journal_attempt = 0

    async def _unknown(self, order: OrderState, why: str) -> None:
        self.ctx.log.warning("send of %s has an unknown outcome (%s): asking the venue", order.client_order_id, why)
        if order.transition(OrderStatus.UNKNOWN, self.ctx.now_ns()):
            await self._publish_event(order, why[:500])
        await self._resolve_unknown(order)

    async def _resolve_unknown(self, order: OrderState) -> None:
        coid = order.client_order_id
        try:
            ev = await self.venue.order_status(coid)
        except Exception as exc:
            self.ctx.log.warning("order_status(%s) failed: %s; asking again later", coid, exc)
            self.ctx.set_timer(f"unknown:{coid}", self.config.status_retry_ns)
            return
        if ev is None:
            order.status_queries += 1
            if order.status_queries < self.config.status_attempts:
                self.ctx.set_timer(f"unknown:{coid}", self.config.status_retry_ns)
                return
            # the venue never saw it: closed, not re-sent; the venue's word wins if it shows up later
            order.absent_at_venue = True
            order.status = OrderStatus.REJECTED
            order.reason = ReasonCode.VENUE_ERROR
            order.updated_ns = self.ctx.now_ns()
            await self._publish_event(order, "the venue never received this order")
            await self._after_change(order)
            return
        if ev.status is OrderStatus.SENT:
            self.ctx.set_timer(f"unknown:{coid}", self.config.status_retry_ns)  # still in flight
            return
        await self._on_event(ev, publish=True)

    async def _client_mismatch(self, order: OrderState, exc: Exception) -> None:
        now = self.ctx.now_ns()
        detail = f"the venue refused this client ({exc}); kill switch tripped"[:900]
        order.transition(OrderStatus.REJECTED, now, reason=ReasonCode.CLIENT_MISMATCH)
        await self._publish_event(order, "client mismatch")
        self.local_halts[ReasonCode.CLIENT_MISMATCH] = detail
        self.ctx.publish(
            Command(
                time_ns=now,
                target="*",
                name="kill_switch",
                args={"on": "true", "reason": ReasonCode.CLIENT_MISMATCH.value, "by": self.agent_id},
            )
        )
        await self._risk_event(ReasonCode.CLIENT_MISMATCH, "CRITICAL", detail)
        await self.cancel_all("client mismatch")

    # -- venue events -----------------------------------------------------------------------------
    async def _on_event(self, ev: OrderEvent, *, publish: bool) -> None:
        order = self.orders.get(ev.client_order_id)
        if order is None:
            if ev.client_order_id not in self.refused_coids:
                self.foreign_events += 1
                self.ctx.log.warning("event for an order this trader never sent: %s", ev.client_order_id)
            return
        if not order.apply_event(ev):
            return
        await self._journal(ev)
        if publish:
            self.ctx.publish(ev)
        await self._after_change(order)

    async def _after_change(self, order: OrderState) -> None:
        if order.is_open and self._blocked() is not None and order.status in (
            OrderStatus.ACKNOWLEDGED,
            OrderStatus.PARTIALLY_FILLED,
        ):
            await self._cancel(order, "order went live while trading is halted")
        run = self.intents.get(order.request.intent_id)
        if run is not None and run.paired and order.client_order_id in run.coids:
            await self._check_pair(run)

    async def _on_fill(self, fill: Fill) -> None:
        realized = self.portfolio.apply_fill(fill)
        if realized is None:
            return  # seen before (reply and sink, or replay)
        await self._journal(fill)
        self.ctx.publish(fill)
        self.ctx.metric("fills", 1, "counter")
        order = self.orders.get(fill.client_order_id)
        if order is None:
            self.foreign_events += 1
            self.ctx.log.warning("fill %s for an order this trader never sent", fill.fill_id)
        else:
            before = order.status
            order.note_fill(fill.fill_id, fill.size, fill.time_ns)
            if order.status is not before:
                await self._after_change(order)
        if fill.token_id not in self.portfolio.marks:
            self.portfolio.mark(fill.token_id, fill.price)
        await self._publish_position(fill.token_id)
        await self._publish_pnl(only_if_changed=False)

    async def _on_settlement(self, s: Settlement) -> None:
        if self.portfolio.settle(s.market, s.token_id, s.size, s.payout_per_share) is None:
            return
        await self._journal(s)
        await self._publish_position(s.token_id)
        await self._publish_pnl(only_if_changed=False)

    async def _on_resolved(self, p: MarketResolved) -> None:
        for tok, h in self.portfolio.holdings.items():
            if h.market == p.market:
                win = Decimal("0.5") if p.winning_token_id is None else Decimal(int(tok == p.winning_token_id))
                self.portfolio.mark(tok, win)

    # -- paired legs ------------------------------------------------------------------------------
    def _pair_failed(self, run: _IntentRun) -> bool:
        """A leg finished short, or never became an order at all (refused at construction)."""
        for c in run.coids:
            o = self.orders.get(c)
            if o is None or (o.status.is_terminal and o.filled < o.size):
                return True
        return False

    async def _check_pair(self, run: _IntentRun) -> None:
        """All-or-unwind: once a leg has failed, cancel the rest; once all are done, sell the excess."""
        if run.settled:
            return
        legs = [self.orders[c] for c in run.coids if c in self.orders]
        missing = len(legs) < len(run.coids)
        if self._pair_failed(run):
            for o in legs:
                if o.is_open and o.status is not OrderStatus.UNKNOWN:
                    await self._cancel(o, "the other leg of the pair failed")
        if any(o.is_open for o in legs):
            return
        run.settled = True
        self.ctx.cancel_timer(f"pair:{run.intent_id}")
        ratio = ZERO if missing else min((o.filled / o.size for o in legs), default=ZERO)
        for o in legs:
            i = o.request.leg_index
            matched = (o.size * ratio / self.config.size_step).to_integral_value(rounding=ROUND_FLOOR)
            excess = o.filled - matched * self.config.size_step
            if excess > 0:
                await self._unwind(run, i, o, excess)

    async def _unwind(self, run: _IntentRun, leg_index: int, leg: OrderState, excess: Decimal) -> None:
        req = leg.request
        side = req.side.opposite()
        book = self.books.get(req.token_id)
        min_size = book.min_order_size if book is not None and book.min_order_size > 0 else (
            self.config.default_min_order_size
        )
        detail = (
            f"paired intent {run.intent_id}: leg {leg_index} ({req.token_id}) filled {leg.filled}/{leg.size}, "
            f"excess {excess} unwound by {side.value}"
        )
        if excess < min_size or excess <= 0:
            await self._risk_event(
                ReasonCode.LEG_UNWOUND, "WARN", detail + f" skipped: below the minimum size {min_size}"
            )
            return
        price = self._marketable_price(req.token_id, side, excess, req.tick_size)
        coid = client_order_id(run.intent_id, leg_index, f":u{len(run.unwinds) + 1}")
        try:
            uw = OrderRequest(
                time_ns=self.ctx.now_ns(),
                client_order_id=coid,
                account=self.config.account,
                token_id=req.token_id,
                market=req.market,
                side=side,
                price=price,
                size=excess,
                tick_size=req.tick_size,
                tif=TimeInForce.FAK,
                neg_risk=req.neg_risk,
                intent_id=run.intent_id,
                leg_index=leg_index,
                strategy=f"{req.strategy}:unwind" if req.strategy else "unwind",
                reduce_only=side is Side.SELL,
            )
        except ValueError as exc:
            await self._risk_event(ReasonCode.LEG_UNWOUND, "CRITICAL", detail + f" failed: {exc}"[:300])
            return
        if coid in self.orders:
            return
        run.unwinds.append(coid)
        self.unwound += 1
        self.orders[coid] = OrderState(uw)
        await self._risk_event(ReasonCode.LEG_UNWOUND, "WARN", detail + f" at {price} ({coid})")
        await self._send(self.orders[coid])

    def _marketable_price(self, token: str, side: Side, size: Decimal, tick: Decimal) -> Decimal:
        """A limit that takes ``size`` from the book we last saw: the level where the depth runs out
        (or the far end of the price range when the book is too thin)."""
        book = self.books.get(token)
        levels = () if book is None else (book.bids if side is Side.SELL else book.asks)
        got = ZERO
        for price, sz in levels:
            got += sz
            if got >= size:
                return price
        return tick if side is Side.SELL else Decimal(1) - tick

    # -- cancelling -------------------------------------------------------------------------------
    async def _cancel(self, order: OrderState, why: str) -> None:
        if not order.is_open:
            return
        if order.status is OrderStatus.NEW:  # never sent: close it here
            order.transition(OrderStatus.CANCELLED, self.ctx.now_ns(), reason=ReasonCode.LEG_UNWOUND)
            await self._publish_event(order, why)
            return
        try:
            ev = await self.venue.cancel_order(order.client_order_id)
        except Exception as exc:
            self.ctx.log.warning("cancel of %s failed (%s): %s", order.client_order_id, why, exc)
            return
        if ev.status is OrderStatus.REJECTED:
            # the cancel was refused (e.g. the order is still in flight), not the order
            self.ctx.log.info("cancel of %s refused: %s %s", order.client_order_id, ev.reason, ev.message)
            return
        await self._on_event(ev, publish=False)

    async def _cancel_intent(self, intent_id: str, why: str) -> None:
        run = self.intents.get(intent_id)
        if run is None:
            return
        for c in run.coids:
            o = self.orders.get(c)
            if o is not None and o.is_open and o.status is not OrderStatus.UNKNOWN:
                await self._cancel(o, why)
        if run.paired:
            await self._check_pair(run)

    async def cancel_all(self, why: str) -> None:
        """Cancel every open order at the venue (HALTED, kill switch, client mismatch)."""
        self.ctx.log.warning("cancelling all orders: %s", why)
        try:
            events = await self.venue.cancel_all()
        except Exception as exc:
            self.ctx.log.error("cancel_all failed (%s); retrying", exc)
            self.ctx.set_timer("cancel_all", self.config.status_retry_ns, data=why)
            return
        for ev in events:
            await self._on_event(ev, publish=False)

    async def _on_state(self, p: TradingStateChange) -> None:
        prev, self.risk_state = self.risk_state, p.state
        self.risk_state_heard = True
        if p.state is TradingState.HALTED and self.ctx.venue is not None:
            await self.cancel_all(f"risk officer halted trading ({p.reason.value if p.reason else 'no reason'})")
        elif p.state is TradingState.REDUCING and self.ctx.venue is not None:
            # a resting buy would add exposure when it fills: reduce-only cancels them
            for o in list(self.orders.values()):
                if o.is_open and o.request.side is Side.BUY and o.status is not OrderStatus.UNKNOWN:
                    await self._cancel(o, "reducing: resting buys cancelled")
        elif prev is TradingState.HALTED:
            self.ctx.log.info("trading resumed: %s", p.state.value)

    async def _on_command(self, cmd: Command) -> None:
        on = cmd.args.get("on", "true").strip().lower() in ("1", "true", "yes", "on")
        if cmd.name == "kill_switch":
            if on:
                self.local_halts[ReasonCode.KILL_SWITCH] = f"kill switch ({cmd.args.get('reason', 'manual')})"
                if self.ctx.venue is not None:
                    await self.cancel_all("kill switch")
            else:
                self.local_halts.pop(ReasonCode.KILL_SWITCH, None)
        elif cmd.name == "cancel_all":
            await self.cancel_all("operator")
        elif cmd.name == "reconcile":
            await self.reconcile()
        elif cmd.name == "resume":
            self.local_halts.pop(ReasonCode.KILL_SWITCH, None)

    # -- reconciliation ---------------------------------------------------------------------------
    async def reconcile(self) -> bool:
        """Rebuild orders and positions from the journal, adopt what the venue says, then trade.

        Returns True when reconciled. A venue that cannot be reached is retried
        (``reconcile_attempts``, ``reconcile_retry_ns`` apart); past that, or when the venue holds
        orders or trades the journal never wrote, the trader halts with RECONCILE_FAILED.
        """
        self.reconciled = False
        journal = self.ctx.journal
        self._never_announced = set()
        if journal is not None:
            try:
                reqs = await journal.orders(self.agent_id)
                journal_events = await journal.order_events(self.agent_id)
                journal_fills = await journal.fills(self.agent_id)
            except JournalUnavailable as exc:  # a pause, not a failed reconcile: ask again soon
                self.ctx.log.warning("journal away during reconcile (%s): retrying", exc)
                self._journal_attempt += 1
                c = self.config
                self.ctx.set_timer("reconcile", backoff_ns(self._journal_attempt, c.journal_retry_ns,
                                                           c.journal_retry_cap_ns, jitter=0.2, rng=self.ctx.rng))
                return False
            self._journal_attempt = 0
            for req in reqs:
                if req.client_order_id not in self.orders:
                    self.orders[req.client_order_id] = OrderState(req, status=OrderStatus.SENT)
            # written ahead but its SENT event never journalled: the sender died in between
            self._never_announced = {r.client_order_id for r in reqs} - {ev.client_order_id for ev in journal_events}
            for ev in journal_events:
                o = self.orders.get(ev.client_order_id)
                if o is not None:
                    o.apply_event(ev)
            for f in journal_fills:
                if self.portfolio.apply_fill(f) is not None:
                    o = self.orders.get(f.client_order_id)
                    if o is not None:
                        o.note_fill(f.fill_id, f.size, f.time_ns)
        try:
            venue = self.venue
            open_orders = await venue.open_orders()
            # fills since our first journalled order (older history is not ours to explain)
            since = min((o.request.time_ns for o in self.orders.values()), default=None)
            trades = await venue.trades(since) if since is not None else []
            statuses: dict[str, OrderEvent | None] = {}
            open_ids = {e.client_order_id for e in open_orders}
            for coid, o in self.orders.items():
                if o.is_open and o.status is not OrderStatus.NEW and coid not in open_ids:
                    statuses[coid] = await venue.order_status(coid)
            positions = await venue.positions()
            balance = await venue.balance()
        except Exception as exc:  # unreachable, or answering nonsense: retry, then halt
            self.reconcile_failures += 1
            if self.reconcile_failures < self.config.reconcile_attempts:
                self.ctx.log.warning("reconcile attempt %d failed: %s; retrying", self.reconcile_failures, exc)
                self.ctx.set_timer("reconcile", self.config.reconcile_retry_ns)
                return False
            await self._reconcile_failed(f"venue unreachable after {self.reconcile_failures} attempts: {exc}")
            # halted, but not for good: an outage that ends lifts the halt without an operator
            c = self.config
            delay = backoff_ns(self.reconcile_failures - c.reconcile_attempts + 1, c.reconcile_retry_ns,
                               max(c.reconcile_retry_cap_ns, c.reconcile_retry_ns))
            self.ctx.set_timer("reconcile", delay)
            return False
        unknown = sorted({e.client_order_id for e in open_orders if e.client_order_id not in self.orders})
        if unknown:
            # a live order we never wrote could fill at any moment: stop rather than guess whose it is
            await self._reconcile_failed(f"the venue holds open orders the journal never wrote: {unknown[:5]}")
            return False
        unknown_fills = sorted({f.client_order_id for f in trades if f.client_order_id not in self.orders})
        if unknown_fills:
            # finished trades we never sent (a manual trade, another client): positions are adopted
            # from the venue below; their cash flows are not ours to book
            await self._risk_event(
                ReasonCode.RECONCILE_FAILED,
                "WARN",
                f"fills of orders the journal never wrote: {unknown_fills[:5]}; positions adopted from the venue",
            )
            trades = [f for f in trades if f.client_order_id in self.orders]
        adopted = 0
        for ev in open_orders:
            if self._adopt(self.orders[ev.client_order_id], ev):
                adopted += 1
                await self._journal(ev)
        resend: list[OrderState] = []
        for coid, st in statuses.items():
            o = self.orders[coid]
            if st is None and self._resendable(o):
                resend.append(o)  # decided once reconciled, when the trading state is known
            elif st is None:
                if o.status is not OrderStatus.REJECTED:
                    # written ahead but never reached the venue: closed, not re-sent
                    o.status, o.reason, o.absent_at_venue = OrderStatus.REJECTED, ReasonCode.VENUE_ERROR, True
                    o.updated_ns = self.ctx.now_ns()
                    await self._publish_event(o, "reconcile: the venue never received this order")
                    adopted += 1
            elif st.status is not OrderStatus.SENT and self._adopt(o, st):
                await self._journal(st)
                self.ctx.publish(st)
                adopted += 1
        new_fills = 0
        for f in trades:
            if self.portfolio.apply_fill(f) is not None:
                new_fills += 1
                await self._journal(f)
                o = self.orders.get(f.client_order_id)
                if o is not None:
                    o.note_fill(f.fill_id, f.size, f.time_ns)
        venue_sizes = {p.token_id: p for p in positions}
        diffs = []
        for tok in sorted(set(venue_sizes) | {t for t, h in self.portfolio.holdings.items() if h.size}):
            vp = venue_sizes.get(tok)
            h = self.portfolio.holdings.get(tok)
            market = vp.market if vp is not None else (h.market if h is not None else "")
            size = vp.size if vp is not None else ZERO
            avg = vp.avg_price if vp is not None else ZERO
            diff = self.portfolio.adopt(tok, market, size, avg)
            if diff:
                diffs.append(f"{tok}: {diff:+}")
        self.reconciled = True
        self.reconcile_failures = 0
        self.local_halts.pop(ReasonCode.RECONCILE_FAILED, None)
        self.venue_cash = balance.cash
        for tok, h in self.portfolio.holdings.items():
            if h.size or tok in venue_sizes:
                await self._publish_position(tok)
        await self._publish_pnl(only_if_changed=False)
        open_n = sum(1 for o in self.orders.values() if o.is_open)
        self.last_reconcile = {
            "journalled_orders": len(self.orders),
            "open": open_n,
            "adopted": adopted,
            "fills_recovered": new_fills,
            "position_diffs": diffs,
        }
        (self.ctx.log.warning if diffs else self.ctx.log.info)("reconciled: %s", self.last_reconcile)
        for o in resend:
            await self._send_unsent(o)
        for o in list(self.orders.values()):
            if o.is_open and o.status in (OrderStatus.UNKNOWN, OrderStatus.SENT) and o.client_order_id not in open_ids \
                    and o not in resend:
                self.ctx.set_timer(f"unknown:{o.client_order_id}", self.config.status_retry_ns)
        # orders held for the journal when the old incarnation stopped: never written, never sent
        for o in self.orders.values():
            if o.status is OrderStatus.NEW and o.client_order_id not in self.held:
                self.held[o.client_order_id] = None
        if self.held:
            self._journal_attempt = 0
            self._schedule_journal_retry()
        await self._resume_runs()
        return True

    def _resendable(self, o: OrderState) -> bool:
        """Written ahead, never acknowledged, recent, and not past its own expiry."""
        window, now = self.config.resend_unsent_within_ns, self.ctx.now_ns()
        req = o.request
        if not window or o.status is not OrderStatus.SENT or o.venue_order_id or o.filled_by_fills:
            return False
        if now - req.time_ns > window or (req.expires_ns is not None and req.expires_ns <= now):
            return False
        run = self.intents.get(req.intent_id)
        return run is None or run.expires_ns is None or run.expires_ns > now

    async def _send_unsent(self, o: OrderState) -> None:
        """Send again an order whose write-ahead survived its sender; its journal record stands."""
        blocked = self._blocked()
        if blocked is not None:
            o.status, o.reason, o.absent_at_venue = OrderStatus.REJECTED, blocked[0], True
            o.updated_ns = self.ctx.now_ns()
            await self._publish_event(o, f"reconcile: never received, not re-sent ({blocked[1]})")
            return
        self.resent_unsent += 1
        self.ctx.metric("trader_resent_unsent", 1, "counter")
        self.ctx.log.warning("%s was written ahead but never reached the venue: sending it now", o.client_order_id)
        if o.client_order_id in self._never_announced:
            # its sender died before saying it was sent: say it now, as a send would have (the risk
            # officer reserves on it, and the journal's order events tell the whole story)
            self._never_announced.discard(o.client_order_id)
            o.sent_ns = self.ctx.now_ns()
            await self._publish_event(o)
            self.ctx.metric("orders_sent", 1, "counter")
        try:
            ev = await self.venue.place_order(o.request)
        except ClientMismatch as exc:
            await self._client_mismatch(o, exc)
            return
        except Exception as exc:
            await self._unknown(o, f"{type(exc).__name__}: {exc}")
            return
        await self._on_event(ev, publish=False)

    async def _resume_runs(self) -> None:
        """After a restore: timers died with the old process, and legs may have finished meanwhile."""
        now = self.ctx.now_ns()
        for run in list(self.intents.values()):
            if run.expires_ns is not None and any(
                (o := self.orders.get(c)) is not None and o.is_open for c in run.coids
            ):
                self.ctx.set_timer(f"expire:{run.intent_id}", max(run.expires_ns - now, 0))
            if run.paired and not run.settled:
                self.ctx.set_timer(f"pair:{run.intent_id}", self.config.paired_timeout_ns)
                await self._check_pair(run)

    @staticmethod
    def _adopt(order: OrderState, ev: OrderEvent) -> bool:
        """Take the venue's word for an order, even over a terminal state we decided ourselves."""
        changed = order.apply_event(ev)
        if order.status is not ev.status and ev.status not in (OrderStatus.SENT, OrderStatus.NEW):
            order.status = ev.status
            order.reason = ev.reason
            order.absent_at_venue = False
            changed = True
        if ev.filled != order.filled and ev.filled >= order.filled_by_fills:
            order.filled = ev.filled
            changed = True
        return changed

    async def _reconcile_failed(self, detail: str) -> None:
        self.reconciled = False
        self.local_halts[ReasonCode.RECONCILE_FAILED] = detail
        self.ctx.log.error("reconcile failed: %s", detail)
        await self._risk_event(ReasonCode.RECONCILE_FAILED, "CRITICAL", detail[:1000])

    # -- publishing -------------------------------------------------------------------------------
    async def _publish_event(self, order: OrderState, message: str = "") -> None:
        ev = order.to_event(self.ctx.now_ns(), message)
        self.ctx.publish(ev)
        await self._journal(ev)

    async def _publish_position(self, token_id: str) -> None:
        if token_id not in self.portfolio.holdings:
            return
        pos = self.portfolio.position(token_id, self.config.account, self.ctx.now_ns())
        self.ctx.publish(pos)
        await self._journal(pos)

    async def _publish_pnl(self, *, only_if_changed: bool) -> None:
        p = self.portfolio
        key = (p.realized, p.unrealized, p.fees, p.exposure)
        if only_if_changed and key == self._last_pnl:
            return
        self._last_pnl = key
        snap = PnLSnapshot(
            time_ns=self.ctx.now_ns(),
            account=self.config.account,
            realized=p.realized,
            unrealized=p.unrealized,
            fees=p.fees,
            equity=p.equity,
            exposure=max(p.exposure, ZERO),
        )
        self.ctx.publish(snap)
        await self._journal(snap)
        self.ctx.metric("equity", float(snap.equity))  # a gauge for dashboards; money stays Decimal

    async def _risk_event(self, code: ReasonCode, severity: str, detail: str) -> None:
        ev = RiskEvent(
            time_ns=self.ctx.now_ns(),
            code=code,
            severity=severity,  # type: ignore[arg-type]
            detail=detail[:1000],
            state=TradingState.HALTED if self._blocked() is not None else self.risk_state,
        )
        self.ctx.publish(ev)
        await self._journal(ev)

    async def _journal(self, payload: Payload) -> None:
        """Record after the fact; a journal that is away gets it later, in order."""
        j = self.ctx.journal
        if j is None:
            return
        if self.unjournalled:
            self.unjournalled.append(payload)
            return
        try:
            await j.record(payload, agent=self.agent_id)
        except JournalUnavailable:
            self.unjournalled.append(payload)
            if self._journal_attempt == 0:
                self._schedule_journal_retry()

    # -- humans and checkpoints -------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        by_state: dict[str, int] = {}
        for o in self.orders.values():
            by_state[o.status.value] = by_state.get(o.status.value, 0) + 1
        p = self.portfolio
        blocked = self._blocked()
        return {
            "role": self.role,
            "account": self.config.account,
            "trading_state": self.risk_state.value,
            "accepting_intents": blocked is None,
            "blocked_by": None if blocked is None else f"{blocked[0].value}: {blocked[1]}",
            "reconciled": self.reconciled,
            "orders_by_state": dict(sorted(by_state.items())),
            "open_orders": [
                f"{o.client_order_id} {o.request.side.value} {o.remaining}@{o.request.price} {o.request.token_id}"
                for o in self.orders.values()
                if o.is_open
            ][:20],
            "positions": {
                t: f"{h.size}@{h.avg_price.quantize(Decimal('0.0001'))}" for t, h in p.holdings.items() if h.size
            },
            "pnl": {
                "realized": str(p.realized),
                "unrealized": str(p.unrealized),
                "fees": str(p.fees),
                "equity": str(p.equity),
                "exposure": str(p.exposure),
            },
            "legs_unwound": self.unwound,
            "last_reconcile": self.last_reconcile,
            "foreign_events": self.foreign_events,
            "risk_state_heard": self.risk_state_heard,
            "held_for_journal": sorted(self.held)[:20],
            "journal_holds": self.journal_holds,
            "resent_unsent": self.resent_unsent,
            "unjournalled": len(self.unjournalled),
        }

    def snapshot(self) -> dict[str, Any]:
        return {
            "orders": {c: o.snapshot() for c, o in self.orders.items()},
            "intents": {
                i: {
                    "paired": r.paired,
                    "coids": r.coids,
                    "sizes": [str(s) for s in r.legs_sizes],
                    "expires_ns": r.expires_ns,
                    "settled": r.settled,
                    "unwinds": r.unwinds,
                }
                for i, r in self.intents.items()
            },
            "refused": sorted(self.refused),
            "portfolio": self.portfolio.snapshot(),
            "risk_state": self.risk_state.value,
            "local_halts": {k.value: v for k, v in self.local_halts.items()},
            "unwound": self.unwound,
        }

    def restore(self, state: dict[str, Any]) -> None:
        if not state:
            return
        self.orders = {c: OrderState.from_snapshot(d) for c, d in state.get("orders", {}).items()}
        self.intents = {
            i: _IntentRun(
                i,
                bool(d["paired"]),
                list(d["coids"]),
                [Decimal(s) for s in d["sizes"]],
                d.get("expires_ns"),
                bool(d.get("settled", False)),
                list(d.get("unwinds", [])),
            )
            for i, d in state.get("intents", {}).items()
        }
        self.refused = set(state.get("refused", []))
        self.portfolio = Portfolio.from_snapshot(state["portfolio"]) if "portfolio" in state else self.portfolio
        self.risk_state = TradingState(state.get("risk_state", "ACTIVE"))
        self.local_halts = {ReasonCode(k): v for k, v in state.get("local_halts", {}).items()}
        self.unwound = int(state.get("unwound", 0))
