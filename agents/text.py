"""Small, dependency-free text tools for the news scout: tokens, stems, entities, sentiment, shingles.

Why not an NLP library: the scout must run in a 10,000-seed sweep and on a laptop with no model
downloads, and its job is narrow — decide which markets a headline is about and which way it
leans. Everything here is deterministic, explainable and documented:

- **Tokens**: words and numbers; ``n't`` contractions become the word plus ``not`` ("won't" →
  "wo", "not"); possessive ``'s`` is dropped; clause punctuation (. , ; : ! ?) is kept as a
  break marker, because negation does not cross a clause.
- **Stems**: a light suffix stripper in the spirit of Porter's step 1 (plurals, -ed, -ing, -er,
  -ly, -ion/-ation, -ment, -ness; doubled final consonant undone; a final "e" dropped), so
  "wins", "winning", "winner" → "win" and "elected", "election" → "elect".
- **Entities**: runs of capitalised words in the market question ("Donald Trump", "Bank of
  England"), excluding the sentence-initial auxiliary ("Will", "Does"), stop words, months and
  weekdays. Matched as a contiguous run of stems, so "Trump" alone is a partial match of
  "Donald Trump".
- **Sentiment**: a small lexicon (:data:`POSITIVE`, :data:`NEGATIVE`, stems) summed per item;
  a negator ("not", "no", "never", "without", "denies", "fails to", "unlikely to") flips every
  sentiment word after it in the same clause within :data:`NEGATION_WINDOW` tokens, so "X will not
  win" is negative and "X denies he will resign" is positive.
- **Shingles**: sets of consecutive stem triples; Jaccard similarity between two items' shingles
  measures how much of a story is already known (novelty = 1 − max similarity).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

BREAK = "|"
"""Token standing for a clause break."""

_TOKEN_RE = re.compile(r"[A-Za-z0-9$%]+(?:[.,][0-9]+)*(?:['’][A-Za-z]+)?|[.;:!?,]")

STOP_WORDS: frozenset[str] = frozenset(
    """
    a an the and or but if of in on at by for to from with as into onto than then that this these
    those it its is are was were be been being do does did has have had will would shall should can
    could may might must who whom whose which what when where why how there here any all some each
    more most other such only own same so too very just also about over under again further once up
    down out off s t he she they them his her their our we you your i me my mine us yes after
    before during until while between through per vs via
""".split()  # noqa: SIM905
)

#: Capitalised, but not names: they must not form an entity on their own.
_NOT_ENTITY: frozenset[str] = frozenset(
    """
    january february march april may june july august september october november december monday
    tuesday wednesday thursday friday saturday sunday jan feb mar apr jun jul aug sep sept oct nov
    dec q1 q2 q3 q4 will does do did is are can could would should has have who what which when how
""".split()  # noqa: SIM905
)

NEGATORS: frozenset[str] = frozenset({"not", "no", "never", "without", "neither", "nor", "deny", "denies", "denied"})
"""Words that flip what follows. "fail"/"unlikely" flip only when followed by "to" (handled apart)."""
_NEGATOR_BEFORE_TO: frozenset[str] = frozenset({"fail", "fails", "failed", "failing", "unlikely", "refuses", "refused"})

NEGATION_WINDOW = 4

# Lexicons are stems (see :func:`stem`). Kept short on purpose: every word here moves a market.
_POSITIVE_WORDS = """
    win victory lead ahead surge soar rise rally gain jump climb beat pass approve confirm deal
    succeed success record boost strong support endorse favorite top breakthrough launch secure
    clinch advance qualify sign rebound upgrade bullish outperform accept won rose
""".split()  # noqa: SIM905
_NEGATIVE_WORDS = """
    lose loss defeat trail behind drop fall plunge crash slump decline sink tumble miss reject veto
    block fail collapse scandal resign quit withdraw suspend delay cancel ban indict arrest
    investigate weak oppose downgrade bearish underperform cut concede lawsuit sue sued suing halt
    postpone lost fell sank
""".split()  # noqa: SIM905


def stem(word: str) -> str:
    """Lower-case light stemmer (see the module docstring). Idempotent on its own output for
    the lexicon's words, which is what lexicon lookups need."""
    w = word.lower()
    if len(w) <= 3 or not w.isalpha():
        return w
    for suf, rep in (
        ("ational", "ate"),
        ("ations", ""),
        ("ation", ""),
        ("ments", ""),
        ("ment", ""),
        ("ness", ""),
        ("ingly", ""),
        ("edly", ""),
        ("ings", ""),
        ("ing", ""),
        ("ions", ""),
        ("ion", ""),
        ("ies", "y"),
        ("ied", "y"),
        ("ers", ""),
        ("er", ""),
        ("ed", ""),
        ("ly", ""),
    ):
        if suf == "ed" and w.endswith("eed"):  # succeed, proceed: not a past tense
            continue
        if w.endswith(suf) and len(w) - len(suf) + len(rep) >= (4 if suf in ("ly", "er", "ers") else 3):
            w = w[: len(w) - len(suf)] + rep
            break
    else:
        if (w.endswith("es") and len(w) > 4 and w[-3] in "sxz") or w.endswith(("ches", "shes")):
            w = w[:-2]
        elif w.endswith("s") and not w.endswith("ss") and len(w) > 3:
            w = w[:-1]
    if len(w) > 3 and w[-1] == w[-2] and w[-1] not in "aeiouls":
        w = w[:-1]
    if len(w) > 3 and w.endswith("e"):
        w = w[:-1]
    return w


