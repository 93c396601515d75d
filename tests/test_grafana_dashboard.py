"""The Grafana dashboard in the repo and the metrics the code defines must not drift apart.

Why a test: ``docs/grafana/polyagents.json`` queries metrics by name in PromQL strings, and
``cluster.metrics.STANDARD`` is where hosts get those names. A renamed metric would leave a panel
silently empty; a new metric without a panel would never be watched. Each panel's query names its
metric as ``{__name__=~"(ray_)?polyagents_x"}`` (Ray prefixes exported names with ``ray_``, the
local runtime's prometheus_client does not) or plainly; both spellings are understood here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from cluster.metrics import BOUNDARIES, STANDARD

REPO = Path(__file__).resolve().parent.parent
DASHBOARD = REPO / "docs" / "grafana" / "polyagents.json"

# Suffixes Prometheus adds to a histogram's series; a query names ``x_bucket``, the metric is ``x``.
HISTOGRAM_SUFFIXES = ("_bucket", "_count", "_sum")
_NAME_MATCHER = re.compile(r"""__name__\s*=~?\s*"([^"]+)\"""")
_BARE_NAME = re.compile(r"\b((?:ray_)?polyagents_[a-z0-9_]+)\b")
_OPTIONAL_RAY = re.compile(r"^\(ray_\)\?")


def metric_of(series: str) -> str:
    """``ray_polyagents_handler_seconds_bucket`` → ``polyagents_handler_seconds``."""
    name = series.removeprefix("ray_")
    if name not in STANDARD:
        for suffix in HISTOGRAM_SUFFIXES:
            if name.endswith(suffix) and name.removesuffix(suffix) in STANDARD:
                return name.removesuffix(suffix)
    return name


def names_in(expr: str) -> set[str]:
    """Every metric a PromQL expression selects, by ``__name__`` matcher or by plain name."""
    found: set[str] = set()
    for pattern in _NAME_MATCHER.findall(expr):
        body = _OPTIONAL_RAY.sub("", pattern)
        if not re.fullmatch(r"[a-z0-9_]+", body):
            raise AssertionError(f"a __name__ matcher this test cannot read: {pattern!r} in {expr!r}")
        found.add(metric_of(body))
    stripped = _NAME_MATCHER.sub("", expr)
    found |= {metric_of(n) for n in _BARE_NAME.findall(stripped)}
    return found


def targets(board: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, expr) of every target, rows' nested panels included."""
    out: list[tuple[str, str]] = []

    def walk(panels: list[dict[str, Any]]) -> None:
        for p in panels:
            for t in p.get("targets", []):
                if t.get("expr"):
                    out.append((p.get("title", ""), t["expr"]))
            walk(p.get("panels", []))

    walk(board.get("panels", []))
    return out


@pytest.fixture(scope="module")
def board() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def test_names_in_reads_both_spellings_and_histogram_series() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (agent, le) (rate({__name__=~"(ray_)?polyagents_handler_seconds_bucket"}'
        '[5m]))) + ray_polyagents_mailbox_depth + polyagents_not_a_metric'
    )
    assert names_in(expr) == {"polyagents_handler_seconds", "polyagents_mailbox_depth", "polyagents_not_a_metric"}


def test_names_in_unreadable_name_matcher_raises() -> None:
    with pytest.raises(AssertionError, match="cannot read"):
        names_in('{__name__=~"polyagents_.*"}')


def test_grafana_dashboard_every_panel_has_a_query(board: dict[str, Any]) -> None:
    panels = [p for p in board["panels"] if p.get("type") != "row"]
    assert panels, "the dashboard has no panels"
    empty = [p.get("title") for p in panels if not any(t.get("expr") for t in p.get("targets", []))]
    assert not empty, f"panels without a query: {empty}"


def test_grafana_dashboard_queries_only_metrics_the_code_defines(board: dict[str, Any]) -> None:
    unknown = {
        (title, name) for title, expr in targets(board) for name in names_in(expr) if name not in STANDARD
    }
    assert not unknown, f"panels query metrics cluster/metrics.py does not define: {sorted(unknown)}"


def test_grafana_dashboard_shows_every_standard_metric(board: dict[str, Any]) -> None:
    queried = {name for _, expr in targets(board) for name in names_in(expr)}
    missing = sorted(set(STANDARD) - queried)
    assert not missing, f"metrics in cluster/metrics.py that no panel shows: {missing}"


def test_grafana_dashboard_histograms_queried_as_buckets(board: dict[str, Any]) -> None:
    """A histogram is only useful through ``histogram_quantile`` over its ``_bucket`` series."""
    histograms = {n for n, (kind, _) in STANDARD.items() if kind == "histogram"}
    assert histograms <= set(BOUNDARIES), "every histogram needs bucket boundaries"
    for title, expr in targets(board):
        for name in names_in(expr) & histograms:
            assert f"{name}_bucket" in expr and "histogram_quantile" in expr, (title, expr)


def test_grafana_dashboard_agent_variable_reaches_every_query(board: dict[str, Any]) -> None:
    """The dashboard's agent picker must filter every panel, or one panel ignores the selection."""
    variables = {v["name"] for v in board.get("templating", {}).get("list", [])}
    assert "agent" in variables
    for title, expr in targets(board):
        assert 'agent=~"$agent"' in expr, f"panel {title!r} ignores the agent variable: {expr}"


def test_grafana_dashboard_per_strategy_metrics_split_and_filter_by_strategy(board: dict[str, Any]) -> None:
    """A per-strategy series summed over strategies would hide what the tags were for."""
    from cluster.metrics import EXTRA_TAGS

    variables = {v["name"] for v in board.get("templating", {}).get("list", [])}
    assert "strategy" in variables
    per_strategy = {n for n, keys in EXTRA_TAGS.items() if "strategy" in keys}
    shown = set()
    for title, expr in targets(board):
        for name in names_in(expr) & per_strategy:
            shown.add(name)
            assert re.search(r"by \([^)]*\bstrategy\b", expr), f"panel {title!r} does not split by strategy: {expr}"
            assert 'strategy=~"$strategy"' in expr, f"panel {title!r} ignores the strategy variable: {expr}"
    assert shown == per_strategy, f"per-strategy metrics without a panel: {sorted(per_strategy - shown)}"
