"""No-color mode (``NO_COLOR``, ``ui.theme = "no-color"``): the app drawn with bold, dim and reverse video only.

Textual's own ``Monochrome`` filter turns every colour into a grey, which still paints 256-colour greys over the
user's terminal colours. This filter drops every colour instead and keeps what the colour meant:

- a background that stands out from the screen's (a cursor, a focused row, a button, a chip) becomes reverse video;
- a foreground too close to its background to read at full strength (muted text) becomes dim;
- bold, dim, italic, underline, reverse and links are kept; every other cell uses the terminal's default colours.
"""

from __future__ import annotations

from functools import lru_cache

from rich.segment import Segment
from rich.style import Style
from textual.color import Color
from textual.filter import LineFilter

# How far (in luminance, 0–1) a background must be from the screen's to count as a highlight.
HIGHLIGHT = 0.08
# A foreground closer than this to its background reads as muted text.
MUTED = 0.45


def _luminance(color) -> float:
    return Color.from_rich_color(color).brightness


@lru_cache(4096)
def plain_style(style: Style, screen: float) -> Style:
    """``style`` without colour, its highlight as reverse and its muted text as dim."""
    bg = screen if style.bgcolor is None or style.bgcolor.is_default else _luminance(style.bgcolor)
    reverse = bool(style.reverse)
    if abs(bg - screen) > HIGHLIGHT:
        reverse = not reverse
    dim = bool(style.dim)
    if style.color is not None and not style.color.is_default and abs(_luminance(style.color) - bg) < MUTED:
        dim = True
    return Style(bold=style.bold, dim=dim or None, italic=style.italic, underline=style.underline,
                 strike=style.strike, reverse=reverse or None, link=style.link,
                 color="default", bgcolor="default")


class Plain(LineFilter):
    """Bold, dim and reverse instead of colour; ``screen`` gives the theme's background colour."""

    def __init__(self, screen_background, enabled: bool = True) -> None:
        super().__init__(enabled)
        self.screen_background = screen_background

    def apply(self, segments: list[Segment], background: Color) -> list[Segment]:
        screen = self.screen_background().brightness
        return [Segment(text, plain_style(style, screen) if style is not None else None, control)
                if not control else Segment(text, style, control)
                for text, style, control in segments]


def has_colour(style: Style | None) -> bool:
    """True when ``style`` paints a colour other than the terminal's default (for tests and checks)."""
    if style is None:
        return False
    return any(c is not None and not c.is_default for c in (style.color, style.bgcolor))
