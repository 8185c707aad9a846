"""List 9 of issue 14, each seen by a user in tmux: cursor contrast, no-color, emoji width, list rows, ages and
timers, the header at 80 columns, the interrupted marker, the empty placeholder, one word per state."""

from __future__ import annotations

import asyncio
import re
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
    from textual.color import Color

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
                    focused_bg = Color.from_rich_color(text_cells[0].style.bgcolor)
                    other_bg = Color.from_rich_color(
                        [s for line in widget_lines(app, other) for s in line][0].style.bgcolor)
                    distance = sum((a - b) ** 2 for a, b in zip(focused_bg.rgb, other_bg.rgb)) ** 0.5
                    assert distance > 80, (focused_bg.hex, other_bg.hex)  # the cursor stands out from its row

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


# --- session list rows: emoji width, truncation, ticking ages ---------------------------------------------


async def _session(settings, description: str, **kwargs) -> str:
    from rfpilot.core.context import Workspace
    from rfpilot.core.session.sessions import create_session

    ws = await Workspace.open(settings, clock=lambda: NOW - timedelta(minutes=13))
    try:
        async with ws.ctx() as ctx:
            return (await create_session(ctx, description, **kwargs)).id
    finally:
        await ws.close()


def _clocked_app(settings, session: str | None = None):
    from rfpilot.tui.app import RfpilotApp

    clock = {"now": NOW}
    app = RfpilotApp(settings, open_session=session, clock=lambda: clock["now"])
    return app, clock


def _list_rows(app) -> list[str]:
    listing = app.screen.query_one("SessionList")
    return ["".join(s.text for s in line) for line in widget_lines(app, listing)]


@pytest.fixture
def fresh(tmp_path):
    return load_settings(env={
        "RFPILOT_HOME": str(tmp_path / "home"),
        "RFPILOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}",
        "RFPILOT_ACCOUNT": "fresh", "RFPILOT_USER_EMAIL": "f@example.com", "RFPILOT_USER_NAME": "Fresh",
        "RFPILOT_LLM_PROVIDER": "offline", "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
    })


@pytest.mark.parametrize("size", [(80, 24), (160, 50)], ids=["80x24", "160x50"])
def test_an_emoji_with_a_variation_selector_keeps_its_row_in_place(fresh, size) -> None:
    """🖨️ is U+1F5A8 U+FE0F: Textual counts one cell, kitty/iTerm2 draw two, so the row shifted. The selector is
    dropped on screen: every line of the list is exactly the list's width, and no U+FE0F reaches the terminal."""
    from rich.cells import cell_len

    asyncio.run(_session(fresh, "🖨️ Printer on floor 2 is offline ❤️ for everyone", client="Contoso ⚠️ Dental"))

    async def go() -> None:
        app, _ = _clocked_app(fresh)
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            if size[0] < 120:
                await pilot.press("ctrl+o")
                await pilot.pause()
            listing = app.screen.query_one("SessionList")
            lines = widget_lines(app, listing)
            shown = ["".join(s.text for s in line) for line in lines]
            assert any("🖨 Printer" in line for line in shown), shown
            assert not any("\ufe0f" in line for line in shown)
            assert all(cell_len(line) == listing.region.width for line in shown)

    asyncio.run(go())


def test_a_long_title_is_cut_with_an_ellipsis_and_the_age_stays(fresh) -> None:
    """A title that wrapped to three lines pushed its age out of the row."""
    title = ("Outlook on the front desk keeps prompting for the password after Monday's reset even though "
             "webmail signs in fine and the other two machines do not")
    asyncio.run(_session(fresh, title, client="Contoso Dental"))

    async def go() -> None:
        app, _ = _clocked_app(fresh)
        async with app.run_test(size=(160, 50)) as pilot:
            await settle(pilot)
            rows = _list_rows(app)
            first = next(i for i, line in enumerate(rows) if "Outlook" in line)
            assert rows[first].strip(" ▊▕▎│").endswith("…"), rows[first]
            assert rows[first + 1].strip(" ▊▕▎│").startswith("13m · Contoso Dental"), rows[first + 1]

    asyncio.run(go())


