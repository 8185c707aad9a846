"""Copy over SSH: OSC 52 (wrapped for tmux when inside it), with a notification; too big or no
terminal to write to, the text is shown to copy by hand."""

from __future__ import annotations

import base64
import os

OSC52_LIMIT = 100_000  # bytes of base64; many terminals drop larger payloads


def osc52(value: str, *, tmux: bool) -> str:
    payload = base64.b64encode(value.encode("utf-8")).decode("ascii")
    sequence = f"\x1b]52;c;{payload}\x07"
    if tmux:  # tmux passthrough: double every ESC inside, wrap in DCS
        sequence = "\x1bPtmux;" + sequence.replace("\x1b", "\x1b\x1b") + "\x1b\\"
    return sequence


def copy(app, value: str, what: str = "text") -> bool:
    """Copy ``value``; returns whether a copy sequence was sent (else the text was shown)."""
    from rfpilot.tui.screens.text_prompt import TextPrompt

    encoded_size = len(value.encode("utf-8")) * 4 // 3
    driver = getattr(app, "_driver", None)
    if not value or driver is None or encoded_size > OSC52_LIMIT:
        app.push_screen(TextPrompt(f"Copy the {what} by hand", "Select it with the mouse (shift-drag in most terminals).",
                                   initial=value, required=False))
        return False
    if os.environ.get("TMUX"):
        driver.write(osc52(value, tmux=True))
        driver.flush()
    else:
        app.copy_to_clipboard(value)
    app.notify(f"Copied the {what} to the clipboard (OSC 52). Nothing arrived? See docs/tui.md on tmux and SSH.",
               timeout=4, markup=False)
    return True
