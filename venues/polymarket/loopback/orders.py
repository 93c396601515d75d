"""The loopback CLOB's private side: API keys, signed orders, cancels, open orders and trades.

Why it is strict: the point of the loopback is that the live client is tested against the
protocol, not against our conventions. So every private call must carry valid L2 HMAC headers,
API keys are created/derived only with a valid L1 (EIP-712 ``ClobAuth``) signature, and every
posted order's EIP-712 signature must recover to its signer under the SDK's own domain and types.
Orders are backed by the simulated exchange (``venues.sim.SimExchange``): the venue order id —
the order hash — is the sim's client order id, the maker address is the sim account, amounts
×10⁶ become price and size.

Response shapes are the CLOB's: ``{success, errorMsg, orderID, status, takingAmount,
makingAmount, transactionsHashes, tradeIDs}``, ``{"canceled": [...], "not_canceled": {...}}``,
``{"data": [...], "next_cursor": ...}`` ending with ``"LTE="``, ``{"error": ...}`` on non-200.

Test controls live on ``OrdersState`` (``orders_state(app)``): drop the next order response after
accepting it (an unknown submit outcome), and move a trade through MINED/CONFIRMED/FAILED.

With ``quirks`` (the default; ``LoopbackState.quirks``) the documents are what the live venue
sends, not its documented schema: user-channel ``maker_orders[]`` without ``side``; a FOK/FAK
killed by the engine announced as a ``CANCELLATION`` with ``size_matched: ""`` and
``created_at: ""``; a FOK/FAK BUY's ``original_size`` in pUSD; ``associate_trades: null`` in REST
order records; user order frames' ``created_at`` in milliseconds (REST: seconds).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from aiohttp import web
from polymarket._internal.environment import PRODUCTION_CONFIG, EnvironmentConfig

from protocols import (
    Fill,
    Liquidity,
    MarketInfo,
    OrderEvent,
    OrderRequest,
    OrderStatus,
    Payload,
    ReasonCode,
    SettlementStatus,
    Side,
    TimeInForce,
)
from venues.polymarket.auth import AuthError, verify_l1, verify_l2
from venues.polymarket.signing import (
    OrderSignatureError,
    WireOrder,
    exchange_address,
    verify_order_signature,
)

log = logging.getLogger(__name__)

END_CURSOR = "LTE="
MAX_BATCH = 15
MICRO = Decimal(1_000_000)
MAX_ALLOWANCE = str(2**256 - 1)
FOK_NOT_FILLED = "order couldn't be fully filled. FOK orders are fully filled or killed."
FAK_NOT_FILLED = (
    "no orders found to match with FAK order. FAK orders are partially filled or killed if no match is found."
)

# Our reason → the CLOB's error text (the SDK and our client both key on these phrases).
_REASON_TEXT: dict[ReasonCode, str] = {
    ReasonCode.INSUFFICIENT_BALANCE: "not enough balance / allowance",
    ReasonCode.INVALID_TICK: "order price breaks minimum tick size rule",
    ReasonCode.INVALID_PRICE: "invalid price",
    ReasonCode.BELOW_MIN_SIZE: "Size lower than the minimum",
    ReasonCode.INVALID_SIZE: "invalid order size",
    ReasonCode.MARKET_CLOSED: "market is closed",
    ReasonCode.POST_ONLY_WOULD_CROSS: "invalid post-only order: order crosses book",
    ReasonCode.UNKNOWN_TOKEN: "market not found",
    ReasonCode.DUPLICATE_ORDER: "duplicate order: order already exists",
    ReasonCode.INVALID_EXPIRATION: "invalid expiration",
}


def num(d: Decimal | int) -> str:
    """Polymarket's number strings: no exponent, no trailing zeros."""
    s = format(Decimal(d).normalize(), "f")
    return s if s != "-0" else "0"


def _seconds(time_ns: int) -> int:
    return time_ns // 1_000_000_000


@dataclass
class ApiKey:
    key: str
    secret: str
    passphrase: str
    address: str
    nonce: int


@dataclass
class TradeRecord:
    """One match between a taker order and one maker order (a sim trade)."""

    trade_id: str
    taker: Fill
    maker: Fill
    status: SettlementStatus = SettlementStatus.MATCHED
    tx_hash: str = ""
    updated_ns: int = 0


@dataclass
class OrderMeta:
    order_type: str
    owner_key: str
    address: str
    created_ns: int
    expiration: int
    outcome: str


