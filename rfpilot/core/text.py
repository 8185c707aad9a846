"""Small text rules shared by services (titles, summary lines, short ids)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

TITLE_MAX = 80
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])")
_WS = re.compile(r"\s+")


def one_line(text: str) -> str:
    return _WS.sub(" ", text).strip()


def first_sentence(text: str) -> str:
    """The first sentence of a paragraph (whitespace folded)."""
    flat = one_line(text)
    if not flat:
        return ""
    return _SENTENCE_END.split(flat, maxsplit=1)[0].strip()


def truncate(text: str, limit: int) -> str:
    """Cut at a word boundary and mark the cut with an ellipsis."""
    text = one_line(text)
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-") + "…"


def title_from_text(text: str) -> str:
    """Offline title: the first sentence, cut to fit a session list row."""
    sentence = first_sentence(text).rstrip(".")
    return truncate(sentence, TITLE_MAX)


def short_id(value: str | None) -> str:
    return (value or "")[:8]


def markdown_section(markdown: str, heading: str) -> str | None:
    """The body of a `## heading` section, or None when the heading is absent."""
    lines = markdown.splitlines()
    body: list[str] = []
    inside = False
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("## ") or stripped == "##":
            if inside:
                break
            inside = stripped[3:].strip().lower() == heading.lower()
            continue
        if inside:
            body.append(line)
    return "\n".join(body).strip() if inside else None


def summary_line(markdown: str, limit: int = 500) -> str:
    """Listing summary: the first sentence of the Problem section, never a heading.

    Falls back to the first non-heading line when there is no Problem section.
    """
    problem = markdown_section(markdown, "Problem")
    source = problem if problem else ""
    if not source:
        for line in markdown.splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                source = line
                break
    source = source.lstrip("-*• ").strip()
    return truncate(first_sentence(source), limit)


def age(then: datetime, now: datetime) -> str:
    """Compact age for listings: 45s, 12m, 3h, 5d, 7w."""
    delta = now - then
    if delta < timedelta(0):
        delta = timedelta(0)
    seconds = int(delta.total_seconds())
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h"
    if seconds < 86400 * 14:
        return f"{seconds // 86400}d"
    return f"{seconds // (86400 * 7)}w"


def duration(seconds: int) -> str:
    """Timer display: 0:07, 1:05:09 (h:mm:ss) for longer ones."""
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"

