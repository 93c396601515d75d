"""The whole society trading paper and "live" against the loopback Polymarket server (127.0.0.1).

All six agents run on the wall-clock local runtime with a DuckDB journal. Market data comes the
real way — Gamma discovery, CLOB REST books, the market WebSocket — through
``PolymarketDataFeed``; the only opportunity on offer is a neg-risk basket whose YES asks sum,
after taker fees, below 1. The trader's venue is the paper venue (first test) or the live venue
built by ``make_venue("live", ...)`` from environment credentials, which signs every order with
the official SDK; the loopback verifies each EIP-712 signature and L2 HMAC header before it
matches the order on the simulated exchange.

What is asserted is what the journal says against what the venue says: every order the trader
wrote ahead reached the venue exactly once, the venue holds no order the journal lacks, the fills
were booked once each, and the journal's positions are the venue's. The last test turns every
logger to DEBUG and scans logs, reprs, status JSON and every journal row for the secrets.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from loopback_society import (
    ACCOUNT,
    ASK_SIZE,
    MAKER,
    YES_ASK,
    SocietyRun,
    close_all,
    every_logger_at_debug,
    leaks,
    loopback_server,
    needles,
    seed_basket,
    wait_until,
)

from protocols import FeeSchedule, Fill, MarketInfo, OrderEvent, OrderStatus
from protocols.fees import taker_fee
from venues.live import PolymarketLiveVenue, VenueSettings, make_venue
from venues.news.config import NewsFeedConfig
from venues.news.feed import RssNewsFeed
from venues.paper import PaperVenue
from venues.polymarket.auth import (
    ENV_API_KEY,
    ENV_API_PASSPHRASE,
    ENV_API_SECRET,
    ENV_FUNDER,
    ENV_PRIVATE_KEY,
)
from venues.polymarket.data import PolymarketDataFeed
from venues.polymarket.execution import JsonlIdStore
from venues.polymarket.loopback.orders import orders_state
from venues.polymarket.loopback.server import LoopbackServer
from venues.sim.exchange import SimExchange

#: Bound on each wait for a condition (a hang guard on a loaded machine, not a timing assertion).
WAIT_S = 60.0
NEWS_TITLE = "Harvest festival draws record crowds to the county fair"


@dataclass
class LiveSecrets:
    private_key: str
    api_key: str
    api_secret: str
    passphrase: str
    address: str

    def environ(self) -> dict[str, str]:
        return {
            ENV_PRIVATE_KEY: self.private_key,
            ENV_API_KEY: self.api_key,
            ENV_API_SECRET: self.api_secret,
            ENV_API_PASSPHRASE: self.passphrase,
            ENV_FUNDER: self.address,
        }


def throwaway_wallet(srv: LoopbackServer, ex: SimExchange) -> LiveSecrets:
    """A fresh key (never funded anywhere real) with an API key the loopback CLOB recognises.

    The API triple is handed over through the environment like a user would; the loopback checks
    each request's L2 HMAC against it. The wallet's exchange account holds the desk's bankroll.
    """
    acct = Account.create()
    key = acct.key.hex()
    key = key if key.startswith("0x") else "0x" + key
    st = orders_state(srv.app)
    ex.open_account(acct.address, Decimal(1000))
    api = st.derive_key(acct.address, 0)
    st.register_key(api)
    return LiveSecrets(key, api.key, api.secret, api.passphrase, acct.address)


def news_feed(srv: LoopbackServer) -> RssNewsFeed:
    """The loopback RSS feed with one story that matches no market (the news scout reads and
    files it; nothing to trade on)."""
    srv.feeds.add_item("wire", title=NEWS_TITLE, link="http://127.0.0.1/story/1", summary="Pumpkins.")
    return RssNewsFeed(NewsFeedConfig(urls=(srv.feed_url("wire", "rss"),)))


def fills_match_positions(run: SocietyRun) -> bool:
    """The trader's books are complete: per token, the journalled position equals the fills."""
    net: dict[str, Decimal] = {}
    for fill_id, token, side, size in run.q(
        "SELECT DISTINCT fill_id, token_id, side, size FROM fills WHERE agent = 'trader'"
    ):
        del fill_id
        net[token] = net.get(token, Decimal(0)) + (Decimal(size) if side == "BUY" else -Decimal(size))
    return bool(net) and {t: s for t, s in net.items() if s} == run.journal_positions()


