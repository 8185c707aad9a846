"""Scripts and templates: the parameter form, the no-template choice, the draft review, the script library.

These screens know nothing of the store. They take plain data (dicts shaped like the core's views) and
callables, and hand back small result objects; the main screen turns those into core calls. Everything
that came from a person, a script, the model or a PSA is shown through ``safe.text``/``safe.inert``, never
as markup.
"""

from __future__ import annotations

from pathlib import Path

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Checkbox, Input, OptionList, Select, Static, TextArea
from textual.widgets.option_list import Option

from rfpilot.core.render import REDACTED, placeholders
from rfpilot.core.view_types import DraftReviewView, TemplateView
from rfpilot.errors import RfpilotError
from rfpilot.grammar import count as plural_count, verb
from rfpilot.tui.safe import inert, text
from rfpilot.tui.screens.modals import Dialog
from rfpilot.tui.widgets.footer import KeysFooter
from rfpilot.tui.workers import start_worker

STYLES = Path(__file__).with_name("scripts.tcss")  # parsed when one of these screens first opens

SEARCH_DEBOUNCE_SECONDS = 0.15
_TRUE = {"true", "yes", "on", "1", "y"}


@dataclass
class FormResult:
    action: str  # "ran": the engineer ran the rendered script
    values: dict[str, str] = field(default_factory=dict)  # real values, passwords included: never store as is


@dataclass
class ChoiceResult:
    decision: str  # "one_off" | "draft_template" | "build_template"
    script: str = ""  # the script as edited in the dialog


@dataclass
class ReviewResult:
    action: str  # "accept" | "reject" | "skip"
    name: str = ""
    slug: str = ""
    description: str = ""
    category: str = ""
    body: str = ""
    parameters: list[dict[str, Any]] = field(default_factory=list)  # the kept ones, as given
    dont_ask_again: bool = False
    draft_id: Any = None


def _no_blink(screen: Screen) -> None:
    """A steady cursor under test, so snapshots are stable; a blinking one for people."""
    for widget in screen.query("Input, TextArea"):
        widget.cursor_blink = not screen.app.is_headless  # type: ignore[attr-defined]


def _place(key: str) -> str:
    return "{{ " + key + " }}"


# --- run a template ------------------------------------------------------------------------------------


class ParameterForm(Dialog[FormResult | None]):
    """One field per template parameter, the script rendered live below them; copy it, or say it was run."""

    CSS_PATH = STYLES

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
        self.parameters: list[dict[str, Any]] = list(template.get("parameters") or [])
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

    def _field(self, index: int, param: dict[str, Any]) -> ComposeResult:
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
        _no_blink(self)
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

    def _value(self, index: int, param: dict[str, Any]) -> str:
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


# --- a drafted script, no template ------------------------------------------------------------------------

THREE_CHOICES = [
    ("one_off", "1", "Run it as a one-off",
     "fastest; kept in this session only, nothing for the team"),
    ("draft_template", "2", "Run it now, make a template after resolving (recommended)",
     "no extra work now; only a script that worked becomes a draft"),
    ("build_template", "3", "Build it as a template now",
     "name its parameters first: the team gains now, you spend time"),
]


def _unless_edited(original: str, shown: str) -> str:
    """What an editor holding ``inert(original)`` gives back: the original itself, byte for byte (its CRLFs and
    controls included), unless the engineer changed the text."""
    return original if shown == inert(original) else shown


