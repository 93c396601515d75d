"""Wire decoding: Gamma's JSON-encoded strings, books best-last → best-first, ms → ns, flags."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from protocols import BookSnapshot
from venues.polymarket.loopback import wire
from venues.polymarket.schemas import (
    DataTrade,
    GammaEvent,
    GammaMarket,
    WireBook,
    book_to_snapshot,
    market_to_info,
    trade_to_wallet_trade,
)

NOW = 1_790_000_000_000_000_000

GAMMA_ROW = {
    "id": "253591",
    "question": "Will BTC be above $120k on Friday?",
    "conditionId": "0x" + "ab" * 32,
    "slug": "btc-120k-friday",
    "endDate": "2026-12-31T12:00:00Z",
    "category": "Crypto",
    "outcomes": '["Yes", "No"]',
    "outcomePrices": '["0.515", "0.485"]',
    "clobTokenIds": '["111", "222"]',
    "active": True,
    "closed": False,
    "acceptingOrders": True,
    "enableOrderBook": True,
    "orderPriceMinTickSize": 0.001,
    "orderMinSize": 5,
    "negRisk": False,
    "feesEnabled": True,
    "feeType": "crypto_fees",
    "feeSchedule": {"exponent": 1, "rate": 0.07, "takerOnly": True, "rebateRate": 0},
    "volumeNum": 1234.5,
}


def test_gamma_market_with_json_encoded_strings_decodes_to_market_info() -> None:
    m = GammaMarket.model_validate(GAMMA_ROW)
    assert m.outcomes == ["Yes", "No"]
    assert m.outcomePrices == [Decimal("0.515"), Decimal("0.485")]
    assert m.clobTokenIds == ["111", "222"]
    info = market_to_info(m, now_ns=NOW)
    assert info.token_ids == ("111", "222")
    assert info.yes_token == "111"  # index 0 of clobTokenIds is outcomes[0]
    assert info.tick_size == Decimal("0.001")
    assert info.min_order_size == Decimal(5)
    assert info.fees_enabled and info.fee_rate == Decimal("0.07")
    assert info.end_ns == 1_798_718_400 * 1_000_000_000
    assert not info.neg_risk and not info.neg_risk_augmented


def test_gamma_market_in_augmented_neg_risk_event_carries_both_flags() -> None:
    ev = GammaEvent.model_validate(
        {"id": "9001", "negRisk": True, "enableNegRisk": True, "negRiskAugmented": True, "markets": [GAMMA_ROW]}
    )
    m = GammaMarket.model_validate({**GAMMA_ROW, "feesEnabled": False})
    info = market_to_info(m, now_ns=NOW, event=ev)
    assert info.neg_risk and info.neg_risk_augmented
    assert info.event_id == "9001"
    assert info.fee_rate == 0  # fees disabled → no fee whatever the category


def test_gamma_market_without_two_tokens_is_refused_with_reason() -> None:
    m = GammaMarket.model_validate({**GAMMA_ROW, "clobTokenIds": '["111"]'})
    with pytest.raises(ValueError, match="2 outcome tokens"):
        market_to_info(m, now_ns=NOW)


def test_gamma_market_with_unknown_tick_is_refused() -> None:
    m = GammaMarket.model_validate({**GAMMA_ROW, "orderPriceMinTickSize": 0.05})
    with pytest.raises(ValidationError, match="tick"):
        market_to_info(m, now_ns=NOW)


def test_gamma_market_with_broken_json_string_is_refused() -> None:
    with pytest.raises(ValidationError, match="JSON-encoded"):
        GammaMarket.model_validate({**GAMMA_ROW, "clobTokenIds": '["111", '})


REST_BOOK = {
    "market": "0x" + "ab" * 32,
    "asset_id": "111",
    "timestamp": "1790000000123",
    "hash": "0xdeadbeef",
    "bids": [{"price": ".47", "size": "10"}, {"price": "0.48", "size": "30"}],  # best last
    "asks": [{"price": "0.53", "size": "7.5"}, {"price": "0.52", "size": "20"}],  # best last
    "min_order_size": "5",
    "tick_size": "0.01",
    "neg_risk": False,
    "last_trade_price": "0.50",
}


def test_rest_book_best_last_becomes_best_first_with_ms_to_ns() -> None:
    snap = book_to_snapshot(WireBook.parse(REST_BOOK))
    assert snap.bids == ((Decimal("0.48"), Decimal(30)), (Decimal("0.47"), Decimal(10)))
    assert snap.asks == ((Decimal("0.52"), Decimal(20)), (Decimal("0.53"), Decimal("7.5")))
    assert snap.time_ns == 1_790_000_000_123_000_000
    assert snap.tick_size == Decimal("0.01") and snap.min_order_size == 5
    assert snap.last_trade_price == Decimal("0.5")
    assert snap.hash == "0xdeadbeef"


def test_legacy_buys_sells_names_are_accepted() -> None:
    raw = {k: v for k, v in REST_BOOK.items() if k not in ("bids", "asks")}
    raw["buys"], raw["sells"] = REST_BOOK["bids"], REST_BOOK["asks"]
    assert book_to_snapshot(WireBook.parse(raw)).bids[0] == (Decimal("0.48"), Decimal(30))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("timestamp", "1790000000"),  # seconds, not milliseconds
        ("timestamp", 1.79e12),  # a float
        ("timestamp", True),
        ("bids", [{"price": "abc", "size": "1"}]),
        ("bids", [{"price": "NaN", "size": "1"}]),
        ("asks", "0.5"),
        ("asset_id", 123),
    ],
)
def test_malformed_book_field_is_refused(field: str, value: object) -> None:
    with pytest.raises((ValidationError, ValueError)):
        book_to_snapshot(WireBook.parse({**REST_BOOK, field: value}))


def test_book_level_off_tick_is_refused() -> None:
    raw = {**REST_BOOK, "bids": [{"price": "0.485", "size": "1"}]}
    with pytest.raises(ValidationError, match="tick"):
        book_to_snapshot(WireBook.parse(raw))


def test_data_api_trade_seconds_become_ns_and_price_size_are_exact() -> None:
    t = DataTrade.model_validate(
        {
            "proxyWallet": "0xabc", "side": "BUY", "asset": "111", "conditionId": "0x" + "ab" * 32,
            "size": 20000.5, "price": 0.61, "timestamp": 1_790_000_000, "transactionHash": "0xtx",
        }
    )
    w = trade_to_wallet_trade(t)
    assert w.time_ns == 1_790_000_000 * 1_000_000_000
    assert w.price * w.size == Decimal("20000.5") * Decimal("0.61")
    assert w.trade_id == "0xtx:111:BUY:20000.5" and w.wallet == "0xabc"
    assert t.dedupe_key == ("0xtx", "111", "BUY", "20000.5")


@pytest.mark.parametrize("blank", ["", None])
def test_data_api_trades_with_a_blank_hash_and_one_size_stay_two_trades(blank: object) -> None:
    """A blank or null ``transactionHash`` is a value: two such fills of the same size (another
    second, another price) must keep apart keys, or the poller's dedupe merges them into one."""
    base = {"proxyWallet": "0xabc", "side": "BUY", "asset": "111", "conditionId": "0x" + "ab" * 32,
            "size": 100, "transactionHash": blank}
    a = DataTrade.model_validate({**base, "price": 0.61, "timestamp": 1_790_000_000})
    b = DataTrade.model_validate({**base, "price": 0.62, "timestamp": 1_790_000_001})
    assert a.dedupe_key != b.dedupe_key
    assert trade_to_wallet_trade(a).trade_id != trade_to_wallet_trade(b).trade_id


