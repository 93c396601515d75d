"""``SimVenue``: one account's ``VenuePort`` onto the shared ``SimExchange``, with latency.

With latency the venue behaves like a remote one: ``place_order`` answers at once with SENT and
the order reaches the matching engine ``order latency`` later, on the runtime's clock
(``scheduler.call_at``); its real outcome (ACKNOWLEDGED / REJECTED / fills) then arrives through
the sink, ``data latency`` after it happened. Market data is delayed the same way. Deliveries on
one path never overtake each other, as on one connection. Without latency every call reaches the
engine immediately and returns the real outcome; events still go to the sink (the trader treats
sink events as truth and applies them idempotently).

Only what this account is owed reaches its sink: its own private events, and public data for the
tokens it subscribed to (an initial snapshot per token on subscribe, as the live feed sends).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from decimal import Decimal

from protocols import (
    Balance,
    BookSnapshot,
    Fill,
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
    Sink,
)
from venues.sim.config import LatencyModel
from venues.sim.exchange import SimExchange
from venues.sim.market_data import construct


class SimVenue:
    """The simulated exchange as seen by one account. Implements ``protocols.VenuePort``."""

    name = "sim"

    def __init__(self, exchange: SimExchange, account: str, latency: LatencyModel | None = None) -> None:
        self.exchange = exchange
        self.account = account
        self.latency = latency or LatencyModel()
        sched: Scheduler | None = exchange._scheduler
        if (self.latency.has_order_latency or self.latency.has_data_latency) and sched is None:
            raise ValueError("latency: a SimVenue with latency needs an exchange built with a scheduler")
        self._scheduler = sched
        self._rng = random.Random(f"{self.latency.seed}:{account}")
        self._sink: Sink | None = None
        self._tokens: set[str] = set()
        self._markets: dict[str, int] = {}  # condition id -> number of subscribed tokens in it
        self._in_flight: dict[str, OrderRequest] = {}
        self._last_order_ns = 0
        self._last_data_ns = 0
        self._closed = False
        self.dropped = 0  # events produced before a sink was set (the trader reconciles them)
        self._listening = False  # to public data: only while subscribed (building it has a cost)
        exchange.add_account_listener(account, self._on_private)

    # ------------------------------------------------------------------ delivery
    def set_sink(self, sink: Sink) -> None:
        self._sink = sink

    def _delay(self, base: int, jitter: int) -> int:
        return base + (self._rng.randint(0, jitter) if jitter else 0)

    def _deliver_later(self, payload: Payload) -> None:
        lat = self.latency
        if not lat.has_data_latency or self._scheduler is None:
            self._deliver(payload)
            return
        due = max(self._scheduler.now_ns() + self._delay(lat.data_latency_ns, lat.data_jitter_ns), self._last_data_ns)
        self._last_data_ns = due
        self._scheduler.call_at(due, lambda: self._deliver(payload))

    def _deliver(self, payload: Payload) -> None:
        if self._closed:
            return
        if self._sink is None:
            self.dropped += 1
            return
        self._sink(payload)

    def _on_private(self, payload: Payload) -> None:
        self._deliver_later(payload)

    def _on_public(self, payload: Payload) -> None:
        token = getattr(payload, "token_id", None)
        if token is not None:
            if token in self._tokens:
                self._deliver_later(payload)
        elif isinstance(payload, MarketResolved | MarketClosed) and payload.market in self._markets:
            self._deliver_later(payload)

    def _order_due(self) -> int:
        assert self._scheduler is not None
        lat = self.latency
        due = max(
            self._scheduler.now_ns() + self._delay(lat.order_latency_ns, lat.order_jitter_ns), self._last_order_ns
        )
        self._last_order_ns = due
        return due

    # ------------------------------------------------------------------ VenuePort: market data
    async def list_markets(self) -> list[MarketInfo]:
        return self.exchange.markets()

    async def subscribe_market_data(self, token_ids: Sequence[str]) -> None:
        for t in token_ids:
            if self.exchange.market_info(t) is None:
                raise KeyError(f"unknown token {t!r}")
        if token_ids and not self._listening and not self._closed:
            self.exchange.add_market_data_listener(self._on_public)
            self._listening = True
        for t in token_ids:
            info = self.exchange.market_info(t)
            assert info is not None
            if t in self._tokens:
                continue
            self._tokens.add(t)
            self._markets[info.market] = self._markets.get(info.market, 0) + 1
            self._deliver_later(self.exchange.book(t))

    async def unsubscribe_market_data(self, token_ids: Sequence[str]) -> None:
        for t in token_ids:
            if t not in self._tokens:
                continue
            self._tokens.discard(t)
            info = self.exchange.market_info(t)
            assert info is not None
            n = self._markets[info.market] - 1
            if n:
                self._markets[info.market] = n
            else:
                del self._markets[info.market]
        if not self._tokens and self._listening:
            self.exchange.remove_listener(self._on_public)
            self._listening = False

    async def get_book(self, token_id: str) -> BookSnapshot:
        return self.exchange.book(token_id)

    # ------------------------------------------------------------------ VenuePort: orders
    async def place_order(self, request: OrderRequest) -> OrderEvent:
        if not self.latency.has_order_latency:
            return self.exchange.submit(self.account, request)
        assert self._scheduler is not None
        coid = request.client_order_id
        if coid in self._in_flight:
            return self._sent(
                request,
                status=OrderStatus.REJECTED,
                reason=ReasonCode.DUPLICATE_ORDER,
                message=f"client order id {coid!r} is already in flight",
            )
        self._in_flight[coid] = request
        self._scheduler.call_at(self._order_due(), lambda: self._arrive(request))
        return self._sent(request)

    def _arrive(self, request: OrderRequest) -> None:
        self._in_flight.pop(request.client_order_id, None)
        if not self._closed:
            self.exchange.submit(self.account, request)

    def _sent(
        self,
        r: OrderRequest,
        status: OrderStatus = OrderStatus.SENT,
        reason: ReasonCode | None = None,
        message: str = "",
    ) -> OrderEvent:
        return construct(
            OrderEvent,
            time_ns=self.exchange.now_ns(),
            client_order_id=r.client_order_id,
            venue_order_id="",
            account=self.account,
            token_id=r.token_id,
            market=r.market,
            side=r.side,
            price=r.price,
            size=r.size,
            status=status,
            filled=Decimal(0),
            reason=reason,
            message=message,
        )

    async def place_orders(self, requests: Sequence[OrderRequest]) -> list[OrderEvent]:
        return [await self.place_order(r) for r in requests]

    async def cancel_order(self, client_order_id: str) -> OrderEvent:
        """Without latency: the cancel's outcome. With latency: the cancel travels like an order
        (it cannot overtake the order it cancels) and this returns the order as known now; the
        CANCELLED event arrives through the sink."""
        if not self.latency.has_order_latency:
            return self.exchange.cancel(self.account, client_order_id)
        assert self._scheduler is not None
        current = await self.order_status(client_order_id)
        if current is None:
            return self.exchange.cancel(self.account, client_order_id)  # UNKNOWN_ORDER, changes nothing
        self._scheduler.call_at(self._order_due(), lambda: self._cancel_arrive(client_order_id))
        return current

    def _cancel_arrive(self, client_order_id: str) -> None:
        if not self._closed:
            self.exchange.cancel(self.account, client_order_id)

    async def cancel_all(self, market: str | None = None) -> list[OrderEvent]:
        """Without latency: the cancelled orders. With latency: [] now, CANCELLED events via the sink."""
        if not self.latency.has_order_latency:
            return self.exchange.cancel_all(self.account, market)
        assert self._scheduler is not None

        def arrive() -> None:
            if not self._closed:
                self.exchange.cancel_all(self.account, market)

        self._scheduler.call_at(self._order_due(), arrive)
        return []

    async def order_status(self, client_order_id: str) -> OrderEvent | None:
        req = self._in_flight.get(client_order_id)
        if req is not None:
            return self._sent(req)
        return self.exchange.order(self.account, client_order_id)

    async def open_orders(self) -> list[OrderEvent]:
        return self.exchange.open_orders(self.account)

    async def trades(self, since_ns: int | None = None) -> list[Fill]:
        return self.exchange.trades(self.account, since_ns)

    async def positions(self) -> list[Position]:
        return self.exchange.positions(self.account)

    async def balance(self) -> Balance:
        return self.exchange.balance(self.account)

    async def close(self) -> None:
        """Stop delivering; orders still in flight are dropped (as a closed connection would)."""
        self._closed = True
        self.exchange.remove_listener(self._on_private)
        self.exchange.remove_listener(self._on_public)
