"""Property: whatever the books and fees, no strategy emits an intent whose edge does not clear fees.

Random books (1–3 levels a side), fee curves (rate, exponent, on/off), reference prices and
probabilities, news and whale trades go through a strategist running every strategy on the real
LocalRuntime; each intent is then checked against an independent recomputation of the fees.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from test_strategist_harness import T0, D, S, book, market, run

from protocols import (
    MarketInfo,
    NewsItem,
    OrderIntent,
    Payload,
    ReferencePrice,
    ReferenceProbability,
    Side,
    TopOfBook,
    WalletScore,
    WhaleTrade,
)

# min_edge 0 everywhere: the bar is then exactly the fee, so a strategy that under-counts fees by
# any amount trades somewhere in the random books and is caught.
ALL: dict[str, dict[str, Any]] = {
    "complete_set": {"min_edge": "0"},
    "neg_risk_basket": {"min_edge": "0"},
    "crypto_fair_value": {"min_edge": "0", "markets": {"m1": {"symbol": "BTC/USDT", "strike": "100000"}}},
    "whale_copy": {"min_edge": "0", "min_score": 0.0, "min_trades": 0},
    "news_reaction": {"min_edge": "0"},
    "bonds": {"min_edge": "0", "min_price": "0.80"},
    "maker_quoting": {"min_edge": "0"},
    "clv_value": {"min_edge": "0"},
}


def fee(info: MarketInfo, p: Decimal) -> Decimal:
    """Independent of agents.strategies.fees on purpose."""
    if not info.fees_enabled:
        return D(0)
    return info.fee_rate * (p * (1 - p)) ** info.fee_exponent


cents = st.integers(1, 99).map(lambda c: D(c) / 100)
sizes = st.integers(100, 50000).map(lambda c: D(c) / 100)


@st.composite
def a_book(draw: Any, token: str) -> Payload:
    n = draw(st.integers(1, 3))
    # event outcomes are priced low so that baskets near and below 1 come up often
    prices = st.integers(5, 40).map(lambda c: D(c) / 100) if token.startswith("e") and token.endswith("-yes") else cents
    asks = sorted(set(draw(st.lists(prices, min_size=n, max_size=n))))
    bid_gap = draw(st.integers(1, 5))
    bid = asks[0] - D(bid_gap) / 100
    bids = [(str(bid), str(draw(sizes)))] if bid > 0 else []
    return book(token, asks=[(str(p), str(draw(sizes))) for p in asks], bids=bids)


@st.composite
def world(draw: Any) -> tuple[list[Payload], dict[str, MarketInfo]]:
    def fees() -> dict[str, Any]:
        # mostly live, linear, sizeable fees: that is where an under-counted fee would show
        return {
            "fee_rate": str(draw(st.sampled_from(["0", "0.02", "0.07", "0.1", "0.25"]))),
            "fee_exponent": draw(st.sampled_from([1, 1, 1, 2])),
            "fees_enabled": draw(st.sampled_from([True, True, True, True, False])),
        }

    end = T0 + draw(st.integers(2, 3 * 24 * 3600)) * S
    infos = [market("m1", end_ns=end, **fees())]
    infos += [market(f"e{i}", event_id="ev", neg_risk=True, event_market_count=3, end_ns=end, **fees())
              for i in range(3)]
    script: list[Payload] = list(infos)
    script.append(ReferencePrice(time_ns=T0, symbol="BTC/USDT", price=D(draw(st.integers(95000, 105000)))))
    tokens = [t for info in infos for t in info.token_ids]
    for t in draw(st.permutations(tokens)):
        script.append(draw(a_book(t)))
    for info in infos:
        if draw(st.booleans()):
            # a reference a few cents from the YES ask: the edge is then of the order of the fee
            yes = next(b for b in script if isinstance(b, TopOfBook) and b.token_id == info.yes_token)
            anchor = yes.best_ask or D("0.5")
            q = min(D("0.99"), max(D("0.01"), anchor + D(draw(st.integers(-1, 4))) / 100))
            script.append(ReferenceProbability(time_ns=T0, market=info.market, probability=q))
    for info in infos:
        if draw(st.booleans()):
            script.append(NewsItem(time_ns=T0, item_id=f"n-{info.market}", title="x", published_ns=T0,
                                   markets=(info.market,), sentiment=draw(st.floats(-1, 1)),
                                   novelty=draw(st.floats(0, 1))))
        if draw(st.booleans()):
            # the whale paid about what the book asks now (± a few cents), so copies are often live
            tok = draw(st.sampled_from(info.token_ids))
            side = draw(st.sampled_from([Side.BUY, Side.SELL]))
            own = next(b for b in script if isinstance(b, TopOfBook) and b.token_id == tok)
            other = next(b for b in script if isinstance(b, TopOfBook) and b.token_id != tok
                         and b.market == info.market)
            whale_anchor = own.best_ask if side is Side.BUY else (1 - other.best_ask if other.best_ask else None)
            px = min(D("0.99"), max(D("0.01"), (whale_anchor or D("0.5")) + D(draw(st.integers(-3, 3))) / 100))
            script.append(WhaleTrade(
                time_ns=T0, wallet="0xw", token_id=tok, market=info.market,
                side=side, price=px, size=draw(sizes),
                notional=D(1), score=WalletScore(wallet="0xw", trades=100, score=draw(st.floats(0, 1))),
            ))
    return script, {i.market: i for i in infos}


def check(intent: OrderIntent, infos: dict[str, MarketInfo]) -> None:
    assert intent.edge > 0 and intent.ev > 0, intent
    for leg in intent.legs:
        info = infos[leg.market]
        assert leg.side is Side.BUY
        assert 0 < leg.price < 1 and leg.price % info.tick_size == 0
        assert leg.size >= info.min_order_size and leg.size % D("0.01") == 0
    if intent.paired:
        # a complete set (YES+NO of one market, or every YES of the event) at the limit prices
        total = sum((leg.price + fee(infos[leg.market], leg.price) for leg in intent.legs), D(0))
        assert total < 1, (intent, total)
        assert len({leg.size for leg in intent.legs}) == 1
        return
    fv = intent.fair_value
    assert fv is not None
    if all(leg.post_only for leg in intent.legs):
        # maker quotes pay no fee; each must sit on the right side of the reservation price
        first = intent.legs[0]
        r_yes = fv if first.token_id.endswith("-yes") else 1 - fv
        for leg in intent.legs:
            worth = r_yes if leg.token_id.endswith("-yes") else 1 - r_yes
            assert leg.price < worth, (intent, r_yes)
        return
    (leg,) = intent.legs
    net = fv - leg.price - fee(infos[leg.market], leg.price)
    assert net > 0, (intent, net)
    # the reported edge averages the levels taken; the worst of them (the limit) still clears fees
    assert intent.edge >= net, (intent, net)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(w=world(), which=st.sampled_from([*ALL, "all"]))
def test_no_strategy_emits_an_intent_whose_edge_does_not_clear_fees(
    w: tuple[list[Payload], dict[str, MarketInfo]], which: str
) -> None:
    script, infos = w
    strategies = ALL if which == "all" else {which: ALL[which]}
    strat, col, _ = asyncio.run(run(strategies, script, bankroll="10000"))
    assert strat.status()["errors"] == 0
    for intent in col.intents:
        event(f"intent from {intent.strategy}")
        check(intent, infos)
