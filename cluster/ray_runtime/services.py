"""Service actors of the live tree: the journal (one DuckDB writer) and the venue world.

The journal actor is the single writer the design asks for: hosts call it for write-ahead order
records (``durable=True`` commits before the call returns), checkpoints and reconciliation reads;
supervisors write ``agent_events`` through it.

The venue world holds the simulated exchange on an accelerated wall clock, opens accounts on
demand, serves every host's venue port (``venue_call``) and pushes what each account's venue
observes straight to subscriber hosts through the same routing as agent messages. A small built-in
crowd (a market maker quoting around a drifting fair value, and noise takers) keeps the books alive
so a freshly started society has something to watch and trade.

With ``WorldConfig(venue="paper"|"live")`` the world is Polymarket instead (see ``_PolyWorld``):
ONE shared ``PolymarketDataFeed`` is the data side of every account (the market watcher's
``list_markets``/``subscribe_market_data``/``get_book`` go to it, and each payload it delivers is
published into the routing once, like the simulated exchange's), and each account that trades
gets its own venue over that feed: a ``PaperVenue`` (fills simulated against the live book) or
the live CLOB venue from ``venues.live.make_venue("live", ...)``. Live credentials are read from
the environment *of the Ray worker that hosts the world* (export them before ``ray start``; a
local head started by ``polyagents up`` inherits the shell's), never from the config, so they
reach no log, repr, KV entry or journal row.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Literal

import ray
from pydantic import BaseModel, ConfigDict, Field, model_validator

from agents.base import Agent, AgentConfig, Subscription
from cluster.journal import Journal
from cluster.ray_runtime.routing import Router, RouteTable
from protocols import (
    Envelope,
    MarketInfo,
    OrderRequest,
    Payload,
    RawNews,
    ReferencePrice,
    ReferenceProbability,
    Side,
    TimeInForce,
    WalletTrade,
)

log = logging.getLogger("polyagents.services")


@ray.remote(concurrency_groups={"control": 2, "read": 1})  # type: ignore[call-overload]
class JournalService:
    """The journal as an actor (``protocols.JournalPort`` over Ray)."""

    def __init__(self, path: str, alerts: Any = None) -> None:
        self.path = path
        self.journal: Journal | None = None
        self.alerts: Any = None
        if alerts is not None:  # alerts watch what the tree journals; sent off this actor's calls
            from cluster.alert_sender import AlertSender

            self.alerts = AlertSender(alerts)

    def _j(self) -> Journal:
        if self.journal is None:
            self.journal = Journal(self.path)
            if self.alerts is not None:
                self.journal.add_observer(self.alerts.observe)
        return self.journal

    def setup(self, checkpoint: Any = None) -> dict[str, Any]:
        try:
            self._j()
            return {"ok": True, "subs": []}
        except Exception as exc:
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}

    def start_live(self) -> dict[str, Any]:
        return {"ok": True}

    @ray.method(concurrency_group="control")
    def ping(self) -> str:
        return "running"

    @ray.method(concurrency_group="control")
    def state(self) -> dict[str, Any]:
        return {
            "agent": "journal",
            "role": "journal",
            "state": "running",
            "path": self.path,
            "messages": 0,
            "mailbox": 0,
            "last_message_ns": None,
            "status": {"alerts": self.alerts.status()} if self.alerts is not None else {},
        }

    def record(self, payload: Payload, *, agent: str, durable: bool = False) -> None:
        self._j().record_sync(payload, agent=agent, durable=durable)

    def checkpoint(self, agent: str, time_ns: int, state: dict[str, Any]) -> None:
        self._j().checkpoint_sync(agent, time_ns, state)

    async def last_checkpoint(self, agent: str) -> dict[str, Any] | None:
        return await self._j().last_checkpoint(agent)

    async def orders(self, agent: str) -> list[Any]:
        return await self._j().orders(agent)

    async def order_events(self, agent: str) -> list[Any]:
        return await self._j().order_events(agent)

    async def fills(self, agent: str) -> list[Any]:
        return await self._j().fills(agent)

    def flush(self) -> None:
        self._j().flush_sync()

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        return self._j().query(sql, params or [])

    @ray.method(concurrency_group="read")
    def read_query(self, sql: str) -> dict[str, Any]:
        """``polyagents journal sql`` while the tree runs (this actor holds the file's lock): the
        statement checked read-only, run on a cursor of its own in its own thread, so a slow query
        neither writes nor delays a write-ahead record. Returns the path, columns and rows."""
        cols, rows = self._j().read_query(sql)
        return {"path": self.path, "columns": cols, "rows": rows}

    def stop_live(self) -> None:
        if self.journal is not None:
            self.journal.close()
            self.journal = None
        if self.alerts is not None:
            self.alerts.close()


class WorldConfig(BaseModel):
    """The simulated world ``polyagents up`` trades against."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    markets: int = Field(default=2, ge=1, le=50)
    seed: int = 0
    speed: float = Field(default=1.0, gt=0, description="virtual seconds per wall second")
    crowd_interval_s: float = Field(default=0.25, gt=0)
    trader_cash: Decimal = Decimal(10_000)
    crowd: bool = True
    scenario: str | None = Field(
        default=None,
        description="a shipped scenario's name or a YAML path: its markets, crowd, feeds and "
        "resolutions replace the built-in crowd, paced at `speed` virtual seconds per wall second",
    )
    venue: Literal["sim", "paper", "live"] = Field(
        default="sim",
        description="sim: the simulated exchange above; paper: live Polymarket data with simulated "
        "fills; live: real orders through the official SDK (needs live + i_understand_real_money "
        "and credentials in the world worker's environment)",
    )
    #: One base URL for every Polymarket endpoint (a loopback rehearsal); default: the real hosts.
    polymarket_url: str | None = None
    gamma_url: str | None = None
    clob_url: str | None = None
    data_url: str | None = None
    #: WebSocket prefix; ``/market`` (and, live, ``/user``) are appended like production's ``/ws``.
    ws_url: str | None = None
    live: bool = False
    i_understand_real_money: bool = False
    #: Live: append-only file of client order id → order hash (survives restarts of the world).
    id_store_path: str | None = None
    paper_latency_ms: int = Field(default=0, ge=0, description="paper: each order's flight time")

    @model_validator(mode="after")
    def _venue_fits(self) -> WorldConfig:
        if self.venue == "sim":
            return self
        if self.scenario is not None:
            raise ValueError(f"scenario: scenarios run on the simulated exchange, not venue {self.venue}")
        if self.speed != 1.0:
            raise ValueError(f"speed: venue {self.venue} runs on the wall clock (speed 1), got {self.speed}")
        if self.venue == "paper" and (self.live or self.i_understand_real_money):
            raise ValueError("live: real-money flags need venue live, not paper")
        from pydantic import ValidationError

        try:
            self.data_config()  # a bad URL is refused now, with its field named
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(x) for x in err["loc"])
            raise ValueError(f"Polymarket URL {field}: {err['msg'].removeprefix('Value error, ')}") from None
        return self

    def ws_prefix(self) -> str | None:
        """The WebSocket prefix (``.../ws``) when the endpoints are not production's."""
        if self.ws_url:
            return self.ws_url.rstrip("/")
        base_url = self.clob_url or self.polymarket_url  # a rehearsal's sockets live on its CLOB
        if base_url:
            base = base_url.rstrip("/")
            return ("ws" + base[len("http"):] if base.startswith("http") else base) + "/ws"
        return None

    def data_config(self) -> Any:
        """The shared data feed's ``PolymarketDataConfig`` (production unless URLs are given)."""
        from venues.polymarket.config import PolymarketDataConfig

        fields: dict[str, object] = {}
        if self.polymarket_url:
            base = self.polymarket_url.rstrip("/")
            fields = {"gamma_url": base, "clob_url": base, "data_url": base}
        for name in ("gamma_url", "clob_url", "data_url"):
            value = getattr(self, name)
            if value:
                fields[name] = value
        ws = self.ws_prefix()
        if ws:
            fields["market_ws_url"] = ws + "/market"
        return PolymarketDataConfig.model_validate(fields)


