"""`preview resolve|escalate`, `resolve` and `escalate`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from rfpilot.cli import output
from rfpilot.cli.runtime import read_text_arg, run
from rfpilot.grammar import count, verb

if TYPE_CHECKING:
    from rfpilot.core.view_types import PreviewView

JSON = typer.Option(False, "--json", help="Print JSON (a stable shape for scripts).")
SESSION_ARG = typer.Argument(..., help="Session id or unique prefix.")

preview_app = typer.Typer(help="Draft the resolution note or escalation package without posting it.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(preview_app, name="preview")
    app.command("resolve")(resolve)
    app.command("escalate")(escalate)


def _describe(view: PreviewView) -> str:
    from rfpilot.core.drafting.previews import describe

    return describe(view["drafter"], view.get("model"), view["from_cache"], view["state_version"],
                    view.get("fallback_reason"))


def _preview(kind: str, session: str, force: bool, offline: bool, as_json: bool) -> None:
    async def go(ctx):
        from rfpilot.core.drafting.previews import configured_preview
        from rfpilot.core.session.sessions import get_session
        from rfpilot.core.views import preview_view

        row = await get_session(ctx, session)  # read just now: the preview need not read it again
        return preview_view(await configured_preview(ctx, row, kind, force=force, offline=offline, fresh=True), row)

    view = run(go)
    output.emit(view, as_json, lambda: view["markdown"])
    if not as_json:
        output.info(_describe(view))


FORCE = typer.Option(False, "--force", help="Draft again even when the cache has this state.")
OFFLINE = typer.Option(False, "--offline", help="Use the offline drafter (no model call) even when a model is configured.")


@preview_app.command("resolve")
def preview_resolve(session: str = SESSION_ARG, force: bool = FORCE, offline: bool = OFFLINE, as_json: bool = JSON) -> None:
    """The four-section resolution note for the session's current state."""
    _preview("resolve", session, force, offline, as_json)


@preview_app.command("escalate")
def preview_escalate(session: str = SESSION_ARG, force: bool = FORCE, offline: bool = OFFLINE, as_json: bool = JSON) -> None:
    """The five-section escalation package for the session's current state."""
    _preview("escalate", session, force, offline, as_json)


def _ask_outcome(fix, action: str) -> tuple[str, str | None]:
    from rfpilot.core.closeout.closing import choice_labels, choices_for
    from rfpilot.core.session.fixes import NOTES_REQUIRED, is_verifying, normalise_outcome, view_state_word

    choices = choices_for(fix, action)
    if action == "resolve":
        output.info(f'Before resolving: did "{fix.title}" work?')
    else:
        state = view_state_word(fix.status, is_verifying(fix))
        output.info(f'Before escalating — what happened with the fix? "{fix.title}" is still {state}.')
    labels = choice_labels(action)
    for n, choice in enumerate(choices, 1):
        output.info(f"  {n}. {labels[choice]}")
    while True:
        answer = output.ask(f"Choose 1–{len(choices)} [1]: ", "1")
        if answer.isdigit() and 1 <= int(answer) <= len(choices):
            choice = choices[int(answer) - 1]
            break
        output.info("please type one of the numbers")
    notes = None
    outcome = normalise_outcome({"never": "dismissed"}.get(choice, choice))
    if outcome in NOTES_REQUIRED:
        while not notes:
            notes = output.ask(f"Notes ({NOTES_REQUIRED[outcome]}): ").strip()
    return choice, notes


