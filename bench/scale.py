"""Cost against the size of the store and of a session (issue 15 budgets). Run by hand; results go in
docs/performance.md.

    python bench/scale.py [--stores sqlite,postgres] [--sessions 1000,100000] [--rows 100,20000]
                          [--runs 7] [--wall-runs 5] [--postgres URL] [--index]
                          [--parts store,session]

Budgets (ratios measured in one run, small and big side by side, interleaved so the machine's load hits both):
- the store: `sessions list`, an id-prefix lookup, `sessions show` and `resolve --yes --offline` cost the same on
  a store of 1,000 and of 100,000 sessions (ratio <= 1.1);
- the session: `sessions show`, an uncached `preview resolve` and `resolve --yes --offline` cost the same for a
  session of 100 and of 20,000 messages and facts (ratio <= 1.1).

Each operation is measured twice:
- core: the operation in this process, the store already open (a fresh ORM session per run), median of --runs;
- wall: the `rfpilot` console script, start-up and store open included, median of --wall-runs. The lookup's
  console script is `facts list PREFIX` on a session with three facts (a lookup and one small query).
The verdict is on the ratio of the medians; the "min" column is the ratio of the fastest runs, which a busy
machine disturbs less. Sessions are named by their 8-character prefix, as the CLI prints them; the "(full id)"
rows name them by their whole id (an equality on the primary key), so the difference is the prefix lookup's.

A resolve changes its session, so each resolve run gets a fresh session made the same way. The stores are the
bench's own: SQLite files in a temporary folder, and on Postgres fresh databases created next to --postgres's
(`rfpilot_bench_<hex>_…`) and dropped at the end; nothing else is read or written. The machine's load average is
printed: on a shared machine the figures move with it.
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.fakes.bulk
from tests.fakes import bulk  # noqa: E402

BUDGET = 1.1
PG_DEFAULT = os.environ.get("RFPILOT_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
PROBLEMS = ["Printer offline", "VPN drops", "Outlook password", "Scan to folder", "Drive missing", "MFA loops"]
CLIENTS = ["Northwind", "Contoso", "Fabrikam", "Tailspin", "Litware", "Adatum"]
# --index: what one more index would buy a long session, added to the bench's stores only (no migration has it):
# the live facts in their order (the page reads the index alone: deleted_at IS NULL is an equality on it). The
# facts by the lane item they came from are migration 0009's ix_facts_source_ref, and the counts are on the
# session row (0009).
INDEXES = [
    "CREATE INDEX bench_ix_facts_live ON facts (session_id, deleted_at, created_at, id)",
]


# --- stores ------------------------------------------------------------------------------------------


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _pg_admin(base_url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_dsn(base_url), timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


class Store:
    """One isolated store of the bench (a SQLite file, or a Postgres database it created)."""

    def __init__(self, kind: str, label: str, tmp: Path, pg_url: str) -> None:
        self.kind, self.label, self.pg_url = kind, label, pg_url
        self.home = tmp / f"home-{kind}-{label}"
        self.home.mkdir(parents=True, exist_ok=True)  # exists when bench/memory.py --keep reuses a store
        if kind == "sqlite":
            self.url = f"sqlite+aiosqlite:///{tmp / f'{label}.db'}"
            self.db_name = None
        else:
            self.db_name = f"rfpilot_bench_{uuid.uuid4().hex[:10]}_{label}"
            self.url = f"{pg_url.rpartition('/')[0]}/{self.db_name}"
        self.env = {**os.environ, "RFPILOT_HOME": str(self.home), "RFPILOT_DATABASE_URL": self.url,
                    "RFPILOT_ACCOUNT": "bench-scale", "RFPILOT_USER_EMAIL": "bench@example.com",
                    "RFPILOT_USER_NAME": "Bench Engineer", "RFPILOT_LLM_PROVIDER": "offline",
                    "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
        for key in ("ANTHROPIC_API_KEY", "RFPILOT_OPENAI_API_KEY", "RFPILOT_SCRIPTED_FILE", "EDITOR", "VISUAL"):
            self.env.pop(key, None)
        self.ws = None

    async def open(self) -> None:
        from rfpilot.config import load_settings
        from rfpilot.core.context import Workspace

        if self.db_name:
            await _pg_admin(self.pg_url, f'CREATE DATABASE "{self.db_name}"')
        self.ws = await Workspace.open(load_settings(env=self.env))

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.db_name:
            await _pg_admin(self.pg_url, f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')


async def seed_sessions(store: Store, total: int, index: bool = False) -> None:
    """``total`` sessions in bulk, a minute apart, a third of them open: the rest of the account's history."""
    from sqlalchemy import text

    async with store.ws.ctx() as ctx:
        await bulk.sessions(ctx, total, title=lambda i: f"{PROBLEMS[i % len(PROBLEMS)]} #{i}",
                            client=lambda i: CLIENTS[i % len(CLIENTS)], end=datetime.now(UTC) - timedelta(days=1))
        for sql in INDEXES if index else ():
            await ctx.db.execute(text(sql))
        await ctx.db.commit()
        await ctx.db.execute(text("ANALYZE"))
        await ctx.db.commit()


