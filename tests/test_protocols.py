"""Message validation and JSON round-trips: the protocol refuses bad values and loses nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from protocols import (
    KIND_TO_TYPE,
    PAYLOAD_TYPES,
    BookSnapshot,
    Envelope,
    Fill,
    IntentLeg,
    OrderIntent,
    OrderRequest,
    RiskAction,
    RiskDecision,
    Side,
    TimeInForce,
    TradePrint,
    envelope_from_json,
    payload_from_json,
)
from protocols.numbers import TICK_SIZES, TIME_NS_MIN

T0 = 1_767_225_600_000_000_000  # 2026-01-01 in ns

ticks = st.sampled_from(sorted(TICK_SIZES))
times = st.integers(min_value=TIME_NS_MIN, max_value=3_900_000_000_000_000_000)
token_ids = st.text(alphabet="0123456789abcdef", min_size=1, max_size=20)
sizes = st.decimals(min_value=Decimal("0.000001"), max_value=Decimal(10**9), places=6, allow_nan=False)


@st.composite
def prices_on(draw: st.DrawFn, tick: Decimal) -> Decimal:
    steps = int(Decimal(1) / tick)
    k = draw(st.integers(min_value=1, max_value=steps - 1))
    return tick * k


@st.composite
def order_requests(draw: st.DrawFn) -> OrderRequest:
    tick = draw(ticks)
    tif = draw(st.sampled_from(list(TimeInForce)))
    t = draw(times)
    return OrderRequest(
        time_ns=t,
        client_order_id=draw(st.text(min_size=1, max_size=40).filter(str.strip)),
        account=draw(st.text(min_size=1, max_size=10)),
        token_id=draw(token_ids),
        market=draw(token_ids),
        side=draw(st.sampled_from(list(Side))),
        price=draw(prices_on(tick)),
        size=draw(sizes),
        tick_size=tick,
        tif=tif,
        post_only=draw(st.booleans()) if tif in (TimeInForce.GTC, TimeInForce.GTD) else False,
        expires_ns=t + 120 * 10**9 if tif is TimeInForce.GTD else None,
    )


@st.composite
def books(draw: st.DrawFn) -> BookSnapshot:
    tick = draw(ticks)
    steps = int(Decimal(1) / tick)
    levels = sorted(draw(st.sets(st.integers(1, steps - 1), min_size=0, max_size=12)))
    cut = draw(st.integers(0, len(levels)))
    bids = tuple((tick * k, draw(sizes)) for k in reversed(levels[:cut]))
    asks = tuple((tick * k, draw(sizes)) for k in levels[cut:])
    return BookSnapshot(
        time_ns=draw(times), token_id=draw(token_ids), market="m", bids=bids, asks=asks, tick_size=tick,
        hash=draw(st.text(max_size=16)),
    )


@settings(max_examples=150)
@given(order_requests())
def test_order_request_json_round_trip_is_lossless(req: OrderRequest) -> None:
    env = Envelope(id="e1", time_ns=req.time_ns, sender="trader", payload=req)
    back = envelope_from_json(env.model_dump_json())
    assert back == env
    assert back.payload.price == req.price and back.payload.size == req.size
    assert isinstance(back.payload.price, Decimal)


@settings(max_examples=100)
@given(books())
def test_book_snapshot_round_trip_keeps_levels_exact(book: BookSnapshot) -> None:
    assert payload_from_json(book.model_dump_json()) == book


@settings(max_examples=150)
@given(
    tick=ticks,
    raw=st.decimals(min_value=Decimal("0.00001"), max_value=Decimal("0.99999"), places=5),
)
def test_order_price_off_the_tick_grid_is_refused_naming_price(tick: Decimal, raw: Decimal) -> None:
    kwargs = dict(time_ns=T0, client_order_id="c", account="a", token_id="t", market="m", side=Side.BUY,
                  size=Decimal(5), tick_size=tick)
    if raw % tick == 0:
        assert OrderRequest(price=raw, **kwargs).price == raw
    else:
        with pytest.raises(ValidationError, match=r"price .* off the tick grid"):
            OrderRequest(price=raw, **kwargs)


@pytest.mark.parametrize("price", ["-0.01", "1.01", "2", "nan", "inf", "abc"])
def test_trade_print_price_outside_unit_interval_or_not_finite_is_refused(price: str) -> None:
    with pytest.raises(ValidationError) as info:
        TradePrint(time_ns=T0, token_id="t", market="m", price=price, size="1", side="BUY")
    assert info.value.errors()[0]["loc"] == ("price",)


@pytest.mark.parametrize("size", ["-1", "NaN", "-0.000001"])
def test_fill_negative_or_nan_size_is_refused_naming_size(size: str) -> None:
    with pytest.raises(ValidationError) as info:
        Fill(time_ns=T0, fill_id="f", client_order_id="c", account="a", token_id="t", market="m",
             side="BUY", price="0.5", size=size)
    assert info.value.errors()[0]["loc"] == ("size",)


@pytest.mark.parametrize("t", [1_767_225_600, 1_767_225_600_000, 1_767_225_600_000_000, -5])
def test_timestamps_in_seconds_ms_or_us_are_refused(t: int) -> None:
    with pytest.raises(ValidationError, match="nanoseconds"):
        TradePrint(time_ns=t, token_id="t", market="m", price="0.5", size="1", side="SELL")


@pytest.mark.parametrize("token", ["", "   "])
def test_empty_token_id_is_refused(token: str) -> None:
    with pytest.raises(ValidationError) as info:
        TradePrint(time_ns=T0, token_id=token, market="m", price="0.5", size="1", side="SELL")
    assert info.value.errors()[0]["loc"] == ("token_id",)


def test_crossed_or_unsorted_book_levels_are_refused() -> None:
    with pytest.raises(ValidationError, match="bids must be strictly descending"):
        BookSnapshot(time_ns=T0, token_id="t", market="m", bids=(("0.4", "1"), ("0.5", "1")))


def test_gtd_order_without_expiry_is_refused() -> None:
    with pytest.raises(ValidationError, match="expires_ns"):
        OrderRequest(time_ns=T0, client_order_id="c", account="a", token_id="t", market="m", side="BUY",
                     price="0.5", size="5", tif="GTD")


def test_unknown_fields_and_mutation_are_refused() -> None:
    with pytest.raises(ValidationError, match="extra"):
        TradePrint(time_ns=T0, token_id="t", market="m", price="0.5", size="1", side="SELL", wallet="x")
    p = TradePrint(time_ns=T0, token_id="t", market="m", price="0.5", size="1", side="SELL")
    with pytest.raises(ValidationError):
        p.price = Decimal("0.6")  # type: ignore[misc]


def test_rejected_risk_decision_without_reason_is_refused() -> None:
    leg = IntentLeg(token_id="t", market="m", side=Side.BUY, price=Decimal("0.5"), size=Decimal(5))
    intent = OrderIntent(time_ns=T0, intent_id="i", strategy="s", legs=(leg,))
    with pytest.raises(ValidationError, match="reason"):
        RiskDecision(time_ns=T0, intent_id="i", action=RiskAction.REJECTED, intent=intent)


def test_every_payload_kind_is_registered_once() -> None:
    kinds = [t.model_fields["kind"].default for t in PAYLOAD_TYPES]
    assert len(kinds) == len(set(kinds)) == len(KIND_TO_TYPE)


@settings(max_examples=100)
@given(
    sentiment=st.floats(allow_nan=True, allow_infinity=True),
)
def test_news_sentiment_outside_range_or_nan_is_refused(sentiment: float) -> None:
    from protocols import NewsItem

    kwargs = dict(time_ns=T0, item_id="n", title="t", published_ns=T0, sentiment=sentiment)
    if -1.0 <= sentiment <= 1.0:
        assert NewsItem(**kwargs).sentiment == sentiment
    else:
        with pytest.raises(ValidationError):
            NewsItem(**kwargs)
