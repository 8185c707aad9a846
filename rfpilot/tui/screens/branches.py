"""Branches, handoffs, the team queue and the resolution outputs (SPEC §10, §13).

The branch map, the fork card and the switch notice for the transcript, the handoff dialog, the queue screen
and the resolution outputs overlay. Like the script screens, these know nothing of the store: they take plain
dicts shaped like the core's views (``branch_view``, a fork point, a queue item, an output) and async
callables, and hand back small result objects; the main screen turns those into core calls. Everything that
came from a person, the model or a PSA is shown through ``safe.text``/``safe.inert``, never as markup.
"""

from __future__ import annotations

from pathlib import Path

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import (
    Button,
    Checkbox,
    Input,
    OptionList,
    RadioButton,
    RadioSet,
    Select,
    Static,
    TabbedContent,
    TabPane,
    Tabs,
    TextArea,
    Tree,
)
from textual.widgets.option_list import Option

from rfpilot.core.text import age
from rfpilot.core.view_types import BranchView, ForkView, OutputActionView, OutputView, QueueItemView
from rfpilot.errors import QueuedError, RfpilotError
from rfpilot.grammar import count as plural_count
from rfpilot.tui.safe import inert, text
from rfpilot.tui.screens.modals import Dialog
from rfpilot.tui.widgets.footer import KeysFooter
from rfpilot.tui.widgets.composer import LineBreakArea
from rfpilot.tui.workers import start_worker

STYLES = Path(__file__).with_name("branches.tcss")  # parsed when one of these screens first opens

# The same glyphs as `rfpilot branches list`; an unknown status reads as untried.
GLYPH = {"active": "●", "untried": "○", "dead_end": "✗", "solved": "✓", "revived": "↺"}
STATUS_STYLE = {"active": "cyan", "untried": "dim", "dead_end": "red", "solved": "green", "revived": "yellow"}
STATUS_WORD = {"active": "active", "untried": "untried", "dead_end": "dead end", "solved": "solved",
               "revived": "revived"}
CURRENT = "▶"  # the branch being worked on (the session's pointer, not the "active" status)
FORK = "⋔"
FORK_MIN, FORK_MAX = 2, 4


def _no_blink(screen: Screen) -> None:
    """A steady cursor under test, so snapshots are stable; a blinking one for people."""
    for widget in screen.query("Input, TextArea"):
        widget.cursor_blink = not screen.app.is_headless  # type: ignore[attr-defined]


def _status(branch: BranchView | None) -> str:
    status = branch.get("status") if branch else None
    return status if status in GLYPH else "untried"


def _label(branch: BranchView | None) -> str:
    return inert(str((branch.get("label") if branch else None) or "(unnamed)"))


def _error_line(err: RfpilotError) -> str:
    return err.message + (f" ({err.hint})" if err.hint else "")


# --- results -------------------------------------------------------------------------------------------


@dataclass
class BranchAction:
    action: str  # "switch" | "dead_end" | "solved" | "revive" | "fork"
    branch_id: str | None  # the branch acted on; a fork: the branch being worked on (None before the first fork)
    reason: str = ""  # dead_end (required), solved (optional), fork (what the hypotheses disagree on)
    evidence_from: str | None = None  # revive: the id of the branch the evidence comes from
    evidence: str = ""  # revive: what was found
    options: list[tuple[str, str]] = field(default_factory=list)  # fork: 2–4 (label, description)


@dataclass
class HandoffResult:
    intent: str  # "park" | "escalate"
    text: str = ""  # park: what the session waits on (required) · escalate: notes for the next engineer ("" = none)
    elevated: bool = False  # escalate only; a park is never elevated


# --- transcript pieces: the fork card and the switch notice ------------------------------------------------


def fork_card_text(fork: ForkView, branches_by_id: dict[str, BranchView]) -> Text:
    """"⋔ Forked: reason", then one line per hypothesis: its status now, label, description."""
    out = Text()
    out.append(f"{FORK} Forked: ", "bold")
    out.append(inert(fork.get("reason") or "no reason given"))
    for option in fork.get("options") or []:
        branch = branches_by_id.get(str(option.get("branch_id") or ""))
        status = _status(branch) if branch else "untried"
        current = bool(branch and branch.get("active"))
        out.append("\n")
        out.append(f"{CURRENT} " if current else "  ", "bold")
        out.append(GLYPH[status], STATUS_STYLE[status])
        out.append(" " + inert(str((branch.get("label") if branch else None) or option.get("label") or "")),
                   "bold" if current else "")
        description = (branch.get("description") if branch else None) or option.get("description")
        if description:
            out.append(" — " + inert(description), "dim")
        out.append(f"  {STATUS_WORD[status]}" + (", current" if current else ""), "dim italic")
    return out


