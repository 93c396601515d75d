"""The control API of a live tree: what ``polyagents up/status/agents/kill-switch/down`` call.

Every function works from any process connected to the cluster (the CLI is a second process):
the tree is found by name (``root`` and ``world`` in the namespace). Functions are synchronous
and raise ``cluster.errors.OperationError`` / ``UserError`` with a one-line reason.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from pathlib import Path
from typing import Any

import ray

from cluster.cluster_record import PROBE_TIMEOUT_S, probe_gcs, same_address
from cluster.errors import OperationError, UserError
from cluster.ray_runtime.services import VenueWorld, WorldConfig
from cluster.ray_runtime.supervisor import LiveSettings, SupervisorActor, load_tree
from protocols import Command
from supervisors.spec import ChildKind, SupervisorSpec
from supervisors.tree import TreeConfig, agents_in, default_tree

NAMESPACE = "polyagents"
ROOT = "root"
WORLD = "world"
CALL_TIMEOUT_S = 120.0


def connect(address: str, namespace: str = NAMESPACE, *, verbose: bool = False) -> None:
    """Join the cluster at ``address`` — always an explicit one: there is no ``auto`` fallback,
    which would pick whatever Ray cluster this machine happens to run. Ray's own INFO/WARNING
    lines (its logger, the core worker's and the cluster's logs) only when ``verbose``."""
    if not address or address == "auto":
        raise UserError("a Ray cluster address is required (host:port); `polyagents up` records ours")
    if ray.is_initialized():
        current = ray.get_runtime_context().gcs_address
        if same_address(current, address):
            return
        raise OperationError(f"this process is already connected to the Ray cluster at {current}, not {address}")
    _probe(address)
    try:
        ray.init(address=address, namespace=namespace, log_to_driver=verbose,
                 logging_level=logging.INFO if verbose else logging.ERROR)
    except (ConnectionError, RuntimeError) as exc:
        raise OperationError(f"no Ray cluster at {address}: {_first_line(exc)}") from exc




def _probe(address: str) -> None:
    probe_gcs(address, PROBE_TIMEOUT_S)


def _tree_id_key(namespace: str) -> bytes:
    return f"polyagents:{namespace}:tree_id".encode()


def tree_id(namespace: str = NAMESPACE) -> str | None:
    """The id of the tree running in ``namespace`` on the connected cluster (None: no tree)."""
    from ray.experimental.internal_kv import _internal_kv_get

    raw = _internal_kv_get(_tree_id_key(namespace))
    return None if raw is None else raw.decode()


def verify_tree(namespace: str = NAMESPACE, expected: str | None = None) -> str:
    """Refuse a cluster that runs no polyagents tree in ``namespace``, or another tree than
    ``expected`` (the one ``up`` recorded). Returns the tree id."""
    found = tree_id(namespace)
    address = ray.get_runtime_context().gcs_address
    if found is None:
        raise OperationError(f"no running tree in namespace {namespace!r} at {address} (run `polyagents up`)")
    if expected is not None and found != expected:
        raise OperationError(
            f"the tree at {address} is {found}, not {expected} that `polyagents up` recorded: refusing"
        )
    return found


def _actor(name: str, namespace: str) -> Any:
    try:
        return ray.get_actor(name, namespace=namespace)
    except ValueError as exc:
        raise OperationError(f"no running tree in namespace {namespace!r} (run `polyagents up`)") from exc


def _get(ref: Any) -> Any:
    try:
        return ray.get(ref, timeout=CALL_TIMEOUT_S)
    except ray.exceptions.RayTaskError as exc:
        cause = exc.cause if getattr(exc, "cause", None) is not None else exc
        if isinstance(cause, KeyError) and cause.args:
            raise UserError(_first_line(cause.args[0])) from exc  # str(KeyError) adds quotes around it
        if isinstance(cause, ValueError):
            raise UserError(_first_line(cause)) from exc
        raise OperationError(_first_line(cause)) from exc


def _first_line(what: object) -> str:
    return (str(what).strip().splitlines() or [type(what).__name__])[0]


def start_tree(
    address: str | None = None,
    config: TreeConfig | dict[str, Any] | None = None,
    *,
    tree: SupervisorSpec | None = None,
    world: WorldConfig | dict[str, Any] | None = None,
    namespace: str = NAMESPACE,
    run_dir: str | Path = "runs/live",
    settings: dict[str, Any] | None = None,
    world_options: dict[str, Any] | None = None,
    alerts: Any = None,
) -> dict[str, Any]:
    """Start the venue world and the detached root with the default (or given) tree.

    Idempotent: a tree already running in ``namespace`` is adopted, not doubled.
    ``world_options`` are extra Ray options for the world actor alone (e.g. a ``runtime_env``
    carrying a rehearsal's throwaway live credentials; real ones belong in the worker's env).
    """
    if address is not None or not ray.is_initialized():
        connect(address or "", namespace)
    already = tree_id(namespace)  # a tree already running here is adopted as it is
    cfg = config if isinstance(config, TreeConfig) else TreeConfig.model_validate(config or {})
    wcfg = world if isinstance(world, WorldConfig) else WorldConfig.model_validate(world or {})
    spec = tree or default_tree(cfg)
    run = Path(run_dir).resolve()
    run.mkdir(parents=True, exist_ok=True)
    if wcfg.venue == "live" and wcfg.id_store_path is None:
        # beside the journal: an order whose submit outcome was unknown is recognised after a restart
        wcfg = wcfg.model_copy(update={"id_store_path": str(run / "order-ids.jsonl")})
    own = dict((settings or {}).get("actor_options", {}))
    w = VenueWorld.options(  # type: ignore[attr-defined]
        name=WORLD,
        namespace=namespace,
        lifetime="detached",
        get_if_exists=True,
        num_cpus=0,
        **{**own, **(world_options or {})},
    ).remote(wcfg, namespace, alerts=alerts)
    try:
        res = _get(w.setup.remote())
    except (UserError, OperationError):
        with contextlib.suppress(Exception):
            ray.kill(w, no_restart=True)  # a world that could not start is not left behind
        raise
    clock = tuple(_get(w.clock_params.remote()))
    s = LiveSettings(
        namespace=namespace,
        journal_path=str(run / "journal.duckdb"),
        clock=clock,  # type: ignore[arg-type]
        world_name=WORLD,
        alerts=alerts,
    )
    for k, v in (settings or {}).items():
        if not hasattr(s, k):
            raise UserError(f"unknown setting {k!r}")
        setattr(s, k, v)
    root = SupervisorActor.options(  # type: ignore[attr-defined]
        name=ROOT,
        namespace=namespace,
        lifetime="detached",
        max_restarts=-1,
        get_if_exists=True,
        num_cpus=0,
        **own,
    ).remote(spec.model_dump_json(), ROOT, None, s)
    _get(root.start.remote())
    from ray.experimental.internal_kv import _internal_kv_put

    # a tree already running keeps its id (and its agents: those of the running tree are reported)
    _internal_kv_put(_tree_id_key(namespace), uuid.uuid4().hex[:12].encode(), overwrite=False)
    desired = {k for k, v in agents_in(desired_tree(namespace)).items() if v[1].kind is ChildKind.AGENT}
    states = {a["id"]: a["state"] for a in tree_status(namespace)["agents"] if a["id"] in desired}
    return {"namespace": namespace, "journal": s.journal_path, "agents": sorted(desired), "world": res,
            "tree_id": tree_id(namespace), "adopted": already is not None,
            "running": sorted(a for a, st in states.items() if str(st) == "running")}


def tree_status(namespace: str = NAMESPACE) -> dict[str, Any]:
    """The tree with each agent's state, restarts, mailbox depth, last message time; and totals."""
    root = _actor(ROOT, namespace)
    tree = _get(root.tree_state.remote())
    agents: list[dict[str, Any]] = []

    def walk(node: dict[str, Any]) -> None:
        for c in node.get("children", []):
            if "children" in c:
                walk(c)
            else:
                agents.append(
                    {
                        "id": c["id"],
                        "path": c["path"],
                        "role": c.get("role", ""),
                        "state": c.get("state"),
                        "restarts": c.get("restarts", 0),
                        "last_crash": c.get("last_crash"),
                        "mailbox": c.get("mailbox", 0),
                        "messages": c.get("messages", 0),
                        "last_message_ns": c.get("last_message_ns"),
                        "status": c.get("status", {}),
                    }
                )

    walk(tree)
    totals: dict[str, Any] = {"positions": [], "pnl": None, "trading_state": None}
    for a in agents:
        st = a["status"] or {}
        if a["role"] == "trader":
            for k in ("pnl", "equity", "realized", "exposure"):
                if k in st:
                    totals.setdefault(k, st[k])
            totals["pnl"] = st.get("pnl", st.get("equity", totals["pnl"]))
        if a["role"] == "risk_officer" and "state" in st:
            totals["trading_state"] = st["state"]
            for k in ("portfolio_risk", "strategy_pnl", "strategy_correlation"):
                if k in st:
                    totals[k] = st[k]
    try:
        w = _actor(WORLD, namespace)
        accounts = {str((a["status"] or {}).get("account") or a["id"]) for a in agents if a["role"] == "trader"}
        for acct in sorted(accounts):
            for p in _get(w.positions.remote(acct)):
                totals["positions"].append({"account": acct, "token_id": p.token_id, "size": str(p.size)})
    except OperationError:
        pass
    return {"tree": tree, "agents": agents, "totals": totals}


