"""Import hygiene: fast start-up and the layer rules of SPEC §1."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import rfpilot

PACKAGE = Path(rfpilot.__file__).parent
HEAVY = ("anthropic", "textual", "sqlalchemy", "httpx", "alembic")


def _imported_modules(*args: str, env_extra: dict[str, str] | None = None) -> set[str]:
    """Module names Python imported while running ``python -X importtime ARGS``."""
    import os

    env = {**os.environ, **(env_extra or {})}
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", *args], capture_output=True, text=True, env=env, timeout=60
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    names = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip())
    return names


def _loaded(names: set[str], top: str) -> bool:
    return any(n == top or n.startswith(top + ".") for n in names)


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["sessions", "--help"], ["resolve", "--help"]])
def test_help_and_version_load_no_heavy_module(argv: list[str]) -> None:
    """`rfpilot --help`/`--version` never pay for the SDK, Textual, SQLAlchemy or httpx."""
    names = _imported_modules("-m", "rfpilot", *argv)
    assert "rfpilot.cli" in names
    heavy = [top for top in HEAVY if _loaded(names, top)]
    assert heavy == []


@pytest.mark.parametrize("argv", [["sessions", "list"], ["search", "printer offline"]])
def test_sessions_list_never_imports_llm_or_tui(argv: list[str], tmp_path: Path) -> None:
    """Listing or searching sessions touches the store but not the LLM SDK, Textual or httpx."""
    names = _imported_modules(
        "-m", "rfpilot", *argv, env_extra={"RFPILOT_HOME": str(tmp_path), "RFPILOT_DATABASE_URL": ""}
    )
    assert _loaded(names, "sqlalchemy")
    for top in ("anthropic", "textual", "httpx"):
        assert not _loaded(names, top), top


def _modules_outside_tui() -> list[str]:
    mods = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent)
        if rel.parts[1] == "tui" or "migrations" in rel.parts:
            continue
        name = ".".join(rel.with_suffix("").parts)
        if name.endswith(".__main__"):
            continue
        mods.append(name.removesuffix(".__init__"))
    return mods


def test_no_textual_import_outside_tui_statically() -> None:
    """No module outside rfpilot/tui names textual in an import statement."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.relative_to(PACKAGE).parts[0] == "tui":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n == "textual" or n.startswith("textual.") for n in names):
                offenders.append(str(path))
    assert offenders == []


def test_importing_every_non_tui_module_leaves_textual_unloaded() -> None:
    """Importing every non-TUI module in a fresh interpreter does not load textual."""
    mods = _modules_outside_tui()
    assert "rfpilot.core.session.fixes" in mods and "rfpilot.cli" in mods
    code = "import importlib, sys\n" + "".join(f"importlib.import_module({m!r})\n" for m in mods)
    code += "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\nprint(bad)\n"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[]"


def test_no_module_level_anthropic_import() -> None:
    """`import anthropic` (≈2.7 s) only ever happens inside the code path that calls the API."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "anthropic" for a in node.names):
                offenders.append(str(path))
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "anthropic":
                offenders.append(str(path))
    assert offenders == []


# --- the TUI's start-up: bare `rfpilot` and `rfpilot open SESSION` ------------------------------------------

# Run through the console script's entry (rfpilot.cli.main) in a pseudo-terminal, as a terminal runs it. The app
# class is swapped for a probe that writes the names of the loaded modules, then exits, when it is constructed.
_PROBE = """
import json, os, sys
import rfpilot.tui.app

class Probe:
    def __init__(self, *args, **kwargs):
        with open(os.environ["PROBE_OUT"], "w") as out:
            json.dump(sorted(sys.modules), out)
        raise SystemExit(0)

