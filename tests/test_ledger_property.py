"""Invariants of the trade ledger (hypothesis): trades add up, realized PnL agrees with the
portfolio's average-cost book, drawdown stays within 0–100 % and equals the brute-force maximum."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.portfolio import Portfolio
from protocols import Fill, Side
from simulation.ledger import LedgerFill, LedgerSettlement, drawdowns, round_trips

TOKENS = ("A", "B")
T0 = 1_767_225_600_000_000_000


@st.composite
def long_only_fills(draw: st.DrawFn) -> list[LedgerFill]:
    """Buys and sells per token that never sell more than is held (Polymarket cannot short)."""
    n = draw(st.integers(min_value=0, max_value=25))
    held = {t: Decimal(0) for t in TOKENS}
    out: list[LedgerFill] = []
    t_ns = T0
    for i in range(n):
        token = draw(st.sampled_from(TOKENS))
        t_ns += draw(st.integers(min_value=0, max_value=5)) * 1_000_000_000
        price = Decimal(draw(st.integers(min_value=1, max_value=99))) / 100
        fee = Decimal(draw(st.integers(min_value=0, max_value=500))) / 10_000
        sell = held[token] > 0 and draw(st.booleans())
        if sell:
            size = Decimal(draw(st.integers(min_value=1, max_value=int(held[token] * 100)))) / 100
            held[token] -= size
        else:
            size = Decimal(draw(st.integers(min_value=1, max_value=5000))) / 100
            held[token] += size
        out.append(LedgerFill(t_ns, f"f{i}", token, token, "SELL" if sell else "BUY", price, size, fee))
    return out


def flows(fills: list[LedgerFill]) -> Decimal:
    return sum((f.cash for f in fills), Decimal(0))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fills=long_only_fills(), final_a=st.integers(0, 100), final_b=st.integers(0, 100), settle_b=st.booleans())
def test_trade_pnls_add_up_to_cash_flows_plus_payouts_plus_what_is_held_at_its_final_value(
    fills: list[LedgerFill], final_a: int, final_b: int, settle_b: bool
) -> None:
    finals = {"A": Decimal(final_a) / 100, "B": Decimal(final_b) / 100}
    held = {t: sum((f.signed_size for f in fills if f.token_id == t), Decimal(0)) for t in TOKENS}
    end = (fills[-1].time_ns if fills else T0) + 1_000_000_000
    settlements = []
    if settle_b and held["B"] > 0:
        settlements = [LedgerSettlement(end - 1, "B", "B", held["B"], finals["B"])]
    trades, unmatched = round_trips(fills, settlements, finals, end)
    assert unmatched == 0
    expected = flows(fills) + sum((held[t] * finals[t] for t in TOKENS), Decimal(0))
    assert sum((t.pnl for t in trades), Decimal(0)) == expected
    assert all(t.close_ns >= t.open_ns for t in trades)
    assert sum(t.fills for t in trades) == len(fills)
    # at most one trade per token is still open, and only where shares are left
    open_tokens = [t.token_id for t in trades if t.is_open]
    assert sorted(open_tokens) == sorted({t for t in TOKENS if held[t] > 0 and not (t == "B" and settlements)})


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fills=long_only_fills())
def test_closed_trades_realize_what_the_portfolio_realizes_net_of_fees(fills: list[LedgerFill]) -> None:
    # close every position at the end with one more sale, so every trade is closed by a fill
    held = {t: sum((f.signed_size for f in fills if f.token_id == t), Decimal(0)) for t in TOKENS}
    t_end = (fills[-1].time_ns if fills else T0) + 1
    closing = [LedgerFill(t_end, f"close-{t}", t, t, "SELL", Decimal("0.5"), q, Decimal("0.01"))
               for t, q in held.items() if q > 0]
    all_fills = fills + closing
    trades, _ = round_trips(all_fills, [], {}, t_end)
    assert all(not t.is_open for t in trades)
    book = Portfolio(Decimal(1000))
    for f in all_fills:
        book.apply_fill(Fill(time_ns=f.time_ns, fill_id=f.fill_id, client_order_id=f.fill_id, account="us",
                             token_id=f.token_id, market=f.market, side=Side(f.side), price=f.price, size=f.size,
                             fee=f.fee))
    ours = sum((t.pnl for t in trades), Decimal(0))
    # the portfolio's average cost is a quotient (28 significant digits): equal to far below a micro-pUSD
    assert abs(ours - (book.realized - book.fees)) < Decimal("1e-12")


equities = st.lists(st.integers(min_value=1, max_value=10**9).map(lambda v: Decimal(v) / 1000), max_size=40)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(equity=equities)
def test_drawdown_is_within_0_and_100_percent_and_its_pusd_maximum_is_the_largest_peak_to_trough(
    equity: list[Decimal],
) -> None:
    dd_abs, dd_pct = drawdowns(equity)
    assert len(dd_abs) == len(dd_pct) == len(equity)
    assert all(0 <= p <= 100 for p in dd_pct)
    assert all(d >= 0 for d in dd_abs)
    brute = max((equity[i] - equity[j] for i in range(len(equity)) for j in range(i, len(equity))),
                default=Decimal(0))
    assert max(dd_abs, default=Decimal(0)) == brute
