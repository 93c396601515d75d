"""Avellaneda–Stoikov maker quotes and closing-line value, through the LocalRuntime."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from test_strategist_harness import T0, D, S, book, market, run, two_sided

from agents.strategies.maker import MakerQuoting
from agents.strategies.pricing import to_prob, total_over_probability
from protocols import Fill, OrderIntent, Position, ReferenceProbability, Side, TimeInForce

MQ: dict[str, Any] = {"maker_quoting": {}}


def _quotes(intent: OrderIntent) -> tuple[Decimal | None, Decimal | None]:
    """(bid for YES, ask for YES) from the intent's legs (the ask is a BUY of NO at 1 − ask)."""
    bid = next((leg.price for leg in intent.legs if leg.token_id.endswith("-yes")), None)
    no = next((leg.price for leg in intent.legs if leg.token_id.endswith("-no")), None)
    return bid, None if no is None else D(1) - no


def _pos(token: str, size: str) -> Position:
    return Position(time_ns=T0, account="acct", token_id=token, market="q1", size=D(size))


async def test_maker_quotes_straddle_the_reservation_price_post_only() -> None:
    _, col, _ = await run(MQ, [market("q1"), *two_sided("q1", "0.45", "0.55")])
    (intent,) = col.intents
    bid, ask = _quotes(intent)
    assert bid is not None and ask is not None
    r = intent.fair_value
    assert r == D("0.5")  # flat inventory: reservation = mid
    assert bid < r < ask
    # δ = γ·var + (2/γ)ln(1 + γ/κ) with var = 0.25 × 0.05, γ = 1, κ = 100
    delta = 0.0125 + 2 * math.log(1.01)
    assert bid == D("0.48") and ask == D("0.52")  # floor/ceil of 0.5 ∓ δ/2 = 0.4838/0.5162 on the 0.01 grid
    assert 0.5 - delta / 2 >= float(bid) and 0.5 + delta / 2 <= float(ask)
    assert all(leg.post_only and leg.tif is TimeInForce.GTC and leg.side is Side.BUY for leg in intent.legs)
    assert not intent.paired


async def test_maker_quotes_skew_down_when_long_and_up_when_short() -> None:
    flat = (await run(MQ, [market("q1"), *two_sided("q1", "0.40", "0.60")]))[1].intents[0]
    long = (await run(MQ, [market("q1"), _pos("q1-yes", "20"), *two_sided("q1", "0.40", "0.60")]))[1].intents[0]
    short = (await run(MQ, [market("q1"), _pos("q1-no", "20"), *two_sided("q1", "0.40", "0.60")]))[1].intents[0]
    assert long.fair_value is not None and flat.fair_value is not None and short.fair_value is not None
    # r = s − q·γ·var, q = ±2 units of 10 shares, var = 0.0125
    assert long.fair_value == D("0.475") and short.fair_value == D("0.525")
    fb, fa = _quotes(flat)
    lb, la = _quotes(long)
    sb, sa = _quotes(short)
    assert lb is not None and la is not None and fb is not None and fa is not None and sb is not None and sa is not None
    assert lb < fb and la < fa
    assert sb > fb and sa > fa
    assert lb < long.fair_value < la and sb < short.fair_value < sa


async def test_maker_stops_adding_to_inventory_past_the_limit() -> None:
    _, col, _ = await run(MQ, [market("q1"), _pos("q1-yes", "60"), *two_sided("q1", "0.40", "0.60")])
    (intent,) = col.intents
    assert [leg.token_id for leg in intent.legs] == ["q1-no"]  # only the leg that sells inventory down


async def test_maker_quotes_never_cross_the_book() -> None:
    # a one-tick book: A-S wants 0.48/0.52 but post-only quotes must stay off the other side
    _, col, _ = await run(MQ, [market("q1"), *two_sided("q1", "0.49", "0.50")])
    for intent in col.intents:
        bid, ask = _quotes(intent)
        assert bid is None or bid <= D("0.49")
        assert ask is None or ask >= D("0.50")


def test_maker_spread_narrows_as_resolution_nears_less_than_horizon() -> None:
    mq = MakerQuoting({"horizon_ns": 3600 * S})
    wide = mq.quote(D("0.5"), D(0), D("0.001"), 3600 * S)
    narrow = mq.quote(D("0.5"), D(0), D("0.001"), 100 * 3600 * S)
    assert wide is not None and narrow is not None
    assert wide.spread > narrow.spread and wide.variance == 0.25


# -- closing-line value ---------------------------------------------------------------------------


def _ref(p: str, closing: bool = False, t: int = T0) -> ReferenceProbability:
    return ReferenceProbability(time_ns=t, market="v1", probability=D(p), source="book", closing=closing)


async def test_value_buys_yes_when_reference_is_above_ask_after_fees() -> None:
    _, col, _ = await run({"clv_value": {}}, [market("v1"), *two_sided("v1", "0.48", "0.50"), _ref("0.60")])
    (intent,) = col.intents
    assert intent.legs[0].token_id == "v1-yes" and intent.edge == D("0.60") - D("0.50") - D("0.0175")


async def test_value_buys_no_when_reference_is_below() -> None:
    _, col, _ = await run({"clv_value": {}}, [market("v1"), *two_sided("v1", "0.50", "0.52"), _ref("0.40")])
    (intent,) = col.intents
    assert intent.legs[0].token_id == "v1-no" and intent.fair_value == D("0.60")


async def test_value_small_gap_and_closed_line_do_not_trade() -> None:
    small = await run({"clv_value": {}}, [market("v1"), *two_sided("v1", "0.48", "0.50"), _ref("0.52")])
    assert small[1].intents == []
    closed = await run({"clv_value": {}}, [market("v1"), _ref("0.60", closing=True), *two_sided("v1", "0.48", "0.50")])
    assert closed[1].intents == []


async def test_closing_line_value_is_scored_on_our_fills() -> None:
    fill = Fill(time_ns=T0, fill_id="f1", client_order_id="c1", account="acct", token_id="v1-yes", market="v1",
                side=Side.BUY, price=D("0.50"), size=D(10))
    script = [market("v1"), _ref("0.55"), fill, (S, _ref("0.65", closing=True, t=T0 + S))]
    strat, _, _ = await run({"clv_value": {"min_edge": "0.5"}}, script)
    assert strat.status()["strategies"]["clv_value"]["average_clv"] == "0.1500"


async def test_totals_model_prices_an_over_market_without_a_feed() -> None:
    q = to_prob(total_over_probability(2.5, 1.8, 1.5, -0.05))
    _, col, _ = await run(
        {"clv_value": {"totals": {"v1": {"home_rate": 1.8, "away_rate": 1.5, "line": 2.5, "rho": -0.05}}}},
        [market("v1"), *two_sided("v1", "0.48", "0.50")],
    )
    (intent,) = col.intents
    assert q > D("0.6") and intent.fair_value == q and intent.legs[0].token_id == "v1-yes"


def test_book_helper_mirrors_no() -> None:
    yes, no = two_sided("x", "0.40", "0.45")
    assert no.best_bid == D("0.55") and no.best_ask == D("0.60") and yes.mid == D("0.425")
    assert book("x-yes").best_ask is None
