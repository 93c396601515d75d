"""Run a shipped scenario through the simulation runner on the local or the lockstep Ray runtime.

The runner picks its runtime through ``simulation.runner._make_runtime``; these helpers swap in a
:class:`RayLockstepRuntime` (optionally with scheduled kills) and keep a handle on it, so tests can
look at the exchange the trader traded on after the run.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

import simulation.runner as runner
from cluster.journal import open_read_only
from simulation.scenario import load_scenario

SCENARIO = "arbitrage_bursts"
DURATION_S = 300
# A lighter crowd than the shipped one (makers requote every 30 s, 30 noise traders, a gap every
# 30 s): every message is a Ray round trip in lockstep, so this keeps the run to ~3,900 steps
# (the shipped crowd makes ~6,300) while it trades more (32 orders, 45 fills on seed 3).
OVERRIDES = {"crowd.makers.requote_s": 30, "crowd.noise.count": 30, "gaps.0.rate_per_min": 2.0}
REPO = Path(__file__).resolve().parent.parent
TRADING = ("fills", "order_events", "orders", "pnl", "positions", "risk_events", "settlements")


def scenario(light: bool = True) -> Any:
    overrides = {"duration_s": DURATION_S, "events.0.resolve_at_s": DURATION_S, **(OVERRIDES if light else {})}
    return load_scenario(REPO / "scenarios" / f"{SCENARIO}.yaml", overrides)


def run(
    kind: str,
    out: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    namespace: str | None = None,
    kills: list[tuple[int, str, int | None]] | None = None,
    light: bool = True,
    **rt_kw: Any,
) -> dict[str, Any]:
    """Run the scenario; ``kills``: (seconds after start, agent id, after_calls)."""
    holder: dict[str, Any] = {}
    if kind == "ray":
        from cluster.ray_runtime.lockstep import RayLockstepRuntime

        def make(_kind: str, seed: int, start_ns: int, journal: Any, _metrics: Any = None) -> Any:
            rt = RayLockstepRuntime(seed=seed, start_ns=start_ns, journal=journal, namespace=namespace, **rt_kw)
            for at_s, agent_id, after in kills or []:
                rt.call_at(start_ns + at_s * 1_000_000_000, lambda a=agent_id, n=after: rt.kill_agent(a, after_calls=n))
            holder["rt"] = rt
            return rt

        monkeypatch.setattr(runner, "_make_runtime", make)
    res = asyncio.run(runner.run_scenario_async(scenario(light), runtime="local", out_dir=out, report=False))
    con = open_read_only(res.summary["journal"])
    tables = {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in TRADING}
    last_positions = dict(
        con.execute(
            "SELECT token_id, arg_max(size, rowid) FROM positions WHERE agent = 'trader' GROUP BY token_id"
        ).fetchall()
    )
    events = con.execute("SELECT agent, event, detail, time_ns FROM agent_events ORDER BY time_ns, rowid").fetchall()
    con.close()
    return {
        "summary": res.summary,
        "tables": tables,
        "events": events,
        "positions": last_positions,
        "rt": holder.get("rt"),
    }
