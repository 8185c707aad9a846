"""`chat` (one turn with the model) and `demo` (a sample session, no key needed)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import typer

from rfpilot.cli import output
from rfpilot.cli.runtime import read_text_arg, run

if TYPE_CHECKING:
    from rfpilot.core.view_types import TurnView

JSON = typer.Option(False, "--json", help="Print JSON (a stable shape for scripts) instead of streaming.")
RETRY_HINT = "your message is saved: `rfpilot chat {sid} --retry` sends it again"


def register(app: typer.Typer) -> None:
    app.command("chat")(chat)
    app.command("demo")(demo)


def _summary(view: TurnView) -> str:
    sid = view["session_id"][:8]
    lines: list[str] = []
    if view["questions"]:
        lines += ["", "Questions"] + [f"  {q['id'][:8]}  {q['text']}" + (" (answered)" if q["state"] != "open" else "")
                                       for q in view["questions"]]
    if view["checks"]:
        lines += ["", "Diagnostic checks"]
        for c in view["checks"]:
            lines.append(f"  {c['id'][:8]}  {c['text']}" + (f" ({c['state']})" if c["state"] != "open" else ""))
            if c.get("command"):
                lines.append(f"            $ {c['command']}")
    if view["promoted_facts"]:
        lines += ["", "What we know (new)"] + [
            f"  ✓ {f['text']}" + (f"  ({f['provenance']})" if f.get("provenance") else "") for f in view["promoted_facts"]
        ]
    fix = view["suggested_fix"]
    if fix:
        lines += ["", f"Suggested fix ({fix['confidence_pct']}%): {fix['title']}", f"  see `rfpilot fix show {sid}`"]
    proposal = view["outcome_proposal"]
    if proposal:
        from rfpilot.core.session.fixes import proposal_words

        said = proposal_words(proposal)
        lines += [
            "",
            f"The AI thinks the fix {said}: {proposal['reason']}",
            f"  confirm: `rfpilot fix confirm-outcome {sid}` · not yet: `rfpilot fix reject-outcome {sid}`",
        ]
    return "\n".join(lines)


def chat(
    session: str = typer.Argument(..., help="Session id or unique prefix."),
    message: Optional[str] = typer.Argument(
        None, help="Your message (or use --file). Without one, in a terminal: a conversation, one turn per line."
    ),
    file: Optional[str] = typer.Option(None, "--file", "-f", help="Read the message from a file ('-' for stdin)."),
    answer: Optional[str] = typer.Option(
        None, "--answer", help="The message answers this question, or is this check's output (lane item id or prefix)."
    ),
    retry: bool = typer.Option(False, "--retry", help="Send your last unanswered message again."),
    as_json: bool = JSON,
) -> None:
    """One chat turn: your message is saved first, the reply streams, the task lane updates.

    With no message in a terminal, a conversation: each line you type is a turn, in one process (the store
    stays open and the model's connection warm between turns); /help lists its commands, ctrl+d ends it.
    """
    from rfpilot.errors import UsageError

    text = read_text_arg(message, file, "message")
    if retry and (text is not None or answer):
        raise UsageError("--retry sends your last unanswered message again; give no new message with it")
    if not retry and text is None:
        if answer is None and not as_json and output.is_terminal():
            _converse(session)
            return
        raise UsageError(
            "give a message (or --file, or --retry)",
            hint=f"in a terminal, `rfpilot chat {session[:8]}` with no message starts a conversation",
        )
    interrupted: dict[str, str] = {}
    try:
        view = run(lambda ctx: _turn(ctx, session, text, answer=answer, retry=retry, quiet=as_json,
                                     interrupted=interrupted))
    except KeyboardInterrupt:  # ctrl+c: one line, exit 130; the message is already marked interrupted
        if "session" not in interrupted:
            raise
        _said_interrupted(interrupted, once=True)
        raise typer.Exit(130) from None
    if as_json:
        output.emit(view, True, lambda: "")
        return
    _show(view)


async def _turn(
    ctx, session: str, text: str | None, *, answer: str | None = None, retry: bool = False, quiet: bool = False,
    interrupted: dict[str, str], provider=None, retry_hint: str = RETRY_HINT,
) -> TurnView:
    """One turn as the CLI runs it: checks first (session, state, lane item), then core's turn, the reply streamed
    inert to stdout unless ``quiet``. ``provider``: the model client a conversation keeps between turns (else one
    is made and closed here)."""
    from rfpilot.core.engine import chat as svc
    from rfpilot.core.engine.streaming import DisplayStream
    from rfpilot.core.llm import get_provider
    from rfpilot.core.session import lane as lane_service
    from rfpilot.core.session.sessions import get_session
    from rfpilot.core.views import turn_view
    from rfpilot.errors import LLMUnavailableError
    from rfpilot.textsafe import InertStream

    row = await get_session(ctx, session)
    # The session, its state and the lane item first: a bad id or a closed session is named as such even when
    # no model is configured (get_provider refuses a provider without its key, URL or model).
    await svc.check_can_send(ctx, row)
    item = await lane_service.get_item(ctx, row, answer) if answer and not retry else None
    own = provider is None
    model = get_provider(ctx.settings) if provider is None else provider
    stream = DisplayStream()
    safe = InertStream()  # the reply is model text: shown inert, a CRLF split over two chunks still one LF

    def show(chunk: str) -> None:
        if quiet:
            return
        shown = safe.feed(stream.feed(chunk))
        if shown:
            output.stream(shown)
            interrupted["streamed"] = "yes"

    try:
        svc.require_chat_provider(model)
        await svc.prepare_turn(ctx, row)
        try:
            # Core owns the turn from storing the message to storing the reply: ctrl+c anywhere leaves
            # the message interrupted (never sent).
            interrupted["session"] = row.id[:8]
            if retry:
                result = await svc.retry_turn(ctx, row, model, on_chunk=show)
            else:
                result = await svc.send(ctx, row, text or "", model, lane_item=item, on_chunk=show)
        except LLMUnavailableError as err:
            if stream.shown:
                output.stream(safe.finish() + "\n")
            hint = (err.hint + "; " if err.hint else "") + retry_hint.format(sid=row.id[:8])
            raise LLMUnavailableError(err.message, hint=hint) from err
    finally:
        if own:
            await model.aclose()
    view = turn_view(result)
    if not quiet:
        rest = stream.finish(result.reply.display_content)
        output.stream(safe.feed(rest) + safe.finish() + "\n")
    return view


def _said_interrupted(interrupted: dict[str, str], *, once: bool, retry: str | None = None) -> None:
    if "streamed" in interrupted:
        output.stream("\n")  # the reply's partial line ends; the message goes on its own line
    line = "interrupted: " + (retry or RETRY_HINT.format(sid=interrupted["session"]))
    if once:
        output.interrupted(line)
    else:
        output.info(line)


def _show(view: TurnView) -> None:
    """What a turn changed (the lane, the fix, an outcome proposal) and what it cost, after the streamed reply."""
    summary = _summary(view)
    if summary:
        output.data(summary)
    usage = view["usage"]
    model = f" {view['model']}" if view["model"] and view["model"] != view["provider"] else ""
    output.info(
        f"{view['provider']}{model} · {usage['input_tokens']} in / {usage['output_tokens']} out"
        + (f" · cache read {usage['cache_read_tokens']}" if usage["cache_read_tokens"] else "")
        + (f" · cache write {usage['cache_write_tokens']}" if usage["cache_write_tokens"] else "")
    )
    for note in view["dropped"]:
        output.info(f"not applied: {note}")


CONVERSE_RETRY = "your message is saved: /retry sends it again"
CONVERSE_HELP = """\
Each line you type is a message; the reply streams, then what changed in the lane.
  /answer ID TEXT   TEXT answers question ID, or is check ID's output (an id prefix from the lane)
  /paste            a message of several lines: type them, then a line with a single '.' (a paste is one
                    message already where the terminal brackets pastes)
  /file PATH        send a file's text as the message
  /retry            send your last unanswered message again
  /help             this help
  /quit             end the conversation (ctrl+d too)
ctrl+c stops a reply (your message stays: /retry), or drops the line you are typing.
A line that starts with '//' is sent as a message starting with '/'."""


def _converse(session: str) -> None:
    """`rfpilot chat SESSION` at a terminal: one turn per line in this process. The store stays open (one open,
    rfpilot.cli.runtime) and the model client and its connections are kept, so a turn after the first costs its
    own work only; no transaction is open while the prompt waits. Errors of a turn are shown and the
    conversation goes on (the message is stored before the model is called: /retry sends it again)."""
    from rfpilot.cli import fail
    from rfpilot.errors import RfpilotError

    async def start(ctx):
        from rfpilot.core.engine import chat as svc
        from rfpilot.core.llm import get_provider
        from rfpilot.core.session.sessions import get_session

        row = await get_session(ctx, session)
        await svc.check_can_send(ctx, row)
        model = get_provider(ctx.settings)
        try:
            svc.require_chat_provider(model)
        except BaseException:
            await model.aclose()
            raise
        return row.id, row.title, model

    sid, title, model = run(start)
    output.info(f"chatting in {sid[:8]}" + (f": {title}" if title else "") + " · /help for commands · ctrl+d ends")
    try:
        while True:
            try:
                request = _next_request()
            except RfpilotError as err:
                fail(err.message, err.exit_code, err.hint)  # said as any command says it; the conversation goes on
                continue
            if request is None:
                break
            text, answer, retry = request
            interrupted: dict[str, str] = {}
            try:
                view = run(lambda ctx: _turn(ctx, sid, text, answer=answer, retry=retry, interrupted=interrupted,
                                             provider=model, retry_hint=CONVERSE_RETRY))
            except KeyboardInterrupt:
                if "session" not in interrupted:
                    output.info("interrupted: nothing was sent")
                    continue
                _said_interrupted(interrupted, once=False, retry=CONVERSE_RETRY)
                continue
            except RfpilotError as err:
                fail(err.message, err.exit_code, err.hint)
                continue
            _show(view)
    finally:
        run(lambda ctx: model.aclose())


def _line(prompt: str) -> str | None:
    """One line typed at the terminal, with line editing and this conversation's history (readline: the arrow
    keys, ctrl+r; a multi-line paste arrives as one message where the terminal brackets pastes); checked as any
    input is (UTF-8, no NUL, a sane size). None at end of input. The history stays in memory: messages can hold
    what a customer's log held, so nothing is written to disk."""
    from rfpilot.core.inputs import check_text
    from rfpilot.errors import UsageError
    from rfpilot.textsafe import inert

    interactive = output.stdin_is_interactive()
    if interactive:
        try:
            import readline  # importing it gives input() line editing and history
        except ImportError:  # a Python built without it: plain lines still work
            pass
        else:
            # A pasted log is one message: the terminal marks the paste and its newlines stay in the line.
            readline.parse_and_bind("set enable-bracketed-paste on")
    try:
        line = input(inert(prompt) if interactive else "")
    except EOFError:
        return None
    except UnicodeDecodeError:
        raise UsageError("your message is not valid UTF-8; nothing was sent", hint="give it as UTF-8 text") from None
    return check_text(line.rstrip("\r"), "your message")


