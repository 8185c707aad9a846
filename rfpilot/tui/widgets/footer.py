"""The footer: the keys that act now, the essential ones first so they survive 80 columns."""

from __future__ import annotations

from textual.widgets import Footer

# Actions whose keys stay visible however narrow the terminal: at 80 columns the footer cuts what does not
# fit on the right, so these come first and the focused widget's own keys follow (F1 lists all of them).
ESSENTIAL_ACTIONS = ("new_session", "focus_sessions", "focus_lane", "quit", "help")


class KeysFooter(Footer):
    """Textual's footer (built from the screen's active bindings), with the essential keys first."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("compact", True)
        super().__init__(**kwargs)

    def compose(self):
        widgets = list(super().compose())

        def rank(widget) -> int:
            action = str(getattr(widget, "action", ""))
            return ESSENTIAL_ACTIONS.index(action) if action in ESSENTIAL_ACTIONS else len(ESSENTIAL_ACTIONS)

        yield from sorted(widgets, key=rank)  # stable: the rest keep the footer's order
