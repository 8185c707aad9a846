"""Start-up structure (issue 15): the lazily converted command tree, parameters without pydantic, one store open
per command, the collector paused while starting. No timings here (bench/startup.py measures them)."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer

import rfpilot.cli
from rfpilot.cli import run_cli, tree

COMMAND_MODULES = {f"rfpilot.cli.{m}" for m in tree.MODULES}


def _imported(*args: str, env_extra: dict[str, str] | None = None) -> set[str]:
    """The modules a fresh `rfpilot ARGS` (its console-script entry, rfpilot.cli.main) had imported at exit."""
    import os

    code = ("import atexit, sys\n"
            "atexit.register(lambda: sys.stderr.write('\\nMODULES ' + ' '.join(sorted(sys.modules)) + '\\n'))\n"
            f"sys.argv = ['rfpilot', *{list(args)!r}]\n"
            "from rfpilot.cli import main\n"
            "main()\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env_extra or {})})
    assert proc.returncode == 0, proc.stderr[-2000:]
    line = [x for x in proc.stderr.splitlines() if x.startswith("MODULES ")][-1]
    return set(line.split()[1:])


def _loaded(names: set[str], top: str) -> bool:
    return any(n == top or n.startswith(top + ".") for n in names)


def _whole_tree():
    return typer.main.get_command(rfpilot.cli.app)


# -- the lazily converted tree ---------------------------------------------------------------------------------------


def test_commands_lists_the_whole_tree_in_order_with_its_help() -> None:
    """COMMANDS (what `rfpilot --help` lists without importing a command module) is the whole tree's top level:
    the same names in the same order, each registered by the module it names, with its help's first paragraph."""
    whole = _whole_tree()
    assert [name for name, _m, _h in tree.COMMANDS] == list(whole.list_commands(None))
    for name, module, help_ in tree.COMMANDS:
        command = whole.commands[name]
        assert not (command.hidden or command.deprecated or command.short_help), name  # formatted from help alone
        text = command.help or ""
        first = text[: text.find("\n\n")] if "\n\n" in text else text
        assert help_ == " ".join(first.split()), name
        if module is not None:  # registered by that module
            registered = tree._module_app(module)
            assert name in {i.name for i in (*registered.registered_commands, *registered.registered_groups)}, name
    assert set(tree.MODULES) == {m for _n, m, _h in tree.COMMANDS if m is not None}


def test_lazy_help_is_the_whole_trees_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["--help"]) == 0
    lazy = capsys.readouterr().out
    with pytest.raises(SystemExit):
        _whole_tree().main(["--help"], prog_name="rfpilot", standalone_mode=True)
    assert lazy == capsys.readouterr().out
    assert all(f"  {name} " in lazy for name, _m, _h in tree.COMMANDS)


def test_the_lazy_tree_converts_to_the_whole_tree() -> None:
    """Every command path and option of the whole tree, found again through the lazy root."""
    lazy_root = tree._command_tree()

    def paths(command, lazy, prefix=()):
        yield prefix, sorted(o for p in command.params for o in getattr(p, "opts", ())), \
            sorted(o for p in lazy.params for o in getattr(p, "opts", ()))
        for name in getattr(command, "commands", {}) or {}:
            yield from paths(command.commands[name], lazy.get_command(None, name), (*prefix, name))

    for path, whole_opts, lazy_opts in paths(_whole_tree(), lazy_root):
        assert whole_opts == lazy_opts, path


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["sessions", "--help"]])
def test_help_and_version_import_no_command_module_no_pydantic_no_sqlalchemy(argv: list[str]) -> None:
    names = _imported(*argv)
    assert not _loaded(names, "pydantic")
    assert not _loaded(names, "sqlalchemy")
    loaded = sorted(names & COMMAND_MODULES)
    assert loaded == (["rfpilot.cli.sessions"] if argv[0] == "sessions" else [])


@pytest.mark.parametrize("argv", [["new", "Printer offline after the driver update"], ["sessions", "list"],
                                  ["search", "printer driver"]])