POSITIVE: frozenset[str] = frozenset(stem(w) for w in _POSITIVE_WORDS)
NEGATIVE: frozenset[str] = frozenset(stem(w) for w in _NEGATIVE_WORDS)
_NEGATOR_STEMS: frozenset[str] = frozenset(stem(w) for w in NEGATORS)
_NEGATOR_BEFORE_TO_STEMS: frozenset[str] = frozenset(stem(w) for w in _NEGATOR_BEFORE_TO)


def raw_tokens(text: str) -> list[str]:
    """Words, numbers and clause breaks in order, case kept; contractions split off ``not``."""
    out: list[str] = []
    for m in _TOKEN_RE.finditer(text):
        tok = m.group(0)
        if tok in ".;:!?,":
            out.append(BREAK)
            continue
        tok = tok.replace("’", "'")
        low = tok.lower()
        if low.endswith("n't"):
            base = tok[:-3]
            if base:
                out.append(base)
            out.append("not")
        elif low.endswith("'s"):
            out.append(tok[:-2])
        else:
            out.append(tok)
    return out


def stems(text: str) -> list[str]:
    """Stems of every token (clause breaks kept)."""
    return [t if t == BREAK else stem(t) for t in raw_tokens(text)]


def content_stems(text: str) -> list[str]:
    """Stems without stop words or clause breaks: what a text is about."""
    return [stem(t) for t in raw_tokens(text) if t != BREAK and t.lower() not in STOP_WORDS]


def entities(text: str) -> list[tuple[str, ...]]:
    """Runs of capitalised words (and "of"/"the" between them) as tuples of stems."""
    toks = raw_tokens(text)
    found: list[tuple[str, ...]] = []
    run: list[str] = []

    def close() -> None:
        while run and run[-1].lower() in STOP_WORDS:
            run.pop()
        if run:
            ent = tuple(stem(t) for t in run)
            if ent not in found:
                found.append(ent)
        run.clear()

    for i, tok in enumerate(toks):
        low = tok.lower()
        capital = tok[:1].isupper() or (tok.isupper() and len(tok) > 1)
        acronym = tok.isupper() and len(tok) > 1 and tok.isalpha()
        if (tok != BREAK and capital and low not in _NOT_ENTITY and (acronym or low not in STOP_WORDS)) or (
            run and low in ("of", "the", "de", "von") and i + 1 < len(toks) and toks[i + 1][:1].isupper()
        ):
            run.append(tok)
        else:
            close()
    close()
    return found


def contains_run(seq: Sequence[str], run: Sequence[str]) -> bool:
    n = len(run)
    if n == 0 or n > len(seq):
        return False
    first = run[0]
    return any(seq[i] == first and tuple(seq[i : i + n]) == tuple(run) for i in range(len(seq) - n + 1))


def sentiment(tokens: Sequence[str]) -> tuple[int, int]:
    """(positive hits, negative hits) over stem tokens (with clause breaks), negation applied."""
    pos = neg = 0
    flip_left = 0
    n = len(tokens)
    for i, tok in enumerate(tokens):
        if tok == BREAK:
            flip_left = 0
            continue
        if tok in _NEGATOR_STEMS or (tok in _NEGATOR_BEFORE_TO_STEMS and i + 1 < n and tokens[i + 1] == "to"):
            flip_left = NEGATION_WINDOW + (1 if tok in _NEGATOR_BEFORE_TO_STEMS else 0)  # "to" uses a slot
            continue
        polarity = 1 if tok in POSITIVE else (-1 if tok in NEGATIVE else 0)
        if polarity and flip_left > 0:
            polarity = -polarity
        if polarity > 0:
            pos += 1
        elif polarity < 0:
            neg += 1
        if flip_left > 0:
            flip_left -= 1
    return pos, neg


def sentiment_score(pos: int, neg: int) -> float:
    """(pos − neg) / (pos + neg + 1): in (−1, 1), damped for a single word."""
    return (pos - neg) / (pos + neg + 1)


def shingles(tokens: Iterable[str], k: int = 3) -> frozenset[tuple[str, ...]]:
    """Consecutive k-stem tuples (stop words and breaks removed); a short text is one shingle."""
    words = [t for t in tokens if t != BREAK and t not in STOP_WORDS]
    if len(words) < k:
        return frozenset({tuple(words)}) if words else frozenset()
    return frozenset(tuple(words[i : i + k]) for i in range(len(words) - k + 1))


def jaccard(a: frozenset[tuple[str, ...]], b: frozenset[tuple[str, ...]]) -> float:
    if not a or not b:
        return 0.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)
