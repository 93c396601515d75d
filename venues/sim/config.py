"""Configuration of the simulated exchange and of one account's latency to it.

Fee rate, fee exponent, tick, minimum size and neg-risk flags are *per market* and come from
``MarketInfo``; what lives here is what the venue applies to every market alike.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: Where the exchange's own clock starts when no scheduler lends it one: 2026-01-01T00:00Z.
DEFAULT_START_NS = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp()) * 1_000_000_000

NS_PER_S = 1_000_000_000


class SimExchangeConfig(BaseModel):
    """What the simulated CLOB applies to every market.

    ``size_step`` is the share granularity (the real clients round sizes to 0.01 shares). With
    prices on a tick of at least 0.0001 it makes every notional an exact number of micro-pUSD,
    which is what lets the engine run on integers without ever rounding a cash flow.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    rebate_interval_ns: int | None = Field(default=None, gt=0)
    """If set, accrued rebates are paid at the first operation after each interval boundary
    (Polymarket pays daily); if None only an explicit ``pay_rebates()`` pays them."""
    size_step: Decimal = Decimal("0.01")
    default_min_order_size: Decimal = Field(default=Decimal(5), ge=0)
    """Used for a market whose ``MarketInfo.min_order_size`` is 0 (unset)."""
    gtd_threshold_ns: int = Field(default=60 * NS_PER_S, ge=0)
    """Polymarket's GTD security threshold: an order with ``expires_ns = E`` is live until
    ``E - threshold`` and is refused (INVALID_EXPIRATION) unless ``E - threshold > now``."""
    start_ns: int = DEFAULT_START_NS
    """The settable clock's start when no scheduler is given."""
    book_hashes: bool = True
    """Put a book hash on every delta (kept incrementally; costs a BLAKE2 per changed level)."""
    auto_tick_extremes: bool = False
    """Do what the live CLOB does near the extremes: when a market with a 0.01 tick trades above
    0.96 or below 0.04, its tick becomes 0.001 (``TickSizeChange`` + fresh snapshots). Off by
    default so that a scenario's tick only changes when it says so."""

    @field_validator("size_step")
    @classmethod
    def _step(cls, v: Decimal) -> Decimal:
        if v <= 0 or (v * 100) != int(v * 100) or Decimal(1) % v != 0:
            raise ValueError("size_step must be a positive multiple of 0.01 that divides 1 (e.g. 0.01, 0.1, 1)")
        return v


class LatencyModel(BaseModel):
    """Order and market-data latency of one account, in nanoseconds of the runtime's clock.

    Each delay is ``base + U[0, jitter]`` drawn from a RNG seeded with ``seed`` and the account, so
    a simulation replays the same delays. Deliveries keep their order: a later event never
    overtakes an earlier one on the same path (orders, data), as on one TCP/WebSocket connection.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    order_latency_ns: int = Field(default=0, ge=0)
    order_jitter_ns: int = Field(default=0, ge=0)
    data_latency_ns: int = Field(default=0, ge=0)
    data_jitter_ns: int = Field(default=0, ge=0)
    seed: int = 0

    @classmethod
    def fixed(cls, order_ns: int = 0, data_ns: int = 0) -> LatencyModel:
        return cls(order_latency_ns=order_ns, data_latency_ns=data_ns)

    @property
    def has_order_latency(self) -> bool:
        return self.order_latency_ns > 0 or self.order_jitter_ns > 0

    @property
    def has_data_latency(self) -> bool:
        return self.data_latency_ns > 0 or self.data_jitter_ns > 0
