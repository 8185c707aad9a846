"""kill -9 in the middle of a migration: every store opens afterwards, at head, with all its rows.

A driver process imports rfpilot once and forks one child per kill point; the child opens a
store (which migrates it) and SIGKILLs itself just before the Nth statement or commit of that
open. The points are numbered by a first, unkilled run over a copy of the same store, and are
chosen so that every migration step (found from the writes to alembic_version, so a new
migration is covered without touching this file) gets kill points, plus its boundaries and the
final commit. Fresh stores and an upgrade of a populated store, on SQLite and on Postgres.

CI runs 10-12 points per store and scenario; RFPILOT_STRESS=N multiplies them
(RFPILOT_KILL_SEED fixes the random choice).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sqlite3
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from rfpilot.db import engine as db_engine
from rfpilot.db.models import LIST_FILTER_TABLES, MEMORY_INDEX_TABLES, load_all

STRESS = max(1, int(os.environ.get("RFPILOT_STRESS", "1") or 1))
POINTS = 10 * STRESS  # per store and scenario (at least one per migration step, whatever this says)
PARALLEL = 4  # stores killed, then checked, at a time
POPULATED_AT = "0003"  # the rows below fit this revision's schema; every later step is attacked
SEED = int(os.environ.get("RFPILOT_KILL_SEED") or random.SystemRandom().randrange(10**6))

# One process, many forks: importing rfpilot + Alembic once keeps each kill point cheap.
DRIVER = r"""
import asyncio, json, os, signal, sys
from pathlib import Path
from sqlalchemy import event
from sqlalchemy.engine import Engine
import alembic.command, alembic.operations, alembic.runtime.migration  # loaded before forking
import sqlalchemy.dialects.sqlite.aiosqlite, sqlalchemy.dialects.postgresql.asyncpg
import rfpilot.db.models
from rfpilot.db.engine import open_store

PARALLEL = int(sys.argv[1])
sys.path.insert(0, sys.argv[2])
from tests.test_migration_kills import check_store

def child(job):
    if job.get("rows") is not None:  # check a store after the kills
        return asyncio.run(check_store(job["url"], {k: set(v) for k, v in job["rows"].items()}))
    points = []
    def point(label):
        points.append(label)
        if len(points) == job["kill_at"]:
            os.kill(os.getpid(), signal.SIGKILL)
    event.listen(Engine, "before_cursor_execute",
                 lambda conn, cursor, statement, *rest: point(" ".join(statement.split()[:4])))
    event.listen(Engine, "commit", lambda conn: point("COMMIT"))
    async def go():
        store = await open_store(job["url"], backup_dir=Path(job["backups"]))
        await store.dispose()
    asyncio.run(go())
    return points

def start(job):
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        try:
            out, code = {"result": child(job)}, 0
        except BaseException as exc:
            out, code = {"error": repr(exc)}, 3
        with os.fdopen(write_end, "w") as pipe:
            pipe.write(json.dumps(out))
        os._exit(code)
    os.close(write_end)
    return pid, os.fdopen(read_end)

jobs = json.loads(sys.stdin.read())
results, running, queue = [None] * len(jobs), {}, list(enumerate(jobs))
while queue or running:  # a few at a time: a migration mostly waits on I/O
    while queue and len(running) < PARALLEL:
        if queue[0][1].get("after_kills") and running:
            break  # a store is checked once every kill is over
        n, job = queue.pop(0)
        pid, pipe = start(job)
        running[pid] = (n, pipe)
    pid, status = os.wait()
    n, pipe = running.pop(pid)
    out = pipe.read()
    pipe.close()
    killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    results[n] = {"killed": killed, "status": status, "out": json.loads(out) if out else None}
print(json.dumps(results))
"""


def run_driver(jobs: list[dict]) -> list[dict]:
    done = subprocess.run([sys.executable, "-c", DRIVER, str(PARALLEL), str(Path(__file__).parents[1])],
                          input=json.dumps(jobs), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


async def count_points(url: str, backups: Path) -> list[str]:
    """The statements and commits an unkilled open of this store goes through, as the driver numbers them."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    labels: list[str] = []

    def statement(conn, cursor, statement, *rest) -> None:
        labels.append(" ".join(statement.split()[:4]))

    def commit(conn) -> None:
        labels.append("COMMIT")

    event.listen(Engine, "before_cursor_execute", statement)
    event.listen(Engine, "commit", commit)
    try:
        store = await db_engine.open_store(url, backup_dir=backups)
        await store.dispose()
    finally:
        event.remove(Engine, "before_cursor_execute", statement)
        event.remove(Engine, "commit", commit)
    return labels


