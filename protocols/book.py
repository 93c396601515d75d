"""The one L2 order book: aggregate size per price level, both sides, for one outcome token.

Why here: the Polymarket WebSocket client (``venues``), the market watcher (``agents``) and the
paper venue (``venues``) all mirror venue books from snapshots and deltas, and neither layer may
import the other, so the book lives in ``protocols`` and depends on nothing else.

Why integer ticks: a price is stored as its index on the book's tick grid (``price / tick``), so
levels compare and sort as small ints and a price off the grid cannot enter the book at all. The
grid of each venue tick is built once (:func:`grid`): a dict from every on-grid price to its index
(equal Decimals hash equal, so ``0.5`` and ``0.50`` are one level) and the canonical Decimal of
every index. Sizes stay exact Decimals. A level change is O(log n) (``bisect`` on a sorted list of
indices), best bid/ask is O(1). No floats anywhere.

Levels are ``(price, size)``; sides are returned **best first** (bids descending, asks ascending),
as everywhere in ``protocols``.

The content hash (:func:`book_hash`) is the sum mod 2^128 of a BLAKE2b-128 per level (token, side,
price and size in micro-units) — the scheme the simulated exchange puts on its snapshots and
deltas. A book computes it on demand (O(levels)); after :meth:`L2Book.track_hash` it keeps it
current incrementally, so checking every delta's hash costs O(levels changed). Only books whose
venue uses this scheme need that: Polymarket's own ``hash`` is computed server-side over a
representation we cannot reproduce.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left, insort
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from protocols.enums import Side
from protocols.market import BookDelta, BookSnapshot, Level, LevelChange
from protocols.numbers import MICRO, TICK_SIZES

ZERO = Decimal(0)
_MASK = (1 << 128) - 1


class BookError(ValueError):
    """A snapshot or change that cannot apply to this book (off the tick grid, other token...)."""


# -- the content hash ---------------------------------------------------------------------------

_MICRO_OF: dict[Decimal, int] = {}


def micro(value: Decimal) -> int:
    """Decimal → integer micro-units, refusing anything finer than 1e-6 (cached)."""
    m = _MICRO_OF.get(value)
    if m is None:
        scaled = value * MICRO
        m = int(scaled)
        if scaled != m:
            raise BookError(f"{value} has more precision than 1e-6")
        if len(_MICRO_OF) < 100_000:
            _MICRO_OF[value] = m
    return m


def level_hash(token_id: str, is_bid: bool, price_micro: int, size_micro: int) -> int:
    """One level's term in the book hash: BLAKE2b-128 of ``token|B or A|price µ|size µ``."""
    key = f"{token_id}|{'B' if is_bid else 'A'}|{price_micro}|{size_micro}".encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=16).digest(), "big")


def hash_hex(acc: int) -> str:
    """A running sum of :func:`level_hash` terms as the 32-hex-digit book hash."""
    return f"{acc & _MASK:032x}"


def book_hash_micro(
    market: str, token_id: str, bids: Iterable[tuple[int, int]], asks: Iterable[tuple[int, int]]
) -> str:
    """The book's hash from micro-unit levels: the sum mod 2^128 of every level's :func:`level_hash`.

    A sum rather than a digest of the serialised book, so a book keeps it current in O(levels
    changed) per delta. Time and sequence are left out (equal books hash equal); ``market`` does
    not enter it (token ids are unique) and is accepted for symmetry with the feed's fields.
    """
    acc = 0
    for p, s in bids:
        acc += level_hash(token_id, True, p, s)
    for p, s in asks:
        acc += level_hash(token_id, False, p, s)
    return hash_hex(acc)


def book_hash(market: str, token_id: str, bids: Iterable[Level], asks: Iterable[Level]) -> str:
    """:func:`book_hash_micro` of Decimal levels."""
    return book_hash_micro(
        market, token_id, ((micro(p), micro(s)) for p, s in bids), ((micro(p), micro(s)) for p, s in asks)
    )


