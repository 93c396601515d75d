"""Polymarket's official V2 client (``py-clob-client-v2``) against the loopback: every loopback
endpoint the client calls must answer with the document the client expects.

Why: our own clients and the loopback were written by the same hands, so they can agree on a
shape the venue never sends. The official client is the venue's own idea of its API: if it reads
the loopback's CLOB (its paginated ``/markets``, ``/markets/{condition_id}``, ``/fee-rate``, the
books and prices, L1/L2 auth, signed V2 orders, order and trade records), the loopback speaks the
venue's dialect, not ours.

The client is not a dependency of the project: it is installed into a throwaway venv under /tmp
(``--venv``; reused when already there) and driven from a child process there. The expected
values come from the simulated exchange behind the loopback (its books, markets, fee schedules,
orders and positions), not from the loopback's own serialisers.

    uv run python tools/check_v2_client.py [--venv /tmp/polyagents-v2-client] [--json]

Exit status: 0 every check passed; 1 some check failed (each named); 3 the client could not be
installed (no network or no such package).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from eth_account import Account  # noqa: E402

from protocols import BookSnapshot, MarketInfo, Side  # noqa: E402
from venues.polymarket.loopback import LoopbackServer  # noqa: E402
from venues.polymarket.loopback.testing import market, order  # noqa: E402

PACKAGE = "py-clob-client-v2"
#: The release this check was written against (``--client-version`` to try another).
CLIENT_VERSION = "1.2.1"
DEFAULT_VENV = Path("/tmp/polyagents-v2-client")
CHAIN_ID = 137
NOT_INSTALLABLE = 3

#: Runs inside the client's venv: calls each method, prints one JSON object {call: result}.
PROBE = r'''
import dataclasses, json, sys, traceback
from py_clob_client_v2.client import ClobClient
from py_clob_client_v2.clob_types import ApiCreds, BookParams, OpenOrderParams, OrderArgsV2, TradeParams

cfg = json.loads(sys.argv[1])
out = {}

def call(name, fn):
    try:
        value = fn()
        if dataclasses.is_dataclass(value):
            value = dataclasses.asdict(value)
        out[name] = {"ok": True, "value": value}
    except Exception as exc:  # the check names it; the probe goes on
        out[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:500]}
    return out[name].get("value")

host, yes, untraded, cid = cfg["clob"], cfg["token"], cfg["untraded_token"], cfg["condition_id"]
pub = ClobClient(host, chain_id=cfg["chain_id"])
call("get_version", pub.get_version)
call("get_server_time", pub.get_server_time)

def all_markets():
    pages, cursor = [], "MA=="
    while cursor != "LTE=" and len(pages) < 50:
        page = pub.get_markets(next_cursor=cursor)
        pages.append(page)
        cursor = page["next_cursor"]
    return pages

call("get_markets", all_markets)
call("get_market", lambda: pub.get_market(cid))
call("get_order_book", lambda: pub.get_order_book(yes))
call("get_order_book_untraded", lambda: pub.get_order_book(untraded))
call("get_order_books", lambda: pub.get_order_books([BookParams(token_id=yes), BookParams(token_id=untraded)]))
call("get_midpoint", lambda: pub.get_midpoint(yes))
call("get_price_buy", lambda: pub.get_price(yes, "BUY"))
call("get_price_sell", lambda: pub.get_price(yes, "SELL"))
call("get_spread", lambda: pub.get_spread(yes))
call("get_last_trade_price", lambda: pub.get_last_trade_price(yes))
call("get_tick_size", lambda: pub.get_tick_size(yes))
call("get_neg_risk", lambda: pub.get_neg_risk(yes))
call("get_fee_rate_bps", lambda: pub.get_fee_rate_bps(yes))
call("get_clob_market_info", lambda: pub.get_clob_market_info(cid))

l1 = ClobClient(host, chain_id=cfg["chain_id"], key=cfg["key"], signature_type=0, funder=cfg["address"])
created = call("create_api_key", l1.create_api_key)
call("derive_api_key", l1.derive_api_key)
if created:
    creds = ApiCreds(**created)
    l2 = ClobClient(host, chain_id=cfg["chain_id"], key=cfg["key"], creds=creds, signature_type=0,
                    funder=cfg["address"])
    call("get_api_keys", l2.get_api_keys)
    rest = call("post_order_resting", lambda: l2.create_and_post_order(
        OrderArgsV2(token_id=yes, price=cfg["rest_price"], size=cfg["rest_size"], side="BUY")))
    call("get_open_orders", lambda: l2.get_open_orders(OpenOrderParams(market=cid)))
    if rest and rest.get("orderID"):
        call("get_order", lambda: l2.get_order(rest["orderID"]))
    call("post_order_crossing", lambda: l2.create_and_post_order(
        OrderArgsV2(token_id=yes, price=cfg["cross_price"], size=cfg["cross_size"], side="BUY")))
    call("get_trades", lambda: l2.get_trades(TradeParams(market=cid)))
    call("cancel_all", l2.cancel_all)
print(json.dumps(out, default=str))
'''


# -- the client's venv --------------------------------------------------------------------------


def ensure_client(venv: Path, version: str) -> Path:
    """The venv's python with the client importable; installs it when missing. Raises
    ``RuntimeError`` (with the installer's last words) when it cannot be installed."""
    python = venv / "bin" / "python"
    probe = [str(python), "-c", f"import importlib.metadata as m, sys; sys.exit(m.version('{PACKAGE}') != '{version}')"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    uv = shutil.which("uv")
    steps: list[list[str]]
    if uv:
        here = f"{sys.version_info[0]}.{sys.version_info[1]}"
        steps = [[uv, "venv", "-q", "--allow-existing", str(venv), "--python", here],
                 [uv, "pip", "install", "-q", "--python", str(python), f"{PACKAGE}=={version}"]]
    else:
        steps = [[sys.executable, "-m", "venv", str(venv)],
                 [str(python), "-m", "pip", "install", "-q", f"{PACKAGE}=={version}"]]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise RuntimeError(f"{' '.join(step[:3])}... failed: " + " | ".join(tail))
    return python


# -- the loopback, on its own thread (the probe is a blocking child process) --------------------


@contextmanager
def loopback_thread() -> Iterator[tuple[LoopbackServer, Callable[..., Any]]]:
    loop = asyncio.new_event_loop()
    srv = LoopbackServer()
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(srv.start())
        ready.set()
        loop.run_forever()

    t = threading.Thread(target=run, daemon=True, name="loopback")
    t.start()
    if not ready.wait(60):
        raise RuntimeError("the loopback did not start")

    def on_loop(fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn`` on the loopback's loop (the exchange is not thread-safe)."""

        async def call() -> Any:
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(call(), loop).result(60)

    try:
        yield srv, on_loop
    finally:
        asyncio.run_coroutine_threadsafe(srv.stop(), loop).result(60)
        loop.call_soon_threadsafe(loop.stop)
        t.join(60)
        loop.close()


def seed(srv: LoopbackServer) -> tuple[MarketInfo, MarketInfo]:
    """Two markets: one with a two-sided book and a trade, one that never traded."""
    ex = srv.exchange
    traded, untraded = market(41, category="crypto"), market(42, category="sports", neg_risk=False)
    for info in (traded, untraded):
        ex.add_market(info)
    for price in ("0.40", "0.42"):
        order(ex, "mm", traded, Side.BUY, price, "50")
    for price in ("0.47", "0.45"):
        order(ex, "mm", traded, Side.SELL, price, "50")
    order(ex, "taker", traded, Side.BUY, "0.45", "10")  # one trade: a last trade price
    order(ex, "mm", untraded, Side.BUY, "0.30", "20")
    return traded, untraded


# -- checks --------------------------------------------------------------------------------------


class Checks:
    def __init__(self, results: dict[str, Any]) -> None:
        self.results = results
        self.rows: list[tuple[str, bool, str]] = []

    def value(self, call: str) -> Any:
        r = self.results.get(call)
        if r is None:
            raise AssertionError("not called")
        if not r["ok"]:
            raise AssertionError(r["error"])
        return r["value"]

    def check(self, name: str, fn: Callable[[], str | None]) -> None:
        try:
            detail = fn() or ""
            self.rows.append((name, True, detail))
        except Exception as exc:
            self.rows.append((name, False, f"{type(exc).__name__}: {exc}"[:300]))

    @property
    def failed(self) -> list[str]:
        return [n for n, ok, _ in self.rows if not ok]


def _dec(v: Any) -> Decimal:
    return Decimal(str(v))


def run_checks(results: dict[str, Any], srv: LoopbackServer, on_loop: Callable[..., Any], cfg: dict[str, Any],
               traded: MarketInfo, untraded: MarketInfo, book: BookSnapshot) -> Checks:
    """``book``: the exchange's book of the traded YES before the client's own orders moved it."""
    ex: Any = srv.exchange  # the default SimExchange (orders, positions beyond the loopback's protocol)
    c = Checks(results)
    yes = traded.token_ids[0]
    bid, ask = book.bids[0][0], book.asks[0][0]

    def version() -> str:
        assert c.value("get_version") == 2
        return "2"

    def server_time() -> str:
        t = int(c.value("get_server_time"))
        assert abs(t - time.time()) < 600, t
        return str(t)

    def markets() -> str:
        pages = c.value("get_markets")
        assert pages[-1]["next_cursor"] == "LTE=" and all(set(p) >= {"data", "next_cursor"} for p in pages)
        rows = [m for p in pages for m in p["data"]]
        listed = {i.market: i for i in on_loop(ex.markets)}
        assert {m["condition_id"] for m in rows} == set(listed), "not every listed market"
        assert not any("conditionId" in m or "clobTokenIds" in m for m in rows), "Gamma's document, not the CLOB's"
        for m in rows:
            assert [t["token_id"] for t in m["tokens"]] == list(listed[m["condition_id"]].token_ids)
        return f"{len(rows)} markets in {len(pages)} page(s)"

    def one_market() -> str:
        m = c.value("get_market")
        assert m["condition_id"] == traded.market and m["question"] == traded.question
        assert [(t["token_id"], t["outcome"]) for t in m["tokens"]] == list(
            zip(traded.token_ids, traded.outcomes, strict=True))
        assert _dec(m["minimum_tick_size"]) == traded.tick_size and m["neg_risk"] == traded.neg_risk
        return m["market_slug"]

    def order_book() -> str:
        b = c.value("get_order_book")
        assert b["asset_id"] == yes and b["market"] == traded.market
        got_bids = sorted((_dec(lv["price"]), _dec(lv["size"])) for lv in b["bids"])
        got_asks = sorted((_dec(lv["price"]), _dec(lv["size"])) for lv in b["asks"])
        assert got_bids == sorted(book.bids) and got_asks == sorted(book.asks)
        assert _dec(b["tick_size"]) == traded.tick_size and _dec(b["min_order_size"]) == traded.min_order_size
        assert book.last_trade_price is not None and _dec(b["last_trade_price"]) == book.last_trade_price
        return f"{len(got_bids)} bids, {len(got_asks)} asks"

    def untraded_book() -> str:
        b = c.value("get_order_book_untraded")
        assert b["asset_id"] == untraded.token_ids[0] and b["last_trade_price"] == ""  # the venue's quirk
        return 'last_trade_price ""'

    def order_books() -> str:
        bs = c.value("get_order_books")
        assert [b["asset_id"] for b in bs] == [yes, untraded.token_ids[0]]
        return f"{len(bs)} books"

    def prices() -> str:
        assert _dec(c.value("get_midpoint")["mid"]) == (bid + ask) / 2
        assert _dec(c.value("get_price_buy")["price"]) == bid
        assert _dec(c.value("get_price_sell")["price"]) == ask
        assert _dec(c.value("get_spread")["spread"]) == ask - bid
        last = c.value("get_last_trade_price")
        assert _dec(last["price"]) == book.last_trade_price
        return f"bid {bid} ask {ask} last {last['price']}"

    def market_params() -> str:
        assert _dec(c.value("get_tick_size")) == traded.tick_size
        assert c.value("get_neg_risk") is traded.neg_risk
        assert int(c.value("get_fee_rate_bps")) == traded.fees.rate_bps > 0
        info = c.value("get_clob_market_info")
        assert [t["t"] for t in info["t"]] == list(traded.token_ids) and _dec(info["mts"]) == traded.tick_size
        return f"fee {traded.fees.rate_bps} bps, tick {traded.tick_size}"

    def api_keys() -> str:
        created = c.value("create_api_key")
        assert c.value("derive_api_key") == created, "derive does not give back the created key"
        keys = c.value("get_api_keys")
        assert created["api_key"] in keys["apiKeys"]
        return "L1 create/derive, L2 list"

    def resting_order() -> str:
        resp = c.value("post_order_resting")
        assert resp["success"] is True and resp["status"] == "live", resp
        oid = resp["orderID"]
        at_exchange = on_loop(ex.order, cfg["address"], oid)
        assert at_exchange is not None and at_exchange.price == _dec(cfg["rest_price"])
        assert at_exchange.size == _dec(cfg["rest_size"]) and at_exchange.side is Side.BUY
        opened = c.value("get_open_orders")
        assert [o["id"] for o in opened] == [oid]
        one = c.value("get_order")
        assert one["id"] == oid and _dec(one["original_size"]) == _dec(cfg["rest_size"])
        return f"order {oid[:10]}... rests"

    def crossing_order() -> str:
        resp = c.value("post_order_crossing")
        assert resp["success"] is True and resp["status"] == "matched", resp
        trades = c.value("get_trades")
        ours = [t for t in trades if t["taker_order_id"] == resp["orderID"]]
        assert ours and sum(_dec(t["size"]) for t in ours) == _dec(cfg["cross_size"])
        held = {p.token_id: p.size for p in on_loop(ex.positions, cfg["address"])}
        assert held == {yes: _dec(cfg["cross_size"])}, held
        return f"{len(ours)} trade(s), {held[yes]} shares held"

    def cancel_all() -> str:
        resp = c.value("cancel_all")
        rest_id = c.value("post_order_resting")["orderID"]
        assert rest_id in resp["canceled"], resp
        assert on_loop(ex.open_orders, cfg["address"]) == []
        return f"{len(resp['canceled'])} cancelled"

    for name, fn in [("GET /version", version), ("GET /time", server_time), ("GET /markets (cursor)", markets),
                     ("GET /markets/{condition_id}", one_market), ("GET /book", order_book),
                     ("GET /book (never traded)", untraded_book), ("POST /books", order_books),
                     ("GET /midpoint /price /spread /last-trade-price", prices),
                     ("GET /tick-size /neg-risk /fee-rate /clob-markets", market_params),
                     ("L1 /auth/api-key /auth/derive-api-key, L2 /auth/api-keys", api_keys),
                     ("POST /order (resting), GET /data/orders, /data/order", resting_order),
                     ("POST /order (crossing), GET /data/trades", crossing_order),
                     ("DELETE /cancel-all", cancel_all)]:
        c.check(name, fn)
    return c


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--venv", type=Path, default=DEFAULT_VENV, help="throwaway venv for the client")
    ap.add_argument("--client-version", default=CLIENT_VERSION)
    ap.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    args = ap.parse_args(argv)
    try:
        python = ensure_client(args.venv, args.client_version)
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        print(f"error: cannot install {PACKAGE}=={args.client_version}: {exc}", file=sys.stderr)
        return NOT_INSTALLABLE
    wallet = Account.create()
    key = wallet.key.hex()
    key = key if key.startswith("0x") else "0x" + key
    with loopback_thread() as (srv, on_loop):
        traded, untraded = on_loop(seed, srv)
        sim: Any = srv.exchange  # the default SimExchange
        on_loop(sim.open_account, wallet.address, Decimal(1000))
        cfg = {"clob": srv.clob_url, "chain_id": CHAIN_ID, "key": key, "address": wallet.address,
               "token": traded.token_ids[0], "untraded_token": untraded.token_ids[0],
               "condition_id": traded.market, "rest_price": 0.30, "rest_size": 10.0,
               "cross_price": 0.45, "cross_size": 5.0}
        before = on_loop(srv.exchange.book, traded.token_ids[0])
        env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
        done = subprocess.run([str(python), "-c", PROBE, json.dumps(cfg)], capture_output=True, text=True,
                              timeout=300, env=env)
        if done.returncode != 0:
            print(f"error: the client probe failed:\n{done.stderr[-2000:]}", file=sys.stderr)
            return 1
        results = json.loads(done.stdout.strip().splitlines()[-1])
        checks = run_checks(results, srv, on_loop, cfg, traded, untraded, before)
    if args.json:
        print(json.dumps({"client": f"{PACKAGE}=={args.client_version}", "failed": checks.failed,
                          "checks": [{"name": n, "ok": ok, "detail": d} for n, ok, d in checks.rows]}))
    else:
        print(f"{PACKAGE}=={args.client_version} against the loopback CLOB")
        for name, ok, detail in checks.rows:
            print(f"  {'PASS' if ok else 'FAIL'}  {name:<60} {detail}")
        print(f"{len(checks.rows) - len(checks.failed)}/{len(checks.rows)} passed")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
