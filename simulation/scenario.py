"""The scenario: a made-up world as one frozen, validated document (YAML on disk).

Why one strict schema: a sweep runs thousands of copies of a scenario with small changes, and a
typo in a key (``arbitrageur.cout``) that silently falls back to a default would invalidate all of
them. Every model is frozen and refuses unknown keys; :func:`load_scenario` names the YAML line of
any error. See ``docs/scenarios.md`` for the schema with examples.

Probabilities of the made-up world (truth paths, noise) are floats: they are a model, not money.
Everything that becomes an order — tick, sizes, cash — is Decimal.
"""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from agents.base import AgentConfig
from cluster.clock import DEFAULT_START_NS, NS_PER_S
from cluster.errors import UserError
from protocols.fees import MAX_EXPONENT, FeeSchedule
from protocols.numbers import TICK_SIZES
from simulation.yaml_lines import YamlLineError, line_of, load_with_lines

_ID = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"
Ident = Annotated[str, Field(pattern=_ID, min_length=1, max_length=64)]
Prob = Annotated[float, Field(gt=0.0, lt=1.0, allow_inf_nan=False)]
NonNegFloat = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]
PosFloat = Annotated[float, Field(gt=0.0, allow_inf_nan=False)]
Cash = Annotated[Decimal, Field(ge=0, allow_inf_nan=False)]
Shares = Annotated[Decimal, Field(gt=0, allow_inf_nan=False)]


def _check_tick(v: Decimal) -> Decimal:
    if v not in TICK_SIZES:
        raise ValueError(f"tick size {v} is not one of {sorted(str(t) for t in TICK_SIZES)}")
    return v


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FeeSpec(_Frozen):
    """A market's fee schedule in a scenario, the same fields Gamma's ``feeSchedule`` has
    (``rate × (p(1 − p))^exponent`` per share, floored as the chain; see protocols.fees).

    The defaults (0.07, taker-only, no rebate) are a crypto market's; ``schedule`` is what the
    exchange, the strategies and the reports use.
    """

    enabled: bool = True
    rate: Decimal = Field(default=Decimal("0.07"), ge=0, lt=1)
    exponent: int = Field(default=1, ge=1, le=MAX_EXPONENT)
    taker_only: bool = True
    rebate_rate: Decimal = Field(default=Decimal(0), ge=0, le=1)

    @property
    def schedule(self) -> FeeSchedule:
        return FeeSchedule(
            rate=self.rate,
            exponent=self.exponent,
            taker_only=self.taker_only,
            rebate_rate=self.rebate_rate,
            enabled=self.enabled,
        )


class LatencySpec(_Frozen):
    """One account's delays to the exchange, in milliseconds (jitter is uniform on [0, jitter])."""

    order_ms: NonNegFloat = 0.0
    order_jitter_ms: NonNegFloat = 0.0
    data_ms: NonNegFloat = 0.0
    data_jitter_ms: NonNegFloat = 0.0


class TruthJump(_Frozen):
    """At ``at_s`` the truth jumps ``to`` a level or by ``shift`` (additive, clamped into (0, 1))."""

    at_s: NonNegFloat
    to: Prob | None = None
    shift: Annotated[float, Field(gt=-1.0, lt=1.0)] | None = None

    @model_validator(mode="after")
    def _one(self) -> TruthJump:
        if (self.to is None) == (self.shift is None):
            raise ValueError("give exactly one of 'to' and 'shift'")
        return self


class TruthSpec(_Frozen):
    """A binary market's true probability of YES over time.

    ``fixed``: constant ``p0`` (jumps still apply). ``random_walk``: a Gaussian walk in logit space
    with ``vol`` per √second, stepped every ``step_s``. ``reference``: the probability that the
    reference price ends at or above ``strike`` at resolution under the scenario's jump diffusion
    (crypto up/down markets); ``strike`` defaults to the price at the start.
    """

    kind: Literal["fixed", "random_walk", "reference"] = "fixed"
    p0: Prob = 0.5
    vol: NonNegFloat = 0.0
    step_s: PosFloat = 1.0
    jumps: tuple[TruthJump, ...] = ()
    strike: PosFloat | None = None


