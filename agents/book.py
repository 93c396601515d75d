"""An L2 order book for one outcome token: snapshot + deltas, best bid/ask, content hash, walking.

Why a separate, pure module: the market watcher keeps these books in sync with the venue, and the
risk officer and the strategist walk the levels a :class:`~protocols.TopOfBook` carries to price an
order's impact. None of them may import a venue, so the book lives here, depends only on
``protocols``, and is cheap: a dict of levels per side plus a sorted price list kept with
``bisect``, so a level change is O(log n) to find and best bid/ask is O(1).

Levels are ``(price, size)`` with Decimal values; sides are returned **best first** (bids
descending, asks ascending), as everywhere in ``protocols``.

The content hash (:func:`book_hash`) is the sum mod 2^128 of a BLAKE2b-128 per level (token, side,
price and size in micro-units) — the scheme the simulated exchange puts on snapshots and deltas;
the book keeps it current incrementally, so checking a delta's hash costs O(levels changed).
Polymarket's own ``hash`` is computed server-side over a representation we cannot reproduce, so
consumers should first check that a venue's snapshot hash equals :meth:`L2Book.content_hash`
before trusting delta hashes (the market watcher's ``hash_check="auto"`` does exactly that).
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left, insort
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from protocols import BookDelta, BookSnapshot, Level, Side
from protocols.numbers import MICRO, TICK_SIZES

ZERO = Decimal(0)


class BookError(ValueError):
    """A snapshot or change that cannot apply to this book (off the tick grid, other token...)."""


_MASK = (1 << 128) - 1
_MICRO_OF: dict[Decimal, int] = {}


def micro(value: Decimal) -> int:
    """Decimal → integer micro-units, refusing anything finer than 1e-6."""
    m = _MICRO_OF.get(value)
    if m is None:
        scaled = value * MICRO
        m = int(scaled)
        if scaled != m:
            raise BookError(f"{value} has more precision than 1e-6")
        if len(_MICRO_OF) < 100_000:
            _MICRO_OF[value] = m
    return m


def level_hash(token_id: str, is_bid: bool, price: Decimal, size: Decimal) -> int:
    """One level's term in the book hash: BLAKE2b-128 of ``token|B or A|price µ|size µ``."""
    key = f"{token_id}|{'B' if is_bid else 'A'}|{micro(price)}|{micro(size)}".encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=16).digest(), "big")


def book_hash(market: str, token_id: str, bids: Iterable[Level], asks: Iterable[Level]) -> str:
    """The book's hash: the sum mod 2^128 of every level's :func:`level_hash`.

    A sum rather than a digest of the serialised book, so a book keeps it current in O(levels
    changed) per delta. Time and sequence are left out (equal books hash equal); ``market`` does
    not enter it (token ids are unique) and is accepted for symmetry with the feed's fields.
    """
    acc = 0
    for p, s in bids:
        acc += level_hash(token_id, True, p, s)
    for p, s in asks:
        acc += level_hash(token_id, False, p, s)
    return f"{acc & _MASK:032x}"


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


