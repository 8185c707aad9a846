"""The PSA in the TUI: start from a ticket, post and see the result in the editor, a queued write, retry."""

from __future__ import annotations

import asyncio

from rfpilot.core.closeout import psa
from tests.test_tui import post_from_preview, settle, store_state, tui_settings, wait_for_screen  # noqa: F401


async def _connect(settings, fake) -> None:
    from rfpilot.core.context import Workspace

    ws = await Workspace.open(settings)
    try:
        async with ws.ctx() as ctx:
            values, secrets = fake.connection(member="jdoe")
            await psa.connect(ctx, "connectwise", "main", values, secrets,
                              targets={"resolve": {"": "Resolved"}})
    finally:
        await ws.close()


async def _header(app) -> str:
    return str(app.screen.query_one("#header").render())


async def test_start_from_a_ticket_then_resolve_on_it(tui_settings, cw, memory_keyring) -> None:
    from rfpilot.tui.app import RfpilotApp
    from rfpilot.tui.screens.preview import PreviewScreen
    from rfpilot.tui.screens.ticket_picker import TicketPicker

    cw.seed_ticket(48311, summary="Printer offline on floor 2")
    await _connect(tui_settings, cw)
    app = RfpilotApp(tui_settings)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        await pilot.press("f2")
        await wait_for_screen(pilot, TicketPicker)
        for _ in range(100):
            if app.screen.query_one("#tickets").option_count:
                break
            await asyncio.sleep(0.02)
        shown = [str(o.prompt) for o in app.screen.query_one("#tickets").options]
        assert any("CW #48307" in s and "Outlook keeps asking" in s for s in shown)
        option_ids = [o.id for o in app.screen.query_one("#tickets").options]
        app.screen.query_one("#tickets").highlighted = option_ids.index("48307")
        await pilot.press("enter")
        await settle(pilot)
        sid = app.screen.session_id
        assert sid is not None and "CW #48307" in await _header(app)
        snap = await store_state(app, sid)
        assert snap.details["session"]["linked"] and snap.details["session"]["client"] == "Contoso Ltd"

        await app.run_command("resolve")
        await wait_for_screen(pilot, PreviewScreen)
        assert "posts to CW #48307 (resolution note, customer-visible)" in str(
            app.screen.query("Static").first().render())
        lines = await post_from_preview(pilot)
        assert "posted on CW #48307" in lines[0] and "ticket status is now 'Resolved'" in lines[1]
        assert cw.tickets[48307]["status"]["name"] == "Resolved"
        snap = await store_state(app, sid)
        assert snap.details["session"]["status"] == "resolved"


async def test_a_queued_write_shows_and_retries(tui_settings, cw, memory_keyring) -> None:
    from rfpilot.core.context import Workspace
    from rfpilot.core.closeout.tickets import session_from_ticket
    from rfpilot.tui.app import RfpilotApp
    from rfpilot.tui.screens.preview import PreviewScreen

    await _connect(tui_settings, cw)
    ws = await Workspace.open(tui_settings)
    async with ws.ctx() as ctx:
        sid = (await session_from_ticket(ctx, "48307")).id
    await ws.close()
    app = RfpilotApp(tui_settings, open_session=sid)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        cw.down = True
        await app.run_command("resolve")
        await wait_for_screen(pilot, PreviewScreen)
        lines = await post_from_preview(pilot)
        assert lines[0].startswith("Queued: ConnectWise is unreachable")
        assert "⧗ resolution note queued" in await _header(app)
        cw.down = False
        await app.run_command("action_retry_delivery")
        await settle(pilot)
        snap = await store_state(app, sid)
        assert snap.details["session"]["status"] == "resolved" and snap.details["psa_delivery"] is None
        assert "queued" not in await _header(app)
        assert len(cw.notes[48307]) == 2  # the description and our one note
        # Delivered: the header names the note and the status read back (SPEC §9).
        note_id = cw.notes[48307][-1]["id"]
        assert f"✓ resolution note posted as note {note_id} · status Resolved verified" in await _header(app)
