"""The live supervision tree on Ray: isolation by strategy, runtime add/remove from a second
process, a persisted tree surviving a root restart, escalation past the intensity.

One tree (small agents from tests/ray_toy_agents.py) is shared by the ordered steps of one test to
keep actor start-ups few; it runs in its own namespace of the session cluster.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cluster.journal import open_read_only
from supervisors.spec import ChildKind, ChildSpec, RestartType, Strategy, SupervisorSpec
from supervisors.tree import JOURNAL_SERVICE, walk

REPO = Path(__file__).resolve().parent.parent


def wait_for(what: str, cond: Callable[[], Any], timeout: float = 60.0) -> Any:
    """Poll until ``cond()`` is truthy; a failure names what never happened (no timing asserted)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = cond()
        except Exception as exc:  # the tree may be mid-restart
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(0.2)
    raise AssertionError(f"never happened: {what} (last: {last!r})")


def toy(id_: str, cls: str, role: str, **kw: Any) -> ChildSpec:
    return ChildSpec(id=id_, cls=f"ray_toy_agents:{cls}", config={"_role": role}, **kw)


def toy_tree() -> SupervisorSpec:
    return SupervisorSpec(
        id="root",
        strategy=Strategy.ONE_FOR_ONE,
        intensity=10,
        period_s=60,
        children=(
            SupervisorSpec(
                id="services",
                strategy=Strategy.ONE_FOR_ALL,
                children=(ChildSpec(id="journal", cls=JOURNAL_SERVICE, kind=ChildKind.SERVICE),),
            ),
            SupervisorSpec(id="data", children=(toy("watcher", "TapeWatcher", "market_watcher"),)),
            SupervisorSpec(id="decision", children=(toy("pricer", "Pricer", "strategist"),)),
            SupervisorSpec(
                id="execution",
                strategy=Strategy.REST_FOR_ONE,
                intensity=10,
                period_s=60,
                children=(toy("risk", "Pricer", "risk_officer"), toy("trader", "Buyer", "trader")),
            ),
        ),
    )


def start_toy_tree(ns: str, run_dir: Path) -> None:
    """The toy tree on a small crowd world, pinged and checkpointed often (the live tests' tree)."""
    from cluster.ray_runtime import control

    control.start_tree(
        tree=toy_tree(),
        namespace=ns,
        run_dir=run_dir,
        world={"markets": 1, "crowd_interval_s": 0.1, "speed": 1.0},
        settings={"ping_interval_s": 0.2, "checkpoint_every_n": 5},
    )


def agent(status: dict[str, Any], agent_id: str) -> dict[str, Any]:
    return next(a for a in status["agents"] if a["id"] == agent_id)


def events(journal_q: Callable[[str], list[tuple[Any, ...]]], agent_id: str) -> list[str]:
    return [r[0] for r in journal_q(f"SELECT event FROM agent_events WHERE agent = '{agent_id}' ORDER BY rowid")]


