"""Scenario files: the shipped six validate; bad input is refused naming the field and the line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from cluster.errors import UserError
from cluster.runtime_local import LocalRuntime
from simulation.scenario import (
    Scenario,
    apply_overrides,
    load_scenario,
    parse_set_options,
    resolve_scenario_path,
    scenario_from_data,
)
from simulation.yaml_lines import YamlLineError, load_with_lines

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ("quiet_market", "arbitrage_bursts", "neg_risk_election", "crypto_15m", "informed_whale", "news_shock")

BASE = """\
name: t
duration_s: 60
markets:
  - id: m1
    truth: {kind: fixed, p0: 0.4}
crowd:
  noise:
    kind: noise
    count: 3
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "s.yaml"
    p.write_text(text)
    return p


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_scenario_validates_and_is_found_by_name(name: str) -> None:
    path = resolve_scenario_path(name, (ROOT / "scenarios",))
    sc = load_scenario(path)
    assert sc.name == name
    assert sc.market_ids()


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_scenario_configures_our_society(name: str) -> None:
    from simulation.runner import build_exchange
    from simulation.society import build_society
    from simulation.world import build_world

    sc = load_scenario(ROOT / "scenarios" / f"{name}.yaml")
    members = build_society(sc, build_exchange(build_world(sc, 1), LocalRuntime(seed=1)), 1)
    assert {m.agent.agent_id for m in members} == {
        "market_watcher", "whale_tracker", "news_scout", "strategist", "risk_officer", "trader"
    }


def test_bad_agent_override_names_the_agent_and_field() -> None:
    from simulation.runner import build_exchange
    from simulation.society import build_society
    from simulation.world import build_world

    data = yaml.safe_load(BASE)
    data["ours"] = {"agents": {"risk_officer": {"max_trade_fraction": "7"}}}
    sc = scenario_from_data(data)
    with pytest.raises(UserError, match=r"ours\.agents\.risk_officer\.max_trade_fraction"):
        build_society(sc, build_exchange(build_world(sc, 1), LocalRuntime(seed=1)), 1)


def test_bad_agent_config_in_the_file_names_its_line(tmp_path: Path) -> None:
    text = BASE + "ours:\n  agents:\n    risk_officer:\n      max_trade_fraction: 7\n"
    with pytest.raises(UserError) as ei:
        load_scenario(write(tmp_path, text))
    assert ":13: ours.agents.risk_officer.max_trade_fraction:" in str(ei.value)
    text = BASE + "ours:\n  agents:\n    strategist:\n      strategies: {nope: {}}\n"
    with pytest.raises(UserError, match=r":13: ours\.agents\.strategist\.strategies: .*unknown strategy 'nope'"):
        load_scenario(write(tmp_path, text))
    text = BASE + "ours:\n  agents:\n    janitor: {}\n"
    with pytest.raises(UserError, match=r":12: ours\.agents\.janitor: not an agent"):
        load_scenario(write(tmp_path, text))


def test_crypto_scenario_has_about_1100_crowd_agents() -> None:
    sc = load_scenario(ROOT / "scenarios" / "crypto_15m.yaml")
    assert 1000 <= sc.crowd_size <= 1200


def test_unknown_field_is_named_with_its_line(tmp_path: Path) -> None:
    text = BASE + "    cout: 5\n"
    with pytest.raises(UserError) as ei:
        load_scenario(write(tmp_path, text))
    msg = str(ei.value)
    assert ":10:" in msg
    assert "crowd.noise.cout" in msg
    assert "unknown field" in msg
    assert "\n" not in msg


def test_invalid_value_is_named_with_its_line(tmp_path: Path) -> None:
    text = BASE.replace("count: 3", "count: -4")
    with pytest.raises(UserError) as ei:
        load_scenario(write(tmp_path, text))
    msg = str(ei.value)
    assert ":9:" in msg and "crowd.noise.count" in msg


def test_price_outside_unit_interval_is_refused_with_line(tmp_path: Path) -> None:
    text = BASE.replace("p0: 0.4", "p0: 1.4")
    with pytest.raises(UserError) as ei:
        load_scenario(write(tmp_path, text))
    assert ":5:" in str(ei.value) and "markets.0.truth.p0" in str(ei.value)


def test_cross_field_error_names_the_path_and_line(tmp_path: Path) -> None:
    text = BASE + "news:\n  - at_s: 10\n    title: x\n    effects:\n      - {market: nope, to: 0.9}\n"
    with pytest.raises(UserError) as ei:
        load_scenario(write(tmp_path, text))
    msg = str(ei.value)
    assert "news.0.effects.0.market" in msg and "nope" in msg
    assert ":14:" in msg


