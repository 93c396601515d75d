"""``LoopbackServer``: a Polymarket-compatible venue on 127.0.0.1, backed by the simulated exchange.

Like the real venue, it is several origins, one per API, each on its own port:

* **CLOB** (``clob_url``, the SDK's ``clob_url``; ``base_url`` is this one): the book and price
  endpoints, the CLOB's own paginated ``GET /markets`` (``data``/``next_cursor``, ``"LTE="`` on the
  last page), ``GET /markets/{condition_id}``, ``GET /fee-rate``, the order side and both
  WebSockets (``/ws/market``, ``/ws/user``);
* **Gamma** (``gamma_url``): ``/markets`` and ``/events`` — Gamma's documents, not the CLOB's;
* **Data API** (``data_url``): ``/trades``, ``/activity``, ``/positions``;
* **aux** (``aux_url``): RSS/Atom under ``/feeds/`` and Binance's tickers under ``/binance/``.

Why separate ports: a loopback that answers Gamma's ``/markets`` on the CLOB's address gives the
official client the wrong document, and a client that reads a URL from the wrong setting passes
against a one-host server and fails against the venue. ``data_config()`` names all of them.

``quirks`` (on by default) makes the frames and bodies what the live venue sends rather than its
documented schema — see ``LoopbackState.quirks``.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from aiohttp import web

from protocols import MarketInfo
from venues.polymarket.config import PolymarketDataConfig
from venues.polymarket.loopback import clob, data_api, feeds, gamma, market_ws, spot
from venues.polymarket.loopback.common import STATE_KEY
from venues.polymarket.loopback.state import LoopbackExchange, LoopbackState, WallClockScheduler

log = logging.getLogger(__name__)

#: Modules that add routes to the CLOB app if present: ``register(app, state)``.
EXTENSIONS = ("venues.polymarket.loopback.orders", "venues.polymarket.loopback.user_ws")

#: The origins, in the order their ports are taken from a fixed ``start(port=N)``: N, N+1, ...
ORIGINS = ("clob", "gamma", "data", "aux")


def _app(state: LoopbackState) -> web.Application:
    app = web.Application()
    app[STATE_KEY] = state
    return app


def build_clob_app(state: LoopbackState) -> web.Application:
    """The CLOB origin: REST (public and private) and both WebSockets."""
    app = _app(state)
    clob.register(app)
    market_ws.register(app)
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


def build_gamma_app(state: LoopbackState) -> web.Application:
    app = _app(state)
    gamma.register(app)
    return app


def build_data_app(state: LoopbackState) -> web.Application:
    app = _app(state)
    data_api.register(app)
    return app


def build_aux_app(state: LoopbackState, feed_store: feeds.FeedStore, spot_book: spot.SpotBook) -> web.Application:
    app = _app(state)
    feeds.register(app, feed_store)
    spot.register(app, spot_book)
    return app


def default_exchange() -> LoopbackExchange:
    from venues.sim.exchange import SimExchange

    ex: LoopbackExchange = SimExchange(scheduler=WallClockScheduler())
    return ex


@dataclass
class _Site:
    app: web.Application
    runner: web.AppRunner | None = None
    url: str = ""


class LoopbackServer:
    """``LoopbackServer(exchange=None, *, quirks=True)``; ``await start(host, port=0) -> clob_url``.

    ``exchange`` defaults to a ``SimExchange`` on the wall clock. ``port=0`` takes a free port per
    origin; a fixed ``port`` N puts the CLOB on N, Gamma on N+1, the Data API on N+2, aux on N+3.
    Hooks for tests: ``drop_market_connections``, ``inject_market_frame``, ``change_tick_size``,
    ``resolve_market``, ``add_market``, ``answer_pings``; ``feeds`` (RSS/Atom items) and
    ``spot`` (ticker prices) for the news and ccxt clients.
    """

    def __init__(self, exchange: LoopbackExchange | None = None, *, quirks: bool = True) -> None:
        self.exchange = exchange if exchange is not None else default_exchange()
        self.state = LoopbackState(self.exchange, quirks=quirks)
        self.feeds = feeds.FeedStore()
        self.spot = spot.SpotBook()
        #: The CLOB app (the order side's state lives on it: ``orders_state(server.app)``).
        self.app = build_clob_app(self.state)
        self._sites: dict[str, _Site] = {
            "clob": _Site(self.app),
            "gamma": _Site(build_gamma_app(self.state)),
            "data": _Site(build_data_app(self.state)),
            "aux": _Site(build_aux_app(self.state, self.feeds, self.spot)),
        }
        self._started = False

    @property
    def quirks(self) -> bool:
        return self.state.quirks

    @quirks.setter
    def quirks(self, value: bool) -> None:
        self.state.quirks = value

    async def start(self, host: str = "127.0.0.1", port: int = 0, *, ports: Mapping[str, int] | None = None) -> str:
        """Listen on every origin; ``ports`` (e.g. another server's ``ports``) fixes each by name."""
        if self._started:
            return self.clob_url
        unknown = set(ports or {}) - set(ORIGINS)
        if unknown:
            raise ValueError(f"unknown origin(s) {sorted(unknown)}; origins are {ORIGINS}")
        try:
            for i, name in enumerate(ORIGINS):
                site = self._sites[name]
                runner = web.AppRunner(site.app, handle_signals=False, access_log=None)
                await runner.setup()
                site.runner = runner
                fixed = (ports or {}).get(name, port + i if port else 0)
                tcp = web.TCPSite(runner, host, fixed)
                await tcp.start()
                server = tcp._server
                assert server is not None
                bound = server.sockets[0].getsockname()  # type: ignore[attr-defined]
                site.url = f"http://{host}:{bound[1]}"
        except BaseException:
            await self._cleanup()
            raise
        self._started = True
        return self.clob_url

    async def _cleanup(self) -> None:
        for site in self._sites.values():
            if site.runner is not None:
                await site.runner.cleanup()
                site.runner = None
            site.url = ""

    async def stop(self) -> None:
        if not self._started:
            return
        self.state.hub.drop_all(abrupt=False)
        await self._cleanup()
        self._started = False

    async def __aenter__(self) -> LoopbackServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- URLs ---------------------------------------------------------------------------------
    @property
    def ports(self) -> dict[str, int]:
        """Each origin's port by name (``clob``, ``gamma``, ``data``, ``aux``) once started."""
        return {name: int(site.url.rsplit(":", 1)[1]) for name, site in self._sites.items() if site.url}

    @property
    def clob_url(self) -> str:
        return self._sites["clob"].url

    @property
    def base_url(self) -> str:
        """The CLOB's URL (what the SDK's ``clob_url`` and ``VenueSettings.clob_url`` take)."""
        return self.clob_url

    @property
    def gamma_url(self) -> str:
        return self._sites["gamma"].url

    @property
    def data_url(self) -> str:
        return self._sites["data"].url

    @property
    def aux_url(self) -> str:
        return self._sites["aux"].url

    @property
    def ws_url(self) -> str:
        return self.ws_prefix + "/market"

    @property
    def ws_prefix(self) -> str:
        """The WebSocket prefix (``/market`` and ``/user`` below it), like production's ``/ws``."""
        return "ws" + self.clob_url[len("http"):] + "/ws"

    def data_config(self, **overrides: object) -> PolymarketDataConfig:
        """A data-side config pointing each API at its own loopback origin."""
        fields: dict[str, object] = {
            "gamma_url": self.gamma_url,
            "clob_url": self.clob_url,
            "data_url": self.data_url,
            "market_ws_url": self.ws_url,
        }
        fields.update(overrides)
        return PolymarketDataConfig.model_validate(fields)

    @property
    def binance_urls(self) -> dict[str, str]:
        """Bases to rebase ccxt's binance URLs onto (``SpotFeedConfig.rest_base`` / ``ws_base``):
        ``https://api.binance.com/api/v3`` → ``<rest>/api/v3``, ``wss://stream...:9443/ws`` → ``<ws>/ws``."""
        return {"rest": self.aux_url + "/binance", "ws": "ws" + self.aux_url[len("http"):] + "/binance"}

    def feed_url(self, name: str, fmt: str = "rss") -> str:
        return f"{self.aux_url}/feeds/{name}.{fmt}"

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
