"""Quitting (ctrl+q) or ctrl+c at any point of any TUI worker: a clean exit (code 0, no traceback, nothing
logged), the engineer's message `interrupted` (never `sent`), a consistent store. On both stores.

Every worker goes through rfpilot.tui.workers: the AST test fails when one is started another way, and every
scenario checks at run time that each worker it saw went through it."""

from __future__ import annotations

import ast
import asyncio
import logging
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy import text as sql

from rfpilot.core.llm.base import LLMResult
from rfpilot.core.llm.scripted import ScriptedProvider, ScriptedReply

pytest.importorskip("textual")

TUI = Path(__file__).resolve().parents[1] / "rfpilot" / "tui"
REPLY = ("The scan account's password probably changed. " * 12
         + '\n[QUESTIONS]\n[{"text": "Did the password change?"}]\n[/QUESTIONS]')


# --- every worker goes through the wrapper --------------------------------------------------


def test_every_tui_worker_goes_through_the_cancel_safe_wrapper() -> None:
    """No `@work`, `textual.work` or `run_worker(` in rfpilot/tui except inside rfpilot/tui/workers.py."""
    offenders = []
    for path in sorted(TUI.rglob("*.py")):
        if path.name == "workers.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            where = f"{path.relative_to(TUI.parent.parent)}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.ImportFrom) and node.module == "textual" and any(
                    a.name == "work" for a in node.names):
                offenders.append(f"{where} imports textual.work")
            elif isinstance(node, ast.Attribute) and node.attr in ("run_worker", "work") and (
                    node.attr == "run_worker" or getattr(node.value, "id", None) == "textual"):
                offenders.append(f"{where} uses .{node.attr}")
            elif isinstance(node, ast.Name) and node.id == "work" and isinstance(node.ctx, ast.Load):
                offenders.append(f"{where} uses work")
    assert not offenders, "start workers with rfpilot.tui.workers (worker / start_worker):\n" + "\n".join(offenders)


# --- helpers -------------------------------------------------------------------------------------


class GatedProvider(ScriptedProvider):
    """The scripted provider, one permit per streamed chunk: the test decides how far the reply gets."""

    def __init__(self) -> None:
        super().__init__([ScriptedReply(reply=REPLY), ScriptedReply(reply="Cable", action="title")])
        self.gate = asyncio.Semaphore(0)
        self.chunks = 0
        self.waiting = asyncio.Event()  # the stream is waiting for its next permit
        self.titling = asyncio.Event()

    async def stream(self, request):
        async for part in super().stream(request):
            if not isinstance(part, LLMResult):
                self.waiting.set()
                await self.gate.acquire()
                self.waiting.clear()
                self.chunks += 1
            yield part

    def allow(self, chunks: int) -> None:
        for _ in range(chunks):
            self.gate.release()

    async def complete(self, request):
        self.titling.set()
        await asyncio.Event().wait()  # the title call never answers: the quit lands in it
        raise AssertionError("unreachable")


async def until(predicate, what: str) -> None:
    for _ in range(1000):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never reached: {what}")


def hang_in_a_transaction(reached: asyncio.Event):
    """A core call that opens a transaction, runs a query and never returns: the quit cuts it in half."""

    async def hang(ctx, *args, **kwargs):
        async with ctx.tx():
            await ctx.db.execute(sql("select 1"))
            reached.set()
            await asyncio.Event().wait()

    return hang


class Watch:
    """What must stay empty: asyncio's unhandled errors, warnings and errors logged, workers not wrapped."""

    def __init__(self, monkeypatch, caplog) -> None:
        from textual.worker_manager import WorkerManager

        self.loop_errors: list[str] = []
        self.workers: list = []
        self.caplog = caplog
        caplog.set_level(logging.WARNING)
        loop = asyncio.get_running_loop()
        self.previous = loop.get_exception_handler()
        loop.set_exception_handler(lambda _loop, context: self.loop_errors.append(str(context.get("message"))
                                                                                   + repr(context.get("exception"))))
        add = WorkerManager.add_worker

        def add_worker(manager, worker, start=True, exclusive=True):
            self.workers.append(worker)
            return add(manager, worker, start, exclusive)

        monkeypatch.setattr(WorkerManager, "add_worker", add_worker)

    def check(self, app, capsys) -> None:
        asyncio.get_running_loop().set_exception_handler(self.previous)
        assert app.return_code == 0 and app._exception is None, app._exception
        assert self.workers and all(getattr(w, "cancel_safe", False) for w in self.workers), \
            [w.name for w in self.workers if not getattr(w, "cancel_safe", False)]
        err = capsys.readouterr().err
        assert "Traceback" not in err and "Error" not in err, err
        logged = [f"{r.name}: {r.getMessage()}" for r in self.caplog.records if r.levelno >= logging.WARNING]
        assert not logged and not self.loop_errors, (logged, self.loop_errors)


