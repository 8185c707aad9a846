"""The type check is part of the suite: mypy over rfpilot/ at the level pyproject.toml's [tool.mypy] sets.

A renamed key of a view (rfpilot.core.view_types) or a None that a caller does not expect fails here, with
mypy's own report, not at run time in a screen or a script's `--json`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytest.importorskip("mypy", reason="mypy is in the test extra: pip install -e '.[test]'")


def test_mypy_passes_over_rfpilot() -> None:
    # The incremental cache lives in the checkout (.mypy_cache, ignored by git): a second run takes a few seconds.
    # A clean checkout builds it from scratch (longer), with the same result.
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    env.pop("MYPYPATH", None)
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
         "--cache-dir", str(ROOT / ".mypy_cache"), "--no-color-output", "--no-error-summary", "rfpilot"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )
    report = (result.stdout + result.stderr).strip()
    assert result.returncode == 0, f"mypy found type errors in rfpilot/:\n{report}"


def test_mypy_fails_on_a_renamed_view_key(tmp_path: Path) -> None:
    """The check can fail: a consumer reading a key a view does not have is an error (so the test above is not
    passing because nothing is checked)."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from rfpilot.core.view_types import SessionDetails\n\n\n"
        "def title(details: SessionDetails) -> str | None:\n"
        "    return details['session']['titel']\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
         "--cache-dir", str(ROOT / ".mypy_cache"), "--no-color-output", str(probe)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert '"titel"' in result.stdout and "typeddict-item" in result.stdout
