"""The Textual TUI. The only package that imports Textual (a test enforces it)."""

from __future__ import annotations


def run(session_ref: str | None = None) -> int:
    """Open the app (on one session when given); returns the exit code."""
    from rfpilot.config import load_settings
    from rfpilot.tui.app import RfpilotApp

    settings = load_settings()
    mouse = settings.get("ui.mouse")
    app = RfpilotApp(settings, open_session=session_ref)
    app.run(mouse=mouse is not False and str(mouse).lower() not in ("false", "0", "no", "off"))
    return app.return_code or 0
