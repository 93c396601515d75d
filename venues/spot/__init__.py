"""Spot reference prices (ccxt) for fair-value strategies on crypto up/down markets."""

from venues.spot.config import SpotFeedConfig
from venues.spot.feed import CcxtReferencePriceFeed, rebase_urls

__all__ = ["CcxtReferencePriceFeed", "SpotFeedConfig", "rebase_urls"]
