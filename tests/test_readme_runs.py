"""The README and the docs run: every runnable example is executed as a user would type it.

The convention (also in docs/contributing.md):

- A fenced block tagged ```sh in README.md or docs/*.md is a **runnable example**. This test runs it with bash
  (``set -eo pipefail``), lines in order, and fails naming the file, the block's line and the first line that
  failed, with that line's output.
- Blocks tagged ```text, ```console, ```toml, ```yaml or untagged are shown, never run: synopses with
  placeholders (``SESSION``, ``[--opt]``), screens, file contents.
  ```bash / ```shell are refused: they would look runnable and never run.
- A ```sh block that cannot run offline (it needs a real PSA or a real model) is preceded by a visible
  ``<!-- not-runnable: REASON -->`` comment in the Markdown source. The reason is required and the list is kept
  short (``MAX_NOT_RUNNABLE``).
- A ```sh block preceded by ``<!-- runs-with: scripted-demo -->`` runs with the scripted model replaying the
  bundled demo conversation (rfpilot/core/demo/scan_to_folder.yaml) instead of no model at all.

How each block runs: in a fresh, empty ``RFPILOT_HOME`` and working directory, with the venv's ``rfpilot`` console
script first on ``PATH``, no API key, no OS keyring (``PYTHON_KEYRING_BACKEND`` null), any HTTP proxied to a closed
loopback port (nothing reaches the network), ``RFPILOT_LLM_PROVIDER=offline`` unless the block says otherwise,
``EDITOR=true`` (the editor is opened and closed unchanged), stdin a terminal whose every question is answered
``y`` and stdout/stderr pipes (so ``rfpilot demo --open`` prints instead of opening the TUI). Blocks run side by
side, one per core, each in its own home.

The newcomer lines at the top of README.md are handled, not skipped: in a line that installs, the
``python3 -m venv``, ``pip install`` and ``pytest`` parts are dropped (this test is already running inside that
venv, and running the suite from inside the suite would recurse) and the ``.venv/bin/rfpilot …`` part is run with the
venv's ``rfpilot``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import termios
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
DEMO_FILE = ROOT / "rfpilot" / "core" / "demo" / "scan_to_folder.yaml"
MAX_NOT_RUNNABLE = 4
BLOCK_TIMEOUT = 120
NOT_RUNNABLE = re.compile(r"<!--\s*not-runnable:\s*(.*?)\s*-->")
RUNS_WITH = re.compile(r"<!--\s*runs-with:\s*([\w-]+)\b.*?-->")
SETUP_PARTS = re.compile(r"^(python3? -m venv|\S*pip install|\S*python3? -m pytest)\b")

# Lines of the bash prologue before the block's first line; LINENO - PROLOGUE_LINES is the block line.
PROLOGUE = [
    "set -eo pipefail",
    "trap 'echo \"readme-test-failed-line=$((LINENO - {n})) exit=$?\" >&2' ERR",
]
PROLOGUE_LINES = len(PROLOGUE)


@dataclass
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    heading: str
    lines: list[str]
    not_runnable: str | None = None
    runs_with: str | None = None
    skipped_lines: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line} ({self.heading})"


def _marker_before(lines: list[str], index: int) -> str:
    """The non-blank line just above the fence at ``index``."""
    j = index - 1
    while j >= 0 and not lines[j].strip():
        j -= 1
    return lines[j] if j >= 0 else ""


def _handle_setup_line(line: str) -> str | None:
    """An install line keeps only its rfpilot part; a line that is only setup is dropped (None)."""
    parts = [p.strip() for p in line.partition("  #")[0].split("&&")]
    if not any(SETUP_PARTS.match(p) for p in parts):
        return line
    kept = [re.sub(r"^\S*/\.venv/bin/rfpilot\b|^\.venv/bin/rfpilot\b", "rfpilot", p) for p in parts
            if not SETUP_PARTS.match(p)]
    return " && ".join(kept) if kept else None


AMBIGUOUS_TAGS = {"bash", "shell", "zsh", "shell-session", "sh-session", "powershell-session"}


def fences() -> list[tuple[Path, int, str]]:
    """Every opening fence: (file, 1-based line, tag)."""
    found = []
    for path in DOCS:
        inside = False
        for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if text.startswith("```"):
                if not inside:
                    found.append((path, number, text[3:].strip()))
                inside = not inside
    return found


def collect() -> list[Block]:
    blocks: list[Block] = []
    for path in DOCS:
        lines = path.read_text(encoding="utf-8").splitlines()
        heading = path.name
        i = 0
        while i < len(lines):
            text = lines[i]
            if text.startswith("#") and not text.startswith("#!"):
                heading = text.lstrip("#").strip()
            if text.startswith("```"):
                tag = text[3:].strip()
                end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
                if tag == "sh":
                    marker = _marker_before(lines, i)
                    reason = NOT_RUNNABLE.search(marker)
                    runs = RUNS_WITH.search(marker)
                    block = Block(path, i + 1, heading, [], reason.group(1) if reason else None,
                                  runs.group(1) if runs else None)
                    for body_line in lines[i + 1 : end]:
                        handled = _handle_setup_line(body_line)
                        if handled is None:
                            block.skipped_lines.append(body_line)
                            block.lines.append("")  # keep line numbers aligned
                        else:
                            block.lines.append(handled)
                    blocks.append(block)
                i = end + 1
                continue
            i += 1
    return blocks


BLOCKS = collect()
RUNNABLE = [b for b in BLOCKS if b.not_runnable is None]


def _venv_rfpilot() -> Path:
    found = shutil.which("rfpilot", path=str(Path(sys.executable).parent))
    if not found:
        pytest.fail(f"no rfpilot console script next to {sys.executable}: install the package (pip install -e .)")
    return Path(found)


def _env(tmp_path: Path, block: Block) -> dict[str, str]:
    keep = ("LANG", "LC_ALL", "TZ", "TMPDIR", "SYSTEMROOT")
    env = {k: v for k, v in os.environ.items() if k in keep}
    home = tmp_path / "user"
    home.mkdir()
    env.update(
        PATH=f"{_venv_rfpilot().parent}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        HOME=str(home),
        RFPILOT_HOME=str(tmp_path / "rfpilot-home"),
        RFPILOT_LLM_PROVIDER="offline",
        PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring",
        EDITOR="true",
        VISUAL="true",
        HTTP_PROXY="http://127.0.0.1:9",
        HTTPS_PROXY="http://127.0.0.1:9",
        ALL_PROXY="http://127.0.0.1:9",
        NO_PROXY="",
        NO_COLOR="1",
        TERM="dumb",
    )
    if block.runs_with == "scripted-demo":
        env.update(RFPILOT_LLM_PROVIDER="scripted", RFPILOT_SCRIPTED_FILE=str(DEMO_FILE))
    elif block.runs_with is not None:
        pytest.fail(f"{block.name}: unknown runs-with marker {block.runs_with!r} (known: scripted-demo)")
    return env


def _run(block: Block, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    script = "\n".join([*(p.format(n=PROLOGUE_LINES) for p in PROLOGUE), *block.lines]) + "\n"
    work = tmp_path / "work"
    work.mkdir()
    master, slave = os.openpty()  # stdin is a terminal: prompts are asked, and answered y
    try:
        attrs = termios.tcgetattr(slave)
        attrs[3] &= ~termios.ECHO
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        os.write(master, b"y\n" * 32)
        try:
            return subprocess.run(
                ["bash", "-c", script, "readme-block"], stdin=slave, capture_output=True, text=True, cwd=work,
                env=_env(tmp_path, block), timeout=BLOCK_TIMEOUT, start_new_session=True,
            )
        except subprocess.TimeoutExpired as err:
            said = (err.stderr or b"")[-2000:]
            pytest.fail(f"{block.name}: still running after {BLOCK_TIMEOUT}s (waiting for input?)\n"
                        f"--- stderr\n{said.decode(errors='replace') if isinstance(said, bytes) else said}",
                        pytrace=False)
    finally:
        os.close(slave)
        os.close(master)


@pytest.fixture(scope="module")
def block_runs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """The selected blocks, started together on as many workers as there are cores (each in its own home)."""
    from concurrent.futures import ThreadPoolExecutor

    params = [getattr(getattr(item, "callspec", None), "params", {}) for item in request.session.items]
    selected = {p["block"].name for p in params if isinstance(p.get("block"), Block)}
    pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 2)
    futures = {b.name: pool.submit(_run, b, tmp_path_factory.mktemp("block")) for b in RUNNABLE if b.name in selected}
    yield futures
    pool.shutdown(cancel_futures=True)


@pytest.mark.parametrize("block", RUNNABLE, ids=[b.name for b in RUNNABLE])
def test_doc_block_runs(block: Block, block_runs) -> None:
    result = block_runs[block.name].result()
    if result.returncode == 0:
        return
    found = re.search(r"readme-test-failed-line=(\d+) exit=(\d+)", result.stderr)
    if found:
        index = int(found.group(1)) - 1
        where = block.line + 1 + index
        line = block.lines[index] if 0 <= index < len(block.lines) else "?"
        what = f"{block.path.relative_to(ROOT)}:{where}: `{line.strip()}` exited {found.group(2)}"
    else:
        what = f"the block exited {result.returncode}"
    pytest.fail(f"{block.name}: {what}\n--- stdout\n{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-3000:]}",
                pytrace=False)


def test_not_runnable_blocks_say_why_and_stay_few() -> None:
    held = [b for b in BLOCKS if b.not_runnable is not None]
    for block in held:
        assert block.not_runnable, f"{block.name}: a not-runnable marker needs a reason"
    assert len(held) <= MAX_NOT_RUNNABLE, "too many examples are not run: " + ", ".join(b.name for b in held)


def test_the_newcomer_lines_are_handled_not_skipped() -> None:
    """The install line's rfpilot part runs; only the install and the test-suite parts are dropped."""
    first = next(b for b in BLOCKS if b.path.name == "README.md")
    assert first.not_runnable is None
    run = [ln for ln in first.lines if ln.strip() and not ln.startswith("#")]
    assert run and all(ln.startswith("rfpilot ") for ln in run), run
    assert any("pytest" in ln for ln in first.skipped_lines)
    assert first.lines[0] == "# install and run"


def test_every_shell_looking_block_says_whether_it_runs() -> None:
    """A ```bash or ```shell block would silently never run: the tag is `sh` (run) or `text`/`console` (shown)."""
    wrong = [f"{path.relative_to(ROOT)}:{line} ```{tag}" for path, line, tag in fences() if tag in AMBIGUOUS_TAGS]
    assert not wrong, "use ```sh for a runnable example or ```text for one that is only shown: " + ", ".join(wrong)