class ForkCard(Static):
    """Where the transcript forked. ``refresh_statuses`` redraws it after a branch changes."""

    DEFAULT_CLASSES = "fork-card"
    fork_after = -1  # the seq of the message the card follows in the transcript (set there)

    def __init__(self, fork: ForkView, branches_by_id: dict[str, BranchView], **kwargs: Any) -> None:
        super().__init__(fork_card_text(fork, branches_by_id), **kwargs)
        self.fork = fork

    def refresh_statuses(self, branches_by_id: dict[str, BranchView]) -> None:
        self.update(fork_card_text(self.fork, branches_by_id))


def fork_card(fork: ForkView, branches_by_id: dict[str, BranchView]) -> ForkCard:
    return ForkCard(fork, branches_by_id)


def transition_text(from_label: str | None, to_label: str, summary: dict[str, Any] | None) -> Text:
    """"Switched from A to B · A: tried x; y; concluded z" (the summary part only when A has one)."""
    out = Text(style="dim")
    out.append("⇄ ")
    if from_label:
        out.append("Switched from ")
        out.append(inert(from_label), "bold")
        out.append(" to ")
    else:
        out.append("Switched to ")
    out.append(inert(to_label), "bold")
    if from_label and summary:
        tried = "; ".join(inert(str(t)) for t in summary.get("tried") or []) or "nothing recorded"
        out.append(f" · {inert(from_label)}: tried {tried}")
        if summary.get("concluded"):
            out.append(f"; concluded {inert(str(summary['concluded']))}")
    return out


def transition_notice(from_label: str | None, to_label: str, summary: dict[str, Any] | None) -> Static:
    return Static(transition_text(from_label, to_label, summary), classes="branch-notice")


# --- the branch map ----------------------------------------------------------------------------------------


def parse_fork_options(value: str) -> tuple[list[tuple[str, str]], str | None]:
    """"Label: description" lines (blank lines skipped) → (options, None), or ([], why they are refused)."""
    options: list[tuple[str, str]] = []
    for line in value.splitlines():
        if not line.strip():
            continue
        label, _, description = line.partition(":")
        label, description = " ".join(label.split()), description.strip()
        if not label:
            return [], f"“{line.strip()}” has no label: write “Label: description”."
        if label.casefold() in {o[0].casefold() for o in options}:
            return [], f"Two hypotheses are both called “{label}”."
        options.append((label, description))
    if not FORK_MIN <= len(options) <= FORK_MAX:
        return [], (f"A fork needs {FORK_MIN} to {FORK_MAX} hypotheses, one per line "
                    f"(“Label: description”); this has {len(options)}.")
    return options, None


def branch_detail(branch: BranchView, by_id: dict[str, BranchView], forks: list[ForkView]) -> Text:
    """A branch as the map's detail pane shows it."""
    status = _status(branch)
    out = Text()
    out.append(GLYPH[status] + " ", STATUS_STYLE[status])
    out.append(_label(branch), "bold")
    out.append("\n" + STATUS_WORD[status], STATUS_STYLE[status])
    if branch.get("active"):
        out.append(" · you are working on this branch", "bold")
    parent = by_id.get(str(branch.get("parent_branch_id") or ""))
    if branch.get("root") or parent is None:
        out.append("\nthe trunk: the session before it forked", "dim")
    else:
        fork = next((f for f in forks if f.get("id") == branch.get("fork_point_id")
                     or any(o.get("branch_id") == branch.get("id") for o in f.get("options") or [])), None)
        out.append(f"\nforked from {_label(parent)}", "dim")
        if fork and fork.get("reason"):
            out.append(": " + inert(fork["reason"]), "dim")
    if branch.get("description"):
        out.append("\n\n" + inert(branch["description"]))
    if branch.get("status_reason"):
        why = {"dead_end": "Ruled out", "solved": "Solved"}.get(status, "Reason")
        out.append(f"\n\n{why}: ", "bold")
        out.append(inert(branch["status_reason"]))
    summary = branch.get("summary") or None
    if summary:
        out.append("\n\nTried", "bold")
        tried = summary.get("tried") or []
        for item in tried:
            out.append("\n  • " + inert(str(item)))
        if not tried:
            out.append("\n  nothing recorded", "dim")
        if summary.get("concluded"):
            out.append("\nConcluded: ", "bold")
            out.append(inert(str(summary["concluded"])))
        by = {"llm": "by the model", "offline": "from the stored messages"}.get(summary.get("by") or "")
        if by:
            out.append(f"\n(summary {by})", "dim")
    if branch.get("evidence"):
        source = by_id.get(str(branch.get("evidence_from_branch_id") or ""))
        out.append("\n\nRevived", "bold yellow")
        out.append(f" with evidence from {_label(source)}: " if source else ": ", "yellow")
        out.append(inert(branch["evidence"]))
    return out


