"""The task lane: What we know, Questions, Diagnostic checks, Suggested fix, Seen before, Resolve / Escalate (SPEC §6,
issue 17).

Each row is focusable and carries its own keys; the lane posts what was asked
and the screen calls the core.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Button, Static

from rfpilot.core.view_types import FactView, LaneItemView, SeenBeforeView, SessionDetails, is_lane_item
from rfpilot.grammar import count
from rfpilot.tui.safe import inert, text


LaneEntry = FactView | LaneItemView  # a row's item: a fact, or a question or check (its ``kind`` says which)
SEEN_SHOWN = 3  # "Seen before" matches the lane lists


class _BodyRow(Static):
    """A focusable lane row drawn from a ``Hanging`` body. The cursor: the row is drawn in the cursor's colours
    (app.tcss), its own colours and dimming dropped so nothing in it (a dim answered question, a green fact) can
    vanish into the cursor's background."""

    can_focus = True

    def __init__(self, body: Hanging, **kwargs) -> None:
        super().__init__(body, **kwargs)
        self.body = body

    def show_body(self, body: Hanging) -> None:
        self.body = body
        self.update(body.plain() if self.has_focus else body)

    def on_focus(self) -> None:
        self.update(self.body.plain())

    def on_blur(self) -> None:
        self.update(self.body)


class LaneRow(_BodyRow):
    """A fact, question or check. Keys depend on the kind (see BINDINGS and check_action)."""

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
        def __init__(self, kind: str, item: LaneEntry, action: str) -> None:
            super().__init__()
            self.kind = kind
            self.item = item
            self.action = action

    def __init__(self, kind: str, item: LaneEntry, body: Hanging, **kwargs) -> None:
        super().__init__(body, **kwargs)
        self.kind = kind
        self.item = item

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "do":
            wanted = str(parameters[0])
            if wanted not in self.ALLOWED[self.kind]:
                return False
            item = self.item
            if is_lane_item(item):
                if self.kind == "check" and wanted == "copy" and not item["command"]:
                    return False
                if wanted == "skip" and item["state"] != "open":
                    return False
            elif wanted == "edit" and not item["editable"]:
                return False
        return True

    def action_do(self, action: str) -> None:
        self.post_message(self.Action(self.kind, self.item, action))


class Hanging:
    """A row's mark (✓, ○, ●, –) and its text: wrapped lines hang under the text, not under the mark (a grid of
    two columns; Rich's Text alone wraps to column 0)."""

    def __init__(self, mark: Text, rest: Text) -> None:
        self.mark, self.rest = mark, rest

    def plain(self) -> Hanging:
        return Hanging(Text(self.mark.plain), Text(self.rest.plain))

    def __rich_console__(self, console, options):
        from rich.table import Table

        grid = Table.grid(padding=0, expand=True)
        grid.add_column(no_wrap=True, width=self.mark.cell_len)
        grid.add_column(ratio=1, overflow="fold")
        grid.add_row(self.mark, self.rest)
        yield grid

    def __str__(self) -> str:
        return self.mark.plain + self.rest.plain


def _fact_body(fact: FactView) -> Hanging:
    rest = Text(inert(fact["text"]))
    if fact["provenance"]:
        rest.append(f"\n{inert(fact['provenance'])}", style="dim")
    return Hanging(Text("✓ ", style="green"), rest)


def _item_body(item: LaneItemView) -> Hanging:
    done = item["state"] != "open"
    mark = {"open": "○", "answered": "●", "run": "●", "skipped": "–"}[item["state"]]
    rest = Text(inert(item["text"]), style="dim" if done else "")
    if item["command"]:
        rest.append(f"\n$ {inert(item['command'])}", style="cyan" if not done else "dim cyan")
    if item["detail"] and not done:
        rest.append(f"\n{inert(item['detail'])}", style="dim")
    if item["response"]:
        first = inert(item["response"]).strip().splitlines()
        if first:
            rest.append(f"\n→ {first[0][:200]}", style="dim")
    return Hanging(Text(f"{mark} ", style="dim" if done else "bold"), rest)


