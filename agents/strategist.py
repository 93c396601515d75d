"""The strategist: hosts strategy plug-ins and turns their ideas into signals and order intents.

Why one aggregator in front of many strategies: strategies see the same books and would happily
propose the same trade twice, or buy YES in one and NO in another on the same market. Here every
proposal of one message is ranked by expected value; the best survives and the rest are dropped
when they duplicate (same market, token and side already pending), conflict (opposite exposure on
one market) or arrive inside a market's cooldown. Survivors get a deterministic intent id
(``{prefix}{strategy}:{market or event}:{epoch}.{n}``) and a time-to-live (``OrderIntent.expires_ns``),
after which the trader cancels what is left of them.

Why an epoch in the id: a restarted strategist restores its counter from a checkpoint that may be
stale, so ``n`` alone would mint ids an earlier incarnation already used (and the risk officer
would see two different intents under one id). Each start draws a new epoch from the runtime
clock and a persisted start counter: unique across restarts, and still deterministic in a
simulation (same scenario and seed, same ids).
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import Field, ValidationError, model_validator

import agents.strategies  # noqa: F401  - registers every strategy
from agents.base import Agent, AgentConfig, Subscription
from agents.strategies.base import STRATEGIES, MarketView, Proposal, Strategy
from protocols import (
    BookStale,
    Command,
    Envelope,
    Fill,
    MarketClosed,
    MarketInfo,
    MarketResolved,
    NewsItem,
    OrderIntent,
    Payload,
    Position,
    ReferencePrice,
    ReferenceProbability,
    RiskAction,
    RiskDecision,
    Side,
    Signal,
    TopOfBook,
    TradePrint,
    TradingState,
    TradingStateChange,
    WhaleTrade,
)

log = logging.getLogger("polyagents.strategist")

NS_PER_S = 1_000_000_000
ZERO = Decimal(0)


_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def _base36(n: int) -> str:
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = _B36[r] + out
        if n == 0:
            return out


def incarnation_epoch(start_ns: int, starts: int) -> str:
    """The id part that tells one incarnation of a strategist from another: its start time on the
    runtime clock (base 36) and how many times it has started, e.g. ``"1b2k3x9c0w4-3"``."""
    return f"{_base36(max(start_ns, 0))}-{starts}"


def _default_strategies() -> dict[str, dict[str, Any]]:
    return {"complete_set": {}, "neg_risk_basket": {}, "whale_copy": {}, "news_reaction": {}}


class StrategistConfig(AgentConfig):
    """``strategies`` maps a registered strategy name to its config (validated here, at start)."""

    strategies: dict[str, dict[str, Any]] = Field(default_factory=_default_strategies)
    bankroll: Decimal = Field(default=Decimal(1000), gt=0)
    cooldown_ns: int = Field(default=5 * NS_PER_S, ge=0)
    """After an intent on a market, further intents on it wait this long."""
    max_intents_per_message: int = Field(default=8, ge=1)
    account: str = ""
    """Only ``Position``/``Fill`` of this account count as our inventory ("" = any)."""
    intent_prefix: str = ""
    """Prepended to intent ids, so several strategists never mint the same id."""

    @model_validator(mode="after")
    def _known_strategies(self) -> StrategistConfig:
        for name, params in self.strategies.items():
            cls = STRATEGIES.get(name)
            if cls is None:
                raise ValueError(f"strategies: unknown strategy {name!r} (known: {', '.join(sorted(STRATEGIES))})")
            try:
                cls.config_model.model_validate(params)
            except ValidationError as exc:
                first = exc.errors()[0]
                loc = ".".join(str(x) for x in first["loc"])
                raise ValueError(f"strategies.{name}.{loc}: {first['msg']}") from exc
        return self


@dataclass(frozen=True, slots=True)
class _Pending:
    intent_id: str
    strategy: str
    legs: frozenset[tuple[str, str, str]]  # (market, token, side)
    markets: frozenset[str]
    direction: int
    expires_ns: int

    def to_json(self) -> dict[str, Any]:
        return {
            "intent_id": self.intent_id,
            "strategy": self.strategy,
            "legs": sorted(list(x) for x in self.legs),
            "markets": sorted(self.markets),
            "direction": self.direction,
            "expires_ns": self.expires_ns,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> _Pending:
        return cls(
            d["intent_id"],
            d["strategy"],
            frozenset((a, b, c) for a, b, c in d["legs"]),
            frozenset(d["markets"]),
            int(d["direction"]),
            int(d["expires_ns"]),
        )


_FEEDS: tuple[type[Payload], ...] = (
    MarketInfo,
    TopOfBook,
    BookStale,
    TradePrint,
    MarketResolved,
    MarketClosed,
    ReferencePrice,
    ReferenceProbability,
    WhaleTrade,
    NewsItem,
    TradingStateChange,
    RiskDecision,
)


class Strategist(Agent[StrategistConfig]):
    """Feeds its plug-ins the market, intel and inventory messages and publishes what survives
    aggregation. Keeps no books of its own beyond the watcher's validated tops."""

    role = "strategist"
    config_model = StrategistConfig

    def __init__(self, agent_id: str = "strategist", config: StrategistConfig | dict[str, Any] | None = None) -> None:
        super().__init__(agent_id, config)
        self.strategies: dict[str, Strategy[Any]] = {
            name: STRATEGIES[name](params) for name, params in self.config.strategies.items()
        }
        self.view = MarketView(bankroll=self.config.bankroll)
        self._n = 0
        self.signals = 0
        self.intents = 0
        self.errors = 0
        self.dropped: dict[str, int] = {}
        self.last_edge: dict[str, Decimal] = {}
        self._pending: dict[str, _Pending] = {}
        self._last_intent_ns: dict[str, int] = {}
        self._fill_ids: deque[str] = deque(maxlen=4096)
        self._fill_set: set[str] = set()
        self.paused: set[str] = set()
        self.starts = 0
        self.epoch = ""

    def on_start(self) -> None:
        self.starts += 1
        self.epoch = incarnation_epoch(self.ctx.now_ns(), self.starts)

    def initial_subscriptions(self) -> tuple[Subscription, ...]:
        key = self.config.account or None
        subs = [Subscription(t) for t in _FEEDS]
        subs += [Subscription(Position, key), Subscription(Fill, key)]
        subs += [Subscription(Command, self.agent_id), Subscription(Command, "*")]
        return tuple(subs)

    # -- messages -----------------------------------------------------------------------------------
    def on_message(self, envelope: Envelope) -> None:
        payload = envelope.payload
        now = self.ctx.now_ns()
        self.view.now_ns = now
        if isinstance(payload, Command):
            self._command(payload)
            return
        if not self._apply(payload):
            return  # an out-of-order book: nothing new to think about
        kind = type(payload)
        proposals: list[Proposal] = []
        for name, strat in self.strategies.items():
            if kind not in strat.handles:
                continue
            try:
                proposals.extend(strat.on_payload(payload, self.view))
            except Exception:
                # One broken plug-in must not silence the others; it is counted and logged loudly.
                self.errors += 1
                self.ctx.log.exception("strategy %s failed on %s", name, payload.kind)
        if proposals:
            self._aggregate(proposals, now)

    def _command(self, cmd: Command) -> None:
        """``pause`` / ``resume`` with ``{"strategy": name}`` (or ``"*"``): stop or restart a plug-in's
        intents while it keeps its state up to date, so resuming needs no warm-up."""
        if cmd.name not in ("pause", "resume"):
            return
        name = cmd.args.get("strategy", "*")
        names = set(self.strategies) if name == "*" else {name}
        unknown = names - set(self.strategies)
        if unknown:
            self.ctx.log.warning("command %s: unknown strategy %s", cmd.name, ", ".join(sorted(unknown)))
            return
        if cmd.name == "pause":
            self.paused |= names
        else:
            self.paused -= names

    def _apply(self, p: Payload) -> bool:
        """Fold a message into the view; False if it is older than what the view already has."""
        v = self.view
        if isinstance(p, TopOfBook):
            old = v.books.get(p.token_id)
            if old is not None and old.time_ns > p.time_ns:
                return False
            v.books[p.token_id] = p
            v.stale.discard(p.token_id)
        elif isinstance(p, BookStale):
            v.stale.add(p.token_id)
        elif isinstance(p, MarketInfo):
            v.add_market(p)
        elif isinstance(p, MarketResolved | MarketClosed):
            v.resolved.add(p.market)
            for iid in [i for i, pe in self._pending.items() if p.market in pe.markets]:
                del self._pending[iid]
        elif isinstance(p, TradePrint):
            v.last_trade[p.token_id] = p.price
        elif isinstance(p, ReferencePrice):
            v.ref_prices[p.symbol] = p
        elif isinstance(p, ReferenceProbability):
            v.ref_probs[p.market] = p
        elif isinstance(p, TradingStateChange):
            v.trading_state = p.state
        elif isinstance(p, Position):
            if self._ours(p.account):
                v.positions[p.token_id] = p.size
        elif isinstance(p, Fill):
            if self._ours(p.account) and p.fill_id not in self._fill_set:
                if len(self._fill_ids) == self._fill_ids.maxlen:
                    self._fill_set.discard(self._fill_ids[0])
                self._fill_ids.append(p.fill_id)
                self._fill_set.add(p.fill_id)
                delta = p.size if p.side is Side.BUY else -p.size
                v.positions[p.token_id] = max(ZERO, v.position(p.token_id) + delta)
        elif isinstance(p, RiskDecision) and p.action is RiskAction.REJECTED:
            self._pending.pop(p.intent_id, None)
        return True

    def _ours(self, account: str) -> bool:
        return not self.config.account or account == self.config.account

    # -- aggregation ----------------------------------------------------------------------------------
    def _aggregate(self, proposals: list[Proposal], now: int) -> None:
        for iid in [i for i, pe in self._pending.items() if pe.expires_ns <= now]:
            del self._pending[iid]
        ranked = sorted(proposals, key=lambda p: (-p.ev, p.strategy, p.key))
        published = 0
        for prop in ranked:
            for m in prop.markets:
                self.last_edge[m] = prop.edge
            reason = self._drop_reason(prop, now)
            if reason is None and published >= self.config.max_intents_per_message:
                reason = "RATE_LIMIT"
            if reason is not None:
                self.dropped[reason] = self.dropped.get(reason, 0) + 1
                continue
            self._publish(prop, now)
            published += 1

    def _drop_reason(self, prop: Proposal, now: int) -> str | None:
        if prop.strategy in self.paused:
            return "PAUSED"
        state = self.view.trading_state
        if state is not TradingState.ACTIVE:
            return f"TRADING_{state.value}"
        if prop.edge <= ZERO or prop.ev <= ZERO:
            return "NO_EDGE"
        if any(not self.view.tradable(m) for m in prop.markets):
            return "MARKET_CLOSED"
        legs = {(leg.market, leg.token_id, leg.side.value) for leg in prop.legs}
        for pe in self._pending.values():
            if pe.legs & legs:
                return "DUPLICATE"
            if prop.direction and pe.direction == -prop.direction and pe.markets & set(prop.markets):
                return "CONFLICT"
        cd = self.config.cooldown_ns
        if cd and any(now - self._last_intent_ns.get(m, now - cd) < cd for m in prop.markets):
            return "COOLDOWN"
        return None

    def _publish(self, prop: Proposal, now: int) -> None:
        self._n += 1
        if not self.epoch:  # driven without a start (a bare unit harness): still unique per process
            self.epoch = incarnation_epoch(now, self.starts)
        intent_id = f"{self.config.intent_prefix}{prop.strategy}:{prop.key}:{self.epoch}.{self._n}"
        expires = now + prop.ttl_ns
        first = prop.legs[0]
        signal = Signal(
            time_ns=now,
            strategy=prop.strategy,
            market=first.market,
            token_id=first.token_id,
            side=first.side,
            fair_value=prop.fair_value,
            price=first.price,
            edge=prop.edge,
            ev=prop.ev,
            ttl_ns=prop.ttl_ns,
            rationale=prop.rationale,
        )
        intent = OrderIntent(
            time_ns=now,
            intent_id=intent_id,
            strategy=prop.strategy,
            legs=prop.legs,
            paired=prop.paired,
            expires_ns=expires,
            fair_value=prop.fair_value,
            edge=prop.edge,
            ev=prop.ev,
            kelly_fraction=prop.kelly_fraction,
            rationale=prop.rationale,
        )
        self.ctx.publish(signal)
        self.ctx.publish(intent)
        self.signals += 1
        self.intents += 1
        self._pending[intent_id] = _Pending(
            intent_id,
            prop.strategy,
            frozenset((leg.market, leg.token_id, leg.side.value) for leg in prop.legs),
            frozenset(prop.markets),
            prop.direction,
            expires,
        )
        for m in prop.markets:
            self._last_intent_ns[m] = now
        self.ctx.metric("polyagents_strategist_intents_total", 1.0, "counter", strategy=prop.strategy)

    # -- state ----------------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        v = self.view
        return {
            "n": self._n,
            "signals": self.signals,
            "intents": self.intents,
            "errors": self.errors,
            "dropped": dict(self.dropped),
            "last_edge": {m: str(e) for m, e in self.last_edge.items()},
            "pending": [pe.to_json() for pe in self._pending.values()],
            "last_intent_ns": dict(self._last_intent_ns),
            "fill_ids": list(self._fill_ids),
            "positions": {t: str(s) for t, s in v.positions.items()},
            "trading_state": v.trading_state.value,
            "markets": [m.model_dump(mode="json") for m in v.markets.values()],
            "resolved": sorted(v.resolved),
            "strategies": {name: s.snapshot() for name, s in self.strategies.items()},
            "paused": sorted(self.paused),
            "starts": self.starts,
        }

    def restore(self, state: dict[str, Any]) -> None:
        v = self.view
        self._n = int(state.get("n", 0))
        self.signals = int(state.get("signals", 0))
        self.intents = int(state.get("intents", 0))
        self.errors = int(state.get("errors", 0))
        self.dropped = {k: int(x) for k, x in state.get("dropped", {}).items()}
        self.last_edge = {m: Decimal(e) for m, e in state.get("last_edge", {}).items()}
        self._pending = {d["intent_id"]: _Pending.from_json(d) for d in state.get("pending", [])}
        self._last_intent_ns = {m: int(t) for m, t in state.get("last_intent_ns", {}).items()}
        self._fill_ids = deque(state.get("fill_ids", []), maxlen=4096)
        self._fill_set = set(self._fill_ids)
        v.positions = {t: Decimal(s) for t, s in state.get("positions", {}).items()}
        v.trading_state = TradingState(state.get("trading_state", TradingState.ACTIVE.value))
        for m in state.get("markets", []):
            v.add_market(MarketInfo.model_validate(m))
        v.resolved = set(state.get("resolved", []))
        self.paused = {p for p in state.get("paused", []) if p in self.strategies}
        self.starts = int(state.get("starts", 0))
        for name, st in state.get("strategies", {}).items():
            if name in self.strategies:
                self.strategies[name].restore(st)

    def status(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "trading_state": self.view.trading_state.value,
            "bankroll": str(self.config.bankroll),
            "strategies": {name: s.status() for name, s in self.strategies.items()},
            "paused": sorted(self.paused),
            "markets": len(self.view.markets),
            "signals": self.signals,
            "intents": self.intents,
            "pending": sum(1 for pe in self._pending.values() if pe.expires_ns > self.view.now_ns),
            "dropped": dict(sorted(self.dropped.items())),
            "errors": self.errors,
            "last_edge": {m: str(e.quantize(Decimal("0.000001"))) for m, e in sorted(self.last_edge.items())},
        }
