"""CLOB REST read endpoints: ``/book``, ``/books``, ``/midpoint``, ``/price``, ``/spread``,
``/last-trade-price``, ``/tick-size``, ``/neg-risk``, ``/fee-rate``, ``/version``, ``/time``, and
the CLOB's own market listing: ``GET /markets`` (cursor-paginated ``{data, next_cursor, limit,
count}``, base64 offsets, ``"LTE="`` after the last page) and ``GET /markets/{condition_id}``."""

from __future__ import annotations

import base64
import binascii
import json
import time
from decimal import Decimal

from aiohttp import web

from protocols import BookSnapshot, MarketInfo
from venues.polymarket.loopback import wire
from venues.polymarket.loopback.common import STATE_KEY, error
from venues.polymarket.loopback.state import LoopbackState

NO_BOOK = "No orderbook exists for the requested token id"
END_CURSOR = "LTE="
#: The CLOB's ``/markets`` page size (the live venue sends 1000 per page).
MARKETS_PAGE = 1000


def _book(state: LoopbackState, token_id: str | None) -> BookSnapshot | web.Response:
    if not token_id:
        return error(400, "Invalid payload: token_id is required")
    try:
        return state.exchange.book(token_id)
    except KeyError:
        return error(404, NO_BOOK)


def _neg_risk(state: LoopbackState, token_id: str) -> bool:
    info = state.exchange.market_info(token_id)
    return bool(info is not None and info.neg_risk)


