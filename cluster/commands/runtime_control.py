"""``polyagents up | status | agents ... | kill-switch | down``: control a running tree from any shell.

These commands are a second process: they join *our* Ray cluster, find the detached root supervisor
by name and ask it. ``up`` without ``--address`` starts a Ray head of its own (never joins another
one on the machine) and records its address and the tree id (``cluster.cluster_record``); every
other command uses that record or an explicit ``--address``, checks the namespace and the tree id
and refuses otherwise. ``down`` stops the tree, then the head ``up`` started, by its own PID.
"""

from __future__ import annotations

import json
import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich import box
from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from cluster.clock import iso
from cluster.commands.alerts import ALERT_HELP
from cluster.errors import UserError

console = Console()
agents_app = typer.Typer(help="Change the running tree: add, remove, restart, list agents.", no_args_is_help=True)


class VenueKind(StrEnum):
    sim = "sim"
    paper = "paper"
    live = "live"


def parse_sets(items: list[str] | None) -> dict[str, Any]:
    """``key=value`` pairs (dotted keys nest) with YAML-typed values: ``--set bankroll=500``."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--set expects key=value, got {item!r}")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as exc:
            raise UserError(f"--set {key}: cannot parse value {raw!r}") from exc
        node = out
        parts = key.strip().split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise UserError(f"--set {key}: {p} is both a value and a section")
        node[parts[-1]] = value
    return out


def _load_config(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    if not path.exists():
        raise UserError(f"no config file at {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from exc
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping with keys tree/world/settings")
    unknown = set(data) - {"tree", "world", "settings", "venue", "alerts"}
    if unknown:
        raise UserError(f"{path}: unknown section(s) {sorted(unknown)} (known: tree, world, settings, venue, alerts)")
    _check_tree_and_settings(data, str(path))
    from cluster.commands.alerts import alert_config

    alert_config(data.get("alerts"), None, str(path))  # checked here, before anything starts
    return data


def _check_tree_and_settings(cfg: dict[str, Any], source: str) -> None:
    """The ``tree:`` and ``settings:`` sections checked here, before any Ray connection, with the
    field named: ``bad.yaml: tree.agent_configs.trader.bankroll: ... (got 'lots')``."""
    import dataclasses

    from supervisors.tree import tree_config_problem

    tree = cfg.get("tree")
    if tree is not None and not isinstance(tree, dict):
        raise UserError(f"{source}: tree: expected a mapping (strategists, agent_configs, ...)")
    problem = tree_config_problem(tree)
    if problem is not None:
        raise UserError(f"{source}: tree.{problem}")
    settings = cfg.get("settings")
    if settings is None:
        return
    if not isinstance(settings, dict):
        raise UserError(f"{source}: settings: expected a mapping (ping_timeout_s, checkpoint_every_s, ...)")
    from cluster.ray_runtime.supervisor import LiveSettings

    known = {f.name for f in dataclasses.fields(LiveSettings)}
    for key in settings:
        if key not in known:
            raise UserError(f"{source}: settings.{key}: unknown setting (known: {', '.join(sorted(known))})")


def _check_venue(venue: VenueKind, live: bool, understood: bool) -> None:
    """Real money only on purpose: ``--live`` belongs to ``--venue live``, and live needs both
    flags and the credentials in the environment (all that is missing named in one line)."""
    if venue is not VenueKind.live:
        if live or understood:
            raise UserError("--live/--i-understand-real-money trade real money and need --venue live")
        return
    from venues.live import LiveTradingRefused, VenueSettings, check_live_gate

    try:
        check_live_gate(VenueSettings(live=live, i_understand_real_money=understood))
    except LiveTradingRefused as exc:
        raise UserError(str(exc)) from exc


#: Keys of the config's ``venue:`` section besides ``kind``, ``live`` and ``i_understand_real_money``.
VENUE_KEYS = ("polymarket_url", "gamma_url", "clob_url", "data_url", "ws_url", "id_store_path", "paper_latency_ms")


def _venue_world(
    cfg: dict[str, Any], venue: VenueKind | None, live: bool, understood: bool, source: str
) -> dict[str, Any]:
    """The ``world`` section with the venue folded in: the flag wins over the config's
    ``venue.kind``; ``venue.live``/``venue.i_understand_real_money`` are the flags' config
    equivalents. Checked here, before anything starts, with the field named."""
    from pydantic import ValidationError

    from cluster.ray_runtime.services import WorldConfig

    world = dict(cfg.get("world") or {})
    section = cfg.get("venue") or {}
    if not isinstance(section, dict):
        raise UserError(f"{source}: venue: expected a mapping (kind, polymarket_url, ...)")
    unknown = set(section) - {"kind", "live", "i_understand_real_money", *VENUE_KEYS}
    if unknown:
        raise UserError(f"{source}: venue: unknown key(s) {sorted(unknown)}")
    raw_kind = venue.value if venue is not None else section.get("kind", world.get("venue", "sim"))
    try:
        kind = VenueKind(str(raw_kind))
    except ValueError:
        raise UserError(f"{source}: venue.kind must be sim, paper or live, got {raw_kind!r}") from None
    live = live or True in (section.get("live"), world.get("live"))
    understood = understood or True in (section.get("i_understand_real_money"), world.get("i_understand_real_money"))
    _check_venue(kind, live, understood)
    world.update({k: section[k] for k in VENUE_KEYS if k in section})
    world.update(venue=kind.value, live=live, i_understand_real_money=understood)
    try:
        WorldConfig.model_validate(world)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = "".join(f".{x}" for x in err["loc"])
        raise UserError(f"{source}: world{where}: {err['msg'].removeprefix('Value error, ')}") from None
    return world


def up(
    address: Annotated[
        str | None, typer.Option(help="Join this Ray cluster (host:port) instead of starting our own head.")
    ] = None,
    config: Annotated[Path | None, typer.Option(help="YAML with tree/world/settings sections.")] = None,
    venue: Annotated[
        VenueKind | None, typer.Option(help="sim (default), paper or live (default: the config's venue.kind).")
    ] = None,
    live: Annotated[bool, typer.Option("--live", help="Allow real-money trading (with --venue live).")] = False,
    understood: Annotated[bool, typer.Option("--i-understand-real-money", help="Confirm real money.")] = False,
    run_dir: Annotated[
        Path | None, typer.Option(help="Where the live tree's journal goes (default: a new runs/<id>).")
    ] = None,
    num_cpus: Annotated[int | None, typer.Option(help="CPUs of the Ray head that up starts.")] = None,
    dashboard: Annotated[bool, typer.Option("--dashboard/--no-dashboard", help="Ray dashboard on the head.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as one JSON object.")] = False,
    alert: Annotated[list[str] | None, typer.Option("--alert", help=ALERT_HELP)] = None,
    verbose: Annotated[bool, typer.Option("--verbose", help="Show Ray's own log lines.")] = False,
) -> None:
    """Start the supervised tree on a Ray head of its own (or on --address).

    Paper and live trade Polymarket (the real hosts unless the config's ``venue:`` section points
    elsewhere, e.g. ``polymarket_url`` of ``polyagents loopback``). Live reads its credentials in
    the Ray worker that hosts the venue world: export them before ``up`` (the head that ``up``
    starts inherits this shell's environment).
    """
    from cluster import cluster_record as cr

    saved = dict(os.environ)
    if address is None:  # our own head uses its own token: named before anything imports ray
        os.environ.update(cr.auth_env(cr.token_path()))
    try:
        _up(cr, address, config, venue, live, understood, run_dir, num_cpus, dashboard, as_json, alert, verbose)
    except BaseException:
        os.environ.clear()
        os.environ.update(saved)
        raise


def _up(
    cr: Any, address: str | None, config: Path | None, venue: VenueKind | None, live: bool, understood: bool,
    run_dir: Path | None, num_cpus: int | None, dashboard: bool, as_json: bool, alert: list[str] | None = None,
    verbose: bool = False,
) -> None:
    from cluster.commands.alerts import alert_config

    cfg = _load_config(config)
    world = _venue_world(cfg, venue, live, understood, str(config) if config else "up")
    alerts = alert_config(cfg.get("alerts"), alert, str(config) if config else "--alert")

    rec = cr.load_record()
    ours = rec is not None and cr.head_alive(rec)
    if rec is not None and ours and address is not None and not _same(address, rec.address):
        raise UserError(f"up already started a cluster at {rec.address}: `polyagents down` it before joining {address}")
    head_pid: int | None = None
    if address is not None:
        target = address
    elif rec is not None and ours:
        target, head_pid = rec.address, rec.head_pid  # our own head is still up: the tree there is adopted
    else:
        with console.status("starting a Ray head of our own…"):
            target, head_pid = cr.start_head(num_cpus, dashboard)
    token = str(cr.ensure_token()) if head_pid is not None else None
    same_as_recorded = rec is not None and _same(target, rec.address)
    if run_dir is None:
        run_dir = Path(rec.run_dir) if rec is not None and same_as_recorded else _new_live_dir(world)
    elif (run_dir / "journal.duckdb").exists() and not (
        rec is not None and same_as_recorded and Path(rec.run_dir) == run_dir.resolve()
    ):
        raise UserError(f"{run_dir} already holds a journal: refusing to write another tree's into it")
    if head_pid is None:
        cr.probe_gcs(target)  # a cluster we join: an address with no cluster fails before Ray is imported
    from cluster.ray_runtime import control

    try:
        with console.status("starting the supervised tree…"):
            control.connect(target, verbose=verbose)
            info = control.start_tree(
                address=None, config=cfg.get("tree"), world=world,
                run_dir=run_dir, settings=cfg.get("settings"), alerts=alerts,
            )
    except BaseException:
        if head_pid is not None and not ours:  # a head started for this tree alone goes with it
            cr.stop_head(head_pid)
        raise
    record = cr.ClusterRecord(address=target, namespace=info["namespace"], tree_id=str(info["tree_id"]),
                              run_dir=str(Path(run_dir).resolve()), head_pid=head_pid,
                              auth_token_path=token)
    cr.save_record(record)
    info.update(address=target, tree_id=record.tree_id, head_pid=head_pid)
    if as_json:
        typer.echo(json.dumps(info, default=str))
        return
    for line in adoption_notes(info, cfg, world):
        console.print(f"[yellow]{line}[/]")
    console.print(f"[green]tree {record.tree_id} running[/] at {target} (namespace {info['namespace']}): "
                  f"{agent_count(info)}, journal {info['journal']}")
    console.print("watch it: [bold]polyagents status[/]   stop it: [bold]polyagents down[/]")


def agent_count(info: dict[str, Any]) -> str:
    """``7 agents`` — those the running tree has (an adopted tree's, not the config's), and how
    many of them are not running when some are not."""
    n, running = len(info["agents"]), len(info.get("running", info["agents"]))
    return f"{n} agents" if running == n else f"{n} agents, {running} running"


def adoption_notes(info: dict[str, Any], cfg: dict[str, Any], world: dict[str, Any]) -> list[str]:
    """What ``up`` did not do because a tree was already running: it adopts that tree as it is."""
    if not info.get("adopted"):
        return []
    notes = []
    venue = (info.get("world") or {}).get("venue")
    if venue is not None and venue != world["venue"]:
        notes.append(f"a tree was already running on venue {venue}: adopted as is "
                     f"(not {world['venue']}); `polyagents down` first to switch")
    if cfg.get("tree"):
        notes.append("a tree was already running: adopted as is, the config's tree section was not applied "
                     "(`polyagents agents add` changes it; `polyagents down` first to start anew)")
    return notes


def _same(a: str, b: str) -> bool:
    from cluster.cluster_record import same_address

    return same_address(a, b)


def _new_live_dir(world: dict[str, Any]) -> Path:
    import secrets
    from datetime import UTC, datetime

    return Path("runs") / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-live-{world['venue']}-{secrets.token_hex(3)}"


def connect_tree(address: str | None, verbose: bool = False) -> Any:
    """Join our cluster — the one ``up`` recorded, or ``--address`` — and check it runs our tree.
    Ray's own log lines are shown only with ``verbose`` (``--verbose``)."""
    from cluster import cluster_record as cr

    rec = cr.load_record()
    if address is None:
        if rec is None:
            raise UserError(f"no polyagents cluster recorded in {cr.record_path()}: run `polyagents up` "
                            "or pass --address")
        address = rec.address
    if rec is not None and _same(address, rec.address):
        cr.use_record_auth(rec)
    cr.probe_gcs(address)  # before importing Ray: an address with no cluster fails in seconds
    from cluster.ray_runtime import control

    control.connect(address, verbose=verbose)
    expected = rec.tree_id if rec is not None and _same(address, rec.address) else None
    control.verify_tree(control.NAMESPACE, expected)
    return control


def status(
    address: Annotated[str | None, typer.Option(help="Ray cluster address.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", help="Show Ray's own log lines.")] = False,
) -> None:
    """The tree with each agent's state, restarts, mailbox depth, last message; and the totals."""
    control = connect_tree(address, verbose)
    st = control.tree_status()
    if as_json:
        typer.echo(json.dumps(st, default=str))
        return
    _print_tree(st)


def _print_tree(st: dict[str, Any]) -> None:
    root = Tree("[bold]root[/]")

    def walk(node: dict[str, Any], branch: Tree) -> None:
        for c in node.get("children", []):
            if "children" in c:
                walk(c, branch.add(f"[bold]{c['id']}[/] ({c.get('strategy', '')})"))
            else:
                branch.add(f"{c['id']} [dim]{c.get('state', '')}[/]")

    walk(st.get("tree", {}), root)
    console.print(root)
    # fits 80 columns: no vertical rules, the role only where the id does not say it, the time of
    # day of the last message (UTC; --json has the full time), crashes listed under the table
    table = Table(title="agents (times UTC)", box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False)
    widest = max((len(a["id"]) for a in st["agents"]), default=5)
    table.add_column("agent", overflow="fold", min_width=min(widest, 40))
    for col in ("state", "restarts", "mailbox", "msgs", "last msg"):
        table.add_column(col, overflow="fold")
    crashes = []
    for a in st["agents"]:
        last = a.get("last_message_ns")
        table.add_row(agent_label(a), str(a["state"]), str(a["restarts"]), str(a["mailbox"]),
                      str(a.get("messages", 0)), iso(last)[11:19] if last else "-")
        if a.get("last_crash"):
            crashes.append(f"  last crash of {a['id']}: {a['last_crash']}")
    console.print(table)
    for line in crashes:
        console.print(line, markup=False, highlight=False)
    t = st.get("totals", {})
    pnl = t.get("pnl")
    money = (" · ".join(f"{k} {v}" for k, v in pnl.items()) if isinstance(pnl, dict) else str(pnl)) + " pUSD"
    console.print(f"trading state: [bold]{t.get('trading_state')}[/]   positions: {len(t.get('positions', []))}")
    console.print(f"pnl: {money}", markup=False, highlight=False)
    for p in t.get("positions", []):
        console.print(f"  {p['account']} {p['token_id']}: {p['size']}", markup=False, highlight=False)
    for line in portfolio_lines(t):
        console.print(line)


def portfolio_lines(totals: dict[str, Any]) -> list[str]:
    """The risk officer's portfolio risk and per-strategy PnL, as status prints them."""
    pr = totals.get("portfolio_risk")
    if not pr:
        return []
    conf = float(pr.get("var_confidence", 0.95)) * 100
    limit = pr.get("var_limit")
    lines = [f"VaR {conf:.0f} %: [bold]{pr.get('var')}[/] / {'no limit' if limit is None else limit} pUSD "
             f"(peak {pr.get('var_peak')}, {pr.get('var_method')})   "
             f"correlation limit: {pr.get('correlation_limit')}"]
    for c in pr.get("top_correlations", [])[:3]:
        lines.append(f"  correlation {c['a']} ~ {c['b']}: {c['correlation']} ({c['source']})")
    pnl = totals.get("strategy_pnl") or {}
    if pnl:
        lines.append("strategy pnl: " + ", ".join(f"{k} {v}" for k, v in sorted(pnl.items())))
    corr = {k: v for k, v in (totals.get("strategy_correlation") or {}).items() if v is not None}
    if corr:
        lines.append("strategy correlation (daily pnl): " + ", ".join(f"{k} {v:+.2f}" for k, v in sorted(corr.items())))
    return lines


def agent_label(a: dict[str, Any]) -> str:
    """The agent's id, with its role under it when the id does not start with it."""
    role = str(a.get("role") or "")
    return a["id"] if not role or a["id"].startswith(role) else f"{a['id']}\n({role})"


def _check_new_agent(role: str, overrides: dict[str, Any]) -> None:
    """The role and its ``--set`` config checked before any connection (the root checks again)."""
    from supervisors.tree import ROLE_BRANCH, ROLE_CLASSES, agent_config_problem

    if role not in ROLE_BRANCH:
        raise UserError(f"unknown role {role!r} (known: {', '.join(sorted(ROLE_BRANCH))})")
    if "_cls" in overrides:  # a custom class for the role: only the root can import it
        return
    problem = agent_config_problem(ROLE_CLASSES[role], overrides)
    if problem is not None:
        raise UserError(f"--set {problem}")


@agents_app.command("add")
def agents_add(
    role: Annotated[str, typer.Argument(help="market_watcher, whale_tracker, news_scout, strategist, ...")],
    name: Annotated[str, typer.Option("--name", help="The new agent's id.")],
    sets: Annotated[list[str] | None, typer.Option("--set", help="Config override key=value.")] = None,
    address: Annotated[str | None, typer.Option(help="Ray cluster address.")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", help="Show Ray's own log lines.")] = False,
) -> None:
    """Add an agent to the running tree (it survives a root restart)."""
    overrides = parse_sets(sets)
    _check_new_agent(role, overrides)
    control = connect_tree(address, verbose)
    path = control.add_agent(role, name, overrides)
    console.print(f"added [bold]{name}[/] at {path}")


@agents_app.command("remove")
def agents_remove(
    name: Annotated[str, typer.Argument()],
    address: Annotated[str | None, typer.Option(help="Ray cluster address.")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", help="Show Ray's own log lines.")] = False,
) -> None:
    """Stop an agent and remove it from the desired tree."""
    control = connect_tree(address, verbose)
    console.print(f"removed [bold]{name}[/] from {control.remove_agent(name)}")


@agents_app.command("restart")
def agents_restart(
    name: Annotated[str, typer.Argument()],
    address: Annotated[str | None, typer.Option(help="Ray cluster address.")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", help="Show Ray's own log lines.")] = False,
) -> None:
    """Restart one agent through its supervisor (state restored from its last checkpoint)."""
    control = connect_tree(address, verbose)
    control.restart_agent(name)
    console.print(f"restarted [bold]{name}[/]")


@agents_app.command("ls")
def agents_ls(
    address: Annotated[str | None, typer.Option(help="Ray cluster address.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", help="Show Ray's own log lines.")] = False,
) -> None:
    """List the running agents."""
    control = connect_tree(address, verbose)
    agents = control.tree_status()["agents"]
    if as_json:
        typer.echo(json.dumps([{k: a[k] for k in ("id", "role", "path", "state", "restarts")} for a in agents]))
        return
    _print_agents(agents)


def _print_agents(agents: list[dict[str, Any]]) -> None:
    # 80 columns: the path ends with the agent's id, so it is the one wide column (wrapped, never cut)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("path", overflow="fold", min_width=min(max((len(a["path"]) for a in agents), default=4), 48))
    for col in ("role", "state", "restarts"):
        table.add_column(col, overflow="fold")
    for a in agents:
        table.add_row(a["path"], str(a.get("role") or ""), str(a["state"]), str(a["restarts"]))
    console.print(table)


def kill_switch(
    state: Annotated[str, typer.Argument(help="on or off")],
    address: Annotated[str | None, typer.Option(help="Ray cluster address.")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", help="Show Ray's own log lines.")] = False,
) -> None:
    """Halt trading (cancel everything, refuse new orders) or resume it."""
    if state not in ("on", "off"):
        raise UserError(f"kill-switch takes on or off, got {state!r}")
    control = connect_tree(address, verbose)
    control.kill_switch(state == "on")
    console.print(f"kill switch [bold]{state}[/]")


def down(
    address: Annotated[str | None, typer.Option(help="Ray cluster address (default: the one up recorded).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", help="Show Ray's own log lines.")] = False,
) -> None:
    """Stop the tree (final checkpoints, journal closed) and the Ray head that `up` started."""
    from cluster import cluster_record as cr

    control = connect_tree(address, verbose)
    control.stop_tree()
    console.print("tree stopped")
    rec = cr.load_record()
    if rec is None or (address is not None and not _same(address, rec.address)):
        return  # a cluster we only joined: its processes are not ours to stop
    if rec.head_pid is not None and cr.head_alive(rec):
        import ray

        ray.shutdown()
        with console.status(f"stopping the Ray head that up started (pid {rec.head_pid})…"):
            cr.stop_head(rec.head_pid)
        console.print(f"Ray head at {rec.address} stopped")
    cr.clear_record()


def register(app: typer.Typer) -> None:
    app.command("up")(up)
    app.command("status")(status)
    app.add_typer(agents_app, name="agents")
    app.command("kill-switch")(kill_switch)
    app.command("down")(down)
