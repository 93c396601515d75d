"""The trader's order state machine and its deterministic client order ids.

Why a state machine with ranks rather than "last event wins": venue events arrive twice (the reply
to ``place_order`` and the sink), late (a websocket behind a REST reply) and out of order (an ack
after the first fill). Ranking states and refusing to move backwards makes every event idempotent:
the same event twice, or a stale one, changes nothing.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from protocols import OrderEvent, OrderRequest, OrderStatus, ReasonCode

#: The venue takes client order ids of at most this many characters.
MAX_COID_LEN = 128
_UNSAFE = re.compile(r"[^A-Za-z0-9:_.\-]")

#: How far along its life each status is; a state never moves to a lower rank.
_RANK: dict[OrderStatus, int] = {
    OrderStatus.NEW: 0,
    OrderStatus.SENT: 1,
    OrderStatus.UNKNOWN: 1,
    OrderStatus.ACKNOWLEDGED: 2,
    OrderStatus.PARTIALLY_FILLED: 3,
    OrderStatus.FILLED: 4,
    OrderStatus.CANCELLED: 4,
    OrderStatus.REJECTED: 4,
    OrderStatus.EXPIRED: 4,
}

#: Reasons a leg is refused by our own side (risk state, expiry, reconciliation), not by the venue.
LOCAL_REASONS: frozenset[ReasonCode] = frozenset(
    {
        ReasonCode.TRADING_HALTED,
        ReasonCode.REDUCE_ONLY,
        ReasonCode.KILL_SWITCH,
        ReasonCode.SIGNAL_EXPIRED,
        ReasonCode.RECONCILE_FAILED,
        ReasonCode.CLIENT_MISMATCH,
    }
)


def client_order_id(intent_id: str, leg_index: int, suffix: str = "") -> str:
    """``f"{intent_id}:{leg_index}{suffix}"``, sanitised to the venue's alphabet and ≤128 chars.

    Deterministic: the same intent leg always gets the same id, so a resend after a crash is caught
    by the venue (DUPLICATE_ORDER) and by the journal instead of doubling the order. An id too long
    is cut and finished with a digest of the full id, so two long ids still differ.
    """
    raw = f"{intent_id}:{leg_index}{suffix}"
    safe = _UNSAFE.sub("_", raw)
    if len(safe) <= MAX_COID_LEN and safe == raw:
        return safe
    digest = hashlib.sha256(raw.encode()).hexdigest()[:16]
    if len(safe) <= MAX_COID_LEN - 17:
        return f"{safe}~{digest}"
    return f"{safe[: MAX_COID_LEN - 17]}~{digest}"


def status_rank(status: OrderStatus) -> int:
    return _RANK[status]


@dataclass
class OrderState:
    """One order's life as the trader knows it."""

    request: OrderRequest
    status: OrderStatus = OrderStatus.NEW
    filled: Decimal = Decimal(0)
    venue_order_id: str = ""
    reason: ReasonCode | None = None
    sent_ns: int | None = None
    updated_ns: int = 0
    fill_ids: set[str] = field(default_factory=set)
    filled_by_fills: Decimal = Decimal(0)
    status_queries: int = 0
    absent_at_venue: bool = False
    """We closed it as REJECTED because the venue said it never saw it; the venue's word wins."""

    @property
    def client_order_id(self) -> str:
        return self.request.client_order_id

    @property
    def size(self) -> Decimal:
        return self.request.size

    @property
    def remaining(self) -> Decimal:
        if self.status.is_terminal:
            return Decimal(0)
        return max(self.size - self.filled, Decimal(0))

    @property
    def is_open(self) -> bool:
        return not self.status.is_terminal

    def transition(self, status: OrderStatus, time_ns: int, *, reason: ReasonCode | None = None) -> bool:
        """A local transition (NEW→SENT, SENT→UNKNOWN, refusals). False when it would go backwards."""
        if self.status.is_terminal:
            return False
        if _RANK[status] < _RANK[self.status]:
            return False
        if status is self.status:
            return False
        self.status = status
        self.updated_ns = time_ns
        if reason is not None:
            self.reason = reason
        return True

    def apply_event(self, ev: OrderEvent) -> bool:
        """Fold one venue event in; True when it told us something new.

        Rules: filled only grows; a terminal state is final, except that a REJECTED we decided
        ourselves (the venue said it never saw the order) yields to the venue's own word, and late
        fill progress on a terminal order is still taken (fills are facts).
        """
        changed = False
        if ev.venue_order_id and not self.venue_order_id:
            self.venue_order_id = ev.venue_order_id
            changed = True
        if ev.filled > self.filled:
            self.filled = min(ev.filled, self.size)
            changed = True
        local_reject = self.absent_at_venue and ev.status is not OrderStatus.REJECTED
        if local_reject:
            self.absent_at_venue = False
        if self.status.is_terminal and not local_reject:
            if changed:
                self.updated_ns = ev.time_ns
            return changed
        target = ev.status
        if target is OrderStatus.SENT or target is OrderStatus.NEW:
            target = self.status if _RANK[self.status] >= 1 else OrderStatus.SENT
        if local_reject or _RANK[target] > _RANK[self.status] or (
            _RANK[target] == _RANK[self.status] and target is not self.status and target.is_terminal
        ):
            self.status = target
            self.reason = ev.reason
            changed = True
        elif target is OrderStatus.ACKNOWLEDGED and self.status is OrderStatus.UNKNOWN:
            self.status = target
            changed = True
        # fill progress can move an acknowledged order to partially filled or filled
        if not self.status.is_terminal and self.filled > 0:
            nxt = OrderStatus.FILLED if self.filled >= self.size else OrderStatus.PARTIALLY_FILLED
            if _RANK[nxt] > _RANK[self.status]:
                self.status = nxt
                changed = True
        if changed:
            self.updated_ns = ev.time_ns
        return changed

    def note_fill(self, fill_id: str, size: Decimal, time_ns: int) -> bool:
        """Count a fill against this order; True when the fill is new. Fills can run ahead of events."""
        if fill_id in self.fill_ids:
            return False
        self.fill_ids.add(fill_id)
        self.filled_by_fills += size
        if self.filled_by_fills > self.filled:
            self.filled = min(self.filled_by_fills, self.size)
            if not self.status.is_terminal:
                self.status = OrderStatus.FILLED if self.filled >= self.size else OrderStatus.PARTIALLY_FILLED
            self.updated_ns = time_ns
        return True

    def to_event(self, time_ns: int, message: str = "") -> OrderEvent:
        r = self.request
        return OrderEvent(
            time_ns=time_ns,
            client_order_id=r.client_order_id,
            venue_order_id=self.venue_order_id,
            account=r.account,
            token_id=r.token_id,
            market=r.market,
            side=r.side,
            price=r.price,
            size=r.size,
            status=self.status,
            filled=self.filled,
            reason=self.reason,
            message=message,
        )

    def snapshot(self) -> dict[str, Any]:
        return {
            "request": self.request.model_dump(mode="json"),
            "status": self.status.value,
            "filled": str(self.filled),
            "venue_order_id": self.venue_order_id,
            "reason": self.reason.value if self.reason else None,
            "sent_ns": self.sent_ns,
            "updated_ns": self.updated_ns,
            "fill_ids": sorted(self.fill_ids),
            "filled_by_fills": str(self.filled_by_fills),
            "absent_at_venue": self.absent_at_venue,
        }

    @classmethod
    def from_snapshot(cls, d: dict[str, Any]) -> OrderState:
        return cls(
            request=OrderRequest.model_validate(d["request"]),
            status=OrderStatus(d["status"]),
            filled=Decimal(d["filled"]),
            venue_order_id=d.get("venue_order_id", ""),
            reason=ReasonCode(d["reason"]) if d.get("reason") else None,
            sent_ns=d.get("sent_ns"),
            updated_ns=d.get("updated_ns", 0),
            fill_ids=set(d.get("fill_ids", [])),
            filled_by_fills=Decimal(d.get("filled_by_fills", "0")),
            absent_at_venue=bool(d.get("absent_at_venue", False)),
        )
