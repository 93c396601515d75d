"""The default supervision tree of the design, and edits to a tree by path.

```
root (one_for_one)
├── services  (one_for_all)  journal
├── data      (one_for_one)  market_watcher × N, whale_tracker, news_scout
├── decision  (one_for_one)  strategist × N
└── execution (rest_for_one) risk_officer, trader
```

A child's *path* is its supervisors' ids and its own id joined by '/', e.g.
``root/execution/trader``; it is also the Ray actor name of its host.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agents.society import ROLE_CLASSES
from protocols.base import validation_problem
from supervisors.spec import ChildKind, ChildSpec, RestartType, Strategy, SupervisorSpec, import_object

#: Which branch of the default tree a role belongs to (runtime additions go there too).
ROLE_BRANCH: dict[str, str] = {
    "market_watcher": "data",
    "whale_tracker": "data",
    "news_scout": "data",
    "strategist": "decision",
    "risk_officer": "execution",
    "trader": "execution",
}

JOURNAL_SERVICE = "cluster.ray_runtime.services:JournalService"


class TreeConfig(BaseModel):
    """Knobs of the default tree."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    market_watchers: int = Field(default=1, ge=1)
    strategists: int = Field(default=1, ge=1)
    agent_configs: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="config overrides by agent id (or by role)"
    )
    intensity: int = Field(default=3, ge=0)
    # OTP's default window is 5 s, but a Ray actor takes ~2 s to come back (a new worker process):
    # with 5 s a crash-looping child could never exceed 3 restarts in the window, so it would loop
    # forever instead of escalating. 60 s makes "3 restarts" mean a real crash loop.
    period_s: float = Field(default=60.0, gt=0)
    journal: bool = True


def _numbered(role: str, i: int, n: int) -> str:
    return role if n == 1 or i == 0 else f"{role}_{i + 1}"


def agent_child(role: str, agent_id: str, config: dict[str, Any] | None = None, **kw: Any) -> ChildSpec:
    if role not in ROLE_CLASSES:
        raise ValueError(f"unknown role {role!r}; known: {sorted(ROLE_CLASSES)}")
    return ChildSpec(id=agent_id, cls=ROLE_CLASSES[role], config=config or {}, **kw)


def default_tree(cfg: TreeConfig | None = None) -> SupervisorSpec:
    cfg = cfg or TreeConfig()

    def conf(role: str, agent_id: str) -> dict[str, Any]:
        merged = dict(cfg.agent_configs.get(role, {}))
        merged.update(cfg.agent_configs.get(agent_id, {}))
        return merged

    def child(role: str, agent_id: str) -> ChildSpec:
        return agent_child(role, agent_id, conf(role, agent_id))

    sup = {"intensity": cfg.intensity, "period_s": cfg.period_s}
    services = SupervisorSpec(
        id="services",
        strategy=Strategy.ONE_FOR_ALL,
        children=(ChildSpec(id="journal", cls=JOURNAL_SERVICE, kind=ChildKind.SERVICE),) if cfg.journal else (),
        **sup,
    )
    watchers = [
        child("market_watcher", _numbered("market_watcher", i, cfg.market_watchers)) for i in range(cfg.market_watchers)
    ]
    data = SupervisorSpec(
        id="data",
        strategy=Strategy.ONE_FOR_ONE,
        children=(*watchers, child("whale_tracker", "whale_tracker"), child("news_scout", "news_scout")),
        **sup,
    )
    decision = SupervisorSpec(
        id="decision",
        strategy=Strategy.ONE_FOR_ONE,
        children=tuple(
            child("strategist", _numbered("strategist", i, cfg.strategists)) for i in range(cfg.strategists)
        ),
        **sup,
    )
    execution = SupervisorSpec(
        id="execution",
        strategy=Strategy.REST_FOR_ONE,
        children=(child("risk_officer", "risk_officer"), child("trader", "trader")),
        **sup,
    )
    return SupervisorSpec(
        id="root", strategy=Strategy.ONE_FOR_ONE, children=(services, data, decision, execution), **sup
    )


def walk(spec: SupervisorSpec, prefix: str = "") -> Iterator[tuple[str, ChildSpec | SupervisorSpec]]:
    """Every node below ``spec`` (depth first, start order) with its path."""
    base = f"{prefix}{spec.id}"
    for c in spec.children:
        path = f"{base}/{c.id}"
        yield path, c
        if isinstance(c, SupervisorSpec):
            yield from walk(c, f"{base}/")


