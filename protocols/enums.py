"""Closed vocabularies shared by every package. StrEnums serialise as their values."""

from __future__ import annotations

from enum import StrEnum


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1

    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class TimeInForce(StrEnum):
    GTC = "GTC"
    GTD = "GTD"
    FOK = "FOK"
    FAK = "FAK"


class OrderStatus(StrEnum):
    """The trader's order state machine (see agents/trader)."""

    NEW = "NEW"
    SENT = "SENT"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    UNKNOWN = "UNKNOWN"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED}
)


class Liquidity(StrEnum):
    MAKER = "MAKER"
    TAKER = "TAKER"


class TradingState(StrEnum):
    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"


class RiskAction(StrEnum):
    APPROVED = "APPROVED"
    RESIZED = "RESIZED"
    REJECTED = "REJECTED"


class SettlementStatus(StrEnum):
    """Polymarket's trade lifecycle: a MATCHED fill can still FAIL on chain."""

    MATCHED = "MATCHED"
    MINED = "MINED"
    CONFIRMED = "CONFIRMED"
    RETRYING = "RETRYING"
    FAILED = "FAILED"


class ReasonCode(StrEnum):
    """UPPER_SNAKE reasons for rejections and denials, venue and risk alike."""

    # venue rejections
    INSUFFICIENT_BALANCE = "INSUFFICIENT_BALANCE"
    INVALID_TICK = "INVALID_TICK"
    INVALID_PRICE = "INVALID_PRICE"
    INVALID_SIZE = "INVALID_SIZE"
    BELOW_MIN_SIZE = "BELOW_MIN_SIZE"
    MARKET_CLOSED = "MARKET_CLOSED"
    POST_ONLY_WOULD_CROSS = "POST_ONLY_WOULD_CROSS"
    FOK_NOT_FILLABLE = "FOK_NOT_FILLABLE"
    FAK_NO_MATCH = "FAK_NO_MATCH"
    UNKNOWN_TOKEN = "UNKNOWN_TOKEN"
    UNKNOWN_ORDER = "UNKNOWN_ORDER"
    DUPLICATE_ORDER = "DUPLICATE_ORDER"
    INVALID_EXPIRATION = "INVALID_EXPIRATION"
    EXPIRED = "EXPIRED"
    VENUE_ERROR = "VENUE_ERROR"
    # risk denials
    MAX_TRADE_SIZE = "MAX_TRADE_SIZE"
    MAX_MARKET_EXPOSURE = "MAX_MARKET_EXPOSURE"
    MAX_EVENT_EXPOSURE = "MAX_EVENT_EXPOSURE"
    MAX_TOTAL_EXPOSURE = "MAX_TOTAL_EXPOSURE"
    DAILY_LOSS_LIMIT = "DAILY_LOSS_LIMIT"
    MAX_DRAWDOWN = "MAX_DRAWDOWN"
    LOSS_STREAK_COOLDOWN = "LOSS_STREAK_COOLDOWN"
    MAX_TRADES_PER_DAY = "MAX_TRADES_PER_DAY"
    INSUFFICIENT_LIQUIDITY = "INSUFFICIENT_LIQUIDITY"
    PRICE_IMPACT = "PRICE_IMPACT"
    STALE_DATA = "STALE_DATA"
    TOO_CLOSE_TO_EXPIRY = "TOO_CLOSE_TO_EXPIRY"
    EXECUTION_FAILURES = "EXECUTION_FAILURES"
    VENUE_LATENCY = "VENUE_LATENCY"
    KILL_SWITCH = "KILL_SWITCH"
    TRADING_HALTED = "TRADING_HALTED"
    REDUCE_ONLY = "REDUCE_ONLY"
    NO_MARKET_DATA = "NO_MARKET_DATA"
    SIGNAL_EXPIRED = "SIGNAL_EXPIRED"
    VAR_LIMIT = "VAR_LIMIT"
    CORRELATION_LIMIT = "CORRELATION_LIMIT"
    # execution / reconciliation
    RECONCILE_FAILED = "RECONCILE_FAILED"
    CLIENT_MISMATCH = "CLIENT_MISMATCH"
    LEG_UNWOUND = "LEG_UNWOUND"
