"""Progress of a long run on stderr: what phase it is in, and how far the virtual clock has got.

Why a watcher thread and not a timer on the runtime's clock: a timer would be one more event on the
runtime's queue, and the run's order of events (so its journal hash) must not depend on whether
someone is watching. The thread only reads the runtime's current time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

NS_PER_S = 1_000_000_000
REFRESH_S = 0.25


class RunProgress:
    """``with RunProgress(duration_s) as p:`` … ``p.attach(rt)`` once the runtime exists, ``p.phase(text)``
    for the steps around the run. Silent when stderr is not a terminal (rich's own rule)."""

    def __init__(self, duration_s: float, console: Console | None = None, enabled: bool = True) -> None:
        self.duration_s = max(float(duration_s), 1e-9)
        self.console = console or Console(stderr=True)
        self.enabled = enabled
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed:,.0f}/{task.total:,.0f} virtual s"),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
            disable=not enabled,
        )
        self.task = self.progress.add_task("preparing the world, exchange and agents", total=self.duration_s)
        self._now: Callable[[], int] | None = None
        self._start_ns = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> RunProgress:
        self.progress.start()
        self._thread = threading.Thread(target=self._watch, name="run-progress", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.progress.stop()

    def attach(self, rt: Any, _equity: Any = None) -> None:
        """The ``on_runtime`` hook of :func:`simulation.runner.run_scenario_async`."""
        self._start_ns = int(rt.now_ns())
        self._now = rt.now_ns
        self.progress.update(self.task, description="running")

    def phase(self, text: str) -> None:
        """A step around the run: before :meth:`attach` a start-up step (starting Ray, its hosts),
        after it the end (the virtual clock has reached the end). Where stderr is not a terminal
        (a pipe, a log file) and the bar is not drawn, each step is one plain line instead, so a
        slow start-up is never silent."""
        if self._now is not None:
            self.progress.update(self.task, description=text, completed=self.duration_s)
        else:
            self.progress.update(self.task, description=text)
        if self.enabled and not self.console.is_terminal:
            self.console.print(f"{text}", markup=False, highlight=False)

    def _watch(self) -> None:
        while not self._stop.wait(REFRESH_S):
            now = self._now
            if now is None:
                continue
            done = (int(now()) - self._start_ns) / NS_PER_S
            self.progress.update(self.task, completed=min(max(done, 0.0), self.duration_s))
