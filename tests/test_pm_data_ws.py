"""The market WebSocket client against the loopback server backed by SimExchange.

Every wait is event-driven (``Recorder.wait_for``); the timeouts only guard against a hang.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from protocols import (
    BookDelta,
    BookSnapshot,
    BookStale,
    MarketInfo,
    MarketResolved,
    Side,
    TickSizeChange,
    TradePrint,
)
from venues.polymarket import PolymarketDataFeed
from venues.polymarket.loopback import LoopbackServer
from venues.polymarket.loopback.testing import Recorder, market, order

M1, M2 = market(1), market(2)


@pytest.fixture
async def server() -> AsyncIterator[LoopbackServer]:
    srv = LoopbackServer()
    for m in (M1, M2):
        srv.exchange.add_market(m)
        order(srv.exchange, "mm", m, Side.BUY, "0.40", "100")
        order(srv.exchange, "mm", m, Side.SELL, "0.60", "100")
    await srv.start()
    yield srv
    await srv.stop()


async def _feed(srv: LoopbackServer, rec: Recorder, **kw: object) -> PolymarketDataFeed:
    cfg = srv.data_config(
        reconnect_initial_s=0.01, reconnect_max_s=0.05, **kw
    )
    feed = PolymarketDataFeed(cfg)
    feed.set_sink(rec)
    await feed.list_markets()
    return feed


def _in_sync(srv: LoopbackServer, feed: PolymarketDataFeed, tokens: list[str]) -> bool:
    for t in tokens:
        mine = feed.local_book(t)
        truth = srv.exchange.book(t)
        if mine is None or mine.bids != truth.bids or mine.asks != truth.asks:
            return False
    return True


TOKENS = [*M1.token_ids, *M2.token_ids]


async def test_subscription_delivers_snapshots_then_deltas_that_track_the_exchange(server: LoopbackServer) -> None:
    rec = Recorder()
    feed = await _feed(server, rec)
    try:
        await feed.subscribe_market_data(TOKENS)
        await rec.wait_for(lambda: len(rec.of(BookSnapshot)) == 4, "4 snapshots")
        order(server.exchange, "a", M1, Side.BUY, "0.45", "10")
        order(server.exchange, "b", M1, Side.SELL, "0.55", "12")
        order(server.exchange, "c", M1, Side.BUY, "0.55", "5")  # crosses: a trade
        order(server.exchange, "d", M2, Side.BUY, "0.41", "7", token=1)  # NO bid = YES ask 0.59
        await rec.wait_for(lambda: _in_sync(server, feed, TOKENS), "books in sync")
        prints = rec.of(TradePrint, M1.yes_token)
        assert [(p.price, p.size, p.side) for p in prints] == [(Decimal("0.55"), Decimal(5), Side.BUY)]
        assert rec.of(BookDelta)
        # best first on our side, whatever the wire order
        b = feed.local_book(M2.yes_token)
        assert b is not None and b.asks[0][0] == Decimal("0.59")
        assert feed.stats.rejected_total == 0
    finally:
        await feed.close()


async def test_drop_and_reconnect_rebuilds_books_and_never_duplicates_events(server: LoopbackServer) -> None:
    rec = Recorder()
    feed = await _feed(server, rec)
    try:
        await feed.subscribe_market_data(TOKENS)
        await rec.wait_for(lambda: len(rec.of(BookSnapshot)) == 4, "first snapshots")
        order(server.exchange, "a", M1, Side.BUY, "0.60", "6")  # trade 1 (before the drop)
        await rec.wait_for(lambda: len(rec.of(TradePrint, M1.yes_token)) == 1, "trade before the drop")
        last_frame = json.dumps(
            {"event_type": "last_trade_price", "asset_id": M1.yes_token, "market": M1.market, "price": "0.6",
             "size": "6", "side": "BUY", "fee_rate_bps": "700",
             "timestamp": str(rec.of(TradePrint, M1.yes_token)[0].time_ns // 1_000_000)}
        )
        snaps_before = len(rec.of(BookSnapshot))

        assert server.drop_market_connections(abrupt=True) == 1
        # while the socket is down the book moves: these deltas never reach the client
        order(server.exchange, "b", M1, Side.BUY, "0.52", "9")
        order(server.exchange, "b", M2, Side.SELL, "0.58", "4")

        await rec.wait_for(lambda: feed.stats.connects >= 2, "reconnect")
        await rec.wait_for(lambda: _in_sync(server, feed, TOKENS), "books rebuilt after reconnect")
        # every book was declared stale at the drop, then snapshotted again
        stale = {p.token_id for p in rec.of(BookStale) if p.reason == "RESYNC"}
        assert stale == set(TOKENS)
        assert len(rec.of(BookSnapshot)) >= snaps_before + 4

        # a replay of a trade delivered before the drop is recognised and not delivered again
        server.inject_market_frame(last_frame, M1.yes_token)
        order(server.exchange, "c", M1, Side.BUY, "0.60", "7")  # trade 2 (after): a fresh one
        await rec.wait_for(lambda: len(rec.of(TradePrint, M1.yes_token)) >= 2, "trade after reconnect")
        prints = [(p.price, p.size) for p in rec.of(TradePrint, M1.yes_token)]
        assert prints == [(Decimal("0.6"), Decimal(6)), (Decimal("0.6"), Decimal(7))]
        assert feed.stats.dropped["REPLAYED_TRADE"] == 1
        # sequence numbers of each book only ever go up
        for t in TOKENS:
            seqs = [p.seq for p in rec.items if isinstance(p, BookSnapshot | BookDelta) and p.token_id == t]
            assert seqs == sorted(set(seqs))
    finally:
        await feed.close()


async def test_tick_size_change_drops_the_book_and_rebuilds_it_on_the_new_grid(server: LoopbackServer) -> None:
    rec = Recorder()
    feed = await _feed(server, rec)
    try:
        await feed.subscribe_market_data(M1.token_ids)
        await rec.wait_for(lambda: len(rec.of(BookSnapshot)) == 2, "snapshots")
        server.change_tick_size(M1.market, "0.001")
        await rec.wait_for(lambda: len(rec.of(TickSizeChange)) == 2, "tick changes")
        tc = rec.of(TickSizeChange, M1.yes_token)[0]
        assert (tc.old_tick_size, tc.new_tick_size) == (Decimal("0.01"), Decimal("0.001"))
        order(server.exchange, "a", M1, Side.BUY, "0.455", "10")  # only valid on the new grid
        await rec.wait_for(lambda: _in_sync(server, feed, list(M1.token_ids)), "books on the new grid")
        book = feed.local_book(M1.yes_token)
        assert book is not None and book.tick_size == Decimal("0.001")
        assert book.bids[0] == (Decimal("0.455"), Decimal(10))
        # the snapshot that follows the change carries the new tick
        at = rec.items.index(tc)
        after = [p for p in rec.items[at:] if isinstance(p, BookSnapshot) and p.token_id == M1.yes_token]
        assert after and all(p.tick_size == Decimal("0.001") for p in after)
        assert feed.stats.rejected_total == 0
    finally:
        await feed.close()


async def test_resolution_and_new_market_arrive_as_protocol_payloads(server: LoopbackServer) -> None:
    rec = Recorder()
    feed = await _feed(server, rec)
    try:
        await feed.subscribe_market_data(M1.token_ids)
        await rec.wait_for(lambda: len(rec.of(BookSnapshot)) == 2, "snapshots")
        m3 = market(3)
        server.add_market(m3)
        server.resolve_market(M1.market, M1.no_token)
        await rec.wait_for(lambda: bool(rec.of(MarketResolved)) and bool(rec.of(MarketInfo)), "resolution + listing")
        res = rec.of(MarketResolved)
        assert [(r.market, r.winning_token_id) for r in res] == [(M1.market, M1.no_token)]
        info = rec.of(MarketInfo)[0]
        assert info.market == m3.market and info.token_ids == m3.token_ids
    finally:
        await feed.close()


async def test_more_assets_than_one_socket_holds_are_spread_over_several(server: LoopbackServer) -> None:
    for i in range(3, 6):
        server.exchange.add_market(market(i))
    rec = Recorder()
    feed = await _feed(server, rec, max_assets_per_connection=3)
    tokens = [t for m in server.exchange.markets() for t in m.token_ids]
    try:
        await feed.subscribe_market_data(tokens)
        await rec.wait_for(lambda: len(rec.of(BookSnapshot)) == len(tokens), "a snapshot per token")
        assert len(feed.stream.connections) == 4  # 10 assets, 3 per socket
        assert server.market_connections == 4
        assert sorted(len(c.assets) for c in feed.stream.connections) == [1, 3, 3, 3]
        lone = next(c for c in feed.stream.connections if len(c.assets) == 1)
        await feed.unsubscribe_market_data(list(lone.assets))
        assert len(feed.stream.connections) == 3
        await rec.wait_for(lambda: server.market_connections == 3, "emptied socket closed at the server")
    finally:
        await feed.close()


async def test_silent_socket_is_declared_dead_and_replaced(server: LoopbackServer) -> None:
    rec = Recorder()
    feed = await _feed(server, rec, ping_interval_s=0.02, stale_after_s=0.2)
    try:
        await feed.subscribe_market_data(M1.token_ids)
        await rec.wait_for(lambda: feed.stats.pongs >= 2, "PONGs")
        server.answer_pings = False
        await rec.wait_for(lambda: feed.stats.stale_sockets >= 1 and feed.stats.connects >= 2, "stale → reconnect")
        server.answer_pings = True
        await rec.wait_for(lambda: _in_sync(server, feed, list(M1.token_ids)), "books after the new socket")
    finally:
        await feed.close()


async def test_delta_that_disagrees_with_the_mirror_triggers_a_rest_resync(server: LoopbackServer) -> None:
    rec = Recorder()
    feed = await _feed(server, rec)
    try:
        await feed.subscribe_market_data(M1.token_ids)
        await rec.wait_for(lambda: _in_sync(server, feed, list(M1.token_ids)), "sync")
        # a delta whose reported best bid is not what our mirror says: we missed something
        bogus = {
            "event_type": "price_change", "market": M1.market, "timestamp": str(10**12 * 2),
            "price_changes": [{"asset_id": M1.yes_token, "price": "0.1", "size": "5", "side": "BUY",
                               "hash": "x", "best_bid": "0.44", "best_ask": "0.6"}],
        }
        requests_before = server.state.requests.get("clob /book", 0)
        server.inject_market_frame(json.dumps(bogus), M1.yes_token)
        await rec.wait_for(lambda: feed.stats.resyncs == 1, "resync")
        await rec.wait_for(lambda: _in_sync(server, feed, [M1.yes_token]), "book fetched again")
        assert server.state.requests["clob /book"] == requests_before + 1
        assert any(s.reason == "RESYNC" for s in rec.of(BookStale, M1.yes_token))
    finally:
        await feed.close()


async def test_client_keeps_retrying_while_the_server_is_down_and_connects_when_it_returns() -> None:
    first = LoopbackServer()
    first.exchange.add_market(M1)
    await first.start()
    ports = first.ports
    cfg = first.data_config(reconnect_initial_s=0.01, reconnect_max_s=0.05)
    await first.stop()  # nobody listens now
    rec = Recorder()
    feed = PolymarketDataFeed(cfg)
    feed.set_sink(rec)
    feed.remember([M1])  # known market: no REST call needed to subscribe
    second = LoopbackServer()
    try:
        await feed.subscribe_market_data(M1.token_ids)
        await rec.wait_for(lambda: feed.stats.connect_failures >= 3, "refused connection attempts")
        assert feed.stats.connects == 0
        second.exchange.add_market(M1)
        order(second.exchange, "mm", M1, Side.BUY, "0.30", "50")
        await second.start(ports=ports)
        await rec.wait_for(lambda: _in_sync(second, feed, list(M1.token_ids)), "books once the server is back")
        assert feed.stats.connects == 1
    finally:
        await feed.close()
        await second.stop()


def test_backoff_is_jittered_capped_and_grows() -> None:
    import random

    from venues.polymarket.websocket import backoff_delay

    rng = random.Random(1)
    assert backoff_delay(0, 0.5, 30, rng) == 0
    for attempt in range(1, 20):
        cap = min(30.0, 0.5 * 2 ** (attempt - 1))
        d = backoff_delay(attempt, 0.5, 30, rng)
        assert cap / 2 <= d <= cap
    delays = {round(backoff_delay(5, 0.5, 30, rng), 6) for _ in range(20)}
    assert len(delays) > 1  # jittered: reconnecting clients do not stampede in step


async def test_tokens_added_later_ride_the_open_socket_and_get_their_books(server: LoopbackServer) -> None:
    rec = Recorder()
    feed = await _feed(server, rec)
    try:
        await feed.subscribe_market_data(M1.token_ids)
        await rec.wait_for(lambda: _in_sync(server, feed, list(M1.token_ids)), "first market")
        await feed.subscribe_market_data(M2.token_ids)
        await rec.wait_for(lambda: _in_sync(server, feed, TOKENS), "second market on the same socket")
        assert len(feed.stream.connections) == 1 and server.market_connections == 1
        order(server.exchange, "x", M2, Side.BUY, "0.44", "8")
        await rec.wait_for(lambda: _in_sync(server, feed, TOKENS), "deltas of the added market")
    finally:
        await feed.close()
