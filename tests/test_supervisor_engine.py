"""The supervision engine against a fake in-memory driver: adoption, deadlines, failed starts,
escalation, runtime adds surviving a branch restart, and invariants under random fault sequences."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from supervisors.engine import EngineTree, MemoryStore, Observation, Observed, SupervisorEngine
from supervisors.spec import Backoff, ChildSpec, RestartType, Strategy, SupervisorSpec

CLS = "tests.ray_toy_agents:Pricer"


def child(cid: str, **kw: Any) -> ChildSpec:
    return ChildSpec(id=cid, cls=CLS, **kw)


def sup(sid: str, *kids: ChildSpec | SupervisorSpec, **kw: Any) -> SupervisorSpec:
    kw.setdefault("backoff", Backoff(initial_s=0.1, max_s=1.0, jitter=0.0))
    return SupervisorSpec(id=sid, children=kids, **kw)


@dataclass
class FakeDriver:
    """Processes in a dict: path → epoch of the live incarnation. Faults are set by the test."""

    live: dict[str, int] = field(default_factory=dict)
    exits: dict[str, Observed] = field(default_factory=dict)
    failing_starts: set[str] = field(default_factory=set)
    starts: list[tuple[str, int]] = field(default_factory=list)
    escalations: list[tuple[str, str]] = field(default_factory=list)
    double_starts: int = 0

    def observe(self, path: str, spec: Any) -> Observation:
        if path in self.live:
            return Observation(Observed.RUNNING, epoch=self.live[path])
        if path in self.exits:
            return Observation(self.exits[path], "fake exit")
        return Observation(Observed.ABSENT)

    def start_child(self, path: str, spec: Any, epoch: int) -> None:
        if path in self.live:
            self.double_starts += 1
        if path in self.failing_starts:
            raise RuntimeError("cannot start")
        self.exits.pop(path, None)
        self.live[path] = epoch
        self.starts.append((path, epoch))

    def stop_child(self, path: str, spec: Any) -> None:
        self.live.pop(path, None)
        self.exits.pop(path, None)

    def kill_child(self, path: str, spec: Any) -> None:
        self.live.pop(path, None)

    def escalate(self, path: str, reason: str) -> None:
        self.escalations.append((path, reason))

    def crash(self, path: str, how: Observed = Observed.EXITED_ABNORMAL) -> None:
        self.live.pop(path, None)
        self.exits[path] = how


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_engine_first_tick_starts_every_child_in_order_with_epoch_one() -> None:
    d = FakeDriver()
    eng = SupervisorEngine("s", sup("s", child("a"), child("b")), d)
    run(eng.tick(0.0))
    assert d.starts == [("s/a", 1), ("s/b", 1)]


def test_engine_crash_restart_is_a_deadline_not_a_sleep_and_raises_the_epoch() -> None:
    d = FakeDriver()
    eng = SupervisorEngine("s", sup("s", child("a")), d)

    async def go() -> None:
        await eng.tick(0.0)
        d.crash("s/a")
        await eng.tick(1.0)
        assert "s/a" not in d.live  # backoff pending
        assert eng.next_due() == 1.1
        await eng.tick(1.05)
        assert "s/a" not in d.live
        await eng.tick(1.1)

    run(go())
    assert d.live["s/a"] == 2
    view = eng.child_view("a")
    assert view["restarts"] == 1 and view["epoch"] == 2 and view["last_crash"] == "fake exit"


def test_engine_restarted_supervisor_adopts_running_children_instead_of_restarting_them() -> None:
    d = FakeDriver(live={"s/a": 4, "s/b": 2})
    eng = SupervisorEngine("s", sup("s", child("a"), child("b"), child("c")), d)
    run(eng.tick(0.0))
    assert d.starts == [("s/c", 1)]
    assert eng.child_view("a")["epoch"] == 4 and eng.child_view("a")["adopted"]
    d.crash("s/a")
    run(eng.tick(1.0))
    run(eng.tick(2.0))
    assert d.live["s/a"] == 5  # the replacement's epoch is above the adopted one


def test_engine_start_that_raises_is_retried_then_escalates_past_intensity() -> None:
    d = FakeDriver(failing_starts={"s/bad"})
    eng = SupervisorEngine("s", sup("s", child("ok"), child("bad"), intensity=2, period_s=60), d)

    async def go() -> None:
        t = 0.0
        for _ in range(10):
            await eng.tick(t)
            t += 2.0

    run(go())
    attempts = [e for e in eng.events if e[0] == "bad" and e[1] == "crash"]
    assert len(attempts) == 3  # the first start and two retries, the third failure escalates
    assert all("START_FAILED" in e[2] for e in attempts)
    assert eng.escalated is not None and "INTENSITY_EXCEEDED" in eng.escalated
    assert d.escalations and d.escalations[0][0] == "s"
    assert "s/ok" not in d.live  # an escalating supervisor stops its children


def test_engine_normal_exit_of_transient_child_is_not_restarted_and_temporary_is_forgotten() -> None:
    d = FakeDriver()
    spec = sup("s", child("t", restart=RestartType.TRANSIENT), child("tmp", restart=RestartType.TEMPORARY))
    store = MemoryStore()
    eng = SupervisorEngine("s", spec, d, store)
    run(eng.tick(0.0))
    d.crash("s/t", Observed.EXITED_NORMAL)
    d.crash("s/tmp")
    run(eng.tick(1.0))
    run(eng.tick(5.0))
    assert "s/t" not in d.live and "s/tmp" not in d.live
    persisted = store.load("s")
    assert persisted is not None and [c.id for c in persisted.children] == ["t"]


def test_engine_rest_for_one_restarts_the_failed_child_and_those_after_it_only() -> None:
    d = FakeDriver()
    eng = SupervisorEngine("s", sup("s", child("a"), child("b"), child("c"), strategy=Strategy.REST_FOR_ONE), d)
    run(eng.tick(0.0))
    d.crash("s/b")
    run(eng.tick(1.0))
    assert "s/c" not in d.live and d.live["s/a"] == 1
    run(eng.tick(2.0))
    assert d.live == {"s/a": 1, "s/b": 2, "s/c": 2}


def test_engine_runtime_remove_stops_the_child_and_it_is_never_restarted() -> None:
    d = FakeDriver()
    store = MemoryStore()
    eng = SupervisorEngine("s", sup("s", child("a"), child("b")), d, store)
    run(eng.tick(0.0))
    eng.remove_child("b")
    run(eng.tick(1.0))
    run(eng.tick(9.0))
    assert "s/b" not in d.live
    again = SupervisorEngine("s", sup("s", child("a"), child("b")), FakeDriver(), store)
    assert [c.id for c in again.spec.children] == ["a"]  # the store, not the boot spec, wins


def test_tree_escalated_branch_restarts_with_the_runtime_added_child_and_without_the_removed() -> None:
    d = FakeDriver()
    tree = EngineTree(sup("root", sup("decision", child("s1"), child("s2"), intensity=1, period_s=60)), d)

    async def go() -> None:
        await tree.tick(0.0)
        branch = tree.engines["root/decision"]
        branch.add_child(child("extra_1"))
        branch.remove_child("s2")
        await tree.tick(0.5)
        assert set(d.live) == {"root/decision/s1", "root/decision/extra_1"}
        d.crash("root/decision/s1")
        await tree.tick(1.0)
        await tree.tick(2.0)
        d.crash("root/decision/s1")  # second crash in the window: the branch escalates
        await tree.tick(3.0)
        assert tree.engines["root/decision"].escalated is not None  # the root acts on its next tick
        for t in (4.0, 5.0, 6.0):
            await tree.tick(t)

    run(go())
    assert set(d.live) == {"root/decision/s1", "root/decision/extra_1"}
    assert tree.failed is None
    assert tree.root.child_view("decision")["restarts"] == 1


def test_tree_root_escalation_is_reported_as_the_tree_failing() -> None:
    d = FakeDriver(failing_starts={"root/b/x"})
    tree = EngineTree(sup("root", sup("b", child("x"), intensity=0), intensity=0), d)
    for t in range(5):
        run(tree.tick(float(t)))
    assert tree.failed is not None and "INTENSITY_EXCEEDED" in tree.failed


def test_engine_driver_observe_that_raises_is_that_childs_crash_not_the_loops() -> None:
    class Flaky(FakeDriver):
        def observe(self, path: str, spec: Any) -> Observation:
            if path == "s/a" and self.starts:
                raise ConnectionError("lost")
            return super().observe(path, spec)

    d = Flaky()
    eng = SupervisorEngine("s", sup("s", child("a"), child("b")), d)
    run(eng.tick(0.0))
    run(eng.tick(1.0))
    assert "OBSERVE_FAILED" in (eng.child_view("a")["last_crash"] or "")
    assert d.live["s/b"] == 1


faults = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c"]), st.sampled_from(["crash", "fail_start", "ok_start", "tick"])),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(faults, st.sampled_from(list(Strategy)), st.integers(min_value=0, max_value=4))
def test_engine_never_two_live_incarnations_and_never_more_restarts_than_intensity_without_escalating(
    ops: list[tuple[str, str]], strategy: Strategy, intensity: int
) -> None:
    period = 10.0
    d = FakeDriver()
    eng = SupervisorEngine(
        "s", sup("s", child("a"), child("b"), child("c"), strategy=strategy, intensity=intensity, period_s=period), d
    )

    crash_times: list[float] = []

    async def go() -> None:
        t = 0.0
        await eng.tick(t)
        for cid, op in ops:
            path = f"s/{cid}"
            if op == "crash":
                d.crash(path)
            elif op == "fail_start":
                d.failing_starts.add(path)
            elif op == "ok_start":
                d.failing_starts.discard(path)
            t += 0.7
            before = sum(e[1] == "crash" for e in eng.events)
            await eng.tick(t)
            crash_times.extend([t] * (sum(e[1] == "crash" for e in eng.events) - before))

    run(go())
    assert d.double_starts == 0
    epochs: dict[str, list[int]] = {}
    for path, epoch in d.starts:
        epochs.setdefault(path, []).append(epoch)
    assert all(e == sorted(set(e)) for e in epochs.values())  # epochs strictly increase
    overflow = any(sum(1 for u in crash_times if t - period < u <= t) > intensity for t in crash_times)
    assert overflow == (eng.escalated is not None)  # escalates exactly when the window overflows
    if eng.escalated is not None:
        assert not d.live  # escalation leaves nothing running