def test_a_store_command_imports_its_module_only_and_no_pydantic(argv: list[str], tmp_path: Path) -> None:
    """On a store at the current schema: its own command module, SQLAlchemy, no pydantic, no Alembic."""
    env = {"RFPILOT_HOME": str(tmp_path), "RFPILOT_DATABASE_URL": "", "RFPILOT_LLM_PROVIDER": "offline"}
    assert _loaded(_imported("sessions", "list", env_extra=env), "alembic")  # the first open migrates
    names = _imported(*argv, env_extra=env)
    assert _loaded(names, "sqlalchemy")
    assert not _loaded(names, "pydantic")
    assert not _loaded(names, "alembic")
    assert sorted(names & COMMAND_MODULES) == [f"rfpilot.cli.{'search' if argv[0] == 'search' else 'sessions'}"]


def test_showing_a_session_loads_neither_the_chat_engine_nor_the_prompts(tmp_path: Path) -> None:
    """`sessions show` reads the conversation through core.session.messages and the token totals through
    core.session.usage: the engine (markers, prompts, providers) and the usage model are a turn's cost, not a
    view's."""
    env = {"RFPILOT_HOME": str(tmp_path), "RFPILOT_DATABASE_URL": "", "RFPILOT_LLM_PROVIDER": "offline"}
    made = subprocess.run([sys.executable, "-m", "rfpilot", "new", "Printer offline", "--json"], env={**os.environ, **env},
                          capture_output=True, text=True, check=True)
    names = _imported("sessions", "show", json.loads(made.stdout)["id"], env_extra=env)
    assert "rfpilot.core.session.messages" in names
    assert not names & {"rfpilot.core.engine.chat", "rfpilot.core.engine.markers", "rfpilot.core.llm.prompts",
                        "rfpilot.core.llm", "rfpilot.db.models.usage"}


# -- parameters without pydantic -------------------------------------------------------------------------------------


def test_every_parameter_of_the_tree_converts_without_pydantic() -> None:
    """Each parameter (and each -h/--help) of every command gets rfpilot.cli.params' coercion: a new parameter
    of a type it does not know fails here, before it brings pydantic back to the command."""
    from typer._click import Context

    from rfpilot.cli.params import PlainParam

    missing = []

    def walk(command, path, parent=None):
        # A context chain as a run builds it: click caches each command's help option, so one made under a bare
        # context (help_option_names ["--help"]) would leave `-h` unknown to every later test in this process.
        ctx = Context(command, parent=parent, info_name=path[-1], **command.context_settings)
        for param in [*command.params, command.get_help_option(ctx)]:
            if hasattr(param, "type_descriptor") and not isinstance(param._runtime_param, PlainParam):
                missing.append(f"{' '.join(path)} {param.name}")
        for name in command.list_commands(ctx) if hasattr(command, "list_commands") else ():
            walk(command.get_command(ctx, name), (*path, name), ctx)

    walk(tree._command_tree(), ("rfpilot",))
    assert missing == []


@pytest.mark.parametrize(("value", "message"), [
    ("abc", "invalid value for '--limit': 'abc' is not a whole number"),
    ("0", "invalid value for '--limit': must be at least 1"),
    ("10001", "invalid value for '--limit': must be at most 10000"),
])
def test_a_bad_number_is_a_usage_error(value: str, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["sessions", "list", "--limit", value]) == 1
    assert capsys.readouterr().err.splitlines()[0] == f"error: {message}"


def test_plain_coercion_converts_like_typer(tmp_path: Path) -> None:
    from typer.models import OptionInfo

    from rfpilot.cli.params import runtime_param

    def descriptor(annotation, **info):
        from typer._coercion import resolve_type_descriptor

        return resolve_type_descriptor(annotation, OptionInfo(**info))

    class Param:
        multiple, nargs = False, 1

    def convert(annotation, value, **info):
        return runtime_param(descriptor(annotation, **info))._coerce_value(value, Param(), None)

    assert convert(str, b"caf\xc3\xa9") == "café"
    assert convert(int, " 42 ") == 42
    assert convert(bool, "yes") is True and convert(bool, "off") is False
    assert convert(Path, str(tmp_path)) == tmp_path
    assert convert(list[str], ("a", "b")) == ["a", "b"]
    assert convert(list[Path], [str(tmp_path)]) == [tmp_path]


# -- one store open per command --------------------------------------------------------------------------------------