class SeenRow(_BodyRow):
    """A "Seen before" match: an earlier session like this one. Enter opens it read-only beside this one; x
    dismisses it for this session (the owner only; the core says no to anyone else)."""

    HELP_TITLE = "a seen-before match"
    BINDINGS = [
        Binding("enter,o", "do('open')", "Open read-only", id="lane.seen_open"),
        Binding("x", "do('dismiss')", "Dismiss match", id="lane.seen_dismiss"),
    ]

    class Action(Message):
        def __init__(self, match: SeenBeforeView, action: str) -> None:
            super().__init__()
            self.match = match
            self.action = action

    def __init__(self, match: SeenBeforeView, body: Hanging, **kwargs) -> None:
        super().__init__(body, **kwargs)
        self.match = match

    def action_do(self, action: str) -> None:
        self.post_message(self.Action(self.match, action))


def _seen_body(match: SeenBeforeView) -> Hanging:
    """Title, client, what fixed it (or why it was escalated), time to resolve and the id: every text inert."""
    from rfpilot.core.text import duration, one_line

    rest = Text(inert(one_line(match["title"])), style="bold")
    where = [inert(one_line(match["client_name"]))] if match["client_name"] else []
    if match["same_client"]:
        where.append("same client")
    if match["fixed_by"]:
        outcome = Text(f"\nfixed by {inert(one_line(match['fixed_by']))}", style="green")
    elif match["escalation_reason"]:
        outcome = Text(f"\nescalated: {inert(one_line(match['escalation_reason']))}", style="yellow")
    else:
        outcome = Text(f"\n{match['status']}", style="dim")
    rest.append_text(outcome)
    rest.append(f"\n{' · '.join([match['ref'], *where, duration(match['active_seconds']) + ' to resolve'])}",
                style="dim")
    return Hanging(Text("◆ ", style="magenta"), rest)


def _seen_row(match: SeenBeforeView) -> _Row:
    body = _seen_body(match)

    def update(widget: Widget) -> None:
        widget.match = match  # type: ignore[attr-defined]
        widget.show_body(body)  # type: ignore[attr-defined]

    return _Row(f"seen:{match['id']}", match, lambda: SeenRow(match, body, classes="lane-row seen"), update)


