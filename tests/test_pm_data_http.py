"""JsonHttp against a real aiohttp server on 127.0.0.1: retries, throttling, error bodies."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from venues.polymarket.http import JsonHttp, PolymarketApiError
from venues.polymarket.ratelimit import RateLimitBook


@pytest.fixture
async def base() -> AsyncIterator[tuple[str, dict[str, int]]]:
    hits: dict[str, int] = {}

    async def flaky(request: web.Request) -> web.Response:
        n = hits["flaky"] = hits.get("flaky", 0) + 1
        if n == 1:
            return web.json_response({"error": "Too Many Requests"}, status=429, headers={"Retry-After": "0"})
        return web.json_response({"ok": n})

    async def broken(request: web.Request) -> web.Response:
        hits["broken"] = hits.get("broken", 0) + 1
        return web.json_response({"error": "upstream timeout"}, status=503)

    async def bad(request: web.Request) -> web.Response:
        hits["bad"] = hits.get("bad", 0) + 1
        return web.json_response({"error": "Invalid payload: token_id"}, status=400)

    async def garbage(request: web.Request) -> web.Response:
        return web.Response(text="<html>cloudflare</html>", status=200)

    app = web.Application()
    app.router.add_get("/flaky", flaky)
    app.router.add_get("/broken", broken)
    app.router.add_get("/bad", bad)
    app.router.add_get("/garbage", garbage)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}", hits
    await runner.cleanup()


def _http(url: str) -> JsonHttp:
    return JsonHttp(url, "clob", limits=RateLimitBook({}), retries=2, backoff_s=0.0)


async def test_throttled_request_is_retried_and_succeeds(base: tuple[str, dict[str, int]]) -> None:
    url, hits = base
    http = _http(url)
    try:
        assert await http.get("/flaky") == {"ok": 2}
    finally:
        await http.close()
    assert hits["flaky"] == 2


async def test_persistent_server_error_surfaces_the_error_body_after_retries(base: tuple[str, dict[str, int]]) -> None:
    url, hits = base
    http = _http(url)
    try:
        with pytest.raises(PolymarketApiError) as err:
            await http.get("/broken")
    finally:
        await http.close()
    assert (err.value.status, err.value.message) == (503, "upstream timeout")
    assert hits["broken"] == 3


async def test_client_error_is_not_retried(base: tuple[str, dict[str, int]]) -> None:
    url, hits = base
    http = _http(url)
    try:
        with pytest.raises(PolymarketApiError, match="Invalid payload"):
            await http.get("/bad")
    finally:
        await http.close()
    assert hits["bad"] == 1


async def test_non_json_200_is_an_error_not_a_crash(base: tuple[str, dict[str, int]]) -> None:
    url, _ = base
    http = _http(url)
    try:
        with pytest.raises(PolymarketApiError, match="invalid JSON"):
            await http.get("/garbage")
    finally:
        await http.close()