@pytest.mark.slow
def test_live_tree_isolates_crashes_by_strategy_and_changes_at_runtime(ray_session: str, tmp_path: Path) -> None:
    import ray

    from cluster.ray_runtime import control

    ns = f"{ray_session}-live"
    start_toy_tree(ns, tmp_path)

    def q(sql: str) -> list[tuple[Any, ...]]:
        # looked up each time: the journal is replaced when the root restarts
        return ray.get(ray.get_actor("root/services/journal", namespace=ns).query.remote(sql))

    try:
        st = control.tree_status(ns)
        assert {a["id"] for a in st["agents"]} == {"journal", "watcher", "pricer", "risk", "trader"}
        wait_for(
            "the trader sends orders",
            lambda: int(agent(control.tree_status(ns), "trader")["status"].get("sent", 0)) > 0,
        )

        # one_for_one: the pricer alone comes back, from its checkpoint
        pid = agent(control.tree_status(ns), "pricer")["status"]
        control.kill_agent("pricer", namespace=ns)
        wait_for("pricer crash and restart journalled", lambda: events(q, "pricer")[-2:] == ["crash", "restart"])
        st = control.tree_status(ns)
        assert agent(st, "pricer")["restarts"] == 1
        assert agent(st, "trader")["restarts"] == 0
        assert agent(st, "watcher")["restarts"] == 0
        del pid

        # rest_for_one: the first execution child takes the trader with it, not the other way round
        control.kill_agent("trader", namespace=ns)
        wait_for("trader restarted", lambda: agent(control.tree_status(ns), "trader")["restarts"] == 1)
        assert agent(control.tree_status(ns), "risk")["restarts"] == 0
        control.kill_agent("risk", namespace=ns)
        seen: dict[str, Any] = {}

        def execution_back() -> bool:
            st = control.tree_status(ns)
            seen.update({a: (agent(st, a)["restarts"], agent(st, a)["state"]) for a in ("risk", "trader")})
            return seen == {"risk": (1, "running"), "trader": (2, "running")}

        try:
            wait_for("risk and trader restarted", execution_back)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; (restarts, state) at the end: {seen}") from None
        assert events(q, "trader")[-2:] == ["stop", "restart"]
        # the restarted trader restored its checkpoint: its order counter did not go back to zero
        wait_for(
            "restored trader keeps trading", lambda: int(agent(control.tree_status(ns), "trader")["status"]["sent"]) > 1
        )

        # a second process adds a strategist while the society runs
        address = ray.get_runtime_context().gcs_address
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")])}
        code = (
            "import sys; from cluster.ray_runtime import control; "
            f"control.connect({address!r}, {ns!r}); "
            "print(control.add_agent('strategist', 'pricer2', {'_cls': 'ray_toy_agents:Pricer'}, namespace=%r))" % ns
        )
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr[-2000:]
        assert out.stdout.strip().endswith("root/decision/pricer2")
        wait_for("pricer2 running", lambda: agent(control.tree_status(ns), "pricer2")["state"] == "running")

        def actor_id(path: str) -> str:
            return str(ray.get_actor(path, namespace=ns)._actor_id.hex())

        def adoptions() -> int:
            return int(q("SELECT count(*) FROM agent_events WHERE detail LIKE 'adopted root/%'")[0][0])

        # the branch that got pricer2 dies: the root restarts it with today's children (pricer2
        # included, from the persisted tree) and it adopts both running pricers, restarting neither
        pricers = {p: actor_id(p) for p in ("root/decision/pricer", "root/decision/pricer2")}
        seen = adoptions()
        ray.kill(ray.get_actor("root/decision", namespace=ns), no_restart=True)
        wait_for("decision branch back, adopting both pricers", lambda: adoptions() >= seen + 2, timeout=120)
        st = control.tree_status(ns)
        decision = next(c for c in st["tree"]["children"] if c["id"] == "decision")
        assert decision["restarts"] == 1
        assert {c["id"] for c in decision["children"]} == {"pricer", "pricer2"}
        assert agent(st, "pricer2")["state"] == "running"
        assert {p: actor_id(p) for p in pricers} == pricers

        # a bad config is refused up front, the field named, and nothing is added
        from cluster.errors import UserError

        with pytest.raises(UserError, match="nope"):
            control.add_agent("strategist", "bad", {"_cls": "ray_toy_agents:Pricer", "nope": 1}, namespace=ns)
        assert "bad" not in {a["id"] for a in control.tree_status(ns)["agents"]}

        # and a second process removes it again
        code = (
            "from cluster.ray_runtime import control; "
            f"control.connect({address!r}, {ns!r}); print(control.remove_agent('pricer2', namespace={ns!r}))"
        )
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr[-2000:]
        assert "pricer2" not in {a["id"] for a in control.tree_status(ns)["agents"]}
        assert "remove" in events(q, "pricer2")
    finally:
        control.stop_tree(ns)


