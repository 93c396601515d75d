"""The records the engine keeps: markets, neg-risk events, accounts; and the micro-unit edge.

Plain slotted classes rather than pydantic models: they change on every fill, and the engine's
speed is the speed of updating them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from protocols import MarketInfo, ReasonCode
from protocols.fees import MicroFee
from venues.sim.book import ONE, ConditionBook, Order
from venues.sim.market_data import Published

_MICRO_D = Decimal(ONE)

#: One fill as the ledger stores it:
#: (time_ns, trade_seq_id, client_order_id, oid, token, market, is_buy, price, size, fee, is_maker)
FillRecord = tuple[int, str, str, int, str, str, bool, int, int, int, bool]


class SimRejected(ValueError):
    """An account operation (split, merge, conversion, deposit) was refused; nothing changed."""

    def __init__(self, reason: ReasonCode, message: str) -> None:
        super().__init__(f"{reason.value}: {message}")
        self.reason = reason


def to_micro(value: Decimal) -> int | None:
    """Decimal → micro-units, or None when it has more precision than 1e-6."""
    v = value * _MICRO_D
    i = int(v)
    return i if i == v else None


def micro_or_raise(value: Decimal | int | str, what: str) -> int:
    d = value if isinstance(value, Decimal) else Decimal(value)
    m = to_micro(d)
    if m is None:
        raise SimRejected(ReasonCode.INVALID_SIZE, f"{what} {d} has more precision than 1e-6")
    return m


@dataclass(slots=True, eq=False)
class MarketState:
    info: MarketInfo
    market: str
    yes: str
    no: str
    tick: int
    min_size: int
    fee: MicroFee  # the market's FeeSchedule on integers (protocols.fees)
    event_id: str
    neg_risk: bool
    book: ConditionBook = field(default_factory=ConditionBook)
    closed: bool = False
    resolved: bool = False
    last_trade: int | None = None  # YES-space
    seq: dict[str, int] = field(default_factory=dict)
    pub: Published | None = None  # what the feed last published (only while someone listens)


@dataclass(slots=True, eq=False)
class NegRiskEvent:
    event_id: str
    markets: list[str]
    augmented: bool


class Account:
    __slots__ = (
        "basis",
        "cash",
        "deposits",
        "fills",
        "open",
        "orders",
        "realized",
        "rebates",
        "reserved",
        "reserved_cash",
        "shares",
    )

    def __init__(self, cash: int) -> None:
        self.cash = cash
        self.deposits = cash
        self.reserved_cash = 0
        self.shares: dict[str, int] = {}
        self.reserved: dict[str, int] = {}
        self.basis: dict[str, int] = {}  # cost basis in micro-pUSD, per token
        self.realized: dict[str, int] = {}
        self.orders: dict[str, Order] = {}  # every accepted order, open or finished
        self.open: dict[str, Order] = {}
        self.fills: list[FillRecord] = []
        self.rebates = 0  # accrued, not yet paid