def _close(
    action: str,
    session: str,
    yes: bool,
    edit: bool,
    markdown_file: Optional[str],
    summary: Optional[str],
    fix_outcome: Optional[str],
    notes: Optional[str],
    export: Optional[Path],
    offline: bool,
    as_json: bool,
    local: bool = False,
    log_time: Optional[bool] = None,
) -> None:
    from rfpilot.errors import UsageError

    interactive = output.stdin_is_interactive()
    given_markdown = read_text_arg(None, markdown_file, "markdown")
    # Refuse bad input before anything is written: recording a fix outcome
    # (below) commits on its own, so a later refusal would leave it changed.
    from rfpilot.core.closeout.closing import normalise_choice, validate_close_inputs

    validate_close_inputs(given_markdown, summary, export)
    if notes is not None and fix_outcome is None:
        raise UsageError("--notes goes with --fix-outcome")
    if fix_outcome is not None:
        normalise_choice(fix_outcome)

    async def go(ctx):
        from rfpilot.core.closeout import closing as svc
        from rfpilot.core.session import fixes as fix_service
        from rfpilot.core.session.sessions import get_session, require_editable

        row = await get_session(ctx, session)
        await require_editable(ctx, row)
        svc.check_can_close(row, action)
        choice = svc.normalise_choice(fix_outcome) if fix_outcome else None
        outcome_notes = notes
        waiting = svc.fix_to_settle(await fix_service.active_fix(ctx, row), action, choice is not None)
        if not yes and not interactive:  # checked after the id and the state, so a bad id is named as such
            also = (" and --fix-outcome failed|worked|partial|pending|never"
                    if waiting is not None and choice is None and svc.implicit_choice(waiting, action) is None else "")
            raise UsageError(f"not confirmed: add --yes{also} to {action} session {row.id[:8]} without being asked "
                             "(stdin is not a terminal)")
        if waiting is not None and choice is None:
            if interactive and not yes:
                choice, outcome_notes = _ask_outcome(waiting, action)
            else:
                from rfpilot.core.session.fixes import is_verifying, view_state_word

                choice = svc.implicit_choice(waiting, action)
                state = view_state_word(waiting.status, is_verifying(waiting))
                if choice is None:
                    raise UsageError(
                        f'"{waiting.title}" is still {state}: '
                        "say what happened with --fix-outcome failed|worked|partial|pending|never"
                    )
                told = "stays " + state if choice == svc.KEEP else "was verifying: recorded as worked"
                output.info(f'"{waiting.title}" {told} (use --fix-outcome to say otherwise)')
        time_wanted = log_time if log_time is not None else bool(ctx.settings and ctx.settings.get("psa.time_entry"))
        if time_wanted and not row.psa_ticket_id:
            if log_time:
                raise UsageError("--time logs time on the linked PSA ticket, and this session has none")
            time_wanted = False
        if waiting is None:
            choice = None  # nothing to settle
        known = None  # the note's bundle, handed on to the resolution outputs (core.team.outputs.build_bundle)
        if given_markdown is not None:
            markdown, drafted = given_markdown, None
        else:
            # Drafted as it will read once the answer is recorded, with nothing stored yet (core.closeout.closing).
            prev = await svc.draft_for_close(ctx, row, action, choice, outcome_notes, offline=offline, fresh=True)
            markdown, drafted = prev.markdown, {"drafter": prev.drafter, "from_cache": prev.from_cache}
            output.info(prev.describe())
            if choice is not None and choice != svc.KEEP:
                row = await get_session(ctx, session)  # loaded again: the draft's transaction was rolled back
            elif prev.bundle is not None:  # (a recorded answer is stored anew by the close: read it again then)
                known = (prev.state_version, prev.bundle)
        if edit:
            from rfpilot.cli.editor import edit_in_editor

            markdown = edit_in_editor(markdown, ctx.settings.get("preview.editor") if ctx.settings else None)
        markdown = svc.clean_markdown(markdown)
        if not yes:
            output.data(markdown)
            verb = "Resolve" if action == "resolve" else "Escalate"
            if not output.confirm(f"{verb} session {row.id[:8]} with this note?"):
                raise UsageError(f"not {action}d; nothing was posted")
        # ONE transaction: the answer about the fix and the close (or its outbox item), all or nothing; the PSA
        # is written to only after the commit.
        result = await svc.close_with_outcome(
            ctx, row, action, markdown, choice, outcome_notes,
            summary=summary, export_path=export, local=local, log_time=time_wanted,
        )
        return {
            "session_id": row.id,
            "outcome": result.outcome,
            "session_status": result.session_status,
            "summary": result.summary,
            "markdown": result.markdown,
            "drafter": drafted["drafter"] if drafted else "engineer",
            "from_cache": drafted["from_cache"] if drafted else False,
            "external_id": result.external_id,
            "posted_at": result.posted_at,
            "exported_to": str(result.exported_to) if result.exported_to else None,
            "ticket_ref": result.ticket_ref,
            "verified_status": result.verified_status,
            "status_skipped": result.status_skipped,
            "adopted": result.adopted,
            "notice": result.notice,
            "time_entry": result.time_entry,
            "report": svc.result_lines(result, row.id),
            "known": known,
            "row": row,
        }

    data = run(go)
    report, known, closed = data.pop("report"), data.pop("known"), data.pop("row")
    output.emit(data, as_json, lambda: data["outcome"])
    if not as_json:
        for line in report:
            output.info(line)
    if action == "resolve" and data["session_status"] == "resolved":
        _after_resolve(data["session_id"], ask=interactive and not yes and not as_json, offline=offline,
                       as_json=as_json, known=known, closed=closed)


def _after_resolve(session_id: str, *, ask: bool, offline: bool, as_json: bool, known, closed=None) -> None:
    """After a successful resolve: the session's draft templates offered (``_offer_drafts``), then its resolution
    outputs drafted (cli.outputs.after_resolve). With no question to ask between the two, both are done in one
    store session, on ``closed`` (the session row as the close just committed it) when it is given, else on
    the session read once."""
    from rfpilot.cli.outputs import after_resolve, draft_after_resolve, show_after_resolve

    if ask:
        _offer_drafts(session_id, ask=True)
        after_resolve(session_id, offline=offline, as_json=as_json, known=known)
        return

    async def go(ctx):
        from rfpilot.core.session.sessions import adopt_row, get_session
        from rfpilot.core.library.templates import drafts_to_offer

        row = (closed is not None and await adopt_row(ctx, closed)) or await get_session(ctx, session_id)
        drafts = [d.id for d in await drafts_to_offer(ctx, row)]
        return drafts, await draft_after_resolve(ctx, row, offline=offline, known=known)

    drafts, drafted = run(go)
    _show_drafts(session_id, drafts, ask=False)
    show_after_resolve(session_id, drafted, as_json=as_json)


