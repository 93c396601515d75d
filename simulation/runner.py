"""One simulation run: world, exchange, crowd, our society, virtual clock → journal, summary, report.

What happens, in order: the world (truth paths, reference path) is drawn from the seed; the
simulated exchange lists the markets on the runtime's clock; every participant gets a funded
account; reference prices, news and resolutions are put on the runtime's queue at their times;
the runtime runs to the end of the scenario; our account's equity is sampled from the exchange's
ledger every ``sample_interval_s`` into the journal (agent ``sim:equity``); the venue's record of
our fills is journalled (agent ``sim:venue``; the journal keeps each fill once); the run's facts go
to the journal's ``meta``; the summary and the report are built *from the journal*.

Determinism: everything random derives from the seed — the world (``{seed}:truth:…``), each
agent's ``ctx.rng`` (``{seed}:{agent id}``), latencies and resolutions — and the local runtime
orders all work by (time, sequence). The same scenario and seed give the same journal hash.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from cluster.errors import UserError
from cluster.journal import Journal
from protocols import AgentEvent, Fill, MarketMark, MarketResolved, PnLSnapshot, RawNews, ReferencePrice, WalletTrade
from simulation.analysis import (
    EQUITY_AGENT,
    MARKS_AGENT,
    RUN_META_KEY,
    TRADING_TABLES,
    VENUE_AGENT,
    Analysis,
    analyze,
    journal_hash,
)
from simulation.crowd import CrowdMember, build_crowd
from simulation.monitor import ArbMonitor
from simulation.scenario import Scenario
from simulation.society import Member, build_society
from simulation.world import ONE, World, build_world
from venues.sim import SimExchange, SimExchangeConfig

log = logging.getLogger("polyagents.simulation")

NS_PER_S = 1_000_000_000


@dataclass
class RunResult:
    run_id: str
    scenario: str
    seed: int
    out_dir: Path
    journal: Path
    report: Path | None
    journal_hash: str
    wall_s: float
    events: int
    summary: dict[str, Any]
    analysis: Analysis
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return dict(self.summary)


def scenario_digest(scenario: Scenario) -> str:
    return hashlib.sha256(scenario.model_dump_json().encode()).hexdigest()[:8]


def make_run_id(scenario: Scenario, seed: int, runtime: str = "local", *, now_ns: int | None = None) -> str:
    """A run id no other run has: the UTC wall time, the scenario, seed and runtime (readable), and a
    short random part (two runs in the same second differ). ``20261203T102138Z-quiet_market-s1-local-3f9a0c``."""
    wall = datetime.fromtimestamp((time.time_ns() if now_ns is None else now_ns) / 1e9, tz=UTC)
    return f"{wall:%Y%m%dT%H%M%SZ}-{scenario.name}-s{seed}-{runtime}-{secrets.token_hex(3)}"


def claim_run_dir(run_dir: Path) -> Path:
    """Create ``run_dir`` for this run alone: an existing path is refused, never overwritten."""
    try:
        run_dir.mkdir(parents=True, exist_ok=False)
    except FileExistsError:
        raise UserError(f"run directory {run_dir} already exists: refusing to overwrite it") from None
    return run_dir


def _make_runtime(kind: str, seed: int, start_ns: int, journal: Any, metrics: Any = None) -> Any:
    if kind == "local":
        from cluster.runtime_local import LocalRuntime

        return LocalRuntime(seed=seed, start_ns=start_ns, journal=journal, metrics=metrics)
    if kind == "ray":
        import os

        # our six agents in Ray actors, stepped in lockstep with this process's virtual clock (same
        # orders and fills as local); the crowd stays in-process. Workers use this interpreter.
        os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
        try:
            from cluster.ray_runtime.lockstep import RayLockstepRuntime
        except ImportError as exc:
            raise UserError(f"--runtime ray: the Ray runtime is not available ({exc})") from None
        return RayLockstepRuntime(seed=seed, start_ns=start_ns, journal=journal)
    raise UserError(f"--runtime {kind}: expected 'local' or 'ray'")


class _WorldFilter:
    """The journal as the runtime sees it: the crowd's lifecycle records are left out.

    A thousand synthetic participants starting and stopping are not facts about our system (and
    would be most of the journal's rows); everything else passes through unchanged.
    """

    def __init__(self, journal: Journal) -> None:
        self._journal = journal
        self.skip: set[str] = set()

    async def record(self, payload: Any, *, agent: str, durable: bool = False) -> None:
        if isinstance(payload, AgentEvent) and payload.agent_id in self.skip:
            return
        await self._journal.record(payload, agent=agent, durable=durable)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._journal, name)


class _Ledger:
    """Our account as the exchange's ledger has it: equity at marks, fees, exposure."""

    def __init__(self, exchange: SimExchange, world: World, account: str) -> None:
        self.exchange = exchange
        self.world = world
        self.account = account
        self.payouts: dict[str, Decimal] = {}

    def mark(self, token: str, now: int) -> Decimal:
        """A position's value per share: its payout once resolved, else the world's true
        probability (the expected payout). Not the book's mid: a thin book, an injected gap or our
        own order would move a mid-based mark, and a complete set must be worth exactly 1."""
        if token in self.payouts:
            return self.payouts[token]
        m, is_yes = self.world.tokens[token]
        p = Decimal(repr(self.world.truth(m.id, now))).quantize(Decimal("0.000001"))
        return p if is_yes else 1 - p

    def snapshot(self, now: int) -> PnLSnapshot | None:
        if not self.exchange.has_account(self.account):
            return None
        acct = self.exchange._accounts[self.account]
        cash = Decimal(acct.cash) / ONE
        exposure = Decimal(0)
        for token, q in acct.shares.items():
            if q:
                exposure += Decimal(q) * self.mark(token, now) / ONE
        fees = Decimal(sum(f[9] for f in acct.fills)) / ONE
        realized = Decimal(sum(acct.realized.values())) / ONE
        equity = cash + exposure
        return PnLSnapshot.model_construct(
            time_ns=now,
            account=self.account,
            realized=realized,
            unrealized=equity - realized,
            fees=fees,
            equity=equity,
            exposure=exposure,
        )


    def market_marks(self, now: int) -> list[MarketMark]:
        """Every market's YES quotes and fair value (its mark) now: the report's price chart."""
        out: list[MarketMark] = []
        for sm in self.world.markets.values():
            book = self.exchange.book(sm.yes)
            out.append(
                MarketMark.model_construct(
                    time_ns=now,
                    market=sm.id,
                    token_id=sm.yes,
                    best_bid=book.bids[0][0] if book.bids else None,
                    best_ask=book.asks[0][0] if book.asks else None,
                    last_trade_price=book.last_trade_price,
                    fair_value=self.mark(sm.yes, now),
                    source="sim:truth",
                )
            )
        return out


def build_exchange(world: World, scheduler: Any) -> SimExchange:
    """The simulated exchange on the runtime's clock, with every market and event of the world listed."""
    exchange = SimExchange(SimExchangeConfig(start_ns=world.start_ns), scheduler=scheduler)
    for sm in world.markets.values():
        if sm.event_id is None:
            exchange.add_market(sm.info)
    for ev in world.events.values():
        exchange.add_neg_risk_event(ev.id, [world.markets[mid].info for mid in ev.markets], augmented=ev.augmented)
    return exchange


def _risk_limits(members: list[Member]) -> dict[str, Any]:
    """The portfolio limits of the run's risk officer, for the report (money as strings)."""
    from agents.risk_officer import RiskOfficer

    for m in members:
        if isinstance(m.agent, RiskOfficer):
            c = m.agent.config
            return {
                "bankroll": str(c.bankroll),
                "max_var_fraction": None if c.max_var_fraction is None else str(c.max_var_fraction),
                "var_confidence": c.var_confidence,
                "correlation_limit": c.correlation_limit,
                "correlations": [d.model_dump() for d in c.correlations],
            }
    return {}


async def run_scenario_async(
    scenario: Scenario,
    seed: int | None = None,
    *,
    runtime: str = "local",
    out_dir: str | Path = "runs",
    report: bool = True,
    run_id: str | None = None,
    on_runtime: Callable[[Any, Callable[[], Decimal | None]], None] | None = None,
    metrics: Any = None,
    on_phase: Callable[[str], None] | None = None,
    alerts: Any = None,
) -> RunResult:
    """Run one scenario. ``on_runtime(rt, equity)`` is called once every agent is added, before
    the run — where a caller schedules its own work on the virtual clock (the demo's live table and
    kill); ``equity()`` is our account's marked equity at the current virtual time. ``metrics`` is the
    local runtime's metrics sink (``cluster.metrics.PrometheusMetricsSink`` to export them)."""
    seed = scenario.seed if seed is None else seed
    wall0 = time.perf_counter()
    started_at = datetime.now(tz=UTC).isoformat(timespec="seconds")
    run_id = run_id or make_run_id(scenario, seed, runtime)
    run_dir = claim_run_dir(Path(out_dir) / run_id)
    journal_path = run_dir / "journal.duckdb"
    journal = Journal(journal_path, batch_size=4096)
    sender = None
    if alerts is not None:  # a cluster.alerts.AlertConfig: alerts watch the journal, off the event loop
        from cluster.alert_sender import AlertSender

        sender = AlertSender(alerts)
        journal.add_observer(sender.observe)

    world = build_world(scenario, seed)
    rt_journal = _WorldFilter(journal)
    if runtime == "ray" and on_phase is not None:
        on_phase("starting Ray (a local cluster of its own unless this process joined one)…")
    rt = _make_runtime(runtime, seed, world.start_ns, rt_journal, metrics)
    exchange = build_exchange(world, rt)
    monitor = ArbMonitor(world, exchange)

    members: list[Member] = build_society(scenario, exchange, seed) if scenario.ours.enabled else []
    crowd: list[CrowdMember] = build_crowd(scenario, world, exchange, rt)
    rt_journal.skip.update(c.agent.agent_id for c in crowd)
    for m in members:
        rt.add_agent(m.agent, venue=m.venue)
    for c in crowd:
        rt.add_agent(c.agent, venue=c.venue, continue_on_error=True)  # the crowd is the world: counted, not restarted

    _schedule_feeds(rt, scenario, world)
    _listen_to_whales(rt, exchange, crowd)
    payouts = _schedule_resolutions(rt, exchange, world, seed, journal)

    ledger = _Ledger(exchange, world, scenario.ours.account)
    ledger.payouts = payouts
    step = max(1, round(scenario.sample_interval_s * NS_PER_S))

    def sample() -> None:
        now = rt.now_ns()
        snap = ledger.snapshot(now)
        if snap is not None:
            journal.record_sync(snap, agent=EQUITY_AGENT)
            for mark in ledger.market_marks(now):
                journal.record_sync(mark, agent=MARKS_AGENT)
        if now + step < world.end_ns:
            rt.call_at(now + step, sample)

    if scenario.ours.enabled:
        sample()
    if on_phase is not None:
        await _hosts_ready(rt, on_phase)
    if on_runtime is not None:

        def equity() -> Decimal | None:
            snap = ledger.snapshot(rt.now_ns())
            return None if snap is None else snap.equity

        on_runtime(rt, equity)
    await rt.run(until_ns=world.end_ns)
    if on_phase is not None:
        on_phase("stopping the agents, writing the journal and the report")
    end = world.end_ns
    if scenario.ours.enabled:
        snap = ledger.snapshot(end)
        if snap is not None:
            journal.record_sync(snap, agent=EQUITY_AGENT)
            for mark in ledger.market_marks(end):
                journal.record_sync(mark, agent=MARKS_AGENT)
    await rt.stop()
    for m in members:
        if m.venue is not None:
            await m.venue.close()
    if exchange.has_account(scenario.ours.account):
        for f in exchange.trades(scenario.ours.account):
            journal.record_sync(Fill.model_validate(f.model_dump()), agent=VENUE_AGENT)
    journal.flush_sync()
    alert_status = sender.close() if sender is not None else None
    digest = journal_hash(journal._con)
    trading_digest = journal_hash(journal._con, TRADING_TABLES)

    final_values = {t: str(ledger.mark(t, end)) for t in sorted(world.tokens)}
    arb = monitor.finish(end)
    stats = rt.stats
    crowd_kinds: dict[str, int] = {}
    for c in crowd:
        crowd_kinds[c.kind] = crowd_kinds.get(c.kind, 0) + 1
    lat = scenario.ours.latency
    run_record = {
        "run_id": run_id,
        "scenario": scenario.name,
        "description": scenario.description,
        "seed": seed,
        "runtime": runtime,
        "started_at": started_at,
        "account": scenario.ours.account,
        "bankroll": str(scenario.ours.bankroll),
        "ours": [m.agent.agent_id for m in members],
        "duration_s": scenario.duration_s,
        "sample_interval_s": scenario.sample_interval_s,
        "start_ns": world.start_ns,
        "final_values": final_values,
        "arb": arb,
        "crowd": crowd_kinds,
        "crowd_size": len(crowd),
        "events_processed": stats.events,
        "handler_errors": stats.handler_errors,
        "crashes": [f"{aid}: {type(exc).__name__}: {exc}" for aid, exc in rt.crashes[:20]],
        "journal_hash": digest,
        "trading_hash": trading_digest,
        # what the report's portfolio-risk section needs: which markets are outcomes of one
        # neg-risk event, and the risk officer's limits (absent when no risk officer ran)
        "event_of": {m.id: m.event_id for m in world.markets.values() if m.event_id},
        "risk_limits": _risk_limits(members),
        "assumptions": {
            "fills": "price-time priority on one YES-space book per condition with complement matching "
            "(mint/merge); a trade executes at the resting order's price; no hidden liquidity, no queue "
            "position beyond time priority, self-trades allowed",
            "latency": f"our orders {lat.order_ms} ms (+U[0,{lat.order_jitter_ms}] ms), our market data "
            f"{lat.data_ms} ms (+U[0,{lat.data_jitter_ms}] ms); crowd orders arrive at once except "
            "arbitrageurs (their order_latency_ms); messages between our agents take no time",
            "fees": f"taker fee rate × (p(1−p))^exponent per share at the fill price (default rate "
            f"{scenario.fees.rate}, exponent {scenario.fees.exponent}, enabled={scenario.fees.enabled}); "
            "makers pay none; maker rebates accrue but are not paid within a run",
            "marks": "positions are valued at their payout once resolved, before that at the world's true "
            "probability (the expected payout; a book mid would let thin books and our own orders move "
            "the marks, and would not value a complete set at exactly 1)",
            "truth": "resolutions are drawn from the truth path at resolution time (reference markets: "
            "final price ≥ strike); our agents never see the truth",
        },
    }
    journal.set_meta(RUN_META_KEY, json.dumps(run_record, sort_keys=True, default=str))
    journal.close()

    analysis = analyze(journal_path)
    summary = analysis.summary()
    report_path: Path | None = None
    if report:
        from simulation.report import write_report

        report_path = write_report(analysis, run_dir)
    wall = time.perf_counter() - wall0
    summary.update(
        {
            "journal": str(journal_path),
            "report": str(report_path) if report_path is not None else None,
            "journal_hash": digest,
            "trading_hash": trading_digest,
            "runtime": runtime,
            "events": stats.events,
            "crowd_size": len(crowd),
            "wall_s": round(wall, 3),
            "handler_errors": stats.handler_errors,
        }
    )
    if alert_status is not None:
        summary["alerts"] = alert_status
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True, default=str))
    return RunResult(
        run_id=run_id,
        scenario=scenario.name,
        seed=seed,
        out_dir=run_dir,
        journal=journal_path,
        report=report_path,
        journal_hash=digest,
        wall_s=wall,
        events=stats.events,
        summary=summary,
        analysis=analysis,
        extra={"monitor": monitor, "exchange": exchange, "world": world, "crowd": crowd, "members": members},
    )


