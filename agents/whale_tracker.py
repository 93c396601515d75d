"""The whale tracker: which wallets trade big, how good they really are, and what they just did.

It reads every :class:`~protocols.WalletTrade` (Data API polling, or simulated participants),
keeps a book per wallet (positions at average cost, realised PnL, round trips won and lost), and
publishes a :class:`~protocols.WhaleTrade` with the wallet's :class:`~protocols.WalletScore` for
trades worth following: notional at or above ``min_notional``, or any trade of a wallet listed in
``follow_wallets``.

No survivorship bias: a wallet that never sells its losers would look perfect if only closed
positions counted. Every open position is marked to market (the watcher's mid, else the last
trade print, else 1 − the sibling token's mark), and an open position under water counts as a
loss — exactly as if it had been closed at the mark. Open positions in profit do *not* count as
wins until realised (sold or resolved): the score leans towards doubt.

Score in [-1, 1]: ``0.5 · (wins − losses) / (wins + losses + prior) + 0.5 · tanh(roc / pnl_scale)``,
where ``roc`` = (realised PnL + unrealised losses) / collateral spent on buys. ``prior`` pseudo
round trips pull a thin record towards 0, so three lucky trades do not make a whale a genius.
Fees are not in the PnL: public trade records do not carry them.

Dedupe and watermark: ``trade_id`` makes redelivery harmless (ids are kept for
``dedupe_horizon_s``). The watermark is (latest trade time seen, ids seen at that time): a poller
asks for trades at or after the watermark time and skips only those ids, so a trade that arrives
late with a timestamp *equal* to the watermark is still taken — a plain ``time > watermark`` filter
would lose it. A trade older than the watermark is taken too (counted as ``late``): the tracker
never skips a trade it has not seen.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar

from pydantic import Field

from agents.base import Agent, AgentConfig, Subscription
from protocols import (
    Envelope,
    MarketInfo,
    MarketResolved,
    Side,
    TopOfBook,
    TradePrint,
    WalletScore,
    WalletTrade,
    WhaleTrade,
)

ZERO = Decimal(0)
ONE = Decimal(1)
HALF = Decimal("0.5")
NS_PER_S = 1_000_000_000


class WhaleTrackerConfig(AgentConfig):
    min_notional: Decimal = Field(default=Decimal(5000), ge=0)
    """A trade of at least this much collateral (price × size, pUSD) is a whale trade."""
    follow_wallets: tuple[str, ...] = ()
    """Wallets whose every trade is published, whatever its size (compared case-insensitively)."""
    min_score: float | None = Field(default=None, ge=-1.0, le=1.0)
    """If set, large trades of unfollowed wallets scoring below this are not published."""
    score_prior: int = Field(default=5, ge=0)
    pnl_scale: Decimal = Field(default=Decimal("0.2"), gt=0)
    dedupe_horizon_s: float = Field(default=7 * 86_400.0, gt=0)
    max_seen_ids: int = Field(default=500_000, ge=1_000)
    max_wallets: int = Field(default=100_000, ge=10)


@dataclass(slots=True)
class _Pos:
    market: str
    qty: Decimal = ZERO
    cost: Decimal = ZERO  # cost basis of the shares still held
    realized: Decimal = ZERO  # realised on this round trip so far


@dataclass(slots=True)
class _Wallet:
    positions: dict[str, _Pos] = field(default_factory=dict)
    realized: Decimal = ZERO
    wins: int = 0
    losses: int = 0
    trades: int = 0
    bought: Decimal = ZERO
    unmatched_sell: Decimal = ZERO  # shares sold that we never saw bought (tracking began later)


class WhaleTracker(Agent[WhaleTrackerConfig]):
    role: ClassVar[str] = "whale_tracker"
    config_model: ClassVar[type[AgentConfig]] = WhaleTrackerConfig
    subscriptions: ClassVar[tuple[Subscription, ...]] = (
        Subscription(WalletTrade),
        Subscription(TopOfBook),
        Subscription(TradePrint),
        Subscription(MarketInfo),
        Subscription(MarketResolved),
    )

    def __init__(self, agent_id: str = "whale_tracker", config: WhaleTrackerConfig | dict[str, Any] | None = None):
        super().__init__(agent_id, config)
        self._follow = {w.lower() for w in self.config.follow_wallets}
        self._wallets: OrderedDict[str, _Wallet] = OrderedDict()
        self._by_market: dict[str, set[str]] = {}
        self._marks: dict[str, Decimal] = {}
        self._book_marked: set[str] = set()
        self._sibling: dict[str, str] = {}
        self._resolved: dict[str, str | None] = {}
        self._wm_ns = 0
        self._wm_ids: set[str] = set()
        self._seen: OrderedDict[str, int] = OrderedDict()
        self._horizon_ns = int(self.config.dedupe_horizon_s * NS_PER_S)
        self.counters: dict[str, int] = dict.fromkeys(
            ("trades_in", "duplicates", "late", "whales_out", "followed_out", "below_score", "settled"), 0
        )

    # -- public reads ---------------------------------------------------------------------------
    @property
    def watermark(self) -> tuple[int, frozenset[str]]:
        """(time_ns, ids seen at that time): poll for trades at or after the time, skip those ids."""
        return self._wm_ns, frozenset(self._wm_ids)

    def score(self, wallet: str) -> WalletScore:
        w = self._wallets.get(wallet.lower())
        return self._score(wallet.lower(), w if w is not None else _Wallet())

    def mark(self, token: str) -> Decimal | None:
        m = self._marks.get(token)
        if m is None:
            sib = self._sibling.get(token)
            if sib is not None and sib in self._marks:
                m = ONE - self._marks[sib]
        return m

    # -- messages -------------------------------------------------------------------------------
    def on_message(self, envelope: Envelope) -> None:
        p = envelope.payload
        if isinstance(p, WalletTrade):
            self._on_trade(p)
        elif isinstance(p, TopOfBook):
            m = p.mid
            if m is None:
                m = p.best_bid if p.best_bid is not None else p.best_ask
            if m is not None:
                self._marks[p.token_id] = m
                self._book_marked.add(p.token_id)
        elif isinstance(p, TradePrint):
            if p.token_id not in self._book_marked:
                self._marks[p.token_id] = p.price
        elif isinstance(p, MarketInfo):
            yes, no = p.token_ids
            self._sibling[yes] = no
            self._sibling[no] = yes
        elif isinstance(p, MarketResolved):
            self._settle_market(p.market, p.winning_token_id)

    def accept(self, trade_id: str, time_ns: int) -> bool:
        """Dedupe and advance the watermark; False for a trade already taken."""
        if trade_id in self._seen:
            self.counters["duplicates"] += 1
            return False
        if time_ns > self._wm_ns:
            self._wm_ns = time_ns
            self._wm_ids = {trade_id}
        elif time_ns == self._wm_ns:
            self._wm_ids.add(trade_id)
        else:
            self.counters["late"] += 1
        self._seen[trade_id] = time_ns
        floor = self._wm_ns - self._horizon_ns
        seen = self._seen
        while seen and (len(seen) > self.config.max_seen_ids or next(iter(seen.values())) < floor):
            seen.popitem(last=False)
        return True

    def _on_trade(self, t: WalletTrade) -> None:
        if not self.accept(t.trade_id, t.time_ns):
            return
        self.counters["trades_in"] += 1
        key = t.wallet.lower()
        w = self._wallets.get(key)
        if w is None:
            w = self._wallets[key] = _Wallet()
            self._evict()
        else:
            self._wallets.move_to_end(key)
        self._apply(key, w, t)
        if t.market in self._resolved:  # a trade delivered after its market resolved
            self._settle_wallet(w, t.market, self._resolved[t.market])
        notional = t.price * t.size
        followed = key in self._follow
        if not followed and notional < self.config.min_notional:
            return
        score = self._score(key, w)
        if not followed and self.config.min_score is not None and score.score < self.config.min_score:
            self.counters["below_score"] += 1
            return
        self.counters["followed_out" if followed else "whales_out"] += 1
        self.ctx.publish(
            WhaleTrade(
                time_ns=t.time_ns,
                wallet=t.wallet,
                token_id=t.token_id,
                market=t.market,
                side=t.side,
                price=t.price,
                size=t.size,
                notional=notional,
                tx_hash=t.tx_hash,
                score=score,
            )
        )

    def _evict(self) -> None:
        while len(self._wallets) > self.config.max_wallets:
            for key in self._wallets:
                if key not in self._follow:
                    del self._wallets[key]
                    break
            else:
                return

    # -- the wallet book ------------------------------------------------------------------------
    def _apply(self, key: str, w: _Wallet, t: WalletTrade) -> None:
        w.trades += 1
        pos = w.positions.get(t.token_id)
        if t.side is Side.BUY:
            if pos is None:
                pos = w.positions[t.token_id] = _Pos(t.market)
                self._by_market.setdefault(t.market, set()).add(key)
            pos.qty += t.size
            pos.cost += t.price * t.size
            w.bought += t.price * t.size
            return
        if pos is None or pos.qty == ZERO:
            w.unmatched_sell += t.size
            return
        sold = min(t.size, pos.qty)
        w.unmatched_sell += t.size - sold
        basis = pos.cost * sold / pos.qty
        pnl = t.price * sold - basis
        pos.qty -= sold
        pos.cost -= basis
        pos.realized += pnl
        w.realized += pnl
        if pos.qty == ZERO:
            self._close_round(w, t.token_id, pos)

    def _close_round(self, w: _Wallet, token: str, pos: _Pos) -> None:
        if pos.realized > ZERO:
            w.wins += 1
        elif pos.realized < ZERO:
            w.losses += 1
        del w.positions[token]

    def _settle_market(self, market: str, winner: str | None) -> None:
        self._resolved[market] = winner
        for key in sorted(self._by_market.pop(market, ())):
            w = self._wallets.get(key)
            if w is not None:
                self._settle_wallet(w, market, winner)

    def _settle_wallet(self, w: _Wallet, market: str, winner: str | None) -> None:
        for token, pos in list(w.positions.items()):
            if pos.market != market:
                continue
            payout = HALF if winner is None else (ONE if token == winner else ZERO)
            pnl = payout * pos.qty - pos.cost
            pos.realized += pnl
            w.realized += pnl
            pos.qty = ZERO
            pos.cost = ZERO
            self.counters["settled"] += 1
            self._close_round(w, token, pos)

    def _score(self, key: str, w: _Wallet) -> WalletScore:
        unreal = ZERO
        losing_open = 0
        unreal_losses = ZERO
        for token, pos in w.positions.items():
            mark = self.mark(token)
            u = ZERO if mark is None else mark * pos.qty - pos.cost
            unreal += u
            if pos.realized + u < ZERO:
                losing_open += 1
            if u < ZERO:
                unreal_losses += u
        losses = w.losses + losing_open
        decided = w.wins + losses
        record = (w.wins - losses) / (decided + self.config.score_prior) if decided else 0.0
        roc = (w.realized + unreal_losses) / w.bought if w.bought > ZERO else ZERO
        pnl_term = math.tanh(float(roc / self.config.pnl_scale))
        score = max(-1.0, min(1.0, 0.5 * record + 0.5 * pnl_term))
        return WalletScore(
            wallet=key,
            realized_pnl=w.realized,
            unrealized_pnl=unreal,
            trades=w.trades,
            wins=w.wins,
            losses=losses,
            score=score,
        )

    # -- state ----------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        return {
            "wallets": {
                k: {
                    "realized": str(w.realized),
                    "wins": w.wins,
                    "losses": w.losses,
                    "trades": w.trades,
                    "bought": str(w.bought),
                    "unmatched_sell": str(w.unmatched_sell),
                    "positions": {
                        t: [p.market, str(p.qty), str(p.cost), str(p.realized)] for t, p in w.positions.items()
                    },
                }
                for k, w in self._wallets.items()
            },
            "marks": {t: str(m) for t, m in self._marks.items()},
            "book_marked": sorted(self._book_marked),
            "siblings": dict(self._sibling),
            "resolved": dict(self._resolved),
            "watermark": {"time_ns": self._wm_ns, "ids": sorted(self._wm_ids)},
            "seen": [[i, t] for i, t in self._seen.items()],
            "counters": dict(self.counters),
        }

    def restore(self, state: dict[str, Any]) -> None:
        self._wallets.clear()
        self._by_market.clear()
        for k, raw in state.get("wallets", {}).items():
            w = _Wallet(
                realized=Decimal(raw["realized"]),
                wins=int(raw["wins"]),
                losses=int(raw["losses"]),
                trades=int(raw["trades"]),
                bought=Decimal(raw["bought"]),
                unmatched_sell=Decimal(raw.get("unmatched_sell", "0")),
            )
            for t, (market, qty, cost, realized) in raw.get("positions", {}).items():
                w.positions[t] = _Pos(market, Decimal(qty), Decimal(cost), Decimal(realized))
                self._by_market.setdefault(market, set()).add(k)
            self._wallets[k] = w
        self._marks = {t: Decimal(m) for t, m in state.get("marks", {}).items()}
        self._book_marked = set(state.get("book_marked", ()))
        self._sibling = dict(state.get("siblings", {}))
        self._resolved = dict(state.get("resolved", {}))
        wm = state.get("watermark", {})
        self._wm_ns = int(wm.get("time_ns", 0))
        self._wm_ids = set(wm.get("ids", ()))
        self._seen = OrderedDict((str(i), int(t)) for i, t in state.get("seen", ()))
        for k, v in state.get("counters", {}).items():
            if k in self.counters:
                self.counters[k] = int(v)

    def status(self) -> dict[str, Any]:
        scored = [self._score(k, w) for k, w in self._wallets.items() if w.trades]
        scored.sort(key=lambda s: s.score, reverse=True)
        return {
            "role": self.role,
            "wallets": len(self._wallets),
            "followed": len(self._follow),
            "open_positions": sum(len(w.positions) for w in self._wallets.values()),
            "watermark_ns": self._wm_ns,
            **self.counters,
            "top_wallets": [
                {
                    "wallet": s.wallet[:10],
                    "score": round(s.score, 3),
                    "pnl": str(s.realized_pnl),
                    "won/lost": f"{s.wins}/{s.losses}",
                }
                for s in scored[:5]
            ],
        }
