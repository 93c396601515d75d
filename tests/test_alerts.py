"""Alerts: the rules, the dedupe/rate limit, retry of a failing target, redaction, and the sender
against a real local webhook (apprise's ``json://``)."""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Iterator
from decimal import Decimal

import pytest
from alert_receiver import Receiver, dead_port
from hypothesis import given, settings
from hypothesis import strategies as st

from cluster.alert_sender import AlertSender, send_test
from cluster.alerts import (
    Alert,
    AlertConfig,
    AlertPolicy,
    AlertRules,
    TargetQueue,
    merge_alert_config,
    redact_url,
    scrub,
)
from cluster.cli import main
from protocols import AgentEvent, PnLSnapshot, ReasonCode, RiskEvent, TradingState, TradingStateChange

S = 1_000_000_000
T0 = 1_767_225_600 * S  # 2026-01-01T00:00:00Z

SECRET_URLS = [
    ("tgram://123456789:AAHsecretBotToken/987654", ["AAHsecretBotToken", "123456789"]),
    ("discord://1122334455/webhookSecretTok", ["webhookSecretTok", "1122334455"]),
    ("slack://TOKENAAA/TOKENBBB/TOKENCCC/#ops", ["TOKENAAA", "TOKENBBB", "TOKENCCC"]),
    ("mailto://ops:hunter2pw@mail.example.com", ["hunter2pw"]),
    ("jsons://user:passw0rd@hooks.example.com/abc/SECRETPATH?token=qtoken1", ["passw0rd", "SECRETPATH", "qtoken1"]),
    ("json://127.0.0.1:9/hook/SECRETHOOK", ["SECRETHOOK"]),
]