async def _hosts_ready(rt: Any, on_phase: Callable[[str], None]) -> None:
    """On Ray, each of our agents starts in an actor of its own (a worker process each: the slow
    part of a Ray run): shown as it happens, before the run's own progress. Only waits — the run
    still awaits each host itself (and handles a host that failed), and nothing is added to the
    runtime's queue, so the run is the same watched or not."""
    remotes = getattr(rt, "remotes", None)
    pending = [r.ready for r in (remotes or {}).values() if getattr(r, "ready", None) is not None]
    if not pending:
        return
    for n, ref in enumerate(pending, 1):
        on_phase(f"starting our agents' hosts on Ray: {n - 1}/{len(pending)} ready…")
        with contextlib.suppress(Exception):  # a host that failed is the run's to handle
            await ref
    on_phase(f"starting our agents' hosts on Ray: {len(pending)}/{len(pending)} ready")


def run_scenario(
    scenario: Scenario,
    seed: int | None = None,
    runtime: str = "local",
    out_dir: str | Path = "runs",
    *,
    report: bool = True,
    run_id: str | None = None,
    metrics: Any = None,
    progress: bool = False,
    alerts: Any = None,
) -> RunResult:
    """Run one scenario to its end (blocking). See the module docstring. ``progress`` shows the phase
    and the virtual clock on stderr (without adding any event to the run)."""
    if not progress:
        return asyncio.run(run_scenario_async(scenario, seed, runtime=runtime, out_dir=out_dir, report=report,
                                              run_id=run_id, metrics=metrics, alerts=alerts))
    from simulation.progress import RunProgress

    with RunProgress(scenario.duration_s) as p:
        return asyncio.run(run_scenario_async(scenario, seed, runtime=runtime, out_dir=out_dir, report=report,
                                              run_id=run_id, metrics=metrics, on_runtime=p.attach,
                                              on_phase=p.phase, alerts=alerts))


