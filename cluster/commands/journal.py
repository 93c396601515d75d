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
) -> None:
    """Run a read-only query against a journal file."""
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
    table = Table(*cols, title=f"{len(rows)} row(s) from {db}")
    for r in rows:
        table.add_row(*("" if v is None else str(v) for v in r))
    Console().print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(journal_app, name="journal")