# -- the tick grid ------------------------------------------------------------------------------


class Grid:
    """Every price of one tick size on [0, 1]: index ↔ canonical Decimal ↔ micro-units."""

    __slots__ = ("index", "micro_step", "prices", "tick")

    def __init__(self, tick: Decimal) -> None:
        if tick not in TICK_SIZES:
            raise BookError(f"tick size {tick} is not a venue tick")
        self.tick = tick
        self.prices: tuple[Decimal, ...] = tuple(i * tick for i in range(int(1 / tick) + 1))
        self.index: dict[Decimal, int] = {p: i for i, p in enumerate(self.prices)}
        self.micro_step = int(tick * MICRO)

    def tick_of(self, price: Decimal) -> int:
        """The index of ``price``; BookError if it is off the grid or outside [0, 1]."""
        i = self.index.get(price)
        if i is None:
            if not ZERO <= price <= 1:
                raise BookError(f"price {price} outside [0, 1]")
            raise BookError(f"price {price} is off the tick grid {self.tick}")
        return i


_GRIDS: dict[Decimal, Grid] = {}


def grid(tick: Decimal) -> Grid:
    """The (shared, immutable) grid of a venue tick size."""
    g = _GRIDS.get(tick)
    if g is None:
        g = _GRIDS[tick] = Grid(tick)
    return g


# -- walking levels -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WalkResult:
    """What taking ``requested`` shares against a side of a book would do."""

    requested: Decimal
    filled: Decimal
    cost: Decimal
    """Sum of price × size over the levels taken (collateral paid on a buy, received on a sell)."""
    best_price: Decimal | None
    worst_price: Decimal | None
    levels: int

    @property
    def complete(self) -> bool:
        return self.filled >= self.requested

    @property
    def avg_price(self) -> Decimal | None:
        return None if self.filled == ZERO else self.cost / self.filled

    @property
    def impact(self) -> Decimal | None:
        """|avg − best| / best: the relative price the size costs over the touch (0 at the touch)."""
        avg = self.avg_price
        if avg is None or self.best_price is None or self.best_price == ZERO:
            return None
        return abs(avg - self.best_price) / self.best_price


def walk_levels(levels: Iterable[Level], size: Decimal, limit: Decimal | None = None, *, buy: bool) -> WalkResult:
    """Take ``size`` from best-first ``levels`` (asks for a buy, bids for a sell), up to ``limit``.

    Works on a :class:`L2Book` side or on the top levels a ``TopOfBook`` carries; in the latter
    case an incomplete walk may only mean the shown depth ran out.
    """
    if size < ZERO:
        raise ValueError(f"size must not be negative, got {size}")
    remaining = size
    cost = ZERO
    best: Decimal | None = None
    worst: Decimal | None = None
    n = 0
    for price, avail in levels:
        if remaining <= ZERO:
            break
        if limit is not None and (price > limit if buy else price < limit):
            break
        if avail <= ZERO:
            continue
        take = avail if avail < remaining else remaining
        cost += take * price
        remaining -= take
        if best is None:
            best = price
        worst = price
        n += 1
    return WalkResult(size, size - remaining, cost, best, worst, n)


# -- the book -----------------------------------------------------------------------------------


