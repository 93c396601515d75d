"""RSS 2.0 and Atom feeds served beside the loopback exchange, with real conditional GET.

``GET /feeds/<name>.rss`` and ``/feeds/<name>.atom`` carry ``ETag`` (a hash of the body) and
``Last-Modified`` (the newest item's time); a request whose ``If-None-Match`` matches, or whose
``If-Modified-Since`` is not older than the feed, gets ``304 Not Modified`` and no body.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from email.utils import format_datetime, parsedate_to_datetime
from xml.sax.saxutils import escape

from aiohttp import web

from venues.polymarket.loopback.wire import iso


@dataclass(frozen=True)
class FeedItem:
    guid: str
    title: str
    link: str
    summary: str
    published_s: int


class FeedStore:
    """Feeds by name; tests add items and read the request/304 counters."""

    def __init__(self) -> None:
        self.feeds: dict[str, list[FeedItem]] = {}
        self.requests = 0
        self.not_modified = 0
        self.updated_s: dict[str, int] = {}
        self.send_etag = True  # False: only Last-Modified, as some servers do
        self.raw: dict[str, str] = {}  # a feed served verbatim (malformed on purpose)

    def add_item(
        self, feed: str, *, title: str, link: str = "", summary: str = "", guid: str | None = None,
        published_s: int | None = None,
    ) -> FeedItem:
        items = self.feeds.setdefault(feed, [])
        pub = int(time.time()) if published_s is None else published_s
        item = FeedItem(guid or f"urn:loopback:{feed}:{len(items) + 1}", title, link, summary, pub)
        items.append(item)
        self.updated_s[feed] = max(self.updated_s.get(feed, 0), pub, int(time.time()))
        return item

    def rss(self, feed: str) -> str:
        items = "".join(
            "<item>"
            f"<title>{escape(i.title)}</title><link>{escape(i.link)}</link>"
            f'<guid isPermaLink="false">{escape(i.guid)}</guid>'
            f"<description>{escape(i.summary)}</description>"
            f"<pubDate>{_http_date(i.published_s)}</pubDate>"
            "</item>"
            for i in reversed(self.feeds.get(feed, []))
        )
        return (
            '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
            f"<title>{escape(feed)}</title><link>http://127.0.0.1/{escape(feed)}</link>"
            f"<description>loopback feed</description>{items}</channel></rss>"
        )

    def atom(self, feed: str) -> str:
        entries = "".join(
            "<entry>"
            f"<title>{escape(i.title)}</title><link href=\"{escape(i.link)}\"/>"
            f"<id>{escape(i.guid)}</id><updated>{iso(i.published_s * 1_000_000_000)}</updated>"
            f"<published>{iso(i.published_s * 1_000_000_000)}</published>"
            f"<summary>{escape(i.summary)}</summary>"
            "</entry>"
            for i in reversed(self.feeds.get(feed, []))
        )
        updated = iso(self.updated_s.get(feed, int(time.time())) * 1_000_000_000)
        return (
            '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            f"<title>{escape(feed)}</title><id>urn:loopback:{escape(feed)}</id><updated>{updated}</updated>"
            f"{entries}</feed>"
        )


def _http_date(ts: int) -> str:
    from datetime import UTC, datetime

    return format_datetime(datetime.fromtimestamp(ts, tz=UTC), usegmt=True)


FEEDS_KEY: web.AppKey[FeedStore] = web.AppKey("feed_store", FeedStore)


async def serve_feed(request: web.Request) -> web.Response:
    store = request.app[FEEDS_KEY]
    store.requests += 1
    name, _, fmt = request.match_info["name"].rpartition(".")
    if request.match_info["name"] in store.raw:
        return web.Response(text=store.raw[request.match_info["name"]], content_type="application/rss+xml")
    if name not in store.feeds or fmt not in ("rss", "atom"):
        return web.Response(status=404, text="no such feed")
    body = store.rss(name) if fmt == "rss" else store.atom(name)
    etag = '"' + hashlib.sha1(body.encode(), usedforsecurity=False).hexdigest() + '"'
    updated = store.updated_s.get(name, 0)
    headers = {"Last-Modified": _http_date(updated)}
    if store.send_etag:
        headers["ETag"] = etag
    inm = request.headers.get("If-None-Match") if store.send_etag else None
    ims = request.headers.get("If-Modified-Since")
    fresh = False
    if inm is not None:
        fresh = etag in [t.strip() for t in inm.split(",")] or inm.strip() == "*"
    elif ims is not None:
        try:
            fresh = int(parsedate_to_datetime(ims).timestamp()) >= updated
        except (TypeError, ValueError):
            fresh = False
    if fresh:
        store.not_modified += 1
        return web.Response(status=304, headers=headers)
    ctype = "application/rss+xml" if fmt == "rss" else "application/atom+xml"
    return web.Response(body=body.encode(), headers={**headers, "Content-Type": f"{ctype}; charset=utf-8"})


def register(app: web.Application, store: FeedStore) -> None:
    app[FEEDS_KEY] = store
    app.router.add_get("/feeds/{name}", serve_feed)
