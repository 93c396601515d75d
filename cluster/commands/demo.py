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
from cluster.commands.alerts import ALERT_HELP, alert_config
from cluster.errors import UserError

DEFAULT_SCENARIO = "arbitrage_bursts"
KILLABLE = ("market_watcher", "whale_tracker", "news_scout", "strategist", "risk_officer", "trader")
EARLY_GAP_S = 8.0
"""The demo's first scripted opportunity (a complete-set gap), whatever ``--duration``: a short
demo trades too. Added to the scenario's own gaps (its random ones keep their times)."""

DEMO_MIN_HALF_SPREAD = 0.05

RAY_WORKER_DIED = "A worker died or was killed"


class RayNoticeFilter:
    """Keeps Ray's own worker-death notice out of the user's view.

    The demo's kill is on purpose (``os._exit`` in the actor), but Ray's raylet reports it to the
    driver as "A worker died or was killed ... OOM killer ...", which reads like a crash of the
    machine. Ray prints those notices from a listener thread through
    ``ray._private.worker.print_to_stdstream``; this wraps that function (once per process), keeps
    every worker-death notice in :attr:`suppressed` instead of printing it, and passes everything
    else through unchanged. The demo says in its own words what happened.
    """

    installed: RayNoticeFilter | None = None

    def __init__(self) -> None:
        self.suppressed: list[str] = []
        self._orig: Callable[..., Any] | None = None

    @classmethod
    def install(cls) -> RayNoticeFilter:
        if cls.installed is not None:
            return cls.installed
        f = cls()
        try:
            import ray._private.worker as rw

            f._orig = rw.print_to_stdstream
            rw.print_to_stdstream = f._print  # type: ignore[assignment]
        except (ImportError, AttributeError):  # a Ray without this hook: its notice may show
            pass
        cls.installed = f
        return f

    def _print(self, data: dict[str, Any], ignore_prefix: bool) -> None:
        lines = [str(x) for x in data.get("lines") or []]
        keep = [x for x in lines if RAY_WORKER_DIED not in x]
        self.suppressed.extend(x for x in lines if RAY_WORKER_DIED in x)
        if keep and self._orig is not None:
            self._orig({**data, "lines": keep}, ignore_prefix)


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
            caption += f"   ·   killed on purpose at {self.kill_note}"
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
    alert: Annotated[list[str] | None, typer.Option("--alert", help=ALERT_HELP)] = None,
) -> None:
    """Run the supervised society on local Ray against the simulated exchange and a crowd."""
    if kill != "none" and kill not in KILLABLE:
        raise UserError(f"--kill {kill}: expected one of {', '.join(KILLABLE)} or none")
    from simulation.scenario import load_scenario, load_scenario_data, resolve_scenario_path

    path = resolve_scenario_path(scenario)
    overrides: dict[str, Any] = {}
    data = load_scenario_data(path)[0]
    if duration is not None:
        # a shorter run resolves its markets at its end instead of after it
        overrides["duration_s"] = duration
        for section in ("events", "markets"):
            for i, item in enumerate(data.get(section) or []):
                at = item.get("resolve_at_s") if isinstance(item, dict) else None
                if isinstance(at, (int, float)) and at > duration:
                    overrides[f"{section}.{i}.resolve_at_s"] = duration
    early = _early_gap(data, overrides)
    sc = load_scenario(path, overrides)
    alerts = alert_config(None, alert)
    console = Console(stderr=as_json)
    for name in ("polyagents", "ray", "simulation"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    notices = RayNoticeFilter.install()
    console.print(_first_line(sc, kill, kill_at, early))
    url = _init_ray(dashboard, console)
    console.print(f"  scenario [cyan]{sc.name}[/]: {sc.description}")
    console.print(f"  our six agents each in a Ray actor under the supervision tree, against the simulated "
                  f"exchange and the crowd; {sc.duration_s:.0f} virtual seconds")
    console.print(f"  Ray dashboard: [link]{url}[/link]" if url else "  Ray dashboard: not running")
    display = DemoDisplay(console, float(sc.duration_s), enabled=not as_json)
    wall0 = time.perf_counter()
    result = asyncio.run(_run(sc, seed, out, display, kill, kill_at, alerts))
    restarts = _restarts(result.journal)
    summary = dict(result.summary)
    summary.update({"restarts": sum(restarts.values()), "restarts_by_agent": restarts,
                    "killed": None if kill == "none" else kill, "dashboard_url": url,
                    "demo_wall_s": round(time.perf_counter() - wall0, 3),
                    "first_opportunity_s": early})
    from simulation.report import print_summary

    print_summary(summary, console)
    if kill != "none":
        n = restarts.get(kill, 0)
        if n >= 1:
            console.print(f"[green]{kill} was killed on purpose at {display.kill_note or 'part-way'} "
                          f"(its Ray worker process exited) and its supervisor brought it back from its "
                          f"last checkpoint ({n} restart{'s' if n != 1 else ''}); the run finished.[/]")
        else:
            console.print(f"[red]{kill} was killed but did not come back: see the report's events.[/]")
    unexpected = len(notices.suppressed) - (1 if kill != "none" else 0)
    if unexpected > 0:
        console.print(f"[yellow]Ray reported {unexpected} worker exit(s) besides the intended kill; "
                      "the Ray logs (/tmp/ray/session_latest/logs) say which.[/]")
    if alerts is not None:
        from cluster.commands.sim import alert_line

        console.print(alert_line(summary.get("alerts") or {}))
    why = _why_no_trades(summary, early)
    if why:
        console.print(f"[yellow]{why}[/]")
    if as_json:
        typer.echo(json.dumps(summary, sort_keys=True, default=str))


def _early_gap(data: dict[str, Any], overrides: dict[str, Any]) -> float | None:
    """Give the scenario's first gap a scripted burst at :data:`EARLY_GAP_S` (when it has gaps):
    the first Poisson burst may come after a short demo's end. Returns that time, or ``None``.

    A gap cannot rest below the makers' bids (the injector's asks sit a tick above them), so with
    makers quoting 3¢ either side the sum of asks stays near 0.96 and the taker fees (~4¢ a set at
    these prices) eat the edge until prices drift. The demo's makers quote at least
    :data:`DEMO_MIN_HALF_SPREAD` either side, so the scripted gap clears fees and is taken."""
    gaps = data.get("gaps") or []
    if not gaps or not isinstance(gaps[0], dict):
        return None
    at = [float(x) for x in gaps[0].get("at_s") or []]
    if EARLY_GAP_S not in at:
        overrides["gaps.0.at_s"] = sorted([*at, EARLY_GAP_S])
    for name, group in (data.get("crowd") or {}).items():
        if (isinstance(group, dict) and group.get("kind") == "market_maker"
                and float(group.get("half_spread", 0.0)) < DEMO_MIN_HALF_SPREAD):
            overrides[f"crowd.{name}.half_spread"] = DEMO_MIN_HALF_SPREAD
    return EARLY_GAP_S


def _first_line(sc: Any, kill: str, kill_at: float, early: float | None) -> str:
    """What will happen and about how long it takes, before anything starts."""
    est = _estimate_wall_s(float(sc.duration_s))
    parts = [f"[bold]polyagents demo[/]: {sc.duration_s:.0f} virtual seconds of '{sc.name}' on a local Ray "
             f"cluster, about {est} of wall time"]
    if early is not None:
        parts.append(f"a complete-set gap at t+{early:.0f}s for the strategist to take")
    if kill != "none":
        parts.append(f"{kill} killed on purpose at t+{sc.duration_s * kill_at:.0f}s and restarted by its supervisor")
    parts.append("then the report")
    return "; ".join(parts)


def _estimate_wall_s(duration_s: float) -> str:
    """A rough figure, said as one: Ray's start and the actors' (~20 s), then about 0.3 s of wall time
    per virtual second for the default scenario's crowd on a laptop (more on a busy machine)."""
    lo = 20 + 0.3 * duration_s
    return f"{lo / 60:.0f}-{2 * lo / 60:.0f} min" if lo >= 90 else f"{lo:.0f}-{2 * lo:.0f} s"


def _why_no_trades(summary: dict[str, Any], early: float | None) -> str:
    """A run without a fill says why, rather than a table of zeros."""
    if int(summary.get("fills") or summary.get("trades") or 0) > 0 or int(summary.get("orders_sent") or 0) > 0:
        return ""
    if early is None:
        return ("No trades: this scenario scripts no early opportunity, and none the strategist would take "
                "after fees came before the end; try a longer --duration.")
    return (f"No trades: the gap at t+{early:.0f}s was taken by someone faster or did not clear fees, and no "
            "other opportunity came before the end; try a longer --duration.")


async def _run(sc: Any, seed: int | None, out: Path, display: DemoDisplay, kill: str, kill_at: float,
               alerts: Any = None) -> Any:
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
                display.kill_note = f"t+{(rt.now_ns() - display.start_ns) / NS_PER_S:.0f}s"
                display.console.print(f"  t+{(rt.now_ns() - display.start_ns) / NS_PER_S:.0f}s: killing {kill} on "
                                      "purpose (os._exit in its Ray actor); its supervisor will restart it from "
                                      "its last checkpoint")

            rt.call_at(display.start_ns + int(sc.duration_s * kill_at * NS_PER_S), do_kill)

    if display.enabled:
        with Live(display.render(), console=display.console, refresh_per_second=8, transient=False) as live:
            display.live = live
            result = await run_scenario_async(sc, seed, runtime="ray", out_dir=out, on_runtime=attach,
                                              alerts=alerts)
            display.refresh()
        display.live = None
    else:
        result = await run_scenario_async(sc, seed, runtime="ray", out_dir=out, on_runtime=attach, alerts=alerts)
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
