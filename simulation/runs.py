"""The runs in a directory, side by side: what ``polyagents runs ls`` and ``runs compare`` show.

Each run is read from its own journal (the same :func:`simulation.analysis.analyze` the report uses,
so a listing and a report never disagree). A journal that cannot be read — still held by a running
tree, or not a simulation's — falls back to the run's ``summary.json`` when there is one, and
otherwise is listed with the reason instead of numbers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from simulation.analysis import analyze

JOURNAL = "journal.duckdb"
SUMMARY = "summary.json"

#: ``runs compare`` rows: (summary key, label with its unit).
COMPARE_ROWS: tuple[tuple[str, str], ...] = (
    ("scenario", "scenario"),
    ("seed", "seed"),
    ("runtime", "runtime"),
    ("started", "started"),
    ("duration_s", "duration (virtual s)"),
    ("starting_balance", "starting balance (pUSD)"),
    ("final_balance", "final balance (pUSD)"),
    ("pnl", "PnL (pUSD)"),
    ("return_pct", "return (%)"),
    ("fees", "fees (pUSD)"),
    ("trades", "fills"),
    ("round_trips", "trades (round trips)"),
    ("expectancy", "expectancy (pUSD/trade)"),
    ("best_trade", "best trade (pUSD)"),
    ("worst_trade", "worst trade (pUSD)"),
    ("trade_win_rate", "win rate (per trade)"),
    ("holding_mean_s", "holding time mean (s)"),
    ("max_drawdown_pusd", "max drawdown (pUSD)"),
    ("max_drawdown_pct", "max drawdown (%)"),
    ("max_exposure", "max exposure (pUSD)"),
    ("orders_sent", "orders sent"),
    ("orders_rejected", "orders rejected"),
    ("sharpe", "Sharpe (annualised)"),
    ("arb_available", "arbitrage available (pUSD)"),
    ("arb_captured", "arbitrage captured (pUSD)"),
    ("journal_hash", "journal hash"),
)


@dataclass
class RunInfo:
    run_id: str
    path: Path
    summary: dict[str, Any] = field(default_factory=dict)
    source: str = "journal"  # "journal", "summary.json", or "none"
    error: str = ""

    def get(self, key: str) -> Any:
        return self.summary.get(key)


def human_time(iso: str | None) -> str | None:
    """``2026-12-03T10:19:46+00:00`` → ``2026-12-03 10:19 UTC``; None stays None."""
    if not iso:
        return None
    try:
        t = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _file_time(path: Path) -> str:
    return datetime.fromtimestamp(path.stat().st_mtime, tz=UTC).strftime("%Y-%m-%d %H:%M UTC") + " (file)"


def load_run(run_dir: Path) -> RunInfo:
    """One run's numbers from its journal (or its summary.json when the journal cannot be read)."""
    journal = run_dir / JOURNAL if run_dir.is_dir() else run_dir
    base = journal.parent
    info = RunInfo(run_id=base.name, path=base)
    try:
        analysis = analyze(journal)
    except (duckdb.Error, ValueError, KeyError, FileNotFoundError) as exc:
        info.error = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        summary_file = base / SUMMARY
        if summary_file.exists():
            try:
                info.summary = json.loads(summary_file.read_text(encoding="utf-8"))
                info.source = SUMMARY
            except (OSError, ValueError):
                info.source = "none"
        else:
            info.source = "none"
        info.summary.setdefault("started", _file_time(journal if journal.exists() else base))
        return info
    run = analysis.run
    s = analysis.summary()
    s["runtime"] = run.get("runtime")
    s["duration_s"] = run.get("duration_s")
    s["journal_hash"] = run.get("journal_hash")
    s["started"] = human_time(run.get("started_at")) or _file_time(journal)
    s["started_at"] = run.get("started_at")
    info.run_id = str(run.get("run_id") or base.name)
    info.summary = s
    return info


def find_runs(root: Path) -> list[Path]:
    """Run directories under ``root`` (each holds a journal), or ``root`` itself if it is one."""
    if (root / JOURNAL).exists():
        return [root]
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and (p / JOURNAL).exists())


def list_runs(root: Path, on_each: Callable[[Path], None] | None = None) -> list[RunInfo]:
    """Every run under ``root``, oldest start first (runs without a recorded start by name)."""
    out: list[RunInfo] = []
    for p in find_runs(root):
        if on_each is not None:
            on_each(p)
        out.append(load_run(p))
    out.sort(key=lambda r: (str(r.get("started_at") or r.get("started") or ""), r.run_id))
    return out


def resolve_run(ref: str, root: Path) -> Path | None:
    """A run given as a path (directory or journal), a run id under ``root``, or a unique prefix of one."""
    p = Path(ref)
    if p.is_dir() and (p / JOURNAL).exists():
        return p
    if p.is_file():
        return p.parent
    if (root / ref / JOURNAL).exists():
        return root / ref
    matches = [d for d in find_runs(root) if d.name.startswith(ref)]
    return matches[0] if len(matches) == 1 else None


def candidates(ref: str, root: Path) -> list[str]:
    return [d.name for d in find_runs(root) if d.name.startswith(ref)]


def compare_rows(
    a: RunInfo, b: RunInfo, keys: Iterable[tuple[str, str]] = COMPARE_ROWS
) -> list[tuple[str, Any, Any, Any]]:
    """(label, A, B, B − A) per metric; the difference only where both are numbers."""
    rows: list[tuple[str, Any, Any, Any]] = []
    for key, label in keys:
        va, vb = a.get(key), b.get(key)
        diff: Any = None
        if isinstance(va, int | float) and isinstance(vb, int | float) and not isinstance(va, bool):
            diff = round(vb - va, 6)
        rows.append((label, va, vb, diff))
    return rows
