"""The loopback's user channel (``/ws/user``): authenticated, per-account order and trade events.

The first frame must be ``{"auth": {"apiKey", "secret", "passphrase"}, "type": "user",
"markets": [...]}``; a wrong key closes the socket with an ``{"error": ...}`` frame. Afterwards
the server pushes this account's ``order`` (PLACEMENT / UPDATE / CANCELLATION) and ``trade``
(MATCHED → MINED → CONFIRMED / RETRYING / FAILED) events, optionally filtered by condition id,
answers ``PING`` with ``PONG``, and accepts ``{"operation": "subscribe"|"unsubscribe",
"markets": [...]}`` updates. Frames go out as JSON arrays, as the real server sends them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
from typing import Any

from aiohttp import WSMsgType, web

from venues.polymarket.loopback.orders import OrdersState, ensure_state

log = logging.getLogger(__name__)

USER_WS_PATH = "/ws/user"


class _Client:
    def __init__(self, ws: web.WebSocketResponse, account: str, markets: set[str]) -> None:
        self.ws = ws
        self.account = account
        self.markets = markets
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    def wants(self, account: str, frame: dict[str, Any]) -> bool:
        if account.lower() != self.account.lower():
            return False
        return not self.markets or str(frame.get("market", "")).lower() in self.markets


def _authenticate(st: OrdersState, msg: Any) -> tuple[str, set[str]] | str:
    if not isinstance(msg, dict) or not isinstance(msg.get("auth"), dict):
        return "first frame must carry auth"
    auth = msg["auth"]
    found = st.lookup(str(auth.get("apiKey", "")))
    if found is None:
        return "invalid api key"
    address, secret, passphrase = found
    if not (
        hmac.compare_digest(str(auth.get("secret", "")), secret)
        and hmac.compare_digest(str(auth.get("passphrase", "")), passphrase)
    ):
        return "invalid api credentials"
    markets = msg.get("markets") or []
    if not isinstance(markets, list):
        return "markets must be a list"
    return address, {str(m).lower() for m in markets}


def register(app: web.Application, state: Any) -> None:
    st = ensure_state(app, state)
    clients: set[_Client] = set()

    def on_event(account: str, frame: dict[str, Any]) -> None:
        for c in list(clients):
            if c.wants(account, frame):
                c.queue.put_nowait(frame)

    st.user_listeners.append(on_event)

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=None)
        await ws.prepare(request)
        try:
            first = await ws.receive(timeout=30)
        except TimeoutError:
            await ws.close()
            return ws
        if first.type != WSMsgType.TEXT:
            await ws.close()
            return ws
        try:
            auth = _authenticate(st, json.loads(first.data))
        except ValueError:
            auth = "first frame is not JSON"
        if isinstance(auth, str):
            await ws.send_str(json.dumps({"error": auth}))
            await ws.close()
            return ws
        client = _Client(ws, auth[0], auth[1])
        clients.add(client)

        async def pump() -> None:
            while True:
                frame = await client.queue.get()
                batch = [frame]
                while not client.queue.empty():
                    batch.append(client.queue.get_nowait())
                await ws.send_str(json.dumps(batch))

        sender = asyncio.create_task(pump())
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                if msg.data == "PING":
                    await ws.send_str("PONG")
                    continue
                try:
                    update = json.loads(msg.data)
                except ValueError:
                    continue
                if isinstance(update, dict) and isinstance(update.get("markets"), list):
                    ms = {str(m).lower() for m in update["markets"]}
                    if update.get("operation") == "subscribe":
                        client.markets |= ms
                    elif update.get("operation") == "unsubscribe":
                        client.markets -= ms
        finally:
            clients.discard(client)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender
        return ws

    async def close_all(_app: web.Application) -> None:
        for c in list(clients):
            await c.ws.close()

    if not any(r.resource is not None and r.resource.canonical == USER_WS_PATH for r in app.router.routes()):
        app.router.add_get(USER_WS_PATH, handler)
    app.on_shutdown.append(close_all)


__all__ = ["USER_WS_PATH", "register"]
