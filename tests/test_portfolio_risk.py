"""Portfolio risk: the VaR math against cases worked out by hand, and the risk officer's VaR and
correlation limits (resize or reject with their codes; a property over random books and intents)."""

from __future__ import annotations

import asyncio
import itertools
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from test_risk_officer import Desk

from cluster.runtime_local import LocalRuntime
from protocols import (
    Fill,
    IntentLeg,
    MarketInfo,
    OrderIntent,
    ReasonCode,
    RiskAction,
    Side,
    TopOfBook,
)
from protocols.var import MarketModel, RiskPosition, comovement, pearson, value_at_risk

D = Decimal
S = 1_000_000_000


# -- the math --------------------------------------------------------------------------------------

TWO = {"A": MarketModel(0.5), "B": MarketModel(0.2)}
#: 10 YES of A at 0.5 loses +5 (NO wins, p .5) or −5; 20 YES of B at 0.2 loses +4 (p .8) or −16.
#: Joint: 9 (p .4), −1 (p .4), −11 (p .1), −21 (p .1). P(loss ≤ −1) = .6, so VaR(α ≤ .6) = 0 (floored),
#: VaR(α > .6) = 9; expected loss 0; worst 9.
TWO_BOOK = [RiskPosition("A", 0, 10, 0.5), RiskPosition("B", 0, 20, 0.2)]


@pytest.mark.parametrize(("confidence", "expected"), [(0.5, 0.0), (0.6, 0.0), (0.61, 9.0), (0.95, 9.0)])
def test_var_of_two_independent_binaries_exact_matches_the_hand_enumeration(confidence: float,
                                                                             expected: float) -> None:
    res = value_at_risk(TWO_BOOK, TWO, confidence)
    assert res.method == "exact" and res.groups == 2
    assert res.var == pytest.approx(expected)
    assert res.expected_loss == pytest.approx(0.0, abs=1e-12)
    assert res.worst_loss == pytest.approx(9.0)


def test_var_monte_carlo_agrees_with_exact_enumeration_within_sampling_error() -> None:
    # a book whose 90 % quantile sits inside a wide step, so sampling noise cannot flip it
    models = {m: MarketModel(p) for m, p in (("A", 0.3), ("B", 0.6), ("C", 0.5), ("D", 0.1))}
    book = [RiskPosition("A", 0, 30, 0.3), RiskPosition("B", 1, 25, 0.4), RiskPosition("C", 0, 10, 0.5),
            RiskPosition("D", 0, 40, 0.1)]
    for conf in (0.8, 0.9, 0.95):
        exact = value_at_risk(book, models, conf, method="exact")
        mc = value_at_risk(book, models, conf, method="monte_carlo", samples=50_000, seed=3)
        assert mc.method == "monte_carlo"
        assert mc.var == pytest.approx(exact.var, abs=1e-9)
        assert mc.expected_loss == pytest.approx(exact.expected_loss, abs=0.15)


def test_var_monte_carlo_is_the_same_for_the_same_seed() -> None:
    a = value_at_risk(TWO_BOOK, TWO, 0.95, {("A", "B"): 0.5}, seed=11)
    b = value_at_risk(TWO_BOOK, TWO, 0.95, {("A", "B"): 0.5}, seed=11)
    assert a == b and a.method == "monte_carlo"


def test_var_complete_set_of_an_exclusive_event_has_no_risk() -> None:
    # one YES of each of three exclusive outcomes bought at their marks: exactly one pays 1
    ev = {"x": MarketModel(0.2, "E"), "y": MarketModel(0.3, "E"), "z": MarketModel(0.5, "E")}
    book = [RiskPosition("x", 0, 10, 0.2), RiskPosition("y", 0, 10, 0.3), RiskPosition("z", 0, 10, 0.5)]
    res = value_at_risk(book, ev, 0.99)
    assert res.groups == 1 and res.var == pytest.approx(0.0, abs=1e-9) and res.worst_loss == pytest.approx(0.0)
    # the same three as independent binaries would be risky
    indep = {k: MarketModel(v.p_yes) for k, v in ev.items()}
    assert value_at_risk(book, indep, 0.99).var > 5


def test_var_yes_and_no_of_one_market_cancel() -> None:
    res = value_at_risk([RiskPosition("A", 0, 10, 0.5), RiskPosition("A", 1, 10, 0.5)], TWO, 0.99)
    assert res.var == pytest.approx(0.0) and res.worst_loss == pytest.approx(0.0)


