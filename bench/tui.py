"""TUI benchmarks (run by hand; results go in docs/performance.md).

    python bench/tui.py [--runs 7]

- first frame: a fresh process until the app's first screen is painted, with 1,000 sessions in the store,
  against a bare Textual "hello world" app doing the same (SPEC §15: within 1.3x);
- sessions listed: the same process until the 1,000 sessions are on screen (the store opens after the paint);
- long session: opening a session of 2,000 messages (budget 1 s), and its RSS (budget 150 MB).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

HELLO = """
import time, sys
start = float(sys.argv[1])
from textual.app import App
from textual.widgets import Static
class Hello(App):
    def compose(self):
        yield Static("hello world")
    def on_mount(self):
        self.call_after_refresh(self.done)
    def done(self):
        print(f"FIRST {time.time() - start:.4f}")
        self.exit()
Hello().run(headless=True)
"""

RFPILOT = """
import time, sys
start = float(sys.argv[1])
from rfpilot.tui.app import RfpilotApp
class Timed(RfpilotApp):
    async def on_mount(self):
        await super().on_mount()
        self.call_after_refresh(lambda: print(f"FIRST {time.time() - start:.4f}"))
        self.set_interval(0.01, self.check)
    def check(self):
        listing = self.screen.query_one("#sessions")
        if listing.option_count > 100:  # the list (the latest 500 sessions) is on screen
            print(f"LISTED {time.time() - start:.4f}")
            self.exit()
Timed().run(headless=True)
"""


def seed(db_url: str, settings_env: dict[str, str], sessions: int, messages: int) -> str:
    from rfpilot.config import load_settings
    from rfpilot.core.context import Workspace
    from rfpilot.db.models import Message, SessionRow

    async def go() -> str:
        ws = await Workspace.open(load_settings(env=settings_env))
        now = datetime.now(UTC)
        async with ws.ctx() as ctx:
            rows = [
                SessionRow(account_id=ctx.account.id, owner_id=ctx.engineer.id, title=f"Benchmark session {i}",
                           status="active" if i % 3 else "resolved", intake_type="free_text",
                           intake_text="Printer offline", status_changed_at=now - timedelta(minutes=i),
                           created_at=now - timedelta(minutes=i), updated_at=now - timedelta(minutes=i))
                for i in range(sessions)
            ]
            ctx.db.add_all(rows)
            await ctx.db.flush()
            long = rows[0]
            ctx.db.add_all(
                Message(account_id=ctx.account.id, session_id=long.id, seq=i, role="user" if i % 2 == 0 else "assistant",
                        status="complete", raw_content=f"message {i} " * 20, display_content=f"message {i} " * 20,
                        created_at=now)
                for i in range(messages)
            )
            await ctx.db.commit()
            long_id = long.id
        await ws.close()
        return long_id

    return asyncio.run(go())


def first_frames(code: str, env: dict[str, str], runs: int) -> dict[str, float]:
    found: dict[str, list[float]] = {}
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", code, repr(time.time())], env=env, capture_output=True,
                             text=True, check=True, timeout=120).stdout
        for line in out.splitlines():
            key, _, value = line.partition(" ")
            if key in ("FIRST", "LISTED"):
                found.setdefault(key, []).append(float(value))
    return {k: statistics.median(v) for k, v in found.items()}


def long_session(env: dict[str, str], session_id: str) -> tuple[float, float]:
    code = f"""
import asyncio, time, resource
from rfpilot.tui.app import RfpilotApp
async def main():
    app = RfpilotApp(open_session=None)
    async with app.run_test(size=(160, 50)) as pilot:
        while app.workspace is None or app.workers:
            await pilot.pause(0.05)
        start = time.perf_counter()
        await app.screen.load_session({session_id!r})
        await pilot.pause()
        took = time.perf_counter() - start
        print(f"OPEN {{took:.4f}}")
        print(f"RSS {{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f}}")
asyncio.run(main())
"""
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True,
                         timeout=300).stdout
    values = dict(line.split(" ", 1) for line in out.splitlines() if line.startswith(("OPEN", "RSS")))
    return float(values["OPEN"]), float(values["RSS"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    home = Path(tempfile.mkdtemp(prefix="rfpilot-tui-bench-"))
    env = {**os.environ, "RFPILOT_HOME": str(home), "RFPILOT_LLM_PROVIDER": "offline",
           "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    env.pop("RFPILOT_DATABASE_URL", None)
    settings_env = {k: v for k, v in env.items() if k.startswith(("RFPILOT_", "PYTHON_KEYRING"))}
    long_id = seed("", settings_env, sessions=1000, messages=2000)

    hello = first_frames(HELLO, env, runs)["FIRST"]
    ours = first_frames(RFPILOT, env, runs)
    open_s, rss = long_session(env, long_id)
    print(f"textual hello world, first frame   {hello * 1000:7.0f} ms")
    print(f"rfpilot first frame (1,000 sessions) {ours['FIRST'] * 1000:5.0f} ms  ({ours['FIRST'] / hello:.2f}x; target <= 1.3x)")
    print(f"rfpilot sessions listed            {ours['LISTED'] * 1000:7.0f} ms")
    print(f"open a 2,000-message session        {open_s * 1000:6.0f} ms  (target <= 1000 ms)")
    print(f"RSS with that session open          {rss:6.0f} MB  (target <= 150 MB)")


if __name__ == "__main__":
    main()
