"""The resolution outputs overlay (SPEC §13): ticket notes, KB article and client summary, each to check,
edit, approve, reject, push or export before it leaves.

It knows nothing of the store: it takes the outputs as plain dicts and one async ``actions`` callable.
Everything that came from a person, the model or a PSA is shown through ``safe.text``/``safe.inert``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Static, TabbedContent, TabPane, Tabs, TextArea

from rfpilot.core.view_types import OutputActionView, OutputView
from rfpilot.errors import QueuedError, RfpilotError
from rfpilot.tui.safe import inert, text
from rfpilot.tui.screens.shared import Dialog, error_line, no_blink
from rfpilot.tui.workers import start_worker

STYLES = Path(__file__).with_name("outputs.tcss")  # parsed when the overlay first opens

OUTPUT_TABS = (("psa_ticket_notes", "Ticket notes"), ("knowledge_base", "KB article"),
               ("client_summary", "Client summary"))
OUTPUT_STATUS_STYLE = {"draft": "yellow", "approved": "green", "pushed": "bold green", "rejected": "red"}
PUSHABLE = ("psa_ticket_notes", "client_summary")
DONE = {"edit": "Saved.", "approve": "Approved.", "reject": "Rejected."}


def output_status(output: Mapping[str, Any]) -> Text:
    """"draft · offline drafter", with the model and where it was pushed when known."""
    status = str(output.get("status") or "draft")
    out = Text()
    out.append(inert(status), OUTPUT_STATUS_STYLE.get(status, ""))
    drafter = f"{inert(str(output.get('drafter') or 'offline'))} drafter"
    if output.get("model"):
        drafter += f" ({inert(str(output['model']))})"
    out.append(" · " + drafter, "dim")
    if output.get("edited"):
        out.append(" · edited", "dim")
    if output.get("push_pending"):
        out.append(" · push queued: it goes when the PSA answers", "yellow")
    elif output.get("pushed_to"):
        out.append(" · pushed to " + inert(str(output["pushed_to"])), "green")
        if output.get("pushed_reference"):
            out.append(f" ({inert(str(output['pushed_reference']))})", "green")
    elif output.get("pushed_reference"):
        out.append(" · " + inert(str(output["pushed_reference"])), "dim")
    return out


class OutputsScreen(Dialog[None]):
    """The three documents a resolve drafts, one tab each: edit, approve, reject, push, export, copy.

    Keys: ctrl+s saves the edits from anywhere. The one-letter keys (a approve, x reject, p push, e export,
    y copy) act when the text is not being edited: the tabs have focus when the overlay opens; tab moves into
    the text, escape leaves it (a second escape closes). Approve, push and export save unsaved edits first.
    Every action awaits ``actions(action, output_type, text or None)`` for the updated output.
    """

    CSS_PATH = STYLES

    BINDINGS = [
        Binding("ctrl+s", "save", "Save edits", id="outputs.save"),
        Binding("a", "run('approve')", "Approve", id="outputs.approve"),
        Binding("x", "run('reject')", "Reject", id="outputs.reject"),
        Binding("p", "run('push')", "Push to PSA", id="outputs.push"),
        Binding("e", "run('export')", "Export", id="outputs.export"),
        Binding("y", "copy", "Copy", id="outputs.copy"),
        Binding("escape", "close", "Close", id="outputs.close"),
    ]

    HINT = ("←→ tabs · tab edits the text, esc leaves it · ctrl+s save · a approve · x reject · "
            "p push to PSA · e export (KB) · y copy · esc close")

    def __init__(self, outputs: list[OutputView],
                 actions: Callable[[str, str, str | None], Awaitable[OutputActionView]]) -> None:
        super().__init__()
        self.outputs: dict[str, OutputActionView] = {}
        for output in outputs or []:
            if output.get("output_type") in dict(OUTPUT_TABS):
                self.outputs[str(output["output_type"])] = OutputActionView(**output)
        self.actions = actions
        self.saved: dict[str, str] = {k: inert(str(v.get("content") or "")) for k, v in self.outputs.items()}
        self.busy = False
        self.warned_unsaved = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide", id="outputs"):
            yield Static(text("Resolution outputs · drafts to check before they leave", "bold"))
            with TabbedContent(id="outputs-tabs"):
                for kind, title in OUTPUT_TABS:
                    with TabPane(title, id=f"out-{kind}"):
                        yield from self._pane(kind)
            yield Static("", id="outputs-msg")
            yield Static(text(self.HINT, "dim"), id="outputs-hint")

    def _pane(self, kind: str) -> ComposeResult:
        output = self.outputs.get(kind)
        if output is None:
            yield Static(text("not generated", "bold yellow"), classes="out-status")
            yield Static(text("This document was not drafted for this session (outputs are drafted when a session "
                              "is resolved).", "dim"), classes="out-missing")
            return
        yield Static(output_status(output), id=f"out-{kind}-status", classes="out-status")
        yield TextArea(self.saved[kind], id=f"out-{kind}-text", soft_wrap=True, tab_behavior="focus",
                       classes="out-text")
        with Horizontal(classes="out-actions"):
            yield Button("Save (ctrl+s)", id=f"out-{kind}-edit", compact=True)
            yield Button("Approve (a)", id=f"out-{kind}-approve", variant="success", compact=True)
            yield Button("Reject (x)", id=f"out-{kind}-reject", variant="error", compact=True)
            if kind in PUSHABLE:
                yield Button("Push to PSA (p)", id=f"out-{kind}-push", variant="primary", compact=True)
            else:
                yield Button("Export (e)", id=f"out-{kind}-export", variant="primary", compact=True)
            yield Button("Copy (y)", id=f"out-{kind}-copy", compact=True)

    def on_mount(self) -> None:
        no_blink(self)
        self.query_one("#outputs-msg").display = False
        for kind in self.outputs:
            self._relabel(kind)
        self.query_one("#outputs-tabs", TabbedContent).query_one(Tabs).focus()

    # state

    @property
    def kind(self) -> str:
        return (self.query_one("#outputs-tabs", TabbedContent).active or "out-psa_ticket_notes").removeprefix("out-")

    def _area(self, kind: str) -> TextArea | None:
        return self.query_one(f"#out-{kind}-text", TextArea) if kind in self.outputs else None

    def _dirty(self, kind: str) -> bool:
        area = self._area(kind)
        return area is not None and area.text != self.saved.get(kind, "")

    def _say(self, kind: str, message: str, style: str = "green") -> None:
        """A line under the tabs about ``kind``: shown while its tab is the one open."""
        if kind != self.kind:
            return
        msg = self.query_one("#outputs-msg", Static)
        msg.update(text(message, style))
        msg.display = bool(message)

    def _relabel(self, kind: str) -> None:
        output = self.outputs.get(kind)
        title = dict(OUTPUT_TABS)[kind]
        label = Text(title)
        status = output["status"] if output else None
        if status == "pushed":
            label.append(" ✓", "green")
        elif status == "rejected":
            label.append(" ✗", "red")
        self.query_one("#outputs-tabs", TabbedContent).get_tab(f"out-{kind}").label = label

    def _refresh(self, kind: str, output: OutputActionView) -> None:
        self.outputs[kind] = OutputActionView(**output)
        self.saved[kind] = inert(str(output.get("content") or ""))
        area = self._area(kind)
        if area is not None and area.text != self.saved[kind]:
            area.load_text(self.saved[kind])
        self.query_one(f"#out-{kind}-status", Static).update(output_status(output))
        self._relabel(kind)

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        event.stop()
        self.warned_unsaved = False
        self.query_one("#outputs-msg").display = False
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("run", "copy", "save"):
            kind = self.kind
            if kind not in self.outputs:
                return False
            if action == "run" and parameters:
                if parameters[0] == "push" and kind not in PUSHABLE:
                    return False
                if parameters[0] == "export" and kind != "knowledge_base":
                    return False
        return True

    # actions

    def action_save(self) -> None:
        kind = self.kind
        if kind not in self.outputs or self.busy:
            return
        if not self._dirty(kind):
            self._say(kind, "Nothing to save: no edits.", "dim")
            return
        self._start(kind, "edit")

    def action_run(self, action: str) -> None:
        kind = self.kind
        if kind not in self.outputs or self.busy:
            return
        if action == "push" and kind not in PUSHABLE:
            self._say(kind, "The KB article is exported (e), not pushed to the PSA.", "red")
            return
        if action == "export" and kind != "knowledge_base":
            self._say(kind, "Only the KB article is exported to a file.", "red")
            return
        self._start(kind, action)

    def _start(self, kind: str, action: str) -> None:
        self.busy = True
        start_worker(self, self._act(kind, action), exclusive=True, group="outputs-act")

    async def _act(self, kind: str, action: str) -> None:
        area = self._area(kind)
        try:
            saved_first = False
            if action == "edit" or (action in ("approve", "push", "export") and self._dirty(kind)):
                self._say(kind, "saving…", "dim")
                self._refresh(kind, await self.actions("edit", kind, area.text if area else ""))
                saved_first = action != "edit"
            if action != "edit":
                self._say(kind, {"push": "pushing…", "export": "exporting…"}.get(action, "…"), "dim")
                self._refresh(kind, await self.actions(action, kind, None))
        except RfpilotError as err:
            # Queued is not a failure: the write waits in the outbox and goes when the PSA answers.
            self._say(kind, error_line(err), "yellow" if isinstance(err, QueuedError) else "red")
            return
        finally:
            self.busy = False
        output = self.outputs[kind]
        if action == "push" and output.get("push_pending"):
            done = "Queued: the PSA did not answer; the push goes from the outbox when it does."
        elif action == "push":
            where = inert(str(output.get("pushed_to") or "the PSA"))
            ref = output.get("pushed_reference")
            done = f"Pushed to {where}" + (f" ({inert(str(ref))})." if ref else ".")
        elif action == "export":
            done = f"Exported to {inert(str(output.get('exported_to') or output.get('pushed_reference') or 'a file'))}"
            done += " (marked DRAFT: not approved)." if output.get("exported_draft") else "."
        else:
            done = DONE.get(action, "Done.")
        self._say(kind, ("Saved your edits, then: " + done[0].lower() + done[1:]) if saved_first else done)

    def action_copy(self) -> None:
        kind = self.kind
        area = self._area(kind)
        if area is not None:
            self.app.copy_text(area.text, what=dict(OUTPUT_TABS)[kind].lower())  # type: ignore[attr-defined]

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        action = (event.button.id or "").rsplit("-", 1)[-1]
        if action == "edit":
            self.action_save()
        elif action == "copy":
            self.action_copy()
        else:
            self.action_run(action)

    def action_close(self) -> None:
        focused = self.focused
        if isinstance(focused, TextArea):
            buttons = focused.parent.query(".out-actions Button") if focused.parent else None
            (buttons.first() if buttons else self.query_one(Tabs)).focus()
            return
        if self.busy:
            return
        unsaved = [dict(OUTPUT_TABS)[k] for k in self.outputs if self._dirty(k)]
        if unsaved and not self.warned_unsaved:
            self.warned_unsaved = True
            self._say(self.kind, f"Unsaved edits in {', '.join(unsaved)}: ctrl+s saves them; esc again closes "
                            "without saving.", "yellow")
            return
        self.dismiss(None)
