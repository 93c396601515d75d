"""Shared fixtures. ONE Ray cluster per pytest session, created lazily by the tests that ask for it.

Why lazily: most tests never touch Ray, and ``ray.init`` costs seconds. Why one: each init starts a
whole local cluster (GCS, raylet, workers); doing it per test would blow the suite's time budget.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# Under `uv run`, Ray would package the working directory and start every worker through
# `uv run` (seconds per worker); the workers can use this venv's interpreter directly. Ray reads
# this when it is first imported, so it is set before anything imports ray.
os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")

REPO = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def ray_session() -> Iterator[str]:
    """Start (once) a small local Ray cluster; yields the namespace this session's actors use.

    Workers inherit PYTHONPATH so they import test modules (agents defined in tests) by name.
    """
    import ray

    paths = [str(REPO), str(TESTS), *os.environ.get("PYTHONPATH", "").split(os.pathsep)]
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in dict.fromkeys(paths) if p)
    for p in (str(REPO), str(TESTS)):
        if p not in sys.path:
            sys.path.append(p)
    namespace = f"polyagents-test-{uuid.uuid4().hex[:8]}"
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(
            address="local",  # always a cluster of its own: never join a `ray start` head on this machine
            num_cpus=2,
            object_store_memory=200 * 1024 * 1024,
            include_dashboard=False,
            namespace=namespace,
            log_to_driver=False,
            configure_logging=False,
        )
    yield namespace
    if started_here:
        ray.shutdown()