class MarketSpec(_Frozen):
    """One binary market (a condition with a YES and a NO token)."""

    id: Ident
    question: str = ""
    outcomes: tuple[str, str] = ("Yes", "No")
    tick_size: Decimal = Decimal("0.01")
    min_order_size: Shares = Decimal(5)
    fees: FeeSpec | None = None
    resolve_at_s: NonNegFloat | None = None
    truth: TruthSpec = TruthSpec()
    category: str = ""

    @field_validator("tick_size")
    @classmethod
    def _tick(cls, v: Decimal) -> Decimal:
        return _check_tick(v)


class OutcomeSpec(_Frozen):
    """One outcome of a neg-risk event; its market id is the outcome's ``id``."""

    id: Ident
    question: str = ""
    p0: Prob


class EventJump(_Frozen):
    """At ``at_s`` outcome ``outcome`` jumps to ``to``; the others are rescaled to keep the sum 1."""

    at_s: NonNegFloat
    outcome: Ident
    to: Prob


class EventSpec(_Frozen):
    """A neg-risk event: N mutually exclusive outcomes, each a binary market; exactly one wins."""

    id: Ident
    title: str = ""
    augmented: bool = False
    outcomes: tuple[OutcomeSpec, ...] = Field(min_length=2, max_length=64)
    vol: NonNegFloat = 0.0
    step_s: PosFloat = 1.0
    jumps: tuple[EventJump, ...] = ()
    tick_size: Decimal = Decimal("0.01")
    min_order_size: Shares = Decimal(5)
    fees: FeeSpec | None = None
    resolve_at_s: NonNegFloat | None = None
    category: str = ""

    @field_validator("tick_size")
    @classmethod
    def _tick(cls, v: Decimal) -> Decimal:
        return _check_tick(v)

    @model_validator(mode="after")
    def _sums_to_one(self) -> EventSpec:
        total = sum(o.p0 for o in self.outcomes)
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"outcomes: p0 must sum to 1, got {total:.6f}")
        ids = [o.id for o in self.outcomes]
        if len(set(ids)) != len(ids):
            raise ValueError("outcomes: outcome ids must be distinct")
        for j in self.jumps:
            if j.outcome not in ids:
                raise ValueError(f"jumps: unknown outcome {j.outcome!r}")
        return self


class ReferenceSpec(_Frozen):
    """A Merton jump diffusion for a spot price (e.g. BTC), published as ``ReferencePrice``.

    ``mu`` and ``sigma`` are annual (log) drift and volatility; jumps arrive at ``jump_intensity``
    per day with log-size ~ N(jump_mean, jump_std²).
    """

    symbol: str = Field(default="BTCUSDT", min_length=1)
    s0: PosFloat = 100_000.0
    mu: float = Field(default=0.0, allow_inf_nan=False)
    sigma: NonNegFloat = 0.5
    jump_intensity: NonNegFloat = 0.0
    jump_mean: float = Field(default=0.0, allow_inf_nan=False)
    jump_std: NonNegFloat = 0.0
    tick_s: PosFloat = 1.0
    decimals: int = Field(default=2, ge=0, le=8)


class NewsEffect(_Frozen):
    """What a news event does to a market's truth: ``to`` a level or by ``shift``."""

    market: Ident
    to: Prob | None = None
    shift: Annotated[float, Field(gt=-1.0, lt=1.0)] | None = None

    @model_validator(mode="after")
    def _one(self) -> NewsEffect:
        if (self.to is None) == (self.shift is None):
            raise ValueError("give exactly one of 'to' and 'shift'")
        return self


class NewsSpec(_Frozen):
    """Something happens at ``at_s`` (the truth moves then); the story is public ``publication_delay_s`` later."""

    at_s: NonNegFloat
    title: str = Field(min_length=1)
    body: str = ""
    source: str = "scenario"
    publication_delay_s: NonNegFloat = 0.0
    effects: tuple[NewsEffect, ...] = ()


