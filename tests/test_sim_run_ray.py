"""`sim run --runtime ray`: our six agents in Ray actors, lockstep with the virtual clock, the crowd
in-process — the same trading record as the local runtime."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from simulation.runner import run_scenario
from simulation.scenario import scenario_from_data

TINY: dict[str, Any] = {
    "name": "tiny_gap",
    "duration_s": 30,
    "events": [
        {
            "id": "ev",
            "outcomes": [{"id": "a", "p0": 0.5}, {"id": "b", "p0": 0.3}, {"id": "c", "p0": 0.2}],
            "resolve_at_s": 30,
        }
    ],
    "crowd": {
        "makers": {"kind": "market_maker", "count": 1, "half_spread": 0.03, "requote_s": 20, "noise_sd": 0.0},
        "noise": {"kind": "noise", "count": 5, "rate_per_min": 2},
    },
    "gaps": [{"event": "ev", "at_s": [10, 20], "rate_per_min": 0, "discount": 0.1, "size": 30, "ttl_s": 5}],
    "ours": {
        "bankroll": 10000,
        "latency": {"order_ms": 20, "data_ms": 10},
        "agents": {"risk_officer": {"max_event_fraction": "0.5", "max_market_fraction": "0.2",
                                    "max_price_impact": "0.5", "min_time_to_expiry_ns": 0}},
    },
}


@pytest.mark.slow
def test_ray_runtime_gives_the_same_trading_record_as_local_and_shows_its_start_up(
    ray_session: str, tmp_path: Path
) -> None:
    """Watched the way `sim run --runtime ray` watches it (stderr piped: one line per step), the
    Ray run shows starting Ray and each agent host before its own progress starts."""
    import asyncio
    import io

    from rich.console import Console

    from simulation.progress import RunProgress
    from simulation.runner import run_scenario_async

    sc = scenario_from_data(TINY)
    local = run_scenario(sc, 1, "local", tmp_path / "local", report=False)
    steps: list[str] = []
    buf = io.StringIO()
    with RunProgress(sc.duration_s, console=Console(file=buf, width=80)) as p:

        def phase(text: str) -> None:
            steps.append(text)
            p.phase(text)

        def attach(rt: Any, equity: Any) -> None:
            steps.append("<run starts>")
            p.attach(rt, equity)

        remote = asyncio.run(run_scenario_async(sc, 1, runtime="ray", out_dir=tmp_path / "ray", report=False,
                                                on_runtime=attach, on_phase=phase))
    start = steps.index("<run starts>")
    assert steps[0].startswith("starting Ray")
    assert steps[start - 1] == "starting our agents' hosts on Ray: 6/6 ready", steps
    assert "starting Ray" in buf.getvalue() and "6/6 ready" in buf.getvalue()  # shown, not only called
    assert local.summary["orders_sent"] > 0
    assert remote.summary["trading_hash"] == local.summary["trading_hash"]
    for k in ("pnl", "fees", "trades", "orders_sent", "arb_captured", "arb_available"):
        assert remote.summary[k] == local.summary[k]
