"""Data API: ``/trades`` (with the cash filter), ``/activity``, ``/positions``.

Rows are served newest first by *seconds*, ties in reverse arrival order, paged by
``limit``/``offset`` — the ordering that makes naive watermarks lose trades.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from aiohttp import web

from venues.polymarket.loopback.common import STATE_KEY, bool_param, error, int_param, list_param
from venues.polymarket.loopback.state import DataRow


def _newest_first(rows: list[DataRow]) -> list[DataRow]:
    indexed = list(enumerate(rows))
    indexed.sort(key=lambda ir: (ir[1].timestamp_s, ir[0]), reverse=True)
    return [r for _i, r in indexed]


async def trades(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    state.count("data /trades")
    limit = int_param(request, "limit", 100, lo=0, hi=10_000)
    offset = int_param(request, "offset", 0, lo=0, hi=10_000)
    user = request.query.get("user")
    markets = set(list_param(request, "market"))
    side = request.query.get("side")
    if side is not None and side not in ("BUY", "SELL"):
        return error(400, "invalid side")
    taker_only = bool_param(request, "takerOnly")
    taker_only = True if taker_only is None else taker_only
    ftype = request.query.get("filterType")
    famount: Decimal | None = None
    if ftype is not None:
        if ftype not in ("CASH", "TOKENS"):
            return error(400, "filterType must be CASH or TOKENS")
        try:
            famount = Decimal(request.query.get("filterAmount", ""))
        except InvalidOperation:
            return error(400, "filterAmount is required with filterType")
    out = []
    for r in _newest_first([r for r in state.rows if r.type == "TRADE"]):
        if user and r.wallet.lower() != user.lower():
            continue
        if markets and r.market not in markets:
            continue
        if side and r.side != side:
            continue
        if taker_only and not r.taker:
            continue
        if famount is not None:
            amount = r.size * r.price if ftype == "CASH" else r.size
            if amount < famount:
                continue
        out.append(r)
    return web.json_response([r.trade_json() for r in out[offset : offset + limit]])


async def activity(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    state.count("data /activity")
    user = request.query.get("user")
    if not user:
        return error(400, "user is required")
    limit = int_param(request, "limit", 100, lo=0, hi=500)
    offset = int_param(request, "offset", 0, lo=0, hi=10_000)
    types = set(list_param(request, "type"))
    rows = [
        r for r in _newest_first(state.rows)
        if r.wallet.lower() == user.lower() and (not types or r.type in types)
    ]
    return web.json_response([r.activity_json() for r in rows[offset : offset + limit]])


async def positions(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    state.count("data /positions")
    user = request.query.get("user")
    if not user:
        return error(400, "user is required")
    out = []
    for p in state.exchange.positions(user):
        try:
            snap = state.exchange.book(p.token_id)
            bid = snap.bids[0][0] if snap.bids else None
            ask = snap.asks[0][0] if snap.asks else None
            cur = (bid + ask) / 2 if bid is not None and ask is not None else (snap.last_trade_price or p.avg_price)
        except KeyError:
            cur = p.avg_price
        initial = p.size * p.avg_price
        current = p.size * cur
        info = state.exchange.market_info(p.token_id)
        idx = info.token_ids.index(p.token_id) if info is not None else 0
        out.append(
            {
                "proxyWallet": user,
                "asset": p.token_id,
                "conditionId": p.market,
                "size": float(p.size),
                "avgPrice": float(p.avg_price),
                "initialValue": float(initial),
                "currentValue": float(current),
                "cashPnl": float(current - initial),
                "percentPnl": float((current - initial) / initial * 100) if initial else 0.0,
                "realizedPnl": float(p.realized_pnl),
                "curPrice": float(cur),
                "redeemable": bool(info is not None and info.closed),
                "title": info.question if info is not None else "",
                "outcome": info.outcomes[idx] if info is not None else "",
                "outcomeIndex": idx,
            }
        )
    return web.json_response(out)


def register(app: web.Application) -> None:
    app.router.add_get("/trades", trades)
    app.router.add_get("/activity", activity)
    app.router.add_get("/positions", positions)