def test_var_positive_correlation_raises_the_var_of_two_longs() -> None:
    models = {"A": MarketModel(0.5), "B": MarketModel(0.5)}
    book = [RiskPosition("A", 0, 10, 0.5), RiskPosition("B", 0, 10, 0.5)]
    # independent: loss 10 (p .25), 0 (p .5), −10 (p .25): P(loss ≤ 0) = .75, so VaR(0.7) = 0;
    # tied: loss 10 with p ~.5, so VaR(0.7) = 10; opposed: one always wins, loss ~0
    assert value_at_risk(book, models, 0.7).var == pytest.approx(0.0)
    tied = value_at_risk(book, models, 0.7, {("A", "B"): 0.99}, samples=40_000)
    assert tied.var == pytest.approx(10.0)
    hedged = value_at_risk(book, models, 0.7, {("A", "B"): -0.99}, samples=40_000)
    assert hedged.var == pytest.approx(0.0)


def test_var_repairs_a_correlation_matrix_that_is_not_positive_semidefinite() -> None:
    models = {m: MarketModel(0.5) for m in "ABC"}
    book = [RiskPosition(m, 0, 10, 0.5) for m in "ABC"]
    res = value_at_risk(book, models, 0.9, {("A", "B"): 0.9, ("B", "C"): 0.9, ("A", "C"): -0.9})
    assert any("positive semi-definite" in n for n in res.notes)


def test_var_refuses_a_market_without_a_probability() -> None:
    with pytest.raises(ValueError, match="no probability for market 'Z'"):
        value_at_risk([RiskPosition("Z", 0, 1, 0.5)], TWO)


def test_comovement_of_prices_that_move_together_and_apart() -> None:
    a = [0.5 + 0.01 * ((i * 7) % 5) for i in range(40)]
    assert comovement(a, a, 20) == pytest.approx(1.0)
    assert comovement(a, [1 - x for x in a], 20) == pytest.approx(-1.0)
    assert comovement(a[:10], a[:10], 20) is None  # too few changes
    assert pearson([1, 2, 3], [1, 1, 1]) is None  # constant: undefined


# -- the officer -----------------------------------------------------------------------------------


async def var_desk(**cfg: Any) -> Desk:
    desk = Desk(**{"max_var_fraction": "0.05", "max_trade_fraction": "0.2", "max_market_fraction": "0.5",
                   "max_event_fraction": "0.5", **cfg})
    await desk.start()
    for m in ("a", "b", "c"):
        desk.market(m)
        desk.deep(f"{m}-yes", "0.50")
        desk.deep(f"{m}-no", "0.50")
    await desk.step()
    return desk


async def test_intent_that_would_push_var_past_the_limit_is_resized_to_the_largest_size_that_fits() -> None:
    desk = await var_desk()
    # 50 pUSD limit (5 % of 1000). 100 YES of a at 0.50: loses 50 when NO wins (p .5): VaR 50, fits.
    # 200 YES: VaR 100 → resized to 100 shares.
    dec = await desk.intent(("a-yes", Side.BUY, "0.50", "200"))
    assert dec.action is RiskAction.RESIZED and ReasonCode.VAR_LIMIT in dec.reasons
    size = dec.intent.legs[0].size
    assert size == D(100)
    assert desk.ro.portfolio_var().var <= 50 + 1e-9  # the reservation is in the book now
    status = desk.ro.status()["portfolio_risk"]
    assert status["var_limit"] == 50 and status["var"] == pytest.approx(50)


async def test_intent_is_rejected_with_var_limit_when_nothing_more_fits() -> None:
    desk = await var_desk()
    assert (await desk.intent(("a-yes", Side.BUY, "0.50", "100"))).action is RiskAction.APPROVED
    dec = await desk.intent(("b-yes", Side.BUY, "0.50", "40"))
    # a and b independent: lose 50 or 70 with p .5 and .25: VaR(95 %) 70 > 50, and b shares fit
    # only when a's loss state is already the quantile: k → 0
    assert dec.action is RiskAction.REJECTED and dec.reasons == (ReasonCode.VAR_LIMIT,)
    assert "VaR" in dec.detail


async def test_an_intent_that_lowers_the_var_passes_even_above_the_limit() -> None:
    desk = await var_desk()
    desk.fill("a-yes", Side.BUY, "0.50", "300")  # a book above the limit (fills arrive whatever we approved)
    await desk.step()
    assert desk.ro.portfolio_var().var == pytest.approx(148.5)  # 300 held at the mid 0.495, lost if NO wins
    hedge = await desk.intent(("a-no", Side.BUY, "0.50", "40"))  # NO against held YES: less risk
    assert hedge.action is RiskAction.APPROVED
    more = await desk.intent(("b-yes", Side.BUY, "0.50", "10"))
    assert more.action is RiskAction.REJECTED and ReasonCode.VAR_LIMIT in more.reasons


