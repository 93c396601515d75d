"""Which venue a run trades on, and the gate in front of real money.

``make_venue(kind, settings)`` returns a ``protocols.VenuePort``:

* ``"sim"``   — the simulated exchange (``venues.sim.SimVenue``),
* ``"paper"`` — live Polymarket data with simulated fills (``venues.paper.PaperVenue``); the
  default for ``--venue polymarket``,
* ``"live"``  — the real CLOB through the official SDK (``PolymarketLiveVenue``),
* ``"polymarket"`` — paper, unless a live flag is set (then exactly as ``"live"``).

Live is refused unless ``live=True`` **and** ``i_understand_real_money=True`` **and** the
credentials are in the environment; the refusal (``LiveTradingRefused``) names everything that
is missing at once, so the CLI can print one line and exit non-zero.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from protocols import (
    Balance,
    BookSnapshot,
    FeeSchedule,
    Fill,
    MarketInfo,
    OrderEvent,
    OrderRequest,
    Position,
    Sink,
    VenuePort,
    VenueUnavailable,
)
from venues.paper import PaperConfig, PaperVenue
from venues.polymarket.auth import (
    ENV_PRIVATE_KEY,
    MissingCredentials,
    PolymarketCredentials,
    credentials_from_env,
)
from venues.polymarket.http import PolymarketApiError

log = logging.getLogger(__name__)

VenueKind = Literal["sim", "paper", "live", "polymarket"]


class LiveTradingRefused(Exception):
    """Live trading was requested without every safeguard; ``missing`` lists each one."""

    def __init__(self, missing: list[str]) -> None:
        self.missing = list(missing)
        super().__init__("live trading refused: missing " + ", ".join(self.missing))


class VenueSettings(BaseModel):
    """What ``make_venue`` needs. No secret lives here: credentials come from the environment."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    account: str = Field(default="trader", min_length=1)
    live: bool = False
    i_understand_real_money: bool = False
    #: Point the live stack somewhere else (a loopback rehearsal): CLOB REST and WS prefix, and
    #: Gamma's and the Data API's own origins (separate hosts, as on the venue; when only
    #: ``clob_url`` is given they are taken to share its host).
    clob_url: str | None = None
    ws_url: str | None = None
    gamma_url: str | None = None
    data_url: str | None = None
    #: Append-only file of client order id → order hash (survives restarts). Recommended live.
    id_store_path: str | None = None
    user_stream: bool = True
    paper: PaperConfig = PaperConfig()
    sim_cash: Decimal = Field(default=Decimal(1000), ge=0)


def check_live_gate(settings: VenueSettings, environ: Mapping[str, str] | None = None) -> PolymarketCredentials:
    """Return the credentials if live trading is allowed; otherwise raise ``LiveTradingRefused``."""
    missing: list[str] = []
    if not settings.live:
        missing.append("--live")
    if not settings.i_understand_real_money:
        missing.append("--i-understand-real-money")
    creds: PolymarketCredentials | None = None
    try:
        creds = credentials_from_env(os.environ if environ is None else environ)
    except MissingCredentials as exc:
        missing.extend(f"environment variable {name}" for name in exc.missing)
    if missing:
        raise LiveTradingRefused(missing)
    assert creds is not None
    return creds


