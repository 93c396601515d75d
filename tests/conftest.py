"""Shared fixtures. ONE Ray cluster per pytest session, created lazily by the tests that ask for it.

Why lazily: most tests never touch Ray, and ``ray.init`` costs seconds. Why one: each init starts a
whole local cluster (GCS, raylet, workers); doing it per test would blow the suite's time budget.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Under `uv run`, Ray would package the working directory and start every worker through
# `uv run` (seconds per worker); the workers can use this venv's interpreter directly. Ray reads
# this when it is first imported, so it is set before anything imports ray.
os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")

REPO = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent


def _init_ray(ray: Any, namespace: str, attempts: int = 5) -> None:
    """``ray.init`` with retries: Ray gives its raylet a fixed 30 s to register with the GCS
    (``ray/_private/node.py``), which a loaded 2-core machine can miss; a second start then works.
    A failed start leaves its GCS, raylet and helpers running (``ray.shutdown()`` does not know
    them), and each leftover loads the machine further: they are killed before the next attempt.
    Any other failure, or the last attempt's, is raised as is."""
    for attempt in range(1, attempts + 1):
        before = _descendants()
        try:
            ray.init(
                address="local",  # our own cluster, never whichever one this machine runs already
                num_cpus=2,
                object_store_memory=200 * 1024 * 1024,
                include_dashboard=False,
                namespace=namespace,
                log_to_driver=False,
                configure_logging=False,
            )
            return
        except Exception as exc:
            if attempt == attempts or "timed out during startup" not in str(exc):
                raise
            ray.shutdown()
            for pid in _descendants() - before:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)


def _descendants() -> set[int]:
    """This process's descendants, from /proc (Linux; elsewhere none are found)."""
    parent: dict[int, int] = {}
    for d in Path("/proc").glob("[0-9]*"):
        try:
            # the field after the parenthesised command name, which may itself hold spaces
            parent[int(d.name)] = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    out: set[int] = set()
    frontier = {os.getpid()}
    while frontier:
        frontier = {pid for pid, pp in parent.items() if pp in frontier} - out
        out |= frontier
    return out


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
        _init_ray(ray, namespace)
    yield namespace
    if started_here:
        ray.shutdown()
