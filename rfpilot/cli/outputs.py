"""`outputs list|show|generate|edit|approve|reject|push|export`: the documents a resolve drafts."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from rfpilot.cli import output
from rfpilot.cli.runtime import read_text_arg, run

if TYPE_CHECKING:
    from rfpilot.core.context import Ctx
    from rfpilot.core.team.outputs import Pushed
    from rfpilot.core.view_types import ExportedOutputView, OutputView, PushedOutputView
    from rfpilot.db.models import SessionRow

JSON = typer.Option(False, "--json", help="Print JSON (a stable shape for scripts).")
SESSION_ARG = typer.Argument(..., help="Session id or unique prefix.")
TYPE_ARG = typer.Argument(..., help="psa, kb or client (or psa_ticket_notes, knowledge_base, client_summary).")

outputs_app = typer.Typer(
    help="Resolution outputs: PSA ticket notes, KB article and client summary, drafted when a session is resolved.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(outputs_app, name="outputs")


async def _session(ctx: Ctx, ref: str) -> SessionRow:
    from rfpilot.core.session.sessions import get_session

    return await get_session(ctx, ref)


def _emit_one(view: OutputView, as_json: bool, line: str) -> None:
    output.emit(view, as_json, lambda: None)
    if not as_json:
        output.info(line)


def after_resolve(session_id: str, *, offline: bool = False, as_json: bool = False, known=None) -> None:
    """After a resolve went through: draft the three outputs and say so on stderr (stdout stays the
    command's data). Never fails the resolve. ``known``: see core.team.outputs.build_bundle."""

    async def go(ctx):
        return await draft_after_resolve(ctx, await _session(ctx, session_id), offline=offline, known=known)

    try:
        drafted = run(go)
    except Exception as exc:  # noqa: BLE001 - the resolve is done; drafting is a bonus
        drafted = _not_drafted(exc)
    show_after_resolve(session_id, drafted, as_json=as_json)


def _not_drafted(exc: Exception) -> str:
    return f"resolution outputs were not drafted: {exc}"


async def draft_after_resolve(ctx, session, *, offline: bool = False, known=None) -> list[str] | str:
    """``after_resolve``'s drafting in the caller's Ctx, ``session`` just read in it (so not read again): the
    lines that describe the drafts, or (a str) why none were drafted. Never raises: the resolve is done."""
    from rfpilot.core.team import outputs as svc

    try:
        rows = await svc.generate_after_resolve(ctx, session, offline=offline, fresh=True, known=known)
        return [svc.describe(r) for r in rows] if rows else []
    except Exception as exc:  # noqa: BLE001 - the resolve is done; drafting is a bonus
        return _not_drafted(exc)


def show_after_resolve(session_id: str, drafted: list[str] | str, *, as_json: bool = False) -> None:
    """Say on stderr what ``draft_after_resolve`` drafted (or why nothing was)."""
    if isinstance(drafted, str):
        output.info(drafted)
        return
    lines = drafted
    if lines and not as_json:
        output.info("Drafted the resolution outputs (review: rfpilot outputs list " + session_id[:8] + "):")
        for line in lines:
            output.info(f"  {line}")


@outputs_app.command("list")
def outputs_list(session: str = SESSION_ARG, as_json: bool = JSON) -> None:
    """The session's outputs and where each stands (draft, approved, pushed, rejected)."""

    async def go(ctx: Ctx) -> tuple[str, list[OutputView]]:
        from rfpilot.core.team import outputs as svc

        row = await _session(ctx, session)
        return row.id, [svc.output_view(o) for o in await svc.list_outputs(ctx, row)]

    session_id, views = run(go)

    def human() -> str:
        if not views:
            return (f"no resolution outputs for session {session_id[:8]} yet (drafted when it is resolved; "
                    f"or `rfpilot outputs generate {session_id[:8]}`)")
        rows = []
        for v in views:
            where = "queued for the PSA" if v["push_pending"] else (
                f"{v['pushed_to']}: {v['pushed_reference']}" if v["pushed_to"] else "")
            rows.append([v["output_type"], v["status"] + (" (edited)" if v["edited"] else ""), v["drafter"], where])
        return output.table(["type", "status", "drafter", "pushed"], rows, max_last=60)

    output.emit(views, as_json, human)


@outputs_app.command("show")
def outputs_show(session: str = SESSION_ARG, output_type: str = TYPE_ARG, as_json: bool = JSON) -> None:
    """Print one output as it reads now (the edit, else the draft): pipe it to copy it."""

    async def go(ctx: Ctx) -> tuple[OutputView, str]:
        from rfpilot.core.team import outputs as svc

        found = await svc.get_output(ctx, await _session(ctx, session), output_type)
        return svc.output_view(found), svc.describe(found)

    view, line = run(go)
    output.emit(view, as_json, lambda: view["content"])
    if not as_json:
        output.info(line)


@outputs_app.command("generate")
def outputs_generate(
    session: str = SESSION_ARG,
    output_type: Optional[str] = typer.Option(None, "--type", "-t", help="Only this one: psa, kb or client."),
    offline: bool = typer.Option(False, "--offline", help="Use the offline drafter (no model call)."),
    as_json: bool = JSON,
) -> None:
    """Draft the outputs of a resolved session again. Replaces the earlier drafts, edits and approvals."""
    if output_type is not None:
        from rfpilot.core.team.outputs import normalise_type

        normalise_type(output_type)

    async def go(ctx: Ctx) -> tuple[list[OutputView], list[str]]:
        from rfpilot.core.team import outputs as svc

        rows = await svc.generate_configured(ctx, await _session(ctx, session), output_type, offline=offline)
        return [svc.output_view(r) for r in rows], [svc.describe(r) for r in rows]

    views, lines = run(go)
    output.emit(views, as_json, lambda: "\n".join(lines))


@outputs_app.command("edit")
def outputs_edit(
    session: str = SESSION_ARG,
    output_type: str = TYPE_ARG,
    file: Optional[str] = typer.Option(None, "--file", "-f", help="The new text from this file ('-' for stdin)."),
    editor: bool = typer.Option(False, "--editor", help="Edit the current text in $EDITOR (default on a terminal)."),
    as_json: bool = JSON,
) -> None:
    """Replace an output's text. It goes back to draft: approve it again before pushing."""
    from rfpilot.errors import UsageError

    if file is not None and editor:
        raise UsageError("give --file or --editor, not both")
    if file is None and not editor and not output.stdin_is_interactive():
        raise UsageError("say where the new text comes from: --file PATH ('-' for stdin) or --editor")
    given = read_text_arg(None, file, "output") if file is not None else None

    async def go(ctx: Ctx) -> tuple[OutputView, str]:
        from rfpilot.cli.editor import edit_in_editor
        from rfpilot.core.team import outputs as svc

        row = await _session(ctx, session)
        found = await svc.get_output(ctx, row, output_type)
        text = given
        if text is None:
            current = svc.content(found)
            text = edit_in_editor(current, ctx.settings.get("preview.editor") if ctx.settings else None)
            if text.strip() == current.strip():
                return svc.output_view(found), "no changes; nothing was saved"
        edited = await svc.edit(ctx, found, text)
        return svc.output_view(edited), svc.describe(edited)

    view, line = run(go)
    _emit_one(view, as_json, line)


def _decide(session: str, output_type: str, verb: str, as_json: bool) -> None:
    async def go(ctx: Ctx) -> tuple[OutputView, str]:
        from rfpilot.core.team import outputs as svc

        found = await svc.get_output(ctx, await _session(ctx, session), output_type)
        done = await (svc.approve(ctx, found) if verb == "approve" else svc.reject(ctx, found))
        return svc.output_view(done), svc.describe(done)

    view, line = run(go)
    _emit_one(view, as_json, line)


@outputs_app.command("approve")
def outputs_approve(session: str = SESSION_ARG, output_type: str = TYPE_ARG, as_json: bool = JSON) -> None:
    """Sign a draft off so it can be pushed (exit 3 unless it is a draft)."""
    _decide(session, output_type, "approve", as_json)


@outputs_app.command("reject")
def outputs_reject(session: str = SESSION_ARG, output_type: str = TYPE_ARG, as_json: bool = JSON) -> None:
    """Discard a draft (exit 3 unless it is a draft); editing or generating again revives it."""
    _decide(session, output_type, "reject", as_json)


def _pushed_view(pushed: Pushed) -> PushedOutputView:
    from rfpilot.core.team import outputs as svc

    delivery = pushed.delivery
    return {**svc.output_view(pushed.output), "delivery": None if delivery is None else {
        "outbox_item_id": delivery.item.id, "note_id": delivery.note_id, "adopted": delivery.adopted,
        "ticket_ref": delivery.item.ticket_ref,
    }}


@outputs_app.command("push")
def outputs_push(
    session: str = SESSION_ARG,
    output_type: str = TYPE_ARG,
    to: str = typer.Option(..., "--to", help="psa (a note on the linked ticket) or file (with --out)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="For --to file: the Markdown file to write."),
    force: bool = typer.Option(False, "--force", help="For --to file: overwrite an existing file."),
    as_json: bool = JSON,
) -> None:
    """Push an approved output. To the PSA, ticket notes become an internal note and the client summary a
    customer-visible note, through the outbox: exit 6 if the PSA is unreachable (it waits in the outbox), 4 if
    the PSA refuses it, 3 if it is not approved or the session has no linked ticket."""
    from rfpilot.errors import UsageError

    if to.strip().lower() == "file" and out is None:
        raise UsageError("--to file needs --out PATH (or use `rfpilot outputs export`)")

    async def go(ctx: Ctx) -> tuple[PushedOutputView, str, str | None, str]:
        from rfpilot.core.team import outputs as svc

        row = await _session(ctx, session)
        found = await svc.get_output(ctx, row, output_type)
        pushed = await svc.push(ctx, row, found, to, path=out, overwrite=force)
        return _pushed_view(pushed), pushed.destination, pushed.reference, svc.describe(pushed.output)

    view, where, reference, line = run(go)
    if where == "psa":
        ticket = (view["delivery"]["ticket_ref"] if view["delivery"] else None) or "the ticket"
        human = f"posted to {ticket} as note {reference}"
    else:
        human = f"wrote {reference}"
    output.emit(view, as_json, lambda: human)
    if not as_json:
        output.info(line)


@outputs_app.command("export")
def outputs_export(
    session: str = SESSION_ARG,
    output_type: str = typer.Argument("kb", help="kb (default), psa or client."),
    out: Optional[Path] = typer.Option(None, "--out", "-o",
                                       help="The file to write (default: kb-<session title>.md in this directory)."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
    as_json: bool = JSON,
) -> None:
    """Write an output (the KB article by default) as a Markdown file. An approved output is recorded as pushed
    to the file; a draft is written too, its first line saying DRAFT (not approved), and stays a draft. Exit 3 if
    the file exists or the output was rejected."""

    async def go(ctx: Ctx) -> ExportedOutputView:
        from rfpilot.core.team import outputs as svc

        row = await _session(ctx, session)
        found = await svc.get_output(ctx, row, output_type)
        target = out if out is not None else Path.cwd() / svc.export_file_name(row, found.output_type)
        pushed = await svc.export(ctx, row, found, target, overwrite=force)
        return {**_pushed_view(pushed), "exported_to": pushed.reference, "exported_draft": pushed.draft}

    view = run(go)
    output.emit(view, as_json, lambda: view["exported_to"])
    if not as_json and view["exported_draft"]:
        output.info("exported as a DRAFT (not approved): the file's first line says so")
