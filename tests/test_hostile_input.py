"""Hostile bytes: every CLI command × every text option/argument, fed invalid UTF-8, NUL, huge and empty values.

The command list comes from the Typer app, so a new command is fuzzed without anyone adding it here.
For every call: no exception escapes `run_cli`, stderr never holds a traceback, the exit code is one of
docs/cli.md's, and a refused call (usage, not found, conflict) leaves the store's rows and config.toml as
they were. Runs on SQLite and on Postgres (the `cli` fixture). RFPILOT_STRESS=N makes the values bigger and
the hypothesis run longer.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

STRESS = max(1, int(os.environ.get("RFPILOT_STRESS", "1") or 1))
EXIT_CODES = {0, 1, 2, 3, 4, 5, 6}  # docs/cli.md
REFUSED = {1, 2, 3}  # "nothing was changed"

BAD = os.fsdecode(b"caf\xe9 \xff\xfe")  # Latin-1 bytes in argv, surrogate-escaped as Linux delivers them
NUL = "before\x00after"
HUGE = "h" * min(20_000_000, 1_000_000 * STRESS)  # over every limit
BIG = "b" * 100_000  # under the argument limit: reaches the command (a 100 KB path, title, fact…)
EMPTY = ""

# Options and arguments whose value names a file rfpilot reads (checked against the app below).
READS_FILE = {
    ("chat", "file"), ("share-update", "file"), ("resolve", "markdown_file"), ("escalate", "markdown_file"),
    ("lane ran", "out_file"), ("fix suggest", "script_file"), ("fix decide", "script_file"),
    ("templates new", "file"), ("templates new", "param_file"), ("templates edit", "file"),
    ("templates edit", "param_file"), ("templates import", "files"), ("templates accept", "param_file"),
    ("templates accept", "body_file"), ("outputs edit", "file"),
}
# Commands that end or hand off a session: each call gets a fresh session so the others keep theirs.
CLOSES = {"resolve", "escalate", "park", "sessions abandon", "sessions pause"}


def _commands() -> list[tuple[str, object]]:
    from rfpilot.cli import app

    found = []

    def walk(cmd, path):
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                walk(sub, [*path, name])
        else:
            found.append((" ".join(path), cmd))

    walk(typer.main.get_command(app), [])
    return found


COMMANDS = dict(_commands())


def _text_params(cmd) -> list:
    return [p for p in cmd.params if not getattr(p, "is_flag", False) and not getattr(p, "count", False)]


PAIRS = [(name, p.name) for name, cmd in COMMANDS.items() for p in _text_params(cmd)]


def test_the_fuzzed_pairs_cover_every_command_and_the_file_options_exist() -> None:
    assert {name for name, _ in PAIRS} | {n for n, c in COMMANDS.items() if not _text_params(c)} == set(COMMANDS)
    assert len(COMMANDS) > 80 and len(PAIRS) > 150
    assert READS_FILE <= set(PAIRS), READS_FILE - set(PAIRS)


# --- the store as rows, to compare before and after a refusal ---------------------------------------------


def dump(env: dict[str, str]) -> dict:
    url = env["RFPILOT_DATABASE_URL"]
    config = Path(env["RFPILOT_HOME"]) / "config"
    files = {p.name: p.read_bytes() for p in sorted(config.iterdir())} if config.exists() else {}
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[1]
        if not Path(path).exists():
            return {"files": files}
        con = sqlite3.connect(path)
        try:
            tables = [r[0] for r in con.execute("select name from sqlite_master where type='table'")]
            rows = {t: sorted(repr(r) for r in con.execute(f'select * from "{t}"')) for t in tables}
        finally:
            con.close()
        return {"files": files, "rows": rows}

    async def go() -> dict:
        import asyncpg

        conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
        try:
            tables = [r[0] for r in await conn.fetch("select tablename from pg_tables where schemaname = 'public'")]
            # One round trip: every table's row count and the newest transaction that wrote one of its rows. An
            # insert or a delete changes the count, and any insert or update (even one that writes the same
            # values) gives its row the writing transaction's id as xmin, newer than every row there before.
            # Not a digest of every row: the run's database is shared by every test before this one (their
            # 20,000-message sessions included), and hundreds of dumps here would sort and hash all of it.
            query = " union all ".join(
                f"""select '{t}', count(*), coalesce(max(x.xmin::text::bigint), 0) from "{t}" x"""
                for t in tables
            )
            return {r[0]: (r[1], r[2]) for r in await conn.fetch(query)}
        finally:
            await conn.close()

    return {"files": files, "rows": asyncio.run(go())}


# --- a world for the commands to act on -----------------------------------------------------------------


class World:
    def __init__(self, cli, env: dict[str, str], tmp: Path) -> None:
        self.cli, self.env, self.tmp = cli, env, tmp
        code, out, err = cli("demo")
        assert code == 0, err
        self.sid = out.strip()
        code, out, err = cli("sessions", "show", self.sid, "--json")
        details = json.loads(out)
        self.fact = details["facts"][0]["id"]
        self.item = details["lane"][0]["id"]
        self.fix = details["active_fix"]["id"]
        self.script = tmp / "fix.ps1"
        self.script.write_text("Write-Output 'hi'\n", encoding="utf-8")
        self.template = tmp / "tpl.toml"
        code, _, err = cli("templates", "new", "--name", "Fuzz template", "--slug", "fuzz-tpl", "--file", str(self.script))
        assert code == 0, err
        code, out, err = cli("templates", "export", "fuzz-tpl", "--dir", str(tmp / "tpl"))
        self.template = next((tmp / "tpl").iterdir()) if (tmp / "tpl").exists() else self.template
        self.n = 0

    def fresh_session(self) -> str:
        code, out, err = self.cli("new", "The printer on floor 2 drops jobs since Monday.")
        assert code == 0, err
        return out.strip()

    def valid(self, command: str, name: str, sid: str) -> str:
        self.n += 1
        values = {
            "session": sid, "fact": self.fact, "fix": self.fix, "slug": "fuzz-tpl", "slugs": "fuzz-tpl",
            "confidence": "80", "waiting_on": "user", "reason": "they disagree", "options": "A: one",
            "evidence_from": "root", "evidence": "a log line", "to": "file", "output_type": "client_summary",
            "provider": "connectwise", "decision": "one_off", "status": "dead_end", "state": "draft",
            "key": "identity.name", "value": "Someone", "ticket": "48307", "outcome": "worked",
            "file": str(self.script), "files": str(self.template), "script_file": str(self.script),
            "dest": str(self.tmp / f"backup-{self.n}.db"), "out": str(self.tmp / f"out-{self.n}.md"),
            "export": str(self.tmp / f"export-{self.n}.md"), "directory": str(self.tmp / f"dir-{self.n}"),
            "item": self.item, "name": f"Fuzz {self.n}", "text": "A plain sentence.", "title": "A title",
            "label": "A check", "answer": "Yes.", "message": "Hello.", "sets": "name=value",
        }
        return values.get(name, "x")

    def argv(self, command: str, fuzzed: str, value: str, *, fresh: bool = True) -> list[str]:
        cmd = COMMANDS[command]
        sid = self.fresh_session() if fresh and command in CLOSES else self.sid
        args = command.split()
        options: list[str] = []
        for p in _text_params(cmd):
            is_option = bool(getattr(p, "opts", None)) and p.opts[0].startswith("-")
            if p.name == fuzzed:
                given = value
            elif p.required:
                given = self.valid(command, p.name, sid)
            else:
                continue
            if is_option:
                options += [p.opts[0], given]
            else:
                args.append(given)
        if command in CLOSES | {"share-update", "psa remove", "templates rm", "outbox drop"}:
            options.append("--yes")
        if command in ("resolve", "escalate", "preview resolve", "preview escalate"):
            options.append("--offline")
        return [*args, *options]


@pytest.fixture
def world(cli, env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    import rfpilot.tui

    monkeypatch.setattr(rfpilot.tui, "run", lambda *a, **k: 0)  # `open` must not start a full-screen app
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    monkeypatch.chdir(tmp_path)  # commands that write to the current directory (templates export) write here
    return World(cli, env, tmp_path)


def call(world: World, argv: list[str], *, stdin: bytes | None = None) -> tuple[int, str, str]:
    if stdin is not None:
        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
    try:
        code, out, err = world.cli(*argv)
    finally:
        sys.stdin = io.StringIO("")
    shown = f"`rfpilot {' '.join(a[:60] for a in argv)!r}` exited {code}: {err[-2000:]}"
    assert "Traceback" not in err and "Traceback" not in out, shown
    assert code in EXIT_CODES, shown
    if code != 0:
        assert "error:" in err, shown
    return code, out, err


def refused(world: World, argv: list[str], *, stdin: bytes | None = None) -> str:
    """A call that must be refused as a usage error (the caller compares the store once around a batch of these)."""
    code, _, err = call(world, argv, stdin=stdin)
    assert code == 1, f"`rfpilot {' '.join(a[:60] for a in argv)!r}` exited {code}: {err[-2000:]}"
    return err


# --- the sweep: every pair, every kind of bad value ---------------------------------------------------------


def test_every_command_refuses_invalid_utf8_nul_and_huge_arguments_files_and_stdin(world: World) -> None:
    before = dump(world.env)
    for command, name in PAIRS:
        for value in (BAD, NUL, HUGE):
            err = refused(world, world.argv(command, name, value, fresh=False))
            assert err.startswith("error: ") and len(err.splitlines()) <= 2, err  # one error line (and a hint)
    _files_and_stdin(world)
    assert dump(world.env) == before  # every call was refused, so none may have changed anything


def test_every_command_survives_empty_and_big_values(world: World) -> None:
    """Values that pass the argument check reach the commands: each ends in a documented exit, a refusal changes nothing."""
    # Every pair with both values, in a fixed order, so that a failure in CI is the same failure on a laptop
    # (a random sample once let `sessions export --output ''` crash in one CI run and pass the next).
    for command, name in PAIRS:
        for value in (EMPTY, BIG):
            argv = world.argv(command, name, value)
            before = dump(world.env)
            code, _, err = call(world, argv)
            if code in REFUSED:
                assert dump(world.env) == before, f"{command} {name}={value[:20]!r} exited {code}, changed the store"


def _files_and_stdin(world: World) -> None:
    """Files and stdin with invalid UTF-8, NUL or too much content: refused, naming the file or stdin."""
    contents = {"latin1": b"caf\xe9 au lait\n", "nul": b"text\x00more\n", "huge": b"z" * (2_000_001 + 1000 * STRESS)}
    for kind, data in contents.items():
        (world.tmp / f"hostile-{kind}.txt").write_bytes(data)
    kinds = list(contents)
    for index, (command, name) in enumerate(sorted(READS_FILE)):
        # CI: each option gets one kind as a file and another on stdin; RFPILOT_STRESS=2+: every kind both ways.
        for kind in kinds if STRESS > 1 else [kinds[index % 3]]:
            err = refused(world, world.argv(command, name, str(world.tmp / f"hostile-{kind}.txt"), fresh=False))
            assert f"hostile-{kind}" in err and ("UTF-8" in err or "NUL" in err or "too large" in err), err
        for kind in kinds if STRESS > 1 else [kinds[(index + 1) % 3]]:
            if name != "files":
                err = refused(world, world.argv(command, name, "-", fresh=False), stdin=contents[kind])
                assert "stdin" in err, err
    for data in contents.values():
        refused(world, ["keys", "set", "anthropic"], stdin=data)
        refused(world, ["psa", "connect", "connectwise", "--secrets-stdin", "--site", "na.myconnectwise.net",
                        "--company", "acme", "--public-key", "pub", "--client-id", "cid", "--member", "m"],
                stdin=data)


_INVALID = st.binary(min_size=1, max_size=6).filter(lambda b: not _is_utf8(b))


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


HOSTILE = st.one_of(
    st.tuples(st.text(max_size=12), _INVALID, st.text(max_size=12)).map(lambda t: t[0] + os.fsdecode(t[1]) + t[2]),
    st.tuples(st.text(max_size=12), st.text(max_size=12)).map(lambda t: t[0] + "\x00" + t[1]),
    st.text(min_size=1, max_size=3).map(lambda t: t * (200_000 * STRESS)),
)


@settings(max_examples=25 * STRESS, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
@given(pair=st.sampled_from(PAIRS), value=HOSTILE)
def test_hypothesis_hostile_values(world: World, pair: tuple[str, str], value: str) -> None:
    command, name = pair
    baseline = world.__dict__.setdefault("baseline", dump(world.env))
    refused(world, world.argv(command, name, value, fresh=False))
    assert dump(world.env) == baseline


# --- the issue's own cases ------------------------------------------------------------------------------------


def test_resolve_with_invalid_bytes_in_the_summary_changes_nothing(world: World) -> None:
    """On main the fix was committed as applied_success, then the close crashed and the session stayed active."""
    before = dump(world.env)
    code, _, err = call(world, ["resolve", world.sid, "--yes", "--offline", "--summary", os.fsdecode(b"\xff")])
    assert code == 1 and "--summary" in err and "UTF-8" in err
    assert dump(world.env) == before


@pytest.mark.parametrize("action", ["resolve", "escalate"])
def test_a_close_that_fails_after_the_fix_outcome_records_no_outcome(world: World, monkeypatch, action: str) -> None:
    """One transaction: the outcome of the verifying fix, the drafted note and the close, or none of them."""
    monkeypatch.setenv("EDITOR", "truncate -s 0")  # the engineer empties the note in the editor
    before = dump(world.env)
    extra = ["--fix-outcome", "failed"] if action == "escalate" else []
    code, _, err = call(world, [action, world.sid, "--yes", "--offline", "--edit", *extra])
    assert code == 1 and "empty" in err, err
    assert dump(world.env) == before
    shown = json.loads(world.cli("sessions", "show", world.sid, "--json")[1])
    assert shown["session"]["status"] == "active" and shown["active_fix"]["verifying"]


def test_config_set_with_invalid_bytes_leaves_config_toml_untouched_and_no_tmp(world: World) -> None:
    from rfpilot.config import load_settings, write_setting

    assert world.cli("config", "set", "identity.account", world.env["RFPILOT_ACCOUNT"])[0] == 0
    config = Path(world.env["RFPILOT_HOME"]) / "config"
    before = {p.name: p.read_bytes() for p in config.iterdir()}
    err = refused(world, ["config", "set", "identity.name", os.fsdecode(b"\xff")])
    assert "identity.name" not in err or "UTF-8" in err
    # Below the CLI too: write_setting checks the value before it touches the file.
    paths = load_settings(env=world.env).paths
    for value in ("\udcff", "a\x00b", "\ud800"):
        with pytest.raises(Exception) as caught:
            write_setting(paths, "identity.name", value)
        assert getattr(caught.value, "exit_code", None) == 1, caught.value
    assert {p.name: p.read_bytes() for p in config.iterdir()} == before


@pytest.mark.parametrize("argv", [
    ["sessions", "export", "SID", "--out", "PATH"], ["resolve", "SID", "--yes", "--offline", "--export", "PATH"],
    ["db", "backup", "PATH"], ["outputs", "export", "SID", "--out", "PATH"],
])
def test_a_100kb_path_is_one_error_line(world: World, argv: list[str]) -> None:
    path = str(world.tmp / ("p" * 100_000))
    before = dump(world.env)
    code, _, err = call(world, [path if a == "PATH" else world.sid if a == "SID" else a for a in argv])
    assert code in (1, 2) and err.startswith("error: ") and len(err.splitlines()) <= 2 and len(err) < 1000, err
    assert dump(world.env) == before


def test_real_processes_with_bytes_argv_and_stdin(env: dict[str, str], tmp_path: Path) -> None:
    """As Linux delivers them: argv and stdin bytes, decoded by Python itself (surrogateescape)."""
    environ = {**os.environ, **env, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}

    def run(*args: bytes, stdin: bytes = b"") -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "rfpilot", *args], env=environ, input=stdin, cwd=tmp_path,
                              capture_output=True, timeout=120)

    for args, stdin in [
        ((b"new", b"caf\xe9 printer"), b""),
        ((b"config", b"set", b"identity.name", b"\xff\xfe"), b""),
        ((b"templates", b"new", b"--name", b"X", b"--file", b"-"), b"Write-Output caf\xe9"),
        ((b"new", b"ok", b"--title", b"a\xc3"), b""),
    ]:
        done = run(*args, stdin=stdin)
        assert done.returncode == 1, done.stderr
        assert b"Traceback" not in done.stderr and done.stderr.startswith(b"error: "), done.stderr
        assert len(done.stderr.splitlines()) <= 2, done.stderr
    assert not list((Path(env["RFPILOT_HOME"]) / "config").glob("*.tmp"))
