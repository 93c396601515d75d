"""Scenario tests of the simulated CLOB's market lifecycle: ticks, close, resolution, neg-risk."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from protocols import (
    MarketClosed,
    MarketResolved,
    OrderEvent,
    OrderStatus,
    Payload,
    ReasonCode,
    Settlement,
    TickSizeChange,
)
from protocols.market import BookSnapshot
from venues.sim import SimExchange, SimExchangeConfig, SimRejected
from venues.sim.testing import binary_market, order


@pytest.fixture
def ex() -> SimExchange:
    e = SimExchange()
    e.add_market(binary_market("m1"))
    for a in ("a", "b"):
        e.open_account(a, 1000)
    return e


def test_tick_change_to_finer_keeps_orders_and_allows_finer_prices(ex: SimExchange) -> None:
    seen: list[Payload] = []
    ex.add_market_data_listener(seen.append)
    ex.submit("a", order("a", "o1", "m1-yes", "BUY", "0.95", 10))
    ex.set_tick_size("m1", D("0.001"))
    assert ex.order("a", "o1").status is OrderStatus.ACKNOWLEDGED  # type: ignore[union-attr]
    changes = [p for p in seen if isinstance(p, TickSizeChange)]
    assert {(c.token_id, c.old_tick_size, c.new_tick_size) for c in changes} == {
        ("m1-yes", D("0.01"), D("0.001")),
        ("m1-no", D("0.01"), D("0.001")),
    }
    snaps = [p for p in seen if isinstance(p, BookSnapshot)]
    assert len(snaps) == 2 and all(s.tick_size == D("0.001") for s in snaps)
    assert seen.index(changes[0]) < seen.index(snaps[0])  # the change comes before the fresh book
    ok = ex.submit("a", order("a", "o2", "m1-yes", "BUY", "0.955", 10))
    assert ok.status is OrderStatus.ACKNOWLEDGED
    assert ex.market_info("m1").tick_size == D("0.001")  # type: ignore[union-attr]


def test_tick_change_to_coarser_cancels_off_grid_orders_and_releases_them(ex: SimExchange) -> None:
    ex.set_tick_size("m1", D("0.001"))
    ex.submit("a", order("a", "on", "m1-yes", "BUY", "0.950", 10))
    ex.submit("a", order("a", "off", "m1-yes", "BUY", "0.955", 10))
    ex.set_tick_size("m1", D("0.01"))
    off = ex.order("a", "off")
    assert off is not None and (off.status, off.reason) == (OrderStatus.CANCELLED, ReasonCode.INVALID_TICK)
    assert ex.order("a", "on").status is OrderStatus.ACKNOWLEDGED  # type: ignore[union-attr]
    assert ex.balance("a").reserved == D("9.5")
    ev = ex.submit("a", order("a", "x", "m1-yes", "BUY", "0.955", 10))
    assert ev.reason is ReasonCode.INVALID_TICK


def test_close_market_cancels_orders_refuses_new_ones_and_announces_it(ex: SimExchange) -> None:
    seen: list[Payload] = []
    ex.add_listener(seen.append)
    ex.submit("a", order("a", "o1", "m1-yes", "BUY", "0.40", 10))
    cancelled = ex.close_market("m1")
    assert [(e.client_order_id, e.reason) for e in cancelled] == [("o1", ReasonCode.MARKET_CLOSED)]
    assert ex.balance("a").reserved == 0
    ev = ex.submit("a", order("a", "o2", "m1-yes", "BUY", "0.40", 10))
    assert ev.reason is ReasonCode.MARKET_CLOSED
    assert any(isinstance(p, MarketClosed) for p in seen)
    with pytest.raises(SimRejected):
        ex.split("a", "m1", 10)


def _trade_to_positions(ex: SimExchange) -> None:
    """a ends with 10 YES (paid 0.6 + fee), b with 10 NO (paid 0.4), by a complement mint."""
    ex.submit("b", order("b", "n", "m1-no", "BUY", "0.40", 10))
    ex.submit("a", order("a", "y", "m1-yes", "BUY", "0.60", 10))


def test_resolution_pays_winner_one_loser_zero_and_emits_settlements(ex: SimExchange) -> None:
    seen: list[Payload] = []
    ex.add_listener(seen.append)
    _trade_to_positions(ex)
    cash_a = ex.balance("a").cash
    settlements = ex.resolve("m1", "m1-yes")
    assert {(s.account, s.token_id, s.payout_per_share, s.cash) for s in settlements} == {
        ("a", "m1-yes", D(1), D(10)),
        ("b", "m1-no", D(0), D(0)),
    }
    assert ex.balance("a").cash == cash_a + 10
    assert ex.positions("a") == [] and ex.positions("b") == []
    resolved = [p for p in seen if isinstance(p, MarketResolved)]
    assert [r.winning_token_id for r in resolved] == ["m1-yes"]
    assert seen.index(resolved[0]) > max(i for i, p in enumerate(seen) if isinstance(p, Settlement))
    a = ex.audit()
    assert a["cash"] + a["fee_pool"] == a["deposits"]  # every set redeemed


def test_unknown_resolution_pays_half_to_both_sides(ex: SimExchange) -> None:
    _trade_to_positions(ex)
    ex.split("b", "m1", 3)
    before_a, before_b = ex.balance("a").cash, ex.balance("b").cash
    ex.resolve("m1", None)
    assert ex.balance("a").cash == before_a + 5  # 10 YES × 0.5
    assert ex.balance("b").cash == before_b + 8  # (13 NO + 3 YES) × 0.5
    a = ex.audit()
    assert a["cash"] + a["fee_pool"] == a["deposits"]


def test_position_carries_maker_cost_basis_and_winning_no_pays_one(ex: SimExchange) -> None:
    _trade_to_positions(ex)
    [pos] = ex.positions("b")
    assert (pos.token_id, pos.size, pos.avg_price) == ("m1-no", D(10), D("0.4"))
    ex.resolve("m1", "m1-no")
    assert ex.balance("b").cash == 1000 - 4 + 10


def test_resolving_twice_or_with_a_foreign_token_is_refused(ex: SimExchange) -> None:
    with pytest.raises(ValueError, match="not a token"):
        ex.resolve("m1", "m2-yes")
    ex.resolve("m1", "m1-no")
    with pytest.raises(ValueError, match="already resolved"):
        ex.resolve("m1", "m1-no")


def test_split_and_merge_move_cash_and_complete_sets(ex: SimExchange) -> None:
    ex.split("a", "m1", "12.5")
    assert (ex.shares("a", "m1-yes"), ex.shares("a", "m1-no"), ex.balance("a").cash) == (
        D("12.5"),
        D("12.5"),
        D("987.5"),
    )
    ex.merge("a", "m1", "2.5")
    assert (ex.shares("a", "m1-yes"), ex.balance("a").cash) == (D(10), D(990))
    with pytest.raises(SimRejected) as err:
        ex.merge("a", "m1", 11)
    assert err.value.reason is ReasonCode.INSUFFICIENT_BALANCE
    with pytest.raises(SimRejected) as err:
        ex.split("a", "m1", "0.001")
    assert err.value.reason is ReasonCode.INVALID_SIZE
    with pytest.raises(SimRejected):
        ex.split("a", "m1", 2000)
    assert ex.balance("a").cash == 990


def test_shares_reserved_by_a_resting_sell_cannot_be_merged(ex: SimExchange) -> None:
    ex.split("a", "m1", 10)
    ex.submit("a", order("a", "s", "m1-yes", "SELL", "0.7", 6))
    with pytest.raises(SimRejected):
        ex.merge("a", "m1", 5)
    ex.merge("a", "m1", 4)


# ---------------------------------------------------------------------------- neg-risk


@pytest.fixture
def nr() -> SimExchange:
    e = SimExchange()
    markets = [binary_market(n, neg_risk=True) for n in ("ea", "eb", "ec", "ed")]
    e.add_neg_risk_event("elect", markets, augmented=True)
    e.open_account("x", 1000)
    for n in ("ea", "eb", "ec", "ed"):
        e.split("x", n, 10)
    return e


def _payouts(ex: SimExchange, markets: list[str]) -> list[int]:
    """Total value (cash + fees + what every share would pay) under each possible winner."""
    a = ex.audit()
    out = []
    for w in markets:
        pay = sum(s for t, s in a["supply"].items() if t == f"{w}-yes")
        pay += sum(s for t, s in a["supply"].items() if t.endswith("-no") and not t.startswith(w + "-"))
        out.append(a["cash"] + a["fee_pool"] + pay)
    return out


def test_neg_risk_conversion_turns_m_no_into_n_minus_m_yes_and_m_minus_one_cash(nr: SimExchange) -> None:
    markets = ["ea", "eb", "ec", "ed"]
    before = _payouts(nr, markets)
    cash = nr.balance("x").cash
    nr.convert_neg_risk("x", "elect", ["ea-no", "eb-no"], 4)
    assert nr.balance("x").cash == cash + 4  # (M − 1) × 4 with M = 2
    assert [nr.shares("x", f"{m}-no") for m in markets] == [6, 6, 10, 10]
    assert [nr.shares("x", f"{m}-yes") for m in markets] == [10, 10, 14, 14]
    # the account's payout is the same whichever outcome wins, so value is conserved per outcome
    assert _payouts(nr, markets) == before


def test_neg_risk_conversion_of_a_single_no_pays_no_cash(nr: SimExchange) -> None:
    cash = nr.balance("x").cash
    nr.convert_neg_risk("x", "elect", ["ec-no"], 10)
    assert nr.balance("x").cash == cash
    assert nr.shares("x", "ec-no") == 0
    assert [nr.shares("x", f"{m}-yes") for m in ("ea", "eb", "ec", "ed")] == [20, 20, 10, 20]


def test_neg_risk_conversion_refusals_change_nothing(nr: SimExchange) -> None:
    before = nr.audit()
    cases: list[tuple[str, list[str], int | str, ReasonCode]] = [
        ("elect", ["ea-yes"], 1, ReasonCode.UNKNOWN_TOKEN),
        ("nope", ["ea-no"], 1, ReasonCode.UNKNOWN_TOKEN),
        ("elect", ["ea-no", "ea-no"], 1, ReasonCode.UNKNOWN_TOKEN),
        ("elect", ["ea-no", "eb-no"], 11, ReasonCode.INSUFFICIENT_BALANCE),
        ("elect", ["ea-no"], "0.001", ReasonCode.INVALID_SIZE),
    ]
    for event, tokens, size, reason in cases:
        with pytest.raises(SimRejected) as err:
            nr.convert_neg_risk("x", event, tokens, size)
        assert err.value.reason is reason
    assert nr.audit() == before


def test_neg_risk_event_flags_markets_and_resolves_as_a_whole(nr: SimExchange) -> None:
    info = nr.market_info("eb-yes")
    assert info is not None and info.neg_risk and info.neg_risk_augmented and info.event_id == "elect"
    assert nr.neg_risk_event("elect") == (["ea", "eb", "ec", "ed"], True)
    nr.convert_neg_risk("x", "elect", ["ea-no", "eb-no", "ec-no"], 10)
    cash = nr.balance("x").cash
    nr.resolve_event("elect", "eb")
    # x held: ea 10 YES, eb 10 YES, ec 10 YES, ed 20 YES + 10 NO → eb YES wins (10), others' NO (ed: 10)
    assert nr.balance("x").cash == cash + 20
    a = nr.audit()
    assert a["cash"] + a["fee_pool"] == a["deposits"]


def test_order_events_of_cancelled_orders_reach_the_account_listener(ex: SimExchange) -> None:
    got: list[Payload] = []
    ex.add_account_listener("a", got.append)
    ex.submit("a", order("a", "o1", "m1-yes", "BUY", "0.40", 10))
    ex.close_market("m1")
    statuses = [p.status for p in got if isinstance(p, OrderEvent)]
    assert statuses == [OrderStatus.ACKNOWLEDGED, OrderStatus.CANCELLED]


def test_a_failing_listener_is_counted_and_the_others_still_get_every_event(ex: SimExchange) -> None:
    def broken(_p: Payload) -> None:
        raise RuntimeError("consumer bug")

    got: list[Payload] = []
    ex.add_account_listener("a", broken)
    ex.add_account_listener("a", got.append)
    ev = ex.submit("a", order("a", "o1", "m1-yes", "BUY", "0.40", 10))
    assert ev.status is OrderStatus.ACKNOWLEDGED
    assert got == [ev] and ex.listener_errors == 1
    assert ex.open_orders("a") == [ev]


def test_auto_tick_moves_a_cent_market_to_a_tenth_of_a_cent_after_a_trade_above_096() -> None:
    ex = SimExchange(SimExchangeConfig(auto_tick_extremes=True))
    ex.add_market(binary_market("m1"))
    ex.open_account("a", 100)
    ex.open_account("b", 100)
    seen: list[Payload] = []
    ex.add_market_data_listener(seen.append)
    ex.submit("a", order("a", "n", "m1-no", "BUY", "0.05", 10))  # YES ask 0.95
    ex.submit("b", order("b", "y", "m1-yes", "BUY", "0.95", 10))
    assert ex.market_info("m1").tick_size == D("0.01")  # type: ignore[union-attr]
    ex.submit("a", order("a", "n2", "m1-no", "BUY", "0.03", 10))  # YES ask 0.97
    ex.submit("b", order("b", "y2", "m1-yes", "BUY", "0.97", 10))
    assert ex.market_info("m1").tick_size == D("0.001")  # type: ignore[union-attr]
    assert [c.new_tick_size for c in seen if isinstance(c, TickSizeChange)] == [D("0.001"), D("0.001")]
    assert ex.submit("a", order("a", "f", "m1-yes", "BUY", "0.975", 10)).status is OrderStatus.ACKNOWLEDGED


def test_without_auto_tick_the_tick_never_changes_by_itself(ex: SimExchange) -> None:
    ex.submit("a", order("a", "n2", "m1-no", "BUY", "0.03", 10))
    ex.submit("b", order("b", "y2", "m1-yes", "BUY", "0.97", 10))
    assert ex.market_info("m1").tick_size == D("0.01")  # type: ignore[union-attr]