class ThreeChoiceScreen(Dialog[ChoiceResult | None]):
    """The fix's drafted script, editable, and the three ways to go on with it.

    The choices sit in a list that has focus when the dialog opens: 1, 2 or 3 (or enter) picks one there.
    In the script editor digits are text; tab moves between the editor and the list.
    """

    CSS_PATH = STYLES

    BINDINGS = [
        Binding("1", "choose('one_off')", "One-off", id="choice3.one_off"),
        Binding("2", "choose('draft_template')", "Run now, template later", id="choice3.draft"),
        Binding("3", "choose('build_template')", "Template now", id="choice3.build"),
        Binding("escape", "cancel", "Cancel", id="choice3.cancel"),
    ]

    def __init__(self, fix_title: str, script: str, language: str | None) -> None:
        super().__init__()
        self.fix_title, self.script, self.language = fix_title, script, language

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide script-dialog", id="choice3"):
            yield Static(text(f"No template for this fix: {self.fix_title}", "bold"))
            what = f"The drafted {self.language} script" if self.language else "The drafted script"
            yield Static(text(f"{what}: edit it if it needs it; the edited script goes with your choice.", "dim"))
            yield TextArea(inert(self.script), id="choice3-script", soft_wrap=True, tab_behavior="focus")
            yield Static("", id="choice3-error")
            options = []
            for decision, digit, label, tradeoff in THREE_CHOICES:
                prompt = Text()
                prompt.append(f"{digit}  ", "bold")
                prompt.append(label, "bold" if decision == "draft_template" else "")
                prompt.append(f"\n   {tradeoff}", "dim")
                options.append(Option(prompt, id=decision))
            yield OptionList(*options, id="choice3-options")
            yield Static(text("1 2 3 or enter choose · tab edits the script (digits type there) · esc cancels",
                              "dim"))

    def on_mount(self) -> None:
        _no_blink(self)
        self.query_one("#choice3-error").display = False
        options = self.query_one("#choice3-options", OptionList)
        options.highlighted = 1
        options.focus()

    @property
    def editor(self) -> TextArea:
        return self.query_one("#choice3-script", TextArea)

    def action_choose(self, decision: str) -> None:
        script = _unless_edited(self.script, self.editor.text)
        if not script.strip():
            error = self.query_one("#choice3-error", Static)
            error.update(text("The script is empty: write or paste one before choosing.", "red"))
            error.display = True
            self.editor.focus()
            return
        self.dismiss(ChoiceResult(decision, script))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.action_choose(event.option.id or "")

    def action_cancel(self) -> None:
        self.dismiss(None)


# --- keep a resolved script as a team template -------------------------------------------------------------


