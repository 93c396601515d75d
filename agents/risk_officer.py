"""The risk officer: every intent passes its pre-trade checks, and it owns the trading state.

Why exposure counts open orders as well as positions: the strategist can fire ten intents in the
same millisecond, long before the first fill. An officer that only looked at positions would
approve all ten. Here every approved leg reserves its notional at once; the reservation shrinks
only as fills land (then the position carries it) or when the order dies, so positions plus open
orders never exceed a limit, whatever order fills, events and new intents arrive in.

Why the officer keeps its own positions rather than reading the trader's: it must see a fill the
moment the venue reports it, and it must keep bounding risk if the trader is the thing that broke.
Both fold the same fills through :class:`agents.portfolio.Portfolio`, deduplicated by fill id.

States: ACTIVE (all checks apply), REDUCING (only intents that sell what we hold), HALTED (nothing).
HALTED is entered by the daily loss and drawdown limits, repeated execution failures, venue latency
and the manual kill switch; REDUCING by a soft daily loss or an operator. Each cause is kept apart,
so lifting one (the kill switch, a new day) does not lift another.

Safety under faults, and why:

* **State before side effects**: a halt changes the state in memory and is published at once;
  writing it to the journal comes after and is retried on a timer when the journal is away. A
  journal outage can never leave the officer ACTIVE with a halt recorded nowhere.
* **The book is rebuilt on every start**, fresh or restored: the trader's journalled orders,
  events and fills, then the venue's own trades and positions, are folded over whatever the
  checkpoint held (fills dedupe by id), so a stale checkpoint cannot make limits guard a book
  smaller than the real one. ``status()["book_vs_venue"]`` shows what the rebuild had to adopt.
* **Pending-order state is rebuilt, not trusted**: "sent, not acknowledged" times from a checkpoint
  are dropped on start (their acknowledgement will not come again), and open reservations are
  checked against the venue.
* **A duplicate intent id is an error**, logged and counted (``duplicate_intents``), never decided
  twice; the set of decided ids is bounded by age and size.

Portfolio risk, beside the per-market and per-event caps (the math is :mod:`protocols.var`):

* **Value at risk** of the book (holdings at their marks plus every open buy as if filled at its
  limit) at ``var_confidence``, each token paying 0 or 1, an event's outcomes exclusive, groups tied
  by the declared ``correlations``. An intent that would take it above ``max_var_fraction`` of the
  bankroll is resized to the largest size that fits or rejected (``VAR_LIMIT``). An intent that does
  not raise the VaR (a sale, a hedge) always passes this check: marks that move can push a book over
  the limit without any trade, and cutting it must stay possible.
* **Correlation**: no new position whose correlation with an open one exceeds
  ``correlation_limit`` (``CORRELATION_LIMIT``, never resized: size does not change a correlation).
  The correlation is declared in ``correlations`` (market or event ids), or estimated from the
  co-movement of the mids this officer sees, sampled every ``correlation_sample_ns`` over the last
  ``correlation_window`` samples. A long NO counts as short its market's YES. Two outcomes of one
  neg-risk event are exclusive, which the VaR models exactly; their price co-movement is not used.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from itertools import combinations
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from agents.base import Agent, AgentConfig, Subscription, Timer
from agents.journal_backlog import flush_in_order
from agents.orders import LOCAL_REASONS, client_order_id
from agents.portfolio import Portfolio, is_exposure_cutting
from protocols import (
    BookStale,
    Command,
    Envelope,
    Fill,
    IntentLeg,
    MarketInfo,
    MarketResolved,
    OrderEvent,
    OrderIntent,
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
    TradingState,
    TradingStateChange,
)
from protocols.ports import JournalUnavailable
from protocols.retry import backoff_ns
from protocols.var import MarketModel, RiskPosition, VaRResult, comovement, pearson, value_at_risk

ZERO = Decimal(0)
NS_PER_S = 1_000_000_000
NS_PER_DAY = 86_400 * NS_PER_S

#: Venue rejections that are the market's answer, not a failing venue: they do not trip the switch.
MARKET_REJECTS: frozenset[ReasonCode] = frozenset(
    {ReasonCode.FOK_NOT_FILLABLE, ReasonCode.FAK_NO_MATCH, ReasonCode.POST_ONLY_WOULD_CROSS}
)

_HALT_CODES = (
    ReasonCode.KILL_SWITCH,
    ReasonCode.DAILY_LOSS_LIMIT,
    ReasonCode.MAX_DRAWDOWN,
    ReasonCode.EXECUTION_FAILURES,
    ReasonCode.VENUE_LATENCY,
    ReasonCode.CLIENT_MISMATCH,
    ReasonCode.RECONCILE_FAILED,
)

#: Per-strategy gauges and their daily PnL history stop at this many strategies (the rest: "other").
MAX_TRACKED_STRATEGIES = 32
#: Per-market exposure gauges: the largest this many markets each time they are published.
TOP_MARKET_GAUGES = 10


class DeclaredCorrelation(BaseModel):
    """A correlation the operator knows better than the prices do. ``a`` and ``b`` are market or
    event ids (an event stands for each of its markets); ``a == b`` an event: any two of its markets."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    a: str = Field(min_length=1)
    b: str = Field(min_length=1)
    rho: float = Field(ge=-1, le=1)


class RiskOfficerConfig(AgentConfig):
    """Limits as fractions of ``bankroll`` (pUSD). Every field has a safe default."""

    account: str = Field(default="us", min_length=1)
    trader_id: str = Field(default="trader", min_length=1)
    bankroll: Decimal = Field(default=Decimal(1000), gt=0)
    max_trade_fraction: Decimal = Field(default=Decimal("0.02"), gt=0, le=1)
    max_market_fraction: Decimal = Field(default=Decimal("0.05"), gt=0, le=1)
    max_event_fraction: Decimal = Field(default=Decimal("0.15"), gt=0, le=1)
    max_total_fraction: Decimal = Field(default=Decimal("0.50"), gt=0, le=1)
    daily_loss_fraction: Decimal = Field(default=Decimal("0.05"), gt=0, le=1)
    """Loss since the start of the UTC day (marked to market) that HALTs trading until the next day."""
    soft_daily_loss_fraction: Decimal | None = Field(default=Decimal("0.03"), gt=0, le=1)
    """Loss that moves to REDUCING (None: never)."""
    max_drawdown_fraction: Decimal = Field(default=Decimal("0.10"), gt=0, le=1)
    """Fall from peak equity that HALTs trading until an operator resumes."""
    max_consecutive_losses: int = Field(default=5, ge=1)
    cooldown_ns: int = Field(default=15 * 60 * NS_PER_S, ge=0)
    max_trades_per_day: int = Field(default=500, ge=1)
    min_book_depth_notional: Decimal = Field(default=Decimal(10), ge=0)
    """Visible notional in the top levels (both sides) below which a book is too thin to trade."""
    max_price_impact: Decimal = Field(default=Decimal("0.01"), gt=0)
    """Largest relative move of the average taking price from the best price (0.01 = 1%)."""
    max_book_age_ns: int | None = Field(default=120 * NS_PER_S, gt=0)
    require_book: bool = True
    min_time_to_expiry_ns: int = Field(default=5 * 60 * NS_PER_S, ge=0)
    max_execution_failures: int = Field(default=3, ge=1)
    failure_window_ns: int = Field(default=10 * 60 * NS_PER_S, gt=0)
    max_venue_latency_ns: int = Field(default=5 * NS_PER_S, gt=0)
    check_interval_ns: int = Field(default=NS_PER_S, ge=0)
    """Period of the timer that watches unanswered sends and the day roll (0: no timer)."""
    size_step: Decimal = Field(default=Decimal("0.01"), gt=0)
    default_min_order_size: Decimal = Field(default=Decimal(5), ge=0)
    daily_halt_resets: bool = True
    decided_ttl_ns: int = Field(default=2 * NS_PER_DAY, gt=0)
    """Decided intent ids are remembered this long (an intent older than this is long expired)."""
    max_decided: int = Field(default=200_000, ge=1)
    """At most this many decided ids are remembered; the oldest go first (counted)."""
    journal_retry_ns: int = Field(default=500_000_000, gt=0)
    journal_retry_cap_ns: int = Field(default=30 * NS_PER_S, gt=0)
    max_unjournalled: int = Field(default=10_000, ge=1)
    """Records kept in memory while the journal is away; past it the oldest are dropped (counted)."""
    venue_check_interval_ns: int = Field(default=30 * NS_PER_S, ge=0)
    """How often the book is compared with the venue's positions, when a venue port is bound (0: never)."""
    max_var_fraction: Decimal | None = Field(default=None, gt=0, le=1)
    """Value at risk of the book (at ``var_confidence``) allowed, as a fraction of the bankroll
    (0.05 = 5 %; None: no VaR limit). See the module doc for the model."""
    var_confidence: float = Field(default=0.95, gt=0.5, lt=1)
    var_samples: int = Field(default=20_000, ge=1000)
    """Monte Carlo samples, when the book is too large for exact enumeration or correlated."""
    var_seed: int = Field(default=0, ge=0)
    """Seed of every Monte Carlo draw: the same book always gives the same VaR."""
    var_max_exact_states: int = Field(default=4096, ge=2)
    correlation_limit: float | None = Field(default=0.6, gt=-1, le=1)
    """Largest correlation a new position may have with an open one (None: no limit)."""
    correlation_window: int = Field(default=120, ge=4)
    """Mid samples per market kept for the co-movement estimate."""
    correlation_min_samples: int = Field(default=30, ge=3)
    """Price changes two markets need in common before their estimate is used."""
    correlation_sample_ns: int = Field(default=5 * NS_PER_S, gt=0)
    correlations: tuple[DeclaredCorrelation, ...] = ()

    @field_validator("max_price_impact")
    @classmethod
    def _impact(cls, v: Decimal) -> Decimal:
        if v >= 1:
            raise ValueError("max_price_impact is a fraction (0.01 = 1%), it must be below 1")
        return v


