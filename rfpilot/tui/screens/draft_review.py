"""The draft review: one pending draft template after a resolve, to edit and save for the team, reject, or
leave for later.

It knows nothing of the store: it takes plain data (dicts shaped like the core's views) and callables, and
hands back a small result object; the main screen turns that into core calls. Everything that came from a
person, a script, the model or a PSA is shown through ``safe.text``/``safe.inert``, never as markup.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Checkbox, Input, Static, TextArea

from rfpilot.core.view_types import DraftReviewView, ProposedParameterView
from rfpilot.core.library.render import REDACTED, placeholders
from rfpilot.errors import RfpilotError
from rfpilot.tui.safe import inert, text
from rfpilot.tui.screens.shared import SCRIPT_DIALOG_STYLES, Dialog, no_blink, unless_edited
from rfpilot.tui.workers import start_worker

STYLES = Path(__file__).with_name("draft_review.tcss")  # parsed when the review first opens


@dataclass
class ReviewResult:
    action: str  # "accept" | "reject" | "skip"
    name: str = ""
    slug: str = ""
    description: str = ""
    category: str = ""
    body: str = ""
    parameters: list[ProposedParameterView] = field(default_factory=list)  # the kept ones, as given
    dont_ask_again: bool = False
    draft_id: Any = None


def _place(key: str) -> str:
    return "{{ " + key + " }}"


class DraftReviewScreen(Dialog[ReviewResult | None]):
    """One pending draft template after a resolve: edit it and save it for the team, reject it, or decide later.

    ``save``, when given, is awaited with the accept result before the dialog closes; an RfpilotError it
    raises (a slug already taken, say) is shown in the dialog, which stays open for another try.
    """

    CSS_PATH = [SCRIPT_DIALOG_STYLES, STYLES]

    BINDINGS = [
        Binding("ctrl+s", "accept", "Save as team template", id="review.accept"),
        Binding("ctrl+r", "reject", "Reject", id="review.reject"),
        Binding("escape", "later", "Later", id="review.later"),
    ]

    def __init__(self, draft: DraftReviewView, position: str,
                 save: Callable[[ReviewResult], Awaitable[None]] | None = None) -> None:
        super().__init__()
        self.draft, self.position, self.save = draft, position, save
        self.parameters: list[ProposedParameterView] = list(draft.get("parameters") or [])
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
    def _param_label(param: ProposedParameterView) -> Text:
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
        no_blink(self)
        self.query_one("#review-error").display = False
        self.query_one("#review-name", Input).focus()

    # parameters

    def _kept(self) -> list[ProposedParameterView]:
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
        body = unless_edited(self.draft.get("body") or "", self.query_one("#review-script", TextArea).text)
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
                              category=self._field("category"), body=body, parameters=[ProposedParameterView(**p) for p in kept],
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
