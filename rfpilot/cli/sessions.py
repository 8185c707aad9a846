"""`new`, `sessions …` and `facts …`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from rfpilot.cli import output
from rfpilot.cli.runtime import run
from rfpilot.grammar import count

if TYPE_CHECKING:
    from rfpilot.core.context import Ctx
    from rfpilot.core.view_types import (
        ExportView,
        FactView,
        LaneItemView,
        SessionDetails,
        SessionView,
    )
    from rfpilot.core.view_types import FactChangeView as FactOut
    from rfpilot.core.view_types import FactRemovedView as FactRemoved
    from rfpilot.db.models import Fact, SessionRow

JSON = typer.Option(False, "--json", help="Print JSON (a stable shape for scripts).")

sessions_app = typer.Typer(help="List, show, export, pause, reopen and abandon sessions.", no_args_is_help=True)
facts_app = typer.Typer(help='"What we know": list, add, edit and remove facts.', no_args_is_help=True)

STATUS_DOT = {"active": "●", "paused": "◐", "escalated": "▲", "resolved": "✓", "abandoned": "✗"}


def register(app: typer.Typer) -> None:
    app.command("new")(new)
    app.add_typer(sessions_app, name="sessions")
    app.add_typer(facts_app, name="facts")


def new(
    text: Optional[str] = typer.Argument(None, help="What the problem is, in the engineer's words."),
    title: Optional[str] = typer.Option(None, "--title", help="Title (default: the first sentence of TEXT)."),
    client: Optional[str] = typer.Option(None, "--client", help="The client (company) the ticket is for."),
    ticket: Optional[str] = typer.Option(None, "--ticket", help="Start from this PSA ticket: its summary, "
                                         "description, recent notes, company and configurations become the context."),
    connection: Optional[str] = typer.Option(None, "--connection", help="The PSA connection (default: the default one)."),
    as_json: bool = JSON,
) -> None:
    """Start a troubleshooting session (from a description or a PSA ticket). Prints the new session's id."""
    from rfpilot.errors import UsageError

    if ticket is not None and (text is not None or title is not None or client is not None):
        raise UsageError("--ticket takes the description, title and client from the ticket; give none of them")
    if connection is not None and ticket is None:
        raise UsageError("--connection goes with --ticket")

    async def go(ctx: Ctx) -> tuple[SessionRow, SessionView]:
        from rfpilot.core.session.sessions import create_session
        from rfpilot.core.views import session_view

        if ticket is not None:
            from rfpilot.core.closeout.tickets import session_from_ticket

            session = await session_from_ticket(ctx, ticket, connection)
        else:
            session = await create_session(ctx, text, title=title, client=client)
        return session, session_view(session, ctx.now())

    session, view = run(go)
    output.emit(view, as_json, lambda: session.id)
    if not as_json:
        linked = f" ({session.ticket_ref})" if session.ticket_ref else ""
        output.info(f"created session {session.id[:8]}{linked}: {session.title or '(untitled)'}")


def _session_row(view: SessionView, now_age: str) -> list[str]:
    return [
        view["id"][:8],
        f"{STATUS_DOT.get(view['status'], ' ')} {view['status']}",
        view["ticket_ref"] or "",
        view["client"] or "",
        now_age,
        view["title"] or "(untitled)",
    ]


@sessions_app.command("list")
def sessions_list(
    status: Optional[list[str]] = typer.Option(None, "--status", "-s", help="Only these statuses (repeatable)."),
    mine: bool = typer.Option(False, "--mine", help="Only sessions you own."),
    match: Optional[str] = typer.Option(None, "--match", "-m", help="Only sessions whose title, client, ticket or "
                                        "status contains TEXT (any case), or whose id starts with it.",
                                        metavar="TEXT"),
    limit: int = typer.Option(50, "--limit", min=1, max=10_000,
                              help="At most this many: open sessions first, then closed, newest activity first."),
    as_json: bool = JSON,
) -> None:
    """Sessions: Active (open) then Recent (closed), each most recent activity first."""

    async def go(ctx: Ctx) -> tuple[list[tuple[SessionView, str]], list[tuple[SessionView, str]]]:
        from rfpilot.core.session.sessions import session_page, split_open
        from rfpilot.core.text import age
        from rfpilot.core.views import session_view

        page = await session_page(ctx, match=match, statuses=tuple(status) if status else None, limit=limit,
                                  mine=mine)
        now = ctx.now()
        return split_open([(session_view(s, now), age(s.updated_at, now)) for s in page.sessions],
                          lambda r: r[0]["status"])

    open_rows, closed_rows = run(go)
    rows = open_rows + closed_rows

    def human() -> str | None:
        if not rows:
            if match or status or mine:
                output.info("no session matches")
            else:
                output.info('no sessions yet — start one with: rfpilot new "<what is wrong>"')
            return None
        parts = []
        headers = ("ID", "STATUS", "TICKET", "CLIENT", "AGE", "TITLE")
        if open_rows:
            parts.append("Active\n" + output.table(headers, [_session_row(v, a) for v, a in open_rows]))
        if closed_rows:
            parts.append("Recent\n" + output.table(headers, [_session_row(v, a) for v, a in closed_rows]))
        return "\n\n".join(parts)

    output.emit([v for v, _ in rows], as_json, human)


