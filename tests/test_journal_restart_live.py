"""A restarted journal is found again by every host: checkpoints and write-aheads reach the new actor.

Issue 20, cause 2: each host kept the journal handle it looked up at start, so after the journal
service was restarted (a new actor under the same name) every checkpoint and write-ahead failed for
good while the tree still showed every agent running.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_supervisor_live import agent, start_toy_tree, wait_for


@pytest.mark.slow
def test_hosts_after_journal_restart_checkpoint_and_write_ahead_to_the_new_journal(
    ray_session: str, tmp_path: Path
) -> None:
    import ray

    from cluster.ray_runtime import control

    ns = f"{ray_session}-journal-restart"
    start_toy_tree(ns, tmp_path)

    def journal() -> Any:
        return ray.get_actor("root/services/journal", namespace=ns)

    def count(sql: str) -> int:
        return int(ray.get(journal().query.remote(sql), timeout=30)[0][0])

    try:
        wait_for("the trader writes ahead", lambda: count("SELECT count(*) FROM orders") > 0)
        wait_for("the pricer checkpoints", lambda: count("SELECT count(*) FROM checkpoints WHERE agent = 'pricer'") > 0)
        old = journal()
        ray.kill(old, no_restart=True)
        wait_for("a new journal answers", lambda: journal()._actor_id != old._actor_id and count("SELECT 1") == 1)
        ckpts = count("SELECT count(*) FROM checkpoints WHERE agent = 'pricer'")
        orders = count("SELECT count(*) FROM orders")
        wait_for(
            "the pricer's checkpoints reach the new journal",
            lambda: count("SELECT count(*) FROM checkpoints WHERE agent = 'pricer'") >= ckpts + 2,
        )
        wait_for("the trader's write-aheads reach the new journal",
                 lambda: count("SELECT count(*) FROM orders") > orders)
        st = control.tree_status(ns)
        assert agent(st, "pricer")["restarts"] == 0  # the host refreshed its handle; nobody restarted it
    finally:
        control.stop_tree(ns)
