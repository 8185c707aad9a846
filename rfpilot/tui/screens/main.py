"""The main screen: session list · chat (transcript, banner, composer) · task lane.

Handlers own the widgets; workers do the I/O through ``rfpilot.core`` and then
refresh what changed. No product rule lives here: every decision is a core
call, and a refusal comes back as an RfpilotError shown as a notification.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Input, Static

from rfpilot.core.view_types import (
    ClaimedSession,
    DraftReviewView,
    LaneItemView,
    OutputActionView,
    QueueItemView,
    SeenBeforeView,
    StatsView,
    TemplateView,
    is_lane_item,
)
from rfpilot.errors import NotFoundError, RfpilotError
from rfpilot.grammar import count
from rfpilot.tui.safe import inert, text
from rfpilot.tui.widgets.footer import KeysFooter
from rfpilot.tui.widgets.header import SessionHeader
from rfpilot.tui.workers import worker
from rfpilot.tui.widgets.session_list import FilterInput, SessionList
from rfpilot.tui.widgets.transcript import Transcript

if TYPE_CHECKING:
    from rfpilot.core.session.live import LiveUpdate
    from rfpilot.tui.host import Host
    from rfpilot.tui.widgets.banner import Banner
    from rfpilot.tui.widgets.composer import Composer
    from rfpilot.tui.data import SessionSnapshot
    from rfpilot.tui.widgets.lane import LaneRow, MoreRows, SeenRow, TaskLane

STREAM_REFRESH_SECONDS = 0.05
TICK_SECONDS = 1  # ages in the list and timers in the header


class MainScreen(Screen):
    BINDINGS = [
        # Footer labels stay short so ^q Quit still fits at 80 columns; help shows the tooltip.
        Binding("ctrl+n", "new_session", "New", id="session.new", tooltip="New session"),
        # F-keys take priority: the composer (a TextArea) would otherwise keep f6/f7 for selecting text.
        Binding("f2", "from_ticket", "Tickets", id="session.from_ticket", tooltip="Start from a PSA ticket",
                show=False, priority=True),
        Binding("f3", "scripts", "Scripts", id="scripts.open", tooltip="The team's script library", show=False,
                priority=True),
        Binding("f4", "branch_map", "Branches", id="branches.open", tooltip="The branch map: hypotheses", show=False,
                priority=True),
        Binding("f5", "queue", "Queue", id="queue.open", tooltip="The team queue of handoffs", show=False,
                priority=True),
        Binding("f6", "handoff", "Hand off", id="handoff.open", tooltip="Park or escalate to the queue", show=False,
                priority=True),
        Binding("f7", "outputs", "Outputs", id="outputs.open", tooltip="Resolution outputs (after resolve)",
                show=False, priority=True),
        Binding("f8", "insights", "Insights", id="insights.open", tooltip="Insights: the team's figures",
                show=False, priority=True),
        Binding("ctrl+o", "focus_sessions", "Sessions", id="focus.sessions"),
        Binding("ctrl+l", "focus_lane", "Lane", id="focus.lane", tooltip="Task lane"),
        Binding("ctrl+f", "focus_banner", "Fix banner", id="focus.banner", show=False),
        # Not ctrl+k: inside a text field that deletes to the end of the line (no screen key may shadow a
        # text-editing key of TextArea or Input; tests/test_tui_focus.py checks it).
        Binding("ctrl+g", "focus_composer", "Compose", id="focus.composer", show=False),
        Binding("ctrl+r", "retry", "Retry", id="chat.retry", show=False),
        Binding("ctrl+b", "toggle_sessions", "Toggle list", id="layout.sessions", show=False),
        Binding("ctrl+t", "toggle_lane", "Toggle lane", id="layout.lane", show=False),
        Binding("ctrl+up", "show_earlier", "Earlier messages", id="chat.earlier", show=False),
        Binding("ctrl+down", "show_latest", "Latest messages", id="chat.latest", show=False),
        # esc backs out one level: the filter, then a drawer (or pane) back to the composer, then answering.
        Binding("escape", "back", "Back", id="chat.cancel_mode", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.session_id: str | None = None
        self.snap: SessionSnapshot | None = None
        self.answering: dict[str, str] | None = None  # the lane item the next message answers
        self.ready = asyncio.Event()  # set once the deferred widgets are mounted
        self._mounting = False
        self._read_at = None  # when the header's session state was read (its timers tick from there)

    @property
    def open_id(self) -> str:
        """The id of the session shown (what a session action acts on): NotFoundError when none is open."""
        if self.session_id is None:
            raise NotFoundError("no session is open")
        return self.session_id

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "back":
            return self._back_target() is not None
        return True

    @property
    def rf(self) -> Host:
        """The app, as what this screen needs of it (rfpilot.tui.host)."""
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield SessionHeader(id="header")
        with Horizontal(id="body"):
            with Vertical(id="sidebar"):
                yield FilterInput(placeholder="filter sessions (/)", id="session-filter", compact=True)
                yield SessionList(id="sessions")
            with Vertical(id="chat"):
                yield Transcript(id="transcript")
        yield KeysFooter()

    def on_mount(self) -> None:
        # The first frame shows the frame of the app; the widgets that only matter once a session is open
        # (banner, composer, task lane) are mounted by the app once the session list is on screen
        # (mount_session_widgets): mounted sooner, they took the CPU the list's imports and query needed.
        self.set_interval(TICK_SECONDS, self.tick)

    async def mount_session_widgets(self) -> None:
        """The banner, the composer and the task lane (once; ``ready`` is set when they are mounted)."""
        if self._mounting:
            return
        self._mounting = True
        from rfpilot.tui.widgets.banner import Banner
        from rfpilot.tui.widgets.composer import Composer
        from rfpilot.tui.widgets.lane import TaskLane

        banner, mode, composer = Banner(id="banner"), Static("", id="composer-mode"), Composer(id="composer")
        banner.display = mode.display = False
        composer.disabled = True
        await self.query_one("#chat").mount_all([banner, mode, composer])
        await self.query_one("#body").mount(TaskLane(id="lane"))
        self.ready.set()

    @property
    def banner(self) -> Banner:
        return self.query_one("#banner")  # type: ignore[return-value]

    @property
    def composer(self) -> Composer:
        return self.query_one("#composer")  # type: ignore[return-value]

    @property
    def lane(self) -> TaskLane:
        return self.query_one("#lane")  # type: ignore[return-value]

    # --- loading ----------------------------------------------------------

    async def refresh_sessions(self) -> None:
        await self.query_one(SessionList).reload(current=self.session_id)

    async def load_session(self, session_id: str, *, focus_composer: bool = True, tail_from: int | None = None) -> None:
        """Show the session. ``tail_from`` (after a chat turn on the session shown): read only the messages from
        that seq on and put them in place of what the transcript showed from there; earlier pages stay."""
        from rfpilot.tui.data import snapshot

        await self.ready.wait()  # a session shows in the banner, composer and lane (mounted after the list)
        changed = session_id != self.session_id
        transcript = self.query_one(Transcript)
        if changed or transcript.later:
            tail_from = None
        async with self.rf.ctx() as ctx:
            if changed:
                snap = await snapshot(ctx, session_id, tail_from=tail_from)
            else:
                snap = await snapshot(ctx, session_id, tail_from=tail_from, facts=self.lane.facts_shown,
                                      items=self.lane.items_shown)
        self.session_id, self.snap = session_id, snap
        if changed:
            self.answering = None
            await self._show_mode()
        if snap.tail_from is not None:
            await transcript.replace_tail(snap.messages or [], snap.tail_from, forks=snap.forks, branches=snap.branches)
            snap.messages = list(transcript.messages)
        else:
            await transcript.set_messages(snap.messages or [], total=snap.message_count, forks=snap.forks,
                                          branches=snap.branches)
        await self.refresh_state(snap)
        composer = self.composer
        was_open = not composer.disabled
        composer.disabled = snap.details["session"]["status"] not in ("active", "paused", "escalated")
        if focus_composer and not composer.disabled:
            composer.focus()
        elif was_open and composer.disabled and not changed:
            # The session just closed: letters typed next must not land on the lane's keys.
            self._fallback().focus()
        self.ensure_visible_focus()

    # Workers after which the screen reads the open session again itself: while one runs, a teammate's change
    # waits for it (the app looks again a moment later) rather than redrawing under it.
    QUIET_GROUPS = frozenset({"outbox-sync", "psa"})

    def _busy(self) -> bool:
        return any(w.node is self and w.is_running and w.group not in self.QUIET_GROUPS for w in self.app.workers)

    async def live_update(self, update: LiveUpdate, *, list_too: bool = True) -> bool:
        """A teammate changed the store (rfpilot.core.session.live): the open session first, when the update
        names it and its row moved since it was read (one read by key) — its state, and the messages from the
        last one shown only when there are new ones or its status changed; then the list's loaded rows (the
        highlight stays). False: a worker of this screen is busy with the session, the app asks again soon."""
        deferred = not await self._live_session(update)
        if list_too:
            await self.query_one(SessionList).reload()
        return not deferred

    async def _live_session(self, update: LiveUpdate) -> bool:
        from rfpilot.core.session.live import session_mark

        session_id, shown = self.session_id, self.snap
        if session_id is None or shown is None or not update.touches(session_id):
            return True
        if self._busy():
            return False
        async with self.rf.ctx() as ctx:
            mark = await session_mark(ctx, session_id)
        if mark is None or mark == shown.mark or session_id != self.session_id or self._busy():
            return True
        before = shown.mark
        transcript = self.query_one(Transcript)
        if before is not None and mark.status == before.status and (
                mark.message_count == before.message_count or transcript.ends_interrupted()):
            # Header, banner, lane only: the transcript has nothing new, or it ends in a reply this app just
            # stopped (ctrl+c), whose partial text and marker are only on screen (the store has the turn).
            await self.refresh_state()
            return True
        last = transcript.messages[-1]["seq"] if transcript.messages else None
        await self.load_session(session_id, focus_composer=False, tail_from=last)
        return True

    async def refresh_state(self, snap: SessionSnapshot | None = None) -> None:
        """Header, banner and lane (not the transcript)."""
        if snap is None:
            from rfpilot.tui.data import snapshot

            async with self.rf.ctx() as ctx:
                snap = await snapshot(ctx, self.open_id, with_messages=False, facts=self.lane.facts_shown,
                                      items=self.lane.items_shown)
            if self.snap is not None:
                # the transcript did not change
                snap.messages, snap.message_count = self.snap.messages, self.snap.message_count
            self.snap = snap
        details = snap.details
        await self.banner.show(details["banner"], details["active_fix"])
        await self.lane.show(details)
        self._render_header()

    def _render_header(self) -> None:
        if self.snap is None:
            return
        from rfpilot.tui.widgets.header import HeaderState

        self._read_at = self.rf.now()
        self.query_one(SessionHeader).show(HeaderState(self.snap.details, self.snap.branches or [], self.snap.usage,
                                                       self.rf.provider_label))

    def tick(self) -> None:
        """Ages and timers move on (every TICK_SECONDS) without reading the store again."""
        now = self.rf.now()
        if self._read_at is not None:
            self.query_one(SessionHeader).tick(int((now - self._read_at).total_seconds()))
        self.query_one(SessionList).tick(now)

    # --- errors -------------------------------------------------------------

    def fail(self, err: Exception) -> None:
        if isinstance(err, RfpilotError):
            message = err.message + (f"\n{err.hint}" if err.hint else "")
        else:
            message = f"{type(err).__name__}: {err}"
        self.notify(inert(message), severity="error", timeout=8, markup=False)

    async def core(self, fn, *args, **kwargs) -> Any:
        """Run ``fn(ctx, session, …)`` on the open session; notify and return None on a refusal."""
        from rfpilot.core.session.sessions import get_session

        try:
            async with self.rf.ctx() as ctx:
                row = await get_session(ctx, self.open_id)
                return await fn(ctx, row, *args, **kwargs)
        except RfpilotError as err:
            self.fail(err)
            return None

    # --- the session list -----------------------------------------------------

    @on(SessionList.FilterRequested)
    def _filter_requested(self) -> None:
        self.query_one("#session-filter", Input).focus()

    @on(Input.Changed, "#session-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.query_one(SessionList).set_filter(event.value)

    @on(Input.Submitted, "#session-filter")
    def _filter_submitted(self) -> None:
        listing = self.query_one(SessionList)
        listing.focus()
        for index in range(listing.option_count):
            if not listing.get_option_at_index(index).disabled:
                listing.highlighted = index
                break

    @on(SessionList.Opened)
    async def _opened(self, event: SessionList.Opened) -> None:
        self.remove_class("-show-sessions")
        if self.ready.is_set():
            await self.load_session(event.session_id)
        else:  # the list is shown before the session widgets are mounted: wait for them off this screen's queue
            self._open_when_ready(event.session_id)

    @worker(group="open-listed", exclusive=True)
    async def _open_when_ready(self, session_id: str) -> None:
        await self.ready.wait()
        await self.load_session(session_id)

    def action_new_session(self) -> None:
        from rfpilot.tui.screens.text_prompt import TextPrompt

        def created(description: str | None) -> None:
            if description:
                self.create_session(description)

        self.app.push_screen(TextPrompt("New session", "Describe the problem as the ticket or the customer put it."),
                             created)

    @worker(group="sessions")
    async def create_session(self, description: str) -> None:
        from rfpilot.core.session.sessions import create_session

        try:
            async with self.rf.ctx() as ctx:
                row = await create_session(ctx, description)
        except RfpilotError as err:
            self.fail(err)
            return
        self.session_id = None
        await self.load_session(row.id)
        await self.refresh_sessions()

    def action_from_ticket(self) -> None:
        from rfpilot.tui.screens.ticket_picker import TicketPicker

        if not self.rf.has_psa:
            self.explain_no_psa()
            return

        async def load() -> list[tuple[str, str, str | None]]:
            from rfpilot.core.closeout.tickets import my_tickets

            async with self.rf.ctx() as ctx:
                views = await my_tickets(ctx)
            rows = []
            for v in views:
                t = v.ticket
                working = f"  · session {v.session_id[:8]}" if v.session_id else ""
                meta = " · ".join(inert(x) for x in (t.status_name, t.company) if x)
                rows.append((t.id, f"{v.ref}  {inert(t.summary)}\n   {meta}{working}", v.session_id))
            return rows

        def chosen(ticket_id: str | None) -> None:
            if ticket_id:
                self.start_from_ticket(ticket_id)

        self.app.push_screen(TicketPicker(load), chosen)

    @worker(group="psa")
    async def explain_no_psa(self) -> None:
        """f2 with no PSA connected says so, and how to connect one (core's words)."""
        from rfpilot.core.closeout.psa import get_connection

        try:
            async with self.rf.ctx() as ctx:
                await get_connection(ctx, None)
        except RfpilotError as err:
            self.fail(err)
            return
        self.rf.has_psa = True  # connected from another terminal meanwhile
        self.action_from_ticket()

    @worker(group="sessions")
    async def start_from_ticket(self, ticket_id: str) -> None:
        from rfpilot.core.closeout.tickets import session_from_ticket, show_ticket

        try:
            async with self.rf.ctx() as ctx:
                view, _ = await show_ticket(ctx, ticket_id)
                if view.session_id:
                    target = view.session_id
                    self.notify(f"{view.ref} already has a session: opened it.")
                else:
                    self.notify(f"Reading {view.ref}…")
                    target = (await session_from_ticket(ctx, ticket_id)).id
        except RfpilotError as err:
            self.fail(err)
            return
        await self.load_session(target)
        await self.refresh_sessions()

    def action_scripts(self) -> None:
        from rfpilot.core.library import templates
        from rfpilot.tui.screens.script_library import ScriptsScreen

        async def load(query: str) -> list[TemplateView]:
            async with self.rf.ctx() as ctx:
                return [templates.template_view(t) for t in await templates.list_templates(ctx, query)]

        async def show(slug: str) -> TemplateView:
            async with self.rf.ctx() as ctx:
                return templates.template_view(await templates.get_template(ctx, slug))

        async def pending() -> int:
            async with self.rf.ctx() as ctx:
                return len(await templates.list_drafts(ctx))

        self.app.push_screen(ScriptsScreen(load, show, pending))

    # --- branches, handoffs, the queue, resolution outputs -------------------------------

    def action_branch_map(self) -> None:
        if self.session_id is None:
            self.notify("Open a session first.")
            return
        self.open_branch_map()

    @worker(group="branches", exclusive=True)
    async def open_branch_map(self) -> None:
        from rfpilot.core.session import branches
        from rfpilot.core.llm import optional_provider
        from rfpilot.tui.screens.branch_map import BranchAction, BranchMapScreen
        from rfpilot.tui.widgets.forks import transition_notice

        async with self.rf.ctx() as ctx:
            row = await self._row(ctx)
            views = await branches.branch_map(ctx, row)
            forks = await branches.fork_views(ctx, row)
        before = next((b for b in views if b["active"]), None)

        async def submit(action: BranchAction) -> None:
            async with self.rf.ctx() as ctx:
                row = await self._row(ctx)
                if action.action == "fork":
                    await branches.fork(ctx, row, action.reason, action.options)
                    return
                # The map names the branch of every other action (none: get_branch says so).
                target = await branches.get_branch(ctx, row, action.branch_id or "")
                if action.action == "switch":
                    await branches.switch(ctx, row, target)
                elif action.action in ("dead_end", "solved"):
                    async with optional_provider(ctx.settings) as (provider, _):
                        await branches.mark(ctx, row, target, action.action, action.reason or None, provider=provider)
                elif action.action == "revive":
                    source = await branches.get_branch(ctx, row, action.evidence_from or "")
                    await branches.revive(ctx, row, target, source, action.evidence)

        result = await self.app.push_screen_wait(BranchMapScreen(views, forks, submit=submit))
        if result is None:
            return
        await self.load_session(self.open_id)
        shown = self.snap.branches or [] if self.snap else []
        after = next((b for b in shown if b["active"]), None)
        if result.action == "switch" and after is not None and (before is None or before["id"] != after["id"]):
            old = next((b for b in shown if before and b["id"] == before["id"]), None)
            await self.query_one(Transcript).add_notice(
                transition_notice(before["label"] if before else None, after["label"], old["summary"] if old else None))

    async def _row(self, ctx):
        from rfpilot.core.session.sessions import get_session

        return await get_session(ctx, self.open_id)

    def action_handoff(self) -> None:
        if self.session_id is None:
            self.notify("Open a session first.")
            return
        self.open_handoff()

    @worker(group="handoff", exclusive=True)
    async def open_handoff(self, intent: str = "park") -> None:
        from rfpilot.core.team import handoffs
        from rfpilot.core.llm import optional_provider
        from rfpilot.tui.screens.handoff import HandoffDialog

        async def submit(result) -> None:
            async with self.rf.ctx() as ctx:
                row = await self._row(ctx)
                if result.intent == "park":
                    await handoffs.park(ctx, row, result.text)
                else:
                    async with optional_provider(ctx.settings) as (provider, _):
                        await handoffs.escalate(ctx, row, result.text or None, elevated=result.elevated,
                                                provider=provider)

        result = await self.app.push_screen_wait(HandoffDialog(intent, submit=submit))
        if result is None:
            return
        where = "parked" if result.intent == "park" else "escalated"
        self.notify(f"Session {where}: it waits in the team queue (f5).")
        await self.load_session(self.open_id, focus_composer=False)
        await self.refresh_sessions()

    def action_queue(self) -> None:
        from rfpilot.core.team import handoffs
        from rfpilot.core.llm import optional_provider
        from rfpilot.tui.screens.queue import QueueScreen

        async def load() -> list[QueueItemView]:
            async with self.rf.ctx() as ctx:
                return await handoffs.queue(ctx)

        async def claim(handoff_id: str) -> ClaimedSession:
            async with self.rf.ctx() as ctx:
                async with optional_provider(ctx.settings) as (provider, _):
                    done = await handoffs.claim(ctx, handoff_id, provider=provider)
            return handoffs.claimed_session(done)

        def done(session_id: str | None) -> None:
            if session_id:
                self.open_claimed(session_id)

        self.app.push_screen(QueueScreen(load, claim), done)

    def action_insights(self) -> None:
        from rfpilot.tui.screens.insights import InsightsScreen

        async def load(since: str) -> StatsView:
            from rfpilot.core.memory.stats import team_stats

            async with self.rf.ctx() as ctx:
                return await team_stats(ctx, since=since)

        self.app.push_screen(InsightsScreen(load))

    @worker(group="sessions")
    async def open_claimed(self, session_id: str) -> None:
        await self.load_session(session_id)
        await self.refresh_sessions()

    def action_outputs(self) -> None:
        if self.session_id is None:
            self.notify("Open a session first.")
            return
        self.open_outputs()

    @worker(group="outputs", exclusive=True)
    async def open_outputs(self) -> None:
        from pathlib import Path

        from rfpilot.core.team import outputs
        from rfpilot.errors import QueuedError
        from rfpilot.tui.screens.outputs import OutputsScreen

        async with self.rf.ctx() as ctx:
            row = await self._row(ctx)
            views = [outputs.output_view(o) for o in await outputs.list_outputs(ctx, row)]
        if not views:
            self.notify("No resolution outputs yet: they are drafted when the session is resolved.")
            return

        async def act(action: str, output_type: str, value: str | None) -> OutputActionView:
            async with self.rf.ctx() as ctx:
                row = await self._row(ctx)
                out = await outputs.get_output(ctx, row, output_type)
                if action == "edit":
                    out = await outputs.edit(ctx, out, value or "")
                elif action in ("approve", "reject"):
                    out = await getattr(outputs, action)(ctx, out)
                elif action == "push":
                    try:
                        out = (await outputs.push(ctx, row, out, "psa")).output
                    except QueuedError:
                        await ctx.db.refresh(out)
                        pending: OutputActionView = {**outputs.output_view(out), "push_pending": True}
                        return pending
                elif action == "export":
                    target = Path.cwd() / outputs.export_file_name(row, out.output_type)
                    done = await outputs.export(ctx, row, out, target)
                    self.notify(f"Wrote {target}" + (" (marked DRAFT: not approved)" if done.draft else ""))
                    return OutputActionView(**outputs.output_view(done.output), exported_to=str(target),
                                            exported_draft=done.draft)
                return OutputActionView(**outputs.output_view(out))

        await self.app.push_screen_wait(OutputsScreen(views, act))

    # --- the PSA outbox --------------------------------------------------------------

    @worker(group="outbox-sync", exclusive=True)
    async def sync_outbox(self, quiet: bool = True) -> None:
        """Deliver queued PSA writes (at start, every few minutes, and on demand)."""
        from rfpilot.core.closeout import writeback
        from rfpilot.core.team.outputs import deliver_outbox

        async def deliver():
            async with self.rf.ctx() as ctx:
                if not await writeback.list_items(ctx):
                    return None
                return await deliver_outbox(ctx)

        try:
            # Quitting cancels it like any worker: no database operation is cut in half (rfpilot.db.cancelsafe),
            # and a post cut off in flight is found on the ticket by the next attempt (core.closeout.writeback's lease).
            report = await deliver()
        except RfpilotError as err:
            if not quiet:
                self.fail(err)
            return
        if report is None:
            if not quiet:
                self.notify("Nothing is waiting for the PSA.")
            return
        for delivery in report.delivered:
            self.notify(f"Delivered to {delivery.item.ticket_ref}: {delivery.item.kind.replace('_', ' ')}"
                        + (f" · status {delivery.status}" if delivery.status else ""), title="PSA")
        for item, reason in report.failed:
            self.notify(inert(f"{item.ticket_ref}: {reason}"), title="PSA write failed", severity="error",
                        timeout=15, markup=False)
        if report.queued and not quiet:
            self.notify(f"{count(len(report.queued), 'write')} still queued: the PSA is unreachable.", severity="warning")
        if report.delivered or report.failed:
            if self.session_id:
                await self.load_session(self.open_id, focus_composer=False)
            await self.refresh_sessions()

    def action_retry_delivery(self) -> None:
        self.retry_delivery()

    @worker(group="psa")
    async def retry_delivery(self) -> None:
        """Retry this session's unfinished PSA write now (a posted note is never posted again)."""
        from rfpilot.core.closeout import writeback

        delivery = (self.snap.details.get("psa_delivery") if self.snap else None) or None
        if delivery is None:
            self.notify("This session has nothing waiting for the PSA.")
            return
        try:
            async with self.rf.ctx() as ctx:
                done = await writeback.retry(ctx, await writeback.get_item(ctx, delivery["id"]))
        except RfpilotError as err:
            self.fail(err)
        else:
            self.notify(f"Delivered to {done.item.ticket_ref}" + (f" · status {done.status}" if done.status else ""),
                        title="PSA")
        await self.load_session(self.open_id, focus_composer=False)
        await self.refresh_sessions()

    def share_update(self) -> None:
        if not (self.snap and self.snap.details["session"].get("linked")):
            self.notify("This session has no PSA ticket to post an update to.")
            return
        self.draft_and_share()

    @worker(group="psa")
    async def draft_and_share(self) -> None:
        from rfpilot.core.closeout import updates
        from rfpilot.tui.screens.text_prompt import TextPrompt

        drafted = await self.core(updates.draft_update)
        if drafted is None:
            return
        body = await self.app.push_screen_wait(TextPrompt(
            f"Share an update on {self.snap.details['session']['ticket_ref'] if self.snap else ''}",
            "An internal note (hidden from the customer); the ticket's status does not change.", initial=drafted))
        if not body:
            return
        from rfpilot.errors import QueuedError

        try:
            async with self.rf.ctx() as ctx:
                from rfpilot.core.session.sessions import get_session

                done = await updates.share_update(ctx, await get_session(ctx, self.open_id), body)
        except QueuedError as err:
            self.notify(inert(err.message), title="Queued", severity="warning", markup=False)
        except RfpilotError as err:
            self.fail(err)
        else:
            self.notify(f"Update posted on {done.item.ticket_ref} (note {done.note_id}).", title="PSA")
        await self.load_session(self.open_id, focus_composer=False)

    # --- chat ---------------------------------------------------------------------

    async def _show_mode(self) -> None:
        mode = self.query_one("#composer-mode", Static)
        if self.answering is None:
            mode.display = False
            return
        verb = "Answering" if self.answering["kind"] == "question" else "Output of"
        mode.update(text(f"{verb}: {self.answering['text']}  (esc cancels)", "bold yellow"))
        mode.display = True

    async def action_cancel_mode(self) -> None:
        if self.answering is not None:
            self.answering = None
            await self._show_mode()

    def on_composer_submitted(self, event: Composer.Submitted) -> None:
        if self.session_id is None:
            return
        item = self.answering
        self.send(event.text, item["id"] if item else None)

    @worker(group="chat", exclusive=True)
    async def send(self, message: str, lane_item_id: str | None = None, retry: bool = False) -> None:
        from rfpilot.core.engine import chat
        from rfpilot.core.session import lane as lane_service
        from rfpilot.core.session.sessions import get_session
        from rfpilot.core.engine.streaming import DisplayStream
        from rfpilot.core.views import message_view

        composer, transcript = self.composer, self.query_one(Transcript)
        stream = DisplayStream()
        last_paint = 0.0

        async def on_chunk(chunk: str) -> None:
            nonlocal last_paint
            shown = stream.feed(chunk)
            if shown and time.monotonic() - last_paint >= STREAM_REFRESH_SECONDS:
                last_paint = time.monotonic()
                await transcript.append_reply(stream.shown[len(transcript.live_text):])

        turn_from: int | None = None  # the seq of this turn's message: from there the transcript is re-read

        async def on_stored(stored) -> None:
            nonlocal turn_from
            turn_from = stored.seq
            if not retry:
                composer.clear()
                self.answering = None
                await self._show_mode()
                if transcript.later:  # paged far back: back to the latest page, the new message in it
                    await self.action_show_latest()
                else:
                    await transcript.add_user_message(message_view(stored))
            await transcript.start_reply()
            composer.disabled = True

        provider = None
        try:
            async with self.rf.ctx() as ctx:
                row = await get_session(ctx, self.open_id)
                provider = self.rf.make_provider()
                chat.require_chat_provider(provider)
                await chat.prepare_turn(ctx, row)
                try:
                    # Core owns the turn from storing the message to storing the reply: cut off anywhere (ctrl+q,
                    # ctrl+c), the message ends interrupted, never sent.
                    if retry:
                        await chat.retry_turn(ctx, row, provider, on_chunk=on_chunk, on_stored=on_stored)
                    else:
                        item = await lane_service.get_item(ctx, row, lane_item_id) if lane_item_id else None
                        await chat.send(ctx, row, message, provider, lane_item=item, on_chunk=on_chunk,
                                        on_stored=on_stored)
                finally:
                    composer.disabled = False
        except RfpilotError as err:
            self.fail(err)
        finally:
            if provider is not None:
                await self.rf.release_provider(provider)
        await transcript.end_reply()
        if self.session_id:
            # Back to the composer, unless the engineer moved to the list or the lane meanwhile (and sees it).
            focused = self.focused
            elsewhere = focused is not None and self._pane_of(focused) in ("sidebar", "lane") and self.shows(focused)
            await self.load_session(self.session_id, focus_composer=not elsewhere, tail_from=turn_from)
            await self.refresh_sessions()

    def on_worker_state_changed(self, event) -> None:
        from textual.worker import WorkerState

        # Stopped by ctrl+c (not by quitting: nothing is drawn on a closing app).
        if (event.worker.group == "chat" and event.state == WorkerState.CANCELLED and self.is_mounted
                and not self.app._exit and not self._closing):
            self.query_one(Transcript).mark_interrupted()

    def action_retry(self) -> None:
        if self.session_id:
            self.send("", retry=True)

    async def action_show_earlier(self) -> None:
        """The page of messages before the first one shown, read from the store (never the whole transcript)."""
        from rfpilot.tui.data import earlier_messages

        transcript = self.query_one(Transcript)
        if self.session_id is None or not transcript.earlier or transcript.first_seq is None:
            return
        async with self.rf.ctx() as ctx:
            page = await earlier_messages(ctx, self.session_id, transcript.first_seq)
        await transcript.prepend(page)

    async def action_show_latest(self) -> None:
        """Back to the latest page after paging far back (the latest messages were unmounted)."""
        if self.session_id is not None and self.query_one(Transcript).later:
            await self.load_session(self.open_id, focus_composer=False)

    # --- the task lane ---------------------------------------------------------------

    async def on_lane_row_action(self, event: LaneRow.Action) -> None:
        item, action = event.item, event.action
        if event.kind in ("question", "check") and action == "answer":
            self.answering = {"id": item["id"], "kind": event.kind, "text": item["text"]}
            await self._show_mode()
            self.composer.focus()
        elif action == "skip":
            self.lane_skip(item["id"])
        elif action == "copy" and is_lane_item(item) and item["command"]:
            self.rf.copy_text(item["command"], what="command")
        elif action == "promote" and is_lane_item(item):
            self.promote(item)
        elif action == "edit":
            from rfpilot.tui.screens.text_prompt import TextPrompt

            def edited(value: str | None) -> None:
                if value:
                    self.fact_edit(item["id"], value)

            self.app.push_screen(TextPrompt("Edit fact", initial=item["text"]), edited)
        elif action == "delete":
            from rfpilot.tui.screens.choice import ChoiceScreen

            def chosen(choice: str | None) -> None:
                if choice == "delete":
                    self.fact_delete(item["id"])

            self.app.push_screen(ChoiceScreen(f"Delete this fact? {item['text'][:80]}",
                                              [("keep", "Keep it"), ("delete", "Delete it")]), chosen)

    # --- seen before: an earlier session like this one ------------------------------------

    def on_seen_row_action(self, event: SeenRow.Action) -> None:
        if event.action == "open":
            self.open_seen(event.match)
        elif event.action == "dismiss":
            self.seen_dismiss(event.match["id"])

    @worker(group="seen", exclusive=True)
    async def open_seen(self, match: SeenBeforeView) -> None:
        """The earlier session, read-only, beside this one (its own lane and notes, nothing editable)."""
        from rfpilot.core.session.sessions import get_session
        from rfpilot.core.views import session_details
        from rfpilot.tui.data import FACT_PAGE
        from rfpilot.tui.screens.seen import SeenSessionScreen

        try:
            async with self.rf.ctx() as ctx:
                details = await session_details(ctx, await get_session(ctx, match["id"]), fact_limit=FACT_PAGE,
                                                item_limits={}, refresh_seen=False)
        except RfpilotError as err:
            self.fail(err)
            return
        if await self.app.push_screen_wait(SeenSessionScreen(match, details)) == "dismiss":
            self.seen_dismiss(match["id"])

    @worker(group="lane")
    async def seen_dismiss(self, match_id: str) -> None:
        from rfpilot.core.memory import seen_before

        if await self.core(seen_before.dismiss, match_id) is not None:
            await self.refresh_state()

    async def on_more_rows_requested(self, event: MoreRows.Requested) -> None:
        """The next page of facts, questions or checks, read from the store after the last one shown; the cursor
        goes to the first of them."""
        from rfpilot.tui.data import more_facts, more_items
        from rfpilot.tui.widgets.lane import LaneRow

        lane, kind = self.lane, event.kind
        shown = lane.shown(kind)
        if self.session_id is None or not shown:
            return
        after_id = shown[-1]["id"]
        if kind == "fact":
            async with self.rf.ctx() as ctx:
                facts = await more_facts(ctx, self.session_id, after_id)
            await lane.add_facts(facts)
        else:
            async with self.rf.ctx() as ctx:
                items = await more_items(ctx, self.session_id, kind, after_id)
            await lane.add_items(kind, items)
        rows = [r for r in lane.query(LaneRow) if r.kind == kind]
        if len(rows) > len(shown):
            rows[len(shown)].focus()
            lane.scroll_to_widget(rows[len(shown)])

    @worker(group="lane")
    async def lane_skip(self, item_id: str) -> None:
        from rfpilot.core.session import lane

        async def go(ctx, row):
            return await lane.skip_item(ctx, row, await lane.get_item(ctx, row, item_id))

        if await self.core(go) is not None:
            await self.refresh_state()

    def promote(self, item: LaneItemView) -> None:
        from rfpilot.tui.screens.text_prompt import TextPrompt

        def done(value: str | None) -> None:
            if value:
                self.promote_item(item["id"], value)

        self.app.push_screen(TextPrompt("Promote to What we know", "One past-tense sentence of what is now confirmed.",
                                        initial=item.get("response") or ""), done)

    @worker(group="lane")
    async def promote_item(self, item_id: str, fact_text: str) -> None:
        from rfpilot.core.session import lane, synthesis

        async def go(ctx, row):
            return await synthesis.promote(ctx, row, await lane.get_item(ctx, row, item_id), text=fact_text)

        if await self.core(go) is not None:
            await self.refresh_state()

    def on_task_lane_note_requested(self) -> None:
        if self.session_id:
            self.add_note()

    def add_note(self) -> None:
        from rfpilot.tui.screens.text_prompt import TextPrompt

        def added(value: str | None) -> None:
            if value:
                self.fact_add(value)

        self.app.push_screen(TextPrompt("Add a note to What we know", "Something you confirmed yourself."), added)

    @worker(group="lane")
    async def fact_add(self, value: str) -> None:
        from rfpilot.core.session import facts

        if await self.core(facts.add_note, value) is not None:
            await self.refresh_state()

    @worker(group="lane")
    async def fact_edit(self, fact_id: str, value: str) -> None:
        from rfpilot.core.session import facts

        async def go(ctx, row):
            return await facts.update_fact(ctx, row, await facts.get_fact(ctx, row, fact_id), text=value)

        if await self.core(go) is not None:
            await self.refresh_state()

    @worker(group="lane")
    async def fact_delete(self, fact_id: str) -> None:
        from rfpilot.core.session import facts

        async def go(ctx, row):
            return await facts.delete_fact(ctx, row, await facts.get_fact(ctx, row, fact_id))

        if await self.core(go) is not None:
            await self.refresh_state()

    # --- the banner ---------------------------------------------------------------------

    NOTES_PROMPTS = {
        "failed": ("What happened?", "Optional: what you saw (it goes in the note).", False),
        "partial": ("What was done, and what is left?", "Required for a partial outcome.", True),
        "pending": ("What are you waiting on?", "Required: e.g. the user to test after lunch.", True),
        "edit_notes": ("Edit the partial note", "", True),
        "update_reason": ("What are you waiting on?", "", True),
    }

    def on_banner_action(self, event: Banner.Action) -> None:
        action = event.action
        if action in self.NOTES_PROMPTS:
            from rfpilot.tui.screens.text_prompt import TextPrompt

            title, hint, required = self.NOTES_PROMPTS[action]
            fix = self.snap.details["active_fix"] if self.snap else None
            initial = (fix["partial_notes"] if action == "edit_notes" else fix["pending_reason"]
                       if action == "update_reason" else "") if fix else ""

            def noted(notes: str | None) -> None:
                if notes is not None:
                    self.fix_action(action, notes)

            self.app.push_screen(TextPrompt(title, hint, initial=initial or "", required=required), noted)
        elif action == "apply":
            self.apply_fix()
        else:
            self.fix_action(action)

    # --- scripts: Apply opens the template's form or the three choices -------------------------

    @worker(group="fix", exclusive=True)
    async def apply_fix(self) -> None:
        from rfpilot.core.session import fixes
        from rfpilot.core.library import templates

        async def plan_of(ctx, row):
            return await templates.apply_plan(ctx, row, await fixes.get_fix(ctx, row, None))

        plan = await self.core(plan_of)
        if plan is None:
            return
        if plan.kind == "template":
            await self._run_template(plan)
        elif plan.kind == "script":
            await self._three_choices(plan.script or "")
        else:
            async def apply(ctx, row):
                return await fixes.apply_fix(ctx, row, await fixes.get_fix(ctx, row, None))

            if await self.core(apply) is not None:
                await self.refresh_state()

    async def _run_template(self, plan) -> None:
        from rfpilot.core.session import fixes
        from rfpilot.core.library import render, templates
        from rfpilot.tui.screens.parameter_form import ParameterForm

        tpl = plan.template
        view = templates.template_view(tpl)
        params = templates.parameters_of(tpl)
        result = await self.app.push_screen_wait(ParameterForm(
            view, plan.values, plan.sources, lambda values: render.render(tpl.body, params, values)))
        if result is None:
            return

        async def ran(ctx, row):
            fix = await fixes.get_fix(ctx, row, None)
            return await templates.record_run(ctx, row, template=await templates.get_template(ctx, tpl.slug),
                                              values=result.values, fix=fix)

        if await self.core(ran) is not None:
            self.notify(f"Recorded the run of {tpl.slug}; the fix is now verifying.")
            await self.refresh_state()

    async def _three_choices(self, script: str) -> None:
        from rfpilot.core.session import fixes
        from rfpilot.core.library import templates
        from rfpilot.tui.screens.three_choice import ThreeChoiceScreen

        fix = self.snap.details["active_fix"] if self.snap else None
        choice = await self.app.push_screen_wait(ThreeChoiceScreen(fix["title"] if fix else "", script, None))
        if choice is None:
            return

        async def decide(ctx, row):
            result = await fixes.decide(ctx, row, await fixes.get_fix(ctx, row, None), choice.decision,
                                        edited_script=choice.script)
            if result.draft_template is not None:
                await templates.extract_with_configured(ctx, result.draft_template)
            return result

        result = await self.core(decide)
        if result is None:
            return
        await self.refresh_state()
        if choice.decision == "draft_template":
            self.notify("Noted. After you resolve, you will be asked whether to keep the script as a template.")
        elif choice.decision == "build_template" and result.draft_template is not None:
            await self._review_drafts([result.draft_template.id], headline="Build it as a team template now.")

    async def _review_drafts(self, draft_ids: list[str], headline: str) -> None:
        """One review dialog per draft; the team's 'don't ask again' stops the series."""
        from rfpilot.core.library import templates
        from rfpilot.tui.screens.draft_review import DraftReviewScreen

        for number, draft_id in enumerate(draft_ids, 1):
            async with self.rf.ctx() as ctx:
                draft = await templates.get_draft(ctx, draft_id)
                view: DraftReviewView = {**await templates.draft_view(ctx, draft), "headline": headline}

            async def save(review, draft_id=draft_id) -> None:
                async with self.rf.ctx() as ctx:
                    tpl = await templates.accept_draft(
                        ctx, await templates.get_draft(ctx, draft_id), name=review.name, slug=review.slug or None,
                        description=review.description, category=review.category or None,
                        parameters=review.parameters, body=review.body)
                self.notify(f"Saved {tpl.name!r} as {tpl.slug} for the team.")

            review = await self.app.push_screen_wait(DraftReviewScreen(view, f"{number} of {len(draft_ids)}", save=save))
            if review is None:
                continue
            try:
                async with self.rf.ctx() as ctx:
                    if review.action == "reject":
                        await templates.reject_draft(ctx, await templates.get_draft(ctx, draft_id))
                    if review.dont_ask_again:
                        await templates.set_templatize_prompt(ctx, False)
            except RfpilotError as err:
                self.fail(err)
            if review.dont_ask_again:
                self.notify("Resolving will not offer draft templates again (`rfpilot templates prompt on`).")
                break
        await self.refresh_state()

    @worker(group="fix", exclusive=True)
    async def fix_action(self, action: str, notes: str | None = None) -> None:
        from rfpilot.core.closeout import closing
        from rfpilot.core.session import fixes

        async def go(ctx, row):
            fix = await fixes.get_fix(ctx, row, None)
            if action == "apply":
                return await fixes.apply_fix(ctx, row, fix)
            if action == "dismiss":
                return await fixes.record_outcome(ctx, row, fix, "dismissed")
            if action == "finish":
                return await fixes.finish_fix(ctx, row, fix)
            if action == "confirm":
                return await fixes.confirm_outcome(ctx, row, fix)
            if action == "reject":
                return await fixes.reject_outcome(ctx, row, fix)
            if action in ("edit_notes", "update_reason"):
                return await fixes.edit_parked_notes(ctx, row, fix, notes or "")
            return await closing.record_close_outcome(ctx, row, fix, action, notes or None)

        if await self.core(go) is not None:
            await self.refresh_state()

    # --- resolve / escalate -----------------------------------------------------------------

    def on_task_lane_close_requested(self, event: TaskLane.CloseRequested) -> None:
        self.begin_close(event.action)

    @worker(group="close", exclusive=True)
    async def begin_close(self, action: str) -> None:
        from rfpilot.core.closeout import closing
        from rfpilot.core.session import fixes
        from rfpilot.tui.screens.choice import ChoiceScreen
        from rfpilot.tui.screens.text_prompt import TextPrompt

        async def check(ctx, row):
            closing.check_can_close(row, action)
            fix = await fixes.active_fix(ctx, row)
            waiting = closing.pending_fix_question(fix, action)
            if waiting is None:
                return ("ok", None)
            return ("ask", {"title": waiting.title, "status": waiting.status,
                            "choices": closing.choices_for(waiting, action)})

        state = await self.core(check)
        if state is None:
            return
        if state[0] == "ask":
            info = state[1]
            verb = "resolving" if action == "resolve" else "escalating"
            labels = closing.choice_labels(action)
            choice = await self.app.push_screen_wait(ChoiceScreen(
                f"Before {verb}: what happened with “{info['title']}”?",
                [(c, labels[c]) for c in info["choices"]],
            ))
            if choice is None:
                return
            notes = None
            outcome = closing.CLOSE_CHOICES[choice]
            if outcome in fixes.NOTES_REQUIRED:
                notes = await self.app.push_screen_wait(TextPrompt("Notes", fixes.NOTES_REQUIRED[outcome].capitalize()))
                if notes is None:
                    return

            # Nothing is stored yet: the answer is recorded with the close, in one transaction (core.closeout.closing).
            await self.preview_and_close(action, choice, notes)
            return
        await self.preview_and_close(action)

    async def _draft(
        self, action: str, force: bool = False, choice: str | None = None, notes: str | None = None
    ) -> tuple[str, str] | None:
        from rfpilot.core.closeout.closing import draft_for_close

        async def go(ctx, row):
            return await draft_for_close(ctx, row, action, choice, notes, force=force)

        preview = await self.core(go)
        if preview is None:
            return None
        return preview.markdown, preview.describe()

    async def preview_and_close(self, action: str, choice: str | None = None, notes: str | None = None) -> None:
        from rfpilot.tui.screens.preview import PreviewScreen

        drafted = await self._draft(action, choice=choice, notes=notes)
        if drafted is None:
            return
        first = drafted

        async def regenerate() -> tuple[str, str]:
            again = await self._draft(action, force=True, choice=choice, notes=notes)
            return again if again is not None else first

        details = self.snap.details["session"] if self.snap else None
        target = ""
        if details and details["linked"]:
            kind = "resolution note, customer-visible" if action == "resolve" else "internal note"
            target = f"{details['ticket_ref']} ({kind})"
        result = await self.app.push_screen_wait(PreviewScreen(
            action, drafted[0], drafted[1], regenerate, post=lambda markdown: self._post_close(action, markdown, choice, notes),
            target=target))
        if result.action != "posted":
            self.notify("Nothing was posted.")
        await self.load_session(self.open_id, focus_composer=False)
        await self.refresh_sessions()
        if result.action == "posted" and action == "resolve":
            from rfpilot.core.team import outputs
            from rfpilot.core.library import templates

            drafted = await self.core(outputs.generate_after_resolve)
            if drafted:
                self.notify("Drafted the PSA ticket notes, KB article and client summary for review.")

            async def offer(ctx, row):
                return [d.id for d in await templates.drafts_to_offer(ctx, row)]

            drafts = await self.core(offer)
            if drafts:
                await self._review_drafts(drafts, headline="Resolved. Keep the script that fixed it as a team template?")

    async def _post_close(self, action: str, markdown: str, choice: str | None = None, notes: str | None = None):
        """Record the answer about the fix and close with ``markdown`` (posting to its ticket if linked), all or
        nothing; what to show in the editor."""
        from rfpilot.core.closeout import closing
        from rfpilot.core.session.sessions import get_session
        from rfpilot.errors import QueuedError
        from rfpilot.tui.screens.preview import PostOutcome

        try:
            async with self.rf.ctx() as ctx:
                row = await get_session(ctx, self.open_id)
                done = await closing.close_with_outcome(ctx, row, action, closing.clean_markdown(markdown), choice, notes)
        except QueuedError as err:
            return PostOutcome(True, [f"Queued: {err.message}", err.hint or ""], "yellow")
        except RfpilotError as err:
            lines = [f"Not {action}d: {err.message}"] + ([err.hint] if err.hint else [])
            return PostOutcome(False, lines + ["Nothing is posted twice: trying again is safe."], "red")
        return PostOutcome(True, closing.result_lines(done), "green")

    # --- pause, resume, reopen, abandon -------------------------------------------------------

    LIFECYCLE = {
        "pause": ("pause_session", "Pause this session (waiting on the customer)?", "Pause it"),
        "resume": ("resume_session", "Resume this session?", "Resume it"),
        "reopen": ("reopen_session", "Reopen this session? Its note stays as it was posted.", "Reopen it"),
        "abandon": ("abandon_session", "Abandon this session? It leaves the active list; reopen brings it back.",
                    "Abandon it"),
    }

    @worker(group="lifecycle", exclusive=True)
    async def lifecycle(self, verb: str) -> None:
        from rfpilot.core.session import sessions
        from rfpilot.tui.screens.choice import ChoiceScreen
        from rfpilot.tui.screens.text_prompt import TextPrompt

        if self.session_id is None:
            return
        fn_name, question, yes = self.LIFECYCLE[verb]
        choice = await self.app.push_screen_wait(ChoiceScreen(question, [("no", "No, keep it as it is"), ("yes", yes)]))
        if choice != "yes":
            return
        args: tuple = ()
        if verb == "abandon":
            reason = await self.app.push_screen_wait(TextPrompt("Why abandon it?", "Optional.", required=False))
            if reason is None:
                return
            args = (reason or None,)
        if await self.core(getattr(sessions, fn_name), *args) is not None:
            await self.load_session(self.open_id, focus_composer=False)
            await self.refresh_sessions()

    # --- focus and layout ---------------------------------------------------------------------
    # The focus model (docs/tui.md): below 120 columns the list and the lane are drawers over the chat; a
    # drawer closes when focus leaves it; esc backs out one level; nothing hidden ever holds focus.

    @property
    def narrow(self) -> bool:
        return self.has_class("-narrow")

    def _pane_of(self, widget) -> str | None:
        """"sidebar", "lane" or "chat": the pane ``widget`` is in (None outside the body)."""
        for node in widget.ancestors_with_self:
            if node.id in ("sidebar", "lane", "chat"):
                return node.id
        return None

    def pane_shown(self, pane: str | None) -> bool:
        """Whether a pane is on screen, from the layout classes (not the styles, which update a frame later)."""
        drawer = {"sidebar": "-show-sessions", "lane": "-show-lane"}
        if pane in drawer:
            if self.narrow:
                return self.has_class(drawer[pane])
            return not self.has_class("-hide-sessions" if pane == "sidebar" else "-hide-lane")
        if pane == "chat":
            return not (self.narrow and (self.has_class("-show-sessions") or self.has_class("-show-lane")))
        return True

    def shows(self, widget) -> bool:
        """``widget`` is on screen: its pane is shown and neither it nor a container of it is hidden."""
        if widget.screen is not self or not self.pane_shown(self._pane_of(widget)):
            return False
        panes = ("sidebar", "lane", "chat")  # shown or not by the layout classes, checked above
        return widget.visible and all(node.display for node in widget.ancestors_with_self
                                      if node is not self.app and node.id not in panes)

    def _fallback(self):
        """Where focus goes when what had it is hidden: the composer, else the list (if shown), else the chat."""
        if self.ready.is_set() and self.session_id and not self.composer.disabled and self.pane_shown("chat"):
            return self.composer
        listing = self.query_one(SessionList)
        if self.pane_shown("sidebar"):
            return listing
        return self.query_one(Transcript)

    def ensure_visible_focus(self) -> None:
        """Nothing hidden holds focus: move it to a visible widget if it is on a hidden one (or nowhere)."""
        if not self.ready.is_set() or self.app.screen is not self:
            return
        focused = self.focused
        if focused is None or not self.shows(focused):
            self._fallback().focus()

    def on_descendant_focus(self, event) -> None:
        """A drawer closes when focus leaves it."""
        if not self.narrow:
            return
        pane = self._pane_of(event.widget)
        if self.has_class("-show-sessions") and pane != "sidebar":
            self.remove_class("-show-sessions")
        if self.has_class("-show-lane") and pane != "lane":
            self.remove_class("-show-lane")

    def on_resize(self) -> None:
        # Below 120 columns a pane may have become a closed drawer: focus must not stay on it.
        self.call_after_refresh(self._after_resize)

    def _after_resize(self) -> None:
        focused = self.focused
        if (self.narrow and focused is not None and self._pane_of(focused) == "sidebar"
                and not self.has_class("-show-lane") and not self.session_id):
            self.add_class("-show-sessions")  # nothing open yet: the list is the place to be
        self.ensure_visible_focus()

    def on_screen_suspend(self) -> None:
        # A dialog or the palette is on top: its keys are the live ones, not this footer's.
        self.query_one(KeysFooter).display = False

    def on_screen_resume(self) -> None:
        self.query_one(KeysFooter).display = True
        self.call_after_refresh(self.ensure_visible_focus)

    def _back_target(self) -> str | None:
        """What esc would back out of now: the filter, a drawer (or pane), the answer mode; None: nothing."""
        focused = self.focused
        if focused is not None and focused.id == "session-filter":
            return "filter"
        can_compose = self.session_id is not None and self.ready.is_set() and not self.composer.disabled
        if self.narrow and (self.has_class("-show-sessions") or self.has_class("-show-lane")) and self.session_id:
            return "drawer"
        if focused is not None and self._pane_of(focused) in ("sidebar", "lane") and can_compose:
            return "pane"
        if self.answering is not None:
            return "answer"
        return None

    async def action_back(self) -> None:
        target = self._back_target()
        if target == "filter":
            self.query_one("#session-filter", Input).value = ""
            self.query_one(SessionList).focus()
        elif target in ("drawer", "pane"):
            self.remove_class("-show-sessions", "-show-lane")
            self._fallback().focus()
        elif target == "answer":
            await self.action_cancel_mode()

    def action_focus_sessions(self) -> None:
        self.remove_class("-hide-sessions", "-show-lane")
        if self.narrow:
            self.add_class("-show-sessions")
        self.query_one(SessionList).focus()

    def action_focus_lane(self) -> None:
        if not self.ready.is_set():  # the lane is mounted just after the session list is shown
            return
        self.remove_class("-show-sessions", "-hide-lane")
        if self.narrow:
            self.add_class("-show-lane")
        rows = self.query("LaneRow")
        (rows.first() if rows else self.lane).focus()

    def action_focus_banner(self) -> None:
        if not self.ready.is_set():
            return
        banner = self.banner
        if banner.display:
            self.remove_class("-show-sessions", "-show-lane")
            banner.focus()

    def action_focus_composer(self) -> None:
        self.remove_class("-show-sessions", "-show-lane")
        self._fallback().focus()

    def action_toggle_sessions(self) -> None:
        if self.pane_shown("sidebar"):
            self.remove_class("-show-sessions")
            if not self.narrow:
                self.add_class("-hide-sessions")
            self.ensure_visible_focus()
        else:
            self.action_focus_sessions()

    def action_toggle_lane(self) -> None:
        if self.pane_shown("lane"):
            self.remove_class("-show-lane")
            if not self.narrow:
                self.add_class("-hide-lane")
            self.ensure_visible_focus()
        else:
            self.action_focus_lane()