@pytest.mark.slow
def test_root_crash_leaves_every_agent_running_and_the_restarted_root_adopts_and_supervises_unasked(
    ray_session: str, tmp_path: Path
) -> None:
    """#20: a root crash must not take the agents down (they are detached, not owned by the root),
    and the restarted root must resume supervising by itself — not stay "created" until a call."""
    import ray

    from cluster.ray_runtime import control
    from cluster.ray_runtime.supervisor import load_tree

    ns = f"{ray_session}-rootcrash"
    start_toy_tree(ns, tmp_path)

    def q(sql: str) -> list[tuple[Any, ...]]:
        return ray.get(ray.get_actor("root/services/journal", namespace=ns).query.remote(sql))

    def actor_id(path: str) -> str:
        return str(ray.get_actor(path, namespace=ns)._actor_id.hex())

    def adoptions() -> int:
        return int(q("SELECT count(*) FROM agent_events WHERE detail LIKE 'adopted root/%'")[0][0])

    try:
        control.add_agent("strategist", "pricer2", {"_cls": "ray_toy_agents:Pricer"}, namespace=ns)
        wait_for("pricer2 running", lambda: agent(control.tree_status(ns), "pricer2")["state"] == "running")
        wait_for("the trader sends orders", lambda: int(agent(control.tree_status(ns), "trader")["status"]["sent"]) > 0)
        tree = load_tree(ns)
        assert tree is not None
        leaves = {p: actor_id(p) for p, _ in walk(tree)}
        assert "root/decision/pricer2" in leaves
        seen = adoptions()
        ray.kill(ray.get_actor("root", namespace=ns), no_restart=False)
        # only the journal is asked (never the root) until the restarted root has adopted its four
        # branches: nothing but the restart itself set it going
        wait_for("restarted root adopted its branches unasked", lambda: adoptions() >= seen + 4, timeout=120)
        assert {p: actor_id(p) for p in leaves} == leaves, "a leaf was restarted or lost by the root crash"
        st = control.tree_status(ns)
        assert agent(st, "pricer2")["state"] == "running"
        assert all(a["restarts"] == 0 for a in st["agents"]), [(a["id"], a["restarts"]) for a in st["agents"]]
        sent = int(agent(st, "trader")["status"]["sent"])
        wait_for(
            "the trader keeps trading", lambda: int(agent(control.tree_status(ns), "trader")["status"]["sent"]) > sent
        )
        # and it supervises again: a branch that dies now is restarted by the restarted root
        ray.kill(ray.get_actor("root/data", namespace=ns), no_restart=True)
        wait_for(
            "the restarted root restarts a dead branch",
            lambda: next(c for c in control.tree_status(ns)["tree"]["children"] if c["id"] == "data")["restarts"] == 1,
            timeout=120,
        )
    finally:
        control.stop_tree(ns)


@pytest.mark.slow
def test_child_failing_faster_than_intensity_makes_supervisor_escalate(ray_session: str, tmp_path: Path) -> None:

    from cluster.ray_runtime import control

    ns = f"{ray_session}-esc"
    tree = SupervisorSpec(
        id="root",
        intensity=0,
        period_s=60,
        children=(
            SupervisorSpec(
                id="services",
                strategy=Strategy.ONE_FOR_ALL,
                children=(ChildSpec(id="journal", cls=JOURNAL_SERVICE, kind=ChildKind.SERVICE),),
            ),
            SupervisorSpec(
                id="data",
                intensity=1,
                period_s=60,
                children=(toy("bad", "BadStart", "news_scout", restart=RestartType.PERMANENT),),
            ),
        ),
    )
    control.start_tree(
        tree=tree,
        namespace=ns,
        run_dir=tmp_path,
        world={"markets": 1, "crowd": False},
        settings={"ping_interval_s": 0.2},
    )
    try:
        wait_for("the root gives up", lambda: control.tree_status(ns)["tree"]["status"] == "escalated")
        # the escalation stopped the journal too (one_for_all of everything): read its file
        con = open_read_only(tmp_path / "journal.duckdb")
        rows = con.execute("SELECT agent, event FROM agent_events ORDER BY rowid").fetchall()
        con.close()
        bad = [e for a, e in rows if a == "bad"]
        assert bad.count("crash") == 2  # the first crash is restarted (intensity 1), the second escalates
        assert ("data", "escalate") in rows and ("root", "escalate") in rows
        assert rows.index(("data", "escalate")) < rows.index(("root", "escalate"))
    finally:
        control.stop_tree(ns)


