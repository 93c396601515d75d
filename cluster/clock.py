"""Clocks for the runtimes: virtual time for simulations, the wall clock for live trading."""

from __future__ import annotations

import time
from datetime import UTC, datetime

#: Where a simulation's virtual clock starts unless a scenario says otherwise: 2026-01-01T00:00Z.
DEFAULT_START_NS = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp()) * 1_000_000_000

NS_PER_S = 1_000_000_000
NS_PER_MS = 1_000_000


def wall_ns() -> int:
    return time.time_ns()


def iso(ns: int) -> str:
    """ISO-8601 for humans (reports, status tables)."""
    return datetime.fromtimestamp(ns / NS_PER_S, tz=UTC).isoformat(timespec="milliseconds")
