"""Supervisor decisions without Ray: strategies, restart types, intensity, backoff, the default tree."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from supervisors import (
    Action,
    Backoff,
    ChildSpec,
    IntensityWindow,
    RestartType,
    Strategy,
    SupervisorSpec,
    SupervisorState,
    TreeConfig,
    agents_in,
    backoff_delay,
    default_tree,
)
from supervisors.tree import ROLE_BRANCH, add_agent, agent_child, remove_agent, supervisor_at


def sup(strategy: Strategy, *restarts: RestartType, intensity: int = 3, period_s: float = 5.0) -> SupervisorState:
    kids = tuple(ChildSpec(id=f"c{i}", cls="agents.base:Agent", restart=r) for i, r in enumerate(restarts))
    spec = SupervisorSpec(
        id="s",
        strategy=strategy,
        intensity=intensity,
        period_s=period_s,
        children=kids,
        backoff=Backoff(initial_s=0.1, jitter=0.0),
    )
    return SupervisorState(spec)


P = RestartType.PERMANENT


def test_one_for_one_crash_restarts_only_the_failed_child() -> None:
    d = sup(Strategy.ONE_FOR_ONE, P, P, P).on_exit("c1", abnormal=True, now_s=0)
    assert d.action is Action.RESTART
    assert d.stop == ()
    assert d.start == ("c1",)


def test_one_for_all_crash_stops_others_in_reverse_and_restarts_all_in_order() -> None:
    d = sup(Strategy.ONE_FOR_ALL, P, P, P).on_exit("c1", abnormal=True, now_s=0)
    assert d.stop == ("c2", "c0")
    assert d.start == ("c0", "c1", "c2")


def test_rest_for_one_crash_restarts_failed_and_later_children_only() -> None:
    d = sup(Strategy.REST_FOR_ONE, P, P, P).on_exit("c1", abnormal=True, now_s=0)
    assert d.stop == ("c2",)
    assert d.start == ("c1", "c2")


def test_rest_for_one_crash_of_last_child_restarts_it_alone() -> None:
    d = sup(Strategy.REST_FOR_ONE, P, P, P).on_exit("c2", abnormal=True, now_s=0)
    assert d.stop == () and d.start == ("c2",)


def test_transient_child_clean_exit_is_not_restarted_but_crash_is() -> None:
    s = sup(Strategy.ONE_FOR_ONE, RestartType.TRANSIENT)
    assert s.on_exit("c0", abnormal=False, now_s=0).action is Action.IGNORE
    assert s.order == ["c0"]  # a transient child is kept, only not restarted
    assert s.on_exit("c0", abnormal=True, now_s=0).action is Action.RESTART


def test_temporary_child_is_never_restarted_and_is_forgotten() -> None:
    s = sup(Strategy.ONE_FOR_ONE, RestartType.TEMPORARY, P)
    d = s.on_exit("c0", abnormal=True, now_s=0)
    assert d.action is Action.IGNORE and d.forget == ("c0",)
    assert s.order == ["c1"]


def test_permanent_child_clean_exit_is_restarted() -> None:
    assert sup(Strategy.ONE_FOR_ONE, P).on_exit("c0", abnormal=False, now_s=0).action is Action.RESTART


def test_one_for_all_does_not_restart_temporary_sibling_stopped_for_another_crash() -> None:
    s = sup(Strategy.ONE_FOR_ALL, P, RestartType.TEMPORARY, P)
    d = s.on_exit("c0", abnormal=True, now_s=0)
    assert d.stop == ("c2", "c1")
    assert d.start == ("c0", "c2")
    assert d.forget == ("c1",)


def test_crashes_beyond_intensity_within_period_escalate_and_stop_all_children() -> None:
    s = sup(Strategy.ONE_FOR_ONE, P, P, intensity=2, period_s=10)
    assert s.on_exit("c0", abnormal=True, now_s=0).action is Action.RESTART
    assert s.on_exit("c0", abnormal=True, now_s=1).action is Action.RESTART
    d = s.on_exit("c0", abnormal=True, now_s=2)
    assert d.action is Action.ESCALATE
    assert d.stop == ("c1",)
    assert "INTENSITY_EXCEEDED" in d.reason
    assert s.on_exit("c1", abnormal=True, now_s=3).action is Action.ESCALATE


def test_crashes_spread_wider_than_period_never_escalate() -> None:
    s = sup(Strategy.ONE_FOR_ONE, P, intensity=1, period_s=5)
    for k in range(20):
        assert s.on_exit("c0", abnormal=True, now_s=k * 5.0).action is Action.RESTART


def test_zero_intensity_escalates_on_first_crash() -> None:
    assert sup(Strategy.ONE_FOR_ONE, P, intensity=0).on_exit("c0", abnormal=True, now_s=0).action is Action.ESCALATE


@settings(max_examples=150, deadline=None)
@given(
    intensity=st.integers(0, 5),
    period=st.floats(0.5, 20),
    gaps=st.lists(st.floats(0, 10), min_size=1, max_size=30),
)
def test_intensity_window_admits_exactly_when_at_most_n_restarts_in_period(
    intensity: int, period: float, gaps: list[float]
) -> None:
    w = IntensityWindow(intensity, period)
    times: list[float] = []
    t = 0.0
    for g in gaps:
        t += g
        times.append(t)
        in_window = [x for x in times if t - x < period]
        assert w.admit(t) == (len(in_window) <= intensity)


@settings(max_examples=100, deadline=None)
@given(attempt=st.integers(1, 30), seed=st.integers(0, 1000), jitter=st.floats(0, 1))
def test_backoff_grows_exponentially_within_jitter_and_never_exceeds_max(
    attempt: int, seed: int, jitter: float
) -> None:
    b = Backoff(initial_s=0.05, max_s=3.0, multiplier=2.0, jitter=jitter)
    d = backoff_delay(b, attempt, random.Random(seed))
    base = min(3.0, 0.05 * 2 ** (attempt - 1))
    assert base * (1 - jitter) - 1e-12 <= d <= min(3.0, base * (1 + jitter)) + 1e-12


def test_backoff_rejects_zero_attempt() -> None:
    with pytest.raises(ValueError, match="1-based"):
        backoff_delay(Backoff(), 0, random.Random(0))


def test_child_spec_refuses_bad_import_path_and_supervisor_owned_ray_options() -> None:
    with pytest.raises(ValidationError, match="cls"):
        ChildSpec(id="x", cls="not a path")
    with pytest.raises(ValidationError, match="max_restarts"):
        ChildSpec(id="x", cls="a.b:C", ray_options={"max_restarts": 3})
    with pytest.raises(ValidationError, match="id"):
        ChildSpec(id="a/b", cls="a.b:C")


def test_supervisor_spec_refuses_duplicate_child_ids() -> None:
    c = ChildSpec(id="x", cls="a.b:C")
    with pytest.raises(ValidationError, match="two children"):
        SupervisorSpec(id="s", children=(c, c))


def test_default_tree_has_the_design_shape_and_strategies() -> None:
    t = default_tree(TreeConfig(market_watchers=2, strategists=2))
    assert [c.id for c in t.children] == ["services", "data", "decision", "execution"]
    assert supervisor_at(t, "root/services").strategy is Strategy.ONE_FOR_ALL
    assert supervisor_at(t, "root/execution").strategy is Strategy.REST_FOR_ONE
    assert [c.id for c in supervisor_at(t, "root/execution").children] == ["risk_officer", "trader"]
    agents = agents_in(t)
    assert agents["market_watcher_2"][0] == "root/data/market_watcher_2"
    assert agents["strategist_2"][0] == "root/decision/strategist_2"
    assert agents["trader"][1].cls == "agents.trader:Trader"
    for agent_id, (path, _spec) in agents.items():
        if agent_id in ROLE_BRANCH:
            assert path.split("/")[1] == ROLE_BRANCH[agent_id] or agent_id == "journal"


def test_adding_and_removing_an_agent_round_trips_through_json() -> None:
    t = default_tree()
    t2 = add_agent(t, "root/decision", agent_child("strategist", "s2", {"x": 1}))
    restored = SupervisorSpec.model_validate_json(t2.model_dump_json())
    assert restored == t2
    assert agents_in(restored)["s2"][0] == "root/decision/s2"
    with pytest.raises(ValueError, match="already exists"):
        add_agent(t2, "root/decision", agent_child("strategist", "s2"))
    assert "s2" not in agents_in(remove_agent(t2, "s2"))
    with pytest.raises(KeyError):
        remove_agent(t, "nobody")


def test_default_tree_escalates_a_child_that_crash_loops_at_ray_restart_speed() -> None:
    """A Ray actor takes ~2 s to come back; a child that dies on every start must still escalate."""
    tree = default_tree(TreeConfig())
    execution = supervisor_at(tree, "root/execution")
    state = SupervisorState(execution)
    now, decisions = 0.0, []
    for _ in range(5):
        d = state.on_exit("trader", abnormal=True, now_s=now)
        decisions.append(d.action)
        if d.action is Action.ESCALATE:
            break
        now += 2.0 + d.delay_s  # restart cost plus backoff, then it crashes again at once
    assert decisions == [Action.RESTART] * 3 + [Action.ESCALATE]
