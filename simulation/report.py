"""The report of a run: an HTML page with PNG plots (equity, drawdown, attribution), the metrics,
the gap episodes, and the assumptions the numbers rest on; plus a rich table for the console.

Built from :class:`simulation.analysis.Analysis` (i.e. from the journal), so ``polyagents report``
can rebuild it for any finished run.
"""

from __future__ import annotations

import csv
import html
import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter
from rich.console import Console
from rich.table import Table

from simulation.analysis import Analysis
from simulation.ledger import Ledger, LedgerFill, Marker, MarkPoint, drawdowns, entry_fill_ids, trade_stats

NS_PER_S = 1_000_000_000

SUMMARY_ROWS: tuple[tuple[str, str], ...] = (
    ("starting_balance", "Starting balance (pUSD)"),
    ("final_balance", "Final balance (pUSD, marked)"),
    ("pnl", "PnL (pUSD)"),
    ("return_pct", "Return (%)"),
    ("fees", "Fees paid (pUSD)"),
    ("trades", "Fills"),
    ("round_trips", "Trades (round trips)"),
    ("expectancy", "Expectancy (pUSD per trade)"),
    ("best_trade", "Best trade (pUSD)"),
    ("worst_trade", "Worst trade (pUSD)"),
    ("trade_win_rate", "Win rate (per trade)"),
    ("holding_mean_s", "Holding time, mean (s)"),
    ("holding_median_s", "Holding time, median (s)"),
    ("max_drawdown_pusd", "Max drawdown (pUSD)"),
    ("max_drawdown_pct", "Max drawdown (%)"),
    ("max_exposure", "Max exposure (pUSD, marked)"),
    ("orders_sent", "Orders sent"),
    ("orders_rejected", "Orders rejected"),
    ("sharpe", "Sharpe (annualised)"),
    ("sortino", "Sortino (annualised)"),
    ("calmar", "Calmar"),
    ("win_rate", "Win rate (per intent)"),
    ("profit_factor", "Profit factor (per intent)"),
    ("arb_available", "Arbitrage available (pUSD)"),
    ("arb_captured", "Arbitrage captured (pUSD)"),
    ("arb_residual_pnl", "Arb residual, broken legs (pUSD)"),
    ("gap_episodes", "Gap episodes"),
    ("gap_half_life_s", "Gap half-life (s, median)"),
)

#: Colours of the event markers on every time chart.
MARKER_COLORS: dict[str, str] = {
    "crash": "#c0392b", "restart": "#27ae60", "escalate": "#8e44ad", "quarantine": "#8e44ad",
    "remove": "#7f8c8d", "halt": "#e67e22", "reduce": "#f1c40f", "resume": "#16a085", "risk": "#d35400",
    "resolution": "#2980b9",
}
#: The fills table in the page stops here (the CSV beside it has every row).
MAX_FILL_ROWS = 500
MAX_PRICE_CHARTS = 12


def fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:,.4f}"
    return str(v)


def money(v: Decimal | float | None, places: int = 4) -> str:
    """pUSD to ``places`` decimals, thousands separated; a sign only for negatives."""
    if v is None:
        return "n/a"
    return f"{float(v):,.{places}f}"


def shares(v: Decimal | None) -> str:
    return "n/a" if v is None else f"{float(v):,.2f}"


def price(v: Decimal | None) -> str:
    return "n/a" if v is None else f"{float(v):.4f}"


def _secs(t_ns: int, start_ns: int) -> float:
    return (t_ns - start_ns) / NS_PER_S


def _draw_markers(ax: Any, markers: Sequence[Marker], start_ns: int, market: str | None = None) -> None:
    """Vertical lines at the run's events; on a market's chart only that market's resolution."""
    seen: set[str] = set()
    for m in markers:
        if m.kind == "resolution" and market is not None and m.subject != market:
            continue
        label = m.kind if m.kind not in seen else None
        seen.add(m.kind)
        ax.axvline(_secs(m.time_ns, start_ns), color=MARKER_COLORS.get(m.kind, "#555"), linestyle="--",
                   linewidth=1, alpha=0.8, label=label)