class DraftReviewScreen(Dialog[ReviewResult | None]):
    """One pending draft template after a resolve: edit it and save it for the team, reject it, or decide later.

    ``save``, when given, is awaited with the accept result before the dialog closes; an RfpilotError it
    raises (a slug already taken, say) is shown in the dialog, which stays open for another try.
    """

    CSS_PATH = STYLES

    BINDINGS = [
        Binding("ctrl+s", "accept", "Save as team template", id="review.accept"),
        Binding("ctrl+r", "reject", "Reject", id="review.reject"),
        Binding("escape", "later", "Later", id="review.later"),
    ]

    def __init__(self, draft: DraftReviewView, position: str,
                 save: Callable[[ReviewResult], Awaitable[None]] | None = None) -> None:
        super().__init__()
        self.draft, self.position, self.save = draft, position, save
        self.parameters: list[dict[str, Any]] = list(draft.get("parameters") or [])
        self.saving = False

    def compose(self) -> ComposeResult:
        draft = self.draft
        with Vertical(classes="dialog wide script-dialog", id="review"):
            yield Static(text(draft.get("headline") or "Resolved.", "bold green"), id="review-banner")
            yield Static(text(f"Keep this script as a team template? · draft {self.position}", "bold"))
            if draft.get("provenance"):
                yield Static(text(draft["provenance"], "dim"))
            with VerticalScroll(id="review-fields"):
                for key, label in (("name", "Name"), ("slug", "Slug"), ("category", "Category"),
                                   ("description", "Description")):
                    initial = draft.get("proposed_name") if key == "name" else draft.get(key)
                    with Horizontal(classes="review-row"):
                        shown = text(label)
                        if key == "name":
                            shown.append(" *", "red")
                        yield Static(shown, classes="review-label")
                        yield Input(inert(str(initial or "")), id=f"review-{key}", compact=True)
                language = f" ({draft['language']})" if draft.get("language") else ""
                yield Static(text(f"Script{language}: {_place('key')} marks a parameter", "bold"),
                             classes="review-head")
                yield TextArea(inert(draft.get("body") or ""), id="review-script", soft_wrap=True,
                               tab_behavior="focus", classes="review-script")
                heading = ("Parameters: untick one to drop it (its placeholder must be gone from the script "
                           "first)") if self.parameters else "Parameters"
                yield Static(text(heading, "bold"), classes="review-head")
                if draft.get("source") == "fallback":
                    why = draft.get("reason") or "no parameters could be extracted safely"
                    yield Static(text(f"Kept as written, without parameters: {why}", "yellow"))
                if not self.parameters:
                    yield Static(text("No parameters: the script is saved exactly as it ran.", "dim"))
                for index, param in enumerate(self.parameters):
                    yield Checkbox(self._param_label(param), True, id=f"review-param-{index}", compact=True,
                                   classes="review-param")
            yield Static("", id="review-error")
            yield Checkbox(text("Don't ask me again for this team"), False, id="review-dont-ask", compact=True)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save as team template (ctrl+s)", id="accept", variant="success", compact=True)
                yield Button("Reject (ctrl+r)", id="reject", variant="error", compact=True)
                yield Button("Later (esc)", id="later", compact=True)

    @staticmethod
    def _param_label(param: dict[str, Any]) -> Text:
        label = Text()
        label.append(inert(str(param.get("key", ""))), "bold")
        label.append(f"  {inert(param.get('label') or '')}")
        label.append(f" · {inert(param.get('field_type') or 'text')}", "dim")
        if param.get("inferred_from"):
            # A password's source value is the secret itself: never shown, whatever the draft carries.
            seen = REDACTED if param.get("field_type") == "password" else inert(str(param["inferred_from"]))
            label.append(f" · from “{seen}”", "dim")
        return label

    def on_mount(self) -> None:
        _no_blink(self)
        self.query_one("#review-error").display = False
        self.query_one("#review-name", Input).focus()

    # parameters

    def _kept(self) -> list[dict[str, Any]]:
        return [p for i, p in enumerate(self.parameters) if self.query_one(f"#review-param-{i}", Checkbox).value]

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        event.stop()
        box = event.checkbox
        if not (box.id or "").startswith("review-param-") or event.value:
            return  # ticking is always fine; so is the "don't ask" box
        param = self.parameters[int((box.id or "").rsplit("-", 1)[1])]
        key = str(param.get("key", ""))
        if key in placeholders(self.query_one("#review-script", TextArea).text):
            box.value = True  # its Changed says True: nothing more happens
            self._error(f"{_place(key)} is still in the script. Put the value back in its place in the "
                        "script, then untick the parameter.")
        else:
            self._error("")

    def _error(self, message: str, style: str = "red") -> None:
        error = self.query_one("#review-error", Static)
        error.update(text(message, style))
        error.display = bool(message)

    # actions

    def _field(self, key: str) -> str:
        return self.query_one(f"#review-{key}", Input).value.strip()

    @property
    def dont_ask(self) -> bool:
        return self.query_one("#review-dont-ask", Checkbox).value

    def action_accept(self) -> None:
        if self.saving:
            return
        name = self._field("name")
        if not name:
            self._error("The template needs a name.")
            self.query_one("#review-name", Input).focus()
            return
        body = _unless_edited(self.draft.get("body") or "", self.query_one("#review-script", TextArea).text)
        if not body.strip():
            self._error("The script is empty.")
            return
        kept = self._kept()
        declared = {str(p.get("key")) for p in kept}
        unknown = [k for k in placeholders(body) if k not in declared]
        if unknown:
            self._error("The script uses " + ", ".join(_place(k) for k in unknown)
                        + ", which no kept parameter declares: tick it again or take it out of the script.")
            return
        result = ReviewResult("accept", name=name, slug=self._field("slug"), description=self._field("description"),
                              category=self._field("category"), body=body, parameters=[dict(p) for p in kept],
                              dont_ask_again=self.dont_ask, draft_id=self.draft.get("id"))
        if self.save is None:
            self.dismiss(result)
        else:
            start_worker(self, self._save(result), exclusive=True, group="review-save")

    async def _save(self, result: ReviewResult) -> None:
        self.saving = True
        self._error("saving…", "dim")
        try:
            await self.save(result)  # type: ignore[misc]
        except RfpilotError as err:
            self._error(err.message + (f" ({err.hint})" if err.hint else ""))
            return
        finally:
            self.saving = False
        self.dismiss(result)

    def action_reject(self) -> None:
        if not self.saving:
            self.dismiss(ReviewResult("reject", dont_ask_again=self.dont_ask, draft_id=self.draft.get("id")))

    def action_later(self) -> None:
        if not self.saving:
            self.dismiss(ReviewResult("skip", dont_ask_again=self.dont_ask, draft_id=self.draft.get("id")))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        {"accept": self.action_accept, "reject": self.action_reject}.get(event.button.id or "", self.action_later)()


