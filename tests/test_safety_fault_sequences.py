"""Safety under random fault sequences (issue 20), on the local runtime with the real agents, the
real simulated exchange and a DuckDB journal.

Hypothesis draws a sequence of faults — journal restart, kills of the risk officer, strategist or
trader (each restarted by its supervisor from its last checkpoint, so whatever it saw since is
lost), all agents at once (the worst a root crash could do) — interleaved with arbitrage gaps that
fill, and a kill switch. Holds, after every step: (a) the kill switch halts the risk officer and the
trader within one message round; (b) after recovery the risk officer's positions equal the venue's;
(c) no intent id is approved twice; (d) no halt remains that no limit caused.
"""

from __future__ import annotations

import asyncio
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_safety_faults import VenueView, journal_down, journal_up
from test_society import gap_view, requote_no_after_yes_lifted, society
from test_society_world import World, market

from agents.risk_officer import RiskOfficer
from agents.trader import Trader
from protocols import Command, Side

MARKETS = [f"m{i}" for i in range(1, 7)]
AGENTS = ("risk_officer", "strategist", "trader")
STEP = st.sampled_from(["gap", "journal_restart", "kill_switch", "kill_all", *(f"kill:{a}" for a in AGENTS)])


class FaultWorld(World):
    def venue_for(self, role: str) -> Any:
        """The risk officer reads our account at the venue too (the trader's port delivers the events)."""
        return VenueView(self.ex, self.account) if role == "risk_officer" else super().venue_for(role)


def world(tmp: Path, checkpoint_every_n: int) -> World:
    w = FaultWorld(tmp)
    for m in ["m0", *MARKETS]:
        w.add_market(market(m))
    for m in MARKETS:  # each market's gap is there to be taken once
        w.crowd(f"{m}-yes", Side.SELL, "0.45", 15)
        requote_no_after_yes_lifted(w, m, "0.48", 15)
    society(w, market_watcher={"markets": ("m0",)})
    # how stale a restart's checkpoint is: by count, or none within the run (a restart from scratch)
    w.rt.checkpoint_every_n = checkpoint_every_n
    return w


def venue_positions(w: World) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for m in MARKETS:
        for tok in (f"{m}-yes", f"{m}-no"):
            if w.shares(tok):
                out[tok] = w.shares(tok)
    return out


async def play(steps: list[str], checkpoint_every_n: int = 10**6) -> None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        w = world(tmp, checkpoint_every_n)
        await w.run_for(0.5)
        gaps = iter(MARKETS)
        for step in steps:
            if step == "gap":
                m = next(gaps, None)
                if m is not None:
                    gap_view(w, m, "0.45", "0.48")
            elif step == "journal_restart":
                journal_down(w)
                await w.run_for(1)
                journal_up(w, tmp / "journal.duckdb")
            elif step == "kill_switch":
                w.inject(Command(time_ns=w.rt.now_ns(), target="*", name="kill_switch", args={"reason": "drill"}))
                await w.run_for(0.01)  # (a) one message round
                ro, tr = w.rt.agents["risk_officer"], w.rt.agents["trader"]
                assert ro.status()["state"] == "HALTED", step
                assert tr.status()["accepting_intents"] is False, step
                w.inject(Command(time_ns=w.rt.now_ns(), target="*", name="kill_switch", args={"on": "false"}))
            elif step == "kill_all":
                for a in ("market_watcher", "whale_tracker", "news_scout", "strategist", "risk_officer", "trader"):
                    if a in w.rt.agents:
                        await w.rt.crash_agent(a)
            else:
                await w.rt.crash_agent(step.split(":", 1)[1])
            await w.run_for(5)  # recovery: restarts, rebuilds, reconcile, held orders sent
            ro = w.rt.agents["risk_officer"]
            assert isinstance(ro, RiskOfficer) and isinstance(w.rt.agents["trader"], Trader)
            # (b) the officer's book equals the venue's
            held = {t: h.size for t, h in ro.portfolio.holdings.items() if h.size}
            assert held == venue_positions(w), (steps, step)
            # (c) no intent id approved twice
            approved = [i for i, action, _ in w.decisions() if action == "APPROVED"]
            assert len(approved) == len(set(approved)), (steps, approved)
            # (d) no halt without a limit hit (this world hits none)
            assert ro.status()["state"] == "ACTIVE", (steps, step, ro.halt_reasons)
            assert w.rt.agents["trader"].status()["accepting_intents"] is True, (steps, step)
        assert venue_positions(w), "the gaps must trade"
        assert not [c for c in w.rt.crashes if not str(c[1]).startswith("KILLED")]
        await w.rt.stop()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(STEP, min_size=2, max_size=6), st.sampled_from([5, 40, 10**6]))
def test_random_fault_sequences_keep_kill_switch_book_and_intent_ids_safe(steps: list[str], every_n: int) -> None:
    asyncio.run(play(["gap", *steps, "gap"], every_n))
