"""WHO keeps the agents alive: child specs, OTP restart strategies, intensity, the default tree.

Pure Python (no Ray): the runtimes in ``cluster.ray_runtime`` ask :class:`SupervisorState` what to
do when a child exits and carry the answer out.
"""

from supervisors.policy import Action, Decision, IntensityWindow, SupervisorState, backoff_delay, should_restart
from supervisors.spec import Backoff, ChildKind, ChildSpec, RestartType, Strategy, SupervisorSpec
from supervisors.tree import TreeConfig, agents_in, default_tree, walk

__all__ = [
    "Action",
    "Backoff",
    "ChildKind",
    "ChildSpec",
    "Decision",
    "IntensityWindow",
    "RestartType",
    "Strategy",
    "SupervisorSpec",
    "SupervisorState",
    "TreeConfig",
    "agents_in",
    "backoff_delay",
    "default_tree",
    "should_restart",
    "walk",
]