def test_gap_on_a_binary_market_is_refused_with_a_hint(tmp_path: Path) -> None:
    text = BASE + "gaps:\n  - event: m1\n"
    with pytest.raises(UserError, match=r"gaps\.0\.event.*neg-risk"):
        load_scenario(write(tmp_path, text))


def test_invalid_yaml_reports_the_line(tmp_path: Path) -> None:
    text = BASE + "  bad: [unclosed\n"
    with pytest.raises(UserError) as ei:
        load_scenario(write(tmp_path, text))
    assert "invalid YAML" in str(ei.value)
    assert ":1" in str(ei.value)


def test_duplicate_key_is_refused_with_its_line(tmp_path: Path) -> None:
    text = BASE + "duration_s: 30\n"
    with pytest.raises(UserError, match=r":10: invalid YAML: duplicate key 'duration_s'"):
        load_scenario(write(tmp_path, text))


def test_missing_file_and_non_mapping_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no scenario file"):
        load_scenario(tmp_path / "absent.yaml")
    with pytest.raises(UserError, match="mapping"):
        load_scenario(write(tmp_path, "- 1\n- 2\n"))
    with pytest.raises(UserError, match="no scenario file"):
        resolve_scenario_path("no_such_scenario", (tmp_path,))


def test_scenario_is_frozen() -> None:
    sc = scenario_from_data(yaml.safe_load(BASE))
    with pytest.raises(Exception, match="frozen"):
        sc.duration_s = 5  # type: ignore[misc]


def test_overrides_set_nested_fields_and_list_items() -> None:
    data = yaml.safe_load(BASE)
    out = apply_overrides(data, {"crowd.noise.count": 7, "markets.0.truth.p0": 0.6, "ours.bankroll": 500})
    sc = scenario_from_data(out)
    assert sc.crowd["noise"].count == 7
    assert sc.markets[0].truth.p0 == 0.6
    assert str(sc.ours.bankroll) == "500"
    assert data["crowd"]["noise"]["count"] == 3  # the input is left alone


@pytest.mark.parametrize(
    ("key", "match"),
    [
        ("crowd.whales.count", "no 'whales'"),
        ("markets.3.truth.p0", "out of range"),
        ("markets.x.truth", "must be a list index"),
        ("duration_s.x", "not a mapping"),
    ],
)
def test_bad_override_path_is_a_user_error(key: str, match: str) -> None:
    with pytest.raises(UserError, match=match):
        apply_overrides(yaml.safe_load(BASE), {key: 1})


def test_overrides_create_nested_agent_configs() -> None:
    out = apply_overrides(yaml.safe_load(BASE), {"ours.agents.strategist.strategies.whale_copy.min_trades": 2})
    assert out["ours"]["agents"]["strategist"]["strategies"]["whale_copy"]["min_trades"] == 2
    sc = scenario_from_data(out)
    assert sc.ours.agents["strategist"]["strategies"]["whale_copy"]["min_trades"] == 2


def test_parse_set_options_parses_scalars_and_refuses_garbage() -> None:
    assert parse_set_options(["a.b=1,2.5,true,x"]) == {"a.b": [1, 2.5, True, "x"]}
    for bad in ("novalue", "a.b=", "=3", "a..b=1", "a=[1"):
        with pytest.raises(UserError):
            parse_set_options([bad])
    with pytest.raises(UserError, match="twice"):
        parse_set_options(["a=1", "a=2"])


def test_event_probabilities_must_sum_to_one() -> None:
    data = {
        "name": "e",
        "duration_s": 10,
        "events": [{"id": "ev", "outcomes": [{"id": "a", "p0": 0.5}, {"id": "b", "p0": 0.4}]}],
    }
    with pytest.raises(UserError, match=r"events\.0.*sum to 1"):
        scenario_from_data(data)


keys = st.text(alphabet="abcdefghij_", min_size=1, max_size=8)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(keys, st.dictionaries(keys, st.integers(-5, 5), min_size=1, max_size=4), min_size=1, max_size=5))
def test_line_map_points_at_each_key(doc: dict[str, dict[str, int]]) -> None:
    text = yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)
    value, lines = load_with_lines(text)
    assert value == doc
    rows = text.splitlines()
    for k, inner in doc.items():
        assert rows[lines[(k,)] - 1].startswith(f"{k}:")
        for k2 in inner:
            assert rows[lines[(k, k2)] - 1].strip().startswith(f"{k2}:")


def test_yaml_line_error_carries_the_line() -> None:
    with pytest.raises(YamlLineError) as ei:
        load_with_lines("a: 1\nb: [\n")
    assert ei.value.line is not None and ei.value.line >= 2


def test_model_validates_directly_without_yaml() -> None:
    sc = Scenario.model_validate(yaml.safe_load(BASE))
    assert sc.crowd_size == 3
