"""Demo markets for ``polyagents loopback``: a few binary markets and a neg-risk event, each with
a maker's resting ladder, so a rehearsing user (and the CLI's ``markets`` command) sees real books."""

from __future__ import annotations

import hashlib
import random
import time
from decimal import Decimal
from typing import Any

from protocols import FeeSchedule, MarketInfo, OrderRequest, Side

QUESTIONS = (
    ("Will BTC close above $120k on Friday?", "crypto"),
    ("Will ETH be above $5k at month end?", "crypto"),
    ("Will the Fed cut rates at the next meeting?", "finance"),
    ("Will the home team win the final?", "sports"),
    ("Will the bill pass the Senate this week?", "politics"),
)


def _hex(seed: str) -> str:
    return "0x" + hashlib.sha256(seed.encode()).hexdigest()


def _token(seed: str) -> str:
    return str(int(hashlib.sha256(seed.encode()).hexdigest(), 16) % 10**77)


def demo_market(i: int, question: str, category: str, *, event_id: str = "") -> MarketInfo:
    return MarketInfo(
        time_ns=time.time_ns(),
        market=_hex(f"market-{i}"),
        question=question,
        slug=question.lower().replace("?", "").replace("$", "").replace(" ", "-")[:60],
        event_id=event_id,
        token_ids=(_token(f"yes-{i}"), _token(f"no-{i}")),
        tick_size=Decimal("0.01"),
        min_order_size=Decimal(5),
        fees=FeeSchedule(rate=Decimal("0.07"), fee_type="crypto_fees") if category == "crypto" else FeeSchedule.free(),
        category=category,
        end_ns=time.time_ns() + 7 * 86_400 * 1_000_000_000,
    )


def seed_demo(exchange: Any, *, seed: int = 7, maker: str = "0xmaker", levels: int = 5) -> list[MarketInfo]:
    """List the demo markets on ``exchange`` (a ``SimExchange``) and rest a ladder on each."""
    rng = random.Random(seed)
    infos = [demo_market(i, q, c) for i, (q, c) in enumerate(QUESTIONS)]
    for info in infos:
        exchange.add_market(info)
    ev = [demo_market(10 + i, f"Who wins the election? Candidate {n}", "politics", event_id="election")
          for i, n in enumerate("ABC")]
    exchange.add_neg_risk_event("election", ev, augmented=True)
    infos.extend(exchange.market_info(m.market) for m in ev)
    exchange.open_account(maker, Decimal(1_000_000))
    n = 0
    for info in infos:
        mid = Decimal(rng.randint(20, 80)) / 100
        for k in range(1, levels + 1):
            for side, price in ((Side.BUY, mid - Decimal(k) / 100), (Side.SELL, mid + Decimal(k) / 100)):
                n += 1
                token = info.token_ids[0]
                if side is Side.SELL:  # sell YES by buying NO at the complement (the maker has no shares)
                    side, price, token = Side.BUY, 1 - price, info.token_ids[1]
                exchange.submit(
                    maker,
                    OrderRequest(
                        time_ns=time.time_ns(), client_order_id=f"seed-{n}", account=maker, token_id=token,
                        market=info.market, side=side, price=price, size=Decimal(rng.randint(10, 200)),
                        tick_size=info.tick_size, neg_risk=info.neg_risk,
                    ),
                )
    return infos
