"""The lockstep Ray runtime against the local runtime, with small agents: same log, same orders.

All tests here share the session's Ray cluster (tests/conftest.py).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from ray_toy_agents import BadStart, BasketBuyer, Buyer, FlakyCounter, Pricer

from cluster.clock import DEFAULT_START_NS
from cluster.journal import Journal
from cluster.runtime_local import LocalRuntime
from protocols import OrderRequest, Side, TimeInForce, TradePrint
from venues.sim import SimExchange, SimExchangeConfig, SimVenue
from venues.sim.testing import binary_market

MS = 1_000_000


def _trade(t: int, price: str) -> TradePrint:
    return TradePrint(time_ns=t, token_id="m1-yes", market="m1", price=Decimal(price), size=Decimal(1), side=Side.BUY)


async def run_world(rt: Any, journal: Journal | None, *, n_trades: int = 30, extra: Any = None) -> dict[str, Any]:
    """A crowd seller rests asks; trades arrive; the pricer prices; the buyer buys."""
    ex = SimExchange(SimExchangeConfig(start_ns=DEFAULT_START_NS), scheduler=rt)
    ex.add_market(binary_market("m1"))
    ex.open_account("crowd", 100_000)
    ex.open_account("buyer", 10_000)
    ex.split("crowd", "m1", 10_000)
    for i, px in enumerate(("0.52", "0.53", "0.54", "0.55")):
        ex.submit(
            "crowd",
            OrderRequest(
                time_ns=DEFAULT_START_NS,
                client_order_id=f"crowd-{i}",
                account="crowd",
                token_id="m1-yes",
                market="m1",
                side=Side.SELL,
                price=Decimal(px),
                size=Decimal(40),
                tick_size=Decimal("0.01"),
                tif=TimeInForce.GTC,
            ),
        )
    rt.add_agent(Pricer("pricer"))
    rt.add_agent(Buyer("buyer"), venue=SimVenue(ex, "buyer"))
    if extra is not None:
        extra(rt)
    for k in range(n_trades):
        rt.inject(
            _trade(DEFAULT_START_NS + (k + 1) * 10 * MS, f"0.{50 + k % 5}"),
            sender="tape",
            at_ns=DEFAULT_START_NS + (k + 1) * 10 * MS,
        )
    await rt.run(until_ns=DEFAULT_START_NS + (n_trades + 5) * 10 * MS)
    await rt.stop()
    orders = (
        journal.query("SELECT client_order_id, price, size FROM orders ORDER BY client_order_id") if journal else []
    )
    trades = sorted((f.client_order_id, str(f.price), str(f.size)) for f in ex.trades("buyer"))
    return {"digest": rt.event_log_digest(), "orders": orders, "trades": trades, "positions": ex.positions("buyer")}


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal(tmp_path / "j.duckdb")


async def test_lockstep_run_matches_local_run_event_for_event(ray_session: str, tmp_path: Path) -> None:
    from cluster.ray_runtime.lockstep import RayLockstepRuntime

    j1, j2 = Journal(tmp_path / "a.duckdb"), Journal(tmp_path / "b.duckdb")
    local = await run_world(LocalRuntime(seed=7, journal=j1, record_events=True), j1)
    ray_rt = RayLockstepRuntime(seed=7, journal=j2, record_events=True, namespace=ray_session, checkpoint_every_n=7)
    remote = await run_world(ray_rt, j2)
    assert local["orders"], "the scenario must produce orders"
    assert local["trades"], "the scenario must produce fills"
    assert remote["digest"] == local["digest"]
    assert remote["orders"] == local["orders"]
    assert remote["trades"] == local["trades"]
    assert ray_rt.checkpoints_taken > 0
    # the hosted agents' final state came back after stop
    assert ray_rt.agents["buyer"].sent == len(local["orders"])  # type: ignore[attr-defined]


async def test_killed_hosts_are_replaced_and_the_run_is_unchanged(ray_session: str, tmp_path: Path) -> None:
    from cluster.ray_runtime.lockstep import RayLockstepRuntime

    j1, j2 = Journal(tmp_path / "a.duckdb"), Journal(tmp_path / "b.duckdb")
    local = await run_world(LocalRuntime(seed=3, journal=j1, record_events=True), j1)
    rt = RayLockstepRuntime(seed=3, journal=j2, record_events=True, namespace=ray_session, checkpoint_every_n=5)

    def kills(r: Any) -> None:
        r.call_at(DEFAULT_START_NS + 55 * MS, lambda: r.kill_agent("buyer", after_calls=2))
        r.call_at(DEFAULT_START_NS + 120 * MS, lambda: r.kill_agent("pricer"))
        r.call_at(DEFAULT_START_NS + 200 * MS, lambda: r.kill_agent("buyer"))

    remote = await run_world(rt, j2, extra=kills)
    assert [a for a, _ in rt.host_failures] == ["buyer", "pricer", "buyer"]
    assert remote["orders"] == local["orders"]
    assert remote["trades"] == local["trades"]
    assert remote["digest"] == local["digest"]
    events = j2.query(
        "SELECT agent, event FROM agent_events WHERE event IN ('crash','restart') ORDER BY time_ns, rowid"
    )
    assert events == [
        ("buyer", "crash"),
        ("buyer", "restart"),
        ("pricer", "crash"),
        ("pricer", "restart"),
        ("buyer", "crash"),
        ("buyer", "restart"),
    ]


@pytest.mark.parametrize("after_calls", [1, 2, 3])
async def test_step_resumed_after_reconcile_answers_only_its_own_earlier_calls_so_every_leg_is_journalled_and_sent_once(
    ray_session: str, tmp_path: Path, after_calls: int
) -> None:
    """The basket's host dies after its Nth call of a step was answered (1: the first leg written
    ahead; 2: sent; 3: the second leg written ahead). After the restart the reconcile learns what the
    venue holds, and the resumed step skips a known leg: by position, the second leg's write-ahead
    and send would be answered with the first leg's answers — never journalled, never sent."""
    from cluster.ray_runtime.lockstep import RayLockstepRuntime

    def basket(r: Any) -> None:
        r.add_agent(BasketBuyer("basket"), venue=SimVenue(r._ex, "basket"))
        r.call_at(DEFAULT_START_NS + 15 * MS, lambda: r.kill_agent("basket", after_calls=after_calls))

    async def world(rt: Any, j: Journal) -> dict[str, Any]:
        ex = SimExchange(SimExchangeConfig(start_ns=DEFAULT_START_NS), scheduler=rt)
        ex.add_market(binary_market("m1"))
        ex.open_account("basket", 10_000)
        rt._ex = ex
        rt.add_agent(Pricer("pricer"))
        basket(rt)
        for k in range(4):
            rt.inject(
                _trade(DEFAULT_START_NS + (k + 1) * 10 * MS, "0.4"),
                sender="tape",
                at_ns=DEFAULT_START_NS + (k + 1) * 10 * MS,
            )
        await rt.run(until_ns=DEFAULT_START_NS + 90 * MS)
        agents = await rt.fetch_agents() if hasattr(rt, "fetch_agents") else rt.agents
        await rt.stop()
        return {
            "journal": [r[0] for r in j.query("SELECT client_order_id FROM orders ORDER BY client_order_id")],
            "venue": sorted(c for c in ex._accounts["basket"].orders),
            "statuses": {
                c: o.status.value for c, o in ((c, ex.order("basket", c)) for c in ex._accounts["basket"].orders) if o
            },
            "agent": agents["basket"],
        }

    j = Journal(tmp_path / "j.duckdb")
    rt = RayLockstepRuntime(seed=5, journal=j, namespace=ray_session, checkpoint_every_n=1000)
    res = await world(rt, j)
    assert [a for a, _ in rt.host_failures] == ["basket"]
    assert res["agent"].reconciles == 1
    legs = [f"basket-{b}:{leg}" for b in range(1, 5) for leg in range(2)]
    assert res["journal"] == legs, "every leg written ahead exactly once"
    assert res["venue"] == legs, "every leg at the venue exactly once, none without its write-ahead"
    assert set(res["agent"].known) == set(legs)


