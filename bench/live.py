"""Live team views (issue 17, part 4): how long a teammate's write takes to show in another process's TUI.

    python bench/live.py [--updates 10] [--store sqlite|postgres|both] [--database-url POSTGRES_URL]

For each store: the TUI runs here (headless, Textual's Pilot) with a session open; a second process (the
teammate, a real process through rfpilot's core) adds UPDATES facts to that session, one every 0.3-0.6 s, and
prints the wall-clock time of each commit. The TUI side looks at the task lane every POLL seconds and notes when
the fact is on screen. Latency = shown - committed (same machine, same clock). Reports the median and the max;
the budget is 1 s. Also reports what following costs while nothing happens: one SQLite data_version check, and
the number of checks per second (Postgres waits on its socket: no checks).

Postgres: a scratch database is created on the server of --database-url (default: the local `test` server,
as the tests use) and dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

POLL = 0.005
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from startup import PG_URL, _admin  # noqa: E402  (bench/startup.py: the scratch database on the tests' server)

WRITER = r"""
import asyncio, random, sys, time
from rfpilot.config import load_settings
from rfpilot.core.context import Workspace
from rfpilot.core.session.facts import add_note
from rfpilot.core.session.sessions import create_session, get_session

async def main(n):
    ws = await Workspace.open(load_settings())
    try:
        async with ws.ctx() as ctx:
            sid = (await create_session(ctx, "Live bench: the teammate's session")).id
        print(sid, flush=True)
        sys.stdin.readline()  # the TUI has it open
        for i in range(n):
            await asyncio.sleep(random.uniform(0.3, 0.6))
            async with ws.ctx() as ctx:
                await add_note(ctx, await get_session(ctx, sid), f"live fact number {i} arrived")
            print(i, time.time(), flush=True)
    finally:
        await ws.close()

asyncio.run(main(int(sys.argv[1])))
"""


def _env(url: str, home: Path, account: str, email: str) -> dict[str, str]:
    return {"RFPILOT_HOME": str(home), "RFPILOT_DATABASE_URL": url, "RFPILOT_ACCOUNT": account,
            "RFPILOT_USER_EMAIL": email, "RFPILOT_USER_NAME": email.split("@")[0],
            "RFPILOT_LLM_PROVIDER": "offline", "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}


async def run_store(url: str, tmp: Path, updates: int) -> dict[str, float]:
    from rfpilot.config import load_settings
    from rfpilot.tui.app import RfpilotApp

    account = f"bench-{uuid.uuid4().hex[:8]}"
    mine = _env(url, tmp / "home-a", account, "engineer@example.com")
    mate = _env(url, tmp / "home-b", account, "teammate@example.com")
    app = RfpilotApp(load_settings(env=mine))
    latencies: list[float] = []
    async with app.run_test(size=(150, 45)) as pilot:
        while app.live is None:
            await pilot.pause(0.05)
        writer = await asyncio.create_subprocess_exec(
            sys.executable, "-c", WRITER, str(updates), env={**os.environ, **mate}, cwd=str(ROOT),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        assert writer.stdout is not None and writer.stdin is not None
        sid = (await writer.stdout.readline()).decode().strip()
        main = app.screen
        while not any(r.id == sid for r in main.query_one("#sessions").rows):
            await pilot.pause(0.05)
        await main.load_session(sid)
        writer.stdin.write(b"go\n")
        await writer.stdin.drain()

        def lane() -> str:
            return "\n".join(w.body.rest.plain for w in main.query(".lane-row"))

        for i in range(updates):
            line = (await writer.stdout.readline()).decode().split()
            committed = float(line[1])
            while f"live fact number {i} arrived" not in lane():
                await asyncio.sleep(POLL)
            latencies.append(time.time() - committed)
        await writer.wait()
        checks = getattr(app.live.feed, "checks", None)
        await pilot.press("ctrl+q")
    return {"median": statistics.median(latencies), "max": max(latencies), "n": len(latencies),
            "checks": checks or 0}


def sqlite_check_cost(path: Path, n: int = 2000) -> float:
    from rfpilot.db.changes import SqliteFeed

    feed = SqliteFeed(str(path))
    feed.changed()
    start = time.perf_counter()
    for _ in range(n):
        feed.changed()
    cost = (time.perf_counter() - start) / n
    feed._close_conn()
    return cost


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=int(os.environ.get("RFPILOT_BENCH_LIVE_N", "10")))
    parser.add_argument("--store", choices=("sqlite", "postgres", "both"), default="both")
    args = parser.parse_args()
    stores = ("sqlite", "postgres") if args.store == "both" else (args.store,)
    for store in stores:
        with tempfile.TemporaryDirectory() as folder:
            tmp = Path(folder)
            if store == "sqlite":
                url = f"sqlite+aiosqlite:///{tmp / 'live.db'}"
                result = asyncio.run(run_store(url, tmp, args.updates))
                cost = sqlite_check_cost(tmp / "live.db")
                extra = f"; idle: one data_version check {cost * 1e6:.1f} µs, {1 / 0.25:.0f} checks/s"
            else:
                name = f"rfpilot_live_{uuid.uuid4().hex[:8]}"
                asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
                try:
                    url = PG_URL.rpartition("/")[0] + "/" + name
                    result = asyncio.run(run_store(url, tmp, args.updates))
                finally:
                    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                extra = "; idle: no checks (the listener waits on its socket, a SELECT 1 every 30 s)"
            print(f"{store:8} a teammate's fact on screen: median {result['median'] * 1000:.0f} ms, "
                  f"max {result['max'] * 1000:.0f} ms over {result['n']} updates (budget 1000 ms){extra}")


if __name__ == "__main__":
    main()