class PolymarketLiveVenue:
    """The real CLOB: market data from the data feed, orders through the SDK, the user channel
    for order and trade events. Connects (and derives API keys if needed) on ``start`` or the
    first private call."""

    name = "polymarket"

    def __init__(
        self,
        data: Any,
        credentials: PolymarketCredentials,
        *,
        account: str,
        environment: Any = None,
        id_store_path: str | None = None,
        user_stream: bool = True,
    ) -> None:
        self.account = account
        self._data = data
        self._credentials = credentials
        self._environment = environment
        self._id_store_path = id_store_path
        self._want_stream = user_stream
        self._exec: Any = None
        self._stream: Any = None
        self._sink: Sink | None = None
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"PolymarketLiveVenue(account={self.account!r})"

    async def start(self) -> None:
        await self._execution()

    async def _execution(self) -> Any:
        if self._exec is not None:
            return self._exec
        async with self._lock:
            if self._exec is None:
                from polymarket.environments import PRODUCTION

                from venues.polymarket.execution import (
                    JsonlIdStore,
                    PolymarketExecution,
                    PolymarketExecutionConfig,
                )
                from venues.polymarket.sdk_env import environment_config
                from venues.polymarket.user_ws import stream_for_execution

                env = self._environment or PRODUCTION
                store = JsonlIdStore(self._id_store_path) if self._id_store_path else None
                ex = await PolymarketExecution.connect(
                    self._credentials,
                    environment=env,
                    config=PolymarketExecutionConfig(account=self.account, name=self.name),
                    id_store=store,
                    fee_schedule=self._fee_schedule,
                )
                if self._want_stream:
                    self._stream = stream_for_execution(ex, environment_config(env).clob_user_ws_url)
                    if self._sink is not None:
                        self._stream.set_sink(self._sink)
                    await self._stream.start()
                self._exec = ex
        return self._exec

    def _fee_schedule(self, token_id: str) -> FeeSchedule | None:
        """The market's fee schedule as the data feed listed it (None: market not listed)."""
        lookup = getattr(self._data, "fee_schedule", None)
        return lookup(token_id) if lookup is not None else None

    def set_sink(self, sink: Sink) -> None:
        self._sink = sink
        self._data.set_sink(sink)
        if self._stream is not None:
            self._stream.set_sink(sink)

    async def list_markets(self) -> list[MarketInfo]:
        return list(await self._data.list_markets())

    async def subscribe_market_data(self, token_ids: Sequence[str]) -> None:
        await self._data.subscribe_market_data(token_ids)

    async def unsubscribe_market_data(self, token_ids: Sequence[str]) -> None:
        await self._data.unsubscribe_market_data(token_ids)

    async def get_book(self, token_id: str) -> BookSnapshot:
        book: BookSnapshot = await self._data.get_book(token_id)
        return book

    async def _learn_fees(self, token_ids: Iterable[str]) -> None:
        """Know each traded market's fee schedule before its fills arrive (one Gamma lookup per
        market nobody listed), so fills book the market's fee, not the frame's flat rate."""
        learn = getattr(self._data, "learn_market", None)
        if learn is None:
            return
        for t in dict.fromkeys(token_ids):
            try:
                await learn(t)
            except (VenueUnavailable, PolymarketApiError) as exc:  # Gamma trouble must not block an order
                log.warning("fee schedule of token %s unknown (%s); fills use the trade's rate", t, exc)

    async def place_order(self, request: OrderRequest) -> OrderEvent:
        await self._learn_fees([request.token_id])
        ev: OrderEvent = await (await self._execution()).place_order(request)
        return ev

    async def place_orders(self, requests: Sequence[OrderRequest]) -> list[OrderEvent]:
        await self._learn_fees(r.token_id for r in requests)
        return list(await (await self._execution()).place_orders(requests))

    async def cancel_order(self, client_order_id: str) -> OrderEvent:
        ev: OrderEvent = await (await self._execution()).cancel_order(client_order_id)
        return ev

    async def cancel_all(self, market: str | None = None) -> list[OrderEvent]:
        return list(await (await self._execution()).cancel_all(market))

    async def order_status(self, client_order_id: str) -> OrderEvent | None:
        ev: OrderEvent | None = await (await self._execution()).order_status(client_order_id)
        return ev

    async def open_orders(self) -> list[OrderEvent]:
        return list(await (await self._execution()).open_orders())

    async def trades(self, since_ns: int | None = None) -> list[Fill]:
        return list(await (await self._execution()).trades(since_ns))

    async def positions(self) -> list[Position]:
        return list(await (await self._execution()).positions())

    async def balance(self) -> Balance:
        b: Balance = await (await self._execution()).balance()
        return b

    async def close(self) -> None:
        if self._stream is not None:
            await self._stream.close()
        if self._exec is not None:
            await self._exec.close()
        closer = getattr(self._data, "close", None)
        if closer is not None:
            await closer()


def _data_feed(settings: VenueSettings) -> Any:
    from venues.polymarket.config import PolymarketDataConfig
    from venues.polymarket.data import PolymarketDataFeed

    if settings.clob_url:
        overrides: dict[str, object] = {}
        if settings.ws_url:
            overrides["market_ws_url"] = settings.ws_url.rstrip("/") + "/market"
        if settings.gamma_url:
            overrides["gamma_url"] = settings.gamma_url
        if settings.data_url:
            overrides["data_url"] = settings.data_url
        return PolymarketDataFeed(PolymarketDataConfig.for_base_url(settings.clob_url, **overrides))
    return PolymarketDataFeed()


def resolve_kind(kind: str, settings: VenueSettings) -> str:
    """``"polymarket"`` means paper unless a live flag was given (then the live gate decides)."""
    if kind == "polymarket":
        return "live" if (settings.live or settings.i_understand_real_money) else "paper"
    return kind


def make_venue(
    kind: VenueKind | str,
    settings: VenueSettings | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    exchange: Any = None,
    data_feed: Any = None,
) -> VenuePort:
    """Build the venue for a run. ``exchange``/``data_feed`` inject an existing sim or feed."""
    s = settings or VenueSettings()
    kind = resolve_kind(kind, s)
    if kind == "live":
        creds = check_live_gate(s, environ)  # refuse before anything touches the network
        env = None
        if s.clob_url:
            from venues.polymarket.sdk_env import loopback_environment

            base = s.clob_url.rstrip("/")
            env = loopback_environment(base, s.ws_url or base.replace("http", "ws", 1) + "/ws")
        return PolymarketLiveVenue(
            data_feed if data_feed is not None else _data_feed(s),
            creds,
            account=s.account,
            environment=env,
            id_store_path=s.id_store_path,
            user_stream=s.user_stream,
        )
    if kind == "paper":
        feed = data_feed if data_feed is not None else _data_feed(s)
        return PaperVenue(feed, s.paper.model_copy(update={"account": s.account}))
    if kind == "sim":
        from venues.sim import SimExchange, SimVenue

        ex = exchange if exchange is not None else SimExchange()
        if not ex.has_account(s.account):
            ex.open_account(s.account, s.sim_cash)
        venue: VenuePort = SimVenue(ex, s.account)
        return venue
    raise ValueError(f"venue kind must be one of sim, paper, live, polymarket; got {kind!r}")


__all__ = [
    "ENV_PRIVATE_KEY",
    "LiveTradingRefused",
    "PolymarketLiveVenue",
    "VenueKind",
    "VenueSettings",
    "check_live_gate",
    "make_venue",
    "resolve_kind",
]
