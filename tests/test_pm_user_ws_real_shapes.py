"""The user channel decoder on the shapes the live venue really sends (not the SDK's schema).

Fixtures are our own, written in the shapes of frames captured from the venue: a FOK BUY killed with
``size_matched: ""`` and its amount in pUSD, a trade whose ``maker_orders[]`` carry no ``side``,
times in milliseconds, ISO text, or empty. Each goes through ``UserStreamDecoder.decode``, the entry
point the live stream uses, and the assertions are on the typed messages it yields.
"""

from __future__ import annotations

import json
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from protocols import FeeSchedule, Fill, OrderEvent, OrderStatus, Side
from protocols.fees import taker_fee
from venues.polymarket.user_ws import UserStreamDecoder

API_KEY = "00000000-0000-0000-0000-000000000001"
WALLET = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"
TOKEN = "7132104567925221259462638553270691275033272857194253228963937931245558399256"
NOW = 1_777_000_000_000_000_000


def decoder(ours: dict[str, str] | None = None) -> UserStreamDecoder:
    ours = ours or {}
    return UserStreamDecoder(account="pm", wallet=WALLET, api_key=API_KEY, resolve=ours.get, clock_ns=lambda: NOW)


def fok_killed() -> dict[str, object]:
    return {
        "id": "0x78ab", "owner": API_KEY, "market": "0x0014", "asset_id": TOKEN, "side": "BUY",
        "order_owner": API_KEY, "original_size": "12", "size_matched": "", "price": "0.6",
        "associate_trades": [], "outcome": "", "type": "CANCELLATION", "created_at": "", "expiration": "0",
        "order_type": "FOK",
        "status": "CANCELED_order couldn't be fully filled. FOK orders are fully filled or killed.",
        "maker_address": WALLET, "timestamp": "1777824065000", "event_type": "order",
    }


def trade_without_maker_side(maker_owner: str, trader_side: str = "TAKER") -> dict[str, object]:
    return {
        "asset_id": TOKEN, "bucket_index": 1, "fee_rate_bps": "0", "id": "trade-0xabc", "event_type": "trade",
        "last_update": "2024-01-01T00:01:00Z", "maker_address": WALLET,
        "maker_orders": [{
            "asset_id": TOKEN, "fee_rate_bps": "0", "maker_address": "0x70997970c51812dc3a010c7d01b50e0d17dc79c8",
            "matched_amount": "25.0000", "order_id": "0xmaker01", "outcome": "Yes", "owner": maker_owner,
            "price": "0.5000",
        }],
        "market": "0xdd22", "match_time": "2024-01-01T00:00:00Z", "outcome": "Yes", "owner": API_KEY,
        "price": "0.5", "side": "BUY", "size": "25.0", "status": "CONFIRMED", "taker_order_id": "0xtaker01",
        "timestamp": "1703875200000", "trade_owner": API_KEY, "trader_side": trader_side, "type": "TRADE",
    }


def test_user_ws_fok_buy_killed_with_empty_size_matched_is_a_cancel_of_twenty_shares_not_a_dropped_frame() -> None:
    d = decoder({"0x78ab": "coid-1"})
    out = d.decode(json.dumps(fok_killed()))
    assert d.rejected == {}
    assert len(out) == 1 and isinstance(out[0], OrderEvent)
    ev = out[0]
    assert ev.client_order_id == "coid-1"
    assert ev.status is OrderStatus.CANCELLED
    assert ev.filled == 0
    assert ev.size == Decimal(20)  # 12 pUSD at 0.6 is 20 shares, not 12
    assert ev.time_ns == 1_777_824_065_000 * 1_000_000  # "timestamp" is in milliseconds


def test_user_ws_our_taker_fill_whose_maker_orders_lack_side_is_delivered() -> None:
    d = decoder({"0xtaker01": "coid-taker"})
    out = d.decode(json.dumps(trade_without_maker_side(maker_owner="someone-else")))
    fills = [p for p in out if isinstance(p, Fill)]
    assert d.rejected == {}
    assert [(f.client_order_id, f.side, f.size, f.price) for f in fills] == [
        ("coid-taker", Side.BUY, Decimal(25), Decimal("0.5"))
    ]


def test_user_ws_our_maker_fill_without_side_takes_the_opposite_of_the_taker_on_the_same_token() -> None:
    d = decoder({"0xmaker01": "coid-maker"})
    out = d.decode(json.dumps(trade_without_maker_side(maker_owner=API_KEY, trader_side="MAKER")))
    fills = [p for p in out if isinstance(p, Fill) and p.client_order_id == "coid-maker"]
    assert len(fills) == 1
    assert fills[0].side is Side.SELL
    assert fills[0].size == Decimal(25)


_OPTIONAL_TRADE = ["bucket_index", "fee_rate_bps", "last_update", "match_time", "outcome", "timestamp",
                   "trade_owner", "maker_address", "market", "type", "status"]


@settings(max_examples=150, deadline=None)
@given(
    removed=st.sets(st.sampled_from(_OPTIONAL_TRADE)),
    emptied=st.sets(st.sampled_from(["fee_rate_bps", "timestamp", "last_update", "match_time", "bucket_index"])),
    maker_removed=st.sets(st.sampled_from(["fee_rate_bps", "outcome", "maker_address", "asset_id"])),
)
def test_user_ws_trade_with_optional_fields_removed_or_emptied_never_crashes_nor_drops_our_fill(
    removed: set[str], emptied: set[str], maker_removed: set[str]
) -> None:
    frame = trade_without_maker_side(maker_owner="someone-else")
    for k in removed:
        frame.pop(k, None)
    for k in emptied:
        if k in frame:
            frame[k] = ""
    maker = frame["maker_orders"][0]  # type: ignore[index]
    for k in maker_removed:
        maker.pop(k, None)
    d = decoder({"0xtaker01": "coid-taker"})
    out = d.decode(json.dumps(frame))
    fills = [p for p in out if isinstance(p, Fill) and p.client_order_id == "coid-taker"]
    assert len(fills) == 1, (d.rejected, removed, emptied)
    assert fills[0].size == Decimal(25) and fills[0].price == Decimal("0.5")


def test_user_ws_taker_fee_is_booked_by_the_markets_schedule_when_known_not_the_frames_flat_rate() -> None:
    schedule = FeeSchedule(rate=Decimal("0.25"), exponent=2, fee_type="crypto_fees")
    frame = trade_without_maker_side(maker_owner="someone-else")
    frame["fee_rate_bps"] = "700"  # what the frame says: a flat 7% at exponent 1
    known = UserStreamDecoder(account="pm", wallet=WALLET, api_key=API_KEY, resolve={"0xtaker01": "c"}.get,
                              clock_ns=lambda: NOW, fee_schedule={TOKEN: schedule}.get)
    unknown = decoder({"0xtaker01": "c"})
    [fk] = [p for p in known.decode(json.dumps(frame)) if isinstance(p, Fill)]
    [fu] = [p for p in unknown.decode(json.dumps(frame)) if isinstance(p, Fill)]
    assert fk.fee == taker_fee(schedule, Decimal("0.5"), Decimal(25)) == Decimal("0.39062")  # 25×0.25×0.0625 floored
    assert fu.fee == taker_fee(FeeSchedule(rate=Decimal("0.07")), Decimal("0.5"), Decimal(25))  # fallback: 0.4375
    assert fk.fee != fu.fee