def _next_request() -> tuple[str | None, str | None, bool] | None:
    """(text, lane item, retry) of the next turn, after any commands that are not turns; None to end."""
    from rfpilot.core.inputs import read_text_file, shown
    from rfpilot.errors import UsageError

    while True:
        try:
            line = _line("you> ")
        except KeyboardInterrupt:  # as in a shell: the line typed so far is dropped, a new prompt
            output.info("")
            continue
        if line is None:
            output.stream("\n")
            return None
        if not line.strip():
            continue
        if line.startswith("//"):
            return line[1:], None, False
        if not line.startswith("/"):
            return line, None, False
        name, _, rest = line[1:].partition(" ")
        rest = rest.strip()
        if name in ("quit", "exit", "q"):
            return None
        if name in ("help", "h", "?"):
            output.info(CONVERSE_HELP)
            continue
        if name == "retry" and not rest:
            return None, None, True
        if name == "answer":
            item, _, text = rest.partition(" ")
            if not item or not text.strip():
                raise UsageError("/answer takes a lane item id and your answer: /answer ID TEXT")
            return text, item, False
        if name == "file" and rest:
            return read_text_file(rest, "message"), None, False
        if name == "paste" and not rest:
            lines: list[str] = []
            while True:
                more = _line("... ")
                if more is None or more == ".":
                    break
                lines.append(more)
            if not "".join(lines).strip():
                raise UsageError("the pasted message is empty; nothing was sent")
            return "\n".join(lines), None, False
        raise UsageError(f"{shown('/' + name, 40)!r} is not a conversation command", hint="/help lists them")


