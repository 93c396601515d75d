"""Paper trading: live market data, simulated fills against the live book, exact accounting.

Why these rules (they decide whether paper PnL means anything):

* **Invisible orders.** Our paper orders are not on the real book, so the live feed never shows
  them. A marketable order takes the visible levels best-first at their prices (and eats them in
  our local copy until the feed says otherwise); a resting order waits its turn.
* **Queue position.** A resting order joins the back of its level: the volume ahead of it is the
  level's visible size when it arrives. Trades printed at that price consume the queue from the
  front; only what trades beyond the volume ahead fills us. When the level shrinks without a
  trade (cancellations), the volume ahead can never exceed what is left at the level
  (cancels are assumed to come from behind us first — the pessimistic choice). A trade printed
  *through* our price means the whole level, us included, was taken.
  The feed may deliver a trade's print before or after the book change it caused; both orders
  are handled so a trade is never counted twice against the queue.
* **Latency.** An order or cancel reaches the "venue" ``order_latency_ns`` after it is sent; the
  book it meets is the book at arrival, not at sending (``sleep`` is injectable so tests and
  simulations control what happens in flight).
* **Money is exact.** Decimal everywhere; taker fees by the market's ``FeeSchedule`` (protocols.fees),
  floored at the 5th decimal as the chain books them; makers pay nothing.
* **One book.** The local copy of each live book is ``protocols.book.L2Book`` — the same book the
  WebSocket client and the market watcher keep — on the market's tick grid. A snapshot or change
  that does not fit that grid leaves the token untradable until a fresh snapshot arrives, like a
  ``BookStale`` or a tick-size change does.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from protocols import (
    Balance,
    BookDelta,
    BookSnapshot,
    BookStale,
    FeeSchedule,
    Fill,
    Liquidity,
    MarketInfo,
    MarketResolved,
    OrderEvent,
    OrderRequest,
    OrderStatus,
    Payload,
    Position,
    ReasonCode,
    Settlement,
    Side,
    Sink,
    TickSizeChange,
    TimeInForce,
    TradePrint,
)
from protocols.book import BookError, L2Book
from protocols.fees import taker_fee

log = logging.getLogger(__name__)

ZERO = Decimal(0)
ONE = Decimal(1)
MICRO = Decimal("0.000001")


class DataFeed(Protocol):
    """What the paper venue needs from a market-data source (e.g. ``PolymarketDataFeed``)."""

    def set_sink(self, sink: Sink) -> None: ...

    async def list_markets(self) -> list[MarketInfo]: ...

    async def subscribe_market_data(self, token_ids: Sequence[str]) -> None: ...

    async def unsubscribe_market_data(self, token_ids: Sequence[str]) -> None: ...

    async def get_book(self, token_id: str) -> BookSnapshot: ...


class PaperConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    account: str = Field(default="paper", min_length=1)
    name: str = "paper"
    starting_cash: Decimal = Field(default=Decimal(1000), ge=0)
    order_latency_ns: int = Field(default=0, ge=0)
    default_fee_rate: Decimal = Field(default=Decimal("0.07"), ge=0, lt=1)
    default_fee_exponent: int = Field(default=1, ge=1, le=4)
    size_step: Decimal = Decimal("0.01")
    gtd_threshold_ns: int = Field(default=60 * 1_000_000_000, ge=0)


@dataclass
class _Order:
    req: OrderRequest
    venue_id: str
    remaining: Decimal
    filled: Decimal = ZERO
    status: OrderStatus = OrderStatus.ACKNOWLEDGED
    reason: ReasonCode | None = None
    resting: bool = False
    # queue state (see module docstring)
    ahead: Decimal = ZERO
    unexplained: Decimal = ZERO
    ahead_before: Decimal = ZERO
    explained_pending: Decimal = ZERO

    @property
    def is_bid(self) -> bool:
        return self.req.side is Side.BUY


@dataclass
class _Holding:
    market: str
    shares: Decimal = ZERO
    cost: Decimal = ZERO
    realized: Decimal = ZERO


def _limit_on_grid(book: L2Book, o: _Order) -> Decimal:
    """A resting order's price as a limit on the book's grid: itself, or — after the tick moved
    under it — the nearest grid price on its own side of it (levels only sit on the grid, so the
    same levels cross it)."""
    price = o.req.price
    if book.on_grid(price):
        return price
    tick = book.tick_size
    steps = (price / tick).to_integral_value(rounding=ROUND_FLOOR if o.is_bid else ROUND_CEILING)
    return steps * tick


class PaperVenue:
    """``protocols.VenuePort`` on live data with simulated fills."""

    def __init__(
        self,
        data: DataFeed,
        config: PaperConfig | None = None,
        *,
        clock_ns: Callable[[], int] = time.time_ns,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.config = config or PaperConfig()
        self.name = self.config.name
        self.account = self.config.account
        self._data = data
        self._clock_ns = clock_ns
        self._sleep = sleep
        self._sink: Sink | None = None
        self._books: dict[str, L2Book] = {}
        self._untradable: set[str] = set()  # tokens whose book waits for a fresh snapshot
        self._markets: dict[str, MarketInfo] = {}  # by token id
        self._orders: dict[str, _Order] = {}
        self._seq = 0
        self._fill_seq = 0
        self.cash = self.config.starting_cash
        self.reserved_cash = ZERO
        self.fees_paid = ZERO
        self._holdings: dict[str, _Holding] = {}
        self._reserved_shares: dict[str, Decimal] = {}
        self._fills: list[Fill] = []
        data.set_sink(self._on_data)

    def __repr__(self) -> str:
        return f"PaperVenue(account={self.account!r}, cash={self.cash})"

    # -- data side ---------------------------------------------------------------------------

    def set_sink(self, sink: Sink) -> None:
        self._sink = sink

    def _emit(self, p: Payload) -> None:
        if self._sink is not None:
            self._sink(p)

    def register_market(self, info: MarketInfo) -> None:
        for t in info.token_ids:
            self._markets[t] = info

    async def list_markets(self) -> list[MarketInfo]:
        infos = await self._data.list_markets()
        for info in infos:
            self.register_market(info)
        return infos

    async def subscribe_market_data(self, token_ids: Sequence[str]) -> None:
        await self._data.subscribe_market_data(token_ids)

    async def unsubscribe_market_data(self, token_ids: Sequence[str]) -> None:
        await self._data.unsubscribe_market_data(token_ids)

    async def get_book(self, token_id: str) -> BookSnapshot:
        snap = await self._data.get_book(token_id)
        if self._book(token_id) is None:
            self._apply_snapshot(snap)
        return snap

    def _book(self, token: str) -> L2Book | None:
        """The token's book if it is tradable (a snapshot arrived since the last doubt), else None."""
        return None if token in self._untradable else self._books.get(token)

    async def close(self) -> None:
        closer = getattr(self._data, "close", None)
        if closer is not None:
            await closer()

    def _on_data(self, p: Payload) -> None:
        self._emit(p)  # the market event first, then what it did to our orders
        now = self._clock_ns()
        self._expire(now)
        if isinstance(p, BookSnapshot):
            self._apply_snapshot(p)
            self._cross_resting(p.token_id, now)
        elif isinstance(p, BookDelta):
            self._apply_delta(p)
            self._cross_resting(p.token_id, now)
        elif isinstance(p, TradePrint):
            self._on_print(p, now)
        elif isinstance(p, TickSizeChange | BookStale):
            if p.token_id in self._books:
                self._untradable.add(p.token_id)  # not tradable until a fresh snapshot
        elif isinstance(p, MarketResolved):
            self._resolve(p, now)
        elif isinstance(p, MarketInfo):
            self.register_market(p)  # fee curve of a market announced on the feed

    def _apply_snapshot(self, s: BookSnapshot) -> None:
        try:
            book = L2Book.from_snapshot(s)
        except BookError as exc:
            log.warning("paper: snapshot of %s does not fit its tick grid (%s); not tradable", s.token_id, exc)
            if s.token_id in self._books:
                self._untradable.add(s.token_id)
            return
        self._books[s.token_id] = book
        self._untradable.discard(s.token_id)
        for o in self._resting(s.token_id):
            level = book.size_at(o.is_bid, o.req.price)
            o.ahead = min(o.ahead, level)
            o.unexplained = o.explained_pending = ZERO

    def _apply_delta(self, d: BookDelta) -> None:
        book = self._book(d.token_id)
        if book is None:
            return
        if not all(book.on_grid(ch.price) for ch in d.changes):
            # our copy cannot follow this book any more (its tick moved): wait for a snapshot
            log.warning("paper: delta of %s is off its tick grid %s; not tradable", d.token_id, book.tick_size)
            self._untradable.add(d.token_id)
            return
        resting = self._resting(d.token_id)
        for o in resting:
            o.unexplained = ZERO  # a pending delta-first pairing holds only until the next delta
        for ch in d.changes:
            is_bid = ch.side is Side.BUY
            old = book.size_at(is_bid, ch.price)
            book.set_level(is_bid, ch.price, ch.size)
            drop = old - ch.size
            for o in resting:
                if o.is_bid != (ch.side is Side.BUY) or o.req.price != ch.price:
                    continue
                if drop > 0:
                    explained = min(drop, o.explained_pending)
                    o.explained_pending -= explained
                    rest = drop - explained
                    if rest > 0:
                        if o.unexplained == 0:
                            o.ahead_before = o.ahead
                        o.unexplained += rest
                o.ahead = min(o.ahead, ch.size)

    def _on_print(self, t: TradePrint, now: int) -> None:
        # the taker's side: a SELL print hits bids, a BUY print lifts asks
        for o in self._resting(t.token_id):
            if o.is_bid == (t.side is Side.BUY):
                continue
            L = o.req.price
            through = t.price < L if o.is_bid else t.price > L
            if through:
                o.ahead = ZERO
                self._maker_fill(o, o.remaining, now)
                continue
            if t.price != L:
                continue
            q = t.size
            fill = ZERO
            early = min(q, o.unexplained)
            if early > 0:  # the book change arrived before its print: undo, then apply in order
                base = o.ahead_before
                fill += max(ZERO, early - base)
                o.ahead_before = max(ZERO, base - early)
                o.unexplained -= early
                book = self._books.get(t.token_id)
                level = book.size_at(o.is_bid, L) if book is not None else ZERO
                o.ahead = min(o.ahead_before, level)
            late = q - early
            if late > 0:  # print first: it consumes the queue; its book change will follow
                fill += max(ZERO, late - o.ahead)
                o.ahead = max(ZERO, o.ahead - late)
                o.explained_pending += late
            if fill > 0:
                self._maker_fill(o, min(fill, o.remaining), now)

    def _cross_resting(self, token: str, now: int) -> None:
        """A visible opposite order at or through a resting order's price trades with it first."""
        book = self._book(token)
        if book is None:
            return
        for o in self._resting(token):
            # the visible opposite levels at or through our price are taken by our resting order
            for _price, q in book.take(o.req.side, o.remaining, _limit_on_grid(book, o)):
                self._maker_fill(o, q, now)

    def _resting(self, token: str) -> list[_Order]:
        return [o for o in self._orders.values() if o.resting and o.req.token_id == token]

    # -- orders ------------------------------------------------------------------------------

    def _event(self, o: _Order, message: str = "") -> OrderEvent:
        r = o.req
        return OrderEvent(
            time_ns=self._clock_ns(),
            client_order_id=r.client_order_id,
            venue_order_id=o.venue_id,
            account=self.account,
            token_id=r.token_id,
            market=r.market,
            side=r.side,
            price=r.price,
            size=r.size,
            status=o.status,
            filled=o.filled,
            reason=o.reason,
            message=message,
        )

    def _reject(self, req: OrderRequest, reason: ReasonCode, message: str) -> OrderEvent:
        ev = OrderEvent(
            time_ns=self._clock_ns(),
            client_order_id=req.client_order_id,
            account=self.account,
            token_id=req.token_id,
            market=req.market,
            side=req.side,
            price=req.price,
            size=req.size,
            status=OrderStatus.REJECTED,
            reason=reason,
            message=message,
        )
        self._emit(ev)
        return ev

    def _fee(self, token: str, price: Decimal, size: Decimal) -> Decimal:
        """The taker fee the chain books for this fill (protocols.fees), by the market's schedule."""
        info = self._markets.get(token)
        if info is not None:
            return taker_fee(info.fees, price, size)
        return taker_fee(
            FeeSchedule(rate=self.config.default_fee_rate, exponent=self.config.default_fee_exponent), price, size
        )

    def _free_shares(self, token: str) -> Decimal:
        h = self._holdings.get(token)
        return (h.shares if h else ZERO) - self._reserved_shares.get(token, ZERO)

    async def place_order(self, request: OrderRequest) -> OrderEvent:
        if self.config.order_latency_ns:
            await self._sleep(self.config.order_latency_ns / 1e9)
        return self._arrive(request)

    async def place_orders(self, requests: Sequence[OrderRequest]) -> list[OrderEvent]:
        if len(requests) > 15:
            raise ValueError(f"a batch holds at most 15 orders, got {len(requests)}")
        if self.config.order_latency_ns:
            await self._sleep(self.config.order_latency_ns / 1e9)
        return [self._arrive(r) for r in requests]

    def _arrive(self, req: OrderRequest) -> OrderEvent:
        now = self._clock_ns()
        self._expire(now)
        if req.account != self.account:
            return self._reject(req, ReasonCode.VENUE_ERROR, f"account {req.account!r} is not {self.account!r}")
        if req.client_order_id in self._orders:
            return self._reject(req, ReasonCode.DUPLICATE_ORDER, "client order id already used")
        book = self._book(req.token_id)
        if book is None:
            return self._reject(req, ReasonCode.NO_MARKET_DATA, "no live book for this token (subscribe first)")
        if req.market != book.market:
            return self._reject(req, ReasonCode.UNKNOWN_TOKEN, f"token belongs to {book.market!r}")
        if not book.on_grid(req.price):
            return self._reject(req, ReasonCode.INVALID_TICK, f"price {req.price} is off the tick {book.tick_size}")
        if req.size % self.config.size_step != 0:
            return self._reject(
                req, ReasonCode.INVALID_SIZE, f"size {req.size} is not a multiple of {self.config.size_step}"
            )
        if req.size < book.min_order_size:
            return self._reject(req, ReasonCode.BELOW_MIN_SIZE, f"size {req.size} is below {book.min_order_size}")
        if req.tif is TimeInForce.GTD:
            assert req.expires_ns is not None
            if req.expires_ns - self.config.gtd_threshold_ns <= now:
                return self._reject(req, ReasonCode.INVALID_EXPIRATION, "GTD expiry too soon")
        is_bid = req.side is Side.BUY
        reach = book.walk(req.side, req.size, req.price)  # the visible liquidity at or better than our price
        crosses = reach.levels > 0
        if req.post_only and crosses:
            return self._reject(req, ReasonCode.POST_ONLY_WOULD_CROSS, "post-only order would take liquidity")
        if is_bid:
            need = req.price * req.size + (self._fee(req.token_id, req.price, req.size) if crosses else ZERO)
            if self.cash - self.reserved_cash < need:
                return self._reject(req, ReasonCode.INSUFFICIENT_BALANCE, f"needs {need} free cash")
        elif self._free_shares(req.token_id) < req.size:
            return self._reject(req, ReasonCode.INSUFFICIENT_BALANCE, f"needs {req.size} free shares")
        if req.tif is TimeInForce.FOK and not reach.complete:
            return self._reject(req, ReasonCode.FOK_NOT_FILLABLE, "not enough visible liquidity")
        if req.tif is TimeInForce.FAK and not crosses:
            return self._reject(req, ReasonCode.FAK_NO_MATCH, "nothing to match")
        self._seq += 1
        o = _Order(req, f"paper-{self._seq}", req.size)
        self._orders[req.client_order_id] = o
        for p, q in book.take(req.side, req.size, req.price):
            self._taker_fill(o, p, q, now)
        if o.remaining == 0:
            o.status = OrderStatus.FILLED
        elif req.tif in (TimeInForce.FOK, TimeInForce.FAK):
            o.status = OrderStatus.CANCELLED
        else:
            o.resting = True
            o.ahead = book.size_at(is_bid, req.price)
            o.status = OrderStatus.PARTIALLY_FILLED if o.filled else OrderStatus.ACKNOWLEDGED
            if is_bid:
                self.reserved_cash += req.price * o.remaining
            else:
                self._reserved_shares[req.token_id] = self._reserved_shares.get(req.token_id, ZERO) + o.remaining
        ev = self._event(o)
        self._emit(ev)
        return ev

    def _book_fill(self, o: _Order, price: Decimal, q: Decimal, fee: Decimal, liq: Liquidity, now: int) -> None:
        req = o.req
        h = self._holdings.setdefault(req.token_id, _Holding(req.market))
        if req.side is Side.BUY:
            self.cash -= price * q + fee
            h.shares += q
            h.cost += price * q + fee
        else:
            self.cash += price * q - fee
            avg = h.cost / h.shares if h.shares > 0 else ZERO
            h.realized += price * q - fee - avg * q
            h.cost -= avg * q
            h.shares -= q
        self.fees_paid += fee
        o.filled += q
        o.remaining -= q
        self._fill_seq += 1
        f = Fill(
            time_ns=now,
            fill_id=f"paper-fill-{self._fill_seq}",
            client_order_id=req.client_order_id,
            venue_order_id=o.venue_id,
            account=self.account,
            token_id=req.token_id,
            market=req.market,
            side=req.side,
            price=price,
            size=q,
            fee=fee,
            liquidity=liq,
        )
        self._fills.append(f)
        self._emit(f)

    def _taker_fill(self, o: _Order, price: Decimal, q: Decimal, now: int) -> None:
        self._book_fill(o, price, q, self._fee(o.req.token_id, price, q), Liquidity.TAKER, now)

    def _maker_fill(self, o: _Order, q: Decimal, now: int) -> None:
        if q <= 0 or not o.resting:
            return
        q = min(q, o.remaining)
        req = o.req
        if req.side is Side.BUY:
            self.reserved_cash -= req.price * q
        else:
            self._reserved_shares[req.token_id] -= q
        self._book_fill(o, req.price, q, ZERO, Liquidity.MAKER, now)
        if o.remaining == 0:
            o.resting = False
            o.status = OrderStatus.FILLED
        else:
            o.status = OrderStatus.PARTIALLY_FILLED
        self._emit(self._event(o))

    def _unrest(self, o: _Order, status: OrderStatus, reason: ReasonCode | None = None) -> None:
        req = o.req
        if req.side is Side.BUY:
            self.reserved_cash -= req.price * o.remaining
        else:
            self._reserved_shares[req.token_id] -= o.remaining
        o.resting = False
        o.status = status
        o.reason = reason
        self._emit(self._event(o))

    def _expire(self, now: int) -> None:
        for o in list(self._orders.values()):
            r = o.req
            due = r.expires_ns is not None and r.expires_ns - self.config.gtd_threshold_ns <= now
            if o.resting and r.tif is TimeInForce.GTD and due:
                self._unrest(o, OrderStatus.EXPIRED, ReasonCode.EXPIRED)

    async def cancel_order(self, client_order_id: str) -> OrderEvent:
        if self.config.order_latency_ns:
            await self._sleep(self.config.order_latency_ns / 1e9)
        self._expire(self._clock_ns())
        o = self._orders.get(client_order_id)
        if o is None:
            return OrderEvent(
                time_ns=self._clock_ns(),
                client_order_id=client_order_id,
                account=self.account,
                token_id="UNKNOWN",
                market="UNKNOWN",
                side=Side.BUY,
                price=ZERO,
                size=ZERO,
                status=OrderStatus.REJECTED,
                reason=ReasonCode.UNKNOWN_ORDER,
                message=f"no order {client_order_id!r} on this account",
            )
        if not o.resting:
            return self._event(o, message=f"not cancelled: order is already {o.status.value}")
        self._unrest(o, OrderStatus.CANCELLED)
        return self._event(o)

    async def cancel_all(self, market: str | None = None) -> list[OrderEvent]:
        if self.config.order_latency_ns:
            await self._sleep(self.config.order_latency_ns / 1e9)
        out = []
        for o in list(self._orders.values()):
            if o.resting and (market is None or o.req.market == market or o.req.token_id == market):
                self._unrest(o, OrderStatus.CANCELLED)
                out.append(self._event(o))
        return out

    async def order_status(self, client_order_id: str) -> OrderEvent | None:
        o = self._orders.get(client_order_id)
        return None if o is None else self._event(o)

    async def open_orders(self) -> list[OrderEvent]:
        self._expire(self._clock_ns())
        return [self._event(o) for o in self._orders.values() if o.resting]

    async def trades(self, since_ns: int | None = None) -> list[Fill]:
        return [f for f in self._fills if since_ns is None or f.time_ns >= since_ns]

    async def positions(self) -> list[Position]:
        now = self._clock_ns()
        return [
            Position(
                time_ns=now,
                account=self.account,
                token_id=tok,
                market=h.market,
                size=h.shares,
                avg_price=min((h.cost / h.shares).quantize(MICRO), ONE) if h.shares > 0 else ZERO,
                realized_pnl=h.realized,
            )
            for tok, h in sorted(self._holdings.items())
            if h.shares > 0 or h.realized != 0
        ]

    async def balance(self) -> Balance:
        return Balance(time_ns=self._clock_ns(), account=self.account, cash=self.cash, reserved=self.reserved_cash)

    # -- resolution --------------------------------------------------------------------------

    def _resolve(self, r: MarketResolved, now: int) -> None:
        for o in list(self._orders.values()):
            if o.resting and o.req.market == r.market:
                self._unrest(o, OrderStatus.CANCELLED, ReasonCode.MARKET_CLOSED)
        for tok, h in list(self._holdings.items()):
            if h.market != r.market or h.shares <= 0:
                continue
            winner = r.winning_token_id
            payout = Decimal("0.5") if winner is None else (ONE if tok == winner else ZERO)
            cash = h.shares * payout
            self.cash += cash
            h.realized += cash - h.cost
            size = h.shares
            h.shares = ZERO
            h.cost = ZERO
            self._emit(
                Settlement(
                    time_ns=now,
                    account=self.account,
                    market=r.market,
                    token_id=tok,
                    size=size,
                    payout_per_share=payout,
                    cash=cash,
                )
            )


__all__ = ["DataFeed", "PaperConfig", "PaperVenue"]