@pytest.mark.slow
def test_restarted_trader_that_cannot_reconcile_halts_instead_of_trading(ray_session: str, tmp_path: Path) -> None:
    from decimal import Decimal

    import ray

    from cluster.ray_runtime import control
    from protocols import OrderRequest, Side, TimeInForce

    ns = f"{ray_session}-rec"
    tree = SupervisorSpec(
        id="root",
        intensity=5,
        period_s=60,
        children=(
            SupervisorSpec(
                id="services",
                strategy=Strategy.ONE_FOR_ALL,
                children=(ChildSpec(id="journal", cls=JOURNAL_SERVICE, kind=ChildKind.SERVICE),),
            ),
            SupervisorSpec(
                id="execution",
                strategy=Strategy.REST_FOR_ONE,
                # no risk officer in this tree: the trader must not wait to hear one's state
                children=(
                    ChildSpec(
                        id="trader",
                        cls="agents.trader:Trader",
                        config={"_role": "trader", "await_risk_state": False},
                    ),
                ),
            ),
        ),
    )
    control.start_tree(
        tree=tree,
        namespace=ns,
        run_dir=tmp_path,
        world={"markets": 1, "crowd": False},
        settings={"ping_interval_s": 0.2},
    )
    try:

        def trader() -> dict[str, object]:
            return agent(control.tree_status(ns), "trader")

        first = wait_for("trader running and reconciled", lambda: trader()["state"] == "running" and trader())
        assert first["status"]["accepting_intents"] is True
        # someone else places an order on our account while the trader is down
        world = ray.get_actor("world", namespace=ns)
        market = ray.get(world.markets.remote())[0]
        ray.get(
            world.place_external_order.remote(
                OrderRequest(
                    time_ns=market.time_ns,
                    client_order_id="manual-1",
                    account="us",
                    token_id=market.token_ids[0],
                    market=market.market,
                    side=Side.BUY,
                    price=Decimal("0.05"),
                    size=Decimal(10),
                    tick_size=market.tick_size,
                    tif=TimeInForce.GTC,
                )
            )
        )
        control.kill_agent("trader", namespace=ns)
        st = wait_for(
            "trader restarted", lambda: trader()["restarts"] == 1 and trader()["state"] == "running" and trader()
        )
        assert st["status"]["accepting_intents"] is False
        assert "RECONCILE_FAILED" in str(st["status"]["blocked_by"])
        journal = ray.get_actor("root/services/journal", namespace=ns)
        rows = ray.get(journal.query.remote("SELECT code, detail FROM risk_events WHERE agent = 'trader'"))
        assert any(code == "RECONCILE_FAILED" and "manual-1" in (detail or "") for code, detail in rows), rows
        assert ray.get(journal.query.remote("SELECT count(*) FROM orders")) == [(0,)]
    finally:
        control.stop_tree(ns)


@pytest.mark.slow
def test_default_society_trades_a_scenario_live_and_a_killed_trader_neither_loses_nor_doubles(
    ray_session: str, tmp_path: Path
) -> None:
    import ray

    from cluster.ray_runtime import control

    ns = f"{ray_session}-society"
    control.start_tree(
        namespace=ns,
        run_dir=tmp_path,
        world={"scenario": "arbitrage_bursts", "speed": 5.0},
        settings={"ping_interval_s": 0.2, "checkpoint_every_n": 20},
    )

    def q(sql: str) -> list[tuple[Any, ...]]:
        return ray.get(ray.get_actor("root/services/journal", namespace=ns).query.remote(sql))

    try:
        st = control.tree_status(ns)
        assert {a["id"] for a in st["agents"]} == {
            "journal",
            "market_watcher",
            "whale_tracker",
            "news_scout",
            "strategist",
            "risk_officer",
            "trader",
        }
        wait_for("the society trades", lambda: q("SELECT count(*) FROM orders")[0][0] > 0, timeout=120)
        # the trader's PnL snapshots set its dashboard gauges (tagged by agent and role)
        host = ray.get_actor(agent(st, "trader")["path"], namespace=ns)
        wait_for(
            "pnl and exposure gauges",
            lambda: {"polyagents_pnl_usd", "polyagents_exposure_usd"} <= set(ray.get(host.state.remote())["metrics"]),
            timeout=60,
        )
        control.kill_agent("trader", namespace=ns)
        tr = wait_for(
            "trader back and reconciled",
            lambda: (
                agent(control.tree_status(ns), "trader")["restarts"] == 1
                and agent(control.tree_status(ns), "trader")["status"].get("reconciled") is True
                # accepting again once it has also heard the risk officer's trading state (retained)
                and agent(control.tree_status(ns), "trader")["status"].get("accepting_intents") is True
                and agent(control.tree_status(ns), "trader")
            ),
        )
        # the restarted trader rebuilt every journalled order (none forgotten)
        known = sum(tr["status"]["orders_by_state"].values())
        assert known >= q(f"SELECT count(*) FROM orders WHERE time_ns <= {tr['last_message_ns']}")[0][0] > 0
        coids = [r[0] for r in q("SELECT client_order_id FROM orders")]
        assert len(coids) == len(set(coids))
        world = ray.get_actor("world", namespace=ns)
        assert set(ray.get(world.order_ids.remote("us"))) <= set(coids), "the venue holds an order never journalled"
        assert [e for a, e in q("SELECT agent, event FROM agent_events WHERE agent = 'trader' ORDER BY rowid")][
            -2:
        ] == ["crash", "restart"]
    finally:
        control.stop_tree(ns)


