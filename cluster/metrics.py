"""Per-agent metrics behind one small facade: ``ray.util.metrics`` inside actors, ``prometheus_client``
when the local runtime runs.

Why one facade: a host records the same things whichever runtime it is in (messages, handler
time, mailbox depth, restarts, tick-to-order latency, PnL, exposure, trading state), tagged by agent
and role so the Ray dashboard and Grafana can show each actor. Ray prefixes exported names with
``ray_``; Grafana queries both spellings (see docs).
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Literal

log = logging.getLogger("polyagents.metrics")

Backend = Literal["ray", "prometheus", "none"]

TAG_KEYS = ("agent", "role")

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
}

BOUNDARIES: dict[str, list[float]] = {
    "polyagents_handler_seconds": [1e-5, 1e-4, 5e-4, 1e-3, 5e-3, 0.01, 0.05, 0.1, 0.5, 1.0],
    "polyagents_tick_to_order_ms": [0.5, 1, 2, 5, 10, 20, 50, 100, 250, 1000],
}

_lock = threading.Lock()
_prom: dict[str, Any] = {}
_ray: dict[str, Any] = {}


def _sanitize(name: str) -> str:
    out = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in name)
    return out if out.startswith("polyagents_") else f"polyagents_{out}"


def _prom_metric(name: str, kind: str) -> Any:
    import prometheus_client as pc

    with _lock:
        m = _prom.get(name)
        if m is None:
            desc = STANDARD.get(name, (kind, name))[1]
            if kind == "counter":
                m = pc.Counter(name, desc, TAG_KEYS)
            elif kind == "histogram":
                m = pc.Histogram(name, desc, TAG_KEYS, buckets=BOUNDARIES.get(name, pc.Histogram.DEFAULT_BUCKETS))
            else:
                m = pc.Gauge(name, desc, TAG_KEYS)
            _prom[name] = m
        return m


def _ray_metric(name: str, kind: str) -> Any:
    from ray.util import metrics as rm

    with _lock:
        m = _ray.get(name)
        if m is None:
            desc = STANDARD.get(name, (kind, name))[1]
            if kind == "counter":
                m = rm.Counter(name, description=desc, tag_keys=TAG_KEYS)
            elif kind == "histogram":
                m = rm.Histogram(
                    name, description=desc, boundaries=BOUNDARIES.get(name, [1, 10, 100]), tag_keys=TAG_KEYS
                )
            else:
                m = rm.Gauge(name, description=desc, tag_keys=TAG_KEYS)
            _ray[name] = m
        return m


class AgentMetrics:
    """Metrics of one agent. Never raises: a metrics failure must not take an agent down."""

    def __init__(self, agent_id: str, role: str, backend: Backend = "none") -> None:
        self.agent_id = agent_id
        self.role = role
        self.backend = backend
        self._tags = {"agent": agent_id, "role": role}
        self.values: dict[str, float] = {}

    def record(self, name: str, value: float, kind: str = "gauge") -> None:
        name = _sanitize(name)
        kind = STANDARD.get(name, (kind, ""))[0]
        if kind == "counter":
            self.values[name] = self.values.get(name, 0.0) + value
        else:
            self.values[name] = value
        if self.backend == "none":
            return
        try:
            if self.backend == "ray":
                m = _ray_metric(name, kind)
                if kind == "counter":
                    m.inc(value, tags=self._tags)
                elif kind == "histogram":
                    m.observe(value, tags=self._tags)
                else:
                    m.set(value, tags=self._tags)
            else:
                m = _prom_metric(name, kind).labels(**self._tags)
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
        key = (agent_id, name)
        if kind == "counter":
            self.counters[key] = self.counters.get(key, 0.0) + value
        else:
            self.last[key] = value
        m = self._agents.get(agent_id)
        if m is None:
            m = self._agents[agent_id] = AgentMetrics(agent_id, role, "prometheus")
        m.record(name, value, kind)


def serve_prometheus(port: int, addr: str = "127.0.0.1") -> int:
    """Expose the local runtime's metrics at ``http://addr:port/metrics``; returns the bound port
    (``port=0`` picks a free one)."""
    import prometheus_client as pc

    server, _thread = pc.start_http_server(port, addr=addr)
    return int(server.server_port)