class _Group(AgentConfig):
    """A crowd group is also the config of each of its agents (frozen, unknown keys refused)."""

    count: int = Field(default=1, ge=0, le=100_000)
    cash: Cash = Decimal(1000)
    markets: tuple[Ident, ...] = ()
    """Market ids this group trades; empty = every market."""


class NoiseGroup(_Group):
    """Uninformed traders: random side, random size, mostly marketable, sometimes a resting limit."""

    kind: Literal["noise"] = "noise"
    rate_per_min: NonNegFloat = 0.5
    size_min: Shares = Decimal(5)
    size_max: Shares = Decimal(50)
    limit_share: Annotated[float, Field(ge=0, le=1)] = 0.3
    max_slippage: Annotated[float, Field(ge=0, lt=1)] = 0.03


class InformedGroup(_Group):
    """Traders with a noisy view of the truth who take when the book is off by more than ``edge``."""

    kind: Literal["informed"] = "informed"
    rate_per_min: NonNegFloat = 1.0
    noise_sd: NonNegFloat = 0.03
    edge: NonNegFloat = 0.02
    size_min: Shares = Decimal(10)
    size_max: Shares = Decimal(100)
    reaction_s: NonNegFloat = 0.0
    """How late the trader learns the truth: it acts on the truth of ``reaction_s`` ago."""


class WhaleGroup(_Group):
    """Large traders, informed (noisy truth) or not; their fills reach the whale tracker."""

    kind: Literal["whale"] = "whale"
    rate_per_min: NonNegFloat = 0.1
    informed: bool = True
    noise_sd: NonNegFloat = 0.02
    edge: NonNegFloat = 0.01
    size_min: Shares = Decimal(500)
    size_max: Shares = Decimal(3000)
    max_slippage: Annotated[float, Field(ge=0, lt=1)] = 0.05
    cash: Cash = Decimal(500_000)


class MarketMakerGroup(_Group):
    """Inventory-aware quoting around a fair value (noisy truth, or the mid if uninformed)."""

    kind: Literal["market_maker"] = "market_maker"
    half_spread: PosFloat = 0.02
    levels: int = Field(default=2, ge=1, le=10)
    level_step: PosFloat = 0.01
    size: Shares = Decimal(100)
    requote_s: PosFloat = 5.0
    inventory_skew: NonNegFloat = 0.00002
    """Price shift per share of net YES inventory (quotes lean away from what the maker holds)."""
    max_inventory: Shares = Decimal(5000)
    fair: Literal["truth", "mid"] = "truth"
    truth_lag_s: NonNegFloat = 0.0
    """``fair: truth`` only: the makers learn the truth this much later (informed flow beats them)."""
    tape_weight: Annotated[float, Field(gt=0, le=1)] = 0.3
    """``fair: mid`` only: how far each requote moves the fair value towards the last trade."""
    noise_sd: NonNegFloat = 0.01
    cash: Cash = Decimal(200_000)


class ArbitrageurGroup(_Group):
    """Competing complete-set arbitrageurs: scan every ``scan_ms``, send with ``order_latency_ms``."""

    kind: Literal["arbitrageur"] = "arbitrageur"
    scan_ms: PosFloat = 500.0
    order_latency_ms: NonNegFloat = 50.0
    min_profit: Annotated[Decimal, Field(ge=0)] = Decimal("0.005")
    max_sets: Shares = Decimal(500)
    cash: Cash = Decimal(100_000)


CrowdGroup = Annotated[
    NoiseGroup | InformedGroup | WhaleGroup | MarketMakerGroup | ArbitrageurGroup,
    Field(discriminator="kind"),
]


