"""The data side of the Polymarket venue: discovery (Gamma), books (CLOB REST + market WebSocket),
and whales (Data API).

:class:`PolymarketDataFeed` implements the *data* methods of ``protocols.VenuePort`` so the live
and paper venues compose it rather than re-implement it. Market data is public: nothing here
needs or sees a credential.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from protocols import BookSnapshot, FeeSchedule, MarketInfo, Payload, Sink, VenueUnavailable, WalletTrade
from venues.polymarket.config import DataApiConfig, PolymarketDataConfig
from venues.polymarket.http import JsonHttp, PolymarketApiError, SharedSession
from venues.polymarket.ratelimit import RateLimitBook
from venues.polymarket.schemas import (
    DataActivity,
    DataPosition,
    DataTrade,
    GammaEvent,
    GammaMarket,
    RestRow,
    WireBook,
    activity_to_wallet_trade,
    book_to_snapshot,
    market_to_info,
    trade_to_wallet_trade,
)
from venues.polymarket.websocket import BookKeeper, MarketDataStream, StreamStats, TokenMeta

log = logging.getLogger(__name__)


class _SkipLog:
    """Counts rows we could not use and logs each kind once (Gamma carries odd markets); counts
    the optional fields rows sent empty or null too (``blanks``, by field: never fatal)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.counts: Counter[str] = Counter()
        self.blanks: Counter[str] = Counter()

    def taken(self, row: RestRow) -> None:
        """A row was decoded: count the fields it sent empty or null."""
        self.blanks.update(row.blank_fields)

    def skip(self, kind: str, detail: str) -> None:
        self.counts[kind] += 1
        if self.counts[kind] == 1:
            log.warning("%s: skipped a row (%s, logged once per kind): %s", self.what, kind, detail[:300])


# -- Gamma --------------------------------------------------------------------------------------