def test_ages_and_timers_tick_without_reading_the_store(fresh) -> None:
    """"0s" for a 13-minute-old session: ages were computed once. A tick moves them on from the clock alone."""
    sid = asyncio.run(_session(fresh, "Scanner cannot reach the share"))

    async def go() -> None:
        app, clock = _clocked_app(fresh, sid)
        async with app.run_test(size=(160, 50)) as pilot:
            await settle(pilot)
            screen = app.screen
            assert any("13m" in line for line in _list_rows(app))
            header = str(screen.query_one("#header").render())
            assert "active 13:00" in header, header

            async def boom(*args, **kwargs):
                raise AssertionError("a tick read the store")

            app.ctx = boom  # type: ignore[method-assign]
            clock["now"] = NOW + timedelta(hours=2)
            screen.tick()
            await pilot.pause()
            assert any("2h" in line for line in _list_rows(app)), _list_rows(app)
            assert "active 2:13:00" in str(screen.query_one("#header").render())

    asyncio.run(go())


# --- the header -----------------------------------------------------------------------------------


def test_the_header_at_80_columns_keeps_status_and_timer_and_cuts_with_an_ellipsis(seeded) -> None:
    settings, ids = seeded

    async def go() -> None:
        app = make_app(settings, ids["verifying"])
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            header = app.screen.query_one("#header")
            shown = "".join(s.text for s in widget_lines(app, header)[0]).strip()
            # The status and the whole timer stay; the title gives way with an ellipsis.
            assert re.fullmatch(r"Outlook prompts for a [\w ]+… · Contoso Dental · active · active \d:\d\d:\d\d", shown), shown
        app = make_app(settings, ids["verifying"])
        async with app.run_test(size=(160, 50)) as pilot:
            await settle(pilot)
            shown = str(app.screen.query_one("#header").render())
            assert "…" not in shown and "Contoso Dental" in shown and "offline" in shown, shown

    asyncio.run(go())


# --- the transcript: the placeholder and the interrupted marker ----------------------------------------------


def _hanging_provider():
    """Streams one piece of a reply, then waits for ever (until the reply is stopped)."""
    from rfpilot.core.llm.scripted import ScriptedProvider, ScriptedReply

    class Hanging(ScriptedProvider):
        async def stream(self, request):
            self.calls.append(request)
            yield "Checking the scan account first, "
            await asyncio.Event().wait()

    return Hanging([ScriptedReply(reply="unused")])


async def _wait_until(pilot, check) -> None:
    for _ in range(500):
        if check():
            return
        await pilot.pause()
    raise AssertionError("never happened")


def _replying_app(settings):
    """An app on a new session whose reply streams its first piece and then hangs."""
    from rfpilot.tui.app import RfpilotApp

    sid = asyncio.run(_session(settings, "Copier cannot scan to the share"))
    return RfpilotApp(settings, open_session=sid, clock=lambda: NOW, provider_factory=_hanging_provider)


async def _send_and_wait_for_the_first_piece(pilot):
    transcript = pilot.app.screen.query_one("#transcript")
    pilot.app.screen.composer.focus()
    await pilot.press(*"scan fails", "enter")
    await _wait_until(pilot, lambda: "Checking the scan" in transcript.live_text)
    return transcript


def test_the_placeholder_goes_with_the_first_message_and_an_interrupted_reply_keeps_its_marker(fresh) -> None:
    app = _replying_app(fresh)

    async def go() -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            assert app.screen.query_one("#transcript").query(".empty")
            transcript = await _send_and_wait_for_the_first_piece(pilot)
            assert not transcript.query(".empty"), "No messages yet… stays above the first message"
            await pilot.press("ctrl+c")
            await _wait_until(pilot, lambda: transcript.query(".interrupted-marker"))
            await pilot.pause()
            # Long after the notification faded: the marker, the partial reply and the message say so.
            for toast in list(app.screen.query("Toast")):
                await toast.remove()
            shown = " ".join(str(w.render()) for w in transcript.query(".interrupted-marker"))
            assert "interrupted" in shown
            assert transcript.query(".bubble.assistant.interrupted")
            user = transcript.query(".bubble.user").last()
            assert user.has_class("interrupted") and "interrupted" in str(user.border_title)

    asyncio.run(go())


# --- one word per state, from core ------------------------------------------------------------------------


def test_lane_and_banner_say_the_same_about_an_applied_fix(seeded) -> None:
    """After Apply the lane said "proposed" while the banner said "Verifying"."""
    settings, ids = seeded

    async def go() -> None:
        app = make_app(settings, ids["verifying"])
        async with app.run_test(size=(160, 50)) as pilot:
            await settle(pilot)
            fix = str(app.screen.query_one(".lane-fix").render())
            banner = str(app.screen.query_one("#banner-text").render())
            assert banner.startswith("Verifying")
            assert "· verifying" in fix and "proposed" not in fix, fix

    asyncio.run(go())


