"""The session list over a big store (issue 14 budget: a filter keystroke over 100,000 sessions repaints
within 100 ms). Run by hand; results go in docs/performance.md.

    python bench/tui_list.py [--sessions 100000] [--postgres URL] [--index]

Also prints the machine's load average: on a shared machine the figures move with it.

1. Seeds N sessions (one bulk INSERT; a third of them open, the rest closed) in a fresh store.
2. query: `core.session.sessions.session_page` (the one query behind the TUI list and `sessions list`) for every
   prefix of the filter typed below, median of 5 — the store's share of a keystroke.
3. headless: the same keys through Textual's pilot in this process (key press to the list's new first row,
   refreshed), the app's own share without a terminal.
4. terminal: the real `rfpilot` console script in tmux (160x50). After the list is on screen, `/` and then the
   filter one key at a time; each key's time runs from `tmux send-keys` until `tmux capture-pane` shows the
   session the store says is first for that text (keys whose first match does not change are typed, not
   timed). The same run on a store of 100 sessions gives the terminal's own round trip (send-keys, the app's
   repaint, capture-pane) to compare with.
5. --index adds, in the bench's store only, the indexes issue 15 is expected to add, to show what they buy.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.fakes.bulk
from tests.fakes import bulk  # noqa: E402

CLIENTS = ["Northwind", "Contoso", "Harbourside Physio", "Fabrikam", "Tailspin", "Litware", "Adatum", "Proseware"]
PROBLEMS = ["Printer offline", "VPN drops", "Outlook password", "Scan to folder", "Drive missing",
            "Camera black", "Dock fails", "MFA loops"]  # short: a title fits the list at 160 columns
NEEDLE = "87654"  # typed into the filter; session 87654's title ends with it (a store of >= 87,655)
SMALL_NEEDLE = "87"
INDEXES = [
    "CREATE INDEX bench_ix_sessions_account_status_updated ON sessions (account_id, status, updated_at, id)",
    "CREATE INDEX bench_ix_sessions_account_updated ON sessions (account_id, updated_at, id)",
]
PG_INDEXES = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX bench_ix_sessions_title_trgm ON sessions USING gin (title gin_trgm_ops)",
    "CREATE INDEX bench_ix_sessions_client_trgm ON sessions USING gin (client_name gin_trgm_ops)",
    "CREATE INDEX bench_ix_sessions_ticket_trgm ON sessions USING gin (ticket_ref gin_trgm_ops)",
]


def seed(env: dict[str, str], sessions: int, index: bool) -> None:
    from sqlalchemy import text

    from rfpilot.config import load_settings
    from rfpilot.core.context import Workspace

    async def go() -> None:
        ws = await Workspace.open(load_settings(env=env))
        async with ws.ctx() as ctx:
            await bulk.sessions(ctx, sessions, title=lambda i: f"{PROBLEMS[i % len(PROBLEMS)]} #{i}",
                                client=lambda i: CLIENTS[i % len(CLIENTS)])
            if index:
                for sql in INDEXES + (PG_INDEXES if ctx.db.bind.dialect.name == "postgresql" else []):
                    await ctx.db.execute(text(sql))
                await ctx.db.execute(text("ANALYZE"))  # a planner without statistics ignores the new indexes
            await ctx.db.commit()
        await ws.close()

    asyncio.run(go())


def query_times(env: dict[str, str], needle: str) -> list[tuple[str, float, str | None]]:
    """(prefix, median seconds of the first chunk's query, the first session's title) for each prefix."""
    from rfpilot.config import load_settings
    from rfpilot.core.context import Workspace
    from rfpilot.core.session.sessions import session_page
    from rfpilot.tui.widgets.session_list import SessionList

    async def go():
        ws = await Workspace.open(load_settings(env=env))
        out = []
        for n in range(1, len(needle) + 1):
            prefix, times, first = needle[:n], [], None
            for _ in range(5):
                async with ws.ctx() as ctx:
                    start = time.perf_counter()
                    page = await session_page(ctx, match=prefix, limit=SessionList.PAGE)
                    times.append(time.perf_counter() - start)
                    first = page.sessions[0].title if page.sessions else None
            out.append((prefix, statistics.median(times), first))
        await ws.close()
        return out

    return asyncio.run(go())


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=True).stdout


def first_row(pane: str) -> str | None:
    """The list's first session row: the line below its first heading ("Active · 6 sessions", "Recent · 50+ …")."""
    lines = pane.splitlines()
    for i, line in enumerate(lines[:-1]):
        if line[:40].strip(" ▊▎▕▏").split(" · ")[0] in ("Active", "Recent"):
            return lines[i + 1][:40]
    return None


def wait_for(session: str, wanted: list[str], timeout: float = 20.0, first: str | None = None) -> float:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        pane = tmux("capture-pane", "-p", "-t", session)
        if all(w in pane for w in wanted) and (first is None or first in (first_row(pane) or "")):
            return time.perf_counter()
        time.sleep(0.002)
    raise TimeoutError(f"{wanted} {first} never showed:\n{pane}")


