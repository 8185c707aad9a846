"""The script library: the team's script templates, search as you type, the list, and the highlighted one in
full.

It knows nothing of the store: it takes plain data (dicts shaped like the core's views) and callables, and
hands back a small result object; the main screen turns that into core calls. Everything that came from a
person, a script, the model or a PSA is shown through ``safe.text``/``safe.inert``, never as markup.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from rfpilot.core.view_types import TemplateView
from rfpilot.errors import RfpilotError
from rfpilot.grammar import count as plural_count, verb
from rfpilot.tui.safe import inert, text
from rfpilot.tui.screens.shared import no_blink
from rfpilot.tui.widgets.footer import KeysFooter
from rfpilot.tui.workers import start_worker

STYLES = Path(__file__).with_name("script_library.tcss")  # parsed when the library first opens

SEARCH_DEBOUNCE_SECONDS = 0.15


def _chip(row: Mapping[str, Any]) -> str:
    return str(row.get("provenance") or "")


def template_detail(row: dict[str, Any]) -> Text:
    """A template as the library's detail pane shows it: what it is, its parameters, its script."""
    out = Text()
    out.append(inert(row.get("name") or row.get("slug") or ""), "bold")
    meta = " · ".join(str(v) for v in (row.get("slug"), row.get("language"), row.get("category")) if v)
    if meta:
        out.append("\n" + inert(meta), "dim")
    if _chip(row):
        out.append("\n" + inert(_chip(row)), "dim italic")
    if row.get("description"):
        out.append("\n\n" + inert(row["description"]))
    params = row.get("parameters")
    if params is not None:
        out.append("\n\nParameters", "bold")
        if not params:
            out.append("\n  none: the script runs as it is", "dim")
        for p in params:
            out.append("\n  " + inert(str(p.get("key", ""))), "bold")
            out.append("  " + inert(p.get("label") or ""))
            bits = [p.get("field_type") or "text", "required" if p.get("required", True) else "optional"]
            if p.get("options"):
                bits.append("one of " + ", ".join(str(o) for o in p["options"]))
            if p.get("default") not in (None, ""):
                bits.append(f"default {p['default']}")
            out.append(" · " + inert(" · ".join(bits)), "dim")
    if row.get("body") is not None:
        out.append("\n\nScript", "bold")
        out.append("\n" + inert(row["body"]))
    return out


class SearchInput(Input):
    """The library's search: `/` is the key that focuses it, so a `/` typed into the empty, focused search is
    taken as that key (nothing to do) rather than typed; once there is text, `/` types."""

    def check_consume_key(self, key: str, character: str | None) -> bool:
        return (character != "/" or bool(self.value)) and super().check_consume_key(key, character)

    async def _on_key(self, event: events.Key) -> None:
        if event.character == "/" and not self.value:
            event.stop()
            event.prevent_default()
            return
        await super()._on_key(event)


