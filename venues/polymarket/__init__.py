"""Polymarket: the data side (Gamma, CLOB REST book, market WebSocket, Data API) lives here and in
``data``/``websocket``; execution (the official SDK, the user WebSocket) in ``execution``; a
Polymarket-compatible loopback server for tests in ``loopback``."""

from venues.polymarket.config import DataApiConfig, PolymarketDataConfig
from venues.polymarket.data import (
    ClobReader,
    DataApiClient,
    GammaClient,
    LargeTradeFeed,
    PolymarketDataFeed,
    WalletActivityFeed,
    Watermark,
)
from venues.polymarket.http import PolymarketApiError
from venues.polymarket.ratelimit import RateLimit, RateLimitBook, SlidingWindowLimiter

__all__ = [
    "ClobReader",
    "DataApiClient",
    "DataApiConfig",
    "GammaClient",
    "LargeTradeFeed",
    "PolymarketApiError",
    "PolymarketDataConfig",
    "PolymarketDataFeed",
    "RateLimit",
    "RateLimitBook",
    "SlidingWindowLimiter",
    "WalletActivityFeed",
    "Watermark",
]
