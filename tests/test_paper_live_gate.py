"""make_venue: paper by default, live only behind every safeguard, refusals naming what is missing."""

from __future__ import annotations

import asyncio

import pytest

from protocols import Side, VenuePort
from venues.live import LiveTradingRefused, PolymarketLiveVenue, VenueSettings, check_live_gate, make_venue
from venues.paper import PaperVenue
from venues.polymarket.auth import ENV_API_KEY, ENV_FUNDER, ENV_PRIVATE_KEY

KEY = "0x" + "4c" * 32


class NullFeed:
    def set_sink(self, sink) -> None: ...
    async def list_markets(self):
        return []

    async def subscribe_market_data(self, token_ids) -> None: ...
    async def unsubscribe_market_data(self, token_ids) -> None: ...
    async def get_book(self, token_id):
        raise KeyError(token_id)


def test_live_without_flags_or_credentials_names_everything_missing() -> None:
    with pytest.raises(LiveTradingRefused) as err:
        make_venue("live", VenueSettings(), environ={})
    assert err.value.missing == ["--live", "--i-understand-real-money", f"environment variable {ENV_PRIVATE_KEY}"]
    assert "\n" not in str(err.value) and str(err.value).startswith("live trading refused: missing --live")


@pytest.mark.parametrize(
    ("live", "ack", "env", "missing"),
    [
        (True, False, {ENV_PRIVATE_KEY: KEY}, ["--i-understand-real-money"]),
        (False, True, {ENV_PRIVATE_KEY: KEY}, ["--live"]),
        (True, True, {}, [f"environment variable {ENV_PRIVATE_KEY}"]),
        (True, True, {ENV_PRIVATE_KEY: "  "}, [f"environment variable {ENV_PRIVATE_KEY}"]),
    ],
)
def test_each_missing_safeguard_alone_refuses_live(live: bool, ack: bool, env: dict, missing: list[str]) -> None:
    with pytest.raises(LiveTradingRefused) as err:
        check_live_gate(VenueSettings(live=live, i_understand_real_money=ack), env)
    assert err.value.missing == missing


def test_partial_api_credentials_are_refused_with_the_missing_names() -> None:
    with pytest.raises(LiveTradingRefused) as err:
        check_live_gate(
            VenueSettings(live=True, i_understand_real_money=True), {ENV_PRIVATE_KEY: KEY, ENV_API_KEY: "k"}
        )
    assert any("POLYAGENTS_PM_API_SECRET" in m for m in err.value.missing)
    assert any("POLYAGENTS_PM_API_PASSPHRASE" in m for m in err.value.missing)


def test_venue_polymarket_is_paper_by_default_and_half_a_live_request_is_refused() -> None:
    assert isinstance(make_venue("polymarket", VenueSettings(), data_feed=NullFeed()), PaperVenue)
    with pytest.raises(LiveTradingRefused) as err:
        make_venue("polymarket", VenueSettings(live=True), environ={ENV_PRIVATE_KEY: KEY}, data_feed=NullFeed())
    assert err.value.missing == ["--i-understand-real-money"]


def test_live_with_every_safeguard_builds_a_live_venue_without_touching_the_network() -> None:
    s = VenueSettings(live=True, i_understand_real_money=True, clob_url="http://127.0.0.1:9")
    v = make_venue("live", s, environ={ENV_PRIVATE_KEY: KEY}, data_feed=NullFeed())
    assert isinstance(v, PolymarketLiveVenue) and isinstance(v, VenuePort)
    assert KEY not in repr(v)


def test_paper_and_sim_need_no_flags() -> None:
    p = make_venue("paper", VenueSettings(account="t1"), data_feed=NullFeed())
    assert isinstance(p, PaperVenue) and p.account == "t1" and isinstance(p, VenuePort)
    s = make_venue("sim", VenueSettings(account="t2"))
    assert isinstance(s, VenuePort) and s.account == "t2"
    with pytest.raises(ValueError, match="sim, paper, live, polymarket"):
        make_venue("moon", VenueSettings())


def test_live_venue_trades_through_the_loopback_end_to_end() -> None:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from pm_exec_harness import address_of, request, start_loopback

    async def run() -> None:
        lb = await start_loopback()
        try:
            s = VenueSettings(live=True, i_understand_real_money=True, clob_url=lb.base_url, ws_url=lb.ws_url)
            # an EOA wallet (funder = signer): the loopback verifies EOA signatures
            env = {ENV_PRIVATE_KEY: KEY, ENV_FUNDER: address_of(KEY)}
            v = make_venue("live", s, environ=env, data_feed=NullFeed())
            assert isinstance(v, PolymarketLiveVenue)
            got: list = []
            v.set_sink(got.append)
            lb.maker("mm", Side.SELL, "0.55", "10")
            ev = await v.place_order(request("c-live", Side.BUY, "0.55", "10").model_copy(update={"account": "trader"}))
            assert ev.filled == 10
            assert [f.size for f in await v.trades()] == [10]
            await v.close()
        finally:
            await lb.close()

    asyncio.run(run())
