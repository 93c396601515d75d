"""Frozen configuration of the Polymarket data side (URLs, socket behaviour, rate limits).

Why one frozen model: every URL the data side touches lives here, so pointing the whole stack at
the loopback server is one object, and a typo in a field name is refused at start with the field
named instead of silently falling back to production.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from venues.polymarket.ratelimit import RateLimit

GAMMA_URL = "https://gamma-api.polymarket.com"
CLOB_URL = "https://clob.polymarket.com"
DATA_URL = "https://data-api.polymarket.com"
MARKET_WS_URL = "wss://ws-subscriptions-clob.polymarket.com/ws/market"



def _default_limits() -> dict[str, tuple[RateLimit, ...]]:
    """Client-side sliding windows, from Polymarket's documented Cloudflare throttles.

    Keys are ``"<api>"`` (every request to that API) or ``"<api> <path>"`` (one endpoint); a request
    takes a slot from both.
    """
    return {
        "clob": (RateLimit(9000, 10.0),),
        "clob /book": (RateLimit(1500, 10.0),),
        "clob /books": (RateLimit(500, 10.0),),
        "clob /price": (RateLimit(1500, 10.0),),
        "clob /midpoint": (RateLimit(1500, 10.0),),
        "gamma": (RateLimit(4000, 10.0),),
        "gamma /markets": (RateLimit(300, 10.0),),
        "gamma /events": (RateLimit(500, 10.0),),
        "data": (RateLimit(1000, 10.0),),
        "data /trades": (RateLimit(200, 10.0),),
        "data /activity": (RateLimit(200, 10.0),),
        "data /positions": (RateLimit(200, 10.0),),
    }


class PolymarketDataConfig(BaseModel):
    """Everything the data side needs; no secrets live here (market data is public)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    gamma_url: str = GAMMA_URL
    clob_url: str = CLOB_URL
    data_url: str = DATA_URL
    market_ws_url: str = MARKET_WS_URL

    request_timeout_s: float = Field(default=10.0, gt=0)
    http_retries: int = Field(default=3, ge=0, le=10)
    http_backoff_s: float = Field(default=0.25, ge=0)

    max_assets_per_connection: int = Field(default=500, ge=1, le=2000)
    ping_interval_s: float = Field(default=10.0, gt=0)
    #: A socket that has said nothing (not even PONG) for this long is dead: reconnect.
    stale_after_s: float = Field(default=30.0, gt=0)
    #: A burst of ``price_change`` frames that leaves a book crossed or disagreeing with the
    #: venue's best prices is judged when the next event for the token arrives, or after this long
    #: without the book coming right — then it is a gap and the book is rebuilt.
    burst_settle_s: float = Field(default=0.25, gt=0)
    reconnect_initial_s: float = Field(default=0.5, ge=0)
    reconnect_max_s: float = Field(default=30.0, gt=0)
    custom_features: bool = True

    gamma_page_size: int = Field(default=100, ge=1, le=500)
    gamma_max_pages: int = Field(default=50, ge=1)

    #: Fees come per market from Gamma's ``feeSchedule``; this rate is only for a market that
    #: has fees enabled but sends no rate.
    default_fee_rate: Decimal = Field(default=Decimal("0.04"), ge=0, lt=1)

    rate_limits: dict[str, tuple[RateLimit, ...]] = Field(default_factory=_default_limits)

    @field_validator("gamma_url", "clob_url", "data_url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError(f"must be an http(s) URL, got {v!r}")
        return v.rstrip("/")

    @field_validator("market_ws_url")
    @classmethod
    def _ws_url(cls, v: str) -> str:
        if not v.startswith(("ws://", "wss://")):
            raise ValueError(f"must be a ws(s) URL, got {v!r}")
        return v

    @model_validator(mode="after")
    def _backoff(self) -> PolymarketDataConfig:
        if self.reconnect_initial_s > self.reconnect_max_s:
            raise ValueError("reconnect_initial_s must not exceed reconnect_max_s")
        return self

    @classmethod
    def for_base_url(cls, base_url: str, **overrides: object) -> PolymarketDataConfig:
        """All four endpoints on one host (a proxy in front of the venue). The venue, and the
        loopback server, serve each API on its own origin: there, use ``LoopbackServer.data_config()``."""
        base = base_url.rstrip("/")
        ws = "ws" + base[len("http"):] if base.startswith("http") else base
        fields: dict[str, object] = {
            "gamma_url": base,
            "clob_url": base,
            "data_url": base,
            "market_ws_url": ws + "/ws/market",
        }
        fields.update(overrides)
        return cls.model_validate(fields)


class DataApiConfig(BaseModel):
    """The large-trade feed: which trades count as "whale" and how far back a poll pages."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_cash: Decimal = Field(default=Decimal(10_000), gt=0)
    page_size: int = Field(default=100, ge=1, le=500)
    max_pages: int = Field(default=20, ge=1)
    #: Trades can be indexed late; anything this close to the watermark is re-read and deduped.
    grace_s: int = Field(default=120, ge=0)
    taker_only: bool = True
    wallets: tuple[str, ...] = ()
