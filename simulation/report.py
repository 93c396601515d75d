"""The report of a run: an HTML page with PNG plots (equity, drawdown, attribution), the metrics,
the gap episodes, and the assumptions the numbers rest on; plus a rich table for the console.

Built from :class:`simulation.analysis.Analysis` (i.e. from the journal), so ``polyagents report``
can rebuild it for any finished run.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from rich.console import Console
from rich.table import Table

from simulation import metrics as mx
from simulation.analysis import Analysis

NS_PER_S = 1_000_000_000

SUMMARY_ROWS: tuple[tuple[str, str], ...] = (
    ("pnl", "PnL"),
    ("fees", "Fees paid"),
    ("trades", "Fills"),
    ("orders_sent", "Orders sent"),
    ("orders_rejected", "Orders rejected"),
    ("sharpe", "Sharpe (annualised)"),
    ("sortino", "Sortino (annualised)"),
    ("calmar", "Calmar"),
    ("max_drawdown", "Max drawdown"),
    ("win_rate", "Win rate (per intent)"),
    ("profit_factor", "Profit factor"),
    ("arb_available", "Arbitrage available"),
    ("arb_captured", "Arbitrage captured"),
    ("arb_residual_pnl", "Arb residual (broken legs)"),
    ("gap_episodes", "Gap episodes"),
    ("gap_half_life_s", "Gap half-life (s, median)"),
)


def fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:,.4f}"
    return str(v)


def _plot_series(path: Path, xs: list[float], ys: list[float], title: str, ylabel: str, fill: bool = False) -> None:
    fig, ax = plt.subplots(figsize=(8, 3), dpi=100)
    if fill:
        ax.fill_between(xs, ys, 0, color="#c0392b", alpha=0.35, step="post")
        ax.plot(xs, ys, color="#c0392b", linewidth=1, drawstyle="steps-post")
    else:
        ax.plot(xs, ys, color="#2c3e50", linewidth=1.2, drawstyle="steps-post")
    ax.ticklabel_format(axis="y", useOffset=False, style="plain")
    ax.set_title(title)
    ax.set_xlabel("time since start (s)")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


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


def write_report(analysis: Analysis, out_dir: str | Path) -> Path:
    """Write ``report.html`` and its PNGs into ``out_dir``; returns the HTML path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    run = analysis.run
    start_ns = int(run.get("start_ns", analysis.times_ns[0] if analysis.times_ns else 0))
    xs = [(t - start_ns) / NS_PER_S for t in analysis.times_ns]
    eq = [float(e) for e in analysis.equity]
    dd = [-d for d in mx.drawdown_series(eq)]
    _plot_series(out / "equity.png", xs or [0.0], eq or [0.0], "Equity (cash + positions at marks)", "pUSD")
    _plot_series(out / "drawdown.png", xs or [0.0], dd or [0.0], "Drawdown from running peak", "fraction", fill=True)
    summary = analysis.summary()
    _plot_attribution(out / "attribution.png", {k: float(v) for k, v in sorted(analysis.strategy_pnl.items())})

    esc = html.escape
    rows = "".join(
        f"<tr><th>{esc(label)}</th><td>{esc(fmt(summary.get(key)))}</td></tr>" for key, label in SUMMARY_ROWS
    )
    strat_rows = "".join(
        f"<tr><td>{esc(name)}</td><td>{analysis.strategy_trades.get(name, 0)}</td><td>{esc(fmt(float(v)))}</td></tr>"
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
    generated = datetime.now(tz=UTC).isoformat(timespec="seconds")
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>polyagents run {esc(str(run.get('run_id')))}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5rem 0 1.5rem; }}
th, td {{ border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: left; font-size: 0.9rem; }}
th {{ background: #f4f4f4; }}
img {{ max-width: 100%; border: 1px solid #eee; margin-bottom: 1rem; }}
.meta {{ color: #666; font-size: 0.85rem; }}
</style></head><body>
<h1>Simulation report: {esc(str(run.get('scenario')))} (seed {esc(str(run.get('seed')))})</h1>
<p>{esc(str(run.get('description', '')))}</p>
<p class="meta">run {esc(str(run.get('run_id')))} · duration {esc(fmt(run.get('duration_s')))} s ·
bankroll {esc(str(run.get('bankroll')))} pUSD · crowd: {crowd} · our agents: {esc(', '.join(run.get('ours', [])))} ·
events processed {esc(str(run.get('events_processed')))} ·
journal hash <code>{esc(str(run.get('journal_hash', ''))[:16])}</code> ·
generated {generated}</p>
<h2>Metrics</h2><table>{rows}</table>
<h2>Equity and drawdown</h2>
<img src="equity.png" alt="equity curve"><img src="drawdown.png" alt="drawdown">
<h2>Attribution by strategy</h2>
<img src="attribution.png" alt="PnL by strategy">
<table><tr><th>strategy</th><th>fills</th><th>PnL</th></tr>{strat_rows}</table>
<h2>Complete-set gaps</h2>
<p>Available = the sum of every increase of the depth-walked, fee-net profit of buying a complete set
(every outcome's YES, or every outcome's NO) of each neg-risk event, measured after every book change;
half-life = time until an episode's profit first fell to half its opening value.</p>
<table><tr><th>event</th><th>basket</th><th>start (s)</th><th>opening</th><th>peak</th><th>available</th>
<th>half-life (s)</th><th>duration (s)</th></tr>{ep_rows}</table>
<h2>Assumptions</h2><ul>{assumptions}
<li><b>metrics</b>: returns are simple equity returns per sample, annualised with 365×86,400 s /
sample interval; Sortino uses downside deviation over all periods; Calmar uses the arithmetic
annualised return; win rate and profit factor are per order intent (fills valued at payout or final mark);
undefined ratios are shown as n/a.</li></ul>
{crash_html}
</body></html>
"""
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return path


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
