"""The parameter form: one field per template parameter, the script rendered live below them; copy it, or say
it was run.

It knows nothing of the store: it takes plain data (dicts shaped like the core's views) and callables, and
hands back a small result object; the main screen turns that into core calls. Everything that came from a
person, a script, the model or a PSA is shown through ``safe.text``/``safe.inert``, never as markup.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Checkbox, Input, Select, Static, TextArea

from rfpilot.core.view_types import ParameterView, TemplateView
from rfpilot.core.library.render import REDACTED
from rfpilot.errors import RfpilotError
from rfpilot.tui.safe import inert, text
from rfpilot.tui.screens.shared import SCRIPT_DIALOG_STYLES, Dialog, no_blink

STYLES = Path(__file__).with_name("parameter_form.tcss")  # parsed when the form first opens

_TRUE = {"true", "yes", "on", "1", "y"}


@dataclass
class FormResult:
    action: str  # "ran": the engineer ran the rendered script
    values: dict[str, str] = field(default_factory=dict)  # real values, passwords included: never store as is


class ParameterForm(Dialog[FormResult | None]):
    """One field per template parameter, the script rendered live below them; copy it, or say it was run."""

    CSS_PATH = [SCRIPT_DIALOG_STYLES, STYLES]

    BINDINGS = [
        # Not ctrl+y: that is redo inside a text area. No text field binds ctrl+o, so it copies from any field.
        Binding("ctrl+o", "copy", "Copy script", id="form.copy"),
        Binding("ctrl+s", "ran", "I ran this", id="form.ran"),
        Binding("escape", "cancel", "Cancel", id="form.cancel"),
    ]

    def __init__(self, template: TemplateView, values: dict[str, str], sources: dict[str, str],
                 render: Callable[[dict[str, str]], str]) -> None:
        super().__init__()
        self.template = template
        self.parameters: list[ParameterView] = list(template.get("parameters") or [])
        self.initial = {k: ("" if v is None else str(v)) for k, v in (values or {}).items()}
        self.sources = dict(sources or {})
        self.render_script = render  # not ``self.render``: that name is the widget's own

    # layout

    def compose(self) -> ComposeResult:
        name = self.template.get("name") or self.template.get("slug") or "template"
        about = " · ".join(str(part) for part in (self.template.get("language"), self.template.get("provenance"))
                           if part)
        with Vertical(classes="dialog wide script-dialog", id="form"):
            yield Static(text(f"Run the template: {name}", "bold"))
            if about:
                yield Static(text(about, "dim"))
            with VerticalScroll(id="form-fields"):
                if self.template.get("description"):
                    yield Static(text(self.template["description"]), classes="form-about")
                if not self.parameters:
                    yield Static(text("This template has no parameters: the script runs as it is.", "dim"))
                for index, param in enumerate(self.parameters):
                    yield from self._field(index, param)
            with VerticalScroll(id="form-preview-box") as box:
                box.border_title = "Preview (passwords hidden)"
                yield Static("", id="form-preview")
            yield Static("", id="form-status")
            with Horizontal(classes="dialog-buttons"):
                yield Button("I ran this (ctrl+s)", id="ran", variant="success", compact=True)
                yield Button("Copy (ctrl+o)", id="copy", variant="primary", compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)

    def _field(self, index: int, param: ParameterView) -> ComposeResult:
        """A row: the label (a red * when required), the widget; below it, dimmed, where the value came from."""
        key = str(param.get("key", ""))
        kind = param.get("field_type") or "text"
        label = text(param.get("label") or key)
        if param.get("required", True):
            label.append(" *", "red")
        given = self.initial.get(key)
        if given is None:
            given = "" if param.get("default") is None else str(param["default"])
        wid = f"field-{index}"
        with Horizontal(classes="field-row"):
            yield Static(label, classes="field-label")
            if kind in ("textarea", "multi_text"):
                area = TextArea(inert(given), id=wid, soft_wrap=True, tab_behavior="focus", compact=True,
                                classes="field-area")
                if kind == "multi_text":
                    area.placeholder = "one per line"
                yield area
            elif kind == "select":
                options = [str(o) for o in param.get("options") or []]
                yield Select([(text(o), o) for o in options], id=wid, compact=True, prompt="choose…",
                             value=given if given in options else Select.NULL)
            elif kind == "boolean":
                yield Checkbox(text("yes"), given.strip().lower() in _TRUE, id=wid, compact=True)
            elif kind == "number":
                yield Input(inert(given), id=wid, compact=True, restrict=r"-?\d*(\.\d*)?", placeholder="a number")
            else:
                yield Input(inert(given), id=wid, compact=True, password=kind == "password")
        notes = [n for n in (self.sources.get(key), param.get("description")) if n]
        if notes:
            note = Text()
            if self.sources.get(key):
                note.append(inert(self.sources[key]), "italic")
            if param.get("description"):
                note.append((" · " if len(note) else "") + inert(param["description"]))
            note.stylize("dim")
            yield Static(note, classes="field-note")

    def on_mount(self) -> None:
        no_blink(self)
        self._refresh_preview()
        first = None
        for index, param in enumerate(self.parameters):
            if param.get("required", True) and not self._value(index, param):
                first = index
                break
        if first is None and self.parameters:
            first = 0
        target = self.query_one("#copy", Button) if first is None else self.query_one(f"#field-{first}")
        target.focus()
        # Focus alone scrolls before the first layout: bring the field into view once it has a place.
        self.call_after_refresh(target.scroll_visible, animate=False)

    # values

    def _value(self, index: int, param: ParameterView) -> str:
        widget = self.query_one(f"#field-{index}")
        if isinstance(widget, TextArea):
            return widget.text
        if isinstance(widget, Select):
            return "" if widget.value is Select.NULL else str(widget.value)
        if isinstance(widget, Checkbox):
            return "true" if widget.value else "false"
        return widget.value  # type: ignore[attr-defined]

    def current_values(self) -> dict[str, str]:
        return {str(p.get("key")): self._value(i, p) for i, p in enumerate(self.parameters)}

    def _masked(self, values: dict[str, str]) -> dict[str, str]:
        secret = {str(p.get("key")) for p in self.parameters if p.get("field_type") == "password"}
        return {k: (REDACTED if k in secret and v else v) for k, v in values.items()}

    def _rendered(self, values: dict[str, str]) -> tuple[str | None, str | None]:
        """(script, None) or (None, why it cannot be rendered)."""
        try:
            return self.render_script(values), None
        except RfpilotError as err:
            return None, err.message

    # live preview

    def _refresh_preview(self) -> None:
        script, error = self._rendered(self._masked(self.current_values()))
        preview = self.query_one("#form-preview", Static)
        preview.update(text(error, "red") if error is not None else text(script))
        self.query_one("#form-status", Static).display = False

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._refresh_preview()

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        self._refresh_preview()

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        event.stop()
        self._refresh_preview()

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        event.stop()
        self._refresh_preview()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.focus_next()

    # actions

    def _refuse(self, what: str, why: str) -> None:
        status = self.query_one("#form-status", Static)
        status.update(text(f"{what}: {why}", "red"))
        status.display = True

    def action_copy(self) -> None:
        script, error = self._rendered(self.current_values())
        if script is None:
            self._refuse("Nothing copied", error or "the script does not render")
            return
        self.app.copy_text(script, what="script")  # type: ignore[attr-defined]

    def action_ran(self) -> None:
        values = self.current_values()
        script, error = self._rendered(values)
        if script is None:
            self._refuse("Not recorded", error or "the script does not render")
            return
        self.dismiss(FormResult("ran", values))

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        {"ran": self.action_ran, "copy": self.action_copy}.get(event.button.id or "", self.action_cancel)()
