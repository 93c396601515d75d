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
    db: Annotated[
        Path | None,
        typer.Option("--db", help="Path to the journal file (default: the journal of the tree `up` "
                     "recorded, else polyagents.duckdb)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print rows as JSON.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print rows as CSV (for pipes and spreadsheets).")] = False,
    address: Annotated[
        str | None,
        typer.Option(help="Ray cluster of the running tree that writes the journal (default: the one "
                     "`up` recorded)."),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", help="Show Ray's own log lines.")] = False,
) -> None:
    """Run a read-only query against a journal file.

    A finished journal is read from the file. While a tree runs, its journal actor holds the file
    (DuckDB admits one process per file), so the query goes through that actor, still read-only.
    The table wraps its cells to the terminal (80 columns when piped) and shows ``*_ns`` times as
    UTC; ``--csv`` and ``--json`` print the exact values."""
    if not query.strip():
        raise UserError("journal sql: the query is empty (e.g. \"SELECT * FROM fills\")")
    db = db if db is not None else _default_db()
    if not db.exists():
        raise UserError(f"no journal at {db}")
    try:
        cols, rows = _read_file(db, query)
        source = str(db)
    except _HeldByWriter as held:
        cols, rows = _read_live(db, query, address, str(held), verbose)
        source = f"{db} (live, through the running tree's journal)"
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
        console.print(f"{len(rows)} row(s) from {source}", markup=False, highlight=False, overflow="fold")
        name_w = max((len(c) for c in cols), default=0)
        for n, row in enumerate(cells, 1):
            console.print(f"-- row {n}", markup=False, highlight=False)
            for c, v in zip(cols, row, strict=True):
                console.print(f"{c.ljust(name_w)}  {v}", markup=False, highlight=False, overflow="fold")
        return
    console.print(f"{len(rows)} row(s) from {source}", markup=False, highlight=False, overflow="fold")
    table = Table(expand=False)
    for c in cols:
        table.add_column(c, overflow="fold")
    for row in cells:
        table.add_row(*row)
    console.print(table)


class _HeldByWriter(Exception):
    """The journal file is open for writing in another process (DuckDB's file lock)."""


def _default_db() -> Path:
    from cluster import cluster_record as cr

    try:
        rec = cr.load_record()
    except UserError:
        rec = None
    return Path(rec.run_dir) / "journal.duckdb" if rec is not None else Path("polyagents.duckdb")


def _read_file(db: Path, query: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    try:
        con = open_read_only(db)
    except duckdb.Error as exc:
        first = str(exc).splitlines()[0]
        if "lock" in first.lower():
            raise _HeldByWriter(first) from None
        raise UserError(f"cannot open {db}: {first}") from exc
    try:
        cur = con.execute(query)
        if cur is None:  # only comments or semicolons
            raise UserError("journal sql: no SQL statement in the query")
        cols = [d[0] for d in cur.description] if cur.description else []
        return cols, (cur.fetchall() if cols else [])
    except duckdb.Error as exc:
        raise UserError(f"query failed: {str(exc).splitlines()[0]}") from exc
    finally:
        con.close()


def _same_file(a: Path | str, b: Path | str) -> bool:
    try:
        return Path(a).resolve().samefile(Path(b).resolve())
    except OSError:
        return Path(a).resolve() == Path(b).resolve()


def _read_live(
    db: Path, query: str, address: str | None, held: str, verbose: bool
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The journal through the actor that holds it: the tree ``up`` recorded, or ``--address``;
    refused unless that tree's journal is this very file."""
    from cluster import cluster_record as cr
    from cluster.commands.runtime_control import connect_tree

    rec = cr.load_record()
    if address is None:
        if rec is None or not _same_file(Path(rec.run_dir) / "journal.duckdb", db):
            raise UserError(f"{db} is open for writing in another process and no tree that `polyagents up` "
                            f"recorded writes it: pass --address of the tree that does ({held})")
        address = rec.address
    control = connect_tree(address, verbose)
    live = control.journal_path()
    if not _same_file(live, db):
        raise UserError(f"the tree at {address} writes {live}, not {db}")
    res = control.journal_query(query)
    return list(res["columns"]), [tuple(r) for r in res["rows"]]


def _cell(v: Any, is_time: bool) -> str:
    if v is None:
        return ""
    if is_time and isinstance(v, int) and v > 10**17:  # an epoch in ns, not a duration
        return iso(v)
    return str(v)


def register(app: typer.Typer) -> None:
    app.add_typer(journal_app, name="journal")
