"""A loopback CLOB (order side + user channel) over a real SimExchange, on 127.0.0.1, for the
execution tests. Not a test module itself."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from aiohttp import web
from eth_account import Account
from pydantic import SecretStr

from protocols import MarketInfo, OrderRequest, Side, TimeInForce
from venues.polymarket.auth import PolymarketCredentials
from venues.polymarket.execution import OrderIdStore, PolymarketExecution, PolymarketExecutionConfig
from venues.polymarket.loopback.orders import OrdersState, build_order_app, orders_state
from venues.polymarket.sdk_env import loopback_environment
from venues.sim.exchange import SimExchange

# Deterministic test keys (never funded anywhere real).
TRADER_KEY = "0x" + "4c" * 32
OTHER_KEY = "0x" + "5d" * 32
CONDITION = "0x" + "ab" * 32
YES = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
NO = "52114319501245915516055106046884209969926127482827954674443846427813813222426"


class WallClock:
    def now_ns(self) -> int:
        return time.time_ns()

    def call_at(self, time_ns: int, callback: Callable[[], None]) -> None:
        delay = max(0.0, (time_ns - time.time_ns()) / 1e9)
        asyncio.get_running_loop().call_later(delay, callback)


def market_info(tick: str = "0.01", neg_risk: bool = False) -> MarketInfo:
    return MarketInfo(
        time_ns=time.time_ns(),
        market=CONDITION,
        question="Will the loopback hold?",
        token_ids=(YES, NO),
        tick_size=Decimal(tick),
        min_order_size=Decimal(5),
        neg_risk=neg_risk,
        fee_rate=Decimal("0.07"),
    )


@dataclass
class Loopback:
    exchange: SimExchange
    app: web.Application
    runner: web.AppRunner
    base_url: str
    ws_url: str

    @property
    def state(self) -> OrdersState:
        return orders_state(self.app)

    def maker(self, account: str, side: Side, price: str, size: str, token: str = YES) -> None:
        """Rest liquidity from another account straight in the engine."""
        if not self.exchange.has_account(account):
            self.exchange.open_account(account, Decimal(100_000))
            self.exchange.split(account, CONDITION, Decimal(1_000))
        ev = self.exchange.submit(
            account,
            OrderRequest(
                time_ns=time.time_ns(),
                client_order_id=f"{account}-{len(self.exchange.open_orders(account))}-{price}-{side}",
                account=account,
                token_id=token,
                market=CONDITION,
                side=side,
                price=Decimal(price),
                size=Decimal(size),
                tif=TimeInForce.GTC,
            ),
        )
        assert ev.reason is None, ev

    async def close(self) -> None:
        await self.runner.cleanup()


async def start_loopback(tick: str = "0.01", *, quirks: bool = True) -> Loopback:
    """``quirks``: frames as the live venue sends them (the default) or as its schema documents."""
    ex = SimExchange(scheduler=WallClock())
    ex.add_market(market_info(tick))
    app = build_order_app(ex, quirks=quirks)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return Loopback(ex, app, runner, f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/ws")


def address_of(key: str) -> str:
    return str(Account.from_key(key).address)


async def connect(lb: Loopback, key: str = TRADER_KEY, id_store: OrderIdStore | None = None) -> PolymarketExecution:
    env = loopback_environment(lb.base_url, lb.ws_url)
    creds = PolymarketCredentials(private_key=SecretStr(key), funder=address_of(key))
    return await PolymarketExecution.connect(
        creds, environment=env, config=PolymarketExecutionConfig(account="trader"), id_store=id_store
    )


def request(
    coid: str,
    side: Side,
    price: str,
    size: str,
    tif: TimeInForce = TimeInForce.GTC,
    **kw: object,
) -> OrderRequest:
    return OrderRequest(
        time_ns=time.time_ns(),
        client_order_id=coid,
        account="trader",
        token_id=YES,
        market=CONDITION,
        side=side,
        price=Decimal(price),
        size=Decimal(size),
        tif=tif,
        **kw,  # type: ignore[arg-type]
    )
