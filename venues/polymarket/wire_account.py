"""Our own lenient models of the CLOB's order and trade documents (user channel and REST).

Why not the SDK's models: they mirror the venue's *documented* schema and refuse a whole frame for
one odd field, and the venue sends odd fields as a matter of course (see
``shared/reference/polymarket.md``, "What the live venue really sends"): a FOK killed by the venue
carries ``size_matched: ""`` and ``created_at: ""``; ``maker_orders[]`` entries come without
``side``; an open order has ``associate_trades: null``. Refusing those frames drops our own kills
and fills. Here each field is decoded on its own: an empty string or null is a value (None, or
zero where the venue means zero), a missing optional field is counted in ``missing`` and never
fatal, and only a frame without what identifies it (ids, price, size, side of the trade) is
refused as malformed. A trade is read part by part: a maker order entry without its id, price or
amount is left out and counted (``DecodeStats.malformed``), and a trade without its own price or
size still yields the maker fills it carries.

Units, per field, as the venue sends them: ``timestamp`` in milliseconds, ``created_at`` in
seconds (REST) or milliseconds (some user frames), ``match_time`` as epoch seconds or ISO text.
Epoch integers are converted to nanoseconds with integer arithmetic only (no float round trip).
For a marketable BUY (FOK/FAK) ``original_size`` is the pUSD amount; ``size_shares`` converts it.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from protocols.numbers import TIME_NS_MAX, TIME_NS_MIN, to_decimal

_MICRO = Decimal("0.000001")


def opt_decimal(v: Any) -> Decimal | None:
    """A venue number where "" or null means "no value" (not an error)."""
    if v is None or (isinstance(v, str) and not v.strip()):
        return None
    return to_decimal(v)


def epoch_ns(v: Any) -> int | None:
    """An epoch time in whatever unit the field carries (s, ms, µs, ns, or ISO-8601 text) → ns.

    The unit is read from the magnitude: a seconds value and a milliseconds value of any date
    between 2001 and 2096 differ by three orders of magnitude, so this never confuses them.
    "" / null / "0" / out of range → None (the caller uses its clock)."""
    if v is None or isinstance(v, bool):
        return None
    if isinstance(v, datetime):
        return _iso_ns(v)
    if isinstance(v, float):
        v = repr(v)
    if isinstance(v, str):
        s = v.strip()
        if not s:
            return None
        if not s.isdigit():
            try:
                d = Decimal(s)
            except InvalidOperation:
                try:
                    return _iso_ns(datetime.fromisoformat(s.replace("Z", "+00:00")))
                except ValueError:
                    return None
            if not d.is_finite() or d <= 0:
                return None
            whole = int(d)
            frac_ns = int((d - whole) * 1_000_000_000)
            ns = _scale(whole)
            return None if ns is None else ns + (frac_ns if whole < 10**11 else 0)
        v = int(s)
    if not isinstance(v, int):
        return None
    return _scale(v)


def _scale(n: int) -> int | None:
    for factor in (1_000_000_000, 1_000_000, 1_000, 1):
        ns = n * factor
        if TIME_NS_MIN <= ns < TIME_NS_MAX:
            return ns
    return None


def _iso_ns(dt: datetime) -> int | None:
    if dt.tzinfo is None:
        return None
    delta = dt - datetime(1970, 1, 1, tzinfo=UTC)
    ns = (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000
    return ns if TIME_NS_MIN <= ns < TIME_NS_MAX else None


def _text(v: Any) -> str:
    return "" if v is None else str(v)


def _upper_side(v: Any) -> str | None:
    if v is None:
        return None
    s = str(v).strip().upper()
    return s if s in ("BUY", "SELL") else None


def _ids(v: Any) -> tuple[str, ...]:
    if v is None or v == "":
        return ()
    if isinstance(v, list | tuple):
        return tuple(str(x) for x in v if x not in (None, ""))
    return (str(v),)


OptDec = Annotated[Decimal | None, BeforeValidator(opt_decimal)]
ReqDec = Annotated[Decimal, BeforeValidator(to_decimal)]
EpochNs = Annotated[int | None, BeforeValidator(epoch_ns)]
Text = Annotated[str, BeforeValidator(_text)]
OptSide = Annotated[Literal["BUY", "SELL"] | None, BeforeValidator(_upper_side)]
ReqSide = Annotated[Literal["BUY", "SELL"], BeforeValidator(lambda v: _upper_side(v) or v)]
Ids = Annotated[tuple[str, ...], BeforeValidator(_ids)]


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    #: Optional fields whose absence we count (the rest default silently).
    COUNTED: ClassVar[tuple[str, ...]] = ()

    def missing_fields(self) -> list[str]:
        return [f for f in self.COUNTED if f not in self.model_fields_set]


class WireOrder(_Lenient):
    """An order: a user-channel ``order`` event, or a REST ``/data/order(s)`` record."""

    id: str = Field(min_length=1)
    market: Text = ""
    asset_id: str = Field(min_length=1)
    side: ReqSide
    price: ReqDec
    original_size: OptDec = None
    size_matched: OptDec = None
    order_type: Text = ""
    status: Text = ""
    type: Text = ""  # user channel: PLACEMENT / UPDATE / CANCELLATION
    outcome: Text = ""
    owner: Text = ""
    maker_address: Text = ""
    associate_trades: Ids = ()
    created_at: EpochNs = None
    timestamp: EpochNs = None
    expiration: EpochNs = None

    COUNTED = ("original_size", "size_matched", "order_type", "status", "associate_trades", "timestamp")

    @property
    def marketable_buy(self) -> bool:
        return self.side == "BUY" and self.order_type.upper() in ("FOK", "FAK")

    @property
    def size_shares(self) -> Decimal:
        """The order's size in shares: a marketable BUY's ``original_size`` is pUSD (÷ price)."""
        raw = self.original_size or Decimal(0)
        if self.marketable_buy and self.price > 0:
            return (raw / self.price).quantize(_MICRO)
        return raw

    @property
    def matched(self) -> Decimal:
        """Shares matched so far ("" and null are nothing yet), never above the order's size."""
        m = self.size_matched or Decimal(0)
        size = self.size_shares
        return min(m, size) if size > 0 else m


