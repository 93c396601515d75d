"""Gamma (``/markets``, ``/events``) from the exchange's listed markets."""

from __future__ import annotations

import contextlib
from typing import Any

from aiohttp import web

from protocols import MarketInfo
from venues.polymarket.loopback import wire
from venues.polymarket.loopback.common import STATE_KEY, bool_param, int_param, list_param
from venues.polymarket.loopback.state import LoopbackState


def _event_of(state: LoopbackState, info: MarketInfo) -> dict[str, Any]:
    if info.event_id:
        augmented = info.neg_risk_augmented
        with contextlib.suppress(KeyError):
            _ids, augmented = state.exchange.neg_risk_event(info.event_id)
        return {
            "id": info.event_id,
            "slug": info.event_id,
            "title": info.event_id,
            "negRisk": info.neg_risk,
            "enableNegRisk": info.neg_risk,
            "negRiskAugmented": augmented,
        }
    return {"id": "ev-" + state.gamma_id(info.market), "slug": info.slug, "title": info.question,
            "negRisk": False, "enableNegRisk": False, "negRiskAugmented": False}


def _market_row(state: LoopbackState, info: MarketInfo, *, embed_event: bool) -> dict[str, Any]:
    try:
        snap = state.exchange.book(info.token_ids[0])
        bid = snap.bids[0][0] if snap.bids else None
        ask = snap.asks[0][0] if snap.asks else None
        last = snap.last_trade_price
    except KeyError:
        bid = ask = last = None
    return wire.gamma_market_json(
        info, state.gamma_id(info.market), best_bid=bid, best_ask=ask, last_price=last,
        event=_event_of(state, info) if embed_event else None,
    )


def _filtered(state: LoopbackState, request: web.Request) -> list[MarketInfo]:
    active = bool_param(request, "active")
    closed = bool_param(request, "closed")
    slugs = set(list_param(request, "slug"))
    tokens = set(list_param(request, "clob_token_ids"))
    conds = set(list_param(request, "condition_ids"))
    ids = set(list_param(request, "id"))
    out = []
    for info in state.exchange.markets():
        if active is not None and info.active != active:
            continue
        if closed is not None and info.closed != closed:
            continue
        if slugs and info.slug not in slugs:
            continue
        if tokens and not tokens & set(info.token_ids):
            continue
        if conds and info.market not in conds:
            continue
        if ids and state.gamma_id(info.market) not in ids:
            continue
        out.append(info)
    return out


async def markets(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    state.count("gamma /markets")
    limit = int_param(request, "limit", 20, lo=0, hi=500)
    offset = int_param(request, "offset", 0, lo=0, hi=100_000)
    rows = _filtered(state, request)[offset : offset + limit]
    return web.json_response([_market_row(state, i, embed_event=True) for i in rows])


async def events(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    state.count("gamma /events")
    limit = int_param(request, "limit", 20, lo=0, hi=500)
    offset = int_param(request, "offset", 0, lo=0, hi=100_000)
    groups: dict[str, list[MarketInfo]] = {}
    for info in _filtered(state, request):
        ev = _event_of(state, info)
        groups.setdefault(ev["id"], []).append(info)
    out = []
    for infos in list(groups.values())[offset : offset + limit]:
        ev = _event_of(state, infos[0])
        ev.update(
            {
                "category": infos[0].category or None,
                "active": any(i.active for i in infos),
                "closed": all(i.closed for i in infos),
                "markets": [_market_row(state, i, embed_event=False) for i in infos],
            }
        )
        out.append(ev)
    return web.json_response(out)


def register(app: web.Application) -> None:
    app.router.add_get("/markets", markets)
    app.router.add_get("/events", events)
