"""`--help` on every command and `--version`: they work without opening the store.

These do not use the `cli` fixture (no database is involved), so they run once,
not once per backend. The command tree is walked from the Typer app itself,
so a command added later is covered without editing this file.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

import rfpilot
import rfpilot.cli
from rfpilot.cli import run_cli


def _walk(command, path: tuple[str, ...] = ()):
    yield path
    for name, sub in sorted((getattr(command, "commands", None) or {}).items()):
        yield from _walk(sub, (*path, name))


COMMAND_PATHS = list(_walk(typer.main.get_command(rfpilot.cli.app)))

# Commands SPEC §14 names that exist in this version (the walk must find at least these).
EXPECTED = {
    "new", "resolve", "escalate", "doctor",
    "sessions list", "sessions show", "sessions export", "sessions reopen", "sessions abandon",
    "sessions pause", "sessions resume",
    "facts list", "facts add", "facts edit", "facts rm",
    "lane list", "lane ask", "lane check", "lane answer", "lane ran", "lane skip",
    "fix show", "fix apply", "fix outcome", "fix decide", "fix suggest", "fix finish",
    "preview resolve", "preview escalate",
    "config get", "config set", "config path",
    "db upgrade", "db current", "db backup", "db path",
}


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty RFPILOT_HOME and a SQLite URL that must not come into existence."""
    home = tmp_path / "home"
    monkeypatch.setenv("RFPILOT_HOME", str(home))
    monkeypatch.setenv("RFPILOT_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'never.db'}")
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = run_cli(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_walk_finds_every_documented_command():
    """The command tree walk reaches every SPEC §14 command this version has."""
    found = {" ".join(p) for p in COMMAND_PATHS}
    assert EXPECTED <= found, sorted(EXPECTED - found)


@pytest.mark.parametrize("path", COMMAND_PATHS, ids=lambda p: " ".join(p) or "rfpilot")
def test_help_works_for_every_command(path, isolated, capsys):
    """`rfpilot … --help` exits 0 with usage on stdout, and opens no store."""
    code, out, err = run(capsys, *path, "--help")
    assert code == 0, err
    assert out.startswith("Usage: " + " ".join(("rfpilot", *path)))
    assert err == ""
    assert not (isolated / "never.db").exists()
    assert not (isolated / "home").exists()

    code, short_out, _ = run(capsys, *path, "-h")
    assert code == 0 and short_out == out


@pytest.mark.parametrize("command", ["resolve", "escalate"])
def test_close_commands_have_the_documented_flags(command, isolated, capsys):
    """`resolve` and `escalate` accept every flag SPEC §14 lists for them."""
    code, out, _ = run(capsys, command, "--help")
    assert code == 0
    for flag in ("--yes", "--markdown-file", "--edit", "--offline", "--fix-outcome", "--notes", "--summary",
                 "--export", "--json"):
        assert flag in out, f"{command} --help does not list {flag}"


def test_version(isolated, capsys):
    """`rfpilot --version` prints `rfpilot <version>` on stdout and exits 0."""
    code, out, err = run(capsys, "--version")
    assert code == 0
    assert out == f"rfpilot {rfpilot.__version__}\n"
    assert err == ""
    assert not (isolated / "never.db").exists()
