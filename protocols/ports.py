"""Ports to the outside world, as ``typing.Protocol``s.

Agents hold these, never a concrete venue: the same trader code drives the simulated exchange, the
paper venue and the live CLOB. Everything a venue says asynchronously (book data, order events,
fills, settlements) it hands to the *sink* the runtime gives it; the runtime turns each payload
into a message for the subscribers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from protocols.base import Payload
from protocols.execution import Balance, Fill, OrderEvent, OrderRequest, Position
from protocols.intel import RawNews, WalletTrade
from protocols.market import BookSnapshot, MarketInfo, ReferencePrice

Sink = Callable[[Payload], None]
"""Where a venue or feed delivers what it observes. Must not block; the runtime queues it."""


@runtime_checkable
class VenuePort(Protocol):
    """One account on one venue."""

    name: str
    account: str

    def set_sink(self, sink: Sink) -> None:
        """Where the venue delivers market data it was asked for and this account's events."""

    async def list_markets(self) -> list[MarketInfo]: ...

    async def subscribe_market_data(self, token_ids: Sequence[str]) -> None:
        """Start delivering book snapshots, deltas, trades, tick changes and resolutions."""

    async def unsubscribe_market_data(self, token_ids: Sequence[str]) -> None: ...

    async def get_book(self, token_id: str) -> BookSnapshot: ...

    async def place_order(self, request: OrderRequest) -> OrderEvent:
        """Send one order. Returns the venue's answer (ACKNOWLEDGED/FILLED/REJECTED ...).

        Raises ``VenueUnavailable`` when the outcome is unknown (timeout, lost connection); the
        caller must then ask ``order_status`` rather than send again.
        """

    async def place_orders(self, requests: Sequence[OrderRequest]) -> list[OrderEvent]: ...

    async def cancel_order(self, client_order_id: str) -> OrderEvent: ...

    async def cancel_all(self, market: str | None = None) -> list[OrderEvent]: ...

    async def order_status(self, client_order_id: str) -> OrderEvent | None:
        """What the venue knows of one order, open or finished; None if it never saw it."""

    async def open_orders(self) -> list[OrderEvent]: ...

    async def trades(self, since_ns: int | None = None) -> list[Fill]: ...

    async def positions(self) -> list[Position]: ...

    async def balance(self) -> Balance: ...

    async def close(self) -> None: ...


class VenueUnavailable(Exception):
    """The venue could not be reached, or did not say whether it took the order."""


class ClientMismatch(Exception):
    """The venue refused us in a way that means this client no longer matches it
    (order version mismatch, signer/API key errors): trip the kill switch, do not retry."""


@runtime_checkable
class ReferencePriceFeed(Protocol):
    name: str

    def set_sink(self, sink: Sink) -> None: ...

    async def start(self, symbols: Sequence[str]) -> None: ...

    async def latest(self, symbol: str) -> ReferencePrice | None: ...

    async def close(self) -> None: ...


@runtime_checkable
class NewsFeed(Protocol):
    name: str

    def set_sink(self, sink: Sink) -> None: ...

    async def poll(self) -> list[RawNews]:
        """Fetch new items since the last poll (conditional requests where the source allows)."""

    async def close(self) -> None: ...


@runtime_checkable
class LargeTradeFeed(Protocol):
    name: str

    def set_sink(self, sink: Sink) -> None: ...

    async def poll(self) -> list[WalletTrade]:
        """New large trades since the watermark (the whale tracker's raw input); the watermark
        never skips an unseen trade."""

    async def close(self) -> None: ...


@runtime_checkable
class JournalPort(Protocol):
    """The append-only record agents write through their Context (DuckDB behind it)."""

    async def record(self, payload: Payload, *, agent: str, durable: bool = False) -> None:
        """Append a payload to its table. ``durable=True`` commits before returning
        (the trader's write-ahead of an order request)."""

    async def checkpoint(self, agent: str, time_ns: int, state: dict[str, Any]) -> None: ...

    async def last_checkpoint(self, agent: str) -> dict[str, Any] | None: ...

    async def orders(self, agent: str) -> list[OrderRequest]:
        """Every order request this agent wrote ahead, oldest first."""

    async def order_events(self, agent: str) -> list[OrderEvent]: ...

    async def fills(self, agent: str) -> list[Fill]: ...

    async def flush(self) -> None: ...


class JournalUnavailable(RuntimeError):
    """The journal cannot be reached right now (restarting, or its actor is gone).

    Why its own type: a write-ahead that cannot be made is a *pause* (the trader holds its
    intents and sends nothing until the journal is back), never a venue failure and never a
    reason to halt. Every journal implementation raises this, and only this, for "not reachable".
    """


@runtime_checkable
class Scheduler(Protocol):
    """The runtime's clock, lent to a venue so its latencies run on simulated time.

    In a simulation ``now_ns`` is the virtual clock and ``call_at`` queues the callback in the
    runtime's (time, sequence) order, so a latency model stays deterministic; live, it is the wall
    clock and the event loop.
    """

    def now_ns(self) -> int: ...

    def call_at(self, time_ns: int, callback: Callable[[], None]) -> None: ...