def demo(
    open_it: bool = typer.Option(
        False, "--open",
        help="Open the TUI on the sample session (in a terminal; elsewhere print its state and what to try next). "
        "Reuses your open sample session if there is one, so running it again makes no copy.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the session's details as JSON (never opens the TUI)."),
) -> None:
    """Create a sample session from a bundled, scripted conversation (no key, no network).

    Without --open every run makes a new sample session and prints its id.
    """

    async def go(ctx):
        from rfpilot.core.demo import ensure_demo, run_demo
        from rfpilot.core.views import session_details

        progress = None if as_json else output.info
        if open_it:
            row, created = await ensure_demo(ctx, progress=progress)
        else:
            row, created = await run_demo(ctx, progress=progress), True
        return await session_details(ctx, row), created

    data, created = run(go)
    sid = data["session"]["id"]
    short = sid[:8]
    if open_it and not as_json:
        if not created:
            output.info(f"the sample session {short} is already there: opening it again")
        if output.is_terminal():
            from rfpilot.tui import run as run_tui  # Textual is imported only to open the app

            raise typer.Exit(run_tui(sid))
        from rfpilot.cli.sessions import _show_text

        output.data(_show_text(data))
        output.info("note: the TUI needs a terminal, so here is the session's state instead")
        output.info(
            f"next: `rfpilot open {short}` (the TUI) · `rfpilot fix confirm-outcome {short}` · "
            f"`rfpilot preview resolve {short}` · `rfpilot resolve {short}`"
        )
        return
    output.emit(data, as_json, lambda: sid)
    if not as_json:
        output.info(
            f"next: `rfpilot sessions show {short}` · `rfpilot fix confirm-outcome {short}` · "
            f"`rfpilot preview resolve {short}`"
        )