def terminal_keys(env: dict[str, str], needle: str, expected: list[tuple[str, float, str | None]]) -> list[float]:
    """Seconds from each timed key to its result on screen, through `rfpilot` in tmux."""
    rfpilot = shutil.which("rfpilot", path=str(Path(sys.executable).parent)) or "rfpilot"
    session = f"tui-list-bench-{os.getpid()}"
    exports = " ".join(f"{k}={v!r}" for k, v in env.items() if k.startswith(("RFPILOT_", "PYTHON_KEYRING")))
    tmux("new-session", "-d", "-s", session, "-x", "160", "-y", "50", f"env -u PYTHONDONTWRITEBYTECODE {exports} {rfpilot}")
    try:
        wait_for(session, ["Active", "#0"], timeout=60)
        time.sleep(0.5)
        tmux("send-keys", "-t", session, "/")
        time.sleep(0.3)
        took, previous = [], None
        for prefix, _, first in expected:
            start = time.perf_counter()
            tmux("send-keys", "-t", session, "-l", prefix[-1])
            if first is None or first == previous:
                time.sleep(0.5)  # nothing on screen tells that this key's query is done: not timed
            else:
                took.append(wait_for(session, [prefix], first=first + " ") - start)
            previous = first
            time.sleep(0.2)
        return took
    finally:
        tmux("kill-session", "-t", session)


def headless_keys(env: dict[str, str], expected: list[tuple[str, float, str | None]]) -> list[float]:
    """The same keys through Textual's headless pilot: key press until the list's first row is the expected
    session and the screen has refreshed (no terminal, no tmux: the app's own share)."""
    from rfpilot.config import load_settings
    from rfpilot.tui.app import RfpilotApp
    from rfpilot.tui.widgets.session_list import SessionList

    async def go() -> list[float]:
        app = RfpilotApp(load_settings(env=env))
        took: list[float] = []
        async with app.run_test(size=(160, 50)) as pilot:
            listing = app.screen.query_one(SessionList)
            while not listing.rows:
                await asyncio.sleep(0.01)
            await pilot.press("slash")
            previous = None
            for prefix, _, first in expected:
                start = time.perf_counter()
                await pilot.press(prefix[-1])
                if first is None or first == previous:
                    await asyncio.sleep(1.0)
                else:
                    while not (listing.rows and listing.rows[0].title == first):
                        await asyncio.sleep(0.001)
                    await pilot.pause()
                    took.append(time.perf_counter() - start)
                previous = first
                await asyncio.sleep(0.2)
        return took

    return asyncio.run(go())


def run(label: str, env: dict[str, str], sessions: int, needle: str, index: bool) -> None:
    started = time.perf_counter()
    seed(env, sessions, index)
    print(f"{label}: seeded {sessions:,} sessions in {time.perf_counter() - started:.1f} s"
          + (" (with the bench indexes)" if index else ""))
    expected = query_times(env, needle)
    for prefix, seconds, first in expected:
        print(f"  query {prefix!r:9} {seconds * 1000:6.1f} ms   first: {first}")
    keys = headless_keys(env, expected)
    print(f"  headless pilot, key to repaint: median {statistics.median(keys) * 1000:.0f} ms, "
          f"max {max(keys) * 1000:.0f} ms over {len(keys)} keys")
    keys = terminal_keys(env, needle, expected)
    print(f"  terminal, key to repaint: median {statistics.median(keys) * 1000:.0f} ms, "
          f"max {max(keys) * 1000:.0f} ms over {len(keys)} keys")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--postgres", metavar="URL", help="also on a fresh database of this server "
                        "(postgresql+asyncpg://user@host:port/db); it is dropped afterwards")
    parser.add_argument("--index", action="store_true", help="add the indexes issue 15 is expected to add")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    from startup import compiled  # bench/startup.py: rfpilot's byte code, as an install has it

    compiled(sys.executable)
    home = Path(tempfile.mkdtemp(prefix="rfpilot-list-bench-"))
    base = {"RFPILOT_LLM_PROVIDER": "offline", "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
            "RFPILOT_USER_EMAIL": "bench@example.com", "RFPILOT_USER_NAME": "Bench"}

    def env_for(name: str, url: str) -> dict[str, str]:
        return {**base, "RFPILOT_HOME": str(home / name), "RFPILOT_DATABASE_URL": url, "RFPILOT_ACCOUNT": name}

    run("SQLite, 100 sessions (the terminal's round trip)", env_for("small", f"sqlite+aiosqlite:///{home}/small.db"),
        100, SMALL_NEEDLE, False)
    run("SQLite", env_for("big", f"sqlite+aiosqlite:///{home}/big.db"), args.sessions, NEEDLE, args.index)
    if args.postgres:
        import asyncpg

        name = f"rfpilot_bench_{uuid.uuid4().hex[:8]}"
        admin = args.postgres.replace("postgresql+asyncpg://", "postgresql://", 1)

        async def sql(statement: str) -> None:
            conn = await asyncpg.connect(admin)
            try:
                await conn.execute(statement)
            finally:
                await conn.close()

        asyncio.run(sql(f'CREATE DATABASE "{name}"'))
        try:
            run("Postgres", env_for("pg", f"{args.postgres.rpartition('/')[0]}/{name}"), args.sessions, NEEDLE,
                args.index)
        finally:
            asyncio.run(sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
