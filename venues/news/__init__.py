"""News from RSS/Atom feeds (conditional GET, de-duplicated) for the news scout."""

from venues.news.config import NewsFeedConfig
from venues.news.feed import RssNewsFeed

__all__ = ["NewsFeedConfig", "RssNewsFeed"]
