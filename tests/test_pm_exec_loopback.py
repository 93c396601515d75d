"""The official SDK's real signing path against the loopback CLOB (127.0.0.1 only)."""

from __future__ import annotations

import base64
import contextlib
import json
import time
from decimal import Decimal

import httpx
import pytest
from pm_exec_harness import (
    CONDITION,
    OTHER_KEY,
    TRADER_KEY,
    YES,
    address_of,
    connect,
    request,
    start_loopback,
)
from polymarket.errors import RequestRejectedError

from protocols import ClientMismatch, OrderStatus, ReasonCode, Side, TimeInForce, VenueUnavailable
from venues.polymarket.auth import ApiCredentials, l2_headers
from venues.polymarket.execution import JsonlIdStore


@pytest.fixture
async def lb():
    loop = await start_loopback()
    yield loop
    await loop.close()


@pytest.fixture
async def ex(lb):
    e = await connect(lb)
    yield e
    await e.close()


async def test_limit_order_rests_lists_and_cancels_through_sdk(lb, ex) -> None:
    ev = await ex.place_order(request("c-rest", Side.BUY, "0.40", "10"))
    assert ev.status is OrderStatus.ACKNOWLEDGED
    assert ev.venue_order_id.startswith("0x") and len(ev.venue_order_id) == 66
    # the exchange holds it under the order hash, for the signer's wallet
    held = lb.exchange.open_orders(address_of(TRADER_KEY))
    assert [o.client_order_id for o in held] == [ev.venue_order_id]
    opens = await ex.open_orders()
    assert [(o.client_order_id, o.price, o.size) for o in opens] == [("c-rest", Decimal("0.4"), Decimal(10))]
    cancelled = await ex.cancel_order("c-rest")
    assert cancelled.status is OrderStatus.CANCELLED
    assert await ex.open_orders() == []
    assert lb.exchange.open_orders(address_of(TRADER_KEY)) == []


async def test_marketable_limit_order_fills_and_appears_in_trades_positions_balance(lb, ex) -> None:
    lb.maker("mm", Side.SELL, "0.55", "20")
    ev = await ex.place_order(request("c-take", Side.BUY, "0.55", "10"))
    assert (ev.status, ev.filled) == (OrderStatus.FILLED, Decimal(10))
    fills = await ex.trades()
    assert len(fills) == 1
    f = fills[0]
    assert (f.client_order_id, f.side, f.price, f.size) == ("c-take", Side.BUY, Decimal("0.55"), Decimal(10))
    assert f.fee == Decimal("0.17325")  # 10 × 0.07 × 0.55 × 0.45
    (pos,) = await ex.positions()
    assert (pos.token_id, pos.size, pos.avg_price) == (YES, Decimal(10), Decimal("0.55"))
    bal = await ex.balance()
    assert bal.cash == Decimal(10_000) - Decimal("5.5") - Decimal("0.17325")
    # the venue's own ledger agrees
    assert lb.exchange.shares(address_of(TRADER_KEY), YES) == Decimal(10)
    # and the maker's side of the trade is the other account
    assert lb.exchange.shares("mm", YES) == Decimal(1_000 - 10)


async def test_fok_and_fak_go_through_market_order_path(lb, ex) -> None:
    lb.maker("mm", Side.SELL, "0.60", "8")
    fok = await ex.place_order(request("c-fok", Side.BUY, "0.60", "10", tif=TimeInForce.FOK))
    assert (fok.status, fok.reason) == (OrderStatus.REJECTED, ReasonCode.FOK_NOT_FILLABLE)
    fak = await ex.place_order(request("c-fak", Side.BUY, "0.60", "10", tif=TimeInForce.FAK))
    assert fak.status is OrderStatus.CANCELLED and fak.filled == Decimal(8)
    none_left = await ex.place_order(request("c-fak2", Side.BUY, "0.60", "10", tif=TimeInForce.FAK))
    assert (none_left.status, none_left.reason) == (OrderStatus.REJECTED, ReasonCode.FAK_NO_MATCH)


