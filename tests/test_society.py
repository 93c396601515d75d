"""The whole society on the local runtime against the real simulated exchange, from scripted books.

Each test shapes the books with real orders from other accounts, runs the agents, and asserts on
what the journal recorded and what the exchange says we hold.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from test_society_world import NS_PER_MS, NS_PER_S, World, market

from agents.society import DEFAULT_IDS, default_agents
from protocols import Fill, IntentLeg, OrderIntent, Payload, RawNews, Side, TopOfBook, WalletTrade

ALL = DEFAULT_IDS  # all six agents, every time


def society(w: World, strategies: dict[str, dict[str, Any]] | None = None, **overrides: Any) -> None:
    agents = default_agents(
        Decimal(1000),
        strategies if strategies is not None else {"complete_set": {}, "neg_risk_basket": {}},
        account=w.account,
        overrides=overrides or None,
        only=ALL,
    )
    w.add(agents)


def gap_view(w: World, name: str, yes_ask: str, no_ask: str, size: int = 15) -> None:
    """Publish, as a market-data feed would, a view of ``name`` with YES and NO offered at a gap.

    Why injected: under complement matching (the real CLOB's and the simulator's), a SELL YES at p
    and a SELL NO at q with p + q <= 1 merge at once, so a YES+NO<1 gap never rests in one book.
    It is seen in the wild when the two outcome feeds lag each other; here the scenario plays that
    lagging view, and the exchange decides what actually fills.
    """
    now = w.rt.now_ns()
    info = market(name)
    w.inject(info.model_copy(update={"time_ns": now}))
    for tok, ask in ((info.yes_token, yes_ask), (info.no_token, no_ask)):
        a, bid = Decimal(ask), Decimal(ask) - Decimal("0.05")
        w.inject(
            TopOfBook(
                time_ns=now, token_id=tok, market=name, best_bid=bid, best_bid_size=Decimal(100),
                best_ask=a, best_ask_size=Decimal(size), bids=((bid, Decimal(100)),), asks=((a, Decimal(size)),),
            )
        )


def requote_no_after_yes_lifted(w: World, name: str, no_ask: str, size: int) -> None:
    """A market maker quoting both sides: it can rest only one under complement matching, so it
    offers NO the moment its YES offer is lifted (inside the same exchange operation)."""
    done = False

    def on_crowd_event(p: Payload) -> None:
        nonlocal done
        if isinstance(p, Fill) and p.token_id == f"{name}-yes" and p.side is Side.SELL and not done:
            done = True
            w.crowd(f"{name}-no", Side.SELL, no_ask, size)

    w.ex.add_account_listener("crowd", on_crowd_event)


async def test_yes_plus_no_below_one_is_captured_with_both_legs_and_profit_booked(tmp_path: Path) -> None:
    w = World(tmp_path)
    w.add_market(market("m0"))  # what the market watcher follows
    w.add_market(market("m1"))
    w.crowd("m1-yes", Side.SELL, "0.45", 15)
    requote_no_after_yes_lifted(w, "m1", "0.48", 15)
    society(w, market_watcher={"markets": ("m0",)})
    await w.run_for(0.5)
    # YES 0.45 + NO 0.48 = 0.93; fees 0.07·p(1−p) ≈ 0.0173 + 0.0175 a set: 0.035 of profit per set
    gap_view(w, "m1", "0.45", "0.48")
    await w.run_for(2)

    decisions = w.decisions()
    assert len(decisions) == 1, decisions
    iid, action, _ = decisions[0]
    assert action == "APPROVED"
    yes, no = w.shares("m1-yes"), w.shares("m1-no")
    assert yes == no == 15  # a complete set of 15, both legs filled at the exchange
    filled = w.q("SELECT client_order_id FROM order_events WHERE agent='trader' AND status='FILLED'")
    assert {c for (c,) in filled} == {f"{iid}:0", f"{iid}:1"}
    assert not w.q("SELECT 1 FROM risk_events WHERE code = 'LEG_UNWOUND'")
    assert w.open_orders() == []
    # resolution pays 1 per set: the profit is booked in the journal and at the exchange
    w.ex.resolve("m1", "m1-no")
    await w.run_for(1)
    cost, fees = w.q("SELECT SUM(price*size), SUM(fee) FROM fills WHERE agent='trader'")[0]
    assert cost == Decimal("13.95")
    profit = 15 - cost - fees
    realized, pnl_fees, equity = w.q(
        "SELECT realized, fees, equity FROM pnl WHERE agent='trader' ORDER BY rowid DESC LIMIT 1"
    )[0]
    assert realized - pnl_fees == profit > Decimal("0.5")
    assert equity == Decimal(1000) + profit
    assert w.ex.balance(w.account).cash == Decimal(1000) + profit
    await w.rt.stop()


async def test_gap_smaller_than_fees_is_left_alone(tmp_path: Path) -> None:
    w = World(tmp_path)
    w.add_market(market("m0"))
    w.add_market(market("m1"))
    w.crowd("m1-yes", Side.SELL, "0.49", 50)
    requote_no_after_yes_lifted(w, "m1", "0.49", 50)
    society(w, market_watcher={"markets": ("m0",)})
    await w.run_for(0.5)
    # 0.49 + 0.49 = 0.98 < 1, but fees of ~0.0175 a leg eat the 0.02 gap
    gap_view(w, "m1", "0.49", "0.49", size=50)
    await w.run_for(2)
    assert w.decisions() == []
    assert w.q("SELECT COUNT(*) FROM orders")[0][0] == 0
    assert w.shares("m1-yes") == w.shares("m1-no") == 0
    await w.rt.stop()


async def test_paired_leg_that_fails_is_unwound(tmp_path: Path) -> None:
    w = World(tmp_path)
    w.add_market(market("m0"))
    w.add_market(market("m1"))
    w.crowd("m1-yes", Side.SELL, "0.45", 15)
    w.crowd("m1-yes", Side.BUY, "0.43", 40)  # bids to unwind into; nobody re-quotes NO
    society(w, market_watcher={"markets": ("m0",)})
    await w.run_for(0.5)
    gap_view(w, "m1", "0.45", "0.48")
    await w.run_for(3)

    decisions = w.decisions()
    assert len(decisions) == 1 and decisions[0][1] == "APPROVED"
    iid = decisions[0][0]
    final = dict(
        w.q("SELECT client_order_id, status FROM order_events WHERE agent='trader' AND status IN "
            "('FILLED','REJECTED','CANCELLED') ORDER BY rowid")
    )
    assert final[f"{iid}:0"] == "FILLED"
    assert final[f"{iid}:1"] == "REJECTED"  # FOK: no NO offered at 0.48
    unwound = w.q("SELECT detail FROM risk_events WHERE agent='trader' AND code='LEG_UNWOUND'")
    assert len(unwound) == 1, unwound
    unwinds = w.q("SELECT client_order_id, side, size, tif FROM orders WHERE client_order_id LIKE '%:u%'")
    assert unwinds == [(f"{iid}:0:u1", "SELL", Decimal(15), "FAK")]
    assert final[f"{iid}:0:u1"] == "FILLED"
    # flat again: the YES bought at 0.45 was sold back into the 0.43 bids
    assert w.shares("m1-yes") == 0 and w.shares("m1-no") == 0
    assert w.open_orders() == []
    await w.rt.stop()


async def test_neg_risk_basket_is_captured(tmp_path: Path) -> None:
    w = World(tmp_path)
    infos = w.add_neg_risk_event("ev1", ["a", "b", "c"])
    # YES of every outcome: 0.30 + 0.30 + 0.30 = 0.90, fees ≈ 3 × 0.0147 = 0.044: a basket pays 1
    for info in infos:
        w.crowd(info.yes_token, Side.SELL, "0.30", 40)
    society(w)
    await w.run_for(2)
    decisions = w.decisions()
    assert decisions and decisions[0][1] in ("APPROVED", "RESIZED")
    held = [w.shares(i.yes_token) for i in infos]
    assert held[0] > 0 and len(set(held)) == 1, held
    w.ex.resolve_event("ev1", "b")
    await w.run_for(1)
    realized, fees = w.q("SELECT realized, fees FROM pnl WHERE agent='trader' ORDER BY rowid DESC LIMIT 1")[0]
    assert realized - fees > 0
    await w.rt.stop()


async def test_the_society_run_is_deterministic(tmp_path: Path) -> None:
    digests = []
    for i in range(2):
        w = World(tmp_path / str(i))
        w.add_market(market("m0"))
        w.add_market(market("m1"))
        w.crowd("m1-yes", Side.SELL, "0.45", 15)
        requote_no_after_yes_lifted(w, "m1", "0.48", 15)
        society(w, market_watcher={"markets": ("m0",)})
        await w.run_for(0.5)
        gap_view(w, "m1", "0.45", "0.48")
        await w.run_for(2)
        assert w.shares("m1-yes") == 15
        digests.append(w.rt.event_log_digest())
        await w.rt.stop()
    assert digests[0] == digests[1]



async def test_whales_trade_is_copied_within_the_risk_limits(tmp_path: Path) -> None:
    w = World(tmp_path)
    w.add_market(market("m1"))
    w.crowd("m1-yes", Side.SELL, "0.51", 500)
    w.crowd("m1-yes", Side.BUY, "0.49", 500)
    # this desk believes a good whale knows 0.3 × its score more than the price it paid
    society(w, {"whale_copy": {"edge_per_score": "0.3"}})
    await w.run_for(0.5)
    t = w.rt.now_ns()
    # a track record: eight round trips, each bought at 0.40 and sold at 0.60
    for i in range(8):
        for side, price, dt in ((Side.BUY, "0.40", 0), (Side.SELL, "0.60", 1)):
            w.inject(WalletTrade(time_ns=t - (100 - 2 * i - dt) * NS_PER_S, trade_id=f"h{i}{side.value}",
                                 wallet="0xwhale", token_id=f"h{i}-yes", market=f"h{i}", side=side,
                                 price=Decimal(price), size=Decimal(100)))
    await w.run_for(0.1)
    # then the whale buys 20,000 YES of m1 at 0.50 (10,000 pUSD)
    w.inject(WalletTrade(time_ns=w.rt.now_ns(), trade_id="big", wallet="0xwhale", token_id="m1-yes",
                         market="m1", side=Side.BUY, price=Decimal("0.50"), size=Decimal(20000)))
    await w.run_for(2)

    decisions = w.decisions()
    assert len(decisions) == 1 and decisions[0][0].startswith("whale_copy:")
    _, action, codes = decisions[0]
    # the strategy wanted up to 200 shares (10% of the whale's, capped); 2% of 1000 is 20 pUSD
    assert action == "RESIZED" and "MAX_TRADE_SIZE" in codes
    held = w.shares("m1-yes")
    assert 0 < held <= 40
    spent = w.q("SELECT SUM(price*size) FROM fills WHERE agent='trader'")[0][0]
    assert spent <= Decimal(20)
    await w.rt.stop()


async def test_news_shock_moves_the_strategist_to_buy(tmp_path: Path) -> None:
    w = World(tmp_path)
    w.add_market(market("sen", question="Will Jane Doe win the 2026 Senate race in Ohio?"))
    w.crowd("sen-yes", Side.SELL, "0.51", 500)
    w.crowd("sen-yes", Side.BUY, "0.49", 500)
    society(w, {"news_reaction": {}})
    await w.run_for(1)
    assert w.decisions() == []  # a quiet market: nothing to do
    now = w.rt.now_ns()
    w.inject(RawNews(time_ns=now, item_id="n1", source="wire", published_ns=now,
                     title="Jane Doe surges to a commanding lead in the Ohio Senate race after rival withdraws",
                     body="Polls show Jane Doe far ahead; analysts now expect her to win the Senate seat."))
    await w.run_for(2)
    decisions = w.decisions()
    assert decisions and decisions[0][0].startswith("news_reaction:")
    assert decisions[0][1] in ("APPROVED", "RESIZED")
    assert w.shares("sen-yes") > 0 and w.shares("sen-no") == 0
    await w.rt.stop()


async def test_daily_loss_halts_trading_and_every_open_order_is_cancelled(tmp_path: Path) -> None:
    w = World(tmp_path)
    w.add_market(market("m1"))
    w.add_market(market("m2"))
    w.crowd("m1-yes", Side.SELL, "0.50", 40)
    w.crowd("m1-yes", Side.BUY, "0.48", 100)
    w.crowd("m2-yes", Side.SELL, "0.60", 100)
    w.crowd("m2-yes", Side.BUY, "0.30", 100)
    # a 1% daily loss limit (10 pUSD) and no soft stage, so one bad move halts
    society(w, {}, risk_officer={"daily_loss_fraction": "0.01", "soft_daily_loss_fraction": None})
    await w.run_for(0.5)

    def intent(iid: str, token: str, price: str, size: str, post_only: bool = False) -> OrderIntent:
        return OrderIntent(
            time_ns=w.rt.now_ns(), intent_id=iid, strategy="scenario",
            legs=(IntentLeg(token_id=token, market=token.rsplit("-", 1)[0], side=Side.BUY, price=Decimal(price),
                            size=Decimal(size), post_only=post_only),),
        )

    w.inject(intent("buy", "m1-yes", "0.50", "40"))
    for i, p in enumerate(("0.40", "0.41", "0.42")):
        w.inject(intent(f"rest{i}", "m2-yes", p, "10", post_only=True))
    await w.run_for(1)
    assert w.shares("m1-yes") == 40 and len(w.open_orders()) == 3
    # the market turns: a seller dumps YES down to 0.15
    w.crowd("m1-yes", Side.SELL, "0.15", 200)
    w.crowd("m1-yes", Side.BUY, "0.10", 100)
    await w.run_for(2)

    state = w.q("SELECT state, code FROM risk_events WHERE kind='state' AND state='HALTED'")
    assert state == [("HALTED", "DAILY_LOSS_LIMIT")]
    assert w.open_orders() == []  # every resting order was cancelled at the exchange
    cancelled = {c for (c,) in w.q("SELECT client_order_id FROM order_events WHERE status='CANCELLED'")}
    assert cancelled == {"rest0:0", "rest1:0", "rest2:0"}
    w.inject(intent("after", "m2-yes", "0.40", "10", post_only=True))
    await w.run_for(1)
    assert ("after", "REJECTED", "TRADING_HALTED,DAILY_LOSS_LIMIT") in w.decisions()
    assert w.q("SELECT COUNT(*) FROM orders WHERE client_order_id = 'after:0'")[0][0] == 0
    await w.rt.stop()


async def test_gap_is_captured_through_a_venue_with_order_and_data_latency(tmp_path: Path) -> None:
    from venues.sim import LatencyModel

    lat = LatencyModel(order_latency_ns=40 * NS_PER_MS, order_jitter_ns=20 * NS_PER_MS,
                       data_latency_ns=15 * NS_PER_MS, seed=3)
    w = World(tmp_path, trader_latency=lat)
    w.add_market(market("m0"))
    w.add_market(market("m1"))
    w.crowd("m1-yes", Side.SELL, "0.45", 15)
    requote_no_after_yes_lifted(w, "m1", "0.48", 15)
    society(w, market_watcher={"markets": ("m0",)})
    await w.run_for(0.5)
    gap_view(w, "m1", "0.45", "0.48")
    await w.run_for(2)
    assert w.shares("m1-yes") == w.shares("m1-no") == 15
    iid = w.decisions()[0][0]
    # the trader saw SENT first (the venue answered later, through its events)
    first = w.q("SELECT status FROM order_events WHERE client_order_id = ? ORDER BY rowid LIMIT 1", (f"{iid}:0",))
    assert first == [("SENT",)]
    ro = w.rt.agents["risk_officer"]
    assert ro.status()["state"] == "ACTIVE"
    assert w.rt.agents["trader"].status()["orders_by_state"] == {"FILLED": 2}
    await w.rt.stop()


def test_society_builder_makes_the_six_agents_agree_on_bankroll_and_account() -> None:
    from agents.risk_officer import RiskOfficer
    from agents.strategist import Strategist
    from agents.trader import Trader

    agents = {a.agent_id: a for a in default_agents(Decimal(5000), {"complete_set": {}}, account="acct-7")}
    assert tuple(agents) == DEFAULT_IDS and all(a.role == i for i, a in agents.items())
    ro, tr, st = agents["risk_officer"], agents["trader"], agents["strategist"]
    assert isinstance(ro, RiskOfficer) and isinstance(tr, Trader) and isinstance(st, Strategist)
    assert ro.config.bankroll == tr.config.bankroll == st.config.bankroll == Decimal(5000)
    assert ro.config.account == tr.config.account == st.config.account == "acct-7"
    assert set(st.config.strategies) == {"complete_set"}
    custom = default_agents(overrides={"risk_officer": {"max_trade_fraction": "0.01"}}, only=("risk_officer",))
    assert [a.agent_id for a in custom] == ["risk_officer"] and custom[0].config.max_trade_fraction == Decimal("0.01")
    with pytest.raises(ValueError, match="unknown agent id 'tradr'"):
        default_agents(overrides={"tradr": {}})
    with pytest.raises(ValueError, match="max_trade_fraction"):
        default_agents(overrides={"risk_officer": {"max_trade_fraction": "2"}})
