"""The command tree: the Typer app, its root callback, and every command group registered on it.

Two views of one tree. The console script runs a lazily converted root (``lazy_root``): `rfpilot --help` lists
every command from COMMANDS (name, the module that registers it, the first paragraph of its help) and a command's
module is imported, registered and converted only when that command runs, so `--help` imports no command module and
`rfpilot new` only rfpilot.cli.sessions. ``app`` is the whole Typer app (every module registered), built on first
use, for what needs the whole tree at once (docs/cli.md, the tests walking it); tests/test_cli_help.py checks that
COMMANDS and the lazy `--help` match it. Module-level imports stay light (no SQLAlchemy, Textual or SDKs).
"""

from __future__ import annotations

import functools
import importlib
import sys
from typing import Any

import typer
from typer.core import TyperGroup

# Typer 0.29 (pinned in pyproject.toml) carries its own copy of click.
from typer._click.exceptions import NoArgsIsHelpError
from typer._click.exceptions import UsageError as ClickUsageError
from typer._click.utils import make_default_short_help

from rfpilot import __version__
from rfpilot.cli import fail, output

# Every top-level command in `rfpilot --help` order: (name, module of rfpilot.cli that registers it or None for
# this one, the first paragraph of its help). tests/test_cli_help.py compares it with the whole tree.
COMMANDS: tuple[tuple[str, str | None, str], ...] = (
    ("open", None, "Open the TUI on one session."),
    ("new", "sessions", "Start a troubleshooting session (from a description or a PSA ticket). Prints the new "
                        "session's id."),
    ("chat", "chat", "One chat turn: your message is saved first, the reply streams, the task lane updates."),
    ("demo", "chat", "Create a sample session from a bundled, scripted conversation (no key, no network)."),
    ("resolve", "closing", "Resolve a session with its four-section resolution note."),
    ("escalate", "closing", "Escalate a session with its five-section escalation package (or, with --handoff, to "
                            "the team queue)."),
    ("share-update", "psa", "Post an interim internal note on the session's ticket (status unchanged). Exit 6 if "
                            "it is queued."),
    ("park", "handoffs", "Park a session: it pauses and waits in the team queue until someone claims it (or you "
                         "resume it)."),
    ("handoffs", "handoffs", "A session's handoffs, newest first: who parked or escalated it, why, and who "
                             "claimed it."),
    ("search", "search", "Search every session's text: titles, problems, facts, fixes, notes, outputs and dead "
                         "ends, best match first."),
    ("doctor", "admin", "Check each part (config, store, identity, keyring, model, PSA connections, outbox) and "
                        "say what to do about each failure. Exit 1 when any check fails (a warning does not); "
                        "--json gives the whole report."),
    ("stats", "stats", "The team's figures: sessions opened, resolved and escalated per week, time to resolve, "
                       "first-fix success, escalation rate, the most frequent problems and what fixed them, each "
                       "script template's success rate, and the same per client and per engineer. Every figure is "
                       "defined in docs/memory.md and in the JSON."),
    ("sessions", "sessions", "List, show, export, pause, reopen and abandon sessions."),
    ("facts", "sessions", '"What we know": list, add, edit and remove facts.'),
    ("lane", "lane", "Questions and diagnostic checks on the task lane."),
    ("fix", "lane", "The suggested fix: suggest, apply, record the outcome, decide the script path."),
    ("seen", "seen", '"Seen before": the earlier sessions of the team like this one; list and dismiss them.'),
    ("preview", "closing", "Draft the resolution note or escalation package without posting it."),
    ("keys", "keys", "API keys in the OS keyring (never in files)."),
    ("psa", "psa", "Connect rfpilot to ConnectWise, Autotask or HaloPSA."),
    ("tickets", "psa", "Your open PSA tickets."),
    ("outbox", "psa", "PSA writes waiting to be delivered (and what became of them)."),
    ("templates", "templates", "The team's script library: templates, drafts and their review."),
    ("branches", "branches", "Branching hypotheses: fork a session, switch, mark dead ends, revive."),
    ("queue", "handoffs", "The team queue: parked and escalated sessions waiting for someone to claim them."),
    ("outputs", "outputs", "Resolution outputs: PSA ticket notes, KB article and client summary, drafted when a "
                           "session is resolved."),
    ("config", "admin", "Read and change config.toml."),
    ("db", "admin", "The store: migrations, backups, the search index, where it is."),
)
# The modules in registration order (the order of COMMANDS within commands and within groups).
MODULES = ("sessions", "chat", "lane", "seen", "closing", "keys", "psa", "templates", "branches", "handoffs", "outputs",
           "search", "admin", "stats")


