"""Property tests of the simulated CLOB over random order streams from several accounts.

After every step: value is conserved (cash + fees + what outstanding shares pay, under every
possible outcome — minting, merging, splitting and neg-risk conversion included), reservations
equal what the open orders need, no book is crossed, no fill is worse than its limit, makers trade
at exactly their own price, FOK is all-or-nothing, fills follow price-time priority as computed by
an independent model, and a rejected order changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal as D
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from protocols import Liquidity, OrderStatus, Side
from venues.sim import SimExchange, SimRejected
from venues.sim.testing import binary_market, order

NS = 1_000_000_000
ACCOUNTS = ("a", "b", "c")


@dataclass(frozen=True)
class Submit:
    account: str
    token: str
    side: str
    price: D
    size: D
    tif: str
    post_only: bool
    lifetime_s: int


@dataclass(frozen=True)
class Cancel:
    account: str
    pick: int


@dataclass(frozen=True)
class CancelAll:
    account: str
    market: str | None


@dataclass(frozen=True)
class Split:
    account: str
    market: str
    size: D
    merge: bool


@dataclass(frozen=True)
class Convert:
    account: str
    markets: tuple[str, ...]
    size: D


@dataclass(frozen=True)
class Advance:
    seconds: int


@dataclass(frozen=True)
class Tick:
    market: str
    tick: D


def submits(markets: dict[str, str]) -> st.SearchStrategy[Submit]:
    """Orders around the middle of the book so that many cross; ``markets`` maps name → tick."""

    @st.composite
    def build(draw: st.DrawFn) -> Submit:
        m = draw(st.sampled_from(sorted(markets)))
        tick = D(markets[m])
        off_grid = draw(st.integers(0, 30)) == 0
        step = tick / 2 if off_grid else tick  # off the market's first tick (and maybe its current one)
        lo, hi = int(D("0.44") / step), int(D("0.56") / step)
        price = draw(st.integers(lo, hi)) * step
        tif = draw(st.sampled_from(["GTC", "GTC", "GTC", "GTD", "FOK", "FAK"]))
        return Submit(
            account=draw(st.sampled_from(ACCOUNTS)),
            token=f"{m}-{draw(st.sampled_from(['yes', 'no']))}",
            side=draw(st.sampled_from(["BUY", "SELL"])),
            price=price,
            size=D(draw(st.integers(1, 80))) / 2,
            tif=tif,
            post_only=tif in ("GTC", "GTD") and draw(st.integers(0, 5)) == 0,
            lifetime_s=draw(st.integers(30, 300)),
        )

    return build()


def ops(markets: dict[str, str], event: bool) -> st.SearchStrategy[list[Any]]:
    names = sorted(markets)
    acct = st.sampled_from(ACCOUNTS)
    choices: list[st.SearchStrategy[Any]] = [
        submits(markets),
        submits(markets),
        submits(markets),
        submits(markets),
        st.builds(Cancel, acct, st.integers(0, 50)),
        st.builds(CancelAll, acct, st.one_of(st.none(), st.sampled_from(names))),
        st.builds(
            Split,
            acct,
            st.sampled_from(names),
            st.integers(1, 60).map(lambda i: D(i) / 2),
            st.booleans(),
        ),
        st.builds(Advance, st.integers(1, 120)),
        st.builds(Tick, st.sampled_from(names), st.sampled_from([D("0.01"), D("0.001")])),
    ]
    if event:
        choices.append(
            st.builds(
                Convert,
                acct,
                st.lists(st.sampled_from(names), min_size=1, max_size=len(names), unique=True).map(tuple),
                st.integers(1, 40).map(lambda i: D(i) / 2),
            )
        )
    return st.lists(st.one_of(*choices), min_size=10, max_size=50)


def state(ex: SimExchange, tokens: list[str]) -> tuple[Any, ...]:
    """Everything an outsider can observe, for before/after comparison of a rejection."""
    per_acct = tuple(
        (
            ex.balance(a),
            sorted(ex.positions(a), key=lambda p: p.token_id),
            ex.open_orders(a),
            len(ex.trades(a)),
            ex.rebates_accrued(a),
        )
        for a in ACCOUNTS
    )
    return per_acct, tuple(ex.book(t) for t in tokens), ex.audit()


def outcome_values(ex: SimExchange, names: list[str], event: bool) -> set[int]:
    """cash + fees + payout of all shares, under each possible resolution; must stay = deposits."""
    a = ex.audit()
    sup = a["supply"]
    base = a["cash"] + a["fee_pool"]
    if event:  # exactly one market's YES wins, every other NO wins
        return {base + sup[f"{w}-yes"] + sum(sup[f"{m}-no"] for m in names if m != w) for w in names}
    values = set()
    for m in names:  # independent markets: YES supply must equal NO supply (complete sets)
        assert sup[f"{m}-yes"] == sup[f"{m}-no"], f"{m}: YES and NO supply differ"
    values.add(base + sum(sup[f"{m}-yes"] for m in names))
    return values


def resting(ex: SimExchange) -> list[tuple[int, int, bool, str, str, int]]:
    """Open orders as (yes-space price, arrival seq, is_bid, account, coid, remaining) in micro-units."""
    out = []
    for a in ACCOUNTS:
        for o in ex.open_orders(a):
            is_yes = o.token_id.endswith("-yes")
            y = o.price if is_yes else 1 - o.price
            is_bid = (o.side is Side.BUY) == is_yes
            out.append(
                (
                    int(y * 1_000_000),
                    int(o.venue_order_id.split("-")[1]),
                    is_bid,
                    a,
                    o.client_order_id + "|" + o.market,
                    int(o.remaining * 1_000_000),
                )
            )
    return out


def expected_makers(book: list[tuple[int, int, bool, str, str, int]], s: Submit) -> list[tuple[str, str, int]]:
    """Independent model of price-time priority: which resting orders a taker fills, in order."""
    market = s.token.rsplit("-", 1)[0]
    is_yes = s.token.endswith("-yes")
    is_bid = (s.side == "BUY") == is_yes
    limit = int((s.price if is_yes else 1 - s.price) * 1_000_000)
    others = [r for r in book if r[2] != is_bid and r[4].endswith("|" + market)]
    if is_bid:
        others = sorted((r for r in others if r[0] <= limit), key=lambda r: (r[0], r[1]))
    else:
        others = sorted((r for r in others if r[0] >= limit), key=lambda r: (-r[0], r[1]))
    need = int(s.size * 1_000_000)
    out = []
    for r in others:
        if need == 0:
            break
        q = min(need, r[5])
        out.append((r[3], r[4].split("|")[0], q))
        need -= q
    return out


def run(ops_list: list[Any], markets: dict[str, str], event: bool) -> None:
    ex = SimExchange()
    names = sorted(markets)
    infos = [
        binary_market(m, tick=tick, min_size="2", fee_rate=("0.07" if i % 2 == 0 else "0.25"), fee_exponent=1 + i % 2)
        for i, (m, tick) in enumerate(sorted(markets.items()))
    ]
    if event:
        ex.add_neg_risk_event("ev", infos)
    else:
        for info in infos:
            ex.add_market(info)
    tokens = [f"{m}-{s}" for m in names for s in ("yes", "no")]
    fees = {i.market: (i.fee_rate, i.fee_exponent) for i in infos}
    for a in ACCOUNTS:
        ex.open_account(a, 300)
        for m in names:
            ex.split(a, m, 40)
    deposits = ex.audit()["deposits"]
    n_trades = {a: 0 for a in ACCOUNTS}
    for i, op in enumerate(ops_list):
        coid = f"o{i}"
        if isinstance(op, Submit):
            before = state(ex, tokens)
            book = resting(ex)
            exp = ex.now_ns() + op.lifetime_s * NS if op.tif == "GTD" else None
            req = order(op.account, coid, op.token, op.side, op.price, op.size, tif=op.tif,
                        post_only=op.post_only, expires_ns=exp)  # fmt: skip
            ev = ex.submit(op.account, req)
            if ev.status is OrderStatus.REJECTED:
                assert ev.reason is not None
                assert state(ex, tokens) == before, f"rejection {ev.reason} changed state"
                continue
            if op.tif == "FOK":
                assert (ev.status, ev.filled) == (OrderStatus.FILLED, op.size), "FOK not all-or-nothing"
            assert ev.filled <= op.size
            # fills of this order and of the makers it hit, in trade order
            new = []
            for a in ACCOUNTS:
                fills = ex.trades(a)
                new.extend(fills[n_trades[a] :])
                n_trades[a] = len(fills)
            new.sort(key=lambda f: (int(f.fill_id.split("-")[1]), f.fill_id))
            taker = [f for f in new if f.liquidity is Liquidity.TAKER]
            makers = [f for f in new if f.liquidity is Liquidity.MAKER]
            assert all(f.client_order_id == coid and f.account == op.account for f in taker)
            assert sum(f.size for f in taker) == ev.filled
            rate, exp_ = fees[f"{op.token.rsplit('-', 1)[0]}"]
            for f in taker:
                assert (f.price <= op.price) if op.side == "BUY" else (f.price >= op.price), "fill worse than limit"
                # the chain's rule: floored at the 5th decimal (was floored at the 6th)
                expected_fee = (f.size * rate * (f.price * (1 - f.price)) ** exp_).quantize(
                    D("0.00001"), "ROUND_FLOOR"
                )
                assert f.fee == expected_fee
            for f in makers:
                mo = ex.order(f.account, f.client_order_id)
                assert mo is not None and f.price == mo.price, "maker did not trade at its own price"
                assert f.fee == 0
            got = [(f.account, f.client_order_id, int(f.size * 1_000_000)) for f in makers]
            if op.post_only:
                assert got == []
            else:
                assert got == expected_makers(book, op), "price-time priority violated"
        elif isinstance(op, Cancel):
            opens = ex.open_orders(op.account)
            if opens:
                ev = ex.cancel(op.account, opens[op.pick % len(opens)].client_order_id)
                assert ev.status is OrderStatus.CANCELLED
        elif isinstance(op, CancelAll):
            ex.cancel_all(op.account, op.market)
            assert all(op.market not in (None, o.market) for o in ex.open_orders(op.account))
        elif isinstance(op, Split | Convert):
            before = state(ex, tokens)
            try:
                if isinstance(op, Convert):
                    ex.convert_neg_risk(op.account, "ev", [f"{m}-no" for m in op.markets], op.size)
                elif op.merge:
                    ex.merge(op.account, op.market, op.size)
                else:
                    ex.split(op.account, op.market, op.size)
            except SimRejected:
                assert state(ex, tokens) == before
        elif isinstance(op, Advance):
            ex.set_time(ex.now_ns() + op.seconds * NS)
        elif isinstance(op, Tick):
            ex.set_tick_size(op.market, op.tick)
            for a in ACCOUNTS:
                assert all(o.price % op.tick == 0 for o in ex.open_orders(a) if o.market == op.market)
        # invariants after every step
        audit = ex.audit()
        assert audit["mismatches"] == []
        assert outcome_values(ex, names, event) == {deposits}
        for m in names:
            snap = ex.book(f"{m}-yes")
            if snap.bids and snap.asks:
                assert snap.bids[0][0] < snap.asks[0][0], f"{m} crossed after step {i}: {op}"
    # everything still settles to exactly the deposits
    if event:
        ex.resolve_event("ev", names[0])
    else:
        for m in names:
            ex.resolve(m, None)
    final = ex.audit()
    assert final["cash"] + final["fee_pool"] == deposits
    assert all(s == 0 for s in final["supply"].values())


MARKETS = {"m1": "0.01", "m2": "0.001"}
EVENT = {"ea": "0.01", "eb": "0.01", "ec": "0.001"}


@settings(max_examples=120, deadline=None)
@given(ops(MARKETS, event=False))
def test_random_streams_on_independent_markets_keep_every_invariant(stream: list[Any]) -> None:
    run(stream, MARKETS, event=False)


@settings(max_examples=60, deadline=None)
@given(ops(EVENT, event=True))
def test_random_streams_on_a_neg_risk_event_with_conversions_keep_every_invariant(stream: list[Any]) -> None:
    run(stream, EVENT, event=True)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.one_of(submits(MARKETS), st.builds(Cancel, st.sampled_from(ACCOUNTS), st.integers(0, 50))), max_size=60)
)
def test_fast_path_and_request_path_reach_the_same_state(stream: list[Any]) -> None:
    from venues.sim import FAK, FOK, GTC, GTD

    tifs = {"GTC": GTC, "GTD": GTD, "FOK": FOK, "FAK": FAK}
    exchanges = []
    for fast in (False, True):
        ex = SimExchange()
        for i, (m, tick) in enumerate(sorted(MARKETS.items())):
            ex.add_market(binary_market(m, tick=tick, min_size="2", fee_exponent=1 + i))
        for a in ACCOUNTS:
            ex.open_account(a, 300)
            for m in MARKETS:
                ex.split(a, m, 40)
        for i, op in enumerate(stream):
            if isinstance(op, Cancel):
                opens = ex.open_orders(op.account)
                if opens:
                    coid = opens[op.pick % len(opens)].client_order_id
                    ex.cancel_fast(op.account, coid) if fast else ex.cancel(op.account, coid)
                continue
            exp = ex.now_ns() + op.lifetime_s * NS if op.tif == "GTD" else None
            if fast:
                ex.submit_fast(
                    op.account, f"o{i}", op.token, op.side == "BUY", int(op.price * 1_000_000),
                    int(op.size * 1_000_000), tifs[op.tif], op.post_only, exp,
                )  # fmt: skip
            else:
                req = order(op.account, f"o{i}", op.token, op.side, op.price, op.size, tif=op.tif,
                            post_only=op.post_only, expires_ns=exp)  # fmt: skip
                ex.submit(op.account, req)
        exchanges.append(ex)
    slow, quick = exchanges
    assert slow.audit() == quick.audit()
    for t in ("m1-yes", "m1-no", "m2-yes", "m2-no"):
        assert slow.book(t) == quick.book(t)
    for a in ACCOUNTS:
        assert slow.trades(a) == quick.trades(a)
        assert slow.open_orders(a) == quick.open_orders(a)