def choose_points(labels: list[str], count: int, rng: random.Random) -> list[int]:
    """1-based kill points: each migration step's boundary, at least one point inside every step,
    the last point, then random ones up to ``count``."""
    boundaries = [i for i, label in enumerate(labels, 1)
                  if "alembic_version" in label and label.split()[0] in ("INSERT", "UPDATE")]
    assert boundaries, f"no migration step found in {labels}"
    chosen = set(boundaries) | {len(labels)}
    start = 1
    for end in boundaries:
        chosen.add(rng.randint(start, end))
        start = end + 1
    while len(chosen) < min(count, len(labels)):
        chosen.add(rng.randint(1, len(labels)))
    return sorted(chosen)


async def populate(url: str) -> dict[str, set[str]]:
    """A store left by an older release at POPULATED_AT, with rows in several tables."""
    engine = db_engine.create_engine(url)
    now = datetime.now(UTC)
    account, engineer = str(uuid.uuid4()), str(uuid.uuid4())
    sessions = [str(uuid.uuid4()) for _ in range(3)]
    draft = str(uuid.uuid4())
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda c: db_engine._run_alembic_upgrade(c, POPULATED_AT))
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO accounts (id, name, created_at) VALUES (:a, :n, :t)"),
                               {"a": account, "n": f"kill-{account[:8]}", "t": now})
            await conn.execute(text(
                "INSERT INTO engineers (id, account_id, email, display_name, psa_member_ids, created_at) "
                "VALUES (:e, :a, 'k@example.com', 'K', '{}', :t)"), {"e": engineer, "a": account, "t": now})
            for sid in sessions:
                await conn.execute(text(
                    "INSERT INTO sessions (id, account_id, owner_id, status, intake_type, state_version, "
                    "active_seconds, parked_seconds, status_changed_at, created_at, updated_at) "
                    "VALUES (:s, :a, :e, 'active', 'empty', 0, 0, 0, :t, :t, :t)"),
                    {"s": sid, "a": account, "e": engineer, "t": now})
            await conn.execute(text(
                "INSERT INTO draft_templates (id, account_id, source_session_id, source_engineer_id, script_body, "
                "proposed_parameters, status, created_at) VALUES (:d, :a, :s, :e, 'Restart-Service Spooler', '{}', "
                "'pending', :t)"), {"d": draft, "a": account, "s": sessions[0], "e": engineer, "t": now})
    finally:
        await engine.dispose()
    return {"accounts": {account}, "engineers": {engineer}, "sessions": set(sessions), "draft_templates": {draft}}


async def check_store(url: str, rows: dict[str, set[str]]) -> str | None:
    """None if the store opens at head with exactly its tables and rows; else what is wrong."""
    try:
        store = await db_engine.open_store(url)
    except Exception as exc:
        return f"does not open: {exc}"
    try:
        if (revision := await db_engine.current_revision(store.engine)) != db_engine.SCHEMA_HEAD:
            return f"at {revision} after opening"
        async with store.engine.connect() as conn:
            tables = set(await conn.run_sync(lambda c: __import__("sqlalchemy").inspect(c).get_table_names()))
            # SQLite also has the list filter's FTS5 table and its shadow tables (migration 0010).
            # Both have the search index (0011): on SQLite an FTS5 table with its shadow tables.
            extra = (set(LIST_FILTER_TABLES) | set(MEMORY_INDEX_TABLES) if store.engine.dialect.name == "sqlite"
                     else {"memory_index"})
            if tables != set(load_all().tables) | {"alembic_version"} | extra:
                return f"tables differ from the models: {sorted(tables ^ set(load_all().tables))}"
            for table, ids in rows.items():
                found = set((await conn.execute(text(f"SELECT id FROM {table}"))).scalars())
                if found != ids:
                    return f"{table} holds {len(found)} rows, {len(ids)} expected"
    finally:
        await store.dispose()
    return None


class SqliteStores:
    def __init__(self, root: Path) -> None:
        self.root = root

    async def template(self, populated: bool) -> tuple[str | None, dict[str, set[str]]]:
        if not populated:
            return None, {}
        path = self.root / "template.db"
        return str(path), await populate(f"sqlite:///{path}")

    async def clone(self, template: str | None, name: str) -> str:
        target = self.root / name / "rfpilot.db"
        target.parent.mkdir(parents=True)
        if template is not None:
            src, dst = sqlite3.connect(template), sqlite3.connect(target)
            try:
                src.backup(dst)
            finally:
                src.close()
                dst.close()
        return f"sqlite:///{target}"

    async def cleanup(self) -> None:
        pass


