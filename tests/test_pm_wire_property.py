"""Property: any frame the venue's documented schema allows, with any optional field removed and any
numeric string emptied, never crashes a decoder, and never costs a fill that still has its id,
price and size.

User channel: ``UserStreamDecoder.decode`` (what the live ``UserStream`` calls per frame) on
``trade`` frames with one to three maker orders (same-token and complementary, ours the taker or
one of the makers) and on ``order`` frames. Market channel: ``FrameDecoder`` then ``BookKeeper``
(what ``MarketWsConnection`` runs per frame) on ``book``, ``price_change`` and
``last_trade_price``, plus the REST book through ``WireBook.parse``/``book_to_snapshot`` (what
``PolymarketDataFeed.get_book`` runs). A frame whose required fields are intact must be accepted;
one whose required number was emptied must be refused and counted, never raised.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from protocols import BookDelta, BookSnapshot, Fill, MarketInfo, MarketResolved, OrderEvent, Side, TradePrint
from protocols.numbers import TIME_NS_MAX, TIME_NS_MIN
from venues.polymarket.schemas import (
    DataTrade,
    GammaMarket,
    WireBook,
    book_to_snapshot,
    market_to_info,
    trade_to_wallet_trade,
)
from venues.polymarket.user_ws import UserStreamDecoder
from venues.polymarket.websocket import BookKeeper, FrameDecoder, StreamStats, TokenMeta
from venues.polymarket.wire_account import epoch_ns

API_KEY = "00000000-0000-0000-0000-000000000001"
WALLET = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"
TOKEN = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
OTHER = "52114319501245915516055106046884209969926127482827954674443846427813813222426"
MARKET = "0xdd22472e552920b8438158ea7238bfadfa4f736aa4cee91a6b86c39ead110917"
NOW_NS = 1_790_000_000_000_000_000
TS_MS = str(NOW_NS // 1_000_000)
TRADE_ID = "trade-0xabc"
TAKER_ID = "0xtaker01"

prices = st.integers(1, 99).map(lambda c: Decimal(c) / 100)
sizes = st.integers(1, 100_000).map(lambda c: Decimal(c) / 100)


def _num(d: Decimal) -> str:
    return format(d.normalize(), "f")


# -- user channel: trades -------------------------------------------------------------------------

TRADE_OPTIONAL = ("type", "market", "fee_rate_bps", "status", "match_time", "last_update", "timestamp", "outcome",
                  "owner", "trade_owner", "maker_address", "bucket_index", "transaction_hash", "trader_side")
TRADE_NUMERIC = ("size", "price", "fee_rate_bps", "match_time", "last_update", "timestamp")
MAKER_OPTIONAL = ("owner", "maker_address", "fee_rate_bps", "asset_id", "side", "outcome", "outcome_index")
MAKER_NUMERIC = ("matched_amount", "price", "fee_rate_bps")


@st.composite
def trade_case(draw: st.DrawFn) -> tuple[dict[str, Any], int | None, dict[str, Any]]:
    """A documented trade frame; ``ours`` is None (we are the taker) or our maker order's index.
    ``truth`` holds what our fill must be."""
    side = draw(st.sampled_from(["BUY", "SELL"]))
    opposite = "SELL" if side == "BUY" else "BUY"
    price = draw(prices)
    n = draw(st.integers(1, 3))
    ours: int | None = draw(st.one_of(st.none(), st.integers(0, n - 1)))
    makers: list[dict[str, Any]] = []
    total = Decimal(0)
    truth: dict[str, Any] = {}
    for i in range(n):
        amount = draw(sizes)
        total += amount
        complement = draw(st.booleans())  # a mint/merge match: the maker is on the other token
        m_price = 1 - price if complement else price
        m_side = side if complement else opposite
        m_token = OTHER if complement else TOKEN
        mine = ours == i
        makers.append({
            "order_id": f"0xmaker{i:02d}", "owner": API_KEY if mine else f"owner-{i}",
            "maker_address": WALLET if mine else f"0x{i + 1:040x}", "matched_amount": _num(amount),
            "price": _num(m_price), "fee_rate_bps": "0", "asset_id": m_token, "side": m_side,
            "outcome": "No" if complement else "Yes", "outcome_index": 1 if complement else 0,
        })
        if mine:
            truth = {"fill_id": f"{TRADE_ID}:0xmaker{i:02d}", "price": m_price, "size": amount, "side": m_side,
                     "token": m_token, "complement": complement}
    if ours is None:
        truth = {"fill_id": f"{TRADE_ID}:{TAKER_ID}", "price": price, "size": total, "side": side, "token": TOKEN,
                 "complement": False}
    seconds = NOW_NS // 1_000_000_000
    frame: dict[str, Any] = {
        "event_type": "trade", "type": "TRADE", "id": TRADE_ID, "taker_order_id": TAKER_ID, "market": MARKET,
        "asset_id": TOKEN, "side": side, "size": _num(total), "price": _num(price),
        "fee_rate_bps": draw(st.sampled_from(["0", "1000"])),
        "status": draw(st.sampled_from(["MATCHED", "MINED", "CONFIRMED", "RETRYING", "FAILED"])),
        "match_time": str(seconds), "last_update": str(seconds + 1), "timestamp": TS_MS, "outcome": "Yes",
        "owner": API_KEY if ours is None else "owner-taker", "trade_owner": API_KEY if ours is None else "owner-taker",
        "maker_address": WALLET if ours is None else "0x" + "9" * 40, "bucket_index": 0,
        "transaction_hash": "0x" + "ab" * 32, "trader_side": "TAKER" if ours is None else "MAKER",
        "maker_orders": makers,
    }
    return frame, ours, truth


def _decoder(ours: int | None) -> UserStreamDecoder:
    mine = TAKER_ID if ours is None else f"0xmaker{ours:02d}"
    return UserStreamDecoder(account="pm", wallet=WALLET, api_key=API_KEY, resolve={mine: "coid-ours"}.get,
                             clock_ns=lambda: NOW_NS)


@settings(max_examples=400, deadline=None)
@given(case=trade_case(), data=st.data())
def test_user_trade_with_optional_fields_removed_and_numbers_emptied_never_crashes_nor_drops_our_complete_fill(
    case: tuple[dict[str, Any], int | None, dict[str, Any]], data: st.DataObject
) -> None:
    frame, ours, truth = case
    removed = data.draw(st.sets(st.sampled_from(TRADE_OPTIONAL)), "removed")
    emptied = data.draw(st.sets(st.sampled_from(TRADE_NUMERIC)), "emptied")
    for k in removed:
        frame.pop(k, None)
    for k in emptied:
        if k in frame:
            frame[k] = ""
    maker_changes = []
    for mo in frame["maker_orders"]:
        m_removed = data.draw(st.sets(st.sampled_from(MAKER_OPTIONAL)), "maker removed")
        m_emptied = data.draw(st.sets(st.sampled_from(MAKER_NUMERIC)), "maker emptied")
        for k in m_removed:
            mo.pop(k, None)
        for k in m_emptied:
            mo[k] = ""
        maker_changes.append((m_removed, m_emptied))
    d = _decoder(ours)
    out = d.decode(json.dumps(frame))  # never raises
    assert d.rejected == {}, d.rejected  # every required field is there: the frame is a value
    got = [p for p in out if isinstance(p, Fill) and p.client_order_id == "coid-ours"]
    if ours is None:
        complete = not {"price", "size"} & emptied
        asset_known = True
        side_known = True
    else:
        m_removed, m_emptied = maker_changes[ours]
        complete = not {"price", "matched_amount"} & m_emptied
        asset_known = "asset_id" not in m_removed
        side_known = "side" not in m_removed or asset_known or not truth["complement"]
    if not complete:
        assert got == []
        return
    assert len(got) == 1, (removed, emptied, maker_changes)
    (fill,) = got
    assert (fill.fill_id, fill.price, fill.size) == (truth["fill_id"], truth["price"], truth["size"])
    if side_known:
        assert fill.side is Side(truth["side"])
    if asset_known:
        assert fill.token_id == truth["token"]


# -- user channel: orders -------------------------------------------------------------------------

ORDER_OPTIONAL = ("market", "original_size", "size_matched", "order_type", "status", "type", "outcome", "owner",
                  "order_owner", "maker_address", "associate_trades", "created_at", "timestamp", "expiration")
ORDER_NUMERIC = ("original_size", "size_matched", "price", "created_at", "timestamp", "expiration")


@settings(max_examples=300, deadline=None)
@given(
    side=st.sampled_from(["BUY", "SELL"]),
    order_type=st.sampled_from(["GTC", "GTD", "FOK", "FAK"]),
    kind=st.sampled_from(["PLACEMENT", "UPDATE", "CANCELLATION"]),
    price=prices,
    size=sizes,
    matched_share=st.integers(0, 100),
    removed=st.sets(st.sampled_from(ORDER_OPTIONAL)),
    emptied=st.sets(st.sampled_from(ORDER_NUMERIC)),
    nulled=st.sets(st.sampled_from(("associate_trades", "expiration", "created_at"))),
)
def test_user_order_with_optional_fields_removed_and_numbers_emptied_never_crashes_and_keeps_its_identity(
    side: str, order_type: str, kind: str, price: Decimal, size: Decimal, matched_share: int,
    removed: set[str], emptied: set[str], nulled: set[str],
) -> None:
    matched = (size * matched_share / 100).quantize(Decimal("0.01"))
    marketable_buy = side == "BUY" and order_type in ("FOK", "FAK")
    original = size * price if marketable_buy else size  # the venue's pUSD amount for a marketable BUY
    frame: dict[str, Any] = {
        "event_type": "order", "type": kind, "id": "0xorder01", "owner": API_KEY, "order_owner": API_KEY,
        "market": MARKET, "asset_id": TOKEN, "side": side, "original_size": _num(original),
        "size_matched": _num(matched), "price": _num(price), "outcome": "Yes", "order_type": order_type,
        "status": "CANCELED" if kind == "CANCELLATION" else ("MATCHED" if matched == size else "LIVE"),
        "associate_trades": ["trade-1"] if matched else [], "created_at": TS_MS, "timestamp": TS_MS,
        "expiration": "0", "maker_address": WALLET,
    }
    for k in nulled:
        frame[k] = None
    for k in removed:
        frame.pop(k, None)
    for k in emptied:
        if k in frame:
            frame[k] = ""
    d = UserStreamDecoder(account="pm", wallet=WALLET, api_key=API_KEY, resolve={"0xorder01": "coid"}.get,
                          clock_ns=lambda: NOW_NS)
    out = d.decode(json.dumps(frame))  # never raises
    if "price" in emptied:
        assert out == [] and sum(d.rejected.values()) == 1  # no price: refused, and counted
        return
    assert d.rejected == {}, d.rejected
    (ev,) = out
    assert isinstance(ev, OrderEvent)
    assert (ev.client_order_id, ev.venue_order_id, ev.token_id, ev.side, ev.price) == (
        "coid", "0xorder01", TOKEN, Side(side), price
    )
    size_known = "original_size" not in removed | emptied and ("order_type" not in removed or not marketable_buy)
    if size_known:
        assert ev.size == size  # shares, also for a marketable BUY sent in pUSD
    if "size_matched" not in removed | emptied and size_known:
        assert ev.filled == matched
    assert ev.filled <= ev.size or not size_known


# -- market channel -------------------------------------------------------------------------------


def _keeper() -> tuple[BookKeeper, FrameDecoder, StreamStats, list[Any]]:
    stats = StreamStats()
    got: list[Any] = []
    keeper = BookKeeper(stats, sink=got.append, clock=lambda: NOW_NS)
    keeper.track(TOKEN, TokenMeta(market=MARKET))
    return keeper, FrameDecoder(stats), stats, got


def _levels(draw: st.DrawFn, lo: int, hi: int) -> list[dict[str, str]]:
    cents = sorted(draw(st.sets(st.integers(lo, hi), max_size=4)))
    return [{"price": _num(Decimal(c) / 100), "size": _num(draw(sizes))} for c in cents]


@st.composite
def book_frame(draw: st.DrawFn) -> dict[str, Any]:
    return {"event_type": "book", "market": MARKET, "asset_id": TOKEN, "timestamp": TS_MS, "hash": "0x" + "1" * 40,
            "bids": _levels(draw, 1, 49), "asks": list(reversed(_levels(draw, 51, 99)))}


@settings(max_examples=200, deadline=None)
@given(
    frame=book_frame(),
    drop_hash=st.sampled_from(["keep", "remove", "null"]),
    emptied=st.sets(st.sampled_from(("timestamp", "level"))),
    null_side=st.sampled_from([None, "bids", "asks"]),
)
def test_market_book_with_hash_removed_or_numbers_emptied_never_crashes_and_is_taken_when_complete(
    frame: dict[str, Any], drop_hash: str, emptied: set[str], null_side: str | None
) -> None:
    keeper, decoder, stats, got = _keeper()
    if drop_hash == "remove":
        del frame["hash"]
    elif drop_hash == "null":
        frame["hash"] = None
    if null_side is not None:
        frame[null_side] = None  # a side with no levels, sent as null: an empty side
    if "timestamp" in emptied:
        frame["timestamp"] = ""
    broke_level = "level" in emptied and bool(frame["bids"])
    if broke_level:
        frame["bids"][0]["size"] = ""
    for ev in decoder.decode(json.dumps(frame)):
        keeper.handle(ev)  # never raises
    if "timestamp" in emptied or broke_level:
        assert got == [] and stats.rejected_total == 1  # a required number emptied: refused, counted
        return
    assert stats.rejected_total == 0, stats.rejected
    (snap,) = got
    assert isinstance(snap, BookSnapshot)
    assert len(snap.bids) == len(frame["bids"] or []) and len(snap.asks) == len(frame["asks"] or [])
    assert stats.missing["book.hash"] == (0 if drop_hash == "keep" else 1)  # counted, not fatal


@settings(max_examples=200, deadline=None)
@given(
    frame=book_frame(),
    removed=st.sets(st.sampled_from(("hash", "min_order_size", "tick_size", "neg_risk", "last_trade_price"))),
    emptied=st.sets(st.sampled_from(("min_order_size", "tick_size", "last_trade_price"))),
)
def test_rest_book_with_optional_fields_removed_or_emptied_reads_as_a_snapshot(
    frame: dict[str, Any], removed: set[str], emptied: set[str]
) -> None:
    del frame["event_type"]
    frame.update({"min_order_size": "5", "tick_size": "0.01", "neg_risk": False, "last_trade_price": "0.5"})
    for k in removed:
        frame.pop(k, None)
    for k in emptied:
        if k in frame:
            frame[k] = ""
    snap = book_to_snapshot(WireBook.parse(frame))
    assert snap.token_id == TOKEN and len(snap.bids) == len(frame["bids"])
    last_known = "last_trade_price" not in removed | emptied
    assert snap.last_trade_price == (Decimal("0.5") if last_known else None)
    assert snap.tick_size == Decimal("0.01") and snap.min_order_size == Decimal(5)  # the defaults are the market's


@settings(max_examples=200, deadline=None)
@given(
    side=st.sampled_from(["BUY", "SELL"]),
    cents=st.integers(1, 49),
    size=sizes,
    removed=st.sets(st.sampled_from(("hash", "best_bid", "best_ask"))),
    emptied=st.sets(st.sampled_from(("best_bid", "best_ask", "price", "size", "timestamp"))),
    nulled=st.sets(st.sampled_from(("hash", "best_bid", "best_ask"))),
)
def test_market_price_change_with_optional_fields_removed_or_emptied_never_crashes_and_applies_when_complete(
    side: str, cents: int, size: Decimal, removed: set[str], emptied: set[str], nulled: set[str]
) -> None:
    keeper, decoder, stats, got = _keeper()
    book = {"event_type": "book", "market": MARKET, "asset_id": TOKEN, "timestamp": TS_MS, "hash": "h0",
            "bids": [{"price": "0.01", "size": "1"}], "asks": [{"price": "0.99", "size": "1"}]}
    for ev in decoder.decode(json.dumps(book)):
        keeper.handle(ev)
    price = Decimal(cents) / 100 if side == "BUY" else 1 - Decimal(cents) / 100
    best_bid = max(price, Decimal("0.01")) if side == "BUY" else Decimal("0.01")
    best_ask = min(price, Decimal("0.99")) if side == "SELL" else Decimal("0.99")
    item: dict[str, Any] = {"asset_id": TOKEN, "price": _num(price), "size": _num(size), "side": side,
                            "hash": "h1", "best_bid": _num(best_bid), "best_ask": _num(best_ask)}
    frame: dict[str, Any] = {"event_type": "price_change", "market": MARKET, "timestamp": str(int(TS_MS) + 1),
                             "price_changes": [item]}
    for k in removed:
        item.pop(k, None)
    for k in emptied:
        if k == "timestamp":
            frame["timestamp"] = ""
        elif k in item:
            item[k] = ""
    for k in nulled:
        if k in item and k not in emptied:
            item[k] = None
    before = stats.rejected_total
    for ev in decoder.decode(json.dumps(frame)):
        keeper.handle(ev)  # never raises
    if {"price", "size", "timestamp"} & emptied:
        assert stats.rejected_total == before + 1  # a required number emptied: refused, counted
        return
    assert stats.rejected_total == before, stats.rejected
    deltas = [p for p in got if isinstance(p, BookDelta)]
    assert len(deltas) == 1
    for k in ("hash", "best_bid", "best_ask"):  # each optional field without a value is counted once
        assert stats.missing[f"price_change.{k}"] == (1 if k in removed | emptied | nulled else 0), k
    assert keeper.book(TOKEN) is not None  # applied, and no resync: the book is still live


@settings(max_examples=200, deadline=None)
@given(
    side=st.sampled_from(["BUY", "SELL"]),
    price=prices,
    size=sizes,
    removed=st.sets(st.sampled_from(("fee_rate_bps",))),
    emptied=st.sets(st.sampled_from(("fee_rate_bps", "price", "size", "timestamp"))),
)
def test_market_last_trade_price_with_optional_fields_removed_or_emptied_is_a_print_when_complete(
    side: str, price: Decimal, size: Decimal, removed: set[str], emptied: set[str]
) -> None:
    keeper, decoder, stats, got = _keeper()
    frame: dict[str, Any] = {"event_type": "last_trade_price", "asset_id": TOKEN, "market": MARKET,
                             "price": _num(price), "size": _num(size), "side": side, "fee_rate_bps": "1000",
                             "timestamp": TS_MS}
    for k in removed:
        frame.pop(k, None)
    for k in emptied:
        if k in frame:
            frame[k] = ""
    for ev in decoder.decode(json.dumps(frame)):
        keeper.handle(ev)  # never raises
    if {"price", "size", "timestamp"} & emptied:
        assert got == [] and stats.rejected_total == 1
        return
    assert stats.rejected_total == 0, stats.rejected
    (tp,) = got
    assert isinstance(tp, TradePrint)
    assert stats.missing["last_trade_price.fee_rate_bps"] == (1 if "fee_rate_bps" in removed | emptied else 0)
    assert (tp.price, tp.size, tp.side) == (price, size, Side(side))
    assert tp.fee_rate_bps == (1000 if not {"fee_rate_bps"} & (removed | emptied) else 0)


# -- REST: Gamma markets and Data API rows -----------------------------------------------------------

GAMMA_OPTIONAL = ("question", "slug", "endDate", "category", "outcomes", "outcomePrices", "active", "closed",
                  "acceptingOrders", "enableOrderBook", "orderPriceMinTickSize", "orderMinSize", "negRisk",
                  "negRiskMarketID", "feesEnabled", "feeType", "feeSchedule", "volumeNum", "liquidityNum",
                  "bestBid", "bestAsk", "events")


def _gamma_row(tick: str, rate: float) -> dict[str, Any]:
    return {
        "id": "253591", "question": "Will it rain?", "conditionId": MARKET, "slug": "will-it-rain",
        "endDate": "2026-12-31T12:00:00Z", "category": "Weather", "outcomes": '["Yes", "No"]',
        "outcomePrices": '["0.52", "0.48"]', "clobTokenIds": json.dumps([TOKEN, OTHER]), "active": True,
        "closed": False, "acceptingOrders": True, "enableOrderBook": True, "orderPriceMinTickSize": float(tick),
        "orderMinSize": 5, "negRisk": False, "negRiskMarketID": "0x" + "ee" * 32, "feesEnabled": True,
        "feeType": "crypto_fees",
        "feeSchedule": {"exponent": 1, "rate": rate, "takerOnly": True, "rebateRate": 0.2},
        "volumeNum": 1234.5, "liquidityNum": 99.5, "bestBid": 0.51, "bestAsk": 0.53,
        "events": [{"id": "9001", "negRisk": False, "enableNegRisk": False, "negRiskAugmented": False}],
    }


@settings(max_examples=200, deadline=None)
@given(
    tick=st.sampled_from(["0.01", "0.001"]),
    rate=st.sampled_from([0.07, 0.03, 0.0]),
    removed=st.sets(st.sampled_from(GAMMA_OPTIONAL)),
    blanked=st.dictionaries(st.sampled_from(GAMMA_OPTIONAL), st.sampled_from(["", None, "  "])),
)
def test_gamma_market_with_optional_fields_removed_or_empty_or_null_is_still_a_tradeable_market(
    tick: str, rate: float, removed: set[str], blanked: dict[str, str | None]
) -> None:
    """What discovery runs per Gamma row (``GammaMarket`` then ``market_to_info``): a row keeps its
    identity, tokens and every field it still states; an empty or null field is counted, not fatal."""
    row = _gamma_row(tick, rate)
    for k in removed:
        row.pop(k)
    row.update(blanked)
    m = GammaMarket.model_validate(row)
    info = market_to_info(m, now_ns=NOW_NS, default_fee_rate=Decimal("0.04"))
    assert (info.market, info.token_ids) == (MARKET, (TOKEN, OTHER))
    assert set(m.blank_fields) == set(blanked)
    stated = {k for k in GAMMA_OPTIONAL if k not in removed and k not in blanked}
    assert info.tick_size == (Decimal(tick) if "orderPriceMinTickSize" in stated else Decimal("0.01"))
    assert info.question == ("Will it rain?" if "question" in stated else "")
    if {"feesEnabled", "feeSchedule"} <= stated:
        assert (info.fees.rate, info.fees.rebate_rate) == (Decimal(str(rate)), Decimal("0.2"))
    if "feesEnabled" not in stated and "feeSchedule" not in stated:
        assert not info.fees.charges  # nothing said about fees: none (as a row without fee fields)
    assert "blank_fields" not in m.model_dump()


DATA_TRADE_OPTIONAL = ("outcome", "outcomeIndex", "transactionHash", "name", "pseudonym", "title", "slug")


@settings(max_examples=100, deadline=None)
@given(
    price=prices,
    size=sizes,
    removed=st.sets(st.sampled_from(DATA_TRADE_OPTIONAL)),
    blanked=st.dictionaries(st.sampled_from(DATA_TRADE_OPTIONAL), st.sampled_from(["", None])),
)
def test_data_api_trade_with_optional_fields_removed_or_empty_keeps_its_wallet_price_and_size(
    price: Decimal, size: Decimal, removed: set[str], blanked: dict[str, str | None]
) -> None:
    row: dict[str, Any] = {
        "proxyWallet": WALLET, "side": "BUY", "asset": TOKEN, "conditionId": MARKET, "size": float(size),
        "price": float(price), "timestamp": NOW_NS // 1_000_000_000, "outcome": "Yes", "outcomeIndex": 0,
        "transactionHash": "0x" + "ab" * 32, "name": "whale", "pseudonym": "Big-Whale", "title": "Rain?",
        "slug": "rain",
    }
    for k in removed:
        row.pop(k)
    row.update(blanked)
    t = DataTrade.model_validate(row)
    w = trade_to_wallet_trade(t)
    assert (w.wallet.lower(), w.token_id, w.price, w.size) == (WALLET, TOKEN, price, size)
    assert set(t.blank_fields) == set(blanked)


# -- units: epoch times in s, ms, µs or ns, as integers, digit strings, decimals or ISO text ---------

@settings(max_examples=300, deadline=None)
@given(ns=st.integers(TIME_NS_MIN, TIME_NS_MAX - 1))
def test_epoch_time_in_any_unit_the_venue_uses_reads_as_exact_nanoseconds_without_a_float_round_trip(
    ns: int,
) -> None:
    """``timestamp`` (ms), ``created_at`` (s on REST, ms in some user frames), ``match_time`` (s or
    ISO text): each read to the nanosecond it states — a float would lose the last digits of a
    nanosecond time (2^53 < 10^18), so none may be used on the way."""
    for per in (1_000_000_000, 1_000_000, 1_000, 1):
        whole = ns // per
        assert epoch_ns(whole) == whole * per
        assert epoch_ns(str(whole)) == whole * per
    seconds, frac = divmod(ns, 1_000_000_000)
    assert epoch_ns(f"{seconds}.{frac:09d}") == ns  # decimal seconds, to the nanosecond
    micros = ns // 1_000
    iso = datetime.fromtimestamp(micros // 1_000_000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    assert epoch_ns(f"{iso}.{micros % 1_000_000:06d}Z") == micros * 1_000  # ISO text, to the µs
    for blank in ("", "  ", None, "0", 0):
        assert epoch_ns(blank) is None  # no value: the caller uses its clock


def test_market_new_market_and_resolution_with_null_optional_fields_are_delivered() -> None:
    keeper, decoder, stats, got = _keeper()
    frames = [
        {"event_type": "new_market", "id": None, "market": MARKET, "question": None, "slug": None,
         "assets_ids": [TOKEN, OTHER], "outcomes": ["Yes", "No"], "order_price_min_tick_size": None,
         "timestamp": TS_MS},
        {"event_type": "market_resolved", "id": None, "market": MARKET, "assets_ids": None,
         "winning_asset_id": TOKEN, "timestamp": TS_MS},
    ]
    for f in frames:
        for ev in decoder.decode(json.dumps(f)):
            keeper.handle(ev)
    assert stats.rejected_total == 0, stats.rejected
    info, resolved = got
    assert isinstance(info, MarketInfo) and info.token_ids == (TOKEN, OTHER) and info.question == ""
    assert isinstance(resolved, MarketResolved) and resolved.winning_token_id == TOKEN
