"""Small text rules shared by services (titles, summary lines, short ids)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

TITLE_MAX = 80
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])")
_WS = re.compile(r"\s+")


def iso(value: datetime | None) -> str | None:
    """A timestamp as the JSON views write it (ISO 8601, to the second), or None."""
    return value.isoformat(timespec="seconds") if value else None


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


def clip(text: str, limit: int) -> str:
    """Like ``truncate``, but the text keeps its line breaks (paragraphs stay paragraphs): CRLF/CR become LF,
    trailing spaces and blank-line runs go, and a cut lands on a word boundary marked with an ellipsis."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    kept: list[str] = []
    for line in lines:
        if not line and (not kept or not kept[-1]):
            continue
        kept.append(line)
    text = "\n".join(kept).strip()
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = max(cut.rfind(" "), cut.rfind("\n"))
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-\n") + "…"


def paragraphs(text: str | None) -> list[str]:
    """The text's paragraphs (split at blank lines), stripped, empty ones dropped."""
    return [p.strip() for p in re.split(r"\n[ \t]*\n", (text or "").replace("\r\n", "\n")) if p.strip()]


def problem_paragraphs(intake: str | None, from_ticket: bool) -> list[str]:
    """What a note's Problem says of an intake: its first paragraph; for a ticket (a summary, then the
    description) the summary and the description's first paragraph, as two paragraphs."""
    return paragraphs(intake)[: 2 if from_ticket else 1]


def as_sentence(text: str) -> str:
    """Whitespace folded and a full stop added when the text does not end a sentence (a ticket summary is a
    headline: "Outlook asks for the password" becomes a sentence of its own, never run into what follows)."""
    text = one_line(text)
    if text and text[-1] not in ".!?…":
        text += "."
    return text


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


def replace_section(markdown: str, heading: str, body: str) -> str:
    """The markdown with the body of its `## heading` section replaced (the other sections untouched)."""
    lines = markdown.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        stripped = lines[i].strip()
        out.append(lines[i])
        i += 1
        if stripped.startswith("## ") and stripped[3:].strip().lower() == heading.lower():
            while i < len(lines) and not (lines[i].strip().startswith("## ") or lines[i].strip() == "##"):
                i += 1
            out += [body.strip("\n")] + ([""] if i < len(lines) else [])
            out += lines[i:]
            break
    return "\n".join(out)


# A line that says a list is empty is made of these words only, and holds at least one that says "none". Any other
# word (a thing checked, a reason) makes it an item: "No VPN: ruled out because …" and "None of the printers were
# affected, so the driver was ruled out" stay. Matching the words, not a phrasing, takes the paraphrases a model
# writes ("There were no dead ends in this session.", "None — nothing was ruled out.", "(none)").
_NONE_WORDS = frozenset({"no", "none", "nothing", "na", "nil", "zero", "not"})
_EMPTY_WORDS = _NONE_WORDS | frozenset("""
    there here it we i was were is are be been being has have had did do does
    any yet so far else other others further additional more new specific particular
    found recorded identified noted known reported report listed needed required applicable
    ruled rule rules out outs run ran tried attempted confirmed excluded eliminated dismissed checked tested
    to in during for of at on by with this that the these session ticket case issue troubleshooting time point now
    dead end ends deadend deadends hypothesis hypotheses cause causes candidate candidates
    diagnostic diagnostics action actions check checks step steps thing things item items entry entries first
""".split())
_WORD = re.compile(r"[^\W_]+")  # any script's letters and digits: a word in another language is not an empty word


def says_nothing(line: str) -> bool:
    """A line that says a list is empty ("Nothing was ruled out in this session.", "- None.", "(none)", "N/A",
    "No diagnostic actions run yet."): it must go when items are added under it, or the text contradicts itself.
    A line naming anything else is an item and stays."""
    text = re.sub(r"^\s*(?:[-*•+]|\d+[.)])\s*", "", line).casefold()
    text = re.sub(r"\bn/a\b", "na", text)
    text = re.sub(r"n['’]t\b", " not", text)  # weren't, didn't
    words = _WORD.findall(text)
    return bool(words) and not _NONE_WORDS.isdisjoint(words) and all(w in _EMPTY_WORDS for w in words)


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


CLOSE_SUMMARY_MAX = 500  # a close's summary line (`resolve --summary`, `escalate --reason`), at most


def close_summary(markdown: str) -> str:
    """The summary line a close takes from its note when the engineer gives none: the Problem's first sentence."""
    return truncate(summary_line(markdown), CLOSE_SUMMARY_MAX)


def written_summary(summary: str | None, markdown: str | None) -> str | None:
    """``summary`` when the engineer wrote it, None when it is the line a close took from the note (the default,
    ``close_summary``): that line restates the problem, so it never says what fixed it or why it was escalated."""
    if not summary or (markdown is not None and summary == close_summary(markdown)):
        return None
    return summary


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



# A look-back window as the commands take it (`--since 90d`): a whole number and a unit. "m" is refused on
# purpose: minutes or months, nobody can tell.
SINCE_UNITS = {"h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}
SINCE_MAX_DAYS = 3660  # ten years: every week of it still fits one query's answer
_SINCE_HINT = "give a whole number and a unit (48h, 30d, 12w, 1y) or a date (2026-11-01)"


def since_start(value: str, now: datetime) -> datetime:
    """Where a ``--since`` window starts: ``48h``, ``30d``, ``12w`` or ``1y`` back from ``now``, or a date (UTC
    midnight). The one reading of ``--since`` for every command (``search``, ``stats``); ``m`` is refused because
    it reads as minutes to some and months to others."""
    from rfpilot.errors import UsageError

    text = (value or "").strip().lower()
    found = re.fullmatch(r"(\d{1,6})\s*([hdwy])", text)
    if found is None:
        try:
            day = datetime.fromisoformat(text) if re.fullmatch(r"\d{4}-\d{2}-\d{2}.*", text) else None
        except ValueError:
            day = None
        if day is None:
            raise UsageError(f"{value!r} is not a duration or a date", hint=_SINCE_HINT)
        return day if day.tzinfo else day.replace(tzinfo=now.tzinfo or UTC)
    amount = int(found.group(1)) * SINCE_UNITS[found.group(2)]
    if amount <= 0:
        raise UsageError(f"the duration {value!r} is empty", hint=_SINCE_HINT)
    if amount > SINCE_MAX_DAYS * 86400:
        raise UsageError(f"the duration {value!r} is longer than {SINCE_MAX_DAYS} days",
                         hint=f"give at most {SINCE_MAX_DAYS}d")
    return now - timedelta(seconds=amount)


def span(seconds: float | None) -> str:
    """A length of time for figures: 45s, 20m, 1h 05m, 3d 4h; "–" for none."""
    if seconds is None:
        return "–"
    whole = max(0, int(seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m"
    if whole < 86400:
        return f"{whole // 3600}h {whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d {whole % 86400 // 3600}h"


def percent(rate: float | None) -> str:
    """0.333… as 33%; "–" for none."""
    return "–" if rate is None else f"{round(rate * 100)}%"
