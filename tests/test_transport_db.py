"""Postgres URLs as users write them (issue 12, item 11), end to end against the local server (127.0.0.1:5432).

libpq query parameters are mapped to asyncpg or refused by name; a bad URL is one `error:` line on every command
(never a traceback); a database password never reaches config.toml nor any output, and comes from the keyring
(`rfpilot keys set database`), PGPASSWORD or ~/.pgpass. The local server has no SSL and trusts every password, so
the tests look at what reaches ``asyncpg.connect`` (a spy that calls the real function) and at the server's view.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from rfpilot.db import pgurl
from rfpilot.db.engine import create_engine, normalise_url
from rfpilot.errors import ConfigError, StoreError

pytestmark = pytest.mark.postgres

SECRET = "Pw-4f1c9e-NOT-IN-FILES"


@pytest.fixture
def db_url(pg_url: str) -> str:
    """Every CLI test here runs on the local Postgres (the URL forms are Postgres's)."""
    return pg_url


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The keyword arguments of every ``asyncpg.connect`` call (which still connects for real)."""
    import asyncpg

    real = asyncpg.connect
    calls: list[dict[str, Any]] = []

    def spy(*args: Any, **kwargs: Any):
        calls.append(dict(kwargs))
        return real(*args, **kwargs)

    monkeypatch.setattr(asyncpg, "connect", spy)
    return calls


def _with(url: str, query: str) -> str:
    return url + ("&" if "?" in url else "?") + query


def _one_error(err: str) -> str:
    """stderr is one `error:` line, perhaps a `hint:` line, and nothing else (no traceback)."""
    lines = err.strip().splitlines()
    assert lines and lines[0].startswith("error: "), err
    assert all(line.startswith("hint: ") for line in lines[1:]), err
    assert "Traceback" not in err
    return lines[0]


# --- mapping ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("query,expected", [
    ("sslmode=require", {"dsn": "postgresql://?sslmode=require"}),
    ("sslmode=disable", {"dsn": "postgresql://?sslmode=disable"}),
    ("sslmode=verify-full&sslrootcert=/etc/ssl/ca%20root.pem",
     {"dsn": "postgresql://?sslmode=verify-full&sslrootcert=%2Fetc%2Fssl%2Fca+root.pem"}),
    ("connect_timeout=5", {"timeout": 5.0}),
    ("connect_timeout=0", {"timeout": None}),
    ("application_name=x", {"server_settings": {"application_name": "x"}}),
    ("options=-c%20search_path%3Dpublic%20-cstatement_timeout%3D5000",
     {"server_settings": {"search_path": "public", "statement_timeout": "5000"}}),
    ("target_session_attrs=read-write", {"dsn": "postgresql://?target_session_attrs=read-write"}),
    ("host=/var/run/postgresql", {}),  # SQLAlchemy's dialect reads host itself
])
def test_libpq_parameters_are_mapped(query: str, expected: dict[str, Any]) -> None:
    url, args = pgurl.connect_args(pgurl.parse(normalise_url(f"postgresql://u@db.example/app?{query}")))
    assert args == expected
    assert set(url.query) <= set(pgurl.DIALECT)


@pytest.mark.parametrize("query,named", [
    ("sslmod=require", "sslmod"), ("ssl=true", "ssl"), ("dbname=x", "dbname"), ("sslmode=bogus", "bogus"),
    ("connect_timeout=soon", "connect_timeout"), ("options=-X", "options"),
    ("sslmode=require&sslmode=disable", "sslmode"), ("target_session_attrs=any-old", "any-old"),
])
def test_other_parameters_are_refused_by_name(query: str, named: str) -> None:
    with pytest.raises(StoreError) as err:
        create_engine(f"postgresql://u@db.example/app?{query}")
    assert named in err.value.message


@pytest.mark.parametrize("url", [
    "postgresql://u@h:99999/db", "postgresql://u@h:0/db", "postgresql://u@h:-1/db", "postgresql://u@h:abc/db",
    "postgresql://[::1/db", "garbage", "://", "", "mysql://root@h/db", "sqlite+aiosqlite://:99999/x",
])
def test_invalid_urls_are_one_store_error(url: str) -> None:
    with pytest.raises(StoreError):
        create_engine(url)


# --- every command, end to end on the local server -------------------------------------------------------------

COMMANDS = [["sessions", "list"], ["db", "current"], ["db", "upgrade"], ["db", "path"], ["new", "printer down"],
            ["outbox", "list"]]


@pytest.mark.parametrize("query", ["sslmode=disable", "sslmode=prefer", "connect_timeout=5",
                                   "application_name=rfpilot-transport-test",
                                   "sslmode=prefer&connect_timeout=5&application_name=x&options=-c%20work_mem%3D8MB"])
def test_accepted_parameters_connect(cli, env, monkeypatch, connects, query: str) -> None:
    monkeypatch.setenv("RFPILOT_DATABASE_URL", _with(env["RFPILOT_DATABASE_URL"], query))
    code, out, err = cli("sessions", "list")
    assert code == 0, err
    code, out, err = cli("db", "current")
    assert code == 0 and "up to date" in out, err
    assert connects
    kwargs = connects[-1]
    assert "sslmode" not in kwargs and "connect_timeout" not in kwargs and "application_name" not in kwargs
    if "connect_timeout=5" in query:
        assert kwargs["timeout"] == 5.0
    if "application_name" in query:
        assert "application_name" in kwargs["server_settings"]


def test_application_name_and_options_reach_the_server(env) -> None:
    from sqlalchemy import text

    url = _with(env["RFPILOT_DATABASE_URL"], "application_name=rfpilot-probe&options=-c%20work_mem%3D8MB")

    async def go() -> tuple[str, str]:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                return ((await conn.execute(text("SHOW application_name"))).scalar_one(),
                        (await conn.execute(text("SHOW work_mem"))).scalar_one())
        finally:
            await engine.dispose()

    assert asyncio.run(go()) == ("rfpilot-probe", "8MB")


def test_sslmode_require_on_a_server_without_ssl_is_one_line(cli, env, monkeypatch) -> None:
    monkeypatch.setenv("RFPILOT_DATABASE_URL", _with(env["RFPILOT_DATABASE_URL"], "sslmode=require"))
    for command in (["sessions", "list"], ["db", "current"], ["db", "upgrade"], ["new", "printer down"]):
        code, out, err = cli(*command)
        assert code == 1, (command, err)
        assert "SSL" in _one_error(err) and "sslmode=prefer" in err


@pytest.mark.parametrize("bad", [
    "postgresql://postgres@127.0.0.1:99999/x", "postgresql://postgres@127.0.0.1:abc/x",
    "postgresql://postgres@127.0.0.1:5432/x?sslmod=require", "garbage", "mysql://root@127.0.0.1/x",
    "postgresql://postgres:" + SECRET + "@127.0.0.1:70000/x",
])
def test_invalid_urls_are_one_line_on_every_command(cli, monkeypatch, bad: str) -> None:
    monkeypatch.setenv("RFPILOT_DATABASE_URL", bad)
    for command in COMMANDS:
        code, out, err = cli(*command)
        assert code == 1, (command, err)
        _one_error(err)
        assert SECRET not in out + err
    code, out, err = cli("doctor")
    assert code == 1 and "NOT OK" in out and "Traceback" not in out + err and SECRET not in out + err


def test_an_invalid_url_in_config_toml_is_one_line_too(cli, env, monkeypatch) -> None:
    config = Path(env["RFPILOT_HOME"]) / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('[database]\nurl = "postgresql://postgres@127.0.0.1:99999/x"\n', encoding="utf-8")
    monkeypatch.delenv("RFPILOT_DATABASE_URL")
    code, out, err = cli("sessions", "list")
    assert code == 1 and "99999" in _one_error(err)


# --- the password ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [
    f"postgresql://postgres:{SECRET}@127.0.0.1:5432/rfpilot",
    f"postgres://postgres:{SECRET}@127.0.0.1/rfpilot?sslmode=require",
    f"postgresql://postgres@127.0.0.1/rfpilot?sslkey=/k.pem&sslpassword={SECRET}",
])
def test_config_set_never_writes_a_password(cli, env, url: str) -> None:
    config = Path(env["RFPILOT_HOME"]) / "config" / "config.toml"
    code, out, err = cli("config", "set", "identity.name", "Jo")
    assert code == 0
    before = config.read_text(encoding="utf-8")
    code, out, err = cli("config", "set", "database.url", url)
    assert code == 1 and "password" in _one_error(err) and "rfpilot keys set database" in err
    assert SECRET not in out + err
    assert config.read_text(encoding="utf-8") == before
    assert not list(config.parent.glob("*.tmp"))


def test_config_set_refuses_a_url_that_cannot_open_and_keeps_a_good_one(cli, env) -> None:
    config = Path(env["RFPILOT_HOME"]) / "config" / "config.toml"
    code, out, err = cli("config", "set", "database.url", "postgresql://postgres@127.0.0.1:99999/x")
    assert code == 1 and "99999" in _one_error(err) and not config.exists()
    good = env["RFPILOT_DATABASE_URL"].replace("+asyncpg", "") + "?sslmode=prefer"
    code, out, err = cli("config", "set", "database.url", good)
    assert code == 0, err
    assert good in config.read_text(encoding="utf-8")


def test_the_keyring_supplies_the_password(cli, env, monkeypatch, memory_keyring, connects) -> None:
    monkeypatch.delenv("PGPASSWORD", raising=False)
    code, out, err = cli("keys", "set", "database", stdin=SECRET + "\n")
    assert code == 0, err
    code, out, err = cli("keys", "list")
    assert code == 0 and "database" in out and SECRET not in out + err
    code, out, err = cli("sessions", "list")
    assert code == 0, err
    assert connects and connects[-1].get("password") == SECRET
    for command in (["config", "get", "database.url"], ["db", "current"], ["doctor"]):
        code, out, err = cli(*command)
        assert SECRET not in out + err
    home = Path(env["RFPILOT_HOME"])
    for path in home.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_pgpassword_supplies_the_password(cli, monkeypatch, memory_keyring, connects) -> None:
    monkeypatch.setenv("PGPASSWORD", SECRET)
    code, out, err = cli("sessions", "list")
    assert code == 0, err
    assert connects[-1].get("password") == SECRET and SECRET not in out + err


def test_without_keyring_or_pgpassword_asyncpg_reads_pgpass(env, monkeypatch, memory_keyring, tmp_path) -> None:
    """Nothing is passed: asyncpg's own libpq rules read the passfile (checked with its parser, then connected)."""
    from asyncpg import connect_utils

    monkeypatch.delenv("PGPASSWORD", raising=False)
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"127.0.0.1:5432:*:postgres:{SECRET}\n", encoding="utf-8")
    passfile.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    url = env["RFPILOT_DATABASE_URL"]
    from rfpilot.core.secrets import database_password

    assert database_password(url) is None
    engine_url, args = pgurl.connect_args(pgurl.parse(normalise_url(url)))
    assert "password" not in args
    _, params = connect_utils._parse_connect_dsn_and_args(
        dsn=None, host=engine_url.host, port=engine_url.port, user=engine_url.username, password=None, passfile=None,
        database=engine_url.database, ssl=None, service=None, servicefile=None, direct_tls=None,
        server_settings=None, target_session_attrs=None, krbsrvname=None, gsslib=None)
    assert params.password == SECRET


def test_a_password_in_the_environment_url_works_and_is_never_shown(cli, env, monkeypatch, connects) -> None:
    with_password = env["RFPILOT_DATABASE_URL"].replace("postgres@", f"postgres:{SECRET}@", 1)
    assert SECRET in with_password
    monkeypatch.setenv("RFPILOT_DATABASE_URL", with_password)
    for command in (["sessions", "list"], ["config", "get", "database.url"], ["db", "path"], ["db", "current"],
                    ["doctor"]):
        code, out, err = cli(*command)
        assert code == 0, (command, err)
        assert SECRET not in out + err
    assert connects[-1].get("password") == SECRET
    monkeypatch.setenv("RFPILOT_DATABASE_URL", _with(with_password, "sslmode=require"))
    code, out, err = cli("sessions", "list")
    assert code == 1 and SECRET not in out + err


def test_the_password_is_refused_in_config_even_through_check_storable() -> None:
    with pytest.raises(ConfigError):
        pgurl.check_storable(f"postgresql://u:{SECRET}@h/db")
    pgurl.check_storable("postgresql://u@h/db?sslmode=verify-full&sslrootcert=/ca.pem")
    pgurl.check_storable("sqlite:////tmp/x.db")
