"""Crypto jump-diffusion fair value, whale copy, news reaction and bonds, through the LocalRuntime."""

from __future__ import annotations

import math
from decimal import Decimal

from test_strategist_harness import T0, D, S, book, market, run, two_sided

from agents.strategies.crypto_fair_value import CryptoFairValue, parse_strike
from agents.strategies.pricing import expit, to_prob
from protocols import NewsItem, ReferencePrice, Side, WalletScore, WhaleTrade

MIN = 60 * S
BTC_Q = "Will BTC be above $100,000 at 12:15 UTC?"


def _btc(price: str, t: int = T0) -> ReferencePrice:
    return ReferencePrice(time_ns=t, symbol="BTC/USDT", price=D(price), source="test")


# -- crypto up/down ---------------------------------------------------------------------------------


def test_parse_strike_reads_asset_and_dollar_amount() -> None:
    sym = {"BTC": "BTC/USDT", "ETHEREUM": "ETH/USDT"}
    assert parse_strike(BTC_Q, sym) == ("BTC/USDT", D("100000"))
    assert parse_strike("Will Ethereum close above $3,250.50 today?", sym) == ("ETH/USDT", D("3250.50"))
    assert parse_strike("Will it rain above 10mm?", sym) is None


async def test_crypto_strike_from_slug_when_question_has_none() -> None:
    mkt = market("c1", question="Bitcoin price at noon", slug="btc-above-100000-noon", end_ns=T0 + 15 * MIN)
    _, col, _ = await run({"crypto_fair_value": {}}, [mkt, *two_sided("c1", "0.44", "0.46"), _btc("99000")])
    assert [i.legs[0].token_id for i in col.intents] == ["c1-no"]


async def test_crypto_spot_above_strike_buys_yes_below_buys_no() -> None:
    mkt = market("c1", question=BTC_Q, end_ns=T0 + 15 * MIN)
    books = two_sided("c1", "0.54", "0.56")
    _, col, _ = await run({"crypto_fair_value": {}}, [mkt, *books, _btc("100500")])
    (up,) = col.intents
    assert up.legs[0].token_id == "c1-yes" and up.legs[0].side is Side.BUY
    assert up.fair_value is not None and up.fair_value > D("0.9")
    fee = D("0.07") * D("0.56") * D("0.44")
    assert up.edge == up.fair_value - D("0.56") - fee

    _, col, _ = await run({"crypto_fair_value": {}}, [mkt, *books, _btc("99500")])
    (down,) = col.intents
    assert down.legs[0].token_id == "c1-no" and down.legs[0].price == D("0.46")


async def test_crypto_reference_symbol_matches_without_punctuation() -> None:
    mkt = market("c1", question=BTC_Q, end_ns=T0 + 15 * MIN)
    ref = ReferencePrice(time_ns=T0, symbol="BTCUSDT", price=D("100500"), source="sim")
    _, col, _ = await run({"crypto_fair_value": {}}, [mkt, *two_sided("c1", "0.54", "0.56"), ref])
    assert [i.legs[0].token_id for i in col.intents] == ["c1-yes"]


async def test_crypto_fair_value_near_the_book_is_not_traded_after_fees() -> None:
    # spot = strike: P(up) ≈ 0.5 minus a tiny drift correction; 0.49/0.51 book leaves no edge after fees
    mkt = market("c1", question=BTC_Q, end_ns=T0 + 15 * MIN)
    strat, col, _ = await run({"crypto_fair_value": {}}, [mkt, *two_sided("c1", "0.49", "0.51"), _btc("100000")])
    assert col.intents == []
    fair = D(strat.status()["strategies"]["crypto_fair_value"]["fair"]["c1"])
    assert abs(fair - D("0.5")) < D("0.01")


async def test_crypto_stale_reference_is_not_traded() -> None:
    mkt = market("c1", question=BTC_Q, end_ns=T0 + 15 * MIN)
    script = [mkt, _btc("101000"), (10 * S, two_sided("c1", "0.54", "0.56", t=T0 + 10 * S)[0]),
              (10 * S, two_sided("c1", "0.54", "0.56", t=T0 + 10 * S)[1])]
    _, col, _ = await run({"crypto_fair_value": {"max_reference_age_ns": 5 * S}}, script)
    assert col.intents == []


