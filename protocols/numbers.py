"""Exact numbers for prices, sizes, money and time.

Why Decimal and integer nanoseconds: a float that drifts by 1e-17 makes a price fall off the tick
grid, and a timestamp in seconds mistaken for nanoseconds puts an order fifty years in the past.
Both are refused at construction, with the field named, rather than discovered in a fill.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field

#: Tick sizes the CLOB uses (0.0025 appears on some sports markets).
TICK_SIZES: frozenset[Decimal] = frozenset(
    Decimal(t) for t in ("0.1", "0.01", "0.001", "0.0001", "0.0025")
)

ZERO = Decimal(0)
ONE = Decimal(1)
MICRO = 1_000_000

#: Timestamps must be nanoseconds since the epoch: 2001-09-09 .. 2096-10-02. A value in seconds or
#: milliseconds falls below the floor and is refused.
TIME_NS_MIN = 1_000_000_000_000_000_000
TIME_NS_MAX = 4_000_000_000_000_000_000


def to_decimal(value: Any) -> Decimal:
    """Coerce str/int/Decimal (and float via its shortest repr) to Decimal; refuse NaN and inf."""
    if isinstance(value, Decimal):
        d = value
    elif isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    elif isinstance(value, int):
        d = Decimal(value)
    elif isinstance(value, float):
        d = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            d = Decimal(value.strip())
        except InvalidOperation as exc:
            raise ValueError(f"not a decimal number: {value!r}") from exc
    else:
        raise ValueError(f"not a number: {type(value).__name__}")
    if not d.is_finite():
        raise ValueError("must be finite (NaN and infinity are refused)")
    return d


def _check_tick(t: Decimal) -> Decimal:
    if t not in TICK_SIZES:
        raise ValueError(f"tick size {t} is not one of {sorted(TICK_SIZES)}")
    return t


def _check_time_ns(t: int) -> int:
    if not TIME_NS_MIN <= t < TIME_NS_MAX:
        raise ValueError(
            f"timestamp {t} is not in nanoseconds since the epoch "
            f"(expected {TIME_NS_MIN} <= t < {TIME_NS_MAX}; seconds or milliseconds?)"
        )
    return t


def _check_token(s: str) -> str:
    if not s or not s.strip():
        raise ValueError("must not be empty")
    return s


_Dec = BeforeValidator(to_decimal)

# Price, size and money use pydantic-core's native decimal checks (finite, bounds): about twice as
# fast as a Python validator, and every venue frame pays for them.
Price = Annotated[Decimal, Field(ge=0, le=1, allow_inf_nan=False)]
"""A probability price in [0, 1]."""
Size = Annotated[Decimal, Field(ge=0, allow_inf_nan=False)]
"""A non-negative quantity of shares."""
PositiveSize = Annotated[Decimal, Field(gt=0, allow_inf_nan=False)]
Money = Annotated[Decimal, Field(allow_inf_nan=False)]
"""An amount of collateral (pUSD); may be negative (PnL, cash flows)."""
NonNegMoney = Annotated[Decimal, Field(ge=0, allow_inf_nan=False)]
TickSize = Annotated[Decimal, _Dec, AfterValidator(_check_tick)]
TimeNs = Annotated[int, Field(strict=True), AfterValidator(_check_time_ns)]
"""Nanoseconds since the epoch."""
DurationNs = Annotated[int, Field(strict=True, ge=0)]
TokenId = Annotated[str, AfterValidator(_check_token)]
"""An opaque outcome-token (asset) id."""
MarketId = Annotated[str, AfterValidator(_check_token)]
"""A condition id (one binary market)."""


def on_tick(price: Decimal, tick: Decimal) -> bool:
    """True when ``price`` is a whole multiple of ``tick``."""
    return (price % tick) == ZERO


def require_on_tick(price: Decimal, tick: Decimal, field: str = "price") -> None:
    if not on_tick(price, tick):
        raise ValueError(f"{field} {price} is off the tick grid {tick}")


def to_micro(value: Decimal) -> int:
    """Decimal → integer micro-units, refusing anything finer than 1e-6."""
    scaled = value * MICRO
    as_int = int(scaled)
    if scaled != as_int:
        raise ValueError(f"{value} has more precision than 1e-6")
    return as_int


def from_micro(value: int) -> Decimal:
    return Decimal(value) / MICRO


def ns_from_seconds(seconds: float | int) -> int:
    return round(seconds * 1_000_000_000)
