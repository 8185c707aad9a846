"""The script choices: a fix's drafted script (no template), editable, and the three ways to go on with it.

It knows nothing of the store: it takes plain data (dicts shaped like the core's views) and callables, and
hands back a small result object; the main screen turns that into core calls. Everything that came from a
person, a script, the model or a PSA is shown through ``safe.text``/``safe.inert``, never as markup.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import OptionList, Static, TextArea
from textual.widgets.option_list import Option

from rfpilot.tui.safe import inert, text
from rfpilot.tui.screens.shared import SCRIPT_DIALOG_STYLES, Dialog, no_blink, unless_edited

STYLES = Path(__file__).with_name("three_choice.tcss")  # parsed when the dialog first opens


@dataclass
class ChoiceResult:
    decision: str  # "one_off" | "draft_template" | "build_template"
    script: str = ""  # the script as edited in the dialog


THREE_CHOICES = [
    ("one_off", "1", "Run it as a one-off",
     "fastest; kept in this session only, nothing for the team"),
    ("draft_template", "2", "Run it now, make a template after resolving (recommended)",
     "no extra work now; only a script that worked becomes a draft"),
    ("build_template", "3", "Build it as a template now",
     "name its parameters first: the team gains now, you spend time"),
]


class ThreeChoiceScreen(Dialog[ChoiceResult | None]):
    """The fix's drafted script, editable, and the three ways to go on with it.

    The choices sit in a list that has focus when the dialog opens: 1, 2 or 3 (or enter) picks one there.
    In the script editor digits are text; tab moves between the editor and the list.
    """

    CSS_PATH = [SCRIPT_DIALOG_STYLES, STYLES]

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
        no_blink(self)
        self.query_one("#choice3-error").display = False
        options = self.query_one("#choice3-options", OptionList)
        options.highlighted = 1
        options.focus()

    @property
    def editor(self) -> TextArea:
        return self.query_one("#choice3-script", TextArea)

    def action_choose(self, decision: str) -> None:
        script = unless_edited(self.script, self.editor.text)
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
