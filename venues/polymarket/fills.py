"""A Polymarket trade → our fills: one for the taker order, one per maker order that is ours.

REST ``/data/trades`` rows (the SDK's ``ClobTrade``) and user-channel ``trade`` events carry the
same fields; both the execution side and the user stream build fills here, so a fill read back
over REST equals the one the stream delivered (same ``fill_id``, price, size and fee).
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from protocols import Fill, Liquidity, SettlementStatus, Side

_MICRO = Decimal("0.000001")


def taker_fee(trade: Any) -> Decimal:
    """Polymarket's taker fee: size × rate × p(1 − p), rate from ``fee_rate_bps``, to 1e-6."""
    rate = (trade.fee_rate_bps or Decimal(0)) / Decimal(10_000)
    fee: Decimal = trade.size * rate * trade.price * (1 - trade.price)
    return fee.quantize(_MICRO, rounding=ROUND_HALF_EVEN)


def taker_fill(trade: Any, *, account: str, client_order_id: str | None, time_ns: int,
               settlement: SettlementStatus) -> Fill:
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
        fee=taker_fee(trade),
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
