"""Alerts in a whole run: a scenario that halts trading, a real local webhook as the ``json://``
target, and a dead target beside it that changes nothing else in the run."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from alert_receiver import Receiver, dead_port

from cluster.alerts import AlertConfig
from cluster.clock import NS_PER_S
from cluster.journal import open_read_only
from protocols import Command
from simulation.runner import RunResult, run_scenario_async
from simulation.scenario import load_scenario, resolve_scenario_path

DURATION_S = 60
KILL_AT_S = 30
SECRET = "s3cr3t-W3bhook-T0ken"


def _scenario() -> Any:
    return load_scenario(resolve_scenario_path("arbitrage_bursts"),
                         {"duration_s": DURATION_S, "events.0.resolve_at_s": DURATION_S, "gaps.0.at_s": [5],
                          # the demo's makers: a gap at t+5s clears fees, so the run trades before the kill
                          "crowd.makers.half_spread": 0.05})


def _run(tmp: Path, alerts: AlertConfig | None) -> RunResult:
    def attach(rt: Any, _equity: Any) -> None:
        # the operator's kill switch, part-way (what `polyagents kill-switch on` sends)
        at = rt.now_ns() + KILL_AT_S * NS_PER_S
        cmd = Command(time_ns=at, target="*", name="kill_switch", args={"on": "true", "by": "cli", "reason": "test"})
        rt.call_at(at, lambda: rt.inject(cmd, sender="cli", at_ns=at))

    return asyncio.run(run_scenario_async(_scenario(), None, out_dir=tmp, report=False, on_runtime=attach,
                                          alerts=alerts))


def _trading(result: RunResult) -> dict[str, Any]:
    con = open_read_only(result.journal)
    try:
        fills = con.execute("SELECT fill_id, client_order_id, price, size, fee FROM fills "
                            "ORDER BY fill_id, settlement").fetchall()
        positions = con.execute("SELECT agent, time_ns, token_id, size, avg_price, realized_pnl FROM positions "
                                "ORDER BY time_ns, token_id, agent").fetchall()
        states = con.execute("SELECT payload FROM risk_events WHERE kind = 'state' ORDER BY time_ns").fetchall()
    finally:
        con.close()
    return {"fills": fills, "positions": positions, "states": [json.loads(s[0]) for s in states],
            "trading_hash": result.summary["trading_hash"]}


@pytest.mark.slow
def test_a_halting_run_sends_each_expected_alert_once_without_secrets_and_a_dead_target_changes_nothing(
    tmp_path: Path,
) -> None:
    rec = Receiver()
    try:
        dead = f"json://127.0.0.1:{dead_port()}/hook/{SECRET}-dead"
        cfg = AlertConfig(urls=[rec.url(SECRET), dead], retry_initial_s=0.2, retry_cap_s=0.5, send_timeout_s=3.0)
        with_alerts = _run(tmp_path / "alerts", cfg)
    finally:
        rec.close()
    plain = _run(tmp_path / "plain", None)

    a, b = _trading(with_alerts), _trading(plain)
    assert a["fills"], "the run must trade before the kill switch for the comparison to mean something"
    # the alert targets (one of them dead) changed nothing of the trading
    assert a == b

    # what the journal says happened: one change of state, to HALTED by the kill switch
    changes = [s for s in a["states"] if s["state"] != s["previous"]]
    assert [(s["previous"], s["state"], s["reason"]) for s in changes] == [("ACTIVE", "HALTED", "KILL_SWITCH")]
    # ... and exactly the alerts for it: the kill switch, and the day's PnL when the run stopped
    titles = sorted(rec.titles())
    assert len(titles) == 2, titles
    assert titles[0] == "[polyagents] Kill switch: trading HALTED"
    assert titles[1].startswith("[polyagents] PnL 2026-01-01 us: ")
    kinds = sorted(p["message"].rsplit("kind=", 1)[1].split()[0] for p in rec.posts)
    assert kinds == ["daily_pnl", "kill_switch"]
    kill = next(p for p in rec.posts if "Kill switch" in p["title"])
    assert "kill switch from cli: test" in kill["message"] and kill["type"] == "failure"

    # no secret in what was sent (bodies, titles, headers), in the summary, or in the journal
    for raw in rec.raw:
        assert SECRET.encode() not in raw.split(b"/hook/")[0]
    status = with_alerts.summary["alerts"]
    assert SECRET not in json.dumps(status) and SECRET not in json.dumps(with_alerts.summary, default=str)
    live_t, dead_t = status["targets"]
    assert live_t["sent"] == 2 and live_t["failed"] == 0
    assert dead_t["sent"] == 0 and dead_t["retried"] >= 1
    con = open_read_only(with_alerts.journal)
    try:
        for (table,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall():
            dump = json.dumps(con.execute(f"SELECT * FROM {table}").fetchall(), default=str)
            assert SECRET not in dump, table
    finally:
        con.close()


@pytest.mark.slow
def test_a_live_tree_started_by_up_with_alerts_sends_the_kill_switch_and_shows_no_secret(
    ray_session: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    import ray
    import yaml

    from cluster.cli import main

    monkeypatch.setenv("POLYAGENTS_STATE_DIR", str(tmp_path / "state"))
    address = ray.get_runtime_context().gcs_address
    rec = Receiver()
    dead = f"json://127.0.0.1:{dead_port()}/hook/{SECRET}-dead"
    cfg = tmp_path / "tree.yaml"
    cfg.write_text(yaml.safe_dump({"world": {"markets": 1, "crowd": False},
                                   "alerts": {"urls": [dead], "retry_initial_s": 0.2}}))
    try:
        assert main(["up", "--address", address, "--config", str(cfg), "--run-dir", str(tmp_path / "run"),
                     "--alert", rec.url(SECRET), "--json"]) == 0
        try:
            assert main(["kill-switch", "on", "--address", address]) == 0
            deadline = time.monotonic() + 60
            while not any("Kill switch" in t for t in rec.titles()) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert [t for t in rec.titles() if "Kill switch" in t] == ["[polyagents] Kill switch: trading HALTED"]
            assert main(["status", "--json", "--address", address]) == 0
        finally:
            assert main(["down", "--address", address]) == 0
        out = capsys.readouterr()
        assert SECRET not in out.out and SECRET not in out.err
        con = open_read_only(tmp_path / "run" / "journal.duckdb")
        try:
            for (table,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall():
                assert SECRET not in json.dumps(con.execute(f"SELECT * FROM {table}").fetchall(), default=str)
        finally:
            con.close()
    finally:
        rec.close()


async def test_a_crash_loop_is_one_alert_per_key_then_one_with_the_count_matching_the_journal(tmp_path: Path) -> None:
    from decimal import Decimal

    from agents.base import Agent, AgentConfig, Subscription
    from cluster.alert_sender import AlertSender
    from cluster.clock import DEFAULT_START_NS
    from cluster.journal import Journal
    from cluster.runtime_local import LocalRuntime, SupervisionFailed
    from protocols import Envelope, Side, TradePrint

    class Crashy(Agent[AgentConfig]):
        role = "crashy"
        subscriptions = (Subscription(TradePrint),)

        def on_message(self, envelope: Envelope) -> None:
            raise ValueError("bad print")

    rec = Receiver()
    journal = Journal(tmp_path / "j.duckdb")
    sender = AlertSender(AlertConfig(urls=[rec.url(SECRET)], dedupe_window_s=3600, restart_storm=3))
    journal.add_observer(sender.observe)
    rt = LocalRuntime(journal=journal, intensity=2, period_s=60.0)
    rt.add_agent(Crashy("a"))
    for k in range(1, 31):
        t = DEFAULT_START_NS + k * 1_000_000
        rt.inject(TradePrint(time_ns=t, token_id="tok", market="m", price=Decimal("0.5"), size=Decimal(k),
                             side=Side.BUY), at_ns=t)
    with pytest.raises(SupervisionFailed):
        await rt.run()
    journal.flush_sync()
    status = sender.close(10.0)
    rec.close()
    rows = journal.query("SELECT agent, event FROM agent_events WHERE event IN ('crash', 'escalate')")
    journal.close()
    expected: dict[str, int] = {}
    for agent, event in rows:
        key = f"agent_crash:{agent}" if event == "crash" else f"escalation:{agent}"
        expected[key] = expected.get(key, 0) + 1
    assert expected["agent_crash:a"] >= 3 and expected["escalation:root"] == 1

    got: dict[str, list[int]] = {}
    for p in rec.posts:
        tail = dict(kv.split("=", 1) for kv in p["message"].rsplit("\n", 1)[1].split())
        got.setdefault(tail["key"], []).append(int(tail["count"]))
    # each key: the first occurrence alone, the rest of the storm as one alert with their count
    for key, n in expected.items():
        assert got[key] == ([1, n - 1] if n > 1 else [1]), key
    assert "restart_storm:a" in got
    assert status["targets"][0]["failed"] == 0
    assert all(SECRET not in json.dumps(p) for p in rec.posts)