#: The journal actor's name (a service under the root; it holds the journal file's lock).
JOURNAL = "root/services/journal"


def journal_path(namespace: str = NAMESPACE) -> str:
    """The file the running tree's journal actor writes."""
    path: str = _get(_actor(JOURNAL, namespace).state.remote())["path"]
    return path


def journal_query(sql: str, namespace: str = NAMESPACE) -> dict[str, Any]:
    """A read-only query through the running tree's journal actor: ``{path, columns, rows}``
    (a query that writes, is empty or fails is a ``UserError`` with one line)."""
    result: dict[str, Any] = _get(_actor(JOURNAL, namespace).read_query.remote(sql))
    return result


def desired_tree(namespace: str = NAMESPACE) -> SupervisorSpec:
    spec = load_tree(namespace) if ray.is_initialized() else None
    if spec is None:
        spec = SupervisorSpec.model_validate_json(_get(_actor(ROOT, namespace).desired_tree.remote()))
    return spec


def _path_of(name: str, namespace: str) -> str:
    found = agents_in(desired_tree(namespace)).get(name)
    if found is None:
        raise UserError(f"no agent named {name!r}")
    return found[0]


def add_agent(role: str, name: str, overrides: dict[str, Any] | None = None, namespace: str = NAMESPACE) -> str:
    """Add an agent of ``role`` under its branch; persisted, so it survives a root restart."""
    path: str = _get(_actor(ROOT, namespace).add_agent.remote(role, name, dict(overrides or {})))
    return path