class GapSpec(AgentConfig):
    """Inject complete-set gaps into a neg-risk event: a forced NO buyer whose bids put the sum
    of the outcomes' YES asks ``discount`` below 1, resting for ``ttl_s`` unless taken.

    Only neg-risk events can hold a gap: in one binary condition a YES ask plus a NO ask below 1 is
    a crossed book, and complement matching fills it at once (see docs/scenarios.md).
    """

    event: Ident
    rate_per_min: NonNegFloat = 1.0
    at_s: tuple[NonNegFloat, ...] = ()
    """Fixed burst times; added to the Poisson bursts of ``rate_per_min``."""
    discount: Annotated[float, Field(gt=0, lt=0.5)] = 0.05
    size: Shares = Decimal(50)
    ttl_s: PosFloat = 60.0
    start_s: NonNegFloat = 0.0
    end_s: NonNegFloat | None = None
    cash: Cash = Decimal(10_000_000)


class OursSpec(_Frozen):
    """Our society: which agents, their configs (by agent id / role), bankroll and latency."""

    enabled: bool = True
    account: Ident = "us"
    bankroll: Cash = Decimal(10_000)
    latency: LatencySpec = LatencySpec()
    agents: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Config overrides per agent id, e.g. ``{strategist: {...}, risk_officer: {...}}``."""


class Scenario(_Frozen):
    name: Ident
    description: str = ""
    seed: int = Field(default=0, ge=0)
    start: datetime | None = None
    duration_s: Annotated[float, Field(gt=0, le=30 * 86_400)]
    sample_interval_s: PosFloat = 1.0
    fees: FeeSpec = FeeSpec()
    markets: tuple[MarketSpec, ...] = ()
    events: tuple[EventSpec, ...] = ()
    reference: ReferenceSpec | None = None
    news: tuple[NewsSpec, ...] = ()
    crowd: dict[Ident, CrowdGroup] = Field(default_factory=dict)
    gaps: tuple[GapSpec, ...] = ()
    ours: OursSpec = OursSpec()

    @model_validator(mode="after")
    def _cross(self) -> Scenario:
        problem = self._cross_problem()
        if problem is not None:
            raise ValueError(problem)
        return self

    def _cross_problem(self) -> str | None:
        """Checks that span fields. Messages start with the dotted path of the offending value."""
        if not self.markets and not self.events:
            return "markets: a scenario needs at least one market or event"
        seen: dict[str, str] = {}
        for i, m in enumerate(self.markets):
            if m.id in seen:
                return f"markets.{i}.id: duplicate market id {m.id!r}"
            seen[m.id] = f"markets.{i}"
            if m.truth.kind == "reference":
                if self.reference is None:
                    return f"markets.{i}.truth.kind: 'reference' needs a top-level 'reference' process"
                if m.resolve_at_s is None:
                    return f"markets.{i}.resolve_at_s: a reference market needs a resolution time"
            if m.resolve_at_s is not None and m.resolve_at_s > self.duration_s:
                return f"markets.{i}.resolve_at_s: {m.resolve_at_s} is after the end ({self.duration_s} s)"
        for i, e in enumerate(self.events):
            if e.id in seen:
                return f"events.{i}.id: id {e.id!r} is already used"
            seen[e.id] = f"events.{i}"
            for j, o in enumerate(e.outcomes):
                if o.id in seen:
                    return f"events.{i}.outcomes.{j}.id: duplicate market id {o.id!r}"
                seen[o.id] = f"events.{i}.outcomes.{j}"
            if e.resolve_at_s is not None and e.resolve_at_s > self.duration_s:
                return f"events.{i}.resolve_at_s: {e.resolve_at_s} is after the end ({self.duration_s} s)"
        event_ids = {e.id for e in self.events}
        market_ids = set(seen) - event_ids
        for i, n in enumerate(self.news):
            for j, eff in enumerate(n.effects):
                if eff.market not in market_ids:
                    return f"news.{i}.effects.{j}.market: unknown market {eff.market!r}"
        for name, g in self.crowd.items():
            for k, mid in enumerate(g.markets):
                if mid not in market_ids:
                    return f"crowd.{name}.markets.{k}: unknown market {mid!r}"
        for i, gap in enumerate(self.gaps):
            if gap.event not in event_ids:
                hint = " (gaps need a neg-risk event)" if gap.event in market_ids else ""
                return f"gaps.{i}.event: unknown event {gap.event!r}{hint}"
        for key in self.ours.agents:
            if not re.match(_ID, key):
                return f"ours.agents.{key}: not a valid agent id"
        return None

    # -- convenience ------------------------------------------------------------------------------
    @property
    def start_ns(self) -> int:
        if self.start is None:
            return DEFAULT_START_NS
        start = self.start if self.start.tzinfo is not None else self.start.replace(tzinfo=UTC)
        return int(start.timestamp()) * NS_PER_S + start.microsecond * 1000

    @property
    def duration_ns(self) -> int:
        return round(self.duration_s * NS_PER_S)

    @property
    def crowd_size(self) -> int:
        return sum(g.count for g in self.crowd.values())

    def market_ids(self) -> list[str]:
        return [m.id for m in self.markets] + [o.id for e in self.events for o in e.outcomes]


# -- loading --------------------------------------------------------------------------------------

_PATH_PREFIX = re.compile(r"^(?:Value error, )?([A-Za-z0-9_.\-]+): (.*)$", re.S)


def _format_error(source: str, err: dict[str, Any], lines: dict[tuple[str | int, ...], int]) -> str:
    loc: list[str | int] = [p for p in err.get("loc", ()) if isinstance(p, (str, int))]
    msg = str(err.get("msg", "invalid"))
    if not loc:
        m = _PATH_PREFIX.match(msg)
        if m:
            loc = [int(p) if p.isdigit() else p for p in m.group(1).split(".")]
            msg = m.group(2)
    msg = msg.removeprefix("Value error, ")
    line = line_of(loc, lines)
    # pydantic adds the union tag after a discriminated item (crowd.<name>.<kind>.field); drop it
    shown = [str(p) for i, p in enumerate(loc) if not (i == 2 and loc[0] == "crowd" and p in _TAGS)]
    where = f"{source}:{line}" if line is not None else source
    field = ".".join(shown) or "(scenario)"
    if err.get("type") == "extra_forbidden":
        msg = "unknown field"
    return f"{where}: {field}: {msg}"


_TAGS = {"noise", "informed", "whale", "market_maker", "arbitrageur"}


def scenario_from_data(
    data: Any, *, source: str = "<scenario>", lines: dict[tuple[str | int, ...], int] | None = None
) -> Scenario:
    """Validate plain data; errors become one ``UserError`` line naming the field (and line)."""
    if not isinstance(data, dict):
        raise UserError(f"{source}: a scenario must be a YAML mapping, got {type(data).__name__}")
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        first = _format_error(source, dict(errors[0]), lines or {})
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise UserError(first + more) from None


def load_scenario_data(path: str | Path) -> tuple[dict[str, Any], dict[tuple[str | int, ...], int], str]:
    """Read a scenario file into plain data plus its line map (before overrides/validation)."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"no scenario file at {p}")
    if not p.is_file():
        raise UserError(f"{p} is not a file")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read {p}: {exc}") from None
    try:
        data, lines = load_with_lines(text)
    except YamlLineError as exc:
        where = f"{p}:{exc.line}" if exc.line else str(p)
        raise UserError(f"{where}: {exc}") from None
    if not isinstance(data, dict):
        raise UserError(f"{p}: a scenario must be a YAML mapping, got {type(data).__name__}")
    return data, lines, str(p)


