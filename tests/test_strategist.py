"""The strategist's aggregation: ranking, duplicates, conflicts, cooldown, TTL, state, config errors."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from test_strategist_harness import T0, Collector, D, S, book, market, run, two_sided

from agents.strategist import Strategist, StrategistConfig
from cluster.runtime_local import LocalRuntime
from protocols import (
    NewsItem,
    ReasonCode,
    RiskAction,
    RiskDecision,
    TradingState,
    TradingStateChange,
    WalletScore,
    WhaleTrade,
)


def _arb_books(t: int = T0) -> list:
    return [book("m1-yes", asks=[("0.45", "100")], t=t), book("m1-no", asks=[("0.48", "60")], t=t)]


def _news(sentiment: float, item: str = "i1", t: int = T0) -> NewsItem:
    return NewsItem(time_ns=t, item_id=item, title="x", published_ns=t, markets=("m1",), sentiment=sentiment)


def _whale_sell_yes(t: int = T0) -> WhaleTrade:
    return WhaleTrade(
        time_ns=t, wallet="0xw", token_id="m1-yes", market="m1", side="SELL", price=D("0.49"), size=D(1000),
        notional=D(490), score=WalletScore(wallet="0xw", trades=40, score=0.9),
    )


def test_default_config_builds_and_unknown_strategy_is_named() -> None:
    Strategist("strategist")
    with pytest.raises(ValidationError, match="unknown strategy 'nope'"):
        StrategistConfig(strategies={"nope": {}})
    with pytest.raises(ValidationError, match=r"strategies\.complete_set\.min_edge"):
        StrategistConfig(strategies={"complete_set": {"min_edge": "-1"}})
    with pytest.raises(ValidationError, match=r"strategies\.whale_copy\.bogus"):
        StrategistConfig(strategies={"whale_copy": {"bogus": 1}})
    with pytest.raises(ValidationError, match="bankroll"):
        StrategistConfig(bankroll=D(0))


async def test_intent_has_deterministic_id_and_expiry_from_ttl() -> None:
    strat, col, _ = await run({"complete_set": {"ttl_ns": 3 * S}}, [market("m1"), *_arb_books()], intent_prefix="s1/")
    (intent,) = col.intents
    assert strat.epoch and intent.intent_id == f"s1/complete_set:m1:{strat.epoch}.1"
    assert intent.expires_ns == T0 + 3 * S
    assert col.signals[0].ttl_ns == 3 * S


async def test_same_opportunity_twice_is_a_duplicate_until_it_expires() -> None:
    script = [
        market("m1"),
        *_arb_books(),
        (S, _arb_books(T0 + S)[0]),  # same gap again, the first intent still pending
        (3 * S, _arb_books(T0 + 3 * S)[0]),  # after the 2 s TTL: a new intent
    ]
    strat, col, _ = await run({"complete_set": {"ttl_ns": 2 * S}}, script)
    e = strat.epoch
    assert [i.intent_id for i in col.intents] == [f"complete_set:m1:{e}.1", f"complete_set:m1:{e}.2"]
    assert strat.status()["dropped"] == {"DUPLICATE": 1}


async def test_cooldown_rate_limits_a_market() -> None:
    script = [
        market("m1"),
        *_arb_books(),
        (3 * S, _arb_books(T0 + 3 * S)[0]),  # TTL (2 s) over but cooldown (5 s) not
        (6 * S, _arb_books(T0 + 6 * S)[0]),
    ]
    strat, col, _ = await run({"complete_set": {"ttl_ns": 2 * S}}, script, cooldown_ns=5 * S)
    assert len(col.intents) == 2 and col.intents[1].time_ns == T0 + 6 * S
    assert strat.status()["dropped"] == {"COOLDOWN": 1}


async def test_opposite_exposure_on_one_market_is_a_conflict() -> None:
    # news says YES; a good whale then sells YES (copied as BUY NO) while the YES intent is pending
    strategies = {"news_reaction": {}, "whale_copy": {"use_kelly": False}}
    script = [market("m1"), *two_sided("m1", "0.49", "0.51"), _news(0.9), (S, _whale_sell_yes(T0 + S))]
    strat, col, _ = await run(strategies, script, bankroll="100000")
    assert [i.strategy for i in col.intents] == ["news_reaction"]
    assert strat.status()["dropped"] == {"CONFLICT": 1}


def _two_outcome_event(e1_yes_ask: str, e1_size: str, e0_no_ask: str, size: str) -> list:
    mk = [market(f"e{i}", event_id="ev", neg_risk=True, event_market_count=2) for i in range(2)]
    return [
        *mk,
        book("e0-no", asks=[(e0_no_ask, size)]),
        book("e1-yes", asks=[(e1_yes_ask, e1_size)]),
        book("e0-yes", asks=[("0.30", size)]),  # this one update makes both strategies propose
    ]


async def test_higher_ev_proposal_wins_and_the_overlapping_one_is_dropped() -> None:
    strategies: dict[str, Any] = {"complete_set": {}, "neg_risk_basket": {}}
    # basket: 1 − 0.60 − fees = 0.3706/basket × 50 ≫ complete set on e0: 1 − 0.90 − fees = 0.0685/set × 50
    strat, col, _ = await run(strategies, _two_outcome_event("0.30", "50", "0.60", "50"))
    assert [i.strategy for i in col.intents] == ["neg_risk_basket"]
    assert strat.status()["dropped"] == {"DUPLICATE": 1}
    # now the complete set pays more (0.579/set × 100 sets) than the thin basket (0.0685 × 10)
    strat, col, _ = await run(strategies, _two_outcome_event("0.60", "10", "0.10", "500"))
    assert [i.strategy for i in col.intents] == ["complete_set"]
    assert col.intents[0].ev == D("57.9") and strat.status()["dropped"] == {"DUPLICATE": 1}


async def test_halted_trading_state_suppresses_intents_and_active_restores_them() -> None:
    halt = TradingStateChange(time_ns=T0, state=TradingState.HALTED, previous=TradingState.ACTIVE,
                              reason=ReasonCode.DAILY_LOSS_LIMIT)
    resume = TradingStateChange(time_ns=T0 + S, state=TradingState.ACTIVE, previous=TradingState.HALTED)
    script = [market("m1"), halt, *_arb_books(), (S, resume), (S, _arb_books(T0 + S)[1])]
    strat, col, _ = await run({"complete_set": {}}, script)
    assert len(col.intents) == 1 and col.intents[0].time_ns == T0 + S
    assert strat.status()["dropped"] == {"TRADING_HALTED": 1}


async def test_rejected_intent_is_no_longer_pending() -> None:
    script = [market("m1"), *_arb_books()]
    _, col, rt = await run({"complete_set": {"ttl_ns": 60 * S}}, script)
    (intent,) = col.intents
    rt.inject(RiskDecision(time_ns=T0, intent_id=intent.intent_id, action=RiskAction.REJECTED, intent=intent,
                           reasons=(ReasonCode.MAX_TRADE_SIZE,)), sender="risk_officer")
    rt.inject(_arb_books()[0], sender="feed")
    await rt.run()
    assert len(col.intents) == 2


async def test_resolved_market_is_not_traded() -> None:
    from protocols import MarketResolved

    script = [market("m1"), MarketResolved(time_ns=T0, market="m1", winning_token_id="m1-yes"), *_arb_books()]
    _, col, _ = await run({"complete_set": {}}, script)
    assert col.intents == []


async def test_snapshot_restore_keeps_markets_counter_pending_and_positions() -> None:
    from protocols import Position

    pos = Position(time_ns=T0, account="a", token_id="m1-yes", market="m1", size=D(7))
    strat, _, _ = await run({"complete_set": {"ttl_ns": 60 * S}}, [market("m1"), pos, *_arb_books()])
    state = strat.snapshot()
    import json

    state = json.loads(json.dumps(state))  # must survive JSON
    fresh = Strategist("strategist", strat.config)
    fresh.restore(state)
    assert fresh.view.position("m1-yes") == D(7)
    assert "m1" in fresh.view.markets
    # the restored strategist still considers the first intent pending (duplicate), then numbers on
    _, col2, _ = await run({}, [(61 * S, _arb_books(T0 + 61 * S)[0]), (61 * S, _arb_books(T0 + 61 * S)[1])],
                           strategist=fresh)
    assert fresh.epoch != strat.epoch  # a new incarnation: its ids can never repeat the old ones
    assert [i.intent_id for i in col2.intents] == [f"complete_set:m1:{fresh.epoch}.2"]
    rt = LocalRuntime()
    dup = Strategist("strategist", strat.config)
    dup.restore(state)
    c = Collector()
    rt.add_agent(dup)
    rt.add_agent(c)
    for b in _arb_books():
        rt.inject(b, sender="feed")
    await rt.run()
    assert c.intents == [] and dup.status()["dropped"] == {"DUPLICATE": 1}


async def test_status_is_readable_and_reports_last_edge() -> None:
    strat, _, _ = await run({"complete_set": {}}, [market("m1"), *_arb_books()])
    st = strat.status()
    assert st["role"] == "strategist" and st["intents"] == 1 and st["signals"] == 1
    assert st["last_edge"] == {"m1": "0.035203"}
    assert st["strategies"] == {"complete_set": {"opportunities": 1}}
    assert st["trading_state"] == "ACTIVE"


async def test_runs_are_deterministic() -> None:
    script = [market("m1"), *_arb_books(), *two_sided("m1", "0.49", "0.51", t=T0 + S), _news(0.7, t=T0 + S)]
    digests = set()
    for _ in range(2):
        _, _, rt = await run({"complete_set": {}, "news_reaction": {}, "maker_quoting": {}}, script)
        digests.add(rt.event_log_digest())
    assert len(digests) == 1


async def test_a_failing_strategy_is_counted_and_others_still_trade() -> None:
    strat = Strategist("strategist", {"strategies": {"complete_set": {}, "news_reaction": {}}, "cooldown_ns": 0})

    def boom(*_a: object) -> list:
        raise RuntimeError("bug")

    strat.strategies["news_reaction"].on_payload = boom  # type: ignore[method-assign,assignment]
    _, col, _ = await run({}, [market("m1"), *_arb_books()], strategist=strat)
    assert len(col.intents) == 1 and strat.status()["errors"] == 2


async def test_every_strategys_state_survives_snapshot_json_restore() -> None:
    import json

    from protocols import Fill, ReferencePrice, ReferenceProbability

    strategies: dict[str, Any] = {
        "crypto_fair_value": {"markets": {"c1": {"symbol": "BTC/USDT", "start_ns": T0}}},
        "news_reaction": {},
        "whale_copy": {},
        "clv_value": {},
        "bonds": {},
        "maker_quoting": {},
        "complete_set": {},
        "neg_risk_basket": {},
    }
    script = [
        market("c1", end_ns=T0 + 900 * S), market("m1"),
        ReferencePrice(time_ns=T0, symbol="BTC/USDT", price=D(100000)),
        *two_sided("m1", "0.49", "0.51"), _news(0.5),
        ReferenceProbability(time_ns=T0, market="m1", probability=D("0.6")),
        Fill(time_ns=T0, fill_id="f1", client_order_id="c", account="a", token_id="m1-yes", market="m1",
             side="BUY", price=D("0.5"), size=D(5)),
        _whale_sell_yes(),
    ]
    strat, _, _ = await run(strategies, script)
    state = json.loads(json.dumps(strat.snapshot()))
    fresh = Strategist("strategist", strat.config)
    fresh.restore(state)
    assert fresh.snapshot() == state
    assert state["strategies"]["crypto_fair_value"]["captured"] == {"c1": "100000"}
    assert "m1" in state["strategies"]["news_reaction"]["fair"]
    assert state["strategies"]["clv_value"]["entries"]["m1"] == [["m1-yes", "0.5", "5"]]
    # status minus derived, per-tick views (last fair values, quotes) that a restart recomputes
    for key in ("intents", "signals", "dropped", "last_edge", "markets", "trading_state"):
        assert fresh.status()[key] == strat.status()[key], key


async def test_operator_can_pause_and_resume_a_strategy() -> None:
    from protocols import Command

    pause = Command(time_ns=T0, target="strategist", name="pause", args={"strategy": "complete_set"})
    resume = Command(time_ns=T0 + S, target="*", name="resume", args={"strategy": "*"})
    other = Command(time_ns=T0, target="trader", name="pause", args={"strategy": "complete_set"})
    script = [market("m1"), other, pause, *_arb_books(), (S, resume), (S, _arb_books(T0 + S)[0])]
    strat, col, _ = await run({"complete_set": {}}, script)
    assert [i.time_ns for i in col.intents] == [T0 + S]
    assert strat.status()["dropped"] == {"PAUSED": 1} and strat.status()["paused"] == []
