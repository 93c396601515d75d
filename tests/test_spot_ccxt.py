"""Spot reference prices through the real ccxt (REST polling and ccxt.pro watch) against loopback
Binance endpoints on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from protocols import ReferencePrice, ReferencePriceFeed
from venues.polymarket.loopback import LoopbackServer
from venues.polymarket.loopback.testing import Recorder
from venues.spot import CcxtReferencePriceFeed, SpotFeedConfig, rebase_urls


@pytest.fixture
async def server() -> AsyncIterator[LoopbackServer]:
    srv = LoopbackServer()
    srv.spot.set_price("BTC", "USDT", "65000.12")
    srv.spot.set_price("ETH", "USDT", "3100.5")
    await srv.start()
    yield srv
    await srv.stop()


def _feed(srv: LoopbackServer, mode: str) -> CcxtReferencePriceFeed:
    urls = srv.binance_urls
    return CcxtReferencePriceFeed(
        SpotFeedConfig(mode=mode, rest_base=urls["rest"], ws_base=urls["ws"], poll_interval_s=0.02,  # type: ignore[arg-type]
                       retry_initial_s=0.01, retry_max_s=0.05)
    )


def _prices(rec: Recorder, symbol: str) -> list[Decimal]:
    return [p.price for p in rec.of(ReferencePrice) if p.symbol == symbol]


@pytest.mark.parametrize("mode", ["poll", "watch"])
async def test_ticker_prices_arrive_exactly_and_follow_changes(server: LoopbackServer, mode: str) -> None:
    feed = _feed(server, mode)
    assert isinstance(feed, ReferencePriceFeed)
    rec = Recorder()
    feed.set_sink(rec)
    try:
        await feed.start(["BTC/USDT", "ETH/USDT"])
        assert feed.mode == mode
        await rec.wait_for(lambda: Decimal("65000.12") in _prices(rec, "BTC/USDT"), "first BTC price")
        await rec.wait_for(lambda: Decimal("3100.5") in _prices(rec, "ETH/USDT"), "first ETH price")
        server.spot.set_price("BTC", "USDT", "65123.45")
        await rec.wait_for(lambda: Decimal("65123.45") in _prices(rec, "BTC/USDT"), "new BTC price")
        latest = await feed.latest("BTC/USDT")
        assert latest is not None and latest.price == Decimal("65123.45")
        assert latest.source == "ccxt:binance"
    finally:
        await feed.close()
    # the REST ticker endpoint was used by polling only; the socket by watching only
    polled = server.spot.requests.get("binance /api/v3/ticker/24hr", 0)
    assert (polled > 0) == (mode == "poll")


async def test_unknown_symbol_is_refused_at_start_with_the_symbol_named(server: LoopbackServer) -> None:
    feed = _feed(server, "poll")
    try:
        with pytest.raises(ValueError, match="DOGE/USDT"):
            await feed.start(["DOGE/USDT"])
    finally:
        await feed.close()


async def test_exchange_errors_are_retried_and_the_feed_recovers(server: LoopbackServer) -> None:
    feed = _feed(server, "poll")
    rec = Recorder()
    feed.set_sink(rec)
    try:
        await feed.start(["BTC/USDT"])
        await rec.wait_for(lambda: bool(_prices(rec, "BTC/USDT")), "first price")
        removed = server.spot.tickers.pop("BTCUSDT")  # the exchange now answers 400 Invalid symbol
        await rec.wait_for(lambda: feed.errors >= 2, "errors counted")
        server.spot.tickers["BTCUSDT"] = removed
        server.spot.set_price("BTC", "USDT", "64000")
        await rec.wait_for(lambda: Decimal(64000) in _prices(rec, "BTC/USDT"), "recovered")
    finally:
        await feed.close()


def test_rebase_keeps_paths_and_only_touches_matching_schemes() -> None:
    api = {"public": "https://api.binance.com/api/v3", "ws": {"spot": "wss://stream.binance.com:9443/ws"}}
    out = rebase_urls(api, "http://127.0.0.1:9/binance")
    assert out == {"public": "http://127.0.0.1:9/binance/api/v3", "ws": {"spot": "wss://stream.binance.com:9443/ws"}}
    assert rebase_urls(api["ws"], "ws://127.0.0.1:9/b") == {"spot": "ws://127.0.0.1:9/b/ws"}


def test_bad_config_is_refused_with_the_field_named() -> None:
    with pytest.raises(ValueError, match="rest_base"):
        SpotFeedConfig(rest_base="ftp://x")
    with pytest.raises(ValueError, match="exchange"):
        CcxtReferencePriceFeed(SpotFeedConfig(exchange="no-such-exchange", mode="poll"))._make_exchange()


async def test_watch_survives_the_exchange_closing_its_stream(server: LoopbackServer) -> None:
    feed = _feed(server, "watch")
    rec = Recorder()
    feed.set_sink(rec)
    try:
        await feed.start(["BTC/USDT"])
        await rec.wait_for(lambda: Decimal("65000.12") in _prices(rec, "BTC/USDT"), "first price")
        assert server.spot.drop_streams() == 1
        await rec.wait_for(lambda: server.spot.stream_connections >= 2, "ccxt reconnected")
        server.spot.set_price("BTC", "USDT", "66000")
        await rec.wait_for(lambda: Decimal(66000) in _prices(rec, "BTC/USDT"), "price after the reconnect")
    finally:
        await feed.close()
