"""Records an agent could not journal yet, written in order once the journal is back.

Why one helper: the risk officer and the trader both keep such a backlog while the journal is away
(a journal outage is a pause, never a reason to lose or reorder a record), and both must flush it
the same way: oldest first, stopping at the first refusal so the order on file is the order of
events.
"""

from __future__ import annotations

from collections import deque
from collections.abc import MutableSequence

from protocols import Payload
from protocols.ports import JournalPort, JournalUnavailable


async def flush_in_order(journal: JournalPort | None, backlog: MutableSequence[Payload] | deque[Payload],
                         agent: str) -> bool:
    """Write ``backlog`` oldest first, removing each record once written. True when it is empty;
    False when the journal is still away (what remains is kept for the next try)."""
    while backlog:
        if journal is None:
            return False
        try:
            await journal.record(backlog[0], agent=agent)
        except JournalUnavailable:
            return False
        del backlog[0]
    return True