async def test_sell_market_order_respects_min_price(lb, ex) -> None:
    lb.maker("mm", Side.SELL, "0.52", "50")
    await ex.place_order(request("c-buy", Side.BUY, "0.52", "20"))
    lb.maker("mm2", Side.BUY, "0.48", "30")
    lb.maker("mm2", Side.BUY, "0.45", "30")
    ev = await ex.place_order(request("c-sell", Side.SELL, "0.47", "20", tif=TimeInForce.FAK))
    assert ev.status is OrderStatus.FILLED and ev.filled == Decimal(20)
    sells = [f for f in await ex.trades() if f.side is Side.SELL]
    assert {f.price for f in sells} == {Decimal("0.48")}  # never below the bound, at the maker's price


async def test_post_only_that_would_cross_is_rejected(lb, ex) -> None:
    lb.maker("mm", Side.SELL, "0.55", "20")
    ev = await ex.place_order(request("c-po", Side.BUY, "0.55", "10", post_only=True))
    assert (ev.status, ev.reason) == (OrderStatus.REJECTED, ReasonCode.POST_ONLY_WOULD_CROSS)
    ok = await ex.place_order(request("c-po2", Side.BUY, "0.54", "10", post_only=True))
    assert ok.status is OrderStatus.ACKNOWLEDGED


async def test_gtd_order_rests_with_its_expiry(lb, ex) -> None:
    expires = time.time_ns() + 600 * 1_000_000_000
    ev = await ex.place_order(request("c-gtd", Side.BUY, "0.30", "10", tif=TimeInForce.GTD, expires_ns=expires))
    assert ev.status is OrderStatus.ACKNOWLEDGED
    too_soon = await ex.place_order(
        request("c-gtd2", Side.BUY, "0.30", "10", tif=TimeInForce.GTD, expires_ns=time.time_ns() + 10**10)
    )
    assert (too_soon.status, too_soon.reason) == (OrderStatus.REJECTED, ReasonCode.INVALID_EXPIRATION)


async def test_venue_rejections_map_to_reason_codes(lb, ex) -> None:
    small = await ex.place_order(request("c-small", Side.BUY, "0.40", "2"))
    assert (small.status, small.reason) == (OrderStatus.REJECTED, ReasonCode.BELOW_MIN_SIZE)
    rich = await ex.place_order(request("c-rich", Side.BUY, "0.90", "50000"))
    assert (rich.status, rich.reason) == (OrderStatus.REJECTED, ReasonCode.INSUFFICIENT_BALANCE)
    fine = await ex.place_order(request("c-fine", Side.BUY, "0.40", "10.001"))
    assert (fine.status, fine.reason) == (OrderStatus.REJECTED, ReasonCode.INVALID_SIZE)
    naked = await ex.place_order(request("c-naked", Side.SELL, "0.40", "10"))
    assert (naked.status, naked.reason) == (OrderStatus.REJECTED, ReasonCode.INSUFFICIENT_BALANCE)
    assert lb.exchange.open_orders(address_of(TRADER_KEY)) == []


async def test_batch_posts_up_to_fifteen_and_maps_answers_in_order(lb, ex) -> None:
    reqs = [request(f"b-{i}", Side.BUY, f"0.{10 + i}", "5") for i in range(14)]
    reqs.append(request("b-bad", Side.BUY, "0.40", "1"))
    events = await ex.place_orders(reqs)
    assert [e.client_order_id for e in events] == [r.client_order_id for r in reqs]
    assert all(e.status is OrderStatus.ACKNOWLEDGED for e in events[:14])
    assert (events[14].status, events[14].reason) == (OrderStatus.REJECTED, ReasonCode.BELOW_MIN_SIZE)
    assert len(lb.exchange.open_orders(address_of(TRADER_KEY))) == 14
    with pytest.raises(ValueError, match="at most 15"):
        await ex.place_orders([request(f"x-{i}", Side.BUY, "0.2", "5") for i in range(16)])