async def test_crypto_window_strike_is_captured_from_first_reference_after_start() -> None:
    mkt = market("c2", question="Bitcoin Up or Down - 12:00-12:15", end_ns=T0 + 15 * MIN)
    cfg = {"markets": {"c2": {"symbol": "BTC/USDT", "start_ns": T0 + S}}}
    script = [
        mkt,
        *two_sided("c2", "0.49", "0.51"),
        _btc("90000"),  # before the window: not the strike
        (S, _btc("100000", T0 + S)),  # the price to beat
        (2 * S, _btc("100400", T0 + 2 * S)),
    ]
    strat, col, _ = await run({"crypto_fair_value": cfg}, script)
    s = strat.strategies["crypto_fair_value"]
    assert isinstance(s, CryptoFairValue)
    assert s.captured == {"c2": D("100000")}
    (intent,) = col.intents
    assert intent.legs[0].token_id == "c2-yes"
    assert intent.fair_value == s.probability_up(D("100400"), D("100000"), T0 + 2 * S, T0 + 15 * MIN)


# -- whale copy -------------------------------------------------------------------------------------


def _whale(size: str = "1000", score: float = 0.8, trades: int = 50, side: Side = Side.BUY, price: str = "0.49",
           token: str = "w1-yes", t: int = T0) -> WhaleTrade:
    return WhaleTrade(
        time_ns=t, wallet="0xwhale", token_id=token, market="w1", side=side, price=D(price), size=D(size),
        notional=D(price) * D(size),
        score=WalletScore(wallet="0xwhale", trades=trades, wins=30, losses=20, score=score),
    )


WC = {"whale_copy": {"use_kelly": False, "copy_fraction": "0.1", "max_shares": "200"}}


async def test_whale_copy_scales_the_whales_size() -> None:
    _, col, _ = await run(WC, [market("w1"), *two_sided("w1", "0.48", "0.50", size="5000"), _whale("1000")],
                          bankroll="100000")
    (intent,) = col.intents
    leg = intent.legs[0]
    assert (leg.token_id, leg.side, leg.price, leg.size) == ("w1-yes", Side.BUY, D("0.50"), D(100))
    # fair = 0.49 + 0.08 × 0.8; edge net of the fee at 0.50
    assert intent.edge == D("0.554") - D("0.50") - D("0.0175")


async def test_whale_copy_is_capped_at_max_shares() -> None:
    _, col, _ = await run(WC, [market("w1"), *two_sided("w1", "0.48", "0.50", size="5000"), _whale("5000")],
                          bankroll="100000")
    (intent,) = col.intents
    assert intent.legs[0].size == D(200)


async def test_whale_copy_kelly_caps_the_size_on_a_small_bankroll() -> None:
    _, col, _ = await run({"whale_copy": {}}, [market("w1"), *two_sided("w1", "0.48", "0.50", size="5000"),
                                               _whale("5000")], bankroll="1000")
    (intent,) = col.intents
    # 0.25 × (0.554 − 0.5175)/(1 − 0.5175) × 1000 / 0.5175 = 36.54… shares
    assert intent.legs[0].size == D("36.54")


async def test_whale_copy_skips_low_score_late_and_runaway_trades() -> None:
    low = await run(WC, [market("w1"), *two_sided("w1", "0.48", "0.50"), _whale(score=0.1)])
    assert low[1].intents == []
    assert low[0].status()["strategies"]["whale_copy"]["skipped"] == {"LOW_SCORE": 1}
    few = await run(WC, [market("w1"), *two_sided("w1", "0.48", "0.50"), _whale(trades=1)])
    assert few[1].intents == []
    ran = await run(WC, [market("w1"), *two_sided("w1", "0.52", "0.53"), _whale(price="0.49")])
    assert ran[1].intents == [] and ran[0].status()["strategies"]["whale_copy"]["skipped"] == {"RAN_AWAY": 1}
    late = await run(WC, [market("w1"), (120 * S, two_sided("w1", "0.48", "0.50", t=T0 + 120 * S)[0]),
                          (120 * S, _whale())])
    assert late[1].intents == [] and late[0].status()["strategies"]["whale_copy"]["skipped"] == {"TOO_LATE": 1}


async def test_whale_sell_is_copied_as_a_buy_of_the_other_side() -> None:
    # whale sells YES at 0.51 = buys NO at 0.49; NO ask is 1 − 0.50 = 0.50
    _, col, _ = await run(WC, [market("w1"), *two_sided("w1", "0.50", "0.52"), _whale(side=Side.SELL, price="0.51")],
                          bankroll="100000")
    (intent,) = col.intents
    assert intent.legs[0].token_id == "w1-no" and intent.legs[0].price == D("0.50")


# -- news ---------------------------------------------------------------------------------------------


def _news(sentiment: float, markets: tuple[str, ...] = ("n1",), published: int = T0, novelty: float = 1.0) -> NewsItem:
    return NewsItem(time_ns=T0, item_id=f"item{sentiment}", title="x", published_ns=published, markets=markets,
                    sentiment=sentiment, novelty=novelty)