def wait_for(cond: object, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return bool(cond())  # type: ignore[operator]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


# -- redaction ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "secrets"), SECRET_URLS)
def test_redacted_url_and_scrubbed_text_hold_no_secret_part(url: str, secrets: list[str]) -> None:
    shown = redact_url(url)
    assert shown.split("://")[0] == url.split("://")[0]
    text = scrub(f"failed to post to {url} (user {url.split('//')[1]})", [url])
    cfg = AlertConfig(urls=[url])
    for s in secrets:
        assert s not in shown and s not in text
        assert s not in repr(cfg) and s not in str(cfg) and s not in cfg.model_dump_json()
        assert s not in " ".join(cfg.labels())


def test_real_host_names_stay_visible_in_the_label() -> None:
    assert redact_url("jsons://hooks.example.com/abc") == "jsons://hooks.example.com/***"
    assert redact_url("json://127.0.0.1:8080") == "json://127.0.0.1:8080"
    assert redact_url("tgram://123:abc/42") == "tgram://***"


def test_config_merges_the_file_section_and_cli_urls_and_refuses_a_non_url_without_echoing_it() -> None:
    cfg = merge_alert_config({"urls": ["json://a.example.com/x"], "dedupe_window_s": 5}, ["tgram://1:tok/2"])
    assert cfg is not None and len(cfg.urls) == 2 and cfg.dedupe_window_s == 5
    assert merge_alert_config(None, None) is None
    rc = main(["alerts", "test", "--alert", "notaurl-SECRETX"])
    assert rc == 2


# -- rules ----------------------------------------------------------------------------------------


def _rules(**kw: object) -> AlertRules:
    return AlertRules(AlertConfig(**kw))  # type: ignore[arg-type]


def test_state_changes_alert_with_their_reason_and_a_repeated_state_does_not() -> None:
    r = _rules()
    halted = TradingStateChange(time_ns=T0, state=TradingState.HALTED, previous=TradingState.ACTIVE,
                                reason=ReasonCode.DAILY_LOSS_LIMIT, detail="lost 600 today")
    [a] = r.observe(halted, "risk_officer")
    assert (a.kind, a.severity) == ("trading_state", "critical") and "DAILY_LOSS_LIMIT" in a.title
    again = TradingStateChange(time_ns=T0 + S, state=TradingState.HALTED, previous=TradingState.HALTED)
    assert r.observe(again, "risk_officer") == []
    reducing = TradingStateChange(time_ns=T0, state=TradingState.REDUCING, previous=TradingState.ACTIVE,
                                  reason=ReasonCode.DAILY_LOSS_LIMIT)
    assert r.observe(reducing)[0].severity == "warning"
    kill = TradingStateChange(time_ns=T0, state=TradingState.HALTED, previous=TradingState.ACTIVE,
                              reason=ReasonCode.KILL_SWITCH, detail="kill switch from cli: manual")
    assert r.observe(kill)[0].kind == "kill_switch"


def test_reconcile_failure_alerts_but_a_halt_risk_event_does_not_double_its_state_change() -> None:
    r = _rules()
    rec = RiskEvent(time_ns=T0, code=ReasonCode.RECONCILE_FAILED, severity="CRITICAL", detail="3 unknown orders")
    assert [a.kind for a in r.observe(rec, "trader")] == ["reconcile_failed"]
    halt = RiskEvent(time_ns=T0, code=ReasonCode.DAILY_LOSS_LIMIT, severity="CRITICAL")
    assert r.observe(halt, "risk_officer") == []


def test_restarts_alert_once_they_make_a_storm_within_the_window() -> None:
    r = _rules(restart_storm=3, restart_storm_window_s=60)

    def restart(t_s: float) -> list[Alert]:
        return r.observe(AgentEvent(time_ns=T0 + int(t_s * S), agent_id="trader", role="trader", event="restart"))

    assert restart(0) == [] and restart(100) == [] and restart(130) == []  # 0 fell out of the window
    [storm] = restart(150)
    assert storm.kind == "restart_storm" and "3 times" in storm.body
    assert restart(151) == []  # the storm's count starts again
    crash = AgentEvent(time_ns=T0, agent_id="trader", role="trader", event="crash", detail="HANDLER_ERROR: boom")
    assert [a.kind for a in r.observe(crash)] == ["agent_crash"]
    esc = AgentEvent(time_ns=T0, agent_id="execution", role="supervisor", event="escalate", detail="4 in 60s")
    assert [a.kind for a in r.observe(esc)] == ["escalation"]


def test_a_venue_link_alerts_only_when_down_longer_than_the_limit_and_once_per_outage() -> None:
    r = _rules(disconnect_after_s=30)
    assert r.link("market_ws", False, T0) == []
    assert r.tick(T0 + 29 * S) == []
    [down] = r.tick(T0 + 31 * S)
    assert down.kind == "venue_disconnect"
    assert r.tick(T0 + 90 * S) == []
    [up] = r.link("market_ws", True, T0 + 95 * S)
    assert up.kind == "venue_reconnected" and "95 s" in up.body
    # a short blip is routine: nothing at all
    r.link("market_ws", False, T0 + 100 * S)
    assert r.link("market_ws", True, T0 + 105 * S) == [] and r.tick(T0 + 200 * S) == []


def _pnl(t_ns: int, equity: str, fees: str = "0") -> PnLSnapshot:
    e = Decimal(equity)
    return PnLSnapshot(time_ns=t_ns, account="us", realized=e - 1000, unrealized=Decimal(0), fees=Decimal(fees),
                       equity=e, exposure=Decimal(0))


def test_daily_pnl_summary_when_a_utc_day_ends_and_for_the_day_so_far_at_the_end() -> None:
    r = _rules()
    assert r.observe(_pnl(T0 + 3600 * S, "1000")) == []
    assert r.observe(_pnl(T0 + 7200 * S, "1012.5", "1.5")) == []
    [day1] = r.observe(_pnl(T0 + 86_400 * S + 60 * S, "1010"))
    assert day1.kind == "daily_pnl" and "2026-01-01" in day1.title and "+12.50" in day1.title
    assert "fees 1.50" in day1.body
    [so_far] = r.finish()
    assert "2026-01-02" in so_far.title and "-2.50" in so_far.title and "so far" in so_far.body


# -- dedupe and rate limit -------------------------------------------------------------------------


def _alert(key: str, t: float = 0.0) -> Alert:
    return Alert("k", key, "warning", f"title {key}", "body", T0 + int(t * S))


def test_a_storm_of_one_key_is_one_alert_then_one_summary_with_its_count() -> None:
    p = AlertPolicy(window_s=60, per_minute=100)
    out = [a for i in range(50) for a in p.offer(_alert("crash:x", i * 0.1), i * 0.1)]
    assert len(out) == 1 and out[0].count == 1
    [summary] = p.due(61.0)
    assert summary.count == 49 and "x49" in summary.title


def test_the_rate_limit_holds_back_what_is_over_budget_and_sends_one_digest_later() -> None:
    p = AlertPolicy(window_s=60, per_minute=3)
    out = [a for i in range(10) for a in p.offer(_alert(f"k{i}"), 1.0)]
    assert len(out) == 3
    later = p.due(62.0)
    assert len(later) == 1 and later[0].kind == "digest" and later[0].count == 7


events = st.lists(
    st.tuples(st.integers(0, 4), st.floats(0, 90, allow_nan=False), st.booleans()), min_size=1, max_size=120
)


def _play(p: AlertPolicy, evs: list[tuple[int, float, bool]]) -> list[tuple[float, Alert]]:
    now = 0.0
    out: list[tuple[float, Alert]] = []
    for key, dt, tick in evs:
        now += dt
        out += [(now, a) for a in (p.due(now) if tick else p.offer(_alert(f"key{key}"), now))]
    return out + [(now + 1e9, a) for a in p.drain(now)]


@settings(max_examples=200, deadline=None)
@given(events, st.floats(1, 600), st.integers(1, 30))
def test_policy_accounts_for_every_occurrence_exactly_once(
    evs: list[tuple[int, float, bool]], window: float, per_minute: int
) -> None:
    p = AlertPolicy(window_s=window, per_minute=per_minute)
    out = _play(p, evs)
    offered = sum(1 for _, _, tick in evs if not tick)
    assert sum(a.count for _, a in out) == offered
    assert p.stats.offered == offered


@settings(max_examples=200, deadline=None)
@given(events, st.floats(1, 600))
def test_policy_never_sends_one_key_twice_within_its_window(evs: list[tuple[int, float, bool]], window: float) -> None:
    p = AlertPolicy(window_s=window, per_minute=10_000)  # no rate limit: dedupe alone
    sent = [(t, a) for t, a in _play(p, evs) if t < 1e9]
    by_key: dict[str, list[float]] = {}
    for t, a in sent:
        by_key.setdefault(a.key, []).append(t)
    for times in by_key.values():
        assert all(b - a >= window - 1e-9 for a, b in itertools.pairwise(times))


@settings(max_examples=200, deadline=None)
@given(events, st.integers(1, 10))
def test_policy_never_sends_more_than_its_rate_in_any_minute(
    evs: list[tuple[int, float, bool]], per_minute: int
) -> None:
    p = AlertPolicy(window_s=1.0, per_minute=per_minute)
    times = sorted(t for t, _ in _play(p, evs) if t < 1e9)
    for i, t in enumerate(times):
        assert sum(1 for u in times[i:] if u < t + 60.0) <= per_minute


# -- retry of a failing target ----------------------------------------------------------------------


def test_target_queue_retries_with_backoff_then_gives_up_and_drops_the_oldest_when_full() -> None:
    q = TargetQueue("json://x", maxlen=2, retries=2, initial_s=1.0, cap_s=10.0)
    q.push(_alert("a"), 0.0)
    assert q.next_due(0.0) is not None
    q.result(False, 0.0, "refused")
    assert q.next_due(0.5) is None and q.next_due(1.0) is not None  # backoff 1 s
    q.result(False, 1.0, "refused")
    assert q.next_due(2.9) is None and q.next_due(3.0) is not None  # then 2 s
    q.result(False, 3.0, "refused")
    assert q.failed == 1 and q.retried == 2 and not q.items
    for k in "bcd":
        q.push(_alert(k), 4.0)
    assert q.dropped == 1 and [p.alert.key for p in q.items] == ["c", "d"]


@pytest.mark.parametrize("ok", [True, False])
def test_target_queue_alert_dropped_while_in_flight_takes_no_other_alert_with_it(ok: bool) -> None:
    """The sender lets go of the queue while it sends; a full queue then drops the alert in flight.
    Its outcome must not pop (or retry) the next alert, which was never sent."""
    q = TargetQueue("json://x", maxlen=2, retries=2)
    q.push(_alert("a"), 0.0)
    q.push(_alert("b"), 0.0)
    tried = q.next_due(0.0)
    assert tried is not None and tried.alert.key == "a"
    q.push(_alert("c"), 0.0)  # full: "a", in flight, is the oldest and goes
    q.result(ok, 0.0, "" if ok else "refused", tried=tried)
    assert [p.alert.key for p in q.items] == ["b", "c"] and all(p.attempts == 0 for p in q.items)
    assert (q.sent, q.dropped, q.failed) == ((1, 0, 0) if ok else (0, 1, 0))


def test_a_target_that_fails_at_first_gets_the_alert_on_a_retry(tmp_path: object) -> None:
    r = Receiver(fail_first=2)
    try:
        cfg = AlertConfig(urls=[r.url("SECRETRETRY")], retry_initial_s=0.05, retry_cap_s=0.2, retries=5)
        sender = AlertSender(cfg, tick_s=0.05)
        sender.observe(TradingStateChange(time_ns=T0, state=TradingState.HALTED, previous=TradingState.ACTIVE,
                                          reason=ReasonCode.MAX_DRAWDOWN), "risk_officer")
        assert wait_for(lambda: len(r.posts) == 1)
        status = sender.close(5.0)
        [tgt] = status["targets"]
        assert r.refused == 2 and tgt["sent"] == 1 and tgt["retried"] == 2 and tgt["failed"] == 0
        assert "SECRETRETRY" not in repr(sender) and "SECRETRETRY" not in str(status)
    finally:
        r.close()


def test_a_dead_target_never_blocks_observe_and_a_live_one_beside_it_gets_everything(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="apprise")  # apprise at its most talkative: still scrubbed
    # ours too, whatever an earlier in-process command (sim run quiets "polyagents") left set
    caplog.set_level(logging.DEBUG, logger="polyagents.alerts")
    dead = f"json://127.0.0.1:{dead_port()}/hook/DEADSECRET"
    cfg = AlertConfig(urls=[dead, receiver.url("LIVESECRET")], retry_initial_s=0.05, retry_cap_s=0.1, retries=3,
                      queue_size=50)
    sender = AlertSender(cfg, tick_s=0.05)
    for i in range(200):  # far more than the queue holds: observe drops and counts, never waits
        sender.observe(AgentEvent(time_ns=T0 + i, agent_id=f"a{i % 3}", role="x", event="crash"), "sup")
    status = sender.close(10.0)
    assert status["observed"] + status["dropped"] == 200
    dead_t, live_t = status["targets"]
    assert dead_t["sent"] == 0 and dead_t["failed"] + dead_t["dropped"] == status["alerts"]
    assert live_t["sent"] == status["alerts"] == len(receiver.posts)
    assert "DEADSECRET" not in str(status) and dead_t["target"].endswith("/***")
    assert any(r.name.startswith("urllib3") for r in caplog.records) and "not delivered" in caplog.text
    assert "DEADSECRET" not in caplog.text and "LIVESECRET" not in caplog.text


def test_alerts_test_command_reports_each_target(receiver: Receiver, capsys: pytest.CaptureFixture[str]) -> None:
    dead = f"json://127.0.0.1:{dead_port()}/hook/DEADSECRET"
    rc = main(["alerts", "test", "--alert", receiver.url("LIVESECRET"), "--alert", dead, "--json"])
    out = capsys.readouterr().out
    assert rc == 1  # one target did not take it
    assert "LIVESECRET" not in out and "DEADSECRET" not in out
    assert len(receiver.posts) == 1 and "Test alert" in receiver.posts[0]["title"]
    [ok] = [r for r in send_test(AlertConfig(urls=[receiver.url("X2SECRET")]))]
    assert ok["delivered"] and ok["target"] == f"json://127.0.0.1:{receiver.port}/***"


async def test_a_market_ws_down_longer_than_the_limit_alerts_once_and_its_return_too(receiver: Receiver) -> None:
    from venues.polymarket import PolymarketDataFeed
    from venues.polymarket.loopback import LoopbackServer
    from venues.polymarket.loopback.testing import Recorder, market

    m1 = market(1)
    first = LoopbackServer()
    first.exchange.add_market(m1)
    await first.start()
    ports = first.ports
    feed = PolymarketDataFeed(first.data_config(reconnect_initial_s=0.01, reconnect_max_s=0.05))
    rec = Recorder()
    feed.set_sink(rec)
    feed.remember([m1])
    second = LoopbackServer()
    sender = AlertSender(AlertConfig(urls=[receiver.url("WSSECRET")], disconnect_after_s=0.5), tick_s=0.05)
    try:
        await feed.subscribe_market_data(m1.token_ids)
        await rec.wait_for(lambda: feed.stats.connects == 1, "connected")
        feed.stream.on_link = lambda name, up: sender.link(name, up)
        await first.stop()  # the venue goes away: the client keeps retrying

        def kinds() -> list[str]:
            return [p["message"].rsplit("kind=", 1)[1].split()[0] for p in list(receiver.posts)]

        await rec.wait_for(lambda: "venue_disconnect" in kinds(), "the disconnect alert")
        second.exchange.add_market(m1)
        await second.start(ports=ports)
        await rec.wait_for(lambda: "venue_reconnected" in kinds(), "the reconnect alert")
        assert kinds() == ["venue_disconnect", "venue_reconnected"]
        assert "polymarket market ws #1" in receiver.posts[0]["title"]
    finally:
        sender.close(2.0)
        await feed.close()
        await second.stop()