def _show_text(data: SessionDetails) -> str:
    from rfpilot.core.session.fixes import proposal_words
    from rfpilot.core.text import duration

    s = data["session"]
    lines = [
        f"{s['title'] or '(untitled)'}",
        f"  id        {s['id']}",
        f"  status    {STATUS_DOT.get(s['status'], '')} {s['status']}",
    ]
    if s["client"]:
        lines.append(f"  client    {s['client']}")
    if s["ticket_ref"]:
        lines.append(f"  ticket    {s['ticket_ref']}")
    delivery = data.get("psa_delivery")
    if delivery:
        what = f"{delivery['kind'].replace('_', ' ')} {delivery['state']} (outbox {delivery['id'][:8]}, "
        what += f"{count(delivery['attempts'], 'try')})"
        if delivery["last_error"]:
            what += f": {delivery['last_error']}"
        lines.append(f"  PSA       {what}")
    writeback = data.get("psa_writeback")
    if writeback:
        from rfpilot.core.closeout.writeback import describe_close

        lines.append(f"  writeback {describe_close(writeback)}")
    lines.append(f"  time      active {duration(s['active_seconds'])} · parked {duration(s['parked_seconds'])}")
    lines.append(f"  state     v{s['state_version']}")
    if s["intake_text"]:
        lines += ["", "Problem", *[f"  {ln}".rstrip() for ln in s["intake_text"].splitlines()]]
    facts = data["facts"]
    lines += ["", f"What we know · {data['fact_count']:,}"]
    lines += [f"  {f['id'][:8]}  {f['text']}  ({f['provenance']})" for f in facts] or ["  (nothing yet)"]
    more = data["fact_count"] - len(facts)
    if more > 0:
        lines.append(f"  … and {count(more, 'more fact')}: `rfpilot facts list {s['id'][:8]}` lists them all")
    counts = data["lane_counts"]
    lines += ["", f"Questions · {counts['questions_unanswered']} unanswered"]
    lines += [_lane_line(i) for i in data["lane"] if i["kind"] == "question"] or ["  (none)"]
    lines += ["", f"Diagnostic checks · {counts['checks_run']} / {counts['checks_total']} run"]
    lines += [_lane_line(i) for i in data["lane"] if i["kind"] == "check"] or ["  (none)"]
    lines += ["", "Suggested fix"]
    fix = data["active_fix"]
    if fix:
        lines.append(f"  {fix['id'][:8]}  {fix['title']} — {fix['confidence_pct']}% · {fix['state_word']}")
        if fix["source_session_id"]:
            lines.append(f"  repeats the fix of #{fix['source_session_id'][:8]} (seen before)")
        proposal = fix["ai_outcome_proposal"]
        if proposal:
            lines.append(f"  the AI thinks it {proposal_words(proposal)}: {proposal.get('reason') or ''}")
    else:
        lines.append("  (none)")
    convo = data.get("messages") or {"count": 0, "last": []}
    lines += ["", f"Conversation · {count(convo['count'], 'message')}" + (" (latest)" if convo["count"] > len(convo["last"]) else "")]
    for message in convo["last"]:
        who = {"user": "you", "assistant": "AI", "notice": "--"}.get(message["role"], message["role"])
        text = " ".join((message["text"] or "(task-lane items only)").split())
        flag = f" [{message['status']}: {message['error'] or 'no reply'}]" if message["status"] in ("failed", "interrupted") else ""
        lines.append(f"  {who:>3}: {text[:150] + ('…' if len(text) > 150 else '')}{flag}")
    if not convo["last"]:
        lines.append("  (no messages yet: `rfpilot chat` starts one)")
    for note, label in ((data["resolution_note"], "Resolution note"), (data["escalation_package"], "Escalation package")):
        if note:
            lines += ["", label, *[f"  {ln}" for ln in note.splitlines()]]
    if data["seen_before"]:
        from rfpilot.cli.seen import seen_lines

        lines += ["", "Seen before", *seen_lines(data["seen_before"])]
    return "\n".join(lines)


