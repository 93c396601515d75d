"""Per-agent metrics behind one small facade: ``ray.util.metrics`` inside actors, ``prometheus_client``
when the local runtime runs.

Why one facade: a host records the same things whichever runtime it is in (messages, handler
time, mailbox depth, restarts, tick-to-order latency, PnL, exposure, trading state), tagged by agent
and role so the Ray dashboard and Grafana can show each actor. Ray prefixes exported names with
``ray_``; Grafana queries both spellings (see docs).

The tags an agent passes (``ctx.metric(name, value, strategy="maker")``) become labels (Prometheus)
or tags (Ray), declared when the metric is first made: :data:`EXTRA_TAGS` for the standard series,
else the keys of the first call. Why bounded: every distinct label value is a series kept forever
by the exporter and by Prometheus; a tag fed from data (a market id, a strategy name from config)
could make thousands. Each (metric, key) keeps at most :data:`MAX_LABEL_VALUES` values; later new
values are folded into ``"other"``. A key the metric was not declared with is dropped, a declared
one missing is ``""``: one call with odd tags never takes a series (or an agent) down.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Literal

log = logging.getLogger("polyagents.metrics")

Backend = Literal["ray", "prometheus", "none"]

TAG_KEYS = ("agent", "role")
#: Distinct values one tag of one metric may take; the rest are counted under OTHER.
MAX_LABEL_VALUES = 20
MAX_LABEL_LEN = 64
OTHER = "other"

# name -> (kind, description); histograms use the boundaries below.
STANDARD: dict[str, tuple[str, str]] = {
    "polyagents_messages_total": ("counter", "messages handled by the agent"),
    "polyagents_handler_seconds": ("histogram", "time spent in the agent's handlers"),
    "polyagents_mailbox_depth": ("gauge", "messages waiting in the host's mailbox"),
    "polyagents_restarts_total": ("counter", "times the agent's host was restarted"),
    "polyagents_tick_to_order_ms": ("histogram", "market data tick to order sent, ms"),
    "polyagents_pnl_usd": ("gauge", "equity PnL reported by the agent"),
    "polyagents_exposure_usd": ("gauge", "gross exposure reported by the agent"),
    "polyagents_trading_state": ("gauge", "0 ACTIVE, 1 REDUCING, 2 HALTED"),
    "polyagents_dropped_total": ("counter", "market data conflated away in the mailbox"),
    "polyagents_strategist_intents_total": ("counter", "order intents the strategist published, by strategy"),
    "polyagents_risk_decisions_total": ("counter", "risk officer decisions by action, strategy and first reason"),
    "polyagents_strategy_pnl_usd": ("gauge", "PnL of each strategy's fills at the risk officer's marks"),
    "polyagents_strategy_exposure_usd": ("gauge", "cost of each strategy's open positions"),
    "polyagents_market_exposure_usd": ("gauge", "capital at risk per market (largest markets)"),
    "polyagents_portfolio_var_usd": ("gauge", "value at risk of the book (risk officer)"),
}

#: Tags beyond agent and role that a standard metric carries.
EXTRA_TAGS: dict[str, tuple[str, ...]] = {
    "polyagents_strategist_intents_total": ("strategy",),
    "polyagents_risk_decisions_total": ("action", "strategy", "reason"),
    "polyagents_strategy_pnl_usd": ("strategy",),
    "polyagents_strategy_exposure_usd": ("strategy",),
    "polyagents_market_exposure_usd": ("market",),
}

BOUNDARIES: dict[str, list[float]] = {
    "polyagents_handler_seconds": [1e-5, 1e-4, 5e-4, 1e-3, 5e-3, 0.01, 0.05, 0.1, 0.5, 1.0],
    "polyagents_tick_to_order_ms": [0.5, 1, 2, 5, 10, 20, 50, 100, 250, 1000],
}

_lock = threading.Lock()
_prom: dict[str, Any] = {}
_ray: dict[str, Any] = {}
_keys: dict[str, tuple[str, ...]] = {}
_seen: dict[tuple[str, str], set[str]] = {}


def _sanitize(name: str) -> str:
    out = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in name)
    return out if out.startswith("polyagents_") else f"polyagents_{out}"


def tag_keys(name: str, tags: dict[str, str] | None = None) -> tuple[str, ...]:
    """The tag keys of ``name``: agent, role, then its declared extras (fixed at first use)."""
    with _lock:
        keys = _keys.get(name)
        if keys is None:
            extra = EXTRA_TAGS.get(name)
            if extra is None:
                extra = tuple(sorted(k for k in (tags or {}) if k not in TAG_KEYS))
            keys = _keys[name] = TAG_KEYS + extra
        return keys


def bounded_tags(name: str, base: dict[str, str], tags: dict[str, str] | None) -> dict[str, str]:
    """Every declared key of ``name`` with a value: ``base`` (agent, role), then ``tags`` — unknown
    keys dropped, a missing one "", a value past the metric's MAX_LABEL_VALUES folded into OTHER."""
    keys = tag_keys(name, tags)
    out = dict(base)
    with _lock:
        for k in keys:
            if k in out:
                continue
            v = str((tags or {}).get(k, ""))[:MAX_LABEL_LEN]
            seen = _seen.setdefault((name, k), set())
            if v not in seen:
                if len(seen) >= MAX_LABEL_VALUES:
                    v = OTHER
                seen.add(v)
            out[k] = v
    return out