class GammaClient:
    """Market discovery. Pages with ``limit``/``offset`` until a short page."""

    def __init__(self, http: JsonHttp, config: PolymarketDataConfig, clock: Callable[[], int] = time.time_ns):
        self._http = http
        self._cfg = config
        self._clock = clock
        self.skipped = _SkipLog("gamma")

    async def _pages(self, path: str, params: dict[str, Any], max_items: int | None) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        limit = self._cfg.gamma_page_size
        for page in range(self._cfg.gamma_max_pages):
            body = await self._http.get(path, {**params, "limit": limit, "offset": page * limit})
            if not isinstance(body, list):
                raise PolymarketApiError(200, f"expected a JSON list from {path}", "GET", path)
            out.extend(x for x in body if isinstance(x, dict))
            for x in body:
                if not isinstance(x, dict):
                    self.skipped.skip("NOT_OBJECT", repr(x)[:80])
            if len(body) < limit or (max_items is not None and len(out) >= max_items):
                break
        return out if max_items is None else out[:max_items]

    async def raw_markets(self, max_items: int | None = None, **filters: Any) -> list[GammaMarket]:
        rows = await self._pages("/markets", filters, max_items)
        out = []
        for r in rows:
            try:
                m = GammaMarket.model_validate(r)
                self.skipped.taken(m)
                out.append(m)
            except ValidationError as exc:
                self.skipped.skip("INVALID_MARKET", str(exc))
        return out

    async def raw_events(self, max_items: int | None = None, **filters: Any) -> list[GammaEvent]:
        rows = await self._pages("/events", filters, max_items)
        out = []
        for r in rows:
            try:
                ev = GammaEvent.model_validate(r)
                self.skipped.taken(ev)
                out.append(ev)
            except ValidationError as exc:
                self.skipped.skip("INVALID_EVENT", str(exc))
        return out

    def _info(self, m: GammaMarket, event: GammaEvent | None) -> MarketInfo | None:
        try:
            return market_to_info(
                m,
                now_ns=self._clock(),
                event=event,
                default_fee_rate=self._cfg.default_fee_rate,
                category=(m.category or (event.category if event is not None else None)),
            )
        except (ValidationError, ValueError) as exc:
            self.skipped.skip("UNTRADEABLE_MARKET", str(exc))
            return None

    async def markets(self, max_items: int | None = None, **filters: Any) -> list[MarketInfo]:
        """``GET /markets`` → ``MarketInfo`` (event flags from the embedded ``events``)."""
        out = []
        for m in await self.raw_markets(max_items, **filters):
            info = self._info(m, None)
            if info is not None:
                out.append(info)
        return out

    async def listings(self, max_items: int | None = None, **filters: Any) -> list[tuple[MarketInfo, GammaMarket]]:
        """Tradeable markets of ``/events`` with the raw Gamma row beside each (best bid/ask,
        volume: what a human listing wants and ``MarketInfo`` does not carry)."""
        out: list[tuple[MarketInfo, GammaMarket]] = []
        for ev in await self.raw_events(max_items, **filters):
            for raw in ev.markets:
                try:
                    m = GammaMarket.model_validate(raw)
                except ValidationError as exc:
                    self.skipped.skip("INVALID_MARKET", str(exc))
                    continue
                self.skipped.taken(m)
                info = self._info(m, ev)
                if info is not None:
                    out.append((info, m))
        return out

    async def events(self, max_items: int | None = None, **filters: Any) -> list[tuple[GammaEvent, list[MarketInfo]]]:
        """``GET /events`` → each event with its markets; neg-risk/augmented flags come from the
        event, which is where Polymarket sets them."""
        out = []
        for ev in await self.raw_events(max_items, **filters):
            infos = []
            for raw in ev.markets:
                try:
                    m = GammaMarket.model_validate(raw)
                except ValidationError as exc:
                    self.skipped.skip("INVALID_MARKET", str(exc))
                    continue
                self.skipped.taken(m)
                info = self._info(m, ev)
                if info is not None:
                    infos.append(info)
            if ev.negRisk or ev.enableNegRisk:
                n = len(ev.markets)
                infos = [i.model_copy(update={"event_market_count": n}) for i in infos]
            out.append((ev, infos))
        return out


# -- CLOB REST (read side) ----------------------------------------------------------------------


class ClobReader:
    """``GET /book``, ``POST /books`` and the small price endpoints."""

    def __init__(self, http: JsonHttp) -> None:
        self._http = http

    async def wire_book(self, token_id: str) -> WireBook:
        body = await self._http.get("/book", {"token_id": token_id})
        if not isinstance(body, dict):
            raise PolymarketApiError(200, "expected a JSON object from /book", "GET", "/book")
        return WireBook.parse(body)

    async def wire_books(self, token_ids: Sequence[str]) -> list[WireBook]:
        if not token_ids:
            return []
        body = await self._http.post("/books", [{"token_id": t} for t in token_ids])
        if not isinstance(body, list):
            raise PolymarketApiError(200, "expected a JSON list from /books", "POST", "/books")
        return [WireBook.parse(b) for b in body if isinstance(b, dict)]

    async def book(self, token_id: str) -> BookSnapshot:
        return book_to_snapshot(await self.wire_book(token_id))

    async def midpoint(self, token_id: str) -> Decimal:
        body = await self._http.get("/midpoint", {"token_id": token_id})
        return Decimal(str(body["mid"]))

    async def price(self, token_id: str, side: str) -> Decimal:
        body = await self._http.get("/price", {"token_id": token_id, "side": side})
        return Decimal(str(body["price"]))

    async def tick_size(self, token_id: str) -> Decimal:
        body = await self._http.get("/tick-size", {"token_id": token_id})
        return Decimal(str(body["minimum_tick_size"]))

    async def neg_risk(self, token_id: str) -> bool:
        body = await self._http.get("/neg-risk", {"token_id": token_id})
        return bool(body["neg_risk"])

    async def version(self) -> int:
        body = await self._http.get("/version")
        return int(body["version"])


