"""A scripted world for the society tests: the local runtime, a DuckDB journal, the real simulated
exchange, and a "crowd" account that shapes the books by placing real orders.

Imported by tests/test_society*.py, tests/test_trader*.py and tests/test_risk_officer*.py.
"""

from __future__ import annotations

import itertools
from decimal import Decimal
from pathlib import Path
from typing import Any

from agents.base import Agent
from cluster.clock import DEFAULT_START_NS
from cluster.journal import Journal
from cluster.runtime_local import LocalRuntime
from protocols import MarketInfo, OrderEvent, OrderRequest, Payload, Side, TimeInForce, TopOfBook
from venues.sim import LatencyModel, SimExchange, SimVenue

NS_PER_S = 1_000_000_000
NS_PER_MS = 1_000_000
T0 = DEFAULT_START_NS


def market(
    name: str,
    *,
    event_id: str = "",
    neg_risk: bool = False,
    fee_rate: str = "0.07",
    end_ns: int | None = None,
    min_size: str = "5",
    event_market_count: int = 0,
    question: str | None = None,
) -> MarketInfo:
    return MarketInfo(
        time_ns=T0,
        market=name,
        question=question or f"Will {name} happen?",
        token_ids=(f"{name}-yes", f"{name}-no"),
        tick_size=Decimal("0.01"),
        min_order_size=Decimal(min_size),
        fee_rate=Decimal(fee_rate),
        neg_risk=neg_risk,
        event_id=event_id,
        end_ns=end_ns,
        event_market_count=event_market_count,
    )


class World:
    """One simulated market world. ``crowd_*`` place orders from other accounts straight into the
    exchange (as other participants would), so books change exactly as the scenario says."""

    def __init__(
        self,
        tmp_path: Path | None,
        *,
        seed: int = 0,
        account: str = "us",
        cash: Decimal = Decimal(1000),
        trader_latency: LatencyModel | None = None,
        journal_name: str = "journal.duckdb",
    ) -> None:
        self.journal = Journal(tmp_path / journal_name) if tmp_path is not None else None
        self.rt = LocalRuntime(seed=seed, journal=self.journal, record_events=True)
        self.ex = SimExchange(scheduler=self.rt)
        self.account = account
        self.ex.open_account(account, cash)
        self.ex.open_account("crowd", Decimal(1_000_000))
        self.ex.open_account("rival", Decimal(1_000_000))
        self.trader_latency = trader_latency
        self._ids = itertools.count(1)

    # -- markets and crowd ----------------------------------------------------------------------
    def add_market(self, info: MarketInfo) -> MarketInfo:
        self.ex.add_market(info)
        return info

    def add_neg_risk_event(self, event_id: str, names: list[str]) -> list[MarketInfo]:
        infos = [market(n, event_id=event_id, neg_risk=True, event_market_count=len(names)) for n in names]
        self.ex.add_neg_risk_event(event_id, infos)
        return infos

    def crowd(
        self,
        token: str,
        side: Side,
        price: str,
        size: str | int,
        *,
        account: str = "crowd",
        tif: TimeInForce = TimeInForce.GTC,
    ) -> OrderEvent:
        """Place one real order for another account (selling first mints the shares it needs)."""
        info = self.ex.market_info(token)
        assert info is not None, token
        if side is Side.SELL:
            self.ex.split(account, info.market, Decimal(size))
        req = OrderRequest(
            time_ns=self.rt.now_ns(),
            client_order_id=f"{account}-{next(self._ids)}",
            account=account,
            token_id=token,
            market=info.market,
            side=side,
            price=Decimal(price),
            size=Decimal(size),
            tick_size=info.tick_size,
            tif=tif,
        )
        ev = self.ex.submit(account, req)
        assert ev.reason is None, ev
        return ev

    def crowd_at(self, t_ns: int, *args: Any, **kw: Any) -> None:
        def place() -> None:
            self.crowd(*args, **kw)

        self.rt.call_at(t_ns, place)

    # -- agents ------------------------------------------------------------------------------------
    def venue_for(self, role: str) -> SimVenue | None:
        """The trader trades on our account; the watcher reads data through a data-only account."""
        if role == "trader":
            return SimVenue(self.ex, self.account, self.trader_latency)
        if role == "market_watcher":
            return SimVenue(self.ex, f"{self.account}-data")
        return None

    def add(self, agents: list[Agent[Any]]) -> None:
        for a in agents:
            self.rt.add_agent(a, venue=self.venue_for(a.role))

    def inject(self, payload: Payload, sender: str = "scenario", at_ns: int | None = None) -> None:
        self.rt.inject(payload, sender=sender, at_ns=at_ns)

    async def run_for(self, seconds: float) -> None:
        await self.rt.run(until_ns=self.rt.now_ns() + int(seconds * NS_PER_S))

    def top(self, token: str) -> TopOfBook:
        return self.ex.top(token)

    # -- journal queries ---------------------------------------------------------------------------
    def q(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        assert self.journal is not None
        return self.journal.query(sql, params)

    def decisions(self) -> list[tuple[str, str, str]]:
        """(intent_id, action, codes) of every journalled risk decision."""
        return [
            (r[0], r[1], r[2] or "")
            for r in self.q("SELECT intent_id, action, code FROM risk_events WHERE kind = 'decision' ORDER BY rowid")
        ]

    def shares(self, token: str) -> Decimal:
        return self.ex.shares(self.account, token)

    def open_orders(self) -> list[OrderEvent]:
        return self.ex.open_orders(self.account)


def test_world_crowd_orders_shape_the_book() -> None:
    w = World(None)
    w.add_market(market("m1"))
    w.crowd("m1-yes", Side.SELL, "0.45", 30)
    w.crowd("m1-no", Side.BUY, "0.40", 20)
    top = w.top("m1-yes")
    assert top.best_ask == Decimal("0.45")
    # a NO bid at 0.40 is, in YES terms, an offer to sell YES at 0.60 (complement matching)
    assert [p for p, _ in top.asks] == [Decimal("0.45"), Decimal("0.60")]
    assert top.best_bid is None
