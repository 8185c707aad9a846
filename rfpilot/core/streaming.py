"""Showing a reply while it streams without ever showing marker text.

Markers come at the end of a reply, so the display is a prefix of the raw
text: ``DisplayStream`` releases text up to the first marker tag, holding
back anything at the tail that could still turn into one (a partial tag, a
code-fence line). When the reply is complete, ``finish`` gives whatever of
the parsed display was not shown yet.
"""

from __future__ import annotations

import re

from rfpilot.core.markers import MARKERS, _tidy

_TAGS = tuple(f"[{name}]" for name in MARKERS) + tuple(f"[/{name}]" for name in MARKERS)
_ANY_TAG = re.compile("|".join(re.escape(tag) for tag in _TAGS))


def _could_become_tag(tail: str) -> bool:
    return any(tag.startswith(tail) for tag in _TAGS)


def safe_prefix(raw: str) -> str:
    """The longest start of ``raw`` that is certainly display text."""
    tag = _ANY_TAG.search(raw)
    text = raw[: tag.start()] if tag else raw
    bracket = text.rfind("[")
    if bracket != -1 and "]" not in text[bracket:] and _could_become_tag(text[bracket:]):
        text = text[:bracket]
    # A fence line may open a fenced marker block: hold it until we know.
    # Trailing blank lines wait for the text that follows them.
    lines = text.split("\n")
    last = len(lines) - 1
    while last >= 0 and (not lines[last].strip() or lines[last].lstrip().startswith("`")):
        last -= 1
    # The same tidying the parser gives the final display, so the two agree.
    return _tidy("\n".join(lines[: last + 1]))


class DisplayStream:
    """Feed raw chunks; get back the display text that became safe to show."""

    def __init__(self) -> None:
        self.raw = ""
        self.shown = ""

    def feed(self, chunk: str) -> str:
        self.raw += chunk
        safe = safe_prefix(self.raw)
        if len(safe) <= len(self.shown) or not safe.startswith(self.shown):
            return ""
        new = safe[len(self.shown) :]
        self.shown = safe
        return new

    def finish(self, display: str) -> str:
        """The rest of the final display text (empty when it was all shown)."""
        if display.startswith(self.shown):
            rest = display[len(self.shown) :]
            self.shown = display
            return rest
        return ""
