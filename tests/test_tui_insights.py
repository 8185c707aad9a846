"""Insights (f8) in the running TUI: on the hand-built store of tests/stats_seed.py at a fixed clock, the screen
shows the exact figures; snapshots at 80x24 and 160x50."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from rfpilot.config import load_settings
from tests.stats_seed import NOW, seed_store
from tests.test_tui import settle, wait_for_screen
from tests.tui_host import shown


def _settings(tmp: Path, email: str = "tester@example.com"):
    return load_settings(env={
        "RFPILOT_HOME": str(tmp / "home"),
        "RFPILOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'insights.db'}",
        "RFPILOT_ACCOUNT": "insights",
        "RFPILOT_USER_EMAIL": email,
        "RFPILOT_USER_NAME": "Test Engineer",
        "RFPILOT_LLM_PROVIDER": "offline",
        "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
    })


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    settings = _settings(tmp_path_factory.mktemp("insights"))
    asyncio.run(seed_store(settings))
    return settings


def _app(settings):
    from rfpilot.tui.app import RfpilotApp

    return RfpilotApp(settings, clock=lambda: NOW)


def _rows(screen, name: str) -> list[list[str]]:
    from textual.widgets import DataTable

    table = screen.query_one(f"#insights-{name}", DataTable)
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


async def _open(pilot) -> None:
    from rfpilot.tui.screens.insights import InsightsScreen

    await settle(pilot)
    await pilot.press("f8")
    await wait_for_screen(pilot, InsightsScreen)
    await settle(pilot)


async def test_f8_shows_the_figures_of_the_store_and_esc_closes(seeded) -> None:
    from rfpilot.tui.screens.insights import InsightsScreen
    from rfpilot.tui.screens.main import MainScreen

    app = _app(seeded)
    async with app.run_test(size=(160, 50)) as pilot:
        await _open(pilot)
        screen = app.screen
        assert isinstance(screen, InsightsScreen)
        info = shown(screen.query_one("#insights-info"))
        # 90 days back from Friday 2026-11-20: from Monday 2026-08-17, 14 weeks; S6 (opened 1 October) is in.
        assert "last 90d (2026-08-17 to 2026-11-20, 14 weeks)" in info
        assert "8 opened · 5 resolved · 2 escalated · median time to resolve 20m" in info
        assert "first fix worked 40% (2 of 5) · escalation rate 33% (2 of 6)" in info
        assert _rows(screen, "problems") == [
            ["2", "2", "0", "template", "Clear cached Office credentials · worked: Clear cached credentials (2)"],
            ["2", "2", "1", "fix", "Reset the VPN profile"],
            ["1", "1", "0", "domain", "email"],
        ]
        assert _rows(screen, "templates") == [
            ["clear-creds", "3", "2", "1", "67%", "Clear cached Office credentials"],
            ["map-drives", "1", "0", "0", "0%", "(not in the library)"],
        ]
        assert _rows(screen, "clients") == [
            ["Contoso", "3", "3", "0", "0%", "50%", "15m"],
            ["Fabrikam", "3", "2", "2", "67%", "33%", "58m"],
            ["(no client)", "2", "0", "0", "–", "–", "–"],
        ]
        assert _rows(screen, "engineers") == [
            ["tester@example.com", "6", "4", "1", "25%", "33%", "17m", "Test Engineer"],
            ["bob@example.com", "2", "1", "1", "50%", "50%", "50m", "Bob Builder"],
        ]
        assert [c.id for c in screen.query(".insights-chart")] == ["chart-weekly", "chart-median"]

        await pilot.press("w")  # the last 30 days: from Monday 2026-10-19, S6 is out again
        await settle(pilot)
        info = shown(screen.query_one("#insights-info"))
        assert "last 30d (2026-10-19 to 2026-11-20, 5 weeks)" in info and "7 opened" in info

        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)


async def test_an_empty_store_says_nothing_to_show_yet(tmp_path) -> None:
    settings = _settings(tmp_path)
    app = _app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await _open(pilot)
        assert "nothing to show yet" in shown(app.screen.query_one("#insights-info"))
        assert not app.screen.query_one("#insights-clients").display


async def test_the_median_chart_never_goes_below_zero(tmp_path) -> None:
    """One session resolved at once (no active time): every week's median is 0, and the chart's axis starts at 0,
    not at -0.33 (seen on the demo store at 80x24)."""
    from rfpilot.core.closeout import closing
    from rfpilot.core.context import open_context
    from rfpilot.core.session.sessions import create_session

    settings = _settings(tmp_path)

    async def one_resolved_session() -> None:
        async with open_context(settings) as ctx:
            ctx.clock = lambda: NOW
            session = await create_session(ctx, "Printer offline after the driver update")
            await closing.resolve_session(ctx, session, "## Problem\nThe printer was offline.\n\n## Resolution\n"
                                          "Reinstalled the driver.")

    await one_resolved_session()
    app = _app(settings)
    async with app.run_test(size=(80, 40)) as pilot:
        await _open(pilot)
        assert "1 resolved" in shown(app.screen.query_one("#insights-info"))
        await settle(pilot)
        chart = shown(app.screen.query_one("#chart-median"))
        assert "0.00" in chart and "-0." not in chart, chart


def test_f8_is_listed_in_help_and_the_palette() -> None:
    from rfpilot.tui.app import Commands, RfpilotApp
    from rfpilot.tui.screens.insights import InsightsScreen
    from rfpilot.tui.screens.main import MainScreen

    assert any(b.key == "f8" and b.id == "insights.open" for b in MainScreen.BINDINGS)
    assert ("In Insights (f8)", InsightsScreen) in RfpilotApp._dialogs()
    assert any(entry[2] == "insights.open" for entry in Commands.ENTRIES)


@pytest.mark.parametrize("size", [(80, 24), (160, 50)], ids=["80x24", "160x50"])
def test_snapshot_insights(snap_compare, seeded, size) -> None:
    async def before(pilot) -> None:
        await _open(pilot)

    assert snap_compare(_app(seeded), terminal_size=size, run_before=before)
