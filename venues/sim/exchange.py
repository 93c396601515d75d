"""The simulated Polymarket CLOB: one matching engine shared by every account.

Matching (see ``book.py`` for why one YES-space book per condition):

* A BUY YES at p crosses a SELL YES at ≤ p (transfer) **and** a BUY NO at q with p + q ≥ 1: the
  two buys are filled by minting complete sets. A SELL YES at p crosses a BUY YES at ≥ p and a
  SELL NO at r with p + r ≤ 1: the two sells merge complete sets back into cash. NO↔NO transfers
  are the mirror. One price-time queue per side covers all four cases.
* **Price rule**: a trade executes at the resting (maker) order's price. The maker gets exactly
  its own limit; the taker gets the mirror of it on a complement match (pays 1 − q for YES
  against a resting BUY NO at q) and keeps any price improvement. The maker is always the
  resting order, the taker always the arriving one.
* **Fees**: the market's ``FeeSchedule`` through the one fee model (``protocols.fees``, which
  states the rounding): takers pay it at their own fill price, in cash; makers pay nothing and
  accrue the schedule's ``rebate_rate`` share of the taker's fee as a rebate
  (``protocols.fees.maker_rebate``), paid out by ``pay_rebates`` (Polymarket pays daily).
* **Reservations**: a resting BUY reserves ``price × remaining`` cash, a resting SELL its
  remaining shares. An arriving BUY that would cross must also cover the fee at its limit price,
  which bounds the fee of any set of fills at better prices (cost + fee rises with price).
* **Self-trades** are allowed (Polymarket does not prevent them).

Everything inside is integers: prices and cash in micro-units, sizes in micro-shares. Sizes must
sit on ``size_step`` (0.01 shares by default), which makes every notional exact.

Rejections never raise and never change state: ``submit`` returns a REJECTED ``OrderEvent`` with a
``ReasonCode``. Account operations (split, merge, conversion) raise ``SimRejected`` — also without
changing anything — because they have no order to report on.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from protocols import (
    Balance,
    BookSnapshot,
    Fill,
    Liquidity,
    MarketClosed,
    MarketInfo,
    MarketResolved,
    OrderEvent,
    OrderRequest,
    OrderStatus,
    Payload,
    Position,
    ReasonCode,
    Scheduler,
    Settlement,
    Side,
    TickSizeChange,
    TimeInForce,
    TopOfBook,
    TradePrint,
)
from protocols.book import hash_hex
from protocols.numbers import TICK_SIZES
from venues.sim import market_data as md
from venues.sim.book import (
    CANCELLED,
    EXPIRED,
    FAK,
    FILLED,
    FOK,
    GTC,
    GTD,
    LIVE,
    ONE,
    Order,
)
from venues.sim.config import SimExchangeConfig
from venues.sim.market_data import Published, construct, dec, raw
from venues.sim.state import (
    Account,
    FillRecord,
    MarketState,
    NegRiskEvent,
    SimRejected,
    micro_or_raise,
    to_micro,
)

Listener = Callable[[Payload], None]
log = logging.getLogger(__name__)

_TICK_CENT = 10_000  # 0.01
_LOW, _HIGH = 40_000, 960_000  # where the live CLOB moves a 0.01 tick to 0.001
_TIF = {TimeInForce.GTC: GTC, TimeInForce.GTD: GTD, TimeInForce.FOK: FOK, TimeInForce.FAK: FAK}
_PARTIAL, _ACKED = OrderStatus.PARTIALLY_FILLED, OrderStatus.ACKNOWLEDGED
_BUY, _SELL = Side.BUY, Side.SELL
_STATUS = {FILLED: OrderStatus.FILLED, CANCELLED: OrderStatus.CANCELLED, EXPIRED: OrderStatus.EXPIRED}
UNKNOWN = "UNKNOWN"


class SimExchange:
    """The matching engine and ledger of the simulated venue. See the module docstring."""

    def __init__(self, config: SimExchangeConfig | None = None, scheduler: Scheduler | None = None) -> None:
        self.config = config or SimExchangeConfig()
        self._scheduler = scheduler
        self._clock_ns = self.config.start_ns
        step = to_micro(self.config.size_step)
        assert step is not None
        self._step = step
        self._markets: dict[str, MarketState] = {}
        self._tokens: dict[str, tuple[MarketState, bool]] = {}
        self._events: dict[str, NegRiskEvent] = {}
        self._accounts: dict[str, Account] = {}
        self._oid = 0
        self._trade_seq = 0
        self._fee_pool = 0
        self._deposits = 0
        self._gtd: list[tuple[int, int, Order]] = []
        self._next_rebate_ns: int | None = None
        if self.config.rebate_interval_ns is not None:
            self._next_rebate_ns = self._now() + self.config.rebate_interval_ns
        # listeners and the per-operation output buffer
        self._all: list[Listener] = []
        self._md: list[Listener] = []
        self._acct_listeners: dict[str, list[Listener]] = {}
        self._out: list[tuple[str | None, Payload]] = []
        self._touched: dict[str, set[tuple[bool, int]]] = {}
        self._flushing = False
        self._pub = False  # anyone listening to market data
        self.listener_errors = 0
        self._auto_tick = self.config.auto_tick_extremes
        self._tick_due: set[str] = set()
        self._watch_all = False  # anyone listening to every account

    # ------------------------------------------------------------------ clock
    def _now(self) -> int:
        s = self._scheduler
        return s.now_ns() if s is not None else self._clock_ns

    def now_ns(self) -> int:
        return self._now()

    def set_time(self, now_ns: int) -> None:
        """Advance the exchange's own clock (only without a scheduler); expires due GTD orders."""
        if self._scheduler is not None:
            raise RuntimeError("the exchange runs on its scheduler's clock; set_time is for standalone use")
        if now_ns < self._clock_ns:
            raise ValueError(f"time must not go backwards ({now_ns} < {self._clock_ns})")
        self._clock_ns = now_ns
        self._housekeep(now_ns)
        self._end()

    def expire_gtd(self, now_ns: int | None = None) -> None:
        """Expire every GTD order whose effective expiry is at or before ``now_ns`` (default: now)."""
        self._housekeep(self._now() if now_ns is None else now_ns)
        self._end()

    def _housekeep(self, now: int) -> None:
        """Time-driven work due at ``now``: GTD expiries, periodic rebate payouts."""
        heap = self._gtd
        while heap and heap[0][0] <= now:
            _, _, o = heapq.heappop(heap)
            if o.status == LIVE:
                self._unrest(o, EXPIRED, ReasonCode.EXPIRED, now)
        if self._next_rebate_ns is not None and now >= self._next_rebate_ns:
            interval = self.config.rebate_interval_ns
            assert interval is not None
            while self._next_rebate_ns <= now:
                self._next_rebate_ns += interval
            self._pay_rebates(now)

    # ------------------------------------------------------------------ listeners
    def add_listener(self, fn: Listener) -> None:
        """Receive every event, public and private (journal, loopback server)."""
        self._all.append(fn)
        self._listeners_changed()

    def add_market_data_listener(self, fn: Listener) -> None:
        """Receive public market data: snapshots, deltas, trade prints, tick changes, close, resolution."""
        self._md.append(fn)
        self._listeners_changed()

    def add_account_listener(self, account: str, fn: Listener) -> None:
        """Receive one account's private events: order events, fills, settlements, balances."""
        self._acct_listeners.setdefault(account, []).append(fn)
        self._listeners_changed()

    def remove_listener(self, fn: Listener) -> None:
        for lst in (self._all, self._md, *self._acct_listeners.values()):
            while fn in lst:
                lst.remove(fn)
        self._listeners_changed()

    def _wants(self, account: str) -> bool:
        return self._watch_all or account in self._acct_listeners

    def _public(self) -> bool:
        return self._pub

    @property
    def publishing(self) -> bool:
        """Whether anyone listens to market data (only then are deltas and prints built)."""
        return self._pub

    def _listeners_changed(self) -> None:
        """Recompute the flags the hot path checks; (re)start tracking what the feed published."""
        self._acct_listeners = {a: lst for a, lst in self._acct_listeners.items() if lst}
        self._watch_all = bool(self._all)
        pub = bool(self._all or self._md)
        if pub and not self._pub:
            for m in self._markets.values():
                m.pub = Published(m.yes, m.no, m.book)
        elif not pub:
            for m in self._markets.values():
                m.pub = None
        self._pub = pub

    def _emit(self, account: str | None, payload: Payload) -> None:
        self._out.append((account, payload))

    def _touch(self, m: MarketState, is_bid: bool, yp: int) -> None:
        t = self._touched.get(m.market)
        if t is None:
            t = self._touched[m.market] = set()
        t.add((is_bid, yp))

    def _end(self) -> None:
        """Close an operation: emit book deltas for touched levels, then deliver buffered events.

        Events go out only after the state change is complete, so a listener that acts on one
        (even by calling back into the exchange) sees a consistent venue. A listener that raises is
        logged and counted (``listener_errors``); the other listeners still get every event.
        """
        self._emit_deltas()
        if self._out and not self._flushing:
            self._flushing = True
            try:
                i = 0
                while i < len(self._out):  # listeners may cause more events; keep their order
                    account, payload = self._out[i]
                    i += 1
                    targets = self._md if account is None else self._acct_listeners.get(account, ())
                    for fn in (*self._all, *targets):
                        try:
                            fn(payload)
                        except Exception:
                            self.listener_errors += 1
                            log.exception("sim exchange listener %r failed on %s", fn, type(payload).__name__)
            finally:
                self._out.clear()
                self._flushing = False

    def _emit_deltas(self) -> None:
        if not self._touched:
            return
        touched, self._touched = self._touched, {}
        if not self._pub:
            return
        now = self._now()
        hashes = self.config.book_hashes
        for mid, levels in touched.items():
            m = self._markets[mid]
            pub = m.pub
            assert pub is not None
            changed = pub.apply(m.book, levels)
            if not changed:
                continue
            for token, is_yes, acc in ((m.yes, True, pub.yes_acc), (m.no, False, pub.no_acc)):
                seq = m.seq[token] = m.seq[token] + 1
                self._emit(
                    None,
                    md.delta(
                        time_ns=now,
                        market=mid,
                        token_id=token,
                        is_yes=is_yes,
                        book=m.book,
                        changed=changed,
                        seq=seq,
                        book_hash_hex=hash_hex(acc) if hashes else "",
                    ),
                )

    # ------------------------------------------------------------------ markets
    def add_market(self, info: MarketInfo) -> None:
        """List a binary market. Tick, minimum size, fee curve and neg-risk flags come from ``info``."""
        if info.market in self._markets:
            raise ValueError(f"market {info.market!r} is already listed")
        for t in info.token_ids:
            if t in self._tokens:
                raise ValueError(f"token {t!r} is already listed")
        if info.tick_size not in TICK_SIZES:
            raise ValueError(f"tick_size {info.tick_size} is not a CLOB tick")
        min_size = info.min_order_size if info.min_order_size > 0 else self.config.default_min_order_size
        tick = to_micro(info.tick_size)
        ms = to_micro(min_size)
        if tick is None or ms is None:
            raise ValueError("tick_size and min_order_size must be multiples of 1e-6")
        m = MarketState(
            info=info,
            market=info.market,
            yes=info.token_ids[0],
            no=info.token_ids[1],
            tick=tick,
            min_size=ms,
            fee=info.fees.micro,
            event_id=info.event_id,
            neg_risk=info.neg_risk,
        )
        m.seq = {m.yes: 1, m.no: 1}  # a numbered feed starts at 1 (0 means "not numbered")
        if self._pub:
            m.pub = Published(m.yes, m.no, m.book)
        self._markets[info.market] = m
        self._tokens[m.yes] = (m, True)
        self._tokens[m.no] = (m, False)
        if info.closed:
            m.closed = True

    def add_neg_risk_event(self, event_id: str, markets: list[MarketInfo], augmented: bool = False) -> None:
        """Group N ≥ 2 mutually exclusive markets into a neg-risk event (lists those not yet listed).

        ``augmented`` marks an event whose outcome list can grow ("Other" may change meaning); its
        named YES prices may sum below 1 by construction, which is not an arbitrage.
        """
        if event_id in self._events:
            raise ValueError(f"neg-risk event {event_id!r} already exists")
        if len(markets) < 2:
            raise ValueError("a neg-risk event needs at least two markets")
        ids = [m.market for m in markets]
        if len(set(ids)) != len(ids):
            raise ValueError("a neg-risk event lists a market twice")
        for info in markets:
            have = self._markets.get(info.market)
            if have is not None and have.event_id not in ("", event_id):
                raise ValueError(f"market {info.market!r} belongs to event {have.event_id!r}")
        for info in markets:
            if info.market not in self._markets:
                self.add_market(
                    info.model_copy(update={"neg_risk": True, "event_id": event_id, "neg_risk_augmented": augmented})
                )
            m = self._markets[info.market]
            m.event_id, m.neg_risk = event_id, True
            m.info = m.info.model_copy(update={"neg_risk": True, "event_id": event_id, "neg_risk_augmented": augmented})
        self._events[event_id] = NegRiskEvent(event_id, ids, augmented)

    def markets(self) -> list[MarketInfo]:
        return [m.info for m in self._markets.values()]

    def market_info(self, market_or_token: str) -> MarketInfo | None:
        m = self._markets.get(market_or_token)
        if m is None:
            t = self._tokens.get(market_or_token)
            m = t[0] if t else None
        return None if m is None else m.info

    def neg_risk_event(self, event_id: str) -> tuple[list[str], bool]:
        """(market ids, augmented) of a neg-risk event."""
        ev = self._events[event_id]
        return list(ev.markets), ev.augmented

    def set_tick_size(self, market: str, tick: Decimal) -> None:
        """Change a market's tick (Polymarket does near 0.04/0.96).

        Orders off the new grid (only possible when the tick grows) are cancelled with
        INVALID_TICK. Emits ``TickSizeChange`` for both tokens, then a fresh snapshot of each, since
        a consumer must drop its book and rebuild it.
        """
        m = self._markets[market]
        if tick not in TICK_SIZES:
            raise ValueError(f"tick_size {tick} is not a CLOB tick")
        new = to_micro(tick)
        assert new is not None
        now = self._now()
        self._housekeep(now)
        old = m.tick
        if new == old:
            self._end()
            return
        for o in m.book.live_orders():
            if o.price % new:
                self._unrest(o, CANCELLED, ReasonCode.INVALID_TICK, now)
        self._touched.pop(market, None)  # the snapshot below replaces the deltas
        if self._pub:
            m.pub = Published(m.yes, m.no, m.book)
        m.tick = new
        m.info = m.info.model_copy(update={"tick_size": tick})
        if self._public():
            for token in (m.yes, m.no):
                self._emit(
                    None,
                    construct(
                        TickSizeChange,
                        time_ns=now,
                        token_id=token,
                        market=market,
                        old_tick_size=dec(old),
                        new_tick_size=tick,
                    ),
                )
            for token in (m.yes, m.no):
                m.seq[token] += 1
                self._emit(None, self._snapshot(m, token, now))
        self._end()

    def close_market(self, market: str) -> list[OrderEvent]:
        """Stop trading: cancel every open order (MARKET_CLOSED) and refuse new ones."""
        m = self._markets[market]
        now = self._now()
        self._housekeep(now)
        out = self._close(m, now)
        self._end()
        return out

    def _close(self, m: MarketState, now: int) -> list[OrderEvent]:
        if m.closed and not m.book.bids and not m.book.asks:
            return []
        out = []
        for o in sorted(m.book.live_orders(), key=lambda o: o.oid):
            self._unrest(o, CANCELLED, ReasonCode.MARKET_CLOSED, now)
            out.append(self._event(o, now))
        self._emit_deltas()
        if not m.closed:
            m.closed = True
            m.info = m.info.model_copy(update={"closed": True, "active": False})
            if self._public():
                self._emit(None, construct(MarketClosed, time_ns=now, market=m.market))
        return out

    def resolve(self, market: str, winning_token_id: str | None) -> list[Settlement]:
        """Resolve and settle every account: the winner pays 1, the loser 0; None ("unknown") pays
        0.5 each. Closes the market first if needed. Emits a Settlement per account and token held,
        then MarketResolved."""
        m = self._markets[market]
        if m.resolved:
            raise ValueError(f"market {market!r} is already resolved")
        if winning_token_id not in (None, m.yes, m.no):
            raise ValueError(f"winning token {winning_token_id!r} is not a token of {market!r}")
        now = self._now()
        self._housekeep(now)
        self._close(m, now)
        m.resolved = True
        if winning_token_id is None:
            pay = {m.yes: ONE // 2, m.no: ONE // 2}
        else:
            pay = {m.yes: 0, m.no: 0}
            pay[winning_token_id] = ONE
        settlements: list[Settlement] = []
        for name, acct in self._accounts.items():
            for token in (m.yes, m.no):
                size = acct.shares.get(token, 0)
                if size == 0:
                    continue
                cash = pay[token] * size // ONE
                acct.shares[token] = 0
                acct.cash += cash
                self._realize(acct, token, size, cash)
                s = construct(
                    Settlement,
                    time_ns=now,
                    account=name,
                    market=market,
                    token_id=token,
                    size=dec(size),
                    payout_per_share=dec(pay[token]),
                    cash=dec(cash),
                )
                settlements.append(s)
                if self._wants(name):
                    self._emit(name, s)
        if self._public():
            self._emit(None, construct(MarketResolved, time_ns=now, market=market, winning_token_id=winning_token_id))
        self._end()
        return settlements

    def resolve_event(self, event_id: str, winning_market: str | None) -> list[Settlement]:
        """Resolve every market of a neg-risk event: YES of ``winning_market`` wins, NO elsewhere.
        ``None`` means no listed outcome won (every NO wins), as when "Other" wins an augmented event."""
        ev = self._events[event_id]
        if winning_market is not None and winning_market not in ev.markets:
            raise ValueError(f"market {winning_market!r} is not in event {event_id!r}")
        out: list[Settlement] = []
        for mid in ev.markets:
            m = self._markets[mid]
            out.extend(self.resolve(mid, m.yes if mid == winning_market else m.no))
        return out

    # ------------------------------------------------------------------ accounts
    def open_account(self, account: str, cash: Decimal | int | str = 0) -> None:
        if not account:
            raise ValueError("account must not be empty")
        if account in self._accounts:
            raise ValueError(f"account {account!r} already exists")
        c = micro_or_raise(cash, "cash")
        if c < 0:
            raise ValueError("opening cash must not be negative")
        self._accounts[account] = Account(c)
        self._deposits += c

    def has_account(self, account: str) -> bool:
        return account in self._accounts

    def deposit(self, account: str, cash: Decimal | int | str) -> None:
        c = micro_or_raise(cash, "cash")
        if c <= 0:
            raise SimRejected(ReasonCode.INVALID_SIZE, f"deposit must be positive, got {cash}")
        acct = self._acct(account)
        acct.cash += c
        acct.deposits += c
        self._deposits += c
        self._balance_event(account, acct)
        self._end()

    def _tick(self) -> None:
        """Do the time-driven work due now (and deliver its events) before an account operation,
        so the operation sees the venue as of now and a refusal leaves nothing half-done."""
        self._housekeep(self._now())
        self._end()

    def _acct(self, account: str) -> Account:
        acct = self._accounts.get(account)
        if acct is None:
            raise SimRejected(ReasonCode.INSUFFICIENT_BALANCE, f"unknown account {account!r}")
        return acct

    def _shares_size(self, size: Decimal | int | str) -> int:
        q = micro_or_raise(size, "size")
        if q <= 0 or q % self._step:
            raise SimRejected(
                ReasonCode.INVALID_SIZE, f"size {size} must be positive and a multiple of {self.config.size_step}"
            )
        return q

    def _open_market(self, market: str) -> MarketState:
        m = self._markets.get(market)
        if m is None:
            raise SimRejected(ReasonCode.UNKNOWN_TOKEN, f"unknown market {market!r}")
        if m.closed:
            raise SimRejected(ReasonCode.MARKET_CLOSED, f"market {market!r} is closed")
        return m

    def split(self, account: str, market: str, size: Decimal | int | str) -> None:
        """1 pUSD → 1 YES + 1 NO per share (basis 0.5 each)."""
        self._tick()
        acct = self._acct(account)
        m = self._open_market(market)
        q = self._shares_size(size)
        if acct.cash - acct.reserved_cash < q:
            raise SimRejected(ReasonCode.INSUFFICIENT_BALANCE, f"split of {size} needs {dec(q)} free cash")
        acct.cash -= q
        for t in (m.yes, m.no):
            self._acquire(acct, t, q, q // 2)
        self._balance_event(account, acct)
        self._end()

    def merge(self, account: str, market: str, size: Decimal | int | str) -> None:
        """1 YES + 1 NO → 1 pUSD per share."""
        self._tick()
        acct = self._acct(account)
        m = self._open_market(market)
        q = self._shares_size(size)
        for t in (m.yes, m.no):
            if acct.shares.get(t, 0) - acct.reserved.get(t, 0) < q:
                raise SimRejected(ReasonCode.INSUFFICIENT_BALANCE, f"merge of {size} needs {size} free {t}")
        for t in (m.yes, m.no):
            self._dispose(acct, t, q, q // 2)
        acct.cash += q
        self._balance_event(account, acct)
        self._end()

    def convert_neg_risk(
        self, account: str, event_id: str, no_token_ids: Iterable[str], size: Decimal | int | str
    ) -> None:
        """Convert ``size`` NO of each of M markets of an N-market neg-risk event into ``size`` YES
        of each of the other N − M markets plus (M − 1) × ``size`` pUSD. Payout is unchanged in
        every outcome, which is why the adapter can do it."""
        self._tick()
        acct = self._acct(account)
        ev = self._events.get(event_id)
        if ev is None:
            raise SimRejected(ReasonCode.UNKNOWN_TOKEN, f"unknown neg-risk event {event_id!r}")
        nos = list(no_token_ids)
        if not nos or len(set(nos)) != len(nos):
            raise SimRejected(ReasonCode.UNKNOWN_TOKEN, "conversion needs distinct NO tokens")
        chosen: set[str] = set()
        for t in nos:
            hit = self._tokens.get(t)
            if hit is None or hit[1] or hit[0].market not in ev.markets:
                raise SimRejected(ReasonCode.UNKNOWN_TOKEN, f"{t!r} is not a NO token of event {event_id!r}")
            chosen.add(hit[0].market)
        for mid in ev.markets:
            if self._markets[mid].resolved or self._markets[mid].closed:
                raise SimRejected(ReasonCode.MARKET_CLOSED, f"market {mid!r} of the event is closed")
        q = self._shares_size(size)
        for t in nos:
            if acct.shares.get(t, 0) - acct.reserved.get(t, 0) < q:
                raise SimRejected(ReasonCode.INSUFFICIENT_BALANCE, f"conversion needs {size} free {t}")
        n_m = len(nos)
        cash = (n_m - 1) * q
        for t in nos:
            self._dispose(acct, t, q, cash // n_m)
        for mid in ev.markets:
            if mid not in chosen:
                self._acquire(acct, self._markets[mid].yes, q, 0)
        acct.cash += cash
        self._balance_event(account, acct)
        self._end()

    def pay_rebates(self) -> dict[str, Decimal]:
        """Pay every account its accrued maker rebates from the fee pool; returns what was paid."""
        now = self._now()
        self._housekeep(now)
        paid = self._pay_rebates(now)
        self._end()
        return paid

    def _pay_rebates(self, now: int) -> dict[str, Decimal]:
        paid: dict[str, Decimal] = {}
        for name, acct in self._accounts.items():
            if acct.rebates:
                r, acct.rebates = acct.rebates, 0
                acct.cash += r
                self._fee_pool -= r
                paid[name] = dec(r)
                self._balance_event(name, acct)
        return paid

    def _balance_event(self, name: str, acct: Account) -> None:
        if self._wants(name):
            self._emit(
                name,
                construct(
                    Balance, time_ns=self._now(), account=name, cash=dec(acct.cash), reserved=dec(acct.reserved_cash)
                ),
            )

    # position book-keeping: cost basis and realized PnL per token (micro-pUSD)
    @staticmethod
    def _acquire(acct: Account, token: str, q: int, cost: int) -> None:
        acct.shares[token] = acct.shares.get(token, 0) + q
        acct.basis[token] = acct.basis.get(token, 0) + cost

    @staticmethod
    def _dispose(acct: Account, token: str, q: int, proceeds: int) -> None:
        held = acct.shares[token]
        basis = acct.basis.get(token, 0)
        removed = basis * q // held
        acct.shares[token] = held - q
        acct.basis[token] = basis - removed
        acct.realized[token] = acct.realized.get(token, 0) + proceeds - removed

    @staticmethod
    def _realize(acct: Account, token: str, size: int, cash: int) -> None:
        acct.realized[token] = acct.realized.get(token, 0) + cash - acct.basis.get(token, 0)
        acct.basis[token] = 0

    # ------------------------------------------------------------------ orders
    def submit(self, account: str, req: OrderRequest) -> OrderEvent:
        """Place one order now (no latency). Never raises for a bad order: REJECTED + reason."""
        now = self._now()
        if (self._gtd and self._gtd[0][0] <= now) or self._next_rebate_ns is not None:
            self._housekeep(now)
        price = to_micro(req.price)
        size = to_micro(req.size)
        if account != req.account:
            res: Order | tuple[ReasonCode, str] = (
                ReasonCode.VENUE_ERROR,
                f"request account {req.account!r} is not {account!r}",
            )
        elif price is None:
            res = (ReasonCode.INVALID_TICK, f"price {req.price} is finer than the smallest tick")
        elif size is None:
            res = (ReasonCode.INVALID_SIZE, f"size {req.size} has more precision than 1e-6")
        else:
            res = self._place(
                account,
                req.client_order_id,
                req.token_id,
                req.side is Side.BUY,
                price,
                size,
                _TIF[req.tif],
                req.post_only,
                req.expires_ns,
                now,
                req.market,
            )
        if isinstance(res, Order):
            ev = self._event(res, now)
        else:
            ev = construct(
                OrderEvent,
                time_ns=now,
                client_order_id=req.client_order_id,
                venue_order_id="",
                account=req.account,
                token_id=req.token_id,
                market=req.market,
                side=req.side,
                price=req.price,
                size=req.size,
                status=OrderStatus.REJECTED,
                filled=Decimal(0),
                reason=res[0],
                message=res[1],
            )
        if self._watch_all or account in self._acct_listeners:
            self._emit(account, ev)
        if self._out or self._touched:
            self._end()
        if self._tick_due:
            self._apply_auto_ticks()
        return ev

    def _apply_auto_ticks(self) -> None:
        due, self._tick_due = sorted(self._tick_due), set()
        for market in due:
            self.set_tick_size(market, Decimal("0.001"))

    def submit_fast(
        self,
        account: str,
        client_order_id: str,
        token_id: str,
        is_buy: bool,
        price: int,
        size: int,
        tif: int = GTC,
        post_only: bool = False,
        expires_ns: int | None = None,
    ) -> tuple[int, int, ReasonCode | None]:
        """The engine without pydantic at the edge: micro-unit ints in, ``(state, filled, reason)``
        out (state: book.LIVE/FILLED/CANCELLED/EXPIRED, or -1 when rejected). Same rules, same
        events to listeners; for crowds and benchmarks that place millions of orders."""
        now = self._now()
        if (self._gtd and self._gtd[0][0] <= now) or self._next_rebate_ns is not None:
            self._housekeep(now)
        res = self._place(
            account, client_order_id, token_id, is_buy, price, size, tif, post_only, expires_ns, now, None
        )
        if isinstance(res, Order):
            if self._wants(account):
                self._emit(account, self._event(res, now))
            if self._touched or self._out:
                self._end()
            if self._tick_due:
                self._apply_auto_ticks()
            return res.status, res.filled, None
        if self._out:
            self._end()
        return -1, 0, res[0]

    def _place(
        self,
        account: str,
        coid: str,
        token: str,
        is_buy: bool,
        price: int,
        size: int,
        tif: int,
        post_only: bool,
        expires_ns: int | None,
        now: int,
        market: str | None,
    ) -> Order | tuple[ReasonCode, str]:
        acct = self._accounts.get(account)
        if acct is None:
            return ReasonCode.INSUFFICIENT_BALANCE, f"unknown account {account!r}"
        hit = self._tokens.get(token)
        if hit is None:
            return ReasonCode.UNKNOWN_TOKEN, f"unknown token {token!r}"
        m, is_yes = hit
        if market is not None and market != m.market:
            return ReasonCode.UNKNOWN_TOKEN, f"token {token!r} belongs to market {m.market!r}, not {market!r}"
        if coid in acct.orders:
            return ReasonCode.DUPLICATE_ORDER, f"client order id {coid!r} was already used"
        if m.closed:
            return ReasonCode.MARKET_CLOSED, f"market {m.market!r} is closed"
        if price <= 0 or price >= ONE:
            return ReasonCode.INVALID_PRICE, f"price {dec(price)} must be inside (0, 1)"
        if price % m.tick:
            return ReasonCode.INVALID_TICK, f"price {dec(price)} is off the tick grid {dec(m.tick)}"
        if size <= 0 or size % self._step:
            return ReasonCode.INVALID_SIZE, f"size {dec(size)} is not a multiple of {self.config.size_step}"
        if size < m.min_size:
            return ReasonCode.BELOW_MIN_SIZE, f"size {dec(size)} is below the minimum {dec(m.min_size)}"
        if tif == GTD:
            if expires_ns is None or expires_ns - self.config.gtd_threshold_ns <= now:
                return (
                    ReasonCode.INVALID_EXPIRATION,
                    "GTD expiry must be later than now + the venue's security threshold "
                    f"({self.config.gtd_threshold_ns} ns)",
                )
        elif expires_ns is not None:
            return ReasonCode.INVALID_EXPIRATION, "only GTD orders carry an expiry"
        book = m.book
        is_bid = is_buy == is_yes
        yp = price if is_yes else ONE - price
        if is_bid:
            best = -book.ask_keys[-1] if book.ask_keys else None
            crosses = best is not None and best <= yp
        else:
            best = book.bid_keys[-1] if book.bid_keys else None
            crosses = best is not None and best >= yp
        if post_only and crosses:
            return ReasonCode.POST_ONLY_WOULD_CROSS, f"post-only order at {dec(price)} would take liquidity"
        if is_buy:
            need = price * size // ONE
            if crosses:
                need += m.fee.taker_fee(price, size)
            if acct.cash - acct.reserved_cash < need:
                return ReasonCode.INSUFFICIENT_BALANCE, f"needs {dec(need)} free cash"
        elif acct.shares.get(token, 0) - acct.reserved.get(token, 0) < size:
            return ReasonCode.INSUFFICIENT_BALANCE, f"needs {dec(size)} free shares of {token!r}"
        if tif == FOK and (not crosses or book.crossing_size(is_bid, yp, size) < size):
            return ReasonCode.FOK_NOT_FILLABLE, f"fewer than {dec(size)} shares available at {dec(price)} or better"
        if tif == FAK and not crosses:
            return ReasonCode.FAK_NO_MATCH, f"nothing to match at {dec(price)} or better"
        # accepted: from here on the order exists
        self._oid += 1
        o = Order(
            self._oid, account, coid, m.market, token, is_yes, is_buy, price, size, tif, post_only, expires_ns, now
        )
        acct.orders[coid] = o
        if crosses:
            self._match(m, o, now)
        if o.remaining == 0:
            o.status = FILLED
        elif tif == FAK:
            o.status = CANCELLED
        else:
            book.add(o)
            acct.open[coid] = o
            if is_buy:
                acct.reserved_cash += price * o.remaining // ONE
            else:
                acct.reserved[token] = acct.reserved.get(token, 0) + o.remaining
            if self._pub:
                self._touch(m, is_bid, yp)
            if tif == GTD:
                assert expires_ns is not None
                due = expires_ns - self.config.gtd_threshold_ns
                heapq.heappush(self._gtd, (due, o.oid, o))
                if self._scheduler is not None:
                    self._scheduler.call_at(due, self._on_timer)
        return o

    def _on_timer(self) -> None:
        """A GTD expiry came due on the scheduler."""
        self._tick()

    def _match(self, m: MarketState, t: Order, now: int) -> None:
        book = m.book
        public = bool(self._pub)
        if t.is_bid:
            keys, levels, sign = book.ask_keys, book.asks, -1
        else:
            keys, levels, sign = book.bid_keys, book.bids, 1
        limit = t.yprice
        while t.remaining and keys:
            yp = sign * keys[-1]
            if (yp > limit) if t.is_bid else (yp < limit):
                break
            lvl = levels[yp]
            orders = lvl.orders
            while t.remaining and lvl.live:
                mk = orders[0]
                if mk.status != LIVE:
                    orders.popleft()
                    continue
                q = t.remaining if t.remaining < mk.remaining else mk.remaining
                self._trade(m, t, mk, yp, q, now)
                lvl.total -= q
                if mk.remaining == 0:
                    orders.popleft()
                    lvl.live -= 1
                    mk.status = FILLED
                    del self._accounts[mk.account].open[mk.coid]
                if self._watch_all or mk.account in self._acct_listeners:
                    self._emit(mk.account, self._event(mk, now))
            if public:
                self._touch(m, not t.is_bid, yp)
            if lvl.live == 0:
                keys.pop()
                del levels[yp]

    def _trade(self, m: MarketState, t: Order, mk: Order, yp: int, q: int, now: int) -> None:
        """One fill of ``q`` between taker ``t`` and resting maker ``mk`` at YES-space price ``yp``."""
        ta = self._accounts[t.account]
        ma = self._accounts[mk.account]
        tp = yp if t.is_yes else ONE - yp
        mp = mk.price
        tn = tp * q // ONE
        mn = mp * q // ONE
        fee = m.fee.taker_fee(tp, q)
        tok = t.token
        if t.is_buy:
            ta.cash -= tn + fee
            ta.shares[tok] = ta.shares.get(tok, 0) + q
            ta.basis[tok] = ta.basis.get(tok, 0) + tn + fee
        else:
            ta.cash += tn - fee
            self._dispose(ta, tok, q, tn - fee)
        tok = mk.token
        if mk.is_buy:
            ma.reserved_cash -= mn
            ma.cash -= mn
            ma.shares[tok] = ma.shares.get(tok, 0) + q
            ma.basis[tok] = ma.basis.get(tok, 0) + mn
        else:
            ma.reserved[tok] -= q
            ma.cash += mn
            self._dispose(ma, tok, q, mn)
        if fee:
            self._fee_pool += fee
            ma.rebates += m.fee.rebate(fee)  # the market's rebateRate share, floored to 1e-6
        t.remaining -= q
        t.filled += q
        mk.remaining -= q
        mk.filled += q
        self._trade_seq += 1
        fid = f"sim-{self._trade_seq}"
        tf = (now, fid + "-t", t.coid, t.oid, t.token, m.market, t.is_buy, tp, q, fee, False)
        mf = (now, fid + "-m", mk.coid, mk.oid, mk.token, m.market, mk.is_buy, mp, q, 0, True)
        ta.fills.append(tf)
        ma.fills.append(mf)
        m.last_trade = yp
        if self._auto_tick and m.tick == _TICK_CENT and not _LOW < yp < _HIGH:
            self._tick_due.add(m.market)
        if self._watch_all or t.account in self._acct_listeners:
            self._emit(t.account, self._fill(t.account, tf))
        if self._watch_all or mk.account in self._acct_listeners:
            self._emit(mk.account, self._fill(mk.account, mf))
        if self._pub:
            # a print on every token whose holders traded; side = the taker's, seen from that token
            side = Side.BUY if t.is_buy else Side.SELL
            self._emit(
                None,
                construct(
                    TradePrint,
                    time_ns=now,
                    token_id=t.token,
                    market=m.market,
                    price=dec(tp),
                    size=dec(q),
                    side=side,
                    fee_rate_bps=m.fee.bps,
                ),
            )
            if mk.is_yes != t.is_yes:
                self._emit(
                    None,
                    construct(
                        TradePrint,
                        time_ns=now,
                        token_id=mk.token,
                        market=m.market,
                        price=dec(mp),
                        size=dec(q),
                        side=side.opposite(),
                        fee_rate_bps=m.fee.bps,
                    ),
                )

    def cancel(self, account: str, client_order_id: str) -> OrderEvent:
        """Cancel one open order. An unknown id gives REJECTED/UNKNOWN_ORDER; a finished order is
        reported as it is (FILLED, CANCELLED...) with a message, and nothing changes."""
        now = self._now()
        self._housekeep(now)
        acct = self._accounts.get(account)
        o = acct.orders.get(client_order_id) if acct is not None else None
        if o is None:
            ev = construct(
                OrderEvent,
                time_ns=now,
                client_order_id=client_order_id,
                venue_order_id="",
                account=account,
                token_id=UNKNOWN,
                market=UNKNOWN,
                side=Side.BUY,
                price=Decimal(0),
                size=Decimal(0),
                status=OrderStatus.REJECTED,
                filled=Decimal(0),
                reason=ReasonCode.UNKNOWN_ORDER,
                message=f"no order {client_order_id!r} on this account",
            )
            self._end()
            return ev
        if o.status != LIVE:
            ev = self._event(o, now, message=f"not cancelled: order is already {_STATUS[o.status].value}")
            self._end()
            return ev
        self._unrest(o, CANCELLED, None, now)
        ev = self._event(o, now)
        self._end()
        return ev

    def cancel_fast(self, account: str, client_order_id: str) -> bool:
        """Cancel without building an answer; True if an open order was cancelled."""
        now = self._now()
        if (self._gtd and self._gtd[0][0] <= now) or self._next_rebate_ns is not None:
            self._housekeep(now)
        acct = self._accounts.get(account)
        o = acct.open.get(client_order_id) if acct is not None else None
        if o is not None:
            self._unrest(o, CANCELLED, None, now)
        if self._touched or self._out:
            self._end()
        return o is not None

    def cancel_all(self, account: str, market: str | None = None) -> list[OrderEvent]:
        """Cancel every open order of ``account``; ``market`` (a condition id, or a token id for one
        side) limits it to one market."""
        now = self._now()
        self._housekeep(now)
        acct = self._accounts.get(account)
        out: list[OrderEvent] = []
        if acct is not None:
            for o in list(acct.open.values()):
                if market is None or o.market == market or o.token == market:
                    self._unrest(o, CANCELLED, None, now)
                    out.append(self._event(o, now))
        self._end()
        return out

    def _unrest(self, o: Order, state: int, reason: ReasonCode | None, now: int) -> None:
        """Take a live order off the book: release its reservation, mark it, tell its owner."""
        m = self._markets[o.market]
        m.book.remove(o)
        acct = self._accounts[o.account]
        if o.is_buy:
            acct.reserved_cash -= o.price * o.remaining // ONE
        else:
            acct.reserved[o.token] -= o.remaining
        del acct.open[o.coid]
        o.status = state
        o.reason = reason
        if self._pub:
            self._touch(m, o.is_bid, o.yprice)
        if self._watch_all or o.account in self._acct_listeners:
            self._emit(o.account, self._event(o, now))

    # ------------------------------------------------------------------ payload builders
    def _event(self, o: Order, now: int, message: str = "") -> OrderEvent:
        status = (_PARTIAL if o.filled else _ACKED) if o.status == LIVE else _STATUS[o.status]
        # the hottest payload: built as a literal (field order) rather than through construct()
        return raw(
            OrderEvent,
            {
                "kind": "order_event",
                "time_ns": now,
                "client_order_id": o.coid,
                "venue_order_id": f"sim-{o.oid}",
                "account": o.account,
                "token_id": o.token,
                "market": o.market,
                "side": _BUY if o.is_buy else _SELL,
                "price": dec(o.price),
                "size": dec(o.size),
                "status": status,
                "filled": dec(o.filled),
                "reason": o.reason,
                "message": message,
            },
        )

    @staticmethod
    def _fill(account: str, f: FillRecord) -> Fill:
        return construct(
            Fill,
            time_ns=f[0],
            fill_id=f[1],
            client_order_id=f[2],
            venue_order_id=f"sim-{f[3]}",
            account=account,
            token_id=f[4],
            market=f[5],
            side=Side.BUY if f[6] else Side.SELL,
            price=dec(f[7]),
            size=dec(f[8]),
            fee=dec(f[9]),
            liquidity=Liquidity.MAKER if f[10] else Liquidity.TAKER,
        )

    def _snapshot(self, m: MarketState, token: str, now: int) -> BookSnapshot:
        return md.snapshot(
            time_ns=now,
            market=m.market,
            token_id=token,
            is_yes=token == m.yes,
            book=m.book,
            tick=m.tick,
            min_size=m.min_size,
            seq=m.seq[token],
            last_yes_trade=m.last_trade,
        )

    # ------------------------------------------------------------------ queries
    def book(self, token_id: str) -> BookSnapshot:
        hit = self._tokens.get(token_id)
        if hit is None:
            raise KeyError(f"unknown token {token_id!r}")
        return self._snapshot(hit[0], token_id, self._now())

    def top(self, token_id: str) -> TopOfBook:
        hit = self._tokens.get(token_id)
        if hit is None:
            raise KeyError(f"unknown token {token_id!r}")
        m, is_yes = hit
        bids, asks = md.token_levels(m.book, is_yes)
        return construct(
            TopOfBook,
            time_ns=self._now(),
            token_id=token_id,
            market=m.market,
            best_bid=dec(bids[0][0]) if bids else None,
            best_bid_size=dec(bids[0][1]) if bids else Decimal(0),
            best_ask=dec(asks[0][0]) if asks else None,
            best_ask_size=dec(asks[0][1]) if asks else Decimal(0),
            bids=tuple((dec(p), dec(s)) for p, s in bids[:5]),
            asks=tuple((dec(p), dec(s)) for p, s in asks[:5]),
            tick_size=dec(m.tick),
            min_order_size=dec(m.min_size),
            seq=m.seq[token_id],
            book_time_ns=None,
        )

    def order(self, account: str, client_order_id: str) -> OrderEvent | None:
        acct = self._accounts.get(account)
        o = acct.orders.get(client_order_id) if acct is not None else None
        return None if o is None else self._event(o, self._now())

    def open_orders(self, account: str) -> list[OrderEvent]:
        acct = self._accounts.get(account)
        if acct is None:
            return []
        now = self._now()
        return [self._event(o, now) for o in acct.open.values()]

    def trades(self, account: str, since_ns: int | None = None, client_order_id: str | None = None) -> list[Fill]:
        """This account's fills, oldest first; only ``time_ns >= since_ns`` and only those of one
        order when given (how a trader recovers an order that vanished from the open orders)."""
        acct = self._accounts.get(account)
        if acct is None:
            return []
        return [
            self._fill(account, f)
            for f in acct.fills
            if (since_ns is None or f[0] >= since_ns) and (client_order_id is None or f[2] == client_order_id)
        ]

    def positions(self, account: str) -> list[Position]:
        acct = self._accounts.get(account)
        if acct is None:
            return []
        now = self._now()
        out = []
        for token, size in acct.shares.items():
            if size <= 0:
                continue
            m = self._tokens[token][0]
            avg = min(Decimal(acct.basis.get(token, 0)) / Decimal(size), Decimal(1))
            out.append(
                construct(
                    Position,
                    time_ns=now,
                    account=account,
                    token_id=token,
                    market=m.market,
                    size=dec(size),
                    avg_price=avg.quantize(Decimal("0.000001")),
                    realized_pnl=dec(acct.realized.get(token, 0)),
                )
            )
        return out

    def balance(self, account: str) -> Balance:
        acct = self._acct(account)
        return construct(
            Balance, time_ns=self._now(), account=account, cash=dec(acct.cash), reserved=dec(acct.reserved_cash)
        )

    def shares(self, account: str, token_id: str) -> Decimal:
        acct = self._acct(account)
        return dec(acct.shares.get(token_id, 0))

    def rebates_accrued(self, account: str) -> Decimal:
        return dec(self._acct(account).rebates)

    def audit(self) -> dict[str, Any]:
        """Totals for conservation checks: deposits, cash held, fee pool, supply per token, and
        reservations recomputed from the open orders (must equal the ledger's)."""
        supply: dict[str, int] = {t: 0 for t in self._tokens}
        cash = 0
        mismatches: list[str] = []
        for name, a in self._accounts.items():
            cash += a.cash
            for t, s in a.shares.items():
                supply[t] += s
                if s < 0:
                    mismatches.append(f"{name} holds {s} of {t}")
            rc = 0
            rs: dict[str, int] = {}
            for o in a.open.values():
                if o.is_buy:
                    rc += o.price * o.remaining // ONE
                else:
                    rs[o.token] = rs.get(o.token, 0) + o.remaining
            if rc != a.reserved_cash:
                mismatches.append(f"{name} reserved cash {a.reserved_cash} != {rc}")
            for t in set(rs) | set(a.reserved):
                if rs.get(t, 0) != a.reserved.get(t, 0):
                    mismatches.append(f"{name} reserved {t} {a.reserved.get(t, 0)} != {rs.get(t, 0)}")
                if a.reserved.get(t, 0) > a.shares.get(t, 0):
                    mismatches.append(f"{name} reserves more {t} than it holds")
            if a.reserved_cash > a.cash:
                mismatches.append(f"{name} reserves more cash than it holds")
        return {
            "deposits": self._deposits,
            "cash": cash,
            "fee_pool": self._fee_pool,
            "rebates_accrued": sum(a.rebates for a in self._accounts.values()),
            "supply": supply,
            "mismatches": mismatches,
        }
