"""Showing a reply while it streams without ever showing marker text.

Markers come at the end of a reply, so the display is a prefix of the raw
text: ``DisplayStream`` releases text up to the first marker tag, holding
back anything at the tail that could still turn into one (a partial tag, a
code-fence line). When the reply is complete, ``finish`` gives whatever of
the parsed display was not shown yet.
"""

from __future__ import annotations

import re

from rfpilot.core.inputs import clean_model_text
from rfpilot.core.engine.markers import MARKERS, _tidy

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


_TAG_LEN = max(len(tag) for tag in _TAGS)
# Past its first _SMALL characters, the text before the first tag is re-read only once it grew by an eighth
# of itself: the work over a whole reply stays linear in its size, however small its chunks.
_GROWTH = 8
_SMALL = 4_096


class DisplayStream:
    """Feed raw chunks; get back the display text that became safe to show.

    Work is linear in the reply: the search for the first marker tag resumes where it stopped, nothing after
    that tag is ever looked at again, and past 4 KB the text before it is re-read only after it grew by an eighth.
    ``scanned`` counts the characters looked at (tests hold it to a multiple of the reply's size).
    """

    def __init__(self) -> None:
        self._chunks: list[str] = []
        self._size = 0  # characters fed so far
        self._tail = ""  # the last few characters, where a tag may have begun
        self._tag_at: int | None = None  # where the first tag starts: nothing from there on is display text
        self._read_at = 0  # how much text safe_prefix last read
        self.shown = ""
        self.scanned = 0

    @property
    def raw(self) -> str:
        return "".join(self._chunks)

    def feed(self, chunk: str) -> str:
        chunk = clean_model_text(chunk)  # as parse_reply cleans the whole reply
        if not chunk or self._tag_at is not None:
            self._chunks.append(chunk)
            return ""
        self._chunks.append(chunk)
        window = self._tail + chunk  # the tag search never goes back further than a tag's length
        tag = _ANY_TAG.search(window)
        self.scanned += len(window)
        offset = self._size - len(self._tail)
        self._size += len(chunk)
        self._tail = window[-_TAG_LEN:]
        if tag is not None:
            self._tag_at = offset + tag.start()
        elif self._size - self._read_at < max(0, self._read_at - _SMALL) // _GROWTH:
            return ""
        text = self.raw if self._tag_at is None else self.raw[: self._tag_at]
        self._read_at = len(text)
        safe = safe_prefix(text)
        self.scanned += len(text)
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