def _offer_drafts(session_id: str, *, ask: bool) -> None:
    """After a successful resolve: the session's draft templates, unless the team turned the offer off."""

    async def go(ctx):
        from rfpilot.core.session.sessions import get_session
        from rfpilot.core.library.templates import drafts_to_offer

        return [d.id for d in await drafts_to_offer(ctx, await get_session(ctx, session_id))]

    _show_drafts(session_id, run(go), ask=ask)


def _show_drafts(session_id: str, drafts: list[str], *, ask: bool) -> None:
    if not drafts:
        return
    if ask:
        from rfpilot.cli.templates import review_drafts

        review_drafts(drafts, headline="Resolved. Keep the script that fixed it as a team template?")
        return
    output.info(f"{count(len(drafts), 'draft template')} from this session {verb(len(drafts), 'waits')} for review: "
                f"rfpilot templates review --session {session_id[:8]}")
    for draft_id in drafts:
        output.info(f"  or: rfpilot templates accept {draft_id[:8]} --name NAME  |  rfpilot templates reject {draft_id[:8]}")


YES = typer.Option(False, "--yes", "-y", help="Do not ask; post the (drafted or given) note.")
EDIT = typer.Option(False, "--edit", help="Edit the note in $EDITOR first.")
MD_FILE = typer.Option(None, "--markdown-file", help="Post this file instead of the drafted note ('-' for stdin).")
FIX_OUTCOME = typer.Option(None, "--fix-outcome", help="What happened with a fix still verifying: worked|failed|partial|pending|never.")
NOTES = typer.Option(None, "--notes", help="Notes for --fix-outcome partial or pending.")
EXPORT = typer.Option(None, "--export", help="Also write the note to this Markdown file.")
LOCAL = typer.Option(False, "--local", help="Close without posting to the linked PSA ticket.")
TIME = typer.Option(None, "--time/--no-time", help="Log the session's active time on the ticket "
                    "(rounded up to psa.time_rounding hours; default: the psa.time_entry setting).")


def resolve(
    session: str = SESSION_ARG,
    yes: bool = YES,
    edit: bool = EDIT,
    markdown_file: Optional[str] = MD_FILE,
    summary: Optional[str] = typer.Option(None, "--summary", help="One-line summary for listings (default: the Problem's first sentence)."),
    fix_outcome: Optional[str] = FIX_OUTCOME,
    notes: Optional[str] = NOTES,
    export: Optional[Path] = EXPORT,
    offline: bool = OFFLINE,
    local: bool = LOCAL,
    log_time: Optional[bool] = TIME,
    as_json: bool = JSON,
) -> None:
    """Resolve a session with its four-section resolution note.

    With a linked PSA ticket, the note is posted as a customer-visible resolution note, then the ticket is
    moved to the connection's resolve status and read back. Exit 4 if the PSA refuses or the status does not
    stick (the note is never posted twice: run it again once fixed); exit 6 if the PSA is unreachable (the
    note waits in the outbox: `rfpilot outbox sync`).
    """
    _close("resolve", session, yes, edit, markdown_file, summary, fix_outcome, notes, export, offline, as_json,
           local, log_time)


def escalate(
    session: str = SESSION_ARG,
    yes: bool = YES,
    edit: bool = EDIT,
    markdown_file: Optional[str] = MD_FILE,
    reason: Optional[str] = typer.Option(None, "--summary", "--reason", help="One-line summary for listings (default: the Problem's first sentence)."),
    fix_outcome: Optional[str] = FIX_OUTCOME,
    notes: Optional[str] = NOTES,
    export: Optional[Path] = EXPORT,
    offline: bool = OFFLINE,
    local: bool = LOCAL,
    log_time: Optional[bool] = TIME,
    handoff: bool = typer.Option(False, "--handoff", help="Hand the session to the team queue instead, with an AI "
                                 "assessment (--notes for the next engineer, --elevated for priority)."),
    elevated: bool = typer.Option(False, "--elevated", help="With --handoff: elevated priority in the queue."),
    as_json: bool = JSON,
) -> None:
    """Escalate a session with its five-section escalation package (or, with --handoff, to the team queue).

    With a linked PSA ticket, the package is posted as an internal note (hidden from the customer), then the
    ticket is moved to the connection's escalate status, if one is set, and read back. Exit codes as for resolve.
    """
    from rfpilot.errors import UsageError

    if elevated and not handoff:
        raise UsageError("--elevated goes with --handoff (the queue's priority)")
    if handoff:
        if markdown_file or edit or export or fix_outcome or local or log_time:
            raise UsageError("--handoff puts the session in the team queue; the note options do not apply to it")
        from rfpilot.cli.handoffs import escalate_handoff_command

        escalate_handoff_command(session, notes, elevated, as_json, offline=offline)
        return
    _close("escalate", session, yes, edit, markdown_file, reason, fix_outcome, notes, export, offline, as_json,
           local, log_time)
