"""The strategy plug-in contract: what a strategy sees, what it proposes, how it is configured.

Why plug-ins propose rather than publish: the strategist is the one place that sees every
strategy's ideas at once, so ranking by expected value, dropping duplicates and conflicts, rate
limits and intent ids live there. A strategy is a pure-ish function of the messages it is fed and
the shared :class:`MarketView`; it never touches a Context, a venue or the clock directly, which
keeps each one testable on its own and the strategist's event log deterministic.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from agents.strategies.kelly import kelly_shares, round_down
from protocols import (
    IntentLeg,
    MarketInfo,
    Payload,
    ReferencePrice,
    ReferenceProbability,
    Side,
    TimeInForce,
    TopOfBook,
    TradingState,
)
from protocols.fees import fee_per_share

ZERO = Decimal(0)
ONE = Decimal(1)
NS_PER_S = 1_000_000_000


# -- the world as the strategist sees it -------------------------------------------------------------


@dataclass
class MarketView:
    """Everything the strategist knows, shared read-only with its strategies.

    The strategist updates it *before* dispatching a message, so a strategy handling a
    ``TopOfBook`` already sees that book. A book marked stale (``BookStale``) is hidden from
    :meth:`book` until a newer ``TopOfBook`` arrives: nobody trades on a book the watcher distrusts.
    """

    bankroll: Decimal = Decimal(1000)
    now_ns: int = 0
    markets: dict[str, MarketInfo] = field(default_factory=dict)
    token_market: dict[str, str] = field(default_factory=dict)
    books: dict[str, TopOfBook] = field(default_factory=dict)
    stale: set[str] = field(default_factory=set)
    resolved: set[str] = field(default_factory=set)
    ref_prices: dict[str, ReferencePrice] = field(default_factory=dict)
    ref_probs: dict[str, ReferenceProbability] = field(default_factory=dict)
    positions: dict[str, Decimal] = field(default_factory=dict)
    last_trade: dict[str, Decimal] = field(default_factory=dict)
    """Last traded price per token (``TradePrint``), a fallback mark when a book is one-sided."""
    trading_state: TradingState = TradingState.ACTIVE

    def add_market(self, info: MarketInfo) -> None:
        self.markets[info.market] = info
        for t in info.token_ids:
            self.token_market[t] = info.market

    def info(self, market: str) -> MarketInfo | None:
        return self.markets.get(market)

    def info_for_token(self, token: str) -> MarketInfo | None:
        m = self.token_market.get(token)
        return None if m is None else self.markets.get(m)

    def tradable(self, market: str) -> bool:
        info = self.markets.get(market)
        return info is not None and info.active and not info.closed and market not in self.resolved

    def book(self, token: str) -> TopOfBook | None:
        """The latest trustworthy book of ``token`` (None when unknown or stale)."""
        if token in self.stale:
            return None
        return self.books.get(token)

    def position(self, token: str) -> Decimal:
        return self.positions.get(token, ZERO)

    def net_yes(self, market: str) -> Decimal:
        """Inventory in YES terms: YES shares minus NO shares (a complete set nets to zero)."""
        info = self.markets.get(market)
        if info is None:
            return ZERO
        return self.position(info.yes_token) - self.position(info.no_token)

    def event_markets(self, event_id: str) -> list[MarketInfo]:
        return sorted((m for m in self.markets.values() if m.event_id == event_id), key=lambda m: m.market)


# -- what a strategy proposes -------------------------------------------------------------------------

Liquidity = Literal["TAKER", "MAKER"]


@dataclass(frozen=True, slots=True)
class Proposal:
    """One trade idea. The strategist turns survivors into a ``Signal`` and an ``OrderIntent``.

    ``edge`` is per share (per complete set for paired legs) *net of fees*; ``ev`` is the expected
    profit of the whole proposal in pUSD. ``fair_value`` is the model probability of the first
    leg's token. ``direction`` is the exposure to the market's YES: +1 (buy YES / sell NO), −1
    (buy NO / sell YES) or 0 (complete sets and two-sided quotes), used to detect conflicts.
    ``key`` names the intent (a market id, or an event id for a basket).
    """

    strategy: str
    key: str
    legs: tuple[IntentLeg, ...]
    fair_value: Decimal
    edge: Decimal
    ev: Decimal
    direction: int
    ttl_ns: int
    paired: bool = False
    kelly_fraction: Decimal = ZERO
    liquidity: Liquidity = "TAKER"
    rationale: str = ""

    @property
    def markets(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(leg.market for leg in self.legs))


# -- configuration -------------------------------------------------------------------------------------


class StrategyConfig(BaseModel):
    """Fields every strategy shares. Frozen; an unknown field is refused with its name."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_edge: Decimal = Field(default=Decimal("0.01"), ge=0)
    """Edge per share, net of fees, a trade must exceed."""
    ttl_ns: int = Field(default=10 * NS_PER_S, gt=0)
    """How long an intent stays good (``OrderIntent.expires_ns = now + ttl_ns``)."""
    kelly_fraction: Decimal = Field(default=Decimal("0.25"), gt=0, le=1)
    max_notional_fraction: Decimal = Field(default=Decimal("0.05"), gt=0, le=1)
    """Cap on one intent's notional as a fraction of the bankroll (the risk officer caps again)."""
    size_step: Decimal = Field(default=Decimal("0.01"), gt=0)
    """Share granularity of the venue (Polymarket clients round sizes to 0.01)."""


