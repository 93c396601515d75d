"""Intelligence: large trades by wallets worth following, and news matched to markets."""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar, Literal

from pydantic import Field

from protocols.base import Payload
from protocols.enums import Side
from protocols.numbers import MarketId, Money, PositiveSize, Price, TimeNs, TokenId


class WalletScore(Payload):
    """A wallet's record, counting unresolved losers at their mark (no survivorship bias)."""

    kind: Literal["wallet_score"] = "wallet_score"
    wallet: str = Field(min_length=1)
    realized_pnl: Money = Decimal(0)
    unrealized_pnl: Money = Decimal(0)
    trades: int = Field(default=0, ge=0)
    wins: int = Field(default=0, ge=0)
    losses: int = Field(default=0, ge=0)
    score: float = Field(default=0.0, ge=-1.0, le=1.0, allow_inf_nan=False)

    @property
    def win_rate(self) -> float:
        decided = self.wins + self.losses
        return self.wins / decided if decided else 0.0


class WalletTrade(Payload):
    """A trade attributed to a wallet (Data API ``/trades``, or a simulated participant's fill).

    The whale tracker's raw input: it filters by notional and followed wallets, scores the wallet
    and publishes a :class:`WhaleTrade`. ``trade_id`` makes redelivery harmless.
    """

    kind: Literal["wallet_trade"] = "wallet_trade"
    routing_key_field: ClassVar[str | None] = "token_id"

    time_ns: TimeNs
    trade_id: str = Field(min_length=1)
    wallet: str = Field(min_length=1)
    token_id: TokenId
    market: MarketId
    side: Side
    price: Price
    size: PositiveSize
    outcome: str = ""
    tx_hash: str = ""


class WhaleTrade(Payload):
    kind: Literal["whale_trade"] = "whale_trade"
    routing_key_field: ClassVar[str | None] = "token_id"

    time_ns: TimeNs
    wallet: str = Field(min_length=1)
    token_id: TokenId
    market: MarketId
    side: Side
    price: Price
    size: PositiveSize
    notional: Money
    tx_hash: str = ""
    score: WalletScore | None = None


class RawNews(Payload):
    """A feed entry before matching: what an RSS/Atom feed or a scenario's news event says."""

    kind: Literal["raw_news"] = "raw_news"

    time_ns: TimeNs
    item_id: str = Field(min_length=1)
    source: str = ""
    title: str
    body: str = ""
    url: str = ""
    published_ns: TimeNs


class NewsItem(Payload):
    """A news item matched to markets, with sentiment in [-1, 1] towards each market's YES."""

    kind: Literal["news_item"] = "news_item"

    time_ns: TimeNs
    item_id: str = Field(min_length=1)
    source: str = ""
    title: str
    url: str = ""
    published_ns: TimeNs
    markets: tuple[MarketId, ...] = ()
    sentiment: float = Field(default=0.0, ge=-1.0, le=1.0, allow_inf_nan=False)
    novelty: float = Field(default=1.0, ge=0.0, le=1.0, allow_inf_nan=False)
    keywords: tuple[str, ...] = ()
