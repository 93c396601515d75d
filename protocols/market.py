"""Market data: what a venue says about its books, trades and markets.

Book levels are ``(price, size)`` pairs ordered **best first** (bids descending, asks ascending).
Polymarket's REST and WebSocket send best-last; the venue adapters turn that round so nothing
downstream has to remember the quirk.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from protocols.base import Payload
from protocols.enums import Side
from protocols.fees import FeeSchedule
from protocols.numbers import (
    MarketId,
    Money,
    PositiveSize,
    Price,
    Size,
    TickSize,
    TimeNs,
    TokenId,
    require_on_tick,
)

Level = tuple[Price, Size]

#: A market that says nothing about fees gets a crypto-like taker-only curve (the safe side for
#: edge estimates); every venue adapter sets the market's own schedule.
_DEFAULT_FEES = FeeSchedule(rate=Decimal("0.07"), exponent=1)
_FLAT_FEE_KEYS = {"fees_enabled": "enabled", "fee_rate": "rate", "fee_exponent": "exponent"}


def _check_levels(levels: tuple[Level, ...], tick: Decimal, descending: bool, name: str) -> None:
    prev: Decimal | None = None
    for price, _size in levels:
        require_on_tick(price, tick, f"{name} price")
        if prev is not None and ((price >= prev) if descending else (price <= prev)):
            order = "descending" if descending else "ascending"
            raise ValueError(f"{name} must be strictly {order} by price (best first)")
        prev = price


class MarketInfo(Payload):
    """One binary market (a condition) and its two outcome tokens."""

    kind: Literal["market_info"] = "market_info"
    routing_key_field: ClassVar[str | None] = "market"

    time_ns: TimeNs
    market: MarketId
    question: str
    slug: str = ""
    event_id: str = ""
    outcomes: tuple[str, str] = ("Yes", "No")
    token_ids: tuple[TokenId, TokenId]
    tick_size: TickSize = Decimal("0.01")
    min_order_size: Size = Decimal(5)
    neg_risk: bool = False
    neg_risk_augmented: bool = False
    event_market_count: int = Field(default=0, ge=0)
    """How many markets (outcomes) the event has, 0 = unknown. A neg-risk basket is only an
    arbitrage when every outcome is bought, so the strategist needs to know when it has seen all."""
    fees: FeeSchedule = _DEFAULT_FEES
    """This market's fee schedule (Gamma's ``feesEnabled`` + ``feeSchedule``); see protocols.fees."""
    category: str = ""
    end_ns: TimeNs | None = None
    active: bool = True
    closed: bool = False

    @model_validator(mode="before")
    @classmethod
    def _flat_fee_fields(cls, data: Any) -> Any:
        """Accept the flat ``fees_enabled``/``fee_rate``/``fee_exponent`` of records written before
        the schedule existed (journals replay them), folded into ``fees``; never both spellings."""
        if isinstance(data, dict) and any(k in data for k in _FLAT_FEE_KEYS):
            if "fees" in data:
                raise ValueError(f"give either fees or {sorted(_FLAT_FEE_KEYS)}, not both")
            data = dict(data)
            flat = {_FLAT_FEE_KEYS[k]: data.pop(k) for k in list(data) if k in _FLAT_FEE_KEYS}
            data["fees"] = FeeSchedule.model_validate({**_DEFAULT_FEES.model_dump(), **flat})
        return data

    @property
    def fees_enabled(self) -> bool:
        return self.fees.enabled

    @property
    def fee_rate(self) -> Decimal:
        """The schedule's rate (0 when fees are disabled)."""
        return self.fees.effective_rate

    @property
    def fee_exponent(self) -> int:
        return self.fees.exponent

    @model_validator(mode="after")
    def _distinct_tokens(self) -> MarketInfo:
        if self.token_ids[0] == self.token_ids[1]:
            raise ValueError("token_ids: YES and NO tokens must differ")
        return self

    @property
    def yes_token(self) -> str:
        return self.token_ids[0]

    @property
    def no_token(self) -> str:
        return self.token_ids[1]


class BookSnapshot(Payload):
    """A full L2 book for one token, as the venue sends it (``book`` event / ``GET /book``)."""

    kind: Literal["book_snapshot"] = "book_snapshot"
    routing_key_field: ClassVar[str | None] = "token_id"

    time_ns: TimeNs
    token_id: TokenId
    market: MarketId
    bids: tuple[Level, ...] = ()
    asks: tuple[Level, ...] = ()
    tick_size: TickSize = Decimal("0.01")
    min_order_size: Size = Decimal(5)
    hash: str = ""
    seq: int = 0
    last_trade_price: Price | None = None

    @model_validator(mode="after")
    def _levels_ok(self) -> BookSnapshot:
        _check_levels(self.bids, self.tick_size, True, "bids")
        _check_levels(self.asks, self.tick_size, False, "asks")
        return self


class LevelChange(Payload):
    kind: Literal["level_change"] = "level_change"
    side: Side
    price: Price
    size: Size  # the new aggregate size at this level; 0 removes it

    @classmethod
    def trusted(cls, side: Side, price: Decimal, size: Decimal) -> LevelChange:
        """A change from values the caller has already checked (a finite price in [0, 1], a finite
        size >= 0, a ``Side``), built without validation: a delta carries one per level, and a
        venue decoder that checked them at the wire should not pay for them twice. Equal (and
        serialised alike) to the validated model; pydantic's ``model_construct`` does the same
        but costs more than validating, so the four slots it fills are filled here directly."""
        lc = _new(cls)
        _set(lc, "__dict__", {"kind": "level_change", "side": side, "price": price, "size": size})
        _set(lc, "__pydantic_fields_set__", {"side", "price", "size"})
        _set(lc, "__pydantic_extra__", None)
        _set(lc, "__pydantic_private__", None)
        return lc


