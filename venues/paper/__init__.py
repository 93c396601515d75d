"""Paper trading: live market data, simulated fills (queue position, latency), exact accounting."""

from venues.paper.venue import DataFeed, PaperConfig, PaperVenue

__all__ = ["DataFeed", "PaperConfig", "PaperVenue"]
