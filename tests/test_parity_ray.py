"""Parity: a shipped scenario on the local runtime and on the lockstep Ray runtime, same seed →
the same orders, order events, fills, positions, PnL and risk decisions, row for row."""

from __future__ import annotations

from pathlib import Path

import pytest
from ray_scenarios import TRADING, run


@pytest.mark.slow
def test_scenario_on_ray_writes_the_same_trading_journal_as_local(
    ray_session: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = run("local", tmp_path / "local", monkeypatch)
    on_ray = run("ray", tmp_path / "ray", monkeypatch, namespace=ray_session)
    assert local["tables"]["orders"], "the scenario must trade for parity to mean anything"
    assert local["tables"]["fills"]
    for table in TRADING:
        assert on_ray["tables"][table] == local["tables"][table], table
    # the whole journal, lifecycle records included, is byte-identical (no kills, so no restarts)
    assert on_ray["summary"]["journal_hash"] == local["summary"]["journal_hash"]
    assert on_ray["summary"]["events"] == local["summary"]["events"]
    rt = on_ray["rt"]
    assert set(rt.remotes) == {"market_watcher", "whale_tracker", "news_scout", "strategist", "risk_officer", "trader"}
    assert rt.host_failures == []
