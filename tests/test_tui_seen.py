"""The task lane's "Seen before" section (issue 17 part 2): what it shows, the read-only view of an earlier session
beside the current one, and a dismissal from the lane that the store keeps. Snapshots at 80x24 and 160x50."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import timedelta
from pathlib import Path
from unittest import mock

import pytest

from rfpilot.config import load_settings
from test_tui_snapshots import NOW, _wait_for, fixed_clock, make_app, settle

NOTE = "## Problem\nScans fail.\n## Cause\nA rotated password.\n## Fix\nUpdated it.\n## Verification\nA scan saved.\n"
HOSTILE_TITLE = "Copier scan to folder fails \x1b]0;owned\x07after the password rotation \x1b[2J"
HOSTILE_FIX = "Update the SMB password on the copier \x1b[31mnow"


async def _seed(settings) -> dict[str, str]:
    from rfpilot.core.closeout.closing import escalate_session, resolve_session
    from rfpilot.core.context import Workspace
    from rfpilot.core.session import facts, fixes
    from rfpilot.core.session.sessions import create_session

    ws = await Workspace.open(settings, clock=fixed_clock(NOW - timedelta(hours=3)))
    ids: dict[str, str] = {}
    try:
        async with ws.ctx() as ctx:
            earlier = await create_session(ctx, "Scans stop reaching the share after the password rotation",
                                           title=HOSTILE_TITLE, client="Contoso Dental")
            await facts.add_note(ctx, earlier, "The copier still had the old SMB password")
            fix = await fixes.suggest_fix(ctx, earlier, HOSTILE_FIX, confidence=80, description="It kept the old one.")
            await fixes.record_outcome(ctx, earlier, fix, "success")
            await resolve_session(ctx, earlier, NOTE, local=True)
            up = await create_session(ctx, "Copier scan to folder fails after the password rotation on the NAS",
                                      client="Fabrikam")
            await escalate_session(ctx, up, NOTE, reason="The NAS vendor must reset the share", local=True)
            now = await create_session(ctx, "Copier scan to folder fails after the password rotation",
                                       client="Contoso Dental")
            ids.update(earlier=earlier.id, escalated=up.id, now=now.id)
    finally:
        await ws.close()
    return ids


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> tuple[object, dict[str, str]]:
    tmp: Path = tmp_path_factory.mktemp("seen")
    settings = load_settings(env={
        "RFPILOT_HOME": str(tmp / "home"),
        "RFPILOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'seen.db'}",
        "RFPILOT_ACCOUNT": "snapshots",
        "RFPILOT_USER_EMAIL": "snap@example.com",
        "RFPILOT_USER_NAME": "Snap Shot",
        "RFPILOT_LLM_PROVIDER": "offline",
        "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
    })
    # Fixed ids: the lane shows them (#abcd1234), and a snapshot must not change from one run to the next.
    rng = random.Random(17)
    with mock.patch("uuid.uuid4", lambda: uuid.UUID(int=rng.getrandbits(128), version=4)):
        return settings, asyncio.run(_seed(settings))


async def _seen_rows(pilot):
    from rfpilot.tui.widgets.lane import SeenRow

    return list(pilot.app.screen.query(SeenRow))


def test_lane_with_matches_at_160x50(snap_compare, seeded) -> None:
    settings, ids = seeded
    assert snap_compare(make_app(settings, ids["now"]), terminal_size=(160, 50), run_before=settle)


def test_lane_with_matches_at_80x24(snap_compare, seeded) -> None:
    settings, ids = seeded

    async def before(pilot) -> None:
        await settle(pilot)
        await pilot.press("ctrl+l")
        rows = await _seen_rows(pilot)
        rows[0].focus()
        pilot.app.screen.query_one("#lane").scroll_to_widget(rows[0], animate=False)
        await pilot.pause()

    assert snap_compare(make_app(settings, ids["now"]), terminal_size=(80, 24), run_before=before)


def test_earlier_session_read_only_beside(snap_compare, seeded) -> None:
    settings, ids = seeded

    async def before(pilot) -> None:
        await settle(pilot)
        rows = await _seen_rows(pilot)
        rows[0].focus()
        await pilot.press("enter")
        await _wait_for(pilot, "SeenSessionScreen")

    assert snap_compare(make_app(settings, ids["now"]), terminal_size=(160, 50), run_before=before)


async def test_the_lane_shows_the_matches_inert_and_a_dismissal_is_kept(tmp_path) -> None:
    from sqlalchemy import select

    from rfpilot.core.context import Workspace
    from rfpilot.db.models import SeenBeforeMatch
    from rfpilot.tui.screens.seen import SeenSessionScreen

    settings = load_settings(env={
        "RFPILOT_HOME": str(tmp_path / "home"), "RFPILOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 's.db'}",
        "RFPILOT_ACCOUNT": "pilot", "RFPILOT_USER_EMAIL": "p@example.com", "RFPILOT_USER_NAME": "P",
        "RFPILOT_LLM_PROVIDER": "offline", "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"})
    ids = await _seed(settings)
    app = make_app(settings, ids["now"])
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot)
        rows = await _seen_rows(pilot)
        assert [r.match["id"] for r in rows] == [ids["earlier"], ids["escalated"]]
        shown = str(rows[0].body)
        assert "\x1b" not in shown and "\x07" not in shown and "\ufffd]0;owned\ufffd" in shown
        assert "fixed by Update the SMB password on the copier" in shown and f"#{ids['earlier'][:8]}" in shown
        assert "escalated: The NAS vendor must reset the share" in str(rows[1].body)
        # enter: the earlier session, read-only, beside this one; esc closes it and changes nothing.
        rows[0].focus()
        await pilot.press("enter")
        await _wait_for(pilot, "SeenSessionScreen")
        panel = str(pilot.app.screen.query_one("#seen-text").render())
        assert "The copier still had the old SMB password" in panel and "\x1b" not in panel
        assert isinstance(pilot.app.screen, SeenSessionScreen)
        await pilot.press("escape")
        await pilot.pause()
        # x on the row: dismissed in the store, gone from the lane.
        rows = await _seen_rows(pilot)
        rows[0].focus()
        await pilot.press("x")
        await settle(pilot)
        assert [r.match["id"] for r in await _seen_rows(pilot)] == [ids["escalated"]]
    ws = await Workspace.open(settings)
    try:
        async with ws.ctx() as ctx:
            stored = {m.match_session_id: m for m in (await ctx.db.execute(
                select(SeenBeforeMatch).where(SeenBeforeMatch.session_id == ids["now"]))).scalars()}
            assert stored[ids["earlier"]].dismissed_at is not None
            assert stored[ids["earlier"]].dismissed_by == ctx.engineer.id
            assert stored[ids["escalated"]].dismissed_at is None
    finally:
        await ws.close()


async def test_a_teammate_sees_the_matches_and_cannot_dismiss_them(tmp_path) -> None:
    from sqlalchemy import func, select

    from rfpilot.core.context import Workspace
    from rfpilot.db.models import SeenBeforeMatch

    env = {"RFPILOT_HOME": str(tmp_path / "home"), "RFPILOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 's.db'}",
           "RFPILOT_ACCOUNT": "pilot", "RFPILOT_USER_EMAIL": "p@example.com", "RFPILOT_USER_NAME": "P",
           "RFPILOT_LLM_PROVIDER": "offline", "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    ids = await _seed(load_settings(env=env))
    mate = load_settings(env={**env, "RFPILOT_HOME": str(tmp_path / "mate"), "RFPILOT_USER_EMAIL": "m@example.com",
                              "RFPILOT_USER_NAME": "Mate"})
    app = make_app(mate, ids["now"])
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot)
        rows = await _seen_rows(pilot)
        assert [r.match["id"] for r in rows] == [ids["earlier"], ids["escalated"]]
        rows[0].focus()
        await pilot.press("x")
        await settle(pilot)
        assert [r.match["id"] for r in await _seen_rows(pilot)] == [ids["earlier"], ids["escalated"]]
        assert any("belongs to" in str(n.message) for n in pilot.app._notifications)
    ws = await Workspace.open(mate)
    try:
        async with ws.ctx() as ctx:
            dismissed = (await ctx.db.execute(select(func.count()).select_from(SeenBeforeMatch).where(
                SeenBeforeMatch.dismissed_at.is_not(None)))).scalar_one()
            assert dismissed == 0
    finally:
        await ws.close()
