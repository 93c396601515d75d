"""The DuckDB journal: batched appends, write-ahead durability under SIGKILL, read-only opening."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cluster.journal import DuplicateClientOrderId, Journal, open_read_only
from protocols import AgentEvent, Fill, OrderRequest, Side

T0 = 1_767_225_600_000_000_000


def order(i: int) -> OrderRequest:
    return OrderRequest(
        time_ns=T0 + i, client_order_id=f"intent-{i}:0", account="us", token_id="yes", market="m",
        side=Side.BUY, price=Decimal("0.47"), size=Decimal("10.5"), strategy="arb",
    )


def test_committed_batch_survives_sigkill_of_the_writer(tmp_path: Path) -> None:
    db = tmp_path / "j.duckdb"
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        from decimal import Decimal
        sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})
        from cluster.journal import Journal
        from protocols import OrderRequest, Side
        j = Journal({str(db)!r}, batch_size=10_000)
        for i in range(50):
            j.record_sync(OrderRequest(time_ns={T0} + i, client_order_id=f"c{{i}}", account="us",
                token_id="yes", market="m", side=Side.BUY, price=Decimal("0.47"), size=Decimal(10)),
                agent="trader", durable=(i == 39))
        print("committed", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert "committed" in proc.stdout
    con = open_read_only(db)
    try:
        n, total = con.execute("SELECT count(*), sum(size) FROM orders").fetchone()  # type: ignore[misc]
    finally:
        con.close()
    # 40 rows were committed by the durable write; the 10 after it were only buffered
    assert n == 40
    assert total == Decimal(400)


def test_duplicate_client_order_id_is_refused(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.duckdb")
    j.record_sync(order(1), agent="trader", durable=True)
    with pytest.raises(DuplicateClientOrderId):
        j.record_sync(order(1), agent="trader")
    j.close()
    j2 = Journal(tmp_path / "j.duckdb")  # the refusal survives a reopen
    with pytest.raises(DuplicateClientOrderId):
        j2.record_sync(order(1), agent="trader")
    j2.close()


async def test_orders_read_back_exactly_in_write_order(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.duckdb", batch_size=7)
    written = [order(i) for i in range(30)]
    for o in written:
        await j.record(o, agent="trader")
    assert await j.orders("trader") == written
    assert await j.orders("someone_else") == []
    j.close()


async def test_same_fill_reported_twice_is_journalled_once(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.duckdb")
    f = Fill(time_ns=T0, fill_id="f1", client_order_id="c", account="us", token_id="yes", market="m",
             side=Side.BUY, price=Decimal("0.4"), size=Decimal(5), fee=Decimal("0.084"))
    await j.record(f, agent="trader")
    await j.record(f, agent="trader")
    assert await j.fills("trader") == [f]
    assert j.query("SELECT fee FROM fills") == [(Decimal("0.084"),)]
    j.close()


async def test_checkpoint_returns_latest_state(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.duckdb")
    await j.checkpoint("w", T0, {"n": 1})
    await j.checkpoint("w", T0 + 1, {"n": 2, "books": ["a"]})
    assert await j.last_checkpoint("w") == {"n": 2, "books": ["a"]}
    assert await j.last_checkpoint("nobody") is None
    j.close()


async def test_last_checkpoint_after_journal_reopen_returns_the_newest_not_the_highest_old_seq(
    tmp_path: Path,
) -> None:
    """A restarted journal actor reopens the file: its first checkpoint must still win over the
    many checkpoints the previous incarnation wrote (issue #20, cause 4)."""
    path = tmp_path / "j.duckdb"
    j = Journal(path)
    for n in range(5):
        await j.checkpoint("w", T0 + n, {"n": n})
    j.close()
    j = Journal(path)
    await j.checkpoint("w", T0 + 100, {"n": "after restart"})
    assert await j.last_checkpoint("w") == {"n": "after restart"}
    j.close()


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.sampled_from(["a", "b"])), min_size=1, max_size=30))
def test_last_checkpoint_across_any_reopens_is_always_each_agents_latest_write(
    tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[bool, str]],
) -> None:
    """Checkpoints interleaved with journal reopens (abrupt ones too: no close): a restore
    always gets the state written last for that agent, never an older one."""
    path = tmp_path_factory.mktemp("reopen") / "j.duckdb"
    j = Journal(path)
    latest: dict[str, int] = {}
    for i, (reopen, agent) in enumerate(steps):
        if reopen:
            j.flush_sync()
            j._con.close()  # as a killed actor leaves it: no CHECKPOINT, no close()
            j = Journal(path)
        j.checkpoint_sync(agent, T0 + i, {"i": i})
        latest[agent] = i
        for who, want in latest.items():
            assert asyncio.run(j.last_checkpoint(who)) == {"i": want}
    j.close()


def test_finished_journal_opens_read_only_and_refuses_writes(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.duckdb")
    j.record_sync(AgentEvent(time_ns=T0, agent_id="trader", role="trader", event="start"), agent="trader")
    j.close()
    con = open_read_only(tmp_path / "j.duckdb")
    assert con.execute("SELECT agent, event FROM agent_events").fetchall() == [("trader", "start")]
    with pytest.raises(duckdb.Error):
        con.execute("DELETE FROM agent_events")
    con.close()


def test_unknown_payload_type_is_refused(tmp_path: Path) -> None:
    from protocols import Heartbeat

    j = Journal(tmp_path / "j.duckdb")
    with pytest.raises(TypeError, match="no table for Heartbeat"):
        j.record_sync(Heartbeat(time_ns=T0, agent_id="x"), agent="x")
    j.close()


def test_open_read_only_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.duckdb"):
        open_read_only(tmp_path / "nope.duckdb")


@pytest.mark.parametrize(
    "sql", ["EXPLAIN ANALYZE DELETE FROM agent_events", "  explain analyse DELETE FROM agent_events"]
)
def test_read_query_refuses_explain_analyze_which_runs_the_statement_it_explains(tmp_path: Path, sql: str) -> None:
    j = Journal(tmp_path / "j.duckdb")
    asyncio.run(j.record(AgentEvent(time_ns=1_767_225_600_000_000_000, agent_id="a", role="trader", event="start"),
                         agent="sup"))
    with pytest.raises(ValueError, match="read-only"):
        j.read_query(sql)
    assert j.read_query("SELECT count(*) FROM agent_events")[1] == [(1,)]
    assert j.read_query("EXPLAIN SELECT * FROM agent_events")[0]  # a plain EXPLAIN still reads
    j.close()