def _finish(fig: Any, ax: Any, path: Path, legend: bool) -> None:
    if legend and ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize=7, framealpha=0.8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _plot_equity(path: Path, xs: list[float], eq: list[float], start_balance: float, markers: Sequence[Marker],
                 start_ns: int) -> None:
    fig, ax = plt.subplots(figsize=(8, 3), dpi=100)
    ax.plot(xs or [0.0], eq or [start_balance], color="#2c3e50", linewidth=1.2, drawstyle="steps-post",
            label="equity")
    ax.axhline(start_balance, color="#7f8c8d", linewidth=0.8, linestyle=":", label="starting balance")
    _draw_markers(ax, markers, start_ns)
    ax.ticklabel_format(axis="y", useOffset=False, style="plain")
    ax.set_title("Equity: cash + positions at marks (pUSD)")
    ax.set_xlabel("time since start (s)")
    ax.set_ylabel("pUSD")
    _finish(fig, ax, path, legend=True)


def _plot_drawdown(path: Path, xs: list[float], dd_abs: list[float], dd_pct: list[float],
                   markers: Sequence[Marker], start_ns: int, start_balance: float) -> None:
    fig, ax = plt.subplots(figsize=(8, 3), dpi=100)
    xs = xs or [0.0]
    neg = [-d for d in dd_abs] or [0.0]
    ax.fill_between(xs, neg, 0, color="#c0392b", alpha=0.35, step="post")
    ax.plot(xs, neg, color="#c0392b", linewidth=1, drawstyle="steps-post", label="drawdown")
    _draw_markers(ax, markers, start_ns)
    ax.ticklabel_format(axis="y", useOffset=False, style="plain")
    worst = max(dd_abs, default=0.0)
    worst_pct = max(dd_pct, default=0.0)
    ax.set_title(f"Drawdown from running peak (max {worst:,.6f} pUSD = {worst_pct:.3g} % of peak)")
    ax.set_xlabel("time since start (s)")
    ax.set_ylabel("pUSD below peak")
    # the axis spans at least 0.01 % of the starting balance: a drawdown of a few micro-pUSD shows as
    # the sliver it is, not as a cliff on an axis of ±1e-8 (the exact maximum is in the title)
    span = max(worst * 1.15, start_balance * 1e-4, 1e-6)
    ax.set_ylim(-span, span * 0.03)
    pct = ax.secondary_yaxis("right", functions=(_pct_of(dd_abs, dd_pct, start_balance),
                                                 _abs_of(dd_abs, dd_pct, start_balance)))
    pct.set_ylabel("% of peak")
    pct.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:.3g}"))
    _finish(fig, ax, path, legend=True)


def _ratio(dd_abs: list[float], dd_pct: list[float], start_balance: float) -> float:
    """% per pUSD of drawdown at the worst point (the peak there; the starting balance without one).
    The right axis is exact at that point and within the peak's drift elsewhere."""
    i = max(range(len(dd_abs)), key=lambda k: dd_abs[k]) if dd_abs else -1
    if i < 0 or dd_abs[i] <= 0:
        return 100.0 / start_balance if start_balance > 0 else 1.0
    return dd_pct[i] / dd_abs[i]


def _pct_of(dd_abs: list[float], dd_pct: list[float], start_balance: float) -> Any:
    r = _ratio(dd_abs, dd_pct, start_balance)
    return lambda y: y * r


def _abs_of(dd_abs: list[float], dd_pct: list[float], start_balance: float) -> Any:
    r = _ratio(dd_abs, dd_pct, start_balance)
    return lambda y: y / r