async def test_declared_correlation_above_the_limit_rejects_a_new_position_with_its_code() -> None:
    desk = await var_desk(max_var_fraction=None, correlations=[{"a": "a", "b": "b", "rho": 0.8}])
    assert (await desk.intent(("a-yes", Side.BUY, "0.50", "20"))).action is RiskAction.APPROVED
    dec = await desk.intent(("b-yes", Side.BUY, "0.50", "20"))
    assert dec.action is RiskAction.REJECTED and dec.reasons == (ReasonCode.CORRELATION_LIMIT,)
    assert "0.80" in dec.detail
    # long NO of b is short b's YES: correlation −0.8 with the open a YES, allowed
    assert (await desk.intent(("b-no", Side.BUY, "0.50", "20"))).action is RiskAction.APPROVED
    # c is not declared and has no price history: nothing to limit
    assert (await desk.intent(("c-yes", Side.BUY, "0.50", "20"))).action is RiskAction.APPROVED
    tops = desk.ro.status()["portfolio_risk"]["top_correlations"]
    assert {"a": "a", "b": "b", "correlation": -0.8, "source": "declared"} in tops  # a YES against b NO


async def test_correlation_estimated_from_mids_that_move_together_rejects_a_new_position() -> None:
    desk = await var_desk(max_var_fraction=None, correlation_sample_ns=S, correlation_min_samples=10)
    for i in range(30):  # a and b move together, c moves on its own
        pa = D("0.40") + D(i % 7) / 100
        pc = D("0.40") + D((i * 3) % 5) / 100
        desk.deep("a-yes", str(pa))
        desk.deep("b-yes", str(pa + D("0.02")))
        desk.deep("c-yes", str(pc))
        await desk.step(1)
    rho = desk.ro.price_correlation("a", "b")
    assert rho is not None and rho > 0.95
    assert (await desk.intent(("a-yes", Side.BUY, "0.50", "20"))).action is RiskAction.APPROVED
    dec = await desk.intent(("b-yes", Side.BUY, "0.52", "20"))
    assert dec.action is RiskAction.REJECTED and dec.reasons == (ReasonCode.CORRELATION_LIMIT,)
    c = desk.ro.price_correlation("a", "c")
    assert c is not None and c < 0.6
    assert (await desk.intent(("c-yes", Side.BUY, "0.45", "20"))).action is RiskAction.APPROVED


# -- property --------------------------------------------------------------------------------------

BANKROLL = D(1000)
VAR_LIMIT = 50.0
CORR_LIMIT = 0.6
BINARIES = ("m0", "m1", "m2")
EVENT = ("n0", "n1")  # one neg-risk event: exclusive outcomes
ALL = BINARIES + EVENT

cents = st.integers(min_value=10, max_value=90)
intent_op = st.tuples(st.just("buy"), st.sampled_from(BINARIES * 2 + EVENT), st.sampled_from([True, True, False]),
                      cents, st.integers(5, 150))
ops = st.lists(
    st.one_of(
        intent_op, intent_op, intent_op,
        st.tuples(st.just("fill"), st.integers(0, 40), st.integers(1, 100)),
        st.tuples(st.just("price"), st.sampled_from(ALL), cents),
        st.tuples(st.just("wait"), st.integers(1, 5)),
    ),
    min_size=3, max_size=40,
)
declared = st.dictionaries(
    st.tuples(st.sampled_from(BINARIES), st.sampled_from(BINARIES)).filter(lambda p: p[0] < p[1]),
    st.one_of(st.sampled_from([0.7, 0.9, -0.8]), st.floats(min_value=-0.95, max_value=0.95)), min_size=1, max_size=3,
)


