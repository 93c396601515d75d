"""The report's portfolio-risk and strategy-correlation sections: a hand journal whose VaR and
correlations are worked out on paper, and a simulated run whose report carries both sections."""

from __future__ import annotations

import json
import re
import statistics
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

import pytest

from cluster.journal import Journal
from protocols import (
    Fill,
    IntentLeg,
    MarketMark,
    OrderIntent,
    OrderRequest,
    PnLSnapshot,
    ReasonCode,
    RiskAction,
    RiskDecision,
    Side,
)
from simulation.analysis import EQUITY_AGENT, MARKS_AGENT, RUN_META_KEY, analyze
from simulation.report import write_report
from simulation.runner import run_scenario
from simulation.scenario import load_scenario, resolve_scenario_path

T0 = 1_767_225_600_000_000_000
S = 1_000_000_000
D = Decimal


def a_fair(k: int) -> Decimal:
    return D("0.5") + D(k % 3) / 100


def b_fair(k: int) -> Decimal:
    return D("0.2") + D(k % 3) / 100


def write_journal(path: Path) -> None:
    """s1 buys 10 A-YES at 0.50 at 5 s, s2 buys 20 B-YES at 0.20 at 25 s; marks every 10 s, A's fair
    0.50/0.51/0.52 and B's 0.20/0.21/0.22 in step (k mod 3)."""
    j = Journal(path)
    for coid, t, tok, price, size, strategy in (("o1", 5, "A-YES", "0.50", "10", "s1"),
                                                ("o2", 25, "B-YES", "0.20", "20", "s2")):
        market = tok.split("-")[0]
        j.record_sync(OrderRequest(time_ns=T0 + t * S, client_order_id=coid, account="us", token_id=tok, market=market,
                                   side=Side.BUY, price=D(price), size=D(size), strategy=strategy,
                                   intent_id=f"i-{coid}"), agent="trader")
        j.record_sync(Fill(time_ns=T0 + t * S, fill_id=f"f-{coid}", client_order_id=coid, account="us", token_id=tok,
                           market=market, side=Side.BUY, price=D(price), size=D(size)), agent="trader")
    for k in range(11):
        t = T0 + k * 10 * S
        j.record_sync(PnLSnapshot(time_ns=t, account="us", equity=D(1000), exposure=D(0)), agent=EQUITY_AGENT)
        for market, fair in (("A", a_fair(k)), ("B", b_fair(k))):
            j.record_sync(MarketMark(time_ns=t, market=market, token_id=f"{market}-YES", fair_value=fair),
                          agent=MARKS_AGENT)
    leg = IntentLeg(token_id="A-YES", market="A", side=Side.BUY, price=D("0.5"), size=D(10))
    intent = OrderIntent(time_ns=T0, intent_id="i-x", strategy="s1", legs=(leg,))
    for action, code in ((RiskAction.RESIZED, ReasonCode.VAR_LIMIT), (RiskAction.REJECTED, ReasonCode.VAR_LIMIT),
                         (RiskAction.REJECTED, ReasonCode.CORRELATION_LIMIT)):
        j.record_sync(RiskDecision(time_ns=T0, intent_id=f"d-{action}-{code}", action=action, intent=intent,
                                   reasons=(code,)), agent="risk_officer")
    run = {"run_id": "hand", "scenario": "hand", "seed": 0, "account": "us", "bankroll": "1000",
           "duration_s": 100, "start_ns": T0, "final_values": {"A-YES": "0.51", "B-YES": "0.21"},
           "runtime": "local", "sample_interval_s": 10,
           "risk_limits": {"bankroll": "1000", "max_var_fraction": "0.05", "var_confidence": 0.95,
                           "correlation_limit": 0.6, "correlations": []}}
    j.set_meta(RUN_META_KEY, json.dumps(run))
    j.close()


def hand_strategy_pnl(strategy: str, t_s: float) -> float:
    """Cash plus shares at the last mark at or before ``t_s`` (marks every 10 s)."""
    k = int(t_s // 10)
    if strategy == "s1":
        return 0.0 if t_s < 5 else -5.0 + 10 * float(a_fair(k))
    return 0.0 if t_s < 25 else -4.0 + 20 * float(b_fair(k))


def test_portfolio_risk_of_a_hand_journal_matches_the_paper(tmp_path: Path) -> None:
    path = tmp_path / "j.duckdb"
    write_journal(path)
    pr = analyze(path).portfolio
    assert pr is not None
    # at 50 s (k=5: A 0.52, B 0.22): lose 10×0.52 + 20×0.22 = 9.6 when both NO win, p .48×.78 = .374 > 5 %
    assert pr.var_peak == pytest.approx(9.6) and pr.var_peak_s == pytest.approx(50.0)
    # at 100 s (k=10: 0.51, 0.21): 5.1 + 4.2
    assert pr.var_final == pytest.approx(9.3)
    assert pr.var_limit == pytest.approx(50.0) and pr.confidence == 0.95
    assert pr.bound == {"VAR_LIMIT": {"REJECTED": 1, "RESIZED": 1}, "CORRELATION_LIMIT": {"REJECTED": 1}}
    # A and B fair values move in step: co-movement +1
    assert pr.market_correlations == [("A", "B", pytest.approx(1.0))]
    # strategies: 20 buckets of 5 s, each strategy's PnL change per bucket, by hand
    assert pr.strategy_buckets == 20 and "5 s" in pr.strategy_bucket
    edges = [5.0 * i for i in range(21)]
    per = {s: [hand_strategy_pnl(s, b) - hand_strategy_pnl(s, a) for a, b in pairwise(edges)]
           for s in ("s1", "s2")}
    [(a, b, c)] = pr.strategy_correlations
    assert (a, b) == ("s1", "s2")
    assert c == pytest.approx(statistics.correlation(per["s1"], per["s2"]))


def test_report_of_the_hand_journal_shows_both_sections(tmp_path: Path) -> None:
    path = tmp_path / "j.duckdb"
    write_journal(path)
    page = write_report(analyze(path), tmp_path / "out").read_text()
    section = page.split('<h2 id="portfolio-risk">', 1)[1].split("<h2 ", 1)[0]
    assert "9.6000 pUSD at 50.0 s" in section and "50.0000 pUSD" in section
    assert "1 resized, 1 rejected" in section and "0 resized, 1 rejected" in section
    strat = page.split('<h2 id="strategy-correlation">', 1)[1].split("<h2 ", 1)[0]
    assert re.search(r"<td>s1</td><td>s2</td><td>[+-]\d\.\d{3}</td>", strat)


def test_report_of_a_simulated_run_has_portfolio_risk_and_strategy_correlation(tmp_path: Path) -> None:
    sc = load_scenario(resolve_scenario_path("arbitrage_bursts"), {"duration_s": 200, "events.0.resolve_at_s": 200})
    result = run_scenario(sc, 1, "local", tmp_path, report=True)
    page = Path(result.summary["report"]).read_text()
    assert 'id="portfolio-risk"' in page and 'id="strategy-correlation"' in page
    pr = analyze(result.summary["journal"]).portfolio
    assert pr is not None and pr.var_limit == pytest.approx(500.0)  # the scenario's 5 % of its 10,000 bankroll
    assert pr.var_peak >= pr.var_final >= 0