class WireMakerOrder(_Lenient):
    """One maker order of a trade. ``side`` may be missing on the wire: ``resolved`` fills it."""

    order_id: str = Field(min_length=1)
    asset_id: Text = ""
    maker_address: Text = ""
    owner: Text = ""
    side: OptSide = None
    price: ReqDec
    matched_amount: ReqDec
    outcome: Text = ""
    fee_rate_bps: OptDec = None

    COUNTED = ("side", "asset_id", "fee_rate_bps")


class WireTrade(_Lenient):
    """A trade: a user-channel ``trade`` event or a REST ``/data/trades`` record."""

    id: str = Field(min_length=1)
    taker_order_id: Text = ""
    market: Text = ""
    asset_id: str = Field(min_length=1)
    side: ReqSide
    #: The taker's price and size: without them there is no taker fill, but a maker fill (which
    #: carries its own price and amount) is still one.
    price: OptDec = None
    size: OptDec = None
    fee_rate_bps: OptDec = None
    status: Text = "MATCHED"
    trader_side: Text = ""
    owner: Text = ""
    maker_address: Text = ""
    outcome: Text = ""
    transaction_hash: Text = ""
    maker_orders: tuple[WireMakerOrder, ...] = ()
    #: Maker order entries left out because they lack what identifies a fill (order id, price,
    #: matched amount): one unreadable maker must not cost us the taker fill or another maker's.
    bad_maker_orders: int = 0
    match_time: EpochNs = Field(default=None, validation_alias="match_time")
    matchtime: EpochNs = None
    last_update: EpochNs = None
    timestamp: EpochNs = None

    COUNTED = ("taker_order_id", "fee_rate_bps", "status", "trader_side", "match_time")

    @model_validator(mode="before")
    @classmethod
    def _makers(cls, raw: Any) -> Any:
        """``maker_orders: null`` is none; each entry is read on its own, unreadable ones counted."""
        if not isinstance(raw, dict) or "maker_orders" not in raw:
            return raw
        entries = raw["maker_orders"]
        if entries is None:
            return {**raw, "maker_orders": ()}
        if not isinstance(entries, list | tuple):
            return {**raw, "maker_orders": (), "bad_maker_orders": 1}
        kept: list[WireMakerOrder] = []
        bad = 0
        for entry in entries:
            try:
                kept.append(WireMakerOrder.model_validate(entry))
            except ValidationError:
                bad += 1
        return {**raw, "maker_orders": tuple(kept), "bad_maker_orders": bad}

    @property
    def condition_id(self) -> str:
        return self.market or "UNKNOWN"

    def resolved(self, mo: WireMakerOrder) -> WireMakerOrder:
        """The maker order with its side and token filled in from the match when missing."""
        if mo.side is not None and mo.asset_id:
            return mo
        return mo.model_copy(update={"side": self.maker_side(mo), "asset_id": mo.asset_id or self.asset_id})

    @property
    def time_ns(self) -> int | None:
        return self.match_time or self.matchtime or self.timestamp or self.last_update

    def maker_side(self, mo: WireMakerOrder) -> Literal["BUY", "SELL"]:
        """A maker order's side, from the wire when it is there, else from the match itself: a
        maker on the taker's token took the other side; a maker on the complementary token
        (a mint or merge match) did the same as the taker."""
        if mo.side is not None:
            return mo.side
        same_token = not mo.asset_id or mo.asset_id == self.asset_id
        if same_token:
            return "SELL" if self.side == "BUY" else "BUY"
        return self.side


class DecodeStats:
    """Counts of missing optional fields (``missing[model.field]``), shared by every decoder."""

    def __init__(self) -> None:
        self.missing: Counter[str] = Counter()
        #: Parts of an accepted frame left out as unreadable (e.g. ``WireTrade.maker_orders``).
        self.malformed: Counter[str] = Counter()

    def note(self, model: _Lenient) -> None:
        name = type(model).__name__
        for f in model.missing_fields():
            self.missing[f"{name}.{f}"] += 1
        if isinstance(model, WireTrade):
            if model.bad_maker_orders:
                self.malformed["WireTrade.maker_orders"] += model.bad_maker_orders
            for mo in model.maker_orders:
                self.note(mo)


def parse_order(raw: dict[str, Any], stats: DecodeStats | None = None) -> WireOrder:
    o = WireOrder.model_validate(raw)
    if stats is not None:
        stats.note(o)
    return o


def parse_trade(raw: dict[str, Any], stats: DecodeStats | None = None) -> WireTrade:
    t = WireTrade.model_validate(raw)
    if stats is not None:
        stats.note(t)
    return t


def settlement_text(status: str) -> str:
    """``TRADE_STATUS_CONFIRMED`` (REST) and ``CONFIRMED`` (stream) → ``CONFIRMED``."""
    s = status.strip().upper().removeprefix("TRADE_STATUS_")
    return "MATCHED" if s in ("", "MATCHED_NOT_BROADCASTED") else s


__all__ = [
    "DecodeStats",
    "WireMakerOrder",
    "WireOrder",
    "WireTrade",
    "epoch_ns",
    "opt_decimal",
    "parse_order",
    "parse_trade",
    "settlement_text",
]