@asynccontextmanager
async def society_on(
    tmp_path: Path, srv: LoopbackServer, kind: str, secrets: LiveSecrets | None = None, *, expect_fills: bool = True
) -> AsyncIterator[tuple[SocietyRun, Any, PolymarketDataFeed]]:
    """Host the six agents; yield once every order is final and (``expect_fills``) the fills are
    booked as positions; stop and close after."""
    feed = PolymarketDataFeed(srv.data_config())
    if kind == "paper":
        venue: Any = make_venue("paper", VenueSettings(account=ACCOUNT), data_feed=feed)
        watcher_venue: Any = venue  # paper composes the feed: its books come from the same stream
    else:
        assert secrets is not None
        settings = VenueSettings(
            account=ACCOUNT,
            live=True,
            i_understand_real_money=True,
            clob_url=srv.clob_url,
            ws_url=srv.ws_prefix,
            gamma_url=srv.gamma_url,
            data_url=srv.data_url,
            id_store_path=str(tmp_path / "order-ids.jsonl"),
        )
        venue = make_venue("live", settings, environ=secrets.environ(), data_feed=feed)
        watcher_venue = feed
    news = news_feed(srv)
    run = SocietyRun.build(tmp_path, watcher_venue, venue)
    run.rt.attach_source(news, "news:rss")
    run.extra_reprs += [venue, feed, news]
    run.start()
    try:
        await news.poll()
        await wait_until(run.all_settled, "every journalled order to reach a final status", WAIT_S, run.rt)
        if expect_fills:
            await wait_until(lambda: fills_match_positions(run), "positions booked from the fills", WAIT_S, run.rt)
        await wait_until(
            lambda: run.agents["news_scout"].status()["items_in"] >= 1, "the news scout to read the story", WAIT_S
        )
        yield run, venue, feed
    finally:
        await run.stop()
        execution = getattr(venue, "_exec", None)
        if execution is not None:
            run.extra_reprs.append(execution)
        await close_all(venue.close, news.close)
        run.journal_text = run.dump_journal()  # after the stop: every row the run wrote
        lifecycle = run.q("SELECT agent, event FROM agent_events")
        run.journal.close()
    # a clean stop: nobody crashed, and every agent journalled its start and its stop
    assert run.rt.crashes == []
    assert sorted(lifecycle) == sorted((a, e) for a in run.agents for e in ("start", "stop"))


def basket_tokens(infos: list[MarketInfo]) -> set[str]:
    return {i.token_ids[0] for i in infos}


async def test_society_trades_the_basket_on_paper_and_the_journal_equals_the_paper_venue(tmp_path: Path) -> None:
    srv, ex = loopback_server()
    async with srv:
        infos = seed_basket(ex)
        async with society_on(tmp_path, srv, "paper") as (run, venue, _feed):
            assert isinstance(venue, PaperVenue)
            (decision,) = run.decisions()
            assert decision[1] == "APPROVED", decision
            coids = run.journalled_coids()
            assert len(coids) == len(set(coids)) == len(infos)  # one leg per outcome, each written once
            final = run.final_statuses()
            for coid in coids:
                ev = await venue.order_status(coid)
                assert ev is not None, f"{coid} never reached the paper venue"
                assert (ev.status.value, ev.filled) == (final[coid], Decimal(ASK_SIZE)) == ("FILLED", Decimal(20))
            venue_fills = await venue.trades()
            assert {f.client_order_id for f in venue_fills} == set(coids)  # no order the journal lacks
            booked = run.journal_fills()
            assert run.duplicate_fills() == []
            assert booked == {f.fill_id: (f.client_order_id, f.price, f.size) for f in venue_fills}
            assert {p.token_id: p.size for p in await venue.positions()} == run.journal_positions()
            assert set(run.journal_positions()) == basket_tokens(infos)
            assert all(price == Decimal(YES_ASK) for _c, price, _s in booked.values())
            held = run.agents["trader"].status()["positions"]
            assert set(held) == basket_tokens(infos)
        # paper stays paper: nothing reached the loopback's order side, the maker's offers stand
        st = orders_state(srv.app)
        assert st.accepted_posts == 0 and st.rejected == {} and st.keys == {}
        for info in infos:
            assert ex.top(info.token_ids[0]).best_ask_size == Decimal(ASK_SIZE)
            assert ex.trades(MAKER) == []