async def test_open_orders_paginate_to_the_lte_cursor(lb, ex) -> None:
    lb.state.page_size = 2
    for i in range(5):
        await ex.place_order(request(f"p-{i}", Side.BUY, f"0.2{i}", "5"))
    opens = await ex.open_orders()
    assert sorted(o.client_order_id for o in opens) == [f"p-{i}" for i in range(5)]


async def test_cancel_all_and_cancel_market(lb, ex) -> None:
    for i in range(3):
        await ex.place_order(request(f"k-{i}", Side.BUY, f"0.3{i}", "5"))
    one = await ex.cancel_all(market=CONDITION)
    assert sorted(e.client_order_id for e in one) == ["k-0", "k-1", "k-2"]
    assert all(e.status is OrderStatus.CANCELLED for e in one)
    await ex.place_order(request("k-3", Side.BUY, "0.33", "5"))
    rest = await ex.cancel_all()
    assert [e.client_order_id for e in rest] == ["k-3"]
    assert await ex.open_orders() == []


async def test_tampered_order_signature_is_refused_and_nothing_is_placed(lb, ex) -> None:
    signed = await ex.sdk_client.create_limit_order(token_id=YES, price="0.40", size="10", side="BUY")
    sig = signed.signature
    flipped = sig[:10] + ("0" if sig[10] != "0" else "1") + sig[11:]
    from dataclasses import replace

    with pytest.raises(RequestRejectedError) as err:
        await ex.sdk_client.post_order(replace(signed, signature=flipped))
    assert err.value.status == 400 and "invalid signature" in str(err.value)
    # amounts changed after signing: the signature no longer covers the order
    with pytest.raises(RequestRejectedError, match="invalid signature"):
        await ex.sdk_client.post_order(replace(signed, maker_amount=signed.maker_amount + 1))
    assert lb.exchange.open_orders(address_of(TRADER_KEY)) == []
    # the untouched order goes through
    resp = await ex.sdk_client.post_order(signed)
    assert resp.ok


async def test_wrong_hmac_or_altered_body_is_unauthorized(lb, ex) -> None:
    creds = ex.api_credentials()
    api = ApiCredentials(key=creds.key, secret=creds.secret, passphrase=creds.passphrase)
    wrong = ApiCredentials(
        key=creds.key, secret=base64.urlsafe_b64encode(b"x" * 32).decode(), passphrase=creds.passphrase
    )
    now = int(time.time())
    async with httpx.AsyncClient(base_url=lb.base_url) as http:
        good = l2_headers(address=ex.wallet, api=api, timestamp=now, method="GET", path="/data/orders", body=None)
        assert (await http.get("/data/orders", headers=good)).status_code == 200
        bad = l2_headers(address=ex.wallet, api=wrong, timestamp=now, method="GET", path="/data/orders", body=None)
        r = await http.get("/data/orders", headers=bad)
        assert r.status_code == 401 and "error" in r.json()
        body = json.dumps({"orderID": "0x" + "00" * 32}, separators=(",", ":"))
        signed_for = l2_headers(address=ex.wallet, api=api, timestamp=now, method="DELETE", path="/order", body=body)
        r = await http.request("DELETE", "/order", headers=signed_for, content=body.replace("00", "11"))
        assert r.status_code == 401
        stale = l2_headers(
            address=ex.wallet, api=api, timestamp=now - 3600, method="GET", path="/data/orders", body=None
        )
        assert (await http.get("/data/orders", headers=stale)).status_code == 401


