"""Branches, handoffs, the queue and resolution outputs in the running TUI, asserting on the store."""

from __future__ import annotations

import asyncio
import json

from rfpilot.core.llm.scripted import ScriptedProvider, ScriptedReply
from tests.test_tui import settle, tui_settings, wait_for_screen  # noqa: F401

FORK = "[FORK]\n" + json.dumps({"fork_reason": "Network or DNS?", "options": [
    {"label": "Network", "description": "ping the gateway"},
    {"label": "DNS", "description": "nslookup against both servers"}]}) + "\n[/FORK]"


async def _seed(settings) -> str:
    from rfpilot.core.engine import chat
    from rfpilot.core.context import Workspace
    from rfpilot.core.session.sessions import create_session

    ws = await Workspace.open(settings)
    try:
        async with ws.ctx() as ctx:
            row = await create_session(ctx, "Name resolution fails on some laptops")
            await chat.send(ctx, row, "Some laptops cannot resolve intranet names",
                            ScriptedProvider([ScriptedReply(reply="It could be either.\n\n" + FORK)]))
            return row.id
    finally:
        await ws.close()


async def _state(app, sid):
    from rfpilot.core.session import branches
    from rfpilot.core.team import handoffs
    from rfpilot.core.session.sessions import get_session

    async with app.ctx() as ctx:
        row = await get_session(ctx, sid)
        return row, await branches.branch_map(ctx, row), await handoffs.queue(ctx)


async def test_fork_card_branch_map_handoff_and_claim(tui_settings) -> None:
    from rfpilot.tui.app import RfpilotApp
    from rfpilot.tui.screens.branch_map import BranchMapScreen
    from rfpilot.tui.screens.handoff import HandoffDialog
    from rfpilot.tui.screens.queue import QueueScreen
    from rfpilot.tui.widgets.forks import ForkCard

    sid = await _seed(tui_settings)
    app = RfpilotApp(tui_settings, open_session=sid)
    async with app.run_test(size=(140, 45)) as pilot:
        await settle(pilot)
        card = app.screen.query_one(ForkCard)
        shown = str(card.render())
        assert "Forked: Network or DNS?" in shown and "Network" in shown and "DNS" in shown

        # The branch map: switch to DNS.
        await pilot.press("f4")
        await wait_for_screen(pilot, BranchMapScreen)
        tree = app.screen.query_one("Tree")
        dns_line = next(n for n in tree.root.children[0].children if "DNS" in str(n.label))
        tree.move_cursor(dns_line)
        await pilot.pause()
        await pilot.press("enter")
        await settle(pilot)
        _, views, _ = await _state(app, sid)
        assert next(b for b in views if b["label"] == "DNS")["active"]
        assert "⋔ DNS" in str(app.screen.query_one("#header").render())
        assert "Switched" in " ".join(str(w.render()) for w in app.screen.query(".branch-notice"))

        # Park it: it waits in the queue; then claim it back.
        await pilot.press("f6")
        await wait_for_screen(pilot, HandoffDialog)
        app.screen.query_one("#handoff-text").insert("The user's reply about the VPN client version")
        await pilot.press("ctrl+s")
        await settle(pilot)
        row, _, queue = await _state(app, sid)
        assert row.status == "paused" and [q["session_id"] for q in queue] == [sid]
        await pilot.press("f5")
        await wait_for_screen(pilot, QueueScreen)
        for _ in range(100):
            if app.screen.query_one("#queue-list").option_count:
                break
            await asyncio.sleep(0.02)
        app.screen.query_one("#queue-list").highlighted = 0
        app.screen.query_one("#queue-list").focus()
        await pilot.press("enter")
        for _ in range(200):
            if "waits on" in str(app.screen.query_one("#queue-detail-text").render()).lower() or \
                    "briefing" in str(app.screen.query_one("#queue-detail-text").render()).lower():
                break
            await asyncio.sleep(0.02)
        await pilot.press("enter")  # open the session
        await settle(pilot)
        row, _, queue = await _state(app, sid)
        assert row.status == "active" and queue == []


async def test_outputs_after_resolve(tui_settings) -> None:
    from rfpilot.core.closeout import closing
    from rfpilot.core.context import Workspace
    from rfpilot.core.session.sessions import get_session
    from rfpilot.tui.app import RfpilotApp
    from rfpilot.tui.screens.outputs import OutputsScreen

    sid = await _seed(tui_settings)
    ws = await Workspace.open(tui_settings)
    async with ws.ctx() as ctx:
        row = await get_session(ctx, sid)
        await closing.resolve_session(ctx, row, "## Problem\nNames did not resolve.\n\n## Resolution\nFlushed DNS.")
        from rfpilot.core.team.outputs import generate_all

        await generate_all(ctx, row, None)
    await ws.close()
    app = RfpilotApp(tui_settings, open_session=sid)
    async with app.run_test(size=(140, 45)) as pilot:
        await settle(pilot)
        await pilot.press("f7")
        await wait_for_screen(pilot, OutputsScreen)
        await pilot.press("a")  # approve the ticket notes (the first tab)
        await pilot.pause(0.3)
        from rfpilot.core.team import outputs

        async with app.ctx() as ctx:
            row = await get_session(ctx, sid)
            statuses = {o.output_type: o.status for o in await outputs.list_outputs(ctx, row)}
        assert statuses == {"psa_ticket_notes": "approved", "knowledge_base": "draft", "client_summary": "draft"}