async def test_news_positive_shock_moves_fair_value_up_and_buys_yes() -> None:
    strat, col, _ = await run({"news_reaction": {}}, [market("n1"), *two_sided("n1", "0.49", "0.51"), _news(0.8)])
    fair = D(strat.status()["strategies"]["news_reaction"]["fair"]["n1"])
    assert fair == to_prob(expit(0.8))  # mid 0.5 → logit 0 → +0.8
    (intent,) = col.intents
    assert intent.legs[0].token_id == "n1-yes" and intent.fair_value == fair
    assert intent.edge == fair - D("0.51") - D("0.07") * D("0.51") * D("0.49")


async def test_news_negative_shock_buys_no() -> None:
    _, col, _ = await run({"news_reaction": {}}, [market("n1"), *two_sided("n1", "0.49", "0.51"), _news(-0.8)])
    (intent,) = col.intents
    assert intent.legs[0].token_id == "n1-no"
    assert intent.fair_value == D(1) - to_prob(expit(-0.8))


async def test_news_weak_old_or_unmatched_items_do_nothing() -> None:
    base = [market("n1"), *two_sided("n1", "0.49", "0.51")]
    for item in (_news(0.05), _news(0.8, markets=("other",)), _news(0.8, published=T0 - 3600 * S)):
        _, col, _ = await run({"news_reaction": {}}, [*base, item])
        assert col.intents == []


async def test_news_small_shock_does_not_clear_the_fee() -> None:
    # 0.1 log-odds ≈ +0.025 from 0.5; the ask is 0.51 and the fee 0.0175 → no edge
    _, col, _ = await run({"news_reaction": {}}, [market("n1"), *two_sided("n1", "0.49", "0.51"), _news(0.1)])
    assert col.intents == []


# -- bonds ------------------------------------------------------------------------------------------


async def test_bond_favourite_near_resolution_is_bought() -> None:
    mkt = market("b1", end_ns=T0 + 24 * 3600 * S)
    _, col, _ = await run({"bonds": {}}, [mkt, book("b1-yes", asks=[("0.96", "100")], bids=[("0.95", "10")])])
    (intent,) = col.intents
    leg = intent.legs[0]
    assert leg.token_id == "b1-yes" and leg.price == D("0.96")
    assert intent.edge == D("0.99") - D("0.96") - D("0.07") * D("0.96") * D("0.04")


async def test_bond_skipped_when_far_from_resolution_cheap_or_return_too_low() -> None:
    far = market("b1", end_ns=T0 + 30 * 24 * 3600 * S)
    near = market("b1", end_ns=T0 + 24 * 3600 * S)
    fav = book("b1-yes", asks=[("0.96", "100")])
    assert (await run({"bonds": {}}, [far, fav]))[1].intents == []
    assert (await run({"bonds": {}}, [near, book("b1-yes", asks=[("0.90", "100")])]))[1].intents == []
    assert (await run({"bonds": {"min_annual_return": "50"}}, [near, fav]))[1].intents == []
    # at 0.99 the favourite is priced at the assumed tail risk: nothing left after the fee
    assert (await run({"bonds": {}}, [near, book("b1-yes", asks=[("0.99", "100")])]))[1].intents == []


def test_annualised_return_scales_with_time_left() -> None:
    from agents.strategies.bonds import annualised_return

    day = 24 * 3600 * S
    r1 = annualised_return(D("0.96"), D(0), D("0.99"), day)
    r2 = annualised_return(D("0.96"), D(0), D("0.99"), 2 * day)
    assert r1 == 2 * r2 and r1 > 0
    assert annualised_return(D("0.96"), D(0), D(Decimal("0.99")), 0) == 0


async def test_news_uses_last_trade_as_the_prior_when_books_are_one_sided() -> None:
    from protocols import TradePrint

    trade = TradePrint(time_ns=T0, token_id="n1-yes", market="n1", price=D("0.40"), size=D(10), side=Side.BUY)
    one_sided = [book("n1-yes", asks=[("0.45", "100")]), book("n1-no", asks=[("0.62", "100")])]
    strat, col, _ = await run({"news_reaction": {}}, [market("n1"), trade, *one_sided, _news(1.0)])
    fair = D(strat.status()["strategies"]["news_reaction"]["fair"]["n1"])
    assert fair == to_prob(expit(math.log(0.4 / 0.6) + 1.0))
    (intent,) = col.intents
    assert intent.legs[0].token_id == "n1-yes" and intent.legs[0].price == D("0.45")
