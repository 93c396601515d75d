"""The loopback server speaks Polymarket's dialect: string numbers, best level last, ms timestamps,
``{"error": ...}`` bodies with non-200, JSON-in-a-string Gamma fields, PING/PONG, array frames."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from protocols import Side
from venues.polymarket.loopback import LoopbackServer, build_clob_app
from venues.polymarket.loopback import server as server_mod
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


async def _get(srv: LoopbackServer, path: str, *, origin: str = "clob", **params: str) -> tuple[int, Any]:
    base = {"clob": srv.clob_url, "gamma": srv.gamma_url, "data": srv.data_url, "aux": srv.aux_url}[origin]
    async with aiohttp.ClientSession() as s, s.get(base + path, params=params) as r:
        text = await r.text()
    try:
        return r.status, json.loads(text)
    except ValueError:
        return r.status, text  # aiohttp's own "404: Not Found" for a route this origin lacks


async def test_book_levels_are_strings_best_last_with_ms_timestamp(srv: LoopbackServer) -> None:
    status, body = await _get(srv, "/book", token_id=M.yes_token)
    assert status == 200
    assert [lv["price"] for lv in body["bids"]] == ["0.4", "0.41", "0.42"]  # ascending: best last
    assert [lv["price"] for lv in body["asks"]] == ["0.47", "0.45"]  # descending: best last
    assert all(isinstance(lv["size"], str) for lv in body["bids"] + body["asks"])
    assert isinstance(body["timestamp"], str) and len(body["timestamp"]) == 13
    assert body["tick_size"] == "0.01" and body["min_order_size"] == "5" and body["neg_risk"] is False


@pytest.mark.parametrize(
    ("origin", "path", "params", "status"),
    [
        ("clob", "/book", {}, 400),
        ("clob", "/book", {"token_id": "nope"}, 404),
        ("clob", "/price", {"token_id": "x", "side": "UP"}, 400),
        ("clob", "/fee-rate", {}, 400),
        ("clob", "/fee-rate", {"token_id": "nope"}, 404),
        ("clob", "/markets", {"next_cursor": "!!"}, 400),
        ("clob", "/markets/0xnope", {}, 404),
        ("data", "/trades", {"filterType": "CASH"}, 400),
        ("data", "/activity", {}, 400),
        ("gamma", "/markets", {"limit": "abc"}, 400),
    ],
)
async def test_errors_are_non_200_with_an_error_body(
    srv: LoopbackServer, origin: str, path: str, params: dict[str, str], status: int
) -> None:
    got, body = await _get(srv, path, origin=origin, **params)
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
    _, page1 = await _get(srv, "/markets", origin="gamma", limit="3", offset="0")
    _, page2 = await _get(srv, "/markets", origin="gamma", limit="3", offset="3")
    assert len(page1) == 3 and len(page2) == 1
    row = next(r for r in page1 if r["conditionId"] == M.market)
    assert json.loads(row["clobTokenIds"]) == list(M.token_ids)
    assert json.loads(row["outcomes"]) == ["Yes", "No"]
    assert json.loads(row["outcomePrices"]) == ["0.435", "0.565"]
    _, closed = await _get(srv, "/markets", origin="gamma", closed="true")
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
    app = build_clob_app(state)
    assert "/order" in routes(app) and "/ws/user" in routes(app)  # the order side's routes
    monkeypatch.setattr(server_mod, "EXTENSIONS", ("venues.polymarket.loopback.no_such_module",))
    app = build_clob_app(LoopbackState(SimExchange()))
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


async def test_each_api_answers_on_its_own_origin_only(srv: LoopbackServer) -> None:
    origins = {srv.clob_url, srv.gamma_url, srv.data_url, srv.aux_url}
    assert len(origins) == 4 and srv.base_url == srv.clob_url
    assert (await _get(srv, "/book", origin="gamma", token_id=M.yes_token))[0] == 404
    assert (await _get(srv, "/trades", origin="clob"))[0] == 404
    assert (await _get(srv, "/events", origin="clob"))[0] == 404
    assert (await _get(srv, "/book", origin="data", token_id=M.yes_token))[0] == 404
    cfg = srv.data_config()
    assert (cfg.gamma_url, cfg.clob_url, cfg.data_url) == (srv.gamma_url, srv.clob_url, srv.data_url)
    assert cfg.market_ws_url == srv.ws_url and srv.ws_url.endswith("/ws/market")


async def test_clob_markets_are_the_clobs_document_paged_by_cursor_to_lte(
    srv: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from venues.polymarket.loopback import clob

    for i in range(2, 6):
        srv.exchange.add_market(market(i))
    monkeypatch.setattr(clob, "MARKETS_PAGE", 2)
    seen: list[str] = []
    cursor = "MA=="  # the official client's first cursor: base64("0")
    pages = 0
    while cursor != "LTE=":
        status, page = await _get(srv, "/markets", next_cursor=cursor)
        assert status == 200 and set(page) == {"data", "next_cursor", "limit", "count"}
        assert page["count"] == len(page["data"]) <= 2
        seen += [m["condition_id"] for m in page["data"]]
        cursor, pages = page["next_cursor"], pages + 1
    assert pages == 3 and len(seen) == 5 and len(set(seen)) == 5 and M.market in seen
    _, one = await _get(srv, f"/markets/{M.market}")
    assert one["condition_id"] == M.market and "conditionId" not in one
    assert [t["token_id"] for t in one["tokens"]] == list(M.token_ids)
    assert [t["outcome"] for t in one["tokens"]] == ["Yes", "No"]
    assert one["tokens"][0]["price"] == pytest.approx(0.435) and one["minimum_tick_size"] == 0.01
    _, end = await _get(srv, "/markets", next_cursor="LTE=")
    assert end == {"data": [], "next_cursor": "LTE=", "limit": 0, "count": 0}


async def test_fee_rate_is_the_markets_taker_rate_in_bps(srv: LoopbackServer) -> None:
    free = market(7, fees=False)
    srv.exchange.add_market(free)
    assert (await _get(srv, "/fee-rate", token_id=M.yes_token))[1] == {"base_fee": M.fees.rate_bps}
    assert M.fees.rate_bps > 0
    assert (await _get(srv, "/fee-rate", token_id=free.no_token))[1] == {"base_fee": 0}


@pytest.mark.parametrize("quirks", [True, False])
async def test_a_book_without_trades_has_empty_last_trade_price_with_quirks_else_half(quirks: bool) -> None:
    async with LoopbackServer(quirks=quirks) as s:
        s.exchange.add_market(M)
        _, body = await _get(s, "/book", token_id=M.yes_token)
    assert body["last_trade_price"] == ("" if quirks else "0.5")
