"""Positions, cash and PnL from fills and settlements, shared by the trader and the risk officer.

Why both keep one: the risk officer must bound exposure the moment a fill lands, without waiting
for the trader to say so, and the trader must report PnL. Both fold the same fills through this
class, deduplicated by fill id, so they agree without talking.

Accounting is long-only per token (an outcome token cannot be shorted on Polymarket; you sell what
you hold) at average cost. ``realized`` is gross of fees; ``fees`` are kept apart; so
``equity = bankroll + realized + unrealized - fees``, which equals cash plus marked holdings.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from protocols import Fill, OrderIntent, Position, SettlementStatus, Side

ZERO = Decimal(0)


@dataclass
class Holding:
    token_id: str
    market: str
    size: Decimal = ZERO
    avg_price: Decimal = ZERO
    realized: Decimal = ZERO

    @property
    def cost(self) -> Decimal:
        return self.size * self.avg_price


class Portfolio:
    """Long-only, average-cost book of one account."""

    def __init__(self, bankroll: Decimal = ZERO) -> None:
        self.bankroll = bankroll
        self.holdings: dict[str, Holding] = {}
        self.marks: dict[str, Decimal] = {}
        self.fees = ZERO
        self.realized = ZERO
        self.cash_flow = ZERO
        self.applied_fills: dict[str, Fill] = {}
        self.settled: set[tuple[str, str]] = set()
        self.resolved_markets: set[str] = set()
        self.oversold = ZERO

    # -- fills ------------------------------------------------------------------------------------
    def apply_fill(self, fill: Fill) -> Decimal | None:
        """Fold a fill in. Returns the realized PnL it produced (net of its fee), or None if the fill
        was already applied (same ``fill_id``). A fill later reported FAILED on chain is reversed."""
        seen = self.applied_fills.get(fill.fill_id)
        if fill.settlement is SettlementStatus.FAILED:
            if seen is None or seen.settlement is SettlementStatus.FAILED:
                if seen is None:
                    self.applied_fills[fill.fill_id] = fill
                return None
            self.applied_fills[fill.fill_id] = fill
            return self._apply(seen, reverse=True)
        if seen is not None:
            return None
        self.applied_fills[fill.fill_id] = fill
        return self._apply(fill, reverse=False)

    def _apply(self, fill: Fill, *, reverse: bool) -> Decimal:
        h = self.holdings.get(fill.token_id)
        if h is None:
            h = self.holdings[fill.token_id] = Holding(fill.token_id, fill.market)
        side = fill.side.opposite() if reverse else fill.side
        sign = -1 if reverse else 1
        fee = fill.fee * sign
        self.fees += fee
        gross = fill.price * fill.size
        realized = ZERO
        if side is Side.BUY:
            if reverse:
                # undo a sale: the shares come back at the price they left
                realized = -(fill.price - h.avg_price) * fill.size
                total = h.size + fill.size
                h.avg_price = h.avg_price if total == 0 else (h.cost + h.avg_price * fill.size) / total
                h.size = total
            else:
                total = h.size + fill.size
                h.avg_price = (h.cost + gross) / total
                h.size = total
            self.cash_flow -= gross
        else:
            qty = fill.size
            if reverse:
                # undo a purchase: remove the shares at what they cost
                new = h.size - qty
                if new <= 0:
                    h.size, h.avg_price = ZERO, ZERO
                else:
                    h.avg_price = (h.cost - gross) / new if (h.cost - gross) > 0 else h.avg_price
                    h.size = new
            else:
                held = min(qty, h.size)
                if qty > h.size:
                    self.oversold += qty - h.size
                realized = (fill.price - h.avg_price) * held
                h.size -= held
                if h.size == 0:
                    h.avg_price = ZERO
            self.cash_flow += gross
        h.realized += realized
        self.realized += realized
        self.cash_flow -= fee
        return realized - fee

    # -- settlement and marks ---------------------------------------------------------------------
    def settle(self, market: str, token_id: str, size: Decimal, payout_per_share: Decimal) -> Decimal | None:
        """Redeem ``size`` shares at the payout; None if this (market, token) was already settled."""
        key = (market, token_id)
        if key in self.settled:
            return None
        self.settled.add(key)
        self.resolved_markets.add(market)
        h = self.holdings.get(token_id)
        if h is None:
            h = self.holdings[token_id] = Holding(token_id, market)
        qty = min(size, h.size) if h.size > 0 else ZERO
        realized = (payout_per_share - h.avg_price) * qty
        h.realized += realized
        self.realized += realized
        self.cash_flow += payout_per_share * size
        h.size -= qty
        if h.size == 0:
            h.avg_price = ZERO
        self.marks[token_id] = payout_per_share
        return realized

    def mark(self, token_id: str, price: Decimal) -> None:
        self.marks[token_id] = price

    # -- views ------------------------------------------------------------------------------------
    def size(self, token_id: str) -> Decimal:
        h = self.holdings.get(token_id)
        return ZERO if h is None else h.size

    def cost(self, token_id: str) -> Decimal:
        h = self.holdings.get(token_id)
        return ZERO if h is None else h.cost

    @property
    def unrealized(self) -> Decimal:
        total = ZERO
        for tok, h in self.holdings.items():
            if h.size:
                mark = self.marks.get(tok, h.avg_price)
                total += (mark - h.avg_price) * h.size
        return total

    @property
    def exposure(self) -> Decimal:
        """Capital at risk: the cost of every holding."""
        return sum((h.cost for h in self.holdings.values()), ZERO)

    @property
    def equity(self) -> Decimal:
        return self.bankroll + self.realized + self.unrealized - self.fees

    @property
    def cash(self) -> Decimal:
        return self.bankroll + self.cash_flow

    def adopt(self, token_id: str, market: str, size: Decimal, avg_price: Decimal) -> Decimal:
        """Take the venue's size for a token (reconciliation). Returns the size difference adopted."""
        h = self.holdings.get(token_id)
        if h is None:
            h = self.holdings[token_id] = Holding(token_id, market)
        diff = size - h.size
        if diff:
            if h.size == 0 or size == 0:
                h.avg_price = avg_price if size else ZERO
            h.size = size
        return diff

    def position(self, token_id: str, account: str, time_ns: int) -> Position:
        h = self.holdings[token_id]
        avg = min(max(h.avg_price, ZERO), Decimal(1))
        return Position(
            time_ns=time_ns,
            account=account,
            token_id=token_id,
            market=h.market,
            size=h.size,
            avg_price=avg.quantize(Decimal("0.000001")),
            realized_pnl=h.realized,
        )

    # -- state ------------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        return {
            "bankroll": str(self.bankroll),
            "holdings": {
                t: [h.market, str(h.size), str(h.avg_price), str(h.realized)] for t, h in self.holdings.items()
            },
            "marks": {t: str(p) for t, p in self.marks.items()},
            "fees": str(self.fees),
            "realized": str(self.realized),
            "cash_flow": str(self.cash_flow),
            "fills": [f.model_dump(mode="json") for f in self.applied_fills.values()],
            "settled": sorted([list(k) for k in self.settled]),
            "resolved": sorted(self.resolved_markets),
        }

    @classmethod
    def from_snapshot(cls, d: dict[str, Any]) -> Portfolio:
        p = cls(Decimal(d.get("bankroll", "0")))
        for t, (m, s, a, r) in d.get("holdings", {}).items():
            p.holdings[t] = Holding(t, m, Decimal(s), Decimal(a), Decimal(r))
        p.marks = {t: Decimal(v) for t, v in d.get("marks", {}).items()}
        p.fees = Decimal(d.get("fees", "0"))
        p.realized = Decimal(d.get("realized", "0"))
        p.cash_flow = Decimal(d.get("cash_flow", "0"))
        for fd in d.get("fills", []):
            f = Fill.model_validate(fd)
            p.applied_fills[f.fill_id] = f
        p.settled = {(a, b) for a, b in d.get("settled", [])}
        p.resolved_markets = set(d.get("resolved", []))
        return p


def is_exposure_cutting(intent: OrderIntent, held: dict[str, Decimal]) -> bool:
    """True when every leg sells shares we hold (``held``: token → free shares): the only kind of
    intent REDUCING lets through."""
    need: dict[str, Decimal] = {}
    for leg in intent.legs:
        if leg.side is not Side.SELL:
            return False
        need[leg.token_id] = need.get(leg.token_id, ZERO) + leg.size
    return all(held.get(t, ZERO) >= q for t, q in need.items())
