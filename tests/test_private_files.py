"""Private by default (issue 12 item 13): whatever the umask, RFPILOT_HOME and every folder rfpilot
makes are 0700 and every file it writes is 0600 — the store and its -wal/-shm, config.toml,
backups and exports. A home left by an earlier release (0755/0644) is tightened when opened."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from rfpilot.private import private_dir, private_file, write_private


@pytest.fixture(params=[0o022, 0o000], ids=["umask022", "umask000"])
def umask(request: pytest.FixtureRequest):
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def modes_under(root: Path) -> dict[str, int]:
    found = {str(root): mode(root)}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            found[os.path.join(folder, name)] = mode(Path(folder) / name)
    return found


def not_private(root: Path) -> dict[str, str]:
    return {path: oct(m) for path, m in modes_under(root).items()
            if m != (0o700 if os.path.isdir(path) else 0o600)}


def ok(cli, *args: str) -> str:
    code, out, err = cli(*args)
    assert code == 0, f"`rfpilot {' '.join(args)}` exited {code}\nstdout: {out}\nstderr: {err}"
    return out


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_every_folder_and_file_rfpilot_writes_is_private(cli, umask: int, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("RFPILOT_DATABASE_URL")  # the default store inside RFPILOT_HOME
    home = Path(os.environ["RFPILOT_HOME"])
    exports = tmp_path / "exports"  # made by rfpilot, several levels deep

    ok(cli, "config", "set", "identity.name", "Private Tester")
    sid = ok(cli, "new", "Outlook prompts for a password after the reset. It started on Monday.").strip()
    ok(cli, "db", "backup")
    ok(cli, "db", "backup", str(exports / "backups" / "copy.db"))
    body = tmp_path / "body.ps1"
    body.write_text("Restart-Service -Name Spooler\n", encoding="utf-8")
    ok(cli, "templates", "new", "--name", "Restart the spooler", "--file", str(body))
    ok(cli, "templates", "export", "--dir", str(exports / "library"))
    ok(cli, "facts", "add", sid, "The password was reset on Friday")
    ok(cli, "resolve", sid, "--yes", "--export", str(exports / "notes" / "resolution.md"))
    ok(cli, "sessions", "export", sid, "--output", str(exports / "notes" / "s.md"))
    ok(cli, "outputs", "generate", sid)
    ok(cli, "outputs", "approve", sid, "kb")
    ok(cli, "outputs", "export", sid, "kb", "--out", str(exports / "outputs" / "kb.md"))

    written = [exports / "notes" / "s.md", exports / "backups" / "copy.db", exports / "notes" / "resolution.md",
               exports / "outputs" / "kb.md", exports / "library" / "restart-the-spooler.toml"]
    assert all(p.is_file() for p in written)
    assert (home / "config" / "config.toml").is_file() and (home / "data" / "rfpilot.db").is_file()
    assert list((home / "data" / "backups").glob("*-manual.db"))
    assert not_private(home) == {}
    assert not_private(exports) == {}


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_the_store_and_its_wal_and_shm_are_private_while_open(settings, umask: int) -> None:
    from rfpilot.core.context import Workspace

    ws = await Workspace.open(settings)
    try:
        async with ws.ctx() as ctx:
            from rfpilot.core.session.sessions import create_session

            await create_session(ctx, "VPN drops every ten minutes.")
        db = Path(settings.database_url.split("///", 1)[1])
        files = [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]
        assert all(p.exists() for p in files)
        assert {p.name: oct(mode(p)) for p in files} == {p.name: "0o600" for p in files}
        assert mode(db.parent) == 0o700
    finally:
        await ws.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_home_left_by_an_earlier_release_is_tightened(cli, umask: int, tmp_path: Path, monkeypatch) -> None:
    """0755 folders and 0644 files (an older store at 0003, its config) become 0700/0600 when rfpilot opens
    the home; the pre-upgrade backup it takes is 0600 too."""
    import asyncio

    from rfpilot.db import engine as db_engine

    monkeypatch.delenv("RFPILOT_DATABASE_URL")
    home = Path(os.environ["RFPILOT_HOME"])
    (home / "data").mkdir(parents=True)
    (home / "config").mkdir()
    (home / "cache").mkdir()
    (home / "config" / "config.toml").write_text('[identity]\nname = "Old"\n', encoding="utf-8")
    db = home / "data" / "rfpilot.db"

    async def old_store() -> None:
        engine = db_engine.create_engine(f"sqlite:///{db}")
        async with engine.begin() as conn:
            await conn.run_sync(lambda c: db_engine._run_alembic_upgrade(c, "0003"))
        await engine.dispose()

    asyncio.run(old_store())
    for path in [home, home / "data", home / "config", home / "cache"]:
        os.chmod(path, 0o755)
    for path in [home / "config" / "config.toml", db]:
        os.chmod(path, 0o644)
    assert not_private(home)

    ok(cli, "db", "upgrade")
    [backup] = (home / "data" / "backups").glob("*.db")
    assert "before-" in backup.name and mode(backup) == 0o600
    assert not_private(home) == {}


def test_helpers_make_private_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    deep = private_dir(tmp_path / "a" / "b" / "c")
    assert [mode(p) for p in (tmp_path / "a", tmp_path / "a" / "b", deep)] == [0o700] * 3
    mine = tmp_path / "mine"
    mine.mkdir(mode=0o755)
    os.chmod(mine, 0o755)
    private_dir(mine)
    assert mode(mine) == 0o755  # a folder the user already has keeps its mode

    target = write_private(deep / "f.txt", "héllo")
    assert target.read_text(encoding="utf-8") == "héllo" and mode(target) == 0o600
    os.chmod(target, 0o644)
    write_private(target, b"again")  # a rewrite is a new, private file
    assert target.read_bytes() == b"again" and mode(target) == 0o600
    with pytest.raises(UnicodeEncodeError):
        write_private(deep / "bad.txt", "\udcff")
    assert sorted(p.name for p in deep.iterdir()) == ["f.txt"]  # nothing half-written, no temp file

    empty = private_file(deep / "store.db")
    assert mode(empty) == 0o600 and empty.read_bytes() == b""
    conn = sqlite3.connect(empty)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    assert mode(deep / "store.db-wal") == 0o600  # SQLite copies the database's mode
    conn.close()


@pytest.mark.parametrize("given", ["", " ", ".", "..", "a-folder", "a-file/inside.md"])
def test_a_file_option_without_a_file_name_is_a_usage_error_before_anything_runs(cli, tmp_path: Path,
                                                                                   monkeypatch, given: str) -> None:
    """`--output ''` once reached the writer and crashed (a traceback, exit 1 by accident): every file option
    goes through one check that names the option and changes nothing."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-folder").mkdir()
    (tmp_path / "a-file").write_text("x")
    sid = ok(cli, "new", "Printer offline on floor 2").strip()
    before = sorted(p.name for p in tmp_path.iterdir())
    for argv in (["sessions", "export", sid, "--output", given],
                 ["resolve", sid, "--offline", "--yes", "--summary", "Fixed.", "--export", given]):
        code, out, err = cli(*argv)
        assert code == 1, (argv, code, out, err)
        assert err.startswith("error: ") and "Traceback" not in err, err
        assert ("--output" in err or "--export" in err or "directory" in err), err
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert "active" in ok(cli, "sessions", "show", sid)  # the refused resolve changed nothing
