"""Big sessions in the TUI (issue 14; run by hand, results go in docs/performance.md).

    python bench/tui_session.py [--runs 5] [--size 20000] [--database-url URL]

Seeds one store (bulk inserts) with four sessions: a small one (10 messages, 5 facts), one of SIZE messages, one
of SIZE facts and one of SIZE questions and SIZE diagnostic checks. Each is opened the way a user opens it, `rfpilot open SESSION` (the console script) in a tmux
pane at 160x50, and measured from the process start until the session is on screen (its last message or its
lane's "WHAT WE KNOW · N" or "QUESTIONS · N unanswered" read back from the pane), with the RSS of the process at that moment. Then, in the
long session, ctrl+up is pressed until PAGES pages of earlier messages are in: each press is timed until the
"… N earlier messages" line shows the new count. The small session is the baseline: what a big one costs is
the difference. Budgets: open ≤ 1 s with RSS ≤ 200 MB; a page of earlier messages ≤ 100 ms.
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
from datetime import UTC, datetime, timedelta
from pathlib import Path

PAGES = 5
POLL = 0.01


def seed(settings_env: dict[str, str], size: int) -> dict[str, tuple[str, str]]:
    """{name: (session id, text that shows it is on screen)}."""
    from sqlalchemy import insert

    from rfpilot.config import load_settings
    from rfpilot.core.context import Workspace
    from rfpilot.core.session.sessions import create_session
    from rfpilot.db.models import Fact, LaneItem, Message, new_id

    async def one(ctx, title: str, messages: int, facts: int, items: int = 0) -> str:
        row = await create_session(ctx, title)
        start = datetime.now(UTC) - timedelta(days=2)
        async with ctx.tx():
            for first in range(0, messages, 5000):
                await ctx.db.execute(insert(Message), [
                    {"id": new_id(), "account_id": ctx.account.id, "session_id": row.id, "seq": i,
                     "role": "user" if i % 2 == 0 else "assistant", "status": "complete",
                     "raw_content": f"Step {i}: the spooler restarted and the queue drained. " * 3,
                     "display_content": f"Step {i}: the spooler restarted and the queue drained. " * 3,
                     "created_at": start + timedelta(seconds=i)}
                    for i in range(first, min(messages, first + 5000))])
            for first in range(0, facts, 5000):
                await ctx.db.execute(insert(Fact), [
                    {"id": new_id(), "account_id": ctx.account.id, "session_id": row.id,
                     "text": f"Finding {i}: the driver on host {i} is version 4.2.", "source_type": "user_note",
                     "created_by": ctx.engineer.id, "created_at": start + timedelta(seconds=i),
                     "updated_at": start + timedelta(seconds=i)}
                    for i in range(first, min(facts, first + 5000))])
            for kind in ("question", "check") if items else ():
                for first in range(0, items, 5000):
                    await ctx.db.execute(insert(LaneItem), [
                        {"id": new_id(), "account_id": ctx.account.id, "session_id": row.id, "kind": kind,
                         "origin": "engineer", "text": f"Is host {i} on driver 4.2?", "state": "open",
                         "position": i, "created_at": start + timedelta(seconds=i)}
                        for i in range(first, min(items, first + 5000))])
        return row.id

    async def go() -> dict[str, tuple[str, str]]:
        ws = await Workspace.open(load_settings(env=settings_env))
        try:
            async with ws.ctx() as ctx:
                return {
                    "small": (await one(ctx, "Small session", 10, 5), "WHAT WE KNOW · 5"),
                    f"{size:,} messages": (await one(ctx, "Long transcript", size, 0), f"Step {size - 1}:"),
                    f"{size:,} facts": (await one(ctx, "Many facts", 2, size), f"WHAT WE KNOW · {size}"),
                    f"{size:,} q + checks": (await one(ctx, "Many questions", 2, 0, size),
                                             f"QUESTIONS · {size} unanswered"),
                }
        finally:
            await ws.close()

    return asyncio.run(go())


class Pane:
    """One tmux server of our own with one pane running a command."""

    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        self.tmux = shutil.which("tmux") or sys.exit("tmux is needed: the bench runs rfpilot in a real terminal")
        self.name = f"bench-{uuid.uuid4().hex[:8]}"
        self.args = [self.tmux, "-L", self.name]
        self.started = time.perf_counter()
        subprocess.run([*self.args, "new-session", "-d", "-s", self.name, "-x", "160", "-y", "50",
                        " ".join(command)], env=env, check=True)
        self.pid = int(subprocess.run([*self.args, "display", "-p", "-t", self.name, "#{pane_pid}"],
                                      capture_output=True, text=True, check=True).stdout)

    def screen(self) -> str:
        return subprocess.run([*self.args, "capture-pane", "-p", "-t", self.name], capture_output=True,
                              text=True).stdout

    def wait(self, needle: str, timeout: float = 300) -> float:
        """Seconds since the pane started until ``needle`` is on screen."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if needle in self.screen():
                return time.perf_counter() - self.started
            time.sleep(POLL)
        raise SystemExit(f"{needle!r} never showed; the screen was:\n{self.screen()}")

    def keys(self, *keys: str) -> None:
        subprocess.run([*self.args, "send-keys", "-t", self.name, *keys], check=True)

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def cpu(self) -> float:
        """CPU seconds the process has used (user + system): unlike wall time, not inflated by a busy machine."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        subprocess.run([*self.args, "kill-server"], capture_output=True)


def open_session(rfpilot: str, env: dict[str, str], session_id: str, needle: str, pages: int,
                 total: int = 0) -> dict[str, object]:
    pane = Pane([rfpilot, "open", session_id], env)
    try:
        opened = pane.wait(needle)
        result: dict[str, object] = {"open": opened, "open_cpu": pane.cpu(), "rss": pane.rss_mb(), "pages": [],
                                     "pages_cpu": []}
        from rfpilot.tui.data import EARLIER_PAGE, MESSAGE_PAGE

        earlier = total - MESSAGE_PAGE
        for _ in range(min(pages, -(-earlier // EARLIER_PAGE))):
            start, cpu = time.perf_counter(), pane.cpu()
            pane.keys("C-Up")
            earlier = max(0, earlier - EARLIER_PAGE)
            pane.wait(f"… {earlier} earlier messages" if earlier else "Step 0:")
            result["pages"].append(time.perf_counter() - start)  # type: ignore[union-attr]
            result["pages_cpu"].append(pane.cpu() - cpu)  # type: ignore[union-attr]
        if pages:
            result["rss_after_pages"] = pane.rss_mb()
        return result
    finally:
        pane.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--size", type=int, default=20_000)
    parser.add_argument("--database-url", default="", help="a Postgres store to seed (default: SQLite in a temp home)")
    options = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="rfpilot-session-bench-"))
    env = {**os.environ, "RFPILOT_HOME": str(home), "RFPILOT_LLM_PROVIDER": "offline",
           "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring", "RFPILOT_DATABASE_URL": options.database_url,
           "RFPILOT_ACCOUNT": f"bench-{uuid.uuid4().hex[:8]}"}
    env.pop("TMUX", None)
    settings_env = {k: v for k, v in env.items() if k.startswith(("RFPILOT_", "PYTHON_KEYRING"))}
    rfpilot = str(Path(sys.executable).with_name("rfpilot"))
    sessions = seed(settings_env, options.size)
    print(f"{'session':<16} {'open: wall':>11} {'cpu':>7} {'RSS':>7}   a page of earlier messages: wall, cpu (medians)")
    for name, (session_id, needle) in sessions.items():
        pages = PAGES if "messages" in name else 0
        runs = [open_session(rfpilot, env, session_id, needle, pages, options.size) for _ in range(options.runs)]

        def median(key: str) -> float:
            return statistics.median(r[key] for r in runs)  # type: ignore[misc]

        line = f"{name:<16} {median('open') * 1000:8.0f} ms {median('open_cpu') * 1000:4.0f} ms {median('rss'):4.0f} MB"
        presses = [p for r in runs for p in r["pages"]]  # type: ignore[union-attr]
        if presses:
            cpu = [p for r in runs for p in r["pages_cpu"]]  # type: ignore[union-attr]
            line += (f"   {statistics.median(presses) * 1000:.0f} ms (max {max(presses) * 1000:.0f}), "
                     f"{statistics.median(cpu) * 1000:.0f} ms cpu (max {max(cpu) * 1000:.0f}); "
                     f"RSS after {pages} pages {median('rss_after_pages'):.0f} MB")
        print(line, flush=True)
    load = os.getloadavg()[0]
    print(f"load average at the end: {load:.1f} on {os.cpu_count()} cores (wall times stretch with it; cpu does not)")

if __name__ == "__main__":
    main()
