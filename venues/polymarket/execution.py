"""Live order execution on the Polymarket CLOB through the official SDK (``polymarket-client``).

Why this shape:

* Orders are signed by the SDK (``create_limit_order``/``create_market_order``) and posted with
  ``post_order`` as two steps, so the order hash (see ``signing.client_order_hash``) is known and
  written to the id store *before* anything leaves the process. The venue has no idempotency key;
  an order whose submit outcome is unknown is found again by that hash, never sent twice.
* A ``client_order_id`` is ours; the venue only knows the hash. ``OrderIdStore`` keeps the map,
  in memory or in an append-only JSONL file, so a restarted trader still finds its orders.
* Rejections come back as UPPER_SNAKE ``ReasonCode``s. Errors that mean this client no longer
  matches the exchange (order version mismatch, signer or API-key refusals) raise
  ``protocols.ClientMismatch``: the trader trips the kill switch rather than retrying.
* FOK/FAK requests go through the SDK's *market order* path with a price bound (``max_price`` /
  ``min_price``), which handles the CLOB's amount-precision rules for marketable orders; GTC/GTD
  through the limit path.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, Protocol

from polymarket._internal.actions import account as _account
from polymarket._internal.actions.orders.limit import prepare_limit_order_draft, validate_limit_order_params
from polymarket._internal.actions.orders.market import prepare_market_order_draft, validate_market_order_params
from polymarket.clients.async_secure import AsyncSecureClient
from polymarket.environments import PRODUCTION, Environment
from polymarket.errors import (
    PolymarketError,
    RateLimitError,
    RequestRejectedError,
    TransportError,
    UnexpectedResponseError,
    UserInputError,
)
from polymarket.models.clob import ApiKeyCreds
from polymarket.models.clob.order_response import AcceptedOrder, OrderResponse, RejectedOrder
from polymarket.models.clob.orders import SignedOrder

from protocols import (
    Balance,
    ClientMismatch,
    Fill,
    OrderEvent,
    OrderRequest,
    OrderStatus,
    Position,
    ReasonCode,
    SettlementStatus,
    Side,
    TimeInForce,
    VenueUnavailable,
)
from venues.polymarket.auth import PolymarketCredentials
from venues.polymarket.fills import FeeLookup, maker_fill, no_schedules, taker_fill
from venues.polymarket.order_signer import OrderSigner
from venues.polymarket.ratelimit import RateLimit, SlidingWindowLimiter
from venues.polymarket.sdk_env import environment_config
from venues.polymarket.signing import client_order_hash
from venues.polymarket.wire_account import (
    DecodeStats,
    WireOrder,
    WireTrade,
    parse_order,
    parse_trade,
    settlement_text,
)

log = logging.getLogger(__name__)

MAX_BATCH = 15
_END_CURSOR = "LTE="
_MICRO = Decimal("0.000001")
_CENT = Decimal("0.01")

# Venue error text → our reason. Matched case-insensitively as substrings, first hit wins.
_REJECT_TEXT: tuple[tuple[str, ReasonCode], ...] = (
    ("not enough balance", ReasonCode.INSUFFICIENT_BALANCE),
    ("allowance", ReasonCode.INSUFFICIENT_BALANCE),
    ("invalid order size", ReasonCode.INVALID_SIZE),
    ("already exists", ReasonCode.DUPLICATE_ORDER),
    ("post-only", ReasonCode.POST_ONLY_WOULD_CROSS),
    ("crosses book", ReasonCode.POST_ONLY_WOULD_CROSS),
    ("fok orders are fully filled or killed", ReasonCode.FOK_NOT_FILLABLE),
    ("no orders found to match with fak", ReasonCode.FAK_NO_MATCH),
    ("tick size", ReasonCode.INVALID_TICK),
    ("invalid price", ReasonCode.INVALID_PRICE),
    ("lower than the minimum", ReasonCode.BELOW_MIN_SIZE),
    ("min size", ReasonCode.BELOW_MIN_SIZE),
    ("expiration", ReasonCode.INVALID_EXPIRATION),
    ("market not found", ReasonCode.UNKNOWN_TOKEN),
    ("not yet ready", ReasonCode.MARKET_CLOSED),
    ("closed", ReasonCode.MARKET_CLOSED),
    ("duplicate", ReasonCode.DUPLICATE_ORDER),
)
_REJECT_CODE: dict[str, ReasonCode] = {
    "not_enough_balance": ReasonCode.INSUFFICIENT_BALANCE,
    "post_only_would_cross": ReasonCode.POST_ONLY_WOULD_CROSS,
    "fok_not_filled": ReasonCode.FOK_NOT_FILLABLE,
    "fak_not_filled": ReasonCode.FAK_NO_MATCH,
    "invalid_expiration": ReasonCode.INVALID_EXPIRATION,
    "market_not_ready": ReasonCode.MARKET_CLOSED,
    "unmatched": ReasonCode.FAK_NO_MATCH,
}
# Text that means the exchange and this client disagree about who we are or what an order is.
_MISMATCH_TEXT = (
    "order_version_mismatch",
    "version mismatch",
    "invalid signature",
    "signer",
    "api key",
    "api-key",
    "unauthorized",
)


def reason_for_text(text: str) -> ReasonCode:
    low = text.lower()
    for needle, code in _REJECT_TEXT:
        if needle in low:
            return code
    return ReasonCode.VENUE_ERROR


@contextlib.contextmanager
def _venue_errors(refused: str, unreachable: str | None = None) -> Iterator[None]:
    """Translate the SDK's errors for one call: a refusal that means "this client no longer matches
    the exchange" → ``ClientMismatch``; any other refusal or a transport failure → ``VenueUnavailable``
    (the caller then asks the venue rather than retrying blindly)."""
    try:
        yield
    except RequestRejectedError as exc:
        if is_client_mismatch(exc.status, str(exc)):
            raise ClientMismatch(str(exc)) from None
        raise VenueUnavailable(f"{refused}: {exc}") from None
    except (TransportError, UnexpectedResponseError) as exc:
        raise VenueUnavailable(f"{unreachable or refused}: {exc}") from None


def is_client_mismatch(status: int | None, text: str) -> bool:
    low = text.lower()
    if status in (401, 403):
        return True
    return any(n in low for n in _MISMATCH_TEXT)


class InvalidCredentials(ValueError):
    """The private key, wallet or API credentials are malformed (refused before any request)."""


# ------------------------------------------------------------------------------------ id store


@dataclass
class OrderRecord:
    """What we know of one of our orders. ``state`` is ours: SIGNED, SENT, UNKNOWN, KNOWN."""

    client_order_id: str
    venue_order_id: str
    request: OrderRequest
    state: str = "SIGNED"
    last: OrderEvent | None = None
    #: The signed order itself: re-posting it is idempotent (same hash), signing anew is not.
    signed: SignedOrder | None = None


def _signed_to_json(o: SignedOrder) -> dict[str, Any]:
    return {
        "builder": o.builder,
        "expiration": o.expiration,
        "maker": o.maker,
        "maker_amount": o.maker_amount,
        "metadata": o.metadata,
        "order_type": o.order_type,
        "salt": o.salt,
        "side": o.side,
        "signature": o.signature,
        "signature_type": o.signature_type,
        "signer": o.signer,
        "taker_amount": o.taker_amount,
        "timestamp": o.timestamp,
        "token_id": o.token_id,
        "post_only": o.post_only,
    }


class OrderIdStore(Protocol):
    def put(self, record: OrderRecord) -> None: ...

    def all(self) -> list[OrderRecord]: ...


@dataclass
class MemoryIdStore:
    records: list[OrderRecord] = field(default_factory=list)

    def put(self, record: OrderRecord) -> None:
        self.records.append(record)

    def all(self) -> list[OrderRecord]:
        return list(self.records)


class JsonlIdStore:
    """Append-only file of ``{client_order_id, venue_order_id, request}``, fsync'd per write.

    Why: the order hash is written ahead of the send; after a crash the next process still
    knows which venue order each client order id became.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def put(self, record: OrderRecord) -> None:
        line = json.dumps(
            {
                "client_order_id": record.client_order_id,
                "venue_order_id": record.venue_order_id,
                "request": record.request.model_dump(mode="json"),
                # a signed order authorises exactly this order and nothing else: not a secret
                "signed": _signed_to_json(record.signed) if record.signed is not None else None,
            },
            separators=(",", ":"),
        )
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def all(self) -> list[OrderRecord]:
        if not self.path.exists():
            return []
        out: list[OrderRecord] = []
        for n, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
                out.append(
                    OrderRecord(
                        client_order_id=raw["client_order_id"],
                        venue_order_id=raw["venue_order_id"],
                        request=OrderRequest.model_validate(raw["request"]),
                        state="UNKNOWN",
                        signed=SignedOrder(**raw["signed"]) if raw.get("signed") else None,
                    )
                )
            except (ValueError, KeyError, TypeError) as exc:  # a torn last line after a crash
                log.warning("id store %s line %d unreadable, skipped: %s", self.path, n, exc)
        return out


