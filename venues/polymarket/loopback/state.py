"""What the loopback server serves, and the hooks tests use to disturb it.

The backing store is a simulated exchange reached through :class:`LoopbackExchange` — the few
methods of ``venues.sim.SimExchange`` the server uses — so any engine with the same surface can
stand in. The state listens to the exchange's public market data (for the market WebSocket) and to
every account's fills and settlements (for the Data API's ``/trades``, ``/activity``,
``/positions``), and keeps the RSS/Atom feeds and spot tickers served beside it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from protocols import (
    BookDelta,
    BookSnapshot,
    Fill,
    Liquidity,
    MarketInfo,
    MarketResolved,
    Payload,
    Position,
    Settlement,
    TickSizeChange,
    TradePrint,
)
from venues.polymarket.loopback import wire

log = logging.getLogger(__name__)


class LoopbackExchange(Protocol):
    """The surface of the simulated exchange the loopback server needs."""

    def markets(self) -> list[MarketInfo]: ...

    def market_info(self, market_or_token: str) -> MarketInfo | None: ...

    def book(self, token_id: str) -> BookSnapshot: ...

    def add_market(self, info: MarketInfo) -> None: ...

    def add_listener(self, fn: Callable[[Payload], None]) -> None: ...

    def set_tick_size(self, market: str, tick: Decimal) -> None: ...

    def resolve(self, market: str, winning_token_id: str | None) -> Any: ...

    def positions(self, account: str) -> list[Position]: ...

    def neg_risk_event(self, event_id: str) -> tuple[list[str], bool]: ...


class WallClockScheduler:
    """A ``protocols.Scheduler`` on the wall clock and the running loop, so the simulated exchange
    stamps its events with real time (Polymarket clients expect real millisecond timestamps)."""

    def now_ns(self) -> int:
        return time.time_ns()

    def call_at(self, time_ns: int, callback: Callable[[], None]) -> None:
        delay = max(0.0, (time_ns - time.time_ns()) / 1e9)
        asyncio.get_running_loop().call_later(delay, callback)


# -- market WebSocket connections ---------------------------------------------------------------


@dataclass(eq=False)
class WsClient:
    """One market-WebSocket connection: what it follows and its outbound queue."""

    conn_id: int
    assets: set[str] = field(default_factory=set)
    custom: bool = False
    queue: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)
    subscribed: asyncio.Event = field(default_factory=asyncio.Event)
    close_hook: Callable[[bool], None] | None = None
    sent: int = 0


class MarketHub:
    """Fan-out of exchange events to subscribed sockets, in the exchange's order."""

    def __init__(self, state: LoopbackState) -> None:
        self._state = state
        self.clients: dict[int, WsClient] = {}
        self._next = 0
        self._best: dict[str, tuple[Decimal | None, Decimal | None]] = {}
        self.answer_pings = True
        self.connections_total = 0
        self.frames_injected = 0
        self._pending: list[BookDelta] = []
        self._flush_scheduled = False

    def open(self) -> WsClient:
        self._next += 1
        self.connections_total += 1
        c = WsClient(self._next)
        self.clients[c.conn_id] = c
        return c

    def close(self, c: WsClient) -> None:
        self.clients.pop(c.conn_id, None)

    def subscribe(self, c: WsClient, assets: Iterable[str]) -> None:
        """Follow assets and queue each one's ``book`` at once (no await between the two, so no
        delta can slip in between snapshot and subscription)."""
        self.flush()
        books = []
        for a in assets:
            if not isinstance(a, str) or a in c.assets:
                continue
            try:
                snap = self._state.exchange.book(a)
            except KeyError:
                continue  # Polymarket ignores unknown asset ids
            c.assets.add(a)
            books.append(wire.book_json(snap, rest=False))
        if books:
            self._put(c, books)
        c.subscribed.set()

    def unsubscribe(self, c: WsClient, assets: Iterable[str]) -> None:
        for a in assets:
            c.assets.discard(a)

    def _put(self, c: WsClient, obj: Any) -> None:
        c.queue.put_nowait(json.dumps(obj, separators=(",", ":")))

    def publish(self, token_id: str | None, obj: dict[str, Any], *, custom_only: bool = False) -> None:
        self.flush()
        for c in list(self.clients.values()):
            if custom_only and not c.custom:
                continue
            if token_id is None or token_id in c.assets:
                self._put(c, obj)

    def publish_market(self, info: MarketInfo | None, obj: dict[str, Any]) -> None:
        """Market-level custom events go to sockets following either token (or all, if unknown)."""
        self.flush()
        for c in list(self.clients.values()):
            if not c.custom:
                continue
            if info is None or c.assets & set(info.token_ids):
                self._put(c, obj)

    def inject(self, text: str, token_id: str | None = None) -> None:
        """Send raw text (malformed on purpose) to every socket, or those following ``token_id``."""
        self.flush()
        self.frames_injected += 1
        for c in list(self.clients.values()):
            if token_id is None or token_id in c.assets:
                c.queue.put_nowait(text)

    def drop_all(self, abrupt: bool = True) -> int:
        self.flush()  # what happened before the drop was sent before it
        n = 0
        for c in list(self.clients.values()):
            if c.close_hook is not None:
                c.close_hook(abrupt)
                n += 1
        return n

    # -- exchange events → wire events ---------------------------------------------------------
    def on_payload(self, p: Payload) -> None:
        if isinstance(p, BookDelta):
            head = self._pending[0] if self._pending else None
            if head is not None and (head.market != p.market or head.time_ns // 1_000_000 != p.time_ns // 1_000_000):
                self.flush()
            self._pending.append(p)
            self._schedule_flush()
            return
        self.flush()  # keep the exchange's order: deltas before whatever came after them
        if isinstance(p, BookSnapshot):
            self._best[p.token_id] = (p.bids[0][0] if p.bids else None, p.asks[0][0] if p.asks else None)
            self.publish(p.token_id, wire.book_json(p, rest=False))
        elif isinstance(p, TradePrint):
            self.publish(p.token_id, wire.last_trade_json(p))
        elif isinstance(p, TickSizeChange):
            self.publish(p.token_id, wire.tick_change_json(p))
        elif isinstance(p, MarketResolved):
            info = self._state.exchange.market_info(p.market)
            self.publish_market(info, wire.resolved_json(p, info, self._state.gamma_id(p.market)))

    def _schedule_flush(self) -> None:
        if self._flush_scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()  # no loop (a synchronous caller): nothing to batch with
            return
        self._flush_scheduled = True
        loop.call_soon(self.flush)

    def flush(self) -> None:
        """Send pending deltas as Polymarket does: one ``price_change`` per market and millisecond
        carrying the changes of both tokens (each socket sees only the assets it follows), then a
        ``best_bid_ask`` for each token whose top moved."""
        self._flush_scheduled = False
        if not self._pending:
            return
        deltas, self._pending = self._pending, []
        event = wire.price_change_json(deltas[0])
        event["price_changes"] = [c for d in deltas for c in wire.price_change_json(d)["price_changes"]]
        event["timestamp"] = wire.ms(deltas[-1].time_ns)
        for c in list(self.clients.values()):
            mine = [pc for pc in event["price_changes"] if pc["asset_id"] in c.assets]
            if mine:
                self._put(c, {**event, "price_changes": mine})
        for d in deltas:
            best = (d.best_bid, d.best_ask)
            if self._best.get(d.token_id) != best:
                self._best[d.token_id] = best
                self.publish(
                    d.token_id,
                    wire.best_bid_ask_json(d.token_id, d.market, d.best_bid, d.best_ask, d.time_ns),
                    custom_only=True,
                )


# -- Data API tape ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DataRow:
    """One Data API row (a trade or another activity), kept in arrival order."""

    wallet: str
    timestamp_s: int
    type: str
    market: str
    asset: str
    side: str
    size: Decimal
    price: Decimal
    tx_hash: str
    taker: bool = True
    outcome: str = ""
    outcome_index: int = 0
    title: str = ""
    slug: str = ""

    def trade_json(self) -> dict[str, Any]:
        return {
            "proxyWallet": self.wallet,
            "side": self.side,
            "asset": self.asset,
            "conditionId": self.market,
            "size": float(self.size),
            "price": float(self.price),
            "timestamp": self.timestamp_s,
            "title": self.title,
            "slug": self.slug,
            "outcome": self.outcome,
            "outcomeIndex": self.outcome_index,
            "name": "",
            "pseudonym": "",
            "transactionHash": self.tx_hash,
        }

    def activity_json(self) -> dict[str, Any]:
        return {
            "proxyWallet": self.wallet,
            "timestamp": self.timestamp_s,
            "conditionId": self.market,
            "type": self.type,
            "size": float(self.size),
            "usdcSize": float(self.size * self.price),
            "transactionHash": self.tx_hash,
            "price": float(self.price),
            "asset": self.asset,
            "side": self.side if self.type == "TRADE" else "",
            "outcomeIndex": self.outcome_index,
            "title": self.title,
            "slug": self.slug,
            "outcome": self.outcome,
        }


class LoopbackState:
    """Everything the routes read, plus the hooks tests use (see ``LoopbackServer``)."""

    def __init__(self, exchange: LoopbackExchange, *, quirks: bool = True) -> None:
        self.exchange = exchange
        #: Send what the live venue really sends (``shared/reference/polymarket.md``, "What the
        #: live venue really sends"): maker orders without ``side``, a killed FOK with
        #: ``size_matched: ""``, FOK/FAK BUY sizes in pUSD, ``associate_trades: null``, a book's
        #: ``last_trade_price: ""``, user order times in ms beside REST times in s. On by default:
        #: the clients must survive the venue, not our idea of it. Off: the documented schema.
        self.quirks = quirks
        self.hub = MarketHub(self)
        self.rows: list[DataRow] = []
        self._gamma_ids: dict[str, str] = {}
        self.requests: dict[str, int] = {}
        exchange.add_listener(self._on_payload)
        for info in exchange.markets():
            self.gamma_id(info.market)

    def gamma_id(self, market: str) -> str:
        gid = self._gamma_ids.get(market)
        if gid is None:
            gid = self._gamma_ids[market] = str(500_000 + len(self._gamma_ids) + 1)
        return gid

    def _on_payload(self, p: Payload) -> None:
        try:
            if isinstance(p, Fill):
                self._on_fill(p)
            elif isinstance(p, Settlement):
                self._on_settlement(p)
            self.hub.on_payload(p)
        except Exception:  # never let a serving bug break the exchange's operation
            log.exception("loopback: failed to handle %s", type(p).__name__)

    def _info_fields(self, token_id: str) -> tuple[str, int, str, str]:
        info = self.exchange.market_info(token_id)
        if info is None:
            return "", 0, "", ""
        idx = info.token_ids.index(token_id) if token_id in info.token_ids else 0
        return info.outcomes[idx], idx, info.question, info.slug

    def _on_fill(self, f: Fill) -> None:
        base = f.fill_id.rsplit("-", 1)[0]
        tx = "0x" + hashlib.sha256(base.encode()).hexdigest()
        outcome, idx, title, slug = self._info_fields(f.token_id)
        self.rows.append(
            DataRow(
                wallet=f.account, timestamp_s=f.time_ns // 1_000_000_000, type="TRADE", market=f.market,
                asset=f.token_id, side=f.side.value, size=f.size, price=f.price, tx_hash=tx,
                taker=f.liquidity is Liquidity.TAKER, outcome=outcome, outcome_index=idx, title=title, slug=slug,
            )
        )

    def _on_settlement(self, s: Settlement) -> None:
        tx = "0x" + hashlib.sha256(f"redeem|{s.account}|{s.token_id}".encode()).hexdigest()
        outcome, idx, title, slug = self._info_fields(s.token_id)
        self.rows.append(
            DataRow(
                wallet=s.account, timestamp_s=s.time_ns // 1_000_000_000, type="REDEEM", market=s.market,
                asset=s.token_id, side="", size=s.size, price=s.payout_per_share, tx_hash=tx,
                outcome=outcome, outcome_index=idx, title=title, slug=slug,
            )
        )

    # -- hooks ------------------------------------------------------------------------------------
    def add_data_trade(
        self,
        *,
        wallet: str,
        token_id: str,
        side: str,
        size: Decimal | str | int,
        price: Decimal | str,
        timestamp_s: int,
        tx_hash: str,
        taker: bool = True,
    ) -> DataRow:
        """Append a Data API trade directly (a trade the exchange did not make, e.g. to control
        timestamps exactly in a pagination test)."""
        info = self.exchange.market_info(token_id)
        if info is None:
            raise KeyError(f"unknown token {token_id!r}")
        outcome, idx, title, slug = self._info_fields(token_id)
        row = DataRow(
            wallet=wallet, timestamp_s=timestamp_s, type="TRADE", market=info.market, asset=token_id,
            side=side, size=Decimal(size), price=Decimal(price), tx_hash=tx_hash, taker=taker,
            outcome=outcome, outcome_index=idx, title=title, slug=slug,
        )
        self.rows.append(row)
        return row

    def add_market(self, info: MarketInfo) -> None:
        """List a market on the exchange and announce it (``new_market``, custom feature)."""
        self.exchange.add_market(info)
        gid = self.gamma_id(info.market)
        self.hub.publish(None, wire.new_market_json(info, gid, time.time_ns()), custom_only=True)

    def change_tick_size(self, market_or_token: str, tick: Decimal | str) -> None:
        info = self.exchange.market_info(market_or_token)
        if info is None:
            raise KeyError(f"unknown market or token {market_or_token!r}")
        self.exchange.set_tick_size(info.market, Decimal(tick))

    def resolve_market(self, market: str, winning_token_id: str | None) -> None:
        self.exchange.resolve(market, winning_token_id)

    def count(self, route: str) -> None:
        self.requests[route] = self.requests.get(route, 0) + 1