def remove_agent(name: str, namespace: str = NAMESPACE) -> str:
    path: str = _get(_actor(ROOT, namespace).remove_agent.remote(name))
    return path


def restart_agent(name: str, namespace: str = NAMESPACE) -> None:
    path = _path_of(name, namespace)
    parent = _actor(path.rsplit("/", 1)[0], namespace)
    _get(parent.restart_child.remote(name))


def kill_switch(on: bool, namespace: str = NAMESPACE) -> None:
    cmd = Command(time_ns=time.time_ns(), target="*", name="kill_switch", args={"on": "true" if on else "false"})
    _get(_actor(ROOT, namespace).operator_command.remote(cmd))


def kill_agent(name: str, namespace: str = NAMESPACE) -> str:
    """Crash an agent's host on purpose (``os._exit`` inside it): the supervisor restarts it."""
    path = _path_of(name, namespace)
    host = _actor(path, namespace)
    with contextlib.suppress(ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
        ray.get(host.die.remote(), timeout=10)  # the call dies with the process: that is the point
    return path


def stop_tree(namespace: str = NAMESPACE) -> None:
    """Stop every agent (final checkpoints), then the root and the world; forget the tree."""
    from ray.experimental.internal_kv import _internal_kv_del

    from cluster.ray_runtime.supervisor import _kv_key

    try:
        root = ray.get_actor(ROOT, namespace=namespace)
    except ValueError:
        root = None
    if root is not None:
        try:
            ray.get(root.stop_all.remote(), timeout=CALL_TIMEOUT_S)
        finally:
            ray.kill(root, no_restart=True)
    # children are detached (they outlive a crashed supervisor): whatever a dead branch left
    # behind is found by name and killed, so nothing of the tree survives `down`
    for actor in ray.util.list_named_actors(all_namespaces=True):
        if actor.get("namespace") == namespace and str(actor.get("name", "")).startswith(ROOT + "/"):
            with contextlib.suppress(Exception):
                ray.kill(ray.get_actor(actor["name"], namespace=namespace), no_restart=True)
    try:
        w = ray.get_actor(WORLD, namespace=namespace)
        ray.get(w.stop.remote(), timeout=30)
        ray.kill(w, no_restart=True)
    except ValueError:
        pass
    _internal_kv_del(_kv_key(namespace))
    _internal_kv_del(_tree_id_key(namespace))