def load_scenario(path: str | Path, overrides: dict[str, Any] | None = None) -> Scenario:
    """Load and validate a scenario file, applying dotted-path ``overrides`` first."""
    data, lines, source = load_scenario_data(path)
    if overrides:
        data = apply_overrides(data, overrides)
    scenario = scenario_from_data(data, source=source, lines=lines)
    from simulation.society import config_problem  # the society's configs live in agents/

    problem = config_problem(scenario)
    if problem is not None:
        loc, msg = problem
        line = line_of(loc, lines)
        where = f"{source}:{line}" if line is not None else source
        raise UserError(f"{where}: {'.'.join(str(p) for p in loc)}: {msg}")
    return scenario


def resolve_scenario_path(name_or_path: str, search: tuple[Path, ...] | None = None) -> Path:
    """A path as given, or a shipped scenario's name (``quiet_market`` → scenarios/quiet_market.yaml)."""
    p = Path(name_or_path)
    if p.exists():
        return p
    roots = search or (Path.cwd() / "scenarios", Path(__file__).resolve().parent.parent / "scenarios")
    if p.suffix == "" and p.parent == Path("."):
        for root in roots:
            cand = root / f"{name_or_path}.yaml"
            if cand.exists():
                return cand
    raise UserError(f"no scenario file at {name_or_path}")