async def open_app(settings, provider):
    from rfpilot.tui.app import RfpilotApp

    return RfpilotApp(settings, provider_factory=lambda: provider)


async def new_session(app) -> str:
    from rfpilot.core.session.sessions import create_session

    await until(lambda: app.workspace is not None and app.screen.ready.is_set(), "the store is open")
    async with app.ctx() as ctx:
        return (await create_session(ctx, "Copier cannot scan to the share")).id


async def stored_messages(settings, session_id: str) -> list[tuple[str, str]]:
    from rfpilot.core.context import Workspace
    from rfpilot.db.models import Message

    ws = await Workspace.open(settings)
    try:
        async with ws.ctx() as ctx:
            rows = await ctx.db.execute(select(Message.role, Message.status)
                                        .where(Message.session_id == session_id).order_by(Message.seq))
            return [tuple(r) for r in rows.all()]
    finally:
        await ws.close()


# --- quitting mid-reply ---------------------------------------------------------------------------

POINTS = ["showing the message", "before the first chunk", "after one chunk", "after ten chunks",
          "applying the reply", "naming the session", "ctrl+c then ctrl+q"]


@pytest.mark.parametrize("point", POINTS)
async def test_quitting_at_any_point_of_a_streamed_reply(settings, point, monkeypatch, caplog, capsys) -> None:
    from rfpilot.core.engine import chat
    from rfpilot.tui.widgets.transcript import Transcript

    watch = Watch(monkeypatch, caplog)
    provider = GatedProvider()
    reached = asyncio.Event()
    if point == "showing the message":
        async def slow_start(self) -> None:
            reached.set()
            await asyncio.Event().wait()

        monkeypatch.setattr(Transcript, "start_reply", slow_start)
    if point == "applying the reply":
        monkeypatch.setattr(chat, "_apply_outcome", lambda *a, **k: hang_in_a_transaction(reached)(a[0]))
    app = await open_app(settings, provider)
    async with app.run_test(size=(120, 40)) as pilot:
        sid = await new_session(app)
        if point == "naming the session":
            from rfpilot.core.session.sessions import get_session

            async with app.ctx() as ctx:
                row = await get_session(ctx, sid)
                async with ctx.tx():
                    row.title = None  # untitled: the first reply is followed by the title call
        await app.screen.load_session(sid)
        app.screen.send("The copier cannot scan since this morning")
        if point == "showing the message":
            await until(reached.is_set, "the message shown")
        elif point == "before the first chunk":
            await until(provider.waiting.is_set, "the stream waiting")
        elif point in ("after one chunk", "after ten chunks", "ctrl+c then ctrl+q"):
            wanted = {"after one chunk": 1, "after ten chunks": 10}.get(point, 3)
            provider.allow(wanted)
            await until(lambda: provider.chunks >= wanted and provider.waiting.is_set(), "the chunks streamed")
        else:
            provider.allow(10_000)
            await until(reached.is_set if point == "applying the reply" else provider.titling.is_set,
                        "the reply applied" if point == "applying the reply" else "the title asked for")
        if point == "ctrl+c then ctrl+q":
            await pilot.press("ctrl+c")  # stops the reply, the app stays
            await until(lambda: not any(w.group == "chat" for w in app.workers), "the reply stopped")
            assert await stored_messages(settings, sid) == [("user", "interrupted")]
            assert app.is_running
        await pilot.press("ctrl+q")
    watch.check(app, capsys)
    stored = await stored_messages(settings, sid)
    if point == "naming the session":  # the reply was stored before the quit: it stays complete
        assert stored == [("user", "complete"), ("assistant", "complete")]
    else:  # never `sent`, and no half-written reply marked complete
        assert stored == [("user", "interrupted")]


# --- quitting in the middle of each other worker -----------------------------------------------------

WORKERS = ["new session", "resolve drafting", "outbox sync", "queue refresh", "ticket loading", "outputs loading",
           "lane action"]


