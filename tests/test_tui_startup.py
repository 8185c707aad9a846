"""Start-up: the console script's way into the TUI, and what the session list says before and after the store.

The TUI itself is a stub here where it would take the terminal (`rfpilot.tui.run`); the list tests drive the real
app with Pilot. Which modules each step imports is tests/test_imports.py's business.
"""

from __future__ import annotations

import asyncio
import io
import sys
import uuid
from pathlib import Path

import pytest

import rfpilot.cli
import rfpilot.tui
from rfpilot.config import load_settings
from rfpilot.errors import ConfigError, StoreError

pytest.importorskip("textual")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def tui_calls(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """`rfpilot.tui.run` recording the session it was asked to open (its exit code: 0)."""
    calls: list[str | None] = []

    def run(session_ref: str | None = None) -> int:
        calls.append(session_ref)
        return 0

    monkeypatch.setattr(rfpilot.tui, "run", run)
    monkeypatch.delenv(rfpilot.cli.COMPLETION_VAR, raising=False)
    return calls


def at_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """stdin and stdout are a terminal (inside the test: pytest puts its own stdout back after fixtures run)."""
    monkeypatch.setattr(sys, "stdin", Terminal())
    monkeypatch.setattr(sys, "stdout", Terminal())


def test_bare_rfpilot_at_a_terminal_opens_the_tui(tui_calls, monkeypatch) -> None:
    at_a_terminal(monkeypatch)
    assert rfpilot.cli.run_cli([]) == 0
    assert tui_calls == [None]


def test_open_session_opens_the_tui_on_it(tui_calls) -> None:
    assert rfpilot.cli.run_cli(["open", "abcd1234"]) == 0
    assert tui_calls == ["abcd1234"]


def test_the_tui_exit_code_is_the_process_exit_code(monkeypatch: pytest.MonkeyPatch) -> None:
    at_a_terminal(monkeypatch)
    monkeypatch.setattr(rfpilot.tui, "run", lambda session_ref=None: 3)
    assert rfpilot.cli.run_cli([]) == 3
    assert rfpilot.cli.run_cli(["open", "abcd1234"]) == 3


@pytest.mark.parametrize("argv", [[], ["open", "abcd1234"]])
def test_a_problem_before_the_app_is_one_error_line(monkeypatch, capsys, argv) -> None:
    """A configuration the TUI cannot start with: `error:` and `hint:` lines and the error's exit code, as any
    command reports it; never a traceback."""

    def run(session_ref: str | None = None) -> int:
        raise ConfigError("config.toml is not valid TOML (line 3)", hint="fix it or run `rfpilot config path`")

    monkeypatch.setattr(rfpilot.tui, "run", run)
    at_a_terminal(monkeypatch)
    assert rfpilot.cli.run_cli(argv) == ConfigError.exit_code
    err = capsys.readouterr().err
    assert err == "error: config.toml is not valid TOML (line 3)\nhint: fix it or run `rfpilot config path`\n"


def test_ctrl_c_while_starting_is_130(monkeypatch, capsys) -> None:
    def run(session_ref: str | None = None) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(rfpilot.tui, "run", run)
    at_a_terminal(monkeypatch)
    assert rfpilot.cli.run_cli([]) == 130
    assert capsys.readouterr().err == "interrupted\n"


def test_bare_rfpilot_in_a_pipe_prints_the_help(tui_calls, capsys) -> None:
    """No terminal: the command tree answers with its help (a full-screen app would be no use)."""
    assert rfpilot.cli.run_cli([]) == 0
    out, err = capsys.readouterr()
    assert tui_calls == []
    assert "Usage: rfpilot" in out and "sessions" in out
    assert "needs a terminal" in err


@pytest.mark.parametrize("argv", [["open", "--help"], ["open", "-h"], ["open"], ["open", "a", "b"],
                                  ["open", "--", "abcd1234"]])
def test_anything_else_about_open_is_the_command_tree_s(tui_calls, capsys, argv) -> None:
    code = rfpilot.cli.run_cli(argv)
    out, err = capsys.readouterr()
    if argv[-1] in ("--help", "-h"):
        assert code == 0 and "Open the TUI on one session." in out
        assert tui_calls == []
    elif argv == ["open", "--", "abcd1234"]:
        assert code == 0 and tui_calls == ["abcd1234"]  # through Typer, to the same place
    else:
        assert code == 1 and err.startswith("error: ") and "rfpilot open --help" in err
        assert tui_calls == []


def test_invalid_utf8_session_is_named_before_anything_opens(tui_calls, capsys) -> None:
    code = rfpilot.cli.run_cli(["open", "ab\udcffcd"])
    err = capsys.readouterr().err
    assert code == 1 and tui_calls == []
    assert err.startswith("error: the SESSION argument of `rfpilot open` is not valid UTF-8")


def test_shell_completion_is_never_the_tui(tui_calls, monkeypatch) -> None:
    """A shell asking for completions runs rfpilot with no arguments and _RFPILOT_COMPLETE set."""
    monkeypatch.setenv(rfpilot.cli.COMPLETION_VAR, "complete_bash")
    monkeypatch.setenv("COMP_WORDS", "rfpilot ses")
    monkeypatch.setenv("COMP_CWORD", "1")
    at_a_terminal(monkeypatch)
    with pytest.raises(SystemExit) as done:  # Click answers and exits, as it always has
        rfpilot.cli.run_cli([])
    assert done.value.code == 0 and tui_calls == []
    assert "sessions" in sys.stdout.getvalue()


# --- the session list while the store opens ---------------------------------------------------------------


@pytest.fixture
def settings(tmp_path: Path):
    return load_settings(env={
        "RFPILOT_HOME": str(tmp_path / "home"),
        "RFPILOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'startup.db'}",
        "RFPILOT_ACCOUNT": f"startup-{uuid.uuid4().hex[:8]}",
        "RFPILOT_USER_EMAIL": "start@example.com",
        "RFPILOT_LLM_PROVIDER": "offline",
        "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
    })


def list_lines(app) -> list[str]:
    listing = app.screen.query_one("#sessions")
    return [str(listing.get_option_at_index(i).prompt) for i in range(listing.option_count)]


async def wait_until(pilot, done) -> None:
    for _ in range(1500):  # generous: a new store runs its migrations first, on a machine that may be busy
        if done():
            return
        await pilot.pause(0.02)
    raise AssertionError("never happened")


def gated_open(monkeypatch: pytest.MonkeyPatch) -> asyncio.Event:
    """The app's store opens only once the returned event is set."""
    from rfpilot.core.context import Workspace

    gate = asyncio.Event()
    opening = Workspace.open.__func__

    async def slow_open(cls, *args, **kwargs):
        await gate.wait()
        return await opening(cls, *args, **kwargs)

    monkeypatch.setattr(Workspace, "open", classmethod(slow_open))
    return gate


@pytest.mark.parametrize("size", [(80, 24), (160, 50)])
async def test_the_list_says_loading_until_the_store_answers(settings, monkeypatch, size) -> None:
    """Never "No sessions yet" before the store has said so: "Loading sessions…" first, shown (at 80 columns the
    list is the drawer the engineer lands in), then the real empty state."""
    from rfpilot.tui.app import RfpilotApp

    gate = gated_open(monkeypatch)
    app = RfpilotApp(settings)
    async with app.run_test(size=size) as pilot:
        await pilot.pause(0.1)
        assert list_lines(app) == ["Loading sessions…"]
        assert app.screen.query_one("#sidebar").display and app.screen.query_one("#sessions").region.height > 0
        gate.set()
        await wait_until(pilot, lambda: app.workspace is not None and not app.workers)
        assert list_lines(app) == ["No sessions yet:\nctrl+n starts one"]
        assert app.focused is app.screen.query_one("#sessions")


async def test_a_store_that_does_not_open_is_not_an_empty_list(settings, monkeypatch) -> None:
    from rfpilot.core.context import Workspace
    from rfpilot.tui.app import RfpilotApp

    async def broken(cls, *args, **kwargs):
        raise StoreError("the database at db.sqlite is newer than this rfpilot", hint="upgrade rfpilot")

    monkeypatch.setattr(Workspace, "open", classmethod(broken))
    app = RfpilotApp(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: list_lines(app) != ["Loading sessions…"])
        assert list_lines(app) == ["Sessions unavailable: the store did not open"]
        assert any("newer than this rfpilot" in str(n.message) for n in app._notifications)


async def test_sessions_are_listed_then_focused(settings) -> None:
    from rfpilot.core.context import open_context
    from rfpilot.core.session.sessions import create_session
    from rfpilot.tui.app import RfpilotApp

    async with open_context(settings) as ctx:
        await create_session(ctx, "The front-desk copier will not scan to the share since Monday.")
    app = RfpilotApp(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.workspace is not None and not app.workers)
        lines = list_lines(app)
        assert lines[0] == "Active · 1 session" and "copier" in lines[1]
        assert app.focused is app.screen.query_one("#sessions")


# --- the first page read by a child process while the app starts (rfpilot.tui.prefetch) --------------------------


_CHILD = """
import asyncio, json, sys
from rfpilot.config import load_settings
from rfpilot.tui import prefetch

first = prefetch.start(load_settings(), limit=int(sys.argv[1]))
assert first is not None, "no child was started"
page = asyncio.run(first.rows())
first.close()
rows, cursor = page if page is not None else (None, None)
print(json.dumps({"rows": rows and [r[0] for r in rows], "cursor": cursor and [cursor[0], cursor[2]]}))
"""


def _child_page(settings, limit: int) -> dict:
    """The child's answer, from a process of its own (a fork needs a process without threads)."""
    import json
    import os
    import subprocess

    config = settings.paths.config_dir / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('[ui]\nearly_list = "on"\n', encoding="utf-8")  # whatever this machine's load
    env = {**os.environ, **settings.env}
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(limit)], capture_output=True, text=True, env=env,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


