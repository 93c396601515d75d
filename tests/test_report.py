"""The trader's report: every section, with numbers checked by hand and by independent SQL.

Two journals: one written by hand through the real ``Journal`` (every number below can be worked out
on paper), and one from a short simulated run (the report's numbers recomputed from its fills with
SQL that shares no code with ``simulation.ledger``).
"""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from cluster.journal import Journal
from protocols import (
    AgentEvent,
    Fill,
    MarketMark,
    MarketResolved,
    OrderRequest,
    PnLSnapshot,
    Settlement,
    Side,
    TradingState,
    TradingStateChange,
)
from simulation.analysis import EQUITY_AGENT, MARKS_AGENT, RUN_META_KEY, VENUE_AGENT, analyze
from simulation.report import write_report
from simulation.runner import run_scenario
from simulation.scenario import load_scenario

ROOT = Path(__file__).resolve().parent.parent
T0 = 1_767_225_600_000_000_000
S = 1_000_000_000
SECTIONS = ("balance", "equity", "trades", "fills", "prices", "positions", "events", "metrics", "assumptions")

#: (t s, token, side, price, size, fee) — four round trips, worked out in the test below.
HAND_FILLS: tuple[tuple[int, str, str, str, str, str], ...] = (
    (10, "A-YES", "BUY", "0.40", "10", "0.10"),
    (30, "A-YES", "SELL", "0.50", "10", "0.10"),  # trade 1: −4 − 0.1 + 5 − 0.1 = +0.8, held 20 s
    (40, "A-YES", "BUY", "0.60", "5", "0.05"),
    (50, "A-YES", "SELL", "0.50", "5", "0.05"),  # trade 2: −3 − 0.05 + 2.5 − 0.05 = −0.6, held 10 s
    (60, "B-YES", "BUY", "0.30", "20", "0.20"),  # trade 3: −6 − 0.2 + 20 (payout at 80 s) = +13.8, 20 s
    (90, "A-YES", "BUY", "0.55", "10", "0"),  # trade 4: open at the end (100 s), marked 0.6: +0.5, 10 s
)
HAND_FINALS = {"A-YES": "0.6", "A-NO": "0.4", "B-YES": "1", "B-NO": "0"}
HAND_EQUITY = ("1000", "1002", "999", "1001", "995", "1014.5")  # peak 1002 → trough 995: 7 pUSD


def write_hand_journal(path: Path) -> None:
    j = Journal(path)
    for i, (t, token, side, price, size, fee) in enumerate(HAND_FILLS):
        coid = f"o{i}"
        market = token.split("-")[0]
        j.record_sync(OrderRequest(time_ns=T0 + t * S, client_order_id=coid, account="us", token_id=token,
                                   market=market, side=Side(side), price=Decimal(price), size=Decimal(size),
                                   strategy="hand", intent_id=f"i{i}"), agent="trader")
        fill = Fill(time_ns=T0 + t * S, fill_id=f"f{i}", client_order_id=coid, account="us", token_id=token,
                    market=market, side=Side(side), price=Decimal(price), size=Decimal(size), fee=Decimal(fee))
        j.record_sync(fill, agent="trader")
        j.record_sync(fill, agent=VENUE_AGENT)  # the venue's copy: the same fill, counted once
    j.record_sync(Settlement(time_ns=T0 + 80 * S, account="us", market="B", token_id="B-YES", size=Decimal(20),
                             payout_per_share=Decimal(1), cash=Decimal(20)), agent="trader")
    j.record_sync(MarketResolved(time_ns=T0 + 80 * S, market="B", winning_token_id="B-YES"), agent=VENUE_AGENT)
    j.record_sync(AgentEvent(time_ns=T0 + 45 * S, agent_id="strategist", role="strategist", event="crash",
                             detail="killed"), agent="supervisor")
    j.record_sync(AgentEvent(time_ns=T0 + 46 * S, agent_id="strategist", role="strategist", event="restart"),
                  agent="supervisor")
    j.record_sync(TradingStateChange(time_ns=T0, state=TradingState.ACTIVE, previous=TradingState.ACTIVE),
                  agent="risk_officer")
    j.record_sync(TradingStateChange(time_ns=T0 + 70 * S, state=TradingState.HALTED, previous=TradingState.ACTIVE),
                  agent="risk_officer")
    j.record_sync(TradingStateChange(time_ns=T0 + 75 * S, state=TradingState.ACTIVE, previous=TradingState.HALTED),
                  agent="risk_officer")
    for k, e in enumerate(HAND_EQUITY):
        j.record_sync(PnLSnapshot(time_ns=T0 + k * 20 * S, account="us", equity=Decimal(e),
                                  exposure=Decimal(k)), agent=EQUITY_AGENT)
        for market, fair in (("A", "0.5"), ("B", "0.3")):
            j.record_sync(MarketMark(time_ns=T0 + k * 20 * S, market=market, token_id=f"{market}-YES",
                                     best_bid=Decimal("0.45"), best_ask=None, fair_value=Decimal(fair)),
                          agent=MARKS_AGENT)
    run = {"run_id": "hand", "scenario": "hand", "seed": 0, "account": "us", "bankroll": "1000",
           "duration_s": 100, "start_ns": T0, "final_values": HAND_FINALS, "runtime": "local",
           "started_at": "2026-12-03T10:00:00+00:00", "sample_interval_s": 20}
    j.set_meta(RUN_META_KEY, json.dumps(run))
    j.close()


