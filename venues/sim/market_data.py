"""Turning the engine's integer books into the payloads the live adapter produces.

The live adapter converts Polymarket's ``book`` / ``price_change`` frames into ``BookSnapshot`` /
``BookDelta`` with levels best first; these builders produce exactly those shapes from the YES-space
book, mirroring it for the NO token, so the market watcher cannot tell the two feeds apart.

Payloads are built with :func:`construct` (no validation): every value comes from the engine's
own integers, already valid, and validating them again would cost more than the matching itself.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, TypeVar

from protocols import BookDelta, BookSnapshot, LevelChange, Payload, Side
from protocols.book import book_hash_micro, level_hash
from venues.sim.book import ONE, ConditionBook

_MICRO = Decimal(1_000_000)
_DEC_CACHE: dict[int, Decimal] = {}


def dec(micro: int) -> Decimal:
    """Micro-units → Decimal (cached for the small set of prices and common sizes)."""
    d = _DEC_CACHE.get(micro)
    if d is None:
        d = Decimal(micro) / _MICRO
        if len(_DEC_CACHE) < 200_000:
            _DEC_CACHE[micro] = d
    return d


Levels = list[tuple[int, int]]

P = TypeVar("P", bound=Payload)
_set = object.__setattr__
_KIND: dict[type[Any], tuple[str, int]] = {}


def construct(cls: type[P], **values: Any) -> P:
    """Build a payload from values the engine knows to be valid, without validation.

    About 5x cheaper than ``model_construct`` (which walks every field's default); the result is
    an ordinary instance: equal, hashable, frozen and serialisable like a validated one. Callers
    pass every field, in field order (a missing one gets its default).
    """
    meta = _KIND.get(cls)
    if meta is None:
        fields = cls.model_fields
        meta = _KIND[cls] = (fields["kind"].default, len(fields))
    d: dict[str, Any] = {"kind": meta[0]}
    d.update(values)
    if len(d) != meta[1]:
        fields = cls.model_fields
        for name, f in fields.items():
            if name not in d:
                d[name] = f.get_default(call_default_factory=True)
        d = {name: d[name] for name in fields}
    return raw(cls, d)


def raw(cls: type[P], d: dict[str, Any]) -> P:
    """An instance of ``cls`` whose ``__dict__`` is ``d`` (complete, in field order, ``kind`` first)."""
    obj = cls.__new__(cls)
    _set(obj, "__dict__", d)
    _set(obj, "__pydantic_fields_set__", set(d))
    _set(obj, "__pydantic_extra__", None)
    _set(obj, "__pydantic_private__", None)
    return obj


#: The book hash is the one scheme of ``protocols.book`` (the market watcher checks it per delta);
#: the engine feeds it micro-unit ints directly.
book_hash = book_hash_micro


def token_levels(book: ConditionBook, is_yes: bool) -> tuple[Levels, Levels]:
    """(bids, asks) of one token, best first. The NO book mirrors YES: NO bids are YES asks at 1 − p."""
    ybids = book.levels(True)
    yasks = book.levels(False)
    if is_yes:
        return ybids, yasks
    return [(ONE - p, s) for p, s in yasks], [(ONE - p, s) for p, s in ybids]


def snapshot(
    *,
    time_ns: int,
    market: str,
    token_id: str,
    is_yes: bool,
    book: ConditionBook,
    tick: int,
    min_size: int,
    seq: int,
    last_yes_trade: int | None,
) -> BookSnapshot:
    bids, asks = token_levels(book, is_yes)
    last = None
    if last_yes_trade is not None:
        last = dec(last_yes_trade if is_yes else ONE - last_yes_trade)
    return construct(
        BookSnapshot,
        time_ns=time_ns,
        token_id=token_id,
        market=market,
        bids=tuple((dec(p), dec(s)) for p, s in bids),
        asks=tuple((dec(p), dec(s)) for p, s in asks),
        tick_size=dec(tick),
        min_order_size=dec(min_size),
        hash=book_hash(market, token_id, bids, asks),
        seq=seq,
        last_trade_price=last,
    )


class Published:
    """What the feed last said about one condition's book: the size at every YES-space level and
    the running hash of each token's view, updated in O(levels changed) per delta."""

    __slots__ = ("no", "no_acc", "sizes", "yes", "yes_acc")

    def __init__(self, yes: str, no: str, book: ConditionBook) -> None:
        self.yes, self.no = yes, no
        self.sizes: dict[tuple[bool, int], int] = {}
        self.yes_acc = 0
        self.no_acc = 0
        for is_bid in (True, False):
            for yp, size in book.levels(is_bid):
                self._set(is_bid, yp, size)

    def _set(self, is_bid: bool, yp: int, size: int) -> None:
        key = (is_bid, yp)
        old = self.sizes.get(key, 0)
        if old:
            self.yes_acc -= level_hash(self.yes, is_bid, yp, old)
            self.no_acc -= level_hash(self.no, not is_bid, ONE - yp, old)
        if size:
            self.sizes[key] = size
            self.yes_acc += level_hash(self.yes, is_bid, yp, size)
            self.no_acc += level_hash(self.no, not is_bid, ONE - yp, size)
        elif old:
            del self.sizes[key]

    def apply(self, book: ConditionBook, touched: set[tuple[bool, int]]) -> list[tuple[bool, int, int]]:
        """Record the touched levels' new sizes; returns the ones that really changed, sorted."""
        out = []
        for is_bid, yp in sorted(touched):
            lvl = (book.bids if is_bid else book.asks).get(yp)
            size = lvl.total if lvl is not None else 0
            if size != self.sizes.get((is_bid, yp), 0):
                self._set(is_bid, yp, size)
                out.append((is_bid, yp, size))
        return out


def delta(
    *,
    time_ns: int,
    market: str,
    token_id: str,
    is_yes: bool,
    book: ConditionBook,
    changed: list[tuple[bool, int, int]],
    seq: int,
    book_hash_hex: str,
) -> BookDelta:
    """New aggregates at the changed YES-space levels, as seen from one token, with best bid/ask."""
    changes: list[LevelChange] = []
    for is_bid, yp, size in changed:
        if is_yes:
            side, price = (Side.BUY if is_bid else Side.SELL), yp
        else:
            side, price = (Side.SELL if is_bid else Side.BUY), ONE - yp
        changes.append(construct(LevelChange, side=side, price=dec(price), size=dec(size)))
    bb, ba = book.best_bid(), book.best_ask()
    if not is_yes:
        bb, ba = (None if ba is None else ONE - ba), (None if bb is None else ONE - bb)
    return construct(
        BookDelta,
        time_ns=time_ns,
        token_id=token_id,
        market=market,
        changes=tuple(changes),
        best_bid=None if bb is None else dec(bb),
        best_ask=None if ba is None else dec(ba),
        hash=book_hash_hex,
        seq=seq,
    )
