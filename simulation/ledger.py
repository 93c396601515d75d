"""A trader's view of a run, read from its journal: fills, round-trip trades, positions, marks, events.

Definitions (the report states them under *Assumptions*):

* **Fill**: one row of ``fills`` for our account, the first record of each ``fill_id`` (a fill
  reported by both the trader and the venue is one fill). Cash flow = ``−price × size − fee`` for a
  BUY, ``price × size − fee`` for a SELL, in pUSD.
* **Trade** (round trip): per token, from the fill that takes the position away from zero to the
  fill or settlement that brings it back to zero. A fill that crosses zero closes the trade with the
  part it needs and opens the next with the rest (its fee split pro rata by shares). A settlement
  (resolution payout) closes like a SELL at the payout, without fee. A trade still open at the end
  of the run is valued at the token's final mark (its payout if resolved, else the fair value).
  **Trade PnL** = the sum of its cash flows (+ the open shares × final mark), fees included, so
  the PnL of all trades adds up to the run's PnL.
* **Holding time**: from the opening fill to the closing fill or settlement, or to the end of the
  run for a trade still open.
* **Expectancy**: the mean trade PnL (pUSD per trade).
* **Drawdown**: at each equity sample, running peak − equity (pUSD) and that as a % of the peak.

Money stays :class:`~decimal.Decimal`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import duckdb

ZERO = Decimal(0)
HUNDRED = Decimal(100)
#: A fee split between two trades is rounded here; the two parts still add up to the fee exactly.
FEE_SPLIT_QUANTUM = Decimal("1e-12")

#: Lifecycle events worth a marker on the charts (start/stop/add are routine).
MARKED_AGENT_EVENTS = ("crash", "restart", "escalate", "quarantine", "remove")


@dataclass(frozen=True)
class LedgerFill:
    """One of our fills, in time order, with the position it left behind."""

    time_ns: int
    fill_id: str
    market: str
    token_id: str
    side: str
    price: Decimal
    size: Decimal
    fee: Decimal
    liquidity: str = ""
    strategy: str = ""
    intent_id: str = ""

    @property
    def cash(self) -> Decimal:
        gross = self.price * self.size
        return (-gross if self.side == "BUY" else gross) - self.fee

    @property
    def signed_size(self) -> Decimal:
        return self.size if self.side == "BUY" else -self.size


@dataclass(frozen=True)
class LedgerSettlement:
    time_ns: int
    market: str
    token_id: str
    size: Decimal
    payout_per_share: Decimal


@dataclass
class Trade:
    """One round trip in one token (see the module docstring)."""

    number: int
    market: str
    token_id: str
    strategy: str
    direction: str  # "long" (bought first) or "short" (sold first; not possible on Polymarket)
    open_ns: int
    close_ns: int = 0
    closed_by: str = ""  # "fill", "resolution", or "open at end (marked)"
    fills: int = 0
    shares: Decimal = ZERO  # shares bought (long) or sold (short) into the position
    entry_cost: Decimal = ZERO  # price × shares of the entering side, fees excluded
    exit_value: Decimal = ZERO  # price × shares of the exiting side (payout for a resolution, mark at end)
    fees: Decimal = ZERO
    cash: Decimal = ZERO
    pnl: Decimal = ZERO

    @property
    def holding_s(self) -> float:
        return (self.close_ns - self.open_ns) / 1e9

    @property
    def avg_entry(self) -> Decimal | None:
        return self.entry_cost / self.shares if self.shares else None

    @property
    def avg_exit(self) -> Decimal | None:
        return self.exit_value / self.shares if self.shares else None

    @property
    def is_open(self) -> bool:
        return self.closed_by.startswith("open")


@dataclass(frozen=True)
class Marker:
    """A moment worth a vertical line on the charts."""

    time_ns: int
    kind: str  # crash, restart, escalate, quarantine, remove, halt, reduce, resume, risk, resolution
    subject: str  # the agent or the market
    detail: str = ""


@dataclass(frozen=True)
class MarkPoint:
    time_ns: int
    best_bid: Decimal | None
    best_ask: Decimal | None
    last: Decimal | None
    fair: Decimal | None


@dataclass
class Ledger:
    fills: list[LedgerFill]
    settlements: list[LedgerSettlement]
    trades: list[Trade]
    positions: dict[str, list[tuple[int, Decimal]]]  # token → (time, shares after) steps
    marks: dict[str, list[MarkPoint]]  # market → samples of its YES token
    mark_tokens: dict[str, str]  # market → the token its marks are for
    markers: list[Marker]
    unmatched_settlements: int = 0
    token_market: dict[str, str] = field(default_factory=dict)


# -- pure computations -----------------------------------------------------------------------------


def round_trips(
    fills: Sequence[LedgerFill],
    settlements: Sequence[LedgerSettlement],
    final_values: Mapping[str, Decimal],
    end_ns: int,
) -> tuple[list[Trade], int]:
    """The trades of a fill record (see the module docstring); returns (trades, unmatched settlements).

    A settlement of a token we do not hold (nothing open) is counted and skipped: its cash is not
    any trade's, and the journal holds it for anyone who looks.
    """
    events: list[tuple[int, int, LedgerFill | LedgerSettlement]] = [
        (f.time_ns, i, f) for i, f in enumerate(fills)
    ]
    events += [(s.time_ns, len(fills) + i, s) for i, s in enumerate(settlements)]
    events.sort(key=lambda e: (e[0], e[1]))
    pos: dict[str, Decimal] = {}
    open_: dict[str, Trade] = {}
    done: list[Trade] = []
    unmatched = 0
    counter = 0

    def start(token: str, market: str, strategy: str, t: int, signed: Decimal) -> Trade:
        nonlocal counter
        counter += 1
        tr = Trade(counter, market, token, strategy, "long" if signed > 0 else "short", t)
        open_[token] = tr
        return tr

    for t, _i, ev in events:
        if isinstance(ev, LedgerSettlement):
            q = pos.get(ev.token_id, ZERO)
            tr_open = open_.get(ev.token_id)
            if q <= 0 or tr_open is None or ev.size <= 0:
                unmatched += 1
                continue
            redeemed = min(ev.size, q)
            value = redeemed * ev.payout_per_share
            tr_open.cash += value
            tr_open.exit_value += value
            pos[ev.token_id] = q - redeemed
            if pos[ev.token_id] == 0:
                tr_open.close_ns, tr_open.closed_by = t, "resolution"
                tr_open.pnl = tr_open.cash
                done.append(open_.pop(ev.token_id))
            continue
        token = ev.token_id
        q = pos.get(token, ZERO)
        signed = ev.signed_size
        if signed == 0:
            continue
        gross = ev.price * ev.size
        if q == 0 or (q > 0) == (signed > 0):
            tr = open_.get(token) or start(token, ev.market, ev.strategy, t, signed)
            tr.fills += 1
            tr.shares += ev.size
            tr.entry_cost += gross
            tr.fees += ev.fee
            tr.cash += ev.cash
            pos[token] = q + signed
            continue
        # the fill reduces the position: close with what it needs, open the next trade with the rest
        tr = open_[token]
        closing = min(ev.size, abs(q))
        rest = ev.size - closing
        fee_close = ev.fee if rest == 0 else (ev.fee * closing / ev.size).quantize(FEE_SPLIT_QUANTUM)
        sign = Decimal(1) if ev.side == "SELL" else Decimal(-1)
        tr.fills += 1
        tr.exit_value += ev.price * closing
        tr.fees += fee_close
        tr.cash += sign * ev.price * closing - fee_close
        pos[token] = q + (closing if signed > 0 else -closing)
        if pos[token] == 0:
            tr.close_ns, tr.closed_by = t, "fill"
            tr.pnl = tr.cash
            done.append(open_.pop(token))
        if rest > 0:
            nxt = start(token, ev.market, ev.strategy, t, signed)
            fee_rest = ev.fee - fee_close
            nxt.fills += 1
            nxt.shares += rest
            nxt.entry_cost += ev.price * rest
            nxt.fees += fee_rest
            nxt.cash += sign * ev.price * rest - fee_rest
            pos[token] = signed / abs(signed) * rest
    for token, tr in open_.items():
        q = pos.get(token, ZERO)
        value = q * final_values.get(token, ZERO)
        tr.close_ns, tr.closed_by = max(end_ns, tr.open_ns), "open at end (marked)"
        tr.exit_value += abs(value)
        tr.pnl = tr.cash + value
        done.append(tr)
    done.sort(key=lambda tr: tr.number)
    return done, unmatched


def position_steps(
    fills: Iterable[LedgerFill], settlements: Iterable[LedgerSettlement]
) -> dict[str, list[tuple[int, Decimal]]]:
    """Shares held per token after each fill or settlement, in time order (a payout redeems at
    most what is held, as :func:`round_trips` counts it)."""
    events: list[tuple[int, int, str, Decimal, bool]] = []
    fill_list = list(fills)
    for i, f in enumerate(fill_list):
        events.append((f.time_ns, i, f.token_id, f.signed_size, False))
    for j, s in enumerate(settlements):
        events.append((s.time_ns, len(fill_list) + j, s.token_id, s.size, True))
    events.sort(key=lambda e: (e[0], e[1]))
    held: dict[str, Decimal] = {}
    out: dict[str, list[tuple[int, Decimal]]] = {}
    for t, _i, token, amount, is_payout in events:
        q = held.get(token, ZERO)
        q = q - min(amount, q) if is_payout else q + amount
        if is_payout and held.get(token, ZERO) <= 0:
            continue
        held[token] = q
        out.setdefault(token, []).append((t, q))
    return out


def entry_fill_ids(fills: Sequence[LedgerFill]) -> set[str]:
    """Fills that take a position away from zero or add to it; the others reduce it (exits)."""
    held: dict[str, Decimal] = {}
    out: set[str] = set()
    for f in fills:
        q = held.get(f.token_id, ZERO)
        if q == 0 or (q > 0) == (f.signed_size > 0):
            out.add(f.fill_id)
        held[f.token_id] = q + f.signed_size
    return out


def drawdowns(equity: Sequence[Decimal]) -> tuple[list[Decimal], list[float]]:
    """Drawdown at each sample: (peak − equity in pUSD, the same as % of the running peak)."""
    abs_dd: list[Decimal] = []
    pct_dd: list[float] = []
    peak: Decimal | None = None
    for e in equity:
        peak = e if peak is None or e > peak else peak
        d = peak - e
        abs_dd.append(d)
        pct_dd.append(float(d / peak * HUNDRED) if peak > 0 else 0.0)
    return abs_dd, pct_dd


@dataclass(frozen=True)
class TradeStats:
    count: int
    closed: int
    winners: int
    expectancy: Decimal | None
    best: Trade | None
    worst: Trade | None
    avg_win: Decimal | None
    avg_loss: Decimal | None
    holding_mean_s: float | None
    holding_median_s: float | None
    holding_max_s: float | None


def trade_stats(trades: Sequence[Trade]) -> TradeStats:
    n = len(trades)
    if n == 0:
        return TradeStats(0, 0, 0, None, None, None, None, None, None, None, None)
    pnls = [t.pnl for t in trades]
    wins = [p for p in pnls if p > 0]
    losses = [p for p in pnls if p < 0]
    holds = sorted(t.holding_s for t in trades)
    mid = n // 2
    median = holds[mid] if n % 2 else (holds[mid - 1] + holds[mid]) / 2
    return TradeStats(
        count=n,
        closed=sum(1 for t in trades if not t.is_open),
        winners=len(wins),
        expectancy=sum(pnls, ZERO) / n,
        best=max(trades, key=lambda t: (t.pnl, -t.number)),
        worst=min(trades, key=lambda t: (t.pnl, t.number)),
        avg_win=sum(wins, ZERO) / len(wins) if wins else None,
        avg_loss=sum(losses, ZERO) / len(losses) if losses else None,
        holding_mean_s=sum(holds) / n,
        holding_median_s=median,
        holding_max_s=holds[-1],
    )


# -- reading the journal ---------------------------------------------------------------------------


#: One account's fills, each fill id once (a fill re-reported after a restart counts once), joined
#: to the order that made it, in time order: ``f`` is the fill, ``o`` the order. Every reader of a
#: run's fills (the ledger, the run analysis) selects its columns over this one source.
ACCOUNT_FILLS = """FROM (SELECT * FROM fills WHERE account = ?
                 QUALIFY row_number() OVER (PARTITION BY fill_id ORDER BY time_ns, rowid) = 1) f
           LEFT JOIN orders o ON o.client_order_id = f.client_order_id
           ORDER BY f.time_ns, f.fill_id"""


def read_fills(con: duckdb.DuckDBPyConnection, account: str) -> list[LedgerFill]:
    rows = con.execute(
        """SELECT f.time_ns, f.fill_id, f.market, f.token_id, f.side, f.price, f.size, f.fee,
                  coalesce(f.liquidity, ''), coalesce(o.strategy, ''), coalesce(o.intent_id, '')
           """ + ACCOUNT_FILLS,
        [account],
    ).fetchall()
    return [
        LedgerFill(int(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), Decimal(r[5]), Decimal(r[6]),
                   Decimal(r[7]), str(r[8]), str(r[9]) or "unattributed", str(r[10]))
        for r in rows
    ]


def read_settlements(con: duckdb.DuckDBPyConnection, account: str) -> list[LedgerSettlement]:
    rows = con.execute(
        """SELECT time_ns, market, token_id, size, payout_per_share FROM settlements WHERE account = ?
           QUALIFY row_number() OVER (PARTITION BY market, token_id ORDER BY time_ns, rowid) = 1
           ORDER BY time_ns, token_id""",
        [account],
    ).fetchall()
    return [LedgerSettlement(int(r[0]), str(r[1]), str(r[2]), Decimal(r[3]), Decimal(r[4])) for r in rows]


def _dec(v: object) -> Decimal | None:
    return None if v is None else Decimal(str(v))


def has_table(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    """Journals written before a table existed lack it: an absent optional record, not an error."""
    row = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table]).fetchone()
    return bool(row and row[0])


def read_marks(con: duckdb.DuckDBPyConnection) -> tuple[dict[str, list[MarkPoint]], dict[str, str]]:
    if not has_table(con, "marks"):
        return {}, {}
    rows = con.execute(
        """SELECT market, token_id, time_ns, best_bid, best_ask, last_trade_price, fair_value FROM marks
           ORDER BY market, time_ns, rowid"""
    ).fetchall()
    out: dict[str, list[MarkPoint]] = {}
    tokens: dict[str, str] = {}
    for market, token, t, bid, ask, last, fair in rows:
        tokens.setdefault(str(market), str(token))
        out.setdefault(str(market), []).append(MarkPoint(int(t), _dec(bid), _dec(ask), _dec(last), _dec(fair)))
    return out, tokens


def read_markers(con: duckdb.DuckDBPyConnection) -> list[Marker]:
    """Crashes, restarts and other supervision events; trading-state changes (halts, reductions,
    resumptions); risk events; market resolutions — in time order."""
    out: list[Marker] = []
    placeholders = ",".join("?" * len(MARKED_AGENT_EVENTS))
    for t, agent, event, detail in con.execute(
        f"SELECT time_ns, agent, event, coalesce(detail, '') FROM agent_events WHERE event IN ({placeholders})"
        " ORDER BY time_ns, rowid",
        list(MARKED_AGENT_EVENTS),
    ).fetchall():
        out.append(Marker(int(t), str(event), str(agent), str(detail)))
    last_state: dict[str, str] = {}
    for t, agent, kind, code, state, detail in con.execute(
        """SELECT time_ns, agent, kind, coalesce(code, ''), coalesce(state, ''), coalesce(detail, '')
           FROM risk_events WHERE kind IN ('state', 'event') ORDER BY time_ns, rowid"""
    ).fetchall():
        if kind == "event":
            out.append(Marker(int(t), "risk", str(agent), f"{code} {state} {detail}".strip()))
            continue
        prev = last_state.get(str(agent), "ACTIVE")
        last_state[str(agent)] = str(state)
        if state == prev:
            continue  # not a change (the first ACTIVE, a repeated state)
        kind_name = {"HALTED": "halt", "REDUCING": "reduce", "ACTIVE": "resume"}.get(str(state), "state")
        out.append(Marker(int(t), kind_name, str(agent), f"{state} {code} {detail}".strip()))
    resolutions = con.execute(
        """SELECT time_ns, market, coalesce(winning_token_id, '') FROM resolutions
           QUALIFY row_number() OVER (PARTITION BY market ORDER BY time_ns, rowid) = 1
           ORDER BY time_ns, market"""
    ).fetchall() if has_table(con, "resolutions") else []
    for t, market, winner in resolutions:
        out.append(Marker(int(t), "resolution", str(market), f"winner {winner or 'unknown (0.5 each)'}"))
    out.sort(key=lambda m: (m.time_ns, m.kind, m.subject))
    return out


def read_ledger(
    con: duckdb.DuckDBPyConnection, account: str, final_values: Mapping[str, Decimal], end_ns: int
) -> Ledger:
    fills = read_fills(con, account)
    settlements = read_settlements(con, account)
    trades, unmatched = round_trips(fills, settlements, final_values, end_ns)
    marks, mark_tokens = read_marks(con)
    token_market = {f.token_id: f.market for f in fills}
    return Ledger(
        fills=fills,
        settlements=settlements,
        trades=trades,
        positions=position_steps(fills, settlements),
        marks=marks,
        mark_tokens=mark_tokens,
        markers=read_markers(con),
        unmatched_settlements=unmatched,
        token_market=token_market,
    )
