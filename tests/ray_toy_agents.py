"""Small agents for the Ray runtime's mechanism tests (importable by Ray workers by module name).

They exercise everything a host must carry: publishes with causality, timers, the per-agent rng,
venue calls with replies and sink events, durable journal writes, snapshot/restore.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from agents.base import Agent, AgentConfig, Subscription, Timer
from cluster.journal import DuplicateClientOrderId
from protocols import (
    Command,
    Envelope,
    Fill,
    JournalUnavailable,
    OrderEvent,
    OrderRequest,
    ReferencePrice,
    Side,
    TimeInForce,
    TradePrint,
)


class Pricer(Agent[AgentConfig]):
    """Turns each trade print into a reference price after a random think time."""

    role = "strategist"
    subscriptions = (Subscription(TradePrint),)

    def __init__(self, agent_id: str = "pricer", config: Any = None) -> None:
        super().__init__(agent_id, config)
        self.n = 0

    def on_message(self, envelope: Envelope) -> None:
        self.n += 1
        delay = self.ctx.rng.randint(0, 5) * 1_000_000
        self.ctx.set_timer(f"t{self.n % 3}", delay, envelope.payload)

    def on_timer(self, timer: Timer) -> None:
        p: TradePrint = timer.data
        self.ctx.publish(ReferencePrice(time_ns=self.ctx.now_ns(), symbol=p.token_id, price=p.price))

    def snapshot(self) -> dict[str, Any]:
        return {"n": self.n}

    def restore(self, state: dict[str, Any]) -> None:
        self.n = int(state.get("n", 0))


class Buyer(Agent[AgentConfig]):
    """Buys a little at each reference price (journal write-ahead, then the venue)."""

    role = "trader"

    def __init__(self, agent_id: str = "buyer", config: Any = None) -> None:
        super().__init__(agent_id, config)
        self.sent = 0
        self.filled = Decimal(0)
        self.fill_ids: list[str] = []
        self.events: dict[str, str] = {}
        self.paused = 0
        self.reused = 0

    def initial_subscriptions(self) -> tuple[Subscription, ...]:
        acct = self.ctx.venue.account if self.ctx.venue is not None else self.agent_id
        return (Subscription(ReferencePrice), Subscription(Fill, acct), Subscription(OrderEvent, acct))

    async def on_message(self, envelope: Envelope) -> None:
        p = envelope.payload
        if isinstance(p, ReferencePrice):
            await self._buy(p)
        elif isinstance(p, Fill) and p.fill_id not in self.fill_ids:
            self.fill_ids.append(p.fill_id)
            self.filled += p.size
        elif isinstance(p, OrderEvent):
            self.events[p.client_order_id] = p.status.value

    async def _buy(self, p: ReferencePrice) -> None:
        venue = self.ctx.venue
        assert venue is not None
        self.sent += 1
        price = min(Decimal("0.99"), p.price + Decimal("0.01") * self.ctx.rng.randint(0, 2))
        req = OrderRequest(
            time_ns=self.ctx.now_ns(),
            client_order_id=f"{self.agent_id}-{self.sent}",
            account=venue.account,
            token_id=p.symbol,
            market=p.symbol.rsplit("-", 1)[0],
            side=Side.BUY,
            price=price,
            size=Decimal(5),
            tick_size=Decimal("0.01"),
            tif=TimeInForce.GTC,
        )
        if self.ctx.journal is not None:
            try:
                await self.ctx.journal.record(req, agent=self.agent_id, durable=True)
            except JournalUnavailable:
                self.paused += 1  # a journal outage is a pause: no order without its write-ahead
                return
            except DuplicateClientOrderId:
                # restored from a checkpoint older than its last order (a stop that timed out on a
                # loaded machine): that id was written ahead already; never send it twice, move on
                self.reused += 1
                return
        ev = await venue.place_order(req)
        self.events[ev.client_order_id] = ev.status.value

    def snapshot(self) -> dict[str, Any]:
        return {"sent": self.sent, "filled": str(self.filled), "fill_ids": self.fill_ids, "events": self.events}

    def restore(self, state: dict[str, Any]) -> None:
        self.sent = int(state.get("sent", 0))
        self.filled = Decimal(state.get("filled", "0"))
        self.fill_ids = list(state.get("fill_ids", []))
        self.events = dict(state.get("events", {}))

    def status(self) -> dict[str, Any]:
        return {"role": self.role, "sent": self.sent, "filled": str(self.filled)}


class FlakyConfig(AgentConfig):
    fail_at: int | None = None
    """The size of the trade print that makes it raise, after updating its state (0: every print)."""


class FlakyCounter(Agent[FlakyConfig]):
    """Keeps the sizes of the trade prints it saw; raises on the configured one (half-updated)."""

    role = "news_scout"
    config_model = FlakyConfig
    subscriptions = (Subscription(TradePrint),)

    def __init__(self, agent_id: str = "flaky", config: Any = None) -> None:
        super().__init__(agent_id, config)
        self.seen: list[int] = []

    def on_message(self, envelope: Envelope) -> None:
        k = int(envelope.payload.size)
        self.seen.append(k)
        if self.config.fail_at in (k, 0):
            raise ValueError(f"bad print {k}")

    def snapshot(self) -> dict[str, Any]:
        return {"seen": list(self.seen)}

    def restore(self, state: dict[str, Any]) -> None:
        self.seen = [int(k) for k in state.get("seen", [])]

    def status(self) -> dict[str, Any]:
        return {"role": self.role, "seen": list(self.seen)}


class CommandCounter(Agent[FlakyConfig]):
    """Keeps the ``k`` of each ``count`` command addressed to it; raises on ``k == fail_at`` after
    updating its state (half-updated), and on every ``boom`` command."""

    role = "news_scout"
    config_model = FlakyConfig

    def __init__(self, agent_id: str = "counter", config: Any = None) -> None:
        super().__init__(agent_id, config)
        self.seen: list[int] = []

    def initial_subscriptions(self) -> tuple[Subscription, ...]:
        return (Subscription(Command, self.agent_id),)

    def on_message(self, envelope: Envelope) -> None:
        cmd = envelope.payload
        assert isinstance(cmd, Command)
        if cmd.name == "boom":
            raise RuntimeError("boom")
        k = int(cmd.args["k"])
        self.seen.append(k)
        if k == self.config.fail_at:
            raise ValueError(f"bad command {k}")

    def snapshot(self) -> dict[str, Any]:
        return {"seen": list(self.seen)}

    def restore(self, state: dict[str, Any]) -> None:
        self.seen = [int(k) for k in state.get("seen", [])]

    def status(self) -> dict[str, Any]:
        return {"role": self.role, "seen": list(self.seen)}


class TapeWatcher(Agent[AgentConfig]):
    """Lists the venue's markets, subscribes to their data and republishes trade prints."""

    role = "market_watcher"

    def __init__(self, agent_id: str = "watcher", config: Any = None) -> None:
        super().__init__(agent_id, config)
        self.prints = 0

    def initial_subscriptions(self) -> tuple[Subscription, ...]:
        acct = self.ctx.venue.account if self.ctx.venue is not None else self.agent_id
        return (Subscription(TradePrint, None),) if acct == "__never__" else ()

    async def on_start(self) -> None:
        venue = self.ctx.venue
        assert venue is not None
        markets = await venue.list_markets()
        self.ctx.subscribe(TradePrint)
        await venue.subscribe_market_data([m.token_ids[0] for m in markets])

    def on_message(self, envelope: Envelope) -> None:
        if isinstance(envelope.payload, TradePrint) and envelope.sender.startswith("venue:"):
            self.prints += 1
            self.ctx.publish(envelope.payload)

    def snapshot(self) -> dict[str, Any]:
        return {"prints": self.prints}

    def restore(self, state: dict[str, Any]) -> None:
        self.prints = int(state.get("prints", 0))

    def status(self) -> dict[str, Any]:
        return {"role": self.role, "prints": self.prints}


