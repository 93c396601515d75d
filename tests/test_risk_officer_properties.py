"""Property: whatever stream of intents, fills, cancels, rejections and price moves arrives, the
positions plus the open orders the risk officer let through never exceed a limit.

The exposure is recomputed here from the stream itself (fills at cost, open buys at their limit),
independently of the officer's own bookkeeping.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.base import Agent, Subscription
from agents.risk_officer import RiskOfficer
from cluster.runtime_local import LocalRuntime
from protocols import (
    Envelope,
    Fill,
    IntentLeg,
    MarketInfo,
    OrderEvent,
    OrderIntent,
    OrderStatus,
    ReasonCode,
    RiskAction,
    RiskDecision,
    Side,
    TopOfBook,
)

D = Decimal
BANKROLL = D(1000)
LIMITS = {"trade": D(20), "market": D(50), "event": D(80), "total": D(120)}
MARKETS = {"m0": "e0", "m1": "e0", "m2": "e1", "m3": "e1"}


class Decisions(Agent[Any]):
    role: ClassVar[str] = "rec"
    subscriptions = (Subscription(RiskDecision),)

    def __init__(self) -> None:
        super().__init__("rec")
        self.got: list[RiskDecision] = []

    def on_message(self, envelope: Envelope) -> None:
        if isinstance(envelope.payload, RiskDecision):
            self.got.append(envelope.payload)


@dataclass
class Order:
    coid: str
    token: str
    market: str
    side: Side
    price: Decimal
    size: Decimal
    filled: Decimal = Decimal(0)
    done: bool = False


prices = st.integers(min_value=5, max_value=95).map(lambda c: D(c) / 100)
sizes = st.integers(min_value=5, max_value=120).map(D)
market_ids = st.sampled_from(sorted(MARKETS))
buys = st.tuples(st.just("buy"), market_ids, st.booleans(), prices, sizes, st.sampled_from([False, False, True]))
ops = st.one_of(
    buys,
    buys,
    buys,
    st.tuples(st.just("sell"), st.integers(0, 50), st.integers(1, 100)),
    st.tuples(st.just("fill"), st.integers(0, 50), st.integers(1, 100), st.integers(0, 10), st.booleans()),
    st.tuples(st.just("cancel"), st.integers(0, 50)),
    st.tuples(st.just("reject"), st.integers(0, 50)),
    st.tuples(st.just("price"), market_ids, prices, st.integers(1, 4)),
    st.tuples(st.just("wait"), st.integers(1, 30)),
)


async def run(stream: list[tuple[Any, ...]]) -> None:
    rt = LocalRuntime(seed=7)
    ro = RiskOfficer(
        "risk_officer",
        {
            "bankroll": BANKROLL,
            "max_event_fraction": "0.08",
            "max_total_fraction": "0.12",
            "max_trades_per_day": 10_000,
            "check_interval_ns": 0,
        },
    )
    rec = Decisions()
    rt.add_agent(ro)
    rt.add_agent(rec)
    now = rt.now_ns

    asks: dict[str, Decimal] = {}

    def book(token: str, mid: Decimal, depth: int) -> None:
        bid, ask = max(mid - D("0.01"), D("0.01")), min(mid + D("0.01"), D("0.99"))
        asks[token] = ask
        q = D(depth * 40)
        rt.inject(TopOfBook(time_ns=now(), token_id=token, market=token.rsplit("-", 1)[0], best_bid=bid,
                            best_bid_size=q, best_ask=ask, best_ask_size=q, bids=((bid, q),), asks=((ask, q),)))

    for m, e in MARKETS.items():
        rt.inject(MarketInfo(time_ns=now(), market=m, question="?", token_ids=(f"{m}-yes", f"{m}-no"), event_id=e))
        book(f"{m}-yes", D("0.5"), 4)
        book(f"{m}-no", D("0.5"), 4)
    await rt.run(until_ns=now())

    orders: list[Order] = []
    held: dict[str, tuple[Decimal, Decimal]] = {}  # token -> (size, cost)
    n = itertools.count(1)
    fid = itertools.count(1)

    def apply_fill(o: Order, q: Decimal, px: Decimal) -> None:
        size, cost = held.get(o.token, (D(0), D(0)))
        if o.side is Side.BUY:
            held[o.token] = (size + q, cost + q * px)
        else:
            avg = cost / size if size else D(0)
            held[o.token] = (size - q, cost - avg * q if size - q else D(0))

    def exposure() -> tuple[dict[str, Decimal], dict[str, Decimal], Decimal]:
        by_m: dict[str, Decimal] = {}
        for tok, (_s, cost) in held.items():
            m = tok.rsplit("-", 1)[0]
            by_m[m] = by_m.get(m, D(0)) + cost
        for o in orders:
            if o.side is Side.BUY and not o.done:
                by_m[o.market] = by_m.get(o.market, D(0)) + (o.size - o.filled) * o.price
        by_e: dict[str, Decimal] = {}
        for m, v in by_m.items():
            by_e[MARKETS[m]] = by_e.get(MARKETS[m], D(0)) + v
        return by_m, by_e, sum(by_m.values(), D(0))

    for op in stream:
        kind = op[0]
        if kind in ("buy", "sell"):
            iid = f"i{next(n)}"
            if kind == "buy":
                _, m, yes, px, size, paired = op
                if paired:  # a set bought at the asks (the officer checks risk, not edge)
                    legs = [(f"{m}-{o}", Side.BUY, asks[f"{m}-{o}"], size) for o in ("yes", "no")]
                else:
                    legs = [(f"{m}-{'yes' if yes else 'no'}", Side.BUY, px, size)]
            else:
                _, idx, pct = op
                toks = [t for t, (s, _c) in held.items() if s > 0]
                if not toks:
                    continue
                tok = toks[idx % len(toks)]
                q = max(D(5), (held[tok][0] * pct / 100).quantize(D("0.01")))
                legs = [(tok, Side.SELL, D("0.05"), q)]
            intent = OrderIntent(
                time_ns=now(), intent_id=iid, strategy="prop", paired=len(legs) > 1,
                legs=tuple(IntentLeg(token_id=t, market=t.rsplit("-", 1)[0], side=s, price=p, size=q,
                                     event_id=MARKETS[t.rsplit("-", 1)[0]]) for t, s, p, q in legs),
            )
            rt.inject(intent)
            await rt.run(until_ns=now())
            dec = rec.got[-1]
            assert dec.intent_id == iid
            if dec.action is not RiskAction.REJECTED:
                assert dec.intent.notional <= LIMITS["trade"]
                for i, leg in enumerate(dec.intent.legs):
                    orders.append(Order(f"{iid}:{i}", leg.token_id, leg.market, leg.side, leg.price, leg.size))
        elif kind == "fill":
            _, idx, pct, improve, event_first = op
            live = [o for o in orders if not o.done]
            if not live:
                continue
            o = live[idx % len(live)]
            q = min(o.size - o.filled, max(D("0.01"), ((o.size - o.filled) * pct / 100).quantize(D("0.01"))))
            if o.side is Side.SELL:
                q = min(q, held.get(o.token, (D(0), D(0)))[0])
                if q <= 0:
                    continue
            px = max(D("0.01"), o.price - D(improve) / 100) if o.side is Side.BUY else o.price
            o.filled += q
            apply_fill(o, q, px)
            status = OrderStatus.FILLED if o.filled >= o.size else OrderStatus.PARTIALLY_FILLED
            ev = OrderEvent(time_ns=now(), client_order_id=o.coid, account="us", token_id=o.token, market=o.market,
                            side=o.side, price=o.price, size=o.size, status=status, filled=o.filled)
            fill = Fill(time_ns=now(), fill_id=f"f{next(fid)}", client_order_id=o.coid, account="us",
                        token_id=o.token, market=o.market, side=o.side, price=px, size=q)
            for p in ((ev, fill) if event_first else (fill, ev)):
                rt.inject(p)
            o.done = status is OrderStatus.FILLED
            await rt.run(until_ns=now())
        elif kind in ("cancel", "reject"):
            live = [o for o in orders if not o.done]
            if not live:
                continue
            o = live[op[1] % len(live)]
            o.done = True
            rt.inject(OrderEvent(
                time_ns=now(), client_order_id=o.coid, account="us", token_id=o.token, market=o.market, side=o.side,
                price=o.price, size=o.size, filled=o.filled,
                status=OrderStatus.CANCELLED if kind == "cancel" else OrderStatus.REJECTED,
                reason=None if kind == "cancel" else ReasonCode.VENUE_ERROR,
            ))
            await rt.run(until_ns=now())
        elif kind == "price":
            _, m, mid, depth = op
            book(f"{m}-yes", mid, depth)
            book(f"{m}-no", D(1) - mid, depth)
            await rt.run(until_ns=now())
        else:
            await rt.run(until_ns=now() + op[1] * 1_000_000_000)
            for m in MARKETS:  # keep books fresh enough to trade
                book(f"{m}-yes", D("0.5"), 4)
                book(f"{m}-no", D("0.5"), 4)
            await rt.run(until_ns=now())

        by_m, by_e, total = exposure()
        assert all(v <= LIMITS["market"] for v in by_m.values()), (by_m, op)
        assert all(v <= LIMITS["event"] for v in by_e.values()), (by_e, op)
        assert total <= LIMITS["total"], (total, op)
    assert not rt.crashes


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ops, min_size=5, max_size=60))
def test_positions_plus_open_orders_never_exceed_any_limit(stream: list[tuple[Any, ...]]) -> None:
    asyncio.run(run(stream))


@given(
    steps=st.lists(st.tuples(st.integers(0, 30), st.integers(0, 5_000)), min_size=1, max_size=200),
    max_decided=st.integers(1, 20),
    ttl=st.integers(1, 20_000),
)
@settings(max_examples=200, deadline=None)
def test_decided_intent_ids_stay_within_their_size_and_age_bounds(
    steps: list[tuple[int, int]], max_decided: int, ttl: int
) -> None:
    ro = RiskOfficer("risk_officer", {"max_decided": max_decided, "decided_ttl_ns": ttl})
    now = 1_700_000_000_000_000_000
    remembered: set[str] = set()
    for n, (i, dt) in enumerate(steps):
        now += dt
        iid = f"i{i}:{n}"  # the officer remembers an id once (a duplicate is refused before this)
        ro._remember(iid, now)
        remembered.add(iid)
        assert len(ro.decided) <= max_decided
        assert all(t >= now - ttl for t in ro.decided.values())
        assert iid in ro.decided  # the id just decided is always kept
        assert ro.decided_evicted + len(ro.decided) == len(remembered)  # every eviction counted