C = TypeVar("C", bound=StrategyConfig)


class Strategy(ABC, Generic[C]):
    """Base of every plug-in. Subclasses set ``name``, ``config_model`` and ``handles``."""

    name: ClassVar[str] = "strategy"
    config_model: ClassVar[type[StrategyConfig]] = StrategyConfig
    handles: ClassVar[frozenset[type[Payload]]] = frozenset()

    def __init__(self, config: C | dict[str, Any] | None = None) -> None:
        if config is None:
            config = self.config_model()  # type: ignore[assignment]
        elif isinstance(config, dict):
            config = self.config_model.model_validate(config)  # type: ignore[assignment]
        self.config: C = config  # type: ignore[assignment]

    @abstractmethod
    def on_payload(self, payload: Payload, view: MarketView) -> list[Proposal]:
        """React to one message (already applied to ``view``); return zero or more proposals."""

    def snapshot(self) -> dict[str, Any]:
        return {}

    def restore(self, state: dict[str, Any]) -> None:
        return None

    def status(self) -> dict[str, Any]:
        return {}


STRATEGIES: dict[str, type[Strategy[Any]]] = {}

S = TypeVar("S", bound=type[Strategy[Any]])


def register(cls: S) -> S:
    """Class decorator: make a strategy available to ``StrategistConfig.strategies`` by name."""
    if cls.name in STRATEGIES and STRATEGIES[cls.name] is not cls:
        raise ValueError(f"a strategy named {cls.name!r} is already registered")
    STRATEGIES[cls.name] = cls
    return cls


# -- shared helpers ------------------------------------------------------------------------------------


def ask_levels(book: TopOfBook) -> tuple[tuple[Decimal, Decimal], ...]:
    """Asks best-first; falls back to the best ask when the watcher sent no depth."""
    if book.asks:
        return tuple((p, s) for p, s in book.asks if s > ZERO)
    if book.best_ask is not None and book.best_ask_size > ZERO:
        return ((book.best_ask, book.best_ask_size),)
    return ()


def bid_levels(book: TopOfBook) -> tuple[tuple[Decimal, Decimal], ...]:
    if book.bids:
        return tuple((p, s) for p, s in book.bids if s > ZERO)
    if book.best_bid is not None and book.best_bid_size > ZERO:
        return ((book.best_bid, book.best_bid_size),)
    return ()


@dataclass(frozen=True, slots=True)
class Walk:
    """The result of walking asks while each level still clears the edge bar."""

    size: Decimal
    limit_price: Decimal
    cost: Decimal
    fees: Decimal
    profit: Decimal  # expected, at the model's probability

    @property
    def edge(self) -> Decimal:
        return self.profit / self.size if self.size > ZERO else ZERO


def walk_buy(
    levels: Iterable[tuple[Decimal, Decimal]],
    win_probability: Decimal,
    fee_fn: Callable[[Decimal], Decimal],
    min_edge: Decimal,
    max_size: Decimal,
) -> Walk | None:
    """Take asks best-first while ``q − price − fee(price) > min_edge``, up to ``max_size``.

    The limit price is the worst level taken, so an order sent at that limit can only fill at
    levels that each cleared the bar. None when not even the best level clears it.
    """
    size = cost = fees = profit = ZERO
    limit = ZERO
    for price, avail in levels:
        if size >= max_size:
            break
        fee = fee_fn(price)
        edge = win_probability - price - fee
        if edge <= min_edge:
            break
        take = min(avail, max_size - size)
        size += take
        cost += price * take
        fees += fee * take
        profit += edge * take
        limit = price
    if size <= ZERO:
        return None
    return Walk(size, limit, cost, fees, profit)