async def test_society_trades_live_through_the_sdk_and_every_journalled_order_reached_the_clob_once(
    tmp_path: Path,
) -> None:
    srv, ex = loopback_server()
    async with srv:
        infos = seed_basket(ex)
        secrets = throwaway_wallet(srv, ex)
        st = orders_state(srv.app)
        # everything the matching engine says about this wallet's orders, refused ones included
        at_exchange: list[OrderEvent] = []
        ex.add_account_listener(
            secrets.address, lambda p: at_exchange.append(p) if isinstance(p, OrderEvent) else None
        )
        async with society_on(tmp_path, srv, "live", secrets) as (run, venue, _feed):
            assert isinstance(venue, PolymarketLiveVenue)
            (decision,) = run.decisions()
            assert decision[1] == "APPROVED", decision
            coids = run.journalled_coids()
            assert len(coids) == len(set(coids)) == len(infos)
            final = run.final_statuses()
            assert {final[c] for c in coids} == {OrderStatus.FILLED.value}

            # client order id → order hash, as the execution wrote it ahead of each send
            records = JsonlIdStore(tmp_path / "order-ids.jsonl").all()
            hash_of = {r.client_order_id: r.venue_order_id.lower() for r in records}
            assert Counter(r.client_order_id for r in records) == Counter(coids)  # each signed once
            # what the loopback CLOB accepted from this wallet: exactly the journalled orders, once
            ours = {h.lower() for h, m in st.meta.items() if m.address.lower() == secrets.address.lower()}
            assert ours == set(hash_of.values())
            assert {e.client_order_id.lower() for e in at_exchange} == ours  # nothing killed unseen either
            assert not [e for e in at_exchange if e.status is OrderStatus.REJECTED]
            assert len(ours) == len(coids)
            assert st.accepted_posts == len(coids) and st.rejected == {}  # no duplicate post refused
            assert {k.address.lower() for k in st.keys.values()} == {secrets.address.lower()}
            for coid in coids:
                ex_order = ex.order(secrets.address, hash_of[coid])
                assert ex_order is not None, coid
                assert (ex_order.status, ex_order.filled) == (OrderStatus.FILLED, Decimal(ASK_SIZE))
                assert ex_order.price == Decimal(YES_ASK)

            # fills: booked once each, and per order exactly what the exchange matched
            ex_fills: list[Fill] = ex.trades(secrets.address)
            ex_filled: dict[str, Decimal] = {}
            for f in ex_fills:
                ex_filled[f.client_order_id.lower()] = ex_filled.get(f.client_order_id.lower(), Decimal(0)) + f.size
            booked = run.journal_fills()
            assert run.duplicate_fills() == []
            per_order: dict[str, Decimal] = {}
            for coid, _price, size in booked.values():
                per_order[hash_of[coid]] = per_order.get(hash_of[coid], Decimal(0)) + size
            assert per_order == ex_filled
            assert len(booked) == len(ex_fills)
            # positions: the journal's are the exchange's for this wallet
            ex_positions = {p.token_id: p.size for p in ex.positions(secrets.address)}
            assert ex_positions == run.journal_positions()
            assert set(ex_positions) == basket_tokens(infos)
            assert {p.token_id: p.size for p in await venue.positions()} == ex_positions
            assert await venue.open_orders() == []
        # the maker sold exactly the basket, nothing more
        for info in infos:
            assert ex.shares(secrets.address, info.token_ids[0]) == Decimal(ASK_SIZE)
            assert ex.top(info.token_ids[0]).best_ask == Decimal("0.40")
        assert ex.shares(secrets.address, infos[0].token_ids[1]) == 0