def _new_app(cls: type[TyperGroup] | None = None) -> typer.Typer:
    return typer.Typer(
        name="rfpilot",
        help="Terminal-first AI troubleshooting copilot for MSP and IT engineers.",
        no_args_is_help=False,
        invoke_without_command=True,
        add_completion=True,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},
        cls=cls,
    )


def _version(value: bool) -> None:
    if value:
        output.data(f"rfpilot {__version__}")
        raise typer.Exit()


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


@functools.cache
def _module_app(module: str) -> typer.Typer:
    """A scratch app holding what rfpilot.cli.``module`` registers, once per process: rfpilot.cli.templates also
    adds `fix run` to the `fix` group of rfpilot.cli.lane, so loading lane loads templates too."""
    sub = _new_app()
    loaded: Any = importlib.import_module(f"rfpilot.cli.{module}")
    if module == "templates":
        from rfpilot.cli import lane

        loaded.register(sub, lane.fix_app)
    else:
        loaded.register(sub)
    if module == "lane":
        _module_app("templates")
    return sub


def _with_root(target: typer.Typer) -> typer.Typer:
    target.callback()(_root)
    target.command("open")(open_session)
    return target


def _whole_app() -> typer.Typer:
    """The Typer app with every command module registered (what `from rfpilot.cli import app` gives)."""
    whole = _with_root(_new_app())
    for module in MODULES:
        sub = _module_app(module)
        whole.registered_commands.extend(sub.registered_commands)
        whole.registered_groups.extend(sub.registered_groups)
    return whole


app: typer.Typer  # declared only: the module's __getattr__ builds it on first use


def __getattr__(name: str) -> Any:
    if name == "app":  # built on first use, once
        global app
        app = _whole_app()
        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class LazyGroup(TyperGroup):
    """The root group: lists COMMANDS without importing them; converts a command (its module imported and
    registered) the first time it is asked for, with the plain parameter coercion of rfpilot.cli.params."""

    def list_commands(self, ctx: Any) -> list[str]:
        names = [name for name, _module, _help in COMMANDS]
        return [*names, *(name for name in self.commands if name not in names)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = self.commands.get(cmd_name)
        if command is None:
            module = _MODULE_OF.get(cmd_name)
            if module is None:
                return None
            command = _convert(_module_app(module), cmd_name)
            self.commands[cmd_name] = command
        return command

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """Click's listing, with the help of a command not yet converted taken from COMMANDS."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            command = self.commands.get(name)
            if command is not None:
                if not command.hidden:
                    rows.append((name, command.get_short_help_str(limit)))
            else:
                rows.append((name, make_default_short_help(_HELP_OF[name], limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


_MODULE_OF = {name: module for name, module, _help in COMMANDS if module is not None}
_HELP_OF = {name: help_ for name, _module, help_ in COMMANDS}


def _convert(sub: typer.Typer, name: str) -> Any:
    """The click command ``name`` of the scratch app ``sub``, converted as Typer converts the whole app."""
    from rfpilot.cli.params import plain_coercion

    for info in sub.registered_commands:
        if info.name == name:
            return plain_coercion(typer.main.get_command_from_info(
                info, pretty_exceptions_short=sub.pretty_exceptions_short, rich_markup_mode=sub.rich_markup_mode))
    for group in sub.registered_groups:
        if group.name == name:
            return plain_coercion(typer.main.get_group_from_info(
                group, suggest_commands=sub.suggest_commands, pretty_exceptions_short=sub.pretty_exceptions_short,
                rich_markup_mode=sub.rich_markup_mode))
    raise LookupError(f"rfpilot.cli registers no command {name!r}")  # pragma: no cover - COMMANDS is tested


def _house_style(message: str) -> str:
    """Click's "Missing argument 'SESSION'." as "missing argument 'SESSION'": every `error:` line of rfpilot starts
    in lower case, unless its first word is a name such as ConnectWise or JSON, and ends without a full stop
    (tests/test_messages.py)."""
    word = message.split(" ", 1)[0]
    if word[:1].isupper() and word[1:].islower():
        message = message[:1].lower() + message[1:]
    return message[:-1] if message.endswith(".") and not message.endswith("..") else message


@functools.cache
def _command_tree() -> Any:
    """The lazily converted root the console script runs (see LazyGroup)."""
    from rfpilot.cli.params import plain_coercion

    return plain_coercion(typer.main.get_command(_with_root(_new_app(LazyGroup))))


def argument_name(args: list[str], index: int) -> str:
    """How the engineer knows ``args[index]``: "the value of --summary", "the TEXT argument of `facts add`"."""
    node = _command_tree()
    path: list[str] = []
    position = 0
    while position < len(args) and position < index and hasattr(node, "commands"):
        sub = node.get_command(None, args[position])
        if sub is None:
            break
        node = sub
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
        return fail(_house_style(err.format_message()), 1, hint)
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