async def test_the_child_reads_what_the_app_would(settings) -> None:
    """The child's first page is the app's own first page: the same sessions in the same order, the same cursor."""
    from rfpilot.core.context import open_context
    from rfpilot.core.session.sessions import abandon_session, create_session
    from rfpilot.tui.data import session_rows

    async with open_context(settings) as ctx:
        made = [await create_session(ctx, f"Printer {i} offline at the front desk") for i in range(7)]
        await abandon_session(ctx, made[2])
    async with open_context(settings) as ctx:
        views, cursor = await session_rows(ctx, match="", limit=5)
    child = await asyncio.to_thread(_child_page, settings, 5)
    assert child["rows"] == [v.id for v in views] and len(views) == 5
    assert cursor is not None and child["cursor"] == [cursor[0], cursor[2]]


def test_the_child_never_upgrades_a_store(settings) -> None:
    """A store that is not at the current schema is the app's to upgrade (with its backup and notices): the
    child reads nothing and leaves it as it was."""
    import sqlite3

    from rfpilot.db.engine import create_engine, current_revision, normalise_url, sqlite_file

    db_file = sqlite_file(normalise_url(settings.database_url))
    assert _child_page(settings, 5) == {"rows": None, "cursor": None}
    assert not db_file.exists()  # a first run: the app makes the store, the child leaves nothing behind
    sqlite3.connect(db_file).close()  # a store with no schema yet
    assert _child_page(settings, 5) == {"rows": None, "cursor": None}

    async def revision():
        engine = create_engine(settings.database_url)
        try:
            return await current_revision(engine)
        finally:
            await engine.dispose()

    assert asyncio.run(revision()) is None