class L2Book:
    """Aggregate size per price level, both sides, for one token, on its tick grid."""

    __slots__ = (
        "_ask_px",
        "_asks",
        "_bid_px",
        "_bids",
        "_grid",
        "_hacc",
        "hash",
        "last_trade_price",
        "market",
        "min_order_size",
        "seq",
        "time_ns",
        "token_id",
    )

    def __init__(
        self,
        token_id: str,
        market: str,
        tick_size: Decimal = Decimal("0.01"),
        min_order_size: Decimal = Decimal(5),
    ) -> None:
        self.token_id = token_id
        self.market = market
        self._grid = grid(tick_size)
        self.min_order_size = min_order_size
        self.seq = 0
        self.hash = ""
        """What the venue last said the book's hash is (its scheme, not necessarily ours)."""
        self.time_ns = 0
        self.last_trade_price: Decimal | None = None
        self._bids: dict[int, Decimal] = {}  # tick index -> size
        self._asks: dict[int, Decimal] = {}
        self._bid_px: list[int] = []  # ascending; best bid last
        self._ask_px: list[int] = []  # ascending; best ask first
        self._hacc: int | None = None  # running sum of level hashes once track_hash() was called

    # -- building -------------------------------------------------------------------------------
    @classmethod
    def from_snapshot(cls, snap: BookSnapshot) -> L2Book:
        book = cls(snap.token_id, snap.market, snap.tick_size, snap.min_order_size)
        book.load_snapshot(snap)
        return book

    @property
    def tick_size(self) -> Decimal:
        return self._grid.tick

    def load_snapshot(self, snap: BookSnapshot) -> None:
        """Replace the whole book (and its tick, sequence and hash) with a snapshot; all or nothing."""
        if snap.token_id != self.token_id:
            raise BookError(f"snapshot of token {snap.token_id} applied to book of {self.token_id}")
        g = grid(snap.tick_size)
        bids = self._side_of(g, snap.bids)
        asks = self._side_of(g, snap.asks)
        self._grid = g
        self.min_order_size = snap.min_order_size
        self._bids, self._asks = bids, asks
        self._bid_px, self._ask_px = sorted(bids), sorted(asks)
        if self._hacc is not None:
            self._hacc = self._full_hash()
        self.seq = snap.seq
        self.hash = snap.hash
        self.time_ns = snap.time_ns
        if snap.last_trade_price is not None:
            self.last_trade_price = snap.last_trade_price

    def _side_of(self, g: Grid, levels: Iterable[Level]) -> dict[int, Decimal]:
        out: dict[int, Decimal] = {}
        for price, size in levels:
            if size < ZERO:
                raise BookError(f"negative size {size} at {price}")
            if size != ZERO:
                if self._hacc is not None:
                    micro(size)
                out[g.tick_of(price)] = size
        return out

    def set_level(self, is_bid: bool, price: Decimal, size: Decimal) -> None:
        """Set the aggregate size at one level; size 0 removes the level. Checked before any change.

        The hot path of every mirror (one call per level change), so without the hash it is one
        flat function: a dict lookup for the tick, a size check, a dict write and, only when a
        level appears or goes, a bisect on the sorted price index."""
        i = self._grid.index.get(price)
        if i is None:
            self._grid.tick_of(price)  # raises the precise BookError
            raise BookError(f"price {price} is off the tick grid {self._grid.tick}")  # pragma: no cover
        if self._hacc is not None:
            self._set(is_bid, i, self._checked(size, price))
            return
        if size < ZERO:
            raise BookError(f"negative size {size} at {price}")
        if is_bid:
            side, prices = self._bids, self._bid_px
        else:
            side, prices = self._asks, self._ask_px
        if not size:
            if side.pop(i, None) is not None:
                del prices[bisect_left(prices, i)]
            return
        if i not in side:
            insort(prices, i)
        side[i] = size

    def _checked(self, size: Decimal, price: Decimal) -> Decimal:
        if size < ZERO:
            raise BookError(f"negative size {size} at {price}")
        if self._hacc is not None and size != ZERO:
            micro(size)  # the hash needs micro-units: refuse a finer size before anything changes
        return size

    def _set(self, is_bid: bool, i: int, size: Decimal) -> None:
        side = self._bids if is_bid else self._asks
        old = side.get(i)
        if self._hacc is not None:
            p = i * self._grid.micro_step
            if old is not None:
                self._hacc -= level_hash(self.token_id, is_bid, p, micro(old))
            if size != ZERO:
                self._hacc += level_hash(self.token_id, is_bid, p, micro(size))
        if size == ZERO:
            if old is not None:
                del side[i]
                prices = self._bid_px if is_bid else self._ask_px
                del prices[bisect_left(prices, i)]
            return
        if old is None:
            insort(self._bid_px if is_bid else self._ask_px, i)
        side[i] = size

    def apply_changes(self, changes: Sequence[LevelChange]) -> None:
        """Apply level changes (BUY = bid level, SELL = ask level) in order; all or nothing."""
        tick_of = self._grid.tick_of
        checked = [(ch.side is Side.BUY, tick_of(ch.price), self._checked(ch.size, ch.price)) for ch in changes]
        for is_bid, i, size in checked:
            self._set(is_bid, i, size)

    def apply_delta(self, delta: BookDelta) -> None:
        """Apply a delta's level changes and take its seq, hash and time; all or nothing.

        Sequence, best-price and crossing checks are the caller's policy (the caller decides when
        a book lost sync, e.g. only once a burst of changes has settled); this only refuses changes
        that cannot be right for any book of this tick.
        """
        if delta.token_id != self.token_id:
            raise BookError(f"delta of token {delta.token_id} applied to book of {self.token_id}")
        self.apply_changes(delta.changes)
        if delta.seq:
            self.seq = delta.seq
        self.hash = delta.hash
        self.time_ns = delta.time_ns

    def clear(self, tick_size: Decimal | None = None) -> None:
        """Drop every level (and move to another tick grid, e.g. after a tick-size change)."""
        if tick_size is not None:
            self._grid = grid(tick_size)
        self._bids = {}
        self._asks = {}
        self._bid_px = []
        self._ask_px = []
        if self._hacc is not None:
            self._hacc = 0

    def take(self, side: Side, size: Decimal, limit: Decimal) -> list[Level]:
        """Remove up to ``size`` as a taker on ``side`` (a BUY lifts asks at or below ``limit``, a
        SELL hits bids at or above it), best first; returns the ``(price, size)`` taken per level."""
        buy = side is Side.BUY
        levels = self._asks if buy else self._bids
        prices = self._ask_px if buy else self._bid_px
        lim = self._grid.tick_of(limit)
        prices_of = self._grid.prices
        out: list[Level] = []
        remaining = size
        while remaining > ZERO and prices:
            i = prices[0] if buy else prices[-1]
            if (i > lim) if buy else (i < lim):
                break
            avail = levels[i]
            q = avail if avail < remaining else remaining
            self._set(not buy, i, avail - q)
            remaining -= q
            out.append((prices_of[i], q))
        return out

    def track_hash(self) -> None:
        """Keep :meth:`content_hash` current on every change from now on (O(levels changed))."""
        if self._hacc is None:
            self._hacc = self._full_hash()

    def _full_hash(self) -> int:
        step, tok = self._grid.micro_step, self.token_id
        acc = 0
        for i, s in self._bids.items():
            acc += level_hash(tok, True, i * step, micro(s))
        for i, s in self._asks.items():
            acc += level_hash(tok, False, i * step, micro(s))
        return acc

    # -- reading --------------------------------------------------------------------------------
    def on_grid(self, price: Decimal) -> bool:
        """Is ``price`` a price of this book's tick grid (and in [0, 1])?"""
        return price in self._grid.index

    @property
    def best_bid(self) -> Decimal | None:
        px = self._bid_px
        return self._grid.prices[px[-1]] if px else None

    @property
    def best_ask(self) -> Decimal | None:
        px = self._ask_px
        return self._grid.prices[px[0]] if px else None

    def best_bid_level(self) -> Level | None:
        if not self._bid_px:
            return None
        i = self._bid_px[-1]
        return self._grid.prices[i], self._bids[i]

    def best_ask_level(self) -> Level | None:
        if not self._ask_px:
            return None
        i = self._ask_px[0]
        return self._grid.prices[i], self._asks[i]

    def bids(self, depth: int | None = None) -> tuple[Level, ...]:
        """Bid levels best (highest) first, at most ``depth`` of them."""
        px, b, prices = self._bid_px, self._bids, self._grid.prices
        n = len(px) if depth is None else min(depth, len(px))
        return tuple((prices[px[-1 - k]], b[px[-1 - k]]) for k in range(n))

    def asks(self, depth: int | None = None) -> tuple[Level, ...]:
        """Ask levels best (lowest) first, at most ``depth`` of them."""
        px, a, prices = self._ask_px, self._asks, self._grid.prices
        n = len(px) if depth is None else min(depth, len(px))
        return tuple((prices[px[k]], a[px[k]]) for k in range(n))

    def depth(self, is_bid: bool, levels: int | None = None) -> Decimal:
        """Total size on one side over its best ``levels`` levels (all of them by default)."""
        return sum((s for _p, s in (self.bids(levels) if is_bid else self.asks(levels))), ZERO)

    def size_at(self, is_bid: bool, price: Decimal) -> Decimal:
        i = self._grid.index.get(price)
        return ZERO if i is None else (self._bids if is_bid else self._asks).get(i, ZERO)

    @property
    def level_count(self) -> tuple[int, int]:
        return len(self._bid_px), len(self._ask_px)

    @property
    def is_empty(self) -> bool:
        """No level on either side."""
        return not self._bid_px and not self._ask_px

    @property
    def is_crossed(self) -> bool:
        """Best bid at or above best ask: impossible on a matching engine once a burst of changes
        has settled, so then a sign of lost sync (inside a burst it can be a passing state)."""
        return bool(self._bid_px) and bool(self._ask_px) and self._bid_px[-1] >= self._ask_px[0]

    def bbo_matches(self, best_bid: Decimal | None, best_ask: Decimal | None) -> bool:
        """Does the book agree with best prices the venue reported alongside a delta?"""
        return self.best_bid == best_bid and self.best_ask == best_ask

    def content_hash(self) -> str:
        """:func:`book_hash` of the current levels (O(1) after :meth:`track_hash`, else O(levels))."""
        return hash_hex(self._full_hash() if self._hacc is None else self._hacc)

    def walk(self, side: Side, size: Decimal, limit: Decimal | None = None) -> WalkResult:
        """What taking ``size`` as a taker on ``side`` would do (a BUY lifts asks, a SELL hits bids)."""
        buy = side is Side.BUY
        return walk_levels(self.asks() if buy else self.bids(), size, limit, buy=buy)

    def to_snapshot(self, time_ns: int | None = None, *, hash: str | None = None) -> BookSnapshot:
        """The book as a ``BookSnapshot``; ``hash`` defaults to the venue's last hash (``self.hash``)."""
        return BookSnapshot(
            time_ns=self.time_ns if time_ns is None else time_ns,
            token_id=self.token_id,
            market=self.market,
            bids=self.bids(),
            asks=self.asks(),
            tick_size=self.tick_size,
            min_order_size=self.min_order_size,
            hash=self.hash if hash is None else hash,
            seq=self.seq,
            last_trade_price=self.last_trade_price,
        )

    def same_levels(self, other: L2Book) -> bool:
        if self._grid is other._grid:
            return self._bids == other._bids and self._asks == other._asks
        return self.bids() == other.bids() and self.asks() == other.asks()

    def __repr__(self) -> str:
        nb, na = self.level_count
        return f"L2Book({self.token_id!r}, bid={self.best_bid}, ask={self.best_ask}, levels={nb}/{na}, seq={self.seq})"


__all__ = [
    "BookError",
    "Grid",
    "L2Book",
    "WalkResult",
    "book_hash",
    "book_hash_micro",
    "grid",
    "hash_hex",
    "level_hash",
    "micro",
    "walk_levels",
]
