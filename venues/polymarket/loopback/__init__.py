"""A Polymarket-compatible server on 127.0.0.1, backed by the simulated exchange (tests, rehearsal)."""

from venues.polymarket.loopback.seed import seed_demo
from venues.polymarket.loopback.server import LoopbackServer, build_app
from venues.polymarket.loopback.state import LoopbackExchange, LoopbackState, WallClockScheduler

__all__ = ["LoopbackExchange", "LoopbackServer", "LoopbackState", "WallClockScheduler", "build_app", "seed_demo"]
