"""``LoopbackServer``: a Polymarket-compatible server on 127.0.0.1, backed by the simulated exchange.

One aiohttp app serves Gamma, the Data API, the CLOB REST read endpoints and the market WebSocket
(all on one host, so ``PolymarketDataConfig.for_base_url(base_url)`` points a client at it), plus
RSS/Atom feeds under ``/feeds/`` and Binance's ticker endpoints under ``/binance/`` for ccxt.
The order endpoints and the user WebSocket are registered by ``loopback.orders`` and
``loopback.user_ws`` when those modules exist.
"""

from __future__ import annotations

import importlib
import logging
from decimal import Decimal

from aiohttp import web

from protocols import MarketInfo
from venues.polymarket.loopback import clob, data_api, feeds, gamma, market_ws, spot
from venues.polymarket.loopback.common import STATE_KEY
from venues.polymarket.loopback.state import LoopbackExchange, LoopbackState, WallClockScheduler

log = logging.getLogger(__name__)

#: Modules that add routes to the app if present: ``register(app, state)``.
EXTENSIONS = ("venues.polymarket.loopback.orders", "venues.polymarket.loopback.user_ws")


def build_app(state: LoopbackState, feed_store: feeds.FeedStore, spot_book: spot.SpotBook) -> web.Application:
    app = web.Application()
    app[STATE_KEY] = state
    gamma.register(app)
    clob.register(app)
    data_api.register(app)
    market_ws.register(app)
    feeds.register(app, feed_store)
    spot.register(app, spot_book)
    for name in EXTENSIONS:
        try:
            mod = importlib.import_module(name)
        except ImportError as exc:
            if exc.name != name:
                raise  # the module exists but is broken: say so rather than serve half a venue
            log.info("loopback: %s not present; its routes are not served", name)
            continue
        mod.register(app, state)
    return app


def default_exchange() -> LoopbackExchange:
    from venues.sim.exchange import SimExchange

    ex: LoopbackExchange = SimExchange(scheduler=WallClockScheduler())
    return ex


class LoopbackServer:
    """``LoopbackServer(exchange=None)``; ``await start(host="127.0.0.1", port=0) -> base_url``.

    ``exchange`` defaults to a ``SimExchange`` on the wall clock. Hooks for tests:
    ``drop_market_connections``, ``inject_market_frame``, ``change_tick_size``,
    ``resolve_market``, ``add_market``, ``answer_pings``; ``feeds`` (RSS/Atom items) and
    ``spot`` (ticker prices) for the news and ccxt clients.
    """

    def __init__(self, exchange: LoopbackExchange | None = None) -> None:
        self.exchange = exchange if exchange is not None else default_exchange()
        self.state = LoopbackState(self.exchange)
        self.feeds = feeds.FeedStore()
        self.spot = spot.SpotBook()
        self.app = build_app(self.state, self.feeds, self.spot)
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        if self._runner is not None:
            return self.base_url
        runner = web.AppRunner(self.app, handle_signals=False, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner = runner
        server = site._server
        assert server is not None
        bound = server.sockets[0].getsockname()  # type: ignore[attr-defined]
        self.base_url = f"http://{host}:{bound[1]}"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is None:
            return
        self.state.hub.drop_all(abrupt=False)
        await self._runner.cleanup()
        self._runner = None

    async def __aenter__(self) -> LoopbackServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- URLs ---------------------------------------------------------------------------------
    @property
    def ws_url(self) -> str:
        return "ws" + self.base_url[len("http"):] + "/ws/market"

    @property
    def binance_urls(self) -> dict[str, str]:
        """Bases to rebase ccxt's binance URLs onto (``SpotFeedConfig.rest_base`` / ``ws_base``):
        ``https://api.binance.com/api/v3`` → ``<rest>/api/v3``, ``wss://stream...:9443/ws`` → ``<ws>/ws``."""
        return {"rest": self.base_url + "/binance", "ws": "ws" + self.base_url[len("http"):] + "/binance"}

    def feed_url(self, name: str, fmt: str = "rss") -> str:
        return f"{self.base_url}/feeds/{name}.{fmt}"

    # -- hooks --------------------------------------------------------------------------------
    def drop_market_connections(self, abrupt: bool = True) -> int:
        """Cut every market socket (``abrupt``: no close frame, like a network drop)."""
        return self.state.hub.drop_all(abrupt)

    def inject_market_frame(self, text: str, token_id: str | None = None) -> None:
        """Send raw text to every market socket (or those following ``token_id``)."""
        self.state.hub.inject(text, token_id)

    def change_tick_size(self, market_or_token: str, tick: Decimal | str) -> None:
        self.state.change_tick_size(market_or_token, tick)

    def resolve_market(self, market: str, winning_token_id: str | None) -> None:
        self.state.resolve_market(market, winning_token_id)

    def add_market(self, info: MarketInfo) -> None:
        self.state.add_market(info)

    @property
    def answer_pings(self) -> bool:
        return self.state.hub.answer_pings

    @answer_pings.setter
    def answer_pings(self, value: bool) -> None:
        self.state.hub.answer_pings = value

    @property
    def market_connections(self) -> int:
        return len(self.state.hub.clients)
