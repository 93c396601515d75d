"""One condition's order book, kept in YES-price space, and the resting order record.

Why one book per condition rather than one per token: YES and NO of a condition are the same
market seen from two sides. A BUY NO at q is, for matching, an offer to take the other side of a
YES trade at 1 − q; a SELL NO at q is a YES bid at 1 − q. Keeping every order in YES space gives
one price-time queue in which transfers (YES↔YES, NO↔NO), mints (BUY YES + BUY NO) and merges
(SELL YES + SELL NO) all match by the same rule ``bid >= ask``. The NO token's book is the mirror.

Everything is integers: prices in micro-units of 1 (0..1_000_000), sizes in micro-shares.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque

from protocols import ReasonCode

ONE = 1_000_000  # 1.0 in micro-units

# order states (ints: compared on the matching path)
LIVE = 0
FILLED = 1
CANCELLED = 2
EXPIRED = 3

# time in force
GTC = 0
GTD = 1
FOK = 2
FAK = 3


class Order:
    """A live or finished order. ``price`` is the owner's own-token limit, ``yprice`` the same
    order in YES space; ``is_bid`` says which YES-space side it sits on."""

    __slots__ = (
        "account",
        "coid",
        "created_ns",
        "expires_ns",
        "filled",
        "is_bid",
        "is_buy",
        "is_yes",
        "market",
        "oid",
        "post_only",
        "price",
        "reason",
        "remaining",
        "size",
        "status",
        "tif",
        "token",
        "yprice",
    )

    def __init__(
        self,
        oid: int,
        account: str,
        coid: str,
        market: str,
        token: str,
        is_yes: bool,
        is_buy: bool,
        price: int,
        size: int,
        tif: int,
        post_only: bool,
        expires_ns: int | None,
        created_ns: int,
    ) -> None:
        self.oid = oid
        self.account = account
        self.coid = coid
        self.market = market
        self.token = token
        self.is_yes = is_yes
        self.is_buy = is_buy
        self.is_bid = is_buy == is_yes
        self.price = price
        self.yprice = price if is_yes else ONE - price
        self.size = size
        self.remaining = size
        self.filled = 0
        self.tif = tif
        self.post_only = post_only
        self.expires_ns = expires_ns
        self.created_ns = created_ns
        self.status = LIVE
        self.reason: ReasonCode | None = None


class Level:
    """Orders at one YES-space price in time priority. Cancelled orders are removed lazily (a
    cancel marks the order and lowers ``total``; matching skips dead heads), so a cancel is O(1)."""

    __slots__ = ("live", "orders", "total")

    def __init__(self) -> None:
        self.total = 0
        self.live = 0
        self.orders: deque[Order] = deque()


class ConditionBook:
    """Bids and asks of one condition in YES space.

    ``bid_keys`` holds bid prices ascending and ``ask_keys`` negated ask prices ascending, so the
    best of either side is the last element (O(1) to read and to pop).
    """

    __slots__ = ("ask_keys", "asks", "bid_keys", "bids")

    def __init__(self) -> None:
        self.bids: dict[int, Level] = {}
        self.asks: dict[int, Level] = {}
        self.bid_keys: list[int] = []
        self.ask_keys: list[int] = []

    def best_bid(self) -> int | None:
        return self.bid_keys[-1] if self.bid_keys else None

    def best_ask(self) -> int | None:
        return -self.ask_keys[-1] if self.ask_keys else None

    def add(self, order: Order) -> None:
        p = order.yprice
        if order.is_bid:
            lvl = self.bids.get(p)
            if lvl is None:
                lvl = self.bids[p] = Level()
                insort(self.bid_keys, p)
        else:
            lvl = self.asks.get(p)
            if lvl is None:
                lvl = self.asks[p] = Level()
                insort(self.ask_keys, -p)
        lvl.orders.append(order)
        lvl.total += order.remaining
        lvl.live += 1

    def remove(self, order: Order) -> None:
        """Take a live order's remaining size out of its level (the caller marks it dead)."""
        p = order.yprice
        levels = self.bids if order.is_bid else self.asks
        lvl = levels[p]
        lvl.total -= order.remaining
        lvl.live -= 1
        if lvl.live == 0:
            self.drop_level(order.is_bid, p)
        elif len(lvl.orders) > 2 * lvl.live + 16:
            lvl.orders = deque(o for o in lvl.orders if o.status == LIVE)

    def drop_level(self, is_bid: bool, p: int) -> None:
        if is_bid:
            del self.bids[p]
            keys = self.bid_keys
            k = p
        else:
            del self.asks[p]
            keys = self.ask_keys
            k = -p
        if keys and keys[-1] == k:
            keys.pop()
        else:
            del keys[bisect_left(keys, k)]

    def crossing_size(self, is_bid: bool, limit: int, need: int) -> int:
        """Size available to a taker on side ``is_bid`` at ``limit`` or better, counted up to ``need``."""
        got = 0
        if is_bid:
            for k in reversed(self.ask_keys):
                if -k > limit:
                    break
                got += self.asks[-k].total
                if got >= need:
                    break
        else:
            for p in reversed(self.bid_keys):
                if p < limit:
                    break
                got += self.bids[p].total
                if got >= need:
                    break
        return got

    def levels(self, is_bid: bool) -> list[tuple[int, int]]:
        """(price, aggregate size) best first."""
        if is_bid:
            return [(p, self.bids[p].total) for p in reversed(self.bid_keys)]
        return [(-k, self.asks[-k].total) for k in reversed(self.ask_keys)]

    def live_orders(self) -> list[Order]:
        out: list[Order] = []
        for levels in (self.bids, self.asks):
            for lvl in levels.values():
                out.extend(o for o in lvl.orders if o.status == LIVE)
        return out