# ----------------------------------------------------------------------------------- execution


@dataclass(frozen=True)
class PolymarketExecutionConfig:
    account: str = "polymarket"
    name: str = "polymarket"
    #: Our own bound on one REST call; past it the outcome of a post is unknown.
    request_timeout_s: float = 10.0
    #: Decimal places the CLOB accepts in an order size.
    size_decimals: int = 2
    #: Client-side sliding windows (Polymarket's documented throttles): POST /order(s), cancels.
    post_limits: tuple[RateLimit, ...] = (RateLimit(3500, 10.0), RateLimit(36_000, 600.0))
    cancel_limits: tuple[RateLimit, ...] = (RateLimit(3000, 10.0), RateLimit(30_000, 600.0))


class KeyedLocks:
    """One lock per key (a client order id), kept only while a call holds or waits for it.

    Why: the map of per-order locks would otherwise grow by one entry per order ever placed, for
    the life of the process. Entries are counted in and out, so its size is the number of orders
    being placed right now.
    """

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    def __len__(self) -> int:
        return len(self._locks)

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> Any:
        lock, users = self._locks.get(key, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


class PolymarketExecution:
    """The execution half of ``protocols.VenuePort`` for one Polymarket account."""

    def __init__(
        self,
        client: AsyncSecureClient,
        *,
        environment: Environment,
        config: PolymarketExecutionConfig | None = None,
        id_store: OrderIdStore | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
        fee_schedule: FeeLookup = no_schedules,
    ) -> None:
        self.config = config or PolymarketExecutionConfig()
        #: token id → the market's fee schedule (Gamma's), when known; fills book fees by it.
        self.fee_schedule = fee_schedule
        self.name = self.config.name
        self.account = self.config.account
        self._client = client
        self._env_config = environment_config(environment)
        self._clock_ns = clock_ns
        self._store: OrderIdStore = id_store or MemoryIdStore()
        self._by_coid: dict[str, OrderRecord] = {}
        self._by_venue: dict[str, OrderRecord] = {}
        self._locks = KeyedLocks()
        self._signer: OrderSigner | None = None  # built on the first order, from the SDK client's signer
        self.post_limiter = SlidingWindowLimiter(self.config.post_limits)
        self.cancel_limiter = SlidingWindowLimiter(self.config.cancel_limits)
        #: Missing optional fields in the venue's order/trade records, and unreadable rows, counted.
        self.decode_stats = DecodeStats()
        self.malformed: Counter[str] = Counter()
        for rec in self._store.all():
            self._index(rec)

    # -- construction ----------------------------------------------------------------------

    @classmethod
    async def connect(
        cls,
        credentials: PolymarketCredentials,
        *,
        environment: Environment = PRODUCTION,
        config: PolymarketExecutionConfig | None = None,
        id_store: OrderIdStore | None = None,
        fee_schedule: FeeLookup = no_schedules,
    ) -> PolymarketExecution:
        """Create the SDK client (deriving API creds by L1 signature if none were given)."""
        api = None
        if credentials.api is not None:
            api = ApiKeyCreds.model_validate(
                {
                    "apiKey": credentials.api.key.get_secret_value(),
                    "secret": credentials.api.secret.get_secret_value(),
                    "passphrase": credentials.api.passphrase.get_secret_value(),
                }
            )
        try:
            client = await AsyncSecureClient.create(
                private_key=credentials.private_key.get_secret_value(),
                wallet=credentials.funder,
                environment=environment,
                credentials=api,
            )
        except UserInputError as exc:
            # the SDK's message may quote what it refused: never let the key through
            text = str(exc).replace(credentials.private_key.get_secret_value(), "**********")
            raise InvalidCredentials(f"the SDK refused the credentials: {text}") from None
        except RequestRejectedError as exc:
            if is_client_mismatch(exc.status, str(exc)):
                raise ClientMismatch(f"venue refused our credentials: {exc}") from None
            raise VenueUnavailable(f"could not authenticate: {exc}") from None
        except TransportError as exc:
            raise VenueUnavailable(f"could not reach the CLOB: {exc}") from None
        return cls(client, environment=environment, config=config, id_store=id_store, fee_schedule=fee_schedule)

    @property
    def wallet(self) -> str:
        return str(self._client.wallet)

    @property
    def sdk_client(self) -> AsyncSecureClient:
        return self._client

    def api_credentials(self) -> ApiKeyCreds:
        """The L2 credentials in use (the user WebSocket authenticates with them)."""
        return self._client.credentials

    async def close(self) -> None:
        await self._client.close()

    def __repr__(self) -> str:
        return f"PolymarketExecution(account={self.account!r}, wallet={self.wallet!r})"

    # -- id map -----------------------------------------------------------------------------

    def _index(self, rec: OrderRecord) -> None:
        self._by_coid[rec.client_order_id] = rec
        self._by_venue[rec.venue_order_id.lower()] = rec

    def client_order_id_for(self, venue_order_id: str) -> str | None:
        rec = self._by_venue.get(venue_order_id.lower())
        return rec.client_order_id if rec else None

    def venue_order_id_for(self, client_order_id: str) -> str | None:
        rec = self._by_coid.get(client_order_id)
        return rec.venue_order_id if rec else None

    def request_for(self, client_order_id: str) -> OrderRequest | None:
        rec = self._by_coid.get(client_order_id)
        return rec.request if rec else None

    # -- helpers ----------------------------------------------------------------------------

    def _now(self) -> int:
        return self._clock_ns()

    def _event(
        self,
        req: OrderRequest,
        status: OrderStatus,
        *,
        venue_order_id: str = "",
        filled: Decimal = Decimal(0),
        reason: ReasonCode | None = None,
        message: str = "",
    ) -> OrderEvent:
        return OrderEvent(
            time_ns=self._now(),
            client_order_id=req.client_order_id,
            venue_order_id=venue_order_id,
            account=self.account,
            token_id=req.token_id,
            market=req.market,
            side=req.side,
            price=req.price,
            size=req.size,
            status=status,
            filled=filled,
            reason=reason,
            message=message[:500],
        )

    async def _call(self, coro: Any) -> Any:
        try:
            return await asyncio.wait_for(coro, self.config.request_timeout_s)
        except TimeoutError as exc:
            raise TransportError("request timed out") from exc

    async def _sign(self, req: OrderRequest) -> tuple[SignedOrder, str | None]:
        """The SDK's own ``create_limit_order``/``create_market_order`` (its checks, metadata,
        rounding, salt and clock), with the final typed-data hashing and signing done by
        :class:`OrderSigner` (cached domain, type hash and key; byte-identical signature), which
        also yields the order hash. ``(signed, None)`` when the SDK signed (a signer we cannot
        reproduce): the caller then derives the hash from the signed order."""
        side = req.side.value
        c = self._client
        ctx = c._ctx
        if req.tif in (TimeInForce.GTC, TimeInForce.GTD):
            expiration = None
            if req.tif is TimeInForce.GTD:
                assert req.expires_ns is not None
                expiration = req.expires_ns // 1_000_000_000
            limit = validate_limit_order_params(
                token_id=req.token_id,
                price=req.price,
                size=req.size,
                side=side,  # type: ignore[arg-type]
                post_only=req.post_only,
                expiration=expiration,
            )
            draft = await self._call(prepare_limit_order_draft(ctx, limit))
            post_only = limit.post_only
        else:
            order_type: Literal["FOK", "FAK"] = "FOK" if req.tif is TimeInForce.FOK else "FAK"
            if req.side is Side.BUY:
                market = validate_market_order_params(
                    token_id=req.token_id, side="BUY", amount=req.price * req.size, max_price=req.price,
                    order_type=order_type,
                )
            else:
                market = validate_market_order_params(
                    token_id=req.token_id, side="SELL", shares=req.size, min_price=req.price, order_type=order_type
                )
            draft = await self._call(prepare_market_order_draft(ctx, market))
            post_only = False
        if self._signer is None:
            self._signer = OrderSigner(ctx)
        try:
            fast = self._signer.sign(draft, post_only=post_only)
        except (ValueError, OverflowError):  # a field we cannot encode: let the SDK say what is wrong
            fast = None
        if fast is not None:
            return fast
        return await self._call(c._sign_order(draft, post_only=post_only)), None

    def _accepted_event(self, req: OrderRequest, resp: AcceptedOrder, venue_id: str) -> OrderEvent:
        # BUY: making = pUSD paid, taking = shares got; SELL: making = shares given.
        filled = resp.taking_amount if req.side is Side.BUY else resp.making_amount
        filled = min(filled, req.size)
        if filled >= req.size:
            status = OrderStatus.FILLED
        elif req.tif in (TimeInForce.FOK, TimeInForce.FAK):
            # the unfilled rest of an immediate order is killed at once
            status = OrderStatus.CANCELLED if filled > 0 else OrderStatus.REJECTED
        elif filled > 0:
            status = OrderStatus.PARTIALLY_FILLED
        else:
            status = OrderStatus.ACKNOWLEDGED
        reason = ReasonCode.FAK_NO_MATCH if status is OrderStatus.REJECTED else None
        return self._event(req, status, venue_order_id=venue_id, filled=filled, reason=reason)

    def _rejected_event(self, req: OrderRequest, resp: RejectedOrder, venue_id: str) -> OrderEvent:
        reason = _REJECT_CODE.get(resp.code) or reason_for_text(resp.message)
        if is_client_mismatch(None, resp.message):
            raise ClientMismatch(f"order {req.client_order_id} refused: {resp.message}")
        return self._event(req, OrderStatus.REJECTED, venue_order_id=venue_id, reason=reason, message=resp.message)

    def _remember(self, rec: OrderRecord, event: OrderEvent) -> OrderEvent:
        rec.last = event
        rec.state = "KNOWN"
        return event

    # -- placing ----------------------------------------------------------------------------

    def _precheck(self, req: OrderRequest) -> OrderEvent | None:
        if req.account != self.account:
            return self._event(
                req,
                OrderStatus.REJECTED,
                reason=ReasonCode.VENUE_ERROR,
                message=f"order for account {req.account!r} sent to {self.account!r}",
            )
        if req.size != req.size.quantize(Decimal(1).scaleb(-self.config.size_decimals)):
            return self._event(
                req,
                OrderStatus.REJECTED,
                reason=ReasonCode.INVALID_SIZE,
                message=f"size {req.size} has more than {self.config.size_decimals} decimals",
            )
        if req.side is Side.BUY and req.tif in (TimeInForce.FOK, TimeInForce.FAK):
            # A marketable BUY spends whole cents: the SDK drops sub-cent digits of the amount and
            # would sign for fewer shares than asked (an FOK "filled" short, a paired leg broken).
            spend = req.price * req.size
            if spend != spend.quantize(_CENT):
                return self._event(
                    req,
                    OrderStatus.REJECTED,
                    reason=ReasonCode.INVALID_SIZE,
                    message=(
                        f"a marketable BUY must spend whole cents: {req.size} x {req.price} = {spend} pUSD "
                        f"would buy less than {req.size}"
                    ),
                )
        return None

    async def _prepare(self, req: OrderRequest) -> tuple[_RecordWithOrder | None, OrderEvent | None]:
        """Sign and write ahead. Returns (record, None) ready to post or (None, final event)."""
        early = self._precheck(req)
        if early is not None:
            return None, early
        try:
            signed, venue_id = await self._sign(req)
        except UserInputError as exc:
            text = str(exc)
            reason = reason_for_text(text)
            if reason is ReasonCode.VENUE_ERROR and "expiration" in text.lower():
                reason = ReasonCode.INVALID_EXPIRATION
            return None, self._event(req, OrderStatus.REJECTED, reason=reason, message=text)
        except RequestRejectedError as exc:  # market metadata lookup refused
            if is_client_mismatch(exc.status, str(exc)):
                raise ClientMismatch(str(exc)) from None
            reason = ReasonCode.UNKNOWN_TOKEN if exc.status == 404 else reason_for_text(str(exc))
            return None, self._event(req, OrderStatus.REJECTED, reason=reason, message=str(exc))
        except (TransportError, UnexpectedResponseError) as exc:
            # nothing was posted yet: a clean, retryable failure
            raise VenueUnavailable(f"could not prepare order {req.client_order_id}: {exc}") from None
        if venue_id is None:
            venue_id = client_order_hash(signed, self._env_config, neg_risk=req.neg_risk)
        rec = OrderRecord(req.client_order_id, venue_id, req, state="SIGNED", signed=signed)
        self._store.put(rec)  # write-ahead: the hash is durable before the send
        self._index(rec)
        return _RecordWithOrder(rec, signed), None

    async def place_order(self, request: OrderRequest) -> OrderEvent:
        async with self._locks.hold(request.client_order_id):
            existing = self._by_coid.get(request.client_order_id)
            if existing is not None:
                # never sign the same client order twice: report what the venue knows of it
                status = await self.order_status(request.client_order_id)
                if status is not None:
                    return status
                if existing.signed is None:
                    return self._event(
                        request,
                        OrderStatus.REJECTED,
                        venue_order_id=existing.venue_order_id,
                        reason=ReasonCode.DUPLICATE_ORDER,
                        message="client order id already used; the venue has no record of it",
                    )
                # the venue never saw it: post the SAME signed order again. Should the first
                # attempt still arrive, the venue refuses one of the two as a duplicate hash.
                rec, signed = existing, existing.signed
            else:
                prepared, final = await self._prepare(request)
                if final is not None:
                    return final
                assert isinstance(prepared, _RecordWithOrder)
                rec, signed = prepared.record, prepared.signed
            rec.state = "SENT"
            try:
                await self.post_limiter.acquire()
                resp: OrderResponse = await self._call(self._client.post_order(signed))
            except RateLimitError as exc:
                # a 429 is refused before matching: definitely not placed
                return self._remember(
                    rec,
                    self._event(
                        request,
                        OrderStatus.REJECTED,
                        venue_order_id=rec.venue_order_id,
                        reason=ReasonCode.VENUE_ERROR,
                        message=f"rate limited: {exc}",
                    ),
                )
            except RequestRejectedError as exc:
                return self._remember(rec, self._post_rejected(request, rec, exc))
            except (TransportError, UnexpectedResponseError) as exc:
                rec.state = "UNKNOWN"
                log.warning(
                    "submit outcome unknown for %s (order hash %s): %s",
                    request.client_order_id,
                    rec.venue_order_id,
                    exc,
                )
                raise VenueUnavailable(
                    f"submit outcome unknown for {request.client_order_id} "
                    f"(order hash {rec.venue_order_id}); resolve with order_status"
                ) from None
            if isinstance(resp, AcceptedOrder):
                if resp.order_id.lower() != rec.venue_order_id.lower():
                    log.warning(
                        "venue order id %s differs from computed hash %s",
                        resp.order_id,
                        rec.venue_order_id,
                    )
                    rec.venue_order_id = resp.order_id
                    self._index(rec)
                    self._store.put(rec)
                return self._remember(rec, self._accepted_event(request, resp, rec.venue_order_id))
            return self._remember(rec, self._rejected_event(request, resp, rec.venue_order_id))

    def _post_rejected(self, req: OrderRequest, rec: OrderRecord, exc: RequestRejectedError) -> OrderEvent:
        text = str(exc)
        if is_client_mismatch(exc.status, text):
            raise ClientMismatch(f"order {req.client_order_id} refused: {text}") from None
        if exc.status >= 500:
            rec.state = "UNKNOWN"
            raise VenueUnavailable(
                f"venue error {exc.status} posting {req.client_order_id} "
                f"(order hash {rec.venue_order_id}); resolve with order_status"
            ) from None
        return self._event(
            req,
            OrderStatus.REJECTED,
            venue_order_id=rec.venue_order_id,
            reason=reason_for_text(text),
            message=text,
        )

    async def place_orders(self, requests: Sequence[OrderRequest]) -> list[OrderEvent]:
        """Post up to 15 orders in one ``POST /orders``; each answer maps to its request."""
        if len(requests) > MAX_BATCH:
            raise ValueError(f"a batch holds at most {MAX_BATCH} orders, got {len(requests)}")
        if not requests:
            return []
        coids = [r.client_order_id for r in requests]
        if len(set(coids)) != len(coids):
            raise ValueError("duplicate client_order_id within one batch")
        results: dict[int, OrderEvent] = {}
        to_post: list[tuple[int, OrderRecord, SignedOrder]] = []
        for i, req in enumerate(requests):
            if req.client_order_id in self._by_coid:
                results[i] = await self.place_order(req)  # reports status, never resends
                continue
            prepared, final = await self._prepare(req)
            if final is not None:
                results[i] = final
                continue
            assert isinstance(prepared, _RecordWithOrder)
            to_post.append((i, prepared.record, prepared.signed))
        if to_post:
            for _, rec, _s in to_post:
                rec.state = "SENT"
            try:
                await self.post_limiter.acquire()
                resps = await self._call(self._client.post_orders([s for _, _, s in to_post]))
            except RateLimitError as exc:
                for i, rec, _s in to_post:
                    results[i] = self._remember(
                        rec,
                        self._event(
                            rec.request,
                            OrderStatus.REJECTED,
                            venue_order_id=rec.venue_order_id,
                            reason=ReasonCode.VENUE_ERROR,
                            message=f"rate limited: {exc}",
                        ),
                    )
                resps = None
            except RequestRejectedError as exc:
                for i, rec, _s in to_post:
                    results[i] = self._remember(rec, self._post_rejected(rec.request, rec, exc))
                resps = None
            except (TransportError, UnexpectedResponseError) as exc:
                for _, rec, _s in to_post:
                    rec.state = "UNKNOWN"
                raise VenueUnavailable(
                    f"batch submit outcome unknown for {[r.client_order_id for _, r, _ in to_post]}: "
                    f"{exc}; resolve each with order_status"
                ) from None
            if resps is not None:
                if len(resps) != len(to_post):
                    for _, rec, _s in to_post:
                        rec.state = "UNKNOWN"
                    raise VenueUnavailable("batch answer has the wrong number of entries")
                for (i, rec, _s), resp in zip(to_post, resps, strict=True):
                    if isinstance(resp, AcceptedOrder):
                        results[i] = self._remember(rec, self._accepted_event(rec.request, resp, rec.venue_order_id))
                    else:
                        results[i] = self._remember(rec, self._rejected_event(rec.request, resp, rec.venue_order_id))
        return [results[i] for i in range(len(requests))]

    # -- cancelling -------------------------------------------------------------------------

    async def cancel_order(self, client_order_id: str) -> OrderEvent:
        rec = self._by_coid.get(client_order_id)
        if rec is None:
            return _unknown_order(self.account, client_order_id, self._now())
        with _venue_errors(f"cancel of {client_order_id} failed", f"cancel of {client_order_id} outcome unknown"):
            await self.cancel_limiter.acquire()
            resp = await self._call(self._client.cancel_order(order_id=rec.venue_order_id))
        canceled = {c.lower() for c in resp.canceled}
        if rec.venue_order_id.lower() in canceled:
            filled = rec.last.filled if rec.last else Decimal(0)
            return self._remember(
                rec, self._event(rec.request, OrderStatus.CANCELLED, venue_order_id=rec.venue_order_id, filled=filled)
            )
        why = {k.lower(): v for k, v in resp.not_canceled.items()}.get(rec.venue_order_id.lower(), "")
        status = await self.order_status(client_order_id)
        if status is not None:
            if why and not status.message:
                status = status.model_copy(update={"message": why[:500]})
            return status
        return self._event(
            rec.request,
            OrderStatus.REJECTED,
            venue_order_id=rec.venue_order_id,
            reason=ReasonCode.UNKNOWN_ORDER,
            message=why or "venue does not know this order",
        )

    async def cancel_all(self, market: str | None = None) -> list[OrderEvent]:
        with _venue_errors("cancel-all failed", "cancel-all outcome unknown"):
            await self.cancel_limiter.acquire()
            if market is None:
                resp = await self._call(self._client.cancel_all())
            else:
                resp = await self._call(self._client.cancel_market_orders(market=market))
        out: list[OrderEvent] = []
        for vid in resp.canceled:
            rec = self._by_venue.get(vid.lower())
            if rec is None:
                continue  # an order of this account we never placed (another client)
            filled = rec.last.filled if rec.last else Decimal(0)
            out.append(
                self._remember(
                    rec,
                    self._event(rec.request, OrderStatus.CANCELLED, venue_order_id=rec.venue_order_id, filled=filled),
                )
            )
        return out

    # -- reading ----------------------------------------------------------------------------

    async def _get_json(self, path: str, params: dict[str, Any]) -> Any:
        """One authenticated GET through the SDK's own transport (auth headers, retries), the body
        returned raw so that our lenient models decode it, not the SDK's strict ones."""
        transport = self._client._ctx.secure_clob  # the SDK's L2-signed transport
        return await self._call(transport.get_json(path, params=params))

    async def _get_open_order(self, venue_order_id: str) -> WireOrder | None:
        """The venue's record of one order, or None when it has none. A body we cannot read is
        *unknown* (``VenueUnavailable``), never "no such order": the caller asks again later."""
        path, params = _account.build_get_order_request(order_id=venue_order_id)
        try:
            body = await self._get_json(path, params)
        except RequestRejectedError as exc:
            if is_client_mismatch(exc.status, str(exc)):
                raise ClientMismatch(str(exc)) from None
            if exc.status in (400, 404):
                return None
            raise VenueUnavailable(f"order lookup failed: {exc}") from None
        except TransportError as exc:
            raise VenueUnavailable(f"order lookup failed: {exc}") from None
        if body is None or body == "" or body == {} or body == []:
            return None  # the CLOB answers an unknown id with an empty body
        if not isinstance(body, dict):
            raise VenueUnavailable(f"order lookup of {venue_order_id}: unreadable answer ({type(body).__name__})")
        try:
            return parse_order(body, self.decode_stats)
        except ValueError as exc:
            raise VenueUnavailable(
                f"order lookup of {venue_order_id}: unreadable record ({str(exc).splitlines()[0][:120]})"
            ) from None

    async def _pages(self, what: str, build: Callable[..., tuple[str, dict[str, Any]]],
                     **filters: Any) -> list[dict[str, Any]]:
        """Every row of a cursor-paginated ``{data, next_cursor}`` listing, raw."""
        rows: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(10_000):
            path, params = build(cursor=cursor, **filters)
            with _venue_errors(f"{what} lookup failed"):
                try:
                    body = await self._get_json(path, params)
                except TransportError as exc:
                    raise VenueUnavailable(f"{what} lookup failed: {exc}") from None
            if not isinstance(body, dict) or not isinstance(body.get("data", []), list | None):
                raise VenueUnavailable(f"{what} lookup: unreadable page ({type(body).__name__})")
            for row in body.get("data") or ():
                if isinstance(row, dict):
                    rows.append(row)
                else:
                    self.malformed[what] += 1
            nxt = body.get("next_cursor")
            if not nxt or nxt in (_END_CURSOR, cursor):
                return rows
            cursor = str(nxt)
        raise VenueUnavailable(f"{what} lookup: the cursor never ended")

    async def _all_trades(self, **filters: Any) -> list[WireTrade]:
        out: list[WireTrade] = []
        for row in await self._pages("trades", _account.build_list_account_trades_request, **filters):
            try:
                trade = parse_trade(row, self.decode_stats)
            except ValueError as exc:
                # a trade row we cannot read may be one of our fills: the record is incomplete,
                # so the caller must not conclude anything from it
                raise VenueUnavailable(f"trades lookup: unreadable trade ({str(exc).splitlines()[0][:120]})") from None
            if trade.bad_maker_orders or trade.price is None or trade.size is None:
                # an unreadable part may be our fill: the record is as incomplete as above
                raise VenueUnavailable(f"trades lookup: trade {trade.id} is incomplete (a price, size or maker order)")
            out.append(trade)
        return out

    def _open_order_event(self, o: WireOrder) -> OrderEvent:
        rec = self._by_venue.get(o.id.lower())
        size = o.size_shares
        matched = o.matched
        status = _order_status_from_text(o.status, matched, size)
        return OrderEvent(
            time_ns=self._now(),
            client_order_id=rec.client_order_id if rec else o.id,
            venue_order_id=o.id,
            account=self.account,
            token_id=o.asset_id,
            market=o.market or (rec.request.market if rec else "UNKNOWN"),
            side=Side(o.side),
            price=o.price,
            size=size,
            status=status,
            filled=matched,
            reason=ReasonCode.EXPIRED if status is OrderStatus.EXPIRED else None,
        )

    async def order_status(self, client_order_id: str) -> OrderEvent | None:
        """Ask the venue about one order by its hash: open, in trades, or never seen (None)."""
        rec = self._by_coid.get(client_order_id)
        if rec is None:
            return None
        found = await self._get_open_order(rec.venue_order_id)
        if found is not None:
            return self._remember(rec, self._open_order_event(found))
        # Filled or cancelled orders can vanish from the order endpoint: recover from trades.
        matched = Decimal(0)
        for fill in self._fills_from(await self._all_trades()):
            if fill.venue_order_id.lower() == rec.venue_order_id.lower() and (
                fill.settlement is not SettlementStatus.FAILED
            ):
                matched += fill.size
        req = rec.request
        if matched > 0:
            status = OrderStatus.FILLED if matched >= req.size else OrderStatus.CANCELLED
            return self._remember(
                rec, self._event(req, status, venue_order_id=rec.venue_order_id, filled=min(matched, req.size))
            )
        if rec.state == "KNOWN" and rec.last is not None and rec.last.status is not OrderStatus.REJECTED:
            # it was live once and is gone without a trade: cancelled (or expired)
            status = OrderStatus.EXPIRED if req.tif is TimeInForce.GTD else OrderStatus.CANCELLED
            return self._remember(rec, self._event(req, status, venue_order_id=rec.venue_order_id))
        if rec.last is not None and rec.last.status is OrderStatus.REJECTED:
            return rec.last
        return None  # the venue never saw it

    async def open_orders(self) -> list[OrderEvent]:
        out: list[OrderEvent] = []
        for row in await self._pages("open orders", _account.build_list_open_orders_request):
            try:
                out.append(self._open_order_event(parse_order(row, self.decode_stats)))
            except ValueError as exc:
                # an open order we cannot read could be ours and could fill: do not pretend it is not there
                raise VenueUnavailable(
                    f"open orders lookup: unreadable order ({str(exc).splitlines()[0][:120]})"
                ) from None
        return out

    def _fills_from(self, trades: Iterable[WireTrade]) -> list[Fill]:
        wallet = self.wallet.lower()
        api_key = self._client.credentials.key
        out: list[Fill] = []
        for t in trades:
            settlement = _settlement(t.status)
            ts = t.time_ns or self._now()
            if t.trader_side.upper() == "TAKER":
                rec = self._by_venue.get(t.taker_order_id.lower())
                out.append(taker_fill(t, account=self.account, client_order_id=rec.client_order_id if rec else None,
                                      time_ns=ts, settlement=settlement, schedule=self.fee_schedule(t.asset_id)))
                continue
            for mo in t.maker_orders:
                if mo.maker_address.lower() != wallet and mo.owner != api_key:
                    continue
                rec = self._by_venue.get(mo.order_id.lower())
                out.append(maker_fill(t, t.resolved(mo), account=self.account,
                                      client_order_id=rec.client_order_id if rec else None,
                                      time_ns=ts, settlement=settlement))
        return out

    async def trades(self, since_ns: int | None = None) -> list[Fill]:
        filters: dict[str, Any] = {}
        if since_ns is not None:
            filters["after"] = str(since_ns // 1_000_000_000)
        fills = self._fills_from(await self._all_trades(**filters))
        if since_ns is not None:
            fills = [f for f in fills if f.time_ns >= since_ns]
        fills.sort(key=lambda f: (f.time_ns, f.fill_id))
        return fills

    async def positions(self) -> list[Position]:
        """Net positions from the venue's own trade record (FAILED fills excluded)."""
        book: dict[str, _PosAcc] = {}
        for f in await self.trades():
            if f.settlement is SettlementStatus.FAILED:
                continue
            book.setdefault(f.token_id, _PosAcc(market=f.market)).apply(f)
        now = self._now()
        return [
            Position(
                time_ns=now,
                account=self.account,
                token_id=tok,
                market=acc.market,
                size=acc.size,
                avg_price=acc.avg_price,
                realized_pnl=acc.realized,
            )
            for tok, acc in sorted(book.items())
            if acc.size > 0 or acc.realized != 0
        ]

    async def balance(self) -> Balance:
        with _venue_errors("balance lookup failed"):
            ba = await self._call(self._client.get_balance_allowance(asset_type="COLLATERAL"))
        cash = Decimal(ba.balance) / Decimal(1_000_000)
        reserved = Decimal(0)
        for o in await self.open_orders():
            if o.side is Side.BUY:
                reserved += o.remaining * o.price
        return Balance(time_ns=self._now(), account=self.account, cash=cash, reserved=reserved)


@dataclass
class _RecordWithOrder:
    record: OrderRecord
    signed: SignedOrder


@dataclass
class _PosAcc:
    market: str
    size: Decimal = Decimal(0)
    cost: Decimal = Decimal(0)
    realized: Decimal = Decimal(0)

    @property
    def avg_price(self) -> Decimal:
        return (self.cost / self.size).quantize(_MICRO) if self.size > 0 else Decimal(0)

    def apply(self, f: Fill) -> None:
        if f.side is Side.BUY:
            self.size += f.size
            self.cost += f.size * f.price
            self.realized -= f.fee
        else:
            qty = min(f.size, self.size)
            avg = self.cost / self.size if self.size > 0 else Decimal(0)
            self.realized += qty * (f.price - avg) - f.fee
            self.cost -= qty * avg
            self.size -= qty


def _unknown_order(account: str, client_order_id: str, now: int) -> OrderEvent:
    """The answer to a cancel of an order this client never placed (as the sim answers it)."""
    return OrderEvent(
        time_ns=now,
        client_order_id=client_order_id,
        account=account,
        token_id="UNKNOWN",
        market="UNKNOWN",
        side=Side.BUY,
        price=Decimal(0),
        size=Decimal(0),
        status=OrderStatus.REJECTED,
        reason=ReasonCode.UNKNOWN_ORDER,
        message=f"no order {client_order_id!r} on this account",
    )


def _settlement(status: str) -> SettlementStatus:
    try:
        return SettlementStatus(settlement_text(status))
    except ValueError:
        return SettlementStatus.MATCHED


def _order_status_from_text(status: str, matched: Decimal, size: Decimal) -> OrderStatus:
    s = status.upper().removeprefix("ORDER_STATUS_")
    if s == "CANCELED_EXPIRED_ORDER" or s == "EXPIRED":
        return OrderStatus.EXPIRED
    if s.startswith("CANCEL"):
        return OrderStatus.CANCELLED
    if s in ("INVALID", "UNMATCHED"):
        return OrderStatus.REJECTED if matched == 0 else OrderStatus.CANCELLED
    if matched >= size > 0:
        return OrderStatus.FILLED
    if matched > 0:
        return OrderStatus.PARTIALLY_FILLED
    return OrderStatus.ACKNOWLEDGED


__all__ = [
    "MAX_BATCH",
    "InvalidCredentials",
    "JsonlIdStore",
    "MemoryIdStore",
    "OrderIdStore",
    "OrderRecord",
    "PolymarketExecution",
    "PolymarketExecutionConfig",
    "is_client_mismatch",
    "reason_for_text",
]
_ = PolymarketError  # re-exported error base is part of the SDK surface we rely on