# -- Data API -----------------------------------------------------------------------------------


class DataApiClient:
    """``/trades``, ``/activity``, ``/positions``: rows validated, bad rows counted and skipped."""

    def __init__(self, http: JsonHttp) -> None:
        self._http = http
        self.skipped = _SkipLog("data-api")

    async def _rows(self, path: str, params: dict[str, Any]) -> list[Any]:
        body = await self._http.get(path, params)
        if not isinstance(body, list):
            raise PolymarketApiError(200, f"expected a JSON list from {path}", "GET", path)
        return body

    async def page(self, model: Any, path: str, params: dict[str, Any]) -> tuple[list[Any], int]:
        """One page: (valid rows, raw row count)."""
        raw = await self._rows(path, params)
        return self._parse(model, raw), len(raw)

    async def trades(self, **params: Any) -> list[DataTrade]:
        return self._parse(DataTrade, await self._rows("/trades", params))

    async def activity(self, user: str, **params: Any) -> list[DataActivity]:
        return self._parse(DataActivity, await self._rows("/activity", {"user": user, **params}))

    async def positions(self, user: str, **params: Any) -> list[DataPosition]:
        return self._parse(DataPosition, await self._rows("/positions", {"user": user, **params}))

    def _parse(self, model: Any, rows: list[Any]) -> list[Any]:
        out = []
        for r in rows:
            try:
                row = model.model_validate(r)
            except ValidationError as exc:
                self.skipped.skip(f"INVALID_{model.__name__.upper()}", str(exc))
                continue
            self.skipped.taken(row)
            out.append(row)
        return out


class Watermark:
    """A polling watermark that never skips.

    The Data API pages newest-first by *seconds*, so many trades share a timestamp, and trades
    are sometimes indexed late. Advancing a strict "> last timestamp" cursor past a second whose
    page boundary split it, or past a trade indexed a moment later, loses trades for good. So the
    watermark only says "everything strictly older than ``ts - grace`` has been seen", and every
    trade at or after that line is checked against the keys already delivered.
    """

    def __init__(self, grace_s: int) -> None:
        self.grace_ns = grace_s * 1_000_000_000
        self.ts: int | None = None  # newest trade time delivered
        self._seen: dict[tuple[str, str, str, str], int] = {}

    @property
    def floor(self) -> int | None:
        return None if self.ts is None else self.ts - self.grace_ns

    def is_new(self, key: tuple[str, str, str, str], ts: int) -> bool:
        floor = self.floor
        if floor is not None and ts < floor:
            return False
        return key not in self._seen

    def add(self, key: tuple[str, str, str, str], ts: int) -> None:
        self._seen[key] = ts
        if self.ts is None or ts > self.ts:
            self.ts = ts

    def prune(self) -> None:
        floor = self.floor
        if floor is None:
            return
        self._seen = {k: t for k, t in self._seen.items() if t >= floor}