# the round trips of a journal in plain SQL (no position crosses zero in these runs): a trade starts at
# every fill or payout whose token was flat before it; its PnL is its cash plus what it still holds
# at the token's final value
TRADES_SQL = """
WITH fills1 AS (
    SELECT * FROM fills WHERE account = ? QUALIFY row_number() OVER (PARTITION BY fill_id ORDER BY time_ns) = 1
), ev AS (
    SELECT token_id, time_ns, 0 AS k, fill_id AS id,
           CASE side WHEN 'BUY' THEN -price * size ELSE price * size END - fee AS cash,
           CASE side WHEN 'BUY' THEN size ELSE -size END AS q
    FROM fills1
    UNION ALL
    SELECT token_id, time_ns, 1, token_id, size * payout_per_share, -size FROM settlements WHERE account = ?
), pos AS (
    SELECT *, sum(q) OVER w AS after FROM ev
    WINDOW w AS (PARTITION BY token_id ORDER BY time_ns, k, id ROWS UNBOUNDED PRECEDING)
), numbered AS (
    SELECT *, sum(CASE WHEN after - q = 0 THEN 1 ELSE 0 END) OVER w AS trade FROM pos
    WINDOW w AS (PARTITION BY token_id ORDER BY time_ns, k, id ROWS UNBOUNDED PRECEDING)
), finals(token_id, value) AS (SELECT * FROM (VALUES {finals}))
SELECT n.token_id, n.trade, sum(n.cash) + arg_max(n.after, n.time_ns * 2 + n.k) * coalesce(any_value(f.value), 0)
FROM numbered n LEFT JOIN finals f ON f.token_id = n.token_id
GROUP BY n.token_id, n.trade ORDER BY 1, 2
"""


def sql_trade_pnls(journal: Path, finals: dict[str, str]) -> list[Decimal]:
    values = ", ".join(f"('{t}', CAST('{v}' AS DECIMAL(20,6)))" for t, v in finals.items())
    con = duckdb.connect(str(journal), read_only=True)
    try:
        rows = con.execute(TRADES_SQL.format(finals=values), ["us", "us"]).fetchall()
    finally:
        con.close()
    return [Decimal(r[2]) for r in rows]


def sql_equity(journal: Path) -> list[Decimal]:
    con = duckdb.connect(str(journal), read_only=True)
    try:
        rows = con.execute("SELECT equity FROM pnl WHERE agent = ? ORDER BY time_ns", [EQUITY_AGENT]).fetchall()
    finally:
        con.close()
    return [Decimal(r[0]) for r in rows]


def brute_drawdown(equity: list[Decimal]) -> Decimal:
    return max((equity[i] - equity[j] for i in range(len(equity)) for j in range(i, len(equity))),
               default=Decimal(0))