@dataclass
class _Reservation:
    """One order's claim on exposure: what is still to fill, at its limit price."""

    token_id: str
    market: str
    side: Side
    price: Decimal
    size: Decimal
    fills_seen: Decimal = ZERO
    venue_filled: Decimal = ZERO
    terminal: bool = False

    @property
    def open_size(self) -> Decimal:
        """Shares not yet in the position. A live order: all unfilled shares. A finished one: fills
        the venue reported that have not reached us yet (so nothing is ever counted in neither)."""
        if self.terminal:
            return max(self.venue_filled - self.fills_seen, ZERO)
        return max(self.size - self.fills_seen, ZERO)

    def dump(self) -> list[str]:
        return [self.token_id, self.market, self.side.value, str(self.price), str(self.size),
                str(self.fills_seen), str(self.venue_filled), "1" if self.terminal else "0"]

    @classmethod
    def load(cls, d: list[str]) -> _Reservation:
        return cls(d[0], d[1], Side(d[2]), Decimal(d[3]), Decimal(d[4]), Decimal(d[5]), Decimal(d[6]), d[7] == "1")


class RiskOfficer(Agent[RiskOfficerConfig]):
    role: ClassVar[str] = "risk_officer"
    config_model: ClassVar[type[AgentConfig]] = RiskOfficerConfig

    def __init__(self, agent_id: str = "risk_officer", config: RiskOfficerConfig | dict[str, Any] | None = None):
        super().__init__(agent_id, config)
        c = self.config
        self.state = TradingState.ACTIVE
        self.halt_reasons: dict[ReasonCode, str] = {}
        self.reduce_reasons: dict[ReasonCode, str] = {}
        self.portfolio = Portfolio(c.bankroll)
        self.books: dict[str, TopOfBook] = {}
        self.stale: dict[str, int] = {}
        self.markets: dict[str, MarketInfo] = {}
        self.token_market: dict[str, str] = {}
        self.market_event: dict[str, str] = {}
        self.reservations: dict[str, _Reservation] = {}
        self.closed: set[str] = set()
        self.decided: dict[str, int] = {}
        self.duplicate_intents = 0
        self.decided_evicted = 0
        self.unjournalled: deque[Payload] = deque()
        self.journal_dropped = 0
        self._journal_attempt = 0
        self.book_vs_venue: dict[str, Any] = {}
        self._rebuilt = False
        self._rebuild_attempt = 0
        self.day = -1
        self.day_start_equity = c.bankroll
        self.peak_equity = c.bankroll
        self.trades_today = 0
        self.loss_streak = 0
        self.cooldown_until = 0
        self.loss_counted: set[str] = set()
        self.failures: deque[tuple[int, str]] = deque()
        self.failed_coids: set[str] = set()
        self.sent_at: dict[str, int] = {}
        self.acked: set[str] = set()
        self.counts: dict[str, int] = {}
        self.last_trader_pnl: PnLSnapshot | None = None
        self._restored = False
        # portfolio risk
        self.mids: dict[str, deque[float]] = {}
        self._last_sample_ns = -1
        self.var_last: VaRResult | None = None
        self.var_peak = 0.0
        # per strategy: which strategy sent each order, a book per strategy, daily PnL history
        self.coid_strategy: dict[str, str] = {}
        self._strategies: set[str] = set()
        self.strategy_books: dict[str, Portfolio] = {}
        self.strategy_day_start: dict[str, Decimal] = {}
        self.strategy_days: deque[dict[str, float]] = deque(maxlen=90)

    # -- wiring -----------------------------------------------------------------------------------
    def initial_subscriptions(self) -> tuple[Subscription, ...]:
        acct = self.config.account
        return (
            Subscription(OrderIntent),
            Subscription(TopOfBook),
            Subscription(BookStale),
            Subscription(MarketInfo),
            Subscription(MarketResolved),
            Subscription(Fill, acct),
            Subscription(Settlement, acct),
            Subscription(OrderEvent, acct),
            Subscription(PnLSnapshot, acct),
            Subscription(Command, self.agent_id),
            Subscription(Command, "*"),
        )

    @property
    def limits(self) -> dict[str, Decimal]:
        c = self.config
        return {
            "trade": c.bankroll * c.max_trade_fraction,
            "market": c.bankroll * c.max_market_fraction,
            "event": c.bankroll * c.max_event_fraction,
            "total": c.bankroll * c.max_total_fraction,
            "daily_loss": c.bankroll * c.daily_loss_fraction,
            "drawdown": c.bankroll * c.max_drawdown_fraction,
        }

    async def on_start(self) -> None:
        # whatever a checkpoint said about sends in flight, their answers will not come again
        self.sent_at.clear()
        await self._rebuild()
        self._roll_day(self.ctx.now_ns())
        await self._publish_state(None, "start", force=True)
        if self.config.check_interval_ns:
            self.ctx.set_timer("risk_check", self.config.check_interval_ns, periodic=True)
        if self.config.venue_check_interval_ns and self._venue() is not None:
            self.ctx.set_timer("venue_check", self.config.venue_check_interval_ns, periodic=True)

    def _venue(self) -> Any:
        v = self.ctx.venue
        return v if v is not None and v.account == self.config.account else None

    async def _rebuild(self) -> None:
        """Fold the trader's journal and the venue's record over the checkpoint (see the module doc).

        A journal that is away is retried on a timer; meanwhile the venue part still runs, so the
        book is as right as what can be reached.
        """
        journal = self.ctx.journal
        ok = True
        if journal is not None:
            try:
                reqs = await journal.orders(self.config.trader_id)
                events = await journal.order_events(self.config.trader_id)
                fills = await journal.fills(self.config.trader_id)
            except JournalUnavailable as exc:
                ok = False
                self.ctx.log.warning("journal away while rebuilding the book (%s): retrying", exc)
            else:
                now = self.ctx.now_ns()
                for req in reqs:
                    self._note_strategy(req.client_order_id, req.strategy)
                    if req.intent_id:
                        self.decided.setdefault(req.intent_id, now)  # sent once: never approved again
                    if req.client_order_id not in self.closed:
                        self.reservations.setdefault(
                            req.client_order_id,
                            _Reservation(req.token_id, req.market, req.side, req.price, req.size),
                        )
                    self.token_market.setdefault(req.token_id, req.market)
                for ev in events:
                    self._track_order(ev, count_failures=False)
                for f in fills:
                    self._apply_fill(f)
        await self._rebuild_from_venue()
        self._rebuilt = ok
        if ok:
            self._rebuild_attempt = 0
        else:
            self._rebuild_attempt += 1
            c = self.config
            self.ctx.set_timer(
                "rebuild", backoff_ns(self._rebuild_attempt, c.journal_retry_ns, c.journal_retry_cap_ns, jitter=0.2,
                                      rng=self.ctx.rng)
            )

    async def _rebuild_from_venue(self) -> None:
        venue = self._venue()
        if venue is None:
            return
        try:
            trades = await venue.trades(None)
            open_orders = await venue.open_orders()
            open_ids = {e.client_order_id for e in open_orders}
            for ev in open_orders:
                if ev.client_order_id in self.reservations:
                    self._track_order(ev, count_failures=False)
            for coid, r in list(self.reservations.items()):
                if not r.terminal and coid not in open_ids:
                    st = await venue.order_status(coid)
                    if st is not None:
                        self._track_order(st, count_failures=False)
            for f in trades:
                self._apply_fill(f)
            positions = await venue.positions()
        except Exception as exc:  # unreachable now: the journal's book stands, compared again later
            self.ctx.log.warning("venue unreachable while rebuilding the book: %s", exc)
            return
        adopted = {}
        for tok, book, ven in self._differences(positions):
            market = next((p.market for p in positions if p.token_id == tok), self.token_market.get(tok, ""))
            avg = next((p.avg_price for p in positions if p.token_id == tok), ZERO)
            self.portfolio.adopt(tok, market, ven, avg)
            adopted[tok] = {"book": str(book), "venue": str(ven)}
        if adopted:
            self.ctx.log.warning("book rebuilt: adopted the venue's size for %s", adopted)
        self.book_vs_venue = {"checked_ns": self.ctx.now_ns(), "adopted_at_start": adopted, "differences": {}}

    def _differences(self, positions: list[Any]) -> list[tuple[str, Decimal, Decimal]]:
        venue_sizes = {p.token_id: p.size for p in positions}
        held = {t: h.size for t, h in self.portfolio.holdings.items() if h.size}
        return [
            (t, held.get(t, ZERO), venue_sizes.get(t, ZERO))
            for t in sorted(set(venue_sizes) | set(held))
            if held.get(t, ZERO) != venue_sizes.get(t, ZERO)
        ]

    async def compare_with_venue(self) -> dict[str, Any]:
        """The book against the venue's positions, without adopting (fills may be in flight)."""
        venue = self._venue()
        if venue is None:
            return self.book_vs_venue
        try:
            positions = await venue.positions()
        except Exception as exc:
            self.ctx.log.warning("venue unreachable for the book check: %s", exc)
            return self.book_vs_venue
        diffs = {t: {"book": str(b), "venue": str(v)} for t, b, v in self._differences(positions)}
        self.book_vs_venue = {**self.book_vs_venue, "checked_ns": self.ctx.now_ns(), "differences": diffs}
        self.ctx.metric("risk_book_venue_differences", float(len(diffs)))
        return self.book_vs_venue

    # -- dispatch ---------------------------------------------------------------------------------
    async def on_message(self, envelope: Envelope) -> None:
        p: Payload = envelope.payload
        if isinstance(p, OrderIntent):
            await self.check(p)
        elif isinstance(p, TopOfBook):
            self.books[p.token_id] = p
            self.token_market.setdefault(p.token_id, p.market)
            stale_since = self.stale.get(p.token_id)
            # a rebuilt book is published in the same instant as its RESYNC/TICK_CHANGE flag
            if stale_since is not None and p.time_ns >= stale_since:
                del self.stale[p.token_id]
            mark = p.mid if p.mid is not None else (p.best_bid or p.best_ask)
            if mark is not None and p.token_id in self.portfolio.holdings and self.portfolio.size(p.token_id):
                self.portfolio.mark(p.token_id, mark)
                await self._evaluate_losses()
        elif isinstance(p, BookStale):
            self.stale[p.token_id] = p.time_ns
        elif isinstance(p, MarketInfo):
            self.markets[p.market] = p
            for t in p.token_ids:
                self.token_market[t] = p.market
            if p.event_id:
                self.market_event[p.market] = p.event_id
        elif isinstance(p, MarketResolved):
            info = self.markets.get(p.market)
            if info is not None:
                for t in info.token_ids:
                    pay = Decimal("0.5") if p.winning_token_id is None else Decimal(int(t == p.winning_token_id))
                    self.portfolio.mark(t, pay)
        elif isinstance(p, Fill):
            if p.account == self.config.account:
                realized = self._apply_fill(p)
                if realized is not None:
                    if p.side is Side.SELL:  # a buy opens a position; only closing it wins or loses
                        await self._outcome(p.client_order_id, realized)
                    await self._evaluate_losses()
        elif isinstance(p, Settlement):
            if p.account == self.config.account:
                realized = self.portfolio.settle(p.market, p.token_id, p.size, p.payout_per_share)
                if realized is not None:
                    await self._evaluate_losses()
                    await self._settled(p.market)
        elif isinstance(p, OrderEvent):
            if p.account == self.config.account:
                await self._on_order_event(p)
        elif isinstance(p, PnLSnapshot):
            self.last_trader_pnl = p
        elif isinstance(p, Command):
            await self._on_command(p)

    async def on_timer(self, timer: Timer) -> None:
        if timer.name == "journal_retry":
            await self._flush_unjournalled()
            return
        if timer.name == "rebuild":
            await self._rebuild()
            return
        if timer.name == "venue_check":
            await self.compare_with_venue()
            return
        if timer.name != "risk_check":
            return
        now = self.ctx.now_ns()
        if self._roll_day(now):
            await self._recompute_state(None, "new trading day")
        if self._sample_mids(now):
            self._publish_gauges()
        for coid, t in list(self.sent_at.items()):
            if coid not in self.acked and now - t > self.config.max_venue_latency_ns:
                await self._halt(
                    ReasonCode.VENUE_LATENCY,
                    f"order {coid} unanswered for {(now - t) / NS_PER_S:.1f}s "
                    f"(limit {self.config.max_venue_latency_ns / NS_PER_S:.1f}s)",
                )
                self.acked.add(coid)
                break

    # -- the check --------------------------------------------------------------------------------
    async def check(self, intent: OrderIntent) -> RiskDecision | None:
        """Approve, resize or reject one intent; publish and journal the decision."""
        now = self.ctx.now_ns()
        if intent.intent_id in self.decided:
            # the same id twice: a redelivery, or a strategist that reused an id. Either way it is
            # decided once and never approved again; the second is an error someone must see.
            self.duplicate_intents += 1
            self.counts["DUPLICATE_INTENT"] = self.counts.get("DUPLICATE_INTENT", 0) + 1
            self.ctx.metric("risk_duplicate_intents", 1, "counter")
            self.ctx.log.error("intent id %s was already decided: ignored (duplicate #%d)",
                               intent.intent_id, self.duplicate_intents)
            return None
        self._remember(intent.intent_id, now)
        if self._roll_day(now):
            await self._recompute_state(None, "new trading day")
        reasons, detail = self._gates(intent, now)
        if reasons:
            return await self._decide(intent, RiskAction.REJECTED, intent, reasons, detail)
        cutting = is_exposure_cutting(intent, self._free_shares())
        k, binding, detail = self._max_scale(intent.legs, intent.paired, cutting)
        if k >= 1:
            return await self._approve(intent, RiskAction.APPROVED, intent, (), "")
        if k <= 0:
            return await self._decide(intent, RiskAction.REJECTED, intent, binding, detail)
        legs = self._scaled(intent.legs, k)
        if legs is None:
            return await self._decide(intent, RiskAction.REJECTED, intent, binding, detail + "; resized below min size")
        k2, binding2, detail2 = self._max_scale(legs, intent.paired, cutting)
        if k2 < 1:  # rounding cannot make it worse, but never approve on faith
            return await self._decide(intent, RiskAction.REJECTED, intent, binding + binding2, detail2)
        resized = intent.model_copy(update={"legs": legs})
        return await self._approve(intent, RiskAction.RESIZED, resized, binding, detail)

    def _remember(self, intent_id: str, now: int) -> None:
        """Keep a decided id; forget the oldest past their age or the size bound (counted)."""
        d = self.decided
        d[intent_id] = now
        horizon = now - self.config.decided_ttl_ns
        while d:
            first = next(iter(d))
            if d[first] >= horizon and len(d) <= self.config.max_decided:
                break
            del d[first]
            self.decided_evicted += 1

    def _gates(self, intent: OrderIntent, now: int) -> tuple[tuple[ReasonCode, ...], str]:
        """Checks that no resizing can satisfy."""
        c = self.config
        if self.state is TradingState.HALTED:
            causes = tuple(self.halt_reasons)
            first = ReasonCode.KILL_SWITCH if ReasonCode.KILL_SWITCH in causes else ReasonCode.TRADING_HALTED
            return (first, *[r for r in causes if r is not first]), "trading is halted: " + "; ".join(
                self.halt_reasons.values()
            )
        if intent.expires_ns is not None and intent.expires_ns <= now:
            return (ReasonCode.SIGNAL_EXPIRED,), f"intent expired {(now - intent.expires_ns) / NS_PER_S:.3f}s ago"
        cutting = is_exposure_cutting(intent, self._free_shares())
        if not cutting:
            if self.state is TradingState.REDUCING:
                return (ReasonCode.REDUCE_ONLY,), "reducing: only intents that sell held shares pass"
            if now < self.cooldown_until:
                left = (self.cooldown_until - now) / NS_PER_S
                return (ReasonCode.LOSS_STREAK_COOLDOWN,), f"cooling down after a loss streak, {left:.0f}s left"
            if self.trades_today >= c.max_trades_per_day:
                detail = f"{self.trades_today} trades today (max {c.max_trades_per_day})"
                return (ReasonCode.MAX_TRADES_PER_DAY,), detail
        for leg in intent.legs:
            info = self.markets.get(leg.market)
            if not cutting and info is not None and info.end_ns is not None:
                left_ns = info.end_ns - now
                if left_ns < c.min_time_to_expiry_ns:
                    return (ReasonCode.TOO_CLOSE_TO_EXPIRY,), (
                        f"{leg.market} ends in {left_ns / NS_PER_S:.0f}s "
                        f"(min {c.min_time_to_expiry_ns / NS_PER_S:.0f}s)"
                    )
            book = self.books.get(leg.token_id)
            if leg.token_id in self.stale:
                return (ReasonCode.STALE_DATA,), f"book of {leg.token_id} is stale"
            if book is None:
                if c.require_book:
                    return (ReasonCode.NO_MARKET_DATA,), f"no book seen for {leg.token_id}"
                continue
            age = now - (book.book_time_ns or book.time_ns)
            if c.max_book_age_ns is not None and age > c.max_book_age_ns:
                return (ReasonCode.STALE_DATA,), f"book of {leg.token_id} is {age / NS_PER_S:.1f}s old"
            if not cutting:
                depth = sum((p * s for p, s in book.bids), ZERO) + sum((p * s for p, s in book.asks), ZERO)
                if not book.bids and not book.asks:
                    depth = (book.best_bid or ZERO) * book.best_bid_size + (book.best_ask or ZERO) * book.best_ask_size
                if depth < c.min_book_depth_notional:
                    return (ReasonCode.INSUFFICIENT_LIQUIDITY,), (
                        f"book of {leg.token_id} shows {depth} pUSD (min {c.min_book_depth_notional})"
                    )
        if not cutting and c.correlation_limit is not None:
            hit = self._correlation_breach(intent.legs, c.correlation_limit)
            if hit is not None:
                return (ReasonCode.CORRELATION_LIMIT,), hit
        return (), ""

    def _max_scale(
        self, legs: tuple[IntentLeg, ...], paired: bool, cutting: bool
    ) -> tuple[Decimal, tuple[ReasonCode, ...], str]:
        """The largest common factor k ≤ 1 the legs can be scaled by, the limits that bind, and why."""
        lim = self.limits
        k = Decimal(1)
        binding: list[ReasonCode] = []
        notes: list[str] = []

        def bound(code: ReasonCode, kmax: Decimal, note: str) -> None:
            nonlocal k
            if kmax < 1:
                if code not in binding:
                    binding.append(code)
                notes.append(note)
                k = min(k, kmax)

        notional = sum((leg.notional for leg in legs), ZERO)
        if notional > lim["trade"]:
            bound(ReasonCode.MAX_TRADE_SIZE, lim["trade"] / notional, f"trade {notional} > {lim['trade']}")
        if not cutting:
            add_m: dict[str, Decimal] = {}
            add_e: dict[str, Decimal] = {}
            add_t = ZERO
            for leg in legs:
                if leg.side is Side.BUY:
                    add_m[leg.market] = add_m.get(leg.market, ZERO) + leg.notional
                    ev = self._event_of(leg.market, leg.event_id)
                    add_e[ev] = add_e.get(ev, ZERO) + leg.notional
                    add_t += leg.notional
            by_market, by_event, total = self.exposures()
            for m, add in add_m.items():
                cur = by_market.get(m, ZERO)
                if cur + add > lim["market"]:
                    bound(ReasonCode.MAX_MARKET_EXPOSURE, (lim["market"] - cur) / add,
                          f"market {m}: {cur} + {add} > {lim['market']}")
            for e, add in add_e.items():
                cur = by_event.get(e, ZERO)
                if cur + add > lim["event"]:
                    bound(ReasonCode.MAX_EVENT_EXPOSURE, (lim["event"] - cur) / add,
                          f"event {e}: {cur} + {add} > {lim['event']}")
            if add_t and total + add_t > lim["total"]:
                bound(ReasonCode.MAX_TOTAL_EXPOSURE, (lim["total"] - total) / add_t,
                      f"total: {total} + {add_t} > {lim['total']}")
        for leg in legs:
            book = self.books.get(leg.token_id)
            if book is None or leg.post_only:
                continue
            q_max = self._max_size_within_impact(leg, book)
            if q_max is not None and q_max < leg.size:
                bound(ReasonCode.PRICE_IMPACT, q_max / leg.size,
                      f"{leg.token_id}: impact above {self.config.max_price_impact} beyond {q_max} shares")
            if paired:
                avail = self._crossing_depth(leg, book)
                if avail < leg.size:
                    bound(ReasonCode.INSUFFICIENT_LIQUIDITY, avail / leg.size,
                          f"{leg.token_id}: {avail} shares at {leg.price} or better for a paired leg of {leg.size}")
        if self.config.max_var_fraction is not None and k > 0:
            try:
                kv, note = self._var_scale(legs, k)
            except Exception as exc:  # a risk check that cannot be made refuses, it never crashes the officer
                self.ctx.log.error("VaR of the book could not be computed: %s", exc, exc_info=True)
                kv, note = ZERO, f"VaR could not be computed ({type(exc).__name__}: {exc})"
            if kv < k:
                if ReasonCode.VAR_LIMIT not in binding:
                    binding.append(ReasonCode.VAR_LIMIT)
                notes.append(note)
                k = kv
        return k, tuple(binding), "; ".join(notes)

    def _scaled(self, legs: tuple[IntentLeg, ...], k: Decimal) -> tuple[IntentLeg, ...] | None:
        # A marketable (FOK/FAK) order is sent as an amount of cash, which the CLOB takes in whole
        # cents: size it so price × size is whole cents (a multiple of 0.01 / tick shares), the same
        # step on every leg so paired legs stay equal.
        step = self.config.size_step
        for leg in legs:
            if leg.tif in (TimeInForce.FOK, TimeInForce.FAK):
                step = max(step, Decimal("0.01") / leg.tick_size)
        out = []
        for leg in legs:
            size = ((leg.size * k) / step).to_integral_value(rounding=ROUND_FLOOR) * step
            if size <= 0 or size < self._min_size(leg):
                return None
            out.append(leg.model_copy(update={"size": size}))
        return tuple(out)

    def _min_size(self, leg: IntentLeg) -> Decimal:
        info = self.markets.get(leg.market)
        if info is not None and info.min_order_size > 0:
            return info.min_order_size
        book = self.books.get(leg.token_id)
        if book is not None and book.min_order_size > 0:
            return book.min_order_size
        return self.config.default_min_order_size

    @staticmethod
    def _levels(leg: IntentLeg, book: TopOfBook) -> list[tuple[Decimal, Decimal]]:
        """The opposite side's levels this leg would take, best first, within its limit price."""
        if leg.side is Side.BUY:
            levels = list(book.asks) or ([(book.best_ask, book.best_ask_size)] if book.best_ask is not None else [])
            return [(p, s) for p, s in levels if p <= leg.price and s > 0]
        levels = list(book.bids) or ([(book.best_bid, book.best_bid_size)] if book.best_bid is not None else [])
        return [(p, s) for p, s in levels if p >= leg.price and s > 0]

    def _crossing_depth(self, leg: IntentLeg, book: TopOfBook) -> Decimal:
        return sum((s for _p, s in self._levels(leg, book)), ZERO)

    def _max_size_within_impact(self, leg: IntentLeg, book: TopOfBook) -> Decimal | None:
        """Walk the book: the largest size whose average taking price stays within the impact limit
        of the best price. None when any size does (the order takes nothing, or little enough)."""
        levels = self._levels(leg, book)
        if not levels:
            return None
        best = levels[0][0]
        m = self.config.max_price_impact
        buy = leg.side is Side.BUY
        target = best * (1 + m) if buy else best * (1 - m)
        qty = ZERO
        cost = ZERO
        for price, size in levels:
            ok = price <= target if buy else price >= target
            if ok:
                qty += size
                cost += price * size
                continue
            # only part of this level fits: the average reaches the target after x more shares
            x = (target * qty - cost) / (price - target) if buy else (cost - target * qty) / (target - price)
            q = qty + max(x, ZERO)
            return q if q < leg.size else None
        return None

    async def _approve(
        self, intent: OrderIntent, action: RiskAction, out: OrderIntent, reasons: tuple[ReasonCode, ...], detail: str
    ) -> RiskDecision:
        if not is_exposure_cutting(out, self._free_shares()):
            self.trades_today += 1
        for i, leg in enumerate(out.legs):
            self.token_market.setdefault(leg.token_id, leg.market)
            if leg.event_id:
                self.market_event.setdefault(leg.market, leg.event_id)
            coid = client_order_id(out.intent_id, i)
            self.reservations.setdefault(coid, _Reservation(leg.token_id, leg.market, leg.side, leg.price, leg.size))
            self._note_strategy(coid, out.strategy)
        return await self._decide(intent, action, out, reasons, detail)

    async def _decide(
        self, intent: OrderIntent, action: RiskAction, out: OrderIntent, reasons: tuple[ReasonCode, ...], detail: str
    ) -> RiskDecision:
        decision = RiskDecision(
            time_ns=self.ctx.now_ns(),
            intent_id=intent.intent_id,
            action=action,
            intent=out,
            reasons=reasons,
            detail=detail[:1000],
        )
        self.counts[action.value] = self.counts.get(action.value, 0) + 1
        for r in reasons:
            self.counts[r.value] = self.counts.get(r.value, 0) + 1
        self.ctx.publish(decision)
        await self._journal(decision)
        self.ctx.metric("polyagents_risk_decisions_total", 1, "counter", action=action.value,
                        strategy=intent.strategy, reason=reasons[0].value if reasons else "")
        return decision

    # -- portfolio risk ---------------------------------------------------------------------------
    @property
    def var_limit(self) -> float | None:
        f = self.config.max_var_fraction
        return None if f is None else float(self.config.bankroll * f)

    def _token_place(self, token: str, market: str) -> tuple[str, int]:
        """(the market the model knows the token by, 0 for its YES / 1 for its NO)."""
        info = self.markets.get(market) or self.markets.get(self.token_market.get(token, ""))
        if info is not None and token in info.token_ids:
            return info.market, info.token_ids.index(token)
        return f"token:{token}", 0  # unknown market: the token is a binary of its own

    def _mid(self, token: str) -> float | None:
        book = self.books.get(token)
        if book is not None:
            m = book.mid if book.mid is not None else (book.best_bid or book.best_ask)
            if m is not None:
                return float(m)
        mark = self.portfolio.marks.get(token)
        return None if mark is None else float(mark)

    def _yes_mid(self, market: str) -> float | None:
        """The market's YES price: its YES book, else 1 − its NO book."""
        info = self.markets.get(market)
        if info is None:
            return None
        yes = self._mid(info.token_ids[0])
        if yes is not None:
            return yes
        no = self._mid(info.token_ids[1])
        return None if no is None else 1.0 - no

    def _exclusive_group(self, market: str) -> str:
        info = self.markets.get(market)
        return info.event_id if info is not None and info.neg_risk and info.event_id else ""

    def risk_positions(self, legs: tuple[IntentLeg, ...] = (), k: Decimal = Decimal(1)) -> list[RiskPosition]:
        """The book as the VaR sees it: holdings at their marks, open buys as if filled at their
        limit, and ``legs`` scaled by ``k`` as if filled at their prices."""
        out: list[RiskPosition] = []
        for tok, h in self.portfolio.holdings.items():
            if h.size > 0:
                m, o = self._token_place(tok, h.market)
                mark = self._mid(tok)
                out.append(RiskPosition(m, o, float(h.size), float(h.avg_price) if mark is None else mark))
        for r in self.reservations.values():
            if r.side is Side.BUY and r.open_size > 0:
                m, o = self._token_place(r.token_id, r.market)
                out.append(RiskPosition(m, o, float(r.open_size), float(r.price)))
        for leg in legs:
            m, o = self._token_place(leg.token_id, leg.market)
            sign = 1.0 if leg.side is Side.BUY else -1.0
            out.append(RiskPosition(m, o, sign * float(leg.size * k), float(leg.price)))
        return out

    def _market_models(self, positions: list[RiskPosition]) -> dict[str, MarketModel]:
        models: dict[str, MarketModel] = {}
        wanted = {p.market for p in positions}
        groups = {g for g in (self._exclusive_group(m) for m in wanted) if g}
        for m in wanted | {m for m in self.markets if self._exclusive_group(m) in groups}:
            p = self._yes_mid(m)
            if p is None:  # no book: the price of a position in it stands in
                pos = next((x for x in positions if x.market == m), None)
                if pos is None:
                    continue
                p = pos.price if pos.outcome == 0 else 1.0 - pos.price
            models[m] = MarketModel(p, self._exclusive_group(m))
        return models

    def _declared_pairs(self) -> dict[tuple[str, str], float]:
        """The declared correlations between markets (events expanded to their markets)."""
        members: dict[str, list[str]] = {}
        for m, info in self.markets.items():
            if info.event_id:
                members.setdefault(info.event_id, []).append(m)
        out: dict[tuple[str, str], float] = {}
        for d in self.config.correlations:
            if d.a == d.b:
                pairs = list(combinations(sorted(members.get(d.a, [])), 2))
            else:
                pairs = [(x, y) for x in members.get(d.a, [d.a]) for y in members.get(d.b, [d.b]) if x != y]
            for x, y in pairs:
                out[(x, y)] = out[(y, x)] = d.rho
        return out

    def portfolio_var(self, legs: tuple[IntentLeg, ...] = (), k: Decimal = Decimal(1)) -> VaRResult:
        c = self.config
        positions = self.risk_positions(legs, k)
        return value_at_risk(
            positions, self._market_models(positions), c.var_confidence, self._declared_pairs(),
            max_exact_states=c.var_max_exact_states, samples=c.var_samples, seed=c.var_seed,
        )

    def _var_scale(self, legs: tuple[IntentLeg, ...], k: Decimal) -> tuple[Decimal, str]:
        """The largest factor ≤ k that keeps the VaR within its limit (k when the intent does not
        raise the VaR). Bisection on the size step's grid; the result is checked again after rounding."""
        limit = self.var_limit
        assert limit is not None
        after = self.portfolio_var(legs, k).var
        if after <= limit:
            return k, ""
        before = self.portfolio_var().var
        if after <= before + 1e-9:
            return k, ""  # it does not add risk: a sale, a hedge
        note = f"VaR {after:.2f} > {limit:.2f} (book alone {before:.2f})"
        if before > limit:
            return ZERO, note
        lo, hi = ZERO, k
        for _ in range(14):
            mid = (lo + hi) / 2
            if self.portfolio_var(legs, mid).var <= limit:
                lo = mid
            else:
                hi = mid
        return lo, note

    def _correlation_breach(self, legs: tuple[IntentLeg, ...], limit: float) -> str | None:
        """Why a new position would be too correlated with an open one, or None."""
        open_: dict[tuple[str, int], None] = {}
        for p in self.risk_positions():
            if p.shares > 0:
                open_[(p.market, p.outcome)] = None
        if not open_:
            return None
        declared = self._declared_pairs()
        for leg in legs:
            if leg.side is not Side.BUY:
                continue
            m, o = self._token_place(leg.token_id, leg.market)
            for n, o2 in open_:
                if n == m:
                    continue
                rho = declared.get((m, n))
                if rho is None:
                    g = self._exclusive_group(m)
                    if g and g == self._exclusive_group(n):
                        continue  # exclusive outcomes: the VaR's event group models them
                    rho = self.price_correlation(m, n)
                if rho is None:
                    continue
                corr = rho * (1 if o == 0 else -1) * (1 if o2 == 0 else -1)
                if corr > limit:
                    side = ("YES", "NO")
                    return (f"{leg.token_id} ({m} {side[o]}) has correlation {corr:.2f} with the open "
                            f"{n} {side[o2]} (limit {limit:.2f})")
        return None

    def price_correlation(self, a: str, b: str) -> float | None:
        """Co-movement of two markets' YES mids over the sampled window (None: too little data)."""
        sa, sb = self.mids.get(a), self.mids.get(b)
        if sa is None or sb is None:
            return None
        return comovement(list(sa), list(sb), self.config.correlation_min_samples)

    def _sample_mids(self, now: int) -> bool:
        """One sample of every market's YES mid, at a common instant (so changes line up).
        False when the last sample is more recent than ``correlation_sample_ns``."""
        c = self.config
        if self._last_sample_ns >= 0 and now - self._last_sample_ns < c.correlation_sample_ns:
            return False
        self._last_sample_ns = now
        for m in self.markets:
            mid = self._yes_mid(m)
            if mid is None:
                continue
            series = self.mids.get(m)
            if series is None:
                series = self.mids[m] = deque(maxlen=c.correlation_window)
            series.append(mid)
        return True

    def _open_correlations(self, top: int = 5) -> list[dict[str, Any]]:
        """The largest position correlations between open markets (for status)."""
        held: dict[str, int] = {}
        for p in self.risk_positions():
            if p.shares > 0:
                held.setdefault(p.market, p.outcome)
        declared = self._declared_pairs()
        out: list[dict[str, Any]] = []
        for a, b in combinations(sorted(held), 2):
            rho = declared.get((a, b))
            source = "declared"
            if rho is None:
                rho, source = self.price_correlation(a, b), "estimated"
            if rho is None:
                continue
            corr = rho * (1 if held[a] == 0 else -1) * (1 if held[b] == 0 else -1)
            out.append({"a": a, "b": b, "correlation": round(corr, 4), "source": source})
        out.sort(key=lambda d: -d["correlation"])
        return out[:top]

    def portfolio_risk(self) -> dict[str, Any]:
        """VaR of the book against its limit, and the most correlated open pairs."""
        res = self.portfolio_var()
        self.var_last = res
        self.var_peak = max(self.var_peak, res.var)
        limit = self.var_limit
        return {
            "var": round(res.var, 6),
            "var_limit": None if limit is None else round(limit, 6),
            "var_confidence": self.config.var_confidence,
            "var_peak": round(self.var_peak, 6),
            "var_method": res.method,
            "worst_loss": round(res.worst_loss, 6),
            "groups": res.groups,
            "notes": list(res.notes),
            "correlation_limit": self.config.correlation_limit,
            "top_correlations": self._open_correlations(),
            "markets_sampled": len(self.mids),
        }

    def _portfolio_risk_or_error(self) -> dict[str, Any]:
        try:
            return self.portfolio_risk()
        except Exception as exc:  # status must answer whatever the book holds
            return {"error": f"{type(exc).__name__}: {exc}"}

    # -- per strategy -----------------------------------------------------------------------------
    def _strategy_of(self, coid: str) -> str:
        return self.coid_strategy.get(coid, "unattributed")

    def _note_strategy(self, coid: str, strategy: str) -> None:
        if not strategy:
            return
        known = self.strategy_books.keys() | self._strategies
        if strategy not in known and len(known) >= MAX_TRACKED_STRATEGIES:
            strategy = "other"
        self._strategies.add(strategy)
        self.coid_strategy[coid] = strategy
        while len(self.coid_strategy) > self.config.max_decided:
            del self.coid_strategy[next(iter(self.coid_strategy))]

    def _strategy_fill(self, fill: Fill) -> None:
        strategy = self._strategy_of(fill.client_order_id)
        book = self.strategy_books.get(strategy)
        if book is None:
            book = self.strategy_books[strategy] = Portfolio(ZERO)
            self.strategy_day_start.setdefault(strategy, ZERO)
        book.apply_fill(fill)

    def strategy_pnl(self) -> dict[str, Decimal]:
        """Each strategy's PnL since the start (its fills at the officer's marks, fees included)."""
        for book in self.strategy_books.values():
            for tok in book.holdings:
                mark = self.portfolio.marks.get(tok)
                if mark is not None:
                    book.mark(tok, mark)
        return {s: b.equity for s, b in sorted(self.strategy_books.items())}

    def strategy_correlation(self) -> dict[str, float | None]:
        """Pearson correlation of the strategies' daily PnL over the days kept (None: < 3 days)."""
        names = sorted({k for day in self.strategy_days for k in day})
        out: dict[str, float | None] = {}
        for a, b in combinations(names, 2):
            xs = [d.get(a, 0.0) for d in self.strategy_days]
            ys = [d.get(b, 0.0) for d in self.strategy_days]
            out[f"{a}~{b}"] = pearson(xs, ys) if len(xs) >= 3 else None
        return out

    def _close_strategy_day(self) -> None:
        pnl = self.strategy_pnl()
        if pnl:
            self.strategy_days.append(
                {s: float(v - self.strategy_day_start.get(s, ZERO)) for s, v in pnl.items()}
            )
        self.strategy_day_start = dict(pnl)

    def _publish_gauges(self) -> None:
        """Per-strategy and per-market series for the dashboards (tags bounded by the sinks too)."""
        for strategy, pnl in self.strategy_pnl().items():
            self.ctx.metric("polyagents_strategy_pnl_usd", float(pnl), strategy=strategy)
            book = self.strategy_books[strategy]
            self.ctx.metric("polyagents_strategy_exposure_usd", float(book.exposure), strategy=strategy)
        by_market, _by_event, _total = self.exposures()
        for m, v in sorted(by_market.items(), key=lambda x: (-x[1], x[0]))[:TOP_MARKET_GAUGES]:
            self.ctx.metric("polyagents_market_exposure_usd", float(v), market=m)
        if self.config.max_var_fraction is not None or self.portfolio.holdings:
            try:
                risk = self.portfolio_risk()
            except Exception as exc:
                self.ctx.log.error("VaR of the book could not be computed: %s", exc, exc_info=True)
                return
            self.ctx.metric("polyagents_portfolio_var_usd", float(risk["var"]))

    # -- exposure ---------------------------------------------------------------------------------
    def _event_of(self, market: str, hint: str = "") -> str:
        ev = self.market_event.get(market) or hint
        if hint and market not in self.market_event:
            self.market_event[market] = hint
        return ev or f"market:{market}"

    def exposures(self) -> tuple[dict[str, Decimal], dict[str, Decimal], Decimal]:
        """Capital at risk by market, by event and in total: holdings at cost plus every open buy."""
        by_market: dict[str, Decimal] = {}
        for tok, h in self.portfolio.holdings.items():
            if h.size > 0:
                by_market[h.market] = by_market.get(h.market, ZERO) + h.cost
                self.token_market.setdefault(tok, h.market)
        for r in self.reservations.values():
            if r.side is Side.BUY:
                open_size = r.open_size
                if open_size > 0:
                    by_market[r.market] = by_market.get(r.market, ZERO) + open_size * r.price
        by_event: dict[str, Decimal] = {}
        for m, v in by_market.items():
            e = self._event_of(m)
            by_event[e] = by_event.get(e, ZERO) + v
        return by_market, by_event, sum(by_market.values(), ZERO)

    def _free_shares(self) -> dict[str, Decimal]:
        """Shares held minus those already promised to open sells."""
        free = {t: h.size for t, h in self.portfolio.holdings.items() if h.size > 0}
        for r in self.reservations.values():
            if r.side is Side.SELL and r.open_size > 0 and r.token_id in free:
                free[r.token_id] -= r.open_size
        return free

    def _apply_fill(self, fill: Fill) -> Decimal | None:
        self._strategy_fill(fill)  # its own dedupe: a restored book has seen the fill, a new one has not
        realized = self.portfolio.apply_fill(fill)
        if realized is not None:
            coid = fill.client_order_id
            r = self.reservations.get(coid)
            if r is None and coid not in self.closed:
                r = self.reservations[coid] = _Reservation(
                    fill.token_id, fill.market, fill.side, fill.price, fill.size, terminal=True
                )
                r.venue_filled = fill.size
            if r is not None:
                r.fills_seen += fill.size
                self._prune(coid, r)
            self.token_market.setdefault(fill.token_id, fill.market)
        return realized

    def _prune(self, coid: str, r: _Reservation) -> None:
        """Forget a finished order whose every fill is in the position; later echoes are ignored."""
        if r.terminal and r.open_size == 0:
            del self.reservations[coid]
            self.closed.add(coid)

    def _track_order(self, ev: OrderEvent, *, count_failures: bool) -> bool:
        """Update a reservation from an order event; True when a counted venue failure is new."""
        coid = ev.client_order_id
        if coid in self.closed:
            return False
        r = self.reservations.get(coid)
        if r is None:
            r = self.reservations[coid] = _Reservation(ev.token_id, ev.market, ev.side, ev.price, ev.size)
        r.venue_filled = max(r.venue_filled, ev.filled)
        if ev.status.is_terminal:
            r.terminal = True
            self._prune(coid, r)
        if (
            count_failures
            and ev.status is OrderStatus.REJECTED
            and ev.reason not in MARKET_REJECTS
            and ev.reason not in LOCAL_REASONS
            and ev.client_order_id not in self.failed_coids
        ):
            self.failed_coids.add(ev.client_order_id)
            return True
        return False

    # -- events that move the state ---------------------------------------------------------------
    async def _on_order_event(self, ev: OrderEvent) -> None:
        now = self.ctx.now_ns()
        new_failure = self._track_order(ev, count_failures=True)
        coid = ev.client_order_id
        if ev.status is OrderStatus.SENT:
            if coid not in self.acked:
                self.sent_at.setdefault(coid, ev.time_ns)
        elif ev.status not in (OrderStatus.NEW, OrderStatus.UNKNOWN) and coid not in self.acked:
            self.acked.add(coid)
            sent = self.sent_at.pop(coid, None)
            if sent is not None and ev.reason not in LOCAL_REASONS:
                latency = max(ev.time_ns, now) - sent
                self.ctx.metric("venue_latency_ms", latency / 1e6)
                if latency > self.config.max_venue_latency_ns:
                    await self._halt(
                        ReasonCode.VENUE_LATENCY,
                        f"order {coid} took {latency / NS_PER_S:.2f}s to be answered "
                        f"(limit {self.config.max_venue_latency_ns / NS_PER_S:.1f}s)",
                    )
        if new_failure:
            self.failures.append((now, coid))
            while self.failures and now - self.failures[0][0] > self.config.failure_window_ns:
                self.failures.popleft()
            if len(self.failures) >= self.config.max_execution_failures:
                await self._halt(
                    ReasonCode.EXECUTION_FAILURES,
                    f"{len(self.failures)} rejected orders within "
                    f"{self.config.failure_window_ns / NS_PER_S:.0f}s (last: {coid}, {ev.reason})",
                )

    async def _outcome(self, coid: str, realized: Decimal) -> None:
        """Count a closed trade's result toward the loss streak (one count per order)."""
        if realized < 0 and coid not in self.loss_counted:
            self.loss_counted.add(coid)
            await self._loss()
        elif realized > 0:
            self.loss_streak = 0

    async def _settled(self, market: str) -> None:
        total = sum(
            (h.realized for h in self.portfolio.holdings.values() if h.market == market), ZERO
        )
        key = f"settle:{market}"
        if total < 0 and key not in self.loss_counted:
            self.loss_counted.add(key)
            await self._loss()
        elif total > 0:
            self.loss_streak = 0

    async def _loss(self) -> None:
        self.loss_streak += 1
        if self.loss_streak >= self.config.max_consecutive_losses:
            now = self.ctx.now_ns()
            self.cooldown_until = now + self.config.cooldown_ns
            streak, self.loss_streak = self.loss_streak, 0
            await self._event(
                ReasonCode.LOSS_STREAK_COOLDOWN,
                "WARN",
                f"{streak} losses in a row: no new exposure for {self.config.cooldown_ns / NS_PER_S:.0f}s",
            )

    def _roll_day(self, now: int) -> bool:
        day = now // NS_PER_DAY
        if day == self.day:
            return False
        first = self.day == -1
        self.day = day
        if not first:
            self._close_strategy_day()
        self.day_start_equity = self.portfolio.equity
        self.trades_today = 0
        if not first and self.config.daily_halt_resets:
            self.halt_reasons.pop(ReasonCode.DAILY_LOSS_LIMIT, None)
        self.reduce_reasons.pop(ReasonCode.DAILY_LOSS_LIMIT, None)
        return not first

    async def _evaluate_losses(self) -> None:
        now = self.ctx.now_ns()
        if self._roll_day(now):
            await self._recompute_state(None, "new trading day")
        lim = self.limits
        equity = self.portfolio.equity
        self.peak_equity = max(self.peak_equity, equity)
        day_loss = self.day_start_equity - equity
        drawdown = self.peak_equity - equity
        if day_loss >= lim["daily_loss"] and ReasonCode.DAILY_LOSS_LIMIT not in self.halt_reasons:
            await self._halt(ReasonCode.DAILY_LOSS_LIMIT, f"lost {day_loss} today (limit {lim['daily_loss']})")
        if drawdown >= lim["drawdown"] and ReasonCode.MAX_DRAWDOWN not in self.halt_reasons:
            await self._halt(ReasonCode.MAX_DRAWDOWN, f"drawdown {drawdown} from peak {self.peak_equity}")
        soft = self.config.soft_daily_loss_fraction
        code = ReasonCode.DAILY_LOSS_LIMIT
        if soft is not None and day_loss >= self.config.bankroll * soft and code not in self.reduce_reasons:
            self.reduce_reasons[code] = f"lost {day_loss} today: reducing"
            await self._recompute_state(code, self.reduce_reasons[code])

    async def _on_command(self, cmd: Command) -> None:
        on = cmd.args.get("on", "true").strip().lower() in ("1", "true", "yes", "on")
        reason = cmd.args.get("reason", "")
        if cmd.name == "kill_switch":
            if on:
                mismatch = reason == ReasonCode.CLIENT_MISMATCH.value
                code = ReasonCode.CLIENT_MISMATCH if mismatch else ReasonCode.KILL_SWITCH
                await self._halt(code, f"kill switch from {cmd.args.get('by', 'operator')}: {reason or 'manual'}")
                if code is not ReasonCode.KILL_SWITCH:
                    self.halt_reasons.setdefault(ReasonCode.KILL_SWITCH, "kill switch")
            else:
                self.halt_reasons.pop(ReasonCode.KILL_SWITCH, None)
                self.halt_reasons.pop(ReasonCode.CLIENT_MISMATCH, None)
                await self._recompute_state(ReasonCode.KILL_SWITCH, "kill switch released")
        elif cmd.name == "reduce_only":
            if on:
                self.reduce_reasons[ReasonCode.REDUCE_ONLY] = "operator asked to reduce only"
            else:
                self.reduce_reasons.pop(ReasonCode.REDUCE_ONLY, None)
            await self._recompute_state(ReasonCode.REDUCE_ONLY, f"reduce_only {'on' if on else 'off'}")
        elif cmd.name == "state_query":
            # a (re)started trader asks for the current state before it sends anything
            await self._publish_state(None, f"state asked by {cmd.args.get('by', 'someone')}", force=True)
        elif cmd.name == "resume":
            # an operator's explicit word lifts every cause, including drawdown and failures
            self.halt_reasons.clear()
            self.reduce_reasons.clear()
            self.failures.clear()
            self.cooldown_until = 0
            self.peak_equity = self.portfolio.equity
            self.day_start_equity = self.portfolio.equity
            await self._recompute_state(None, "resumed by operator")

    async def _halt(self, code: ReasonCode, detail: str) -> None:
        # state first, published at once; the record of it follows (and is retried if it must be)
        self.halt_reasons[code] = detail
        await self._recompute_state(code, detail)
        await self._event(code, "CRITICAL", detail)

    async def _recompute_state(self, code: ReasonCode | None, detail: str) -> None:
        new = (
            TradingState.HALTED
            if self.halt_reasons
            else TradingState.REDUCING
            if self.reduce_reasons
            else TradingState.ACTIVE
        )
        if new is not self.state:
            await self._publish_state(code, detail, new=new)

    async def _publish_state(
        self, code: ReasonCode | None, detail: str, *, new: TradingState | None = None, force: bool = False
    ) -> None:
        prev = self.state
        if new is not None:
            self.state = new
        if not force and new is None:
            return
        msg = TradingStateChange(
            time_ns=self.ctx.now_ns(), state=self.state, previous=prev, reason=code, detail=detail[:1000]
        )
        self.ctx.publish(msg)
        await self._journal(msg)
        self.ctx.log.info("trading state %s -> %s (%s)", prev, self.state, detail)

    async def _event(self, code: ReasonCode, severity: str, detail: str) -> None:
        ev = RiskEvent(
            time_ns=self.ctx.now_ns(),
            code=code,
            severity=severity,  # type: ignore[arg-type]
            detail=detail[:1000],
            state=TradingState.HALTED if severity == "CRITICAL" else self.state,
        )
        self.ctx.publish(ev)
        await self._journal(ev)

    async def _journal(self, payload: Payload) -> None:
        """Record, never block a decision on it: a journal that is away gets the record later."""
        j = self.ctx.journal
        if j is None:
            return
        if self.unjournalled:
            self._queue_record(payload)
            return
        try:
            await j.record(payload, agent=self.agent_id)
        except JournalUnavailable as exc:
            self.ctx.log.warning("journal away (%s): keeping records until it is back", exc)
            self._queue_record(payload)

    def _queue_record(self, payload: Payload) -> None:
        if len(self.unjournalled) >= self.config.max_unjournalled:
            self.unjournalled.popleft()
            self.journal_dropped += 1
            self.ctx.metric("risk_journal_dropped", 1, "counter")
        was_empty = not self.unjournalled
        self.unjournalled.append(payload)
        if was_empty:
            self._journal_attempt = 0
            self._schedule_journal_retry()

    def _schedule_journal_retry(self) -> None:
        self._journal_attempt += 1
        c = self.config
        delay = backoff_ns(self._journal_attempt, c.journal_retry_ns, c.journal_retry_cap_ns,
                           jitter=0.2, rng=self.ctx.rng)
        self.ctx.set_timer("journal_retry", delay)

    async def _flush_unjournalled(self) -> None:
        j = self.ctx.journal
        if j is not None and not await flush_in_order(j, self.unjournalled, self.agent_id):
            self._schedule_journal_retry()
            return
        self._journal_attempt = 0

    # -- state ------------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        lim = self.limits
        by_market, by_event, total = self.exposures()
        equity = self.portfolio.equity
        return {
            "role": self.role,
            "state": self.state.value,
            "halted_by": {k.value: v for k, v in self.halt_reasons.items()},
            "reducing_by": {k.value: v for k, v in self.reduce_reasons.items()},
            "equity": str(equity),
            "day_pnl": str(equity - self.day_start_equity),
            "drawdown": str(self.peak_equity - equity),
            "exposure_total": f"{total} / {lim['total']}",
            "exposure_top_markets": {m: str(v) for m, v in sorted(by_market.items(), key=lambda x: -x[1])[:5]},
            "exposure_top_events": {e: str(v) for e, v in sorted(by_event.items(), key=lambda x: -x[1])[:5]},
            "trades_today": f"{self.trades_today} / {self.config.max_trades_per_day}",
            "loss_streak": self.loss_streak,
            "cooldown_until_ns": self.cooldown_until or None,
            "recent_failures": len(self.failures),
            "decisions": dict(sorted(self.counts.items())),
            "duplicate_intents": self.duplicate_intents,
            "decided_remembered": len(self.decided),
            "decided_evicted": self.decided_evicted,
            "unjournalled": len(self.unjournalled),
            "journal_dropped": self.journal_dropped,
            "book_rebuilt": self._rebuilt,
            "book_vs_venue": self.book_vs_venue,
            "portfolio_risk": self._portfolio_risk_or_error(),
            "strategy_pnl": {k: str(v) for k, v in self.strategy_pnl().items()},
            "strategy_correlation": self.strategy_correlation(),
            "strategy_days": len(self.strategy_days),
        }

    def snapshot(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "halt_reasons": {k.value: v for k, v in self.halt_reasons.items()},
            "reduce_reasons": {k.value: v for k, v in self.reduce_reasons.items()},
            "portfolio": self.portfolio.snapshot(),
            "reservations": {k: r.dump() for k, r in self.reservations.items()},
            "closed": sorted(self.closed),
            "decided": self.decided,
            "duplicate_intents": self.duplicate_intents,
            "decided_evicted": self.decided_evicted,
            "day": self.day,
            "day_start_equity": str(self.day_start_equity),
            "peak_equity": str(self.peak_equity),
            "trades_today": self.trades_today,
            "loss_streak": self.loss_streak,
            "cooldown_until": self.cooldown_until,
            "loss_counted": sorted(self.loss_counted),
            "failures": [[t, c] for t, c in self.failures],
            "failed_coids": sorted(self.failed_coids),
            "sent_at": self.sent_at,
            "acked": sorted(self.acked),
            "token_market": self.token_market,
            "market_event": self.market_event,
            "counts": self.counts,
            "coid_strategy": self.coid_strategy,
            "strategy_days": list(self.strategy_days),
            "strategy_day_start": {k: str(v) for k, v in self.strategy_day_start.items()},
            "var_peak": self.var_peak,
        }

    def restore(self, state: dict[str, Any]) -> None:
        if not state:
            return
        self.state = TradingState(state["state"])
        self.halt_reasons = {ReasonCode(k): v for k, v in state.get("halt_reasons", {}).items()}
        self.reduce_reasons = {ReasonCode(k): v for k, v in state.get("reduce_reasons", {}).items()}
        self.portfolio = Portfolio.from_snapshot(state["portfolio"])
        self.reservations = {k: _Reservation.load(v) for k, v in state.get("reservations", {}).items()}
        self.closed = set(state.get("closed", []))
        dec = state.get("decided", {})
        self.decided = {str(k): int(v) for k, v in dec.items()} if isinstance(dec, dict) else dict.fromkeys(dec, 0)
        self.duplicate_intents = int(state.get("duplicate_intents", 0))
        self.decided_evicted = int(state.get("decided_evicted", 0))
        self.day = int(state.get("day", -1))
        self.day_start_equity = Decimal(state.get("day_start_equity", str(self.config.bankroll)))
        self.peak_equity = Decimal(state.get("peak_equity", str(self.config.bankroll)))
        self.trades_today = int(state.get("trades_today", 0))
        self.loss_streak = int(state.get("loss_streak", 0))
        self.cooldown_until = int(state.get("cooldown_until", 0))
        self.loss_counted = set(state.get("loss_counted", []))
        self.failures = deque((int(t), str(c)) for t, c in state.get("failures", []))
        self.failed_coids = set(state.get("failed_coids", []))
        # sent_at is not restored: an acknowledgement the old incarnation awaited will not come again
        self.acked = set(state.get("acked", []))
        self.token_market = dict(state.get("token_market", {}))
        self.market_event = dict(state.get("market_event", {}))
        self.counts = dict(state.get("counts", {}))
        self.coid_strategy = {str(k): str(v) for k, v in state.get("coid_strategy", {}).items()}
        self.strategy_days = deque(
            ({str(k): float(v) for k, v in d.items()} for d in state.get("strategy_days", [])), maxlen=90
        )
        self.strategy_day_start = {str(k): Decimal(v) for k, v in state.get("strategy_day_start", {}).items()}
        self.var_peak = float(state.get("var_peak", 0.0))
        self._restored = True  # kept for status; the book is rebuilt on every start all the same