_new = object.__new__
_set = object.__setattr__


class BookDelta(Payload):
    """A ``price_change``: new aggregate sizes at some levels, with the resulting best bid/ask."""

    kind: Literal["book_delta"] = "book_delta"
    routing_key_field: ClassVar[str | None] = "token_id"

    time_ns: TimeNs
    token_id: TokenId
    market: MarketId
    changes: tuple[LevelChange, ...] = Field(min_length=1)
    best_bid: Price | None = None
    best_ask: Price | None = None
    hash: str = ""
    seq: int = 0


class TradePrint(Payload):
    """A trade on the venue (``last_trade_price``); ``side`` is the taker's."""

    kind: Literal["trade_print"] = "trade_print"
    routing_key_field: ClassVar[str | None] = "token_id"

    time_ns: TimeNs
    token_id: TokenId
    market: MarketId
    price: Price
    size: PositiveSize
    side: Side
    fee_rate_bps: int = 0


class TickSizeChange(Payload):
    """The venue changed a book's tick; the book must be dropped and rebuilt from a snapshot."""

    kind: Literal["tick_size_change"] = "tick_size_change"
    routing_key_field: ClassVar[str | None] = "token_id"

    time_ns: TimeNs
    token_id: TokenId
    market: MarketId
    old_tick_size: TickSize
    new_tick_size: TickSize


class TopOfBook(Payload):
    """The market watcher's validated view of one book: best prices plus the top levels."""

    kind: Literal["top_of_book"] = "top_of_book"
    routing_key_field: ClassVar[str | None] = "token_id"

    time_ns: TimeNs
    token_id: TokenId
    market: MarketId
    best_bid: Price | None = None
    best_bid_size: Size = Decimal(0)
    best_ask: Price | None = None
    best_ask_size: Size = Decimal(0)
    bids: tuple[Level, ...] = ()
    asks: tuple[Level, ...] = ()
    tick_size: TickSize = Decimal("0.01")
    min_order_size: Size = Decimal(5)
    seq: int = 0
    book_time_ns: TimeNs | None = None

    @property
    def mid(self) -> Decimal | None:
        if self.best_bid is None or self.best_ask is None:
            return None
        return (self.best_bid + self.best_ask) / 2

    @property
    def spread(self) -> Decimal | None:
        if self.best_bid is None or self.best_ask is None:
            return None
        return self.best_ask - self.best_bid


class BookStale(Payload):
    """A book went quiet, crossed, emptied or lost sync; consumers must not trade on it."""

    kind: Literal["book_stale"] = "book_stale"
    routing_key_field: ClassVar[str | None] = "token_id"

    time_ns: TimeNs
    token_id: TokenId
    market: MarketId
    reason: Literal["STALE", "CROSSED", "EMPTY", "RESYNC", "TICK_CHANGE"]
    last_update_ns: TimeNs | None = None


class ReferencePrice(Payload):
    """A spot price from outside (e.g. BTC/USDT on an exchange) for fair-value strategies."""

    kind: Literal["reference_price"] = "reference_price"
    routing_key_field: ClassVar[str | None] = "symbol"

    time_ns: TimeNs
    symbol: str = Field(min_length=1)
    price: Money
    source: str = ""

    @model_validator(mode="after")
    def _positive(self) -> ReferencePrice:
        if self.price <= 0:
            raise ValueError(f"price must be positive, got {self.price}")
        return self


class ReferenceProbability(Payload):
    """An outside probability for a market's YES (sportsbook line, model), for value strategies."""

    kind: Literal["reference_probability"] = "reference_probability"
    routing_key_field: ClassVar[str | None] = "market"

    time_ns: TimeNs
    market: MarketId
    probability: Price
    source: str = ""
    closing: bool = False


class MarketResolved(Payload):
    """A market resolved; ``winning_token_id`` None means "unknown": both sides pay 0.5."""

    kind: Literal["market_resolved"] = "market_resolved"
    routing_key_field: ClassVar[str | None] = "market"

    time_ns: TimeNs
    market: MarketId
    winning_token_id: TokenId | None = None


class MarketMark(Payload):
    """A market's quotes and its fair value at one instant, sampled for a run's record and report.

    ``token_id`` is the token the prices are for (the YES token by convention; a NO price is one
    minus it). ``fair_value`` is the source's estimate of the token's payout probability — in a
    simulation the world's true probability, the same number positions are marked at. Any price a
    book does not have at that instant is None (an empty side is not malformed)."""

    kind: Literal["market_mark"] = "market_mark"
    routing_key_field: ClassVar[str | None] = "market"

    time_ns: TimeNs
    market: MarketId
    token_id: TokenId
    best_bid: Price | None = None
    best_ask: Price | None = None
    last_trade_price: Price | None = None
    fair_value: Price | None = None
    source: str = ""


class MarketClosed(Payload):
    kind: Literal["market_closed"] = "market_closed"
    routing_key_field: ClassVar[str | None] = "market"

    time_ns: TimeNs
    market: MarketId