async def target(store: Store, rows: int = 0) -> str:
    """A session as the engineer leaves it before resolving: three facts (or ``rows`` messages and ``rows``
    facts), a check whose finding was promoted, a fix applied and verifying."""
    from rfpilot.core.session import facts, fixes, lane
    from rfpilot.core.session.sessions import create_session
    async with store.ws.ctx() as ctx:
        row = await create_session(ctx, "Every printer on floor 3 is offline since the driver update")
        if rows:
            await bulk.fill(ctx, row, messages=rows, facts=rows)
        else:
            for text in ("Spooler was running", "Driver 3.2 was installed on Monday", "Test page fails"):
                await facts.add_note(ctx, row, text)
        check = await lane.add_item(ctx, row, "check", "Spooler state", command="Get-Service Spooler")
        await facts.promote(ctx, row, source_type="diagnostic_check", source_ref=check.id,
                            text="The spooler stops when a job is sent")
        fix = await fixes.suggest_fix(ctx, row, "Roll back the print driver", description="Driver 3.2 crashes the "
                                      "spooler.", confidence=85)
        await fixes.apply_fix(ctx, row, fix)
        return row.id


# --- the operations, in this process ----------------------------------------------------------------------


async def op_list(ctx, _ref: str) -> None:
    from rfpilot.core.session.sessions import session_page, split_open
    from rfpilot.core.views import session_view

    page = await session_page(ctx, limit=50)
    now = ctx.now()
    split_open([session_view(s, now) for s in page.sessions], lambda v: v["status"])


async def op_lookup(ctx, ref: str) -> None:
    from rfpilot.core.session.sessions import get_session

    await get_session(ctx, ref)


async def op_show(ctx, ref: str) -> None:
    from rfpilot.core.session.facts import FACT_PAGE
    from rfpilot.core.session.sessions import get_session
    from rfpilot.core.views import session_details

    await session_details(ctx, await get_session(ctx, ref), fact_limit=FACT_PAGE)


async def op_preview(ctx, ref: str) -> None:
    from rfpilot.core.drafting.previews import configured_preview
    from rfpilot.core.session.sessions import get_session

    await configured_preview(ctx, await get_session(ctx, ref), "resolve", force=True, offline=True)


async def op_resolve(ctx, ref: str) -> None:
    """What `resolve --yes --offline` does: the draft, the close, the resolution outputs, the drafts to offer."""
    from rfpilot.core.closeout import closing
    from rfpilot.core.team import outputs
    from rfpilot.core.library import templates
    from rfpilot.core.session.sessions import get_session

    row = await get_session(ctx, ref)
    drafted = await closing.draft_for_close(ctx, row, "resolve", "worked", offline=True)
    row = await get_session(ctx, ref)
    await closing.close_with_outcome(ctx, row, "resolve", drafted.markdown, "worked")
    await outputs.generate_after_resolve(ctx, row, offline=True)
    await templates.drafts_to_offer(ctx, row)


