"""Words out of text, for the search index's queries and for "seen before"'s rerank. Standard library only.

A user's query never reaches FTS5 or ``to_tsquery`` as syntax: it is cut into words (letters and digits, any
script) and each word goes as a quoted term (SQLite) or a bound ``plainto_tsquery`` argument (Postgres), so
quotes, ``NEAR``, ``AND``, parentheses, ``*``, ``:`` and control bytes are never operators.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Iterable

# Words: runs of letters and digits (\w without the underscore, which both tokenizers split on).
_WORD = re.compile(r"[^\W_]+")
# At most this many characters of a query are read, and this many words kept: a 1 MB query costs no more.
QUERY_CHARS = 2_000
QUERY_TERMS = 24
TERM_CHARS = 64

STOPWORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being below between both but
by can cannot could did do does doing down during each few for from further had has have having he her here hers
him his how i if in into is it its itself just me more most my no nor not now of off on once only or other our out
over own same she should so some such than that the their them then there these they this those through to too
under until up very was we were what when where which while who whom why will with would you your yours also
yet via per let lets get gets got getting still again since already ever never anymore today yesterday morning
""".split())

# Words every troubleshooting session says: they tell one problem from another no better than "the".
GENERIC = frozenset("""
user users issue issues problem problems error errors working work works worked fails failed failing fail broken
unable help please need needs needed trying tried try says said reports reported report ticket customer client
computer pc machine team someone anyone everyone thing things stuff back now new old keep keeps kept started start
seems seem like also see saw able whole etc ok okay yes hi hello thanks
""".split())


def words(text: str | None, limit: int | None = None) -> list[str]:
    """The lower-cased words of ``text`` (at most ``limit`` characters of it read)."""
    if not text:
        return []
    if limit is not None:
        text = text[:limit]
    return [w.casefold() for w in _WORD.findall(text)]


def query_terms(text: str | None) -> list[str]:
    """The distinct words of a user's query, in order, at most QUERY_TERMS of them (stopwords kept when they are
    all there is): the search's terms."""
    found = [w[:TERM_CHARS] for w in words(text, QUERY_CHARS)]
    kept = [w for w in found if w not in STOPWORDS] or found
    return list(dict.fromkeys(kept))[:QUERY_TERMS]


def stem(word: str) -> str:
    """A light suffix stripper (plural, -ing, -ed, a final e) so "rotated", "rotates" and "rotation" meet."""
    if len(word) <= 3 or word.isdigit():
        return word
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith("sses"):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for suffix in ("ations", "ation", "ing", "ed", "er"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            word = word[: -len(suffix)]
            break
    if word.endswith("e") and len(word) > 4:
        word = word[:-1]
    return word


def salient(text: str | None, limit: int | None = None) -> list[str]:
    """The words of ``text`` that tell problems apart: no stopwords, no generic words, no single letters."""
    return [w for w in words(text, limit) if len(w) > 1 and w not in STOPWORDS and w not in GENERIC
            and not (w.isdigit() and len(w) < 3)]


@functools.lru_cache(maxsize=65_536)
def _salient_stem(word: str) -> str | None:
    if len(word) <= 1 or word in STOPWORDS or word in GENERIC or (word.isdigit() and len(word) < 3):
        return None
    return stem(word)


def bag(texts: Iterable[str | None], limit: int | None = None) -> Counter[str]:
    """Stemmed salient words of ``texts`` with their counts."""
    counts: Counter[str] = Counter()
    for text in texts:
        if text:
            counts.update(s for s in map(_salient_stem, words(text, limit)) if s is not None)
    return counts


def fts5_query(terms: Iterable[str], operator: str = "AND") -> str:
    """An FTS5 MATCH expression: each term a quoted string, joined by ``operator`` (AND or OR)."""
    quoted = ['"' + t.replace('"', '""') + '"' for t in terms]
    return f" {operator} ".join(quoted)
