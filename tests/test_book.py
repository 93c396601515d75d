"""protocols.book: the one L2 book from snapshot + deltas, best prices, hashing, walking."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cluster.clock import DEFAULT_START_NS
from protocols import BookDelta, BookSnapshot, LevelChange, Side
from protocols.book import BookError, L2Book, book_hash, walk_levels
from venues.sim import book_hash as sim_book_hash

T0 = DEFAULT_START_NS
D = Decimal


def snap(bids: list[tuple[str, str]], asks: list[tuple[str, str]], *, tick: str = "0.01", seq: int = 0) -> BookSnapshot:
    return BookSnapshot(
        time_ns=T0,
        token_id="tok",
        market="m",
        bids=tuple((D(p), D(s)) for p, s in bids),
        asks=tuple((D(p), D(s)) for p, s in asks),
        tick_size=D(tick),
        seq=seq,
    )


def delta(*changes: tuple[Side, str, str], seq: int = 0) -> BookDelta:
    return BookDelta(
        time_ns=T0 + 1,
        token_id="tok",
        market="m",
        changes=tuple(LevelChange(side=s, price=D(p), size=D(z)) for s, p, z in changes),
        seq=seq,
    )


def test_book_from_snapshot_reports_levels_best_first() -> None:
    b = L2Book.from_snapshot(snap([("0.40", "10"), ("0.39", "5")], [("0.42", "7"), ("0.45", "1")]))
    assert b.best_bid == D("0.40") and b.best_ask == D("0.42")
    assert b.bids() == ((D("0.40"), D(10)), (D("0.39"), D(5)))
    assert b.asks(1) == ((D("0.42"), D(7)),)
    assert not b.is_crossed and not b.is_empty


def test_book_delta_sets_aggregate_and_zero_removes_level() -> None:
    b = L2Book.from_snapshot(snap([("0.40", "10")], [("0.42", "7")]))
    b.apply_delta(delta((Side.BUY, "0.41", "3"), (Side.SELL, "0.42", "0"), (Side.BUY, "0.40", "12"), seq=4))
    assert b.bids() == ((D("0.41"), D(3)), (D("0.40"), D(12)))
    assert b.asks() == ()
    assert b.seq == 4


def test_book_delta_off_tick_raises_book_error() -> None:
    b = L2Book.from_snapshot(snap([("0.40", "10")], []))
    with pytest.raises(BookError, match="tick"):
        b.apply_delta(delta((Side.BUY, "0.405", "1")))


def test_book_crossed_when_bid_meets_ask() -> None:
    b = L2Book.from_snapshot(snap([("0.40", "10")], [("0.42", "7")]))
    b.apply_delta(delta((Side.BUY, "0.42", "1")))
    assert b.is_crossed


def test_book_hash_equals_simulated_exchange_scheme_for_equal_books() -> None:
    b = L2Book.from_snapshot(snap([("0.50", "10.5")], [("0.60", "100")]))
    micro = ([(500_000, 10_500_000)], [(600_000, 100_000_000)])
    assert b.content_hash() == sim_book_hash("m", "tok", *micro)
    # equal values in different notations hash equal; the running hash equals a fresh one
    other = L2Book.from_snapshot(snap([("0.5", "10.50")], [("0.6", "100.0")]))
    assert other.content_hash() == b.content_hash()
    b.apply_delta(delta((Side.BUY, "0.49", "3"), (Side.BUY, "0.49", "0"), (Side.SELL, "0.60", "7")))
    assert b.content_hash() == book_hash("m", "tok", b.bids(), b.asks())


def test_hashed_book_refuses_size_finer_than_micro_and_is_unchanged() -> None:
    b = L2Book.from_snapshot(snap([("0.50", "10")], []))
    b.track_hash()
    h = b.content_hash()
    with pytest.raises(BookError, match="precision"):
        b.set_level(True, D("0.50"), D("1.0000001"))
    assert b.content_hash() == h and b.bids() == ((D("0.50"), D(10)),)


def test_walk_levels_buy_reports_cost_avg_and_impact() -> None:
    asks = ((D("0.50"), D(10)), (D("0.52"), D(10)))
    w = walk_levels(asks, D(15), buy=True)
    assert w.filled == 15 and w.cost == D("7.60") and w.complete
    assert w.avg_price == D("7.60") / 15
    assert w.worst_price == D("0.52") and w.levels == 2
    assert w.impact == (D("7.60") / 15 - D("0.50")) / D("0.50")


def test_walk_levels_sell_stops_at_limit_and_is_incomplete() -> None:
    bids = ((D("0.50"), D(10)), (D("0.45"), D(10)))
    w = walk_levels(bids, D(15), D("0.48"), buy=False)
    assert w.filled == 10 and not w.complete and w.worst_price == D("0.50")


TICK = D("0.01")
prices = st.integers(min_value=1, max_value=99).map(lambda i: i * TICK)
sizes = st.integers(min_value=0, max_value=500).map(D)
levels = st.dictionaries(prices, sizes.filter(lambda s: s > 0), max_size=12)
changes = st.lists(st.tuples(st.booleans(), prices, sizes), min_size=1, max_size=40)


@settings(max_examples=150, deadline=None)
@given(bids=levels, asks=levels, steps=st.lists(changes, min_size=1, max_size=8))
def test_book_random_deltas_equal_snapshot_of_final_state(
    bids: dict[Decimal, Decimal], asks: dict[Decimal, Decimal], steps: list[list[tuple[bool, Decimal, Decimal]]]
) -> None:
    """Applying deltas to a snapshot gives the same book as a snapshot of the final levels."""
    first = BookSnapshot(
        time_ns=T0,
        token_id="tok",
        market="m",
        bids=tuple(sorted(bids.items(), reverse=True)),
        asks=tuple(sorted(asks.items())),
    )
    book = L2Book.from_snapshot(first)
    want_b, want_a = dict(bids), dict(asks)
    for seq, step in enumerate(steps, start=1):
        d = BookDelta(
            time_ns=T0 + seq,
            token_id="tok",
            market="m",
            changes=tuple(LevelChange(side=Side.BUY if b else Side.SELL, price=p, size=s) for b, p, s in step),
            seq=seq,
        )
        book.apply_delta(d)
        for is_bid, p, s in step:
            side = want_b if is_bid else want_a
            if s == 0:
                side.pop(p, None)
            else:
                side[p] = s
    final = BookSnapshot(
        time_ns=T0,
        token_id="tok",
        market="m",
        bids=tuple(sorted(want_b.items(), reverse=True)),
        asks=tuple(sorted(want_a.items())),
    )
    rebuilt = L2Book.from_snapshot(final)
    assert book.same_levels(rebuilt)
    assert book.bids() == final.bids and book.asks() == final.asks
    assert book.content_hash() == book_hash("m", "tok", final.bids, final.asks)
    assert book.best_bid == (max(want_b) if want_b else None)
    assert book.best_ask == (min(want_a) if want_a else None)
    assert L2Book.from_snapshot(book.to_snapshot()).same_levels(book)


# -- property: a valid stream never leaves the book crossed, and the tracked hash stays exact ------

_GRID_TICKS = [D("0.1"), D("0.01"), D("0.001"), D("0.0001"), D("0.0025")]
_micro_sizes = st.integers(min_value=1, max_value=5_000_000_000).map(lambda n: D(n) / 1_000_000)


def _levels_of(side: dict[int, Decimal], tick: Decimal, *, bids: bool) -> tuple[tuple[Decimal, Decimal], ...]:
    return tuple((i * tick, s) for i, s in sorted(side.items(), reverse=bids))


@settings(max_examples=120, deadline=None)
@given(data=st.data(), tick=st.sampled_from(_GRID_TICKS), tracked_from_start=st.booleans())
def test_book_after_any_valid_stream_is_never_crossed_and_its_tracked_hash_equals_a_full_recompute(
    data: st.DataObject, tick: Decimal, tracked_from_start: bool
) -> None:
    """A stream a matching engine could send — a snapshot, then events (deltas, sweeps that cross
    for a moment inside one event, resting orders taken, fresh snapshots) each of which leaves the
    book uncrossed — keeps the book equal to a model of its levels, never crossed after an event,
    and, with ``track_hash`` on, its incrementally kept hash equal to the hash recomputed from
    scratch over the same levels."""
    top = int(1 / tick)  # prices are indices 1 .. top - 1 on the grid
    idx = st.integers(min_value=1, max_value=top - 1)

    def valid_snapshot(seq: int) -> tuple[dict[int, Decimal], dict[int, Decimal], BookSnapshot]:
        split = data.draw(st.integers(min_value=1, max_value=top - 1), label="split")
        bids = data.draw(st.dictionaries(st.integers(1, max(1, split - 1)), _micro_sizes, max_size=8), label="bids")
        asks = data.draw(st.dictionaries(st.integers(split, top - 1), _micro_sizes, max_size=8), label="asks")
        bids = {i: s for i, s in bids.items() if i < split}
        s = BookSnapshot(
            time_ns=T0 + seq, token_id="tok", market="m", tick_size=tick, seq=seq,
            bids=_levels_of(bids, tick, bids=True), asks=_levels_of(asks, tick, bids=False),
        )
        return bids, asks, s

    model_b, model_a, first = valid_snapshot(0)
    book = L2Book.from_snapshot(first)
    if tracked_from_start:
        book.track_hash()
    events = data.draw(st.lists(st.sampled_from(["set", "sweep", "take", "snapshot", "track"]), max_size=30))
    for seq, kind in enumerate(events, start=1):
        best_b = max(model_b, default=None)
        best_a = min(model_a, default=None)
        if kind == "set":  # one level's new aggregate size, never through the other side
            is_bid = data.draw(st.booleans())
            i = data.draw(idx)
            size = data.draw(st.one_of(st.just(D(0)), _micro_sizes))
            through = (best_a is not None and i >= best_a) if is_bid else (best_b is not None and i <= best_b)
            if size and through:
                size = D(0)
            book.apply_delta(BookDelta(
                time_ns=T0 + seq, token_id="tok", market="m", seq=seq,
                changes=(LevelChange(side=Side.BUY if is_bid else Side.SELL, price=i * tick, size=size),),
            ))
            side = model_b if is_bid else model_a
            if size:
                side[i] = size
            else:
                side.pop(i, None)
        elif kind == "sweep" and best_a is not None:  # a bid rests through the asks, then they go
            i = data.draw(st.integers(min_value=best_a, max_value=top - 1))
            size = data.draw(_micro_sizes)
            gone = sorted(a for a in model_a if a <= i)
            changes = [LevelChange(side=Side.BUY, price=i * tick, size=size)]
            changes += [LevelChange(side=Side.SELL, price=a * tick, size=D(0)) for a in gone]
            for ch in changes:  # one change at a time: crossed in between, as inside a burst
                book.apply_changes([ch])
            assert not book.is_crossed
            model_b[i] = size
            for a in gone:
                del model_a[a]
        elif kind == "take":  # a taker lifts asks (or hits bids) up to a limit
            buy = data.draw(st.booleans())
            limit = data.draw(idx)
            want = data.draw(_micro_sizes)
            taken = book.take(Side.BUY if buy else Side.SELL, want, limit * tick)
            side = model_a if buy else model_b
            left = want
            for p, q in taken:
                i = int(p / tick)
                assert (i <= limit) if buy else (i >= limit)
                side[i] -= q
                left -= q
                if side[i] == 0:
                    del side[i]
            assert left >= 0
        elif kind == "snapshot":
            model_b, model_a, s = valid_snapshot(seq)
            book.load_snapshot(s)
        elif kind == "track":
            book.track_hash()
        assert not book.is_crossed
        assert book.bids() == _levels_of(model_b, tick, bids=True)
        assert book.asks() == _levels_of(model_a, tick, bids=False)
        full = book_hash("m", "tok", book.bids(), book.asks())
        assert book.content_hash() == full
        assert L2Book.from_snapshot(book.to_snapshot()).content_hash() == full  # untracked, from scratch
