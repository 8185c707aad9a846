"""Overlays: a text prompt, the escalate intercept, a confirmation, the note preview editor, help."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, OptionList, Static, TextArea
from textual.widgets.option_list import Option

from rfpilot.tui.safe import text


class TextPrompt(ModalScreen[str | None]):
    """Ask for one text (notes, an answer, a reason). ctrl+s saves, escape cancels."""

    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="prompt.save"),
        Binding("escape", "cancel", "Cancel", id="prompt.cancel"),
    ]

    def __init__(self, title: str, hint: str = "", initial: str = "", required: bool = True) -> None:
        super().__init__()
        self.title_text, self.hint, self.initial, self.required = title, hint, initial, required

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(text(self.title_text, "bold"))
            if self.hint:
                yield Static(text(self.hint, "dim"))
            yield TextArea(self.initial, id="prompt-text", soft_wrap=True, tab_behavior="focus")
            yield Static("", id="prompt-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save (ctrl+s)", id="save", variant="primary", compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)

    def on_mount(self) -> None:
        area = self.query_one("#prompt-text", TextArea)
        area.cursor_blink = not self.app.is_headless
        area.focus()

    def action_save(self) -> None:
        value = self.query_one("#prompt-text", TextArea).text.strip()
        if self.required and not value:
            self.query_one("#prompt-error", Static).update(text("This cannot be empty.", "red"))
            return
        self.dismiss(value)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.action_save() if event.button.id == "save" else self.action_cancel()


class ChoiceScreen(ModalScreen[str | None]):
    """Pick one of several answers (the escalate intercept, confirmations). The first is the default."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="choice.cancel")]

    def __init__(self, title: str, choices: list[tuple[str, str]], hint: str = "") -> None:
        super().__init__()
        self.title_text, self.choices, self.hint = title, choices, hint

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(text(self.title_text, "bold"))
            if self.hint:
                yield Static(text(self.hint, "dim"))
            yield OptionList(*[Option(text(label), id=key) for key, label in self.choices], id="choices")
            yield Static(text("enter chooses · esc cancels (nothing changes)", "dim"))

    def on_mount(self) -> None:
        options = self.query_one("#choices", OptionList)
        options.highlighted = 0
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)


@dataclass
class PreviewResult:
    action: str  # "post" | "cancel"
    markdown: str = ""


class PreviewScreen(ModalScreen[PreviewResult]):
    """The note before it is posted: edit it, regenerate it, or confirm and post it."""

    BINDINGS = [
        Binding("ctrl+s", "post", "Confirm & post", id="preview.post"),
        Binding("ctrl+g", "regenerate", "Regenerate", id="preview.regenerate"),
        Binding("escape", "cancel", "Cancel", id="preview.cancel"),
    ]

    def __init__(self, action: str, markdown: str, info: str, regenerate=None) -> None:
        super().__init__()
        self.close_action, self.markdown, self.info, self.regenerate = action, markdown, info, regenerate

    def compose(self) -> ComposeResult:
        what = "Resolution note" if self.close_action == "resolve" else "Escalation package"
        with Vertical(classes="dialog wide"):
            yield Static(text(f"{what} — edit it, then ctrl+s to {self.close_action}", "bold"))
            yield Static(text(self.info, "dim"), id="preview-info")
            yield TextArea(self.markdown, id="preview-text", language="markdown", soft_wrap=True, tab_behavior="focus")
            with Horizontal(classes="dialog-buttons"):
                verb = "Resolve" if self.close_action == "resolve" else "Escalate"
                yield Button(f"Confirm & {verb.lower()} (ctrl+s)", id="post", variant="success", compact=True)
                yield Button("Regenerate (ctrl+g)", id="regenerate", compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)

    def on_mount(self) -> None:
        area = self.query_one("#preview-text", TextArea)
        area.cursor_blink = not self.app.is_headless
        area.focus()

    def action_post(self) -> None:
        self.dismiss(PreviewResult("post", self.query_one("#preview-text", TextArea).text))

    def action_cancel(self) -> None:
        self.dismiss(PreviewResult("cancel"))

    async def action_regenerate(self) -> None:
        if self.regenerate is None:
            return
        self.query_one("#preview-info", Static).update(text("drafting again…", "dim"))
        markdown, info = await self.regenerate()
        self.query_one("#preview-text", TextArea).load_text(markdown)
        self.query_one("#preview-info", Static).update(text(info, "dim"))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        handler = {"post": self.action_post, "cancel": self.action_cancel}.get(event.button.id or "")
        if handler:
            handler()
        elif event.button.id == "regenerate":
            self.run_worker(self.action_regenerate(), exclusive=True, group="regenerate")


class HelpScreen(ModalScreen[None]):
    """The keys for what has focus, then every other binding, with ids (for `keymap.<id>` in config.toml)."""

    BINDINGS = [Binding("escape,f1,q", "close", "Close", id="help.close")]

    def __init__(self, sections: list[tuple[str, list[tuple[str, str, str]]]]) -> None:
        super().__init__()
        self.sections = sections

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Static(text("Keys — remap any of them with keymap.<id> = \"key\" in config.toml", "bold"))
            with VerticalScroll():
                for title, rows in self.sections:
                    yield Static(text(title, "bold underline"), classes="help-title")
                    body = "\n".join(f"{key:<16} {desc:<34} {bid}".rstrip() for key, desc, bid in rows)
                    yield Static(text(body))
            yield Static(text("esc closes", "dim"))

    def action_close(self) -> None:
        self.dismiss(None)
