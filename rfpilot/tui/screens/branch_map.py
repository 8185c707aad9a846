"""The branch map (SPEC §10): the session's hypotheses as a tree, the highlighted one in full, and what to do
with it (switch, mark a dead end or solved, revive, fork).

It knows nothing of the store: it takes plain dicts shaped like the core's views (``branch_view``, a fork
point) and an async ``submit``, and hands back a ``BranchAction``; the main screen turns that into core calls.
Everything that came from a person or the model is shown through ``safe.text``/``safe.inert``, never as markup.
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
from textual.widgets import Input, Select, Static, TextArea, Tree

from rfpilot.core.view_types import BranchView, ForkView
from rfpilot.errors import RfpilotError
from rfpilot.grammar import count as plural_count
from rfpilot.tui.safe import inert, text
from rfpilot.tui.screens.shared import Dialog, error_line, no_blink
from rfpilot.tui.widgets.composer import LineBreakArea
from rfpilot.tui.widgets.forks import CURRENT, GLYPH, STATUS_STYLE, STATUS_WORD, branch_label, branch_status
from rfpilot.tui.workers import start_worker

STYLES = Path(__file__).with_name("branch_map.tcss")  # parsed when the map first opens
FORK_MIN, FORK_MAX = 2, 4


@dataclass
class BranchAction:
    action: str  # "switch" | "dead_end" | "solved" | "revive" | "fork"
    branch_id: str | None  # the branch acted on; a fork: the branch being worked on (None before the first fork)
    reason: str = ""  # dead_end (required), solved (optional), fork (what the hypotheses disagree on)
    evidence_from: str | None = None  # revive: the id of the branch the evidence comes from
    evidence: str = ""  # revive: what was found
    options: list[tuple[str, str]] = field(default_factory=list)  # fork: 2–4 (label, description)


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
    status = branch_status(branch)
    out = Text()
    out.append(GLYPH[status] + " ", STATUS_STYLE[status])
    out.append(branch_label(branch), "bold")
    out.append("\n" + STATUS_WORD[status], STATUS_STYLE[status])
    if branch.get("active"):
        out.append(" · you are working on this branch", "bold")
    parent = by_id.get(str(branch.get("parent_branch_id") or ""))
    if branch.get("root") or parent is None:
        out.append("\nthe trunk: the session before it forked", "dim")
    else:
        fork = next((f for f in forks if f.get("id") == branch.get("fork_point_id")
                     or any(o.get("branch_id") == branch.get("id") for o in f.get("options") or [])), None)
        out.append(f"\nforked from {branch_label(parent)}", "dim")
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
        out.append(f" with evidence from {branch_label(source)}: " if source else ": ", "yellow")
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
        no_blink(self)
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
        status = branch_status(branch)
        current = bool(branch.get("active"))
        label = Text()
        label.append(f"{CURRENT} " if current else "", "bold")
        label.append(GLYPH[status], STATUS_STYLE[status])
        label.append(" " + branch_label(branch), "bold" if current else "")
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
            self._say(f"You are already working on “{branch_label(branch)}”.", "yellow")
            return
        self._finish(BranchAction("switch", str(branch.get("id"))))

    def action_dead_end(self) -> None:
        branch = self._marking("dead_end")
        if branch is not None:
            self._ask("dead_end", branch, f"Why is “{branch_label(branch)}” a dead end? (required: it becomes “Things "
                      "to rule out first” in the KB article)", "what ruled it out")

    def action_solved(self) -> None:
        branch = self._marking("solved")
        if branch is not None:
            self._ask("solved", branch, f"“{branch_label(branch)}” solved it: what fixed it? (optional)", "what fixed it")

    def _marking(self, status: str) -> BranchView | None:
        branch = self.highlighted()
        if branch is None:
            self._say("No branches yet: f forks the session first.")
        elif branch_status(branch) == status:
            self._say(f"“{branch_label(branch)}” is already marked {STATUS_WORD[status]}.", "yellow")
            return None
        return branch

    def action_revive(self) -> None:
        branch = self.highlighted()
        if branch is None:
            self._say("No branches yet: f forks the session first.")
            return
        if branch_status(branch) != "dead_end":
            self._say(f"Only a dead end can be revived; “{branch_label(branch)}” is {STATUS_WORD[branch_status(branch)]}.")
            return
        others = [b for b in self.branches if b.get("id") != branch.get("id")]
        select = self.query_one("#bmap-from", Select)
        select.set_options([(text(branch_label(b)), str(b.get("id"))) for b in others])
        current = self.current
        if current is not None and current.get("id") != branch.get("id"):
            select.value = str(current.get("id"))
        self._ask("revive", branch, f"Revive “{branch_label(branch)}”: which branch found the evidence, and what was it?",
                  "what was found that points back at it")

    def action_fork(self) -> None:
        branch = self.current
        what = f"Fork “{branch_label(branch)}”" if branch else "Fork this session"
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
            self._say(error_line(err))
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
