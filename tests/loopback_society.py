"""The whole society on the wall-clock local runtime against the loopback Polymarket server.

Not a test module: ``tests/test_society_loopback.py`` builds its runs from here. The world is a
loopback server on 127.0.0.1 with one neg-risk event whose three outcomes' YES are offered at a
price that makes the basket (one YES of every outcome, which pays exactly 1) cheaper than 1 after
taker fees, so the default strategies find a real opportunity from the real feed: Gamma discovery,
CLOB REST books, the market WebSocket, and (live) the SDK's signed orders and the user channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from agents.base import Agent
from agents.society import DEFAULT_IDS, default_agents
from cluster.journal import SCHEMA, Journal
from cluster.runtime_local import LocalRuntime
from protocols import FeeSchedule, MarketInfo, OrderStatus, Side, VenuePort
from venues.polymarket.loopback.server import LoopbackServer
from venues.polymarket.loopback.state import WallClockScheduler
from venues.polymarket.loopback.testing import market, order
from venues.sim.exchange import SimExchange

#: The desk's account name (trader, risk officer, strategist and venue agree on it).
ACCOUNT = "desk-loopback"
BANKROLL = Decimal(1000)
EVENT = "election-loopback"
#: Every outcome's YES offered at this price: 3 × 0.30 = 0.90, plus taker fees ≈ 3 × 0.0147.
YES_ASK = "0.30"
#: 20 baskets cost 18 pUSD + fees: inside the risk officer's per-trade cap (2% of the bankroll),
#: so the intent is approved at the strategist's size rather than resized.
ASK_SIZE = "20"
#: A second, dearer level (3 × 0.40 > 1: never part of the basket) so each book shows the
#: risk officer's minimum depth.
DEEP_ASK, DEEP_SIZE = "0.40", "20"
MAKER = "0xmaker-loopback"

TERMINAL = frozenset({OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED})


def loopback_server() -> tuple[LoopbackServer, SimExchange]:
    """A loopback server and its simulated exchange (typed, for the exchange-side assertions)."""
    ex = SimExchange(scheduler=WallClockScheduler())
    return LoopbackServer(ex), ex


def seed_basket(
    ex: SimExchange, n: int = 3, size: str = ASK_SIZE, fees: FeeSchedule | None = None
) -> list[MarketInfo]:
    """List a neg-risk event of ``n`` outcomes and offer every outcome's YES at ``YES_ASK``
    (``fees``: each market's fee schedule instead of the politics default).

    Why a basket and not YES + NO of one market: under complement matching a YES ask and a NO ask
    summing below 1 merge at once, so that gap never rests in a real book; the asks of different
    outcomes of one event never match each other, so a cheap basket rests until someone takes it.
    """
    infos = [
        market(900 + i, neg_risk=True, event_id=EVENT, category="politics").model_copy(
            update={"question": f"Who wins the loopback election? Candidate {'ABCDEFG'[i]}"}
            | ({"fees": fees} if fees is not None else {})
        )
        for i in range(n)
    ]
    ex.add_neg_risk_event(EVENT, infos, augmented=False)
    listed = [ex.market_info(i.market) for i in infos]
    out = [i for i in listed if i is not None]
    for info in out:
        for price, qty in ((YES_ASK, size), (DEEP_ASK, DEEP_SIZE)):
            ev = order(ex, MAKER, info, Side.SELL, price, qty)
            assert ev.reason is None, ev
    return out


def society(only: tuple[str, ...] = DEFAULT_IDS) -> list[Agent[Any]]:
    """All six agents with the default strategies, agreeing on bankroll and account."""
    return default_agents(BANKROLL, None, ACCOUNT, only=only)


async def wait_until(
    pred: Callable[[], bool], what: str, timeout: float = 60.0, rt: LocalRuntime | None = None
) -> None:
    """Poll ``pred`` until it holds; the timeout only guards against a hang (it is not a timing
    assertion), and a crashed agent fails the wait at once with its exception."""
    deadline = time.monotonic() + timeout
    while not pred():
        if rt is not None and rt.crashes:
            agent_id, exc = rt.crashes[0]
            raise AssertionError(f"agent {agent_id} crashed while waiting for {what}: {exc!r}") from exc
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what} after {timeout:.0f}s")
        await asyncio.sleep(0.02)


@dataclass
class SocietyRun:
    """One society hosted on a wall-clock ``LocalRuntime`` with a DuckDB journal."""

    journal: Journal
    rt: LocalRuntime
    agents: dict[str, Agent[Any]]
    task: asyncio.Task[Any] | None = None
    extra_reprs: list[Any] = field(default_factory=list)
    journal_text: str = ""

    @classmethod
    def build(cls, tmp_path: Path, watcher_venue: VenuePort | Any, trader_venue: VenuePort) -> SocietyRun:
        journal = Journal(tmp_path / "journal.duckdb")
        rt = LocalRuntime(clock="wall", journal=journal, seed=7)
        agents = {a.agent_id: a for a in society()}
        for agent_id, agent in agents.items():
            venue = watcher_venue if agent_id == "market_watcher" else trader_venue if agent_id == "trader" else None
            rt.add_agent(agent, venue=venue)
        return cls(journal, rt, agents)

    def start(self) -> None:
        self.task = asyncio.create_task(self.rt.run())

    async def stop(self) -> None:
        await self.rt.stop()
        if self.task is not None:
            await asyncio.wait_for(self.task, 30)
        self.journal.flush_sync()

    # -- journal queries ---------------------------------------------------------------------
    def q(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self.journal.query(sql, params)

    def decisions(self) -> list[tuple[str, str]]:
        return [(r[0], r[1]) for r in self.q(
            "SELECT intent_id, action FROM risk_events WHERE kind = 'decision' ORDER BY rowid"
        )]

    def journalled_coids(self) -> list[str]:
        return [r[0] for r in self.q("SELECT client_order_id FROM orders WHERE agent = 'trader' ORDER BY rowid")]

    def final_statuses(self) -> dict[str, str]:
        """The last journalled status of each of the trader's orders."""
        rows = self.q("SELECT client_order_id, status FROM order_events WHERE agent = 'trader' ORDER BY rowid")
        return dict(rows)

    def all_settled(self) -> bool:
        """Something was ordered and every order the trader wrote ahead reached a final status."""
        coids = self.journalled_coids()
        final = self.final_statuses()
        return bool(coids) and all(final.get(c) in {s.value for s in TERMINAL} for c in coids)

    def journal_positions(self) -> dict[str, Decimal]:
        """token → size of the trader's latest journalled position (zero sizes dropped)."""
        rows = self.q(
            "SELECT token_id, size FROM positions WHERE agent = 'trader' ORDER BY time_ns, rowid"
        )
        last: dict[str, Decimal] = {}
        for token, size in rows:
            last[token] = Decimal(size)
        return {t: s for t, s in last.items() if s != 0}

    def journal_fills(self) -> dict[str, tuple[str, Decimal, Decimal]]:
        """fill id → (client order id, price, size) of the trader's journalled fills."""
        rows = self.q("SELECT fill_id, client_order_id, price, size FROM fills WHERE agent = 'trader'")
        return {r[0]: (r[1], Decimal(r[2]), Decimal(r[3])) for r in rows}

    def duplicate_fills(self) -> list[tuple[Any, ...]]:
        """Fills the trader journalled more than once (same fill id and settlement state)."""
        return self.q(
            "SELECT fill_id, settlement, COUNT(*) FROM fills WHERE agent = 'trader' "
            "GROUP BY fill_id, settlement HAVING COUNT(*) > 1"
        )

    def dump_journal(self) -> str:
        """Every row of every table as text (the secrets scan reads this)."""
        parts = []
        for table in SCHEMA:
            rows = self.q(f"SELECT * FROM {table}")  # table names: our own constants
            parts.append(f"## {table} ({len(rows)} rows)")
            parts.extend("|".join(str(v) for v in row) for row in rows)
        return "\n".join(parts)

    def status_json(self) -> str:
        """Every agent's ``status()`` the way ``polyagents status --json`` serialises it."""
        return json.dumps({k: a.status() for k, a in self.agents.items()}, default=str, sort_keys=True)

    def reprs(self, *more: Any) -> str:
        return "\n".join(repr(x) for x in (*self.agents.values(), *self.extra_reprs, *more))


def every_logger_at_debug(caplog: Any) -> None:
    """Root and every logger created so far at DEBUG (caplog restores each after the test)."""
    caplog.set_level(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):
        caplog.set_level(logging.DEBUG, logger=name)


def needles(*secrets: str) -> list[str]:
    """Each secret as it might be printed: as is, without 0x, upper-case hex."""
    out: list[str] = []
    for s in secrets:
        out += [s, s.removeprefix("0x"), s.removeprefix("0x").upper(), s.removeprefix("0x").lower()]
    return [n for n in dict.fromkeys(out) if len(n) >= 8]


def leaks(texts: Iterable[tuple[str, str]], secrets: list[str]) -> list[str]:
    """Where (by label) any secret appears; the secret itself is never echoed."""
    found = []
    for label, text in texts:
        for s in secrets:
            if s in text:
                found.append(f"{label}: ...{s[-4:]}")
    return found


async def close_all(*closers: Any) -> None:
    for c in closers:
        with contextlib.suppress(Exception):
            res = c()
            if asyncio.iscoroutine(res):
                await res
