"""Complete-set arbitrage: YES + NO below 1, and neg-risk baskets of every outcome's YES below 1.

A complete set (one YES and one NO of a market, or one YES of every outcome of a neg-risk event)
pays exactly 1 at resolution whatever happens, so buying it for less than 1 after taker fees is
profit with no view on the outcome. The legs are ``paired`` (the trader fills all or unwinds) and
FOK by default, so a half-filled set is the exception rather than the plan.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from pydantic import Field

from agents.strategies.base import (
    ONE,
    ZERO,
    MarketView,
    Proposal,
    Strategy,
    StrategyConfig,
    ask_levels,
    register,
)
from agents.strategies.kelly import round_down
from protocols import IntentLeg, MarketInfo, Payload, Side, TimeInForce, TopOfBook
from protocols.fees import fee_per_share

Levels = Sequence[tuple[Decimal, Decimal]]


@dataclass(frozen=True, slots=True)
class BasketWalk:
    size: Decimal
    limits: tuple[Decimal, ...]
    profit: Decimal
    worst_margin: Decimal  # 1 − Σ(limit + fee(limit)) per set at the limits


def walk_basket(
    books: Sequence[Levels],
    fee_fns: Sequence[Callable[[Decimal], Decimal]],
    min_edge: Decimal,
    max_sets: Decimal,
) -> BasketWalk | None:
    """Buy sets level by level while ``1 − Σ(ask + fee(ask)) > min_edge`` for the marginal set.

    Each leg's limit is the worst level it reached; since asks only get worse as we walk, the
    marginal set at the limits is the worst set bought, and it still cleared the bar.
    """
    n = len(books)
    if n == 0 or any(not lv for lv in books):
        return None
    idx = [0] * n
    left = [books[i][0][1] for i in range(n)]
    size = profit = ZERO
    limits = [ZERO] * n
    while size < max_sets:
        prices = [books[i][idx[i]][0] for i in range(n)]
        margin = ONE - sum((p + fee_fns[i](p) for i, p in enumerate(prices)), ZERO)
        if margin <= min_edge:
            break
        take = min(min(left), max_sets - size)
        if take <= ZERO:
            break
        size += take
        profit += margin * take
        limits = prices
        exhausted = False
        for i in range(n):
            left[i] -= take
            if left[i] <= ZERO:
                idx[i] += 1
                if idx[i] >= len(books[i]):
                    exhausted = True
                else:
                    left[i] = books[i][idx[i]][1]
        if exhausted:
            break
    if size <= ZERO:
        return None
    worst = ONE - sum((p + fee_fns[i](p) for i, p in enumerate(limits)), ZERO)
    return BasketWalk(size, tuple(limits), profit, worst)


def _sized_walk(
    books: Sequence[Levels],
    fee_fns: Sequence[Callable[[Decimal], Decimal]],
    min_edge: Decimal,
    max_sets: Decimal,
    step: Decimal,
    min_size: Decimal,
) -> BasketWalk | None:
    walk = walk_basket(books, fee_fns, min_edge, max_sets)
    if walk is None:
        return None
    size = round_down(walk.size, step)
    if size < min_size or size <= ZERO:
        return None
    if size < walk.size:
        walk = walk_basket(books, fee_fns, min_edge, size)
    return walk


class CompleteSetConfig(StrategyConfig):
    min_edge: Decimal = Field(default=Decimal("0.005"), ge=0)
    tif: Literal[TimeInForce.FOK, TimeInForce.FAK] = TimeInForce.FOK
    ttl_ns: int = Field(default=2_000_000_000, gt=0)
    max_notional_fraction: Decimal = Field(default=Decimal("0.10"), gt=0, le=1)
    max_sets: Decimal | None = Field(default=None, gt=0)


def _fee_fn(info: MarketInfo) -> Callable[[Decimal], Decimal]:
    return lambda p: fee_per_share(info.fees, p)


def _cap(view: MarketView, cfg: CompleteSetConfig) -> Decimal:
    cap = view.bankroll * cfg.max_notional_fraction  # a set costs at most 1
    return cap if cfg.max_sets is None else min(cap, cfg.max_sets)


def _set_proposal(
    strategy: str,
    key: str,
    walk: BasketWalk,
    legs: Sequence[tuple[str, MarketInfo, TopOfBook]],
    cfg: CompleteSetConfig,
    rationale: str,
) -> Proposal:
    """The paired BUY legs of a set at the walk's limits. Fair value of the first leg is what the
    set pays (1) less what the other legs cost with their fees."""
    intent_legs = tuple(
        IntentLeg(
            token_id=token,
            market=info.market,
            side=Side.BUY,
            price=limit,
            size=walk.size,
            tick_size=book.tick_size,
            tif=cfg.tif,
            neg_risk=info.neg_risk,
            event_id=info.event_id,
        )
        for (token, info, book), limit in zip(legs, walk.limits, strict=True)
    )
    others = sum(
        (limit + fee_per_share(info.fees, limit) for (_, info, _), limit in zip(legs[1:], walk.limits[1:],
                                                                                   strict=True)),
        ZERO,
    )
    return Proposal(
        strategy=strategy,
        key=key,
        legs=intent_legs,
        fair_value=max(ZERO, min(ONE, ONE - others)),
        edge=walk.profit / walk.size,
        ev=walk.profit,
        direction=0,
        ttl_ns=cfg.ttl_ns,
        paired=True,
        rationale=rationale,
    )


@register
class CompleteSetArbitrage(Strategy[CompleteSetConfig]):
    """Buy YES at a_Y and NO at a_N when 1 − (a_Y + a_N) − fee(a_Y) − fee(a_N) > min_edge."""

    name = "complete_set"
    config_model = CompleteSetConfig
    handles = frozenset({TopOfBook})

    def __init__(self, config: CompleteSetConfig | dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.seen = 0

    def on_payload(self, payload: Payload, view: MarketView) -> list[Proposal]:
        if not isinstance(payload, TopOfBook):
            return []
        info = view.info(payload.market)
        if info is None or not view.tradable(info.market):
            return []
        yb, nb = view.book(info.yes_token), view.book(info.no_token)
        if yb is None or nb is None:
            return []
        cfg = self.config
        fee = _fee_fn(info)
        min_size = max(info.min_order_size, yb.min_order_size, nb.min_order_size)
        walk = _sized_walk(
            (ask_levels(yb), ask_levels(nb)), (fee, fee), cfg.min_edge, _cap(view, cfg), cfg.size_step, min_size
        )
        if walk is None:
            return []
        self.seen += 1
        rationale = (
            f"YES {walk.limits[0]} + NO {walk.limits[1]} + fees < 1; "
            f"{walk.size} sets, worst set margin {walk.worst_margin:.6f}"
        )
        legs = ((info.yes_token, info, yb), (info.no_token, info, nb))
        return [_set_proposal(self.name, info.market, walk, legs, cfg, rationale)]

    def status(self) -> dict[str, Any]:
        return {"opportunities": self.seen}


class NegRiskBasketConfig(CompleteSetConfig):
    event_sizes: dict[str, int] = Field(default_factory=dict)
    """Outcomes per event id, for venues whose ``MarketInfo.event_market_count`` is 0 (unknown)."""


@register
class NegRiskBasketArbitrage(Strategy[NegRiskBasketConfig]):
    """Buy every outcome's YES of a neg-risk event when Σ asks + fees < 1 − min_edge.

    Exactly one outcome of a (non-augmented) neg-risk event resolves YES, so the basket pays 1.
    Augmented events are skipped: their named outcomes can sum below 1 by construction ("Other"
    can change meaning), which looks like arbitrage and is not. An event is only traded once every
    outcome's market is known (``event_market_count`` or ``event_sizes``) and none is closed.
    """

    name = "neg_risk_basket"
    config_model = NegRiskBasketConfig
    handles = frozenset({TopOfBook})

    def __init__(self, config: NegRiskBasketConfig | dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.seen = 0
        self.skipped_augmented = 0
        self.skipped_incomplete = 0

    def on_payload(self, payload: Payload, view: MarketView) -> list[Proposal]:
        if not isinstance(payload, TopOfBook):
            return []
        info = view.info(payload.market)
        if info is None or not info.neg_risk or not info.event_id or payload.token_id != info.yes_token:
            return []
        members = view.event_markets(info.event_id)
        if any(m.neg_risk_augmented for m in members):
            self.skipped_augmented += 1
            return []
        expected = self.config.event_sizes.get(info.event_id) or info.event_market_count
        if expected < 2 or len(members) != expected or not all(m.neg_risk for m in members):
            self.skipped_incomplete += 1
            return []
        if not all(view.tradable(m.market) for m in members):
            return []
        books = [view.book(m.yes_token) for m in members]
        if any(b is None for b in books):
            return []
        bks = [b for b in books if b is not None]
        cfg = self.config
        min_size = max(max(m.min_order_size for m in members), max(b.min_order_size for b in bks))
        walk = _sized_walk(
            [ask_levels(b) for b in bks], [_fee_fn(m) for m in members], cfg.min_edge, _cap(view, cfg),
            cfg.size_step, min_size,
        )
        if walk is None:
            return []
        self.seen += 1
        rationale = (
            f"{len(members)} outcomes' YES sum {sum(walk.limits, ZERO)} + fees < 1; "
            f"{walk.size} baskets, worst basket margin {walk.worst_margin:.6f}"
        )
        legs = [(m.yes_token, m, b) for m, b in zip(members, bks, strict=True)]
        return [_set_proposal(self.name, info.event_id, walk, legs, cfg, rationale)]

    def status(self) -> dict[str, Any]:
        return {
            "opportunities": self.seen,
            "skipped_augmented": self.skipped_augmented,
            "skipped_incomplete": self.skipped_incomplete,
        }
