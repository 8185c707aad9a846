"""The rfpilot command line: thin Typer commands over rfpilot.core.

This module is the console script's entry and stays light: it imports neither Typer nor a command module. Bare
`rfpilot` at a terminal and `rfpilot open SESSION` go straight to the TUI, and `--version` answers at once; every
other command builds the command tree (rfpilot.cli.tree) first. `from rfpilot.cli import app` still gives the Typer
app. Both ways share the argument checks, the error reporting and the exit codes: 0 ok, 1 usage, 2 not found,
3 conflict, 4 PSA, 5 LLM, 6 queued, 130 interrupted.
"""

from __future__ import annotations

import os
import signal
import sys


def _early_interrupt(_signum: int, _frame: object) -> None:
    """ctrl+c while the CLI is still loading (before main() runs): one line and exit 130, never a traceback.
    Nothing has started yet, so there is nothing to unwind."""
    os.write(2, b"interrupted\n")
    os._exit(130)


# Only as the program (the console script, `python -m rfpilot`), never when a test or a tool imports the module:
# from here until main() takes over, a ctrl+c ends the process quietly.
_program = os.path.abspath(sys.argv[0]) if sys.argv and sys.argv[0] not in ("", "-c", "-m") else ""
if os.path.basename(_program) in ("rfpilot", "rfpilot.exe", "rfpilot-script.py") or _program == os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "__main__.py"):
    signal.signal(signal.SIGINT, _early_interrupt)

from collections.abc import Callable  # noqa: E402
from typing import Any

from rfpilot import __version__  # noqa: E402
from rfpilot.cli import output  # noqa: E402
from rfpilot.errors import RfpilotError  # noqa: E402

# Set by a shell asking Typer/Click for completions (with no arguments): always the command tree's to answer.
COMPLETION_VAR = "_RFPILOT_COMPLETE"


def __getattr__(name: str) -> Any:
    if name == "app":  # the Typer app, built on first use
        from rfpilot.cli.tree import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def fail(message: str, code: int, hint: str | None = None) -> int:
    output.info(f"error: {message}")
    if hint:
        output.info(f"hint: {hint}")
    return code


def _argument_name(args: list[str], index: int) -> str:
    """How the engineer knows ``args[index]`` (only asked when an argument is refused: builds the tree)."""
    from rfpilot.cli.tree import argument_name

    return argument_name(args, index)


def tui_request(args: list[str]) -> tuple[str | None] | None:
    """``(session or None,)`` when ``args`` ask for the TUI and nothing else: `rfpilot` with a terminal on stdin and
    stdout, or `rfpilot open SESSION`. None for anything else, which the command tree handles (its options and
    errors, shell completion, and bare `rfpilot` in a pipe, which prints the help)."""
    if COMPLETION_VAR in os.environ:
        return None
    if not args:
        return (None,) if sys.stdin.isatty() and sys.stdout.isatty() else None
    if len(args) == 2 and args[0] == "open" and not args[1].startswith("-"):
        return (args[1],)
    return None


def _open_tui(session: str | None) -> int:
    from rfpilot.tui import run as run_tui

    return run_tui(session)


def run_cli(args: list[str] | None = None) -> int:
    """Run the CLI and return the exit code (tests call this in-process)."""
    from rfpilot.core.inputs import check_argv

    argv = list(sys.argv[1:] if args is None else args)
    try:  # hostile bytes stop here, before any command is even built
        check_argv(argv, _argument_name)
    except RfpilotError as err:
        return fail(err.message, err.exit_code, err.hint)
    request = tui_request(argv)
    if request is not None:  # the TUI without the command tree (Typer, pydantic, 11 command modules)
        return _guarded(lambda: _open_tui(*request))

    def commands() -> int:
        from rfpilot.cli.runtime import one_open
        from rfpilot.cli.tree import invoke

        with one_open():  # one store open for the whole command (rfpilot.cli.runtime)
            return invoke(args)

    return _guarded(commands)


def _guarded(call: Callable[[], int]) -> int:
    """``call()``'s exit code; a problem the user can act on as `error:`/`hint:` lines, never a traceback."""
    try:
        return call()
    except RfpilotError as err:
        return fail(err.message, err.exit_code, err.hint)
    except KeyboardInterrupt:
        output.interrupted()
        return 130
    except UnicodeError:  # last line of defence: text that was not checked on the way in (a typed answer…)
        return fail("some input was not valid UTF-8", 1, "give it as UTF-8 text")
    except OSError as err:  # a path the OS refuses (too long, no permission, a directory…): never a traceback
        from rfpilot.core.inputs import os_problem, shown

        where = f" {shown(os.fsdecode(err.filename), 200)}" if isinstance(err.filename, (str, bytes)) else ""
        return fail(f"cannot use{where}: {os_problem(err)}", 1, "check the path and its permissions")


def main() -> None:
    try:
        if signal.getsignal(signal.SIGINT) is _early_interrupt:
            signal.signal(signal.SIGINT, signal.default_int_handler)  # from here ctrl+c is KeyboardInterrupt
        if sys.argv[1:] == ["--version"]:  # answer before building the command tree
            output.data(f"rfpilot {__version__}")
            sys.exit(0)
        from rfpilot import startup

        startup.begin()  # the cycle collector paused while rfpilot starts (rfpilot.startup)
        code = run_cli()
    except KeyboardInterrupt:  # between the two handlers, or in run_cli before a command's own guard
        output.interrupted()
        code = 130
    _exit(code)


def _exit(code: int) -> None:
    """End the process once the command is done. The interpreter's own teardown (clearing every module, a last
    collection over SQLAlchemy's object graph) costs a store command 20-30 ms and does nothing for it: the store is
    closed and the output written by now. So the exit handlers run (logging's flush, any a library registered),
    the output is flushed, and the process ends there. While another thread still runs (nothing of a command's
    should be left), the ordinary exit waits for it as always."""
    import threading

    if threading.active_count() > 1:
        sys.exit(code)
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a reader that went away (`| head`), a stream already closed
            pass
    os._exit(code)
