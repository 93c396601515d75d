"""Complete-set and neg-risk basket arbitrage, fed through the real LocalRuntime."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from test_strategist_harness import D, book, market, run

from protocols import BookStale, Side, TimeInForce

CS: dict[str, Any] = {"complete_set": {}}


async def test_complete_set_gap_above_fees_emits_paired_intent_with_expected_profit() -> None:
    # 1 − (0.45 + 0.48) = 0.07; fees 0.07·0.45·0.55 + 0.07·0.48·0.52 = 0.017325 + 0.017472 = 0.034797
    _, col, _ = await run(
        CS,
        [
            market("m1"),
            book("m1-yes", asks=[("0.45", "100")]),
            book("m1-no", asks=[("0.48", "60")]),
        ],
    )
    assert len(col.intents) == 1
    intent = col.intents[0]
    assert intent.paired is True
    assert intent.strategy == "complete_set"
    assert [(leg.token_id, leg.side, leg.price, leg.size, leg.tif) for leg in intent.legs] == [
        ("m1-yes", Side.BUY, D("0.45"), D("60"), TimeInForce.FOK),
        ("m1-no", Side.BUY, D("0.48"), D("60"), TimeInForce.FOK),
    ]
    assert intent.ev == D("2.11218")  # 60 × (0.07 − 0.034797)
    assert intent.edge == D("0.035203")
    assert len(col.signals) == 1 and col.signals[0].ev == intent.ev


async def test_complete_set_walks_levels_while_each_set_still_profits() -> None:
    # level 1: 0.45+0.48 → margin 0.035203 ×50; level 2: 0.46+0.48 → 1−0.94−0.017388−0.017472 = 0.02514 ×30;
    # level 3: 0.46+0.52 sums ≥ 1 with fees → stop.
    _, col, _ = await run(
        CS,
        [
            market("m1"),
            book("m1-yes", asks=[("0.45", "50"), ("0.46", "100")]),
            book("m1-no", asks=[("0.48", "80"), ("0.52", "100")]),
        ],
    )
    (intent,) = col.intents
    assert [(leg.price, leg.size) for leg in intent.legs] == [(D("0.46"), D(80)), (D("0.48"), D(80))]
    assert intent.ev == D("2.51435")


async def test_complete_set_gap_smaller_than_fees_emits_nothing() -> None:
    # 1 − 0.97 = 0.03 < 0.07·0.49·0.51 + 0.07·0.48·0.52 = 0.034965
    strat, col, _ = await run(
        CS, [market("m1"), book("m1-yes", asks=[("0.49", "100")]), book("m1-no", asks=[("0.48", "100")])]
    )
    assert col.intents == [] and col.signals == []
    assert strat.status()["intents"] == 0


async def test_complete_set_same_gap_without_fees_is_taken() -> None:
    _, col, _ = await run(
        CS,
        [
            market("m1", fees_enabled=False),
            book("m1-yes", asks=[("0.49", "100")]),
            book("m1-no", asks=[("0.48", "100")]),
        ],
    )
    (intent,) = col.intents
    assert intent.ev == D("3.00")  # 100 × 0.03


async def test_complete_set_quadratic_fee_curve_is_applied() -> None:
    # exponent 2: fee = 0.25·(p(1−p))² ≈ 0.0156 per leg at 0.5 → gap 0.02 is not enough, 0.04 is.
    small = await run(
        {"complete_set": {}},
        [
            market("m1", fee_rate="0.25", fee_exponent=2),
            book("m1-yes", asks=[("0.49", "100")]),
            book("m1-no", asks=[("0.49", "100")]),
        ],
    )
    assert small[1].intents == []
    big = await run(
        {"complete_set": {}},
        [
            market("m1", fee_rate="0.25", fee_exponent=2),
            book("m1-yes", asks=[("0.48", "100")]),
            book("m1-no", asks=[("0.48", "100")]),
        ],
    )
    (intent,) = big[1].intents
    fee = D("0.25") * (D("0.48") * D("0.52")) ** 2
    assert intent.edge == D(1) - D("0.96") - 2 * fee


async def test_complete_set_stale_book_is_not_traded() -> None:
    _, col, _ = await run(
        CS,
        [
            market("m1"),
            book("m1-yes", asks=[("0.40", "100")]),
            BookStale(time_ns=book("m1-yes").time_ns, token_id="m1-yes", market="m1", reason="STALE"),
            book("m1-no", asks=[("0.40", "100")]),
        ],
    )
    assert col.intents == []


async def test_complete_set_below_min_size_emits_nothing() -> None:
    _, col, _ = await run(
        CS, [market("m1"), book("m1-yes", asks=[("0.40", "4.99")]), book("m1-no", asks=[("0.40", "100")])]
    )
    assert col.intents == []


async def test_complete_set_size_capped_by_bankroll_fraction() -> None:
    _, col, _ = await run(
        {"complete_set": {"max_notional_fraction": "0.01", "tif": "FAK"}},
        [market("m1"), book("m1-yes", asks=[("0.40", "1000")]), book("m1-no", asks=[("0.40", "1000")])],
        bankroll="1000",
    )
    (intent,) = col.intents
    assert all(leg.size == D(10) and leg.tif is TimeInForce.FAK for leg in intent.legs)


# -- neg-risk baskets -------------------------------------------------------------------------------

NR: dict[str, Any] = {"neg_risk_basket": {}}


def _event(n: int = 3, augmented: bool = False, count: int | None = None) -> list:
    return [
        market(
            f"e{i}", event_id="ev", neg_risk=True, neg_risk_augmented=augmented,
            event_market_count=n if count is None else count,
        )
        for i in range(n)
    ]


async def test_neg_risk_basket_below_one_after_fees_is_captured() -> None:
    # 3 × 0.30 = 0.90; fees 3 × 0.07·0.3·0.7 = 0.0441 → margin 0.0559 per basket
    script = [*_event(3), *(book(f"e{i}-yes", asks=[("0.30", "50")]) for i in range(3))]
    strat, col, _ = await run(NR, script)
    (intent,) = col.intents
    assert intent.paired and intent.strategy == "neg_risk_basket"
    assert sorted(leg.token_id for leg in intent.legs) == ["e0-yes", "e1-yes", "e2-yes"]
    assert all(leg.size == D(50) and leg.price == D("0.30") and leg.neg_risk for leg in intent.legs)
    assert intent.ev == D("2.795")
    assert strat.epoch and intent.intent_id == f"neg_risk_basket:ev:{strat.epoch}.1"  # the incarnation in the id
    assert strat.status()["strategies"]["neg_risk_basket"]["opportunities"] == 1


async def test_neg_risk_basket_in_augmented_event_is_skipped() -> None:
    script = [*_event(3, augmented=True), *(book(f"e{i}-yes", asks=[("0.20", "50")]) for i in range(3))]
    strat, col, _ = await run(NR, script)
    assert col.intents == []
    assert strat.status()["strategies"]["neg_risk_basket"]["skipped_augmented"] >= 1


async def test_neg_risk_basket_with_an_outcome_missing_is_not_traded() -> None:
    # the event has 4 outcomes but only 3 are known: buying 3 YES is not a complete set
    script = [*_event(3, count=4), *(book(f"e{i}-yes", asks=[("0.20", "50")]) for i in range(3))]
    strat, col, _ = await run(NR, script)
    assert col.intents == []
    assert strat.status()["strategies"]["neg_risk_basket"]["skipped_incomplete"] >= 1


async def test_neg_risk_basket_event_size_from_config_when_venue_does_not_say() -> None:
    script = [*_event(3, count=0), *(book(f"e{i}-yes", asks=[("0.30", "50")]) for i in range(3))]
    _, col, _ = await run({"neg_risk_basket": {"event_sizes": {"ev": 3}}}, script)
    assert len(col.intents) == 1


async def test_neg_risk_basket_sum_plus_fees_above_one_is_left_alone() -> None:
    # 3 × 0.32 = 0.96; fees 3 × 0.07·0.32·0.68 = 0.045696 → 1.005696 > 1
    script = [*_event(3), *(book(f"e{i}-yes", asks=[("0.32", "50")]) for i in range(3))]
    _, col, _ = await run(NR, script)
    assert col.intents == []


def test_walk_basket_size_is_limited_by_thinnest_leg() -> None:
    from agents.strategies.complete_set import walk_basket

    w = walk_basket(
        [[(D("0.3"), D(10)), (D("0.31"), D(5))], [(D("0.3"), D(100))]],
        [lambda p: Decimal(0), lambda p: Decimal(0)],
        Decimal(0),
        Decimal(1000),
    )
    assert w is not None
    assert w.size == D(15) and w.limits == (D("0.31"), D("0.3"))
    assert w.profit == D(10) * D("0.4") + D(5) * D("0.39")
