"""The news scout: which markets a news item is about, which way it leans, and whether it is news.

For each :class:`~protocols.RawNews` it:

1. drops it if its ``item_id`` was seen (feeds repeat entries on every poll), or if it was
   published more than ``max_age_s`` ago (an old article resurfacing is not news);
2. measures novelty against the recent items (Jaccard similarity of stem-triple shingles,
   :mod:`agents.text`): novelty = 1 − the highest similarity; an item at least
   ``duplicate_threshold`` similar to a recent one, or with the same normalised title, is the same
   story syndicated again and is dropped;
3. matches it to markets by the entities and keywords of each market's question (see
   :func:`match_score`), keeping at most ``max_markets_per_item`` best matches;
4. scores sentiment towards each market's YES: the item's lexicon sentiment (negation-aware,
   title counted ``title_weight`` times) times the question's own polarity — a question phrased
   negatively ("Will X lose?", "Will BTC fall below…?") turns good news for X into bad news for YES;
5. publishes a :class:`~protocols.NewsItem` stamped with ``published_ns`` (when the item became
   public, never later than now) and ``time_ns`` (when the scout saw it), so a strategy can tell
   how stale its edge is. Markets whose YES the item moves in opposite directions get separate
   items (``item_id#1``, ``#2``), since a NewsItem carries one sentiment.

Assumptions: English headlines; questions name their subject with capitalised words; the lexicon
measures direction, not magnitude; who wins a "beats"/"defeats" sentence is not parsed (a headline
"A beats B" reads positive for both A's and B's markets — the strategist should weigh it lightly).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import Field

from agents.base import Agent, AgentConfig, Subscription
from agents.text import (
    BREAK,
    STOP_WORDS,
    contains_run,
    content_stems,
    entities,
    jaccard,
    sentiment,
    sentiment_score,
    shingles,
    stems,
)
from protocols import Envelope, MarketClosed, MarketInfo, MarketResolved, NewsItem, RawNews

NS_PER_S = 1_000_000_000


class NewsScoutConfig(AgentConfig):
    min_match_score: float = Field(default=1.0, gt=0)
    """A market matches when its score reaches this: one full entity (1.0), or a partial entity
    (0.5) plus half the question's keywords, or every keyword (at least two)."""
    max_markets_per_item: int = Field(default=5, ge=1)
    duplicate_threshold: float = Field(default=0.8, gt=0, le=1)
    novelty_window: int = Field(default=500, ge=1)
    """How many recent items novelty compares against."""
    novelty_horizon_s: float = Field(default=6 * 3600.0, gt=0)
    """...and how far back."""
    max_age_s: float = Field(default=2 * 86_400.0, gt=0)
    title_weight: int = Field(default=2, ge=1)
    body_tokens: int = Field(default=200, ge=0)
    """Only the first this-many body tokens are read (the lede carries the news)."""
    publish_unmatched: bool = False
    max_seen_ids: int = Field(default=100_000, ge=100)


@dataclass(frozen=True, slots=True)
class MarketTerms:
    """What a market's question is about, pre-digested for matching."""

    market: str
    entities: tuple[tuple[str, ...], ...]
    keywords: frozenset[str]
    polarity: int

    @classmethod
    def of(cls, info: MarketInfo) -> MarketTerms:
        ents = tuple(entities(info.question))
        ent_words = {w for e in ents for w in e}
        kws = frozenset(w for w in content_stems(info.question) if w not in ent_words and len(w) > 1)
        pos, neg = sentiment(stems(info.question))
        return cls(info.market, ents, kws, -1 if neg > pos else 1)


def match_score(terms: MarketTerms, item_stems: list[str], item_set: set[str]) -> tuple[float, list[str]]:
    """Score how much an item is about a market, and the terms that matched.

    Full entity run present: 1.0 each. Otherwise any significant word of a multi-word entity
    present: 0.5. Plus the fraction of the question's other keywords present (only counted when
    at least one entity matched, or when at least two keywords matched — one shared common word is
    not a topic).
    """
    score = 0.0
    hits: list[str] = []
    for ent in terms.entities:
        if contains_run(item_stems, ent):
            score += 1.0
            hits.append(" ".join(ent))
        elif len(ent) > 1:
            part = [w for w in ent if w not in STOP_WORDS and len(w) > 2 and w in item_set]
            if part:
                score += 0.5
                hits.extend(part)
    kw = [w for w in sorted(terms.keywords) if w in item_set]
    if kw and terms.keywords and (score > 0 or len(kw) >= 2):
        score += len(kw) / len(terms.keywords)
        hits.extend(kw)
    return score, hits


@dataclass(slots=True)
class _Recent:
    time_ns: int
    shingles: frozenset[tuple[str, ...]]
    title: str


