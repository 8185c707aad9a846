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


def test_sessions_list_never_imports_llm_or_tui(tmp_path: Path) -> None:
    """Listing sessions touches the store but not the LLM SDK, Textual or httpx."""
    names = _imported_modules(
        "-m", "rfpilot", "sessions", "list", env_extra={"RFPILOT_HOME": str(tmp_path), "RFPILOT_DATABASE_URL": ""}
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
    assert "rfpilot.core.fixes" in mods and "rfpilot.cli" in mods
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
