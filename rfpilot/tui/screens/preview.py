"""The note preview: the resolution note or escalation package before it is posted, to edit, regenerate,
confirm and post, with what posting said.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Static, TextArea

from rfpilot.tui.safe import text
from rfpilot.tui.screens.shared import Dialog
from rfpilot.tui.workers import start_worker


@dataclass
class PreviewResult:
    action: str  # "posted" (the close went through or was queued) | "cancel"
    markdown: str = ""


@dataclass
class PostOutcome:
    """What posting said, shown in the editor: ``closed`` ends the dialog's job; else the engineer may retry."""

    closed: bool
    lines: list[str]
    style: str = "green"  # green: done · yellow: queued · red: refused, nothing closed


class PreviewScreen(Dialog[PreviewResult]):
    """The note before it is posted: edit it, regenerate it, confirm and post it, and see what happened."""

    BINDINGS = [
        Binding("ctrl+s", "post", "Confirm & post", id="preview.post"),
        Binding("ctrl+g", "regenerate", "Regenerate", id="preview.regenerate"),
        Binding("escape", "cancel", "Cancel", id="preview.cancel"),
    ]

    def __init__(self, action: str, markdown: str, info: str, regenerate=None, post=None, target: str = "") -> None:
        super().__init__()
        self.close_action, self.markdown, self.info, self.regenerate = action, markdown, info, regenerate
        self.post = post  # async (markdown) -> PostOutcome
        self.target = target  # "CW #48307 (resolution note, customer-visible)" or "" for local
        self.outcome: PostOutcome | None = None
        self.posting = False

    def compose(self) -> ComposeResult:
        what = "Resolution note" if self.close_action == "resolve" else "Escalation package"
        where = f" · posts to {self.target}" if self.target else " · no PSA ticket: stays local"
        with Vertical(classes="dialog wide"):
            yield Static(text(f"{what} — edit it, then ctrl+s to {self.close_action}{where}", "bold"))
            yield Static(text(self.info, "dim"), id="preview-info")
            yield TextArea(self.markdown, id="preview-text", language="markdown", soft_wrap=True, tab_behavior="focus")
            yield Static("", id="preview-result")
            with Horizontal(classes="dialog-buttons"):
                verb = "Resolve" if self.close_action == "resolve" else "Escalate"
                yield Button(f"Confirm & {verb.lower()} (ctrl+s)", id="post", variant="success", compact=True)
                yield Button("Regenerate (ctrl+g)", id="regenerate", compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#preview-result").display = False
        area = self.query_one("#preview-text", TextArea)
        area.cursor_blink = not self.app.is_headless
        area.focus()

    @property
    def editor(self) -> TextArea:
        return self.query_one("#preview-text", TextArea)

    def action_post(self) -> None:
        if self.outcome is not None and self.outcome.closed:
            self.dismiss(PreviewResult("posted", self.editor.text))
        elif not self.posting:
            start_worker(self, self._post(self.editor.text), exclusive=True, group="post")

    async def _post(self, markdown: str) -> None:
        if self.post is None:
            self.dismiss(PreviewResult("posted", markdown))
            return
        self.posting = True
        button = self.query_one("#post", Button)
        button.disabled = True
        self._show_result(PostOutcome(False, ["posting…"], "dim"))
        try:
            outcome = await self.post(markdown)
        finally:
            self.posting = False
            button.disabled = False
        self.outcome = outcome
        self._show_result(outcome)
        if outcome.closed:
            self.editor.read_only = True
            button.label = "Close (ctrl+s)"
            self.query_one("#regenerate", Button).display = False
            self.query_one("#cancel", Button).display = False
            button.focus()
        else:
            button.label = "Try again (ctrl+s)"

    def _show_result(self, outcome: PostOutcome) -> None:
        result = self.query_one("#preview-result", Static)
        result.update(text("\n".join(outcome.lines), outcome.style))
        result.display = True

    def action_cancel(self) -> None:
        if self.posting:
            self.notify("Posting is under way; wait for its result.")
            return
        done = self.outcome is not None and self.outcome.closed
        self.dismiss(PreviewResult("posted" if done else "cancel", self.editor.text))

    async def action_regenerate(self) -> None:
        if self.regenerate is None or self.posting or (self.outcome is not None and self.outcome.closed):
            return
        self.query_one("#preview-info", Static).update(text("drafting again…", "dim"))
        markdown, info = await self.regenerate()
        self.editor.load_text(markdown)
        self.query_one("#preview-info", Static).update(text(info, "dim"))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        handler = {"post": self.action_post, "cancel": self.action_cancel}.get(event.button.id or "")
        if handler:
            handler()
        elif event.button.id == "regenerate":
            start_worker(self, self.action_regenerate(), exclusive=True, group="regenerate")
