"""Progress a front end shows while core waits on something slow (a PSA that does not answer, a retry's back-off).

Core says what it is waiting for with ``say``; whoever runs the command decides whether and where that is shown.
The CLI shows it on stderr for every command (``rfpilot.cli.runtime.one_open``); the TUI does not listen (a line
on stderr would tear its screen: it shows a write's state in the header instead), and neither do tests unless they
ask. A context variable, so it reaches the event loop's tasks without passing a callback through every layer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_LISTENER: ContextVar[Callable[[str], None] | None] = ContextVar("rfpilot_progress", default=None)


def say(text: str) -> None:
    """Tell the person waiting what is happening (nothing when no front end listens)."""
    listener = _LISTENER.get()
    if listener is not None:
        listener(text)


@contextmanager
def shown_by(listener: Callable[[str], None] | None) -> Iterator[None]:
    """``listener`` gets every ``say`` made inside the block (and in the tasks started in it); None: nobody does
    (the TUI, started from a command that listens)."""
    token = _LISTENER.set(listener)
    try:
        yield
    finally:
        _LISTENER.reset(token)
