"""Helpers for tests that drive the live clients against the loopback server (not a test module).

``Recorder`` is a sink that lets a test wait for a condition on what arrived, instead of
sleeping: the wait is event-driven, with a generous timeout that only guards against a hang.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

from protocols import FeeSchedule, MarketInfo, OrderEvent, OrderRequest, Payload, Side

P = TypeVar("P", bound=Payload)

_coid = itertools.count(1)


class Recorder:
    """A ``Sink`` that records payloads and wakes waiters on each one."""

    def __init__(self) -> None:
        self.items: list[Payload] = []
        self._changed = asyncio.Event()

    def __call__(self, payload: Payload) -> None:
        self.items.append(payload)
        self._changed.set()

    def of(self, cls: type[P], token_id: str | None = None) -> list[P]:
        return [
            p for p in self.items
            if isinstance(p, cls) and (token_id is None or getattr(p, "token_id", None) == token_id)
        ]

    async def wait_for(self, pred: Callable[[], bool], what: str = "condition", timeout: float = 20.0) -> None:
        async def loop() -> None:
            while not pred():
                self._changed.clear()
                if pred():
                    return
                # woken by each payload; also re-checked now and then for conditions on counters
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), 0.02)

        try:
            await asyncio.wait_for(loop(), timeout)
        except TimeoutError:
            raise AssertionError(f"gave up waiting for {what}; got {len(self.items)} payloads") from None


#: Fee schedules of the shapes Gamma sends per market (reference: crypto 0.07, sports 0.03/0.05).
_SCHEDULES = {
    "crypto": FeeSchedule(rate=Decimal("0.07"), fee_type="crypto_fees"),
    "sports": FeeSchedule(rate=Decimal("0.03"), fee_type="sports_fees_v2"),
    "politics": FeeSchedule(rate=Decimal("0.04"), rebate_rate=Decimal("0.25"), fee_type="politics_fees"),
}


def market(i: int, *, tick: str = "0.01", neg_risk: bool = False, event_id: str = "", category: str = "crypto",
           fees: bool = True) -> MarketInfo:
    return MarketInfo(
        time_ns=time.time_ns(),
        market="0x" + f"{i:064x}",
        question=f"Test market {i}?",
        slug=f"test-market-{i}",
        event_id=event_id,
        token_ids=(f"{10**20 + 2 * i}", f"{10**20 + 2 * i + 1}"),
        tick_size=Decimal(tick),
        min_order_size=Decimal(5),
        neg_risk=neg_risk,
        fees=_SCHEDULES.get(category, _SCHEDULES["crypto"]) if fees else FeeSchedule.free(),
        category=category,
    )


def order(
    exchange: Any, account: str, info: MarketInfo, side: Side, price: str, size: str, *, token: int = 0,
    cash: Decimal = Decimal(1_000_000),
) -> OrderEvent:
    """Submit a GTC order straight into the exchange (opening the account with cash if needed)."""
    if not exchange.has_account(account):
        exchange.open_account(account, cash)
    if side is Side.SELL and exchange.shares(account, info.token_ids[token]) < Decimal(size):
        exchange.split(account, info.market, Decimal(10_000))
    current = exchange.market_info(info.market) or info  # the tick may have changed since listing
    ev: OrderEvent = exchange.submit(
        account,
        OrderRequest(
            time_ns=time.time_ns(), client_order_id=f"t-{next(_coid)}", account=account,
            token_id=info.token_ids[token], market=info.market, side=side, price=Decimal(price),
            size=Decimal(size), tick_size=current.tick_size, neg_risk=info.neg_risk,
        ),
    )
    return ev
