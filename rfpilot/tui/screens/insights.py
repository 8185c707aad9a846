"""Insights (f8): the team's figures (core.memory.stats) as trend charts and tables.

It opens at once and reads the figures in a worker; the charts (textual-plotext, over plotext) are imported only
then, in a thread, so neither the app's start-up nor this screen's first frame pays for them. Below 120 columns
the two charts stack; the whole body scrolls, and each table scrolls sideways when it is wider than the screen.
Everything shown that came from people (clients, fix titles, names) goes through ``safe.text``.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Static

from rfpilot.core.view_types import StatsView
from rfpilot.errors import RfpilotError
from rfpilot.tui.safe import text
from rfpilot.tui.screens.shared import error_line
from rfpilot.tui.widgets.footer import KeysFooter
from rfpilot.tui.workers import start_worker

STYLES = Path(__file__).with_name("insights.tcss")  # parsed when the screen first opens

# The windows w cycles through (the first is the one it opens on).
WINDOWS = ("90d", "30d", "26w", "52w")
TABLES = ("problems", "templates", "clients", "engineers")


def _tick_labels(weeks: Sequence[str], most: int) -> tuple[list[int], list[str]]:
    """Positions and labels ("W47") for at most ``most`` ticks, always with the latest week."""
    step = max(1, -(-len(weeks) // max(1, most)))
    positions = list(range(len(weeks) - 1, -1, -step))[::-1]
    return [p + 1 for p in positions], [weeks[p].split("-")[-1] for p in positions]


class InsightsScreen(Screen[None]):
    """The figures of ``load(since)`` (a StatsView); w changes the window, esc goes back."""

    CSS_PATH = STYLES

    BINDINGS = [
        Binding("escape", "back", "Back", id="insights.back"),
        Binding("w", "window", "Window", id="insights.window", tooltip="Another window: 90d, 30d, 26w, 52w"),
    ]

    def __init__(self, load: Callable[[str], Awaitable[StatsView]]) -> None:
        super().__init__()
        self.load = load
        self.since = WINDOWS[0]
        self.view: StatsView | None = None

    def compose(self) -> ComposeResult:
        yield Static(text("Insights · the team's figures", "bold"), id="insights-header")
        yield Static(text("loading…", "dim"), id="insights-info")
        with VerticalScroll(id="insights-body"):
            yield Horizontal(id="insights-charts")
            for name, title in (("problems", "Most frequent problems"), ("templates", "Script templates"),
                                ("clients", "Per client"), ("engineers", "Per engineer")):
                yield Static(text(title, "bold underline"), id=f"insights-{name}-title", classes="insights-title")
                yield DataTable(id=f"insights-{name}", cursor_type="row", zebra_stripes=True,
                                classes="insights-table")
        yield KeysFooter()

    def on_mount(self) -> None:
        self._show_tables(False)
        self.query_one("#insights-body").focus()
        self._reload()

    def _reload(self) -> None:
        start_worker(self, self._load(self.since), exclusive=True, group="insights-load")

    def _show_tables(self, shown: bool) -> None:
        for name in TABLES:
            self.query_one(f"#insights-{name}-title").display = shown
            self.query_one(f"#insights-{name}").display = shown

    async def _load(self, since: str) -> None:
        info = self.query_one("#insights-info", Static)
        charts = asyncio.ensure_future(asyncio.to_thread(importlib.import_module, "textual_plotext"))
        try:
            view = await self.load(since)
        except RfpilotError as err:
            info.update(text(error_line(err), "red"))
            await asyncio.gather(charts, return_exceptions=True)
            return
        plotext: Any = await charts
        self.view = view
        from rfpilot.core.memory.stats import nothing_yet, summary_lines, unclassified_line

        lines = summary_lines(view)
        empty = nothing_yet(view)
        info.update(text("\n".join([*lines, empty] if empty else lines) + "\nw: another window · esc: back"))
        await self._draw_charts(plotext, view)
        self._fill_tables(view)
        self.query_one("#insights-problems-title", Static).update(
            text(" ".join(filter(None, ["Most frequent problems", unclassified_line(view)])), "bold"))
        self._show_tables(not empty)

    async def _draw_charts(self, plotext: Any, view: StatsView) -> None:
        box = self.query_one("#insights-charts", Horizontal)
        await box.remove_children()
        weeks = [w["week"] for w in view["weeks"]]
        xs = list(range(1, len(weeks) + 1))
        wide = self.size.width >= 120
        ticks, labels = _tick_labels(weeks, 8 if wide else 6)
        trend = plotext.PlotextPlot(id="chart-weekly", classes="insights-chart")
        plt = trend.plt
        plt.title("Sessions per week")
        for key in ("opened", "resolved", "escalated"):
            plt.plot(xs, [w[key] for w in view["weeks"]], label=key)
        plt.xticks(ticks, labels)
        top = max([w[key] for w in view["weeks"] for key in ("opened", "resolved", "escalated")] + [1])
        plt.ylim(0, top)
        step = max(1, -(-top // 4))
        plt.yticks(list(range(0, top + 1, step)))  # whole sessions, never 0.33 of one
        median = plotext.PlotextPlot(id="chart-median", classes="insights-chart")
        plt = median.plt
        plt.title("Median time to resolve (minutes)")
        minutes = [round((w["median_resolve_seconds"] or 0) / 60, 1) for w in view["weeks"]]
        plt.bar(xs, minutes, width=0.6)
        plt.ylim(0, max([*minutes, 1]))  # a time is never below zero, even on an axis with nothing resolved
        plt.xticks(ticks, labels)
        await box.mount_all([trend, median])

    def _fill_tables(self, view: StatsView) -> None:
        from rfpilot.core.memory.stats import (
            GROUP_HEADERS,
            client_name,
            group_cells,
            problem_label,
            template_name,
        )
        from rfpilot.core.text import percent

        def fill(name: str, headers: Sequence[str], rows: list[list[Any]], empty: str) -> None:
            table = self.query_one(f"#insights-{name}", DataTable)
            table.clear(columns=True)
            table.add_columns(*(text(h.lower(), "bold") for h in headers))
            for row in rows:
                table.add_row(*(text(str(cell)) for cell in row))
            if not rows:
                table.add_row(text(empty, "dim"), *(text("") for _ in headers[1:]))

        fill("problems", ("SESSIONS", "RESOLVED", "ESCALATED", "BY", "PROBLEM"),
             [[p["sessions"], p["resolved"], p["escalated"], p["kind"], problem_label(p)] for p in view["problems"]],
             "none")
        fill("templates", ("TEMPLATE", "APPLIED", "WORKED", "FAILED", "SUCCESS", "NAME"),
             [[t["slug"], t["applied"], t["worked"], t["failed"], percent(t["success_rate"]), template_name(t)]
              for t in view["templates"]], "no template applied")
        fill("clients", ("CLIENT", *GROUP_HEADERS), [[client_name(c), *group_cells(c)] for c in view["clients"]],
             "none")
        fill("engineers", ("ENGINEER", *GROUP_HEADERS, "NAME"),
             [[e["email"] or e["engineer_id"][:8], *group_cells(e), e["name"] or ""] for e in view["engineers"]],
             "none")

    def action_window(self) -> None:
        self.since = WINDOWS[(WINDOWS.index(self.since) + 1) % len(WINDOWS)]
        self.query_one("#insights-info", Static).update(text(f"loading the last {self.since}…", "dim"))
        self._reload()

    def action_back(self) -> None:
        self.dismiss(None)
