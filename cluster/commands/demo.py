"""``polyagents demo``: the whole supervised society on a local Ray cluster, in accelerated time.

What it shows, in order: a local Ray cluster starting (with the dashboard when it is available),
our six agents each in its own actor under the supervision tree, trading against the simulated
exchange and a synthetic crowd from a shipped scenario on a virtual clock; a live table of agents,
messages, restarts and PnL; one agent killed on purpose part-way (``os._exit`` inside its actor) and
brought back by its supervisor from its last checkpoint; then the run's report.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cluster.clock import NS_PER_S
from cluster.errors import UserError

DEFAULT_SCENARIO = "arbitrage_bursts"
KILLABLE = ("market_watcher", "whale_tracker", "news_scout", "strategist", "risk_officer", "trader")


class DemoDisplay:
    """The live table: refreshed from the runtime's own books at virtual-time ticks (no remote calls)."""

    def __init__(self, console: Console, total_s: float, enabled: bool) -> None:
        self.console = console
        self.total_s = total_s
        self.enabled = enabled
        self.rt: Any = None
        self.start_ns = 0
        self.kill_note = ""
        self.progress = Progress(
            TextColumn("[bold]virtual time"), BarColumn(), TextColumn("{task.completed:.0f}/{task.total:.0f} s"),
            TimeElapsedColumn(), console=console,
        )
        self.task = self.progress.add_task("run", total=total_s)
        self.live: Live | None = None
        self.last_rows: list[dict[str, Any]] = []
        self.pnl: float | None = None

    def table(self) -> Table:
        t = Table(title="polyagents — supervised society on Ray", expand=False)
        for col in ("agent", "role", "state", "messages", "restarts"):
            t.add_column(col, justify="right" if col in ("messages", "restarts") else "left")
        for r in self.last_rows:
            style = "yellow" if r["state"] != "running" else ""
            t.add_row(r["id"], r["role"], r["state"], str(r["messages"]), str(r["restarts"]), style=style)
        caption = f"PnL {self.pnl:+.4f} pUSD" if self.pnl is not None else "PnL —"
        if self.kill_note:
            caption += f"   ·   {self.kill_note}"
        t.caption = caption
        return t

    def render(self) -> Group:
        return Group(self.progress, self.table())

    def refresh(self) -> None:
        if self.rt is None:
            return
        table = getattr(self.rt, "agent_table", None)
        self.last_rows = table() if table is not None else []
        elapsed = (self.rt.now_ns() - self.start_ns) / NS_PER_S
        self.progress.update(self.task, completed=min(elapsed, self.total_s))
        if self.live is not None:
            self.live.update(self.render())


def _init_ray(dashboard: bool, console: Console) -> str | None:
    import ray

    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    if ray.is_initialized():
        return None
    kwargs: dict[str, Any] = {
        "namespace": "polyagents-demo",
        "log_to_driver": False,
        "include_dashboard": dashboard,
        "configure_logging": True,
        "logging_level": logging.ERROR,
    }
    if dashboard:
        kwargs["dashboard_host"] = "127.0.0.1"
    with console.status("starting a local Ray cluster…"):
        try:
            ctx = ray.init(**kwargs)
        except Exception as exc:
            if not dashboard:
                raise
            console.print(f"[yellow]dashboard unavailable ({type(exc).__name__}); starting without it[/]")
            kwargs["include_dashboard"] = False
            kwargs.pop("dashboard_host", None)
            ctx = ray.init(**kwargs)
    url = getattr(ctx, "dashboard_url", None) or None
    return f"http://{url}" if url and not str(url).startswith("http") else url