class OrdersState:
    """Everything the order side keeps beside the exchange's own ledger."""

    def __init__(
        self,
        exchange: Any,
        *,
        env_config: EnvironmentConfig = PRODUCTION_CONFIG,
        opening_cash: Decimal = Decimal(10_000),
        page_size: int = 100,
        clock_s: Callable[[], float] = time.time,
        seed: bytes | None = None,
    ) -> None:
        self.exchange = exchange
        self.env_config = env_config
        self.chain_id = env_config.chain_id
        self.opening_cash = opening_cash
        self.page_size = page_size
        self.clock_s = clock_s
        self._seed = seed if seed is not None else secrets.token_bytes(32)
        self.keys: dict[str, ApiKey] = {}
        self.meta: dict[str, OrderMeta] = {}  # order hash → what the sim does not keep
        self.trades: dict[str, TradeRecord] = {}
        self.trade_order: list[str] = []
        self._pending_taker: dict[str, Fill] = {}
        self.drop_next_order_responses = 0
        self.drop_next_order_requests = 0  # lost before the venue sees them
        #: Test hooks for what the live order endpoint does to a lookup: it may have forgotten an
        #: order that is no longer live (filled or cancelled: answered as unknown, 404), and a
        #: record may come back unreadable (``garble_next_order_lookups``: a price that is no number).
        self.forget_finished_orders = False
        self.garble_next_order_lookups = 0
        self.accepted_posts = 0
        self.rejected: dict[str, int] = {}
        # (account, wire-json) listeners: the user WebSocket subscribes here
        self.user_listeners: list[Callable[[str, dict[str, Any]], None]] = []
        #: Where ``quirks`` is read (the loopback's state, so a server-wide switch reaches it).
        self.quirk_source: Any = None
        exchange.add_listener(self._on_exchange_event)

    @property
    def quirks(self) -> bool:
        return bool(getattr(self.quirk_source, "quirks", True))

    # -- keys -------------------------------------------------------------------------------

    def derive_key(self, address: str, nonce: int) -> ApiKey:
        mac = hmac.new(self._seed, f"{address.lower()}:{nonce}".encode(), hashlib.sha256).digest()
        key = str(uuid.UUID(bytes=mac[:16]))
        secret = base64.urlsafe_b64encode(hashlib.sha256(mac + b"secret").digest()).decode()
        passphrase = hashlib.sha256(mac + b"pass").hexdigest()
        return ApiKey(key, secret, passphrase, address, nonce)

    def register_key(self, api: ApiKey) -> None:
        self.keys[api.key] = api
        self.ensure_account(api.address)

    def ensure_account(self, address: str) -> None:
        if not self.exchange.has_account(address):
            self.exchange.open_account(address, self.opening_cash)

    def lookup(self, api_key: str) -> tuple[str, str, str] | None:
        k = self.keys.get(api_key)
        return None if k is None else (k.address, k.secret, k.passphrase)

    def key_for(self, address: str) -> str:
        for k in self.keys.values():
            if k.address.lower() == address.lower():
                return k.key
        return ""

    def address_of(self, account: str) -> str:
        return account

    # -- exchange events → trades and user-channel frames -------------------------------------

    def _now_ns(self) -> int:
        return int(self.exchange.now_ns())

    def _on_exchange_event(self, payload: Payload) -> None:
        try:
            self._handle_exchange_event(payload)
        except Exception:  # a serving bug must never break the exchange's own operation
            log.exception("loopback orders: failed to handle %s", type(payload).__name__)

    def _handle_exchange_event(self, payload: Payload) -> None:
        if isinstance(payload, Fill):
            base = payload.fill_id.rsplit("-", 1)[0]
            if payload.liquidity is Liquidity.TAKER:
                self._pending_taker[base] = payload
                return
            taker = self._pending_taker.pop(base, None)
            if taker is None:
                log.warning("maker fill %s without its taker fill", payload.fill_id)
                return
            rec = TradeRecord(base, taker, payload, updated_ns=payload.time_ns)
            self.trades[base] = rec
            self.trade_order.append(base)
            self._publish_trade(rec)
        elif isinstance(payload, OrderEvent) and payload.client_order_id in self.meta:
            self._publish_order(payload)

    def _publish(self, account: str, frame: dict[str, Any]) -> None:
        for fn in list(self.user_listeners):
            fn(account, frame)

    def _publish_order(self, ev: OrderEvent) -> None:
        meta = self.meta[ev.client_order_id]
        killed = ev.status is OrderStatus.REJECTED and ev.reason in (
            ReasonCode.FOK_NOT_FILLABLE, ReasonCode.FAK_NO_MATCH
        )
        if ev.status is OrderStatus.REJECTED and not killed:
            return  # refused before it was an order: the venue says so in the response only
        if killed or ev.status in (OrderStatus.CANCELLED, OrderStatus.EXPIRED):
            kind = "CANCELLATION"
        elif ev.filled > 0:
            kind = "UPDATE"
        else:
            kind = "PLACEMENT"
        frame = self.order_json(ev, meta, rest=False)
        frame.update(
            {
                "event_type": "order",
                "type": kind,
                "order_owner": meta.owner_key,
                "timestamp": str(ev.time_ns // 1_000_000),
            }
        )
        if killed:
            text = FOK_NOT_FILLED if ev.reason is ReasonCode.FOK_NOT_FILLABLE else FAK_NOT_FILLED
            frame["status"] = "CANCELED_" + text
            frame["size_matched"] = "" if self.quirks else "0"
            if self.quirks:
                frame["created_at"] = ""
        self._publish(ev.account, frame)

    def _publish_trade(self, rec: TradeRecord) -> None:
        for fill in (rec.taker, rec.maker):
            frame = self.trade_json(rec, viewer=fill.account)
            frame.update({"event_type": "trade", "type": "TRADE", "timestamp": str(rec.updated_ns // 1_000_000)})
            self._publish(fill.account, frame)

    def set_trade_status(self, trade_id: str, status: SettlementStatus | str) -> TradeRecord:
        """Move a trade along its on-chain life and push the change to both sides' user channel.

        A FAILED trade stays in the trade record as FAILED; the exchange's ledger is not unwound
        (the clients reverse it on their side, which is what the real venue asks of them).
        """
        rec = self.trades[trade_id]
        rec.status = SettlementStatus(status)
        rec.updated_ns = self._now_ns()
        if rec.status in (SettlementStatus.MINED, SettlementStatus.CONFIRMED) and not rec.tx_hash:
            rec.tx_hash = "0x" + hashlib.sha256(trade_id.encode()).hexdigest()
        self._publish_trade(rec)
        return rec

    # -- JSON shapes ---------------------------------------------------------------------------

    def _info(self, token: str) -> MarketInfo | None:
        info: MarketInfo | None = self.exchange.market_info(token)
        return info

    def _outcome(self, token: str) -> tuple[str, int]:
        info = self._info(token)
        if info is None:
            return "", 0
        idx = 0 if info.token_ids[0] == token else 1
        return info.outcomes[idx], idx

    def order_json(self, ev: OrderEvent, meta: OrderMeta, *, rest: bool = True) -> dict[str, Any]:
        """An order record: REST (``rest``; ``created_at`` in seconds) or a user-channel frame."""
        quirks = self.quirks
        if ev.status in (OrderStatus.CANCELLED, OrderStatus.EXPIRED):
            status = "CANCELED_EXPIRED_ORDER" if ev.status is OrderStatus.EXPIRED else "CANCELED"
        elif ev.status is OrderStatus.FILLED:
            status = "MATCHED"
        else:
            status = "LIVE"
        trades = [
            t
            for t in self.trade_order
            if ev.client_order_id in (self.trades[t].taker.client_order_id, self.trades[t].maker.client_order_id)
        ]
        size = ev.size
        if quirks and ev.side is Side.BUY and meta.order_type in ("FOK", "FAK"):
            size = ev.size * ev.price  # the venue reports a marketable BUY's amount in pUSD
        created: int | str = _seconds(meta.created_ns)
        if quirks and not rest:
            created = str(meta.created_ns // 1_000_000)  # user frames: milliseconds, as a string
        return {
            "id": ev.client_order_id,
            "status": status,
            "owner": meta.owner_key,
            "maker_address": meta.address,
            "market": ev.market,
            "asset_id": ev.token_id,
            "side": ev.side.value,
            "original_size": num(size),
            "size_matched": num(ev.filled),
            "price": num(ev.price),
            "outcome": meta.outcome,
            "expiration": str(meta.expiration),
            "order_type": meta.order_type,
            "created_at": created,
            "associate_trades": None if quirks and rest else trades,
        }

    def trade_json(self, rec: TradeRecord, *, viewer: str) -> dict[str, Any]:
        t, m = rec.taker, rec.maker
        info = self._info(t.token_id)
        bps = int((info.fee_rate if info and info.fees_enabled else Decimal(0)) * 10_000)
        outcome, _ = self._outcome(t.token_id)
        m_outcome, m_idx = self._outcome(m.token_id)
        maker_meta = self.meta.get(m.client_order_id)
        taker_meta = self.meta.get(t.client_order_id)
        is_taker = t.account == viewer
        own_meta = taker_meta if is_taker else maker_meta
        maker_order: dict[str, Any] = {
            "order_id": m.client_order_id,
            "owner": maker_meta.owner_key if maker_meta else self.key_for(m.account),
            "maker_address": m.account,
            "matched_amount": num(m.size),
            "price": num(m.price),
            "fee_rate_bps": "0",
            "asset_id": m.token_id,
            "outcome": m_outcome,
        }
        if not self.quirks:  # the live venue's maker orders often carry neither
            maker_order["side"] = m.side.value
            maker_order["outcome_index"] = m_idx
        return {
            "id": rec.trade_id,
            "taker_order_id": t.client_order_id,
            "market": t.market,
            "asset_id": t.token_id,
            "side": t.side.value,
            "size": num(t.size),
            "fee_rate_bps": str(bps),
            "price": num(t.price),
            "status": f"TRADE_STATUS_{rec.status.value}",
            "match_time": str(_seconds(t.time_ns)),
            "matchtime": str(_seconds(t.time_ns)),
            "last_update": str(_seconds(rec.updated_ns or t.time_ns)),
            "outcome": outcome,
            "bucket_index": 0,
            "owner": own_meta.owner_key if own_meta else self.key_for(viewer),
            "trade_owner": own_meta.owner_key if own_meta else self.key_for(viewer),
            "maker_address": viewer,
            "transaction_hash": rec.tx_hash,
            "trader_side": "TAKER" if is_taker else "MAKER",
            "maker_orders": [maker_order],
        }

    # -- orders -------------------------------------------------------------------------------

    def to_request(
        self, wire: WireOrder, order_type: str, post_only: bool, info: MarketInfo, order_id: str
    ) -> OrderRequest:
        """Signed amounts → a limit order for the sim (BUY: maker = pUSD, taker = shares)."""
        maker, taker = Decimal(wire.maker_amount), Decimal(wire.taker_amount)
        if maker <= 0 or taker <= 0:
            raise _Reject(ReasonCode.INVALID_SIZE, "invalid order size: amounts must be positive")
        tick = info.tick_size
        immediate = order_type in ("FOK", "FAK")
        if wire.side == "BUY":
            raw_price, size = maker / taker, taker / MICRO
            price = (raw_price / tick).to_integral_value(ROUND_FLOOR) * tick if immediate else raw_price
        else:
            raw_price, size = taker / maker, maker / MICRO
            price = (raw_price / tick).to_integral_value(ROUND_CEILING) * tick if immediate else raw_price
        if immediate:
            size = size.quantize(Decimal("0.01"), rounding=ROUND_FLOOR)
        if price % tick != 0:
            raise _Reject(ReasonCode.INVALID_TICK, f"order price breaks minimum tick size rule: {num(tick)}")
        if not Decimal(0) < price < Decimal(1):
            raise _Reject(ReasonCode.INVALID_PRICE, f"invalid price {num(price)}")
        tif = TimeInForce(order_type)
        expires = wire.expiration * 1_000_000_000 if tif is TimeInForce.GTD else None
        try:
            return OrderRequest(
                time_ns=self._now_ns(),
                client_order_id=order_id,
                account=wire.maker,
                token_id=wire.token_id,
                market=info.market,
                side=Side(wire.side),
                price=price,
                size=size,
                tick_size=tick,
                tif=tif,
                post_only=post_only,
                expires_ns=expires,
                neg_risk=info.neg_risk,
            )
        except ValueError as exc:
            raise _Reject(ReasonCode.INVALID_SIZE, f"invalid order: {str(exc).splitlines()[0]}") from None

    def post_one(self, item: Any, *, api: ApiKey) -> tuple[int, dict[str, Any]]:
        """Validate, verify and place one ``{"order", "owner", "orderType", "postOnly"}`` item."""
        try:
            return 200, self._post_one(item, api=api)
        except _Reject as rej:
            self.rejected[rej.reason.value] = self.rejected.get(rej.reason.value, 0) + 1
            return rej.http_status, {"error": rej.text}

    def _post_one(self, item: Any, *, api: ApiKey) -> dict[str, Any]:
        if not isinstance(item, dict) or not isinstance(item.get("order"), dict):
            raise _Reject(ReasonCode.VENUE_ERROR, "invalid order payload")
        raw = item["order"]
        if "nonce" in raw or "feeRateBps" in raw or "timestamp" not in raw:
            raise _Reject(ReasonCode.VENUE_ERROR, "order_version_mismatch")
        if item.get("owner") != api.key:
            raise _Reject(ReasonCode.VENUE_ERROR, "the order owner has to be the owner of the API KEY")
        order_type = str(item.get("orderType", "GTC")).upper()
        if order_type not in ("GTC", "GTD", "FOK", "FAK"):
            raise _Reject(ReasonCode.VENUE_ERROR, f"invalid order type {order_type}")
        post_only = bool(item.get("postOnly", False))
        if post_only and order_type not in ("GTC", "GTD"):
            raise _Reject(ReasonCode.VENUE_ERROR, "post-only orders are only supported for GTC and GTD")
        try:
            wire = WireOrder.from_json(raw)
        except OrderSignatureError as exc:
            raise _Reject(ReasonCode.VENUE_ERROR, str(exc)) from None
        if wire.signer.lower() != api.address.lower():
            raise _Reject(ReasonCode.VENUE_ERROR, "the order signer address has to be the address of the API KEY")
        info = self._info(wire.token_id)
        if info is None:
            raise _Reject(ReasonCode.UNKNOWN_TOKEN, "market not found", http_status=404)
        contract = exchange_address(self.env_config, wire.token_id, info.neg_risk)
        try:
            order_id = verify_order_signature(wire, self.chain_id, contract)
        except OrderSignatureError as exc:
            log.info("loopback refused an order: %s", exc)
            raise _Reject(ReasonCode.VENUE_ERROR, "invalid signature") from None
        if order_type == "GTD" and wire.expiration <= 0:
            raise _Reject(ReasonCode.INVALID_EXPIRATION, "invalid expiration")
        if order_type != "GTD" and wire.expiration != 0:
            raise _Reject(ReasonCode.INVALID_EXPIRATION, "invalid expiration: only GTD orders expire")
        if order_id in self.meta:
            raise _Reject(ReasonCode.DUPLICATE_ORDER, _REASON_TEXT[ReasonCode.DUPLICATE_ORDER])
        req = self.to_request(wire, order_type, post_only, info, order_id)
        self.ensure_account(wire.maker)
        outcome, _ = self._outcome(wire.token_id)
        self.meta[order_id] = OrderMeta(order_type, api.key, wire.maker, self._now_ns(), wire.expiration, outcome)
        ev: OrderEvent = self.exchange.submit(wire.maker, req)
        if ev.status is OrderStatus.REJECTED:
            del self.meta[order_id]
            reason = ev.reason or ReasonCode.VENUE_ERROR
            if reason is ReasonCode.FOK_NOT_FILLABLE:
                return _failed_response(FOK_NOT_FILLED)
            if reason is ReasonCode.FAK_NO_MATCH:
                return _failed_response(FAK_NOT_FILLED)
            text = _REASON_TEXT.get(reason, ev.message or reason.value)
            raise _Reject(reason, f"{text}: {ev.message}" if ev.message and ev.message not in text else text)
        self.accepted_posts += 1
        return self._accepted_response(ev)

    def _accepted_response(self, ev: OrderEvent) -> dict[str, Any]:
        mine = [r for r in self.trades.values() if r.taker.client_order_id == ev.client_order_id]
        shares = sum((r.taker.size for r in mine), Decimal(0))
        cash = sum((r.taker.size * r.taker.price for r in mine), Decimal(0))
        if ev.side is Side.BUY:
            making, taking = cash, shares
        else:
            making, taking = shares, cash
        matched = ev.filled > 0
        return {
            "success": True,
            "errorMsg": "",
            "orderID": ev.client_order_id,
            "status": "matched" if matched else "live",
            "makingAmount": num(making) if matched else "",
            "takingAmount": num(taking) if matched else "",
            "transactionsHashes": [],
            "tradeIDs": [r.trade_id for r in mine],
        }

    # -- reads and cancels ---------------------------------------------------------------------

    def cancel_ids(self, account: str, ids: list[str]) -> dict[str, Any]:
        canceled: list[str] = []
        not_canceled: dict[str, str] = {}
        for oid in ids:
            if oid not in self.meta or self.meta[oid].address.lower() != account.lower():
                not_canceled[oid] = "order not found"
                continue
            ev: OrderEvent = self.exchange.cancel(self.meta[oid].address, oid)
            if ev.status is OrderStatus.CANCELLED and not ev.message:
                canceled.append(oid)
            elif ev.status is OrderStatus.FILLED:
                not_canceled[oid] = "order already matched"
            else:
                not_canceled[oid] = "order can't be canceled: " + (ev.message or ev.status.value)
        return {"canceled": canceled, "not_canceled": not_canceled}

    def cancel_where(self, account: str, market: str | None, asset_id: str | None) -> dict[str, Any]:
        evs: list[OrderEvent] = []
        for ev in list(self.exchange.open_orders(account)):
            if ev.client_order_id not in self.meta:
                continue
            if market is not None and ev.market != market:
                continue
            if asset_id is not None and ev.token_id != asset_id:
                continue
            evs.append(ev)
        return self.cancel_ids(account, [e.client_order_id for e in evs])

    def orders_for(self, account: str, *, live_only: bool) -> list[dict[str, Any]]:
        out = []
        source = (
            self.exchange.open_orders(account)
            if live_only
            else [
                e
                for e in (
                    self.exchange.order(account, oid)
                    for oid, m in self.meta.items()
                    if m.address.lower() == account.lower()
                )
                if e is not None
            ]
        )
        for ev in source:
            meta = self.meta.get(ev.client_order_id)
            if meta is not None:
                out.append(self.order_json(ev, meta))
        return out

    def trades_for(self, account: str) -> list[dict[str, Any]]:
        out = []
        for tid in self.trade_order:
            rec = self.trades[tid]
            if account.lower() in (rec.taker.account.lower(), rec.maker.account.lower()):
                out.append(self.trade_json(rec, viewer=account))
        return out


def _failed_response(msg: str) -> dict[str, Any]:
    return {
        "success": False,
        "errorMsg": msg,
        "orderID": "",
        "status": "",
        "makingAmount": "",
        "takingAmount": "",
        "transactionsHashes": [],
    }


class _Reject(Exception):
    def __init__(self, reason: ReasonCode, text: str, http_status: int = 400) -> None:
        super().__init__(text)
        self.reason = reason
        self.text = text
        self.http_status = http_status


# ------------------------------------------------------------------------------------- routing

ORDERS_STATE: web.AppKey[OrdersState] = web.AppKey("polymarket_orders_state", OrdersState)


def orders_state(app: web.Application) -> OrdersState:
    return app[ORDERS_STATE]


def _exchange_of(state: Any) -> Any:
    for name in ("exchange", "sim", "sim_exchange"):
        ex = getattr(state, name, None)
        if ex is not None:
            return ex
    if hasattr(state, "submit") and hasattr(state, "add_listener"):
        return state
    raise TypeError("loopback state gives no access to the simulated exchange")


def ensure_state(app: web.Application, state: Any) -> OrdersState:
    if ORDERS_STATE not in app:
        env = getattr(state, "env_config", None) or PRODUCTION_CONFIG
        st = OrdersState(_exchange_of(state), env_config=env)
        st.quirk_source = state
        app[ORDERS_STATE] = st
    return app[ORDERS_STATE]


def _error(status: int, text: str) -> web.Response:
    return web.json_response({"error": text}, status=status)


async def _body_text(request: web.Request) -> str | None:
    text = await request.text()
    return text if text else None


async def _l2(request: web.Request, st: OrdersState) -> tuple[ApiKey, str | None]:
    body = await _body_text(request)
    try:
        verify_l2(
            request.headers,
            method=request.method,
            path=request.path,
            body=body,
            lookup=st.lookup,
            now_s=int(st.clock_s()),
        )
    except AuthError as exc:
        raise web.HTTPUnauthorized(
            text=json.dumps({"error": f"Unauthorized/Invalid api key: {exc}"}),
            content_type="application/json",
        ) from None
    return st.keys[request.headers["POLY_API_KEY"]], body


def _json_or_400(body: str | None) -> Any:
    if body is None:
        return None
    try:
        return json.loads(body)
    except ValueError:
        raise web.HTTPBadRequest(
            text=json.dumps({"error": "invalid json body"}), content_type="application/json"
        ) from None


def _page(items: list[dict[str, Any]], cursor: str | None, size: int) -> dict[str, Any]:
    start = 0
    if cursor and cursor != END_CURSOR:
        try:
            start = int(base64.b64decode(cursor).decode())
        except (ValueError, UnicodeDecodeError):
            raise web.HTTPBadRequest(
                text=json.dumps({"error": "invalid next_cursor"}), content_type="application/json"
            ) from None
    chunk = items[start : start + size]
    end = start + len(chunk)
    nxt = END_CURSOR if end >= len(items) else base64.b64encode(str(end).encode()).decode()
    return {"data": chunk, "next_cursor": nxt, "limit": size, "count": len(chunk)}


def register(app: web.Application, state: Any) -> None:
    """Add the order-side routes (and the few market metadata routes the SDK's signer needs)."""
    st = ensure_state(app, state)
    taken = {(r.method, r.resource.canonical) for r in app.router.routes() if r.resource is not None}

    def add(method: str, path: str, handler: Any) -> None:
        if (method, path) not in taken:
            app.router.add_route(method, path, handler)
            taken.add((method, path))

    # -- L1: API keys --
    async def create_api_key(request: web.Request) -> web.Response:
        try:
            address, nonce = verify_l1(request.headers, chain_id=st.chain_id, now_s=int(st.clock_s()))
        except AuthError as exc:
            return _error(401, f"Unauthorized: {exc}")
        api = st.derive_key(address, nonce)
        if api.key in st.keys:
            return _error(400, "Could not create api key")
        st.register_key(api)
        return web.json_response({"apiKey": api.key, "secret": api.secret, "passphrase": api.passphrase})

    async def derive_api_key(request: web.Request) -> web.Response:
        try:
            address, nonce = verify_l1(request.headers, chain_id=st.chain_id, now_s=int(st.clock_s()))
        except AuthError as exc:
            return _error(401, f"Unauthorized: {exc}")
        api = st.derive_key(address, nonce)
        if api.key not in st.keys:
            return _error(400, "Could not derive api key")
        return web.json_response({"apiKey": api.key, "secret": api.secret, "passphrase": api.passphrase})

    async def list_api_keys(request: web.Request) -> web.Response:
        api, _ = await _l2(request, st)
        keys = [k.key for k in st.keys.values() if k.address.lower() == api.address.lower()]
        return web.json_response({"apiKeys": keys})

    # -- market metadata the SDK reads while signing --
    async def markets_by_token(request: web.Request) -> web.Response:
        info = st._info(request.match_info["token"])
        if info is None:
            return _error(404, "market not found")
        return web.json_response({"condition_id": info.market})

    async def clob_market(request: web.Request) -> web.Response:
        info = st.exchange.market_info(request.match_info["condition_id"])
        if info is None:
            return _error(404, "market not found")
        fd = {"r": num(info.fee_rate), "e": info.fee_exponent} if info.fees_enabled else None
        body: dict[str, Any] = {
            "c": info.market,
            "nr": info.neg_risk,
            "mts": num(info.tick_size),
            "mos": num(info.min_order_size),
            "t": [{"t": t, "o": o} for t, o in zip(info.token_ids, info.outcomes, strict=True)],
        }
        if fd is not None:
            body["fd"] = fd
        return web.json_response(body)

    # -- orders --
    async def post_order(request: web.Request) -> web.StreamResponse:
        if st.drop_next_order_requests > 0:
            # the request never reaches the matching engine; the client cannot tell
            st.drop_next_order_requests -= 1
            if request.transport is not None:
                request.transport.abort()
            raise ConnectionResetError("loopback dropped the order request")
        api, body = await _l2(request, st)
        status, payload = st.post_one(_json_or_400(body), api=api)
        if status == 200 and payload.get("success") and st.drop_next_order_responses > 0:
            # accepted, then the connection dies before the answer: the outcome is unknown
            st.drop_next_order_responses -= 1
            if request.transport is not None:
                request.transport.abort()
            raise ConnectionResetError("loopback dropped the order response")
        return web.json_response(payload, status=status)

    async def post_orders(request: web.Request) -> web.Response:
        api, body = await _l2(request, st)
        items = _json_or_400(body)
        if not isinstance(items, list) or not items:
            return _error(400, "invalid payload: expected a non-empty list of orders")
        if len(items) > MAX_BATCH:
            return _error(400, f"too many orders in one batch: max {MAX_BATCH}")
        out = []
        for item in items:
            status, payload = st.post_one(item, api=api)
            if status != 200:
                out.append(_failed_response(payload["error"]))
            else:
                out.append(payload)
        return web.json_response(out)

    async def delete_order(request: web.Request) -> web.Response:
        api, body = await _l2(request, st)
        data = _json_or_400(body)
        if not isinstance(data, dict) or not isinstance(data.get("orderID"), str):
            return _error(400, 'invalid payload: expected {"orderID": ...}')
        return web.json_response(st.cancel_ids(api.address, [data["orderID"]]))

    async def delete_orders(request: web.Request) -> web.Response:
        api, body = await _l2(request, st)
        data = _json_or_400(body)
        if not isinstance(data, list) or not all(isinstance(x, str) for x in data):
            return _error(400, "invalid payload: expected a list of order ids")
        return web.json_response(st.cancel_ids(api.address, list(data)))

    async def cancel_all(request: web.Request) -> web.Response:
        api, _ = await _l2(request, st)
        return web.json_response(st.cancel_where(api.address, None, None))

    async def cancel_market(request: web.Request) -> web.Response:
        api, body = await _l2(request, st)
        data = _json_or_400(body) or {}
        if not isinstance(data, dict) or not (data.get("market") or data.get("asset_id")):
            return _error(400, "invalid payload: market or asset_id required")
        return web.json_response(st.cancel_where(api.address, data.get("market") or None, data.get("asset_id") or None))

    async def get_orders(request: web.Request) -> web.Response:
        api, _ = await _l2(request, st)
        q = request.query
        items = st.orders_for(api.address, live_only=True)
        if q.get("id"):
            items = [o for o in items if o["id"].lower() == q["id"].lower()]
        if q.get("market"):
            items = [o for o in items if o["market"] == q["market"]]
        if q.get("asset_id"):
            items = [o for o in items if o["asset_id"] == q["asset_id"]]
        return web.json_response(_page(items, q.get("next_cursor"), st.page_size))

    async def get_order(request: web.Request) -> web.Response:
        api, _ = await _l2(request, st)
        oid = request.match_info["order_id"].lower()
        for o in st.orders_for(api.address, live_only=False):
            if o["id"].lower() != oid:
                continue
            if st.garble_next_order_lookups > 0:
                st.garble_next_order_lookups -= 1
                return web.json_response({**o, "price": "n/a"})
            if st.forget_finished_orders and not any(
                x["id"].lower() == oid for x in st.orders_for(api.address, live_only=True)
            ):
                break
            return web.json_response(o)
        return _error(404, "order not found")

    async def get_trades(request: web.Request) -> web.Response:
        api, _ = await _l2(request, st)
        q = request.query
        items = st.trades_for(api.address)
        if q.get("id"):
            items = [t for t in items if t["id"] == q["id"]]
        if q.get("market"):
            items = [t for t in items if t["market"] == q["market"]]
        if q.get("asset_id"):
            items = [
                t
                for t in items
                if t["asset_id"] == q["asset_id"] or any(m["asset_id"] == q["asset_id"] for m in t["maker_orders"])
            ]
        try:
            if q.get("after"):
                items = [t for t in items if int(t["match_time"]) >= int(q["after"])]
            if q.get("before"):
                items = [t for t in items if int(t["match_time"]) < int(q["before"])]
        except ValueError:
            return _error(400, "after/before must be unix seconds")
        return web.json_response(_page(items, q.get("next_cursor"), st.page_size))

    async def balance_allowance(request: web.Request) -> web.Response:
        api, _ = await _l2(request, st)
        kind = request.query.get("asset_type", "")
        if kind == "COLLATERAL":
            bal = st.exchange.balance(api.address)
            units = int(bal.cash * MICRO)
        elif kind in ("CONDITIONAL", "CONDITIONAL-V2"):
            token = request.query.get("token_id", "")
            if not token:
                return _error(400, "token_id is required for CONDITIONAL")
            units = int(st.exchange.shares(api.address, token) * MICRO)
        else:
            return _error(400, f"invalid asset_type {kind!r}")
        allowances = {
            st.env_config.standard_exchange: MAX_ALLOWANCE,
            st.env_config.neg_risk_exchange: MAX_ALLOWANCE,
            st.env_config.neg_risk_adapter: MAX_ALLOWANCE,
        }
        return web.json_response({"balance": str(units), "allowances": allowances})

    async def update_balance_allowance(request: web.Request) -> web.Response:
        await _l2(request, st)
        return web.json_response({})

    async def closed_only(request: web.Request) -> web.Response:
        await _l2(request, st)
        return web.json_response({"closed_only": False})

    add("POST", "/auth/api-key", create_api_key)
    add("GET", "/auth/derive-api-key", derive_api_key)
    add("GET", "/auth/api-keys", list_api_keys)
    add("GET", "/auth/ban-status/closed-only", closed_only)
    add("GET", "/markets-by-token/{token}", markets_by_token)
    add("GET", "/clob-markets/{condition_id}", clob_market)
    add("POST", "/order", post_order)
    add("POST", "/orders", post_orders)
    add("DELETE", "/order", delete_order)
    add("DELETE", "/orders", delete_orders)
    add("DELETE", "/cancel-all", cancel_all)
    add("DELETE", "/cancel-market-orders", cancel_market)
    add("GET", "/data/orders", get_orders)
    add("GET", "/data/order/{order_id}", get_order)
    add("GET", "/data/trades", get_trades)
    add("GET", "/balance-allowance", balance_allowance)
    add("GET", "/balance-allowance/update", update_balance_allowance)


__all__ = [
    "END_CURSOR",
    "ORDERS_STATE",
    "ApiKey",
    "OrdersState",
    "TradeRecord",
    "ensure_state",
    "orders_state",
    "register",
]


class _ExchangeOnly:
    def __init__(self, exchange: Any, env_config: EnvironmentConfig, quirks: bool) -> None:
        self.exchange = exchange
        self.env_config = env_config
        self.quirks = quirks


def build_order_app(
    exchange: Any, *, env_config: EnvironmentConfig = PRODUCTION_CONFIG, with_user_ws: bool = True,
    quirks: bool = True,
) -> web.Application:
    """A server with only the private CLOB (and user channel) over ``exchange``.

    The full loopback mounts these same routes beside the public ones; this smaller app is what
    the execution tests and a bare order-path rehearsal need.
    """
    app = web.Application()
    state = _ExchangeOnly(exchange, env_config, quirks)
    register(app, state)
    if with_user_ws:
        from venues.polymarket.loopback import user_ws

        user_ws.register(app, state)
    return app
