"""The rfpilot command line: thin Typer commands over rfpilot.core.

Module-level imports stay light (no SQLAlchemy, Textual or SDKs) so that
`rfpilot --help` and `--version` stay fast; each command imports what it uses.
Exit codes: 0 ok, 1 usage, 2 not found, 3 conflict, 4 PSA, 5 LLM, 6 queued.
"""

from __future__ import annotations

import sys

import typer

try:  # typer >= 0.22 carries its own copy of click
    from typer._click.exceptions import NoArgsIsHelpError
    from typer._click.exceptions import UsageError as ClickUsageError
except ImportError:  # pragma: no cover - older typer on top of click
    from click.exceptions import NoArgsIsHelpError
    from click.exceptions import UsageError as ClickUsageError

from rfpilot import __version__
from rfpilot.cli import output
from rfpilot.errors import RfpilotError

app = typer.Typer(
    name="rfpilot",
    help="Terminal-first AI troubleshooting copilot for MSP and IT engineers.",
    no_args_is_help=False,
    invoke_without_command=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        output.data(f"rfpilot {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """Terminal-first AI troubleshooting copilot for MSP and IT engineers.

    With no command, opens the TUI.
    """
    if ctx.invoked_subcommand is None:
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            # A pipe or a script: a full-screen app would be of no use there.
            output.data(ctx.get_help())
            output.info("note: with no command rfpilot opens its TUI, which needs a terminal")
            return
        from rfpilot.tui import run as run_tui

        raise typer.Exit(run_tui())


def open_session(session: str = typer.Argument(..., help="Session id or unique prefix.")) -> None:
    """Open the TUI on one session."""
    from rfpilot.tui import run as run_tui

    raise typer.Exit(run_tui(session))


def _register() -> None:
    from rfpilot.cli import admin, branches, chat, closing, handoffs, keys, lane, outputs, psa, sessions, templates

    app.command("open")(open_session)
    sessions.register(app)
    chat.register(app)
    lane.register(app)
    closing.register(app)
    keys.register(app)
    psa.register(app)
    templates.register(app, lane.fix_app)
    branches.register(app)
    handoffs.register(app)
    outputs.register(app)
    admin.register(app)


_register()


def _fail(message: str, code: int, hint: str | None = None) -> int:
    output.info(f"error: {message}")
    if hint:
        output.info(f"hint: {hint}")
    return code


def run_cli(args: list[str] | None = None) -> int:
    """Run the CLI and return the exit code (tests call this in-process)."""
    command = typer.main.get_command(app)
    try:
        result = command.main(args=args, prog_name="rfpilot", standalone_mode=False)
    except RfpilotError as err:
        return _fail(err.message, err.exit_code, err.hint)
    except NoArgsIsHelpError as err:
        output.info(err.format_message())
        return 1
    except ClickUsageError as err:
        hint = None
        if err.ctx is not None:
            hint = f"see `{err.ctx.command_path} --help`"
        return _fail(err.format_message(), 1, hint)
    except typer.Exit as err:
        return err.exit_code
    except typer.Abort:
        output.info("aborted; nothing was changed")
        return 130
    except KeyboardInterrupt:
        output.info("interrupted")
        return 130
    return result if isinstance(result, int) else 0


def main() -> None:
    if sys.argv[1:] == ["--version"]:  # answer before building the command tree
        output.data(f"rfpilot {__version__}")
        sys.exit(0)
    sys.exit(run_cli())
