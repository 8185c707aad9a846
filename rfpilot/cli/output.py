"""The one place the CLI writes: data to stdout, diagnostics to stderr.

Every write passes through ``rfpilot.textsafe.inert``: whatever a caller hands over (a title, a fact, a model reply,
a PSA ticket, a teammate's name, a usage error quoting an argument), no ESC, BEL, C1 or other control but newline
and tab reaches the terminal. JSON goes out through ``textsafe.dumps`` (controls as ``\\uXXXX``, data exact).

Nothing here imports SQLAlchemy, Textual or an SDK: `rfpilot --help` loads it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

from rfpilot.textsafe import dumps, inert


def data(text: str) -> None:
    """Data for scripts and pipes: stdout only."""
    stream(text if text.endswith("\n") else text + "\n")


def stream(text: str) -> None:
    """A piece of data as it arrives (a streamed reply): stdout, no newline added."""
    sys.stdout.write(inert(text))
    sys.stdout.flush()


_interrupted_said: list[str] = []


def interrupted(text: str = "interrupted") -> None:
    """The one line ctrl+c leaves (exit 130): said once, by the command that knows more, or else by the CLI."""
    if not _interrupted_said:
        _interrupted_said.append(text)
        info(text)


def info(text: str) -> None:
    """Anything meant for the person at the terminal: stderr."""
    sys.stderr.write(inert(text if text.endswith("\n") else text + "\n"))
    sys.stderr.flush()


def guard_logging() -> None:
    """A warning logged while nothing has configured logging goes to stderr through Python's last-resort handler,
    as it is (an LLM server's error text, say): make that handler write through ``info`` too."""
    import logging

    if getattr(logging.lastResort, "rfpilot_inert", False):
        return

    class InertLastResort(logging.Handler):
        rfpilot_inert = True

        def emit(self, record: logging.LogRecord) -> None:
            try:
                info(self.format(record))
            except Exception:  # a log line must never break the command
                self.handleError(record)

    logging.lastResort = InertLastResort(logging.WARNING)


# Emphasis (`rfpilot search`'s matched words): bold on a terminal, nothing in a pipe or with NO_COLOR set.
BOLD, NOT_BOLD = "\x1b[1m", "\x1b[22m"


def emphasis_shown() -> bool:
    import os

    try:
        return sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    except (AttributeError, ValueError):
        return False


def data_marked(lines: Sequence[Sequence[tuple[str, bool]]]) -> None:
    """Lines of (text, emphasised) pieces to stdout: each piece made inert first, then the emphasised ones wrapped
    in bold (on a terminal only), so the only escape sequences written are those two, never a text's own."""
    bold = emphasis_shown()
    out = []
    for line in lines:
        out.append("".join(f"{BOLD}{inert(text)}{NOT_BOLD}" if strong and bold else inert(text)
                           for text, strong in line))
    sys.stdout.write("\n".join(out) + "\n")
    sys.stdout.flush()


def emit(payload: Any, as_json: bool, human: Callable[[], str | None]) -> None:
    if as_json:
        data(dumps(payload, indent=2, sort_keys=False, default=str))
        return
    text = human()
    if text:
        data(text)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, max_last: int | None = None) -> str:
    """A plain aligned table (stable, no colour, no terminal-width magic)."""
    cells = [[("" if v is None else str(v)) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, value in enumerate(row[:-1]):
            widths[i] = max(widths[i], len(value))
    lines = []
    for row in [list(headers), *cells]:
        parts = [value.ljust(widths[i]) for i, value in enumerate(row[:-1])]
        last = row[-1]
        if max_last and len(last) > max_last:
            last = last[: max_last - 1] + "…"
        parts.append(last)
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def stdin_is_interactive() -> bool:
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def is_terminal() -> bool:
    """Both stdin and stdout are a terminal: a full-screen app can run (not a pipe, a script or CI)."""
    try:
        return sys.stdin.isatty() and sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def ask(prompt: str, default: str | None = None) -> str:
    """Read one line from the terminal; the prompt goes to stderr."""
    sys.stderr.write(inert(prompt))
    sys.stderr.flush()
    line = sys.stdin.readline()
    if not line:
        raise EOFError
    answer = line.strip()
    return answer if answer or default is None else default


def confirm(prompt: str, default: bool = False) -> bool:
    suffix = " [Y/n] " if default else " [y/N] "
    try:
        answer = ask(prompt + suffix, "y" if default else "n").lower()
    except EOFError:
        return False
    return answer in ("y", "yes")