class _PagedDataFeed:
    """Polls newest-first Data API pages under a :class:`Watermark` per scope (wallet or all)."""

    name = "polymarket-data-api"

    def __init__(
        self,
        config: PolymarketDataConfig | None = None,
        data_config: DataApiConfig | None = None,
        *,
        session: SharedSession | None = None,
    ) -> None:
        self._cfg = config or PolymarketDataConfig()
        self.data_cfg = data_config or DataApiConfig()
        self._own = session is None
        self._session = session or SharedSession(self._cfg.request_timeout_s)
        limits = RateLimitBook(self._cfg.rate_limits)
        self._http = JsonHttp(
            self._cfg.data_url, "data", limits=limits, session=self._session,
            timeout_s=self._cfg.request_timeout_s, retries=self._cfg.http_retries,
            backoff_s=self._cfg.http_backoff_s,
        )
        self.client = DataApiClient(self._http)
        self._sink: Sink = lambda _p: None
        self.watermarks: dict[str, Watermark] = {}
        self.delivered = 0

    def set_sink(self, sink: Sink) -> None:
        self._sink = sink

    async def _collect(
        self,
        scope: str,
        fetch: Callable[[int, int], Awaitable[tuple[list[Any], int]]],
    ) -> list[Any]:
        """Rows not delivered yet, paging back until a page reaches below the watermark's floor
        (or a short page). ``fetch(offset, limit)`` returns (valid rows, raw row count): a page is
        short by its raw count, so a row we refused cannot end the paging early."""
        wm = self.watermarks.setdefault(scope, Watermark(self.data_cfg.grace_s))
        limit = self.data_cfg.page_size
        fresh: dict[tuple[str, str, str, str], Any] = {}
        floor = wm.floor  # None on the first poll: set from the newest row of the first page
        for page in range(self.data_cfg.max_pages):
            rows, raw_count = await fetch(page * limit, limit)
            if floor is None and rows:
                floor = max(t.timestamp for t in rows) - wm.grace_ns
            for t in rows:
                k = t.dedupe_key
                if k not in fresh and wm.is_new(k, t.timestamp) and (floor is None or t.timestamp >= floor):
                    fresh[k] = t
            if raw_count < limit:
                break
            if floor is not None and rows and min(t.timestamp for t in rows) < floor:
                break  # this page reached below the floor: older pages hold nothing new
        else:
            log.warning("data-api: %s still new after %d pages; raise max_pages", scope, self.data_cfg.max_pages)
        for k, t in fresh.items():
            wm.add(k, t.timestamp)
        wm.prune()
        return sorted(fresh.values(), key=lambda t: (t.timestamp, t.transactionHash, t.asset))

    def _deliver(self, rows: list[Any], convert: Callable[[Any], WalletTrade | None]) -> list[WalletTrade]:
        out: list[WalletTrade] = []
        for t in rows:
            try:
                w = convert(t)
            except (ValidationError, ValueError) as exc:
                self.client.skipped.skip("INVALID_WHALE_TRADE", str(exc))
                continue
            if w is None:
                continue
            out.append(w)
            try:
                self._sink(w)
            except Exception:
                log.exception("data-api: sink raised")
        out.sort(key=lambda w: (w.time_ns, w.tx_hash, w.token_id))
        self.delivered += len(out)
        return out

    async def close(self) -> None:
        await self._http.close()
        if self._own:
            await self._session.close()


class LargeTradeFeed(_PagedDataFeed):
    """Large trades from ``/trades?filterType=CASH&filterAmount=...`` (optionally per wallet),
    as ``WalletTrade``s; implements ``protocols.LargeTradeFeed``."""

    name = "polymarket-large-trades"

    async def poll(self) -> list[WalletTrade]:
        """New large trades since the last poll, oldest first. Every trade at or after the
        watermark's floor that was not delivered yet is delivered now; the first poll starts
        ``grace_s`` before the newest trade rather than backfilling all history."""
        scopes: Iterable[str | None] = self.data_cfg.wallets or (None,)
        rows: list[DataTrade] = []
        for wallet in scopes:

            async def fetch(offset: int, limit: int, wallet: str | None = wallet) -> tuple[list[Any], int]:
                params: dict[str, Any] = {
                    "limit": limit, "offset": offset, "filterType": "CASH",
                    "filterAmount": str(self.data_cfg.min_cash), "takerOnly": self.data_cfg.taker_only,
                }
                if wallet:
                    params["user"] = wallet
                return await self.client.page(DataTrade, "/trades", params)

            rows.extend(await self._collect(wallet or "*", fetch))
        return self._deliver(rows, trade_to_wallet_trade)


