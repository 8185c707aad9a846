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
- A ```sh block preceded by ``<!-- prints: "text" "more text" -->`` must print each quoted text on stdout, in that
  order: what the block's comments promise the reader is checked, not only its exit status;
  ``<!-- never-prints: "text" -->`` says a text must not be on stdout. Markers stack: every ``<!-- … -->`` line
  just above the fence (blank lines between allowed) is read.
- Every failure must stop the block, so a runnable block holds no ``a && b`` or ``a || b`` list (bash ignores the
  failure of any command of such a list but the last: one command per line) and no command substitution whose
  failure bash ignores (``export X=$(…)``, ``cmd "$(…)"``): a substitution is only the whole value of a plain
  assignment, ``X=$(…)``. The block is refused, naming the line, before its exit status is looked at.

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
import shlex
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
PRINTS = re.compile(r"<!--\s*prints:\s*(.*?)\s*-->")
NEVER_PRINTS = re.compile(r"<!--\s*never-prints:\s*(.*?)\s*-->")
MARKER_LINE = re.compile(r"^\s*<!--.*-->\s*$")
SETUP_PARTS = re.compile(r"^(python3? -m venv|\S*pip install|\S*python3? -m pytest)\b")

# Lines of the bash prologue before the block's first line; LINENO - PROLOGUE_LINES is the block line.
PROLOGUE = [
    "set -eo pipefail; shopt -s inherit_errexit",  # inherit_errexit: `X=$(a; b)` stops at a failing a
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
    prints: list[str] = field(default_factory=list)  # texts stdout must show, in order
    never_prints: list[str] = field(default_factory=list)  # texts stdout must not show
    marker_keys: list[str] = field(default_factory=list)  # every `<!-- key: …` above the fence

    @property
    def name(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line} ({self.heading})"


def _markers_before(lines: list[str], index: int) -> str:
    """The ``<!-- … -->`` lines just above the fence at ``index`` (blank lines between them skipped), joined."""
    found = []
    j = index - 1
    while j >= 0 and (not lines[j].strip() or MARKER_LINE.match(lines[j])):
        if lines[j].strip():
            found.append(lines[j])
        j -= 1
    return "\n".join(reversed(found))


def _quoted(text: str) -> list[str]:
    """The "…"-quoted texts of a marker."""
    return re.findall(r'"([^"]+)"', text)


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
                    marker = _markers_before(lines, i)
                    reason = NOT_RUNNABLE.search(marker)
                    runs = RUNS_WITH.search(marker)
                    block = Block(path, i + 1, heading, [], reason.group(1) if reason else None,
                                  runs.group(1) if runs else None,
                                  prints=[t for m in PRINTS.finditer(marker) for t in _quoted(m.group(1))],
                                  never_prints=[t for m in NEVER_PRINTS.finditer(marker) for t in _quoted(m.group(1))],
                                  marker_keys=re.findall(r"<!--\s*([\w-]+):", marker))
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

ASSIGNED = re.compile(r'\s*[A-Za-z_]\w*="?')  # what may stand before a `$(` on its command: `X=$(…)`, `X="$(…)"`


def _unstopped(text: str) -> str | None:
    """Why a failure in this line of shell would not stop the block, or None. Quoting, backslashes and comments
    are read as bash reads them (enough for one line of an example)."""
    single = double = False
    start = 0  # where the current command starts
    i = 0
    while i < len(text):
        c = text[i]
        if single:
            single = c != "'"
        elif c == "\\":
            i += 1
        elif c == "'" and not double:
            single = True
        elif c == '"':
            double = not double
        elif c == "`":
            return "a `…` substitution: bash ignores its failure (assign it alone first: X=$(…), then use $X)"
        elif text.startswith("$(", i) and not text.startswith("$((", i):
            if not ASSIGNED.fullmatch(text[start:i]):
                return ("a $(…) that is not the whole value of a plain assignment: bash ignores its failure "
                        "(assign it alone first: X=$(…), then use $X)")
            start = i + 2
            i += 1
        elif double:
            pass
        elif c == "#" and (i == 0 or text[i - 1] in " \t;|&("):
            break
        elif text.startswith(("&&", "||"), i):
            return (f"an `{text[i:i + 2]}` list: bash ignores the failure of every command in it but the last "
                    "(put one command per line)")
        elif c in ";|&()":
            start = i + 1
        i += 1
    return "an unclosed quote" if single or double else None


def unchecked_failures(block: Block) -> list[str]:
    """The lines of the block where a failing command would not stop it (see the module's docstring), each as
    ``file:line: `text`: why``; a line ending in a backslash is read with the line it continues."""
    found = []
    i = 0
    while i < len(block.lines):
        first, text = i, block.lines[i]
        while text.endswith("\\") and i + 1 < len(block.lines):
            i += 1
            text = text[:-1] + " " + block.lines[i]
        i += 1
        why = _unstopped(text)
        if why:
            found.append(f"{block.path.relative_to(ROOT)}:{block.line + 1 + first}: `{block.lines[first].strip()}`: "
                         f"{why}")
    return found


def verdict(block: Block, result: subprocess.CompletedProcess[str]) -> str | None:
    """Why the block fails (None when it passes): a failure it would not notice, its exit status, or a promised
    text its output does not show."""
    said = f"\n--- stdout\n{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-3000:]}"
    hazards = unchecked_failures(block)
    if hazards:
        return f"{block.name}: a failure here would not stop the block:\n" + "\n".join(hazards)
    if result.returncode != 0:
        found = re.search(r"readme-test-failed-line=(\d+) exit=(\d+)", result.stderr)
        if found:
            index = int(found.group(1)) - 1
            where = block.line + 1 + index
            line = block.lines[index] if 0 <= index < len(block.lines) else "?"
            what = f"{block.path.relative_to(ROOT)}:{where}: `{line.strip()}` exited {found.group(2)}"
        else:
            what = f"the block exited {result.returncode}"
        return f"{block.name}: {what}{said}"
    position = 0
    for text in block.prints:
        at = result.stdout.find(text, position)
        if at < 0:
            before = " (it is there, but before the previous one)" if text in result.stdout else ""
            return f"{block.name}: its marker promises {text!r} on stdout{before}, and it is not printed{said}"
        position = at + len(text)
    for text in block.never_prints:
        if text in result.stdout:
            return f"{block.name}: its marker says {text!r} is never printed, and it is{said}"
    return None


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
    why = verdict(block, block_runs[block.name].result())
    if why:
        pytest.fail(why, pytrace=False)


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


MARKER_KEYS = {"not-runnable", "runs-with", "prints", "never-prints"}


def test_markers_are_known_and_say_something() -> None:
    """A misspelt marker (`<!-- print: … -->`) would be ignored in silence; a prints marker names quoted texts."""
    for block in BLOCKS:
        unknown = set(block.marker_keys) - MARKER_KEYS
        assert not unknown, f"{block.name}: unknown marker {sorted(unknown)} (known: {sorted(MARKER_KEYS)})"
        for key, texts in (("prints", block.prints), ("never-prints", block.never_prints)):
            assert key not in block.marker_keys or texts, f'{block.name}: a {key} marker names "quoted" texts'
    chat = next(b for b in BLOCKS if b.runs_with == "scripted-demo")
    assert chat.prints, "markers stack: the scripted-demo block also states what it prints"


# --- the runner itself, on synthetic blocks ---------------------------------------------------------------


def _synthetic(*lines: str, prints: tuple[str, ...] = (), never: tuple[str, ...] = ()) -> Block:
    return Block(ROOT / "docs" / "synthetic.md", 1, "synthetic", list(lines), prints=list(prints),
                 never_prints=list(never))


def test_the_runner_fails_a_failure_early_in_an_and_list(tmp_path: Path) -> None:
    """bash runs `bad && good` to a 0 exit (a failure before the last command of a list trips neither `set -e`
    nor the ERR trap): the runner refuses the block, naming the line, instead of passing it."""
    block = _synthetic('S=$(rfpilot new "Printer offline")',
                       "rfpilot fix apply deadbeef && rfpilot sessions show $S   # deadbeef: no such session",
                       "rfpilot sessions list")  # a list that is not the block's last line (the last sets its exit)
    result = _run(block, tmp_path)
    assert result.returncode == 0, result.stderr  # bash alone lets it through
    assert "deadbeef" in result.stderr  # though the first command failed
    why = verdict(block, result)
    assert why is not None and "docs/synthetic.md:3: `rfpilot fix apply deadbeef && " in why and "`&&` list" in why


@pytest.mark.parametrize("line, refused", [
    ("rfpilot fix apply $S || true", "`||` list"),
    ("export RFPILOT_HOME=$(mktemp -d)", "$(…)"),
    ('rfpilot sessions show "$(rfpilot new x)"', "$(…)"),
    ("rfpilot sessions show `rfpilot new x`", "`…` substitution"),
    ("rfpilot new 'unclosed", "unclosed quote"),
])
def test_the_runner_refuses_every_line_whose_failure_bash_would_ignore(line: str, refused: str) -> None:
    why = unchecked_failures(_synthetic("rfpilot db path", line))
    assert len(why) == 1 and why[0].startswith("docs/synthetic.md:3:") and refused in why[0], why


@pytest.mark.parametrize("line", [
    'S=$(rfpilot new "Printer && scanner offline")',  # inside quotes
    "Q=$(rfpilot lane list $S --json | jq -r '[.items[] | select(.a == 1 and .b)][0].id')",
    'X="$(rfpilot db path)"',
    "rfpilot fix show $S; rfpilot fix apply $S   # a || b, in a comment",
    "rfpilot chat $S \"it's fixed\" --answer $Q",
    "echo '$(not a substitution) && not a list'",
])
def test_the_runner_lets_lines_that_stop_on_failure_through(line: str) -> None:
    assert unchecked_failures(_synthetic(line)) == []


def test_the_runner_checks_what_a_block_promises_to_print(tmp_path: Path) -> None:
    result = _run(_synthetic("rfpilot config path", "rfpilot db path"), tmp_path)
    assert result.returncode == 0, result.stderr
    assert verdict(_synthetic(prints=("config.toml", "rfpilot.db")), result) is None
    assert "promises 'Seen before'" in verdict(_synthetic(prints=("Seen before",)), result)
    assert "before the previous one" in verdict(_synthetic(prints=("rfpilot.db", "config.toml")), result)
    assert "is never printed, and it is" in verdict(_synthetic(never=("rfpilot.db",)), result)