#: A fee curve whose exponent makes the market's schedule and the frame's flat ``fee_rate_bps``
#: disagree (0.25 × (0.3 × 0.7)² per share vs 0.25 × 0.3 × 0.7): a fee booked from the frame shows.
STEEP_FEES = FeeSchedule(rate=Decimal("0.25"), exponent=2, fee_type="crypto_fees")


async def test_society_trades_live_against_the_venues_quirks_missing_no_fill_and_booking_the_venues_fees(
    tmp_path: Path,
) -> None:
    """The loopback sends what the live venue sends (maker orders without ``side``, FOK BUY
    amounts in pUSD, ``created_at`` in ms, ``associate_trades: null``): the trader still books
    every one of its fills once, each with the fee the exchange charged (the fee model of
    ``protocols.fees`` on the market's ``feeSchedule``), and holds what the exchange holds."""
    srv, ex = loopback_server()
    assert srv.quirks  # the default: what the venue really sends
    async with srv:
        infos = seed_basket(ex, fees=STEEP_FEES)
        secrets = throwaway_wallet(srv, ex)
        frames: list[dict[str, Any]] = []
        orders_state(srv.app).user_listeners.append(
            lambda to, frame: frames.append(dict(frame)) if to.lower() == secrets.address.lower() else None
        )
        async with society_on(tmp_path, srv, "live", secrets) as (run, venue, _feed):
            assert isinstance(venue, PolymarketLiveVenue)
            coids = run.journalled_coids()
            assert len(coids) == len(infos) and {run.final_statuses()[c] for c in coids} == {"FILLED"}
            stream = venue._stream
            assert stream is not None and stream.decoder.accepted > 0
            assert stream.decoder.rejected == {} and stream.decoder.stats.malformed == {}
            rows = run.q(
                "SELECT DISTINCT fill_id, client_order_id, token_id, price, size, fee FROM fills WHERE agent = 'trader'"
            )
            ex_fills: list[Fill] = ex.trades(secrets.address)
            venue_positions = {p.token_id: p.size for p in await venue.positions()}
            journal_positions = run.journal_positions()
        # the quirks were on the wire: our fills arrived in the venue's shapes, not the SDK's
        trades = [f for f in frames if f.get("event_type") == "trade"]
        assert trades and all("side" not in m for t in trades for m in t["maker_orders"])
        ours = [f for f in frames if f.get("event_type") == "order" and f.get("order_type") in ("FOK", "FAK")]
        assert ours and all(
            Decimal(f["original_size"]) == Decimal(ASK_SIZE) * Decimal(f["price"]) for f in ours if f["side"] == "BUY"
        )
        # no own fill missed, none booked twice: per order, the journal's fills are the exchange's
        records = JsonlIdStore(tmp_path / "order-ids.jsonl").all()
        hash_of = {r.client_order_id: r.venue_order_id.lower() for r in records}
        assert len({r[0] for r in rows}) == len(rows) == len(ex_fills)
        booked: dict[str, tuple[Decimal, Decimal]] = {}
        schedule = {t: i.fees for i in infos for t in i.token_ids}
        for _fill_id, coid, token, price, size, fee in rows:
            price, size, fee = Decimal(price), Decimal(size), Decimal(fee)
            # every booked fee is the venue's model on the market's schedule, to the unit
            assert fee == taker_fee(schedule[token], price, size) > 0, (coid, fee)
            got_size, got_fee = booked.get(hash_of[coid], (Decimal(0), Decimal(0)))
            booked[hash_of[coid]] = (got_size + size, got_fee + fee)
        at_exchange: dict[str, tuple[Decimal, Decimal]] = {}
        for f in ex_fills:
            got_size, got_fee = at_exchange.get(f.client_order_id.lower(), (Decimal(0), Decimal(0)))
            at_exchange[f.client_order_id.lower()] = (got_size + f.size, got_fee + f.fee)
        assert booked == at_exchange  # the exchange charged exactly what the trader booked
        assert all(size == Decimal(ASK_SIZE) for size, _fee in booked.values())
        flat = FeeSchedule(rate=STEEP_FEES.rate)  # what the frame's fee_rate_bps alone would book
        assert all(fee != taker_fee(flat, Decimal(YES_ASK), size) for size, fee in booked.values())
        # positions: the journal's, the venue's and the exchange's agree
        ex_positions = {p.token_id: p.size for p in ex.positions(secrets.address)}
        assert ex_positions == journal_positions == venue_positions
        assert set(ex_positions) == basket_tokens(infos)