def demo(
    duration: Annotated[float | None, typer.Option("--duration", help="Virtual seconds to simulate "
                                                   "(default: the scenario's).", min=10)] = None,
    scenario: Annotated[str, typer.Option("--scenario", help="A shipped scenario name or a YAML file.")]
    = DEFAULT_SCENARIO,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed (default: the scenario's).", min=0)] = None,
    kill: Annotated[str, typer.Option("--kill", help=f"The agent killed part-way: one of {', '.join(KILLABLE)}, "
                                       "or 'none'.")] = "strategist",
    kill_at: Annotated[float, typer.Option("--kill-at", help="When to kill, as a fraction of the run.",
                                           min=0.05, max=0.95)] = 0.4,
    dashboard: Annotated[bool, typer.Option("--dashboard/--no-dashboard", help="Start Ray's dashboard.")] = True,
    out: Annotated[Path, typer.Option("--out", help="Directory for the run (journal, report).")] = Path("runs"),
    as_json: Annotated[bool, typer.Option("--json", help="Last line: the run's summary plus restarts, as JSON.")]
    = False,
) -> None:
    """Run the supervised society on local Ray against the simulated exchange and a crowd."""
    if kill != "none" and kill not in KILLABLE:
        raise UserError(f"--kill {kill}: expected one of {', '.join(KILLABLE)} or none")
    from simulation.scenario import load_scenario, load_scenario_data, resolve_scenario_path

    path = resolve_scenario_path(scenario)
    overrides: dict[str, Any] = {}
    if duration is not None:
        # a shorter run resolves its markets at its end instead of after it
        overrides["duration_s"] = duration
        data = load_scenario_data(path)[0]
        for section in ("events", "markets"):
            for i, item in enumerate(data.get(section) or []):
                at = item.get("resolve_at_s") if isinstance(item, dict) else None
                if isinstance(at, (int, float)) and at > duration:
                    overrides[f"{section}.{i}.resolve_at_s"] = duration
    sc = load_scenario(path, overrides)
    console = Console(stderr=as_json)
    for name in ("polyagents", "ray", "simulation"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    url = _init_ray(dashboard, console)
    console.print(f"[bold]polyagents demo[/]: scenario [cyan]{sc.name}[/] ({sc.description})")
    console.print(f"  {sc.duration_s:.0f} virtual seconds, our six agents each in a Ray actor under the "
                  f"supervision tree, against the simulated exchange and the crowd")
    console.print(f"  Ray dashboard: [link]{url}[/link]" if url else "  Ray dashboard: not running")
    if kill != "none":
        console.print(f"  part-way, [bold]{kill}[/] will be killed (os._exit in its actor) and must come back")
    display = DemoDisplay(console, float(sc.duration_s), enabled=not as_json)
    wall0 = time.perf_counter()
    result = asyncio.run(_run(sc, seed, out, display, kill, kill_at))
    restarts = _restarts(result.journal)
    summary = dict(result.summary)
    summary.update({"restarts": sum(restarts.values()), "restarts_by_agent": restarts,
                    "killed": None if kill == "none" else kill, "dashboard_url": url,
                    "demo_wall_s": round(time.perf_counter() - wall0, 3)})
    from simulation.report import print_summary

    print_summary(summary, console)
    if kill != "none":
        back = restarts.get(kill, 0) >= 1
        console.print(f"{kill}: killed once, restarted {restarts.get(kill, 0)} time(s) — "
                      + ("[green]came back and the run finished[/]" if back else "[red]did not come back[/]"))
    if as_json:
        typer.echo(json.dumps(summary, sort_keys=True, default=str))


async def _run(sc: Any, seed: int | None, out: Path, display: DemoDisplay, kill: str, kill_at: float) -> Any:
    from simulation.runner import run_scenario_async

    tick_ns = max(1, int(sc.duration_s * NS_PER_S / 100))

    bankroll = Decimal(str(sc.ours.bankroll))

    def attach(rt: Any, equity: Callable[[], Decimal | None]) -> None:
        display.rt = rt
        display.start_ns = rt.now_ns()
        end_ns = display.start_ns + int(sc.duration_s * NS_PER_S)

        def tick() -> None:
            eq = equity()
            display.pnl = None if eq is None else float(eq - bankroll)
            display.refresh()
            if rt.now_ns() + tick_ns < end_ns:
                rt.call_at(rt.now_ns() + tick_ns, tick)

        rt.call_at(display.start_ns, tick)
        if kill != "none":
            def do_kill() -> None:
                rt.kill_agent(kill)
                display.kill_note = f"killed {kill} at t+{(rt.now_ns() - display.start_ns) / NS_PER_S:.0f}s"

            rt.call_at(display.start_ns + int(sc.duration_s * kill_at * NS_PER_S), do_kill)

    if display.enabled:
        with Live(display.render(), console=display.console, refresh_per_second=8, transient=False) as live:
            display.live = live
            result = await run_scenario_async(sc, seed, runtime="ray", out_dir=out, on_runtime=attach)
            display.refresh()
        display.live = None
    else:
        result = await run_scenario_async(sc, seed, runtime="ray", out_dir=out, on_runtime=attach)
    return result


def _restarts(journal: Path) -> dict[str, int]:
    from cluster.journal import open_read_only

    con = open_read_only(journal)
    try:
        rows = con.execute(
            "SELECT agent, count(*) FROM agent_events WHERE event = 'restart' GROUP BY agent ORDER BY agent"
        ).fetchall()
    finally:
        con.close()
    return {str(a): int(n) for a, n in rows}


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