async def book(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    state.count("clob /book")
    snap = _book(state, request.query.get("token_id"))
    if isinstance(snap, web.Response):
        return snap
    return web.json_response(wire.book_json(snap, neg_risk=_neg_risk(state, snap.token_id), quirks=state.quirks))


async def books(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    state.count("clob /books")
    try:
        body = json.loads(await request.text())
    except json.JSONDecodeError:
        return error(400, "Invalid payload: body is not JSON")
    if not isinstance(body, list) or not all(isinstance(x, dict) and isinstance(x.get("token_id"), str) for x in body):
        return error(400, 'Invalid payload: expected [{"token_id": "..."}]')
    if len(body) > 500:
        return error(400, "Invalid payload: at most 500 books per request")
    out = []
    for item in body:
        try:
            snap = state.exchange.book(item["token_id"])
        except KeyError:
            continue  # unknown tokens are left out, as the live endpoint does
        out.append(wire.book_json(snap, neg_risk=_neg_risk(state, snap.token_id), quirks=state.quirks))
    return web.json_response(out)


def _best(snap: BookSnapshot) -> tuple[Decimal | None, Decimal | None]:
    return (snap.bids[0][0] if snap.bids else None, snap.asks[0][0] if snap.asks else None)


async def midpoint(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    snap = _book(state, request.query.get("token_id"))
    if isinstance(snap, web.Response):
        return snap
    bid, ask = _best(snap)
    if bid is None or ask is None:
        return error(404, "No midpoint: one side of the book is empty")
    return web.json_response({"mid": wire.num((bid + ask) / 2)})


async def price(request: web.Request) -> web.Response:
    """``side=BUY`` answers the best bid, ``side=SELL`` the best ask (the side of the book)."""
    state = request.app[STATE_KEY]
    side = request.query.get("side", "")
    if side not in ("BUY", "SELL"):
        return error(400, "Invalid side: must be BUY or SELL")
    snap = _book(state, request.query.get("token_id"))
    if isinstance(snap, web.Response):
        return snap
    bid, ask = _best(snap)
    p = bid if side == "BUY" else ask
    if p is None:
        return error(404, "No orders on that side of the book")
    return web.json_response({"price": wire.num(p)})


async def spread(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    snap = _book(state, request.query.get("token_id"))
    if isinstance(snap, web.Response):
        return snap
    bid, ask = _best(snap)
    if bid is None or ask is None:
        return error(404, "No spread: one side of the book is empty")
    return web.json_response({"spread": wire.num(ask - bid)})


async def last_trade_price(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    snap = _book(state, request.query.get("token_id"))
    if isinstance(snap, web.Response):
        return snap
    p = snap.last_trade_price
    return web.json_response({"price": wire.num(p) if p is not None else "0.5", "side": ""})


async def tick_size(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    snap = _book(state, request.query.get("token_id"))
    if isinstance(snap, web.Response):
        return snap
    return web.json_response({"minimum_tick_size": float(snap.tick_size)})


async def neg_risk(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    snap = _book(state, request.query.get("token_id"))
    if isinstance(snap, web.Response):
        return snap
    return web.json_response({"neg_risk": _neg_risk(state, snap.token_id)})


async def fee_rate(request: web.Request) -> web.Response:
    """``GET /fee-rate?token_id=`` → ``{"base_fee": <bps>}``: the market's taker rate in bps."""
    state = request.app[STATE_KEY]
    token = request.query.get("token_id")
    if not token:
        return error(400, "Invalid payload: token_id is required")
    info = state.exchange.market_info(token)
    if info is None or token not in info.token_ids:
        return error(404, "fee rate not found for market")
    return web.json_response({"base_fee": info.fees.rate_bps})


def _prices(state: LoopbackState, info: MarketInfo) -> tuple[Decimal, Decimal]:
    try:
        snap = state.exchange.book(info.token_ids[0])
    except KeyError:
        return Decimal("0.5"), Decimal("0.5")
    bid, ask = _best(snap)
    if bid is not None and ask is not None:
        yes = (bid + ask) / 2
    elif snap.last_trade_price is not None:
        yes = snap.last_trade_price
    else:
        yes = Decimal("0.5")
    return yes, 1 - yes


async def clob_markets(request: web.Request) -> web.Response:
    """The CLOB's market listing, every market ever listed (closed ones too), by cursor."""
    state = request.app[STATE_KEY]
    state.count("clob /markets")
    cursor = request.query.get("next_cursor", "")
    if cursor == END_CURSOR:
        return web.json_response({"data": [], "next_cursor": END_CURSOR, "limit": 0, "count": 0})
    start = 0
    if cursor:
        try:
            start = int(base64.b64decode(cursor, validate=True).decode())
        except (ValueError, UnicodeDecodeError, binascii.Error):
            return error(400, "invalid next_cursor")
        if start < 0:
            return error(400, "invalid next_cursor")
    size = MARKETS_PAGE
    infos = list(state.exchange.markets())
    chunk = infos[start : start + size]
    end = start + len(chunk)
    nxt = END_CURSOR if end >= len(infos) else base64.b64encode(str(end).encode()).decode()
    return web.json_response(
        {
            "data": [wire.clob_market_json(i, _prices(state, i)) for i in chunk],
            "next_cursor": nxt,
            "limit": size,
            "count": len(chunk),
        }
    )


async def clob_market(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    cid = request.match_info["condition_id"]
    info = state.exchange.market_info(cid)
    if info is None or info.market != cid:
        return error(404, "market not found")
    return web.json_response(wire.clob_market_json(info, _prices(state, info)))


async def version(request: web.Request) -> web.Response:
    return web.json_response({"version": 2})


async def server_time(request: web.Request) -> web.Response:
    return web.json_response(int(time.time()))


def register(app: web.Application) -> None:
    app.router.add_get("/book", book)
    app.router.add_post("/books", books)
    app.router.add_get("/midpoint", midpoint)
    app.router.add_get("/price", price)
    app.router.add_get("/spread", spread)
    app.router.add_get("/last-trade-price", last_trade_price)
    app.router.add_get("/tick-size", tick_size)
    app.router.add_get("/neg-risk", neg_risk)
    app.router.add_get("/fee-rate", fee_rate)
    app.router.add_get("/markets", clob_markets)
    app.router.add_get("/markets/{condition_id}", clob_market)
    app.router.add_get("/version", version)
    app.router.add_get("/time", server_time)