class MoreRows(Static):
    """The row after the facts, questions or checks shown when the session has more: enter shows the next page."""

    can_focus = True
    HELP_TITLE = "the task lane"
    BINDINGS = [Binding("enter", "more", "Show more", id="lane.more")]

    class Requested(Message):
        def __init__(self, kind: str) -> None:
            super().__init__()
            self.kind = kind

    def __init__(self, kind: str, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.kind = kind

    def action_more(self) -> None:
        self.post_message(self.Requested(self.kind))


@dataclass
class _Row:
    """One widget of the lane: ``shows`` is what it displays; the widget is updated only when that changes."""

    key: str
    shows: object
    make: Callable[[], Widget]
    update: Callable[[Widget], None] | None = None  # in place; None: replace the widget


def _static(key: str, body, classes: str, **kwargs) -> _Row:
    def update(widget: Widget) -> None:
        widget.update(body)  # type: ignore[attr-defined]

    return _Row(key, (str(body), classes), lambda: Static(body, classes=classes, **kwargs), update)


def _fact_row(fact: FactView) -> _Row:
    return _lane_row("fact", fact, _fact_body(fact), "lane-row fact")


def _item_row(item: LaneItemView) -> _Row:
    return _lane_row(item["kind"], item, _item_body(item), f"lane-row {item['kind']} {item['state']}")


def _lane_row(kind: str, item: LaneEntry, body: Hanging, classes: str) -> _Row:
    def update(widget: Widget) -> None:
        widget.item = item  # type: ignore[attr-defined]
        widget.set_classes(classes)
        widget.show_body(body)  # type: ignore[attr-defined]

    return _Row(f"{kind}:{item['id']}", (item, classes), lambda: LaneRow(kind, item, body, classes=classes), update)


class TaskLane(VerticalScroll):
    """The lane updates in place: a refresh changes only the rows whose content changed, mounts the new ones and
    removes the gone ones (focus stays where it was). Facts, questions and checks are each shown a page at a
    time (``MoreRows``)."""

    HELP_TITLE = "the task lane"
    BINDINGS = [
        Binding("n", "add_note", "Add a note", id="lane.add_note"),
        Binding("down,j", "move(1)", "Next row", show=False, id="lane.next"),
        Binding("up,k", "move(-1)", "Previous row", show=False, id="lane.previous"),
    ]

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.details: SessionDetails | None = None
        self._walk: list[Widget] = []  # the rows up/down asked for, the last one first to be focused

    @property
    def facts_shown(self) -> int:
        return len(self.details["facts"]) if self.details else 0

    @property
    def items_shown(self) -> dict[str, int]:
        """How many questions and checks are shown (a refresh reads as many again)."""
        lane = self.details["lane"] if self.details else []
        return {kind: sum(1 for i in lane if i["kind"] == kind) for kind in ("question", "check")}

    def shown(self, kind: str) -> list[FactView] | list[LaneItemView]:
        if not self.details:
            return []
        if kind == "fact":
            return self.details["facts"]
        return [i for i in self.details["lane"] if i["kind"] == kind]

    def action_move(self, delta: int) -> None:
        """Up/down walk the rows and the Resolve/Escalate buttons, keeping the focused one in view."""
        stops = [w for w in self.query("LaneRow, MoreRows, SeenRow, .lane-close Button") if w.focusable]
        if not stops:
            return
        # focus() lands after the key that asked for it: keys typed faster than that (a held-down arrow over
        # ssh) walk on from the last row asked for, not from the focused one, so no key press is lost.
        focused = self.app.focused
        current: Widget | None
        if focused in self._walk:
            current = self._walk[-1]
        else:
            current, self._walk = focused, [focused] if focused in stops else []
        index = stops.index(current) + delta if current in stops else 0
        target = stops[max(0, min(index, len(stops) - 1))]
        self._walk = self._walk[-20:] + [target]
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
        empty = self._empty()
        widget = empty.make()
        widget.lane_key, widget.lane_shows = empty.key, empty.shows  # type: ignore[attr-defined]
        yield widget

    @staticmethod
    def _empty() -> _Row:
        return _static("empty", text("Open a session to see its task lane.", "dim"), "", id="lane-empty")

    async def add_facts(self, rows: list[FactView]) -> None:
        """The next page of facts, after the ones shown."""
        if self.details is None or not rows:
            return
        self.details["facts"] = self.details["facts"] + rows
        await self.show(self.details)

    async def add_items(self, kind: str, rows: list[LaneItemView]) -> None:
        """The next page of questions or checks (``kind``), after the ones shown."""
        if self.details is None or not rows:
            return
        lane = self.details["lane"]  # questions come before checks in the lane's list
        last = max((n for n, i in enumerate(lane) if i["kind"] == kind), default=len(lane) - 1)
        self.details["lane"] = lane[:last + 1] + rows + lane[last + 1:]
        await self.show(self.details)

    @staticmethod
    def _more(kind: str, more: int) -> _Row:
        return _Row(f"more:{kind}", more, lambda: MoreRows(
            kind, text(f"… {count(more, 'more ' + kind)} (enter shows the next ones)", "dim"), classes="lane-row more"))

    def _rows(self, details: SessionDetails | None) -> list[_Row]:
        if details is None:
            return [self._empty()]
        facts, lane, counts = details["facts"], details["lane"], details["lane_counts"]
        total = details["fact_count"]
        questions = [i for i in lane if i["kind"] == "question"]
        checks = [i for i in lane if i["kind"] == "check"]
        rows = [_static("head:facts", text(f"WHAT WE KNOW · {total}", "bold green"), "lane-head")]
        rows += [_fact_row(f) for f in facts]
        if total > len(facts):
            rows.append(self._more("fact", total - len(facts)))
        if not facts:
            rows.append(_static("none:facts", text("Nothing confirmed yet. (n adds a note)", "dim"), "lane-none"))
        rows.append(_static("head:questions", text(f"QUESTIONS · {counts['questions_unanswered']} unanswered", "bold"),
                            "lane-head"))
        rows += [_item_row(q) for q in questions]
        if counts["questions_total"] > len(questions):
            rows.append(self._more("question", counts["questions_total"] - len(questions)))
        if not questions:
            rows.append(_static("none:questions", text("No questions.", "dim"), "lane-none"))
        rows.append(_static("head:checks", text(f"DIAGNOSTIC CHECKS · {counts['checks_run']} / {counts['checks_total']} run",
                                                "bold"), "lane-head"))
        rows += [_item_row(c) for c in checks]
        if counts["checks_total"] > len(checks):
            rows.append(self._more("check", counts["checks_total"] - len(checks)))
        if not checks:
            rows.append(_static("none:checks", text("No checks.", "dim"), "lane-none"))
        rows.append(_static("head:fix", text("SUGGESTED FIX", "bold"), "lane-head"))
        fix = details["active_fix"]
        if fix:
            summary = Text(inert(fix["title"]), style="bold")
            summary.append(f"\n{fix['confidence_pct']}% · {fix['state_word'] or fix['status']}", style="dim")
            if fix["description"]:
                summary.append(f"\n{inert(fix['description'])}", style="dim")
            rows.append(_static("fix", summary, "lane-fix"))
        else:
            rows.append(_static("none:fix", text("None yet.", "dim"), "lane-none"))
        seen = details["seen_before"][:SEEN_SHOWN]
        if seen:
            rows.append(_static("head:seen", text(f"SEEN BEFORE · {len(seen)}", "bold magenta"), "lane-head"))
            rows += [_seen_row(m) for m in seen]
        if details["session"]["status"] in ("active", "paused", "escalated"):
            rows.append(_Row("close", "close", lambda: Horizontal(
                Button("Resolve…", id="lane-resolve", variant="success", compact=True),
                Button("Escalate…", id="lane-escalate", variant="warning", compact=True),
                classes="lane-close",
            )))
        return rows

    async def show(self, details: SessionDetails | None) -> None:
        """Show ``details`` (core.views.session_details), touching only what changed."""
        self.details = details
        rows = self._rows(details)
        shown = {getattr(w, "lane_key", None): w for w in self.children}
        wanted = {row.key for row in rows}
        still = [getattr(w, "lane_key", None) for w in self.children if getattr(w, "lane_key", None) in wanted]
        if still != [row.key for row in rows if row.key in shown]:
            # Rows changed order (rare: never on a refresh of the same session): start again.
            await self.remove_children()
            shown = {}
        gone = [w for key, w in shown.items() if key not in wanted]
        if gone:
            await self.remove_children(gone)
        batch: list[Widget] = []
        anchor: Widget | None = None  # the last widget in place, in the lane's order
        for row in rows:
            widget = shown.get(row.key)
            if widget is not None and getattr(widget, "lane_shows", None) != row.shows:
                if row.update is not None:
                    row.update(widget)
                else:
                    await widget.remove()
                    widget = None
            if widget is None:
                widget = row.make()
                widget.lane_key = row.key  # type: ignore[attr-defined]
                batch.append(widget)
            elif batch:
                await self.mount_all(batch, before=widget)
                batch = []
            widget.lane_shows = row.shows  # type: ignore[attr-defined]
            if widget not in batch:
                anchor = widget
        if batch:
            await (self.mount_all(batch, after=anchor) if anchor is not None else self.mount_all(batch))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id in ("lane-resolve", "lane-escalate"):
            event.stop()
            self.post_message(self.CloseRequested(event.button.id.removeprefix("lane-")))
