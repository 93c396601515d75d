"""A Polymarket-compatible server on 127.0.0.1, backed by the simulated exchange (tests, rehearsal).

Usage::

    server = LoopbackServer()                      # a SimExchange on the wall clock, quirks on
    server.exchange.add_market(info)               # list markets / rest orders on the engine
    clob = await server.start()                    # "http://127.0.0.1:<port>" (the CLOB)
    feed = PolymarketDataFeed(server.data_config())  # Gamma, CLOB, Data API: one port each
    ...
    server.drop_market_connections()               # cut every market socket (no close frame)
    server.inject_market_frame("garbage")          # raw text to every market socket
    server.change_tick_size(market, "0.001")       # tick_size_change + fresh books
    server.resolve_market(market, winning_token)   # market_resolved (custom feature)
    server.answer_pings = False                    # PING goes unanswered
    server.state.add_data_trade(...)               # a Data API row with exact timestamps
    server.feeds.add_item("wire", title=...)       # RSS/Atom at server.feed_url("wire", "rss"|"atom")
    server.spot.set_price("BTC", "USDT", "65000")  # ccxt: SpotFeedConfig(rest_base=..., ws_base=...)
    await server.stop()

Served, each API on its own origin (``server.gamma_url``, ``clob_url``, ``data_url``, ``aux_url``):
Gamma ``/markets`` ``/events``; Data API ``/trades`` ``/activity`` ``/positions``; CLOB ``/book``
``/books`` ``/midpoint`` ``/price`` ``/spread`` ``/last-trade-price`` ``/tick-size`` ``/neg-risk``
``/fee-rate`` ``/markets`` (the CLOB's, cursor-paginated) ``/markets/{condition_id}`` ``/version``
``/time``, ``/ws/market``; aux: ``/feeds/<name>.rss|.atom`` and Binance's
``/binance/api/v3/exchangeInfo``, ``/binance/api/v3/ticker/24hr``, ``/binance/ws``. The order side
and ``/ws/user`` (on the CLOB) come from ``loopback.orders`` / ``loopback.user_ws``.
"""

from venues.polymarket.loopback.seed import seed_demo
from venues.polymarket.loopback.server import LoopbackServer, build_clob_app
from venues.polymarket.loopback.state import LoopbackExchange, LoopbackState, WallClockScheduler

__all__ = ["LoopbackExchange", "LoopbackServer", "LoopbackState", "WallClockScheduler", "build_clob_app", "seed_demo"]