class PostgresStores:
    def __init__(self, pg_url: str) -> None:
        self.base, _, self.prefix = pg_url.rpartition("/")
        self.made: list[str] = []

    async def _create(self, name: str, template: str | None = None) -> str:
        from tests.conftest import _admin

        await _admin(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        self.made.append(name)
        return f"{self.base}/{name}"

    async def template(self, populated: bool) -> tuple[str | None, dict[str, set[str]]]:
        if not populated:
            return None, {}
        name = f"{self.prefix}_kt"
        rows = await populate(await self._create(name))
        return name, rows

    async def clone(self, template: str | None, name: str) -> str:
        return await self._create(f"{self.prefix}_{name}", template)

    async def cleanup(self) -> None:
        from tests.conftest import _admin

        for name in self.made:
            await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def gather(*aws):
    """Run a few at a time."""
    gate = asyncio.Semaphore(PARALLEL)

    async def one(aw):
        async with gate:
            return await aw

    return await asyncio.gather(*(one(aw) for aw in aws))


@pytest.mark.parametrize("populated", [False, True], ids=["fresh", "upgrade"])
async def test_kill_9_during_migration_never_loses_a_store(db_url: str, tmp_path: Path, populated: bool) -> None:
    """kill -9 at ≥10 points per store and scenario, covering every migration step: 0 stores lost."""
    stores = PostgresStores(db_url) if db_url.startswith("postgresql") else SqliteStores(tmp_path)
    try:
        template, rows = await stores.template(populated)
        scenario = "up" if populated else "fr"
        probe = await stores.clone(template, f"{scenario}probe")
        labels = await count_points(probe, tmp_path / "probe-backups")
        assert await check_store(probe, rows) is None

        points = choose_points(labels, POINTS, random.Random(SEED))
        urls = await gather(*(stores.clone(template, f"{scenario}{n}") for n in points))
        jobs = [{"url": url, "backups": str(tmp_path / f"backups-{n}"), "kill_at": n} for url, n in zip(urls, points)]
        # Checked in processes of their own too: Alembic keeps its context in module globals, so two
        # migrations must never share a process.
        checks = [{"url": job["url"], "rows": {k: sorted(v) for k, v in rows.items()}, "after_kills": True}
                  for job in jobs]
        outcome = await asyncio.to_thread(run_driver, jobs + checks)
        results, checked = outcome[:len(jobs)], outcome[len(jobs):]
        problems = [c["out"]["result"] if c["out"] and "result" in c["out"] else f"the check failed: {c}" for c in checked]

        lost = []
        for job, result, problem in zip(jobs, results, problems, strict=True):
            where = f"kill before point {job['kill_at']}/{len(labels)} ({labels[job['kill_at'] - 1]})"
            if not result["killed"]:
                lost.append(f"{where}: the child was not killed: {result}")
            elif problem:
                lost.append(f"{where}: {problem}")
            backups = list(Path(job["backups"]).glob("*.db")) if Path(job["backups"]).exists() else []
            if len(backups) > 1:
                lost.append(f"{where}: {len(backups)} backups")
        print(f"\n{len(points)} kill points of {len(labels)} ({'upgrade from ' + POPULATED_AT if populated else 'fresh'}, "
              f"seed {SEED}): {len(lost)} stores lost")
        assert not lost, f"seed {SEED}: " + "\n".join(lost)
    finally:
        await stores.cleanup()


# --- stores left half-migrated by earlier releases ------------------------------------------------


@pytest.fixture
async def scratch_url(db_url: str, tmp_path: Path):
    """An empty store of its own (Postgres: a new database)."""
    if not db_url.startswith("postgresql"):
        yield f"sqlite+aiosqlite:///{tmp_path / 'half.db'}"
        return
    from tests.conftest import _admin

    name = f"rfpilot_half_{uuid.uuid4().hex[:12]}"
    await _admin(f'CREATE DATABASE "{name}"')
    try:
        yield f"{db_url.rpartition('/')[0]}/{name}"
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _sql(url: str, *statements: str, upgrade_to: str | None = None) -> None:
    engine = db_engine.create_engine(url)
    try:
        async with engine.begin() as conn:
            if upgrade_to:
                await conn.run_sync(lambda c: db_engine._run_alembic_upgrade(c, upgrade_to))
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def test_a_fresh_store_left_half_migrated_is_repaired(scratch_url: str, capsys) -> None:
    """The first migrations' tables exist but alembic_version is empty (a kill during the first open,
    as earlier releases left it): the empty leftovers are removed and the store is built at head."""
    await _sql(scratch_url, "DELETE FROM alembic_version", upgrade_to="0002")
    store = await db_engine.open_store(scratch_url)
    await store.dispose()
    assert await check_store(scratch_url, {}) is None
    [notice] = store.notices
    assert "repaired a half-applied migration" in notice and "table accounts" in notice
    assert "repaired a half-applied migration" in capsys.readouterr().err


async def test_an_upgrade_left_half_migrated_is_repaired_with_every_row(scratch_url: str, tmp_path: Path) -> None:
    """alembic_version says 0003 but 0004's tables and columns are there: they are removed, 0004 and
    later run again, and every row of the store is kept."""
    rows = await populate(scratch_url)
    await _sql(scratch_url, "UPDATE alembic_version SET version_num = '0003'", upgrade_to="0004")
    store = await db_engine.open_store(scratch_url, backup_dir=tmp_path / "backups")
    await store.dispose()
    assert await check_store(scratch_url, rows) is None
    [notice] = store.notices
    assert "table script_templates" in notice and "column draft_templates.extraction" in notice


async def test_leftovers_holding_rows_are_refused_clearly_and_backups_do_not_pile_up(
    scratch_url: str, tmp_path: Path
) -> None:
    """A later revision's table that holds rows is not a leftover rfpilot can drop: every open refuses
    with one clear error, the store is unchanged, and repeated opens keep at most one backup."""
    from rfpilot.errors import StoreError

    rows = await populate(scratch_url)
    await _sql(scratch_url, "UPDATE alembic_version SET version_num = '0003'",
               "INSERT INTO script_templates (id, account_id, name, slug, description, body, parameters, "
               f"usage_count, created_at, updated_at) VALUES ('{uuid.uuid4()}', '{next(iter(rows['accounts']))}', "
               "'n', 'n', 'd', 'b', '[]', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)", upgrade_to="0004")
    backups = tmp_path / "backups"
    for _ in range(3):
        with pytest.raises(StoreError, match="half-migrated") as raised:
            await db_engine.open_store(scratch_url, backup_dir=backups)
        assert "script_templates" in str(raised.value) and "restore" in (raised.value.hint or "")
    assert len(list(backups.glob("*.db")) if backups.exists() else []) <= 1
    engine = db_engine.create_engine(scratch_url)
    try:
        assert await db_engine.current_revision(engine) == "0003"
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM sessions"))).scalar() == 3
    finally:
        await engine.dispose()


async def test_repeated_failed_upgrades_keep_one_backup_and_the_store(tmp_path: Path) -> None:
    """A migration that fails at its last statement rolls back whole, every time; three failed opens
    leave the store at its old revision with all its rows, and one backup (it was one per open)."""
    from rfpilot.errors import StoreError

    url = f"sqlite:///{tmp_path / 'fail.db'}"
    rows = await populate(url)
    await _sql(url, "CREATE TRIGGER no_upgrade BEFORE UPDATE ON alembic_version "
                    "WHEN NEW.version_num = '" + db_engine.SCHEMA_HEAD + "' BEGIN SELECT RAISE(ABORT, 'boom'); END")
    backups = tmp_path / "backups"
    backups.mkdir()
    dead = subprocess.Popen(["true"])
    dead.wait()  # a copy half-written by a process that was killed while copying
    (backups / f".rfpilot-before-{db_engine.SCHEMA_HEAD}-from-{POPULATED_AT}.db.{dead.pid}.tmp").write_bytes(b"x")
    for _ in range(3):
        with pytest.raises(StoreError, match="boom"):
            await db_engine.open_store(url, backup_dir=backups)
    assert [p.name for p in backups.iterdir()] == [f"rfpilot-before-{db_engine.SCHEMA_HEAD}-from-{POPULATED_AT}.db"]
    copy = sqlite3.connect(backups / f"rfpilot-before-{db_engine.SCHEMA_HEAD}-from-{POPULATED_AT}.db")
    try:
        assert copy.execute("SELECT version_num FROM alembic_version").fetchone() == (POPULATED_AT,)
    finally:
        copy.close()
    live = sqlite3.connect(tmp_path / "fail.db")
    try:
        assert live.execute("SELECT version_num FROM alembic_version").fetchone() == (POPULATED_AT,)
        assert {r for (r,) in live.execute("SELECT id FROM sessions")} == rows["sessions"]
        assert live.execute("SELECT name FROM sqlite_master WHERE name = 'script_templates'").fetchone() is None
    finally:
        live.close()
