"""A small JSON-over-HTTP client for Polymarket's public APIs (Gamma, CLOB REST, Data API).

Why not call aiohttp directly everywhere: every request must take a rate-limit slot first, a
non-200 answer carries ``{"error": "..."}`` that must reach the caller intact, and a request that
cannot reach the host must become ``VenueUnavailable`` (the port's "outcome unknown") after a few
jittered retries rather than an aiohttp exception nobody upstream knows how to handle.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from typing import Any

import aiohttp

from protocols import VenueUnavailable
from venues.polymarket.ratelimit import RateLimitBook

log = logging.getLogger(__name__)

#: Statuses worth retrying: throttled or the server's fault.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class PolymarketApiError(Exception):
    """The API answered, with a non-200 status; ``message`` is its ``{"error": ...}`` text."""

    def __init__(self, status: int, message: str, method: str, url: str) -> None:
        super().__init__(f"{method} {url} -> {status}: {message}")
        self.status = status
        self.message = message


class SharedSession:
    """One lazily created ``aiohttp.ClientSession`` shared by several clients.

    Lazily, because a session belongs to the event loop that creates it and a feed is often
    constructed before any loop runs (CLI, Ray actor constructors)."""

    def __init__(self, timeout_s: float = 10.0) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    def get(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None


class JsonHttp:
    """GET/POST JSON against one base URL, under the rate limits of one API."""

    def __init__(
        self,
        base_url: str,
        api: str,
        *,
        limits: RateLimitBook,
        session: SharedSession | None = None,
        timeout_s: float = 10.0,
        retries: int = 3,
        backoff_s: float = 0.25,
        rng: random.Random | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api = api
        self._limits = limits
        self._own_session = session is None
        self._session = session if session is not None else SharedSession(timeout_s)
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._retries = retries
        self._backoff_s = backoff_s
        self._rng = rng or random.Random()
        self.requests = 0
        self.errors = 0

    async def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return await self.request("GET", path, params=params)

    async def post(self, path: str, body: Any) -> Any:
        return await self.request("POST", path, body=body)

    async def request(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None
    ) -> Any:
        url = self.base_url + path
        query = {k: _param(v) for k, v in (params or {}).items() if v is not None}
        attempt = 0
        while True:
            await self._limits.acquire(self.api, path)
            self.requests += 1
            try:
                async with self._session.get().request(
                    method,
                    url,
                    params=query or None,
                    data=None if body is None else json.dumps(body, separators=(",", ":")),
                    headers={"Content-Type": "application/json"} if body is not None else None,
                    timeout=self._timeout,
                ) as resp:
                    text = await resp.text()
                    status = resp.status
                    retry_after = resp.headers.get("Retry-After")
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                self.errors += 1
                if attempt >= self._retries:
                    raise VenueUnavailable(f"{method} {url}: {type(exc).__name__}: {exc}") from exc
                attempt += 1
                await self._pause(attempt)
                continue
            if status == 200:
                try:
                    return json.loads(text) if text else None
                except json.JSONDecodeError as exc:
                    self.errors += 1
                    raise PolymarketApiError(status, f"invalid JSON body: {text[:80]!r}", method, url) from exc
            self.errors += 1
            if status in RETRY_STATUSES and attempt < self._retries:
                attempt += 1
                await self._pause(attempt, _seconds(retry_after))
                continue
            raise PolymarketApiError(status, _error_text(text), method, url)

    async def _pause(self, attempt: int, retry_after: float | None = None) -> None:
        """Jittered exponential backoff; a throttling server's ``Retry-After`` wins (capped)."""
        if retry_after is not None:
            await asyncio.sleep(min(retry_after, 60.0))
            return
        base = self._backoff_s * (2 ** (attempt - 1))
        await asyncio.sleep(base * (0.5 + self._rng.random()))

    async def close(self) -> None:
        if self._own_session:
            await self._session.close()


def _param(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list | tuple):
        return ",".join(str(x) for x in v)
    return str(v)


def _seconds(header: str | None) -> float | None:
    if header is None:
        return None
    try:
        v = float(header)
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff
    return v if v >= 0 else None


def _error_text(text: str) -> str:
    try:
        body = json.loads(text)
    except json.JSONDecodeError:
        return text[:200] or "(empty body)"
    if isinstance(body, dict) and "error" in body:
        return str(body["error"])
    return text[:200]
