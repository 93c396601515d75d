"""Polymarket's wire formats, validated, and their conversion to our protocol types.

Why a separate wire layer: Polymarket changes its payloads without notice (``buys``/``sells``
became ``bids``/``asks``; ``price_change`` was reshaped on 2025-09-15), sends numbers as strings,
JSON-encodes lists inside strings (Gamma's ``outcomes``, ``outcomePrices``, ``clobTokenIds``),
sends levels best-*last*, and mixes seconds (Data API) with milliseconds (CLOB). Everything is
parsed here once, into models that refuse what they do not understand, so the rest of the system
only ever sees ``protocols`` types: best-first levels, Decimal prices, nanosecond timestamps.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from protocols import (
    BookSnapshot,
    FeeSchedule,
    Level,
    MarketInfo,
    Side,
    WalletTrade,
)
from protocols.numbers import TICK_SIZES, TIME_NS_MAX, TIME_NS_MIN, to_decimal

if TYPE_CHECKING:
    from venues.polymarket.market_msgs import BookMsg

# -- scalar coercions ---------------------------------------------------------------------------


def _wire_decimal(v: Any) -> Decimal:
    """Polymarket numbers: strings ("0.48", ".48"), ints or JSON floats; never bools or NaN."""
    return to_decimal(v)


def _ms_to_ns(v: Any) -> int:
    """A millisecond timestamp (int or digit string) → nanoseconds, range-checked."""
    if isinstance(v, bool):
        raise ValueError("a boolean is not a timestamp")
    if isinstance(v, str):
        if not v.strip().isdigit():
            raise ValueError(f"timestamp {v!r} is not an integer of milliseconds")
        ms = int(v)
    elif isinstance(v, int):
        ms = v
    else:
        raise ValueError(f"timestamp must be integer milliseconds, got {type(v).__name__}")
    ns = ms * 1_000_000
    if not TIME_NS_MIN <= ns < TIME_NS_MAX:
        raise ValueError(f"timestamp {v!r} is not milliseconds since the epoch")
    return ns


def _s_to_ns(v: Any) -> int:
    """A seconds timestamp (the Data API's) → nanoseconds, range-checked."""
    if isinstance(v, bool) or not isinstance(v, int | str):
        raise ValueError(f"timestamp must be integer seconds, got {type(v).__name__}")
    if isinstance(v, str) and not v.strip().isdigit():
        raise ValueError(f"timestamp {v!r} is not an integer of seconds")
    ns = int(v) * 1_000_000_000
    if not TIME_NS_MIN <= ns < TIME_NS_MAX:
        raise ValueError(f"timestamp {v!r} is not seconds since the epoch")
    return ns


def _json_list(v: Any) -> Any:
    """Gamma JSON-encodes some lists inside strings; accept both forms."""
    if isinstance(v, str):
        try:
            return json.loads(v)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not a JSON-encoded list: {v[:40]!r}") from exc
    return v


def _blank_to_none(v: Any) -> Any:
    """The venue sends ``""`` (or null) for an optional number it has no value for — e.g. a book's
    ``last_trade_price`` before any trade: that is "no value", not a malformed frame."""
    if v is None or (isinstance(v, str) and not v.strip()):
        return None
    return v


def _null_is_empty(empty: Any) -> Callable[[Any], Any]:
    def convert(v: Any) -> Any:
        return empty() if v is None else v

    return convert


WireDecimal = Annotated[Decimal, BeforeValidator(_wire_decimal)]
OptText = Annotated[str, BeforeValidator(_null_is_empty(str))]
"""An optional venue string: null is the empty string (no value), as a missing one is."""
OptWireDecimal = Annotated[WireDecimal | None, BeforeValidator(_blank_to_none)]
"""An optional venue number: empty string or null is None; anything else must be a valid decimal."""
MsTime = Annotated[int, BeforeValidator(_ms_to_ns)]
SecTime = Annotated[int, BeforeValidator(_s_to_ns)]
JsonStrList = Annotated[list[str], BeforeValidator(_json_list)]
JsonDecList = Annotated[list[WireDecimal], BeforeValidator(_json_list)]
WireSide = Literal["BUY", "SELL"]


class _Wire(BaseModel):
    """Wire models ignore fields they do not know (Polymarket adds some every few months)."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


def _is_blank(v: Any) -> bool:
    return v is None or (isinstance(v, str) and not v.strip())


class RestRow(_Wire):
    """A Gamma or Data API row, decoded field by field: a field the venue sent empty (``""``) or
    null is *not given* — its default applies (or, for a field we cannot do without, it is
    missing and the row is refused as today). Gamma leaves optional fields empty as a matter of
    course (``bestBid: ""``, ``endDate: null``, ``negRisk: null``); refusing the row for it would
    drop a tradeable market from discovery. The names of the blank fields are kept in
    ``blank_fields`` (never dumped) so the caller counts them.
    """

    blank_fields: tuple[str, ...] = Field(default=(), exclude=True, repr=False)

    @model_validator(mode="before")
    @classmethod
    def _blank_is_not_given(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        blank = tuple(k for k, v in data.items() if k in cls.model_fields and k != "blank_fields" and _is_blank(v))
        if not blank:
            return data
        out = {k: v for k, v in data.items() if k not in blank}
        out["blank_fields"] = blank
        return out


# -- CLOB book (REST and WebSocket ``book``) ----------------------------------------------------


class WireLevel(_Wire):
    price: WireDecimal
    size: WireDecimal


class WireBook(_Wire):
    """``GET /book`` and the ``book`` event; levels arrive best-last (bids ascending, asks descending)."""

    event_type: Literal["book"] | None = None
    market: str = Field(min_length=1)
    asset_id: str = Field(min_length=1)
    timestamp: MsTime
    hash: OptText = ""
    bids: Annotated[list[WireLevel], BeforeValidator(_null_is_empty(list))] = Field(default_factory=list)
    asks: Annotated[list[WireLevel], BeforeValidator(_null_is_empty(list))] = Field(default_factory=list)
    min_order_size: OptWireDecimal = None
    tick_size: OptWireDecimal = None
    neg_risk: bool | None = None
    last_trade_price: OptWireDecimal = None

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> WireBook:
        """Accept the pre-2025 ``buys``/``sells`` names as well as ``bids``/``asks``."""
        if "bids" not in raw and "buys" in raw:
            raw = {**raw, "bids": raw["buys"]}
        if "asks" not in raw and "sells" in raw:
            raw = {**raw, "asks": raw["sells"]}
        return cls.model_validate(raw)


def _levels(raw: list[WireLevel] | list[tuple[Decimal, Decimal]], *, descending: bool) -> tuple[Level, ...]:
    """Wire levels (pydantic ``WireLevel`` or the fast path's ``(price, size)``) → best-first, zero
    sizes dropped. Sorting (not just reversing) means a change in Polymarket's ordering cannot
    silently turn a book upside down; duplicate prices are refused by ``BookSnapshot``'s
    strict-order check."""
    pairs = [(lv.price, lv.size) if isinstance(lv, WireLevel) else lv for lv in raw]
    kept = [lv for lv in pairs if lv[1] != 0]
    if any(size < 0 for _p, size in kept):
        raise ValueError("a level has a negative size")
    kept.sort(key=lambda lv: lv[0], reverse=descending)
    return tuple(kept)


def book_to_snapshot(
    wire: WireBook | BookMsg,
    *,
    tick_size: Decimal | None = None,
    min_order_size: Decimal | None = None,
    seq: int = 0,
) -> BookSnapshot:
    """A wire book → a best-first ``BookSnapshot``. The tick comes from the book when it carries
    one (REST does, the WebSocket does not), else from what we know of the market."""
    tick = wire.tick_size if wire.tick_size is not None else tick_size
    min_size = wire.min_order_size if wire.min_order_size is not None else min_order_size
    ltp = wire.last_trade_price
    if ltp is not None and not (0 <= ltp <= 1):
        ltp = None
    return BookSnapshot(
        time_ns=wire.timestamp,
        token_id=wire.asset_id,
        market=wire.market,
        bids=_levels(wire.bids, descending=True),
        asks=_levels(wire.asks, descending=False),
        tick_size=tick if tick is not None else Decimal("0.01"),
        min_order_size=min_size if min_size is not None else Decimal(5),
        hash=wire.hash,
        seq=seq,
        last_trade_price=ltp,
    )


# -- market WebSocket events --------------------------------------------------------------------


class WirePriceChangeItem(_Wire):
    asset_id: str = Field(min_length=1)
    price: WireDecimal
    size: WireDecimal
    side: WireSide
    hash: OptText = ""
    best_bid: OptWireDecimal = None
    best_ask: OptWireDecimal = None

    @field_validator("price")
    @classmethod
    def _price(cls, v: Decimal) -> Decimal:
        if not 0 <= v <= 1:
            raise ValueError(f"price {v} is outside [0, 1]")
        return v

    @field_validator("size")
    @classmethod
    def _size(cls, v: Decimal) -> Decimal:
        if v < 0:
            raise ValueError(f"size {v} is negative")
        return v


class WirePriceChange(_Wire):
    event_type: Literal["price_change"]
    market: str = Field(min_length=1)
    price_changes: list[WirePriceChangeItem] = Field(min_length=1)
    timestamp: MsTime


class WireLastTrade(_Wire):
    event_type: Literal["last_trade_price"]
    asset_id: str = Field(min_length=1)
    market: str = Field(min_length=1)
    price: WireDecimal
    size: WireDecimal
    side: WireSide
    fee_rate_bps: OptWireDecimal = None
    timestamp: MsTime


class WireTickSizeChange(_Wire):
    event_type: Literal["tick_size_change"]
    asset_id: str = Field(min_length=1)
    market: str = Field(min_length=1)
    old_tick_size: WireDecimal
    new_tick_size: WireDecimal
    timestamp: MsTime

    @field_validator("old_tick_size", "new_tick_size")
    @classmethod
    def _tick(cls, v: Decimal) -> Decimal:
        if v not in TICK_SIZES:
            raise ValueError(f"tick size {v} is not a CLOB tick")
        return v


class WireBestBidAsk(_Wire):
    event_type: Literal["best_bid_ask"]
    asset_id: str = Field(min_length=1)
    market: str = Field(min_length=1)
    best_bid: OptWireDecimal = None
    best_ask: OptWireDecimal = None
    spread: OptWireDecimal = None
    timestamp: MsTime


class WireNewMarket(_Wire):
    event_type: Literal["new_market"]
    id: OptText = ""
    market: str = Field(min_length=1)
    question: OptText = ""
    slug: OptText = ""
    assets_ids: list[str] = Field(min_length=2, max_length=2)
    outcomes: list[str] = Field(min_length=2, max_length=2)
    order_price_min_tick_size: OptWireDecimal = None
    timestamp: MsTime


class WireMarketResolved(_Wire):
    event_type: Literal["market_resolved"]
    id: OptText = ""
    market: str = Field(min_length=1)
    assets_ids: Annotated[list[str], BeforeValidator(_null_is_empty(list))] = Field(default_factory=list)
    winning_asset_id: str | None = None
    winning_outcome: str | None = None
    timestamp: MsTime


WS_EVENT_MODELS: dict[str, type[_Wire]] = {
    "book": WireBook,
    "price_change": WirePriceChange,
    "last_trade_price": WireLastTrade,
    "tick_size_change": WireTickSizeChange,
    "best_bid_ask": WireBestBidAsk,
    "new_market": WireNewMarket,
    "market_resolved": WireMarketResolved,
}


# -- Gamma --------------------------------------------------------------------------------------


class GammaEventRef(RestRow):
    id: str = ""
    negRisk: bool | None = None
    enableNegRisk: bool | None = None
    negRiskAugmented: bool | None = None


class GammaMarket(RestRow):
    id: str = Field(min_length=1)
    question: str = ""
    conditionId: str = Field(min_length=1)
    slug: str = ""
    endDate: datetime | None = None
    category: str | None = None
    outcomes: JsonStrList = Field(default_factory=lambda: ["Yes", "No"])
    outcomePrices: JsonDecList | None = None
    clobTokenIds: JsonStrList | None = None
    active: bool = True
    closed: bool = False
    acceptingOrders: bool | None = None
    enableOrderBook: bool | None = None
    orderPriceMinTickSize: WireDecimal | None = None
    orderMinSize: WireDecimal | None = None
    negRisk: bool = False
    negRiskMarketID: str | None = None
    feesEnabled: bool | None = None
    feeType: str | None = None
    feeSchedule: GammaFeeSchedule | None = None
    volumeNum: WireDecimal | None = None
    liquidityNum: WireDecimal | None = None
    bestBid: WireDecimal | None = None
    bestAsk: WireDecimal | None = None
    events: list[GammaEventRef] | None = None


def _opt_fee_number(v: Any) -> Any:
    """A fee field Gamma left empty (``""`` or null) is "not said", not malformed."""
    if v is None or (isinstance(v, str) and not v.strip()):
        return None
    return to_decimal(v)


OptFeeNumber = Annotated[Decimal | None, BeforeValidator(_opt_fee_number)]


class GammaFeeSchedule(_Wire):
    """Gamma's per-market ``feeSchedule``; any field may be missing, empty or null."""

    rate: OptFeeNumber = None
    exponent: OptFeeNumber = None
    takerOnly: bool | None = None
    rebateRate: OptFeeNumber = None


def gamma_fee_schedule(m: GammaMarket, *, default_rate: Decimal) -> FeeSchedule:
    """The market's ``FeeSchedule`` from ``feesEnabled`` and ``feeSchedule``, as Gamma sends them.

    ``feesEnabled: false`` means no fees. Fees enabled with no rate given (schedule missing, or
    its ``rate`` empty) falls back to ``default_rate`` (configuration: the safe side for edges).
    ``feesEnabled`` missing follows the schedule: present with a rate means fees are on.
    Missing ``exponent``/``takerOnly``/``rebateRate`` take the venue's usual 1/true/0.
    """
    fee_type = m.feeType or ""
    s = m.feeSchedule
    enabled = m.feesEnabled if m.feesEnabled is not None else (s is not None and s.rate is not None)
    if not enabled:
        return FeeSchedule.free(fee_type)
    if s is None:
        return FeeSchedule(rate=default_rate, fee_type=fee_type)
    exponent = s.exponent if s.exponent is not None else Decimal(1)
    if exponent != exponent.to_integral_value():
        raise ValueError(f"market {m.id}: feeSchedule.exponent {exponent} is not a whole number")
    return FeeSchedule(
        rate=s.rate if s.rate is not None else default_rate,
        exponent=int(exponent),
        taker_only=s.takerOnly if s.takerOnly is not None else True,
        rebate_rate=s.rebateRate if s.rebateRate is not None else Decimal(0),
        fee_type=fee_type,
    )


class GammaEvent(RestRow):
    id: str = Field(min_length=1)
    title: str = ""
    slug: str = ""
    category: str | None = None
    negRisk: bool = False
    enableNegRisk: bool = False
    negRiskAugmented: bool = False
    active: bool = True
    closed: bool = False
    markets: list[dict[str, Any]] = Field(default_factory=list)


def market_to_info(
    m: GammaMarket,
    *,
    now_ns: int,
    event: GammaEvent | GammaEventRef | None = None,
    default_fee_rate: Decimal = Decimal("0.04"),
    category: str | None = None,
) -> MarketInfo:
    """A Gamma market → ``MarketInfo``. Raises ``ValueError`` for a market we cannot trade
    (no order book, not two outcome tokens, a tick the CLOB does not use)."""
    tokens = m.clobTokenIds or []
    if len(tokens) != 2 or len(m.outcomes) != 2:
        raise ValueError(f"market {m.id}: expected 2 outcome tokens, got {len(tokens)}")
    if m.enableOrderBook is False:
        raise ValueError(f"market {m.id}: order book not enabled")
    if event is None and m.events:
        event = m.events[0]
    cat = (category or m.category or "").strip()
    fees = gamma_fee_schedule(m, default_rate=default_fee_rate)
    neg_risk = m.negRisk or bool(event is not None and (event.negRisk or event.enableNegRisk))
    augmented = bool(event is not None and event.negRiskAugmented)
    end_ns = None
    if m.endDate is not None:
        end_ns = int(m.endDate.timestamp()) * 1_000_000_000
        if not TIME_NS_MIN <= end_ns < TIME_NS_MAX:
            end_ns = None
    return MarketInfo(
        time_ns=now_ns,
        market=m.conditionId,
        question=m.question,
        slug=m.slug,
        event_id=event.id if event is not None else "",
        outcomes=(m.outcomes[0], m.outcomes[1]),
        token_ids=(tokens[0], tokens[1]),
        tick_size=m.orderPriceMinTickSize if m.orderPriceMinTickSize is not None else Decimal("0.01"),
        min_order_size=m.orderMinSize if m.orderMinSize is not None else Decimal(5),
        neg_risk=neg_risk,
        neg_risk_augmented=augmented,
        fees=fees,
        category=cat,
        end_ns=end_ns,
        active=m.active and m.acceptingOrders is not False,
        closed=m.closed,
    )


# -- Data API -----------------------------------------------------------------------------------


class DataTrade(RestRow):
    """One row of ``/trades`` (and a TRADE row of ``/activity``); numbers are JSON floats there."""

    proxyWallet: str = Field(min_length=1)
    side: WireSide
    asset: str = Field(min_length=1)
    conditionId: str = Field(min_length=1)
    size: WireDecimal
    price: WireDecimal
    timestamp: SecTime
    outcome: str = ""
    outcomeIndex: int | None = None
    transactionHash: str = ""
    name: str = ""
    pseudonym: str = ""
    title: str = ""
    slug: str = ""

    @property
    def dedupe_key(self) -> tuple[str, ...]:
        """Trades have no id; transaction hash + asset + side + size tells them apart. A row with a
        blank hash is a value, not malformed: wallet, time and price then stand in for the hash,
        so two such fills of one size are never merged into one."""
        key = (self.transactionHash, self.asset, self.side, str(self.size.normalize()))
        if self.transactionHash:
            return key
        return (*key, self.proxyWallet, str(self.timestamp), str(self.price.normalize()))


class DataActivity(RestRow):
    proxyWallet: str = Field(min_length=1)
    timestamp: SecTime
    type: str = Field(min_length=1)
    conditionId: str = ""
    asset: str = ""
    side: WireSide | None = None
    size: WireDecimal | None = None
    usdcSize: WireDecimal | None = None
    price: WireDecimal | None = None
    transactionHash: str = ""
    outcome: str = ""
    title: str = ""

    @property
    def dedupe_key(self) -> tuple[str, ...]:
        size = "" if self.size is None else str(self.size.normalize())
        key = (self.transactionHash, self.asset, self.side or self.type, size)
        if self.transactionHash:
            return key
        price = "" if self.price is None else str(self.price.normalize())
        return (*key, self.proxyWallet, str(self.timestamp), price)  # as DataTrade's, for a blank hash


class DataPosition(RestRow):
    proxyWallet: str = Field(min_length=1)
    asset: str = Field(min_length=1)
    conditionId: str = Field(min_length=1)
    size: WireDecimal
    avgPrice: WireDecimal | None = None
    initialValue: WireDecimal | None = None
    currentValue: WireDecimal | None = None
    cashPnl: WireDecimal | None = None
    percentPnl: WireDecimal | None = None
    realizedPnl: WireDecimal | None = None
    curPrice: WireDecimal | None = None
    redeemable: bool = False
    outcome: str = ""
    title: str = ""


def _wallet_trade(row: DataTrade | DataActivity, side: str) -> WalletTrade:
    return WalletTrade(
        time_ns=row.timestamp,
        trade_id=":".join(row.dedupe_key),
        wallet=row.proxyWallet,
        token_id=row.asset,
        market=row.conditionId,
        side=Side(side),
        price=row.price,
        size=row.size,
        outcome=row.outcome,
        tx_hash=row.transactionHash,
    )


def trade_to_wallet_trade(t: DataTrade) -> WalletTrade:
    """A ``/trades`` row → the whale tracker's raw input (it filters, scores and publishes)."""
    return _wallet_trade(t, t.side)


def activity_to_wallet_trade(a: DataActivity) -> WalletTrade | None:
    """A TRADE row of ``/activity`` → ``WalletTrade``; other activity types → None."""
    if a.type != "TRADE":
        return None
    if a.side is None or a.size is None or a.price is None or not a.asset or not a.conditionId:
        raise ValueError("a TRADE activity row lacks side, size, price, asset or conditionId")
    return _wallet_trade(a, a.side)
