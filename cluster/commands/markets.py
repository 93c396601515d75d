"""``polyagents markets``: list live Polymarket markets from Gamma (rich table, or ``--json``)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich import box
from rich.console import Console
from rich.table import Table

from cluster.errors import OperationError, UserError
from protocols import MarketInfo, VenueUnavailable
from venues.polymarket.config import GAMMA_URL, PolymarketDataConfig
from venues.polymarket.data import GammaClient
from venues.polymarket.http import JsonHttp, PolymarketApiError
from venues.polymarket.ratelimit import RateLimitBook
from venues.polymarket.schemas import GammaMarket


def _end(info: MarketInfo) -> str:
    if info.end_ns is None:
        return ""
    return datetime.fromtimestamp(info.end_ns / 1e9, tz=UTC).strftime("%Y-%m-%d %H:%M")


def _num(d: Decimal | None) -> str | None:
    return None if d is None else format(d.normalize(), "f")


def _row(info: MarketInfo, raw: GammaMarket) -> dict[str, Any]:
    return {
        "market": info.market,
        "question": info.question,
        "slug": info.slug,
        "event_id": info.event_id,
        "outcomes": list(info.outcomes),
        "token_ids": list(info.token_ids),
        "tick_size": _num(info.tick_size),
        "min_order_size": _num(info.min_order_size),
        "neg_risk": info.neg_risk,
        "neg_risk_augmented": info.neg_risk_augmented,
        "fees_enabled": info.fees_enabled,
        "fee_rate": _num(info.fee_rate),
        "category": info.category,
        "end": _end(info),
        "best_bid": _num(raw.bestBid),
        "best_ask": _num(raw.bestAsk),
        "volume": _num(raw.volumeNum),
    }


async def fetch_markets(gamma_url: str, limit: int, search: str | None, timeout_s: float) -> list[dict[str, Any]]:
    """Active, open markets whose question/slug/category contains ``search`` (case-insensitive)."""
    try:
        cfg = PolymarketDataConfig(gamma_url=gamma_url, request_timeout_s=timeout_s, http_retries=1,
                                   http_backoff_s=0.2)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise UserError(f"--gamma-url: {first['msg']}") from None
    http = JsonHttp(cfg.gamma_url, "gamma", limits=RateLimitBook(cfg.rate_limits), timeout_s=timeout_s,
                    retries=cfg.http_retries, backoff_s=cfg.http_backoff_s)
    gamma = GammaClient(http, cfg)
    needle = (search or "").lower()
    out: list[dict[str, Any]] = []
    try:
        # busiest first; without a search the first ``limit`` events hold at least ``limit`` markets
        listings = await gamma.listings(
            None if needle else limit, active=True, closed=False, order="volume24hr", ascending=False
        )
        for info, raw in listings:
            if info.closed:
                continue
            hay = f"{info.question} {info.slug} {info.category}".lower()
            if needle and needle not in hay:
                continue
            out.append(_row(info, raw))
            if len(out) >= limit:
                break
    except VenueUnavailable as exc:
        reason = str(exc).splitlines()[0].split(": ", 1)[-1]
        raise OperationError(f"cannot reach Gamma at {cfg.gamma_url}: {reason[:160]}") from None
    except PolymarketApiError as exc:
        raise OperationError(f"Gamma at {cfg.gamma_url} answered {exc.status}: {exc.message[:120]}") from None
    finally:
        await http.close()
    return out


def register(app: typer.Typer) -> None:
    @app.command("markets")
    def markets(
        search: Annotated[str | None, typer.Option("--search", help="Only markets whose question, slug or "
                                                  "category contains TEXT (case-insensitive).")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
        as_csv: Annotated[bool, typer.Option("--csv", help="Print every field as CSV (for pipes).")] = False,
        gamma_url: Annotated[str, typer.Option("--gamma-url", help="Gamma API base URL.")] = GAMMA_URL,
        limit: Annotated[int, typer.Option("--limit", min=1, max=5000, help="At most this many rows.")] = 50,
        timeout: Annotated[float, typer.Option("--timeout", min=0.1, help="Seconds per request.")] = 10.0,
    ) -> None:
        """List live Polymarket markets (active, open, with an order book)."""
        rows = asyncio.run(fetch_markets(gamma_url, limit, search, timeout))
        if as_json:
            typer.echo(json.dumps(rows))
            return
        if as_csv:
            _print_csv(rows)
            return
        print_markets(rows, f"{len(rows)} market(s) from {gamma_url}" + (f" matching {search!r}" if search else ""))


#: The columns of the table, widest terminal first: below 120 columns the table keeps the question
#: (wrapped on words), the prices and the end date; ``--json``/``--csv`` have every field.
WIDE_COLUMNS = ("question", "bid", "ask", "tick", "min", "neg-risk", "fee", "category", "ends", "market")
NARROW_COLUMNS = ("question", "bid", "ask", "fee", "ends")


def print_markets(rows: list[dict[str, Any]], title: str, console: Console | None = None) -> None:
    console = console or Console()
    cols = WIDE_COLUMNS if console.width >= 120 else NARROW_COLUMNS
    console.print(title, markup=False, highlight=False, overflow="fold")
    table = Table(box=box.SIMPLE_HEAD)
    for col in cols:
        table.add_column(col, overflow="fold", no_wrap=col != "question", ratio=1 if col == "question" else None)
    for r in rows:
        nr = "aug" if r["neg_risk_augmented"] else ("yes" if r["neg_risk"] else "")
        cells = {
            "question": r["question"], "bid": r["best_bid"] or "", "ask": r["best_ask"] or "",
            "tick": r["tick_size"], "min": r["min_order_size"], "neg-risk": nr,
            "fee": r["fee_rate"] if r["fees_enabled"] else "0", "category": r["category"],
            "ends": r["end"] if cols is WIDE_COLUMNS else r["end"][:10], "market": r["market"][:12] + "…",
        }
        table.add_row(*(str(cells[c] or "") for c in cols))
    console.print(table)


def _print_csv(rows: list[dict[str, Any]]) -> None:
    import csv
    import sys

    fields = ["market", "question", "slug", "event_id", "outcomes", "token_ids", "best_bid", "best_ask",
              "tick_size", "min_order_size", "neg_risk", "neg_risk_augmented", "fees_enabled", "fee_rate",
              "category", "end", "volume"]
    w = csv.writer(sys.stdout, lineterminator="\n")
    w.writerow(fields)
    for r in rows:
        w.writerow([";".join(r[f]) if isinstance(r[f], list) else ("" if r[f] is None else r[f]) for f in fields])