def test_resolve_opens_the_store_once(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """One `resolve` (the close, the draft-template offer, the resolution outputs): one store open, one schema
    check, one identity check; the store is closed when the command is done."""
    import rfpilot.core.context as context
    import rfpilot.db.engine as engine
    from rfpilot.cli import runtime

    code, out, err = cli("new", "Printer offline after the driver update")
    assert code == 0, err
    sid = out.strip()
    assert cli("facts", "add", sid, "Spooler was running")[0] == 0
    calls = {"open_store": 0, "current_revision": 0, "ensure_identity": 0}

    def counted(module, name):
        original = getattr(module, name)

        async def wrapper(*args, **kwargs):
            calls[name] += 1
            return await original(*args, **kwargs)

        monkeypatch.setattr(module, name, wrapper)

    counted(context, "open_store")
    counted(engine, "current_revision")
    counted(context, "ensure_identity")
    code, out, err = cli("resolve", sid, "--yes")
    assert code == 0, err
    assert "Drafted the resolution outputs" in err  # the third step did run
    assert calls == {"open_store": 1, "current_revision": 1, "ensure_identity": 1}
    assert (runtime._Open.scoped, runtime._Open.workspace, runtime._Open.runner) == (False, None, None)


def test_a_failing_command_closes_its_store(cli) -> None:
    from rfpilot.cli import runtime

    code, _out, err = cli("sessions", "show", "0000aaaa")
    assert code == 2, err
    assert (runtime._Open.scoped, runtime._Open.workspace, runtime._Open.runner) == (False, None, None)


def test_a_command_function_called_directly_keeps_nothing_open(cli) -> None:
    """Outside run_cli (a test calling a command's function) each run opens and closes its own store."""
    from rfpilot.cli import runtime

    async def count(ctx):
        return ctx.account.name

    assert runtime.run(count) == runtime.run(count)
    assert (runtime._Open.scoped, runtime._Open.workspace, runtime._Open.runner) == (False, None, None)


# -- the collector while starting ------------------------------------------------------------------------------------


def test_the_collector_is_back_on_once_the_store_is_open(cli) -> None:
    from rfpilot import startup

    assert gc.isenabled()
    startup.begin()
    try:
        assert not gc.isenabled()
        assert cli("sessions", "list")[0] == 0
        assert gc.isenabled()
    finally:
        startup.end()
        gc.enable()


def test_the_console_script_pauses_the_collector() -> None:
    """`rfpilot --help` (no store) ends with the collector paused by rfpilot.cli.main."""
    code = ("import atexit, gc, sys\n"
            "atexit.register(lambda: sys.stderr.write(f'\\nGC {gc.isenabled()}\\n'))\n"
            "sys.argv = ['rfpilot', '--help']\n"
            "from rfpilot.cli import main\n"
            "main()\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines()[-1] == "GC False"


def test_search_maps_only_the_tables_it_reads(tmp_path: Path) -> None:
    """rfpilot.db.models maps a submodule on first use: `search` reads sessions and fixes (and the identity), so the
    other 18 classes are never mapped (≈ 50 ms of start-up)."""
    env = {"RFPILOT_HOME": str(tmp_path), "RFPILOT_DATABASE_URL": "", "RFPILOT_LLM_PROVIDER": "offline"}
    _imported("sessions", "list", env_extra=env)  # the first open migrates (Alembic loads every model)
    names = _imported("search", "printer", env_extra=env)
    mapped = sorted(n.rpartition(".")[2] for n in names if n.startswith("rfpilot.db.models."))
    assert mapped == ["_base", "fixes", "identity", "sessions"]


def test_facts_add_and_show_map_only_the_tables_they_read(tmp_path: Path) -> None:
    """Adding a fact maps neither the seen-before tables nor the script library nor the usage model; showing the
    session adds only the seen-before tables (the token totals are read without mapping the usage model)."""
    env = {"RFPILOT_HOME": str(tmp_path), "RFPILOT_DATABASE_URL": "", "RFPILOT_LLM_PROVIDER": "offline"}
    made = subprocess.run([sys.executable, "-m", "rfpilot", "new", "Printer offline", "--json"], env={**os.environ, **env},
                          capture_output=True, text=True, check=True)
    sid = json.loads(made.stdout)["id"]

    def mapped(*args: str) -> list[str]:
        names = _imported(*args, env_extra=env)
        return sorted(n.rpartition(".")[2] for n in names if n.startswith("rfpilot.db.models."))

    reads = ["_base", "conversation", "fixes", "identity", "lane", "sessions", "team"]
    assert mapped("facts", "add", sid, "The spooler was running") == reads
    assert mapped("sessions", "show", sid) == sorted([*reads, "memory"])


def test_a_store_command_imports_only_its_own_stores_driver(env: dict[str, str]) -> None:
    """A command on Postgres imports neither sqlite3 nor aiosqlite; one on SQLite imports no asyncpg."""
    _imported("sessions", "list", env_extra=env)  # the first open (migrations) is not what is checked
    names = _imported("search", "printer", env_extra=env)
    if env["RFPILOT_DATABASE_URL"].startswith("postgresql"):
        assert not _loaded(names, "sqlite3") and not _loaded(names, "aiosqlite") and _loaded(names, "asyncpg")
    else:
        assert not _loaded(names, "asyncpg") and _loaded(names, "aiosqlite")


def test_the_console_script_ends_without_teardown_but_runs_exit_handlers_and_waits_for_threads(tmp_path: Path) -> None:
    """rfpilot.cli._exit: the exit handlers run and the output is whole; a thread still running is waited for (the
    ordinary exit), so nothing a command started is cut off."""
    env = {**os.environ, "RFPILOT_HOME": str(tmp_path), "RFPILOT_DATABASE_URL": "", "RFPILOT_LLM_PROVIDER": "offline"}
    marker = tmp_path / "thread-done"
    code = ("import atexit, sys, threading, time\n"
            "atexit.register(lambda: sys.stderr.write('exit handler ran\\n'))\n"
            "sys.argv = ['rfpilot', 'sessions', 'list', '--json']\n"
            "from rfpilot.cli import main\n"
            "if __import__('os').environ.get('WITH_THREAD'):\n"
            f"    threading.Thread(target=lambda: (time.sleep(0.3), open({str(marker)!r}, 'w').close())).start()\n"
            "main()\n")
    for with_thread in ("", "1"):
        done = subprocess.run([sys.executable, "-c", code], env={**env, "WITH_THREAD": with_thread},
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == [] and "exit handler ran" in done.stderr
    assert marker.exists()


async def test_an_open_reads_the_revision_and_the_identity_in_one_statement_each(settings) -> None:
    """After the first run, opening the store reads the schema revision (no savepoint around it on its own
    connection) and then the account and the engineer together: one statement each, on both stores."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from rfpilot.core.context import Workspace

    first = await Workspace.open(settings)  # creates the account and the engineer
    await first.close()
    seen: list[str] = []

    def record(conn, cursor, statement, *args) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(Engine, "before_cursor_execute", record)
    try:
        ws = await Workspace.open(settings)
    finally:
        event.remove(Engine, "before_cursor_execute", record)
    try:
        assert (ws.account.id, ws.engineer.id) == (first.account.id, first.engineer.id)
        assert ws.engineer.email == settings.identity_email
    finally:
        await ws.close()
    assert not [s for s in seen if "SAVEPOINT" in s.upper()], seen
    assert [s.split(" FROM ")[0][:6] for s in seen] == ["SELECT", "SELECT"], seen
    assert "alembic_version" in seen[0] and "engineers" in seen[1] and "accounts" in seen[1], seen


@pytest.mark.own_database
async def test_a_store_without_a_schema_reads_as_none_on_its_own_connection(db_url: str, tmp_path: Path) -> None:
    """The revision read without a savepoint still tells an empty store (no alembic_version table) from a broken
    one: the failed read is rolled back and the table looked for."""
    from rfpilot.db import engine as db_engine

    engine = db_engine.create_engine(db_url, own_dir=tmp_path)
    try:
        assert await db_engine.current_revision(engine) is None
        assert await db_engine.current_revision(engine) is None  # the connection went back to the pool usable
    finally:
        await engine.dispose()
    store = await db_engine.open_store(db_url, own_dir=tmp_path)  # and an open after it migrates as ever
    try:
        assert await db_engine.current_revision(store.engine) == db_engine.SCHEMA_HEAD
    finally:
        await store.dispose()
