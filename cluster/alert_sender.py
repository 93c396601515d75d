"""Alerts, the moving part: a thread that runs :mod:`cluster.alerts`'s rules and policy, and one
sender thread per target that talks apprise.

Why threads, off every hot path: a journal record (in a simulation's event loop, or in the live
tree's journal actor) calls :meth:`AlertSender.observe`, which is a ``put_nowait`` on a bounded
queue — it never blocks and never raises (a full queue drops the observation and counts it). A
target that is down, slow or refusing (a closed port, a revoked token) only ever holds up its own
sender thread, which retries with backoff and gives up after ``retries``, counted.

Secrets: each target is known by :func:`cluster.alerts.redact_url`'s label; errors are scrubbed of
every part of the URL before they are kept or logged, and apprise's own logger is scrubbed too.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from cluster.alerts import Alert, AlertConfig, AlertPolicy, AlertRules, TargetQueue, redact_url, scrub
from protocols import AgentEvent, PnLSnapshot, RiskEvent, TradingStateChange
from protocols.base import Payload

log = logging.getLogger("polyagents.alerts")

_APPRISE_TYPE = {"info": "info", "warning": "warning", "critical": "failure"}
TITLE_PREFIX = "[polyagents] "
DAY_NS = 86_400 * 1_000_000_000


class Target(Protocol):
    label: str

    def send(self, alert: Alert) -> tuple[bool, str]:
        """Deliver one alert: (delivered, error)."""
        ...


class AppriseTarget:
    """One apprise URL (one ``Apprise`` object each, so success is known per target)."""

    def __init__(self, url: str, timeout_s: float = 10.0) -> None:
        import apprise

        self.label = redact_url(url)
        self._urls = [url]
        self._ap = apprise.Apprise()
        self.valid = bool(self._ap.add(url))
        if self.valid:
            with contextlib.suppress(Exception):
                self._ap[0].socket_connect_timeout = min(timeout_s, 4.0)
                self._ap[0].socket_read_timeout = timeout_s

    def __repr__(self) -> str:
        return f"AppriseTarget({self.label})"

    def send(self, alert: Alert) -> tuple[bool, str]:
        if not self.valid:
            return False, "apprise does not know this URL's scheme (or the URL is incomplete)"
        try:
            ok = bool(self._ap.notify(body=alert.text(), title=TITLE_PREFIX + alert.title,
                                      notify_type=_APPRISE_TYPE[alert.severity]))
        except Exception as exc:  # a target's library must never take the sender down
            return False, scrub(f"{type(exc).__name__}: {exc}", self._urls)
        return ok, "" if ok else "the target refused or could not be reached"


class _ScrubFilter(logging.Filter):
    """apprise logs what it failed on; nothing of a URL's secrets may pass."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        with contextlib.suppress(Exception):
            record.msg = scrub(record.getMessage(), self.urls)
            record.args = None
        return True


_FILTER = _ScrubFilter()


#: Loggers that may quote a target's URL: apprise's, and the HTTP stack under it (urllib3 logs each
#: request line, path included, at DEBUG). A logger's filter sees only its own records, so each is named.
SCRUBBED_LOGGERS = ("apprise", "urllib3", "urllib3.connectionpool", "urllib3.connection", "urllib3.util.retry",
                    "requests", "requests_oauthlib", "oauthlib")


def _guard_apprise_logs(urls: list[str]) -> None:
    for name in SCRUBBED_LOGGERS:
        lg = logging.getLogger(name)
        if _FILTER not in lg.filters:
            lg.addFilter(_FILTER)
    apprise_log = logging.getLogger("apprise")
    if apprise_log.level == logging.NOTSET:
        apprise_log.setLevel(logging.ERROR)
    _FILTER.urls = sorted(set(_FILTER.urls) | set(urls))


_STOP = object()

#: The journal records the rules read.
OBSERVED = (TradingStateChange, RiskEvent, AgentEvent, PnLSnapshot)


