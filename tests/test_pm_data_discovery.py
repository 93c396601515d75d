"""Gamma discovery and the CLOB REST book, through the loopback server on 127.0.0.1."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from protocols import Side, VenueUnavailable
from venues.polymarket import PolymarketApiError, PolymarketDataConfig, PolymarketDataFeed
from venues.polymarket.loopback import LoopbackServer
from venues.polymarket.loopback.testing import market, order


@pytest.fixture
async def server() -> AsyncIterator[LoopbackServer]:
    srv = LoopbackServer()
    for i in range(1, 6):
        srv.exchange.add_market(market(i, category="crypto" if i % 2 else "sports", fees=i != 5))
    ev = [market(10 + i, event_id="ev-nr") for i in range(3)]
    srv.exchange.add_neg_risk_event("ev-nr", ev, augmented=True)  # type: ignore[attr-defined]
    await srv.start()
    yield srv
    await srv.stop()


def _cfg(srv: LoopbackServer, **kw: object) -> PolymarketDataConfig:
    return srv.data_config(**kw)


async def test_list_markets_pages_through_events_and_decodes_every_market(server: LoopbackServer) -> None:
    feed = PolymarketDataFeed(_cfg(server, gamma_page_size=2))
    try:
        infos = await feed.list_markets()
    finally:
        await feed.close()
    by_market = {i.market: i for i in infos}
    expected = {m.market: m for m in server.exchange.markets()}
    assert set(by_market) == set(expected)
    for mid, info in by_market.items():
        assert info.token_ids == expected[mid].token_ids
        assert info.tick_size == expected[mid].tick_size
        assert info.outcomes == ("Yes", "No")
    # 6 events (5 single + 1 neg-risk) at 2 per page: 3 full pages, then an empty one ends it
    assert server.state.requests["gamma /events"] == 4


async def test_neg_risk_event_markets_carry_event_flags_and_size(server: LoopbackServer) -> None:
    feed = PolymarketDataFeed(_cfg(server))
    try:
        infos = await feed.list_markets()
    finally:
        await feed.close()
    nr = [i for i in infos if i.event_id == "ev-nr"]
    assert len(nr) == 3
    assert all(i.neg_risk and i.neg_risk_augmented and i.event_market_count == 3 for i in nr)
    plain = [i for i in infos if i.event_id != "ev-nr"]
    assert all(not i.neg_risk and not i.neg_risk_augmented for i in plain)


async def test_fee_schedule_is_read_per_market_from_gamma_fee_schedule_and_fees_enabled(server: LoopbackServer) -> None:
    feed = PolymarketDataFeed(_cfg(server))
    try:
        infos = {i.question: i for i in await feed.gamma.markets()}
    finally:
        await feed.close()
    assert infos["Test market 1?"].fee_rate == Decimal("0.07")  # crypto
    assert infos["Test market 2?"].fee_rate == Decimal("0.03")  # sports
    assert infos["Test market 5?"].fee_rate == 0 and not infos["Test market 5?"].fees_enabled


async def test_gamma_markets_filters_by_token_id(server: LoopbackServer) -> None:
    target = market(3)
    feed = PolymarketDataFeed(_cfg(server))
    try:
        infos = await feed.gamma.markets(clob_token_ids=[target.token_ids[1]])
    finally:
        await feed.close()
    assert [i.market for i in infos] == [target.market]


async def test_get_book_turns_best_last_wire_book_into_exchange_book(server: LoopbackServer) -> None:
    m = market(1)
    for px, sz in (("0.40", "10"), ("0.42", "20"), ("0.41", "5")):
        order(server.exchange, "mm", m, Side.BUY, px, sz)
    for px, sz in (("0.47", "11"), ("0.45", "6")):
        order(server.exchange, "mm2", m, Side.SELL, px, sz)
    feed = PolymarketDataFeed(_cfg(server))
    try:
        snap = await feed.get_book(m.yes_token)
        mid = await feed.clob.midpoint(m.yes_token)
        tick = await feed.clob.tick_size(m.yes_token)
        version = await feed.clob.version()
    finally:
        await feed.close()
    truth = server.exchange.book(m.yes_token)
    assert snap.bids == truth.bids and snap.asks == truth.asks
    assert [p for p, _ in snap.bids] == [Decimal("0.42"), Decimal("0.41"), Decimal("0.40")]
    assert snap.asks[0] == (Decimal("0.45"), Decimal(6))
    assert mid == Decimal("0.435") and tick == Decimal("0.01") and version == 2


async def test_unknown_token_gives_api_error_with_polymarket_message(server: LoopbackServer) -> None:
    feed = PolymarketDataFeed(_cfg(server))
    try:
        with pytest.raises(PolymarketApiError) as err:
            await feed.get_book("999")
    finally:
        await feed.close()
    assert err.value.status == 404
    assert err.value.message == "No orderbook exists for the requested token id"


async def test_subscribing_an_unknown_token_is_refused_before_any_socket_opens(server: LoopbackServer) -> None:
    feed = PolymarketDataFeed(_cfg(server))
    try:
        with pytest.raises(VenueUnavailable, match="unknown to the CLOB"):
            await feed.subscribe_market_data(["999"])
        assert feed.stream.connections == []
    finally:
        await feed.close()


async def test_unreachable_host_raises_venue_unavailable_after_retries() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    feed = PolymarketDataFeed(
        PolymarketDataConfig.for_base_url(f"http://127.0.0.1:{port}", http_retries=2, http_backoff_s=0.0)
    )
    try:
        with pytest.raises(VenueUnavailable, match="GET"):
            await feed.list_markets()
    finally:
        await feed.close()
    assert feed.gamma._http.requests == 3  # first try + 2 retries
