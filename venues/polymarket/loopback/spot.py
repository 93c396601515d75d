"""The few Binance spot endpoints ccxt uses for tickers, so the real ccxt runs in tests.

REST: ``GET /api/v3/exchangeInfo`` (ccxt's ``load_markets``) and ``GET /api/v3/ticker/24hr``
(``fetch_ticker``). WebSocket: ``/ws/...`` speaking Binance's ``SUBSCRIBE`` method with
``<symbol>@ticker`` streams and ``24hrTicker`` events (ccxt.pro's ``watch_ticker``). Prices are
set by tests (``SpotBook.set_price``) and pushed to every subscriber at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from decimal import Decimal

from aiohttp import WSMsgType, web

from venues.polymarket.loopback.wire import num


@dataclass
class _Ticker:
    base: str
    quote: str
    last: Decimal
    bid: Decimal
    ask: Decimal
    open: Decimal
    high: Decimal
    low: Decimal
    volume: Decimal = Decimal(1000)
    updated_ms: int = field(default_factory=lambda: int(time.time() * 1000))


class SpotBook:
    """Tickers by Binance symbol (``BTCUSDT``) and the WebSocket subscribers of each."""

    def __init__(self) -> None:
        self.tickers: dict[str, _Ticker] = {}
        self._subs: dict[tuple[str, str], set[asyncio.Queue[str | None]]] = {}
        self.requests: dict[str, int] = {}
        self._streams: set[asyncio.Queue[str | None]] = set()
        self.stream_connections = 0

    def drop_streams(self) -> int:
        """Close every ticker WebSocket (as an exchange does on maintenance); returns how many."""
        n = len(self._streams)
        for q in list(self._streams):
            q.put_nowait(None)
        return n

    def set_price(self, base: str, quote: str, price: Decimal | str, spread: Decimal | str = "0.01") -> None:
        p, s = Decimal(price), Decimal(spread)
        sym = f"{base}{quote}".upper()
        t = self.tickers.get(sym)
        if t is None:
            t = self.tickers[sym] = _Ticker(base.upper(), quote.upper(), p, p - s, p + s, p, p, p)
        t.last, t.bid, t.ask = p, p - s, p + s
        t.high, t.low = max(t.high, p), min(t.low, p)
        t.updated_ms = int(time.time() * 1000)
        for kind in STREAM_KINDS:
            subs = self._subs.get((sym.lower(), kind), ())
            if subs:
                frame = json.dumps(self.ws_frame(kind, sym, t))
                for q in subs:
                    q.put_nowait(frame)

    def ws_frame(self, kind: str, sym: str, t: _Ticker) -> dict[str, object]:
        if kind == "miniTicker":
            return {
                "e": "24hrMiniTicker", "E": t.updated_ms, "s": sym, "c": num(t.last), "o": num(t.open),
                "h": num(t.high), "l": num(t.low), "v": num(t.volume), "q": num(t.volume * t.last),
            }
        return self._ws_ticker(sym, t)

    def _count(self, route: str) -> None:
        self.requests[route] = self.requests.get(route, 0) + 1

    @staticmethod
    def _rest_ticker(sym: str, t: _Ticker) -> dict[str, object]:
        change = t.last - t.open
        pct = (change / t.open * 100) if t.open else Decimal(0)
        return {
            "symbol": sym,
            "priceChange": num(change),
            "priceChangePercent": num(pct.quantize(Decimal("0.001"))),
            "weightedAvgPrice": num(t.last),
            "prevClosePrice": num(t.open),
            "lastPrice": num(t.last),
            "lastQty": "0.01",
            "bidPrice": num(t.bid),
            "bidQty": "1.5",
            "askPrice": num(t.ask),
            "askQty": "2.25",
            "openPrice": num(t.open),
            "highPrice": num(t.high),
            "lowPrice": num(t.low),
            "volume": num(t.volume),
            "quoteVolume": num(t.volume * t.last),
            "openTime": t.updated_ms - 86_400_000,
            "closeTime": t.updated_ms,
            "firstId": 1,
            "lastId": 1000,
            "count": 1000,
        }

    @staticmethod
    def _ws_ticker(sym: str, t: _Ticker) -> dict[str, object]:
        return {
            "e": "24hrTicker",
            "E": t.updated_ms,
            "s": sym,
            "p": num(t.last - t.open),
            "P": "0",
            "w": num(t.last),
            "x": num(t.open),
            "c": num(t.last),
            "Q": "0.01",
            "b": num(t.bid),
            "B": "1.5",
            "a": num(t.ask),
            "A": "2.25",
            "o": num(t.open),
            "h": num(t.high),
            "l": num(t.low),
            "v": num(t.volume),
            "q": num(t.volume * t.last),
            "O": t.updated_ms - 86_400_000,
            "C": t.updated_ms,
            "F": 1,
            "L": 1000,
            "n": 1000,
        }

    def _symbol_info(self, sym: str, t: _Ticker) -> dict[str, object]:
        return {
            "symbol": sym,
            "status": "TRADING",
            "baseAsset": t.base,
            "baseAssetPrecision": 8,
            "quoteAsset": t.quote,
            "quotePrecision": 8,
            "quoteAssetPrecision": 8,
            "baseCommissionPrecision": 8,
            "quoteCommissionPrecision": 8,
            "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
            "icebergAllowed": True,
            "ocoAllowed": True,
            "otoAllowed": True,
            "quoteOrderQtyMarketAllowed": True,
            "allowTrailingStop": True,
            "cancelReplaceAllowed": True,
            "isSpotTradingAllowed": True,
            "isMarginTradingAllowed": False,
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": "0.01000000", "maxPrice": "1000000.00000000",
                 "tickSize": "0.01000000"},
                {"filterType": "LOT_SIZE", "minQty": "0.00001000", "maxQty": "9000.00000000",
                 "stepSize": "0.00001000"},
                {"filterType": "NOTIONAL", "minNotional": "5.00000000", "applyMinToMarket": True,
                 "maxNotional": "9000000.00000000", "applyMaxToMarket": False, "avgPriceMins": 5},
            ],
            "permissions": [],
            "permissionSets": [["SPOT"]],
            "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
            "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
        }


#: The per-symbol ticker streams served (ccxt.pro's binance ``watch_ticker`` uses ``miniTicker``).
STREAM_KINDS = ("ticker", "miniTicker")

SPOT_KEY: web.AppKey[SpotBook] = web.AppKey("spot_book", SpotBook)


def _binance_error(status: int, code: int, msg: str) -> web.Response:
    return web.json_response({"code": code, "msg": msg}, status=status)


async def exchange_info(request: web.Request) -> web.Response:
    book = request.app[SPOT_KEY]
    book._count("binance /api/v3/exchangeInfo")
    return web.json_response(
        {
            "timezone": "UTC",
            "serverTime": int(time.time() * 1000),
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
            ],
            "exchangeFilters": [],
            "symbols": [book._symbol_info(s, t) for s, t in book.tickers.items()],
        }
    )


async def ticker_24hr(request: web.Request) -> web.Response:
    book = request.app[SPOT_KEY]
    book._count("binance /api/v3/ticker/24hr")
    sym = request.query.get("symbol")
    if sym is None:
        return web.json_response([book._rest_ticker(s, t) for s, t in book.tickers.items()])
    t = book.tickers.get(sym)
    if t is None:
        return _binance_error(400, -1121, "Invalid symbol.")
    return web.json_response(book._rest_ticker(sym, t))


async def server_time(request: web.Request) -> web.Response:
    return web.json_response({"serverTime": int(time.time() * 1000)})


async def stream_ws(request: web.Request) -> web.WebSocketResponse:
    """Binance's raw stream endpoint: ``{"method": "SUBSCRIBE", "params": [...], "id": n}``."""
    book = request.app[SPOT_KEY]
    ws = web.WebSocketResponse(autoping=True)
    await ws.prepare(request)
    queue: asyncio.Queue[str | None] = asyncio.Queue()
    streams: set[tuple[str, str]] = set()
    book._streams.add(queue)
    book.stream_connections += 1

    async def writer() -> None:
        while (item := await queue.get()) is not None:
            try:
                await ws.send_str(item)
            except (ConnectionError, RuntimeError):
                return
        with contextlib.suppress(Exception):
            await ws.close()

    wtask = asyncio.create_task(writer())
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            try:
                req = json.loads(msg.data)
            except json.JSONDecodeError:
                queue.put_nowait(json.dumps({"error": {"code": 3, "msg": "Invalid JSON"}}))
                continue
            method, params, rid = req.get("method"), req.get("params") or [], req.get("id")
            keys = []
            for p in params:
                sym, _, kind = str(p).partition("@")
                if kind in STREAM_KINDS:
                    keys.append((sym.lower(), kind))
            for key in keys:
                if method == "SUBSCRIBE":
                    book._subs.setdefault(key, set()).add(queue)
                    streams.add(key)
                elif method == "UNSUBSCRIBE":
                    book._subs.get(key, set()).discard(queue)
                    streams.discard(key)
            queue.put_nowait(json.dumps({"result": None, "id": rid}))
            if method == "SUBSCRIBE":
                for sym, kind in keys:
                    t = book.tickers.get(sym.upper())
                    if t is not None:
                        queue.put_nowait(json.dumps(book.ws_frame(kind, sym.upper(), t)))
    finally:
        book._streams.discard(queue)
        for key in streams:
            book._subs.get(key, set()).discard(queue)
        queue.put_nowait(None)
        wtask.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await wtask
    return ws


def register(app: web.Application, book: SpotBook) -> None:
    """Binance's paths, under ``/binance`` so they cannot collide with Polymarket's."""
    app[SPOT_KEY] = book
    app.router.add_get("/binance/api/v3/exchangeInfo", exchange_info)
    app.router.add_get("/binance/api/v3/ticker/24hr", ticker_24hr)
    app.router.add_get("/binance/api/v3/time", server_time)
    app.router.add_get("/binance/ws", stream_ws)
    app.router.add_get("/binance/ws/{tail:.*}", stream_ws)
