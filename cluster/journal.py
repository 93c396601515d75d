"""The journal: one DuckDB file, one writer, appended in batches.

Why a single writer that batches: DuckDB takes one writer per file, and committing per row would
cost a WAL sync per row. Rows wait in memory until a batch fills or someone asks for durability —
the trader's write-ahead of an order request commits before the order is sent, so an order that
reached the venue is always in the file, even if the process is killed a microsecond later.

Every table keeps the full payload as JSON beside typed columns, so a finished file is useful
from plain SQL and still rebuilds the exact messages.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import duckdb

from protocols import (
    AgentEvent,
    Envelope,
    Fill,
    JournalUnavailable,
    MarketMark,
    MarketResolved,
    OrderEvent,
    OrderRequest,
    Payload,
    PnLSnapshot,
    Position,
    RiskDecision,
    RiskEvent,
    Settlement,
    TradingStateChange,
    payload_from_json,
)

log = logging.getLogger("polyagents.journal")

D = "DECIMAL(20,6)"

SCHEMA: dict[str, str] = {
    "orders": f"""client_order_id VARCHAR PRIMARY KEY, agent VARCHAR, time_ns BIGINT, account VARCHAR,
        token_id VARCHAR, market VARCHAR, side VARCHAR, price {D}, size {D}, tif VARCHAR,
        post_only BOOLEAN, intent_id VARCHAR, leg_index INTEGER, strategy VARCHAR, payload JSON""",
    "order_events": f"""agent VARCHAR, time_ns BIGINT, client_order_id VARCHAR, venue_order_id VARCHAR,
        status VARCHAR, filled {D}, size {D}, reason VARCHAR, payload JSON""",
    "fills": f"""fill_id VARCHAR, agent VARCHAR, time_ns BIGINT, client_order_id VARCHAR, account VARCHAR,
        token_id VARCHAR, market VARCHAR, side VARCHAR, price {D}, size {D}, fee {D}, liquidity VARCHAR,
        settlement VARCHAR, payload JSON""",
    "positions": f"""agent VARCHAR, time_ns BIGINT, account VARCHAR, token_id VARCHAR, market VARCHAR,
        size {D}, avg_price {D}, realized_pnl {D}, payload JSON""",
    "pnl": f"""agent VARCHAR, time_ns BIGINT, account VARCHAR, realized {D}, unrealized {D}, fees {D},
        equity {D}, exposure {D}, payload JSON""",
    "settlements": f"""agent VARCHAR, time_ns BIGINT, account VARCHAR, market VARCHAR, token_id VARCHAR,
        size {D}, payout_per_share {D}, cash {D}, payload JSON""",
    "risk_events": """agent VARCHAR, time_ns BIGINT, kind VARCHAR, intent_id VARCHAR, action VARCHAR,
        code VARCHAR, state VARCHAR, detail VARCHAR, payload JSON""",
    "marks": f"""agent VARCHAR, time_ns BIGINT, market VARCHAR, token_id VARCHAR, best_bid {D}, best_ask {D},
        last_trade_price {D}, fair_value {D}, source VARCHAR, payload JSON""",
    "resolutions": "agent VARCHAR, time_ns BIGINT, market VARCHAR, winning_token_id VARCHAR, payload JSON",
    "agent_events": "agent VARCHAR, time_ns BIGINT, role VARCHAR, event VARCHAR, detail VARCHAR",
    "checkpoints": "agent VARCHAR, time_ns BIGINT, seq BIGINT, state JSON",
    "messages": """time_ns BIGINT, id VARCHAR, sender VARCHAR, kind VARCHAR, correlation_id VARCHAR,
        causation_id VARCHAR, payload JSON""",
    "meta": "key VARCHAR PRIMARY KEY, value VARCHAR",
}

Row = tuple[Any, ...]


class DuplicateClientOrderId(Exception):
    """A second order request with a client order id already journalled: a doubled order."""


def _order_row(agent: str, p: OrderRequest) -> Row:
    return (
        p.client_order_id, agent, p.time_ns, p.account, p.token_id, p.market, p.side.value, p.price,
        p.size, p.tif.value, p.post_only, p.intent_id, p.leg_index, p.strategy, p.model_dump_json(),
    )


def _order_event_row(agent: str, p: OrderEvent) -> Row:
    return (
        agent, p.time_ns, p.client_order_id, p.venue_order_id, p.status.value, p.filled, p.size,
        p.reason.value if p.reason else None, p.model_dump_json(),
    )


def _fill_row(agent: str, p: Fill) -> Row:
    return (
        p.fill_id, agent, p.time_ns, p.client_order_id, p.account, p.token_id, p.market, p.side.value,
        p.price, p.size, p.fee, p.liquidity.value, p.settlement.value, p.model_dump_json(),
    )


def _position_row(agent: str, p: Position) -> Row:
    return (agent, p.time_ns, p.account, p.token_id, p.market, p.size, p.avg_price, p.realized_pnl,
            p.model_dump_json())


def _pnl_row(agent: str, p: PnLSnapshot) -> Row:
    return (agent, p.time_ns, p.account, p.realized, p.unrealized, p.fees, p.equity, p.exposure,
            p.model_dump_json())


def _settlement_row(agent: str, p: Settlement) -> Row:
    return (agent, p.time_ns, p.account, p.market, p.token_id, p.size, p.payout_per_share, p.cash,
            p.model_dump_json())


def _risk_decision_row(agent: str, p: RiskDecision) -> Row:
    code = ",".join(r.value for r in p.reasons) or None
    return (agent, p.time_ns, "decision", p.intent_id, p.action.value, code, None, p.detail,
            p.model_dump_json())


def _risk_event_row(agent: str, p: RiskEvent) -> Row:
    return (agent, p.time_ns, "event", None, None, p.code.value, p.state.value, p.detail, p.model_dump_json())


def _state_row(agent: str, p: TradingStateChange) -> Row:
    return (agent, p.time_ns, "state", None, None, p.reason.value if p.reason else None, p.state.value,
            p.detail, p.model_dump_json())


def _mark_row(agent: str, p: MarketMark) -> Row:
    return (agent, p.time_ns, p.market, p.token_id, p.best_bid, p.best_ask, p.last_trade_price, p.fair_value,
            p.source, p.model_dump_json())


def _resolution_row(agent: str, p: MarketResolved) -> Row:
    return (agent, p.time_ns, p.market, p.winning_token_id, p.model_dump_json())


def _agent_event_row(agent: str, p: AgentEvent) -> Row:
    return (p.agent_id, p.time_ns, p.role, p.event, p.detail)


_ROUTES: dict[type[Payload], tuple[str, Callable[[str, Any], Row]]] = {
    OrderRequest: ("orders", _order_row),
    OrderEvent: ("order_events", _order_event_row),
    Fill: ("fills", _fill_row),
    Position: ("positions", _position_row),
    PnLSnapshot: ("pnl", _pnl_row),
    Settlement: ("settlements", _settlement_row),
    RiskDecision: ("risk_events", _risk_decision_row),
    RiskEvent: ("risk_events", _risk_event_row),
    TradingStateChange: ("risk_events", _state_row),
    AgentEvent: ("agent_events", _agent_event_row),
    MarketMark: ("marks", _mark_row),
    MarketResolved: ("resolutions", _resolution_row),
}

JOURNALLED_TYPES: tuple[type[Payload], ...] = tuple(_ROUTES)


class Journal:
    """The single writer of one DuckDB journal file. Implements :class:`protocols.JournalPort`."""

    def __init__(
        self,
        path: str | Path,
        *,
        batch_size: int = 512,
        sample_messages_every: int = 0,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.batch_size = batch_size
        self.sample_messages_every = sample_messages_every
        self._con = duckdb.connect(str(path))
        self._lock = threading.Lock()
        for table, cols in SCHEMA.items():
            self._con.execute(f"CREATE TABLE IF NOT EXISTS {table} ({cols})")
        self._buffer: dict[str, list[Row]] = {}
        self._pending = 0
        self._message_count = 0
        self._coids: set[str] = {
            r[0] for r in self._con.execute("SELECT client_order_id FROM orders").fetchall()
        }
        self._fill_keys: set[tuple[str, str]] = {
            (r[0], r[1]) for r in self._con.execute("SELECT fill_id, settlement FROM fills").fetchall()
        }
        # The checkpoint sequence is persisted: it continues from the highest one in the file, so a
        # reopened journal (a restarted journal actor) never numbers a new checkpoint below an old
        # one and `last_checkpoint` always returns the newest state an agent saved.
        row = self._con.execute("SELECT COALESCE(MAX(seq), 0) FROM checkpoints").fetchone()
        self._checkpoint_seq: int = int(row[0]) if row is not None else 0
        self.closed = False
        self._observers: list[Callable[[Payload, str], None]] = []
        self.observer_errors = 0

    def add_observer(self, fn: Callable[[Payload, str], None]) -> None:
        """Call ``fn(payload, agent)`` after each record is taken (alerts watch the journal: every
        fact worth an alert is journalled). ``fn`` must not block; if it raises, the record stands
        and the error is counted."""
        self._observers.append(fn)

    # -- writing ----------------------------------------------------------------------------------
    def record_sync(self, payload: Payload, *, agent: str, durable: bool = False) -> None:
        route = _ROUTES.get(type(payload))
        if route is None:
            raise TypeError(f"the journal has no table for {type(payload).__name__}")
        table, make_row = route
        self._check_open()
        with self._lock:
            if isinstance(payload, OrderRequest):
                if payload.client_order_id in self._coids:
                    raise DuplicateClientOrderId(payload.client_order_id)
                self._coids.add(payload.client_order_id)
            elif isinstance(payload, Fill):
                key = (payload.fill_id, payload.settlement.value)
                if key in self._fill_keys:
                    return  # the same fill reported twice (sink and reply): journal it once
                self._fill_keys.add(key)
            self._buffer.setdefault(table, []).append(make_row(agent, payload))
            self._pending += 1
            if durable or self._pending >= self.batch_size:
                self._flush_locked()
        for fn in self._observers:
            try:
                fn(payload, agent)
            except Exception:
                self.observer_errors += 1
                log.exception("a journal observer failed (the record stands)")

    async def record(self, payload: Payload, *, agent: str, durable: bool = False) -> None:
        self.record_sync(payload, agent=agent, durable=durable)

    def record_message(self, envelope: Envelope) -> None:
        """Keep a sample of the traffic (every Nth message) for later tracing."""
        if not self.sample_messages_every:
            return
        self._message_count += 1
        if self._message_count % self.sample_messages_every:
            return
        with self._lock:
            self._buffer.setdefault("messages", []).append(
                (envelope.time_ns, envelope.id, envelope.sender, envelope.payload.kind,
                 envelope.correlation_id, envelope.causation_id, envelope.payload.model_dump_json())
            )
            self._pending += 1
            if self._pending >= self.batch_size:
                self._flush_locked()

    def checkpoint_sync(self, agent: str, time_ns: int, state: dict[str, Any]) -> None:
        self._check_open()
        with self._lock:
            self._checkpoint_seq += 1
            self._buffer.setdefault("checkpoints", []).append(
                (agent, time_ns, self._checkpoint_seq, json.dumps(state, default=str, sort_keys=True))
            )
            self._pending += 1
            self._flush_locked()

    async def checkpoint(self, agent: str, time_ns: int, state: dict[str, Any]) -> None:
        self.checkpoint_sync(agent, time_ns, state)

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._flush_locked()
            self._con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [key, value])

    def _check_open(self) -> None:
        if self.closed:  # a closed journal is one that cannot be reached: the one error for that
            raise JournalUnavailable(f"the journal {self.path} is closed")

    def flush_sync(self) -> None:
        self._check_open()
        with self._lock:
            self._flush_locked()

    async def flush(self) -> None:
        self.flush_sync()

    def _flush_locked(self) -> None:
        if not self._pending:
            return
        con = self._con
        con.execute("BEGIN TRANSACTION")
        try:
            for table, rows in self._buffer.items():
                if rows:
                    _insert_many(con, table, rows)
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        self._buffer = {}
        self._pending = 0

    def close(self) -> None:
        if self.closed:
            return
        self.flush_sync()
        self._con.execute("CHECKPOINT")
        self._con.close()
        self.closed = True

    # -- reading (reconciliation, restore) ---------------------------------------------------------
    def _payloads(self, sql: str, params: Iterable[Any]) -> list[Payload]:
        self.flush_sync()
        with self._lock:
            rows = self._con.execute(sql, list(params)).fetchall()
        return [payload_from_json(r[0]) for r in rows]

    async def orders(self, agent: str) -> list[OrderRequest]:
        rows = self._payloads("SELECT payload FROM orders WHERE agent = ? ORDER BY time_ns, rowid", [agent])
        return [r for r in rows if isinstance(r, OrderRequest)]

    async def order_events(self, agent: str) -> list[OrderEvent]:
        rows = self._payloads(
            "SELECT payload FROM order_events WHERE agent = ? ORDER BY time_ns, rowid", [agent]
        )
        return [r for r in rows if isinstance(r, OrderEvent)]

    async def fills(self, agent: str) -> list[Fill]:
        rows = self._payloads("SELECT payload FROM fills WHERE agent = ? ORDER BY time_ns, rowid", [agent])
        return [r for r in rows if isinstance(r, Fill)]

    async def last_checkpoint(self, agent: str) -> dict[str, Any] | None:
        self.flush_sync()
        with self._lock:
            row = self._con.execute(
                "SELECT state FROM checkpoints WHERE agent = ? ORDER BY seq DESC LIMIT 1", [agent]
            ).fetchone()
        if row is None:
            return None
        state: dict[str, Any] = json.loads(row[0])
        return state

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        self.flush_sync()
        with self._lock:
            return self._con.execute(sql, list(params)).fetchall()

    def read_query(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Anyone's SQL against the live file, read-only: ``(columns, rows)``.

        Why here and not a second connection: DuckDB lets one process hold a file open for writing
        and no other process open it at all, so while the tree runs the only way to read its journal
        is through this writer. Only statements that read (``SELECT``, ``FROM``, ``DESCRIBE``,
        ``SHOW``, ``SUMMARIZE``, ``EXPLAIN``) are accepted, checked by DuckDB's own parser before
        anything runs; they run on a cursor of their own, so a long query does not hold the lock
        the writers take. Raises ``ValueError`` with one line for a query that is empty, writes, or
        fails."""
        try:
            statements = duckdb.extract_statements(sql)
        except duckdb.Error as exc:
            raise ValueError(f"query failed: {_first_line(exc)}") from None
        if not statements:
            raise ValueError("journal sql: no SQL statement in the query")
        # EXPLAIN ANALYZE runs the statement it explains (a DELETE too): refused like a write
        refused = [
            "EXPLAIN ANALYZE" if _EXPLAIN_ANALYZE.match(s.query) else s.type.name
            for s in statements
            if s.type not in READ_STATEMENTS or _EXPLAIN_ANALYZE.match(s.query)
        ]
        if refused:
            raise ValueError(f"the journal is read-only here: {refused[0]} statements are refused")
        self.flush_sync()
        with self._lock:
            cur = self._con.cursor()
        try:
            res = cur.execute(sql)
            cols = [d[0] for d in res.description] if res.description else []
            return cols, (res.fetchall() if cols else [])
        except duckdb.Error as exc:
            raise ValueError(f"query failed: {_first_line(exc)}") from None
        finally:
            cur.close()


#: Statement types :meth:`Journal.read_query` runs (DuckDB parses DESCRIBE/SHOW/SUMMARIZE as SELECT).
READ_STATEMENTS = frozenset({duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN})
_EXPLAIN_ANALYZE = re.compile(r"\s*EXPLAIN\s+ANALY[SZ]E\b", re.IGNORECASE)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _insert_many(con: duckdb.DuckDBPyConnection, table: str, rows: list[Row]) -> None:
    width = len(rows[0])
    one = "(" + ",".join("?" * width) + ")"
    chunk = max(1, 2000 // width)
    for i in range(0, len(rows), chunk):
        part = rows[i : i + chunk]
        flat = [v for row in part for v in row]
        con.execute(f"INSERT INTO {table} VALUES " + ",".join([one] * len(part)), flat)


def open_read_only(path: str | Path) -> duckdb.DuckDBPyConnection:
    """Open a finished journal for anyone's SQL; nothing can be written through it."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"no journal at {p}")
    return duckdb.connect(str(p), read_only=True)
