"""A Polymarket-compatible server on 127.0.0.1, backed by the simulated exchange (tests, rehearsal).

Usage::

    server = LoopbackServer()                      # a SimExchange on the wall clock
    server.exchange.add_market(info)               # list markets / rest orders on the engine
    base = await server.start()                    # "http://127.0.0.1:<port>"
    feed = PolymarketDataFeed(PolymarketDataConfig.for_base_url(base))
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

Served: Gamma ``/markets`` ``/events``; Data API ``/trades`` ``/activity`` ``/positions``; CLOB
``/book`` ``/books`` ``/midpoint`` ``/price`` ``/spread`` ``/last-trade-price`` ``/tick-size``
``/neg-risk`` ``/version`` ``/time``; ``/ws/market``; ``/feeds/<name>.rss|.atom``; Binance's
``/binance/api/v3/exchangeInfo``, ``/binance/api/v3/ticker/24hr`` and ``/binance/ws``. The order
side and ``/ws/user`` come from ``loopback.orders`` / ``loopback.user_ws`` (``register(app, state)``).
"""

from venues.polymarket.loopback.seed import seed_demo
from venues.polymarket.loopback.server import LoopbackServer, build_app
from venues.polymarket.loopback.state import LoopbackExchange, LoopbackState, WallClockScheduler

__all__ = ["LoopbackExchange", "LoopbackServer", "LoopbackState", "WallClockScheduler", "build_app", "seed_demo"]
