"""Order preparation (request → signed V2 order + its hash) vs the SDK's own ``create_limit_order``.

The official SDK client talks to the loopback CLOB (127.0.0.1; market metadata is fetched once and
cached by the SDK, as in production). Paths, same requests, one run:

* ``sdk_create``   — ``AsyncSecureClient.create_limit_order``: the SDK's checks, draft, typed data
  and ``eth_account`` signature (no hash: the SDK does not give one);
* ``ours``         — ``PolymarketExecution._sign``: the SDK's checks and draft, then our cached
  signer (domain separator, type hash, key object), which yields the order hash as well;
* ``ours_before``  — what preparation was before: ``create_limit_order`` + ``client_order_hash``
  (typed data encoded twice more and a signature recovery to learn the contract);
* ``sign_sdk`` / ``sign_ours`` — signing alone, from the same draft: the SDK's ``_sign_order`` vs
  ``OrderSigner.sign``.

Then, with the SDK's salt and clock pinned, every order is signed by both and must come out
byte-identical (signature and every field), and our hash must equal ``client_order_hash`` of the
signed order; else the benchmark fails. CPU time (``time.process_time``), best of ``--repeat``.
Usage: ``uv run python bench/order_prepare.py [--orders N] [--repeat R]``; last line is JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from aiohttp import web
from eth_account import Account
from polymarket._internal.actions.orders import orders as sdk_orders
from polymarket._internal.actions.orders.limit import prepare_limit_order_draft, validate_limit_order_params
from pydantic import SecretStr

from protocols import MarketInfo, OrderRequest, Side, TimeInForce
from venues.polymarket.auth import PolymarketCredentials
from venues.polymarket.execution import PolymarketExecution, PolymarketExecutionConfig
from venues.polymarket.loopback.orders import build_order_app
from venues.polymarket.order_signer import OrderSigner
from venues.polymarket.sdk_env import loopback_environment
from venues.polymarket.signing import client_order_hash
from venues.sim.exchange import SimExchange

KEY = "0x" + "4c" * 32  # a deterministic test key, never funded anywhere
CONDITION = "0x" + "ab" * 32
YES = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
NO = "52114319501245915516055106046884209969926127482827954674443846427813813222426"


class _WallClock:
    def now_ns(self) -> int:
        return time.time_ns()

    def call_at(self, time_ns: int, callback: Callable[[], None]) -> None:
        asyncio.get_running_loop().call_later(max(0.0, (time_ns - time.time_ns()) / 1e9), callback)


def _requests(n: int) -> list[OrderRequest]:
    out = []
    for i in range(n):
        side = Side.BUY if i % 2 == 0 else Side.SELL
        price = Decimal(30 + i % 40) / 100
        out.append(OrderRequest(
            time_ns=time.time_ns(), client_order_id=f"b-{i}", account="bench", token_id=YES, market=CONDITION,
            side=side, price=price, size=Decimal(5 + i % 50), tif=TimeInForce.GTC,
        ))
    return out


async def _timed(reqs: list[OrderRequest], fn: Callable[[OrderRequest], Awaitable[Any]]) -> float:
    c0 = time.process_time()
    for r in reqs:
        await fn(r)
    return time.process_time() - c0


async def run(n: int, repeat: int) -> dict[str, Any]:
    ex_sim = SimExchange(scheduler=_WallClock())
    ex_sim.add_market(MarketInfo(
        time_ns=time.time_ns(), market=CONDITION, question="bench", token_ids=(YES, NO),
        tick_size=Decimal("0.01"), min_order_size=Decimal(5), fee_rate=Decimal("0.07"),
    ))
    app = build_order_app(ex_sim)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    env = loopback_environment(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/ws")
    addr = str(Account.from_key(KEY).address)
    creds = PolymarketCredentials(private_key=SecretStr(KEY), funder=addr)
    ex = await PolymarketExecution.connect(creds, environment=env, config=PolymarketExecutionConfig(account="bench"))
    try:
        c = ex.sdk_client
        ctx = c._ctx
        env_cfg = ex._env_config
        reqs = _requests(n)
        await c.create_limit_order(token_id=YES, price="0.5", size="5", side="BUY")  # metadata into the SDK cache

        async def sdk_create(r: OrderRequest) -> Any:
            return await c.create_limit_order(token_id=r.token_id, price=r.price, size=r.size, side=r.side.value)

        async def ours_before(r: OrderRequest) -> Any:
            signed = await sdk_create(r)
            return signed, client_order_hash(signed, env_cfg, neg_risk=r.neg_risk)

        async def ours(r: OrderRequest) -> Any:
            return await ex._sign(r)

        drafts = []
        for r in reqs:
            params = validate_limit_order_params(token_id=r.token_id, price=r.price, size=r.size, side=r.side.value)
            drafts.append(await prepare_limit_order_draft(ctx, params))
        signer = OrderSigner(ctx)

        async def sign_sdk_async() -> float:
            c0 = time.process_time()
            for d in drafts:
                await c._sign_order(d, post_only=False)
            return time.process_time() - c0

        async def sign_ours_async() -> float:
            c0 = time.process_time()
            for d in drafts:
                signer.sign(d, post_only=False)
            return time.process_time() - c0

        cpu: dict[str, float] = {}
        gc.collect()
        for _ in range(repeat):
            for name, fn in (("sdk_create", sdk_create), ("ours", ours), ("ours_before", ours_before)):
                t = await _timed(reqs, fn)
                cpu[name] = min(cpu.get(name, t), t)
            for name, afn in (("sign_sdk", sign_sdk_async), ("sign_ours", sign_ours_async)):
                t = await afn()
                cpu[name] = min(cpu.get(name, t), t)

        # byte-identical, with the SDK's salt and clock pinned per order
        orig_salt, orig_ts = sdk_orders._generate_salt, sdk_orders._current_timestamp_ms
        mismatches = 0
        try:
            for i, r in enumerate(reqs):
                sdk_orders._generate_salt = lambda i=i: 1000 + i  # type: ignore[misc]
                sdk_orders._current_timestamp_ms = lambda i=i: 1_790_000_000_000 + i  # type: ignore[misc]
                want = await sdk_create(r)
                got, h = await ours(r)
                if got != want or repr(got) != repr(want) or h != client_order_hash(want, env_cfg, neg_risk=False):
                    mismatches += 1
        finally:
            sdk_orders._generate_salt, sdk_orders._current_timestamp_ms = orig_salt, orig_ts
        return {"cpu": cpu, "mismatches": mismatches}
    finally:
        await ex.close()
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--orders", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    if args.orders < 1 or args.repeat < 1:
        print("error: --orders and --repeat must be at least 1", file=sys.stderr)
        return 2
    res = asyncio.run(run(args.orders, args.repeat))
    if res["mismatches"]:
        print(f"error: {res['mismatches']} of {args.orders} orders differ from the SDK's", file=sys.stderr)
        return 1
    cpu = res["cpu"]
    us = {k: round(v / args.orders * 1e6, 1) for k, v in cpu.items()}
    out = {
        "bench": "order_prepare",
        "orders": args.orders,
        "repeat": args.repeat,
        "us_per_order_cpu": us,
        "ours_over_sdk": round(cpu["ours"] / cpu["sdk_create"], 3),
        "before_over_sdk": round(cpu["ours_before"] / cpu["sdk_create"], 3),
        "sign_ours_over_sdk": round(cpu["sign_ours"] / cpu["sign_sdk"], 3),
        "byte_identical": True,
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
