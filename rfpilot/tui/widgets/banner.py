"""The proposal banner above the composer: the active fix's state and what you can do next (SPEC §7).

The mode comes from ``core.session.fixes.banner_mode``; the banner only renders it and
posts the chosen action. Number keys 1–4 pick an action while it has focus.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Static

from rfpilot.core.view_types import FixView
from rfpilot.tui.safe import inert, text

# mode -> (headline template, [(action, label), ...])
ACTIONS: dict[str, list[tuple[str, str]]] = {
    "proposed": [("apply", "Apply"), ("dismiss", "Dismiss")],
    "verifying": [("worked", "It worked"), ("failed", "Didn't work…"), ("partial", "Partial…"), ("pending", "Waiting…")],
    "nudge": [("worked", "It worked"), ("failed", "Didn't work…"), ("partial", "Partial…"), ("pending", "Waiting…")],
    "partial": [("finish", "Finish it"), ("worked", "It worked"), ("failed", "Didn't work…"), ("edit_notes", "Edit note")],
    "pending": [("worked", "It worked"), ("failed", "Didn't work…"), ("update_reason", "Update reason")],
    "ai_confirming": [("confirm", "Confirm"), ("reject", "Not yet")],
}


def headline(mode: str, fix: FixView | None) -> str:
    if fix is None or mode == "none":
        return ""
    title = inert(fix["title"])
    if mode == "proposed":
        return f"Suggested fix ({fix['confidence_pct']}%): {title}"
    if mode == "verifying":
        return f"Verifying: {title} — did it work?"
    if mode == "nudge":
        return f"Still verifying {title}. Did it work? Say so and the note will too."
    if mode == "partial":
        return f"Partly applied: {title} — {inert(fix.get('partial_notes') or '')}"
    if mode == "pending":
        return f"Waiting to verify: {title} — waiting on {inert(fix.get('pending_reason') or '?')}"
    if mode == "ai_confirming":
        from rfpilot.core.session.fixes import proposal_words

        proposal = fix.get("ai_outcome_proposal")
        return f"The AI thinks it {proposal_words(proposal)}: {inert((proposal.get('reason') if proposal else None) or '')}"
    return title


class Banner(Vertical):
    HELP_TITLE = "the fix banner (keys 1–4 are the buttons, left to right)"
    BINDINGS = [
        Binding("1", "pick(0)", "First action", show=False, id="banner.action1"),
        Binding("2", "pick(1)", "Second action", show=False, id="banner.action2"),
        Binding("3", "pick(2)", "Third action", show=False, id="banner.action3"),
        Binding("4", "pick(3)", "Fourth action", show=False, id="banner.action4"),
        Binding("z", "toggle_collapse", "Collapse", id="banner.collapse"),
    ]
    can_focus = True

    class Action(Message):
        def __init__(self, action: str, fix_id: str) -> None:
            super().__init__()
            self.action = action
            self.fix_id = fix_id

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.mode = "none"
        self.fix: FixView | None = None
        self.collapsed = False

    def compose(self) -> ComposeResult:
        yield Static(id="banner-text")
        yield Horizontal(id="banner-buttons")

    async def show(self, mode: str, fix: FixView | None) -> None:
        self.mode, self.fix = mode, fix
        self.display = mode != "none" and fix is not None
        self.set_class(mode in ("nudge", "ai_confirming"), "-attention")
        await self._render_state()

    async def _render_state(self) -> None:
        label = self.query_one("#banner-text", Static)
        buttons = self.query_one("#banner-buttons", Horizontal)
        await buttons.remove_children()
        if not self.display:
            return
        words = headline(self.mode, self.fix)
        self.set_class(self.collapsed, "-collapsed")
        if self.collapsed:
            label.update(text(f"▸ {words}  (z expands)"))
            return
        actions = ACTIONS.get(self.mode, [])
        shown = text(words)
        # The keys, where they are used: ctrl+f reaches the banner, then 1–4 are its buttons.
        shown.append(f"  ctrl+f, then 1–{len(actions)}" if len(actions) > 1 else "  ctrl+f, then 1", style="dim")
        label.update(shown)
        await buttons.mount_all(
            Button(f"{n}·{name}", id=f"banner-{action}", compact=True, classes="banner-action",
                   tooltip=f"key {n} (ctrl+f focuses the banner)")
            for n, (action, name) in enumerate(actions, 1)
        )


    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if self.fix and event.button.id:
            self.post_message(self.Action(event.button.id.removeprefix("banner-"), self.fix["id"]))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "pick":  # only the keys that have a button now
            return not self.collapsed and int(str(parameters[0])) < len(ACTIONS.get(self.mode, []))
        return True

    def action_pick(self, index: int) -> None:
        actions = ACTIONS.get(self.mode, [])
        if self.fix and not self.collapsed and index < len(actions):
            self.post_message(self.Action(actions[index][0], self.fix["id"]))

    async def action_toggle_collapse(self) -> None:
        self.collapsed = not self.collapsed
        await self._render_state()
