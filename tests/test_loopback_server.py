"""The loopback server speaks Polymarket's dialect: string numbers, best level last, ms timestamps,
``{"error": ...}`` bodies with non-200, JSON-in-a-string Gamma fields, PING/PONG, array frames."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from protocols import Side
from venues.polymarket.loopback import LoopbackServer, build_app
from venues.polymarket.loopback import server as server_mod
from venues.polymarket.loopback.feeds import FeedStore
from venues.polymarket.loopback.spot import SpotBook
from venues.polymarket.loopback.state import LoopbackState
from venues.polymarket.loopback.testing import market, order

M = market(1)


@pytest.fixture
async def srv() -> AsyncIterator[LoopbackServer]:
    s = LoopbackServer()
    s.exchange.add_market(M)
    for px in ("0.40", "0.42", "0.41"):
        order(s.exchange, "mm", M, Side.BUY, px, "10")
    for px in ("0.47", "0.45"):
        order(s.exchange, "mm2", M, Side.SELL, px, "10")
    await s.start()
    yield s
    await s.stop()


async def _get(srv: LoopbackServer, path: str, **params: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as s, s.get(srv.base_url + path, params=params) as r:
        return r.status, await r.json(content_type=None)


async def test_book_levels_are_strings_best_last_with_ms_timestamp(srv: LoopbackServer) -> None:
    status, body = await _get(srv, "/book", token_id=M.yes_token)
    assert status == 200
    assert [lv["price"] for lv in body["bids"]] == ["0.4", "0.41", "0.42"]  # ascending: best last
    assert [lv["price"] for lv in body["asks"]] == ["0.47", "0.45"]  # descending: best last
    assert all(isinstance(lv["size"], str) for lv in body["bids"] + body["asks"])
    assert isinstance(body["timestamp"], str) and len(body["timestamp"]) == 13
    assert body["tick_size"] == "0.01" and body["min_order_size"] == "5" and body["neg_risk"] is False


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/book", {}, 400),
        ("/book", {"token_id": "nope"}, 404),
        ("/price", {"token_id": "x", "side": "UP"}, 400),
        ("/trades", {"filterType": "CASH"}, 400),
        ("/activity", {}, 400),
        ("/markets", {"limit": "abc"}, 400),
    ],
)
async def test_errors_are_non_200_with_an_error_body(
    srv: LoopbackServer, path: str, params: dict[str, str], status: int
) -> None:
    got, body = await _get(srv, path, **params)
    assert got == status
    assert isinstance(body, dict) and isinstance(body["error"], str) and body["error"]


async def test_books_post_and_small_endpoints_answer_in_their_shapes(srv: LoopbackServer) -> None:
    async with aiohttp.ClientSession() as s:
        async with s.post(srv.base_url + "/books", json=[{"token_id": M.yes_token}, {"token_id": "zz"}]) as r:
            books = await r.json()
        async with s.post(srv.base_url + "/books", data="not json") as r:
            assert r.status == 400 and "error" in await r.json()
    assert [b["asset_id"] for b in books] == [M.yes_token]
    assert (await _get(srv, "/tick-size", token_id=M.yes_token))[1] == {"minimum_tick_size": 0.01}
    assert (await _get(srv, "/neg-risk", token_id=M.yes_token))[1] == {"neg_risk": False}
    assert (await _get(srv, "/midpoint", token_id=M.yes_token))[1] == {"mid": "0.435"}
    assert (await _get(srv, "/price", token_id=M.yes_token, side="BUY"))[1] == {"price": "0.42"}
    assert (await _get(srv, "/version"))[1] == {"version": 2}


async def test_gamma_rows_json_encode_their_lists_and_page(srv: LoopbackServer) -> None:
    for i in range(2, 5):
        srv.exchange.add_market(market(i))
    _, page1 = await _get(srv, "/markets", limit="3", offset="0")
    _, page2 = await _get(srv, "/markets", limit="3", offset="3")
    assert len(page1) == 3 and len(page2) == 1
    row = next(r for r in page1 if r["conditionId"] == M.market)
    assert json.loads(row["clobTokenIds"]) == list(M.token_ids)
    assert json.loads(row["outcomes"]) == ["Yes", "No"]
    assert json.loads(row["outcomePrices"]) == ["0.435", "0.565"]
    _, closed = await _get(srv, "/markets", closed="true")
    assert closed == []


async def test_market_socket_pongs_sends_array_books_and_honours_unsubscribe(srv: LoopbackServer) -> None:
    async with aiohttp.ClientSession() as s, s.ws_connect(srv.ws_url) as ws:
        await ws.send_str(json.dumps({"type": "market", "assets_ids": list(M.token_ids)}))
        first = json.loads((await ws.receive()).data)
        assert isinstance(first, list) and {e["event_type"] for e in first} == {"book"}
        assert {e["asset_id"] for e in first} == set(M.token_ids)
        await ws.send_str("PING")
        assert (await ws.receive()).data == "PONG"
        await ws.send_str("{nonsense")  # ignored, the socket stays up
        await ws.send_str(json.dumps({"operation": "unsubscribe", "assets_ids": [M.no_token]}))
        await ws.send_str("PING")
        assert (await ws.receive()).data == "PONG"  # in order: the unsubscribe is applied
        order(srv.exchange, "mm", M, Side.BUY, "0.43", "10")
        ev = json.loads((await ws.receive()).data)
        assert ev["event_type"] == "price_change"
        assert {c["asset_id"] for c in ev["price_changes"]} == {M.yes_token}
        assert ev["price_changes"][0]["price"] == "0.43" and ev["price_changes"][0]["best_bid"] == "0.43"


def test_extension_modules_are_registered_when_present_and_skipped_when_absent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from venues.sim.exchange import SimExchange

    def routes(app: Any) -> set[str]:
        return {r.resource.canonical for r in app.router.routes() if r.resource is not None}

    state = LoopbackState(SimExchange())
    app = build_app(state, FeedStore(), SpotBook())
    assert "/order" in routes(app) and "/ws/user" in routes(app)  # the order side's routes
    monkeypatch.setattr(server_mod, "EXTENSIONS", ("venues.polymarket.loopback.no_such_module",))
    app = build_app(LoopbackState(SimExchange()), FeedStore(), SpotBook())
    assert "/order" not in routes(app) and "/book" in routes(app)


async def test_one_order_gives_one_price_change_carrying_both_tokens(srv: LoopbackServer) -> None:
    async with aiohttp.ClientSession() as s, s.ws_connect(srv.ws_url) as ws:
        await ws.send_str(json.dumps({"type": "market", "assets_ids": list(M.token_ids),
                                      "custom_feature_enabled": True}))
        await ws.receive()  # the books
        order(srv.exchange, "mm", M, Side.BUY, "0.43", "10")
        ev = json.loads((await ws.receive()).data)
        assert ev["event_type"] == "price_change"
        by_asset = {c["asset_id"]: c for c in ev["price_changes"]}
        assert set(by_asset) == set(M.token_ids)
        assert (by_asset[M.yes_token]["side"], by_asset[M.yes_token]["price"]) == ("BUY", "0.43")
        assert (by_asset[M.no_token]["side"], by_asset[M.no_token]["price"]) == ("SELL", "0.57")  # the mirror
        bba = [json.loads((await ws.receive()).data) for _ in range(2)]
        assert {b["event_type"] for b in bba} == {"best_bid_ask"}
        assert {b["asset_id"]: b["best_bid"] for b in bba}[M.yes_token] == "0.43"
