"""The one output sanitiser: stored or external text reaches a terminal or an export inert.

Titles, facts, model replies, PSA tickets, teammates' names and every other piece of text rfpilot did not write
itself can carry terminal control sequences: OSC 52 (writes the clipboard), a screen clear, a title change, BEL,
the 8-bit CSI/OSC introducers (U+009B, U+009D). Before such text is printed (CLI), painted (TUI) or written to an
export it passes through here.

The rule, the same everywhere:

- every control code point except newline and tab — C0 (U+0000–U+001F, so ESC, BEL, backspace, NUL and a lone
  carriage return), DEL (U+007F) and C1 (U+0080–U+009F) — becomes one visible U+FFFD REPLACEMENT CHARACTER;
  the bytes of an escape sequence after its introducer stay as ordinary visible text
  (``ESC ] 0 ; t BEL`` shows as ``�]0;t�``), so nothing is silently dropped and nothing is interpreted;
- CRLF becomes LF (a carriage return would otherwise let text overwrite what was printed before it);
- a lone surrogate (which no terminal encoding can write) becomes U+FFFD too.

One code point in, at most one out, so aligned tables stay aligned; the result is idempotent.

JSON keeps the data exact instead: ``dumps`` writes DEL, C1 and lone surrogates as ``\\uXXXX`` escapes (the C0
controls are escaped by ``json`` already), so a JSON document is escape-free on a terminal and loads back to the very
same strings.

Imports nothing beyond the standard library: the CLI loads it for ``rfpilot --help``.
"""

from __future__ import annotations

import json
import re
from typing import Any

PLACEHOLDER = "\N{REPLACEMENT CHARACTER}"

# C0 except tab and newline, DEL, C1, and UTF-16 surrogates (only ever lone in a Python str).
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
# What json.dumps(ensure_ascii=False) leaves raw although it is not safe on a terminal.
_JSON_RAW = re.compile(r"[\x7f-\x9f\ud800-\udfff]")


def inert(value: str | None) -> str:
    """``value`` safe to print: every control but newline and tab shown as U+FFFD, CRLF as LF."""
    if not value:
        return ""
    if "\r\n" in value:
        value = value.replace("\r\n", "\n")
    return _UNSAFE.sub(PLACEHOLDER, value)


def inert_all(value: Any) -> Any:
    """``value`` with ``inert`` applied to every string in it (dicts, lists and tuples walked; keys too)."""
    if isinstance(value, str):
        return inert(value)
    if isinstance(value, dict):
        return {inert_all(k): inert_all(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [inert_all(v) for v in value]
    return value


def is_inert(value: str) -> bool:
    """True when ``value`` holds no control (other than newline and tab) and no lone surrogate."""
    return _UNSAFE.search(value) is None


def dumps(payload: Any, **kwargs: Any) -> str:
    """``json.dumps`` with readable Unicode and no raw control: every string loads back unchanged."""
    text = json.dumps(payload, ensure_ascii=False, **kwargs)
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


class InertStream:
    """``inert`` for text that arrives in pieces (a streamed model reply): a CR at the end of one piece is held back
    until the next shows whether it starts a CRLF."""

    def __init__(self) -> None:
        self._held = ""

    def feed(self, chunk: str) -> str:
        chunk = self._held + chunk
        self._held = ""
        if chunk.endswith("\r"):
            chunk, self._held = chunk[:-1], "\r"
        return inert(chunk)

    def finish(self) -> str:
        held, self._held = self._held, ""
        return inert(held)