def _ordered(branches: list[BranchView]) -> list[tuple[BranchView, int]]:
    """Depth-first, children under their parent in the order given (an orphan is shown at the top level)."""
    ids = {b.get("id") for b in branches}
    children: dict[Any, list[BranchView]] = {}
    for b in branches:
        parent = b.get("parent_branch_id")
        children.setdefault(parent if parent in ids else None, []).append(b)
    out: list[tuple[BranchView, int]] = []

    def walk(parent: Any, depth: int) -> None:
        for b in children.get(parent, []):
            out.append((b, depth))
            walk(b.get("id"), depth + 1)

    walk(None, 0)
    return out


class BranchTree(Tree):
    """The map's tree: no icon on an open node (the guides show its children), a ▸ on a folded one."""

    ICON_NODE = "▸ "
    ICON_NODE_EXPANDED = ""


class BranchMapScreen(Dialog[BranchAction | None]):
    """The session's hypotheses as a tree, the highlighted one in full, and what to do with it.

    dead end, solved, revive and fork first ask for what they need in a small form under the tree (ctrl+s
    confirms, escape goes back to the tree). ``submit``, when given, is awaited with the action before the
    map closes; an RfpilotError it raises (the hypothesis limit, say) is shown in the map, which stays open.
    """

    CSS_PATH = STYLES

    BINDINGS = [
        Binding("enter", "switch", "Switch to it", id="branches.switch"),
        Binding("d", "dead_end", "Dead end", id="branches.dead_end"),
        Binding("s", "solved", "Solved", id="branches.solved"),
        Binding("r", "revive", "Revive", id="branches.revive"),
        Binding("f", "fork", "Fork the current branch", id="branches.fork"),
        Binding("ctrl+s", "confirm", "Confirm", id="branches.confirm"),
        Binding("escape", "close", "Close", id="branches.close"),
    ]

    HINT = "enter switch to it · d dead end · s solved · r revive · f fork the current branch · esc close"

    def __init__(self, branches: list[BranchView], forks: list[ForkView],
                 submit: Callable[[BranchAction], Awaitable[None]] | None = None) -> None:
        super().__init__()
        self.branches = [BranchView(**b) for b in branches or []]
        self.forks = [ForkView(**f) for f in forks or []]
        self.by_id = {str(b.get("id")): b for b in self.branches}
        self.submit = submit
        self.mode: str | None = None  # the question being asked: "dead_end" | "solved" | "revive" | "fork"
        self.target: BranchView | None = None
        self.busy = False

    @property
    def current(self) -> BranchView | None:
        return next((b for b in self.branches if b.get("active")), None)

    def compose(self) -> ComposeResult:
        hypotheses = sum(1 for b in self.branches if not b.get("root"))
        with Vertical(classes="dialog wide", id="bmap"):
            title = Text("Branch map", "bold")
            if hypotheses:
                title.append(f" · {plural_count(hypotheses, 'hypothesis')}", "dim")
            yield Static(title)
            legend = Text(style="dim")
            for status in ("active", "untried", "dead_end", "solved", "revived"):
                legend.append(GLYPH[status], STATUS_STYLE[status])
                legend.append(f" {STATUS_WORD[status]}  ")
            legend.append(f"{CURRENT} current")
            yield Static(legend)
            with Horizontal(id="bmap-body"):
                yield BranchTree(Text("branches"), id="bmap-tree")
                with VerticalScroll(id="bmap-detail"):
                    yield Static("", id="bmap-detail-text")
            with Vertical(id="bmap-ask"):
                yield Static("", id="bmap-ask-title")
                with Horizontal(id="bmap-from-row"):
                    yield Static(text("evidence from"), id="bmap-from-label")
                    yield Select([], id="bmap-from", prompt="choose a branch…", compact=True)
                yield Input(id="bmap-reason")
                yield LineBreakArea("", id="bmap-options", soft_wrap=True, tab_behavior="focus")
            yield Static("", id="bmap-error")
            yield Static(text(self.HINT, "dim"), id="bmap-hint")

    def on_mount(self) -> None:
        _no_blink(self)
        self.query_one("#bmap-ask").display = False
        self.query_one("#bmap-error").display = False
        options = self.query_one("#bmap-options", TextArea)
        options.placeholder = "one hypothesis per line, 2 to 4:\nLabel: description"
        options.border_title = "hypotheses · ctrl+j new line"
        tree = self.query_one("#bmap-tree", Tree)
        tree.show_root = False
        tree.auto_expand = False
        tree.guide_depth = 3
        nodes: dict[Any, Any] = {}
        ordered = _ordered(self.branches)
        parents = {b.get("parent_branch_id") for b, _ in ordered}
        for branch, _depth in ordered:
            parent_node = nodes.get(branch.get("parent_branch_id"), tree.root)
            label = self._node_label(branch)
            if branch.get("id") in parents:
                nodes[branch.get("id")] = parent_node.add(label, data=branch.get("id"), expand=True)
            else:
                nodes[branch.get("id")] = parent_node.add_leaf(label, data=branch.get("id"))
        if not self.branches:
            self.query_one("#bmap-detail-text", Static).update(text(
                "No branches yet: this session has one line of work.\n\nf forks it into 2 to 4 hypotheses "
                "when you are torn between explanations; each gets its own thread, and what a dead end "
                "taught goes to the others.", "dim"))
        tree.focus()
        current = self.current
        start = nodes.get(current.get("id")) if current else None
        if start is None and self.branches:
            start = nodes.get(ordered[0][0].get("id"))
        if start is not None:
            # The tree numbers its lines at the first layout: the cursor is placed after it.
            self.call_after_refresh(self._start_at, start)

    def _start_at(self, node: Any) -> None:
        self.query_one("#bmap-tree", Tree).move_cursor(node)
        self._show_highlighted()

    @staticmethod
    def _node_label(branch: BranchView) -> Text:
        status = _status(branch)
        current = bool(branch.get("active"))
        label = Text()
        label.append(f"{CURRENT} " if current else "", "bold")
        label.append(GLYPH[status], STATUS_STYLE[status])
        label.append(" " + _label(branch), "bold" if current else "")
        return label

    # the highlighted branch

    def highlighted(self) -> BranchView | None:
        node = self.query_one("#bmap-tree", Tree).cursor_node
        return self.by_id.get(str(node.data)) if node is not None and node.data is not None else None

    def _show_highlighted(self) -> None:
        branch = self.highlighted()
        if branch is not None:
            self.query_one("#bmap-detail-text", Static).update(branch_detail(branch, self.by_id, self.forks))
            self.query_one("#bmap-detail").scroll_home(animate=False)

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted) -> None:
        event.stop()
        self._show_highlighted()

    def on_tree_node_selected(self, event: Tree.NodeSelected) -> None:
        event.stop()
        if self.mode is None:
            self.action_switch()

    # keys

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("switch", "dead_end", "solved", "revive", "fork"):
            return self.mode is None and not self.busy
        if action == "confirm":
            return self.mode is not None and not self.busy
        return True

    def _say(self, message: str, style: str = "red") -> None:
        error = self.query_one("#bmap-error", Static)
        error.update(text(message, style))
        error.display = bool(message)

    def action_switch(self) -> None:
        branch = self.highlighted()
        if branch is None:
            return
        if branch.get("active"):
            self._say(f"You are already working on “{_label(branch)}”.", "yellow")
            return
        self._finish(BranchAction("switch", str(branch.get("id"))))

    def action_dead_end(self) -> None:
        branch = self._marking("dead_end")
        if branch is not None:
            self._ask("dead_end", branch, f"Why is “{_label(branch)}” a dead end? (required: it becomes “Things "
                      "to rule out first” in the KB article)", "what ruled it out")

    def action_solved(self) -> None:
        branch = self._marking("solved")
        if branch is not None:
            self._ask("solved", branch, f"“{_label(branch)}” solved it: what fixed it? (optional)", "what fixed it")

    def _marking(self, status: str) -> BranchView | None:
        branch = self.highlighted()
        if branch is None:
            self._say("No branches yet: f forks the session first.")
        elif _status(branch) == status:
            self._say(f"“{_label(branch)}” is already marked {STATUS_WORD[status]}.", "yellow")
            return None
        return branch

    def action_revive(self) -> None:
        branch = self.highlighted()
        if branch is None:
            self._say("No branches yet: f forks the session first.")
            return
        if _status(branch) != "dead_end":
            self._say(f"Only a dead end can be revived; “{_label(branch)}” is {STATUS_WORD[_status(branch)]}.")
            return
        others = [b for b in self.branches if b.get("id") != branch.get("id")]
        select = self.query_one("#bmap-from", Select)
        select.set_options([(text(_label(b)), str(b.get("id"))) for b in others])
        current = self.current
        if current is not None and current.get("id") != branch.get("id"):
            select.value = str(current.get("id"))
        self._ask("revive", branch, f"Revive “{_label(branch)}”: which branch found the evidence, and what was it?",
                  "what was found that points back at it")

    def action_fork(self) -> None:
        branch = self.current
        what = f"Fork “{_label(branch)}”" if branch else "Fork this session"
        self._ask("fork", branch, f"{what} into {FORK_MIN} to {FORK_MAX} hypotheses: why, then one per line",
                  "what the hypotheses disagree on")

    def _ask(self, mode: str, branch: BranchView | None, title: str, placeholder: str) -> None:
        self.mode, self.target = mode, branch
        self._say("")
        self.query_one("#bmap-ask-title", Static).update(text(title, "bold"))
        self.query_one("#bmap-from-row").display = mode == "revive"
        self.query_one("#bmap-options").display = mode == "fork"
        reason = self.query_one("#bmap-reason", Input)
        reason.value = ""
        reason.placeholder = placeholder
        self.query_one("#bmap-options", TextArea).load_text("")
        self.query_one("#bmap-ask").display = True
        confirm = "enter or ctrl+s confirms" if mode in ("dead_end", "solved") else "ctrl+s confirms"
        self.query_one("#bmap-hint", Static).update(text(f"{confirm} · tab moves · esc back to the map", "dim"))
        reason.focus()
        self.refresh_bindings()

    def _end_ask(self) -> None:
        self.mode, self.target = None, None
        self.query_one("#bmap-ask").display = False
        self._say("")
        self.query_one("#bmap-hint", Static).update(text(self.HINT, "dim"))
        self.query_one("#bmap-tree", Tree).focus()
        self.refresh_bindings()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self.mode == "fork":
            self.query_one("#bmap-options", TextArea).focus()
        elif self.mode is not None:
            self.action_confirm()

    def action_confirm(self) -> None:
        if self.mode is None or self.busy:
            return
        reason = " ".join(self.query_one("#bmap-reason", Input).value.split())
        target_id = str(self.target.get("id")) if self.target else None
        if self.mode == "dead_end":
            if not reason:
                self._say("Say why it is a dead end: the next engineer (and the KB article) rely on it.")
                self.query_one("#bmap-reason", Input).focus()
                return
            self._finish(BranchAction("dead_end", target_id, reason=reason))
        elif self.mode == "solved":
            self._finish(BranchAction("solved", target_id, reason=reason))
        elif self.mode == "revive":
            source = self.query_one("#bmap-from", Select).value
            if source is Select.NULL:
                self._say("Choose the branch the evidence comes from.")
                self.query_one("#bmap-from", Select).focus()
                return
            if not reason:
                self._say("Describe the evidence: what was found that points back at this hypothesis?")
                self.query_one("#bmap-reason", Input).focus()
                return
            self._finish(BranchAction("revive", target_id, evidence_from=str(source), evidence=reason))
        elif self.mode == "fork":
            if not reason:
                self._say("Say why the session forks: what do the hypotheses disagree on?")
                self.query_one("#bmap-reason", Input).focus()
                return
            options, error = parse_fork_options(self.query_one("#bmap-options", TextArea).text)
            if error:
                self._say(error)
                self.query_one("#bmap-options", TextArea).focus()
                return
            self._finish(BranchAction("fork", target_id, reason=reason, options=options))

    def _finish(self, action: BranchAction) -> None:
        if self.submit is None:
            self.dismiss(action)
        else:
            start_worker(self, self._submit(action), exclusive=True, group="branches-submit")

    async def _submit(self, action: BranchAction) -> None:
        self.busy = True
        self.refresh_bindings()
        self._say("working…", "dim")
        try:
            await self.submit(action)  # type: ignore[misc]
        except RfpilotError as err:
            self._say(_error_line(err))
            return
        finally:
            self.busy = False
            self.refresh_bindings()
        self.dismiss(action)

    def action_close(self) -> None:
        if self.busy:
            return
        if self.mode is not None:
            self._end_ask()
        else:
            self.dismiss(None)


