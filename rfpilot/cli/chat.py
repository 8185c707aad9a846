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
    message: Optional[str] = typer.Argument(None, help="Your message (or use --file)."),
    file: Optional[str] = typer.Option(None, "--file", "-f", help="Read the message from a file ('-' for stdin)."),
    answer: Optional[str] = typer.Option(
        None, "--answer", help="The message answers this question, or is this check's output (lane item id or prefix)."
    ),
    retry: bool = typer.Option(False, "--retry", help="Send your last unanswered message again."),
    as_json: bool = JSON,
) -> None:
    """One chat turn: your message is saved first, the reply streams, the task lane updates."""
    from rfpilot.errors import UsageError

    text = read_text_arg(message, file, "message")
    if retry and (text is not None or answer):
        raise UsageError("--retry sends your last unanswered message again; give no new message with it")
    if not retry and text is None:
        raise UsageError("give a message (or --file, or --retry)")

    async def go(ctx):
        from rfpilot.core.engine import chat as svc
        from rfpilot.core.session import lane as lane_service
        from rfpilot.core.llm import get_provider
        from rfpilot.core.session.sessions import get_session
        from rfpilot.core.engine.streaming import DisplayStream
        from rfpilot.core.views import turn_view
        from rfpilot.errors import LLMUnavailableError
        from rfpilot.textsafe import InertStream

        row = await get_session(ctx, session)
        # The session, its state and the lane item first: a bad id or a closed session is named as such even when
        # no model is configured (get_provider refuses a provider without its key, URL or model).
        await svc.check_can_send(ctx, row)
        item = await lane_service.get_item(ctx, row, answer) if answer and not retry else None
        provider = get_provider(ctx.settings)
        stream = DisplayStream()
        safe = InertStream()  # the reply is model text: shown inert, a CRLF split over two chunks still one LF

        def show(chunk: str) -> None:
            if as_json:
                return
            shown = safe.feed(stream.feed(chunk))
            if shown:
                output.stream(shown)
                interrupted["streamed"] = "yes"

        try:
            svc.require_chat_provider(provider)
            await svc.prepare_turn(ctx, row)
            try:
                # Core owns the turn from storing the message to storing the reply: ctrl+c anywhere leaves
                # the message interrupted (never sent).
                interrupted["session"] = row.id[:8]
                if retry:
                    result = await svc.retry_turn(ctx, row, provider, on_chunk=show)
                else:
                    result = await svc.send(ctx, row, text or "", provider, lane_item=item, on_chunk=show)
            except LLMUnavailableError as err:
                if stream.shown:
                    output.stream(safe.finish() + "\n")
                hint = (err.hint + "; " if err.hint else "") + RETRY_HINT.format(sid=row.id[:8])
                raise LLMUnavailableError(err.message, hint=hint) from err
        finally:
            await provider.aclose()
        view = turn_view(result)
        if not as_json:
            rest = stream.finish(result.reply.display_content)
            output.stream(safe.feed(rest) + safe.finish() + "\n")
        return view

    interrupted: dict[str, str] = {}
    try:
        view = run(go)
    except KeyboardInterrupt:  # ctrl+c: one line, exit 130; the message is already marked interrupted
        if "session" not in interrupted:
            raise
        if "streamed" in interrupted:
            output.stream("\n")  # the reply's partial line ends; the message goes on its own line
        output.interrupted("interrupted: " + RETRY_HINT.format(sid=interrupted["session"]))
        raise typer.Exit(130) from None
    if as_json:
        output.emit(view, True, lambda: "")
        return
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

