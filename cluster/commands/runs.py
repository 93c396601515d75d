"""``polyagents runs ls`` and ``polyagents runs compare``: finished runs side by side, from their journals."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table

from cluster.errors import UserError

runs_app = typer.Typer(help="List finished runs and compare two of them (numbers read from each journal).",
                       no_args_is_help=True)

LS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("run_id", "run id"),
    ("scenario", "scenario"),
    ("seed", "seed"),
    ("runtime", "runtime"),
    ("started", "started UTC"),
    ("pnl", "PnL"),
    ("return_pct", "ret %"),
    ("trades", "fills"),
)


def _short_time(text: str) -> str:
    """``2026-12-03 10:22 UTC`` → ``12-03 10:22`` (the header says UTC; CSV/JSON keep the year)."""
    parts = text.split()
    if len(parts) >= 2 and len(parts[0]) == 10:
        return f"{parts[0][5:]} {parts[1]}" + ("~" if "(file)" in text else "")
    return text


def _cell(key: str, v: Any) -> str:
    if v is None:
        return "n/a"
    if key in ("pnl", "return_pct") and isinstance(v, int | float):
        return f"{v:+,.4f}"
    if isinstance(v, float):
        return f"{v:,.6g}"
    return str(v)


def _progress(total: int) -> Progress:
    # on stderr and transient: the table (or CSV/JSON) on stdout stays clean for pipes
    return Progress(TextColumn("reading runs"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                    console=Console(stderr=True), transient=True, disable=total < 2)


@runs_app.command("ls")
def ls_cmd(
    dir_: Annotated[Path, typer.Option("--dir", help="The directory holding run folders.")] = Path("runs"),
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV instead of a table.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON array.")] = False,
) -> None:
    """List the runs under --dir: id, scenario, seed, runtime, start time, PnL, return %, fills."""
    from simulation.runs import find_runs, list_runs

    if not dir_.exists():
        raise UserError(f"--dir {dir_}: no such directory")
    paths = find_runs(dir_)
    with _progress(len(paths)) as progress:
        task = progress.add_task("runs", total=len(paths))
        runs = list_runs(dir_, on_each=lambda _p: progress.advance(task))
    if as_json:
        typer.echo(json.dumps([{**{k: r.get(k) for k, _ in LS_COLUMNS}, "run_id": r.run_id, "path": str(r.path),
                                "source": r.source, "error": r.error or None} for r in runs],
                              sort_keys=True, default=str))
        return
    if as_csv:
        w = csv.writer(sys.stdout)
        w.writerow([k for k, _ in LS_COLUMNS] + ["note"])
        for r in runs:
            w.writerow([r.run_id if k == "run_id" else ("" if r.get(k) is None else r.get(k)) for k, _ in LS_COLUMNS]
                       + [r.error])
        return
    console = Console()
    if not runs:
        console.print(f"no runs under {dir_}")
        return
    # the scenario column says nothing new when every run id starts with its scenario: it is left
    # out then, so the table fits 80 columns (CSV and JSON always have it)
    redundant = all(r.run_id.startswith(f"{r.get('scenario')}-") for r in runs)
    columns = [(k, lbl) for k, lbl in LS_COLUMNS if not (redundant and k == "scenario")]
    title = f"{len(runs)} run(s) in {dir_} · PnL in pUSD" + (" · scenario = run id prefix" if redundant else "")
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1, 0, 0))
    body = []
    for r in runs:
        cells = [r.run_id if k == "run_id" else _cell(k, r.get(k)) for k, _ in columns]
        body.append([_short_time(c) if k == "started" else c for (k, _), c in zip(columns, cells, strict=True)])
    for i, (key, label) in enumerate(columns):
        # numbers and short fields are never cut; the run id and the scenario fold if they must
        need = max([len(label)] + [len(row[i]) for row in body])
        flexible = key in ("run_id", "scenario")
        table.add_column(label, justify="right" if key in ("seed", "pnl", "return_pct", "trades") else "left",
                         no_wrap=not flexible, overflow="fold", min_width=None if flexible else need)
    for r, row in zip(runs, body, strict=True):
        table.add_row(*row, style="yellow" if r.error else "")
    notes = [r for r in runs if r.error]
    console.print(table)
    for r in notes:
        how = "numbers from summary.json" if r.source == "summary.json" else "no numbers"
        console.print(f"{r.run_id}: journal not readable ({r.error}); {how}")


@runs_app.command("compare")
def compare_cmd(
    a: Annotated[str, typer.Argument(help="A run: its id under --dir, a unique prefix of one, or its path.")],
    b: Annotated[str, typer.Argument(help="Another run, the same way.")],
    dir_: Annotated[Path, typer.Option("--dir", help="The directory holding run folders.")] = Path("runs"),
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Put two runs' metrics side by side, with B − A where both are numbers."""
    from simulation.runs import candidates, compare_rows, load_run, resolve_run

    infos = []
    for ref in (a, b):
        path = resolve_run(ref, dir_)
        if path is None:
            many = candidates(ref, dir_)
            hint = f"ambiguous: {', '.join(many[:4])}" if len(many) > 1 else f"no run '{ref}' under {dir_}"
            raise UserError(f"{ref}: {hint}")
        infos.append(load_run(path))
    ra, rb = infos
    for r in infos:
        if r.source == "none":
            raise UserError(f"{r.run_id}: journal not readable ({r.error}) and no summary.json")
    rows = compare_rows(ra, rb)
    if as_json:
        typer.echo(json.dumps({"a": ra.run_id, "b": rb.run_id,
                               "rows": [{"metric": m, "a": x, "b": y, "b_minus_a": d} for m, x, y, d in rows]},
                              sort_keys=True, default=str))
        return
    table = Table(title=f"A = {ra.run_id}   B = {rb.run_id}")
    table.add_column("metric")
    table.add_column("A", justify="right", overflow="fold")
    table.add_column("B", justify="right", overflow="fold")
    table.add_column("B − A", justify="right")
    for metric, x, y, d in rows:
        if metric == "journal hash":
            x, y = (str(x)[:12] if x else None), (str(y)[:12] if y else None)
            d = "same" if x == y else "differs"
        table.add_row(metric, _cell("", x), _cell("", y), "" if d is None else _cell("", d))
    Console().print(table)
    for r in infos:
        if r.error:
            Console().print(f"{r.run_id}: journal not readable ({r.error}); numbers from summary.json")


def register(app: typer.Typer) -> None:
    app.add_typer(runs_app, name="runs")