def _plot_attribution(path: Path, pnl: Mapping[str, float]) -> None:
    fig, ax = plt.subplots(figsize=(8, 3), dpi=100)
    names = list(pnl) or ["(no trades)"]
    values = [pnl[n] for n in pnl] or [0.0]
    colors = ["#27ae60" if v >= 0 else "#c0392b" for v in values]
    ax.barh(names, values, color=colors)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_title("PnL by strategy (fills valued at payout or final mark)")
    ax.set_xlabel("pUSD")
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _plot_market(path: Path, market: str, token: str, points: Sequence[MarkPoint], fills: Sequence[LedgerFill],
                 entries: set[str], markers: Sequence[Marker], start_ns: int) -> None:
    """YES price: bid–ask band, last trade, fair value; our entries ▲ and exits ▼ (a NO fill is drawn
    at 1 − its price, the YES price it trades at)."""
    fig, ax = plt.subplots(figsize=(8, 3.2), dpi=100)
    xs = [_secs(p.time_ns, start_ns) for p in points]

    def ys(vals: list[Decimal | None]) -> list[float]:
        return [math.nan if v is None else float(v) for v in vals]

    bid, ask = ys([p.best_bid for p in points]), ys([p.best_ask for p in points])
    if xs:
        ax.fill_between(xs, bid, ask, color="#95a5a6", alpha=0.35, step="post", label="bid–ask")
        ax.plot(xs, ys([p.last for p in points]), color="#7f8c8d", linewidth=0.8, drawstyle="steps-post",
                label="last trade")
        ax.plot(xs, ys([p.fair for p in points]), color="#2c3e50", linewidth=1.4, drawstyle="steps-post",
                label="fair value")
    for is_entry, marker, color, name in ((True, "^", "#27ae60", "entry"), (False, "v", "#c0392b", "exit")):
        pts = [f for f in fills if (f.fill_id in entries) == is_entry]
        if pts:
            ax.scatter([_secs(f.time_ns, start_ns) for f in pts],
                       [float(f.price) if f.token_id == token or not token else 1 - float(f.price) for f in pts],
                       marker=marker, color=color, s=36, zorder=5, label=f"our {name}")
    _draw_markers(ax, markers, start_ns, market=market)
    ax.set_title(f"{market}: YES price and fair value (pUSD per share)")
    ax.set_xlabel("time since start (s)")
    ax.set_ylabel("pUSD per YES share")
    _finish(fig, ax, path, legend=True)


def _plot_positions(path: Path, ledger: Ledger, xs: list[float], exposure: list[float], end_s: float,
                    start_ns: int) -> None:
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 4.6), dpi=100, sharex=True)
    for token, steps in sorted(ledger.positions.items()):
        px = [0.0] + [_secs(t, start_ns) for t, _q in steps] + [end_s]
        py = [0.0] + [float(q) for _t, q in steps]
        py.append(py[-1])
        ax1.plot(px, py, drawstyle="steps-post", linewidth=1.1, label=token)
    if not ledger.positions:
        ax1.plot([0.0, end_s], [0.0, 0.0], color="#7f8c8d", linewidth=0.8, label="no position")
    ax1.set_title("Position per token (shares)")
    ax1.set_ylabel("shares")
    _draw_markers(ax1, ledger.markers, start_ns)
    if ax1.get_legend_handles_labels()[0]:
        ax1.legend(loc="best", fontsize=7, framealpha=0.8)
    ax1.grid(alpha=0.3)
    ax2.plot(xs or [0.0], exposure or [0.0], color="#8e44ad", linewidth=1.1, drawstyle="steps-post")
    ax2.ticklabel_format(axis="y", useOffset=False, style="plain")
    ax2.set_title("Exposure: positions at marks (pUSD)")
    ax2.set_ylabel("pUSD")
    ax2.set_xlabel("time since start (s)")
    _draw_markers(ax2, ledger.markers, start_ns)
    _finish(fig, ax2, path, legend=False)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:60] or "market"


def write_csvs(ledger: Ledger, out: Path, start_ns: int) -> tuple[Path, Path]:
    fills_csv, trades_csv = out / "fills.csv", out / "trades.csv"
    with fills_csv.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["time_s", "time_ns", "fill_id", "market", "token_id", "side", "price", "shares", "fee_pusd",
                    "liquidity", "strategy", "intent_id", "cash_flow_pusd"])
        for f in ledger.fills:
            w.writerow([f"{_secs(f.time_ns, start_ns):.6f}", f.time_ns, f.fill_id, f.market, f.token_id, f.side,
                        f.price, f.size, f.fee, f.liquidity, f.strategy, f.intent_id, f.cash])
    with trades_csv.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["trade", "market", "token_id", "strategy", "direction", "open_s", "close_s", "closed_by",
                    "fills", "shares", "avg_entry", "avg_exit", "fees_pusd", "pnl_pusd", "holding_s"])
        for t in ledger.trades:
            w.writerow([t.number, t.market, t.token_id, t.strategy, t.direction,
                        f"{_secs(t.open_ns, start_ns):.6f}", f"{_secs(t.close_ns, start_ns):.6f}", t.closed_by,
                        t.fills, t.shares, t.avg_entry, t.avg_exit, t.fees, t.pnl, f"{t.holding_s:.6f}"])
    return fills_csv, trades_csv


