"""RSS/Atom news over aiohttp, parsed by feedparser, as ``protocols.RawNews``.

Conditional GET (``If-None-Match`` with the last ``ETag``, else ``If-Modified-Since`` with the
last ``Last-Modified``) keeps polling cheap for the publisher and for us: a ``304`` costs no
parsing. Items are de-duplicated by id across polls and feeds, because a changed feed body
resends every item it still lists.
"""

from __future__ import annotations

import calendar
import hashlib
import logging
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import feedparser
from pydantic import ValidationError

from protocols import RawNews, Sink
from protocols.numbers import TIME_NS_MAX, TIME_NS_MIN
from venues.news.config import NewsFeedConfig

log = logging.getLogger(__name__)


@dataclass
class _Validators:
    etag: str | None = None
    last_modified: str | None = None


class RssNewsFeed:
    """``RssNewsFeed(config, *, clock=time.time_ns)``; implements ``protocols.NewsFeed``."""

    name = "rss"

    def __init__(self, config: NewsFeedConfig, *, clock: Callable[[], int] = time.time_ns) -> None:
        self.config = config
        self._clock = clock
        self._sink: Sink = lambda _p: None
        self._session: aiohttp.ClientSession | None = None
        self._validators: dict[str, _Validators] = {u: _Validators() for u in config.urls}
        self._seen: OrderedDict[str, None] = OrderedDict()
        self.stats: Counter[str] = Counter()
        self._logged: set[str] = set()

    def set_sink(self, sink: Sink) -> None:
        self._sink = sink

    async def poll(self) -> list[RawNews]:
        """New items from every feed, oldest first; a failing feed is counted and skipped."""
        out: list[RawNews] = []
        for url in self.config.urls:
            try:
                out.extend(await self._poll_one(url))
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                self._fail("UNREACHABLE", url, f"{type(exc).__name__}: {exc}")
        out.sort(key=lambda n: (n.published_ns, n.item_id))
        for item in out:
            self._sink(item)
        return out

    async def _poll_one(self, url: str) -> list[RawNews]:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.config.timeout_s),
                headers={"User-Agent": self.config.user_agent},
            )
        v = self._validators[url]
        headers: dict[str, str] = {}
        if v.etag:
            headers["If-None-Match"] = v.etag
        elif v.last_modified:
            headers["If-Modified-Since"] = v.last_modified
        self.stats["requests"] += 1
        async with self._session.get(url, headers=headers) as resp:
            if resp.status == 304:
                self.stats["not_modified"] += 1
                return []
            if resp.status != 200:
                self._fail("HTTP_ERROR", url, f"status {resp.status}")
                return []
            body = await resp.read()
            rh = {k.lower(): v for k, v in resp.headers.items()}
        parsed = feedparser.parse(body, response_headers={**rh, "content-location": url})
        if parsed.bozo and not parsed.entries:
            self._fail("MALFORMED_FEED", url, str(parsed.get("bozo_exception", "unparseable")))
            return []
        # remember validators only once the body was usable, so a bad body is fetched again
        v.etag = rh.get("etag")
        v.last_modified = rh.get("last-modified")
        source = str(parsed.feed.get("title") or url)
        now = self._clock()
        out = []
        for entry in parsed.entries:
            item = self._item(entry, source, now)
            if item is None:
                continue
            keys = [item.item_id] + ([f"link:{item.url}"] if item.url else [])
            if any(k in self._seen for k in keys):  # same id, or the same story under another id
                self.stats["duplicates"] += 1
                continue
            for k in keys:
                self._remember(k)
            out.append(item)
        self.stats["items"] += len(out)
        return out

    def _item(self, entry: Any, source: str, now: int) -> RawNews | None:
        title = str(entry.get("title") or "").strip()
        if not title:
            self._fail("INVALID_ITEM", source, "an entry without a title")
            return None
        link = str(entry.get("link") or "")
        item_id = str(entry.get("id") or link or "")
        if not item_id:
            item_id = "sha1:" + hashlib.sha1(f"{source}|{title}".encode(), usedforsecurity=False).hexdigest()
        when = entry.get("published_parsed") or entry.get("updated_parsed")
        published = calendar.timegm(when) * 1_000_000_000 if when else now
        if not TIME_NS_MIN <= published < TIME_NS_MAX:
            published = now
        try:
            return RawNews(
                time_ns=now, item_id=item_id, source=source, title=title,
                body=str(entry.get("summary") or ""), url=link, published_ns=published,
            )
        except ValidationError as exc:
            self._fail("INVALID_ITEM", source, str(exc))
            return None

    def _remember(self, item_id: str) -> None:
        self._seen[item_id] = None
        while len(self._seen) > self.config.max_seen:
            self._seen.popitem(last=False)

    def _fail(self, kind: str, url: str, detail: str) -> None:
        self.stats[kind] += 1
        if kind not in self._logged:
            self._logged.add(kind)
            log.warning("news %s (logged once per kind): %s: %s", kind, url, detail[:200])

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None