# -- scheduled inputs -------------------------------------------------------------------------------

def _schedule_feeds(rt: Any, scenario: Scenario, world: World) -> None:
    ref = world.reference
    if ref is not None:
        sym = ref.spec.symbol
        for t, p in zip(ref.times_ns, ref.prices, strict=True):
            rt.inject(
                ReferencePrice(time_ns=t, symbol=sym, price=Decimal(str(p)), source="sim"),
                sender="feed:reference",
                at_ns=t,
            )
    for i, n in enumerate(scenario.news):
        pub = world.start_ns + round((n.at_s + n.publication_delay_s) * NS_PER_S)
        if pub > world.end_ns:
            continue
        rt.inject(
            RawNews(
                time_ns=pub,
                item_id=f"{scenario.name}-news-{i}",
                source=n.source,
                title=n.title,
                body=n.body,
                published_ns=pub,
            ),
            sender="feed:news",
            at_ns=pub,
        )


def _listen_to_whales(rt: Any, exchange: SimExchange, crowd: list[CrowdMember]) -> None:
    """Whales' fills become ``WalletTrade``s, as the Data API reports large trades by wallet."""
    for c in crowd:
        if c.kind != "whale":
            continue
        wallet = c.venue.account

        def on_event(payload: Any, wallet: str = wallet) -> None:
            if isinstance(payload, Fill):
                info = exchange.market_info(payload.token_id)
                outcome = ""
                if info is not None:
                    outcome = info.outcomes[0] if payload.token_id == info.token_ids[0] else info.outcomes[1]
                rt.inject(
                    WalletTrade.model_construct(
                        time_ns=payload.time_ns,
                        trade_id=payload.fill_id,
                        wallet=wallet,
                        token_id=payload.token_id,
                        market=payload.market,
                        side=payload.side,
                        price=payload.price,
                        size=payload.size,
                        outcome=outcome,
                        tx_hash="",
                    ),
                    sender="data_api:sim",
                )

        exchange.add_account_listener(wallet, on_event)


