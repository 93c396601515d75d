"""Scenario tests of the simulated CLOB's matching rules, one rule per test."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols import Liquidity, OrderStatus, ReasonCode, Side
from protocols.fees import maker_rebate
from venues.sim import SimExchange, SimExchangeConfig
from venues.sim.testing import binary_market, order

NS = 1_000_000_000


@pytest.fixture
def ex() -> SimExchange:
    e = SimExchange(SimExchangeConfig())
    e.add_market(binary_market("m1"))
    for a in ("a", "b", "c"):
        e.open_account(a, 1000)
    return e


def fee(size: str, price: str, rate: str = "0.07", exp: int = 1) -> D:
    """Independent fee formula, rounded down to the micro-unit like the venue."""
    p = D(price)
    raw = D(size) * D(rate) * (p * (1 - p)) ** exp
    return raw.quantize(D("0.000001"), rounding="ROUND_FLOOR")


def test_buy_yes_crossing_resting_sell_yes_fills_at_maker_price(ex: SimExchange) -> None:
    ex.split("b", "m1", 10)
    ex.submit("b", order("b", "s1", "m1-yes", "SELL", "0.55", 10))
    ev = ex.submit("a", order("a", "b1", "m1-yes", "BUY", "0.60", 10))
    assert ev.status is OrderStatus.FILLED and ev.filled == 10
    [tf] = ex.trades("a")
    [mf] = ex.trades("b")
    assert (tf.price, tf.side, tf.liquidity, tf.fee) == (D("0.55"), Side.BUY, Liquidity.TAKER, fee("10", "0.55"))
    assert (mf.price, mf.side, mf.liquidity, mf.fee) == (D("0.55"), Side.SELL, Liquidity.MAKER, 0)
    assert ex.balance("a").cash == 1000 - D("5.5") - fee("10", "0.55")
    assert ex.balance("b").cash == 1000 - 10 + D("5.5")
    assert ex.shares("a", "m1-yes") == 10


def test_buy_yes_against_resting_buy_no_mints_at_maker_price_with_maker_on_no(ex: SimExchange) -> None:
    ex.submit("a", order("a", "n1", "m1-no", "BUY", "0.40", 10))
    ev = ex.submit("b", order("b", "y1", "m1-yes", "BUY", "0.65", 10))
    assert ev.status is OrderStatus.FILLED
    [tf] = ex.trades("b")
    [mf] = ex.trades("a")
    # maker keeps its own price; taker pays the complement and keeps the improvement
    assert (mf.token_id, mf.side, mf.price, mf.liquidity) == ("m1-no", Side.BUY, D("0.40"), Liquidity.MAKER)
    assert (tf.token_id, tf.side, tf.price, tf.liquidity) == ("m1-yes", Side.BUY, D("0.60"), Liquidity.TAKER)
    assert ex.balance("a").cash == 1000 - 4
    assert ex.balance("b").cash == 1000 - 6 - fee("10", "0.60")
    supply = ex.audit()["supply"]
    assert supply["m1-yes"] == supply["m1-no"] == 10_000_000  # one complete set per share minted


def test_buy_no_against_resting_buy_yes_mints_with_taker_paying_complement(ex: SimExchange) -> None:
    ex.submit("a", order("a", "y1", "m1-yes", "BUY", "0.65", 10))
    ex.submit("b", order("b", "n1", "m1-no", "BUY", "0.40", 10))
    [tf] = ex.trades("b")
    [mf] = ex.trades("a")
    assert (mf.token_id, mf.price, mf.liquidity) == ("m1-yes", D("0.65"), Liquidity.MAKER)
    assert (tf.token_id, tf.price, tf.liquidity) == ("m1-no", D("0.35"), Liquidity.TAKER)


def test_buy_yes_and_buy_no_summing_below_one_do_not_match(ex: SimExchange) -> None:
    ex.submit("a", order("a", "n1", "m1-no", "BUY", "0.39", 10))
    ev = ex.submit("b", order("b", "y1", "m1-yes", "BUY", "0.60", 10))
    assert ev.status is OrderStatus.ACKNOWLEDGED
    assert ex.trades("a") == ex.trades("b") == []


def test_sell_yes_against_resting_sell_no_merges_and_pays_out_one_per_set(ex: SimExchange) -> None:
    ex.split("a", "m1", 10)
    ex.split("b", "m1", 10)
    ex.submit("a", order("a", "sn", "m1-no", "SELL", "0.45", 10))
    ev = ex.submit("b", order("b", "sy", "m1-yes", "SELL", "0.50", 10))
    assert ev.status is OrderStatus.FILLED
    [tf] = ex.trades("b")
    [mf] = ex.trades("a")
    assert (mf.token_id, mf.side, mf.price) == ("m1-no", Side.SELL, D("0.45"))
    assert (tf.token_id, tf.side, tf.price) == ("m1-yes", Side.SELL, D("0.55"))
    assert ex.balance("a").cash == 1000 - 10 + D("4.5")
    assert ex.balance("b").cash == 1000 - 10 + D("5.5") - fee("10", "0.55")
    supply = ex.audit()["supply"]
    assert supply["m1-yes"] == supply["m1-no"] == 10_000_000  # 20 split, 10 merged


def test_sell_no_crossing_resting_buy_no_transfers_no_shares(ex: SimExchange) -> None:
    ex.split("a", "m1", 10)
    ex.submit("b", order("b", "bn", "m1-no", "BUY", "0.35", 10))
    ex.submit("a", order("a", "sn", "m1-no", "SELL", "0.30", 10))
    [tf] = ex.trades("a")
    assert (tf.token_id, tf.side, tf.price) == ("m1-no", Side.SELL, D("0.35"))
    assert ex.shares("b", "m1-no") == 10 and ex.shares("a", "m1-no") == 0


def test_price_time_priority_spans_yes_sells_and_no_buys(ex: SimExchange) -> None:
    ex.open_account("d", 1000)
    ex.split("c", "m1", 10)
    ex.split("b", "m1", 10)
    ex.submit("c", order("c", "c1", "m1-yes", "SELL", "0.60", 10))  # ask 0.60, first
    ex.submit("a", order("a", "a1", "m1-no", "BUY", "0.40", 10))  # ask 0.60 in YES space, second
    ex.submit("b", order("b", "b1", "m1-yes", "SELL", "0.59", 10))  # better price, last
    ex.submit("d", order("d", "d1", "m1-yes", "BUY", "0.60", 25))
    fills = ex.trades("d")
    assert [(f.price, f.size) for f in fills] == [(D("0.59"), 10), (D("0.60"), 10), (D("0.60"), 5)]
    assert [f.size for f in ex.trades("b")] == [10]
    assert [f.size for f in ex.trades("c")] == [10]
    assert [(f.token_id, f.size) for f in ex.trades("a")] == [("m1-no", 5)]
    assert ex.order("a", "a1").status is OrderStatus.PARTIALLY_FILLED  # type: ignore[union-attr]


def test_partial_fill_rests_remainder_with_its_reservation(ex: SimExchange) -> None:
    ex.split("b", "m1", 10)
    ex.submit("b", order("b", "s1", "m1-yes", "SELL", "0.50", 10))
    ev = ex.submit("a", order("a", "b1", "m1-yes", "BUY", "0.52", 30))
    assert (ev.status, ev.filled) == (OrderStatus.PARTIALLY_FILLED, 10)
    assert ex.balance("a").reserved == D("0.52") * 20
    book = ex.book("m1-yes")
    assert book.bids == ((D("0.52"), D(20)),) and book.asks == ()


def test_fok_that_cannot_fill_fully_is_rejected_and_changes_nothing(ex: SimExchange) -> None:
    ex.split("b", "m1", 10)
    ex.submit("b", order("b", "s1", "m1-yes", "SELL", "0.50", 10))
    before = (ex.book("m1-yes"), ex.balance("a"), ex.balance("b"))
    ev = ex.submit("a", order("a", "f1", "m1-yes", "BUY", "0.55", 11, tif="FOK"))
    assert (ev.status, ev.reason) == (OrderStatus.REJECTED, ReasonCode.FOK_NOT_FILLABLE)
    assert (ex.book("m1-yes"), ex.balance("a"), ex.balance("b")) == before
    assert ex.order("a", "f1") is None


def test_fok_fills_fully_across_levels_and_complements(ex: SimExchange) -> None:
    ex.split("b", "m1", 10)
    ex.submit("b", order("b", "s1", "m1-yes", "SELL", "0.50", 10))
    ex.submit("c", order("c", "n1", "m1-no", "BUY", "0.48", 10))  # YES ask at 0.52
    ev = ex.submit("a", order("a", "f1", "m1-yes", "BUY", "0.52", 20, tif="FOK"))
    assert (ev.status, ev.filled) == (OrderStatus.FILLED, 20)
    assert [f.price for f in ex.trades("a")] == [D("0.50"), D("0.52")]


def test_fak_fills_what_it_can_and_cancels_the_rest(ex: SimExchange) -> None:
    ex.split("b", "m1", 10)
    ex.submit("b", order("b", "s1", "m1-yes", "SELL", "0.50", 10))
    ev = ex.submit("a", order("a", "k1", "m1-yes", "BUY", "0.55", 25, tif="FAK"))
    assert (ev.status, ev.filled) == (OrderStatus.CANCELLED, 10)
    assert ex.open_orders("a") == [] and ex.balance("a").reserved == 0


def test_fak_with_nothing_to_match_is_rejected(ex: SimExchange) -> None:
    ev = ex.submit("a", order("a", "k1", "m1-yes", "BUY", "0.55", 25, tif="FAK"))
    assert (ev.status, ev.reason) == (OrderStatus.REJECTED, ReasonCode.FAK_NO_MATCH)


def test_post_only_that_would_cross_via_complement_is_rejected(ex: SimExchange) -> None:
    ex.submit("b", order("b", "n1", "m1-no", "BUY", "0.45", 10))  # YES ask 0.55
    ev = ex.submit("a", order("a", "p1", "m1-yes", "BUY", "0.55", 10, post_only=True))
    assert (ev.status, ev.reason) == (OrderStatus.REJECTED, ReasonCode.POST_ONLY_WOULD_CROSS)
    ok = ex.submit("a", order("a", "p2", "m1-yes", "BUY", "0.54", 10, post_only=True))
    assert ok.status is OrderStatus.ACKNOWLEDGED


def test_gtd_inside_security_threshold_is_rejected(ex: SimExchange) -> None:
    now = ex.now_ns()
    ev = ex.submit("a", order("a", "g1", "m1-yes", "BUY", "0.40", 10, tif="GTD", expires_ns=now + 60 * NS))
    assert (ev.status, ev.reason) == (OrderStatus.REJECTED, ReasonCode.INVALID_EXPIRATION)


def test_gtd_expires_at_expiry_minus_threshold_and_releases_cash(ex: SimExchange) -> None:
    now = ex.now_ns()
    exp = now + 90 * NS
    ev = ex.submit("a", order("a", "g1", "m1-yes", "BUY", "0.40", 10, tif="GTD", expires_ns=exp))
    assert ev.status is OrderStatus.ACKNOWLEDGED and ex.balance("a").reserved == 4
    ex.set_time(now + 30 * NS - 1)
    assert ex.order("a", "g1").status is OrderStatus.ACKNOWLEDGED  # type: ignore[union-attr]
    ex.set_time(now + 30 * NS)
    got = ex.order("a", "g1")
    assert got is not None and (got.status, got.reason) == (OrderStatus.EXPIRED, ReasonCode.EXPIRED)
    assert ex.balance("a").reserved == 0 and ex.book("m1-yes").bids == ()


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"token": "m1-yes", "price": "0.405"}, ReasonCode.INVALID_TICK),
        ({"token": "m1-yes", "size": "4.99"}, ReasonCode.BELOW_MIN_SIZE),
        ({"token": "m1-yes", "size": "5.001"}, ReasonCode.INVALID_SIZE),
        ({"token": "zz-yes"}, ReasonCode.UNKNOWN_TOKEN),
        ({"token": "m1-yes", "size": "3000"}, ReasonCode.INSUFFICIENT_BALANCE),
        ({"token": "m1-yes", "side": "SELL"}, ReasonCode.INSUFFICIENT_BALANCE),
    ],
)
def test_invalid_order_is_rejected_with_reason_and_changes_nothing(
    ex: SimExchange, kwargs: dict[str, str], reason: ReasonCode
) -> None:
    args = {"token": "m1-yes", "side": "BUY", "price": "0.40", "size": "10"} | kwargs
    before = (ex.book("m1-yes"), ex.balance("a"), ex.positions("a"), ex.audit())
    ev = ex.submit("a", order("a", "x1", args["token"], args["side"], args["price"], args["size"]))
    assert (ev.status, ev.reason) == (OrderStatus.REJECTED, reason)
    assert ev.message
    assert (ex.book("m1-yes"), ex.balance("a"), ex.positions("a"), ex.audit()) == before


def test_reused_client_order_id_is_refused_even_after_the_order_finished(ex: SimExchange) -> None:
    ex.submit("a", order("a", "o1", "m1-yes", "BUY", "0.40", 10))
    assert ex.cancel("a", "o1").status is OrderStatus.CANCELLED
    ev = ex.submit("a", order("a", "o1", "m1-yes", "BUY", "0.40", 10))
    assert (ev.status, ev.reason) == (OrderStatus.REJECTED, ReasonCode.DUPLICATE_ORDER)
    # the same id on another account is a different order
    assert ex.submit("b", order("b", "o1", "m1-yes", "BUY", "0.40", 10)).status is OrderStatus.ACKNOWLEDGED


def test_reservations_count_against_later_orders(ex: SimExchange) -> None:
    ex.open_account("poor", 10)
    assert ex.submit("poor", order("poor", "o1", "m1-yes", "BUY", "0.50", 16)).status is OrderStatus.ACKNOWLEDGED
    ev = ex.submit("poor", order("poor", "o2", "m1-yes", "BUY", "0.50", 5))
    assert ev.reason is ReasonCode.INSUFFICIENT_BALANCE  # 8 reserved, 2 free, 2.5 needed


def test_crossing_buy_must_also_cover_the_taker_fee(ex: SimExchange) -> None:
    ex.open_account("exact", 5)
    ex.split("b", "m1", 10)
    ex.submit("b", order("b", "s1", "m1-yes", "SELL", "0.50", 10))
    ev = ex.submit("exact", order("exact", "o1", "m1-yes", "BUY", "0.50", 10))
    assert ev.reason is ReasonCode.INSUFFICIENT_BALANCE
    # the same order that would only rest needs no fee money
    ok = ex.submit("exact", order("exact", "o2", "m1-yes", "BUY", "0.49", 10))
    assert ok.status is OrderStatus.ACKNOWLEDGED


def test_cancel_releases_reservation_and_unknown_or_finished_orders_are_reported(ex: SimExchange) -> None:
    ex.submit("a", order("a", "o1", "m1-yes", "BUY", "0.40", 10))
    ev = ex.cancel("a", "o1")
    assert ev.status is OrderStatus.CANCELLED and ex.balance("a").reserved == 0
    again = ex.cancel("a", "o1")
    assert again.status is OrderStatus.CANCELLED and "not cancelled" in again.message
    unknown = ex.cancel("a", "nope")
    assert (unknown.status, unknown.reason) == (OrderStatus.REJECTED, ReasonCode.UNKNOWN_ORDER)


def test_cancel_all_by_market_and_by_token_leave_other_orders(ex: SimExchange) -> None:
    ex.add_market(binary_market("m2"))
    ex.submit("a", order("a", "y1", "m1-yes", "BUY", "0.40", 10))
    ex.submit("a", order("a", "n1", "m1-no", "BUY", "0.40", 10))
    ex.submit("a", order("a", "y2", "m2-yes", "BUY", "0.40", 10))
    assert [e.client_order_id for e in ex.cancel_all("a", "m1-no")] == ["n1"]
    assert [e.client_order_id for e in ex.cancel_all("a", "m1")] == ["y1"]
    assert [e.client_order_id for e in ex.open_orders("a")] == ["y2"]
    assert [e.client_order_id for e in ex.cancel_all("a")] == ["y2"]
    assert ex.balance("a").reserved == 0


def test_fee_curve_with_exponent_two_and_the_markets_rebate_rate_paid_on_demand() -> None:
    ex = SimExchange()
    ex.add_market(binary_market("c15", fee_rate="0.25", fee_exponent=2, rebate_rate="0.25"))
    ex.open_account("mm", 100)
    ex.open_account("tk", 100)
    ex.split("mm", "c15", 100)
    ex.submit("mm", order("mm", "s1", "c15-yes", "SELL", "0.30", 100))
    ex.submit("tk", order("tk", "b1", "c15-yes", "BUY", "0.30", 100))
    expected = fee("100", "0.30", "0.25", 2)  # 100 × 0.25 × 0.21² = 1.1025
    assert expected == D("1.1025")
    [f] = ex.trades("tk")
    assert f.fee == expected
    schedule = ex.market_info("c15").fees
    assert ex.rebates_accrued("mm") == maker_rebate(schedule, D("0.30"), D(100)) == D("0.275625")
    assert ex.rebates_accrued("tk") == 0
    assert ex.pay_rebates() == {"mm": D("0.275625")}
    assert ex.balance("mm").cash == 30 + D("0.275625")
    a = ex.audit()
    assert a["cash"] + a["fee_pool"] + a["supply"]["c15-yes"] == a["deposits"]


@settings(max_examples=60, deadline=None)
@given(
    rate=st.sampled_from(["0", "0.03", "0.04", "0.05", "0.07"]),
    rebate=st.sampled_from(["0", "0.2", "0.25", "0.5", "1"]),
    price=st.integers(1, 99),
    size=st.integers(5, 500),
)
def test_maker_rebate_accrued_by_the_exchange_equals_the_fee_models_rebate(
    rate: str, rebate: str, price: int, size: int
) -> None:
    ex = SimExchange()
    ex.add_market(binary_market("r", fee_rate=rate, rebate_rate=rebate))
    ex.open_account("mm", 100_000)
    ex.open_account("tk", 100_000)
    ex.split("mm", "r", size)
    p = D(price) / 100
    ex.submit("mm", order("mm", "s1", "r-yes", "SELL", p, size))
    ex.submit("tk", order("tk", "b1", "r-yes", "BUY", p, size))
    schedule = ex.market_info("r").fees
    assert ex.rebates_accrued("mm") == maker_rebate(schedule, p, D(size))
    assert ex.pay_rebates().get("mm", D(0)) == maker_rebate(schedule, p, D(size))


def test_market_without_rebate_rate_accrues_no_rebate() -> None:
    ex = SimExchange()
    ex.add_market(binary_market("c", fee_rate="0.07"))
    ex.open_account("mm", 100)
    ex.open_account("tk", 100)
    ex.split("mm", "c", 10)
    ex.submit("mm", order("mm", "s1", "c-yes", "SELL", "0.50", 10))
    ex.submit("tk", order("tk", "b1", "c-yes", "BUY", "0.50", 10))
    assert ex.trades("tk")[0].fee > 0
    assert ex.rebates_accrued("mm") == 0
    assert ex.pay_rebates() == {}


def test_market_without_fees_charges_nothing() -> None:
    ex = SimExchange()
    ex.add_market(binary_market("free", fees_enabled=False))
    ex.open_account("a", 100)
    ex.open_account("b", 100)
    ex.submit("a", order("a", "n", "free-no", "BUY", "0.5", 10))
    ex.submit("b", order("b", "y", "free-yes", "BUY", "0.5", 10))
    assert [f.fee for f in ex.trades("b")] == [0]


def test_submit_for_another_account_is_rejected(ex: SimExchange) -> None:
    ev = ex.submit("a", order("b", "o1", "m1-yes", "BUY", "0.40", 10))
    assert (ev.status, ev.reason) == (OrderStatus.REJECTED, ReasonCode.VENUE_ERROR)


def test_fast_path_follows_the_same_rules(ex: SimExchange) -> None:
    from venues.sim import FILLED, LIVE

    assert ex.submit_fast("a", "f1", "m1-no", True, 400_000, 10_000_000) == (LIVE, 0, None)
    assert ex.submit_fast("b", "f2", "m1-yes", True, 650_000, 10_000_000) == (FILLED, 10_000_000, None)
    assert ex.submit_fast("b", "f2", "m1-yes", True, 650_000, 10_000_000)[2] is ReasonCode.DUPLICATE_ORDER
    assert [f.price for f in ex.trades("b")] == [D("0.6")]
    assert ex.cancel_fast("a", "f1") is False  # already filled


def test_trades_can_be_queried_by_client_order_id_and_time(ex: SimExchange) -> None:
    ex.split("b", "m1", 30)
    ex.submit("b", order("b", "s1", "m1-yes", "SELL", "0.50", 10))
    ex.submit("a", order("a", "b1", "m1-yes", "BUY", "0.50", 10))
    t1 = ex.now_ns() + 1
    ex.set_time(t1)
    ex.submit("b", order("b", "s2", "m1-yes", "SELL", "0.51", 10))
    ex.submit("a", order("a", "b2", "m1-yes", "BUY", "0.51", 10))
    assert [f.client_order_id for f in ex.trades("a")] == ["b1", "b2"]
    assert [f.client_order_id for f in ex.trades("a", client_order_id="b2")] == ["b2"]
    assert [f.client_order_id for f in ex.trades("a", since_ns=t1)] == ["b2"]
    assert ex.trades("a", client_order_id="nope") == []
