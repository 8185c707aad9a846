"""What rfpilot accepts as input text: valid UTF-8, no NUL byte, a sane size (the checks behind core.inputs).

Below config, which checks rfpilot's own environment variables with them while loading the settings; the core's
input handling (arguments, files, stdin, model text) is in ``rfpilot.core.inputs``, which names these too.
Standard library only: the CLI checks its arguments with them before loading any command.
"""

from __future__ import annotations

import re

from rfpilot.errors import UsageError

# One argument: Linux's own limit for a single argv string (MAX_ARG_STRLEN), so
# in-process callers are held to what a shell could pass.
ARG_MAX_CHARS = 131_072
# Text read from a file or stdin (a note, a script, a check's output, a template).
TEXT_MAX_BYTES = 2_000_000

SURROGATES = re.compile("[\ud800-\udfff]")
UTF8_HINT = "give it as UTF-8 text"


def shown(value: str, limit: int = 40) -> str:
    """A value as the engineer can read it and any terminal can print: invalid bytes as \\xNN, cut short."""
    if _lone_surrogate_unencodable(value):
        text = ascii(value)
    else:
        text = value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        text = text.replace("\x00", "\\x00")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _lone_surrogate_unencodable(value: str) -> bool:
    try:
        value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return True
    return False


def problem(value: str, limit: int = ARG_MAX_CHARS) -> str | None:
    """What is wrong with ``value`` as input text, or None when it is fine."""
    if SURROGATES.search(value):
        return f"is not valid UTF-8 ({shown(value)})"
    if "\x00" in value:
        return "contains a NUL byte"
    if len(value) > limit:
        return f"is too long ({len(value):,} characters; the limit is {limit:,})"
    return None


def check_text(value: str, what: str, limit: int = TEXT_MAX_BYTES) -> str:
    """``value`` when it is acceptable input text, else a usage error naming ``what``."""
    wrong = problem(value, limit)
    if wrong:
        raise UsageError(f"{what} {wrong}; nothing was changed", hint=UTF8_HINT)
    return value