def _lane_line(item: LaneItemView) -> str:
    mark = {"open": "○", "answered": "●", "skipped": "–", "run": "●"}[item["state"]]
    line = f"  {mark} {item['id'][:8]}  {item['text']}"
    if command := item["command"]:
        line += f"\n      $ {command.splitlines()[0]}"
    if response := item["response"]:
        first = response.strip().splitlines()[0] if response.strip() else ""
        line += f"\n      → {first}"
    return line


@sessions_app.command("show")
def sessions_show(
    session: str = typer.Argument(..., help="Session id or unique prefix."),
    limit: int = typer.Option(50, "--limit", min=1, help="Show at most this many facts, the first ones (the rest are "
                              "counted: `rfpilot facts list SESSION` lists them all)."),
    show_all: bool = typer.Option(False, "--all", help="Show every fact, however many."),
    as_json: bool = JSON,
) -> None:
    """A session's state: facts, questions, checks, the suggested fix, notes.

    A long session shows its first 50 facts (--limit) and how many more it has; `--json` has the facts shown
    under `facts` and how many the session has under `fact_count`.
    """

    async def go(ctx: Ctx) -> SessionDetails:
        from rfpilot.core.session.sessions import get_session
        from rfpilot.core.views import session_details

        return await session_details(ctx, await get_session(ctx, session), fact_limit=None if show_all else limit)

    data = run(go)
    output.emit(data, as_json, lambda: _show_text(data))


@sessions_app.command("export")
def sessions_export(
    session: str = typer.Argument(..., help="Session id or unique prefix."),
    fmt: str = typer.Option("md", "--format", "-f", help="md or json."),
    out: Optional[Path] = typer.Option(None, "--output", "-o", help="Write to this file instead of stdout."),
) -> None:
    """Export a whole session as Markdown or JSON: facts, lane, fixes, conversation, notes, and the branch map
    with its fork points (the JSON shape is in docs/branches.md)."""
    from rfpilot.errors import UsageError

    if fmt not in ("md", "json"):
        raise UsageError(f"unknown export format {fmt!r}", hint="md or json")
    if out is not None:
        from rfpilot.private import file_target

        out = file_target(out, "--output")

    async def go(ctx: Ctx) -> ExportView:
        from rfpilot.core.export import export_data
        from rfpilot.core.session.sessions import get_session

        return await export_data(ctx, await get_session(ctx, session))

    data = run(go)
    if fmt == "json":
        from rfpilot.textsafe import dumps

        text = dumps(data, indent=2)  # controls as \uXXXX escapes: exact data, no raw control in the file
    else:
        from rfpilot.core.export import export_markdown

        text = export_markdown(data)
    if out is None:
        output.data(text)
    else:
        try:
            from rfpilot.private import write_private

            write_private(out, text if text.endswith("\n") else text + "\n")
        except OSError as exc:
            raise UsageError(f"cannot write {out}: {exc.strerror or exc}") from None
        output.info(f"wrote {out}")


async def _change_status(ctx, ref: str, fn_name: str, *args):
    from rfpilot.core.session import sessions as svc
    from rfpilot.core.views import session_view

    row = await svc.get_session(ctx, ref)
    row = await getattr(svc, fn_name)(ctx, row, *args)
    return session_view(row, ctx.now())


def _status_out(view: dict, as_json: bool) -> None:
    output.emit(view, as_json, lambda: f"{view['id'][:8]} is now {view['status']}")


SESSION_ARG = typer.Argument(..., help="Session id or unique prefix.")


@sessions_app.command("pause")
def sessions_pause(session: str = SESSION_ARG, as_json: bool = JSON) -> None:
    """Pause a session (sending a message or `resume` makes it active again)."""
    _status_out(run(lambda ctx: _change_status(ctx, session, "pause_session")), as_json)


@sessions_app.command("resume")
def sessions_resume(session: str = SESSION_ARG, as_json: bool = JSON) -> None:
    """Make a paused session active again."""
    _status_out(run(lambda ctx: _change_status(ctx, session, "resume_session")), as_json)


@sessions_app.command("reopen")
def sessions_reopen(session: str = SESSION_ARG, as_json: bool = JSON) -> None:
    """Reopen a resolved or abandoned session."""
    _status_out(run(lambda ctx: _change_status(ctx, session, "reopen_session")), as_json)


