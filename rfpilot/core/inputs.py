"""Hostile bytes at the edges: what rfpilot accepts as text, and how model text is made safe to store.

Everything an engineer gives rfpilot (arguments, stdin, files it reads,
environment values) must be valid UTF-8 without NUL bytes and of a sane size;
anything else is a usage error that names the input, before anything changes.
Model text is never refused: lone surrogates become U+FFFD and NUL bytes go,
before it is parsed or stored.

This module is light (standard library only): the CLI checks its arguments
with it before loading any command.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rfpilot.errors import UsageError

# The limits and the checks of one text live in rfpilot.textcheck, below config (which checks rfpilot's environment
# variables with them); they are named here too, where the rest of the input handling uses them.
from rfpilot.textcheck import ARG_MAX_CHARS, TEXT_MAX_BYTES, check_text, problem, shown
from rfpilot.textcheck import SURROGATES as _SURROGATES
from rfpilot.textcheck import UTF8_HINT as _FIX

__all__ = [
    "ARG_MAX_CHARS", "TEXT_MAX_BYTES", "check_argv", "check_text", "clean_model_data", "clean_model_text", "decode",
    "os_problem", "problem", "read_stdin", "read_text_file", "shown",
]


def check_argv(args: list[str], name_of: Callable[[list[str], int], str] | None = None) -> None:
    """Refuse an argument list holding invalid UTF-8, NUL or a huge value, naming the argument."""
    for index, arg in enumerate(args):
        wrong = problem(arg)
        if wrong:
            what = name_of(args, index) if name_of else f"argument {index + 1}"
            raise UsageError(f"{what} {wrong}; nothing was changed", hint=_FIX)


def decode(data: bytes, what: str) -> str:
    """Strict UTF-8 (a BOM is dropped); invalid bytes or NUL are a usage error naming ``what``."""
    if len(data) > TEXT_MAX_BYTES:
        raise UsageError(
            f"{what} is too large (more than {TEXT_MAX_BYTES:,} bytes); nothing was changed",
            hint="give a shorter text, or only the part that matters",
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"{what} is not valid UTF-8 (byte {exc.start}: {data[exc.start:exc.start + 1]!r}); nothing was changed",
            hint="convert it to UTF-8 first (e.g. `iconv -t UTF-8`)",
        ) from None
    if "\x00" in text:
        raise UsageError(f"{what} contains a NUL byte (a binary file?); nothing was changed", hint="give a text file")
    return text


def os_problem(exc: OSError) -> str:
    """An OS error as one readable phrase."""
    return exc.strerror or str(exc)


def read_text_file(path: Path | str, what: str) -> str:
    """A text file, strictly UTF-8 and at most TEXT_MAX_BYTES; every failure is a usage error naming the file."""
    target = Path(path).expanduser()
    name = shown(str(target), 200)
    try:
        with open(target, "rb") as handle:
            data = handle.read(TEXT_MAX_BYTES + 1)
    except FileNotFoundError:
        raise UsageError(f"{what} file not found: {name}") from None
    except OSError as exc:
        raise UsageError(f"cannot read {what} file {name}: {os_problem(exc)}") from None
    return decode(data, f"{what} file {name}")


def read_stdin(what: str, *, line: bool = False) -> str:
    """Stdin (all of it, or one line), strictly UTF-8 and at most TEXT_MAX_BYTES."""
    import sys

    stream = sys.stdin
    buffer = getattr(stream, "buffer", None)
    where = f"{what} on stdin"
    if buffer is not None:
        data = buffer.readline(TEXT_MAX_BYTES + 1) if line else buffer.read(TEXT_MAX_BYTES + 1)
        return decode(data, where)
    try:  # a text stream without bytes under it (tests, embedding)
        text = stream.readline() if line else stream.read(TEXT_MAX_BYTES + 1)
    except UnicodeDecodeError:
        raise UsageError(f"{where} is not valid UTF-8; nothing was changed", hint=_FIX) from None
    return check_text(text, where)


# --- model text --------------------------------------------------------------------------


def clean_model_text(text: str) -> str:
    """Model text made storable: lone surrogates become U+FFFD, NUL bytes are removed."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    if _SURROGATES.search(text):
        text = _SURROGATES.sub("\ufffd", text)
    return text


def clean_model_data(value: object) -> object:
    """``clean_model_text`` applied to every string in decoded JSON (keys included)."""
    if isinstance(value, str):
        return clean_model_text(value)
    if isinstance(value, list):
        return [clean_model_data(v) for v in value]
    if isinstance(value, dict):
        return {clean_model_text(k) if isinstance(k, str) else k: clean_model_data(v) for k, v in value.items()}
    return value
