"""`lane …` (questions and diagnostic checks) and `fix …` (the suggested fix)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Optional

import typer

from rfpilot.cli import output
from rfpilot.cli.runtime import read_text_arg, run
from rfpilot.grammar import count

if TYPE_CHECKING:
    from rfpilot.core.context import Ctx
    from rfpilot.core.view_types import (
        FactView,
        FixApplyView,
        FixDecideView,
        FixListView,
        FixResultView,
        FixShowView,
        FixView,
        LaneItemView,
        LaneListView,
        LaneResponseView,
    )
    from rfpilot.db.models import SessionRow, SuggestedFix

JSON = typer.Option(False, "--json", help="Print JSON (a stable shape for scripts).")
SESSION_ARG = typer.Argument(..., help="Session id or unique prefix.")
FIX_OPT = typer.Option(None, "--fix", help="Fix id or prefix (default: the active fix).")

lane_app = typer.Typer(help="Questions and diagnostic checks on the task lane.", no_args_is_help=True)
fix_app = typer.Typer(help="The suggested fix: suggest, apply, record the outcome, decide the script path.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(lane_app, name="lane")
    app.add_typer(fix_app, name="fix")


# --- lane ----------------------------------------------------------------


def _item_text(view: LaneItemView) -> str:
    kind = "Q" if view["kind"] == "question" else "C"
    line = f"{view['id'][:8]}  {kind} [{view['state']}] {view['text']}"
    if view.get("command"):
        line += f"\n          $ {view['command']}"
    if response := view["response"]:
        line += "\n          → " + response.strip().replace("\n", "\n            ")
    return line


@lane_app.command("list")
def lane_list(session: str = SESSION_ARG, as_json: bool = JSON) -> None:
    """Questions and checks with their ids and state."""

    async def go(ctx: Ctx) -> LaneListView:
        from rfpilot.core.session import lane as svc
        from rfpilot.core.session.sessions import get_session
        from rfpilot.core.views import lane_list_view

        row = await get_session(ctx, session)
        return lane_list_view(await svc.list_items(ctx, row))

    data = run(go)

    def human() -> str:
        c = data["counts"]
        q = [_item_text(v) for v in data["items"] if v["kind"] == "question"]
        k = [_item_text(v) for v in data["items"] if v["kind"] == "check"]
        return "\n".join(
            [f"Questions · {c['questions_unanswered']} unanswered", *(q or ["(none)"]), "",
             f"Diagnostic checks · {c['checks_run']} / {c['checks_total']} run", *(k or ["(none)"])]
        )

    output.emit(data, as_json, human)


async def _add(ctx, session: str, kind: str, text: str, **kw):
    from rfpilot.core.session import lane as svc
    from rfpilot.core.session.sessions import get_session
    from rfpilot.core.views import lane_item_view

    row = await get_session(ctx, session)
    return lane_item_view(await svc.add_item(ctx, row, kind, text, **kw))


@lane_app.command("ask")
def lane_ask(
    session: str = SESSION_ARG,
    text: str = typer.Argument(..., help="The question."),
    why: Optional[str] = typer.Option(None, "--why", help="Why the answer matters."),
    as_json: bool = JSON,
) -> None:
    """Add a question to the lane. Prints its id."""
    view = run(lambda ctx: _add(ctx, session, "question", text, detail=why))
    output.emit(view, as_json, lambda: view["id"])


@lane_app.command("check")
def lane_check(
    session: str = SESSION_ARG,
    label: str = typer.Argument(..., help="Short label of the diagnostic check."),
    command: Optional[str] = typer.Option(None, "--command", "-c", help="The command to run (omit for GUI steps)."),
    why: Optional[str] = typer.Option(None, "--why", help="What the output reveals."),
    as_json: bool = JSON,
) -> None:
    """Add a diagnostic check to the lane. Prints its id."""
    view = run(lambda ctx: _add(ctx, session, "check", label, command=command, detail=why))
    output.emit(view, as_json, lambda: view["id"])


def _promote_arg(promote: bool, fact: str | None) -> str | bool | None:
    return fact if fact is not None else (True if promote else None)


async def _respond(ctx: Ctx, session: str, ref: str, kind: str, method: str, text: str | None,
                   promote: str | bool | None, summary: str | None) -> LaneResponseView:
    from rfpilot.core.session import lane as svc
    from rfpilot.core.session.sessions import get_session
    from rfpilot.core.views import lane_response_view

    row = await get_session(ctx, session)
    item = await svc.get_item(ctx, row, ref, kind)
    return lane_response_view(await getattr(svc, method)(ctx, row, item, text, promote=promote, summary=summary))


def _respond_out(data: LaneResponseView, as_json: bool) -> None:
    output.emit(data, as_json, lambda: _item_text(data["item"]))
    if not as_json and data["fact"]:
        output.info(f"promoted to What we know: {data['fact']['text']} ({data['fact']['id'][:8]})")


PROMOTE = typer.Option(False, "--promote", help="Also record it in What we know (as given).")
FACT = typer.Option(None, "--fact", help="Record this sentence in What we know instead of the raw text.")
SUMMARY = typer.Option(None, "--summary", help="3–7 words on what the fact rules in or out.")


@lane_app.command("answer")
def lane_answer(
    session: str = SESSION_ARG,
    item: str = typer.Argument(..., help="Question id or prefix."),
    answer: str = typer.Argument(..., help="The answer."),
    promote: bool = PROMOTE,
    fact: Optional[str] = FACT,
    summary: Optional[str] = SUMMARY,
    as_json: bool = JSON,
) -> None:
    """Answer a question (optionally promoting the answer to a fact)."""
    data = run(lambda ctx: _respond(ctx, session, item, "question", "answer_question", answer, _promote_arg(promote, fact), summary))
    _respond_out(data, as_json)


@lane_app.command("ran")
def lane_ran(
    session: str = SESSION_ARG,
    item: str = typer.Argument(..., help="Check id or prefix."),
    out: Optional[str] = typer.Option(None, "--output", "-o", help="The output you saw."),
    out_file: Optional[str] = typer.Option(None, "--output-file", help="Read the output from a file ('-' for stdin)."),
    promote: bool = PROMOTE,
    fact: Optional[str] = FACT,
    summary: Optional[str] = SUMMARY,
    as_json: bool = JSON,
) -> None:
    """Mark a check run, with its output (optionally promoting a finding to a fact)."""
    text = read_text_arg(out, out_file, "output")
    data = run(lambda ctx: _respond(ctx, session, item, "check", "mark_run", text, _promote_arg(promote, fact), summary))
    _respond_out(data, as_json)


@lane_app.command("skip")
def lane_skip(
    session: str = SESSION_ARG,
    item: str = typer.Argument(..., help="Question or check id or prefix."),
    as_json: bool = JSON,
) -> None:
    """Skip a question or check."""

    async def go(ctx: Ctx) -> LaneItemView:
        from rfpilot.core.session import lane as svc
        from rfpilot.core.session.sessions import get_session
        from rfpilot.core.views import lane_item_view

        row = await get_session(ctx, session)
        return lane_item_view(await svc.skip_item(ctx, row, await svc.get_item(ctx, row, item)))

    view = run(go)
    output.emit(view, as_json, lambda: _item_text(view))


# --- fix -----------------------------------------------------------------

BANNER_TEXT = {
    "none": "no fix waiting on you",
    "proposed": "Proposed — apply it (fix decide / fix apply) or dismiss it",
    "verifying": "Verifying — did it work? (fix outcome worked|failed|partial|pending)",
    "nudge": "Verifying for a while — did it work? (fix outcome …)",
    "partial": "Partially applied · parked — finish it, or record worked/failed",
    "pending": "Waiting to verify — record worked/failed when you know",
    "ai_confirming": "The AI thinks it has an outcome — confirm or reject it",
}


def _fix_text(view: FixView, banner: str | None = None) -> str:
    from rfpilot.core.session.fixes import view_state_word

    # The state as the banner and the lane say it (`verifying` once applied), never the stored status: that stays
    # `proposed` until an outcome is recorded (`--json` gives both, as `status` and `verifying`).
    state = view_state_word(view["status"], view["verifying"], banner)
    lines = [f"{view['title']}", f"  id          {view['id']}", f"  confidence  {view['confidence_pct']}%",
             f"  state       {state}" + ("" if view["active"] else " (superseded)")]
    if view["description"]:
        lines.append(f"  why         {view['description']}")
    if view["user_decision"]:
        lines.append(f"  decision    {view['user_decision']}")
    for value, label in ((view["applied_at"], "applied"), (view["verified_at"], "verified"),
                         (view["partial_notes"], "partial"), (view["failure_reason"], "failed"),
                         (view["pending_reason"], "waiting on")):
        if value:
            lines.append(f"  {label:<11} {value}")
    if view["script_template_slug"]:
        lines.append(f"  template    {view['script_template_slug']}")
    if view["source_session_id"]:
        lines.append(f"  from        #{view['source_session_id'][:8]} (seen before: the fix that worked there)")
    if view["ai_drafted_script"]:
        lines += ["  script", *[f"    {ln}" for ln in view["ai_drafted_script"].splitlines()]]
    if banner:
        lines.append(f"  banner      {BANNER_TEXT.get(banner, banner)}")
    return "\n".join(lines)


async def _fix_result(ctx: Ctx, row: SessionRow, fix: SuggestedFix) -> FixResultView:
    from rfpilot.core.views import fix_result_view

    return await fix_result_view(ctx, row, fix)


def _fix_out(data: FixResultView, as_json: bool) -> None:
    output.emit(data, as_json, lambda: _fix_text(data, data.get("banner")))


@fix_app.command("suggest")
def fix_suggest(
    session: str = SESSION_ARG,
    title: str = typer.Argument(..., help="Short imperative summary of the fix."),
    confidence: int = typer.Option(..., "--confidence", "-c", help="How sure you are, 0–100."),
    description: str = typer.Option("", "--description", "-d", help="Root cause and how the fix resolves it."),
    script_file: Optional[str] = typer.Option(None, "--script", help="The script that applies it (file, or '-' for stdin)."),
    params: Optional[str] = typer.Option(None, "--params", help="Suggested parameter values as a JSON object."),
    template: Optional[str] = typer.Option(None, "--template", help="Slug of a script template that applies it."),
    from_match: Optional[str] = typer.Option(None, "--from", help="The seen-before match (#abcd1234) whose fix this "
                                             "repeats: recorded as its provenance, and its script template reused "
                                             "unless --template names one."),
    as_json: bool = JSON,
) -> None:
    """Record a suggested fix by hand (it supersedes the active one)."""
    from rfpilot.errors import UsageError

    script = read_text_arg(None, script_file, "script")
    parameters = None
    if params is not None:
        try:
            parameters = json.loads(params)
        except json.JSONDecodeError as exc:
            raise UsageError(f"--params is not valid JSON: {exc.msg}") from None

    async def go(ctx: Ctx) -> FixResultView:
        from rfpilot.core.session import fixes as svc
        from rfpilot.core.session.sessions import get_session

        row = await get_session(ctx, session)
        source, slug, template_id = None, template, None
        if from_match is not None:
            from rfpilot.core.engine.chat import fix_provenance, template_id_for_slug
            from rfpilot.core.session.permissions import require_can_modify

            await require_can_modify(ctx, row, "suggest a fix for")  # the refusal first, as without --from
            source, slug = await fix_provenance(ctx, row, from_match, template)
            template_id = await template_id_for_slug(ctx, slug) if slug else None
        fix = await svc.suggest_fix(ctx, row, title, description=description, confidence=confidence,
                                    origin="engineer", script=script, parameters=parameters, template_slug=slug,
                                    template_id=template_id, source_session_id=source)
        return await _fix_result(ctx, row, fix)

    _fix_out(run(go), as_json)


@fix_app.command("show")
def fix_show(
    session: str = SESSION_ARG,
    show_all: bool = typer.Option(False, "--all", help="Every fix of the session, superseded ones too."),
    as_json: bool = JSON,
) -> None:
    """The active fix and what the proposal banner would offer."""

    async def every_fix(ctx: Ctx) -> FixListView:
        from rfpilot.core.session import fixes as svc
        from rfpilot.core.session.sessions import get_session
        from rfpilot.core.views import fix_list_view

        return fix_list_view(await svc.list_fixes(ctx, await get_session(ctx, session)))

    async def active(ctx: Ctx) -> FixShowView:
        from rfpilot.core.session import fixes as svc
        from rfpilot.core.session.sessions import get_session
        from rfpilot.core.views import fix_show_view

        return fix_show_view(*await svc.banner_state(ctx, await get_session(ctx, session)))

    if show_all:
        listing = run(every_fix)
        output.emit(listing, as_json,
                    lambda: "\n\n".join(_fix_text(v) for v in listing["fixes"]) or "(no fixes in this session)")
        return
    shown = run(active)
    output.emit(shown, as_json, lambda: _fix_text(shown["fix"], shown["banner"]) if shown["fix"] is not None
                else "(no active suggested fix)")


async def _with_fix(ctx: Ctx, session: str, fix_ref: str | None) -> tuple[SessionRow, SuggestedFix]:
    from rfpilot.core.session import fixes as svc
    from rfpilot.core.session.sessions import get_session

    row = await get_session(ctx, session)
    return row, await svc.get_fix(ctx, row, fix_ref)


@fix_app.command("apply")
def fix_apply(session: str = SESSION_ARG, fix: Optional[str] = FIX_OPT, as_json: bool = JSON) -> None:
    """Say you ran the fix ("I ran this"): it moves to verifying."""

    async def go(ctx: Ctx) -> FixApplyView:
        from rfpilot.core.session import fixes as svc

        row, target = await _with_fix(ctx, session, fix)
        changed = await svc.apply_fix(ctx, row, target)
        return {**await _fix_result(ctx, row, target), "changed": changed}

    data = run(go)
    _fix_out(data, as_json)
    if not as_json and not data["changed"]:
        output.info("already applied; nothing changed")


@fix_app.command("outcome")
def fix_outcome(
    session: str = SESSION_ARG,
    outcome: str = typer.Argument(..., help="applied_success|applied_failed|applied_partial|applied_pending|dismissed "
                                           "(or worked, failed, partial, pending, never)."),
    notes: Optional[str] = typer.Option(None, "--notes", "-n", help="Required for partial (what is left) and pending (what you wait on)."),
    fix: Optional[str] = FIX_OPT,
    as_json: bool = JSON,
) -> None:
    """Record whether the fix worked."""

    from rfpilot.core.session.fixes import normalise_outcome

    normalise_outcome(outcome)  # a bad word is a usage error whatever the session holds

    async def go(ctx: Ctx) -> FixResultView:
        from rfpilot.core.session import fixes as svc

        row, target = await _with_fix(ctx, session, fix)
        await svc.record_outcome(ctx, row, target, outcome, notes)
        return await _fix_result(ctx, row, target)

    _fix_out(run(go), as_json)


@fix_app.command("finish")
def fix_finish(session: str = SESSION_ARG, fix: Optional[str] = FIX_OPT, as_json: bool = JSON) -> None:
    """Finish a partial or pending fix: back to verifying."""

    async def go(ctx: Ctx) -> FixResultView:
        from rfpilot.core.session import fixes as svc

        row, target = await _with_fix(ctx, session, fix)
        await svc.finish_fix(ctx, row, target)
        return await _fix_result(ctx, row, target)

    _fix_out(run(go), as_json)


@fix_app.command("decide")
def fix_decide(
    session: str = SESSION_ARG,
    decision: str = typer.Argument(..., help="one_off | draft_template | build_template | dismissed"),
    script_file: Optional[str] = typer.Option(None, "--script", help="The script as you ran it (file, or '-' for stdin)."),
    fix: Optional[str] = FIX_OPT,
    as_json: bool = JSON,
) -> None:
    """Choose the script path: run as one-off, run and templatize after resolve, build a template now, or dismiss."""
    from rfpilot.core.session.fixes import normalise_decision

    normalise_decision(decision)
    edited = read_text_arg(None, script_file, "script")

    async def go(ctx: Ctx) -> FixDecideView:
        from rfpilot.core.session import fixes as svc

        row, target = await _with_fix(ctx, session, fix)
        result = await svc.decide(ctx, row, target, decision, edited_script=edited)
        extraction = None
        if result.draft_template is not None:
            from rfpilot.core.library.templates import extract_with_configured

            draft = await extract_with_configured(ctx, result.draft_template)
            extraction = {**(draft.extraction or {}), "parameters": len((draft.proposed_parameters or {}).get("parameters") or [])}
        return {**await _fix_result(ctx, row, target),
                "rendered_script": result.rendered_script,
                "draft_template_id": result.draft_template.id if result.draft_template else None,
                "extraction": extraction}

    data = run(go)
    _fix_out(data, as_json)
    if not as_json and data["draft_template_id"]:
        found = data["extraction"] or {}
        how = (f"{count(found.get('parameters', 0), 'parameter')} proposed" if found.get("source") == "llm"
               else f"no parameters proposed: {found.get('reason') or 'offline'}")
        if data["user_decision"] == "build_template":
            output.info(f"draft template {data['draft_template_id'][:8]} ({how}); build it now with "
                        f"`rfpilot templates accept {data['draft_template_id'][:8]} --name …`")
        else:
            output.info(f"queued draft template {data['draft_template_id'][:8]} for review after resolve ({how})")


@fix_app.command("confirm-outcome")
def fix_confirm_outcome(
    session: str = SESSION_ARG,
    notes: Optional[str] = typer.Option(None, "--notes", "-n", help="Your own notes instead of the AI's reason (partial / failed)."),
    fix: Optional[str] = FIX_OPT,
    as_json: bool = JSON,
) -> None:
    """Confirm the outcome the AI proposed ("The AI thinks it worked"): it is recorded as the fix's outcome."""

    async def go(ctx: Ctx) -> FixResultView:
        from rfpilot.core.session import fixes as svc

        row, target = await _with_fix(ctx, session, fix)
        await svc.confirm_outcome(ctx, row, target, notes)
        return await _fix_result(ctx, row, target)

    _fix_out(run(go), as_json)