def _prom_metric(name: str, kind: str, keys: tuple[str, ...]) -> Any:
    import prometheus_client as pc

    with _lock:
        m = _prom.get(name)
        if m is None:
            desc = STANDARD.get(name, (kind, name))[1]
            if kind == "counter":
                m = pc.Counter(name, desc, keys)
            elif kind == "histogram":
                m = pc.Histogram(name, desc, keys, buckets=BOUNDARIES.get(name, pc.Histogram.DEFAULT_BUCKETS))
            else:
                m = pc.Gauge(name, desc, keys)
            _prom[name] = m
        return m


def _ray_metric(name: str, kind: str, keys: tuple[str, ...]) -> Any:
    from ray.util import metrics as rm

    with _lock:
        m = _ray.get(name)
        if m is None:
            desc = STANDARD.get(name, (kind, name))[1]
            if kind == "counter":
                m = rm.Counter(name, description=desc, tag_keys=keys)
            elif kind == "histogram":
                m = rm.Histogram(
                    name, description=desc, boundaries=BOUNDARIES.get(name, [1, 10, 100]), tag_keys=keys
                )
            else:
                m = rm.Gauge(name, description=desc, tag_keys=keys)
            _ray[name] = m
        return m


def series_key(name: str, tags: dict[str, str]) -> str:
    """``name{k=v,...}`` over the non-empty tags beyond agent and role (plain ``name`` if none)."""
    extra = ",".join(f"{k}={v}" for k, v in sorted(tags.items()) if k not in TAG_KEYS and v)
    return f"{name}{{{extra}}}" if extra else name


class AgentMetrics:
    """Metrics of one agent. Never raises: a metrics failure must not take an agent down."""

    def __init__(self, agent_id: str, role: str, backend: Backend = "none") -> None:
        self.agent_id = agent_id
        self.role = role
        self.backend = backend
        self._tags = {"agent": agent_id, "role": role}
        self.values: dict[str, float] = {}

    def record(self, name: str, value: float, kind: str = "gauge", tags: dict[str, str] | None = None) -> None:
        name = _sanitize(name)
        kind = STANDARD.get(name, (kind, ""))[0]
        try:
            labels = bounded_tags(name, self._tags, tags)
        except Exception:
            log.debug("tags of metric %s for %s not understood", name, self.agent_id, exc_info=True)
            return
        key = series_key(name, labels)
        if kind == "counter":
            self.values[key] = self.values.get(key, 0.0) + value
        else:
            self.values[key] = value
        if self.backend == "none":
            return
        keys = tag_keys(name)
        try:
            if self.backend == "ray":
                m = _ray_metric(name, kind, keys)
                if kind == "counter":
                    m.inc(value, tags=labels)
                elif kind == "histogram":
                    m.observe(value, tags=labels)
                else:
                    m.set(value, tags=labels)
            else:
                m = _prom_metric(name, kind, keys).labels(**labels)
                if kind == "counter":
                    m.inc(value)
                elif kind == "histogram":
                    m.observe(value)
                else:
                    m.set(value)
        except Exception:
            log.debug("metric %s for %s not recorded", name, self.agent_id, exc_info=True)


TRADING_STATE_VALUE = {"ACTIVE": 0.0, "REDUCING": 1.0, "HALTED": 2.0}


def observe_published(payload: Any, record: Any) -> None:
    """Gauges that follow what an agent publishes: PnL and exposure from its PnL snapshots, the
    trading state from the risk officer's changes. ``record(name, value)`` is the host's recorder."""
    kind = getattr(payload, "kind", "")
    if kind == "pnl":
        record("polyagents_pnl_usd", float(payload.equity))
        record("polyagents_exposure_usd", float(payload.exposure))
    elif kind == "trading_state":
        record("polyagents_trading_state", TRADING_STATE_VALUE.get(str(payload.state.value), -1.0))


class PrometheusMetricsSink:
    """A ``cluster.runtime_local.MetricsSink`` that also exports through ``prometheus_client``.

    ``per_message`` tells the local runtime to record the per-delivery metrics an AgentHost
    records on Ray (messages, handler time), so both runtimes show the same series."""

    per_message = True

    def __init__(self) -> None:
        self.last: dict[tuple[str, str], float] = {}
        self.counters: dict[tuple[str, str], float] = {}
        self._agents: dict[str, AgentMetrics] = {}

    def record(self, agent_id: str, role: str, name: str, value: float, kind: str, tags: dict[str, str]) -> None:
        key = (agent_id, series_key(name, tags))
        if kind == "counter":
            self.counters[key] = self.counters.get(key, 0.0) + value
        else:
            self.last[key] = value
        m = self._agents.get(agent_id)
        if m is None:
            m = self._agents[agent_id] = AgentMetrics(agent_id, role, "prometheus")
        m.record(name, value, kind, tags)


def serve_prometheus(port: int, addr: str = "127.0.0.1") -> int:
    """Expose the local runtime's metrics at ``http://addr:port/metrics``; returns the bound port
    (``port=0`` picks a free one)."""
    import prometheus_client as pc

    server, _thread = pc.start_http_server(port, addr=addr)
    return int(server.server_port)
