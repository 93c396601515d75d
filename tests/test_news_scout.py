"""News scout on the local runtime: matching, negation, question polarity, duplicates, novelty, stamps."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from agents.base import Agent, AgentConfig, Subscription
from agents.market_watcher import MarketWatcher
from agents.news_scout import NewsScout
from agents.text import entities, sentiment, stem, stems
from cluster.clock import DEFAULT_START_NS
from cluster.runtime_local import LocalRuntime
from protocols import Envelope, MarketInfo, MarketResolved, NewsItem, RawNews
from venues.sim import SimExchange, SimVenue
from venues.sim.testing import binary_market

T0 = DEFAULT_START_NS
S = 1_000_000_000
MIN = 60 * S


def market(mid: str, question: str) -> MarketInfo:
    return MarketInfo(time_ns=T0, market=mid, question=question, token_ids=(f"{mid}-yes", f"{mid}-no"))


TRUMP = market("trump28", "Will Donald Trump win the 2028 US Presidential Election?")
BTC_UP = market("btc100k", "Will Bitcoin reach $100,000 by June 30?")
BTC_DOWN = market("btc50k", "Will Bitcoin fall below $50,000 in 2026?")
BOE = market("boe-cut", "Will the Bank of England cut rates in March?")


class Sink(Agent[AgentConfig]):
    role = "sink"
    subscriptions = (Subscription(NewsItem),)

    def __init__(self) -> None:
        super().__init__("sink")
        self.got: list[NewsItem] = []

    def on_message(self, envelope: Envelope) -> None:
        assert isinstance(envelope.payload, NewsItem)
        self.got.append(envelope.payload)


_n = 0


def news(title: str, body: str = "", *, published: int | None = None, item_id: str | None = None) -> RawNews:
    global _n
    _n += 1
    return RawNews(
        time_ns=T0,
        item_id=item_id or f"n{_n}",
        source="wire",
        title=title,
        body=body,
        url=f"https://example.org/{_n}",
        published_ns=published if published is not None else T0 - MIN,
    )


async def scout(
    *items: RawNews, markets: tuple[MarketInfo, ...] = (TRUMP, BTC_UP, BOE), config: dict[str, Any] | None = None
) -> tuple[NewsScout, Sink, LocalRuntime]:
    rt = LocalRuntime(seed=5, start_ns=T0 + 10 * MIN)
    sc = NewsScout("news_scout", config)
    sink = Sink()
    rt.add_agent(sc)
    rt.add_agent(sink)
    for m in markets:
        rt.inject(m, sender="market_watcher")
    for i, it in enumerate(items):
        rt.inject(it, sender="rss", at_ns=T0 + 10 * MIN + i * S)
    await rt.run()
    assert not rt.crashes, rt.crashes
    return sc, sink, rt


def test_text_stems_and_multiword_entities() -> None:
    assert {stem(w) for w in ("wins", "winning", "winner", "win")} == {"win"}
    assert stem("elected") == stem("election") == "elect"
    assert entities(TRUMP.question) == [("donald", "trump"), ("us", "presidential", "elect")]
    assert entities(BOE.question) == [("bank", "of", "england")]
    assert entities(BTC_UP.question) == [("bitcoin",)]  # "Will" and "June" are not names


def test_text_negation_flips_following_sentiment_within_clause() -> None:
    assert sentiment(stems("Trump wins")) == (1, 0)
    assert sentiment(stems("Trump will not win")) == (0, 1)
    assert sentiment(stems("Trump won't win")) == (0, 1)
    assert sentiment(stems("Smith denies he will resign")) == (1, 0)
    assert sentiment(stems("Smith fails to win the nomination")) == (0, 1)
    assert sentiment(stems("Not over yet. Rally continues")) == (1, 0)  # negation stops at the clause


async def test_news_matches_multiword_entity_and_scores_positive() -> None:
    _, sink, _ = await scout(news("Donald Trump leads in new swing-state poll"))
    assert len(sink.got) == 1
    item = sink.got[0]
    assert item.markets == ("trump28",) and item.sentiment > 0
    assert "donald trump" in item.keywords


async def test_news_matches_partial_entity_with_keywords() -> None:
    _, sink, _ = await scout(news("Trump wins Iowa caucus, tightening grip on 2028 race"))
    assert [i.markets for i in sink.got] == [("trump28",)]


async def test_news_negated_headline_is_negative_towards_yes() -> None:
    _, sink, _ = await scout(
        news("Donald Trump will not win the 2028 election, aides concede"),
        news("Bitcoin fails to reach $100,000 as rally stalls"),
    )
    by_market = {i.markets[0]: i.sentiment for i in sink.got}
    assert by_market["trump28"] < 0 and by_market["btc100k"] < 0


async def test_news_denial_of_bad_news_is_positive() -> None:
    _, sink, _ = await scout(news("Donald Trump denies he will withdraw from the race"))
    assert sink.got[0].sentiment > 0


async def test_news_question_polarity_turns_good_news_into_bad_for_yes() -> None:
    _, sink, _ = await scout(news("Bitcoin surges to a record"), markets=(BTC_UP, BTC_DOWN))
    by_market = {m: i.sentiment for i in sink.got for m in i.markets}
    assert by_market["btc100k"] > 0 and by_market["btc50k"] < 0
    ids = [i.item_id for i in sink.got]
    assert len(set(ids)) == 2 and all("#" in i for i in ids)  # one item per direction


async def test_news_one_shared_common_word_is_not_a_match() -> None:
    sc, sink, _ = await scout(news("Ethereum will reach new highs, traders say"))
    assert sink.got == [] and sc.counters["unmatched"] == 1


async def test_news_duplicate_id_and_syndicated_copy_are_dropped() -> None:
    first = news(
        "Bank of England cuts rates by a quarter point",
        "The Monetary Policy Committee voted 6-3 to lower Bank Rate, citing cooling services inflation.",
    )
    again = news(first.title, first.body, item_id=first.item_id)
    body = "The Monetary Policy Committee voted 6-3 to lower Bank Rate, citing cooling services inflation."
    syndicated = news("UPDATE: Bank of England cuts rates by a quarter point", body)
    sc, sink, _ = await scout(first, again, syndicated)
    assert len(sink.got) == 1
    assert sc.counters["duplicates"] == 1 and sc.counters["near_duplicates"] == 1


async def test_news_novelty_is_lower_for_a_follow_up_than_for_a_fresh_story() -> None:
    a = news(
        "Bank of England cuts rates as inflation cools",
        "Governor Bailey said the committee will cut rates again if inflation keeps falling toward target.",
    )
    b = news(
        "Markets cheer as Bank of England cuts rates",
        "Governor Bailey said the committee will cut rates again if inflation keeps falling toward target.",
    )
    c = news("Donald Trump announces running mate for the 2028 race")
    _, sink, _ = await scout(a, b, c)
    nov = {i.title: i.novelty for i in sink.got}
    assert nov[a.title] == 1.0 and nov[c.title] == 1.0
    assert 0.0 < nov[b.title] < 1.0


async def test_news_stamps_published_vs_seen_and_clamps_future_dates() -> None:
    published = T0 + 10 * MIN - 3 * MIN
    _, sink, _ = await scout(
        news("Donald Trump leads in new poll", published=published),
        news("Bitcoin surges past $100,000", published=T0 + 11 * MIN + 5 * MIN),
    )
    trump, btc = sink.got
    assert trump.published_ns == published and trump.time_ns == T0 + 10 * MIN
    assert btc.published_ns == btc.time_ns == T0 + 10 * MIN + S  # never public after we saw it


async def test_news_too_old_item_is_dropped() -> None:
    sc, sink, _ = await scout(news("Donald Trump leads in new poll", published=T0 + 10 * MIN - 3 * 86_400 * S))
    assert sink.got == [] and sc.counters["too_old"] == 1


async def test_news_resolved_market_is_no_longer_matched() -> None:
    rt = LocalRuntime(seed=5, start_ns=T0 + 10 * MIN)
    sc, sink = NewsScout("news_scout"), Sink()
    rt.add_agent(sc)
    rt.add_agent(sink)
    rt.inject(TRUMP, sender="market_watcher")
    rt.inject(MarketResolved(time_ns=T0, market="trump28", winning_token_id="trump28-yes"), sender="venue")
    rt.inject(news("Donald Trump leads in new poll"), sender="rss")
    await rt.run()
    assert sink.got == [] and sc.status()["markets_indexed"] == 0


async def test_news_snapshot_restore_keeps_markets_seen_ids_and_recent_stories() -> None:
    first = news("Bank of England cuts rates by a quarter point", item_id="boe-1")
    sc, _, _ = await scout(first)
    state = json.loads(json.dumps(sc.snapshot()))
    rt = LocalRuntime(seed=5, start_ns=T0 + 10 * MIN)
    sc2, sink2 = NewsScout("news_scout"), Sink()
    sc2.restore(state)
    rt.add_agent(sc2)
    rt.add_agent(sink2)
    rt.inject(news(first.title, item_id="boe-1"), sender="rss")
    rt.inject(news("Bank of England cuts rates by a quarter point!", item_id="boe-2"), sender="rss")
    rt.inject(news("Donald Trump leads in new poll"), sender="rss")
    await rt.run()
    assert [i.markets for i in sink2.got] == [("trump28",)]
    assert sc2.counters["duplicates"] == 1 and sc2.counters["near_duplicates"] == 1


async def test_news_indexes_markets_published_by_real_market_watcher() -> None:
    rt = LocalRuntime(seed=6)
    ex = SimExchange(scheduler=rt)
    ex.add_market(binary_market("m1"))
    rt.add_agent(MarketWatcher("market_watcher"), venue=SimVenue(ex, "watcher"))
    sc, sink = NewsScout("news_scout"), Sink()
    rt.add_agent(sc)
    rt.add_agent(sink)
    rt.inject(news("Officials say m1 will happen next week"), sender="rss", at_ns=T0 + S)
    await rt.run(until_ns=T0 + 2 * S)
    assert not rt.crashes
    assert [i.markets for i in sink.got] == [("m1",)]


def test_news_config_refuses_bad_threshold_naming_field() -> None:
    with pytest.raises(ValidationError, match="duplicate_threshold"):
        NewsScout("n", {"duplicate_threshold": 1.5})
