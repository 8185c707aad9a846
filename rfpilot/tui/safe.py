"""Text from the model, the PSA or a pasted output is shown as text, never interpreted.

Control characters (ESC, CSI/OSC introducers, BEL, backspace, …) are made visible and inert by the one
sanitiser the CLI uses too (``rfpilot.textsafe``), so nothing can move the cursor, clear the screen, set the
title or write the clipboard; Rich markup is never parsed: widgets get ``rich.text.Text`` objects built from
plain strings.
"""

from __future__ import annotations

from rich.text import Text

from rfpilot.textsafe import inert

__all__ = ["inert", "text"]


def text(value: str | None, style: str = "") -> Text:
    """A Rich Text of ``value`` with no markup parsing and no control sequences."""
    return Text(inert(value), style=style)
