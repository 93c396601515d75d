"""Turning the engine's integer books into the payloads the live adapter produces.

The live adapter converts Polymarket's ``book`` / ``price_change`` frames into ``BookSnapshot`` /
``BookDelta`` with levels best first; these builders produce exactly those shapes from the YES-space
book, mirroring it for the NO token, so the market watcher cannot tell the two feeds apart.

Payloads are built with ``model_construct``: every value comes from the engine's own integers,
already valid, and validating them again would cost more than the matching itself.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal

from protocols import BookDelta, BookSnapshot, LevelChange, Side
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


def book_hash(market: str, token_id: str, bids: Levels, asks: Levels) -> str:
    """SHA-1 of the book's content (best-first levels as decimal strings).

    Time is left out on purpose: two snapshots of the same book hash the same, so a consumer that
    applied deltas can compare its book with the venue's by hash.
    """
    h = hashlib.sha1(usedforsecurity=False)
    h.update(f"{market}|{token_id}|".encode())
    h.update(",".join(f"{dec(p)}:{dec(s)}" for p, s in bids).encode())
    h.update(b"|")
    h.update(",".join(f"{dec(p)}:{dec(s)}" for p, s in asks).encode())
    return h.hexdigest()


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
    return BookSnapshot.model_construct(
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


def delta(
    *,
    time_ns: int,
    market: str,
    token_id: str,
    is_yes: bool,
    book: ConditionBook,
    touched: set[tuple[bool, int]],
    seq: int,
    with_hash: bool,
) -> BookDelta:
    """New aggregates at the touched YES-space levels, as seen from one token, with best bid/ask."""
    changes: list[LevelChange] = []
    for is_bid, yp in sorted(touched):
        lvl = (book.bids if is_bid else book.asks).get(yp)
        size = lvl.total if lvl is not None else 0
        if is_yes:
            side, price = (Side.BUY if is_bid else Side.SELL), yp
        else:
            side, price = (Side.SELL if is_bid else Side.BUY), ONE - yp
        changes.append(LevelChange.model_construct(side=side, price=dec(price), size=dec(size)))
    bb, ba = book.best_bid(), book.best_ask()
    if not is_yes:
        bb, ba = (None if ba is None else ONE - ba), (None if bb is None else ONE - bb)
    h = ""
    if with_hash:
        bids, asks = token_levels(book, is_yes)
        h = book_hash(market, token_id, bids, asks)
    return BookDelta.model_construct(
        time_ns=time_ns,
        token_id=token_id,
        market=market,
        changes=tuple(changes),
        best_bid=None if bb is None else dec(bb),
        best_ask=None if ba is None else dec(ba),
        hash=h,
        seq=seq,
    )
