"""Property: whatever the stream, the strategist never has two live intents that duplicate or conflict,
and never publishes twice on a market inside its cooldown.

Random timed streams of books, news, whale trades and reference probabilities on two markets go
to a strategist running several directional strategies at once (so they disagree); the published
intents are then checked pairwise against the rules, recomputed here from the intents alone.
"""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from test_strategist_harness import T0, D, S, market, run, two_sided

from protocols import NewsItem, OrderIntent, ReferenceProbability, Side, WalletScore, WhaleTrade

MS = 1_000_000
STRATS: dict[str, Any] = {
    "news_reaction": {"ttl_ns": 2 * S},
    "whale_copy": {"min_score": 0.0, "min_trades": 0, "max_slippage": "0.10", "ttl_ns": 3 * S},
    "clv_value": {"ttl_ns": 1 * S},
    "maker_quoting": {"ttl_ns": 2 * S},
    "complete_set": {"ttl_ns": S},
}
COOLDOWN = 1500 * MS  # longer than some TTLs, so cooldown (not pending) is what binds


def direction(intent: OrderIntent) -> int:
    if intent.paired or len(intent.legs) > 1:
        return 0
    return 1 if intent.legs[0].token_id.endswith("-yes") else -1


@st.composite
def stream(draw: Any) -> list[Any]:
    script: list[Any] = [market("a"), market("b")]
    t = 0
    for k in range(draw(st.integers(5, 30))):
        t += draw(st.integers(0, 800)) * MS
        m = draw(st.sampled_from(["a", "b"]))
        kind = draw(st.sampled_from(["book", "book", "news", "whale", "ref"]))
        if kind == "book":
            bid = draw(st.integers(5, 90))
            ask = bid + draw(st.integers(1, 6))
            for b in two_sided(m, str(D(bid) / 100), str(D(ask) / 100), t=T0 + t):
                script.append((t, b))
        elif kind == "news":
            script.append((t, NewsItem(time_ns=T0 + t, item_id=f"n{k}", title="x", published_ns=T0 + t,
                                       markets=(m,), sentiment=draw(st.floats(-1, 1)))))
        elif kind == "whale":
            script.append((t, WhaleTrade(
                time_ns=T0 + t, wallet="0xw", token_id=f"{m}-{draw(st.sampled_from(['yes', 'no']))}", market=m,
                side=draw(st.sampled_from([Side.BUY, Side.SELL])), price=D(draw(st.integers(5, 95))) / 100,
                size=D(draw(st.integers(10, 2000))), notional=D(1),
                score=WalletScore(wallet="0xw", trades=50, score=draw(st.floats(0, 1))),
            )))
        else:
            script.append((t, ReferenceProbability(time_ns=T0 + t, market=m,
                                                   probability=D(draw(st.integers(1, 99))) / 100)))
    return script


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(script=stream())
def test_live_intents_never_duplicate_or_conflict_and_cooldown_holds(script: list[Any]) -> None:
    strat, col, _ = asyncio.run(run(STRATS, script, bankroll="100000", cooldown_ns=COOLDOWN))
    assert strat.status()["errors"] == 0
    intents = col.intents
    event(f"{min(len(intents), 5)}+ intents" if len(intents) >= 5 else f"{len(intents)} intents")
    for reason in strat.status()["dropped"]:
        event(f"dropped {reason}")
    assert len({i.intent_id for i in intents}) == len(intents)
    for j, later in enumerate(intents):
        for earlier in intents[:j]:
            assert earlier.expires_ns is not None
            shared = {leg.market for leg in earlier.legs} & {leg.market for leg in later.legs}
            if not shared:
                continue
            assert later.time_ns - earlier.time_ns >= COOLDOWN, (earlier.intent_id, later.intent_id)
            if later.time_ns >= earlier.expires_ns:
                continue  # the earlier one was no longer live
            a = {(leg.market, leg.token_id, leg.side) for leg in earlier.legs}
            b = {(leg.market, leg.token_id, leg.side) for leg in later.legs}
            assert not (a & b), ("duplicate", earlier.intent_id, later.intent_id)
            da, db = direction(earlier), direction(later)
            assert not (da and db and da == -db), ("conflict", earlier.intent_id, later.intent_id)
