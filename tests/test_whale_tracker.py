"""Whale tracker on the local runtime: thresholds, followed wallets, honest scores, watermark, dedupe."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from agents.base import Agent, AgentConfig, Subscription
from agents.market_watcher import MarketWatcher
from agents.whale_tracker import WhaleTracker
from cluster.clock import DEFAULT_START_NS
from cluster.runtime_local import LocalRuntime
from protocols import (
    Envelope,
    MarketResolved,
    Side,
    TopOfBook,
    WalletTrade,
    WhaleTrade,
)
from venues.sim import SimExchange, SimVenue
from venues.sim.testing import binary_market, order

T0 = DEFAULT_START_NS
MS = 1_000_000
D = Decimal


class Sink(Agent[AgentConfig]):
    role = "sink"
    subscriptions = (Subscription(WhaleTrade),)

    def __init__(self) -> None:
        super().__init__("sink")
        self.got: list[WhaleTrade] = []

    def on_message(self, envelope: Envelope) -> None:
        assert isinstance(envelope.payload, WhaleTrade)
        self.got.append(envelope.payload)


def setup(config: dict[str, Any] | None = None) -> tuple[LocalRuntime, WhaleTracker, Sink]:
    rt = LocalRuntime(seed=3)
    wt = WhaleTracker("whale_tracker", config)
    sink = Sink()
    rt.add_agent(wt)
    rt.add_agent(sink)
    return rt, wt, sink


_n = 0


def trade(
    wallet: str, token: str, side: str, price: str, size: str, *, t: int = T0, tid: str | None = None
) -> WalletTrade:
    global _n
    _n += 1
    return WalletTrade(
        time_ns=t,
        trade_id=tid or f"tr{_n}",
        wallet=wallet,
        token_id=token,
        market=token.rsplit("-", 1)[0],
        side=Side(side),
        price=D(price),
        size=D(size),
    )


def top(token: str, bid: str, ask: str, t: int = T0) -> TopOfBook:
    return TopOfBook(
        time_ns=t,
        token_id=token,
        market=token.rsplit("-", 1)[0],
        best_bid=D(bid),
        best_bid_size=D(10),
        best_ask=D(ask),
        best_ask_size=D(10),
        bids=((D(bid), D(10)),),
        asks=((D(ask), D(10)),),
    )


async def feed(rt: LocalRuntime, *payloads: Any) -> None:
    for p in payloads:
        rt.inject(p, sender="data_api")
    await rt.run()
    assert not rt.crashes, rt.crashes


async def test_whale_threshold_publishes_only_trades_at_or_above_notional() -> None:
    rt, _wt, sink = setup({"min_notional": "1000"})
    await feed(
        rt,
        trade("0xA", "m1-yes", "BUY", "0.50", "1999.98"),  # 999.99
        trade("0xA", "m1-yes", "BUY", "0.50", "2000"),  # exactly 1000
    )
    assert len(sink.got) == 1
    assert sink.got[0].notional == D("1000.00") and sink.got[0].score is not None
    assert sink.got[0].score.trades == 2


async def test_whale_followed_wallet_small_trade_published_case_insensitively() -> None:
    rt, wt, sink = setup({"min_notional": "1000", "follow_wallets": ("0xAbC",)})
    await feed(rt, trade("0xabc", "m1-yes", "BUY", "0.10", "5"), trade("0xdef", "m1-yes", "BUY", "0.10", "5"))
    assert [w.wallet for w in sink.got] == ["0xabc"]
    assert wt.counters["followed_out"] == 1 and wt.counters["whales_out"] == 0


async def test_whale_score_counts_unresolved_loser_at_its_mark() -> None:
    rt, wt, _sink = setup({"min_notional": "0"})
    await feed(
        rt,
        # one closed winner: +20
        trade("0xA", "m1-yes", "BUY", "0.60", "100"),
        trade("0xA", "m1-yes", "SELL", "0.80", "100"),
        # one open position now marked far below cost: 100 @ 0.70, mid 0.20 → −50 unrealised
        trade("0xA", "m2-yes", "BUY", "0.70", "100"),
        top("m2-yes", "0.19", "0.21"),
    )
    s = wt.score("0xA")
    assert (s.wins, s.losses) == (1, 1)  # a closed-only count would say 1 win, 0 losses
    assert s.win_rate == 0.5
    assert s.realized_pnl == D("20.00") and s.unrealized_pnl == D("-50.00")
    # the same wallet without the loser scores strictly better
    rt2, wt2, _ = setup({"min_notional": "0"})
    await feed(rt2, trade("0xB", "m1-yes", "BUY", "0.60", "100"), trade("0xB", "m1-yes", "SELL", "0.80", "100"))
    assert wt2.score("0xB").score > s.score
    assert s.score < 0  # −30 on 130 spent outweighs one win


async def test_whale_open_winner_is_not_counted_as_win_until_realised() -> None:
    rt, wt, _ = setup()
    await feed(rt, trade("0xA", "m1-yes", "BUY", "0.30", "10"), top("m1-yes", "0.89", "0.91"))
    s = wt.score("0xA")
    assert (s.wins, s.losses) == (0, 0) and s.unrealized_pnl == D("6.00")


async def test_whale_resolution_settles_positions_exactly() -> None:
    rt, wt, _ = setup()
    await feed(
        rt,
        trade("0xA", "m1-yes", "BUY", "0.30", "100"),
        trade("0xA", "m1-no", "BUY", "0.65", "10"),
        trade("0xB", "m2-yes", "BUY", "0.40", "10"),
        MarketResolved(time_ns=T0, market="m1", winning_token_id="m1-yes"),
        MarketResolved(time_ns=T0, market="m2", winning_token_id=None),
    )
    a, b = wt.score("0xA"), wt.score("0xB")
    assert a.realized_pnl == D("70") - D("6.5") and (a.wins, a.losses) == (1, 1)
    assert b.realized_pnl == D("1.0") and (b.wins, b.losses) == (1, 0)
    assert wt.status()["open_positions"] == 0


async def test_whale_trade_delivered_after_resolution_is_settled_at_once() -> None:
    rt, wt, _ = setup()
    await feed(
        rt,
        MarketResolved(time_ns=T0 + 10, market="m1", winning_token_id="m1-no"),
        trade("0xA", "m1-yes", "BUY", "0.45", "10", t=T0),
    )
    s = wt.score("0xA")
    assert s.realized_pnl == D("-4.50") and s.losses == 1 and wt.status()["open_positions"] == 0


async def test_whale_watermark_takes_late_trade_with_equal_timestamp() -> None:
    rt, wt, sink = setup({"min_notional": "0"})
    await feed(
        rt,
        trade("0xA", "m1-yes", "BUY", "0.5", "10", t=T0 + 10, tid="a"),
        trade("0xA", "m1-yes", "BUY", "0.5", "10", t=T0 + 20, tid="b"),
    )
    assert wt.watermark == (T0 + 20, frozenset({"b"}))
    # c happened at the same instant as b but was delivered later; d is older than the watermark
    await feed(
        rt,
        trade("0xA", "m1-yes", "BUY", "0.5", "10", t=T0 + 20, tid="c"),
        trade("0xA", "m1-yes", "BUY", "0.5", "10", t=T0 + 15, tid="d"),
        trade("0xA", "m1-yes", "BUY", "0.5", "10", t=T0 + 20, tid="b"),  # redelivered
    )
    assert [w.time_ns for w in sink.got] == [T0 + 10, T0 + 20, T0 + 20, T0 + 15]
    assert wt.watermark == (T0 + 20, frozenset({"b", "c"}))
    assert wt.counters["late"] == 1 and wt.counters["duplicates"] == 1
    assert wt.score("0xA").trades == 4


async def test_whale_duplicate_trade_id_is_applied_once() -> None:
    rt, wt, sink = setup({"min_notional": "0"})
    t = trade("0xA", "m1-yes", "BUY", "0.5", "10", tid="same")
    await feed(rt, t, t, t)
    assert len(sink.got) == 1 and wt.counters["duplicates"] == 2
    assert wt.score("0xA").trades == 1


async def test_whale_snapshot_restore_resumes_book_scores_and_dedupe() -> None:
    rt, wt, _ = setup({"min_notional": "0"})
    await feed(
        rt,
        trade("0xA", "m1-yes", "BUY", "0.60", "100", tid="x1"),
        trade("0xA", "m2-yes", "BUY", "0.70", "100", tid="x2"),
        top("m2-yes", "0.19", "0.21"),
    )
    state = json.loads(json.dumps(wt.snapshot()))  # survives JSON
    rt2, wt2, sink2 = setup({"min_notional": "0"})
    wt2.restore(state)
    assert wt2.score("0xA") == wt.score("0xA")
    again = trade("0xA", "m2-yes", "BUY", "0.70", "100", tid="x2")
    await feed(rt2, again, trade("0xA", "m1-yes", "SELL", "0.9", "100"))
    assert wt2.counters["duplicates"] == 1 and len(sink2.got) == 1
    assert wt2.score("0xA").realized_pnl == D("30.0") and wt2.score("0xA").wins == 1


async def test_whale_marks_no_token_from_yes_book_via_market_info() -> None:
    rt, wt, _ = setup()
    info = binary_market("m1")
    await feed(rt, info, trade("0xA", "m1-no", "BUY", "0.50", "10"), top("m1-yes", "0.79", "0.81"))
    assert wt.mark("m1-no") == D("0.20")
    assert wt.score("0xA").unrealized_pnl == D("-3.00")


async def test_whale_marks_come_from_real_market_watcher_books() -> None:
    rt = LocalRuntime(seed=4)
    ex = SimExchange(scheduler=rt)
    ex.add_market(binary_market("m1"))
    ex.open_account("mm", D(10_000))
    ex.submit("mm", order("mm", "b", "m1-yes", "BUY", "0.30", 50))
    ex.submit("mm", order("mm", "a", "m1-no", "BUY", "0.60", 50))  # YES ask 0.40
    rt.add_agent(MarketWatcher("market_watcher", {"conflate_ns": 0}), venue=SimVenue(ex, "watcher"))
    wt = WhaleTracker("whale_tracker")
    rt.add_agent(wt)
    rt.inject(trade("0xA", "m1-yes", "BUY", "0.55", "100"), sender="data_api", at_ns=T0 + MS)
    await rt.run(until_ns=T0 + 10 * MS)
    assert not rt.crashes
    assert wt.mark("m1-yes") == D("0.35")
    s = wt.score("0xA")
    assert s.unrealized_pnl == D("-20.00") and s.losses == 1
    assert isinstance(wt.status()["top_wallets"], list)


def test_whale_config_refuses_negative_threshold() -> None:
    with pytest.raises(ValidationError, match="min_notional"):
        WhaleTracker("w", {"min_notional": "-1"})
