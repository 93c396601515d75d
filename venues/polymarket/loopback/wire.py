"""Our protocol payloads → Polymarket's wire shapes, quirks included.

The loopback server speaks Polymarket's dialect so the live clients are tested against it rather
than against our own conventions: numbers as strings, levels **best last** (bids ascending, asks
descending), millisecond timestamps as strings, Gamma's JSON-encoded list fields.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from protocols import (
    BookDelta,
    BookSnapshot,
    Level,
    MarketInfo,
    MarketResolved,
    Side,
    TickSizeChange,
    TradePrint,
)


def num(d: Decimal | int) -> str:
    """Polymarket's number strings: no exponent, no trailing zeros ("0.48", "30", "0.0001")."""
    d = Decimal(d)
    s = format(d.normalize(), "f")
    return s if s != "-0" else "0"


def ms(time_ns: int) -> str:
    return str(time_ns // 1_000_000)


def _levels_best_last(levels: Iterable[Level]) -> list[dict[str, str]]:
    return [{"price": num(p), "size": num(s)} for p, s in reversed(tuple(levels))]


def book_json(snap: BookSnapshot, *, neg_risk: bool = False, rest: bool = True, quirks: bool = True) -> dict[str, Any]:
    """``GET /book`` (``rest=True``: carries tick, min size, neg-risk) or the WS ``book`` event.

    A book that has never traded has ``last_trade_price: ""`` on the live venue (``quirks``);
    without quirks it says "0.5", the documented default."""
    out: dict[str, Any] = {
        "market": snap.market,
        "asset_id": snap.token_id,
        "timestamp": ms(snap.time_ns),
        "hash": snap.hash,
        "bids": _levels_best_last(snap.bids),
        "asks": _levels_best_last(snap.asks),
    }
    if rest:
        out["min_order_size"] = num(snap.min_order_size)
        out["tick_size"] = num(snap.tick_size)
        out["neg_risk"] = neg_risk
        if snap.last_trade_price is not None:
            out["last_trade_price"] = num(snap.last_trade_price)
        else:
            out["last_trade_price"] = "" if quirks else "0.5"
    else:
        out["event_type"] = "book"
    return out


def price_change_json(delta: BookDelta) -> dict[str, Any]:
    bb = num(delta.best_bid) if delta.best_bid is not None else "0"
    ba = num(delta.best_ask) if delta.best_ask is not None else "0"
    return {
        "market": delta.market,
        "price_changes": [
            {
                "asset_id": delta.token_id,
                "price": num(c.price),
                "size": num(c.size),
                "side": "BUY" if c.side is Side.BUY else "SELL",
                "hash": delta.hash,
                "best_bid": bb,
                "best_ask": ba,
            }
            for c in delta.changes
        ],
        "timestamp": ms(delta.time_ns),
        "event_type": "price_change",
    }


def best_bid_ask_json(
    token_id: str, market: str, bid: Decimal | None, ask: Decimal | None, time_ns: int
) -> dict[str, Any]:
    spread = (ask - bid) if bid is not None and ask is not None else None
    return {
        "market": market,
        "asset_id": token_id,
        "best_bid": num(bid) if bid is not None else "0",
        "best_ask": num(ask) if ask is not None else "0",
        "spread": num(spread) if spread is not None else "0",
        "timestamp": ms(time_ns),
        "event_type": "best_bid_ask",
    }


def last_trade_json(tp: TradePrint) -> dict[str, Any]:
    return {
        "asset_id": tp.token_id,
        "event_type": "last_trade_price",
        "fee_rate_bps": str(tp.fee_rate_bps),
        "market": tp.market,
        "price": num(tp.price),
        "side": tp.side.value,
        "size": num(tp.size),
        "timestamp": ms(tp.time_ns),
    }


def tick_change_json(tc: TickSizeChange) -> dict[str, Any]:
    return {
        "event_type": "tick_size_change",
        "asset_id": tc.token_id,
        "market": tc.market,
        "old_tick_size": num(tc.old_tick_size),
        "new_tick_size": num(tc.new_tick_size),
        "timestamp": ms(tc.time_ns),
    }


def new_market_json(info: MarketInfo, gamma_id: str, time_ns: int) -> dict[str, Any]:
    return {
        "id": gamma_id,
        "question": info.question,
        "market": info.market,
        "slug": info.slug,
        "description": "",
        "assets_ids": list(info.token_ids),
        "outcomes": list(info.outcomes),
        "order_price_min_tick_size": num(info.tick_size),
        "event_message": {"id": info.event_id, "slug": info.slug, "title": info.question},
        "timestamp": ms(time_ns),
        "event_type": "new_market",
    }


def resolved_json(res: MarketResolved, info: MarketInfo | None, gamma_id: str) -> dict[str, Any]:
    outcome = None
    if info is not None and res.winning_token_id is not None:
        outcome = info.outcomes[info.token_ids.index(res.winning_token_id)]
    return {
        "id": gamma_id,
        "question": info.question if info is not None else "",
        "market": res.market,
        "slug": info.slug if info is not None else "",
        "assets_ids": list(info.token_ids) if info is not None else [],
        "outcomes": list(info.outcomes) if info is not None else [],
        "winning_asset_id": res.winning_token_id or "",
        "winning_outcome": outcome or "",
        "timestamp": ms(res.time_ns),
        "event_type": "market_resolved",
    }


def iso(time_ns: int | None) -> str | None:
    if time_ns is None:
        return None
    return datetime.fromtimestamp(time_ns / 1e9, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def gamma_market_json(
    info: MarketInfo,
    gamma_id: str,
    *,
    best_bid: Decimal | None,
    best_ask: Decimal | None,
    last_price: Decimal | None,
    event: dict[str, Any] | None,
) -> dict[str, Any]:
    """A Gamma ``/markets`` row: note the JSON-encoded strings and the float tick/min size."""
    if best_bid is not None and best_ask is not None:
        yes = (best_bid + best_ask) / 2
    elif last_price is not None:
        yes = last_price
    else:
        yes = Decimal("0.5")
    out: dict[str, Any] = {
        "id": gamma_id,
        "question": info.question,
        "conditionId": info.market,
        "slug": info.slug,
        "endDate": iso(info.end_ns),
        "category": info.category or None,
        "outcomes": json.dumps(list(info.outcomes)),
        "outcomePrices": json.dumps([num(yes), num(1 - yes)]),
        "clobTokenIds": json.dumps(list(info.token_ids)),
        "active": info.active,
        "closed": info.closed,
        "acceptingOrders": info.active and not info.closed,
        "enableOrderBook": True,
        "orderPriceMinTickSize": float(info.tick_size),
        "orderMinSize": float(info.min_order_size),
        "negRisk": info.neg_risk,
        "negRiskMarketID": info.event_id if info.neg_risk else None,
        "feesEnabled": info.fees_enabled,
        "feeType": info.fees.fee_type or None,
        "feeSchedule": {  # JSON numbers, as Gamma sends them
            "exponent": info.fees.exponent,
            "rate": float(info.fees.rate),
            "takerOnly": info.fees.taker_only,
            "rebateRate": float(info.fees.rebate_rate),
        },
        "volumeNum": 0,
        "liquidityNum": 0,
        "bestBid": float(best_bid) if best_bid is not None else None,
        "bestAsk": float(best_ask) if best_ask is not None else None,
        "version": 2,
    }
    if event is not None:
        out["events"] = [event]
    return out


def clob_market_json(info: MarketInfo, prices: tuple[Decimal, Decimal]) -> dict[str, Any]:
    """A record of the CLOB's own ``GET /markets`` / ``GET /markets/{condition_id}`` (snake_case,
    ``condition_id``, ``tokens[]`` with prices as JSON numbers) — not Gamma's market document.

    ``maker_base_fee``/``taker_base_fee`` are the venue's legacy bps ceilings (1000 where fees are
    enabled), not the charged rate: that comes per market from Gamma's ``feeSchedule``."""
    base_fee = 1000 if info.fees_enabled else 0
    return {
        "enable_order_book": True,
        "active": info.active,
        "closed": info.closed,
        "archived": False,
        "accepting_orders": info.active and not info.closed,
        "accepting_order_timestamp": None,
        "minimum_order_size": float(info.min_order_size),
        "minimum_tick_size": float(info.tick_size),
        "condition_id": info.market,
        "question_id": info.market,
        "question": info.question,
        "description": "",
        "market_slug": info.slug,
        "end_date_iso": iso(info.end_ns),
        "game_start_time": None,
        "seconds_delay": 0,
        "fpmm": "",
        "maker_base_fee": base_fee,
        "taker_base_fee": base_fee,
        "notifications_enabled": True,
        "neg_risk": info.neg_risk,
        "neg_risk_market_id": info.event_id if info.neg_risk else "",
        "neg_risk_request_id": "",
        "icon": "",
        "image": "",
        "rewards": {"rates": None, "min_size": 0, "max_spread": 0},
        "is_50_50_outcome": False,
        "tokens": [
            {"token_id": t, "outcome": o, "price": float(p), "winner": False}
            for t, o, p in zip(info.token_ids, info.outcomes, prices, strict=True)
        ],
        "tags": [],
    }