class BadStart(Agent[AgentConfig]):
    """Fails in on_start, every time: the supervisor must give up past its intensity."""

    role = "news_scout"

    def on_start(self) -> None:
        raise RuntimeError("cannot start")


class BasketBuyer(Agent[AgentConfig]):
    """Buys a two-leg basket at each reference price: per leg a journal write-ahead, then the venue.

    Like the trader, it skips a leg it already knows and, on ``reconcile()`` after a restart, learns
    which orders the venue holds and sends a leg written ahead that the venue never received. So a
    step resumed after its reconcile takes another path than its first attempt: the first leg is
    known and skipped, the second is written ahead and sent."""

    role = "trader"

    def __init__(self, agent_id: str = "basket", config: Any = None) -> None:
        super().__init__(agent_id, config)
        self.baskets = 0
        self.known: dict[str, str] = {}
        """client order id → status the venue gave it"""
        self.reconciles = 0

    def initial_subscriptions(self) -> tuple[Subscription, ...]:
        return (Subscription(ReferencePrice),)

    async def on_message(self, envelope: Envelope) -> None:
        p = envelope.payload
        if not isinstance(p, ReferencePrice):
            return
        self.baskets += 1
        for leg in range(2):
            req = self._leg(p, self.baskets, leg)
            if req.client_order_id in self.known:
                continue
            await self.ctx.journal.record(req, agent=self.agent_id, durable=True)
            ev = await self.ctx.venue.place_order(req)
            self.known[ev.client_order_id] = ev.status.value

    def _leg(self, p: ReferencePrice, basket: int, leg: int) -> OrderRequest:
        venue = self.ctx.venue
        assert venue is not None
        return OrderRequest(
            time_ns=self.ctx.now_ns(),
            client_order_id=f"{self.agent_id}-{basket}:{leg}",
            account=venue.account,
            token_id=p.symbol,
            market=p.symbol.rsplit("-", 1)[0],
            side=Side.BUY,
            price=min(Decimal("0.99"), p.price),
            size=Decimal(5 + leg),
            tick_size=Decimal("0.01"),
            tif=TimeInForce.GTC,
        )

    async def reconcile(self) -> None:
        self.reconciles += 1
        venue = self.ctx.venue
        assert venue is not None
        for req in await self.ctx.journal.orders(self.agent_id):
            ev = await venue.order_status(req.client_order_id)
            if ev is None:  # written ahead, never received: send it once, under its journalled id
                ev = await venue.place_order(req)
            self.known[req.client_order_id] = ev.status.value

    def snapshot(self) -> dict[str, Any]:
        return {"baskets": self.baskets, "known": dict(self.known), "reconciles": self.reconciles}

    def restore(self, state: dict[str, Any]) -> None:
        self.baskets = int(state.get("baskets", 0))
        self.known = dict(state.get("known", {}))
        self.reconciles = int(state.get("reconciles", 0))