def test_report_of_a_hand_journal_has_every_section_with_the_hand_computed_numbers(tmp_path: Path) -> None:
    journal = tmp_path / "journal.duckdb"
    write_hand_journal(journal)
    a = analyze(journal)
    s = a.summary()
    assert a.ledger is not None
    assert [t.pnl for t in a.ledger.trades] == [Decimal("0.8"), Decimal("-0.6"), Decimal("13.8"), Decimal("0.5")]
    assert [t.holding_s for t in a.ledger.trades] == [20.0, 10.0, 20.0, 10.0]
    assert [t.closed_by for t in a.ledger.trades] == ["fill", "fill", "resolution", "open at end (marked)"]
    assert sorted(sql_trade_pnls(journal, HAND_FINALS)) == sorted(t.pnl for t in a.ledger.trades)
    assert s["expectancy"] == 3.625 == float(sum(sql_trade_pnls(journal, HAND_FINALS)) / 4)
    assert (s["best_trade"], s["worst_trade"]) == (13.8, -0.6)
    assert s["holding_mean_s"] == 15.0 and s["holding_median_s"] == 15.0 and s["holding_max_s"] == 20.0
    assert s["trades"] == 6 and s["round_trips"] == 4 and s["trade_win_rate"] == 0.75
    assert (s["starting_balance"], s["final_balance"], s["return_pct"]) == (1000.0, 1014.5, 1.45)
    assert s["max_drawdown_pusd"] == 7.0 == float(brute_drawdown(sql_equity(journal)))
    assert s["max_drawdown_pct"] == round(7 / 1002 * 100, 6)
    assert s["max_exposure"] == 5.0
    kinds = [(m.kind, m.subject) for m in a.ledger.markers]
    assert kinds == [("crash", "strategist"), ("restart", "strategist"), ("halt", "risk_officer"),
                     ("resume", "risk_officer"), ("resolution", "B")]

    page = write_report(a, tmp_path).read_text()
    for section in SECTIONS:
        assert f'<h2 id="{section}">' in page
    for needle in ("1,000.0000 pUSD", "1,014.5000 pUSD", "1.4500 %", "7.0000 pUSD (0.6986 % of peak)",
                   "3.6250 pUSD per trade", "13.8000 pUSD (#3, B, hand)", "-0.6000 pUSD (#2, A, hand)",
                   "15.00 / 15.00 / 20.00 s", "open at end (marked)", "resolution", "halt", "resume", "crash",
                   "restart", "winner B-YES", "4 (3 closed, 1 open at end)"):
        assert needle in page, needle
    assert page.count("<td>entry</td>") == 4 and page.count("<td>exit</td>") == 2  # the two sales
    for png in ("equity.png", "drawdown.png", "positions.png", "price_00_A.png", "price_01_B.png"):
        assert (tmp_path / png).stat().st_size > 1000, png
    with (tmp_path / "fills.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 6  # the venue's copies are not counted again
    # the fills' cash alone: +0.8 − 0.6 − 6.2 − 5.5 (the payout is a settlement, not a fill)
    assert sum(Decimal(r["cash_flow_pusd"]) for r in rows) == Decimal("-11.5")
    with (tmp_path / "trades.csv").open() as fh:
        assert [Decimal(r["pnl_pusd"]) for r in csv.DictReader(fh)] == [t.pnl for t in a.ledger.trades]


@pytest.fixture(scope="module")
def sim_run(tmp_path_factory: pytest.TempPathFactory) -> Any:
    out = tmp_path_factory.mktemp("runs")
    sc = load_scenario(ROOT / "scenarios" / "arbitrage_bursts.yaml",
                       {"duration_s": 300, "events.0.resolve_at_s": 250})
    return run_scenario(sc, 1, "local", out, report=True)


def test_report_of_a_simulated_run_agrees_with_sql_over_its_journal(sim_run: Any) -> None:
    a = sim_run.analysis
    s = sim_run.summary
    assert a.ledger is not None and a.ledger.trades, "the run must trade for this test to mean anything"
    finals = dict(a.run["final_values"])
    pnls = sql_trade_pnls(sim_run.journal, finals)
    assert sorted(pnls) == sorted(t.pnl for t in a.ledger.trades)
    assert s["expectancy"] == float((sum(pnls) / len(pnls)).quantize(Decimal("0.000001")))
    assert s["best_trade"] == float(max(pnls)) and s["worst_trade"] == float(min(pnls))
    # every trade adds up to the run's PnL (fees included, payouts and final marks for what is held)
    assert sum(pnls, Decimal(0)) == a.pnl
    eq = sql_equity(sim_run.journal)
    assert s["max_drawdown_pusd"] == float(brute_drawdown(eq).quantize(Decimal("0.000001")))
    assert 0 <= s["max_drawdown_pct"] <= 100
    assert s["final_balance"] == float(eq[-1]) and s["starting_balance"] == float(a.run["bankroll"])
    resolutions = [m for m in a.ledger.markers if m.kind == "resolution"]
    assert len(resolutions) == 4  # the event's four markets, at 250 s
    assert {m.time_ns for m in resolutions} == {a.run["start_ns"] + 250 * S}
    assert set(a.ledger.marks) == {"fed-cut-25", "fed-cut-50", "fed-hike", "fed-hold"}
    page = Path(sim_run.report).read_text()
    for section in SECTIONS:
        assert f'<h2 id="{section}">' in page
    for t in a.ledger.trades:
        assert f"<td>{t.market}</td><td>{t.token_id}</td>" in page


def test_report_rebuilt_by_the_cli_gives_the_same_trader_numbers(sim_run: Any, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from cluster.cli import main

    assert main(["report", str(sim_run.out_dir), "--out", str(tmp_path), "--json"]) == 0
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for key in ("final_balance", "return_pct", "max_drawdown_pusd", "max_drawdown_pct", "expectancy",
                "best_trade", "worst_trade", "holding_mean_s", "round_trips"):
        assert again[key] == sim_run.summary[key], key
    assert (tmp_path / "trades.csv").exists() and (tmp_path / "positions.png").exists()
