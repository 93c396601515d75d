"""From a finished journal to the numbers of a run: PnL, fees, trades, ratios, attribution, arbitrage.

Everything is read back from the journal file (plus the run's facts the runner put in its ``meta``
table), so ``polyagents report`` can rebuild the report of any finished run, and what the report
says is what the journal holds.

Money stays Decimal here; only the statistics (ratios) are floats.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from cluster.journal import SCHEMA, open_read_only
from simulation import metrics as mx
from simulation.ledger import ACCOUNT_FILLS, Ledger, drawdowns, read_ledger, trade_stats
from simulation.risk_report import PortfolioRisk, portfolio_risk

#: Strategies whose intents are complete sets (their PnL is ``arb_captured``).
ARB_STRATEGIES = frozenset({"complete_set", "neg_risk_basket"})

EQUITY_AGENT = "sim:equity"
VENUE_AGENT = "sim:venue"
MARKS_AGENT = "sim:marks"
RUN_META_KEY = "run"
ZERO = Decimal(0)


@dataclass
class Analysis:
    run: dict[str, Any]
    times_ns: list[int]
    equity: list[Decimal]
    exposure: list[Decimal]
    trades: int
    fees: Decimal
    orders_sent: int
    orders_rejected: int
    strategy_pnl: dict[str, Decimal]
    strategy_trades: dict[str, int]
    intent_pnl: dict[str, Decimal]
    pnl: Decimal
    arb_available: Decimal
    arb_captured: Decimal
    arb_residual: Decimal
    ratios: dict[str, float | None] = field(default_factory=dict)
    ledger: Ledger | None = None
    portfolio: PortfolioRisk | None = None
    """VaR over the run, limits that bound, market and strategy correlations (simulation.risk_report)."""

    @property
    def bankroll(self) -> Decimal:
        return Decimal(str(self.run.get("bankroll", "0")))

    def trader_summary(self) -> dict[str, Any]:
        """Balance, return, drawdown in pUSD and %, and the per-trade numbers (see simulation.ledger)."""
        start = self.bankroll
        final = self.equity[-1] if self.equity else start
        dd_abs, dd_pct = drawdowns(self.equity)
        exposure = self.exposure
        trades = self.ledger.trades if self.ledger is not None else []
        st = trade_stats(trades)

        def money(d: Decimal | None) -> float | None:
            return None if d is None else _num(d)

        return {
            "starting_balance": _num(start),
            "final_balance": _num(final),
            "return_pct": _round(float((final - start) / start * 100)) if start > 0 else None,
            "max_drawdown_pusd": _num(max(dd_abs, default=ZERO)),
            "max_drawdown_pct": _round(max(dd_pct, default=0.0)),
            "max_exposure": _num(max(exposure, default=ZERO)),
            "round_trips": st.count,
            "round_trips_closed": st.closed,
            "trade_win_rate": _round(st.winners / st.count) if st.count else None,
            "expectancy": money(st.expectancy),
            "best_trade": money(st.best.pnl) if st.best else None,
            "worst_trade": money(st.worst.pnl) if st.worst else None,
            "avg_win": money(st.avg_win),
            "avg_loss": money(st.avg_loss),
            "holding_mean_s": _round(st.holding_mean_s),
            "holding_median_s": _round(st.holding_median_s),
            "holding_max_s": _round(st.holding_max_s),
        }

    def summary(self) -> dict[str, Any]:
        """The machine summary (money as numbers rounded to micro-units, ratios as floats)."""
        arb = self.run.get("arb", {})
        return {
            **self.trader_summary(),
            "run_id": self.run.get("run_id"),
            "scenario": self.run.get("scenario"),
            "seed": self.run.get("seed"),
            "bankroll": _num(Decimal(str(self.run.get("bankroll", "0")))),
            "final_equity": _num(self.equity[-1]) if self.equity else None,
            "pnl": _num(self.pnl),
            "fees": _num(self.fees),
            "trades": self.trades,
            "orders_sent": self.orders_sent,
            "orders_rejected": self.orders_rejected,
            **{k: _round(v) for k, v in self.ratios.items()},
            "arb_available": _num(self.arb_available),
            "arb_captured": _num(self.arb_captured),
            "arb_residual_pnl": _num(self.arb_residual),
            "gap_episodes": arb.get("episodes_count", 0),
            "gap_half_life_s": _round(arb.get("half_life_s")),
            "strategy_pnl": {k: _num(v) for k, v in sorted(self.strategy_pnl.items())},
        }


def _num(d: Decimal) -> float:
    return float(d.quantize(Decimal("0.000001")))


def _round(v: Any) -> Any:
    return round(v, 6) if isinstance(v, float) else v


#: The trading record: what two runtimes must agree on (lifecycle and checkpoints may differ).
TRADING_TABLES: tuple[str, ...] = ("fills", "order_events", "orders", "pnl", "positions", "risk_events", "settlements")


def journal_hash(path: str | Path | duckdb.DuckDBPyConnection, tables: tuple[str, ...] | None = None) -> str:
    """SHA-256 over the journal tables' rows (``ORDER BY ALL``), ``meta`` excluded.

    Equal hashes mean the two runs wrote the same orders, events, fills, positions, PnL, risk
    decisions and lifecycle records — the determinism check of the simulator. ``tables`` limits it
    (e.g. to :data:`TRADING_TABLES` to compare the local and the Ray runtime).
    """
    con = path if isinstance(path, duckdb.DuckDBPyConnection) else open_read_only(path)
    try:
        h = hashlib.sha256()
        for table in sorted(tables or SCHEMA):
            if table == "meta":
                continue
            h.update(f"#{table}\n".encode())
            for row in con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall():
                h.update(repr(row).encode())
                h.update(b"\n")
        return h.hexdigest()
    finally:
        if not isinstance(path, duckdb.DuckDBPyConnection):
            con.close()


def analyze(path: str | Path) -> Analysis:
    con = open_read_only(path)
    try:
        return _analyze(con)
    finally:
        con.close()


def _analyze(con: duckdb.DuckDBPyConnection) -> Analysis:
    row = con.execute("SELECT value FROM meta WHERE key = ?", [RUN_META_KEY]).fetchone()
    if row is None:
        raise ValueError("this journal has no simulation run record (meta 'run'); was it written by `sim run`?")
    run: dict[str, Any] = json.loads(row[0])
    account = run["account"]
    bankroll = Decimal(str(run["bankroll"]))
    finals = {k: Decimal(v) for k, v in run.get("final_values", {}).items()}

    eq_rows = con.execute(
        "SELECT time_ns, equity, exposure FROM pnl WHERE agent = ? ORDER BY time_ns, rowid", [EQUITY_AGENT]
    ).fetchall()
    times = [int(r[0]) for r in eq_rows]
    equity = [Decimal(r[1]) for r in eq_rows]
    exposure = [Decimal(r[2]) for r in eq_rows]

    fills = con.execute(
        """SELECT f.fill_id, f.client_order_id, f.token_id, f.side, f.price, f.size, f.fee,
                  coalesce(o.strategy, ''), coalesce(o.intent_id, '')
           """ + ACCOUNT_FILLS,
        [account],
    ).fetchall()
    orders_sent = con.execute("SELECT count(*) FROM orders WHERE account = ?", [account]).fetchone()
    rejected = con.execute(
        """SELECT count(DISTINCT e.client_order_id) FROM order_events e
           JOIN orders o ON o.client_order_id = e.client_order_id
           WHERE o.account = ? AND e.status = 'REJECTED'""",
        [account],
    ).fetchone()

    fees = ZERO
    cash_by: dict[tuple[str, str], Decimal] = {}
    shares_by: dict[tuple[str, str, str], Decimal] = {}
    strat_trades: dict[str, int] = {}
    for _fid, _coid, token, side, price, size, fee, strategy, intent in fills:
        strategy = strategy or "unattributed"
        intent = intent or f"{strategy}:-"
        price, size, fee = Decimal(price), Decimal(size), Decimal(fee)
        fees += fee
        signed = size if side == "BUY" else -size
        flow = (-price * size if side == "BUY" else price * size) - fee
        cash_by[(strategy, intent)] = cash_by.get((strategy, intent), ZERO) + flow
        key = (strategy, intent, token)
        shares_by[key] = shares_by.get(key, ZERO) + signed
        strat_trades[strategy] = strat_trades.get(strategy, 0) + 1
    intent_pnl: dict[str, Decimal] = {}
    strategy_pnl: dict[str, Decimal] = {}
    for (strategy, intent), flow in cash_by.items():
        intent_pnl[intent] = intent_pnl.get(intent, ZERO) + flow
        strategy_pnl[strategy] = strategy_pnl.get(strategy, ZERO) + flow
    for (strategy, intent, token), q in shares_by.items():
        value = q * finals.get(token, ZERO)
        intent_pnl[intent] = intent_pnl.get(intent, ZERO) + value
        strategy_pnl[strategy] = strategy_pnl.get(strategy, ZERO) + value

    pnl = (equity[-1] - bankroll) if equity else ZERO
    arb = run.get("arb", {})
    arb_available = Decimal(str(arb.get("available", "0")))
    legs = _intent_legs(con, account)
    arb_captured = ZERO
    for (strategy, intent), _flow in cash_by.items():
        if strategy in ARB_STRATEGIES:
            arb_captured += _complete_set_profit(fills, intent, legs.get(intent, ()), finals)
    arb_pnl = sum((v for k, v in strategy_pnl.items() if k in ARB_STRATEGIES), ZERO)

    duration_s = float(run.get("duration_s", 0.0))
    interval = float(run.get("sample_interval_s", 1.0))
    ppy = mx.SECONDS_PER_YEAR / interval
    rets = mx.simple_returns(equity) if equity and min(equity) > 0 else []
    trade_pnls = list(intent_pnl.values())
    ratios: dict[str, float | None] = {
        "sharpe": mx.sharpe(rets, ppy),
        "sortino": mx.sortino(rets, ppy),
        "calmar": mx.calmar(equity, duration_s) if equity else None,
        "max_drawdown": mx.max_drawdown(equity) if equity else 0.0,
        "win_rate": mx.win_rate(trade_pnls),
        "profit_factor": mx.profit_factor(trade_pnls),
    }
    start_ns = int(run.get("start_ns", times[0] if times else 0))
    end_ns = start_ns + round(duration_s * 1e9) if duration_s else (times[-1] if times else start_ns)
    ledger = read_ledger(con, account, finals, end_ns)
    portfolio = portfolio_risk(con, run, ledger, times)
    return Analysis(
        run=run,
        times_ns=times,
        equity=equity,
        exposure=exposure,
        ledger=ledger,
        trades=len(fills),
        fees=fees,
        orders_sent=int(orders_sent[0]) if orders_sent else 0,
        orders_rejected=int(rejected[0]) if rejected else 0,
        strategy_pnl=strategy_pnl,
        strategy_trades=strat_trades,
        intent_pnl=intent_pnl,
        pnl=pnl,
        arb_available=arb_available,
        arb_captured=arb_captured,
        arb_residual=arb_pnl - arb_captured,
        ratios=ratios,
        portfolio=portfolio,
    )


def _intent_legs(con: duckdb.DuckDBPyConnection, account: str) -> dict[str, tuple[str, ...]]:
    """The tokens each intent asked for (its order legs, in leg order)."""
    rows = con.execute(
        "SELECT intent_id, token_id FROM orders WHERE account = ? ORDER BY intent_id, leg_index, time_ns",
        [account],
    ).fetchall()
    out: dict[str, list[str]] = {}
    for intent, token in rows:
        lst = out.setdefault(intent, [])
        if token not in lst:
            lst.append(token)
    return {k: tuple(v) for k, v in out.items()}


def _complete_set_profit(
    fills: list[tuple[Any, ...]], intent: str, legs: tuple[str, ...], finals: dict[str, Decimal]
) -> Decimal:
    """Profit of the complete sets an intent actually assembled.

    ``n`` = the fewest shares still held of any leg; each set cost the legs' average buy price
    including fees, and is worth the sum of the legs' values (its payout once resolved: 1 for a
    YES basket, N − 1 for a NO basket). Broken legs — bought and never completed, or unwound —
    are outcome risk, not arbitrage: they stay in the strategy's PnL (``arb_residual``) and out
    of ``arb_captured``.
    """
    if len(legs) < 2:
        return ZERO
    bought: dict[str, Decimal] = {t: ZERO for t in legs}
    cost: dict[str, Decimal] = {t: ZERO for t in legs}
    held: dict[str, Decimal] = {t: ZERO for t in legs}
    for _fid, _coid, token, side, price, size, fee, _strategy, fill_intent in fills:
        if fill_intent != intent or token not in held:
            continue
        price, size, fee = Decimal(price), Decimal(size), Decimal(fee)
        if side == "BUY":
            bought[token] += size
            cost[token] += price * size + fee
            held[token] += size
        else:
            held[token] -= size
    n = min(held.values())
    if n <= 0:
        return ZERO
    per_set_cost = sum((cost[t] / bought[t] for t in legs), ZERO)
    per_set_value = sum((finals.get(t, ZERO) for t in legs), ZERO)
    return (n * (per_set_value - per_set_cost)).quantize(Decimal("0.000001"))