class L2Book:
    """Aggregate size per price level, both sides, for one token."""

    __slots__ = (
        "_ask_px",
        "_asks",
        "_bid_px",
        "_bids",
        "_hacc",
        "hash",
        "last_trade_price",
        "market",
        "min_order_size",
        "seq",
        "tick_size",
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
        self.tick_size = tick_size
        self.min_order_size = min_order_size
        self.seq = 0
        self.hash = ""
        self.time_ns = 0
        self.last_trade_price: Decimal | None = None
        self._bids: dict[Decimal, Decimal] = {}
        self._asks: dict[Decimal, Decimal] = {}
        self._bid_px: list[Decimal] = []  # ascending; best bid last
        self._ask_px: list[Decimal] = []  # ascending; best ask first
        self._hacc = 0  # running sum of level hashes (see book_hash)

    # -- building -------------------------------------------------------------------------------
    @classmethod
    def from_snapshot(cls, snap: BookSnapshot) -> L2Book:
        book = cls(snap.token_id, snap.market, snap.tick_size, snap.min_order_size)
        book.load_snapshot(snap)
        return book

    def load_snapshot(self, snap: BookSnapshot) -> None:
        """Replace the whole book (and its tick, sequence and hash) with a snapshot."""
        if snap.token_id != self.token_id:
            raise BookError(f"snapshot of token {snap.token_id} applied to book of {self.token_id}")
        self.tick_size = snap.tick_size
        self.min_order_size = snap.min_order_size
        self.clear()
        for price, size in snap.bids:
            self.set_level(True, price, size)
        for price, size in snap.asks:
            self.set_level(False, price, size)
        self.seq = snap.seq
        self.hash = snap.hash
        self.time_ns = snap.time_ns
        if snap.last_trade_price is not None:
            self.last_trade_price = snap.last_trade_price

    def set_level(self, is_bid: bool, price: Decimal, size: Decimal) -> None:
        """Set the aggregate size at one level; size 0 removes the level."""
        if size < ZERO:
            raise BookError(f"negative size {size} at {price}")
        if price < ZERO or price > 1:
            raise BookError(f"price {price} outside [0, 1]")
        if price % self.tick_size != ZERO:
            raise BookError(f"price {price} is off the tick grid {self.tick_size}")
        side = self._bids if is_bid else self._asks
        prices = self._bid_px if is_bid else self._ask_px
        new_h = level_hash(self.token_id, is_bid, price, size) if size != ZERO else 0  # may raise: before any change
        old = side.get(price)
        if old is not None:
            self._hacc -= level_hash(self.token_id, is_bid, price, old)
        if size == ZERO:
            if old is not None:
                del side[price]
                del prices[bisect_left(prices, price)]
            return
        self._hacc += new_h
        if old is None:
            insort(prices, price)
        side[price] = size

    def apply_delta(self, delta: BookDelta) -> None:
        """Apply a delta's level changes (BUY = bid level, SELL = ask level) and take its seq/hash.

        Sequence and best-price checks are the caller's policy (the watcher decides when a book
        lost sync); this only refuses changes that cannot be right for any book of this tick.
        """
        if delta.token_id != self.token_id:
            raise BookError(f"delta of token {delta.token_id} applied to book of {self.token_id}")
        for ch in delta.changes:
            self.set_level(ch.side is Side.BUY, ch.price, ch.size)
        if delta.seq:
            self.seq = delta.seq
        self.hash = delta.hash
        self.time_ns = delta.time_ns

    def change_tick(self, tick_size: Decimal) -> None:
        """Adopt a new tick; levels off the new grid make the book unusable (caller rebuilds)."""
        if tick_size not in TICK_SIZES:
            raise BookError(f"tick size {tick_size} is not a venue tick")
        self.tick_size = tick_size

    def clear(self) -> None:
        self._bids.clear()
        self._asks.clear()
        self._bid_px = []
        self._ask_px = []
        self._hacc = 0

    # -- reading --------------------------------------------------------------------------------
    @property
    def best_bid(self) -> Decimal | None:
        return self._bid_px[-1] if self._bid_px else None

    @property
    def best_ask(self) -> Decimal | None:
        return self._ask_px[0] if self._ask_px else None

    def best_bid_level(self) -> Level | None:
        p = self.best_bid
        return None if p is None else (p, self._bids[p])

    def best_ask_level(self) -> Level | None:
        p = self.best_ask
        return None if p is None else (p, self._asks[p])

    def bids(self, depth: int | None = None) -> tuple[Level, ...]:
        """Bid levels best (highest) first, at most ``depth`` of them."""
        px = self._bid_px
        n = len(px) if depth is None else min(depth, len(px))
        b = self._bids
        return tuple((px[-1 - i], b[px[-1 - i]]) for i in range(n))

    def asks(self, depth: int | None = None) -> tuple[Level, ...]:
        """Ask levels best (lowest) first, at most ``depth`` of them."""
        px = self._ask_px
        n = len(px) if depth is None else min(depth, len(px))
        a = self._asks
        return tuple((px[i], a[px[i]]) for i in range(n))

    def size_at(self, is_bid: bool, price: Decimal) -> Decimal:
        return (self._bids if is_bid else self._asks).get(price, ZERO)

    @property
    def level_count(self) -> tuple[int, int]:
        return len(self._bid_px), len(self._ask_px)

    @property
    def is_empty(self) -> bool:
        """No level on either side."""
        return not self._bid_px and not self._ask_px

    @property
    def is_crossed(self) -> bool:
        """Best bid at or above best ask: impossible on a matching engine, so a sign of lost sync."""
        bb, ba = self.best_bid, self.best_ask
        return bb is not None and ba is not None and bb >= ba

    def bbo_matches(self, best_bid: Decimal | None, best_ask: Decimal | None) -> bool:
        """Does the book agree with best prices the venue reported alongside a delta?"""
        return self.best_bid == best_bid and self.best_ask == best_ask

    def content_hash(self) -> str:
        """:func:`book_hash` of the current levels, kept incrementally (O(1) to read)."""
        return f"{self._hacc & _MASK:032x}"

    def walk(self, side: Side, size: Decimal, limit: Decimal | None = None) -> WalkResult:
        """Take ``size`` as a taker on ``side`` (a BUY lifts asks, a SELL hits bids)."""
        buy = side is Side.BUY
        return walk_levels(self.asks() if buy else self.bids(), size, limit, buy=buy)

    def to_snapshot(self, time_ns: int | None = None) -> BookSnapshot:
        return BookSnapshot(
            time_ns=self.time_ns if time_ns is None else time_ns,
            token_id=self.token_id,
            market=self.market,
            bids=self.bids(),
            asks=self.asks(),
            tick_size=self.tick_size,
            min_order_size=self.min_order_size,
            hash=self.content_hash(),
            seq=self.seq,
            last_trade_price=self.last_trade_price,
        )

    def same_levels(self, other: L2Book) -> bool:
        return self._bids == other._bids and self._asks == other._asks

    def __repr__(self) -> str:
        nb, na = self.level_count
        return (
            f"L2Book({self.token_id!r}, bid={self.best_bid}, ask={self.best_ask}, "
            f"levels={nb}/{na}, seq={self.seq})"
        )
