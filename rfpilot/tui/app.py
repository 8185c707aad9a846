"""The Textual app: opens the store after the first paint, then hands out a Ctx per operation."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.app import App
from textual.binding import Binding
from textual.color import Color
from textual.command import DiscoveryHit, Hit, Hits, Provider

from rfpilot.config import Settings, load_settings
from rfpilot.errors import RfpilotError
from rfpilot.tui.safe import inert

if TYPE_CHECKING:
    from rfpilot.core.context import Workspace

KEYMAP_PREFIX = "keymap."
OUTBOX_SYNC_SECONDS = 300
PAINT_WAIT_SECONDS = 0.5
LIVE_RETRY_SECONDS = 0.5  # an open session a worker is busy with is looked at again this much later

log = logging.getLogger("rfpilot.tui")


def _list_imports() -> None:
    """What the session list needs: the store and the sessions service (SQLAlchemy and the models, ≈0.3 s)."""
    import rfpilot.core.context  # noqa: F401
    import rfpilot.core.session.sessions  # noqa: F401
    import rfpilot.tui.data  # noqa: F401


def _session_imports() -> None:
    """What opening a session needs beyond that (the chat engine, the views): imported once the list is shown."""
    import rfpilot.core.engine.chat  # noqa: F401
    import rfpilot.core.views  # noqa: F401


class Commands(Provider):
    """Command palette entries for every action on the current session, with the key that does it."""

    # (label, command, id of the binding that does the same, if any). Resolve and escalate have no key
    # on purpose: no single keystroke closes a session.
    ENTRIES = [
        ("New session", "action_new_session", "session.new"),
        ("Start a session from a PSA ticket…", "action_from_ticket", "session.from_ticket"),
        ("Script library", "action_scripts", "scripts.open"),
        ("Branch map: fork, switch, mark, revive hypotheses…", "action_branch_map", "branches.open"),
        ("Hand off: park or escalate to the team queue…", "action_handoff", "handoff.open"),
        ("Team queue: claim a handoff", "action_queue", "queue.open"),
        ("Resolution outputs: ticket notes, KB article, client summary", "action_outputs", "outputs.open"),
        ("Insights: the team's figures, trends and what fixed what", "action_insights", "insights.open"),
        ("Share an update on the ticket…", "share_update", None),
        ("Retry this session's PSA delivery", "action_retry_delivery", None),
        ("Deliver queued PSA writes now", "sync_outbox", None),
        ("Resolve this session…", "resolve", None),
        ("Escalate this session…", "escalate", None),
        ("Add a note to What we know", "add_note", "lane.add_note"),
        ("Pause this session", "pause", None),
        ("Resume this session", "resume", None),
        ("Reopen this session", "reopen", None),
        ("Abandon this session…", "abandon", None),
        ("Copy the resolution note or escalation package", "copy_note", None),
        ("Retry the last message", "action_retry", "chat.retry"),
        ("Focus the task lane", "action_focus_lane", "focus.lane"),
        ("Focus the session list", "action_focus_sessions", "focus.sessions"),
        ("Focus the message composer", "action_focus_composer", "focus.composer"),
        ("Focus the fix banner", "action_focus_banner", "focus.banner"),
        ("Show earlier messages", "action_show_earlier", "chat.earlier"),
        ("Toggle the session list", "action_toggle_sessions", "layout.sessions"),
        ("Toggle the task lane", "action_toggle_lane", "layout.lane"),
        ("Help: every key", "help", "app.help"),
    ]

    # Offered only when core's transition rules allow them for the open session's status.
    LIFECYCLE = {"resolve", "escalate", "pause", "resume", "reopen", "abandon"}

    def _entries(self) -> list[tuple[str, str, str | None]]:
        snap = getattr(self.screen, "snap", None)
        if snap is None:
            return [e for e in self.ENTRIES if e[1] not in self.LIFECYCLE]
        from rfpilot.core.session.sessions import valid_actions

        valid = valid_actions(snap.details["session"]["status"])
        return [e for e in self.ENTRIES if e[1] not in self.LIFECYCLE or e[1] in valid]

    def _hit_help(self, binding_id: str | None) -> str | None:
        if binding_id is None:
            return None
        key = self.app.key_for(binding_id)  # type: ignore[attr-defined]
        return f"key: {key}" if key else None

    def _run(self, name: str) -> Callable[[], Any]:
        app: Any = self.app  # the RfpilotApp (Textual types a provider's app as a plain App)
        return lambda: app.run_command(name)

    async def discover(self) -> Hits:
        for label, name, binding_id in self._entries():
            yield DiscoveryHit(label, self._run(name), help=self._hit_help(binding_id))

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for label, name, binding_id in self._entries():
            score = matcher.match(label)
            if score > 0:
                yield Hit(score, matcher.highlight(label), self._run(name), text=label,
                          help=self._hit_help(binding_id))


class RfpilotApp(App):
    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute: subclasses elsewhere keep the stylesheet
    TITLE = "rfpilot"
    COMMANDS = App.COMMANDS | {Commands}
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide"), (150, "-xwide")]
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", id="app.quit", priority=True),
        # Priority, so help opens from dialogs too; `?` is left to whatever text field has focus.
        Binding("f1,question_mark", "help", "Help", id="app.help", priority=True),
        Binding("ctrl+c", "ctrl_c", "Copy / interrupt", id="app.interrupt", show=False, priority=True),
    ]

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        open_session: str | None = None,
        provider_factory: Callable[[], Any] | None = None,
        clock: Callable[[], Any] | None = None,
        first_page: Any = None,
    ) -> None:
        super().__init__()
        self.first_page = first_page  # rfpilot.tui.prefetch.FirstPage: the list's first page, read meanwhile
        self.clock = clock
        self.settings = settings or load_settings()
        self.open_ref = open_session
        self.provider_factory = provider_factory
        self.workspace: Workspace | None = None
        self.provider_label = "…"
        self.keymap: dict[str, str] = {}  # binding id -> keys, from [keymap] in config.toml
        self.has_psa = False  # a PSA connection exists (known once the store is open)
        self.quitting = False  # set by exit(): workers cut off from now on end quietly
        self.live: Any = None  # rfpilot.core.session.live.LiveViews: a teammate's changes, once the store is open
        self._live_running = False  # a live refresh worker runs (a change meanwhile runs it once more)
        self._live_again = False
        self._live_deferred: Any = None  # a LiveUpdate the open session could not take yet (a worker was busy)
        theme = self.settings.get("ui.theme")  # dark, light or no-color (the settings check it)
        self.theme = "textual-light" if theme == "light" else "textual-dark"
        # https://no-color.org: Textual reads NO_COLOR from the process environment itself; this also
        # honours it from the settings' environment and `ui.theme = "no-color"` in config.toml.
        self.monochrome = self.settings.env.get("NO_COLOR") is not None or theme == "no-color"

    def get_line_filters(self):
        filters = super().get_line_filters()
        if not (self.monochrome or self.no_color):
            return filters
        # Textual's own NO_COLOR filter paints greys; ours draws bold, dim and reverse only (rfpilot.tui.plain).
        from textual.filter import Monochrome, NoColor

        from rfpilot.tui.plain import Plain

        if not hasattr(self, "_plain"):
            self._plain = Plain(lambda: Color.parse(self.current_theme.background or "black"))
        return [*(f for f in filters if not isinstance(f, (Monochrome, NoColor))), self._plain]

    def now(self):
        """The app's clock (the store's, so ages and timers agree with what it wrote)."""
        if self.clock is not None:
            return self.clock()
        from datetime import UTC, datetime

        return datetime.now(UTC)

    # --- the store ----------------------------------------------------------

    def get_default_screen(self):
        from rfpilot.tui.screens.main import MainScreen

        return MainScreen()

    async def on_mount(self) -> None:
        self._apply_keymap()
        # The width class now: Textual sets it on the first resize, which comes after the first paint (a
        # frame laid out at the wrong width, then a second layout and paint).
        width = self.size.width
        fits = [name for at, name in sorted(self.HORIZONTAL_BREAKPOINTS) if width >= at]
        self.screen.update_classes({name: name == fits[-1] for _, name in self.HORIZONTAL_BREAKPOINTS})
        if not self.open_ref:
            # Where the engineer starts: the list (a drawer below 120 columns), "loading" until the store answers.
            self.screen.add_class("-show-sessions")
        # Paint first: the store (SQLAlchemy's import alone is ~0.3 s) opens after the first frame.
        self.call_after_refresh(self.open_store)

    def _apply_keymap(self) -> None:
        # An entry that is not keys (or a keymap that is not a table) is left out, and said: the app still opens.
        keymap, errors = self.settings.keymap()
        for err in errors:
            self.notify(inert(f"{err.message}\nignored: the default keys stay\n{err.hint}"), severity="warning",
                        timeout=30, markup=False)
        if keymap:
            # An escape hatch no keymap can remove: ctrl+q always quits.
            keys = [k.strip() for k in keymap.get("app.quit", "").split(",") if k.strip()]
            keymap["app.quit"] = ",".join(dict.fromkeys(["ctrl+q", *keys]))
            self.set_keymap(keymap)
        self.keymap = keymap

    def open_store(self) -> None:
        from rfpilot.tui.workers import start_worker

        start_worker(self, self._open_store(), group="store", exclusive=True)

    async def _open_store(self) -> None:
        """The store, then the session list at once; then what the rest of the app needs (the model's name, the
        PSA, the chat engine, the session to open, the outbox): the list never waits for those."""
        first_focus = self.focused
        screen: Any = self.screen  # the main screen (rfpilot.tui.screens.main), the only one at start-up
        # Heavy imports in a thread, so the painted screen stays responsive meanwhile.
        imports = asyncio.ensure_future(asyncio.to_thread(_list_imports))
        shown = self.first_page is not None and await self._show_first_page(screen, first_focus, imports)
        await imports
        from rfpilot.core.context import Workspace

        try:
            if self.clock is not None:
                self.workspace = await Workspace.open(self.settings, clock=self.clock)
            else:
                self.workspace = await Workspace.open(self.settings)
        except RfpilotError as err:
            _started()
            screen.query_one("#sessions").set_unavailable()
            self.notify(inert(err.message + (f"\n{err.hint}" if err.hint else "")), severity="error",
                        timeout=30, markup=False)
            await screen.mount_session_widgets()
            return
        await screen.refresh_sessions()
        if not shown:
            self._focus_list(screen, first_focus)
        # Nothing else until the list is on screen: what follows (the session widgets, the model's name, the
        # PSA, the chat engine) would take the CPU its paint needs.
        await self._painted()
        _started()
        await screen.mount_session_widgets()
        from rfpilot.core.llm import selection

        try:
            chosen = selection(self.settings)
            self.provider_label = chosen.provider
        except RfpilotError as err:
            self.provider_label = "llm: not configured"
            self.notify(inert(err.message), severity="warning", markup=False)
        from rfpilot.core.closeout.psa import list_connections

        async with self.ctx() as ctx:
            self.has_psa = bool(await list_connections(ctx))
        screen.refresh_bindings()
        await asyncio.to_thread(_session_imports)
        target = self.open_ref
        if target:
            from rfpilot.core.session.sessions import get_session

            try:
                async with self.ctx() as ctx:
                    target = (await get_session(ctx, target)).id
            except RfpilotError as err:
                screen.fail(err)
                return
            await screen.load_session(target)
            await screen.refresh_sessions()
        # A teammate's changes from now on: the list, the queue and this session follow them (opened in a worker
        # of its own: a Postgres listener that cannot connect yet must not hold up what follows).
        from rfpilot.tui.workers import start_worker

        start_worker(self, self._follow_changes(), group="live-open", exclusive=True)
        # Writes queued while the PSA was unreachable: try them now, then every few minutes.
        screen.sync_outbox()
        def sync() -> None:
            main: Any = self.screen_stack[0]  # the main screen, under any dialog
            main.sync_outbox()

        self.set_interval(OUTBOX_SYNC_SECONDS, sync)

    def _focus_list(self, screen: Any, first_focus: Any) -> None:
        """Once the list first shows sessions: nobody has moved on meanwhile, so enter opens the latest session."""
        if not self.open_ref and self.focused is first_focus and not getattr(first_focus, "value", ""):
            screen.action_focus_sessions()

    async def _show_first_page(self, screen: Any, first_focus: Any, imports: asyncio.Future) -> bool:
        """The rows the start-up's child read from the store (rfpilot.tui.prefetch), on screen before this process
        has imported SQLAlchemy; the list is read again once the app's own store is open. False: no rows came
        before this process had imported the store itself (a busy machine), and the child is ended."""
        first_page, self.first_page = self.first_page, None
        rows = asyncio.ensure_future(first_page.rows())
        try:
            await asyncio.wait({rows, imports}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not rows.done():
                rows.cancel()
                await asyncio.gather(rows, return_exceptions=True)
            first_page.close()
        page = None if rows.cancelled() else rows.result()
        if page is None:
            return False
        from rfpilot.tui.widgets.session_list import SessionRowView

        now = self.now()
        rows, cursor = page
        listing = screen.query_one("#sessions")
        listing.set_sessions([SessionRowView.from_fields(fields, now) for fields in rows], cursor)
        self._focus_list(screen, first_focus)
        await self._painted()
        return True

    async def _painted(self) -> None:
        """Until the screen has been painted again (at most PAINT_WAIT_SECONDS: the callback that says so queues
        behind the screen's messages, and one of its handlers may itself be waiting)."""
        try:
            await asyncio.wait_for(self.screen.wait_for_refresh(), PAINT_WAIT_SECONDS)
        except TimeoutError:
            pass

    # --- live team views -----------------------------------------------------

    async def _follow_changes(self) -> None:
        """Follow the store (rfpilot.core.session.live): one listening connection (Postgres) or one idle
        data_version check (SQLite) for the whole app; a change starts one short refresh worker."""
        from rfpilot.core.session.live import LiveViews

        if self.workspace is None or self.quitting:
            return
        try:
            self.live = await LiveViews.open(self.workspace, on_change=self._live_changed)
        except Exception:  # noqa: BLE001 - the views still work, they only stop following others' changes
            log.info("live views are off: the store's changes cannot be followed", exc_info=True)
            return
        if self.quitting:
            await self._close_live()

    def _live_changed(self) -> None:
        """Called by the feed, in the event loop, when something was committed: refresh what is shown, once at a
        time (a change that comes meanwhile makes the running refresh go round once more)."""
        if self.quitting or self.live is None:
            return
        if self._live_running:
            self._live_again = True
            return
        from rfpilot.tui.workers import start_worker

        self._live_running = True
        start_worker(self, self._live_refresh(), group="live")

    async def _live_refresh(self) -> None:
        try:
            while self.live is not None and not self.quitting:
                self._live_again = False
                update = await self.live.updates()
                if update is not None:
                    await self._show_update(update)
                if not (self._live_again or self.live.pending()):
                    break
        finally:
            self._live_running = False

    async def _show_update(self, update: Any, *, list_too: bool = True) -> None:
        """Every screen on the stack that shows the store re-reads what it shows, if the update touches it.
        One screen's failure is logged, never raised: following a teammate must not crash the app."""
        for screen in list(self.screen_stack):
            follow = getattr(screen, "live_update", None)
            if follow is None:
                continue
            try:
                done = await follow(update, list_too=list_too)
            except RfpilotError:
                continue  # the session went away meanwhile, a store hiccup: the next change tries again
            except Exception:  # noqa: BLE001 - see the docstring
                if self.quitting:
                    return
                log.warning("a live refresh failed", exc_info=True)
                continue
            if done is False and not self.quitting:  # busy with the open session: look again in a moment
                waiting = self._live_deferred
                self._live_deferred = update if waiting is None else waiting.merged(update)
                if waiting is None:
                    self.set_timer(LIVE_RETRY_SECONDS, self._live_retry)

    def _live_retry(self) -> None:
        update, self._live_deferred = self._live_deferred, None
        if self.quitting or self.live is None or update is None:
            return
        from rfpilot.tui.workers import start_worker

        start_worker(self, self._show_update(update, list_too=False), group="live-retry", exclusive=True)

    async def _close_live(self) -> None:
        live, self.live = self.live, None
        if live is not None:
            await live.close()

    @asynccontextmanager
    async def ctx(self) -> AsyncIterator[Any]:
        if self.workspace is None:
            raise RfpilotError("the store is still opening", hint="try again in a moment")
        async with self.workspace.ctx() as ctx:
            yield ctx

    def exit(self, result: Any = None, return_code: int = 0, message: Any = None) -> None:
        """Quitting cancels every worker at once (rfpilot.tui.workers: they unwind quietly, the store is
        closed only after them)."""
        self.quitting = True
        for worker in list(self.workers):
            worker.cancel()
        super().exit(result, return_code, message)

    async def on_unmount(self) -> None:
        from rfpilot.tui.workers import unwind

        self.quitting = True
        await unwind(list(self.workers))
        await self._close_live()
        if self.first_page is not None:  # quit before its rows were asked for
            self.first_page.close()
        if self.workspace is not None:
            await self.workspace.close()

    # --- the model ---------------------------------------------------------------

    def make_provider(self):
        if self.provider_factory is not None:
            return self.provider_factory()
        from rfpilot.core.llm import get_provider

        return get_provider(self.settings)

    async def release_provider(self, provider) -> None:
        if self.provider_factory is None:
            await provider.aclose()

    # --- commands, help, copy ------------------------------------------------------------

    async def run_command(self, name: str) -> None:
        screen: Any = self.screen  # the screen in front: what it offers is asked (hasattr, getattr) before a call
        if name.startswith("action_") and hasattr(screen, name):
            result = getattr(screen, name)()
            if hasattr(result, "__await__"):
                await result
        elif name in ("resolve", "escalate") and getattr(screen, "session_id", None):
            screen.begin_close(name)
        elif name == "add_note" and getattr(screen, "session_id", None):
            screen.add_note()
        elif name in ("pause", "resume", "reopen", "abandon") and getattr(screen, "session_id", None):
            screen.lifecycle(name)
        elif name == "copy_note" and getattr(screen, "snap", None) is not None:
            details = screen.snap.details
            note = details.get("resolution_note") or details.get("escalation_package")
            if note:
                self.copy_text(note, what="note")
            else:
                self.notify("This session has no posted note yet.")
        elif name == "help":
            self.action_help()
        elif name == "share_update" and getattr(screen, "session_id", None):
            screen.share_update()
        elif name == "sync_outbox" and hasattr(screen, "sync_outbox"):
            screen.sync_outbox(quiet=False)

    # --- keys and help ----------------------------------------------------------------

    def _keys_display(self, binding: Binding) -> str:
        keys = self.keymap.get(binding.id or "", binding.key)
        return ", ".join(self.get_key_display(Binding(k.strip(), "")) for k in keys.split(",") if k.strip())

    @staticmethod
    def _bindings_of(bindings) -> list[Binding]:
        seen: dict[str, Binding] = {}
        for binding in bindings:
            if isinstance(binding, Binding) and binding.id and binding.id not in seen:
                seen[binding.id] = binding
        return list(seen.values())

    def _bindings_on(self, nodes) -> list[Binding]:
        return self._bindings_of(b for node in nodes for b in getattr(node, "BINDINGS", []))

    def _all_binding_nodes(self) -> list[Any]:
        from rfpilot.tui.widgets.lane import LaneRow

        main = self.screen_stack[0]  # the main screen, also while the palette or a dialog is on top
        # LaneRow is listed even when the lane is empty, so help always shows its keys.
        return [self, main, *main.query("*"), LaneRow]

    def key_for(self, binding_id: str) -> str | None:
        """The key(s) that do ``binding_id`` now, after the keymap, as the footer shows them."""
        for binding in self._bindings_on(self._all_binding_nodes()):
            if binding.id == binding_id:
                return self._keys_display(binding)
        return None

    def help_sections(self) -> list[tuple[str, list[tuple[str, str, str]]]]:
        """Keys for what has focus first, then every other key (with ids, for the keymap)."""

        def rows(bindings: list[Binding]) -> list[tuple[str, str, str]]:
            return [(self._keys_display(b), b.tooltip or b.description, b.id or "") for b in bindings]

        sections: list[tuple[str, list[tuple[str, str, str]]]] = []
        here: list[Binding] = []
        focused = self.focused
        if focused is not None and focused.screen is self.screen:
            chain = [n for n in focused.ancestors_with_self if n is not self.screen and n is not self]
            # What the footer would offer here: the focus chain's bindings that are enabled right now.
            active = [a for a in self.screen.active_bindings.values() if a.enabled and a.node in chain]
            here = self._bindings_of(a.binding for a in active)
            keys: dict[str, list[str]] = {}
            for a in active:  # one row per binding, with every key it is bound to
                keys.setdefault(a.binding.id or "", []).append(self.get_key_display(a.binding))
            title = next((title for n in chain if (title := getattr(n, "HELP_TITLE", None))), None)
            extra = [row for n in chain for row in getattr(n, "HELP_KEYS", [])]
            if here or extra:
                here_rows = [(", ".join(keys[b.id or ""]), b.tooltip or b.description, b.id or "") for b in here]
                sections.append((f"Here: {title or type(focused).__name__}", extra + here_rows))
        taken = {b.id for b in here}
        everywhere = [b for b in self._bindings_on(self._all_binding_nodes()) if b.id not in taken]
        palette = (self.get_key_display(Binding(self.COMMAND_PALETTE_BINDING, "")),
                   "Command palette: every action, with its key", "")
        sections.append(("Every other key" if sections else "Every key", [*rows(everywhere), palette]))
        for title, screen_class in self._dialogs():
            dialog_rows = [row for row in rows(self._bindings_of(screen_class.BINDINGS)) if row[2] not in taken]
            if dialog_rows:
                sections.append((title, dialog_rows))
        return sections

    @staticmethod
    def _dialogs() -> list[tuple[str, Any]]:
        """The dialogs and screens with keys of their own, for help (imported when help opens)."""
        from rfpilot.tui.screens.branch_map import BranchMapScreen
        from rfpilot.tui.screens.choice import ChoiceScreen
        from rfpilot.tui.screens.draft_review import DraftReviewScreen
        from rfpilot.tui.screens.handoff import HandoffDialog
        from rfpilot.tui.screens.insights import InsightsScreen
        from rfpilot.tui.screens.outputs import OutputsScreen
        from rfpilot.tui.screens.parameter_form import ParameterForm
        from rfpilot.tui.screens.preview import PreviewScreen
        from rfpilot.tui.screens.queue import QueueScreen
        from rfpilot.tui.screens.script_library import ScriptsScreen
        from rfpilot.tui.screens.text_prompt import TextPrompt
        from rfpilot.tui.screens.three_choice import ThreeChoiceScreen
        from rfpilot.tui.screens.ticket_picker import TicketPicker

        return [
            ("In the note preview", PreviewScreen),
            ("In a text prompt", TextPrompt),
            ("In a choice", ChoiceScreen),
            ("In your PSA tickets (f2)", TicketPicker),
            ("In the script library (f3)", ScriptsScreen),
            ("In a template's parameter form", ParameterForm),
            ("In the script choices", ThreeChoiceScreen),
            ("In a draft template's review", DraftReviewScreen),
            ("In the branch map (f4)", BranchMapScreen),
            ("In the team queue (f5)", QueueScreen),
            ("In the handoff dialog (f6)", HandoffDialog),
            ("In the resolution outputs (f7)", OutputsScreen),
            ("In Insights (f8)", InsightsScreen),
        ]

    def action_help(self) -> None:
        from rfpilot.tui.screens.help import HelpScreen

        if isinstance(self.screen, HelpScreen):  # f1 / ? again closes it
            self.screen.dismiss(None)
            return
        self.push_screen(HelpScreen(self.help_sections()))

    def action_ctrl_c(self) -> None:
        """Ctrl+C never loses work: copy a selection if there is one, else say how to quit."""
        selected = self.screen.get_selected_text() if hasattr(self.screen, "get_selected_text") else None
        if selected:
            self.copy_text(selected, what="selection")
            return
        for worker in self.workers:
            if worker.group == "chat" and worker.is_running:
                worker.cancel()
                self.notify("Stopped the reply; your message is kept (ctrl+r retries).")
                return
        self.notify("ctrl+q quits. Nothing is lost: every message is already saved.")

    def copy_text(self, value: str, what: str = "text") -> None:
        from rfpilot.tui.clipboard import copy

        copy(self, value, what)


def _started() -> None:
    """The list is painted (or the store refused): the cycle collector, paused by the console script while
    Textual, the screens and SQLAlchemy were imported and built, back on for the long run (rfpilot.startup)."""
    from rfpilot import startup

    startup.end()