WALL = {
    "list": lambda ref: ["sessions", "list"],
    "lookup": lambda ref: ["facts", "list", ref],
    "show": lambda ref: ["sessions", "show", ref],
    "preview": lambda ref: ["preview", "resolve", ref, "--offline", "--force"],
    "resolve": lambda ref: ["resolve", ref, "--yes", "--offline"],
}
CORE = {"list": op_list, "lookup": op_lookup, "show": op_show, "preview": op_preview, "resolve": op_resolve}
CHANGES = {"resolve"}
# Sessions are named as the CLI prints them (8 characters); "(full id)" rows name them by their whole id, which
# is an equality on the primary key: the difference between the two is the id-prefix lookup's share.
PREFIX, FULL = (lambda sid: sid[:8]), (lambda sid: sid)


# --- measuring ------------------------------------------------------------------------------------------


def rfpilot_script() -> list[str]:
    script = Path(sys.executable).with_name("rfpilot")
    return [str(script)] if script.exists() else [sys.executable, "-m", "rfpilot"]


async def core_pair(name: str, small: tuple[Store, list[str]], big: tuple[Store, list[str]], runs: int, ref=PREFIX):
    """Median seconds of the operation on the small and the big side, runs interleaved."""
    times: dict[int, list[float]] = {0: [], 1: []}
    fn = CORE[name]
    for run in range(runs + 1):  # the first run of each side warms caches and is not counted
        for side, (store, sids) in enumerate((small, big)):
            sid = sids[run] if name in CHANGES else sids[0]
            async with store.ws.ctx() as ctx:
                start = time.perf_counter()
                await fn(ctx, ref(sid))
                elapsed = time.perf_counter() - start
            if run:
                times[side].append(elapsed)
    return statistics.median(times[0]), statistics.median(times[1]), min(times[0]), min(times[1])


def wall_pair(name: str, small: tuple[Store, list[str]], big: tuple[Store, list[str]], runs: int, ref=PREFIX):
    times: dict[int, list[float]] = {0: [], 1: []}
    script = rfpilot_script()
    for run in range(runs + 1):
        for side, (store, sids) in enumerate((small, big)):
            sid = sids[run] if name in CHANGES else sids[0]
            start = time.perf_counter()
            argv = WALL[name](ref(sid))
            done = subprocess.run([*script, *argv], env=store.env, capture_output=True, text=True)
            elapsed = time.perf_counter() - start
            if done.returncode != 0:
                raise SystemExit(f"rfpilot {' '.join(argv)} failed ({done.returncode}): {done.stderr}")
            if run:
                times[side].append(elapsed)
    return statistics.median(times[0]), statistics.median(times[1]), min(times[0]), min(times[1])


def verdict(ratio: float) -> str:
    return "met" if ratio <= BUDGET else "NOT met"


def report(title: str, rows: list[tuple[str, tuple, tuple]], sizes: tuple[str, str]):
    """Medians side by side, their ratio and its verdict; then the ratio of the fastest runs ("min"), which the
    load of a shared machine moves less."""
    print(f"\n{title}")
    head = f"{sizes[0]:>9} {sizes[1]:>9} {'ratio':>6} {'budget':<8}{'min':>5}"
    print(f"  {'':18} {'core (store open)':^41} | {'wall (console script)':^41}")
    print(f"  {'':18} {head:^41} | {head:^41}")
    for name, core, wall in rows:
        cells = []
        for (small, big, small_min, big_min), unit in ((core, 2), (wall, 0)):
            ratio = big / small
            cells.append(f"{small * 1000:7.{unit}f}ms {big * 1000:7.{unit}f}ms {ratio:6.2f} {verdict(ratio):<8}"
                         f"{big_min / small_min:5.2f}")
        print(f"  {name:18} {cells[0]} | {cells[1]}")
    sys.stdout.flush()