def _rows(rows: Sequence[Sequence[str]]) -> str:
    return "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)


def _head(cols: Sequence[str]) -> str:
    return "<tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in cols) + "</tr>"


def _kv(rows: Sequence[tuple[str, str]]) -> str:
    return "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)


def write_report(analysis: Analysis, out_dir: str | Path) -> Path:
    """Write ``report.html``, its PNGs and ``fills.csv``/``trades.csv`` into ``out_dir``; returns the HTML path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    run = analysis.run
    esc = html.escape
    start_ns = int(run.get("start_ns", analysis.times_ns[0] if analysis.times_ns else 0))
    end_s = float(run.get("duration_s", 0.0)) or (_secs(analysis.times_ns[-1], start_ns) if analysis.times_ns else 0.0)
    ledger = analysis.ledger or Ledger([], [], [], {}, {}, {}, [])
    xs = [_secs(t, start_ns) for t in analysis.times_ns]
    eq = [float(e) for e in analysis.equity]
    dd_abs_d, dd_pct = drawdowns(analysis.equity)
    dd_abs = [float(d) for d in dd_abs_d]
    summary = analysis.summary()
    start_balance = float(analysis.bankroll)
    _plot_equity(out / "equity.png", xs, eq, start_balance, ledger.markers, start_ns)
    _plot_drawdown(out / "drawdown.png", xs, dd_abs, dd_pct, ledger.markers, start_ns, start_balance)
    _plot_attribution(out / "attribution.png", {k: float(v) for k, v in sorted(analysis.strategy_pnl.items())})
    _plot_positions(out / "positions.png", ledger, xs, [float(e) for e in analysis.exposure], end_s, start_ns)
    write_csvs(ledger, out, start_ns)

    # -- balance and return
    balance = _kv([
        ("Starting balance", f"{money(summary['starting_balance'])} pUSD"),
        ("Final balance (cash + positions at marks)", f"{money(summary['final_balance'])} pUSD"),
        ("PnL", f"{money(summary['pnl'])} pUSD"),
        ("Return", f"{fmt(summary['return_pct'])} %"),
        ("Fees paid", f"{money(summary['fees'])} pUSD"),
        ("Max drawdown", f"{money(summary['max_drawdown_pusd'])} pUSD ({fmt(summary['max_drawdown_pct'])} % of peak)"),
        ("Max exposure (positions at marks)", f"{money(summary['max_exposure'])} pUSD"),
    ])
    # -- trades
    st = trade_stats(ledger.trades)

    def which(t: Any) -> str:
        return "n/a" if t is None else f"{money(t.pnl)} pUSD (#{t.number}, {t.market}, {t.strategy})"

    trade_stats_rows = _kv([
        ("Trades (round trips)", f"{st.count} ({st.closed} closed, {st.count - st.closed} open at end)"),
        ("Win rate", "n/a" if not st.count else f"{st.winners / st.count * 100:.1f} % ({st.winners} of {st.count})"),
        ("Expectancy (mean trade PnL)", "n/a" if st.expectancy is None else f"{money(st.expectancy)} pUSD per trade"),
        ("Best trade", which(st.best)),
        ("Worst trade", which(st.worst)),
        ("Average winner / loser", f"{money(st.avg_win)} / {money(st.avg_loss)} pUSD"),
        ("Holding time mean / median / max",
         "n/a" if st.holding_mean_s is None
         else f"{st.holding_mean_s:,.2f} / {st.holding_median_s:,.2f} / {st.holding_max_s:,.2f} s"),
    ])
    trade_rows = _rows([
        (str(t.number), t.market, t.token_id, t.strategy, t.direction, f"{_secs(t.open_ns, start_ns):,.3f}",
         f"{_secs(t.close_ns, start_ns):,.3f}", t.closed_by, str(t.fills), shares(t.shares), price(t.avg_entry),
         price(t.avg_exit), money(t.fees), money(t.pnl), f"{t.holding_s:,.3f}")
        for t in ledger.trades
    ]) or "<tr><td colspan=15>no trades</td></tr>"
    # -- fills
    entries = entry_fill_ids(ledger.fills)
    pos: dict[str, Decimal] = {}
    fill_cells: list[tuple[str, ...]] = []
    for f in ledger.fills:
        pos[f.token_id] = pos.get(f.token_id, Decimal(0)) + f.signed_size
        fill_cells.append((f"{_secs(f.time_ns, start_ns):,.3f}", f.market, f.token_id, f.side,
                           "entry" if f.fill_id in entries else "exit", price(f.price), shares(f.size),
                           money(f.fee), f.liquidity, f.strategy, money(f.cash), shares(pos[f.token_id])))
    more = len(fill_cells) - MAX_FILL_ROWS
    fill_rows = _rows(fill_cells[:MAX_FILL_ROWS]) or "<tr><td colspan=12>no fills</td></tr>"
    if more > 0:
        fill_rows += f"<tr><td colspan=12>… {more} more in fills.csv</td></tr>"
    # -- prices per market: the markets we traded first, then the rest
    traded = list(dict.fromkeys(f.market for f in ledger.fills))
    markets = traded + sorted(m for m in ledger.marks if m not in traded)
    price_imgs: list[str] = []
    for i, market in enumerate(markets[:MAX_PRICE_CHARTS]):
        token = ledger.mark_tokens.get(market, "")
        name = f"price_{i:02d}_{_slug(market)}.png"
        mfills = [f for f in ledger.fills if f.market == market]
        _plot_market(out / name, market, token, ledger.marks.get(market, []), mfills, entries, ledger.markers,
                     start_ns)
        price_imgs.append(f'<img src="{esc(name)}" alt="price and fair value of {esc(market)}">')
    if len(markets) > MAX_PRICE_CHARTS:
        price_imgs.append(f"<p>{len(markets) - MAX_PRICE_CHARTS} more markets not drawn (no fills of ours).</p>")
    prices_html = "".join(price_imgs) or "<p>no market marks in this journal</p>"
    # -- events
    event_rows = _rows([
        (f"{_secs(m.time_ns, start_ns):,.3f}", m.kind, m.subject, m.detail) for m in ledger.markers
    ]) or "<tr><td colspan=4>no crashes, restarts, halts, risk events or resolutions in this run</td></tr>"
    counts: dict[str, int] = {}
    for m in ledger.markers:
        counts[m.kind] = counts.get(m.kind, 0) + 1
    event_counts = ", ".join(f"{k} × {v}" for k, v in sorted(counts.items())) or "none"

    rows = "".join(
        f"<tr><th>{esc(label)}</th><td>{esc(fmt(summary.get(key)))}</td></tr>" for key, label in SUMMARY_ROWS
    )
    strat_rows = "".join(
        f"<tr><td>{esc(name)}</td><td>{analysis.strategy_trades.get(name, 0)}</td><td>{esc(money(v))}</td></tr>"
        for name, v in sorted(analysis.strategy_pnl.items())
    ) or "<tr><td colspan=3>no fills</td></tr>"
    arb = run.get("arb", {})
    eps = arb.get("episodes", [])[:25]
    ep_rows = "".join(
        "<tr>" + "".join(f"<td>{esc(fmt(ep.get(k)))}</td>" for k in
                         ("event", "basket", "start_s", "opening", "peak", "available", "half_life_s", "duration_s"))
        + "</tr>"
        for ep in eps
    ) or "<tr><td colspan=8>no complete-set gaps in this run</td></tr>"
    assumptions = "".join(
        f"<li><b>{esc(k)}</b>: {esc(str(v))}</li>" for k, v in sorted(run.get("assumptions", {}).items())
    )
    crowd = ", ".join(f"{esc(k)} × {v}" for k, v in sorted(run.get("crowd", {}).items())) or "none"
    crashes = run.get("crashes", [])
    crash_html = (
        "<h2>Handler errors</h2><ul>" + "".join(f"<li>{esc(c)}</li>" for c in crashes) + "</ul>" if crashes else ""
    )
    unmatched = (f"<p>{ledger.unmatched_settlements} settlement(s) of tokens not held were skipped "
                 "(their cash is in the equity, not in any trade).</p>" if ledger.unmatched_settlements else "")
    virtual_start = datetime.fromtimestamp(start_ns / NS_PER_S, tz=UTC).isoformat(timespec="seconds")
    generated = datetime.now(tz=UTC).isoformat(timespec="seconds")
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>polyagents run {esc(str(run.get('run_id')))}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 64rem; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5rem 0 1.5rem; }}
th, td {{ border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: left; font-size: 0.85rem; }}
th {{ background: #f4f4f4; }}
img {{ max-width: 100%; border: 1px solid #eee; margin-bottom: 1rem; }}
.meta {{ color: #666; font-size: 0.85rem; }}
</style></head><body>
<h1>Simulation report: {esc(str(run.get('scenario')))} (seed {esc(str(run.get('seed')))})</h1>
<p>{esc(str(run.get('description', '')))}</p>
<p class="meta">run {esc(str(run.get('run_id')))} · runtime {esc(str(run.get('runtime', 'n/a')))} ·
started {esc(str(run.get('started_at', 'n/a')))} · duration {esc(fmt(run.get('duration_s')))} virtual s from
{esc(virtual_start)} · crowd: {crowd} · our agents: {esc(', '.join(run.get('ours', [])))} ·
events processed {esc(str(run.get('events_processed')))} ·
journal hash <code>{esc(str(run.get('journal_hash', ''))[:16])}</code> · generated {generated}.
All money in pUSD, sizes in shares, times in seconds since the start of the run.</p>
<h2 id="balance">Balance and return</h2><table>{balance}</table>
<h2 id="equity">Equity and drawdown</h2>
<img src="equity.png" alt="equity curve"><img src="drawdown.png" alt="drawdown in pUSD and %">
<h2 id="trades">Trades (round trips)</h2><table>{trade_stats_rows}</table>
<table>{_head(["#", "market", "token", "strategy", "direction", "opened (s)", "closed (s)", "closed by", "fills",
               "shares", "avg entry", "avg exit", "fees (pUSD)", "PnL (pUSD)", "held (s)"])}{trade_rows}</table>
{unmatched}<p>Every row also in <a href="trades.csv">trades.csv</a>.</p>
<h2 id="fills">Fills</h2>
<table>{_head(["time (s)", "market", "token", "side", "entry/exit", "price", "shares", "fee (pUSD)", "liquidity",
               "strategy", "cash flow (pUSD)", "position after (shares)"])}{fill_rows}</table>
<p>Every row also in <a href="fills.csv">fills.csv</a>.</p>
<h2 id="prices">Prices, fair value, entries and exits</h2>
<p>Per market: the YES book's bid–ask band, its last trade, and the fair value positions are marked at;
▲ our entries, ▼ our exits (a NO-token fill is drawn at 1 − its price); dashed lines are the events below.</p>
{prices_html}
<h2 id="positions">Positions and exposure</h2>
<img src="positions.png" alt="position per token and exposure over time">
<h2 id="events">Events</h2>
<p>Kills and crashes, restarts and other supervision events, trading halts, reductions and
resumptions, risk events, market resolutions: {esc(event_counts)}.</p>
<table>{_head(["time (s)", "event", "agent / market", "detail"])}{event_rows}</table>
<h2 id="metrics">Metrics</h2><table>{rows}</table>
<h2 id="attribution">Attribution by strategy</h2>
<img src="attribution.png" alt="PnL by strategy">
<table><tr><th>strategy</th><th>fills</th><th>PnL (pUSD)</th></tr>{strat_rows}</table>
{_portfolio_risk_html(analysis)}
<h2 id="gaps">Complete-set gaps</h2>
<p>Available = the sum of every increase of the depth-walked, fee-net profit of buying a complete set
(every outcome's YES, or every outcome's NO) of each neg-risk event, measured after every book change;
half-life = time until an episode's profit first fell to half its opening value.</p>
<table><tr><th>event</th><th>basket</th><th>start (s)</th><th>opening</th><th>peak</th><th>available</th>
<th>half-life (s)</th><th>duration (s)</th></tr>{ep_rows}</table>
<h2 id="assumptions">Assumptions</h2><ul>{assumptions}
<li><b>balance</b>: the starting balance is the bankroll our account was funded with; the final balance is
cash plus every position at its mark at the end; return % = PnL / starting balance × 100.</li>
<li><b>trades</b>: a trade is a round trip in one token, from the fill that opens a position to the fill or
resolution payout that brings it back to zero (a fill that crosses zero closes one trade and opens the next,
its fee split pro rata); a trade still open at the end is valued at its final mark. Trade PnL includes fees,
so all trades add up to the run's PnL. Holding time runs from the opening fill to the close (or the end of the
run). Expectancy is the mean trade PnL. A fill is counted once however many records of it the journal holds.</li>
<li><b>drawdown</b>: at each equity sample, running peak − equity in pUSD, and that as a % of the peak; the two
maxima can fall at different samples.</li>
<li><b>exposure</b>: the value of every position at its mark (pUSD); position charts count shares per token.</li>
<li><b>metrics</b>: returns are simple equity returns per sample, annualised with 365×86,400 s /
sample interval; Sortino uses downside deviation over all periods; Calmar uses the arithmetic
annualised return; win rate and profit factor under Metrics are per order intent (fills valued at payout or
final mark); undefined ratios are shown as n/a.</li></ul>
{crash_html}
</body></html>
"""
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return path