@pytest.mark.slow
def test_live_handler_error_restarts_the_agent_in_its_host_from_the_last_good_checkpoint_then_escalates(
    ray_session: str, tmp_path: Path
) -> None:
    import ray

    from cluster.ray_runtime import control
    from protocols import Command

    ns = f"{ray_session}-handler"
    tree = SupervisorSpec(
        id="root",
        intensity=0,
        period_s=60,
        children=(
            SupervisorSpec(
                id="services",
                strategy=Strategy.ONE_FOR_ALL,
                children=(ChildSpec(id="journal", cls=JOURNAL_SERVICE, kind=ChildKind.SERVICE),),
            ),
            SupervisorSpec(
                id="data",
                intensity=1,
                period_s=600,
                children=(
                    ChildSpec(
                        id="counter",
                        cls="ray_toy_agents:CommandCounter",
                        config={"_role": "news_scout", "fail_at": 5},
                    ),
                ),
            ),
        ),
    )
    control.start_tree(
        tree=tree,
        namespace=ns,
        run_dir=tmp_path,
        world={"markets": 1, "crowd": False},
        settings={"ping_interval_s": 0.2, "checkpoint_every_n": 3, "checkpoint_every_s": 600.0},
    )

    def counter() -> dict[str, Any]:
        return agent(control.tree_status(ns), "counter")

    def send(name: str, **args: str) -> None:
        world = ray.get_actor("world", namespace=ns)
        ray.get(world.inject.remote(Command(time_ns=time.time_ns(), target="counter", name=name, args=args)))

    def host_state() -> dict[str, Any]:
        return ray.get(ray.get_actor("root/data/counter", namespace=ns).state.remote(), timeout=30)

    try:
        wait_for("counter running", lambda: counter()["state"] == "running")
        before = host_state()
        for k in range(1, 9):
            send("count", k=str(k))
        # 5 raised after updating the state: the host restored the checkpoint taken after 3 (the last
        # good one; none was taken after 5), and went on with what its mailbox held
        after = wait_for(
            "counter restarted from its checkpoint and caught up",
            lambda: counter()["status"].get("seen") == [1, 2, 3, 6, 7, 8] and counter(),
        )
        assert after["restarts"] == 1
        assert after["last_crash"] == "HANDLER_ERROR: ValueError: bad command 5"
        assert after["state"] == "running"
        host = host_state()
        assert host["pid"] == before["pid"] and host["restarts_in_place"] == 1  # no process restart
        assert host["handler_errors"] == 1

        # a second crash within the period exceeds the branch's intensity: it escalates, and root
        # (intensity 0) gives up too
        send("boom")
        wait_for("the root gives up", lambda: control.tree_status(ns)["tree"]["status"] == "escalated")
        con = open_read_only(tmp_path / "journal.duckdb")
        rows = con.execute("SELECT agent, event, detail FROM agent_events ORDER BY rowid").fetchall()
        con.close()
        crashes = [d for a, e, d in rows if a == "counter" and e == "crash"]
        assert crashes == ["HANDLER_ERROR: ValueError: bad command 5", "HANDLER_ERROR: RuntimeError: boom"]
        assert [e for a, e, _ in rows if a == "counter"].count("restart") == 1
        events_ = [(a, e) for a, e, _ in rows]
        assert events_.index(("data", "escalate")) < events_.index(("root", "escalate"))
    finally:
        control.stop_tree(ns)