def agents_in(spec: SupervisorSpec) -> dict[str, tuple[str, ChildSpec]]:
    """Agent id → (path, spec) for every agent child of the tree."""
    out: dict[str, tuple[str, ChildSpec]] = {}
    for path, c in walk(spec):
        if isinstance(c, ChildSpec):
            out[c.id] = (path, c)
    return out


def supervisor_at(spec: SupervisorSpec, path: str) -> SupervisorSpec:
    parts = path.split("/")
    if parts[0] != spec.id:
        raise KeyError(f"path {path!r} does not start at {spec.id!r}")
    node: SupervisorSpec = spec
    for p in parts[1:]:
        nxt = node.child(p)
        if not isinstance(nxt, SupervisorSpec):
            raise KeyError(f"{path!r} is not a supervisor")
        node = nxt
    return node


def replace_at(spec: SupervisorSpec, path: str, new: SupervisorSpec) -> SupervisorSpec:
    """A copy of ``spec`` with the supervisor at ``path`` replaced by ``new``."""
    parts = path.split("/")
    if parts[0] != spec.id:
        raise KeyError(f"path {path!r} does not start at {spec.id!r}")
    if len(parts) == 1:
        return new
    child = spec.child(parts[1])
    if not isinstance(child, SupervisorSpec):
        raise KeyError(f"{path!r} is not a supervisor")
    sub = replace_at(child, "/".join(parts[1:]), new)
    return _swap(spec, sub)


def _swap(spec: SupervisorSpec, sub: SupervisorSpec) -> SupervisorSpec:
    kids = tuple(sub if c.id == sub.id else c for c in spec.children)
    return spec.model_copy(update={"children": kids})


def add_agent(spec: SupervisorSpec, branch_path: str, child: ChildSpec) -> SupervisorSpec:
    """The tree with ``child`` appended under the supervisor at ``branch_path``; ids stay unique."""
    if child.id in agents_in(spec):
        raise ValueError(f"an agent named {child.id!r} already exists")
    sup = supervisor_at(spec, branch_path)
    return replace_at(spec, branch_path, sup.with_child(child))


def remove_agent(spec: SupervisorSpec, agent_id: str) -> SupervisorSpec:
    found = agents_in(spec).get(agent_id)
    if found is None:
        raise KeyError(f"no agent named {agent_id!r}")
    path = found[0]
    parent = path.rsplit("/", 1)[0]
    return replace_at(spec, parent, supervisor_at(spec, parent).without_child(agent_id))


def restart_type_of(spec: ChildSpec | SupervisorSpec) -> RestartType:
    return spec.restart if isinstance(spec, ChildSpec) else RestartType.PERMANENT


def agent_config_problem(cls_path: str, config: dict[str, Any]) -> str | None:
    """Why ``config`` is not a valid config of the agent class ``cls_path``, in one line naming the
    field (``bankroll: Input should be a valid decimal (got 'lots')``); None when it is valid.
    Keys starting with ``_`` are the tree's own (``_role``) and not the agent's."""
    agent_cls = import_object(cls_path)
    try:
        agent_cls.config_model.model_validate({k: v for k, v in config.items() if not k.startswith("_")})
    except ValidationError as exc:
        loc, msg = validation_problem(exc, with_input=True)
        return f"{'.'.join(str(p) for p in loc) or 'config'}: {msg}"
    return None


def tree_config_problem(data: dict[str, Any] | None) -> str | None:
    """Why ``data`` (a config file's ``tree:`` section) does not make a valid tree, in one line
    naming the field (``strategists: ...``, ``agent_configs.trader.bankroll: ...``); None when valid.
    Checks the knobs, then every agent's merged config against its class, before anything starts."""
    try:
        cfg = TreeConfig.model_validate(data or {})
    except ValidationError as exc:
        loc, msg = validation_problem(exc, with_input=True)
        return f"{'.'.join(str(p) for p in loc) or 'tree'}: {msg}"
    spec = default_tree(cfg)
    ids = {k: v for k, v in agents_in(spec).items() if v[1].kind is ChildKind.AGENT}
    for key in cfg.agent_configs:
        if key not in ids and key not in ROLE_CLASSES:
            return f"agent_configs.{key}: not an agent id or role of the tree (known: {', '.join(sorted(ids))})"
    for agent_id, (_path, child) in sorted(ids.items()):
        problem = agent_config_problem(child.cls, dict(child.config))
        if problem is not None:
            return f"agent_configs.{agent_id}.{problem}"
    return None