async def run_book(stream: list[tuple[Any, ...]], corr: dict[tuple[str, str], float]) -> None:
    from agents.risk_officer import RiskOfficer

    rt = LocalRuntime(seed=5)
    ro = RiskOfficer("risk_officer", {
        "bankroll": BANKROLL, "max_var_fraction": "0.05", "max_trade_fraction": "0.1",
        "max_market_fraction": "0.3", "max_event_fraction": "0.5", "max_total_fraction": "1",
        "max_trades_per_day": 10_000, "check_interval_ns": S, "soft_daily_loss_fraction": None,
        "daily_loss_fraction": "1", "max_drawdown_fraction": "1", "max_consecutive_losses": 10_000,
        "correlation_sample_ns": S,
        "correlation_min_samples": 4, "correlation_window": 30, "max_price_impact": "0.5",
        "correlations": [{"a": a, "b": b, "rho": r} for (a, b), r in corr.items()],
    })
    rt.add_agent(ro)
    now = rt.now_ns
    yes: dict[str, Decimal] = {}

    def book(m: str, p_yes: Decimal) -> None:
        yes[m] = p_yes
        for tok, mid in ((f"{m}-yes", p_yes), (f"{m}-no", D(1) - p_yes)):
            bid, ask = mid - D("0.01"), mid + D("0.01")
            rt.inject(TopOfBook(time_ns=now(), token_id=tok, market=m, best_bid=bid, best_bid_size=D(10_000),
                                best_ask=ask, best_ask_size=D(10_000), bids=((bid, D(10_000)),),
                                asks=((ask, D(10_000)),)))

    for m in ALL:
        ev = "E" if m in EVENT else ""
        rt.inject(MarketInfo(time_ns=now(), market=m, question="?", token_ids=(f"{m}-yes", f"{m}-no"),
                             event_id=ev, neg_risk=bool(ev)))
        book(m, D("0.4") if m in EVENT else D("0.5"))
    await rt.run(until_ns=now())

    held: dict[str, Decimal] = {}
    open_buys: list[list[Any]] = []  # [token, price, size left]
    n, fid = itertools.count(1), itertools.count(1)

    def independent_var() -> float:
        """The book from the stream alone: holdings at the mids the test set, open buys at limit."""
        pos = [RiskPosition(t.rsplit("-", 1)[0], 0 if t.endswith("yes") else 1, float(q),
                            float(yes[t.rsplit("-", 1)[0]] if t.endswith("yes") else 1 - yes[t.rsplit("-", 1)[0]]))
               for t, q in held.items() if q > 0]
        pos += [RiskPosition(t.rsplit("-", 1)[0], 0 if t.endswith("yes") else 1, float(q), float(p))
                for t, p, q, _coid in open_buys if q > 0]
        models = {m: MarketModel(float(yes[m]), "E" if m in EVENT else "") for m in ALL}
        pairs = {**corr, **{(b, a): r for (a, b), r in corr.items()}}
        return value_at_risk(pos, models, 0.95, pairs, seed=0).var

    for op in stream:
        if op[0] == "buy":
            _, m, is_yes, c, size = op
            tok = f"{m}-{'yes' if is_yes else 'no'}"
            before = independent_var()
            iid = f"i{next(n)}"
            rt.inject(OrderIntent(time_ns=now(), intent_id=iid, strategy="p", legs=(
                IntentLeg(token_id=tok, market=m, side=Side.BUY, price=D(c) / 100, size=D(size),
                          event_id="E" if m in EVENT else ""),)))
            await rt.run(until_ns=now())
            dec = ro.decided.get(iid)
            assert dec is not None
            got = [r for r in ro.reservations if r.startswith(iid + ":")]
            if got:  # approved or resized: its reservation is in the book
                leg = ro.reservations[got[0]]
                open_buys.append([tok, leg.price, leg.size, got[0]])
                after = independent_var()
                assert after <= max(VAR_LIMIT, before) + 1e-6, (after, before, op)
                # no accepted position correlated above the limit with one open before it
                for other in {t for t, q in held.items() if q > 0} | {t for t, _p, q, _c in open_buys[:-1] if q > 0}:
                    om = other.rsplit("-", 1)[0]
                    if om == m:
                        continue
                    rho = corr.get((m, om), corr.get((om, m)))
                    if rho is None and not (m in EVENT and om in EVENT):
                        rho = ro.price_correlation(m, om)
                    if rho is None:
                        continue
                    sign = (1 if is_yes else -1) * (1 if other.endswith("yes") else -1)
                    assert rho * sign <= CORR_LIMIT + 1e-9, (m, om, rho, op)
        elif op[0] == "fill":
            live = [o for o in open_buys if o[2] > 0]
            if not live:
                continue
            o = live[op[1] % len(live)]
            q = max(D(1), (o[2] * op[2] / 100).quantize(D(1)))
            q = min(q, o[2])
            o[2] -= q
            held[o[0]] = held.get(o[0], D(0)) + q
            rt.inject(Fill(time_ns=now(), fill_id=f"f{next(fid)}", client_order_id=o[3], account="us",
                           token_id=o[0], market=o[0].rsplit("-", 1)[0], side=Side.BUY, price=o[1], size=q))
            await rt.run(until_ns=now())
        elif op[0] == "price":
            book(op[1], D(op[2]) / 100)
            await rt.run(until_ns=now())
        else:
            for _ in range(op[1]):
                for m in ALL:  # keep the books fresh, and give the estimator co-moving history
                    book(m, yes[m])
                await rt.run(until_ns=now() + S)
    assert not rt.crashes


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream=ops, corr=declared)
@example(stream=[("buy", "m0", True, 50, 20), ("buy", "m1", True, 50, 20), ("buy", "m2", True, 50, 150),
                 ("fill", 0, 100), ("price", "m0", 30), ("buy", "m2", False, 60, 100)],
         corr={("m0", "m1"): 0.9})
