"""Live team views with two processes, on both stores: the TUI runs here under Pilot; a teammate runs the real
`rfpilot` CLI in a second process (subprocess). The session list, the open session and the queue show the
teammate's new session, fact, park, claim and resolve without a key pressed here.

Each wait is generous (a loaded machine) and only for correctness: how fast an update arrives is measured by
bench/live.py, never here."""

from __future__ import annotations

import asyncio
import json
import os
import sys

from rfpilot.config import load_settings

WAIT = 20.0  # seconds
CLI_WAIT = 120.0


async def teammate(env: dict[str, str], *args: str) -> str:
    """Run `rfpilot ARGS…` in another process as another engineer of the same team; its stdout."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "rfpilot", *args,
        env={**os.environ, **env, "RFPILOT_USER_EMAIL": "mate@example.com", "RFPILOT_USER_NAME": "Mate"},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), CLI_WAIT)
    assert proc.returncode == 0, (args, proc.returncode, err.decode())
    return out.decode()


async def shows(pilot, what: str, check) -> None:
    """Until ``check()`` is true (the app keeps running meanwhile), at most WAIT seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while loop.time() < deadline:
        if check():
            return
        await pilot.pause(0.05)
    app = pilot.app
    raise AssertionError(f"the TUI never showed {what} within {WAIT}s; workers: "
                         f"{[(w.group, w.state.name, type(w.node).__name__) for w in app.workers]}")


def _list_text(app) -> str:
    from rfpilot.tui.widgets.session_list import SessionList

    listing = app.screen_stack[0].query_one(SessionList)
    return "\n".join(str(listing.get_option_at_index(i).prompt) for i in range(listing.option_count))


def _lane_text(app) -> str:
    return "\n".join(w.body.rest.plain for w in app.screen_stack[0].query(".lane-row"))


def _queue_text(app) -> str:
    listing = app.screen.query_one("#queue-list")
    return "\n".join(str(listing.get_option_at_index(i).prompt) for i in range(listing.option_count))


async def test_a_teammates_changes_show_in_the_tui(env) -> None:
    from rfpilot.tui.app import RfpilotApp
    from rfpilot.tui.screens.queue import QueueScreen
    from rfpilot.tui.widgets.session_list import SessionList

    settings = load_settings(env=env)
    app = RfpilotApp(settings)
    async with app.run_test(size=(150, 45)) as pilot:
        await shows(pilot, "the store open and followed", lambda: app.live is not None)
        main = app.screen

        # A teammate starts a session: it shows in the list.
        sid = json.loads(await teammate(env, "new", "Copier cannot scan to the share after the password change",
                                        "--client", "Dunmore Dental", "--json"))["id"]
        await shows(pilot, "the teammate's new session in the list",
                    lambda: "Copier cannot scan" in _list_text(app))

        # Open it here; the teammate adds a fact: it shows in the lane.
        listing = main.query_one(SessionList)
        assert listing.select_session(sid)
        listing.focus()
        await pilot.press("enter")
        await shows(pilot, "the session open", lambda: main.snap is not None and main.session_id == sid)
        await teammate(env, "facts", "add", sid, "The scan account's password was rotated on Monday")
        await shows(pilot, "the teammate's fact in the lane", lambda: "rotated on Monday" in _lane_text(app))

        # Park one of ours; open the queue; the teammate parks theirs: the queue shows both.
        from rfpilot.core.session.sessions import create_session
        from rfpilot.core.team import handoffs

        async with app.ctx() as ctx:
            mine = await create_session(ctx, "Outlook asks for the password every hour")
            handoff = await handoffs.park(ctx, mine, "the client to try the new profile")
        await pilot.press("f5")
        await shows(pilot, "the queue", lambda: isinstance(app.screen, QueueScreen))
        await shows(pilot, "our handoff in the queue", lambda: "Outlook asks" in _queue_text(app))
        await teammate(env, "park", sid, "--waiting-on", "the client's admin to reset the scan account")
        await shows(pilot, "the teammate's park in the queue",
                    lambda: "Copier cannot scan" in _queue_text(app) and "Outlook asks" in _queue_text(app))

        # The teammate claims ours: it leaves the queue.
        await teammate(env, "queue", "claim", handoff.id, "--offline")
        await shows(pilot, "the claim", lambda: "Outlook asks" not in _queue_text(app)
                    and "Copier cannot scan" in _queue_text(app))
        await pilot.press("escape")
        await shows(pilot, "the main screen", lambda: app.screen is main)
        assert main.snap is not None and main.snap.details["session"]["status"] == "paused"

        # The teammate resolves theirs, which is open here: the open session and its list row follow.
        await teammate(env, "resolve", sid, "--yes", "--offline", "--local")
        await shows(pilot, "the resolve on the open session",
                    lambda: main.snap is not None and main.snap.details["session"]["status"] == "resolved")
        await shows(pilot, "the session list's resolved mark", lambda: any(
            r.id == sid and r.status == "resolved" for r in listing.rows))
        assert main.composer.disabled  # nothing more to send to a resolved session
        await pilot.press("ctrl+q")
    assert app.return_code == 0 and app._exception is None


async def test_the_tui_survives_a_dropped_listener_and_quits_cleanly(env, caplog) -> None:
    """Postgres: the listening connection is killed under the running TUI; it reconnects and a teammate's new
    session still shows. Both stores: quitting closes the feed with nothing logged above INFO, no asyncio error,
    no task left running and (Postgres) no listening connection left on the server."""
    import logging

    from sqlalchemy import text as sql

    from rfpilot.core.context import Workspace
    from rfpilot.core.session.sessions import create_session
    from rfpilot.tui.app import RfpilotApp

    caplog.set_level(logging.WARNING)
    loop_errors: list[str] = []
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _l, context: loop_errors.append(str(context.get("message"))))
    mate = await Workspace.open(load_settings(env={**env, "RFPILOT_USER_EMAIL": "mate@example.com"}))
    try:
        app = RfpilotApp(load_settings(env=env))
        async with app.run_test(size=(150, 45)) as pilot:
            await shows(pilot, "the store open and followed", lambda: app.live is not None)
            feed = app.live.feed
            if mate.store.dialect == "postgresql":
                await asyncio.wait_for(feed.listening.wait(), WAIT)
                async with mate.ctx() as ctx:
                    await ctx.db.execute(sql("SELECT pg_terminate_backend(:p)"), {"p": feed.backend_pid})
                    await ctx.db.commit()
                await shows(pilot, "the listener back", lambda: feed.connects >= 2 and feed.listening.is_set())
            async with mate.ctx() as ctx:
                await create_session(ctx, "Mailbox quota warnings after the migration")
            await shows(pilot, "the teammate's session", lambda: "Mailbox quota" in _list_text(app))
            await pilot.press("ctrl+q")
        assert app.return_code == 0 and app._exception is None
        assert app.live is None and feed.closed
        assert not {t.get_name() for t in asyncio.all_tasks()} & {"PostgresFeed", "SqliteFeed"}
        if mate.store.dialect == "postgresql":
            async with mate.ctx() as ctx:
                listening = (await ctx.db.execute(sql(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND query LIKE 'LISTEN%'"))).scalar()
            assert listening == 0
    finally:
        await mate.close()
        loop.set_exception_handler(previous)
    logged = [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.WARNING]
    assert not logged and not loop_errors, (logged, loop_errors)
