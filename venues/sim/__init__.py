"""The simulated Polymarket exchange: a binary-outcome CLOB with complement matching.

``SimExchange`` is the matching engine and ledger every account shares; ``SimVenue`` is one
account's ``protocols.VenuePort`` onto it, with a ``LatencyModel``. See docs/sim_exchange.md.
"""

from venues.sim.book import CANCELLED as CANCELLED_STATE
from venues.sim.book import EXPIRED, FAK, FILLED, FOK, GTC, GTD, LIVE, ONE
from venues.sim.config import DEFAULT_START_NS, LatencyModel, SimExchangeConfig
from venues.sim.exchange import SimExchange
from venues.sim.market_data import book_hash
from venues.sim.state import SimRejected, to_micro
from venues.sim.venue import SimVenue

__all__ = [
    "CANCELLED_STATE",
    "DEFAULT_START_NS",
    "EXPIRED",
    "FAK",
    "FILLED",
    "FOK",
    "GTC",
    "GTD",
    "LIVE",
    "ONE",
    "LatencyModel",
    "SimExchange",
    "SimExchangeConfig",
    "SimRejected",
    "SimVenue",
    "book_hash",
    "to_micro",
]