class _TargetWorker:
    def __init__(self, target: Target, cfg: AlertConfig, clock: Callable[[], float]) -> None:
        self.target = target
        self.q = TargetQueue(target.label, cfg.queue_size, cfg.retries, cfg.retry_initial_s, cfg.retry_cap_s)
        self.cond = threading.Condition()
        self.clock = clock
        self.closing = False
        self.deadline: float | None = None
        self.thread = threading.Thread(target=self._run, name=f"alerts:{target.label}", daemon=True)
        self.thread.start()

    def push(self, alert: Alert) -> None:
        with self.cond:
            self.q.push(alert, self.clock())
            self.cond.notify()

    def _run(self) -> None:
        while True:
            with self.cond:
                while True:
                    now = self.clock()
                    if self.closing and (not self.q.items or (self.deadline is not None and now >= self.deadline)):
                        self.q.dropped += len(self.q.items)
                        self.q.items.clear()
                        return
                    head = self.q.next_due(now)
                    if head is not None:
                        break
                    wait = self.q.wait_s(now)
                    if self.closing and self.deadline is not None:
                        wait = min(wait if wait is not None else 1.0, max(0.0, self.deadline - now))
                    self.cond.wait(timeout=wait)
                alert = head.alert
            ok, err = self.target.send(alert)
            with self.cond:
                self.q.result(ok, self.clock(), err, tried=head)
            if not ok:
                again = 0 < head.attempts <= self.q.retries
                log.warning("alert to %s not delivered (%s); %s", self.target.label, err,
                            "retrying" if again else "given up")

    def close(self, deadline: float) -> None:
        with self.cond:
            self.closing = True
            self.deadline = deadline
            self.cond.notify()