@pytest.mark.parametrize("which", WORKERS)
async def test_quitting_in_the_middle_of_each_worker(settings, which, monkeypatch, caplog, capsys) -> None:
    from rfpilot.core.closeout import closing, tickets, writeback
    from rfpilot.core.team import handoffs, outputs
    from rfpilot.core.session import lane, sessions

    watch = Watch(monkeypatch, caplog)
    reached = asyncio.Event()
    hang = hang_in_a_transaction(reached)
    app = await open_app(settings, GatedProvider())
    async with app.run_test(size=(120, 40)) as pilot:
        sid = await new_session(app)
        await app.screen.load_session(sid)
        screen = app.screen
        if which == "new session":
            monkeypatch.setattr(sessions, "create_session", hang)
            screen.create_session("Printer offline")
        elif which == "resolve drafting":
            monkeypatch.setattr(closing, "draft_for_close", hang)
            screen.begin_close("resolve")
        elif which == "outbox sync":
            monkeypatch.setattr(writeback, "list_items", hang)
            screen.sync_outbox(quiet=False)
        elif which == "queue refresh":
            monkeypatch.setattr(handoffs, "queue", hang)
            screen.action_queue()
        elif which == "ticket loading":
            monkeypatch.setattr(tickets, "my_tickets", hang)
            app.has_psa = True  # f2 with no PSA only explains; the picker's loading is what is quit here
            screen.action_from_ticket()
        elif which == "outputs loading":
            monkeypatch.setattr(outputs, "list_outputs", hang)
            screen.open_outputs()
        elif which == "lane action":
            monkeypatch.setattr(lane, "get_item", hang)
            screen.lane_skip("no-such-item")
        await until(reached.is_set, f"{which} in its transaction")
        await pilot.press("ctrl+q")
    watch.check(app, capsys)
    # The store is usable and consistent afterwards: the session is there, nothing half-written.
    assert await stored_messages(settings, sid) == []


# --- the real loop: app.run(), as the `rfpilot` console script runs it ----------------------------------


@pytest.mark.parametrize("point", ["showing the message", 0, 1, 7])
def test_quitting_mid_reply_through_app_run(settings, point, monkeypatch, capfd) -> None:
    """Through app.run() (asyncio.run, its teardown cancelling what is left) rather than the test harness:
    the quit lands while the stored message is being shown, or after ``point`` chunks of the reply; the exit is
    clean and the message interrupted."""
    from rfpilot.tui.app import RfpilotApp
    from rfpilot.tui.widgets.transcript import Transcript

    showing = asyncio.Event()
    if point == "showing the message":
        real = Transcript.add_user_message

        async def slow(self, view) -> None:  # the quit lands between storing the message and showing it
            showing.set()
            await asyncio.sleep(0.05)
            await real(self, view)

        monkeypatch.setattr(Transcript, "add_user_message", slow)
    seen: dict[str, str] = {}

    class Scripted(RfpilotApp):
        def on_ready(self) -> None:
            self.set_timer(0.01, self.scenario)

        async def scenario(self) -> None:
            sid = await new_session(self)
            seen["sid"] = sid
            await self.screen.load_session(sid)
            self.screen.send("The copier cannot scan since this morning")
            if point == "showing the message":
                await until(showing.is_set, "the message being shown")
            else:
                provider.allow(point)
                await until(lambda: provider.chunks >= point and provider.waiting.is_set(), "the chunks")
            self.exit()

    provider = GatedProvider()
    app = Scripted(settings, provider_factory=lambda: provider)
    app.run(headless=True, size=(120, 40))
    err = capfd.readouterr().err
    assert app.return_code == 0, err
    assert "Traceback" not in err and "Error" not in err, err
    assert asyncio.run(stored_messages(settings, seen["sid"])) == [("user", "interrupted")]  # never `sent`


async def test_a_worker_cancelled_before_it_ran_leaves_no_coroutine_unawaited() -> None:
    """Two workers of one exclusive group started in one go: the first is cancelled before it ever runs. Neither
    its work nor the guard around it may be left for the garbage collector to call "never awaited" (seen once in
    CI, quitting one chunk into a reply)."""
    import gc
    import warnings

    from textual.app import App

    from rfpilot.tui.workers import start_worker

    ran: list[str] = []

    async def job(label: str) -> None:
        ran.append(label)

    class Host(App[None]):
        async def on_mount(self) -> None:
            start_worker(self, job("first"), group="g", exclusive=True)
            second = start_worker(self, job("second"), group="g", exclusive=True)
            await second.wait()
            self.exit()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with Host().run_test() as pilot:
            await pilot.pause()
        gc.collect()
    assert ran == ["second"]
    assert not [w for w in caught if "never awaited" in str(w.message)], [str(w.message) for w in caught]