@sessions_app.command("abandon")
def sessions_abandon(
    session: str = SESSION_ARG,
    reason: Optional[str] = typer.Option(None, "--reason", help="Why it is closed without a resolution."),
    as_json: bool = JSON,
) -> None:
    """Close a session without resolving it."""
    _status_out(run(lambda ctx: _change_status(ctx, session, "abandon_session", reason)), as_json)


@sessions_app.command("rename")
def sessions_rename(
    session: str = typer.Argument(..., help="Session id or unique prefix."),
    title: str = typer.Argument(..., help="The new title."),
    as_json: bool = JSON,
) -> None:
    """Change a session's title."""

    async def go(ctx: Ctx) -> SessionView:
        from rfpilot.core.session import sessions as svc
        from rfpilot.core.views import session_view

        row = await svc.rename_session(ctx, await svc.get_session(ctx, session), title)
        return session_view(row, ctx.now())

    view = run(go)
    output.emit(view, as_json, lambda: f"{view['id'][:8]}: {view['title']}")


# --- facts ---------------------------------------------------------------


def _fact_line(view: FactView) -> str:
    return f"{view['id'][:8]}  {view['text']}  ({view['provenance']})"


async def _fact_out(ctx: Ctx, session: SessionRow, fact: Fact) -> FactOut:
    from rfpilot.core.views import fact_details

    return {**await fact_details(ctx, fact), "state_version": session.state_version}


@facts_app.command("list")
def facts_list(session: str = typer.Argument(..., help="Session id or unique prefix."), as_json: bool = JSON) -> None:
    """The session's facts, oldest first, with provenance."""

    async def go(ctx: Ctx) -> list[FactOut]:
        from rfpilot.core.session import facts as fact_service
        from rfpilot.core.session.sessions import get_session

        row = await get_session(ctx, session)
        return [await _fact_out(ctx, row, f) for f in await fact_service.list_facts(ctx, row)]

    views = run(go)
    output.emit(views, as_json, lambda: "\n".join(_fact_line(v) for v in views) or "(no facts yet)")


@facts_app.command("add")
def facts_add(
    session: str = typer.Argument(..., help="Session id or unique prefix."),
    text: str = typer.Argument(..., help="The fact, as a short past-tense sentence."),
    summary: Optional[str] = typer.Option(None, "--summary", help="3–7 words on what it rules in or out."),
    as_json: bool = JSON,
) -> None:
    """Add your own note to What we know."""

    async def go(ctx: Ctx) -> FactOut:
        from rfpilot.core.session import facts as fact_service
        from rfpilot.core.session.sessions import get_session

        row = await get_session(ctx, session)
        fact = await fact_service.add_note(ctx, row, text, summary=summary)
        return await _fact_out(ctx, row, fact)

    view = run(go)
    output.emit(view, as_json, lambda: view["id"])


@facts_app.command("edit")
def facts_edit(
    session: str = typer.Argument(..., help="Session id or unique prefix."),
    fact: str = typer.Argument(..., help="Fact id or unique prefix."),
    text: Optional[str] = typer.Option(None, "--text", help="New text."),
    summary: Optional[str] = typer.Option(None, "--summary", help="New provenance summary."),
    as_json: bool = JSON,
) -> None:
    """Edit a note or an AI synthesis (facts from questions and checks are read-only)."""

    async def go(ctx: Ctx) -> FactOut:
        from rfpilot.core.session import facts as fact_service
        from rfpilot.core.session.sessions import get_session

        row = await get_session(ctx, session)
        target = await fact_service.get_fact(ctx, row, fact)
        updated = await fact_service.update_fact(ctx, row, target, text=text, summary=summary)
        return await _fact_out(ctx, row, updated)

    view = run(go)
    output.emit(view, as_json, lambda: _fact_line(view))


@facts_app.command("rm")
def facts_rm(
    session: str = typer.Argument(..., help="Session id or unique prefix."),
    fact: str = typer.Argument(..., help="Fact id or unique prefix."),
    as_json: bool = JSON,
) -> None:
    """Remove a fact (any source; it stays in the audit trail as deleted)."""

    async def go(ctx: Ctx) -> FactRemoved:
        from rfpilot.core.session import facts as fact_service
        from rfpilot.core.session.sessions import get_session

        row = await get_session(ctx, session)
        target = await fact_service.get_fact(ctx, row, fact)
        await fact_service.delete_fact(ctx, row, target)
        return {"id": target.id, "deleted": True, "state_version": row.state_version}

    view = run(go)
    output.emit(view, as_json, lambda: None)
    if not as_json:
        output.info(f"removed fact {view['id'][:8]}")
