"""The local runtime exports the same per-agent series as Ray's hosts, through prometheus_client."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest

from cluster.cli import main
from cluster.metrics import PrometheusMetricsSink, serve_prometheus
from simulation.runner import run_scenario
from simulation.scenario import load_scenario, resolve_scenario_path


def _series(text: str, name: str, agent: str) -> float:
    for line in text.splitlines():
        if line.startswith(name) and f'agent="{agent}"' in line:
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no {name} series for {agent}")


def test_local_run_serves_per_agent_messages_handler_time_and_pnl_gauges(tmp_path: Path) -> None:
    port = serve_prometheus(0)
    sc = load_scenario(resolve_scenario_path("arbitrage_bursts"), {"duration_s": 200,
                                                                   "events.0.resolve_at_s": 200})
    result = run_scenario(sc, runtime="local", out_dir=tmp_path, report=False, metrics=PrometheusMetricsSink())
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    for agent in ("market_watcher", "strategist", "risk_officer", "trader"):
        assert _series(text, "polyagents_messages_total", agent) > 0
        assert _series(text, "polyagents_handler_seconds_count", agent) > 0
    assert 'role="trader"' in text
    assert result.summary["orders_sent"] > 0
    _series(text, "polyagents_exposure_usd", "trader")  # the trader's PnL snapshots set the gauges
    _series(text, "polyagents_pnl_usd", "trader")


def test_metrics_port_on_the_ray_runtime_is_refused_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["sim", "run", "quiet_market", "--runtime", "ray", "--metrics-port", "0", "--json"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "--metrics-port" in err[0]
