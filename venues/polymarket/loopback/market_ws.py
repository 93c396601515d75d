"""The market WebSocket (``/ws/market``): subscribe/unsubscribe, text PING/PONG, array frames.

The first message must be ``{"type": "market", "assets_ids": [...], "custom_feature_enabled":
bool}``; later ``{"operation": "subscribe"|"unsubscribe", "assets_ids": [...]}``. On every
subscription the server sends each asset's ``book`` (as one array frame), then streams
``price_change``, ``last_trade_price``, ``tick_size_change`` and, with custom features,
``best_bid_ask``, ``new_market`` and ``market_resolved``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from aiohttp import WSMsgType, web

from venues.polymarket.loopback.common import STATE_KEY
from venues.polymarket.loopback.state import LoopbackState, WsClient

log = logging.getLogger(__name__)


def _handle_text(state: LoopbackState, client: WsClient, text: str) -> str | None:
    """Apply one client message; returns a direct reply (PONG) if any."""
    if text == "PING":
        return "PONG" if state.hub.answer_pings else None
    try:
        msg = json.loads(text)
    except json.JSONDecodeError:
        return None  # the live server ignores what it cannot parse
    if not isinstance(msg, dict):
        return None
    assets = msg.get("assets_ids")
    if not isinstance(assets, list):
        return None
    if str(msg.get("type", "")).lower() == "market":
        client.custom = bool(msg.get("custom_feature_enabled", False))
        state.hub.subscribe(client, assets)
    elif msg.get("operation") == "subscribe":
        if msg.get("custom_feature_enabled"):
            client.custom = True
        state.hub.subscribe(client, assets)
    elif msg.get("operation") == "unsubscribe":
        state.hub.unsubscribe(client, assets)
    return None


async def market_ws(request: web.Request) -> web.WebSocketResponse:
    state = request.app[STATE_KEY]
    ws = web.WebSocketResponse(autoping=True, heartbeat=None)
    await ws.prepare(request)
    client = state.hub.open()

    def close_hook(abrupt: bool) -> None:
        client.queue.put_nowait(None)
        if abrupt and request.transport is not None:
            request.transport.close()  # a network drop: no close frame

    client.close_hook = close_hook

    async def writer() -> None:
        while True:
            item = await client.queue.get()
            if item is None:
                break
            try:
                await ws.send_str(item)
            except (ConnectionError, RuntimeError):
                break
            client.sent += 1
        with contextlib.suppress(Exception):
            await ws.close()

    wtask = asyncio.create_task(writer())
    try:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                reply = _handle_text(state, client, msg.data)
                if reply is not None:
                    client.queue.put_nowait(reply)
            elif msg.type == WSMsgType.ERROR:
                break
    finally:
        state.hub.close(client)
        client.queue.put_nowait(None)
        wtask.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await wtask
    return ws


def register(app: web.Application) -> None:
    app.router.add_get("/ws/market", market_ws)