class _Clock:
    """Accelerated wall clock lent to the exchange as its ``protocols.Scheduler``."""

    def __init__(self, start_ns: int, speed: float) -> None:
        self.start_ns = start_ns
        self.wall0_ns = time.time_ns()
        self.speed = speed

    def now_ns(self) -> int:
        return self.start_ns + int((time.time_ns() - self.wall0_ns) * self.speed)

    def call_at(self, time_ns: int, callback: Callable[[], None]) -> None:
        delay = max(0.0, (time_ns - self.now_ns()) / 1e9 / self.speed)
        asyncio.get_running_loop().call_later(delay, callback)


@ray.remote(concurrency_groups={"control": 2})  # type: ignore[call-overload]
class VenueWorld:
    """The simulated exchange as a Ray actor; see the module docstring."""

    def __init__(self, config: WorldConfig, namespace: str, alerts: Any = None) -> None:
        self.config = config
        self.namespace = namespace
        self.alerts: Any = None
        if alerts is not None and config.venue != "sim":  # the venue's links are watched where they live
            from cluster.alert_sender import AlertSender

            self.alerts = AlertSender(alerts)
        self.router = Router("world", namespace)
        self.venues: dict[str, Any] = {}
        self.exchange: Any = None
        self.clock: _Clock | None = None
        self.rng = random.Random(config.seed)
        self.fair: dict[str, float] = {}
        self._crowd_task: asyncio.Task[Any] | None = None
        self._seq = 0
        self.published = 0
        #: "sender kind" → count: who published what (a market event published twice shows here)
        self.published_kinds: dict[str, int] = {}
        self.sim_rt: Any = None
        self.end_ns = 0
        self.finished = False
        self.poly: _PolyWorld | None = None  # venue paper/live

    def __repr__(self) -> str:
        return f"VenueWorld(venue={self.config.venue}, namespace={self.namespace})"

    async def setup(self) -> dict[str, Any]:
        from cluster.clock import DEFAULT_START_NS
        from venues.sim import SimExchange, SimExchangeConfig
        from venues.sim.testing import binary_market

        if self.exchange is not None or self.poly is not None:  # adopted by a second `up`
            return {"ok": True, "adopted": True, "venue": self.config.venue}
        if self.config.venue != "sim":
            return self._setup_polymarket()
        if self.config.scenario is not None:
            return self._setup_scenario(self.config.scenario)
        self.clock = _Clock(DEFAULT_START_NS, self.config.speed)
        self.exchange = SimExchange(SimExchangeConfig(start_ns=DEFAULT_START_NS), scheduler=self.clock)
        for i in range(self.config.markets):
            info = binary_market(f"mkt{i + 1}")
            self.exchange.add_market(info)
            self.fair[info.token_ids[0]] = 0.3 + 0.4 * self.rng.random()
        self.exchange.open_account("crowd_mm", 10_000_000)
        self.exchange.open_account("crowd_noise", 10_000_000)
        for m in self.exchange.markets():
            self.exchange.split("crowd_mm", m.market, 100_000)
            self.exchange.split("crowd_noise", m.market, 100_000)
        if self.config.crowd:
            self._crowd_task = asyncio.ensure_future(self._crowd())
        return {"ok": True, "clock": (self.clock.start_ns, self.clock.wall0_ns, self.clock.speed)}

    def _setup_scenario(self, name: str) -> dict[str, Any]:
        """The scenario's world (markets, crowd, feeds, resolutions) on a virtual clock that a
        pacer advances with the wall clock; feeds reach our agents through a bridge agent."""
        from cluster.runtime_local import LocalRuntime
        from simulation.crowd import build_crowd
        from simulation.runner import _listen_to_whales, _schedule_feeds, _schedule_resolutions, build_exchange
        from simulation.scenario import load_scenario, resolve_scenario_path
        from simulation.world import build_world

        sc = load_scenario(resolve_scenario_path(name))
        seed = self.config.seed or sc.seed
        world = build_world(sc, seed)
        rt = LocalRuntime(seed=seed, start_ns=world.start_ns)
        exchange = build_exchange(world, rt)
        crowd = build_crowd(sc, world, exchange, rt)
        for c in crowd:
            rt.add_agent(c.agent, venue=c.venue, continue_on_error=True)  # the world: counted, not restarted
        rt.add_agent(_Bridge(self, {c.agent.agent_id for c in crowd}), continue_on_error=True)
        _schedule_feeds(rt, sc, world)
        _listen_to_whales(rt, exchange, crowd)
        _schedule_resolutions(rt, exchange, world, seed)
        if not exchange.has_account(sc.ours.account):
            exchange.open_account(sc.ours.account, sc.ours.bankroll)
        self.exchange, self.sim_rt, self.end_ns = exchange, rt, world.end_ns
        self.clock = _Clock(world.start_ns, self.config.speed)
        self._crowd_task = asyncio.ensure_future(self._pace())
        return {"ok": True, "scenario": sc.name, "crowd": len(crowd), "end_ns": world.end_ns}

    def _setup_polymarket(self) -> dict[str, Any]:
        """Paper or live: the wall clock (hosts stamp what Polymarket stamps) and one data feed.
        Live is gated here again, in the environment the venue will actually read."""
        from venues.live import LiveTradingRefused, check_live_gate

        if self.config.venue == "live":
            try:
                check_live_gate(_venue_settings(self.config, "trader"))
            except LiveTradingRefused as exc:
                # re-raised as ValueError: it crosses Ray intact and the CLI prints one line
                raise ValueError(f"{exc} (in the environment of the Ray worker hosting the world)") from None
        now = time.time_ns()
        self.clock = _Clock(now, 1.0)
        self.clock.wall0_ns = now  # virtual time is wall time
        self.poly = _PolyWorld(self.config, self._publish)
        if self.alerts is not None:
            self.poly.feed.stream.on_link = lambda name, up: self.alerts.link(name, up)
        return {"ok": True, "venue": self.config.venue, "clock": (now, now, 1.0)}

    async def _pace(self) -> None:
        """Advance the scenario's virtual clock with the (accelerated) wall clock."""
        assert self.clock is not None
        while True:
            target = min(self.clock.now_ns(), self.end_ns)
            try:
                await self.sim_rt.run(until_ns=target)
            except Exception:
                log.exception("scenario world step failed")
            if target >= self.end_ns:
                self.finished = True
                return
            await asyncio.sleep(0.02)

    def _now(self) -> int:
        if self.sim_rt is not None:
            return int(self.sim_rt.now_ns())
        assert self.clock is not None
        return self.clock.now_ns()

    @ray.method(concurrency_group="control")
    def ping(self) -> str:
        return "running"

    @ray.method(concurrency_group="control")
    def info(self) -> dict[str, Any]:
        return {
            "scenario": self.config.scenario,
            "venue": self.config.venue,
            "now_ns": self._now(),
            "finished": self.finished,
            "published": self.published,
            "published_kinds": dict(self.published_kinds),
        }

    @ray.method(concurrency_group="control")
    def clock_params(self) -> tuple[int, int, float]:
        assert self.clock is not None
        return (self.clock.start_ns, self.clock.wall0_ns, self.clock.speed)

    async def update_routes(self, table: RouteTable, version: int) -> None:
        """On the default event loop (not the control group's): the router's sends live there."""
        self.router.set_table(table, version)

    def _venue(self, account: str) -> Any:
        v = self.venues.get(account)
        if v is None:
            from venues.sim import SimVenue

            if not self.exchange.has_account(account):
                # every account the society opens is funded: only the trader places orders
                self.exchange.open_account(account, self.config.trader_cash)
            v = SimVenue(self.exchange, account)
            sender = f"venue:sim:{account}"
            v.set_sink(functools.partial(self._publish, sender))
            self.venues[account] = v
        return v

    def _publish(self, sender: str, payload: Payload) -> None:
        self._seq += 1
        now = self._now()
        # the id carries the tick's time, so a host down the chain can time tick-to-order from
        # the correlation id alone
        env = Envelope.trusted(f"{sender}#{self._seq}@{now}", now, sender, payload, None, None)
        self.published += 1
        if self.poly is not None:  # paper/live only: the sim's hot path stays as it was
            key = f"{sender} {type(payload).__name__}"
            self.published_kinds[key] = self.published_kinds.get(key, 0) + 1
        self.router.publish(env)

    async def venue_call(self, account: str, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if self.poly is not None:
            return await self.poly.call(account, method, args, kwargs)
        fn = getattr(self._venue(account), method)
        res = fn(*args, **kwargs)
        if asyncio.iscoroutine(res):
            res = await res
        return res

    def place_external_order(self, request: OrderRequest) -> Any:
        """An order on an account from outside the society (a manual trade, another client) —
        what a restarted trader must notice when it reconciles."""
        if self.poly is not None:
            raise ValueError(f"an external order needs the simulated exchange, not venue {self.config.venue}")
        self._venue(request.account)
        return self.exchange.submit(request.account, request)

    def inject(self, payload: Payload, sender: str = "operator") -> None:
        """Publish a payload from outside the agents (operator commands, feeds)."""
        self._publish(sender, payload)

    @ray.method(concurrency_group="control")
    def positions(self, account: str) -> list[Any]:
        if self.poly is not None:
            return self.poly.on_loop(account, "positions")
        return list(self.exchange.positions(account)) if self.exchange.has_account(account) else []

    @ray.method(concurrency_group="control")
    def order_ids(self, account: str) -> list[str]:
        """Every client order id the exchange saw from ``account`` (open or finished)."""
        if self.poly is not None:
            ids = {e.client_order_id for e in self.poly.on_loop(account, "open_orders")}
            ids |= {f.client_order_id for f in self.poly.on_loop(account, "trades")}
            return sorted(ids)
        if not self.exchange.has_account(account):
            return []
        ids = {e.client_order_id for e in self.exchange.open_orders(account)}
        ids |= {f.client_order_id for f in self.exchange.trades(account)}
        return sorted(ids)

    @ray.method(concurrency_group="control")
    def markets(self) -> list[MarketInfo]:
        if self.poly is not None:
            return list(self.poly.markets.values())
        return list(self.exchange.markets())

    async def _crowd(self) -> None:
        """A market maker requoting around a drifting fair value, and noise takers."""
        n = 0
        while True:
            await asyncio.sleep(self.config.crowd_interval_s)
            try:
                n += 1
                self._crowd_round(n)
            except Exception:
                log.exception("crowd round failed")

    def _crowd_round(self, n: int) -> None:
        ex, rng = self.exchange, self.rng
        assert self.clock is not None
        now = self.clock.now_ns()
        for m in ex.markets():
            yes = m.token_ids[0]
            f = min(0.9, max(0.1, self.fair[yes] + rng.gauss(0, 0.01)))
            self.fair[yes] = f
            ex.cancel_all("crowd_mm", m.market)
            bid = Decimal(str(round(f - 0.02, 2)))
            ask = Decimal(str(round(f + 0.02, 2)))
            for side, px in ((Side.BUY, bid), (Side.SELL, ask)):
                ex.submit(
                    "crowd_mm",
                    OrderRequest(
                        time_ns=now,
                        client_order_id=f"mm-{n}-{m.market}-{side.value}",
                        account="crowd_mm",
                        token_id=yes,
                        market=m.market,
                        side=side,
                        price=px,
                        size=Decimal(50),
                        tick_size=m.tick_size,
                        tif=TimeInForce.GTC,
                    ),
                )
            if rng.random() < 0.5:
                side = Side.BUY if rng.random() < 0.5 else Side.SELL
                px = ask if side is Side.BUY else bid
                ex.submit(
                    "crowd_noise",
                    OrderRequest(
                        time_ns=now,
                        client_order_id=f"noise-{n}-{m.market}",
                        account="crowd_noise",
                        token_id=yes,
                        market=m.market,
                        side=side,
                        price=px,
                        size=Decimal(10),
                        tick_size=m.tick_size,
                        tif=TimeInForce.FAK,
                    ),
                )

    async def stop(self) -> None:
        if self._crowd_task is not None:
            self._crowd_task.cancel()
        if self.poly is not None:
            await self.poly.close()


#: What every account's venue port reads from the shared Polymarket feed rather than its own venue.
DATA_METHODS = frozenset({"list_markets", "subscribe_market_data", "unsubscribe_market_data", "get_book"})


def _venue_settings(config: WorldConfig, account: str) -> Any:
    """``VenueSettings`` for one account of a paper/live world (no secret in it)."""
    from venues.live import VenueSettings
    from venues.paper import PaperConfig

    clob = config.clob_url or config.polymarket_url
    data = config.data_config() if clob else None
    return VenueSettings(
        account=account,
        live=config.live,
        i_understand_real_money=config.i_understand_real_money,
        clob_url=clob.rstrip("/") if clob else None,
        ws_url=config.ws_prefix() if clob else None,
        gamma_url=data.gamma_url if data is not None else None,
        data_url=data.data_url if data is not None else None,
        id_store_path=config.id_store_path,
        paper=PaperConfig(
            account=account, starting_cash=config.trader_cash, order_latency_ns=config.paper_latency_ms * 1_000_000
        ),
    )


class _FeedTap:
    """One trading venue's handle on the shared feed: its data calls go to the feed, and its sink
    is added to the feed's fan-out instead of replacing the one sink the feed has."""

    def __init__(self, poly: _PolyWorld) -> None:
        self._poly = poly

    def __repr__(self) -> str:
        return "_FeedTap()"

    def set_sink(self, sink: Callable[[Payload], None]) -> None:
        self._poly.add_tap(sink)

    async def list_markets(self) -> list[MarketInfo]:
        return await self._poly.list_markets()

    async def subscribe_market_data(self, token_ids: Any) -> None:
        await self._poly.feed.subscribe_market_data(token_ids)

    async def unsubscribe_market_data(self, token_ids: Any) -> None:
        await self._poly.feed.unsubscribe_market_data(token_ids)

    async def get_book(self, token_id: str) -> Any:
        return await self._poly.feed.get_book(token_id)

    async def close(self) -> None:
        """The feed is shared: the world closes it once."""


class _PolyWorld:
    """The Polymarket side of a paper/live world, living on the world actor's event loop.

    Why one feed for all accounts: a market event must reach the routing exactly once (the
    watcher cleans it; everybody else reads the watcher), and every paper venue must fill against
    the same stream the watcher saw. So the feed's single sink publishes each payload and then
    hands it to every trading venue; what a venue re-emits of that same payload object is dropped,
    and only its own events (orders, fills, settlements) are published under its account.
    """

    def __init__(self, config: WorldConfig, publish: Callable[[str, Payload], None]) -> None:
        from venues.polymarket.data import PolymarketDataFeed

        self.config = config
        self._publish = publish
        self.feed = PolymarketDataFeed(config.data_config())
        self.feed.set_sink(self._on_feed)
        self.taps: list[Callable[[Payload], None]] = []
        self.venues: dict[str, Any] = {}
        self.markets: dict[str, MarketInfo] = {}
        self._dispatching: Payload | None = None
        self.loop = asyncio.get_running_loop()

    def _on_feed(self, p: Payload) -> None:
        self._dispatching = p
        try:
            self._publish(f"venue:polymarket:{self.config.venue}", p)
            for tap in list(self.taps):
                try:
                    tap(p)
                except Exception:
                    log.exception("a venue failed on a %s from the feed", type(p).__name__)
        finally:
            self._dispatching = None

    def add_tap(self, tap: Callable[[Payload], None]) -> None:
        """Join the fan-out, first catching up on every book the feed already mirrors: a venue
        made after the watcher subscribed would otherwise have no book until the next snapshot."""
        for token in sorted(self.feed.keeper.tracked()):
            snap = self.feed.local_book(token)
            if snap is None:
                continue
            self._dispatching = snap  # market data the routing has seen: the venue's copy is dropped
            try:
                tap(snap)
            finally:
                self._dispatching = None
        self.taps.append(tap)

    def _venue_sink(self, sender: str) -> Callable[[Payload], None]:
        def sink(p: Payload) -> None:
            if p is not self._dispatching:  # the market event itself went out once already
                self._publish(sender, p)

        return sink

    async def list_markets(self) -> list[MarketInfo]:
        infos = list(await self.feed.list_markets())
        for info in infos:
            self.markets[info.market] = info
            for v in self.venues.values():
                if hasattr(v, "register_market"):
                    v.register_market(info)  # the paper venue's fee curve per market
        return infos

    def venue(self, account: str) -> Any:
        v = self.venues.get(account)
        if v is None:
            from venues.live import make_venue

            v = make_venue(self.config.venue, _venue_settings(self.config, account), data_feed=_FeedTap(self))
            v.set_sink(self._venue_sink(f"venue:{self.config.venue}:{account}"))
            for info in self.markets.values():
                if hasattr(v, "register_market"):
                    v.register_market(info)
            self.venues[account] = v
        return v

    async def call(self, account: str, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if method in DATA_METHODS:
            if method == "list_markets":
                return await self.list_markets()
            res = getattr(self.feed, method)(*args, **kwargs)
        else:
            res = getattr(self.venue(account), method)(*args, **kwargs)
        if asyncio.iscoroutine(res):
            res = await res
        return res

    def on_loop(self, account: str, method: str) -> list[Any]:
        """A venue read from the control thread, run on the loop the venue lives on."""
        v = self.venues.get(account)
        if v is None:
            return []
        fut = asyncio.run_coroutine_threadsafe(getattr(v, method)(), self.loop)
        try:
            return list(fut.result(timeout=10))
        except Exception as exc:
            log.warning("%s of %s unavailable: %s", method, account, type(exc).__name__)
            return []

    async def close(self) -> None:
        for v in self.venues.values():
            try:
                await asyncio.wait_for(v.close(), 10)
            except Exception:
                log.warning("closing the %s venue failed", self.config.venue)
        try:
            await asyncio.wait_for(self.feed.close(), 10)
        except Exception:
            log.warning("closing the Polymarket feed failed")


class _Bridge(Agent[AgentConfig]):
    """Inside a scenario world: hands what the scenario's feeds publish (reference prices, news,
    large wallet trades) to the live society's routing."""

    role = "bridge"
    subscriptions = (
        Subscription(ReferencePrice),
        Subscription(ReferenceProbability),
        Subscription(RawNews),
        Subscription(WalletTrade),
    )

    def __init__(self, world: Any, crowd: set[str]) -> None:
        super().__init__("world_bridge")
        self._world = world
        self._crowd = crowd

    def on_message(self, envelope: Envelope) -> None:
        if envelope.sender not in self._crowd:
            self._world._publish(envelope.sender, envelope.payload)