rfpilot.tui.app.RfpilotApp = Probe
sys.argv = ["rfpilot", *sys.argv[1:]]
from rfpilot.cli import main
main()
"""

# The command tree and what only it needs; the store, the engine, the SDKs and the PSA clients, which open after
# the first frame (or later).
NOT_BEFORE_THE_APP = (
    "typer", "click", "pydantic", "rfpilot.cli.tree", "rfpilot.cli.sessions", "rfpilot.cli.chat", "rfpilot.cli.lane",
    "rfpilot.cli.psa", "rfpilot.cli.templates", "rfpilot.cli.admin", "sqlalchemy", "anthropic", "httpx",
    "rfpilot.core.engine.chat", "rfpilot.core.context", "rfpilot.psa", "rfpilot.core.closeout.psa",
)


def _modules_at_app_construction(tmp_path: Path, *argv: str) -> set[str]:
    import json
    import os
    import pty

    out = tmp_path / "modules.json"
    env = {**os.environ, "RFPILOT_HOME": str(tmp_path / "home"), "PROBE_OUT": str(out), "RFPILOT_DATABASE_URL": ""}
    env.pop("_RFPILOT_COMPLETE", None)
    leader, follower = pty.openpty()  # stdin and stdout are a terminal, as when an engineer types `rfpilot`
    try:
        proc = subprocess.run([sys.executable, "-c", _PROBE, *argv], stdin=follower, stdout=follower,
                              stderr=subprocess.PIPE, env=env, timeout=60)
    finally:
        os.close(follower)
        os.close(leader)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    return set(json.loads(out.read_text(encoding="utf-8")))


@pytest.mark.parametrize("argv", [[], ["open", "abcd1234"]])
def test_tui_entry_reaches_the_app_without_the_command_tree(tmp_path: Path, argv: list[str]) -> None:
    """Bare `rfpilot` and `rfpilot open SESSION` build no Typer tree (Typer, pydantic, the command modules) and
    import neither the store, the chat engine, the SDKs nor the PSA clients before the app exists."""
    names = _modules_at_app_construction(tmp_path, *argv)
    assert "rfpilot.cli" in names and "textual" in names  # the probe ran where the app is made
    assert [top for top in NOT_BEFORE_THE_APP if _loaded(names, top)] == []


def test_session_list_does_not_wait_for_the_chat_engine(tmp_path: Path) -> None:
    """When the session list is first filled, the chat engine, the views, the LLM SDKs and the PSA clients
    are still unimported: the list waits only for the store."""
    import json
    import os

    out = tmp_path / "modules.json"
    code = f"""
import asyncio, json, sys
from rfpilot.tui.app import RfpilotApp
from rfpilot.tui.widgets.session_list import SessionList

first = []
original = SessionList.set_sessions
def set_sessions(self, *args, **kwargs):
    if not first:
        first.append(sorted(sys.modules))
    return original(self, *args, **kwargs)
SessionList.set_sessions = set_sessions

async def main():
    app = RfpilotApp()
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(1200):  # until the list is filled and the rest of the start-up is done
            if first and not app.workers:
                break
            await pilot.pause(0.05)
    with open({str(out)!r}, "w") as f:
        json.dump(first[0], f)
asyncio.run(main())
"""
    env = {**os.environ, "RFPILOT_HOME": str(tmp_path / "home"), "RFPILOT_DATABASE_URL": "",
           "RFPILOT_LLM_PROVIDER": "offline", "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    names = set(json.loads(out.read_text(encoding="utf-8")))
    assert _loaded(names, "sqlalchemy")  # the store is open: the list came from it
    for name in ("rfpilot.core.engine.chat", "rfpilot.core.views", "rfpilot.core.closeout.psa", "rfpilot.psa", "anthropic", "httpx",
                 "typer", "pydantic"):
        assert not _loaded(names, name), name


def test_a_local_resolve_imports_no_psa_code(tmp_path: Path) -> None:
    """`resolve --yes` on a session with no PSA ticket (offline drafter) imports neither the PSA clients nor the
    outbox write-back, nor the template renderer (it only reads the session's draft templates), nor the team
    queue (only core.session.handoff_lock: withdrawing the session's waiting handoffs)."""
    env = {"RFPILOT_HOME": str(tmp_path), "RFPILOT_DATABASE_URL": "", "RFPILOT_LLM_PROVIDER": "offline",
           "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    import os

    made = subprocess.run([sys.executable, "-m", "rfpilot", "new", "Printer offline after the driver update"],
                          capture_output=True, text=True, env={**os.environ, **env}, timeout=60)
    assert made.returncode == 0, made.stderr[-2000:]
    names = _imported_modules("-m", "rfpilot", "resolve", made.stdout.strip(), "--yes", env_extra=env)
    assert "rfpilot.core.team.outputs" in names  # the resolution outputs were drafted
    for module in ("rfpilot.psa", "rfpilot.core.closeout.psa", "rfpilot.core.closeout.writeback", "rfpilot.core.library.render",
                   "rfpilot.core.team.handoffs"):
        assert module not in names, module