class ScriptsScreen(Screen):
    """The team's script templates: search as you type, the list, and the highlighted template in full."""

    CSS_PATH = STYLES

    BINDINGS = [
        Binding("slash", "search", "Search", id="scripts.search"),
        Binding("escape,q", "back", "Back", id="scripts.back"),
        Binding("down", "to_list", "List", show=False, id="scripts.to_list"),
    ]

    def __init__(self, load: Callable[[str], Awaitable[list[TemplateView]]],
                 show: Callable[[str], Awaitable[TemplateView]] | None = None,
                 pending: Callable[[], Awaitable[int]] | None = None) -> None:
        super().__init__()
        self.load, self.show, self.pending = load, show, pending
        self.rows: list[TemplateView] = []
        self.details: dict[str, TemplateView] = {}  # slug -> what show() returned

    def compose(self) -> ComposeResult:
        yield Static(text("Script library · team templates", "bold"), id="scripts-header")
        yield SearchInput(placeholder="search templates: name, slug, description (/)", id="scripts-search",
                          compact=True)
        yield Static("", id="scripts-pending")
        with Horizontal(id="scripts-body"):
            with Vertical(id="scripts-side"):
                yield Static(text("loading…", "dim"), id="scripts-info")
                yield OptionList(id="scripts-list")
            with VerticalScroll(id="scripts-detail"):
                yield Static("", id="scripts-detail-text")
        yield KeysFooter()

    def on_mount(self) -> None:
        no_blink(self)
        self.query_one("#scripts-pending").display = False
        self.query_one("#scripts-search", Input).focus()
        start_worker(self, self._load("", delay=0), exclusive=True, group="scripts-load")
        if self.pending is not None:
            start_worker(self, self._pending(), group="scripts-pending")

    # loading

    async def _pending(self) -> None:
        try:
            count = await self.pending()  # type: ignore[misc]
        except RfpilotError:
            return  # the count is a nicety: its failure must not spoil the library
        label = self.query_one("#scripts-pending", Static)
        if count > 0:
            label.update(text(f"{plural_count(count, 'draft')} {verb(count, 'waits')} for review", "yellow"))
            label.display = True

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        start_worker(self, self._load(event.value.strip(), delay=SEARCH_DEBOUNCE_SECONDS), exclusive=True,
                        group="scripts-load")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_to_list()

    async def _load(self, query: str, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)  # a newer keystroke cancels this worker before it loads
        info = self.query_one("#scripts-info", Static)
        try:
            rows = await self.load(query)
        except RfpilotError as err:
            info.update(text(err.message, "red"))
            return
        listing = self.query_one("#scripts-list", OptionList)
        before = self._highlighted_slug()
        self.rows = list(rows)
        listing.clear_options()
        options: list[Option | None] = []
        for row in self.rows:
            options += [self._option(row), None]  # None: a rule under each template
        listing.add_options(options[:-1])
        if self.rows:
            count = plural_count(len(self.rows), "template")
            info.update(text(f"{count} matching “{query}”" if query else count, "dim"))
            slugs = [str(r.get("slug")) for r in self.rows]
            listing.highlighted = slugs.index(before) if before in slugs else 0
        else:
            info.update(text(f"nothing matches “{query}”" if query else "no templates yet", "dim"))
            self.query_one("#scripts-detail-text", Static).update(
                "" if query else text("A script you run from a fix can become a template after the session is "
                                      "resolved.", "dim"))

    @staticmethod
    def _option(row: TemplateView) -> Option:
        prompt = Text()
        prompt.append(inert(row.get("name") or row.get("slug") or ""), "bold")
        prompt.append("  " + inert(str(row.get("slug") or "")), "dim")
        if _chip(row):
            prompt.append("\n" + inert(_chip(row)), "dim italic")
        return Option(prompt, id=str(row.get("slug")))

    def _highlighted_slug(self) -> str | None:
        listing = self.query_one("#scripts-list", OptionList)
        if listing.highlighted is None or listing.highlighted >= listing.option_count:
            return None
        return listing.get_option_at_index(listing.highlighted).id

    # the detail pane

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        slug = event.option.id or ""
        self._show_detail(self._merged(slug))
        if self.show is not None and slug not in self.details:
            start_worker(self, self._fetch(slug), exclusive=True, group="scripts-show")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.query_one("#scripts-detail").focus()

    async def _fetch(self, slug: str) -> None:
        try:
            detail = await self.show(slug)  # type: ignore[misc]
        except RfpilotError as err:
            if self._highlighted_slug() == slug:
                self.query_one("#scripts-detail-text", Static).update(text(err.message, "red"))
            return
        self.details[slug] = TemplateView(**detail)
        if self._highlighted_slug() == slug:
            self._show_detail(self._merged(slug))

    def _merged(self, slug: str) -> dict[str, Any]:
        """The list's row for ``slug`` with what show() returned for it, if it came."""
        merged: dict[str, Any] = {}
        merged.update(next((r for r in self.rows if str(r.get("slug")) == slug), {}))
        merged.update(self.details.get(slug, {}))
        return merged

    def _show_detail(self, row: dict[str, Any]) -> None:
        self.query_one("#scripts-detail-text", Static).update(template_detail(row))
        self.query_one("#scripts-detail").scroll_home(animate=False)

    # keys

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "search":  # offered only where it does something: not in the search itself
            return self.focused is not self.query_one("#scripts-search", Input)
        return True

    def action_search(self) -> None:
        self.query_one("#scripts-search", Input).focus()

    def action_to_list(self) -> None:
        listing = self.query_one("#scripts-list", OptionList)
        if listing.option_count:
            listing.focus()

    def action_back(self) -> None:
        self.dismiss()
