"""Text from the model, the PSA or a pasted output is shown as text, never interpreted.

Control characters (ESC, CSI/OSC introducers, BEL, backspace, …) are replaced
so nothing can move the cursor, clear the screen, set the title or write the
clipboard; Rich markup is never parsed: widgets get ``rich.text.Text`` objects
built from plain strings.
"""

from __future__ import annotations

import re

from rich.text import Text

# C0 controls except tab and newline, DEL, and the C1 range (8-bit CSI/OSC/ST).
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def inert(value: str | None) -> str:
    """``value`` with every control character shown as a visible placeholder."""
    if not value:
        return ""
    return _CONTROLS.sub(lambda m: "\N{REPLACEMENT CHARACTER}" if m.group() == "\x1b" else "", value.replace("\r\n", "\n"))


def text(value: str | None, style: str = "") -> Text:
    """A Rich Text of ``value`` with no markup parsing and no control sequences."""
    return Text(inert(value), style=style)
