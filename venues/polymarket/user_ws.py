"""The CLOB user WebSocket: our orders' and trades' lives, pushed, as ``OrderEvent``s and ``Fill``s.

Why a client of our own (aiohttp) rather than the SDK's stream: we need the frame-level control
the rest of the stack has — count and skip a malformed frame instead of dropping the stream,
reconnect with jittered backoff, and tell the trader about the gap so it reconciles by REST.
Frames are decoded field by field with our own lenient models (``wire_account``), not the SDK's
strict ones: the venue sends ``size_matched: ""`` on a killed FOK and maker orders without
``side``, and a strict model would drop the whole frame, our own kill or taker fill with it.
Missing optional fields are counted in ``decoder.stats.missing``; only a frame lacking what
identifies it (ids, price, size) is refused and counted in ``rejected``.

A trade moves MATCHED → MINED → CONFIRMED, or through RETRYING to FAILED. Every change of a
fill's settlement is delivered as a ``Fill`` with the same ``fill_id`` and the new
``settlement``; a FAILED one means the match did not happen on chain and the consumer reverses
it (``FillLedger`` below does exactly that for whoever needs net positions).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import aiohttp
from pydantic import SecretStr, ValidationError

from protocols import (
    Fill,
    OrderEvent,
    OrderStatus,
    ReasonCode,
    SettlementStatus,
    Side,
    Sink,
)
from venues.polymarket.fills import FeeLookup, maker_fill, no_schedules, taker_fill
from venues.polymarket.wire_account import (
    DecodeStats,
    WireOrder,
    WireTrade,
    parse_order,
    parse_trade,
    settlement_text,
)

log = logging.getLogger(__name__)

_TERMINAL = {SettlementStatus.CONFIRMED, SettlementStatus.FAILED}


@dataclass(frozen=True)
class UserStreamConfig:
    url: str
    account: str = "polymarket"
    markets: tuple[str, ...] = ()
    ping_interval_s: float = 10.0
    #: No PONG (or any frame) for this long means the connection is dead.
    stale_after_s: float = 30.0
    backoff_initial_s: float = 0.25
    backoff_max_s: float = 15.0


class UserStreamDecoder:
    """Frame text → our payloads. Pure and synchronous, so it can be fuzzed directly.

    ``resolve(venue_order_id)`` names our client order id for a venue order, or None for an
    order this process did not place (it is then reported under its venue id).
    ``fee_schedule(token_id)`` gives the market's fee schedule when it is known (taker fees are
    then booked by it, not by the rate the frame reports).
    """

    def __init__(
        self,
        *,
        account: str,
        wallet: str,
        api_key: str,
        resolve: Callable[[str], str | None],
        clock_ns: Callable[[], int] = time.time_ns,
        fee_schedule: FeeLookup = no_schedules,
    ) -> None:
        self.account = account
        self._fee_schedule = fee_schedule
        self._wallet = wallet.lower()
        self._api_key = api_key
        self._resolve = resolve
        self._clock_ns = clock_ns
        self._settlement: dict[str, SettlementStatus] = {}
        self.rejected: Counter[str] = Counter()
        self.stats = DecodeStats()
        self.accepted = 0
        self._logged: set[str] = set()

    def _reject(self, kind: str, detail: str) -> None:
        self.rejected[kind] += 1
        if kind not in self._logged:
            self._logged.add(kind)
            log.warning("user ws: skipped a %s frame (%s); further ones are only counted", kind, detail)

    def decode(self, text: str) -> list[OrderEvent | Fill]:
        if text in ("PONG", "PING"):
            return []
        try:
            raw = json.loads(text)
        except (ValueError, RecursionError):
            self._reject("not_json", text[:80])
            return []
        items = raw if isinstance(raw, list) else [raw]
        out: list[OrderEvent | Fill] = []
        for item in items:
            if not isinstance(item, dict):
                self._reject("not_object", type(item).__name__)
                continue
            kind = item.get("event_type")
            if kind not in ("order", "trade"):
                self._reject(f"unknown_event:{str(kind)[:40]}", str(kind)[:80])
                continue
            try:
                if kind == "order":
                    payloads = self._order(parse_order(item, self.stats))
                else:
                    payloads = self._trade(parse_trade(item, self.stats))
            except (ValidationError, ValueError, TypeError, ArithmeticError) as exc:
                self._reject(f"invalid_{kind}", str(exc).splitlines()[0][:120])
                continue
            self.accepted += 1
            out.extend(payloads)
        return out

    def _ts(self, ns: int | None) -> int:
        return ns if ns is not None else self._clock_ns()

    def _order(self, p: WireOrder) -> list[OrderEvent | Fill]:
        coid = self._resolve(p.id) or p.id
        size = p.size_shares  # a FOK/FAK BUY's original_size is pUSD on the wire
        matched = p.matched
        status_text = p.status.upper()
        reason = None
        if p.type.upper() == "CANCELLATION" or status_text.startswith("CANCEL"):
            status = OrderStatus.CANCELLED
            if status_text == "CANCELED_EXPIRED_ORDER":
                status, reason = OrderStatus.EXPIRED, ReasonCode.EXPIRED
        elif matched >= size > 0:
            status = OrderStatus.FILLED
        elif matched > 0:
            status = OrderStatus.PARTIALLY_FILLED
        else:
            status = OrderStatus.ACKNOWLEDGED
        return [
            OrderEvent(
                time_ns=self._ts(p.timestamp or p.created_at),
                client_order_id=coid,
                venue_order_id=p.id,
                account=self.account,
                token_id=p.asset_id,
                market=p.market or "UNKNOWN",
                side=Side(p.side),
                price=p.price,
                size=size,
                status=status,
                filled=matched,
                reason=reason,
                message=status_text[:500],
            )
        ]

    def _trade(self, t: WireTrade) -> list[OrderEvent | Fill]:
        settlement = _settlement(t.status)
        ts = self._ts(t.time_ns)
        fills: list[Fill] = []
        taker_coid = self._resolve(t.taker_order_id) if t.taker_order_id else None
        taker_ours = taker_coid is not None or (
            t.trader_side == "TAKER" and (t.owner == self._api_key or (t.maker_address or "").lower() == self._wallet)
        )
        if taker_ours and (t.price is None or t.size is None):
            self.stats.malformed["WireTrade.taker_fill_without_price_or_size"] += 1
        elif taker_ours:
            fills.append(taker_fill(t, account=self.account, client_order_id=taker_coid, time_ns=ts,
                                    settlement=settlement, schedule=self._fee_schedule(t.asset_id)))
        for mo in t.maker_orders or ():
            coid = self._resolve(mo.order_id)
            ours = coid is not None or mo.owner == self._api_key or ((mo.maker_address or "").lower() == self._wallet)
            if not ours:
                continue
            fills.append(maker_fill(t, t.resolved(mo), account=self.account, client_order_id=coid, time_ns=ts,
                                    settlement=settlement))
        out: list[OrderEvent | Fill] = []
        for f in fills:
            prev = self._settlement.get(f.fill_id)
            if prev == settlement or prev in _TERMINAL:
                continue  # a replay, or news after the end of the story
            self._settlement[f.fill_id] = settlement
            out.append(f)
        return out


def _settlement(status: str) -> SettlementStatus:
    """An unknown status text is news about a match that happened: MATCHED, not a lost fill."""
    try:
        return SettlementStatus(settlement_text(status))
    except ValueError:
        return SettlementStatus.MATCHED


@dataclass
class FillLedger:
    """Net shares and cash per token from a stream of settlement updates; FAILED reverses."""

    applied: dict[str, Fill] = field(default_factory=dict)
    shares: dict[str, Decimal] = field(default_factory=dict)
    cash: Decimal = Decimal(0)
    reversed: int = 0

    def apply(self, fill: Fill) -> None:
        had = fill.fill_id in self.applied
        if fill.settlement is SettlementStatus.FAILED:
            if had:
                old = self.applied.pop(fill.fill_id)
                self.shares[old.token_id] = self.shares.get(old.token_id, Decimal(0)) - old.side.sign * old.size
                self.cash -= old.cash_flow
                self.reversed += 1
            return
        if had:
            return  # MINED/CONFIRMED of a fill already counted at MATCHED
        self.applied[fill.fill_id] = fill
        self.shares[fill.token_id] = self.shares.get(fill.token_id, Decimal(0)) + fill.side.sign * fill.size
        self.cash += fill.cash_flow


class UserStream:
    """Keeps one authenticated user-channel connection alive and feeds the sink."""

    def __init__(
        self,
        config: UserStreamConfig,
        *,
        api_key: SecretStr,
        api_secret: SecretStr,
        api_passphrase: SecretStr,
        decoder: UserStreamDecoder,
        on_gap: Callable[[], None] | None = None,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.config = config
        self._key, self._secret, self._passphrase = api_key, api_secret, api_passphrase
        self.decoder = decoder
        self._on_gap = on_gap
        self._sink: Sink | None = None
        self._session = session
        self._own_session = session is None
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self.connected = asyncio.Event()
        self.connects = 0
        self.frames = 0
        self.stale_sockets = 0
        #: Set when the server refused our credentials; the stream has stopped.
        self.refused: str | None = None

    def __repr__(self) -> str:
        return f"UserStream(url={self.config.url!r}, connects={self.connects})"

    def set_sink(self, sink: Sink) -> None:
        self._sink = sink

    def _auth_frame(self) -> dict[str, Any]:
        frame: dict[str, Any] = {
            "auth": {
                "apiKey": self._key.get_secret_value(),
                "secret": self._secret.get_secret_value(),
                "passphrase": self._passphrase.get_secret_value(),
            },
            "type": "user",
        }
        if self.config.markets:
            frame["markets"] = list(self.config.markets)
        return frame

    async def start(self) -> None:
        if self._task is None:
            if self._session is None:
                self._session = aiohttp.ClientSession()
            self._stop.clear()
            self._task = asyncio.create_task(self._run(), name="pm-user-ws")

    async def close(self) -> None:
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    def handle_text(self, text: str) -> None:
        self.frames += 1
        for payload in self.decoder.decode(text):
            if self._sink is not None:
                self._sink(payload)

    async def _run(self) -> None:
        delay = self.config.backoff_initial_s
        while not self._stop.is_set():
            try:
                await self._connect_once()
                delay = self.config.backoff_initial_s
            except asyncio.CancelledError:
                raise
            except UserStreamRefused as exc:
                # wrong credentials do not get better by retrying: stop and say so
                self.refused = str(exc)
                log.error("user ws refused our credentials: %s", exc)
                self.connected.clear()
                return
            except Exception as exc:  # network trouble of any kind: back off and retry
                log.warning("user ws disconnected: %s", type(exc).__name__)
            self.connected.clear()
            if self._stop.is_set():
                break
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, self.config.backoff_max_s)

    async def _connect_once(self) -> None:
        assert self._session is not None
        async with self._session.ws_connect(self.config.url, heartbeat=None) as ws:
            await ws.send_str(json.dumps(self._auth_frame()))
            self.connects += 1
            if self.connects > 1 and self._on_gap is not None:
                self._on_gap()  # events may have been missed while we were away
            self.connected.set()
            pinger = asyncio.create_task(self._ping(ws))
            try:
                while True:
                    try:
                        # PONGs count: a socket silent past stale_after_s is dead, reconnect
                        msg = await ws.receive(timeout=self.config.stale_after_s)
                    except TimeoutError:
                        self.stale_sockets += 1
                        log.warning("user ws silent for %.0fs: reconnecting", self.config.stale_after_s)
                        break
                    if msg.type == aiohttp.WSMsgType.TEXT:
                        if msg.data.startswith('{"error"'):
                            _raise_if_refused(msg.data)
                        self.handle_text(msg.data)
                    elif msg.type in (
                        aiohttp.WSMsgType.ERROR,
                        aiohttp.WSMsgType.CLOSED,
                        aiohttp.WSMsgType.CLOSE,
                        aiohttp.WSMsgType.CLOSING,
                    ):
                        break
            finally:
                pinger.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pinger

    async def _ping(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        while not ws.closed:
            await asyncio.sleep(self.config.ping_interval_s)
            await ws.send_str("PING")


class UserStreamRefused(Exception):
    """The user channel refused our API credentials (the client no longer matches the venue)."""


def _raise_if_refused(text: str) -> None:
    try:
        raw = json.loads(text)
    except ValueError:
        return
    if isinstance(raw, dict) and set(raw) == {"error"}:
        raise UserStreamRefused(str(raw["error"])[:200])


def stream_for_execution(
    execution: Any,
    url: str,
    *,
    markets: Sequence[str] = (),
    on_gap: Callable[[], None] | None = None,
    ping_interval_s: float = 10.0,
    stale_after_s: float = 30.0,
) -> UserStream:
    """A user stream wired to a ``PolymarketExecution``'s id map and credentials."""
    creds = execution.api_credentials()
    decoder = UserStreamDecoder(
        account=execution.account,
        wallet=execution.wallet,
        api_key=creds.key,
        resolve=execution.client_order_id_for,
        fee_schedule=execution.fee_schedule,
    )
    return UserStream(
        UserStreamConfig(
            url=url,
            account=execution.account,
            markets=tuple(markets),
            ping_interval_s=ping_interval_s,
            stale_after_s=stale_after_s,
        ),
        api_key=SecretStr(creds.key),
        api_secret=SecretStr(creds.secret),
        api_passphrase=SecretStr(creds.passphrase),
        decoder=decoder,
        on_gap=on_gap,
    )
