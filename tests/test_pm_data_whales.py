"""The Data API large-trade feed: a watermark that never skips, through the loopback server."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocols import LargeTradeFeed as LargeTradeFeedPort
from protocols import Side
from venues.polymarket import DataApiConfig, LargeTradeFeed, WalletActivityFeed
from venues.polymarket.loopback import LoopbackServer
from venues.polymarket.loopback.testing import market, order

M = market(1)
T0 = 1_790_000_000


@pytest.fixture
async def server() -> AsyncIterator[LoopbackServer]:
    srv = LoopbackServer()
    srv.exchange.add_market(M)
    await srv.start()
    yield srv
    await srv.stop()


def _feed(srv: LoopbackServer, **kw: object) -> LargeTradeFeed:
    return LargeTradeFeed(
        srv.data_config(),
        DataApiConfig.model_validate({"min_cash": 1000, "page_size": 10, "grace_s": 60, **kw}),
    )


def _add(srv: LoopbackServer, n: int, ts: int, tag: str, size: str = "5000") -> None:
    for i in range(n):
        srv.state.add_data_trade(
            wallet=f"0xw{i % 3}", token_id=M.yes_token, side="BUY", size=size, price="0.5",
            timestamp_s=ts, tx_hash=f"0x{tag}{i}",
        )


async def test_trades_sharing_a_second_across_page_boundaries_are_all_delivered_once(
    server: LoopbackServer,
) -> None:
    feed = _feed(server)
    assert isinstance(feed, LargeTradeFeedPort)
    try:
        _add(server, 25, T0, "a")  # 25 trades in one second: pages of 10 split it twice
        first = await feed.poll()
        _add(server, 3, T0, "b")  # indexed late, same second as the watermark
        second = await feed.poll()
        third = await feed.poll()
    finally:
        await feed.close()
    assert sorted(t.tx_hash for t in first) == sorted(f"0xa{i}" for i in range(25))
    assert sorted(t.tx_hash for t in second) == ["0xb0", "0xb1", "0xb2"]
    assert third == []
    assert all(t.price * t.size == Decimal(2500) and t.time_ns == T0 * 10**9 for t in first)


async def test_trades_below_the_cash_filter_never_arrive(server: LoopbackServer) -> None:
    feed = _feed(server)
    try:
        _add(server, 4, T0, "big", size="5000")
        _add(server, 4, T0, "small", size="100")  # 50 pUSD each
        got = await feed.poll()
    finally:
        await feed.close()
    assert sorted(t.tx_hash for t in got) == [f"0xbig{i}" for i in range(4)]


async def test_trades_made_on_the_exchange_reach_the_feed_with_the_taker_wallet(server: LoopbackServer) -> None:
    order(server.exchange, "0xmaker", M, Side.SELL, "0.60", "5000")
    order(server.exchange, "0xwhale", M, Side.BUY, "0.60", "3000")  # 1,800 pUSD, taker
    feed = _feed(server)
    try:
        got = await feed.poll()
        activity = await feed.client.activity("0xwhale")
        positions = await feed.client.positions("0xwhale")
    finally:
        await feed.close()
    assert [(t.wallet, t.side, t.price, t.size) for t in got] == [
        ("0xwhale", Side.BUY, Decimal("0.6"), Decimal(3000))
    ]
    assert [a.type for a in activity] == ["TRADE"]
    assert [(p.asset, p.size) for p in positions] == [(M.yes_token, Decimal(3000))]


batch = st.lists(
    st.tuples(st.integers(0, 30), st.booleans()),  # (seconds after T0, big enough?)
    min_size=0,
    max_size=12,
)


def test_watermark_never_skips_or_repeats_under_random_batches_and_page_sizes() -> None:
    loop = asyncio.new_event_loop()
    srv = LoopbackServer()
    srv.exchange.add_market(M)
    loop.run_until_complete(srv.start())
    ids = itertools.count()

    async def run(batches: list[list[tuple[int, bool]]], page: int) -> tuple[list[str], set[str]]:
        srv.state.rows.clear()
        feed = _feed(srv, page_size=page, max_pages=1000)
        delivered: list[str] = []
        expected: set[str] = set()
        try:
            for b in batches:
                for offset, big in b:
                    tx = f"0x{next(ids)}"
                    srv.state.add_data_trade(
                        wallet="0xw", token_id=M.yes_token, side="SELL", size="4000" if big else "10",
                        price="0.5", timestamp_s=T0 + offset, tx_hash=tx,
                    )
                    if big:
                        expected.add(tx)
                delivered.extend(t.tx_hash for t in await feed.poll())
        finally:
            await feed.close()
        return delivered, expected

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(batches=st.lists(batch, min_size=1, max_size=5), page=st.integers(1, 7))
    def example(batches: list[list[tuple[int, bool]]], page: int) -> None:
        delivered, expected = loop.run_until_complete(run(batches, page))
        assert len(delivered) == len(set(delivered)), "a trade was delivered twice"
        assert set(delivered) == expected, "a trade was skipped (or a small one let through)"

    try:
        example()
    finally:
        loop.run_until_complete(srv.stop())
        loop.close()


async def test_followed_wallet_activity_delivers_every_trade_once_and_skips_redemptions(
    server: LoopbackServer,
) -> None:
    order(server.exchange, "0xmaker", M, Side.SELL, "0.40", "500")
    order(server.exchange, "0xsmall", M, Side.BUY, "0.40", "10")  # 4 pUSD: far below any cash filter
    feed = WalletActivityFeed(
        server.data_config(),
        DataApiConfig(wallets=("0xsmall",), page_size=2, grace_s=60),
    )
    assert isinstance(feed, LargeTradeFeedPort)
    try:
        first = await feed.poll()
        order(server.exchange, "0xsmall", M, Side.BUY, "0.40", "12")
        order(server.exchange, "0xsmall", M, Side.BUY, "0.40", "14")
        second = await feed.poll()
        server.resolve_market(M.market, M.yes_token)  # a REDEEM row appears: not a trade
        third = await feed.poll()
    finally:
        await feed.close()
    assert [(t.wallet, t.size) for t in first] == [("0xsmall", Decimal(10))]
    assert sorted(t.size for t in second) == [Decimal(12), Decimal(14)]
    assert third == []
    assert len({t.trade_id for t in first + second}) == len(first + second)