async def test_unknown_submit_outcome_is_resolved_by_hash_without_a_duplicate(lb, ex) -> None:
    lb.state.drop_next_order_responses = 1
    req = request("c-lost", Side.BUY, "0.41", "10")
    with pytest.raises(VenueUnavailable, match="order hash 0x"):
        await ex.place_order(req)
    held = lb.exchange.open_orders(address_of(TRADER_KEY))
    assert len(held) == 1  # the venue accepted it; only the answer was lost
    status = await ex.order_status("c-lost")
    assert status is not None
    assert (status.status, status.venue_order_id) == (OrderStatus.ACKNOWLEDGED, held[0].client_order_id)
    again = await ex.place_order(req)  # the trader retries: reported, not resent
    assert again.status is OrderStatus.ACKNOWLEDGED
    assert len(lb.exchange.open_orders(address_of(TRADER_KEY))) == 1
    assert lb.state.accepted_posts == 1


async def test_unknown_outcome_of_an_order_that_filled_is_found_in_trades(lb, ex) -> None:
    lb.maker("mm", Side.SELL, "0.55", "20")
    lb.state.drop_next_order_responses = 1
    with pytest.raises(VenueUnavailable):
        await ex.place_order(request("c-lost-fill", Side.BUY, "0.55", "10"))
    status = await ex.order_status("c-lost-fill")
    assert status is not None and (status.status, status.filled) == (OrderStatus.FILLED, Decimal(10))
    assert lb.state.accepted_posts == 1


async def test_order_never_seen_by_venue_reports_none(lb, ex) -> None:
    assert await ex.order_status("never-sent") is None


async def test_id_store_lets_a_restarted_client_find_its_orders(lb, tmp_path) -> None:
    first = await connect(lb, id_store=JsonlIdStore(tmp_path / "ids.jsonl"))
    await first.place_order(request("c-persist", Side.BUY, "0.33", "10"))
    await first.close()
    # a new process: fresh SDK client and execution, same wallet, same id file
    restarted = await connect(lb, id_store=JsonlIdStore(tmp_path / "ids.jsonl"))
    try:
        st = await restarted.order_status("c-persist")
        assert st is not None and st.status is OrderStatus.ACKNOWLEDGED
        again = await restarted.place_order(request("c-persist", Side.BUY, "0.33", "10"))
        assert again.status is OrderStatus.ACKNOWLEDGED
        assert len(lb.exchange.open_orders(address_of(TRADER_KEY))) == 1
    finally:
        await restarted.close()


async def test_revoked_api_key_raises_client_mismatch(lb, ex) -> None:
    lb.state.keys.clear()
    with pytest.raises(ClientMismatch):
        await ex.place_order(request("c-revoked", Side.BUY, "0.40", "10"))
    with pytest.raises(ClientMismatch):
        await ex.open_orders()


async def test_v1_shaped_order_is_refused_as_version_mismatch(lb, ex) -> None:
    creds = ex.api_credentials()
    api = ApiCredentials(key=creds.key, secret=creds.secret, passphrase=creds.passphrase)
    v1 = {
        "order": {
            "salt": 1,
            "maker": ex.wallet,
            "signer": ex.wallet,
            "taker": "0x" + "00" * 20,
            "tokenId": YES,
            "makerAmount": "4000000",
            "takerAmount": "10000000",
            "expiration": "0",
            "nonce": "0",
            "feeRateBps": "0",
            "side": "BUY",
            "signatureType": 0,
            "signature": "0x00",
        },
        "owner": creds.key,
        "orderType": "GTC",
    }
    body = json.dumps(v1, separators=(",", ":"))
    headers = l2_headers(
        address=ex.wallet, api=api, timestamp=int(time.time()), method="POST", path="/order", body=body
    )
    async with httpx.AsyncClient(base_url=lb.base_url) as http:
        r = await http.post("/order", headers={**headers, "Content-Type": "application/json"}, content=body)
    assert r.status_code == 400 and r.json() == {"error": "order_version_mismatch"}
    from venues.polymarket.execution import is_client_mismatch

    assert is_client_mismatch(400, r.json()["error"])


