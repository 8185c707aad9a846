"""Overlays: a text prompt, the escalate intercept, a confirmation, the note preview editor, help."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, ScreenResultType
from textual.widgets import Button, OptionList, Static, TextArea
from textual.widgets.option_list import Option

from rfpilot.grammar import count
from rfpilot.tui.safe import text
from rfpilot.tui.workers import start_worker


class Dialog(ModalScreen[ScreenResultType]):
    """A modal with a footer of its own: while it is open, the footer shows the dialog's keys (the ones that
    act), not those of the screen behind it, plus quit and help, which act everywhere (app priority bindings)."""

    ALWAYS = ("quit", "help")  # the app's actions a dialog's footer shows, as the main footer does

    @property
    def active_bindings(self):
        # Textual stops a modal's binding chain at the modal, so the footer would drop the app's keys, yet
        # ctrl+q and f1 (priority bindings) still act here: show them, with the keys the keymap gave them, and
        # not a key the focused text field takes for itself (`?` in a TextArea).
        from textual.binding import ActiveBinding

        bindings = super().active_bindings
        for namespace, keys in self._binding_chain:
            if namespace is not self.app:
                continue
            for key, binding in keys:
                if binding.action in self.ALWAYS and key not in bindings:
                    bindings[key] = ActiveBinding(namespace, binding, True, binding.tooltip)
        return bindings

    def on_mount(self) -> None:
        from rfpilot.tui.widgets.footer import KeysFooter

        if not self.query(KeysFooter):
            self.mount(KeysFooter())


class TextPrompt(Dialog[str | None]):
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


class ChoiceScreen(Dialog[str | None]):
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


class TicketPicker(Dialog[str | None]):
    """Your open PSA tickets; enter starts (or reopens) the session for one. Loads after it opens."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="tickets.cancel"),
        Binding("ctrl+r", "reload", "Reload", id="tickets.reload"),
    ]

    def __init__(self, load) -> None:
        super().__init__()
        self.load = load  # async () -> list[(ticket id, label, session id or None)]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Static(text("Start from a ticket — your open tickets", "bold"))
            yield Static(text("loading…", "dim"), id="tickets-info")
            yield OptionList(id="tickets")
            yield Static(text("enter starts a session (or opens the one already working it) · ctrl+r reloads · "
                              "esc cancels", "dim"))

    def on_mount(self) -> None:
        self.action_reload()

    def action_reload(self) -> None:
        start_worker(self, self._load(), exclusive=True, group="tickets")

    async def _load(self) -> None:
        from rfpilot.errors import RfpilotError

        info = self.query_one("#tickets-info", Static)
        listing = self.query_one("#tickets", OptionList)
        info.update(text("loading…", "dim"))
        try:
            rows = await self.load()
        except RfpilotError as err:
            info.update(text(err.message + (f"\n{err.hint}" if err.hint else ""), "red"))
            return
        listing.clear_options()
        listing.add_options([Option(text(label), id=ticket_id) for ticket_id, label, _ in rows])
        info.update(text(count(len(rows), "open ticket") if rows else "no open tickets", "dim"))
        if rows:
            listing.highlighted = 0
        listing.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)


class HelpScreen(Dialog[None]):
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