@fix_app.command("reject-outcome")
def fix_reject_outcome(session: str = SESSION_ARG, fix: Optional[str] = FIX_OPT, as_json: bool = JSON) -> None:
    """Not yet: clear the outcome the AI proposed; the fix stays as it was."""

    async def go(ctx: Ctx) -> FixResultView:
        from rfpilot.core.session import fixes as svc

        row, target = await _with_fix(ctx, session, fix)
        await svc.reject_outcome(ctx, row, target)
        return await _fix_result(ctx, row, target)

    _fix_out(run(go), as_json)


@lane_app.command("promote")
def lane_promote(
    session: str = SESSION_ARG,
    item: Optional[str] = typer.Argument(None, help="Question or check id/prefix (omit to synthesize from --text alone)."),
    text: Optional[str] = typer.Option(None, "--text", "-t", help="The fact as you want it (direct), or the input to synthesize from."),
    summary: Optional[str] = SUMMARY,
    synthesize: bool = typer.Option(False, "--synthesize", help="Let the model draft the fact from the answer/output (conservative)."),
    as_json: bool = JSON,
) -> None:
    """Promote an answer or a check's output to What we know: as written, or synthesized by the model."""
    from rfpilot.errors import UsageError

    if item is None and not synthesize:
        raise UsageError("give a question or check to promote from", hint="or `rfpilot facts add` for a note of your own")

    async def go(ctx: Ctx) -> FactView:
        from rfpilot.core.session import lane as svc
        from rfpilot.core.llm import get_provider
        from rfpilot.core.session.sessions import get_session
        from rfpilot.core.session.synthesis import promote
        from rfpilot.core.views import fact_view

        row = await get_session(ctx, session)
        lane_item = await svc.get_item(ctx, row, item) if item else None
        assert ctx.settings is not None  # a command's Ctx carries the settings it was opened with
        provider = get_provider(ctx.settings) if synthesize else None
        try:
            fact = await promote(ctx, row, lane_item, text=text, summary=summary, synthesize_with=provider)
        finally:
            if provider is not None:
                await provider.aclose()
        return fact_view(fact, lane_item)

    data = run(go)
    output.emit(data, as_json, lambda: f"{data['id'][:8]}  {data['text']}" + (f"  ({data['provenance']})" if data.get("provenance") else ""))
