"""The Textual app: opens the store after the first paint, then hands out a Ctx per operation."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from textual.app import App
from textual.binding import Binding
from textual.command import Hit, Hits, Provider

from rfpilot.config import Settings, load_settings
from rfpilot.errors import RfpilotError
from rfpilot.tui.safe import inert

KEYMAP_PREFIX = "keymap."


def _preload() -> None:
    import rfpilot.core.chat  # noqa: F401
    import rfpilot.core.context  # noqa: F401
    import rfpilot.core.views  # noqa: F401


class Commands(Provider):
    """Command palette entries for every action on the current session."""

    ENTRIES = [
        ("New session", "action_new_session"),
        ("Resolve this session…", "resolve"),
        ("Escalate this session…", "escalate"),
        ("Add a note to What we know", "add_note"),
        ("Pause this session", "pause"),
        ("Resume this session", "resume"),
        ("Reopen this session", "reopen"),
        ("Abandon this session…", "abandon"),
        ("Copy the resolution note or escalation package", "copy_note"),
        ("Retry the last message", "action_retry"),
        ("Focus the task lane", "action_focus_lane"),
        ("Focus the session list", "action_focus_sessions"),
        ("Show earlier messages", "action_show_earlier"),
        ("Toggle the session list", "action_toggle_sessions"),
        ("Toggle the task lane", "action_toggle_lane"),
        ("Help: every key", "help"),
    ]

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for label, name in self.ENTRIES:
            score = matcher.match(label)
            if score > 0:
                yield Hit(score, matcher.highlight(label), lambda n=name: self.app.run_command(n), help=None)


class RfpilotApp(App):
    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute: subclasses elsewhere keep the stylesheet
    TITLE = "rfpilot"
    COMMANDS = App.COMMANDS | {Commands}
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide"), (150, "-xwide")]
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", id="app.quit", priority=True),
        Binding("f1", "help", "Help", id="app.help"),
        Binding("ctrl+c", "ctrl_c", "Copy / interrupt", id="app.interrupt", show=False, priority=True),
    ]

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        open_session: str | None = None,
        provider_factory: Callable[[], Any] | None = None,
        clock: Callable[[], Any] | None = None,
    ) -> None:
        super().__init__()
        self.clock = clock
        self.settings = settings or load_settings()
        self.open_ref = open_session
        self.provider_factory = provider_factory
        self.workspace = None
        self.provider_label = "…"
        theme = str(self.settings.get("ui.theme") or "dark")
        if os.environ.get("NO_COLOR") or theme == "no-color":
            self.theme = "textual-ansi"
        elif theme == "light":
            self.theme = "textual-light"
        else:
            self.theme = "textual-dark"

    # --- the store ----------------------------------------------------------

    def get_default_screen(self):
        from rfpilot.tui.screens.main import MainScreen

        return MainScreen()

    async def on_mount(self) -> None:
        self._apply_keymap()
        # Paint first: the store (SQLAlchemy's import alone is ~0.3 s) opens after the first frame.
        self.call_after_refresh(self.open_store)

    def _apply_keymap(self) -> None:
        keymap = {}
        for key, value in (self.settings.file_data.get("keymap") or {}).items():
            if isinstance(value, str):
                keymap[key] = value
        if keymap:
            # An escape hatch no keymap can remove: ctrl+q always quits.
            keys = [k.strip() for k in keymap.get("app.quit", "").split(",") if k.strip()]
            keymap["app.quit"] = ",".join(dict.fromkeys(["ctrl+q", *keys]))
            self.set_keymap(keymap)

    def open_store(self) -> None:
        self.run_worker(self._open_store(), group="store", exclusive=True)

    async def _open_store(self) -> None:
        import asyncio

        # Heavy imports in a thread, so the painted screen stays responsive meanwhile.
        await asyncio.to_thread(_preload)
        from rfpilot.core.context import Workspace
        from rfpilot.core.llm import selection

        screen = self.screen
        try:
            if self.clock is not None:
                self.workspace = await Workspace.open(self.settings, clock=self.clock)
            else:
                self.workspace = await Workspace.open(self.settings)
        except RfpilotError as err:
            self.notify(inert(err.message + (f"\n{err.hint}" if err.hint else "")), severity="error",
                        timeout=30, markup=False)
            return
        try:
            chosen = selection(self.settings)
            self.provider_label = chosen.provider
        except RfpilotError as err:
            self.provider_label = "llm: not configured"
            self.notify(inert(err.message), severity="warning", markup=False)
        await screen.refresh_sessions()
        target = self.open_ref
        if target:
            from rfpilot.core.sessions import get_session

            try:
                async with self.ctx() as ctx:
                    target = (await get_session(ctx, target)).id
            except RfpilotError as err:
                screen.fail(err)
                return
            await screen.load_session(target)
            await screen.refresh_sessions()
        else:
            screen.action_focus_sessions()

    @asynccontextmanager
    async def ctx(self) -> AsyncIterator[Any]:
        if self.workspace is None:
            raise RfpilotError("the store is still opening", hint="try again in a moment")
        async with self.workspace.ctx() as ctx:
            yield ctx

    async def on_unmount(self) -> None:
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
        screen = self.screen
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

    def action_help(self) -> None:
        from rfpilot.tui.screens.modals import HelpScreen

        rows = []
        for node in [self, self.screen, *self.screen.query("*")]:
            for binding in getattr(node, "BINDINGS", []):
                if isinstance(binding, Binding) and binding.id and (binding.key, binding.description, binding.id) not in rows:
                    rows.append((binding.key, binding.description, binding.id))
        self.push_screen(HelpScreen(rows))

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
