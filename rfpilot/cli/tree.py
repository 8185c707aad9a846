"""The command tree: the Typer app, its root callback, and every command group registered on it.

Built on the first command that needs it (rfpilot.cli is the console script's light entry: bare `rfpilot`,
`rfpilot open SESSION` and `--version` never import this module). Module-level imports stay light (no
SQLAlchemy, Textual or SDKs) so that `rfpilot --help` stays fast; each command imports what it uses.
"""

from __future__ import annotations

import functools
import sys

import typer

try:  # typer >= 0.22 carries its own copy of click
    from typer._click.exceptions import NoArgsIsHelpError
    from typer._click.exceptions import UsageError as ClickUsageError
except ImportError:  # pragma: no cover - older typer on top of click
    from click.exceptions import NoArgsIsHelpError
    from click.exceptions import UsageError as ClickUsageError

from rfpilot import __version__
from rfpilot.cli import fail, output

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


def _lower_first(message: str) -> str:
    """Click's "Missing argument 'SESSION'." as "missing argument 'SESSION'.": every `error:` line of rfpilot starts
    in lower case (tests/test_messages.py), unless its first word is a name such as ConnectWise or JSON."""
    word = message.split(" ", 1)[0]
    return message[:1].lower() + message[1:] if word[:1].isupper() and word[1:].islower() else message


@functools.cache
def _command_tree():
    return typer.main.get_command(app)


def argument_name(args: list[str], index: int) -> str:
    """How the engineer knows ``args[index]``: "the value of --summary", "the TEXT argument of `facts add`"."""
    node = _command_tree()
    path: list[str] = []
    position = 0
    while position < len(args) and position < index and hasattr(node, "commands") and args[position] in node.commands:
        node = node.commands[args[position]]
        path.append(args[position])
        position += 1
    where = f" of `rfpilot {' '.join(path)}`" if path else ""
    options = {opt: p for p in node.params for opt in (*getattr(p, "opts", ()), *getattr(p, "secondary_opts", ()))
               if opt.startswith("-")}
    arguments = [p for p in node.params if not any(o.startswith("-") for o in getattr(p, "opts", ()))]
    slot = 0
    while position < len(args):
        token = args[position]
        option = options.get(token.split("=", 1)[0]) if token.startswith("-") else None
        if option is not None:
            if "=" in token or getattr(option, "is_flag", False) or getattr(option, "count", False):
                if position == index:
                    return f"the value of {token.split('=', 1)[0]}{where}"
                position += 1
                continue
            if index in (position, position + 1):
                return f"the value of {token}{where}"
            position += 2
            continue
        if position == index:
            if slot < len(arguments):
                return f"the {(arguments[slot].metavar or arguments[slot].name or '').upper()} argument{where}"
            return f"argument {index + 1}{where}"
        if slot < len(arguments) and not getattr(arguments[slot], "multiple", False) and getattr(arguments[slot], "nargs", 1) == 1:
            slot += 1
        position += 1
    return f"argument {index + 1}"


def invoke(args: list[str] | None) -> int:
    """Run the command tree on ``args`` (sys.argv[1:] when None); Click's own outcomes as exit codes. The
    errors every path shares (RfpilotError, ctrl+c, OS errors) are rfpilot.cli.run_cli's to report."""
    command = _command_tree()
    try:
        result = command.main(args=args, prog_name="rfpilot", standalone_mode=False)
    except NoArgsIsHelpError as err:
        output.info(err.format_message())
        return 1
    except ClickUsageError as err:
        hint = None
        if err.ctx is not None:
            hint = f"see `{err.ctx.command_path} --help`"
        return fail(_lower_first(err.format_message()), 1, hint)
    except typer.Exit as err:
        if err.exit_code == 130:
            output.interrupted()
        return err.exit_code
    except typer.Abort:
        output.info("aborted; nothing was changed")
        return 130
    if result == 130:  # Typer turns ctrl+c into a silent exit 130
        output.interrupted()
    return result if isinstance(result, int) else 0
