"""Judging a mirrored book only once a burst of changes has settled.

Why: a venue reports one match as several level changes — in one message, or in consecutive
messages carrying the same timestamp — and between two of them a faithful mirror can be crossed
(a new best bid above the old best ask before the ask side's change arrives) or disagree with the
best prices the venue reported alongside an earlier change of the burst. Neither is a gap while
the burst is still arriving; both are if the burst *ends* that way, because a matching engine
never rests a crossed book. Calling every transient cross a gap forces a rebuild from a snapshot
on a gap-free stream, and flags a good book as bad to every consumer.

So every consumer of book deltas that checks them — the Polymarket WebSocket client's
``BookKeeper`` and the market watcher — keeps one :class:`BurstJudge` per book: each change of a
burst is applied (and may be delivered) as it comes, the judge notes whether the book is *in
doubt* right now, and the verdict is taken when the burst settles — when an event for the book
with another timestamp arrives, when a snapshot replaces the book, or when the owner decides no
more of the burst is coming (it waited a settle window and the doubt is still the same one:
:attr:`BurstJudge.mark`). One copy of this rule, here, so the two users cannot drift apart.
"""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Final

from protocols.book import L2Book


class _Unsaid:
    """The type of :data:`UNSAID`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "UNSAID"


UNSAID: Final = _Unsaid()
"""A best price the venue did not report (``None`` means it reported that side empty)."""

Reported = Decimal | None | _Unsaid

_MARKS = itertools.count(1)


class BurstJudge:
    """The open burst of one book: its timestamp, the venue's last report in it, and the doubt.

    ``ts`` 0 means no burst is open. ``doubt`` is True while the book is crossed or disagrees with
    the best prices the venue last reported in this burst; ``mark`` numbers that doubt (unique per
    process), so an owner that armed a settle timer for one doubt does not judge a later one early.
    """

    __slots__ = ("ask", "bid", "doubt", "mark", "ts")

    def __init__(self) -> None:
        self.ts = 0
        self.bid: Reported = UNSAID
        self.ask: Reported = UNSAID
        self.doubt = False
        self.mark = 0

    def end(self) -> None:
        """Forget the open burst without a verdict (a snapshot or a reconnect replaced the book)."""
        self.ts = 0
        self.bid = self.ask = UNSAID
        self.doubt = False
        self.mark = 0

    @property
    def open(self) -> bool:
        return self.ts != 0

    def other(self, ts: int) -> bool:
        """Is a burst open at a timestamp other than ``ts`` (so ``ts`` means it is over)?"""
        return self.ts != 0 and ts != self.ts

    def observe(self, book: L2Book, ts: int, reported: tuple[Reported, Reported] | None = None) -> bool:
        """``book`` changed as part of the burst at ``ts``: note whether it is in doubt now.

        ``reported`` is the venue's word on the best (bid, ask) after this change, each
        :data:`UNSAID` if not given; it replaces the burst's earlier report. A ``ts`` other than
        the open burst's starts a new burst (settle the old one first: :meth:`other`).
        Returns True when this change put the book in doubt (a new :attr:`mark`).
        """
        if ts != self.ts:
            self.ts = ts
            self.bid = self.ask = UNSAID
        if reported is not None:
            self.bid, self.ask = reported
        doubt = book.is_crossed or not self._agrees(book)
        began = doubt and not self.doubt
        if began:
            self.mark = next(_MARKS)
        elif not doubt:
            self.mark = 0
        self.doubt = doubt
        return began

    def _agrees(self, book: L2Book) -> bool:
        bid, ask = self.bid, self.ask
        return (bid is UNSAID or bid == book.best_bid) and (ask is UNSAID or ask == book.best_ask)

    def settle(self) -> bool:
        """Close the open burst. True if it ended in doubt: the book lost sync and must be rebuilt."""
        doubt = self.doubt
        self.end()
        return doubt

    def __repr__(self) -> str:
        return f"BurstJudge(ts={self.ts}, bid={self.bid}, ask={self.ask}, doubt={self.doubt})"


__all__ = ["UNSAID", "BurstJudge", "Reported"]