def _portfolio_risk_html(analysis: Analysis) -> str:
    """The portfolio-risk and strategy-correlation sections (numbers: simulation.risk_report)."""
    esc = html.escape
    pr = analysis.portfolio
    if pr is None:
        return '<h2 id="portfolio-risk">Portfolio risk</h2><p>not computed for this journal</p>'
    limit = "no VaR limit configured" if pr.var_limit is None else f"{money(pr.var_limit)} pUSD"
    peak_at = "" if pr.var_peak_s is None else f" at {pr.var_peak_s:,.1f} s"
    over = pr.var_limit is not None and pr.var_peak > pr.var_limit + 1e-9

    def bound(code: str) -> str:
        d = pr.bound.get(code, {})
        return f"{d.get('RESIZED', 0)} resized, {d.get('REJECTED', 0)} rejected"

    corr_limit = "none" if pr.correlation_limit is None else f"{pr.correlation_limit:.2f}"
    rows = _kv([
        (f"VaR {pr.confidence * 100:.0f} % of positions, peak", f"{money(pr.var_peak)} pUSD{peak_at}"
         + (" (above the limit: marks moved after the trades)" if over else "")),
        ("VaR at the end", f"{money(pr.var_final)} pUSD"),
        ("VaR limit", limit),
        ("Intents bound by the VaR limit (VAR_LIMIT)", bound("VAR_LIMIT")),
        ("Correlation limit", corr_limit),
        ("Intents bound by the correlation limit (CORRELATION_LIMIT)", bound("CORRELATION_LIMIT")),
    ])
    mrows = _rows([(a, b, f"{c:+.3f}") for a, b, c in pr.market_correlations]) or (
        "<tr><td colspan=3>fewer than two held markets with enough marks</td></tr>")
    target = 0.3
    srows = _rows([
        (a, b, "n/a" if c is None else f"{c:+.3f}", "n/a" if c is None else ("yes" if c < target else "NO"))
        for a, b, c in pr.strategy_correlations
    ]) or "<tr><td colspan=4>fewer than two strategies traded</td></tr>"
    return f"""<h2 id="portfolio-risk">Portfolio risk</h2>
<p>Value at risk of the positions held at each equity sample: every token pays 0 or 1, with the
probability of its fair value then; the outcomes of one neg-risk event are exclusive; declared
correlations of the risk officer apply (protocols.var). Open orders are not counted here (the risk
officer's live VaR, in <code>polyagents status</code>, counts open buys too).</p>
<table>{rows}</table>
<p>Most correlated pairs of held markets (co-movement of their fair values over the run, or declared):</p>
<table>{_head(["market", "market", "correlation"])}{mrows}</table>
<h2 id="strategy-correlation">Strategy correlation</h2>
<p>Pearson correlation of each pair of strategies' PnL per {esc(pr.strategy_bucket)}
({pr.strategy_buckets} buckets; fills' cash plus shares at the marks). Target: below {target}.</p>
<table>{_head(["strategy", "strategy", "correlation", f"below {target}"])}{srows}</table>
"""


def summary_table(summary: Mapping[str, Any], title: str | None = None) -> Table:
    table = Table(title=title or f"{summary.get('scenario')} · seed {summary.get('seed')}", show_header=True)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, label in SUMMARY_ROWS:
        table.add_row(label, fmt(summary.get(key)))
    for name, v in (summary.get("strategy_pnl") or {}).items():
        table.add_row(f"  PnL · {name}", fmt(v))
    return table


def print_summary(summary: Mapping[str, Any], console: Console | None = None) -> None:
    console = console or Console()
    console.print(summary_table(summary))
    if summary.get("report"):
        console.print(f"report: {summary['report']}")
    if summary.get("journal"):
        console.print(f"journal: {summary['journal']}")
