"""Shared fixtures: every store/service test runs on SQLite and on Postgres.

Postgres: RFPILOT_TEST_POSTGRES_URL (default: the local server's `test`
database). A fresh database is created next to it for each test run and
dropped at the end, so no run sees another's tables. In CI (CI=true) an
unreachable server fails the run; elsewhere the Postgres half is skipped.

SQLite: each test has its own file. A test user's (``env``) starts as a copy of
a store migrated to head once per run, as the Postgres database is after the
run's first test: running the ten migrations costs ~0.4 s of CPU a store, about
five minutes over the suite. A test that needs the first open of a store that
does not exist yet says so with ``@pytest.mark.fresh_store``; the migrations
themselves are tested on their own stores (test_store, test_migration_kills,
test_session_counts), which take ``db_url`` without ``env``.

On Postgres every test shares the run's database (each with its own account). A test whose result depends on
what the whole store holds says so with ``@pytest.mark.own_database`` and gets a database of its own: the
team memory picks its query words by their rarity over every account's items (core.memory.index), so
another test's sessions could change which earlier sessions it finds.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from rfpilot.config import Settings, load_settings

PG_URL = os.environ.get("RFPILOT_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_asyncpg_dsn(PG_URL), timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh, empty Postgres database for this test run."""
    name = f"rfpilot_t_{uuid.uuid4().hex[:12]}"
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # server down, auth refused, asyncpg missing
        message = f"Postgres at {PG_URL} is not usable: {exc}"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI never skips the Postgres tests)")
        pytest.skip(message)
    base, _, _ = PG_URL.rpartition("/")
    yield f"{base}/{name}"
    try:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    except Exception:
        pass


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'rfpilot.db'}"
    shared = request.getfixturevalue("pg_url")
    if request.node.get_closest_marker("own_database") is None:
        return shared
    name = f"{shared.rpartition('/')[2]}_{uuid.uuid4().hex[:8]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    request.addfinalizer(lambda: asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')))
    return f"{shared.rpartition('/')[0]}/{name}"


@pytest.fixture(scope="session")
def sqlite_at_head(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite store the migrations brought to head, once per run; never opened again (copies are)."""
    from rfpilot.db.engine import open_store

    path = tmp_path_factory.mktemp("store-at-head") / "rfpilot.db"

    async def make() -> None:
        store = await open_store(f"sqlite+aiosqlite:///{path}")
        await store.dispose()  # the last connection closed: the WAL is checkpointed into the file and removed

    asyncio.run(make())
    assert not Path(f"{path}-wal").exists(), "the template store kept a WAL file: a copy of the file alone is not it"
    return path


def _copy_private(source: Path, target: Path) -> None:
    """``source`` copied to a new ``target`` made 0600, as rfpilot makes its store (rfpilot.private)."""
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(source.read_bytes())


@pytest.fixture
def env(db_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> dict[str, str]:
    """Environment of one isolated rfpilot user (own home, own account). On SQLite its store starts at head
    (a copy of ``sqlite_at_head``) unless the test is marked ``fresh_store``."""
    if db_url.startswith("sqlite") and request.node.get_closest_marker("fresh_store") is None:
        from rfpilot.db.engine import sqlite_file

        target = sqlite_file(db_url)
        if target is not None and not target.exists():
            _copy_private(request.getfixturevalue("sqlite_at_head"), target)
    return {
        "RFPILOT_HOME": str(tmp_path / "home"),
        "RFPILOT_DATABASE_URL": db_url,
        "RFPILOT_ACCOUNT": f"test-{uuid.uuid4().hex[:10]}",
        "RFPILOT_USER_EMAIL": "tester@example.com",
        "RFPILOT_USER_NAME": "Test Engineer",
        "RFPILOT_LLM_PROVIDER": "offline",
        "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
    }


@pytest.fixture
def settings(env: dict[str, str]) -> Settings:
    return load_settings(env=env)


@pytest.fixture
async def ws(settings: Settings) -> AsyncIterator:
    from rfpilot.core.context import Workspace

    workspace = await Workspace.open(settings)
    try:
        yield workspace
    finally:
        await workspace.close()


@pytest.fixture
async def ctx(ws) -> AsyncIterator:
    async with ws.ctx() as c:
        yield c


@pytest.fixture
async def session(ctx):
    """A fresh active session."""
    from rfpilot.core.session.sessions import create_session

    return await create_session(ctx, "Outlook prompts for a password after a reset. It started on Monday.")


@pytest.fixture
def cli(env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """Run `rfpilot ARGS…` in-process as this test's user: returns (code, stdout, stderr)."""
    from rfpilot.cli import run_cli

    for key in ("ANTHROPIC_API_KEY", "RFPILOT_OPENAI_API_KEY", "RFPILOT_OPENAI_BASE_URL", "RFPILOT_SCRIPTED_FILE", "EDITOR", "VISUAL"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)

    def invoke(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
        import io
        import sys

        capsys.readouterr()
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        code = run_cli(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return invoke


@pytest.fixture
def memory_keyring():
    """An in-memory OS keyring for the test (tests/fakes/memkeyring.py); the previous one comes back after."""
    import keyring

    from tests.fakes.memkeyring import MemoryKeyring

    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture
def cw(monkeypatch: pytest.MonkeyPatch):
    """A ConnectWise fake (tests/fakes/connectwise.py) that rfpilot's PSA connections talk to, without sleeping."""
    from datetime import UTC, datetime

    from rfpilot.core.closeout import psa
    from rfpilot.psa.http import RetryPolicy
    from tests.fakes.connectwise import FakeConnectWise

    async def no_sleep(_: float) -> None:
        return None

    fake = FakeConnectWise()
    fake._clock = datetime.now(UTC)  # notes carry real times, as on a real server
    fake.seed_ticket(48307, description="Outlook prompts for a password after the reset.")
    monkeypatch.setattr(psa, "TRANSPORTS", {"connectwise": fake.transport})
    monkeypatch.setattr(psa, "POLICY", RetryPolicy(sleep=no_sleep))
    return fake
