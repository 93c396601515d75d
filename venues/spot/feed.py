"""Spot reference prices through ccxt (async), as ``protocols.ReferencePrice``.

Watches the ticker over the exchange's WebSocket where ccxt.pro supports it (``watch_ticker``),
otherwise polls ``fetch_ticker``. A failing exchange is retried with jittered backoff and never
takes the feed down; a price that did not change is not re-published.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Sequence
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from protocols import ReferencePrice, Sink
from protocols.numbers import to_decimal
from venues.spot.config import SpotFeedConfig

log = logging.getLogger(__name__)


def rebase_urls(urls: Any, base: str) -> Any:
    """Every http(s)/ws(s) URL in ccxt's nested ``urls['api']`` rebased onto ``base`` (path kept)."""
    if isinstance(urls, dict):
        return {k: rebase_urls(v, base) for k, v in urls.items()}
    if isinstance(urls, str) and "://" in urls:
        scheme = urlsplit(urls).scheme
        if (scheme in ("http", "https")) == base.startswith("http"):
            parts = urlsplit(urls)
            return base + parts.path + (f"?{parts.query}" if parts.query else "")
    return urls


def _has_pro(exchange_id: str) -> bool:
    try:
        import ccxt.pro as ccxtpro
    except ImportError:
        return False
    return exchange_id in getattr(ccxtpro, "exchanges", ())


class CcxtReferencePriceFeed:
    """``CcxtReferencePriceFeed(config=None, *, clock=time.time_ns)``; implements
    ``protocols.ReferencePriceFeed``. Symbols are ccxt's unified ones (``BTC/USDT``)."""

    def __init__(self, config: SpotFeedConfig | None = None, *, clock: Any = time.time_ns) -> None:
        self.config = config or SpotFeedConfig()
        self.name = f"ccxt:{self.config.exchange}"
        self._clock = clock
        self._sink: Sink = lambda _p: None
        self._latest: dict[str, ReferencePrice] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._exchange: Any = None
        self.mode: str = ""
        self.errors = 0
        self.published = 0
        self._rng = random.Random()

    def set_sink(self, sink: Sink) -> None:
        self._sink = sink

    def _make_exchange(self) -> Any:
        cfg = self.config
        use_pro = cfg.mode == "watch" or (cfg.mode == "auto" and _has_pro(cfg.exchange))
        if use_pro:
            import ccxt.pro as module
        else:
            import ccxt.async_support as module  # type: ignore[no-redef]
        cls = getattr(module, cfg.exchange, None)
        if cls is None:
            raise ValueError(f"exchange: ccxt has no exchange {cfg.exchange!r}")
        options: dict[str, Any] = {}
        if cfg.exchange == "binance":
            options["fetchMarkets"] = {"types": ["spot"]}  # do not touch futures/options endpoints
        options.update(cfg.options)
        ex = cls({"enableRateLimit": True, "timeout": cfg.timeout_ms, "options": options})
        if use_pro and not ex.has.get("watchTicker"):
            use_pro = False
        self.mode = "watch" if use_pro else "poll"
        api = ex.urls.get("api")
        if cfg.rest_base:
            api = rebase_urls(api, cfg.rest_base)
        if cfg.ws_base and isinstance(api, dict) and "ws" in api:
            api["ws"] = rebase_urls(api["ws"], cfg.ws_base)
        ex.urls["api"] = api
        return ex

    async def start(self, symbols: Sequence[str]) -> None:
        if self._exchange is None:
            self._exchange = self._make_exchange()
        await self._exchange.load_markets()
        unknown = [s for s in symbols if s not in self._exchange.markets]
        if unknown:
            raise ValueError(f"symbols: {self.config.exchange} does not list {unknown}")
        for sym in symbols:
            runner = self._watch if self.mode == "watch" else self._poll
            self._tasks.append(asyncio.create_task(runner(sym), name=f"spot-{sym}"))

    async def latest(self, symbol: str) -> ReferencePrice | None:
        return self._latest.get(symbol)

    async def fetch(self, symbol: str) -> ReferencePrice | None:
        """One ``fetch_ticker`` now (also what the poller does)."""
        if self._exchange is None:
            self._exchange = self._make_exchange()
        ticker = await self._exchange.fetch_ticker(symbol)
        return self._on_ticker(symbol, ticker)

    async def _poll(self, symbol: str) -> None:
        attempt = 0
        while True:
            try:
                await self.fetch(symbol)
                attempt = 0
                await asyncio.sleep(self.config.poll_interval_s)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # ccxt raises many kinds; all mean "try again later"
                attempt += 1
                await self._backoff(symbol, attempt, exc)

    async def _watch(self, symbol: str) -> None:
        attempt = 0
        while True:
            try:
                ticker = await self._exchange.watch_ticker(symbol)
                self._on_ticker(symbol, ticker)
                attempt = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                attempt += 1
                await self._backoff(symbol, attempt, exc)

    async def _backoff(self, symbol: str, attempt: int, exc: Exception) -> None:
        self.errors += 1
        cap = min(self.config.retry_max_s, self.config.retry_initial_s * 2 ** (attempt - 1))
        delay = cap / 2 + self._rng.random() * cap / 2
        if attempt == 1:
            log.warning("%s %s: %s: %s; retrying", self.name, symbol, type(exc).__name__, str(exc)[:200])
        await asyncio.sleep(delay)

    def _on_ticker(self, symbol: str, ticker: dict[str, Any]) -> ReferencePrice | None:
        price = self._price(ticker)
        if price is None:
            self.errors += 1
            return None
        ts = ticker.get("timestamp")
        time_ns = int(ts) * 1_000_000 if isinstance(ts, int | float) and ts > 0 else self._clock()
        try:
            rp = ReferencePrice(time_ns=time_ns, symbol=symbol, price=price, source=self.name)
        except ValidationError as exc:
            self.errors += 1
            log.warning("%s %s: refused ticker: %s", self.name, symbol, exc)
            return None
        prev = self._latest.get(symbol)
        self._latest[symbol] = rp
        if prev is None or prev.price != rp.price or prev.time_ns != rp.time_ns:
            self.published += 1
            self._sink(rp)
        return rp

    @staticmethod
    def _price(ticker: dict[str, Any]) -> Decimal | None:
        """The last trade price, else the bid/ask mid; exact from ccxt's float via its repr."""
        try:
            last = ticker.get("last")
            if last is not None:
                return to_decimal(last)
            bid, ask = ticker.get("bid"), ticker.get("ask")
            if bid is not None and ask is not None:
                return (to_decimal(bid) + to_decimal(ask)) / 2
        except ValueError:
            return None
        return None

    async def close(self) -> None:
        tasks, self._tasks = self._tasks, []
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        if self._exchange is not None:
            with contextlib.suppress(Exception):
                await self._exchange.close()
            self._exchange = None
