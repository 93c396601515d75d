"""A Polymarket trade → our fills: one for the taker order, one per maker order that is ours.

REST ``/data/trades`` rows (the SDK's ``ClobTrade``) and user-channel ``trade`` events carry the
same fields; both the execution side and the user stream build fills here, so a fill read back
over REST equals the one the stream delivered (same ``fill_id``, price, size and fee).

The fee is the market's: callers pass the ``FeeSchedule`` Gamma gave for the market whenever
they know it (``MarketInfo.fees``: rate, exponent, taker-only), so a fill books what the chain
books. Only a trade of a market nobody listed falls back to the rate the trade itself reports
(``fee_rate_bps``, exponent 1).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from protocols import FeeSchedule, Fill, Liquidity, SettlementStatus, Side
from protocols.fees import taker_fee as schedule_taker_fee

#: token id → that market's fee schedule, or None when the market is not known.
FeeLookup = Callable[[str], FeeSchedule | None]


def no_schedules(_token_id: str) -> FeeSchedule | None:
    return None


def taker_fee(trade: Any, schedule: FeeSchedule | None = None) -> Decimal:
    """The taker fee the chain books for ``trade`` (protocols.fees: floored at 1e-5 pUSD).

    By the market's ``schedule`` when the caller knows it; else by the rate the trade reports
    (``fee_rate_bps``, exponent 1)."""
    if schedule is None:
        schedule = FeeSchedule(rate=(trade.fee_rate_bps or Decimal(0)) / Decimal(10_000))
    return schedule_taker_fee(schedule, trade.price, trade.size)


def taker_fill(trade: Any, *, account: str, client_order_id: str | None, time_ns: int,
               settlement: SettlementStatus, schedule: FeeSchedule | None = None) -> Fill:
    return Fill(
        time_ns=time_ns,
        fill_id=f"{trade.id}:{trade.taker_order_id}",
        client_order_id=client_order_id or trade.taker_order_id or trade.id,
        venue_order_id=trade.taker_order_id,
        account=account,
        token_id=str(trade.asset_id),
        market=str(trade.condition_id),
        side=Side(trade.side),
        price=trade.price,
        size=trade.size,
        fee=taker_fee(trade, schedule),
        liquidity=Liquidity.TAKER,
        settlement=settlement,
    )


def maker_fill(trade: Any, maker: Any, *, account: str, client_order_id: str | None, time_ns: int,
               settlement: SettlementStatus) -> Fill:
    return Fill(
        time_ns=time_ns,
        fill_id=f"{trade.id}:{maker.order_id}",
        client_order_id=client_order_id or maker.order_id,
        venue_order_id=maker.order_id,
        account=account,
        token_id=str(maker.asset_id),
        market=str(trade.condition_id),
        side=Side(maker.side),
        price=maker.price,
        size=maker.matched_amount,
        fee=Decimal(0),
        liquidity=Liquidity.MAKER,
        settlement=settlement,
    )
