"""The task lane: What we know, Questions, Diagnostic checks, Suggested fix, Resolve / Escalate (SPEC §6).

Each row is focusable and carries its own keys; the lane posts what was asked
and the screen calls the core.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Static

from rfpilot.tui.safe import inert, text


class LaneRow(Static):
    """A fact, question or check. Keys depend on the kind (see BINDINGS and check_action)."""

    can_focus = True
    HELP_TITLE = "a task lane row"
    BINDINGS = [
        Binding("enter,a", "do('answer')", "Answer / run", id="lane.answer"),
        Binding("s", "do('skip')", "Skip", id="lane.skip"),
        Binding("c", "do('copy')", "Copy command", id="lane.copy"),
        Binding("e", "do('edit')", "Edit", id="lane.edit"),
        Binding("d,delete", "do('delete')", "Delete", id="lane.delete"),
        Binding("p", "do('promote')", "Promote", id="lane.promote"),
    ]
    ALLOWED = {
        "question": {"answer", "skip", "promote"},
        "check": {"answer", "skip", "copy", "promote"},
        "fact": {"edit", "delete"},
    }

    class Action(Message):
        def __init__(self, kind: str, item: dict, action: str) -> None:
            super().__init__()
            self.kind = kind
            self.item = item
            self.action = action

    def __init__(self, kind: str, item: dict, body: Text, **kwargs) -> None:
        super().__init__(body, **kwargs)
        self.kind = kind
        self.item = item
        self.body = body

    # The cursor: the row is drawn in the cursor's colours (app.tcss), its own colours and dimming dropped so
    # nothing in it (a dim answered question, a green fact) can vanish into the cursor's background.
    def on_focus(self) -> None:
        self.update(Text(self.body.plain))

    def on_blur(self) -> None:
        self.update(self.body)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "do":
            wanted = str(parameters[0])
            if wanted not in self.ALLOWED[self.kind]:
                return False
            if self.kind == "fact" and wanted == "edit" and not self.item.get("editable"):
                return False
            if self.kind == "check" and wanted == "copy" and not self.item.get("command"):
                return False
            if self.kind in ("question", "check") and wanted == "skip" and self.item.get("state") != "open":
                return False
        return True

    def action_do(self, action: str) -> None:
        self.post_message(self.Action(self.kind, self.item, action))


def _fact_body(fact: dict) -> Text:
    body = Text()
    body.append("✓ ", style="green")
    body.append(inert(fact["text"]))
    if fact.get("provenance"):
        body.append(f"\n  {inert(fact['provenance'])}", style="dim")
    return body


def _item_body(item: dict) -> Text:
    done = item["state"] != "open"
    mark = {"open": "○", "answered": "●", "run": "●", "skipped": "–"}[item["state"]]
    body = Text(f"{mark} ", style="dim" if done else "bold")
    body.append(inert(item["text"]), style="dim" if done else "")
    if item.get("command"):
        body.append(f"\n  $ {inert(item['command'])}", style="cyan" if not done else "dim cyan")
    if item.get("detail") and not done:
        body.append(f"\n  {inert(item['detail'])}", style="dim")
    if item.get("response"):
        first = inert(item["response"]).strip().splitlines()
        if first:
            body.append(f"\n  → {first[0][:200]}", style="dim")
    return body


class TaskLane(VerticalScroll):
    HELP_TITLE = "the task lane"
    BINDINGS = [
        Binding("n", "add_note", "Add a note", id="lane.add_note"),
        Binding("down,j", "move(1)", "Next row", show=False, id="lane.next"),
        Binding("up,k", "move(-1)", "Previous row", show=False, id="lane.previous"),
    ]

    def action_move(self, delta: int) -> None:
        """Up/down walk the rows and the Resolve/Escalate buttons, keeping the focused one in view."""
        stops = [w for w in self.query("LaneRow, .lane-close Button") if w.focusable]
        if not stops:
            return
        focused = self.app.focused
        index = stops.index(focused) + delta if focused in stops else 0
        target = stops[max(0, min(index, len(stops) - 1))]
        target.focus()
        self.scroll_to_widget(target)

    class NoteRequested(Message):
        pass

    def action_add_note(self) -> None:
        self.post_message(self.NoteRequested())

    class CloseRequested(Message):
        def __init__(self, action: str) -> None:
            super().__init__()
            self.action = action

    def compose(self) -> ComposeResult:
        yield Static(text("Open a session to see its task lane.", "dim"), id="lane-empty")

    async def show(self, details: dict | None) -> None:
        await self.remove_children()
        if details is None:
            await self.mount(Static(text("Open a session to see its task lane.", "dim"), id="lane-empty"))
            return
        facts, lane, counts = details["facts"], details["lane"], details["lane_counts"]
        questions = [i for i in lane if i["kind"] == "question"]
        checks = [i for i in lane if i["kind"] == "check"]
        widgets: list = [Static(text(f"WHAT WE KNOW · {len(facts)}", "bold green"), classes="lane-head")]
        widgets += [LaneRow("fact", f, _fact_body(f), classes="lane-row fact") for f in facts]
        if not facts:
            widgets.append(Static(text("Nothing confirmed yet. (n adds a note)", "dim"), classes="lane-none"))
        widgets.append(Static(text(f"QUESTIONS · {counts['questions_unanswered']} unanswered", "bold"), classes="lane-head"))
        widgets += [LaneRow("question", q, _item_body(q), classes=f"lane-row question {q['state']}") for q in questions]
        if not questions:
            widgets.append(Static(text("No questions.", "dim"), classes="lane-none"))
        widgets.append(Static(text(f"DIAGNOSTIC CHECKS · {counts['checks_run']} / {counts['checks_total']} run", "bold"),
                              classes="lane-head"))
        widgets += [LaneRow("check", c, _item_body(c), classes=f"lane-row check {c['state']}") for c in checks]
        if not checks:
            widgets.append(Static(text("No checks.", "dim"), classes="lane-none"))
        widgets.append(Static(text("SUGGESTED FIX", "bold"), classes="lane-head"))
        fix = details.get("active_fix")
        if fix:
            summary = Text(inert(fix["title"]), style="bold")
            summary.append(f"\n{fix['confidence_pct']}% · {fix.get('state_word') or fix['status']}", style="dim")
            if fix.get("description"):
                summary.append(f"\n{inert(fix['description'])}", style="dim")
            widgets.append(Static(summary, classes="lane-fix"))
        else:
            widgets.append(Static(text("None yet.", "dim"), classes="lane-none"))
        if details["session"]["status"] in ("active", "paused", "escalated"):
            widgets.append(Horizontal(
                Button("Resolve…", id="lane-resolve", variant="success", compact=True),
                Button("Escalate…", id="lane-escalate", variant="warning", compact=True),
                classes="lane-close",
            ))
        await self.mount_all(widgets)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id in ("lane-resolve", "lane-escalate"):
            event.stop()
            self.post_message(self.CloseRequested(event.button.id.removeprefix("lane-")))
