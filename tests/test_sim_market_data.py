"""The simulated feed must look exactly like the live one after the adapter: valid payloads, books
best first, the NO book the mirror of YES, and deltas that rebuild the venue's book exactly."""

from __future__ import annotations

import random
from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from protocols import BookDelta, BookSnapshot, Payload, Side, TradePrint, payload_from_dict
from venues.sim import SimExchange, book_hash
from venues.sim.testing import binary_market, order

TOKENS = ["m1-yes", "m1-no"]


class Replica:
    """What a market watcher keeps: a book per token from a snapshot plus deltas."""

    def __init__(self) -> None:
        self.books: dict[str, tuple[dict[D, D], dict[D, D]]] = {}
        self.errors: list[str] = []
        self.seq: dict[str, int] = {}

    def levels(self, token: str) -> tuple[list[tuple[D, D]], list[tuple[D, D]]]:
        bids, asks = self.books[token]
        return sorted(bids.items(), reverse=True), sorted(asks.items())

    def hash(self, market: str, token: str) -> str:
        bids, asks = self.levels(token)
        to_int = lambda lv: [(int(p * 1_000_000), int(s * 1_000_000)) for p, s in lv]  # noqa: E731
        return book_hash(market, token, to_int(bids), to_int(asks))

    def __call__(self, p: Payload) -> None:
        if isinstance(p, BookSnapshot):
            self.books[p.token_id] = (dict(p.bids), dict(p.asks))
            self.seq[p.token_id] = p.seq
        elif isinstance(p, BookDelta):
            if p.token_id not in self.books:
                return
            if p.seq != self.seq[p.token_id] + 1:
                self.errors.append(f"gap in seq on {p.token_id}: {self.seq[p.token_id]} -> {p.seq}")
            self.seq[p.token_id] = p.seq
            bids, asks = self.books[p.token_id]
            for c in p.changes:
                side = bids if c.side is Side.BUY else asks
                if c.size == 0:
                    side.pop(c.price, None)
                else:
                    side[c.price] = c.size
            b, a = self.levels(p.token_id)
            if (b[0][0] if b else None) != p.best_bid or (a[0][0] if a else None) != p.best_ask:
                self.errors.append(f"best bid/ask of delta {p.seq} on {p.token_id} disagree with the book")
            if p.hash != self.hash(p.market, p.token_id):
                self.errors.append(f"hash of delta {p.seq} on {p.token_id} differs")


def random_flow(ex: SimExchange, rng: random.Random, n: int) -> None:
    accounts = ["a", "b", "c"]
    for i in range(n):
        acct = rng.choice(accounts)
        r = rng.random()
        if r < 0.15:
            opens = ex.open_orders(acct)
            if opens:
                ex.cancel(acct, rng.choice(opens).client_order_id)
            continue
        token = rng.choice(TOKENS)
        side = rng.choice(["BUY", "SELL"])
        price = D(rng.randint(30, 70)) / 100
        size = D(rng.randint(5, 40))
        tif = rng.choice(["GTC", "GTC", "GTC", "FAK", "FOK"])
        ex.submit(acct, order(acct, f"{acct}{i}", token, side, price, size, tif=tif))


def _exchange() -> SimExchange:
    ex = SimExchange()
    ex.add_market(binary_market("m1"))
    for a in ("a", "b", "c"):
        ex.open_account(a, 10_000)
        ex.split(a, "m1", 500)
    return ex


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_deltas_replayed_on_a_snapshot_rebuild_the_venue_book_exactly(seed: int) -> None:
    ex = _exchange()
    rep = Replica()
    ex.add_market_data_listener(rep)
    rep(ex.book("m1-yes"))
    rep(ex.book("m1-no"))
    random_flow(ex, random.Random(seed), 120)
    assert rep.errors == []
    for t in TOKENS:
        snap = ex.book(t)
        bids, asks = rep.levels(t)
        assert (tuple(bids), tuple(asks)) == (snap.bids, snap.asks)
        assert snap.hash == rep.hash("m1", t)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_every_emitted_payload_is_valid_and_round_trips_through_json(seed: int) -> None:
    ex = _exchange()
    seen: list[Payload] = []
    ex.add_listener(seen.append)
    random_flow(ex, random.Random(seed), 80)
    ex.set_tick_size("m1", D("0.001"))
    ex.deposit("a", 5)
    ex.pay_rebates()
    ex.resolve("m1", None)
    assert {type(p).__name__ for p in seen} >= {
        "BookDelta", "BookSnapshot", "TradePrint", "TickSizeChange", "MarketClosed", "MarketResolved",
        "OrderEvent", "Fill", "Settlement", "Balance",
    }  # fmt: skip
    for p in seen:
        assert payload_from_dict(p.model_dump(mode="json")) == p
        assert list(p.__dict__) == list(type(p).model_fields)  # built complete, in field order