class WalletActivityFeed(_PagedDataFeed):
    """Every trade of the followed wallets (``DataApiConfig.wallets``) from ``/activity``, whatever
    its size, as ``WalletTrade``s; implements ``protocols.LargeTradeFeed``. Splits, merges and
    redemptions are not trades and are left out."""

    name = "polymarket-wallet-activity"

    async def poll(self) -> list[WalletTrade]:
        rows: list[DataActivity] = []
        for wallet in self.data_cfg.wallets:

            async def fetch(offset: int, limit: int, wallet: str = wallet) -> tuple[list[Any], int]:
                params = {"user": wallet, "type": "TRADE", "limit": limit, "offset": offset}
                return await self.client.page(DataActivity, "/activity", params)

            rows.extend(await self._collect(wallet, fetch))
        return self._deliver(rows, activity_to_wallet_trade)


# -- the data feed ------------------------------------------------------------------------------


class PolymarketDataFeed:
    """The data half of ``VenuePort`` for Polymarket.

    ``PolymarketDataFeed(config=None, *, clock=time.time_ns, rng=None)``: ``config`` names every
    URL (default: production; ``LoopbackServer.data_config()`` for the loopback server),
    ``clock`` stamps locally made payloads (``BookStale``), ``rng`` seeds reconnect jitter.

    Delivers to the sink: ``BookSnapshot`` (after each (re)subscription, gap or tick change),
    ``BookDelta``, ``TradePrint``, ``TickSizeChange``, ``BookStale`` (a book must not be traded
    until its next snapshot), ``MarketInfo`` (``new_market``) and ``MarketResolved``.
    """

    name = "polymarket"
    account = ""

    def __init__(
        self,
        config: PolymarketDataConfig | None = None,
        *,
        clock: Callable[[], int] = time.time_ns,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config or PolymarketDataConfig()
        cfg = self.config
        self._clock = clock
        self._rng = rng or random.Random()
        self._session = SharedSession(cfg.request_timeout_s)
        self.limits = RateLimitBook(cfg.rate_limits)

        def http(base: str, api: str) -> JsonHttp:
            return JsonHttp(
                base, api, limits=self.limits, session=self._session, timeout_s=cfg.request_timeout_s,
                retries=cfg.http_retries, backoff_s=cfg.http_backoff_s, rng=random.Random(self._rng.random()),
            )

        self.gamma = GammaClient(http(cfg.gamma_url, "gamma"), cfg, clock)
        self.clob = ClobReader(http(cfg.clob_url, "clob"))
        self.data_api = DataApiClient(http(cfg.data_url, "data"))
        self._https = [self.gamma._http, self.clob._http, self.data_api._http]
        self.stats = StreamStats()
        self._sink: Sink = lambda _p: None
        self.keeper = BookKeeper(self.stats, sink=self._deliver, request_snapshot=self._request_snapshot, clock=clock)
        self.stream = MarketDataStream(cfg, self._session, self.keeper, self.stats, rng=self._rng)
        self._markets: dict[str, MarketInfo] = {}  # by token id
        self._resync_tasks: dict[str, asyncio.Task[None]] = {}

    # -- VenuePort (data side) ------------------------------------------------------------------
    def set_sink(self, sink: Sink) -> None:
        self._sink = sink

    async def list_markets(self, max_items: int | None = None) -> list[MarketInfo]:
        """Active, open markets with an order book, discovered through ``/events`` (which carries
        the neg-risk and augmented flags); remembered so subscriptions know each token's tick."""
        out: list[MarketInfo] = []
        seen: set[str] = set()
        for _ev, infos in await self.gamma.events(max_items, active=True, closed=False):
            for info in infos:
                if info.market in seen or info.closed:
                    continue
                seen.add(info.market)
                out.append(info)
        self.remember(out)
        return out

    def remember(self, markets: Iterable[MarketInfo]) -> None:
        """Learn tokens' market, tick and minimum size (e.g. from a cached discovery)."""
        for m in markets:
            for t in m.token_ids:
                self._markets[t] = m

    def market_info(self, token_id: str) -> MarketInfo | None:
        """The listed market of a token (from ``list_markets``/``remember``), or None."""
        return self._markets.get(token_id)

    def fee_schedule(self, token_id: str) -> FeeSchedule | None:
        """The fee schedule Gamma gave the token's market, or None for a market not listed."""
        m = self._markets.get(token_id)
        return m.fees if m is not None else None

    async def learn_market(self, token_id: str) -> MarketInfo | None:
        """The token's market, asking Gamma (``clob_token_ids=``) once when it was not listed."""
        known = self._markets.get(token_id)
        if known is not None:
            return known
        found = await self.gamma.markets(1, clob_token_ids=token_id)
        self.remember(found)
        return self._markets.get(token_id)

    async def subscribe_market_data(self, token_ids: Sequence[str]) -> None:
        tokens = [t for t in dict.fromkeys(token_ids) if t not in self.keeper.tracked()]
        unknown = [t for t in tokens if t not in self._markets]
        metas: dict[str, TokenMeta] = {}
        for t in tokens:
            m = self._markets.get(t)
            if m is not None:
                metas[t] = TokenMeta(m.market, m.tick_size, m.min_order_size)
        for i in range(0, len(unknown), 100):
            for wb in await self.clob.wire_books(unknown[i : i + 100]):
                metas[wb.asset_id] = TokenMeta(
                    wb.market, wb.tick_size or Decimal("0.01"), wb.min_order_size or Decimal(5)
                )
        missing = [t for t in tokens if t not in metas]
        if missing:
            raise VenueUnavailable(f"no book for token(s) {missing[:5]}: unknown to the CLOB")
        for t in tokens:
            self.keeper.track(t, metas[t])
        await self.stream.subscribe(tokens)

    async def unsubscribe_market_data(self, token_ids: Sequence[str]) -> None:
        await self.stream.unsubscribe(token_ids)
        for t in token_ids:
            self.keeper.untrack(t)
            task = self._resync_tasks.pop(t, None)
            if task is not None:
                task.cancel()

    async def get_book(self, token_id: str) -> BookSnapshot:
        wire = await self.clob.wire_book(token_id)
        return book_to_snapshot(wire)

    async def close(self) -> None:
        await self.stream.close()
        tasks = list(self._resync_tasks.values())
        self._resync_tasks.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._session.close()

    # -- extras -------------------------------------------------------------------------------
    def local_book(self, token_id: str) -> BookSnapshot | None:
        """The WebSocket-maintained mirror (best first), or None while it is being rebuilt.
        The paper venue fills against this."""
        return self.keeper.book(token_id)

    def status(self) -> dict[str, Any]:
        return {
            "subscribed": len(self.keeper.tracked()),
            "connections": len(self.stream.connections),
            "stream": self.stats.as_dict(),
            "gamma_skipped": dict(self.gamma.skipped.counts),
            "gamma_blank_fields": dict(self.gamma.skipped.blanks),
            "rate_limits": self.limits.stats(),
        }

    async def wait_connected(self) -> None:
        await self.stream.wait_connected()

    # -- internals ------------------------------------------------------------------------------
    def _deliver(self, payload: Payload) -> None:
        self._sink(payload)

    def _request_snapshot(self, token_id: str) -> None:
        if token_id in self._resync_tasks:
            return
        self._resync_tasks[token_id] = asyncio.get_running_loop().create_task(self._resync(token_id))

    async def _resync(self, token_id: str) -> None:
        """Fetch a fresh book until it arrives (or the token is unsubscribed); the book stays
        stale — consumers were told — for as long as the CLOB cannot be reached."""
        attempt = 0
        try:
            while True:
                try:
                    wire = await self.clob.wire_book(token_id)
                except (VenueUnavailable, PolymarketApiError, ValidationError, ValueError) as exc:
                    attempt += 1
                    if attempt == 1:
                        log.warning("resync of %s failed (%s); retrying", token_id, exc)
                    await asyncio.sleep(min(5.0, 0.05 * 2**attempt) * (0.5 + self._rng.random()))
                    continue
                self.keeper.on_rest_snapshot(wire)
                return
        finally:
            self._resync_tasks.pop(token_id, None)
