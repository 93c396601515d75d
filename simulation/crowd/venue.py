"""``CrowdVenue``: one synthetic participant's port onto the shared simulated exchange.

Why not a ``SimVenue`` per participant: a ``SimVenue`` registers a market-data listener on the
exchange, and the exchange calls every listener for every public event. A thousand listeners turn
each book delta into a thousand calls — the crowd would cost more than the market. A participant
of the crowd needs no feed: it wakes on its own timer and *looks* at the book. So this port keeps
no listener, reads the top of the book straight from the engine (integers, no payloads built), and
sends orders through the engine's integer entry point, after its own order latency on the
runtime's clock. It still implements ``protocols.VenuePort`` (with ``Decimal`` payloads) so a crowd
agent is an ordinary agent with an ordinary ``ctx.venue``.

The reads use the exchange's internal book and ledger; they are kept in this one module so that a
change inside ``venues.sim`` has one place to be followed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from protocols import (
    Balance,
    BookSnapshot,
    Fill,
    MarketInfo,
    OrderEvent,
    OrderRequest,
    Position,
    Scheduler,
    Sink,
)
from venues.sim import FAK, GTC, ONE, SimExchange

Top = tuple[int | None, int, int | None, int]
"""(best bid, its size, best ask, its size) of one token, micro-units, token space."""


class CrowdVenue:
    """Implements ``protocols.VenuePort`` plus cheap integer reads and sends for the crowd."""

    name = "sim"

    def __init__(
        self,
        exchange: SimExchange,
        account: str,
        *,
        scheduler: Scheduler | None = None,
        order_latency_ns: int = 0,
    ) -> None:
        if order_latency_ns and scheduler is None:
            raise ValueError("order latency needs a scheduler")
        self.exchange = exchange
        self.account = account
        self.order_latency_ns = order_latency_ns
        self._scheduler = scheduler
        self._sink: Sink | None = None
        self._n = 0
        self._last_due = 0
        self.sent = 0
        self.rejected = 0

    # -- integer fast path ---------------------------------------------------------------------------
    def top(self, token: str) -> Top:
        m, is_yes = self.exchange._tokens[token]
        book = m.book
        bk, ak = book.bid_keys, book.ask_keys
        if is_yes:
            if bk:
                p = bk[-1]
                bid: int | None = p
                bsz = book.bids[p].total
            else:
                bid, bsz = None, 0
            if ak:
                p = -ak[-1]
                ask: int | None = p
                asz = book.asks[p].total
            else:
                ask, asz = None, 0
            return bid, bsz, ask, asz
        # the NO book mirrors YES: NO bid = 1 − YES ask, NO ask = 1 − YES bid
        if ak:
            p = -ak[-1]
            bid, bsz = ONE - p, book.asks[p].total
        else:
            bid, bsz = None, 0
        if bk:
            p = bk[-1]
            ask, asz = ONE - p, book.bids[p].total
        else:
            ask, asz = None, 0
        return bid, bsz, ask, asz

    def asks(self, token: str, max_levels: int = 10) -> list[tuple[int, int]]:
        """The token's asks best first, (price, size) in micro-units."""
        return [(p, q) for p, q, _n in self.asks_with_counts(token, max_levels)]

    def asks_with_counts(self, token: str, max_levels: int = 10) -> list[tuple[int, int, int]]:
        """The token's asks best first, (price, size, number of resting orders)."""
        m, is_yes = self.exchange._tokens[token]
        book = m.book
        out: list[tuple[int, int, int]] = []
        if is_yes:
            for k in reversed(book.ask_keys):
                lvl = book.asks[-k]
                out.append((-k, lvl.total, lvl.live))
                if len(out) >= max_levels:
                    break
        else:
            for p in reversed(book.bid_keys):
                lvl = book.bids[p]
                out.append((ONE - p, lvl.total, lvl.live))
                if len(out) >= max_levels:
                    break
        return out

    def last_trade(self, token: str) -> int | None:
        """The token's last trade price (micro-units), None before the first trade."""
        m, is_yes = self.exchange._tokens[token]
        last = m.last_trade
        if last is None:
            return None
        return int(last) if is_yes else ONE - int(last)

    def free_cash(self) -> int:
        a = self.exchange._accounts[self.account]
        return int(a.cash - a.reserved_cash)

    def free_shares(self, token: str) -> int:
        a = self.exchange._accounts[self.account]
        return int(a.shares.get(token, 0) - a.reserved.get(token, 0))

    def held(self, token: str) -> int:
        return int(self.exchange._accounts[self.account].shares.get(token, 0))

    def open_ids(self) -> list[str]:
        return list(self.exchange._accounts[self.account].open)

    def send(
        self, token: str, is_buy: bool, price: int, size: int, tif: int = GTC, post_only: bool = False
    ) -> str:
        """Send one order (after the order latency); returns its client order id."""
        self._n += 1
        coid = f"{self.account}-{self._n}"
        self.sent += 1
        if self.order_latency_ns and self._scheduler is not None:
            due = max(self._scheduler.now_ns() + self.order_latency_ns, self._last_due)
            self._last_due = due
            self._scheduler.call_at(due, lambda: self._arrive(coid, token, is_buy, price, size, tif, post_only))
        else:
            self._arrive(coid, token, is_buy, price, size, tif, post_only)
        return coid

    def _arrive(self, coid: str, token: str, is_buy: bool, price: int, size: int, tif: int, post_only: bool) -> None:
        state, _filled, reason = self.exchange.submit_fast(
            self.account, coid, token, is_buy, price, size, tif, post_only
        )
        if state < 0 and reason is not None:
            self.rejected += 1

    def take(self, token: str, is_buy: bool, limit: int, size: int) -> str:
        """A marketable order that never rests (FAK): fills what it can at ``limit`` or better."""
        return self.send(token, is_buy, limit, size, FAK)

    def cancel(self, coid: str) -> None:
        if self.order_latency_ns and self._scheduler is not None:
            due = max(self._scheduler.now_ns() + self.order_latency_ns, self._last_due)
            self._last_due = due
            self._scheduler.call_at(due, lambda: self._cancel_now(coid))
        else:
            self.exchange.cancel_fast(self.account, coid)

    def _cancel_now(self, coid: str) -> None:
        self.exchange.cancel_fast(self.account, coid)

    def cancel_every(self, market: str | None = None) -> None:
        """Cancel all open orders (optionally of one market) without building events."""
        acct = self.exchange._accounts[self.account]
        for coid, o in list(acct.open.items()):
            if market is None or o.market == market:
                self.cancel(coid)

    # -- VenuePort (Decimal payloads; for anything that treats the crowd as an ordinary venue user) --
    def set_sink(self, sink: Sink) -> None:
        self._sink = sink  # the crowd reads the book itself; nothing is pushed

    async def list_markets(self) -> list[MarketInfo]:
        return self.exchange.markets()

    async def subscribe_market_data(self, token_ids: Sequence[str]) -> None:
        raise NotImplementedError("a crowd venue has no feed; read the book with top()/get_book()")

    async def unsubscribe_market_data(self, token_ids: Sequence[str]) -> None:
        return None

    async def get_book(self, token_id: str) -> BookSnapshot:
        return self.exchange.book(token_id)

    async def place_order(self, request: OrderRequest) -> OrderEvent:
        self.sent += 1
        return self.exchange.submit(self.account, request)

    async def place_orders(self, requests: Sequence[OrderRequest]) -> list[OrderEvent]:
        return [await self.place_order(r) for r in requests]

    async def cancel_order(self, client_order_id: str) -> OrderEvent:
        return self.exchange.cancel(self.account, client_order_id)

    async def cancel_all(self, market: str | None = None) -> list[OrderEvent]:
        return self.exchange.cancel_all(self.account, market)

    async def order_status(self, client_order_id: str) -> OrderEvent | None:
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
        return None

    def __repr__(self) -> str:
        return f"CrowdVenue(account={self.account!r})"


def crowd_status(venue: CrowdVenue) -> dict[str, Any]:
    return {"account": venue.account, "sent": venue.sent, "rejected": venue.rejected}