# --- the script library ------------------------------------------------------------------------------------


def _chip(row: Mapping[str, Any]) -> str:
    return str(row.get("provenance") or "")


def template_detail(row: dict[str, Any]) -> Text:
    """A template as the library's detail pane shows it: what it is, its parameters, its script."""
    out = Text()
    out.append(inert(row.get("name") or row.get("slug") or ""), "bold")
    meta = " · ".join(str(v) for v in (row.get("slug"), row.get("language"), row.get("category")) if v)
    if meta:
        out.append("\n" + inert(meta), "dim")
    if _chip(row):
        out.append("\n" + inert(_chip(row)), "dim italic")
    if row.get("description"):
        out.append("\n\n" + inert(row["description"]))
    params = row.get("parameters")
    if params is not None:
        out.append("\n\nParameters", "bold")
        if not params:
            out.append("\n  none: the script runs as it is", "dim")
        for p in params:
            out.append("\n  " + inert(str(p.get("key", ""))), "bold")
            out.append("  " + inert(p.get("label") or ""))
            bits = [p.get("field_type") or "text", "required" if p.get("required", True) else "optional"]
            if p.get("options"):
                bits.append("one of " + ", ".join(str(o) for o in p["options"]))
            if p.get("default") not in (None, ""):
                bits.append(f"default {p['default']}")
            out.append(" · " + inert(" · ".join(bits)), "dim")
    if row.get("body") is not None:
        out.append("\n\nScript", "bold")
        out.append("\n" + inert(row["body"]))
    return out


class SearchInput(Input):
    """The library's search: `/` is the key that focuses it, so a `/` typed into the empty, focused search is
    taken as that key (nothing to do) rather than typed; once there is text, `/` types."""

    def check_consume_key(self, key: str, character: str | None) -> bool:
        return (character != "/" or bool(self.value)) and super().check_consume_key(key, character)

    async def _on_key(self, event: events.Key) -> None:
        if event.character == "/" and not self.value:
            event.stop()
            event.prevent_default()
            return
        await super()._on_key(event)