def taker_buy(
    *,
    strategy: str,
    info: MarketInfo,
    token: str,
    book: TopOfBook,
    win_probability: Decimal,
    view: MarketView,
    cfg: StrategyConfig,
    tif: TimeInForce = TimeInForce.FAK,
    max_shares: Decimal | None = None,
    rationale: str = "",
    use_kelly: bool = True,
) -> Proposal | None:
    """The common directional trade: buy ``token`` as a taker if its net edge clears the bar.

    Size = min(fractional Kelly on the net edge at the best level − shares already held,
    bankroll cap, ``max_shares``, depth that still clears the bar), rounded down to the size
    grid; nothing if that is below the venue's minimum size.
    """
    levels = ask_levels(book)
    if not levels:
        return None
    best_price = levels[0][0]
    if not ZERO < best_price < ONE:
        return None

    def fee_fn(p: Decimal) -> Decimal:
        return fee_per_share(info.fees, p)

    best_fee = fee_fn(best_price)
    if win_probability - best_price - best_fee <= cfg.min_edge:
        return None
    min_size = max(info.min_order_size, book.min_order_size)
    cap = round_down(view.bankroll * cfg.max_notional_fraction / (best_price + best_fee), cfg.size_step)
    if use_kelly:
        target = kelly_shares(
            win_probability, best_price, best_fee, bankroll=view.bankroll, fraction=cfg.kelly_fraction,
            size_step=cfg.size_step, min_size=ZERO,
        )
        cap = min(cap, max(ZERO, target - view.position(token)))
    if max_shares is not None:
        cap = min(cap, max_shares)
    cap = round_down(cap, cfg.size_step)
    if cap < min_size or cap <= ZERO:
        return None
    walk = walk_buy(levels, win_probability, fee_fn, cfg.min_edge, cap)
    if walk is None:
        return None
    size = round_down(walk.size, cfg.size_step)
    if size < min_size or size <= ZERO:
        return None
    if size < walk.size:
        walk = walk_buy(levels, win_probability, fee_fn, cfg.min_edge, size)
        if walk is None:
            return None
    is_yes = token == info.yes_token
    leg = IntentLeg(
        token_id=token,
        market=info.market,
        side=Side.BUY,
        price=walk.limit_price,
        size=walk.size,
        tick_size=book.tick_size,
        tif=tif,
        neg_risk=info.neg_risk,
        event_id=info.event_id,
    )
    net = best_price + best_fee
    f = (win_probability - net) / (ONE - net) * cfg.kelly_fraction if net < ONE else ZERO
    f = f.quantize(Decimal("0.000001"))
    return Proposal(
        strategy=strategy,
        key=info.market,
        legs=(leg,),
        fair_value=win_probability,
        edge=walk.edge,
        ev=walk.profit,
        direction=1 if is_yes else -1,
        ttl_ns=cfg.ttl_ns,
        kelly_fraction=f,
        rationale=rationale,
    )


def best_side(info: MarketInfo, q_yes: Decimal, view: MarketView, min_edge: Decimal) -> tuple[str, Decimal] | None:
    """Which token to buy given P(YES) = ``q_yes``: the one with the larger net edge at its best
    ask, if that edge clears ``min_edge``. Returns (token, its win probability)."""
    best: tuple[Decimal, str, Decimal] | None = None
    for token, q in ((info.yes_token, q_yes), (info.no_token, ONE - q_yes)):
        book = view.book(token)
        if book is None or book.best_ask is None:
            continue
        edge = q - book.best_ask - fee_per_share(info.fees, book.best_ask)
        if edge > min_edge and (best is None or edge > best[0]):
            best = (edge, token, q)
    return None if best is None else (best[1], best[2])


def take_best_side(
    *,
    strategy: str,
    info: MarketInfo,
    q_yes: Decimal,
    view: MarketView,
    cfg: StrategyConfig,
    tif: TimeInForce,
    rationale: str,
) -> list[Proposal]:
    """The directional strategies' last step: buy the side with the better net edge under
    P(YES) = ``q_yes`` (``best_side``), sized by ``taker_buy``; nothing if no side clears the bar."""
    pick = best_side(info, q_yes, view, cfg.min_edge)
    if pick is None:
        return []
    token, win = pick
    book = view.book(token)
    if book is None:
        return []
    prop = taker_buy(
        strategy=strategy, info=info, token=token, book=book, win_probability=win, view=view,
        cfg=cfg, tif=tif, rationale=rationale,
    )
    return [] if prop is None else [prop]


def floor_tick(price: Decimal, tick: Decimal) -> Decimal:
    return (price / tick).to_integral_value(rounding=ROUND_FLOOR) * tick


def ceil_tick(price: Decimal, tick: Decimal) -> Decimal:
    return (price / tick).to_integral_value(rounding=ROUND_CEILING) * tick