def _sized(k: int) -> TradePrint:
    t = DEFAULT_START_NS + k * MS
    return TradePrint(time_ns=t, token_id="m1-yes", market="m1", price=Decimal("0.5"), size=Decimal(k), side=Side.BUY)


@pytest.mark.parametrize("mode", ["image", "snapshot"])
async def test_lockstep_handler_error_replaces_the_host_from_its_last_good_checkpoint_without_the_failing_step(
    ray_session: str, mode: str
) -> None:
    from cluster.ray_runtime.lockstep import RayLockstepRuntime

    rt = RayLockstepRuntime(seed=1, namespace=ray_session, checkpoint_every_n=3, checkpoint_mode=mode)  # type: ignore[arg-type]
    rt.add_agent(FlakyCounter("scout", {"fail_at": 5}))
    for k in range(1, 9):
        rt.inject(_sized(k), sender="tape", at_ns=DEFAULT_START_NS + k * MS)
    await rt.run()
    first_host = rt.remotes["scout"].generation
    await rt.stop()
    # the half-updated state (print 5 kept) is gone: the last good checkpoint plus the good steps
    # after it (replayed from the log) plus the prints after the crash
    assert rt.agents["scout"].seen == [1, 2, 3, 4, 6, 7, 8]  # type: ignore[attr-defined]
    assert [(a, str(e)) for a, e in rt.crashes] == [("scout", "ValueError: bad print 5")]
    assert rt.host_failures == []  # no host died: the handler raised, and its host was replaced
    assert first_host == 2
    st = rt.agent_status("scout")
    assert st["restarts"] == 1 and st["last_crash"] == "HANDLER_ERROR: ValueError: bad print 5"
    assert [(e.agent_id, e.event) for e in rt.lifecycle] == [("scout", "crash"), ("scout", "restart")]
    replayed = int(rt.lifecycle[1].detail.rsplit("replayed ", 1)[1].split()[0])
    assert replayed < 4  # from a checkpoint taken after print 3 at the latest, not from the start