def test_no_book_is_the_mirror_of_the_yes_book_best_first() -> None:
    ex = _exchange()
    ex.submit("a", order("a", "1", "m1-yes", "BUY", "0.40", 10))
    ex.submit("a", order("a", "2", "m1-yes", "BUY", "0.42", 7))
    ex.submit("b", order("b", "3", "m1-no", "BUY", "0.50", 5))  # YES ask 0.50
    ex.submit("c", order("c", "4", "m1-yes", "SELL", "0.55", 6))
    yes, no = ex.book("m1-yes"), ex.book("m1-no")
    assert yes.bids == ((D("0.42"), D(7)), (D("0.40"), D(10)))
    assert yes.asks == ((D("0.50"), D(5)), (D("0.55"), D(6)))
    assert no.bids == ((D("0.50"), D(5)), (D("0.45"), D(6)))
    assert no.asks == ((D("0.58"), D(7)), (D("0.60"), D(10)))
    BookSnapshot.model_validate(yes.model_dump())  # the real validators accept the shape
    BookSnapshot.model_validate(no.model_dump())
    top = ex.top("m1-no")
    assert (top.best_bid, top.best_ask, top.best_ask_size) == (D("0.50"), D("0.58"), D(7))


def test_trade_prints_name_each_traded_token_with_the_taker_side() -> None:
    ex = _exchange()
    prints: list[TradePrint] = []
    ex.add_market_data_listener(lambda p: prints.append(p) if isinstance(p, TradePrint) else None)
    ex.submit("a", order("a", "1", "m1-yes", "SELL", "0.60", 10))
    ex.submit("b", order("b", "2", "m1-yes", "BUY", "0.60", 10))  # transfer: one print
    ex.submit("a", order("a", "3", "m1-no", "BUY", "0.30", 10))
    ex.submit("c", order("c", "4", "m1-yes", "BUY", "0.75", 10))  # mint: both tokens print
    assert [(p.token_id, p.price, p.side, p.size) for p in prints] == [
        ("m1-yes", D("0.60"), Side.BUY, 10),
        ("m1-yes", D("0.70"), Side.BUY, 10),
        ("m1-no", D("0.30"), Side.SELL, 10),
    ]
    assert all(p.fee_rate_bps == 700 for p in prints)
    assert ex.book("m1-yes").last_trade_price == D("0.70")
    assert ex.book("m1-no").last_trade_price == D("0.30")


def test_a_fresh_book_is_numbered_from_one_so_consumers_check_sequence() -> None:
    ex = _exchange()
    assert ex.book("m1-yes").seq == 1  # seq 0 would mean "this feed is not numbered"


def test_snapshot_hash_ignores_time_and_changes_with_content() -> None:
    ex = _exchange()
    h0 = ex.book("m1-yes").hash
    ex.set_time(ex.now_ns() + 1_000_000_000)
    assert ex.book("m1-yes").hash == h0
    ex.submit("a", order("a", "1", "m1-yes", "BUY", "0.40", 10))
    assert ex.book("m1-yes").hash != h0


def test_query_answers_are_valid_complete_payloads() -> None:
    ex = _exchange()
    ex.submit("a", order("a", "1", "m1-yes", "BUY", "0.40", 10))
    ex.submit("b", order("b", "2", "m1-no", "BUY", "0.65", 4))
    answers: list[Payload] = [
        ex.book("m1-no"),
        ex.top("m1-yes"),
        ex.balance("a"),
        *ex.positions("b"),
        *ex.trades("b"),
        *ex.open_orders("a"),
        ex.cancel("a", "nope"),
        ex.cancel("a", "1"),
    ]
    for p in answers:
        assert type(p).model_validate(p.model_dump()) == p
        assert list(p.__dict__) == list(type(p).model_fields)
