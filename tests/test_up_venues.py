"""``polyagents up --venue paper|live``: the supervised Ray tree trading Polymarket (loopback).

The loopback Polymarket server runs in this test process on 127.0.0.1, in a thread of its own
(the control calls block, and the world actor — another process — must reach the server
meanwhile). It lists one neg-risk event whose YES asks sum, after fees, below 1 (see
``tests/loopback_society.py``), so the default tree with its default strategies finds a basket
through the real feed: Gamma discovery, CLOB REST books and the market WebSocket, all read by
the world actor's one shared ``PolymarketDataFeed``.

What is asserted is what the journal says against what the venue (and the loopback's order
side) says. Paper: the trader holds the basket, the fills are journalled once each, and nothing
reached the loopback's order side. Live: the same tree signs its orders with the SDK, the
loopback verifies them, and the exchange's fills and positions for the throwaway wallet equal
the journal's. The CLI refuses live without every safeguard in one line with exit code 2.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar, cast

import pytest
from loopback_society import (
    ASK_SIZE,
    DEEP_ASK,
    DEEP_SIZE,
    EVENT,
    MAKER,
    YES_ASK,
    leaks,
    loopback_server,
    needles,
)

from cluster.cli import main
from cluster.journal import SCHEMA, open_read_only
from protocols import MarketInfo, Side
from venues.polymarket.auth import ENV_API_KEY, ENV_API_PASSPHRASE, ENV_API_SECRET, ENV_FUNDER, ENV_PRIVATE_KEY
from venues.polymarket.execution import JsonlIdStore
from venues.polymarket.loopback.orders import orders_state
from venues.polymarket.loopback.server import LoopbackServer
from venues.polymarket.loopback.testing import market, order
from venues.sim.exchange import SimExchange

#: Bound on each wait for a condition (a hang guard on a loaded machine, not a timing assertion).
WAIT_S = 90.0
T = TypeVar("T")


class LoopbackThread:
    """The loopback server on its own event loop in a daemon thread; ``call`` runs a function
    there (the exchange and the server's state belong to that loop)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="loopback", daemon=True)
        self.thread.start()
        self.srv, self.ex = self.call(loopback_server)
        self.run(self.srv.start("127.0.0.1", 0))

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        async def inside() -> T:
            return fn(*args)

        result: T = self.run(inside())
        return result

    def close(self) -> None:
        try:
            self.run(self.srv.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)


@contextmanager
def loopback() -> Iterator[LoopbackThread]:
    lb = LoopbackThread()
    try:
        yield lb
    finally:
        lb.close()


def wait_for(what: str, cond: Callable[[], Any], timeout: float = WAIT_S) -> Any:
    """Poll until ``cond()`` is truthy; a failure names what never happened and the last view."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = cond()
        except Exception as exc:  # the tree may still be starting
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(0.2)
    raise AssertionError(f"never happened: {what} (last: {last!r})")


def list_event(ex: SimExchange, n: int = 3) -> list[MarketInfo]:
    """A neg-risk event of ``n`` outcomes whose YES is offered only dear (3 × 0.40 > 1): no
    basket yet, but each book shows the risk officer's minimum depth."""
    infos = [
        market(900 + i, neg_risk=True, event_id=EVENT, category="politics").model_copy(
            update={"question": f"Who wins the loopback election? Candidate {'ABCDEFG'[i]}"}
        )
        for i in range(n)
    ]
    ex.add_neg_risk_event(EVENT, infos, augmented=False)
    listed = [i for i in (ex.market_info(i.market) for i in infos) if i is not None]
    offer(ex, listed, DEEP_ASK, DEEP_SIZE)
    return listed


def offer(ex: SimExchange, infos: list[MarketInfo], price: str, size: str) -> None:
    for info in infos:
        ev = order(ex, MAKER, info, Side.SELL, price, size)
        assert ev.reason is None, ev


def agent(status: dict[str, Any], agent_id: str) -> dict[str, Any]:
    return next(a for a in status["agents"] if a["id"] == agent_id)


def trader(status: dict[str, Any]) -> dict[str, Any]:
    return agent(status, "trader")


def ready(status: dict[str, Any], tokens: int) -> bool:
    """Every agent running, the trader reconciled and the watcher holding every book: an
    opportunity that appears now is seen by a risk officer and a trader that are listening."""
    return (
        all(a["state"] == "running" for a in status["agents"])
        and (trader(status)["status"] or {}).get("reconciled") is True
        and (agent(status, "market_watcher")["status"] or {}).get("valid") == tokens
    )


def holds_basket(status: dict[str, Any], tokens: set[str]) -> dict[str, Any] | None:
    """The trader's status once all three legs are FILLED and booked as positions."""
    st = trader(status)["status"] or {}
    done = st.get("orders_by_state") == {"FILLED": len(tokens)} and set(st.get("positions", {})) == tokens
    return st if done else None


def journal_rows(run_dir: Path, sql: str) -> list[tuple[Any, ...]]:
    con = open_read_only(run_dir / "journal.duckdb")
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def basket(infos: list[MarketInfo]) -> set[str]:
    return {i.token_ids[0] for i in infos}


def assert_journal_holds_the_basket(run_dir: Path, tokens: set[str]) -> dict[str, str]:
    """Three legs written ahead once each, each FILLED at the basket price, each fill booked once;
    returns client order id → token."""
    orders = journal_rows(run_dir, "SELECT client_order_id, token_id FROM orders WHERE agent = 'trader'")
    coids = [c for c, _ in orders]
    assert len(coids) == len(set(coids)) == len(tokens), orders
    assert {t for _, t in orders} == tokens
    fills = journal_rows(
        run_dir, "SELECT fill_id, client_order_id, token_id, price, size FROM fills WHERE agent = 'trader'"
    )
    assert len({f[0] for f in fills}) == len(fills), "a fill journalled twice"
    per_order: dict[str, Decimal] = {}
    for _fid, coid, _tok, price, size in fills:
        assert Decimal(price) == Decimal(YES_ASK)
        per_order[coid] = per_order.get(coid, Decimal(0)) + Decimal(size)
    assert per_order == dict.fromkeys(coids, Decimal(ASK_SIZE))
    last = dict(journal_rows(run_dir, "SELECT client_order_id, status FROM order_events WHERE agent = 'trader' "
                                      "ORDER BY rowid"))
    assert {last[c] for c in coids} == {"FILLED"}
    return dict(orders)


@pytest.mark.slow
def test_up_paper_trades_the_loopback_basket_through_the_ray_tree_and_nothing_reaches_the_order_side(
    ray_session: str, tmp_path: Path
) -> None:
    import ray

    from cluster.ray_runtime import control

    ns = f"{ray_session}-up-paper"
    with loopback() as lb:
        infos = lb.call(list_event, lb.ex)
        tokens = basket(infos)
        info = control.start_tree(
            namespace=ns, run_dir=tmp_path,
            world={"venue": "paper", "gamma_url": lb.srv.gamma_url, "clob_url": lb.srv.clob_url,
                   "data_url": lb.srv.data_url, "ws_url": lb.srv.ws_prefix},
            settings={"ping_interval_s": 0.2},
        )
        try:
            assert info["world"]["venue"] == "paper"
            wait_for("the tree up, reconciled and watching", lambda: ready(control.tree_status(ns), 2 * len(infos)))
            lb.call(offer, lb.ex, infos, YES_ASK, ASK_SIZE)  # the basket appears on the live feed
            st = wait_for("the trader holds the basket on paper", lambda: holds_basket(control.tree_status(ns), tokens))
            assert all(p.startswith(f"{ASK_SIZE}@") for p in st["positions"].values()), st["positions"]
            totals = control.tree_status(ns)["totals"]
            # the world's paper venue holds what the trader booked
            assert {(p["account"], p["token_id"], Decimal(p["size"])) for p in totals["positions"]} == {
                ("us", t, Decimal(ASK_SIZE)) for t in tokens
            }
            world = ray.get_actor("world", namespace=ns)
            world_info = cast(dict[str, Any], ray.get(world.info.remote()))
            assert world_info["venue"] == "paper" and world_info["published"] > 0
            # each market event reached the routing once, from the feed; the paper venue published
            # only what it did itself (orders, fills), never its copy of the feed's payloads
            kinds = world_info["published_kinds"]
            assert kinds.get("venue:polymarket:paper BookSnapshot", 0) >= 2 * len(infos), kinds
            ours = {k.split(" ")[1] for k in kinds if k.startswith("venue:paper:us ")}
            assert ours and ours <= {"OrderEvent", "Fill", "Position", "Balance", "Settlement"}, kinds
            assert {m.market for m in ray.get(world.markets.remote())} >= {i.market for i in infos}
            venue_coids = set(ray.get(world.order_ids.remote("us")))
        finally:
            control.stop_tree(ns)
        journalled = assert_journal_holds_the_basket(tmp_path, tokens)
        assert venue_coids == set(journalled), "the paper venue and the journal disagree on the orders"
        # paper stays paper: nothing reached the loopback's order side, the maker's offers stand
        st_orders = lb.call(orders_state, lb.srv.app)
        assert st_orders.accepted_posts == 0 and st_orders.rejected == {} and st_orders.keys == {}
        for i in infos:
            top = lb.call(lb.ex.top, i.token_ids[0])
            assert (top.best_ask, top.best_ask_size) == (Decimal(YES_ASK), Decimal(ASK_SIZE))
        assert lb.call(lb.ex.trades, MAKER) == []


def throwaway_environ(srv: LoopbackServer, ex: SimExchange) -> tuple[dict[str, str], str]:
    """A fresh key (never funded anywhere real) with an API key the loopback CLOB knows; the
    wallet's exchange account holds the desk's bankroll. Returns the environment and address."""
    from eth_account import Account

    acct = Account.create()
    key = acct.key.hex()
    key = key if key.startswith("0x") else "0x" + key
    st = orders_state(srv.app)
    ex.open_account(acct.address, Decimal(1000))
    api = st.derive_key(acct.address, 0)
    st.register_key(api)
    env = {ENV_PRIVATE_KEY: key, ENV_API_KEY: api.key, ENV_API_SECRET: api.secret,
           ENV_API_PASSPHRASE: api.passphrase, ENV_FUNDER: acct.address}
    return env, acct.address


@pytest.mark.slow
def test_up_live_signs_the_basket_through_the_ray_tree_and_the_exchange_equals_the_journal(
    ray_session: str, tmp_path: Path
) -> None:
    import ray

    from cluster.ray_runtime import control

    ns = f"{ray_session}-up-live"
    with loopback() as lb:
        infos = lb.call(list_event, lb.ex)
        tokens = basket(infos)
        env, address = lb.call(throwaway_environ, lb.srv, lb.ex)
        control.start_tree(
            namespace=ns, run_dir=tmp_path,
            world={"venue": "live", "clob_url": lb.srv.clob_url, "gamma_url": lb.srv.gamma_url,
                   "data_url": lb.srv.data_url, "ws_url": lb.srv.ws_prefix, "live": True,
                   "i_understand_real_money": True},
            settings={"ping_interval_s": 0.2},
            # a rehearsal's throwaway key reaches only the world's worker (real ones: its env)
            world_options={"runtime_env": {"env_vars": env}},
        )
        try:
            wait_for("the tree up, reconciled and watching", lambda: ready(control.tree_status(ns), 2 * len(infos)))
            lb.call(offer, lb.ex, infos, YES_ASK, ASK_SIZE)
            wait_for("the trader holds the basket live", lambda: holds_basket(control.tree_status(ns), tokens))
            status_text = json.dumps(control.tree_status(ns), default=str)
            world = ray.get_actor("world", namespace=ns)
            world_repr = repr(ray.get(world.info.remote()))
        finally:
            control.stop_tree(ns)
        journalled = assert_journal_holds_the_basket(tmp_path, tokens)
        # the loopback CLOB accepted exactly the journalled orders, once each, signed by the wallet
        st_orders = lb.call(orders_state, lb.srv.app)
        assert st_orders.accepted_posts == len(journalled) and st_orders.rejected == {}
        ours = {h.lower() for h, m in st_orders.meta.items() if m.address.lower() == address.lower()}
        # each order signed once, its hash written ahead beside the journal (the default id store)
        records = JsonlIdStore(tmp_path / "order-ids.jsonl").all()
        assert sorted(r.client_order_id for r in records) == sorted(journalled)
        assert {r.venue_order_id.lower() for r in records} == ours
        held = {p.token_id: p.size for p in lb.call(lb.ex.positions, address)}
        assert held == dict.fromkeys(tokens, Decimal(ASK_SIZE))
        # no secret in the journal, the status JSON or the world's info
        rows = [row for table in SCHEMA for row in journal_rows(tmp_path, f"SELECT * FROM {table}")]
        dump = "\n".join("|".join(str(v) for v in row) for row in rows)
        assert "FILLED" in dump and "FILLED" in status_text  # the scan reads real text
        secrets = needles(env[ENV_PRIVATE_KEY], env[ENV_API_SECRET], env[ENV_API_PASSPHRASE])
        assert leaks([("journal", dump), ("status --json", status_text), ("world", world_repr)], secrets) == []


def test_up_venue_live_without_flags_or_credentials_refuses_in_one_line_with_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in (ENV_PRIVATE_KEY, ENV_API_KEY, ENV_API_SECRET, ENV_API_PASSPHRASE, ENV_FUNDER):
        monkeypatch.delenv(name, raising=False)
    assert main(["up", "--venue", "live"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "--live" in err[0] and "--i-understand-real-money" in err[0] and ENV_PRIVATE_KEY in err[0]

    assert main(["up", "--venue", "live", "--live", "--i-understand-real-money"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert ENV_PRIVATE_KEY in line and "--live," not in line


def test_up_refuses_real_money_flags_off_live_and_a_bad_venue_section_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["up", "--venue", "paper", "--live"]) == 2
    assert "need --venue live" in capsys.readouterr().err
    cfg = tmp_path / "up.yaml"
    cfg.write_text("venue: {kind: moon}\n")
    assert main(["up", "--config", str(cfg)]) == 2
    assert "venue.kind" in capsys.readouterr().err
    cfg.write_text("venue: {kind: paper, polymarket_url: 'ftp://x'}\n")
    assert main(["up", "--config", str(cfg)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "gamma_url" in line or "polymarket_url" in line or "http" in line, line
    cfg.write_text("venue: {kind: paper, colour: red}\n")
    assert main(["up", "--config", str(cfg)]) == 2
    assert "colour" in capsys.readouterr().err
    cfg.write_text("world: {scenario: arbitrage_bursts}\nvenue: {kind: paper}\n")
    assert main(["up", "--config", str(cfg)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "scenario" in line and "simulated exchange" in line, line


def test_live_world_without_credentials_in_its_worker_refuses_and_leaves_no_world_behind(
    ray_session: str, tmp_path: Path
) -> None:
    """The CLI's gate reads the CLI's environment; the world reads its own worker's. A worker
    without the key refuses at setup with the variable named, and the half-made world is gone."""
    import ray

    from cluster.errors import UserError
    from cluster.ray_runtime import control

    ns = f"{ray_session}-up-live-refused"
    blank = {name: "" for name in (ENV_PRIVATE_KEY, ENV_API_KEY, ENV_API_SECRET, ENV_API_PASSPHRASE, ENV_FUNDER)}
    with pytest.raises(UserError, match=ENV_PRIVATE_KEY) as refused:
        control.start_tree(
            namespace=ns, run_dir=tmp_path,
            world={"venue": "live", "polymarket_url": "http://127.0.0.1:9", "live": True,
                   "i_understand_real_money": True},
            world_options={"runtime_env": {"env_vars": blank}},
        )
    assert "--live" not in str(refused.value) and len(str(refused.value).splitlines()) == 1
    with pytest.raises(ValueError):
        ray.get_actor("world", namespace=ns)
    with pytest.raises(ValueError):
        ray.get_actor("root", namespace=ns)


def test_config_venue_section_reaches_the_world_and_the_flag_wins_over_its_kind(tmp_path: Path) -> None:
    from cluster.commands.runtime_control import VenueKind, _load_config, _venue_world
    from cluster.ray_runtime.services import WorldConfig

    cfg_file = tmp_path / "up.yaml"
    cfg_file.write_text(
        "world: {trader_cash: 500}\n"
        "venue: {kind: paper, polymarket_url: 'http://127.0.0.1:8765', paper_latency_ms: 50}\n"
    )
    cfg = _load_config(cfg_file)
    world = WorldConfig.model_validate(_venue_world(cfg, None, False, False, str(cfg_file)))
    assert (world.venue, world.trader_cash, world.paper_latency_ms) == ("paper", Decimal(500), 50)
    data = world.data_config()
    assert (data.gamma_url, data.clob_url, data.data_url) == ("http://127.0.0.1:8765",) * 3
    assert data.market_ws_url == "ws://127.0.0.1:8765/ws/market"
    # the flag wins: --venue sim on the same file is the simulated exchange
    assert WorldConfig.model_validate(_venue_world(cfg, VenueKind.sim, False, False, "f")).venue == "sim"
    # no URL given: the real Polymarket hosts
    prod = WorldConfig(venue="paper").data_config()
    assert prod.gamma_url == "https://gamma-api.polymarket.com"
    assert prod.market_ws_url.startswith("wss://ws-subscriptions-clob.polymarket.com/")


def test_separate_api_origins_reach_the_shared_feed_and_each_accounts_venue_settings() -> None:
    from cluster.ray_runtime.services import WorldConfig, _venue_settings

    world = WorldConfig(venue="paper", clob_url="http://127.0.0.1:9001", gamma_url="http://127.0.0.1:9002",
                        data_url="http://127.0.0.1:9003")
    data = world.data_config()
    assert (data.clob_url, data.gamma_url, data.data_url) == (
        "http://127.0.0.1:9001", "http://127.0.0.1:9002", "http://127.0.0.1:9003"
    )
    # the sockets live on the rehearsal's CLOB, never production's when a CLOB URL is given
    assert data.market_ws_url == "ws://127.0.0.1:9001/ws/market"
    s = _venue_settings(world, "us")
    assert (s.clob_url, s.gamma_url, s.data_url, s.ws_url) == (
        "http://127.0.0.1:9001", "http://127.0.0.1:9002", "http://127.0.0.1:9003", "ws://127.0.0.1:9001/ws"
    )
