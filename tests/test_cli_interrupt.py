"""ctrl+c while the CLI is still loading ends it with one line and exit 130, never a traceback (issue 14).

The child runs the real console script with ``-X importtime``, so the test can send SIGINT the moment a given
module has loaded: early points in rfpilot.cli's own import, in run_cli, and inside a command. (Before the
interpreter has loaded rfpilot at all, site.py and the interpreter's own start-up are not rfpilot's to handle.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

SCRIPT = Path(sys.executable).with_name("rfpilot")
# Modules in the order the CLI loads them: the signal goes the moment the child reports one loaded.
POINTS = ["rfpilot.textsafe", "rfpilot.cli.output", "rfpilot.errors", "rfpilot.cli", "rfpilot.core.inputs",
          "typer"]


def interrupt_after(module: str, env: dict[str, str]) -> tuple[int, str]:
    child = subprocess.Popen([sys.executable, "-X", "importtime", str(SCRIPT), "sessions", "list"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    lines = []
    assert child.stderr is not None
    for raw in child.stderr:
        line = raw.decode(errors="replace")
        lines.append(line)
        if line.startswith("import time:") and line.split("|")[-1].strip() == module:
            child.send_signal(signal.SIGINT)
            break
    out, err = child.communicate(timeout=60)
    return child.returncode, "".join(lines) + err.decode(errors="replace")


@pytest.mark.skipif(not SCRIPT.exists(), reason="the console script is not installed next to the interpreter")
@pytest.mark.parametrize("module", POINTS)
def test_an_early_ctrl_c_exits_130_with_one_line(tmp_path: Path, module: str) -> None:
    env = {**os.environ, "RFPILOT_HOME": str(tmp_path / "home"),
           "RFPILOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"}
    for _ in range(3):
        code, err = interrupt_after(module, env)
        said = [line for line in err.splitlines() if not line.startswith("import time:")]
        assert "Traceback" not in err and "KeyboardInterrupt" not in err, err[-2000:]
        assert code == 130, (code, said)
        assert said == ["interrupted"], said
