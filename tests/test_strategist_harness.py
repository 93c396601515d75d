"""Scripted situations for the strategist tests: markets, books, and a run on the real LocalRuntime.

Not a test module (it holds no tests); the strategist and strategy tests import it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from agents.base import Agent, Subscription
from agents.strategist import Strategist
from cluster.clock import DEFAULT_START_NS
from cluster.runtime_local import LocalRuntime
from protocols import Envelope, MarketInfo, OrderIntent, Signal, TopOfBook

T0 = DEFAULT_START_NS
S = 1_000_000_000
D = Decimal


class Collector(Agent[Any]):
    """Records what the strategist publishes, in order."""

    role = "collector"
    subscriptions = (Subscription(OrderIntent), Subscription(Signal))

    def __init__(self, agent_id: str = "collector") -> None:
        super().__init__(agent_id)
        self.intents: list[OrderIntent] = []
        self.signals: list[Signal] = []

    def on_message(self, envelope: Envelope) -> None:
        p = envelope.payload
        if isinstance(p, OrderIntent):
            self.intents.append(p)
        elif isinstance(p, Signal):
            self.signals.append(p)


def market(
    mid: str = "m1",
    *,
    question: str = "Will it happen?",
    fee_rate: str = "0.07",
    fee_exponent: int = 1,
    fees_enabled: bool = True,
    tick: str = "0.01",
    min_size: str = "5",
    t: int = T0,
    **kw: Any,
) -> MarketInfo:
    return MarketInfo(
        time_ns=t,
        market=mid,
        question=question,
        token_ids=(f"{mid}-yes", f"{mid}-no"),
        fee_rate=D(fee_rate),
        fee_exponent=fee_exponent,
        fees_enabled=fees_enabled,
        tick_size=D(tick),
        min_order_size=D(min_size),
        **kw,
    )


def book(
    token: str,
    *,
    asks: Sequence[tuple[str, str]] = (),
    bids: Sequence[tuple[str, str]] = (),
    tick: str = "0.01",
    min_size: str = "5",
    t: int = T0,
) -> TopOfBook:
    market_id = token.rsplit("-", 1)[0]
    a = tuple((D(p), D(s)) for p, s in asks)
    b = tuple((D(p), D(s)) for p, s in bids)
    return TopOfBook(
        time_ns=t,
        token_id=token,
        market=market_id,
        best_bid=b[0][0] if b else None,
        best_bid_size=b[0][1] if b else D(0),
        best_ask=a[0][0] if a else None,
        best_ask_size=a[0][1] if a else D(0),
        bids=b,
        asks=a,
        tick_size=D(tick),
        min_order_size=D(min_size),
    )


def two_sided(mid: str, yes_bid: str, yes_ask: str, size: str = "100", t: int = T0) -> list[TopOfBook]:
    """A YES book and its mirrored NO book (NO bid = 1 − YES ask, NO ask = 1 − YES bid)."""
    one = D(1)
    return [
        book(f"{mid}-yes", bids=[(yes_bid, size)], asks=[(yes_ask, size)], t=t),
        book(f"{mid}-no", bids=[(str(one - D(yes_ask)), size)], asks=[(str(one - D(yes_bid)), size)], t=t),
    ]


async def run(
    strategies: Mapping[str, Any],
    script: Sequence[Any],
    *,
    bankroll: str = "1000",
    cooldown_ns: int = 0,
    strategist: Strategist | None = None,
    until_ns: int | None = None,
    **cfg: Any,
) -> tuple[Strategist, Collector, LocalRuntime]:
    """Feed ``script`` (payloads, or (offset ns from T0, payload)) to a strategist; run to quiet."""
    rt = LocalRuntime(seed=7, record_events=True)
    strat = strategist or Strategist(
        "strategist", {"strategies": dict(strategies), "bankroll": bankroll, "cooldown_ns": cooldown_ns, **cfg}
    )
    col = Collector()
    rt.add_agent(strat)
    rt.add_agent(col)
    await rt.start()
    for item in script:
        if isinstance(item, tuple):
            offset, payload = item
            rt.inject(payload, sender="feed", at_ns=T0 + offset)
        else:
            rt.inject(payload=item, sender="feed")
    await rt.run(until_ns=until_ns)
    assert not rt.crashes, rt.crashes
    return strat, col, rt