async def test_lockstep_handler_errors_past_the_intensity_escalate_to_root_and_fail_the_run(ray_session: str) -> None:
    from cluster.ray_runtime.lockstep import RayLockstepRuntime, SupervisionFailed

    rt = RayLockstepRuntime(seed=1, namespace=ray_session, intensity=1)
    rt.add_agent(FlakyCounter("scout", {"fail_at": 0}))
    for k in range(1, 20):
        rt.inject(_sized(k), sender="tape", at_ns=DEFAULT_START_NS + k * MS)
    try:
        with pytest.raises(SupervisionFailed, match="INTENSITY_EXCEEDED"):
            await rt.run()
    finally:
        for r in rt.remotes.values():
            r.kill()
    assert [e.agent_id for e in rt.lifecycle if e.event == "escalate"] == ["data", "data", "root"]
    assert rt.stats.handler_errors == 4


async def test_lockstep_host_whose_start_raises_is_started_again_until_the_intensity_then_escalates(
    ray_session: str,
) -> None:
    from cluster.ray_runtime.lockstep import RayLockstepRuntime, SupervisionFailed

    rt = RayLockstepRuntime(seed=1, namespace=ray_session, intensity=1)
    rt.add_agent(BadStart("scout"))
    try:
        with pytest.raises(SupervisionFailed, match="INTENSITY_EXCEEDED"):
            await rt.run()
    finally:
        for r in rt.remotes.values():
            r.kill()
    events = [(e.agent_id, e.event) for e in rt.lifecycle]
    # as on the local runtime: the branch restarts it once, root restarts the branch once, which
    # retries once more; every start ran on_start again and raised
    assert events.count(("scout", "crash")) == 4 and events.count(("scout", "restart")) == 3
    assert [a for a, e in events if e == "escalate"] == ["data", "data", "root"]
    assert [str(e) for _, e in rt.crashes] == ["RuntimeError: cannot start"] * 4


async def test_lockstep_crowd_agent_flagged_continue_on_error_keeps_its_state_counted(ray_session: str) -> None:
    from cluster.ray_runtime.lockstep import RayLockstepRuntime

    rt = RayLockstepRuntime(seed=1, namespace=ray_session, intensity=0)
    rt.add_agent(FlakyCounter("scout", {"fail_at": 2}), continue_on_error=True)
    for k in range(1, 4):
        rt.inject(_sized(k), sender="tape", at_ns=DEFAULT_START_NS + k * MS)
    await rt.run()
    await rt.stop()
    assert rt.agents["scout"].seen == [1, 2, 3]  # type: ignore[attr-defined]
    assert rt.agent_status("scout")["errors_continued"] == 1
    assert rt.lifecycle == [] and rt.remotes["scout"].generation == 1


async def test_agent_removed_at_runtime_stops_in_its_host_and_gets_nothing_more(ray_session: str) -> None:
    from cluster.ray_runtime.lockstep import RayLockstepRuntime

    rt = RayLockstepRuntime(seed=1, namespace=ray_session)
    rt.add_agent(Pricer("pricer"))
    for k in (1, 2):
        rt.inject(_trade(DEFAULT_START_NS + k * MS, "0.5"), sender="tape", at_ns=DEFAULT_START_NS + k * MS)
    await rt.run(until_ns=DEFAULT_START_NS + MS)
    host = rt.remotes["pricer"].host
    await rt.remove_agent("pricer")
    await rt.run()
    await rt.stop()
    assert "pricer" not in rt.remotes
    assert [e.event for e in rt.lifecycle] == []  # a removal is not a crash
    import ray

    with pytest.raises(ray.exceptions.RayActorError):
        await host.ping.remote()