async def test_second_wallet_cannot_cancel_first_wallets_order(lb, ex) -> None:
    ev = await ex.place_order(request("c-mine", Side.BUY, "0.40", "10"))
    other = await connect(lb, OTHER_KEY)
    try:
        resp = await other.sdk_client.cancel_order(order_id=ev.venue_order_id)
        assert resp.canceled == () and ev.venue_order_id in resp.not_canceled
        assert len(lb.exchange.open_orders(address_of(TRADER_KEY))) == 1
    finally:
        await other.close()


async def test_an_order_lost_before_the_venue_is_reposted_with_the_same_hash(lb, ex) -> None:
    lb.state.drop_next_order_requests = 1
    req = request("c-unsent", Side.BUY, "0.42", "10")
    with pytest.raises(VenueUnavailable) as err:
        await ex.place_order(req)
    first_hash = ex.venue_order_id_for("c-unsent")
    assert first_hash is not None and first_hash in str(err.value)
    assert await ex.order_status("c-unsent") is None  # the venue never saw it
    again = await ex.place_order(req)  # the same signed order, not a new one
    assert (again.status, again.venue_order_id) == (OrderStatus.ACKNOWLEDGED, first_hash)
    held = lb.exchange.open_orders(address_of(TRADER_KEY))
    assert [o.client_order_id for o in held] == [first_hash]
    # posting that signed order a third time is refused by the venue as a duplicate
    rec = ex._by_coid["c-unsent"]
    assert rec.signed is not None
    with pytest.raises(RequestRejectedError, match="duplicate"):
        await ex.sdk_client.post_order(rec.signed)
    assert len(lb.exchange.open_orders(address_of(TRADER_KEY))) == 1


async def test_id_store_keeps_the_signed_order_for_an_idempotent_repost_after_restart(lb, tmp_path) -> None:
    lb.state.drop_next_order_requests = 1
    first = await connect(lb, id_store=JsonlIdStore(tmp_path / "ids.jsonl"))
    with pytest.raises(VenueUnavailable):
        await first.place_order(request("c-crash", Side.BUY, "0.43", "10"))
    h = first.venue_order_id_for("c-crash")
    await first.close()
    restarted = await connect(lb, id_store=JsonlIdStore(tmp_path / "ids.jsonl"))
    try:
        ev = await restarted.place_order(request("c-crash", Side.BUY, "0.43", "10"))
        assert (ev.status, ev.venue_order_id) == (OrderStatus.ACKNOWLEDGED, h)
        assert len(lb.exchange.open_orders(address_of(TRADER_KEY))) == 1
    finally:
        await restarted.close()


async def test_batch_cancel_and_cancel_by_asset_through_the_sdk(lb, ex) -> None:
    evs = [await ex.place_order(request(f"d-{i}", Side.BUY, f"0.2{i}", "5")) for i in range(3)]
    ids = [e.venue_order_id for e in evs]
    resp = await ex.sdk_client.cancel_orders(order_ids=[ids[0], ids[1], "0x" + "99" * 32])
    assert sorted(resp.canceled) == sorted(ids[:2])
    assert list(resp.not_canceled) == ["0x" + "99" * 32]
    resp = await ex.sdk_client.cancel_market_orders(asset_id=YES)
    assert list(resp.canceled) == [ids[2]]
    assert lb.exchange.open_orders(address_of(TRADER_KEY)) == []


async def test_trades_paginate_to_the_lte_cursor(lb, ex) -> None:
    lb.state.page_size = 1
    lb.maker("mm", Side.SELL, "0.55", "30")
    for i in range(3):
        await ex.place_order(request(f"t-{i}", Side.BUY, "0.55", "5"))
    fills = await ex.trades()
    assert [f.client_order_id for f in fills] == ["t-0", "t-1", "t-2"]
    later = await ex.trades(since_ns=fills[-1].time_ns)
    assert fills[-1].fill_id in {f.fill_id for f in later}


