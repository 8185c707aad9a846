"""English grammar for every message rfpilot writes: counts that agree ("1 question", "2 questions") and the
indefinite article ("an escalated session"). CLI, TUI, core, store and PSA messages all use these, so no
f-string pluralises by hand (tests/test_messages.py looks for the hand-made ones)."""

from __future__ import annotations

_IRREGULAR = {"hypothesis": "hypotheses", "is": "are", "was": "were", "has": "have", "does": "do", "this": "these"}
_AN_EXCEPTIONS = ("one", "once", "user", "unique", "url", "usb", "utf", "eu")


def plural(noun: str, n: int = 2) -> str:
    """``noun`` as it agrees with the number ``n``: "question" -> "questions", "draft template" -> "draft
    templates", "entry" -> "entries", "branch" -> "branches", "hypothesis" -> "hypotheses"; unchanged for 1.
    Only the last word changes."""
    if n == 1 or not noun:
        return noun
    head, _, last = noun.rpartition(" ")
    lower = last.lower()
    if lower in _IRREGULAR:
        word = _IRREGULAR[lower]
    elif lower.endswith("y") and len(lower) > 1 and lower[-2] not in "aeiou":
        word = last[:-1] + "ies"
    elif lower.endswith(("s", "x", "z", "ch", "sh")):
        word = last + "es"
    else:
        word = last + "s"
    return f"{head} {word}" if head else word


def count(n: int, noun: str, *, at_least: bool = False) -> str:
    """"1 question", "2 questions", "0 questions" (thousands separated: "1,200 tokens"); ``at_least`` when
    ``n`` is only a lower bound (more not counted yet): "50+ sessions", "1+ sessions"."""
    if at_least:
        return f"{n:,}+ {plural(noun)}"
    return f"{n:,} {plural(noun, n)}"


def verb(n: int, third_person: str) -> str:
    """A verb that agrees with a count: ``verb(1, "waits")`` -> "waits", ``verb(3, "waits")`` -> "wait"."""
    if n == 1:
        return third_person
    return _IRREGULAR.get(third_person, third_person[:-1] if third_person.endswith("s") else third_person)


def with_article(phrase: str) -> str:
    """"a resolved session", "an escalated session", "an hour", "a user": the indefinite article by sound."""
    word = phrase.lstrip().lower()
    vowel = word[:1] in tuple("aeiou") and not word.startswith(_AN_EXCEPTIONS)
    return ("an " if vowel or word.startswith(("hour", "honest", "honour", "heir")) else "a ") + phrase
