"""RSS/Atom through aiohttp and the real feedparser, against loopback feeds with conditional GET."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from protocols import NewsFeed, Payload
from venues.news import NewsFeedConfig, RssNewsFeed
from venues.polymarket.loopback import LoopbackServer

T = 1_790_000_000


@pytest.fixture
async def server() -> AsyncIterator[LoopbackServer]:
    srv = LoopbackServer()
    srv.feeds.add_item("wire", title="Fed holds rates", link="https://n.example/1", summary="no change",
                       published_s=T)
    srv.feeds.add_item("wire", title="BTC & ETH <rally>", link="https://n.example/2", published_s=T + 60)
    await srv.start()
    yield srv
    await srv.stop()


@pytest.mark.parametrize("fmt", ["rss", "atom"])
async def test_feed_items_parse_with_exact_times_and_escaped_titles(server: LoopbackServer, fmt: str) -> None:
    feed = RssNewsFeed(NewsFeedConfig(urls=(server.feed_url("wire", fmt),)))
    assert isinstance(feed, NewsFeed)
    got: list[Payload] = []
    feed.set_sink(got.append)
    try:
        items = await feed.poll()
    finally:
        await feed.close()
    assert [(i.title, i.url, i.published_ns) for i in items] == [
        ("Fed holds rates", "https://n.example/1", T * 10**9),
        ("BTC & ETH <rally>", "https://n.example/2", (T + 60) * 10**9),
    ]
    assert items[0].body == "no change" and items[0].source == "wire"
    assert got == items


async def test_unchanged_feed_answers_304_and_a_new_item_arrives_alone(server: LoopbackServer) -> None:
    feed = RssNewsFeed(NewsFeedConfig(urls=(server.feed_url("wire"),)))
    try:
        assert len(await feed.poll()) == 2
        assert await feed.poll() == []
        assert server.feeds.not_modified == 1 and feed.stats["not_modified"] == 1
        server.feeds.add_item("wire", title="Senate passes bill", link="https://n.example/3", published_s=T + 120)
        new = await feed.poll()
        assert [i.title for i in new] == ["Senate passes bill"]
        assert feed.stats["duplicates"] == 2  # the body resent the two old items; both recognised
    finally:
        await feed.close()


async def test_without_etag_the_client_falls_back_to_if_modified_since(server: LoopbackServer) -> None:
    server.feeds.send_etag = False
    feed = RssNewsFeed(NewsFeedConfig(urls=(server.feed_url("wire"),)))
    try:
        assert len(await feed.poll()) == 2
        assert await feed.poll() == []
    finally:
        await feed.close()
    assert server.feeds.not_modified == 1


async def test_same_story_in_two_feeds_is_delivered_once(server: LoopbackServer) -> None:
    feed = RssNewsFeed(NewsFeedConfig(urls=(server.feed_url("wire", "rss"), server.feed_url("wire", "atom"))))
    try:
        items = await feed.poll()
    finally:
        await feed.close()
    assert len(items) == 2 and feed.stats["duplicates"] == 2


async def test_broken_and_missing_feeds_are_counted_and_do_not_stop_the_others(server: LoopbackServer) -> None:
    server.feeds.raw["broken.rss"] = "<rss><channel><item><title>unterminated"
    urls = (server.feed_url("broken"), server.feed_url("nope"), server.feed_url("wire"), "http://127.0.0.1:1/x.rss")
    feed = RssNewsFeed(NewsFeedConfig(urls=urls, timeout_s=5))
    try:
        items = await feed.poll()
    finally:
        await feed.close()
    assert len(items) == 2
    assert feed.stats["HTTP_ERROR"] == 1 and feed.stats["UNREACHABLE"] == 1
    # the broken body is refused (or its title-less remains dropped), never raised
    assert feed.stats["MALFORMED_FEED"] + feed.stats["INVALID_ITEM"] == 1


def test_non_http_url_is_refused_with_the_field_named() -> None:
    with pytest.raises(ValueError, match="urls"):
        NewsFeedConfig(urls=("file:///etc/passwd",))