def test_data_api_trade_in_milliseconds_is_refused() -> None:
    with pytest.raises(ValidationError, match="seconds"):
        DataTrade.model_validate(
            {"proxyWallet": "0xabc", "side": "BUY", "asset": "1", "conditionId": "c", "size": 1, "price": 0.5,
             "timestamp": 1_790_000_000_000}
        )


def test_gamma_row_round_trips_through_json_text() -> None:
    # the decoder must accept exactly what json.loads gives for a real response body
    m = GammaMarket.model_validate(json.loads(json.dumps(GAMMA_ROW)))
    assert m.conditionId == GAMMA_ROW["conditionId"]


# -- round trip: the loopback's encoder and the client's decoder agree on every book -------------


@st.composite
def books(draw: st.DrawFn) -> BookSnapshot:
    tick = draw(st.sampled_from([Decimal("0.1"), Decimal("0.01"), Decimal("0.001"), Decimal("0.0001")]))
    n = int(1 / tick) - 1
    ticks = draw(st.lists(st.integers(1, n), min_size=0, max_size=20, unique=True))
    cut = draw(st.integers(0, n))
    sizes = st.decimals(min_value=Decimal("0.01"), max_value=Decimal(10**6), places=2)
    bids = sorted((i for i in ticks if i <= cut), reverse=True)
    asks = sorted(i for i in ticks if i > cut)
    return BookSnapshot(
        time_ns=draw(st.integers(1_700_000_000_000, 1_900_000_000_000)) * 1_000_000,
        token_id="1", market="0xm",
        bids=tuple((i * tick, draw(sizes)) for i in bids),
        asks=tuple((i * tick, draw(sizes)) for i in asks),
        tick_size=tick, min_order_size=Decimal(5), hash="h",
    )


@settings(max_examples=150, deadline=None)
@given(snap=books())
def test_any_book_survives_the_wire_best_last_and_back(snap: BookSnapshot) -> None:
    body = json.loads(json.dumps(wire.book_json(snap)))
    assert [lv["price"] for lv in body["bids"]] == [wire.num(p) for p, _ in reversed(snap.bids)]
    back = book_to_snapshot(WireBook.parse(body))
    assert (back.bids, back.asks, back.tick_size, back.time_ns) == (snap.bids, snap.asks, snap.tick_size, snap.time_ns)


# -- the shape the live venue sends for a thin book: empty ask side, ``last_trade_price: ""`` ------
THIN_BOOK = {
    "market": "0x9d83aa01",
    "asset_id": "7261053235534362519929985321816170054639339032678597124754594533",
    "timestamp": "1785734468581",
    "hash": "d7df883ae5",
    "bids": [{"price": "0.001", "size": "667.12"}, {"price": "0.002", "size": "6.99"}],
    "asks": [],
    "min_order_size": "5",
    "tick_size": "0.001",
    "neg_risk": True,
    "last_trade_price": "",
}


def test_rest_book_with_empty_last_trade_price_and_no_asks_parses_best_first() -> None:
    wire = WireBook.parse(THIN_BOOK)
    assert wire.last_trade_price is None
    snap = book_to_snapshot(wire)
    assert snap.bids[0] == (Decimal("0.002"), Decimal("6.99"))
    assert snap.asks == ()


@pytest.mark.parametrize("field", ["last_trade_price", "min_order_size", "tick_size"])
def test_rest_book_optional_number_null_or_empty_is_no_value_but_garbage_is_refused(field: str) -> None:
    for empty in ("", "  ", None):
        WireBook.parse({**THIN_BOOK, field: empty})  # a value, not a malformed frame
    with pytest.raises((ValidationError, ValueError)):
        WireBook.parse({**THIN_BOOK, field: "abc"})
