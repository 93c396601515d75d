"""Polled feeds reach agents: Data API large trades → whale tracker, RSS → news scout input."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal

import pytest

from agents.base import Agent, AgentConfig, Subscription
from agents.whale_tracker import WhaleTracker, WhaleTrackerConfig
from cluster.runtime_local import LocalRuntime
from cluster.sources import FeedPoller
from protocols import Envelope, RawNews, WhaleTrade
from venues.news import NewsFeedConfig, RssNewsFeed
from venues.polymarket.data import DataApiConfig, LargeTradeFeed
from venues.polymarket.loopback import LoopbackServer
from venues.sim.testing import binary_market


class Collect(Agent[AgentConfig]):
    subscriptions = (Subscription(RawNews), Subscription(WhaleTrade))

    def __init__(self, agent_id: str) -> None:
        super().__init__(agent_id)
        self.got: list[Envelope] = []

    def on_message(self, envelope: Envelope) -> None:
        self.got.append(envelope)


@pytest.fixture
async def server() -> AsyncIterator[LoopbackServer]:
    srv = LoopbackServer()
    await srv.start()
    yield srv
    await srv.stop()


async def run_until(rt: LocalRuntime, pred: Callable[[], bool], timeout_s: float = 30.0) -> None:
    task = asyncio.ensure_future(rt.run())
    deadline = time.monotonic() + timeout_s
    try:
        while not pred():
            assert time.monotonic() < deadline, "condition not reached in time"
            await asyncio.sleep(0.02)
    finally:
        await rt.stop()
        await task


async def test_large_trades_from_the_data_api_reach_the_whale_tracker_scored(server: LoopbackServer) -> None:
    market = binary_market("m1")
    server.add_market(market)
    now = int(time.time())
    for i in range(3):
        server.state.add_data_trade(wallet="0xWHALE", token_id=market.yes_token, side="BUY", size="20000",
                                    price="0.5", timestamp_s=now - 10 + i, tx_hash=f"0xt{i}")
    cfg = server.data_config()
    feed = LargeTradeFeed(cfg, DataApiConfig(min_cash=Decimal(1000), grace_s=60))
    rt = LocalRuntime(clock="wall")
    rt.add_agent(WhaleTracker("whale_tracker", WhaleTrackerConfig()))
    sink = Collect("sink")
    rt.add_agent(sink)
    poller = FeedPoller(rt)
    poller.add(feed, interval_s=0.05)
    poller.start()
    try:
        await run_until(rt, lambda: len([e for e in sink.got if isinstance(e.payload, WhaleTrade)]) >= 3)
    finally:
        await poller.stop()
    whales = [e.payload for e in sink.got if isinstance(e.payload, WhaleTrade)]
    assert sorted(w.tx_hash for w in whales) == ["0xt0", "0xt1", "0xt2"]  # each once, none skipped
    assert all(w.score is not None and w.score.trades >= 1 for w in whales)
    assert [(w.wallet.lower(), w.notional) for w in whales] == [("0xwhale", Decimal(10000))] * 3
    assert poller.stats["polymarket-large-trades.items"] == 3


async def test_rss_items_reach_the_runtime_and_an_unreachable_feed_is_counted_not_fatal(
    server: LoopbackServer,
) -> None:
    server.feeds.add_item("wire", title="Candidate A leads new poll", published_s=int(time.time()))
    good = RssNewsFeed(NewsFeedConfig(urls=(server.feed_url("wire"),)))
    bad = RssNewsFeed(NewsFeedConfig(urls=("http://127.0.0.1:9/feed.rss",), timeout_s=1))
    bad.name = "rss-dead"
    rt = LocalRuntime(clock="wall")
    sink = Collect("sink")
    rt.add_agent(sink)
    poller = FeedPoller(rt, max_backoff_s=0.2)
    poller.add(good, interval_s=0.05)
    poller.add(bad, interval_s=0.05)
    poller.start()
    try:
        await run_until(rt, lambda: any(isinstance(e.payload, RawNews) for e in sink.got)
                        and poller.stats["rss-dead.polls"] + poller.stats["rss-dead.failures"] >= 2)
    finally:
        await poller.stop()
    news = [e for e in sink.got if isinstance(e.payload, RawNews)]
    assert [e.payload.title for e in news] == ["Candidate A leads new poll"]
    assert news[0].sender == "feed:rss"


def test_non_positive_interval_is_refused() -> None:
    rt = LocalRuntime(clock="wall")
    with pytest.raises(ValueError, match="interval_s"):
        FeedPoller(rt).add(RssNewsFeed(NewsFeedConfig(urls=("http://127.0.0.1:9/x",))), interval_s=0)