class EarlyPage:
    """The parent's end of rfpilot.tui.prefetch.FirstPage, answering with rows given here."""

    def __init__(self, rows, cursor=None) -> None:
        self.page = (rows, cursor)
        self.closed = False

    async def rows(self):
        return self.page

    def close(self) -> None:
        self.closed = True


async def test_the_early_page_shows_before_the_store_then_the_store_s_list_replaces_it(settings, monkeypatch) -> None:
    """Rows from the child are painted while the app's own store is still opening; once it is open the list is
    read again, so a session the child listed and that has closed since is shown as it is now."""
    from datetime import UTC, datetime

    from rfpilot.core.context import open_context
    from rfpilot.core.session.sessions import abandon_session, create_session
    from rfpilot.tui.app import RfpilotApp

    async with open_context(settings) as ctx:
        kept = await create_session(ctx, "The front-desk copier will not scan to the share since Monday.")
        closed = await create_session(ctx, "Outlook asks for the password again and again.")
        now = datetime.now(UTC)
        early = EarlyPage([(closed.id, closed.title, "active", None, None, now),
                           (kept.id, kept.title, "active", None, None, now)])
        await abandon_session(ctx, closed)  # a teammate closes it after the child has read the list
    gate = gated_open(monkeypatch)
    app = RfpilotApp(settings, first_page=early)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: list_lines(app) != ["Loading sessions…"])
        lines = list_lines(app)
        assert lines[0] == "Active · 2 sessions" and "Outlook" in lines[1] and "copier" in lines[2]
        assert app.focused is app.screen.query_one("#sessions") and app.workspace is None and early.closed
        gate.set()
        await wait_until(pilot, lambda: app.workspace is not None and not app.workers)
        lines = list_lines(app)
        assert lines[0] == "Active · 1 session" and "copier" in lines[1]
        assert lines[2] == "Recent · 1 session" and "✗" in lines[3] and "Outlook" in lines[3]


async def test_enter_on_an_early_row_opens_it_once_the_store_is_open(settings, monkeypatch) -> None:
    """Enter before the app's store (and the session widgets) are ready: the session opens when they are."""
    from datetime import UTC, datetime

    from rfpilot.core.context import open_context
    from rfpilot.core.session.sessions import create_session
    from rfpilot.tui.app import RfpilotApp

    async with open_context(settings) as ctx:
        row = await create_session(ctx, "The front-desk copier will not scan to the share since Monday.")
    early = EarlyPage([(row.id, row.title, "active", None, None, datetime.now(UTC))])
    gate = gated_open(monkeypatch)
    app = RfpilotApp(settings, first_page=early)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: "copier" in " ".join(list_lines(app)))
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert app.screen.session_id is None
        gate.set()
        await wait_until(pilot, lambda: app.screen.session_id == row.id and not app.workers)
        assert app.focused is app.screen.query_one("#composer")


def test_the_child_reads_one_chunk_of_the_list() -> None:
    """rfpilot.tui cannot import the list widget (Textual) before it forks: its page size is kept in step here."""
    from rfpilot.tui.widgets.session_list import SessionList

    assert rfpilot.tui.FIRST_PAGE == SessionList.PAGE