class ScriptsScreen(Screen):
    """The team's script templates: search as you type, the list, and the highlighted template in full."""

    CSS_PATH = STYLES

    BINDINGS = [
        Binding("slash", "search", "Search", id="scripts.search"),
        Binding("escape,q", "back", "Back", id="scripts.back"),
        Binding("down", "to_list", "List", show=False, id="scripts.to_list"),
    ]

    def __init__(self, load: Callable[[str], Awaitable[list[TemplateView]]],
                 show: Callable[[str], Awaitable[TemplateView]] | None = None,
                 pending: Callable[[], Awaitable[int]] | None = None) -> None:
        super().__init__()
        self.load, self.show, self.pending = load, show, pending
        self.rows: list[TemplateView] = []
        self.details: dict[str, TemplateView] = {}  # slug -> what show() returned

    def compose(self) -> ComposeResult:
        yield Static(text("Script library · team templates", "bold"), id="scripts-header")
        yield SearchInput(placeholder="search templates: name, slug, description (/)", id="scripts-search",
                          compact=True)
        yield Static("", id="scripts-pending")
        with Horizontal(id="scripts-body"):
            with Vertical(id="scripts-side"):
                yield Static(text("loading…", "dim"), id="scripts-info")
                yield OptionList(id="scripts-list")
            with VerticalScroll(id="scripts-detail"):
                yield Static("", id="scripts-detail-text")
        yield KeysFooter()

    def on_mount(self) -> None:
        _no_blink(self)
        self.query_one("#scripts-pending").display = False
        self.query_one("#scripts-search", Input).focus()
        start_worker(self, self._load("", delay=0), exclusive=True, group="scripts-load")
        if self.pending is not None:
            start_worker(self, self._pending(), group="scripts-pending")

    # loading

    async def _pending(self) -> None:
        try:
            count = await self.pending()  # type: ignore[misc]
        except RfpilotError:
            return  # the count is a nicety: its failure must not spoil the library
        label = self.query_one("#scripts-pending", Static)
        if count > 0:
            label.update(text(f"{plural_count(count, 'draft')} {verb(count, 'waits')} for review", "yellow"))
            label.display = True

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        start_worker(self, self._load(event.value.strip(), delay=SEARCH_DEBOUNCE_SECONDS), exclusive=True,
                        group="scripts-load")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_to_list()

    async def _load(self, query: str, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)  # a newer keystroke cancels this worker before it loads
        info = self.query_one("#scripts-info", Static)
        try:
            rows = await self.load(query)
        except RfpilotError as err:
            info.update(text(err.message, "red"))
            return
        listing = self.query_one("#scripts-list", OptionList)
        before = self._highlighted_slug()
        self.rows = list(rows)
        listing.clear_options()
        options: list[Option | None] = []
        for row in self.rows:
            options += [self._option(row), None]  # None: a rule under each template
        listing.add_options(options[:-1])
        if self.rows:
            count = plural_count(len(self.rows), "template")
            info.update(text(f"{count} matching “{query}”" if query else count, "dim"))
            slugs = [str(r.get("slug")) for r in self.rows]
            listing.highlighted = slugs.index(before) if before in slugs else 0
        else:
            info.update(text(f"nothing matches “{query}”" if query else "no templates yet", "dim"))
            self.query_one("#scripts-detail-text", Static).update(
                "" if query else text("A script you run from a fix can become a template after the session is "
                                      "resolved.", "dim"))

    @staticmethod
    def _option(row: TemplateView) -> Option:
        prompt = Text()
        prompt.append(inert(row.get("name") or row.get("slug") or ""), "bold")
        prompt.append("  " + inert(str(row.get("slug") or "")), "dim")
        if _chip(row):
            prompt.append("\n" + inert(_chip(row)), "dim italic")
        return Option(prompt, id=str(row.get("slug")))

    def _highlighted_slug(self) -> str | None:
        listing = self.query_one("#scripts-list", OptionList)
        if listing.highlighted is None or listing.highlighted >= listing.option_count:
            return None
        return listing.get_option_at_index(listing.highlighted).id

    # the detail pane

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        slug = event.option.id or ""
        self._show_detail(self._merged(slug))
        if self.show is not None and slug not in self.details:
            start_worker(self, self._fetch(slug), exclusive=True, group="scripts-show")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.query_one("#scripts-detail").focus()

    async def _fetch(self, slug: str) -> None:
        try:
            detail = await self.show(slug)  # type: ignore[misc]
        except RfpilotError as err:
            if self._highlighted_slug() == slug:
                self.query_one("#scripts-detail-text", Static).update(text(err.message, "red"))
            return
        self.details[slug] = TemplateView(**detail)
        if self._highlighted_slug() == slug:
            self._show_detail(self._merged(slug))

    def _merged(self, slug: str) -> dict[str, Any]:
        """The list's row for ``slug`` with what show() returned for it, if it came."""
        merged: dict[str, Any] = {}
        merged.update(next((r for r in self.rows if str(r.get("slug")) == slug), {}))
        merged.update(self.details.get(slug, {}))
        return merged

    def _show_detail(self, row: dict[str, Any]) -> None:
        self.query_one("#scripts-detail-text", Static).update(template_detail(row))
        self.query_one("#scripts-detail").scroll_home(animate=False)

    # keys

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "search":  # offered only where it does something: not in the search itself
            return self.focused is not self.query_one("#scripts-search", Input)
        return True

    def action_search(self) -> None:
        self.query_one("#scripts-search", Input).focus()

    def action_to_list(self) -> None:
        listing = self.query_one("#scripts-list", OptionList)
        if listing.option_count:
            listing.focus()

    def action_back(self) -> None:
        self.dismiss()
