"""Progress of a long run: shown on a terminal, and never a part of the run itself."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from rich.console import Console

from simulation.progress import RunProgress
from simulation.runner import run_scenario, run_scenario_async
from simulation.scenario import load_scenario

ROOT = Path(__file__).resolve().parent.parent


def test_run_progress_shows_the_phases_and_the_virtual_clock_and_leaves_the_journal_hash_alone(
    tmp_path: Path,
) -> None:
    sc = load_scenario(ROOT / "scenarios" / "quiet_market.yaml", {"duration_s": 120, "crowd.noise.count": 40})
    buf = io.StringIO()
    with RunProgress(sc.duration_s, console=Console(file=buf, force_terminal=True, width=120)) as p:
        watched = asyncio.run(run_scenario_async(sc, 1, out_dir=tmp_path / "watched", report=False,
                                                 on_runtime=p.attach, on_phase=p.phase))
    shown = buf.getvalue()
    assert "preparing the world" in shown  # drawn when it starts
    assert "stopping the agents, writing the journal" in shown and "120/120 virtual s" in shown  # and at the end
    plain = run_scenario(sc, 1, "local", tmp_path / "plain", report=False)
    assert watched.journal_hash == plain.journal_hash
    assert watched.summary["events"] == plain.summary["events"]
