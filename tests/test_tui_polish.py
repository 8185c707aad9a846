"""List 9 of issue 14, each seen by a user in tmux: cursor contrast, no-color, emoji width, list rows, ages and
timers, the header at 80 columns, the interrupted marker, the empty placeholder, one word per state."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from rich.segment import Segment

from rfpilot.config import load_settings
from tests.test_tui_snapshots import NOW, _seed, make_app, settle

pytest.importorskip("textual")


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("polish")
    settings = load_settings(env={
        "RFPILOT_HOME": str(tmp / "home"),
        "RFPILOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'polish.db'}",
        "RFPILOT_ACCOUNT": "polish",
        "RFPILOT_USER_EMAIL": "polish@example.com",
        "RFPILOT_USER_NAME": "Pol Ish",
        "RFPILOT_LLM_PROVIDER": "offline",
        "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
    })
    return settings, asyncio.run(_seed(settings))


def themed(settings, theme: str):
    if theme == "no-color":
        return load_settings(env={**settings.env, "NO_COLOR": "1"})
    return load_settings(env=settings.env, overrides={"ui.theme": theme})


def screen_lines(app) -> list[list[Segment]]:
    """What the screen draws, line by line, after every line filter (as the terminal receives it)."""
    return [list(strip) for strip in app.screen._compositor.render_strips()]


def widget_lines(app, widget) -> list[list[Segment]]:
    """The screen's segments inside ``widget``'s region."""
    region = widget.region
    out = []
    for strip in app.screen._compositor.render_strips()[region.y:region.bottom]:
        out.append(list(strip.crop(region.x, region.right)))
    return out


def contrast(style) -> float:
    from textual.color import Color

    fg = Color.from_rich_color(style.color).brightness
    bg = Color.from_rich_color(style.bgcolor).brightness
    return abs(fg - bg)


# --- the lane cursor ------------------------------------------------------------------------------


@pytest.mark.parametrize("theme", ["dark", "light", "no-color"])
def test_the_lane_cursor_is_clearly_visible_on_answered_rows_and_facts(seeded, theme) -> None:
    """The focused row stands out from its neighbours and its text reads well: colour 16 on 233 did not."""
    settings, ids = seeded

    async def go() -> None:
        app = make_app(themed(settings, theme), ids["ai_confirming"])
        async with app.run_test(size=(160, 50)) as pilot:
            await settle(pilot)
            rows = list(app.screen.query("LaneRow"))
            answered = [r for r in rows if r.kind == "fact" or r.item.get("state") != "open"]
            assert answered, "the seeded session has answered questions and facts"
            for row in answered:
                row.focus()
                await pilot.pause()
                text_cells = [s for line in widget_lines(app, row) for s in line if s.text.strip()]
                assert text_cells
                if theme == "no-color":
                    assert all(s.style.reverse for s in text_cells), row.item
                else:
                    assert min(contrast(s.style) for s in text_cells) > 0.3, (row.item, [
                        (s.text, str(s.style)) for s in text_cells])
                    other = next(r for r in rows if r is not row)
                    focused_bg = text_cells[0].style.bgcolor
                    other_bg = [s for line in widget_lines(app, other) for s in line][0].style.bgcolor
                    assert focused_bg != other_bg

    asyncio.run(go())


# --- no-color -----------------------------------------------------------------------------------


def test_no_color_paints_no_colour_at_all(seeded) -> None:
    """docs/tui.md: plain bold, dim and reverse. Textual's Monochrome filter painted 256-colour greys."""
    from rfpilot.tui.plain import has_colour

    settings, ids = seeded

    async def go() -> None:
        app = make_app(themed(settings, "no-color"), ids["verifying"])
        async with app.run_test(size=(120, 30)) as pilot:
            await settle(pilot)
            lines = screen_lines(app)
            coloured = [(s.text, str(s.style)) for line in lines for s in line if has_colour(s.style)]
            assert not coloured, coloured[:5]
            # The highlights are still there, as reverse video (the banner's buttons, the footer's keys).
            assert any(s.style and s.style.reverse for line in lines for s in line)

    asyncio.run(go())
