"""Alerts, the pure part: what deserves an operator's attention, and how often to say it.

Why pure (no Ray, no network, no threads, no clock of its own): the rules that turn the society's
records into alerts, the dedupe that turns a storm into one alert with a count, the rate limit and
the retry schedule of a failing target are the parts worth property-testing, and they are the same
whether the records come from a simulation's in-process journal or from the live tree's journal
actor. :mod:`cluster.alert_sender` runs them on a thread of their own and talks to apprise.

Where the events come from: everything alert-worthy is already journalled — the risk officer's
:class:`TradingStateChange` (HALTED, REDUCING and why, the kill switch among the reasons), the
trader's ``RECONCILE_FAILED`` :class:`RiskEvent`, the supervisors' :class:`AgentEvent` (crash,
restart, escalate), our :class:`PnLSnapshot` — so the journal's writer is the one place alerts
observe (:meth:`cluster.journal.Journal.add_observer`). A venue's connection (up/down) is fed by
the venue's owner through :meth:`AlertRules.link`.

Secrets: a target's URL carries its token (a Telegram bot token, a Discord webhook secret, an
e-mail password). URLs live in :class:`pydantic.SecretStr` and only :func:`redact_url`'s form is
ever shown — in logs, status, the journal, reprs and the alerts themselves.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from protocols import AgentEvent, PnLSnapshot, ReasonCode, RiskEvent, TradingState, TradingStateChange
from protocols.base import Payload
from protocols.retry import exponential_backoff

Severity = Literal["info", "warning", "critical"]

NS_PER_S = 1_000_000_000


# -- configuration ----------------------------------------------------------------------------------


class AlertConfig(BaseModel):
    """The ``alerts:`` section of ``polyagents up --config`` (and ``--alert URL`` on the CLI).

    Every knob has a default that suits a human on a phone: one alert per event, a storm folded
    into one line with a count every ``dedupe_window_s``, never more than ``max_per_minute``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    urls: tuple[SecretStr, ...] = ()
    """One apprise URL per target: ``tgram://``, ``discord://``, ``slack://``, ``mailto://``,
    ``json://``/``jsons://`` (a JSON webhook) ... Secret: shown only as :func:`redact_url` has it."""
    dedupe_window_s: float = Field(default=300.0, gt=0)
    max_per_minute: int = Field(default=20, ge=1)
    restart_storm: int = Field(default=3, ge=2)
    """This many restarts of one agent within ``restart_storm_window_s`` (event time) is a storm."""
    restart_storm_window_s: float = Field(default=60.0, gt=0)
    disconnect_after_s: float = Field(default=30.0, gt=0)
    """A venue connection down longer than this is an alert (once per outage)."""
    daily_pnl: bool = True
    """A PnL summary when a UTC day ends (and for the day so far when the run stops)."""
    queue_size: int = Field(default=1000, ge=1)
    retries: int = Field(default=5, ge=0)
    retry_initial_s: float = Field(default=1.0, gt=0)
    retry_cap_s: float = Field(default=60.0, gt=0)
    send_timeout_s: float = Field(default=10.0, gt=0)
    """How long a stopping run waits for its last alerts to leave (never for a dead target longer)."""

    @field_validator("urls", mode="before")
    @classmethod
    def _one_or_many(cls, v: object) -> object:
        if isinstance(v, (str, SecretStr)):
            return (v,)
        return v

    @field_validator("urls")
    @classmethod
    def _schemes(cls, v: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        for s in v:
            url = s.get_secret_value()
            if not _SCHEME.match(url):
                raise ValueError(f"not an apprise URL (expected scheme://...): {redact_url(url)}")
        return v

    def plain_urls(self) -> list[str]:
        """The URLs themselves, for the sender alone."""
        return [s.get_secret_value() for s in self.urls]

    def labels(self) -> list[str]:
        return [redact_url(u) for u in self.plain_urls()]


def merge_alert_config(section: dict[str, object] | None, cli_urls: list[str] | None) -> AlertConfig | None:
    """The config file's ``alerts:`` section plus ``--alert URL`` flags (added, never replacing);
    ``None`` when there is no target at all (no alert machinery is started)."""
    data = dict(section or {})
    raw = data.get("urls") or []
    urls = [raw] if isinstance(raw, str) else list(raw)  # type: ignore[call-overload]
    urls += list(cli_urls or [])
    if not urls:
        return None
    data["urls"] = urls
    return AlertConfig.model_validate(data)


# -- redaction --------------------------------------------------------------------------------------

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://(.*)$", re.S)
_HOST = re.compile(r"^(localhost|\d{1,3}(\.\d{1,3}){3}|\[[0-9A-Fa-f:]+\]|[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})"
                   r"(:\d{1,5})?$")


def redact_url(url: str) -> str:
    """A URL as it may be shown: the scheme and, when it is a real host name, the host — never
    user, password, path or query (where apprise URLs keep tokens; for ``tgram://`` or
    ``discord://`` the "host" itself is the token, so anything not shaped like a host is hidden).

    >>> redact_url("tgram://123456:AAHsecret/42")
    'tgram://***'
    >>> redact_url("jsons://user:pw@hooks.example.com/abc?token=x")
    'jsons://hooks.example.com/***'
    """
    m = _SCHEME.match(url.strip())
    if m is None:
        return "***"
    scheme, rest = m.group(1).lower(), m.group(2)
    netloc, sep, tail = rest.partition("/")
    q = netloc.find("?")
    if q >= 0:
        netloc, tail, sep = netloc[:q], "?", "/"
    host = netloc.rsplit("@", 1)[-1]
    shown = host if _HOST.match(host) else "***"
    if sep and tail.strip("/") and shown != "***":
        shown += "/***"
    return f"{scheme}://{shown}"


def secret_parts(url: str) -> list[str]:
    """The pieces of a URL that may be secret (for :func:`scrub`): the URL itself, its user info,
    each path segment and query value, and a host that is not shaped like one."""
    m = _SCHEME.match(url.strip())
    if m is None:
        return [url] if url else []
    rest = m.group(2)
    parts = [url.strip(), rest]
    netloc, _, tail = rest.partition("/")
    netloc, _, query0 = netloc.partition("?")
    if "@" in netloc:
        user, host = netloc.rsplit("@", 1)
        parts += [user, *user.split(":")]
    else:
        host = netloc
    if not _HOST.match(host):
        parts += [host, *host.split(":")]
    path, _, query = tail.partition("?")
    parts += path.split("/")
    for kv in (query + "&" + query0).split("&"):
        parts.append(kv.partition("=")[2])
    return sorted({p for p in parts if len(p) >= 4}, key=len, reverse=True)


def scrub(text: str, urls: list[str]) -> str:
    """``text`` with every secret-looking part of ``urls`` replaced by ``***`` (an exception's
    message from a target's library may quote the URL it failed on)."""
    for url in urls:
        for part in secret_parts(url):
            text = text.replace(part, "***")
    return text


# -- alerts -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Alert:
    """One thing to tell a human. ``key`` is what dedupe folds on (same key, same storm)."""

    kind: str
    key: str
    severity: Severity
    title: str
    body: str
    time_ns: int
    count: int = 1
    """How many occurrences this alert stands for (a storm's summary has count > 1)."""

    def text(self) -> str:
        """The message as sent: the body, then a machine-readable last line."""
        when = datetime.fromtimestamp(self.time_ns / NS_PER_S, tz=UTC).isoformat(timespec="seconds")
        return f"{self.body}\nkind={self.kind} key={self.key} count={self.count} at={when}"


_STATE_SEVERITY: dict[TradingState, Severity] = {
    TradingState.HALTED: "critical",
    TradingState.REDUCING: "warning",
    TradingState.ACTIVE: "info",
}


@dataclass
class _Day:
    day: str
    first: PnLSnapshot
    last: PnLSnapshot


class AlertRules:
    """Journal records (and venue link changes) → alerts. Stateful only where a rule needs history:
    restarts per agent (a storm), the day's first and last PnL per account, links down since when."""

    def __init__(self, cfg: AlertConfig) -> None:
        self.cfg = cfg
        self._restarts: dict[str, deque[int]] = {}
        self._days: dict[str, _Day] = {}
        self._down: dict[str, int] = {}
        self._down_alerted: set[str] = set()
        self.last_ns = 0

    def observe(self, payload: Payload, agent: str = "") -> list[Alert]:
        t = int(getattr(payload, "time_ns", 0) or 0)
        self.last_ns = max(self.last_ns, t)
        if isinstance(payload, TradingStateChange):
            return self._state(payload)
        if isinstance(payload, RiskEvent):
            return self._risk(payload, agent)
        if isinstance(payload, AgentEvent):
            return self._agent(payload)
        if isinstance(payload, PnLSnapshot):
            return self._pnl(payload)
        return []

    def _state(self, p: TradingStateChange) -> list[Alert]:
        if p.state is p.previous:
            return []  # a state asked for again (a restarted trader's query), not a change
        why = p.reason.value if p.reason is not None else "no reason code"
        if p.reason is ReasonCode.KILL_SWITCH and p.state is TradingState.HALTED:
            return [Alert("kill_switch", "kill_switch", "critical", "Kill switch: trading HALTED",
                          f"{p.previous.value} -> HALTED: {p.detail or 'kill switch'}", p.time_ns)]
        return [Alert("trading_state", f"trading_state:{p.state.value}", _STATE_SEVERITY[p.state],
                      f"Trading {p.state.value} ({why})", f"{p.previous.value} -> {p.state.value} ({why}): {p.detail}",
                      p.time_ns)]

    def _risk(self, p: RiskEvent, agent: str) -> list[Alert]:
        # halts by the risk officer come with their state change (alerted there); a failed
        # reconcile is the trader's own halt and has no state change of its own
        if p.code is ReasonCode.RECONCILE_FAILED:
            return [Alert("reconcile_failed", f"reconcile_failed:{agent}", "critical",
                          f"Reconcile failed ({agent or 'trader'}): not trading", p.detail, p.time_ns)]
        return []

    def _agent(self, p: AgentEvent) -> list[Alert]:
        if p.event == "crash":
            return [Alert("agent_crash", f"agent_crash:{p.agent_id}", "warning", f"Agent {p.agent_id} crashed",
                          f"{p.agent_id} ({p.role or 'agent'}) crashed: {p.detail}; its supervisor restarts it",
                          p.time_ns)]
        if p.event == "escalate":
            return [Alert("escalation", f"escalation:{p.agent_id}", "critical",
                          f"Supervisor {p.agent_id} gave up and escalated",
                          f"{p.agent_id}: restart intensity exceeded ({p.detail}); its children were stopped "
                          f"and its parent decides", p.time_ns)]
        if p.event == "restart":
            window = self._restarts.setdefault(p.agent_id, deque())
            window.append(p.time_ns)
            horizon = p.time_ns - int(self.cfg.restart_storm_window_s * NS_PER_S)
            while window and window[0] < horizon:
                window.popleft()
            if len(window) >= self.cfg.restart_storm:
                n = len(window)
                window.clear()
                return [Alert("restart_storm", f"restart_storm:{p.agent_id}", "critical",
                              f"Restart storm: {p.agent_id}",
                              f"{p.agent_id} restarted {n} times within {self.cfg.restart_storm_window_s:g} s",
                              p.time_ns, count=1)]
        return []

    def _pnl(self, p: PnLSnapshot) -> list[Alert]:
        if not self.cfg.daily_pnl:
            return []
        day = datetime.fromtimestamp(p.time_ns / NS_PER_S, tz=UTC).date().isoformat()
        cur = self._days.get(p.account)
        if cur is None:
            self._days[p.account] = _Day(day, p, p)
            return []
        if p.time_ns < cur.last.time_ns:
            return []  # an older snapshot from a second recorder: the day's last stays the last
        if day == cur.day:
            cur.last = p
            return []
        out = [self._summary(p.account, cur, final=False)]
        self._days[p.account] = _Day(day, cur.last, p)  # the new day starts from the old day's close
        return out

    @staticmethod
    def _summary(account: str, d: _Day, *, final: bool) -> Alert:
        change = d.last.equity - d.first.equity
        fees = d.last.fees - d.first.fees
        when = "so far (the run stopped)" if final else "day closed"
        body = (f"{account} {d.day} {when}: equity {_money(d.last.equity)} ({_signed(change)}), "
                f"realized {_money(d.last.realized)}, unrealized {_money(d.last.unrealized)}, "
                f"fees {_money(fees)}, exposure {_money(d.last.exposure)}")
        return Alert("daily_pnl", f"daily_pnl:{account}:{d.day}", "info",
                     f"PnL {d.day} {account}: {_signed(change)} pUSD", body, d.last.time_ns)

    def link(self, name: str, up: bool, time_ns: int) -> list[Alert]:
        """A venue connection went down or came back. Down alone alerts nothing yet (a reconnect
        within ``disconnect_after_s`` is routine): :meth:`tick` alerts once it lasted; coming back
        after an alerted outage says so."""
        self.last_ns = max(self.last_ns, time_ns)
        if not up:
            self._down.setdefault(name, time_ns)
            return []
        since = self._down.pop(name, None)
        if since is None or name not in self._down_alerted:
            return []
        self._down_alerted.discard(name)
        secs = (time_ns - since) / NS_PER_S
        return [Alert("venue_reconnected", f"venue_link:{name}:up", "info", f"Venue {name} back",
                      f"{name} reconnected after {secs:.0f} s down", time_ns)]

    def tick(self, now_ns: int) -> list[Alert]:
        """Time passed: a link down longer than ``disconnect_after_s`` alerts (once per outage)."""
        out = []
        limit = int(self.cfg.disconnect_after_s * NS_PER_S)
        for name, since in sorted(self._down.items()):
            if name not in self._down_alerted and now_ns - since >= limit:
                self._down_alerted.add(name)
                out.append(Alert("venue_disconnect", f"venue_link:{name}", "critical",
                                 f"Venue {name} disconnected",
                                 f"{name} down for {(now_ns - since) / NS_PER_S:.0f} s "
                                 f"(limit {self.cfg.disconnect_after_s:g} s); its books are stale", now_ns))
        return out

    def finish(self) -> list[Alert]:
        """The run stops: the day so far, per account (when a PnL moved at all)."""
        out = [self._summary(a, d, final=True) for a, d in sorted(self._days.items())]
        self._days.clear()
        return out


def _money(x: Decimal) -> str:
    return f"{x:.2f}"


def _signed(x: Decimal) -> str:
    return f"{x:+.2f}"


# -- dedupe and rate limit --------------------------------------------------------------------------


@dataclass
class _Storm:
    until_s: float
    first: Alert
    last: Alert
    suppressed: int = 0


@dataclass
class PolicyStats:
    offered: int = 0
    passed: int = 0
    folded: int = 0
    """Occurrences folded into a storm (sent later as one alert with a count)."""
    rate_limited: int = 0
    """Alerts held back by the rate limit (sent later as one digest)."""


@dataclass
class AlertPolicy:
    """Dedupe by key and a global rate limit, on the sender's own (monotonic, seconds) clock.

    The first alert of a key goes out at once and opens a window of ``window_s``; more of the same
    key inside it are folded, and when the window closes one alert says how many there were (and
    opens the next window, so a storm that goes on is one alert per window). A token bucket of
    ``per_minute`` bounds what leaves in total; what it holds back is one digest alert later.
    Invariants (property-tested): every offered occurrence is accounted for exactly once (passed,
    folded into a summary's count, or in a digest's count); no key gets two alerts within one
    window; at most ``per_minute`` alerts leave in any 60 s.
    """

    window_s: float = 300.0
    per_minute: int = 20
    stats: PolicyStats = field(default_factory=PolicyStats)
    _storms: dict[str, _Storm] = field(default_factory=dict)
    _sent: deque[float] = field(default_factory=deque)
    _held: list[Alert] = field(default_factory=list)

    def offer(self, alert: Alert, now_s: float) -> list[Alert]:
        self.stats.offered += 1
        out = self.due(now_s)
        storm = self._storms.get(alert.key)
        if storm is not None and now_s < storm.until_s:
            storm.suppressed += alert.count
            storm.last = alert
            self.stats.folded += alert.count
            return out
        self._storms[alert.key] = _Storm(now_s + self.window_s, alert, alert)
        out.extend(self._limit([alert], now_s))
        return out

    def due(self, now_s: float) -> list[Alert]:
        """Storm summaries whose window closed, and the digest when the bucket has room again."""
        out: list[Alert] = []
        for key in sorted(self._storms):
            st = self._storms[key]
            if now_s < st.until_s:
                continue
            if st.suppressed:
                out.append(self._summary(st))
                self._storms[key] = _Storm(now_s + self.window_s, st.first, st.last)
            else:
                del self._storms[key]
        return self._limit(out, now_s)

    def drain(self, now_s: float) -> list[Alert]:
        """Stopping: every folded storm is said now, and whatever the rate limit held back, as one
        digest (a stopping run does not wait a minute for its bucket)."""
        out = [self._summary(st) for _, st in sorted(self._storms.items()) if st.suppressed]
        self._storms.clear()
        if self._held:
            out.insert(0, self._digest())
        self.stats.passed += len(out)
        return out

    def _summary(self, st: _Storm) -> Alert:
        n = st.suppressed
        last = st.last
        return Alert(last.kind, last.key, last.severity, f"{last.title} (x{n} more)",
                     f"{n} more like this within {self.window_s:g} s; the last: {last.body}", last.time_ns, count=n)

    def _limit(self, alerts: list[Alert], now_s: float) -> list[Alert]:
        while self._sent and self._sent[0] <= now_s - 60.0:
            self._sent.popleft()
        queue = alerts
        if self._held and len(self._sent) < self.per_minute:
            queue = [self._digest(), *alerts]
        out = []
        for a in queue:
            if len(self._sent) < self.per_minute:
                self._sent.append(now_s)
                self.stats.passed += 1
                out.append(a)
            else:
                self.stats.rate_limited += 1
                self._held.append(a)
        return out

    def _digest(self) -> Alert:
        held, self._held = self._held, []
        if len(held) == 1:
            return held[0]
        n = sum(a.count for a in held)
        kinds: dict[str, int] = {}
        for a in held:
            kinds[a.kind] = kinds.get(a.kind, 0) + a.count
        worst: Severity = "critical" if any(a.severity == "critical" for a in held) else (
            "warning" if any(a.severity == "warning" for a in held) else "info")
        listing = ", ".join(f"{k} x{v}" for k, v in sorted(kinds.items()))
        return Alert("digest", "digest", worst, f"{n} alerts held back by the rate limit",
                     f"over {self.per_minute}/min: {listing}; the last: {held[-1].title}",
                     held[-1].time_ns, count=n)


# -- retry of a failing target ----------------------------------------------------------------------


@dataclass
class Pending:
    alert: Alert
    attempts: int = 0
    next_s: float = 0.0


@dataclass
class TargetQueue:
    """One target's outbox: bounded (the oldest goes when full, counted), head-of-line retry with
    the project's backoff, given up after ``retries`` retries (counted). Only this target waits:
    every target has its own queue, and nothing here ever waits on trading."""

    label: str
    maxlen: int = 1000
    retries: int = 5
    initial_s: float = 1.0
    cap_s: float = 60.0
    items: deque[Pending] = field(default_factory=deque)
    sent: int = 0
    failed: int = 0
    retried: int = 0
    dropped: int = 0
    last_error: str = ""

    def push(self, alert: Alert, now_s: float) -> None:
        if len(self.items) >= self.maxlen:
            self.items.popleft()
            self.dropped += 1
        self.items.append(Pending(alert, 0, now_s))

    def next_due(self, now_s: float) -> Pending | None:
        if self.items and self.items[0].next_s <= now_s:
            return self.items[0]
        return None

    def wait_s(self, now_s: float) -> float | None:
        return None if not self.items else max(0.0, self.items[0].next_s - now_s)

    def result(self, ok: bool, now_s: float, error: str = "", tried: Pending | None = None) -> None:
        """``tried`` (the head when it was taken) was sent: gone when sent (or out of retries), else
        due again after backoff. The sender lets go of the queue while it sends, so a full queue may
        have dropped ``tried`` meanwhile: then no other alert is taken for it, and it counts as sent
        if it got there, else as the drop it already is."""
        head = self.items[0] if tried is None else tried
        if not any(p is head for p in self.items):  # dropped while in flight, counted as dropped
            if ok:  # ... but it got there
                self.dropped -= 1
                self.sent += 1
            else:
                self.last_error = error
            return
        if ok:
            self.items.remove(head)
            self.sent += 1
            return
        self.last_error = error
        head.attempts += 1
        if head.attempts > self.retries:
            self.items.remove(head)
            self.failed += 1
            return
        self.retried += 1
        head.next_s = now_s + exponential_backoff(head.attempts, self.initial_s, self.cap_s)

    def status(self) -> dict[str, object]:
        return {"target": self.label, "sent": self.sent, "failed": self.failed, "retried": self.retried,
                "dropped": self.dropped, "queued": len(self.items), "last_error": self.last_error}
