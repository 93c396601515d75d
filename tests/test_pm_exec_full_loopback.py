"""Live and paper venues against the WHOLE loopback server (Gamma, CLOB, market WS, Data API, plus
this package's order routes and user channel), with the real data feed and the real SDK."""

from __future__ import annotations

import time
from decimal import Decimal

from eth_account import Account

from protocols import BookDelta, BookSnapshot, Fill, OrderEvent, OrderRequest, OrderStatus, Side, TimeInForce
from venues.live import PolymarketLiveVenue, VenueSettings, make_venue
from venues.paper import PaperConfig, PaperVenue
from venues.polymarket.auth import ENV_FUNDER, ENV_PRIVATE_KEY
from venues.polymarket.loopback.server import LoopbackServer
from venues.polymarket.loopback.testing import Recorder, market, order

KEY = "0x" + "6e" * 32


def req(info, coid: str, side: Side, price: str, size: str, account: str, tif: TimeInForce = TimeInForce.GTC):
    return OrderRequest(
        time_ns=time.time_ns(),
        client_order_id=coid,
        account=account,
        token_id=info.token_ids[0],
        market=info.market,
        side=side,
        price=Decimal(price),
        size=Decimal(size),
        tif=tif,
    )


async def test_live_venue_trades_against_the_full_loopback() -> None:
    async with LoopbackServer() as srv:
        info = market(1)
        srv.add_market(info)
        settings = VenueSettings(
            account="trader", live=True, i_understand_real_money=True, clob_url=srv.clob_url,
            ws_url=srv.ws_prefix, gamma_url=srv.gamma_url, data_url=srv.data_url,
        )
        env = {ENV_PRIVATE_KEY: KEY, ENV_FUNDER: Account.from_key(KEY).address}
        venue = make_venue("live", settings, environ=env)
        assert isinstance(venue, PolymarketLiveVenue)
        rec = Recorder()
        venue.set_sink(rec)
        try:
            markets = await venue.list_markets()
            assert info.market in {m.market for m in markets}
            await venue.start()
            await venue.subscribe_market_data([info.token_ids[0]])
            await rec.wait_for(lambda: bool(rec.of(BookSnapshot)), "first book")
            order(srv.exchange, "mm", info, Side.SELL, "0.55", "20")
            ev = await venue.place_order(req(info, "L-1", Side.BUY, "0.55", "10", "trader"))
            assert (ev.status, ev.filled) == (OrderStatus.FILLED, Decimal(10))
            # pushed by the user channel, attributed to our client order id
            await rec.wait_for(lambda: any(f.client_order_id == "L-1" for f in rec.of(Fill)), "user-channel fill")
            rest = await venue.place_order(req(info, "L-2", Side.BUY, "0.40", "10", "trader"))
            assert rest.status is OrderStatus.ACKNOWLEDGED
            await rec.wait_for(lambda: any(e.client_order_id == "L-2" for e in rec.of(OrderEvent)), "placement event")
            assert [o.client_order_id for o in await venue.open_orders()] == ["L-2"]
            assert (await venue.cancel_all()) and await venue.open_orders() == []
            (pos,) = await venue.positions()
            assert pos.size == Decimal(10)
        finally:
            await venue.close()


async def test_paper_venue_fills_from_the_live_market_websocket() -> None:
    from venues.polymarket.data import PolymarketDataFeed

    async with LoopbackServer() as srv:
        info = market(2)
        srv.add_market(info)
        order(srv.exchange, "mm", info, Side.BUY, "0.50", "30")
        feed = PolymarketDataFeed(srv.data_config())
        venue = PaperVenue(feed, PaperConfig(account="paper"))
        rec = Recorder()
        venue.set_sink(rec)
        try:
            await venue.list_markets()
            await venue.subscribe_market_data([info.token_ids[0]])
            await rec.wait_for(lambda: bool(rec.of(BookSnapshot)), "first book")
            ack = await venue.place_order(req(info, "P-1", Side.BUY, "0.50", "10", "paper"))
            assert ack.status is OrderStatus.ACKNOWLEDGED
            order(srv.exchange, "s", info, Side.SELL, "0.50", "30")  # exactly the volume ahead
            order(srv.exchange, "mm", info, Side.BUY, "0.10", "5")  # a marker event after the trade
            await rec.wait_for(
                lambda: any(any(c.price == Decimal("0.1") for c in d.changes) for d in rec.of(BookDelta)),
                "marker",
            )
            assert rec.of(Fill) == []
            sold = order(srv.exchange, "s", info, Side.SELL, "0.50", "6")  # rests at our price: meets us
            assert sold.reason is None
            await rec.wait_for(lambda: bool(rec.of(Fill)), "paper fill")
            (f,) = rec.of(Fill)
            assert (f.size, f.price) == (Decimal(6), Decimal("0.5"))
        finally:
            await venue.close()