def test_a_parked_session_is_parked_in_the_header_and_in_the_queue(fresh) -> None:
    from rfpilot.core.team import handoffs
    from rfpilot.core.context import Workspace
    from rfpilot.core.session.sessions import create_session

    async def park() -> str:
        ws = await Workspace.open(fresh, clock=lambda: NOW - timedelta(minutes=5))
        try:
            async with ws.ctx() as ctx:
                row = await create_session(ctx, "VPN drops every ten minutes")
                await handoffs.park(ctx, row, "the user's home router reboot")
                return row.id
        finally:
            await ws.close()

    sid = asyncio.run(park())

    async def go() -> None:
        app = make_app(fresh, sid)
        async with app.run_test(size=(160, 50)) as pilot:
            await settle(pilot)
            header = str(app.screen.query_one("#header").render())
            assert "· parked ·" in header and "paused" not in header, header
            async with app.ctx() as ctx:
                items = await handoffs.queue(ctx)
            assert [i["status_word"] for i in items] == ["parked"]

    asyncio.run(go())


# --- the fork dialog ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(80, 24), (160, 50)], ids=["80x24", "160x50"])
def test_the_fork_fields_have_borders_and_ctrl_j_adds_a_line(size) -> None:
    from tests.test_tui_branches import branch_map, type_text
    from tests.test_tui_branches import settle as settle_map

    async def go() -> None:
        app = branch_map()
        async with app.run_test(size=size) as pilot:
            await settle_map(pilot)
            await pilot.press("f")
            await pilot.pause()
            reason, options = app.screen.query_one("#bmap-reason"), app.screen.query_one("#bmap-options")
            for field in (reason, options):
                assert field.styles.border_top[0] not in ("", "none", "hidden"), field.id
                assert field.region.height >= 3 and field.region.width > 20, (field.id, field.region)
            await type_text(pilot, "Which resolver answers")
            await pilot.press("enter")
            assert app.focused is options
            await type_text(pilot, "NRPT: a stale rule")
            await pilot.press("ctrl+j")
            await type_text(pilot, "Hosts file: an old entry")
            assert options.text == "NRPT: a stale rule\nHosts file: an old entry"
            assert options.region.bottom <= app.screen.query_one("#bmap").region.bottom

    asyncio.run(go())


def test_quitting_mid_reply_draws_no_marker_and_exits(fresh) -> None:
    """The marker is for a stopped reply; quitting cancels the reply too and must not draw on a closing app."""
    app = _replying_app(fresh)

    async def go() -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            transcript = await _send_and_wait_for_the_first_piece(pilot)
            await pilot.press("ctrl+q")
            await pilot.pause()
            assert not transcript.query(".interrupted-marker")
        assert app.return_code in (0, None)

    asyncio.run(go())


async def test_list_headings_count_their_sessions_and_say_when_it_is_a_lower_bound() -> None:
    """"Active · 3 sessions"; while more chunks wait in the store, a count is only what is loaded: "50+"."""
    from textual.app import App

    from rfpilot.tui.rows import SessionRowView
    from rfpilot.tui.widgets.session_list import SessionList

    def rows(status: str, n: int, start: int = 0) -> list[SessionRowView]:
        return [SessionRowView(id=f"{status}{i:04}", title=f"{status} {i}", status=status, client=None,
                               ticket_ref=None, age="1m") for i in range(start, start + n)]

    class Host(App):
        def compose(self):
            yield SessionList(id="sessions")

    app = Host()
    async with app.run_test(size=(60, 30)) as pilot:
        listing = app.query_one(SessionList)

        def headings() -> list[str]:
            return [str(o.prompt) for o in listing._options if o.disabled]

        listing.set_sessions(rows("active", 50), cursor="more")  # a full first chunk of open sessions
        await pilot.pause()
        assert headings() == ["Active · 50+ sessions"]
        listing._append(rows("active", 2, 50) + rows("resolved", 48), cursor="more")  # the open ones end here
        await pilot.pause()
        assert headings() == ["Active · 52 sessions", "Recent · 48+ sessions"]
        listing._append(rows("resolved", 1, 48), cursor=None)  # the last chunk
        await pilot.pause()
        assert headings() == ["Active · 52 sessions", "Recent · 49 sessions"]
        listing.set_sessions(rows("paused", 1), cursor=None)  # a filter that matches one
        await pilot.pause()
        assert headings() == ["Active · 1 session"]
        assert listing.highlighted == 1  # the heading is never highlighted or opened
