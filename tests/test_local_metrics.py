"""The local runtime exports the same per-agent series as Ray's hosts, through prometheus_client."""

from __future__ import annotations

import asyncio
import itertools
import urllib.request
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cluster.cli import main
from cluster.metrics import MAX_LABEL_VALUES, OTHER, PrometheusMetricsSink, serve_prometheus
from cluster.runtime_local import MetricsSink
from simulation.runner import run_scenario, run_scenario_async
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


def _labelled(text: str, name: str) -> list[dict[str, str]]:
    """The label sets of every sample of ``name`` in a scrape."""
    out = []
    for line in text.splitlines():
        if line.startswith(name + "{"):
            body = line[len(name) + 1 : line.index("}")]
            out.append(dict(kv.split("=", 1) for kv in body.replace('"', "").split(",") if kv))
    return out


def test_scrape_during_a_local_run_shows_per_strategy_series_with_their_tags(tmp_path: Path) -> None:
    """Scraped at virtual 150 s, inside the run: the strategist's intents and the risk officer's
    decisions and PnL carry the strategy (and action/reason) tags the agents passed."""
    port = serve_prometheus(0)
    sc = load_scenario(resolve_scenario_path("arbitrage_bursts"), {"duration_s": 200,
                                                                   "events.0.resolve_at_s": 200})
    scrapes: list[str] = []

    def attach(rt: object, _equity: object) -> None:
        def scrape() -> None:
            scrapes.append(urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30).read().decode())

        rt.call_at(rt.now_ns() + 150 * 1_000_000_000, scrape)  # type: ignore[attr-defined]

    asyncio.run(run_scenario_async(sc, runtime="local", out_dir=tmp_path, report=False,
                                   metrics=PrometheusMetricsSink(), on_runtime=attach))
    assert len(scrapes) == 1
    text = scrapes[0]
    intents = _labelled(text, "polyagents_strategist_intents_total")
    assert intents and all(s["agent"] == "strategist" and s["strategy"] for s in intents)
    assert "neg_risk_basket" in {s["strategy"] for s in intents}
    decisions = _labelled(text, "polyagents_risk_decisions_total")
    assert {"APPROVED"} <= {s["action"] for s in decisions}
    assert {s["strategy"] for s in intents} >= {s["strategy"] for s in decisions} - {OTHER}
    pnl = _labelled(text, "polyagents_strategy_pnl_usd")
    assert "neg_risk_basket" in {s["strategy"] for s in pnl}
    assert all(s["agent"] == "risk_officer" for s in pnl)
    assert _labelled(text, "polyagents_market_exposure_usd"), "per-market exposure series"


def test_label_values_past_the_bound_fold_into_other(tmp_path: Path) -> None:
    """A tag fed from data cannot make unbounded series: the 21st market and after are "other"."""
    import prometheus_client as pc

    sink = PrometheusMetricsSink()
    name = "polyagents_test_bounded_market_gauge"
    for i in range(MAX_LABEL_VALUES + 10):
        sink.record("risk_officer", "risk_officer", name, float(i), "gauge", {"market": f"m{i}"})
    text = pc.generate_latest().decode()
    markets = {s["market"] for s in _labelled(text, name)}
    assert len(markets) == MAX_LABEL_VALUES + 1 and OTHER in markets
    assert "m0" in markets and f"m{MAX_LABEL_VALUES + 5}" not in markets


def test_default_sink_keeps_tagged_series_apart() -> None:
    sink = MetricsSink()
    sink.record("strategist", "strategist", "polyagents_strategist_intents_total", 1, "counter", {"strategy": "a"})
    sink.record("strategist", "strategist", "polyagents_strategist_intents_total", 1, "counter", {"strategy": "b"})
    sink.record("strategist", "strategist", "polyagents_strategist_intents_total", 1, "counter", {"strategy": "a"})
    assert sink.counters[("strategist", "polyagents_strategist_intents_total{strategy=a}")] == 2
    assert sink.counters[("strategist", "polyagents_strategist_intents_total{strategy=b}")] == 1


def test_ray_metrics_declare_the_tag_keys_and_accept_what_agents_record() -> None:
    """ray.util.metrics refuses a tag set missing a declared key (ValueError) — checked without a
    cluster; the facade must always give every declared key, whatever the agent passed."""
    from cluster.metrics import _ray_metric, bounded_tags, tag_keys

    name = "polyagents_risk_decisions_total"
    keys = tag_keys(name)
    assert keys == ("agent", "role", "action", "strategy", "reason")
    m = _ray_metric(name, "counter", keys)
    with pytest.raises(ValueError, match="Missing value"):
        m.inc(1.0, tags={"agent": "risk_officer", "role": "risk_officer"})
    base = {"agent": "risk_officer", "role": "risk_officer"}
    for tags in ({"action": "APPROVED", "strategy": "maker", "reason": ""}, {"action": "REJECTED"},
                 {"strategy": "x", "unexpected": "dropped"}):
        labels = bounded_tags(name, base, tags)
        assert set(labels) == set(keys)
        m.inc(1.0, tags=labels)  # no ValueError


_names = itertools.count()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["market", "strategy", "extra"]), st.text(max_size=80)), max_size=200))
def test_label_values_per_key_never_exceed_the_bound(calls: list[tuple[str, str]]) -> None:
    """Whatever tags arrive, each key of a metric shows at most MAX_LABEL_VALUES values plus "other",
    no value is longer than MAX_LABEL_LEN, and every series carries exactly the declared keys."""
    from cluster.metrics import MAX_LABEL_LEN, AgentMetrics, bounded_tags, tag_keys

    name = f"polyagents_prop_bounded_{next(_names)}"
    m = AgentMetrics("a", "r", "none")
    first = {"market": "m", "strategy": "s"}
    m.record(name, 1.0, "gauge", first)  # declares (agent, role, market, strategy)
    seen: dict[str, set[str]] = {"market": {"m"}, "strategy": {"s"}}
    for key, value in calls:
        labels = bounded_tags(name, {"agent": "a", "role": "r"}, {key: value})
        assert tuple(sorted(labels)) == tuple(sorted(tag_keys(name)))
        for k in ("market", "strategy"):
            assert len(labels[k]) <= MAX_LABEL_LEN
            seen[k].add(labels[k])
    for k, vals in seen.items():
        assert len(vals - {OTHER}) <= MAX_LABEL_VALUES, k
