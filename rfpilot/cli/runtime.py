"""Running a core coroutine from a synchronous Typer command."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

Confirm = Callable[[str | None], None]

if TYPE_CHECKING:
    from rfpilot.core.context import Ctx

T = TypeVar("T")


class _Open:
    """The store a command has open: inside ``one_open`` (rfpilot.cli.run_cli runs every command in it) one event
    loop and one Workspace serve every ``run`` of the command, so a command that reads or writes in several steps
    (`resolve`: the close, the draft-template offer, the resolution outputs) opens the store, checks its schema and
    its identity once. Outside it (a command function called directly) each ``run`` opens and closes its own."""

    scoped = False
    runner: Any = None
    workspace: Any = None


def run(fn: Callable[[Ctx], Awaitable[T]]) -> T:
    """Run ``fn`` with a Ctx (a session of its own) on the command's store, opening it on first use."""
    import asyncio

    from rfpilot.cli.output import guard_logging

    guard_logging()
    if not _Open.scoped:
        return asyncio.run(_once(fn))

    async def go() -> T:
        if _Open.workspace is None:
            from rfpilot.config import load_settings
            from rfpilot.core.context import Workspace

            _Open.workspace = await Workspace.open(load_settings(), inline=True)  # rfpilot.db.inline
            from rfpilot import startup

            startup.end()  # SQLAlchemy and the models are in: the cycle collector back on (rfpilot.startup)
        async with _Open.workspace.ctx() as ctx:
            return await fn(ctx)

    if _Open.runner is None:
        _Open.runner = asyncio.Runner()
    return _Open.runner.run(go())


async def _once(fn: Callable[[Ctx], Awaitable[T]]) -> T:
    from rfpilot.config import load_settings
    from rfpilot.core.context import open_context

    async with open_context(load_settings(), inline=True) as ctx:
        return await fn(ctx)


@contextmanager
def one_open() -> Iterator[None]:
    """Every ``run`` inside shares one store open; closed (with its event loop) on the way out. What core says
    while it waits (rfpilot.progress: a PSA that does not answer) is shown on stderr meanwhile."""
    from rfpilot import progress
    from rfpilot.cli import output

    _Open.scoped = True
    try:
        with progress.shown_by(output.info):
            yield
    finally:
        runner, workspace = _Open.runner, _Open.workspace
        _Open.scoped, _Open.runner, _Open.workspace = False, None, None
        if runner is not None:
            try:
                if workspace is not None:
                    runner.run(workspace.close())
            finally:
                runner.close()


def read_text_arg(value: str | None, file: str | None, what: str) -> str | None:
    """A text given inline, from a file, or from stdin when the file is '-'."""
    from rfpilot.core.inputs import read_stdin, read_text_file
    from rfpilot.errors import UsageError

    if value is not None and file is not None:
        raise UsageError(f"give the {what} inline or as a file, not both")
    if file is None:
        return value
    if file == "-":
        return read_stdin(what)
    return read_text_file(file, what)


def confirmation(yes: bool, action: str, question: str, declined: str) -> Confirm | None:
    """The ``confirm`` callback a core service calls once every check has passed (the id exists, the state
    allows it, the engineer may): so a bad id is named as such, never answered with "not confirmed".

    None with ``--yes``. Otherwise the callback shows the text it is given (the note to be posted, the script),
    asks ``question`` at a terminal, and raises UsageError when nobody can be asked or the answer is no."""
    if yes:
        return None

    def confirm(text: str | None = None) -> None:
        from rfpilot.cli import output
        from rfpilot.errors import UsageError

        if not output.stdin_is_interactive():
            raise UsageError(f"not confirmed: add --yes to {action} without being asked (stdin is not a terminal)")
        if text:
            output.data(text)
        if not output.confirm(question):
            raise UsageError(declined, hint="add --yes to go ahead without being asked")

    return confirm