@example(stream=[("buy", "n0", True, 40, 100), ("buy", "n1", True, 40, 100), ("fill", 0, 50),
                 ("buy", "m0", True, 50, 150), ("buy", "m1", False, 50, 150)],
         corr={("m0", "m1"): -0.8})
def test_accepted_intents_never_leave_var_above_the_limit_nor_a_correlation_above_its_limit(
    stream: list[tuple[Any, ...]], corr: dict[tuple[str, str], float]
) -> None:
    asyncio.run(run_book(stream, corr))


# -- status and per-strategy ---------------------------------------------------------------------


async def test_status_shows_var_correlation_and_strategy_pnl_as_polyagents_status_prints_them() -> None:
    from cluster.commands.runtime_control import portfolio_lines

    desk = await var_desk(correlations=[{"a": "a", "b": "b", "rho": 0.3}])
    for strategy, tok in (("maker", "a-yes"), ("directional", "b-yes")):
        desk.rt.inject(OrderIntent(time_ns=desk.rt.now_ns(), intent_id=f"i-{strategy}", strategy=strategy, legs=(
            IntentLeg(token_id=tok, market=tok[0], side=Side.BUY, price=D("0.50"), size=D(40)),)))
        await desk.step()
        desk.fill(tok, Side.BUY, "0.50", "40", coid=f"i-{strategy}:0")
    desk.deep("a-yes", "0.61")  # mid 0.605: maker +4.2
    await desk.step()
    st = desk.ro.status()
    # b has had no book since the fill: at cost until one arrives
    assert {k: D(v) for k, v in st["strategy_pnl"].items()} == {"directional": 0, "maker": D("4.2")}
    pr = st["portfolio_risk"]
    assert pr["var_limit"] == 50 and pr["var"] > 0 and pr["var_method"] == "monte_carlo"  # correlated: MC
    lines = portfolio_lines({"portfolio_risk": pr, "strategy_pnl": st["strategy_pnl"]})
    assert lines[0].startswith("VaR 95 %") and "/ 50.0 pUSD" in lines[0] and "correlation limit: 0.6" in lines[0]
    assert "correlation a ~ b: 0.3 (declared)" in lines[1]
    assert lines[2] == "strategy pnl: directional 0.00, maker 4.200"


async def test_strategy_daily_pnl_correlation_after_three_days() -> None:
    desk = Desk(check_interval_ns=3600 * S, max_trade_fraction="0.2", max_market_fraction="0.5",
                max_book_age_ns=None)
    await desk.start()
    for m in ("a", "b"):
        desk.market(m)
        desk.deep(f"{m}-yes", "0.50")
    await desk.step()
    for strategy, tok in (("s1", "a-yes"), ("s2", "b-yes")):
        desk.rt.inject(OrderIntent(time_ns=desk.rt.now_ns(), intent_id=f"i-{strategy}", strategy=strategy, legs=(
            IntentLeg(token_id=tok, market=tok[0], side=Side.BUY, price=D("0.50"), size=D(100)),)))
        await desk.step()
        desk.fill(tok, Side.BUY, "0.50", "100", coid=f"i-{strategy}:0")
    await desk.step()
    # b moves against a each day (b = 1 − a): s1's and s2's daily PnL are opposite, correlation −1
    for price in ("0.55", "0.52", "0.60", "0.58"):
        desk.deep("a-yes", price)
        desk.deep("b-yes", str(D(1) - D(price)))
        await desk.step(86_400)
    st = desk.ro.status()
    assert st["strategy_days"] >= 3
    # opposite day by day, except that both start half a tick below cost (deep books' mid): near −1
    assert st["strategy_correlation"]["s1~s2"] < -0.99