def _schedule_resolutions(
    rt: Any, exchange: SimExchange, world: World, seed: int, journal: Journal | None = None
) -> dict[str, Decimal]:
    """Resolve each market at its time (journalled as ``MarketResolved``, agent ``sim:venue``);
    returns the dict that will hold every token's payout."""
    payouts: dict[str, Decimal] = {}
    for sm in world.markets.values():
        if sm.event_id is not None or sm.resolve_ns is None:
            continue
        t = sm.resolve_ns

        def resolve(sm: Any = sm, t: int = t) -> None:
            if sm.strike is not None and world.reference is not None:
                yes_wins = world.reference.price_at(t) >= sm.strike
            else:
                rng = random.Random(f"{seed}:resolve:{sm.id}")
                yes_wins = rng.random() < world.truth(sm.id, t)
            winner = sm.yes if yes_wins else sm.no
            payouts[sm.yes] = Decimal(1) if yes_wins else Decimal(0)
            payouts[sm.no] = Decimal(0) if yes_wins else Decimal(1)
            exchange.resolve(sm.id, winner)
            if journal is not None:
                journal.record_sync(MarketResolved(time_ns=t, market=sm.id, winning_token_id=winner), agent=VENUE_AGENT)

        rt.call_at(t, resolve)
    for ev in world.events.values():
        if ev.resolve_ns is None:
            continue
        t = ev.resolve_ns

        def resolve_event(ev: Any = ev, t: int = t) -> None:
            rng = random.Random(f"{seed}:resolve:{ev.id}")
            u = rng.random()
            acc = 0.0
            winner = ev.markets[-1]
            for mid in ev.markets:
                acc += world.truth(mid, t)
                if u < acc:
                    winner = mid
                    break
            for mid in ev.markets:
                sm = world.markets[mid]
                payouts[sm.yes] = Decimal(1) if mid == winner else Decimal(0)
                payouts[sm.no] = Decimal(0) if mid == winner else Decimal(1)
            exchange.resolve_event(ev.id, winner)
            if journal is not None:
                for mid in ev.markets:
                    sm = world.markets[mid]
                    won = sm.yes if mid == winner else sm.no
                    journal.record_sync(MarketResolved(time_ns=t, market=mid, winning_token_id=won), agent=VENUE_AGENT)

        rt.call_at(t, resolve_event)
    return payouts