async def test_every_post_and_cancel_passes_the_client_side_rate_limiter(lb, ex) -> None:
    for i in range(3):
        await ex.place_order(request(f"r-{i}", Side.BUY, "0.2", "5"))
    await ex.place_orders([request(f"rb-{i}", Side.BUY, "0.2", "5") for i in range(4)])  # one request
    await ex.cancel_order("r-0")
    await ex.cancel_all()
    assert (ex.post_limiter.acquired, ex.cancel_limiter.acquired) == (4, 2)


async def test_per_order_locks_are_dropped_once_each_place_order_returns(lb, ex) -> None:
    import asyncio

    lb.maker("mm", Side.SELL, "0.55", "100")
    evs = await asyncio.gather(
        *(ex.place_order(request(f"c-lock-{i}", Side.BUY, "0.40", "5")) for i in range(6)),
        ex.place_order(request("c-lock-0", Side.BUY, "0.40", "5")),  # the same id twice, at once
    )
    assert all(e.status is not None for e in evs)
    assert len(ex._locks) == 0  # the map holds only orders being placed now, not every order ever


async def test_keyed_locks_serialise_one_key_and_forget_it_when_nobody_holds_it() -> None:
    import asyncio

    from venues.polymarket.execution import KeyedLocks

    locks = KeyedLocks()
    inside: list[str] = []
    order: list[str] = []

    async def use(key: str, tag: str) -> None:
        async with locks.hold(key):
            assert key not in inside, "two holders of one key at once"
            inside.append(key)
            await asyncio.sleep(0)
            order.append(tag)
            inside.remove(key)

    await asyncio.gather(use("a", "a1"), use("a", "a2"), use("b", "b1"), use("a", "a3"))
    assert [t for t in order if t.startswith("a")] == ["a1", "a2", "a3"]
    assert len(locks) == 0
    with contextlib.suppress(RuntimeError):
        async with locks.hold("c"):
            raise RuntimeError("the holder fails")
    assert len(locks) == 0


async def test_a_filled_order_the_order_endpoint_forgot_is_recovered_from_trades_not_guessed(lb, ex) -> None:
    lb.maker("mm", Side.SELL, "0.55", "6")
    lb.state.forget_finished_orders = True  # the live venue may forget orders that are no longer live
    filled = await ex.place_order(request("c-gone-filled", Side.BUY, "0.55", "6"))
    assert (filled.status, filled.filled) == (OrderStatus.FILLED, Decimal(6))
    part = await ex.place_order(request("c-gone-part", Side.BUY, "0.60", "12"))  # nothing left to take: rests
    assert part.status is OrderStatus.ACKNOWLEDGED
    lb.maker("mm", Side.SELL, "0.60", "6")  # 6 of its 12 fill, then it is cancelled
    await ex.cancel_order("c-gone-part")
    status = await ex.order_status("c-gone-filled")
    assert status is not None and (status.status, status.filled) == (OrderStatus.FILLED, Decimal(6))
    status = await ex.order_status("c-gone-part")
    assert status is not None and (status.status, status.filled) == (OrderStatus.CANCELLED, Decimal(6))


async def test_an_order_lookup_that_cannot_be_read_is_unknown_not_cancelled_with_nothing_filled(lb, ex) -> None:
    lb.maker("mm", Side.SELL, "0.55", "5")
    await ex.place_order(request("c-garbled", Side.BUY, "0.55", "5"))
    lb.state.garble_next_order_lookups = 1
    with pytest.raises(VenueUnavailable, match="unreadable record"):
        await ex.order_status("c-garbled")
    status = await ex.order_status("c-garbled")  # asked again later: the venue's readable answer
    assert status is not None and (status.status, status.filled) == (OrderStatus.FILLED, Decimal(5))