# -- dotted overrides (sweeps, --set) ---------------------------------------------------------------

def apply_overrides(data: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of ``data`` with each dotted key set (``crowd.arbs.count``, ``markets.0.truth.p0``).

    A path must lead through existing mappings/lists, except that its last key may be new (a
    field left at its default); a step through a missing parent is an error naming the key.
    """
    out = copy.deepcopy(data)
    for key, value in overrides.items():
        parts = key.split(".")
        if not key or any(not p for p in parts):
            raise UserError(f"--set {key}: not a dotted path")
        node: Any = out
        for depth, part in enumerate(parts[:-1]):
            # agent configs are free-form mappings: any missing level under ours.agents is created
            free = depth >= 2 and parts[0] == "ours" and parts[1] == "agents"
            node = _step(node, part, key, depth, create=True, free=free)
        last = parts[-1]
        if isinstance(node, list):
            idx = _index(node, last, key)
            node[idx] = value
        elif isinstance(node, dict):
            node[last] = value
        else:
            raise UserError(f"--set {key}: {'.'.join(parts[:-1])} is not a mapping")
    return out


def _index(node: list[Any], part: str, key: str) -> int:
    if not part.lstrip("-").isdigit():
        raise UserError(f"--set {key}: {part!r} must be a list index")
    idx = int(part)
    if not -len(node) <= idx < len(node):
        raise UserError(f"--set {key}: index {idx} out of range (list has {len(node)} items)")
    return idx


def _step(node: Any, part: str, key: str, depth: int, *, create: bool, free: bool = False) -> Any:
    if isinstance(node, list):
        return node[_index(node, part, key)]
    if isinstance(node, dict):
        if part not in node:
            if create and (free or part in _CREATABLE_PARENTS):
                node[part] = {}
            else:
                raise UserError(f"--set {key}: no {part!r} in the scenario")
        return node[part]
    raise UserError(f"--set {key}: cannot step into {part!r} (not a mapping or list)")


#: Sections a --set may create when the file leaves them out (all have defaults); below
#: ``ours.agents`` every level may be created (agent configs are free-form until validated).
_CREATABLE_PARENTS = {"ours", "agents", "latency", "fees", "truth", "reference"}


def parse_set_options(items: list[str]) -> dict[str, list[Any]]:
    """``["crowd.arbs.count=0,2,4", "ours.bankroll=5000"]`` → ``{key: [values...]}``.

    Values are parsed as YAML scalars (numbers, booleans, strings).
    """
    import yaml

    out: dict[str, list[Any]] = {}
    for item in items:
        if "=" not in item:
            raise UserError(f"--set {item}: expected key=value[,value...]")
        key, raw = item.split("=", 1)
        key = key.strip()
        if not key or any(not p for p in key.split(".")):
            raise UserError(f"--set {item}: {key!r} is not a dotted path")
        if raw.strip() == "":
            raise UserError(f"--set {item}: no value")
        values: list[Any] = []
        for part in raw.split(","):
            try:
                v = yaml.safe_load(part.strip())
            except yaml.YAMLError:
                raise UserError(f"--set {item}: cannot parse value {part!r}") from None
            if isinstance(v, (dict, list)) or v is None:
                raise UserError(f"--set {item}: value {part!r} must be a plain number, boolean or string")
            values.append(v)
        if key in out:
            raise UserError(f"--set {key}: given twice")
        out[key] = values
    return out
