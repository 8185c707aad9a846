"""Text from the model, the PSA or a pasted output is shown as text, never interpreted.

Control characters (ESC, CSI/OSC introducers, BEL, backspace, …) are made visible and inert by the one
sanitiser the CLI uses too (``rfpilot.textsafe``), so nothing can move the cursor, clear the screen, set the
title or write the clipboard; Rich markup is never parsed: widgets get ``rich.text.Text`` objects built from
plain strings.

On screen, text is also made width-safe: the emoji variation selector (U+FE0F, as in 🖨️) is dropped. Rich and
Textual count it as zero cells and the printer as one, while terminals disagree (kitty, WezTerm, iTerm2 and
Windows Terminal draw the pair two cells wide; xterm, VTE and tmux one): the row shifted and left stray cells.
Without the selector every terminal and Textual agree on the width; the symbol is still shown.
"""

from __future__ import annotations

from rich.text import Text

from rfpilot.textsafe import inert as _inert

__all__ = ["inert", "text"]

VS16 = "\ufe0f"


def inert(value: str | None) -> str:
    """``value`` safe to paint: controls made visible (``rfpilot.textsafe.inert``) and width-safe."""
    shown = _inert(value)
    return shown.replace(VS16, "") if VS16 in shown else shown


def text(value: str | None, style: str = "") -> Text:
    """A Rich Text of ``value`` with no markup parsing and no control sequences."""
    return Text(inert(value), style=style)
