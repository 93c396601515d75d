"""Node loss on a multi-node cluster on one machine (``ray.cluster_utils.Cluster``).

Run as a script in its own process (tests/test_ray_node_loss.py does), because it needs a cluster
of its own. Prints one JSON line: where the pinned agent lived before and after its node was
removed, and the journal's lifecycle record for it.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from typing import Any

os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")

import ray
from ray.cluster_utils import Cluster

from supervisors.spec import ChildKind, ChildSpec, Strategy, SupervisorSpec
from supervisors.tree import JOURNAL_SERVICE

HEAD = {"resources": {"head": 0.01}}


def toy(id_: str, cls: str, role: str, opts: dict[str, Any]) -> ChildSpec:
    return ChildSpec(id=id_, cls=f"ray_toy_agents:{cls}", config={"_role": role}, ray_options=opts)


def tree() -> SupervisorSpec:
    return SupervisorSpec(
        id="root",
        intensity=10,
        period_s=60,
        children=(
            SupervisorSpec(
                id="services",
                strategy=Strategy.ONE_FOR_ALL,
                children=(ChildSpec(id="journal", cls=JOURNAL_SERVICE, kind=ChildKind.SERVICE, ray_options=HEAD),),
            ),
            SupervisorSpec(id="data", children=(toy("watcher", "TapeWatcher", "market_watcher", HEAD),)),
            # the pricer runs on a "spot" node: it needs a little of the resource only such nodes have
            SupervisorSpec(
                id="decision", children=(toy("pricer", "Pricer", "strategist", {"resources": {"spot": 0.01}}),)
            ),
        ),
    )


def wait_for(what: str, cond: Any, timeout: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = cond()
        except Exception as exc:
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(0.3)
    raise SystemExit(f"never happened: {what} (last: {last!r})")


def main() -> None:
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "resources": {"head": 1}})
    spot_a = cluster.add_node(num_cpus=1, resources={"spot": 1})
    ray.init(address=cluster.address, namespace="polyagents", log_to_driver=False)
    from cluster.ray_runtime import control

    run_dir = tempfile.mkdtemp()
    control.start_tree(
        tree=tree(),
        run_dir=run_dir,
        world={"markets": 1, "crowd_interval_s": 0.2},
        settings={"ping_interval_s": 0.2, "ping_timeout_s": 2.0, "actor_options": HEAD},
    )

    def pricer() -> dict[str, Any]:
        return next(a for a in control.tree_status()["agents"] if a["id"] == "pricer")

    def node_of(agent_id: str) -> str:
        return str(ray.get(ray.get_actor(f"root/decision/{agent_id}").state.remote(), timeout=10)["node"])

    wait_for("pricer running", lambda: pricer()["state"] == "running")
    before = node_of("pricer")
    spot_b = cluster.add_node(num_cpus=1, resources={"spot": 1})  # the replacement capacity
    cluster.remove_node(spot_a)
    wait_for("pricer restarted", lambda: pricer()["restarts"] >= 1 and pricer()["state"] == "running")
    after = node_of("pricer")
    journal = ray.get_actor("root/services/journal")
    events = ray.get(
        journal.query.remote("SELECT event, detail FROM agent_events WHERE agent = 'pricer' ORDER BY rowid")
    )
    watcher = next(a for a in control.tree_status()["agents"] if a["id"] == "watcher")
    print(
        json.dumps(
            {
                "before": before,
                "after": after,
                "removed": spot_a.node_id,
                "replacement": spot_b.node_id,
                "events": [e for e, _ in events],
                "watcher_restarts": watcher["restarts"],
            }
        )
    )
    control.stop_tree()
    ray.shutdown()
    cluster.shutdown()


if __name__ == "__main__":
    sys.exit(main())
