"""The cycle collector while the console script starts.

Start-up builds a few hundred thousand long-lived objects (SQLAlchemy and the models for a store command, Textual
and the screens for the TUI) and none of them is garbage; the collector, run every 700 allocations by default,
walks them again and again: ~15-20 % of a store command's CPU. ``begin`` pauses it; ``end`` moves what start-up built
out of its sight (gc.freeze) and resumes it. The console script calls ``begin`` (tests run with Python's defaults);
``end`` comes once a command's store is open (rfpilot.cli.runtime) or the TUI's session list is painted. A command
that never opens the store is short (help, config) and ends with the collector paused.
"""

from __future__ import annotations

import gc

_paused = False


def begin() -> None:
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True


def end() -> None:
    global _paused
    if _paused:
        _paused = False
        gc.freeze()
        gc.enable()
