"""``polyagents journal sql``: read a finished journal with plain SQL."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import duckdb
import typer
from rich.console import Console
from rich.table import Table

from cluster.clock import iso
from cluster.errors import UserError
from cluster.journal import open_read_only

journal_app = typer.Typer(help="Read a journal (DuckDB) with SQL.", no_args_is_help=True)


def _jsonable(v: Any) -> Any:
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, (bytes, bytearray)):
        return v.hex()
    if isinstance(v, (int, float, str, bool)) or v is None:
        return v
    return str(v)


@journal_app.command("sql")
def sql(
    query: Annotated[str, typer.Argument(help="A SQL statement, e.g. \"SELECT * FROM fills\".")],
    db: Annotated[Path, typer.Option("--db", help="Path to the journal file.")] = Path("polyagents.duckdb"),
    as_json: Annotated[bool, typer.Option("--json", help="Print rows as JSON.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print rows as CSV (for pipes and spreadsheets).")] = False,
) -> None:
    """Run a read-only query against a journal file.

    The table wraps its cells to the terminal (80 columns when piped) and shows ``*_ns`` times as
    UTC; ``--csv`` and ``--json`` print the exact values."""
    if not query.strip():
        raise UserError("journal sql: the query is empty (e.g. \"SELECT * FROM fills\")")
    if not db.exists():
        raise UserError(f"no journal at {db}")
    try:
        con = open_read_only(db)
    except duckdb.Error as exc:
        raise UserError(f"cannot open {db}: {str(exc).splitlines()[0]}") from exc
    try:
        cur = con.execute(query)
        if cur is None:  # only comments or semicolons
            raise UserError("journal sql: no SQL statement in the query")
        cols = [d[0] for d in cur.description] if cur.description else []
        rows = cur.fetchall() if cols else []
    except duckdb.Error as exc:
        raise UserError(f"query failed: {str(exc).splitlines()[0]}") from exc
    finally:
        con.close()
    if as_json:
        typer.echo(json.dumps([{c: _jsonable(v) for c, v in zip(cols, r, strict=True)} for r in rows]))
        return
    if as_csv:
        import csv
        import sys

        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerow(cols)
        for r in rows:
            w.writerow(["" if v is None else _jsonable(v) for v in r])
        return
    console = Console()
    times = [c.endswith("_ns") for c in cols]
    cells = [[_cell(v, is_time) for v, is_time in zip(r, times, strict=True)] for r in rows]
    widths = [max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(cols)]
    if sum(w + 3 for w in widths) + 1 > console.width:
        # too wide for the terminal (80 columns when piped): one record at a time, a field a line
        console.print(f"{len(rows)} row(s) from {db}", markup=False, highlight=False, overflow="fold")
        name_w = max((len(c) for c in cols), default=0)
        for n, row in enumerate(cells, 1):
            console.print(f"-- row {n}", markup=False, highlight=False)
            for c, v in zip(cols, row, strict=True):
                console.print(f"{c.ljust(name_w)}  {v}", markup=False, highlight=False, overflow="fold")
        return
    table = Table(title=f"{len(rows)} row(s) from {db}", expand=False)
    for c in cols:
        table.add_column(c, overflow="fold")
    for row in cells:
        table.add_row(*row)
    console.print(table)


def _cell(v: Any, is_time: bool) -> str:
    if v is None:
        return ""
    if is_time and isinstance(v, int) and v > 10**17:  # an epoch in ns, not a duration
        return iso(v)
    return str(v)


def register(app: typer.Typer) -> None:
    app.add_typer(journal_app, name="journal")
