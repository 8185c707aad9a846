"""The Textual TUI. The only package that imports Textual (a test enforces it)."""

from __future__ import annotations

FIRST_PAGE = 50  # rfpilot.tui.widgets.session_list.SessionList.PAGE (that module imports Textual)


def run(session_ref: str | None = None) -> int:
    """Open the app (on one session when given); returns the exit code."""
    from rfpilot.config import load_settings

    settings = load_settings()
    # The settings the app reads as it starts, checked before anything starts: a bad one is the `error:` line
    # every command gives (exit 1), not a traceback from inside the app. A bad keymap only warns (app.py).
    mouse = settings.get("ui.mouse")
    settings.get("ui.theme")
    settings.get("ui.early_list")
    first_page = None
    if session_ref is None:
        # Before Textual is imported: a child reads the list's first page on the other core meanwhile.
        from rfpilot.tui import prefetch

        first_page = prefetch.start(settings, limit=FIRST_PAGE)
    from rfpilot.tui.app import RfpilotApp

    from rfpilot import progress

    app = RfpilotApp(settings, open_session=session_ref, first_page=first_page)
    with progress.shown_by(None):  # `rfpilot open`/`demo --open` run inside a command that prints progress to stderr
        app.run(mouse=mouse)
    return app.return_code or 0
