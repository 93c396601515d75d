"""Market-channel frames decoded straight from bytes into typed structs (msgspec), the fast path.

Why: the pydantic wire models in :mod:`venues.polymarket.schemas` cost ~25 µs per two-change
``price_change`` frame (``json.loads`` into dicts, then a validated model per change, Decimal
parsing in Python). msgspec parses the frame once, in C, straight into these structs; what is
left in Python is one ``__post_init__`` per struct that converts the venue's number strings with
the same function the pydantic models use (:func:`protocols.numbers.to_decimal`, behind a bounded
cache: prices and sizes repeat) and applies the same range checks.

The contract is "the same result as the pydantic models, faster", not a second schema. Each struct
accepts a *subset* of what its pydantic twin accepts and yields equal values for it: numbers only
as JSON strings (what the venue sends), timestamps as integers or digit strings, optional numbers
as strings or null (empty = no value). Anything outside that subset — a JSON number where a string
is expected, a ``null`` hash, an unknown ``event_type``, a missing field — fails here, and the
frame decoder then decodes that frame the old way (``json.loads`` + the pydantic models), which
decides exactly as before what is a value, what is counted and what is skipped. So leniency is
unchanged by construction, and only the frames the venue actually sends take the fast path.

Field names and meanings match the pydantic twins (``timestamp`` in nanoseconds, levels as sent:
best *last*), so :class:`venues.polymarket.websocket.BookKeeper` handles either.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType, field

from protocols.numbers import TICK_SIZES, to_decimal
from venues.polymarket.schemas import _ms_to_ns

NonEmpty = Annotated[str, Meta(min_length=1)]
RawTime = int | str
"""A millisecond timestamp as the venue sends it; :func:`_ms_to_ns` turns it into nanoseconds."""

# -- numbers ------------------------------------------------------------------------------------

_DEC_CACHE: dict[str, Decimal] = {}
_DEC_CACHE_MAX = 200_000


def wire_decimal(s: str) -> Decimal:
    """A venue number string → Decimal, exactly as ``schemas.WireDecimal`` (``to_decimal``), cached.

    Decimals are immutable, so a cached value is indistinguishable from a fresh one. The cache is
    bounded; once full it stops growing (prices repeat far more than sizes, and fill it first).
    """
    d = _DEC_CACHE.get(s)
    if d is None:
        d = to_decimal(s)
        if len(_DEC_CACHE) < _DEC_CACHE_MAX:
            _DEC_CACHE[s] = d
    return d


def opt_wire_decimal(s: str | None) -> Decimal | None:
    """``schemas.OptWireDecimal``: null or a blank string is no value, else :func:`wire_decimal`."""
    if s is None:
        return None
    d = _DEC_CACHE.get(s)
    if d is not None:
        return d
    if not s.strip():
        return None
    return wire_decimal(s)


# -- book ---------------------------------------------------------------------------------------


class RawLevel(Struct, gc=False):
    price: str
    size: str


class BookMsg(Struct, tag_field="event_type", tag="book"):
    """The ``book`` event (``WireBook``). ``bids``/``asks`` are ``(price, size)`` pairs as sent
    (best last); the pre-2025 ``buys``/``sells`` names are taken when ``bids``/``asks`` are absent."""

    market: NonEmpty
    asset_id: NonEmpty
    raw_timestamp: RawTime = field(name="timestamp")
    hash: str = ""
    raw_bids: list[RawLevel] | UnsetType = field(default=UNSET, name="bids")
    raw_asks: list[RawLevel] | UnsetType = field(default=UNSET, name="asks")
    raw_buys: list[RawLevel] | UnsetType = field(default=UNSET, name="buys")
    raw_sells: list[RawLevel] | UnsetType = field(default=UNSET, name="sells")
    raw_min_order_size: str | None = field(default=None, name="min_order_size")
    raw_tick_size: str | None = field(default=None, name="tick_size")
    neg_risk: bool | None = None
    raw_last_trade_price: str | None = field(default=None, name="last_trade_price")
    # set by __post_init__ (their wire names are never sent; a value there is overwritten)
    timestamp: int = field(default=0, name="__timestamp_ns")
    bids: list[tuple[Decimal, Decimal]] = field(default_factory=list, name="__bids")
    asks: list[tuple[Decimal, Decimal]] = field(default_factory=list, name="__asks")
    min_order_size: Decimal | None = field(default=None, name="__min_order_size")
    tick_size: Decimal | None = field(default=None, name="__tick_size")
    last_trade_price: Decimal | None = field(default=None, name="__last_trade_price")

    def __post_init__(self) -> None:
        self.timestamp = _ms_to_ns(self.raw_timestamp)
        bids = self.raw_bids if not isinstance(self.raw_bids, UnsetType) else self.raw_buys
        asks = self.raw_asks if not isinstance(self.raw_asks, UnsetType) else self.raw_sells
        dec = wire_decimal
        if not isinstance(bids, UnsetType):
            self.bids = [(dec(lv.price), dec(lv.size)) for lv in bids]
        if not isinstance(asks, UnsetType):
            self.asks = [(dec(lv.price), dec(lv.size)) for lv in asks]
        self.min_order_size = opt_wire_decimal(self.raw_min_order_size)
        self.tick_size = opt_wire_decimal(self.raw_tick_size)
        self.last_trade_price = opt_wire_decimal(self.raw_last_trade_price)


# -- price_change -------------------------------------------------------------------------------


class PriceChangeItemMsg(Struct, gc=False):
    """One change of a ``price_change`` (``WirePriceChangeItem``): the new aggregate size at a level."""

    asset_id: NonEmpty
    raw_price: str = field(name="price")
    raw_size: str = field(name="size")
    side: Literal["BUY", "SELL"]
    hash: str = ""
    raw_best_bid: str | None = field(default=None, name="best_bid")
    raw_best_ask: str | None = field(default=None, name="best_ask")
    price: Decimal = field(default=Decimal(0), name="__price")
    size: Decimal = field(default=Decimal(0), name="__size")
    best_bid: Decimal | None = field(default=None, name="__best_bid")
    best_ask: Decimal | None = field(default=None, name="__best_ask")

    def __post_init__(self) -> None:
        p = wire_decimal(self.raw_price)
        if not 0 <= p <= 1:
            raise ValueError(f"price {p} is outside [0, 1]")
        s = wire_decimal(self.raw_size)
        if s < 0:
            raise ValueError(f"size {s} is negative")
        self.price, self.size = p, s
        self.best_bid = opt_wire_decimal(self.raw_best_bid)
        self.best_ask = opt_wire_decimal(self.raw_best_ask)


class PriceChangeMsg(Struct, tag_field="event_type", tag="price_change"):
    """The ``price_change`` event (``WirePriceChange``), one or more changes at one timestamp."""

    market: NonEmpty
    price_changes: Annotated[list[PriceChangeItemMsg], Meta(min_length=1)]
    raw_timestamp: RawTime = field(name="timestamp")
    timestamp: int = field(default=0, name="__timestamp_ns")

    def __post_init__(self) -> None:
        self.timestamp = _ms_to_ns(self.raw_timestamp)


# -- last_trade_price, tick_size_change, best_bid_ask -------------------------------------------


class LastTradeMsg(Struct, tag_field="event_type", tag="last_trade_price"):
    """``last_trade_price`` (``WireLastTrade``)."""

    asset_id: NonEmpty
    market: NonEmpty
    raw_price: str = field(name="price")
    raw_size: str = field(name="size")
    side: Literal["BUY", "SELL"]
    raw_timestamp: RawTime = field(name="timestamp")
    raw_fee_rate_bps: str | None = field(default=None, name="fee_rate_bps")
    price: Decimal = field(default=Decimal(0), name="__price")
    size: Decimal = field(default=Decimal(0), name="__size")
    fee_rate_bps: Decimal | None = field(default=None, name="__fee_rate_bps")
    timestamp: int = field(default=0, name="__timestamp_ns")

    def __post_init__(self) -> None:
        self.price = wire_decimal(self.raw_price)
        self.size = wire_decimal(self.raw_size)
        self.fee_rate_bps = opt_wire_decimal(self.raw_fee_rate_bps)
        self.timestamp = _ms_to_ns(self.raw_timestamp)


class TickSizeChangeMsg(Struct, tag_field="event_type", tag="tick_size_change"):
    """``tick_size_change`` (``WireTickSizeChange``); both ticks must be CLOB ticks."""

    asset_id: NonEmpty
    market: NonEmpty
    raw_old_tick_size: str = field(name="old_tick_size")
    raw_new_tick_size: str = field(name="new_tick_size")
    raw_timestamp: RawTime = field(name="timestamp")
    old_tick_size: Decimal = field(default=Decimal(0), name="__old_tick_size")
    new_tick_size: Decimal = field(default=Decimal(0), name="__new_tick_size")
    timestamp: int = field(default=0, name="__timestamp_ns")

    def __post_init__(self) -> None:
        old = wire_decimal(self.raw_old_tick_size)
        new = wire_decimal(self.raw_new_tick_size)
        for v in (old, new):
            if v not in TICK_SIZES:
                raise ValueError(f"tick size {v} is not a CLOB tick")
        self.old_tick_size, self.new_tick_size = old, new
        self.timestamp = _ms_to_ns(self.raw_timestamp)


class BestBidAskMsg(Struct, tag_field="event_type", tag="best_bid_ask"):
    """``best_bid_ask`` (``WireBestBidAsk``, custom features): frequent, so on the fast path too."""

    asset_id: NonEmpty
    market: NonEmpty
    raw_timestamp: RawTime = field(name="timestamp")
    raw_best_bid: str | None = field(default=None, name="best_bid")
    raw_best_ask: str | None = field(default=None, name="best_ask")
    raw_spread: str | None = field(default=None, name="spread")
    best_bid: Decimal | None = field(default=None, name="__best_bid")
    best_ask: Decimal | None = field(default=None, name="__best_ask")
    spread: Decimal | None = field(default=None, name="__spread")
    timestamp: int = field(default=0, name="__timestamp_ns")

    def __post_init__(self) -> None:
        self.best_bid = opt_wire_decimal(self.raw_best_bid)
        self.best_ask = opt_wire_decimal(self.raw_best_ask)
        self.spread = opt_wire_decimal(self.raw_spread)
        self.timestamp = _ms_to_ns(self.raw_timestamp)


MarketMsg = BookMsg | PriceChangeMsg | LastTradeMsg | TickSizeChangeMsg | BestBidAskMsg
"""What the fast path yields; ``new_market`` and ``market_resolved`` (rare) take the pydantic path."""

_FRAME_DECODER: msgspec.json.Decoder[list[MarketMsg] | MarketMsg] = msgspec.json.Decoder(list[MarketMsg] | MarketMsg)


def decode_frame(data: bytes | str) -> list[MarketMsg]:
    """One frame (an object or an array of them) → its events, all on the fast path, or raise.

    Raises ``msgspec.DecodeError`` (not JSON) or ``msgspec.ValidationError`` (anything outside the
    fast path's subset); the caller then decodes the frame the lenient way. An empty array decodes
    to ``[]`` (the caller counts it).
    """
    out = _FRAME_DECODER.decode(data)
    return out if isinstance(out, list) else [out]


__all__ = [
    "BestBidAskMsg",
    "BookMsg",
    "LastTradeMsg",
    "MarketMsg",
    "PriceChangeItemMsg",
    "PriceChangeMsg",
    "TickSizeChangeMsg",
    "decode_frame",
    "opt_wire_decimal",
    "wire_decimal",
]