# --- handoff: park or escalate ------------------------------------------------------------------------------

_INTENTS = ("park", "escalate")


class IntentToggle(RadioSet):
    """Park | Escalate. With two choices there is nothing to browse: an arrow chooses at once."""

    def on_mount(self) -> None:
        self.call_after_refresh(self._highlight_pressed)  # after the set's own mount, which highlights the first

    def _highlight_pressed(self) -> None:
        if self.pressed_index >= 0:
            self._selected = self.pressed_index

    def _press_highlighted(self) -> None:
        if self.has_focus and self._selected is not None:
            button = self._nodes[self._selected]
            if isinstance(button, RadioButton):
                button.value = True

    def action_next_button(self) -> None:
        super().action_next_button()
        self._press_highlighted()

    def action_previous_button(self) -> None:
        super().action_previous_button()
        self._press_highlighted()


class HandoffDialog(Dialog[HandoffResult | None]):
    """Park the session (waiting on something) or escalate it to the team queue.

    ``submit``, when given, is awaited with the result before the dialog closes; an RfpilotError it raises is
    shown in the dialog, which stays open.
    """

    CSS_PATH = STYLES

    BINDINGS = [
        Binding("ctrl+s", "confirm", "Hand off", id="handoff.confirm"),
        Binding("escape", "cancel", "Cancel", id="handoff.cancel"),
    ]

    def __init__(self, intent: str = "park", submit: Callable[[HandoffResult], Awaitable[None]] | None = None) -> None:
        super().__init__()
        self.intent = intent if intent in _INTENTS else "park"
        self.submit = submit
        self.busy = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="handoff"):
            yield Static(text("Hand off this session", "bold"))
            yield Static(text("Park: it waits on something. Escalate: someone else should take it. Both go to "
                              "the team queue; whoever claims it gets a briefing.", "dim"))
            with IntentToggle(id="handoff-intent", compact=True):
                yield RadioButton("Park", value=self.intent == "park", id="intent-park")
                yield RadioButton("Escalate", value=self.intent == "escalate",
                                  id="intent-escalate")
            yield Static("", id="handoff-label")
            yield TextArea("", id="handoff-text", soft_wrap=True, tab_behavior="focus")
            yield Checkbox(text("Elevated priority: first in the queue"), False, id="handoff-elevated", compact=True)
            yield Static("", id="handoff-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Park session (ctrl+s)", id="confirm", variant="primary", compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)
            yield Static(text("←→ park / escalate · tab moves · ctrl+s confirms · esc cancels", "dim"))

    def on_mount(self) -> None:
        _no_blink(self)
        self._apply_intent()
        self.query_one("#handoff-text", TextArea).focus()

    def _apply_intent(self) -> None:
        park = self.intent == "park"
        label = Text()
        if park:
            label.append("What are you waiting on?", "bold")
            label.append(" *", "red")
        else:
            label.append("Notes for the next engineer", "bold")
            label.append(" (optional: an assessment is added)", "dim")
        self.query_one("#handoff-label", Static).update(label)
        self.query_one("#handoff-text", TextArea).placeholder = (
            "the customer's callback, a vendor case, a part, a maintenance window…" if park
            else "why it needs someone else, what you suspect, what to try next")
        elevated = self.query_one("#handoff-elevated", Checkbox)
        if park:
            elevated.value = False  # never carried over into a park
        elevated.display = not park
        elevated.disabled = park
        button = self.query_one("#confirm", Button)
        button.label = "Park session (ctrl+s)" if park else "Escalate (ctrl+s)"
        button.variant = "primary" if park else "error"
        self._error("")

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        event.stop()
        self.intent = "escalate" if event.pressed.id == "intent-escalate" else "park"
        self._apply_intent()

    def _error(self, message: str, style: str = "red") -> None:
        error = self.query_one("#handoff-error", Static)
        error.update(text(message, style))
        error.display = bool(message)

    def result(self) -> HandoffResult:
        value = self.query_one("#handoff-text", TextArea).text.strip()
        elevated = self.intent == "escalate" and self.query_one("#handoff-elevated", Checkbox).value
        return HandoffResult(self.intent, value, elevated)

    def action_confirm(self) -> None:
        if self.busy:
            return
        result = self.result()
        if result.intent == "park" and not result.text:
            self._error("Say what the session is waiting on: whoever picks it up needs to know.")
            self.query_one("#handoff-text", TextArea).focus()
            return
        if self.submit is None:
            self.dismiss(result)
        else:
            start_worker(self, self._submit(result), exclusive=True, group="handoff-submit")

    async def _submit(self, result: HandoffResult) -> None:
        self.busy = True
        button = self.query_one("#confirm", Button)
        button.disabled = True
        self._error("parking…" if result.intent == "park" else "escalating… (the assessment can take a moment)",
                    "dim")
        try:
            await self.submit(result)  # type: ignore[misc]
        except RfpilotError as err:
            self._error(_error_line(err))
            return
        finally:
            self.busy = False
            button.disabled = False
        self.dismiss(result)

    def action_cancel(self) -> None:
        if not self.busy:
            self.dismiss(None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_confirm() if event.button.id == "confirm" else self.action_cancel()


# --- the team queue -------------------------------------------------------------------------------------------

# The mark and colour of each intent; the word is core's (core.handoffs.status_word), the same in the header.
INTENT_MARK = {"escalate": ("↗", "bold red"), "park": ("‖", "bold yellow")}


def _intent_mark(item: Mapping[str, Any]) -> tuple[str, str]:
    from rfpilot.core.handoffs import WAITING_WORD

    intent = str(item.get("intent")) if item.get("intent") in INTENT_MARK else "park"
    mark, style = INTENT_MARK[intent]
    return f"{mark} {inert(str(item.get('status_word') or WAITING_WORD[intent]))}", style


def _when(value: Any) -> str:
    """A datetime or ISO time as "2026-03-02 14:05 UTC" (as given when it does not parse)."""
    if not value:
        return ""
    try:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        return inert(str(value))
    if moment.tzinfo is not None:
        return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return moment.strftime("%Y-%m-%d %H:%M")


def _waiting(item: Mapping[str, Any]) -> str:
    return inert(str(item.get("waiting_on") or item.get("notes") or ""))


def _title(item: Mapping[str, Any]) -> str:
    return inert(str(item.get("title") or item.get("session_title") or "Untitled session"))


def _by(item: Mapping[str, Any]) -> str:
    return inert(str(item.get("handed_off_by_name") or item.get("handed_off_by") or ""))


def _age(item: Mapping[str, Any]) -> str:
    """The item's "age" as given, else worked out from created_at (a datetime or ISO text)."""
    if item.get("age"):
        return inert(str(item["age"]))
    created = item.get("created_at")
    try:
        moment = created if isinstance(created, datetime) else datetime.fromisoformat(str(created))
    except ValueError:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return age(moment, datetime.now(timezone.utc))


def queue_option(item: Mapping[str, Any]) -> Text:
    """A queue row: intent, elevated, title; then ticket, who, how long ago, branches; then the wait or notes."""
    word, style = _intent_mark(item)
    out = Text()
    out.append(word, style)
    if item.get("priority") == "elevated":
        out.append("  ")
        out.append(" ELEVATED ", "bold white on red")
    out.append("  " + _title(item), "bold")
    meta = [inert(str(item["ticket_ref"])) if item.get("ticket_ref") else "no ticket"]
    if _by(item):
        meta.append("by " + _by(item))
    if _age(item):
        meta.append(_age(item) + " ago")
    count = item.get("branch_count") or 0
    if count:
        meta.append(plural_count(count, "branch"))
    out.append("\n  " + " · ".join(meta), "dim")
    waiting = " ".join(_waiting(item).split())
    if waiting:
        out.append("\n  " + ("waiting on: " if item.get("intent") == "park" else "notes: ") + waiting, "italic")
    return out


def queue_detail(item: Mapping[str, Any]) -> Text:
    word, style = _intent_mark(item)
    out = Text()
    out.append(_title(item), "bold")
    out.append("\n" + word, style)
    if item.get("priority") == "elevated":
        out.append(" · elevated priority", "bold red")
    if item.get("ticket_ref"):
        out.append(" · " + inert(str(item["ticket_ref"])))
    out.append(f"\nhanded off by {_by(item) or 'someone'}", "dim")
    if item.get("created_at"):
        out.append(f" on {_when(item['created_at'])}", "dim")
    if _age(item):
        out.append(f" ({_age(item)} ago)", "dim")
    count = item.get("branch_count") or 0
    if count:
        out.append(f"\n{plural_count(count, 'branch')} explored", "dim")
    if _waiting(item):
        out.append("\n\n" + ("Waiting on" if item.get("intent") == "park" else "Notes"), "bold")
        out.append("\n" + _waiting(item))
    out.append("\n\nenter claims it: the session becomes yours, and you get a briefing.", "dim")
    return out


class QueueScreen(Screen[str | None]):
    """Unclaimed handoffs of the team, as the core orders them (elevated first, then oldest first).

    enter claims the highlighted one: ``claim(handoff_id)`` returns {"session_id", "briefing"} or raises an
    RfpilotError (someone else was faster, say: shown, then the queue reloads). A claim shows the briefing;
    enter then dismisses with the session id for the caller to open.
    """

    CSS_PATH = STYLES

    BINDINGS = [
        Binding("enter", "claim", "Claim", id="queue.claim"),
        Binding("r", "reload", "Reload", id="queue.reload"),
        Binding("escape", "back", "Back", id="queue.back"),
    ]

    def __init__(self, load: Callable[[], Awaitable[list[QueueItemView]]],
                 claim: Callable[[str], Awaitable[dict[str, Any]]]) -> None:
        super().__init__()
        self.load, self.claim = load, claim
        self.items: list[QueueItemView] = []
        self.claimed: dict[str, Any] | None = None
        self.claiming = False

    def compose(self) -> ComposeResult:
        yield Static(text("Team queue · parked and escalated sessions nobody has claimed", "bold"), id="queue-header")
        yield Static(text("loading…", "dim"), id="queue-info")
        yield Static("", id="queue-error")
        with Horizontal(id="queue-body"):
            yield OptionList(id="queue-list")
            with VerticalScroll(id="queue-detail"):
                yield Static("", id="queue-detail-text")
                yield Button("Open the session (enter)", id="queue-open", variant="success", compact=True)
        yield KeysFooter()

    def on_mount(self) -> None:
        self.query_one("#queue-error").display = False
        self.query_one("#queue-open").display = False
        self.query_one("#queue-list", OptionList).focus()
        start_worker(self, self._load(), exclusive=True, group="queue-load")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "reload":
            return self.claimed is None
        return True

    def _error(self, message: str) -> None:
        error = self.query_one("#queue-error", Static)
        error.update(text(message, "red"))
        error.display = bool(message)

    async def _load(self) -> None:
        info = self.query_one("#queue-info", Static)
        try:
            items = await self.load()
        except RfpilotError as err:
            info.update(text(_error_line(err), "red"))
            return
        if self.claimed is not None:
            return
        listing = self.query_one("#queue-list", OptionList)
        before = self._highlighted_id()
        self.items = [QueueItemView(**i) for i in items]
        listing.clear_options()
        options: list[Option | None] = []
        for item in self.items:
            options += [Option(queue_option(item), id=str(item.get("handoff_id"))), None]
        listing.add_options(options[:-1])
        if self.items:
            elevated = sum(1 for i in self.items if i.get("priority") == "elevated")
            count = f"{len(self.items)} waiting" + (f" · {elevated} elevated" if elevated else "")
            info.update(text(count + " · enter claims the highlighted one · r reloads", "dim"))
            ids = [str(i.get("handoff_id")) for i in self.items]
            listing.highlighted = ids.index(before) if before in ids else 0
        else:
            info.update(text("No sessions waiting: nothing is parked or escalated for the team.", "dim"))
            self.query_one("#queue-detail-text", Static).update("")

    def _highlighted_id(self) -> str | None:
        listing = self.query_one("#queue-list", OptionList)
        if listing.highlighted is None or listing.highlighted >= listing.option_count:
            return None
        return listing.get_option_at_index(listing.highlighted).id

    def _item(self, handoff_id: str | None) -> QueueItemView | None:
        return next((i for i in self.items if str(i.get("handoff_id")) == handoff_id), None)

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        item = self._item(event.option.id)
        if item is not None and self.claimed is None:
            self.query_one("#queue-detail-text", Static).update(queue_detail(item))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self._claim(event.option.id)

    def action_claim(self) -> None:
        if self.claimed is not None:
            self.dismiss(str(self.claimed.get("session_id")))
        else:
            self._claim(self._highlighted_id())

    def _claim(self, handoff_id: str | None) -> None:
        if handoff_id is None or self.claiming or self.claimed is not None:
            return
        start_worker(self, self._do_claim(handoff_id), exclusive=True, group="queue-claim")

    async def _do_claim(self, handoff_id: str) -> None:
        self.claiming = True
        item = self._item(handoff_id)
        self._error("")
        self.query_one("#queue-info", Static).update(text("claiming…", "dim"))
        try:
            claimed = await self.claim(handoff_id)
        except RfpilotError as err:
            self._error("Not claimed: " + _error_line(err))
            start_worker(self, self._load(), exclusive=True, group="queue-load")
            return
        finally:
            self.claiming = False
        self.claimed = dict(claimed)
        self.refresh_bindings()
        listing = self.query_one("#queue-list", OptionList)
        listing.disabled = True
        shown = Text()
        shown.append("Claimed: ", "bold green")
        shown.append(_title(item) if item else "the session", "bold")
        if item and item.get("ticket_ref"):
            shown.append(" · " + inert(str(item["ticket_ref"])), "dim")
        shown.append("\nIt is yours now. The briefing:\n\n", "dim")
        shown.append(inert(str(self.claimed.get("briefing") or "(no briefing)")))
        shown.append("\n")
        self.query_one("#queue-detail-text", Static).update(shown)
        self.query_one("#queue-info", Static).update(text("claimed · enter opens the session", "green"))
        button = self.query_one("#queue-open", Button)
        button.display = True
        button.focus()
        self.query_one("#queue-detail").scroll_home(animate=False)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "queue-open" and self.claimed is not None:
            self.dismiss(str(self.claimed.get("session_id")))

    def action_reload(self) -> None:
        if self.claimed is None:
            self._error("")
            self.query_one("#queue-info", Static).update(text("loading…", "dim"))
            start_worker(self, self._load(), exclusive=True, group="queue-load")

    def action_back(self) -> None:
        if self.claiming:
            return
        # After a claim the session is the engineer's: going back opens it rather than losing it.
        self.dismiss(str(self.claimed.get("session_id")) if self.claimed is not None else None)


# --- resolution outputs ------------------------------------------------------------------------------------

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
        _no_blink(self)
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
            self._say(kind, _error_line(err), "yellow" if isinstance(err, QueuedError) else "red")
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
