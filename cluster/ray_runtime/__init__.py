"""The Ray runtime: agent hosts, routing, the lockstep simulation runtime, the live supervision tree.

- :class:`cluster.ray_runtime.lockstep.RayLockstepRuntime` (alias ``RayRuntime``): drop-in for
  ``cluster.runtime_local.LocalRuntime`` that runs our agents in Ray actors in virtual-time lockstep.
- :mod:`cluster.ray_runtime.control`: start, inspect, change and stop a live tree from any process.

Importing this package does not import Ray; the submodules do.
"""

from __future__ import annotations

from typing import Any

__all__ = ["RayLockstepRuntime", "RayRuntime"]


def __getattr__(name: str) -> Any:
    if name in ("RayLockstepRuntime", "RayRuntime"):
        from cluster.ray_runtime.lockstep import RayLockstepRuntime

        return RayLockstepRuntime
    raise AttributeError(name)
