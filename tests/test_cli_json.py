"""Every command that prints data takes --json (SPEC §14, README), and the commands added for it emit JSON.

The command tree is walked as tests/test_ownership.py does, so a new command cannot be forgotten: it either has
--json or is in ``NO_DATA`` with the reason. An exemption is checked too: its function never writes data to
stdout (``output.data``/``output.emit``/``output.stream``), except where the reason says how JSON is had instead.
"""

from __future__ import annotations

import inspect
import json
import re

import pytest

# command -> why it has no --json
NO_DATA: dict[str, str] = {
    "open": "opens the TUI; prints nothing",
    "config set": "writes config.toml; its one line of confirmation goes to stderr",
    "keys set": "writes the keyring; confirmation on stderr",
    "keys delete": "removes from the keyring; confirmation on stderr",
    "outbox drop": "marks an item dropped; confirmation on stderr",
    "psa remove": "removes a connection; confirmation on stderr",
    "templates rm": "deletes a template; confirmation on stderr",
    "templates reject": "rejects a draft; confirmation on stderr",
    "templates prompt": "switches a team setting; confirmation on stderr",
    "templates review": "an interactive walk on the terminal (stderr); the data commands are templates list/show",
}
# Exempt, yet they print data: JSON is had another way.
OWN_FORMAT = {
    "sessions export": "the export itself is the data, in the format chosen: `--format json` is its JSON",
}
WRITES_DATA = re.compile(r"output\.(data|emit|stream)\(")


def _leaves():
    """(path, click command, the function behind it) for every command of the app."""
    import typer

    from rfpilot.cli import app

    functions = {}

    def collect(typer_app, path: list[str]) -> None:
        for command in typer_app.registered_commands:
            functions[" ".join([*path, command.name or command.callback.__name__.replace("_", "-")])] = command.callback
        for group in typer_app.registered_groups:
            collect(group.typer_instance, [*path, group.name])

    collect(app, [])
    found = []

    def walk(command, path: list[str]) -> None:
        subcommands = getattr(command, "commands", None)
        if subcommands is None:
            name = " ".join(path)
            found.append((name, command, functions.get(name)))
            return
        for name, sub in subcommands.items():
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return found


def test_every_command_that_prints_data_takes_json() -> None:
    missing, stale, printing = [], [], []
    for name, command, function in _leaves():
        has_json = any("--json" in getattr(p, "opts", ()) for p in command.params)
        exempt = name in NO_DATA or name in OWN_FORMAT
        if not has_json and not exempt:
            missing.append(name)
        if has_json and exempt:
            stale.append(name)
        if name in NO_DATA:
            assert function is not None, name
            if WRITES_DATA.search(inspect.getsource(function)):
                printing.append(name)
    assert not missing, f"these commands print data without --json (add it, or exempt them with a reason): {missing}"
    assert not stale, f"these exempt commands have --json now: drop them from the exemptions: {stale}"
    assert not printing, f"these commands are exempt as printing no data, yet write to stdout: {printing}"
    known = {name for name, _, _ in _leaves()}
    assert set(NO_DATA) | set(OWN_FORMAT) <= known, "an exemption names a command that no longer exists"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_store_and_config_commands_speak_json(cli, env, tmp_path) -> None:
    code, out, _ = cli("config", "path", "--json")
    assert code == 0 and json.loads(out) == {"path": f"{env['RFPILOT_HOME']}/config/config.toml", "exists": False}
    code, out, _ = cli("db", "upgrade", "--json")
    upgraded = json.loads(out)
    assert code == 0 and upgraded["current"] == upgraded["head"] and upgraded["backup"] is None
    code, out, _ = cli("db", "path", "--json")
    where = json.loads(out)
    assert code == 0 and where["path"] == env["RFPILOT_DATABASE_URL"].split(":///", 1)[1] and where["exists"] is True
    assert where["source"] == "env RFPILOT_DATABASE_URL"
    code, out, _ = cli("db", "backup", str(tmp_path / "copy.db"), "--json")
    backup = json.loads(out)
    assert code == 0 and backup["backup"] == str(tmp_path / "copy.db") and backup["bytes"] > 0
    code, out, _ = cli("templates", "export", "--dir", str(tmp_path / "lib"), "--json")
    assert code == 0 and json.loads(out) == []