class NewsScout(Agent[NewsScoutConfig]):
    role: ClassVar[str] = "news_scout"
    config_model: ClassVar[type[AgentConfig]] = NewsScoutConfig
    subscriptions: ClassVar[tuple[Subscription, ...]] = (
        Subscription(RawNews),
        Subscription(MarketInfo),
        Subscription(MarketResolved),
        Subscription(MarketClosed),
    )

    def __init__(self, agent_id: str = "news_scout", config: NewsScoutConfig | dict[str, Any] | None = None):
        super().__init__(agent_id, config)
        self._markets: dict[str, MarketInfo] = {}
        self._terms: dict[str, MarketTerms] = {}
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._recent: deque[_Recent] = deque(maxlen=self.config.novelty_window)
        self.counters: dict[str, int] = dict.fromkeys(
            ("items_in", "items_out", "duplicates", "near_duplicates", "too_old", "unmatched", "future_dated"), 0
        )

    # -- messages -------------------------------------------------------------------------------
    def on_message(self, envelope: Envelope) -> None:
        p = envelope.payload
        if isinstance(p, RawNews):
            self._on_news(p)
        elif isinstance(p, MarketInfo):
            if p.closed or not p.active:
                self._forget(p.market)
            else:
                self._markets[p.market] = p
                self._terms[p.market] = MarketTerms.of(p)
        elif isinstance(p, MarketResolved | MarketClosed):
            self._forget(p.market)

    def _forget(self, market: str) -> None:
        self._markets.pop(market, None)
        self._terms.pop(market, None)

    def _on_news(self, raw: RawNews) -> None:
        c = self.counters
        c["items_in"] += 1
        now = self.ctx.now_ns()
        if raw.item_id in self._seen:
            c["duplicates"] += 1
            return
        self._remember_id(raw.item_id)
        published = raw.published_ns
        if published > now:
            c["future_dated"] += 1
            published = now
        if now - published > int(self.config.max_age_s * NS_PER_S):
            c["too_old"] += 1
            return
        title_stems = stems(raw.title)
        body_stems = stems(raw.body)[: self.config.body_tokens]
        all_stems = [*title_stems, BREAK, *body_stems]
        sh = shingles(all_stems)
        norm_title = " ".join(t for t in title_stems if t != BREAK)
        horizon = now - int(self.config.novelty_horizon_s * NS_PER_S)
        best = 0.0
        for r in self._recent:
            if r.time_ns < horizon:
                continue
            if norm_title and r.title == norm_title:
                best = 1.0
                break
            best = max(best, jaccard(sh, r.shingles))
        if best >= self.config.duplicate_threshold:
            c["near_duplicates"] += 1
            return
        self._recent.append(_Recent(now, sh, norm_title))
        novelty = max(0.0, min(1.0, 1.0 - best))

        item_set = set(all_stems)
        scored: list[tuple[float, str, list[str]]] = []
        for m, terms in self._terms.items():
            score, hits = match_score(terms, all_stems, item_set)
            if score >= self.config.min_match_score:
                scored.append((score, m, hits))
        scored.sort(key=lambda x: (-x[0], x[1]))
        scored = scored[: self.config.max_markets_per_item]
        if not scored:
            c["unmatched"] += 1
            if not self.config.publish_unmatched:
                return
        tp, tn = sentiment(title_stems)
        bp, bn = sentiment(body_stems)
        w = self.config.title_weight
        s = sentiment_score(tp * w + bp, tn * w + bn)
        groups: dict[int, list[tuple[str, list[str]]]] = {}
        for _score, m, hits in scored:
            groups.setdefault(self._terms[m].polarity, []).append((m, hits))
        if not groups:
            groups[1] = []
        for i, (polarity, members) in enumerate(sorted(groups.items(), key=lambda g: -g[0])):
            keywords: list[str] = []
            for _m, hits in members:
                keywords.extend(h for h in hits if h not in keywords)
            self.ctx.publish(
                NewsItem(
                    time_ns=now,
                    item_id=raw.item_id if len(groups) == 1 else f"{raw.item_id}#{i + 1}",
                    source=raw.source,
                    title=raw.title,
                    url=raw.url,
                    published_ns=published,
                    markets=tuple(m for m, _ in members),
                    sentiment=max(-1.0, min(1.0, round(s * polarity, 6))),
                    novelty=round(novelty, 6),
                    keywords=tuple(keywords[:12]),
                )
            )
            c["items_out"] += 1

    def _remember_id(self, item_id: str) -> None:
        self._seen[item_id] = None
        while len(self._seen) > self.config.max_seen_ids:
            self._seen.popitem(last=False)

    # -- state ----------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        return {
            "markets": [m.model_dump(mode="json") for m in self._markets.values()],
            "seen": list(self._seen),
            "recent": [[r.time_ns, r.title, [list(s) for s in sorted(r.shingles)]] for r in self._recent],
            "counters": dict(self.counters),
        }

    def restore(self, state: dict[str, Any]) -> None:
        for raw in state.get("markets", []):
            info = MarketInfo.model_validate(raw)
            self._markets[info.market] = info
            self._terms[info.market] = MarketTerms.of(info)
        self._seen = OrderedDict((str(i), None) for i in state.get("seen", ()))
        self._recent.clear()
        for t, title, sh in state.get("recent", ()):
            self._recent.append(_Recent(int(t), frozenset(tuple(s) for s in sh), str(title)))
        for k, v in state.get("counters", {}).items():
            if k in self.counters:
                self.counters[k] = int(v)

    def status(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "markets_indexed": len(self._terms),
            "recent_items": len(self._recent),
            **self.counters,
        }
