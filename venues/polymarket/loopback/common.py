"""Helpers shared by the loopback routes: Polymarket's error bodies and query parsing."""

from __future__ import annotations

from aiohttp import web

from venues.polymarket.loopback.state import LoopbackState

STATE_KEY: web.AppKey[LoopbackState] = web.AppKey("loopback_state", LoopbackState)


def error(status: int, message: str) -> web.Response:
    """Polymarket's error shape: a non-200 status with ``{"error": "..."}``."""
    return web.json_response({"error": message}, status=status)


def int_param(request: web.Request, name: str, default: int, *, lo: int = 0, hi: int = 10_000) -> int:
    """Parse an integer query parameter; raises ``web.HTTPBadRequest`` with a Polymarket-style body."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        v = int(raw)
    except ValueError:
        raise web.HTTPBadRequest(
            text=f'{{"error": "invalid {name}: {raw[:20]}"}}', content_type="application/json"
        ) from None
    if not lo <= v <= hi:
        raise web.HTTPBadRequest(
            text=f'{{"error": "{name} must be in [{lo}, {hi}]"}}', content_type="application/json"
        )
    return v


def bool_param(request: web.Request, name: str) -> bool | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    return raw.lower() in ("true", "1", "yes")


def list_param(request: web.Request, name: str) -> list[str]:
    """Comma-separated or repeated (``?a=1&a=2``) list parameters, as Gamma accepts both."""
    out: list[str] = []
    for v in request.query.getall(name, []):
        out.extend(x for x in v.split(",") if x)
    return out