async def test_a_resized_basket_is_sized_to_whole_cents_and_filled_whole_live(
    tmp_path: Path,
) -> None:
    """40 baskets on offer; the risk officer resizes to its per-trade cap: 20 / 0.90 → 22.22 each.

    A marketable BUY on Polymarket spends whole cents, and 22.22 × 0.30 = 6.666 pUSD does not; the
    SDK drops the sub-cent digit and would buy 22.2 shares, a short leg the trader must then dump.
    The risk officer therefore resizes marketable legs to a whole-cent step (22 shares): the basket
    fills whole on every leg, and the journal still equals the exchange.
    """
    srv, ex = loopback_server()
    async with srv:
        infos = seed_basket(ex, size="40")
        secrets = throwaway_wallet(srv, ex)
        st = orders_state(srv.app)
        async with society_on(tmp_path, srv, "live", secrets, expect_fills=False) as (run, _venue, _feed):
            (decision,) = run.decisions()
            assert decision[1] == "RESIZED", decision
            await wait_until(lambda: fills_match_positions(run) or not run.journal_fills(), "books", WAIT_S, run.rt)
            await wait_until(lambda: len(run.journal_fills()) >= 3, "three legs filled", WAIT_S, run.rt)
            held = {i.token_ids[0]: ex.shares(secrets.address, i.token_ids[0]) for i in infos}
            assert set(held.values()) == {Decimal(22)}, f"not a whole basket of 22: {held}"
            assert {t: s for t, s in held.items() if s} == run.journal_positions()
            assert run.q("SELECT client_order_id FROM orders WHERE side = 'SELL'") == []  # nothing dumped
            hashes = {r.venue_order_id.lower() for r in JsonlIdStore(tmp_path / "order-ids.jsonl").all()}
            ours = {h.lower() for h, m in st.meta.items() if m.address.lower() == secrets.address.lower()}
            assert ours <= hashes  # the exchange holds no order the journal lacks


async def test_a_live_society_run_leaks_no_secret_into_logs_reprs_status_or_journal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    every_logger_at_debug(caplog)
    srv, ex = loopback_server()
    async with srv:
        seed_basket(ex)
        secrets = throwaway_wallet(srv, ex)
        async with society_on(tmp_path, srv, "live", secrets) as (run, venue, feed):
            status = run.status_json()
            trader_status = run.agents["trader"].status()
        journal_text = run.journal_text
        reprs = run.reprs(venue, feed)
    scanned = [
        ("logs", caplog.text),
        ("log args", "\n".join(repr(r.args) for r in caplog.records)),
        ("reprs", reprs),
        ("status --json", status),
        ("journal", journal_text),
        ("id store", (tmp_path / "order-ids.jsonl").read_text()),
    ]
    # the scan means something: each text is there, large, and holds known non-secret values
    assert "127.0.0.1" in caplog.text and len(caplog.records) > 50, "the session's traffic was not logged"
    assert secrets.address in reprs and "PolymarketExecution" in reprs
    assert ACCOUNT in status and trader_status["orders_by_state"] == {"FILLED": 3}
    assert ACCOUNT in journal_text and "FILLED" in journal_text and len(journal_text) > 5_000
    assert "## orders (3 rows)" in journal_text
    assert sum(len(t) for _, t in scanned) > 20_000
    # the API key id is redacted too (with the secret it is a login)
    secret_needles = needles(secrets.private_key, secrets.api_secret, secrets.passphrase, secrets.api_key)
    assert len(secret_needles) >= 8
    assert leaks([("control", f"<{secrets.passphrase.upper()}>")], secret_needles), "the scan cannot see a leak"
    found = leaks(scanned, secret_needles)
    assert found == [], f"secrets leaked into: {found}"
