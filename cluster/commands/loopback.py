"""``polyagents loopback``: run the Polymarket-compatible loopback server (for rehearsal)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Annotated

import typer

from cluster.errors import OperationError


async def serve(host: str, port: int, seed: bool) -> None:
    from venues.polymarket.loopback import LoopbackServer, seed_demo

    server = LoopbackServer()
    markets = seed_demo(server.exchange) if seed else []
    if seed:
        server.spot.set_price("BTC", "USDT", "65000")
        server.spot.set_price("ETH", "USDT", "3200")
        server.feeds.add_item("polymarket", title="Loopback server started", link="http://127.0.0.1/")
    try:
        base = await server.start(host, port)
    except OSError as exc:
        raise OperationError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    typer.echo(f"loopback Polymarket listening on {base}")
    typer.echo(f"  clob                    : {server.clob_url}  (each API on its own port)")
    typer.echo(f"  gamma                   : {server.gamma_url}")
    typer.echo(f"  data-api                : {server.data_url}")
    typer.echo(f"  websockets (prefix)     : {server.ws_prefix}  (/market, /user)")
    typer.echo(f"  rss / atom              : {server.feed_url('polymarket')}")
    typer.echo(f"  binance (ccxt) base     : {server.binance_urls['rest']}")
    typer.echo(f"  markets listed          : {len(markets)}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop()
        typer.echo("loopback stopped")


def register(app: typer.Typer) -> None:
    @app.command("loopback")
    def loopback(
        port: Annotated[
            int,
            typer.Option(
                "--port", min=0, max=65532,
                help="The CLOB's port; Gamma, the Data API and RSS/ccxt take the next three (0 = any free ports).",
            ),
        ] = 8765,
        host: Annotated[str, typer.Option("--host", help="Address to bind (keep it local).")] = "127.0.0.1",
        seed: Annotated[bool, typer.Option("--seed/--no-seed", help="List demo markets with books.")] = True,
    ) -> None:
        """Serve the CLOB (with both WebSockets), Gamma, the Data API, and RSS with ccxt tickers, each
        on its own port and sending what the live venue sends, backed by the simulated exchange,
        until interrupted."""
        asyncio.run(serve(host, port, seed))