class AlertSender:
    """Observes journal records (and venue links), turns them into alerts, sends them to every
    target. ``observe`` is safe from any thread and never blocks; ``close`` says what is pending
    (the day's PnL, folded storms) and waits at most ``send_timeout_s`` for it to leave."""

    def __init__(self, cfg: AlertConfig, *, targets: list[Target] | None = None,
                 clock: Callable[[], float] = time.monotonic, tick_s: float = 1.0,
                 clock_ns: Callable[[], int] = time.time_ns) -> None:
        self.cfg = cfg
        urls = cfg.plain_urls()
        _guard_apprise_logs(urls)
        self.targets: list[Target] = targets if targets is not None else [
            AppriseTarget(u, cfg.send_timeout_s) for u in urls
        ]
        self.rules = AlertRules(cfg)
        self.policy = AlertPolicy(cfg.dedupe_window_s, cfg.max_per_minute)
        self.clock = clock
        self.clock_ns = clock_ns
        """Event time for venue links (live: the wall clock), judged on every pass of the thread."""
        self._links = False
        self.tick_s = tick_s
        self.observed = 0
        self.dropped = 0
        self.rule_errors = 0
        self.emitted: list[Alert] = []
        self._in: queue.Queue[Any] = queue.Queue(maxsize=cfg.queue_size)
        self._pnl_lock = threading.Lock()
        self._pnl: dict[str, PnLSnapshot] = {}
        self._pnl_fresh: dict[str, PnLSnapshot] = {}
        self._workers = [_TargetWorker(t, cfg, clock) for t in self.targets]
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="alerts:rules", daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        return f"AlertSender(targets={[t.label for t in self.targets]})"

    # -- feeding (any thread, never blocks) -----------------------------------------------------------
    def observe(self, payload: Payload, agent: str = "") -> None:
        """A journal record: only the kinds a rule reads are queued (an order or a fill is not).

        PnL snapshots come often (every sample of a simulation): only the first per account, the
        last of each UTC day and the latest are kept, so they never crowd out a halt."""
        if isinstance(payload, PnLSnapshot):
            if agent.startswith("sim:"):
                return  # a simulation's own ledger samples: the trader's snapshots are the PnL we report
            day = payload.time_ns // DAY_NS
            with self._pnl_lock:
                prev = self._pnl.get(payload.account)
                self._pnl[payload.account] = payload
                self._pnl_fresh[payload.account] = payload
            if prev is None or prev.time_ns // DAY_NS != day:
                self._put(("p", prev if prev is not None else payload, agent))
            return
        if isinstance(payload, OBSERVED):
            self._put(("p", payload, agent))

    def link(self, name: str, up: bool, time_ns: int | None = None) -> None:
        """A venue connection went up or down (``time_ns`` defaults to ``clock_ns()``)."""
        self._put(("l", name, up, self.clock_ns() if time_ns is None else time_ns))

    def tick(self, now_ns: int) -> None:
        """Event time moved (venue-link timeouts are judged in event time)."""
        self._put(("t", now_ns))

    def _put(self, item: Any) -> None:
        if self._closed:
            return
        try:
            self._in.put_nowait(item)
            self.observed += 1
        except queue.Full:
            self.dropped += 1

    # -- the rules thread ---------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            try:
                item = self._in.get(timeout=self.tick_s)
            except queue.Empty:
                item = None
            if item is _STOP:
                break
            try:
                alerts = self._apply(item)
                self._emit(alerts + self.policy.due(self.clock()))
            except Exception:
                self.rule_errors += 1
                log.exception("an alert rule failed (the record is skipped)")
        try:
            self._emit(self._offer(self._latest_pnl()))
            for summary in self.rules.finish():
                self._emit(self.policy.offer(summary, self.clock()))
        except Exception:
            self.rule_errors += 1
            log.exception("the closing alert summaries failed")
        self._emit(self.policy.drain(self.clock()))

    def _latest_pnl(self) -> list[Alert]:
        with self._pnl_lock:
            latest, self._pnl_fresh = list(self._pnl_fresh.values()), {}
        return [a for p in latest for a in self.rules.observe(p)]

    def _apply(self, item: Any) -> list[Alert]:
        raw: list[Alert] = self._latest_pnl()
        if self._links:
            raw += self.rules.tick(self.clock_ns())
        if item is None:
            return self._offer(raw)
        if item[0] == "p":
            raw += self.rules.observe(item[1], item[2])
        elif item[0] == "l":
            self._links = True
            raw += self.rules.link(item[1], item[2], item[3])
        else:
            raw += self.rules.tick(item[1])
        return self._offer(raw)

    def _offer(self, raw: list[Alert]) -> list[Alert]:
        now = self.clock()
        return [out for a in raw for out in self.policy.offer(a, now)]

    def _emit(self, alerts: list[Alert]) -> None:
        for a in alerts:
            self.emitted.append(a)
            for w in self._workers:
                w.push(a)

    # -- stopping -----------------------------------------------------------------------------------
    def close(self, timeout_s: float | None = None) -> dict[str, Any]:
        """Say what is pending, wait at most ``timeout_s`` (default ``send_timeout_s``) for it to
        leave, then stop; returns :meth:`status`. Idempotent."""
        if not self._closed:
            self._closed = True
            limit = self.cfg.send_timeout_s if timeout_s is None else timeout_s
            deadline = self.clock() + limit
            self._in.put(_STOP)
            self._thread.join(timeout=limit)
            for w in self._workers:
                w.close(deadline)
            for w in self._workers:
                w.thread.join(timeout=max(0.0, deadline - self.clock()) + 1.0)
        return self.status()

    def status(self) -> dict[str, Any]:
        """Counters for ``status`` and the journal's meta: targets by their redacted label only."""
        ps = self.policy.stats
        return {
            "observed": self.observed,
            "dropped": self.dropped,
            "rule_errors": self.rule_errors,
            "alerts": len(self.emitted),
            "folded": ps.folded,
            "rate_limited": ps.rate_limited,
            "targets": [w.q.status() for w in self._workers],
        }


def send_test(cfg: AlertConfig, *, targets: list[Target] | None = None) -> list[dict[str, Any]]:
    """``polyagents alerts test``: one test alert to each target, at once, no retries; per target:
    label, delivered, error (scrubbed)."""
    _guard_apprise_logs(cfg.plain_urls())
    ts = targets if targets is not None else [AppriseTarget(u, cfg.send_timeout_s) for u in cfg.plain_urls()]
    alert = Alert("test", "test", "info", "Test alert",
                  "polyagents alerts test: if you read this, this target works.", time.time_ns())
    out = []
    for t in ts:
        ok, err = t.send(alert)
        out.append({"target": t.label, "delivered": ok, "error": err})
    return out