async def bench_store(kind: str, tmp: Path, args) -> None:
    from sqlalchemy import text

    small_n, big_n = args.sessions
    small_rows, big_rows = args.rows
    need = args.runs + 1 + args.wall_runs + 1  # fresh sessions for the resolves (one per run, warm-up included)
    small, big = Store(kind, "small", tmp, args.postgres), Store(kind, "big", tmp, args.postgres)
    try:
        for store, n in ((small, small_n), (big, big_n)):
            await store.open()
            started = time.perf_counter()
            n = n if "store" in args.parts or store is small else 0
            await seed_sessions(store, n, args.index)
            print(f"[{kind}] seeded {n:,} sessions in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        if "store" in args.parts:
            # 1. the store's size: the same session in a store of small_n and of big_n sessions.
            ids = {}
            for store in (small, big):
                ids[store.label] = [await target(store) for _ in range(need)]
            rows = []
            for name, ref in (("list", PREFIX), ("lookup", PREFIX), ("show", PREFIX), ("resolve", PREFIX),
                              ("show (full id)", FULL), ("resolve (full id)", FULL)):
                op = name.split()[0]
                if op in CHANGES:  # fresh sessions for each row of resolves
                    ids = {store.label: [await target(store) for _ in range(need)] for store in (small, big)}
                core = await core_pair(op, (small, ids["small"][: args.runs + 1]), (big, ids["big"][: args.runs + 1]),
                                       args.runs, ref)
                wall = wall_pair(op, (small, ids["small"][args.runs + 1:]), (big, ids["big"][args.runs + 1:]),
                                 args.wall_runs, ref)
                rows.append((name, core, wall))
            report(f"{kind}: store of {small_n:,} vs {big_n:,} sessions", rows, (f"{small_n:,}", f"{big_n:,}"))

        if "session" in args.parts:
            # 2. the session's size, in the small store: small_rows vs big_rows messages and facts.
            started = time.perf_counter()
            sized = {r: [await target(small, r) for _ in range(need)] for r in (small_rows, big_rows)}
            print(f"[{kind}] made the sized sessions in {time.perf_counter() - started:.1f} s", file=sys.stderr)
            async with small.ws.ctx() as ctx:  # the planner's statistics, as after the store's seeding
                await ctx.db.execute(text("ANALYZE"))
                await ctx.db.commit()
            rows = []
            for name in ("show", "preview", "resolve"):
                a, b = sized[small_rows], sized[big_rows]
                core = await core_pair(name, (small, a[: args.runs + 1]), (small, b[: args.runs + 1]), args.runs)
                wall = wall_pair(name, (small, a[args.runs + 1:]), (small, b[args.runs + 1:]), args.wall_runs)
                rows.append((name, core, wall))
            report(f"{kind}: session of {small_rows:,} vs {big_rows:,} messages and facts", rows,
                   (f"{small_rows:,}", f"{big_rows:,}"))
    finally:
        await small.close()
        await big.close()


def pair(text: str) -> tuple[int, int]:
    a, b = (int(x.replace("_", "")) for x in text.split(","))
    return a, b


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--sessions", type=pair, default=(1_000, 100_000))
    parser.add_argument("--rows", type=pair, default=(100, 20_000))
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--wall-runs", type=int, default=5)
    parser.add_argument("--postgres", default=PG_DEFAULT)
    parser.add_argument("--parts", default="store,session", help="store (1k vs 100k sessions), session (100 vs "
                        "20,000 messages and facts), or both")
    parser.add_argument("--index", action="store_true", help="add INDEXES to the bench's stores first")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} "
          f"({os.cpu_count()} CPUs); budget: ratio <= {BUDGET}")
    tmp = Path(tempfile.mkdtemp(prefix="rfpilot-scale-"))
    try:
        for kind in args.stores.split(","):
            asyncio.run(bench_store(kind.strip(), tmp, args))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nload average at the end {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")


if __name__ == "__main__":
    main()
