"""Resolution outputs (SPEC §10): three documents drafted when a session is resolved.

* ``psa_ticket_notes`` (Problem, Diagnostic steps, Resolution, Recommendations), ``knowledge_base`` (Symptoms,
  Root cause, Resolution steps, Things to rule out first: the session's dead-end branches go there) and
  ``client_summary`` (two or three plain paragraphs, no headings).
* One row per session and type: drafting again replaces the row's text, drops the engineer's edit, returns it
  to draft and forgets any earlier push.
* Drafted by the model when one is configured (one call per type, made concurrently, usage recorded), and by
  an offline drafter otherwise, or when the model fails or returns something unusable; the row stores which.
  Both read the same bundle of stored state (``build_bundle``); the offline drafters only restate it.
* Status: draft → approved | rejected; approved → pushed. Editing puts any output back to draft (an edited text
  is approved again before it goes out). Only an approved or already pushed output is pushed:
  - ``psa``: ticket notes as an internal note, the client summary as a customer-visible discussion note, both
    through the PSA outbox (exactly once). The output is marked pushed only once the PSA has the note
    (``pushed_reference`` = the note id). While the write waits in the outbox the output stays approved and
    ``pushed_reference`` holds ``outbox:<item id>``: pushing again retries that item, and listing the outputs
    notices when ``outbox sync`` delivered it (or forgets a dropped one). Such an output is not edited, rejected,
    exported or redrafted until then. A text already delivered to the ticket is never posted again.
  - ``file``: the Markdown written to a path (``pushed_reference`` = the path); repeatable, never overwriting
    an existing file unless asked.
  The last push is the one recorded (``pushed_to``, ``pushed_at``, ``pushed_reference``).
* Export (``export``): the Markdown file of any output but a rejected one. An approved or pushed output is a push
  to ``file``; a draft is written too (useful to review it elsewhere), its first line saying DRAFT, and it stays
  a draft with nothing recorded.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from rfpilot.core.drafting import notes
from rfpilot.core.llm import usage as usage_service
from rfpilot.core.context import Ctx
from rfpilot.core.view_types import OutputView
from rfpilot.core.llm.base import LLMCallError, LLMRequest, LLMResult, Provider
from rfpilot.core.text import iso, markdown_section, one_line, truncate
from rfpilot.db.enums import OUTPUT_TYPES
from rfpilot.db import models
from rfpilot.db.models import ResolutionOutput, SessionRow
from rfpilot.errors import ConflictError, NotFoundError, QueuedError, RfpilotError, UsageError
from rfpilot.private import file_target, private_dir, write_private
from rfpilot.textsafe import inert

if TYPE_CHECKING:  # the outbox is mapped when an output is pushed or settled, not when one is drafted
    from rfpilot.db.models import OutboxItem
    from rfpilot.core.closeout.writeback import SyncReport

log = logging.getLogger(__name__)

PSA_NOTES, KB, CLIENT = OUTPUT_TYPES  # psa_ticket_notes, knowledge_base, client_summary
LABELS = {PSA_NOTES: "PSA ticket notes", KB: "KB article", CLIENT: "Client summary"}
HEADINGS = {
    PSA_NOTES: ("Problem", "Diagnostic steps", "Resolution", "Recommendations"),
    KB: ("Symptoms", "Root cause", "Resolution steps", "Things to rule out first"),
}
RULE_OUT = "Things to rule out first"
ALIASES = {
    "psa": PSA_NOTES, "notes": PSA_NOTES, "ticket-notes": PSA_NOTES, "psa-notes": PSA_NOTES, PSA_NOTES: PSA_NOTES,
    "kb": KB, "kb-article": KB, "article": KB, "knowledge-base": KB, KB: KB,
    "client": CLIENT, "summary": CLIENT, "client-summary": CLIENT, CLIENT: CLIENT,
}
FILE_PREFIX = {PSA_NOTES: "psa-notes", KB: "kb", CLIENT: "client-summary"}
DESTINATIONS = ("psa", "file")
PSA_TYPES = (PSA_NOTES, CLIENT)
# The PSA note each type becomes: ticket notes stay internal; the client summary is meant for the client.
PSA_NOTE_KIND = {PSA_NOTES: "internal", CLIENT: "discussion"}
MAX_TOKENS = {PSA_NOTES: 1200, KB: 1400, CLIENT: 600}
EDIT_MAX = 50_000
PSA_TEXT_MAX = 20_000  # what the outbox accepts for one note (closing.MARKDOWN_MAX)
OUTBOX_REF = "outbox:"
RECENT_WORK = 6
# "The last turns" a model drafting an output sees: the engineer's latest RECENT_WORK messages with text on the
# line of work resolved, looked for among the latest RECENT_WORK_SCAN messages of the engineer on it, read
# newest first in pages (never the whole transcript).
RECENT_WORK_SCAN = 200
NOTHING_RULED_OUT = "Nothing was ruled out in this session."


def normalise_type(value: str) -> str:
    """'psa' | 'kb' | 'client' or a full type name -> the stored type."""
    key = (value or "").strip().lower().replace("_", "-")
    found = ALIASES.get(key) or ALIASES.get(key.replace("-", "_"))
    if found is None:
        raise UsageError(f"unknown output type {value!r}", hint="psa, kb or client (or psa_ticket_notes, "
                                                                   "knowledge_base, client_summary)")
    return found


# --- the input bundle --------------------------------------------------------------------------------


BranchLine = notes.BranchLine


@dataclass
class Bundle:
    """What an output may say: the note bundle (problem, facts, checks, fixes, scripts), the stored
    resolution note, and the branches (the line being worked on, dead ends, solved)."""

    state: notes.Bundle
    resolution_note: str | None
    resolution_summary: str | None
    active: BranchLine | None = None
    dead_ends: list[BranchLine] = field(default_factory=list)
    solved: list[BranchLine] = field(default_factory=list)
    recent_work: list[str] = field(default_factory=list)  # the engineer's latest messages (model input only)


Known = tuple[int, notes.Bundle]  # a resolution note's bundle, read at this state_version of the session


async def build_bundle(ctx: Ctx, session: SessionRow, *, recent_work: bool = True, known: Known | None = None) -> Bundle:
    """The session's stored state, never the transcript alone. ``recent_work``: read the engineer's latest
    messages too (only a model is shown them: the offline drafters leave them out, so they are not read for
    those). ``known``: the resolution note's bundle as the resolve just read it, used when the session is still
    at that state_version (any write that changes what a note says bumps it), instead of reading it again."""
    from rfpilot.core.session import branches

    if known is not None and known[0] == session.state_version and known[1].kind == notes.RESOLUTION:
        state = known[1]
    else:
        state = await notes.build_bundle(ctx, session, notes.RESOLUTION)
    all_branches = await branches.list_branches(ctx, session)
    active = await branches.active_branch(ctx, session)
    recent: list[str] = []
    if recent_work:
        own = await branches.latest_messages(ctx, session, active, RECENT_WORK, roles=("user",),
                                             wanted=lambda m: bool(m.display_content.strip()), scan=RECENT_WORK_SCAN)
        recent = [truncate(one_line(m.display_content), 200) for m in own]
    return Bundle(
        state=state,
        resolution_note=(session.resolution_note_markdown or "").strip() or None,
        resolution_summary=session.resolution_summary,
        active=notes.branch_line(active) if active is not None and active.parent_branch_id is not None else None,
        dead_ends=[notes.branch_line(b) for b in all_branches if b.status == "dead_end"],
        solved=[notes.branch_line(b) for b in all_branches if b.status == "solved"],
        recent_work=recent,
    )


_INSTRUCTION = {
    PSA_NOTES: "Write the PSA ticket notes now, with their four sections. Use only the input above.",
    KB: "Write the knowledge base article now, with its four sections. Use only the input above.",
    CLIENT: "Write the client summary now, in plain language. Use only the input above.",
}


def bundle_text(bundle: Bundle, output_type: str) -> str:
    """The one user message the model gets for ``output_type``."""
    b = bundle.state
    out = notes.context_lines(b)
    out += ["", "# Confirmed facts (What we know)"]
    out += [f"- [{f.source_type}] {f.text}" + (f" — {f.summary}" if f.summary else "") for f in b.facts] or ["(none)"]
    if b.more_facts:
        out.append(f"({notes.more_facts_line(b)}; not listed here)")
    out += ["", "# Diagnostic checks run"]
    out += [f"- {c.label}" + (f" (command: {c.command})" if c.command else "") for c in b.checks_run] or ["(none)"]
    out += ["", "# Scripts run (passwords redacted)"] + notes._script_lines(b.scripts_run)
    out += ["", "# Final suggested fix"]
    out += notes._fix_lines(b.fix, with_decision=True) if b.fix else ["(none)"]
    if b.earlier_fixes:
        out += ["", "# Earlier fixes tried"]
        for fix in b.earlier_fixes:
            out += ["-"] + [f"  {line}" for line in notes._fix_lines(fix, with_decision=False)]
    out += ["", "# Resolution note (as stored when the session was resolved; quoted)"]
    out += [f"> {line}".rstrip() for line in bundle.resolution_note.splitlines()] if bundle.resolution_note else ["(none)"]
    if bundle.active or bundle.dead_ends or bundle.solved:
        out += ["", "# Hypotheses explored (branches)"]
        if bundle.active:
            out += ["Worked on last:"] + notes.branch_text(bundle.active)
        if bundle.solved:
            out += ["Solved:"] + [ln for line in bundle.solved for ln in notes.branch_text(line)]
        out += ["Dead ends (ruled out):"] + ([ln for line in bundle.dead_ends for ln in notes.branch_text(line)] or ["(none)"])
    if bundle.recent_work:
        out += ["", "# The engineer's latest messages on that line of work"] + [f"- {m}" for m in bundle.recent_work]
    return "\n".join(out + ["", _INSTRUCTION[output_type]])


# --- the offline drafters: stored state, restated ----------------------------------------------------


def _bullets(lines: list[str], empty: str) -> str:
    return "\n".join(f"- {line}" for line in lines) if lines else empty


def _fix_line(fix: notes.FixState) -> str | None:
    """One line on a fix that was actually tried; None for one only proposed or set aside."""
    title = notes._q(fix.title)
    if fix.status == "applied_failed":
        return f"Tried {title}: it did not resolve the issue" + (f" ({fix.failure_reason.rstrip('.')})." if fix.failure_reason else ".")
    if fix.status == "applied_partial":
        return f"Partly applied {title}" + (f": {fix.partial_notes.rstrip('.')}." if fix.partial_notes else ".")
    if fix.status == "applied_pending":
        return f"Applied {title}; verification pending" + (f" (waiting on: {fix.pending_reason.rstrip('.')})." if fix.pending_reason else ".")
    if fix.status == "applied_success":
        return f"Applied {title}: confirmed working."
    if fix.verifying:
        return f"Applied {title}; the outcome was not confirmed."
    return None


def _fixes(b: notes.Bundle) -> list[notes.FixState]:
    return b.earlier_fixes + ([b.fix] if b.fix else [])


def _rule_outs(bundle: Bundle) -> list[str]:
    lines = [notes.rule_out(line) for line in bundle.dead_ends]
    for fix in _fixes(bundle.state):
        if fix.status == "applied_failed":
            reason = f" ({fix.failure_reason.rstrip('.')})" if fix.failure_reason else ""
            lines.append(f"{notes._q(fix.title)}: applied, it did not resolve the issue{reason}.")
    return lines


def _note_section(bundle: Bundle, heading: str) -> str | None:
    if not bundle.resolution_note:
        return None
    return markdown_section(bundle.resolution_note, heading) or None


def _resolution_text(bundle: Bundle) -> str:
    return _note_section(bundle, "Resolution") or notes._resolution(bundle.state)


def _root_cause_text(bundle: Bundle) -> str:
    return _note_section(bundle, "Root cause") or notes._root_cause(bundle.state)


def _offline_psa_notes(bundle: Bundle) -> str:
    b = bundle.state
    steps = [f"Ran check: {c.label}" + (f" (`{c.command}`)." if c.command and "\n" not in c.command else ".")
             for c in b.checks_run]
    steps += [f"Ran script {notes._q(r.name)}." for r in b.scripts_run]
    steps += [f"Confirmed: {notes.stated(f.text)}" for f in b.facts]
    if b.more_facts:
        steps.append(f"{notes.more_facts_line(b)}.")
    steps += [line for line in (_fix_line(f) for f in _fixes(b)) if line]
    steps += [f"Ruled out: {notes.rule_out(line)}" for line in bundle.dead_ends]
    steps += [notes.solved_line(line) for line in bundle.solved]
    resolution = _resolution_text(bundle) + "\n\nRoot cause: " + _root_cause_text(bundle)
    follow: list[str] = []
    fix = b.fix
    if fix is not None and fix.status == "applied_pending":
        what = fix.pending_reason.rstrip(".") if fix.pending_reason else "the pending verification"
        follow.append(f"Follow up on {what}, then confirm that {notes._q(fix.title)} resolved the issue.")
    elif fix is not None and fix.status == "applied_partial":
        follow.append(f"Complete {notes._q(fix.title)} and verify it.")
    follow += [f"Reuse the script template `{r.slug}` for the same symptom." for r in b.scripts_run if r.slug]
    bodies = [notes._problem(b), _bullets(steps, "No diagnostic steps were recorded."), resolution,
              _bullets(follow, "No follow-up was recorded.")]
    return "\n\n".join(f"## {h}\n{body}" for h, body in zip(HEADINGS[PSA_NOTES], bodies, strict=True))


def _offline_kb(bundle: Bundle) -> str:
    b = bundle.state
    steps: list[str] = []
    fix = b.fix
    if fix is not None and (fix.status in ("applied_success", "applied_pending", "applied_partial") or fix.verifying):
        steps.append(f"Apply {notes._q(fix.title)}." + (f" {notes.stated(fix.description)}" if fix.description else ""))
    steps += [f"Run the script {notes._q(r.name)}" + (f" (template `{r.slug}`)." if r.slug else ".")
              for r in b.scripts_run]
    resolution = ("\n".join(f"{n}. {s}" for n, s in enumerate(steps, 1)) if steps else _resolution_text(bundle))
    bodies = [notes._problem(b), _root_cause_text(bundle), resolution, _bullets(_rule_outs(bundle), NOTHING_RULED_OUT)]
    return "\n\n".join(f"## {h}\n{body}" for h, body in zip(HEADINGS[KB], bodies, strict=True))


def _offline_client_summary(bundle: Bundle) -> str:
    b = bundle.state
    problem = notes._problem(b)
    ref = f" ({b.ticket_ref})" if b.ticket_ref else ""
    first = (f"We looked into the issue you reported{ref}: {problem}" if b.problem_summary or b.intake or b.title
             else f"We looked into the issue you reported{ref}.")
    fix = b.fix
    if fix is not None and fix.status == "applied_success":
        second = "We applied a fix and confirmed that it works. The issue is now resolved."
    elif fix is not None and fix.status == "applied_pending":
        waiting = f" We are waiting on: {fix.pending_reason.rstrip('.')}." if fix.pending_reason else ""
        second = "We applied a fix and are still confirming that it works." + waiting
    elif fix is not None and fix.status == "applied_partial":
        second = "We applied part of a fix; some of the work is still to be completed."
    elif fix is not None and fix.verifying:
        second = "We applied a fix and the issue is now resolved."
    else:
        second = "The issue is now resolved."
    return "\n\n".join([first, second, "If the problem comes back, let us know on this ticket."])


OFFLINE_DRAFTERS = {PSA_NOTES: _offline_psa_notes, KB: _offline_kb, CLIENT: _offline_client_summary}


def offline_draft(bundle: Bundle, output_type: str) -> str:
    """The document from stored state alone: no model, nothing invented."""
    return OFFLINE_DRAFTERS[output_type](bundle)


# --- the model drafter -------------------------------------------------------------------------------


def _system_prompt(output_type: str) -> str:
    from rfpilot.core.llm import prompts

    return {PSA_NOTES: prompts.PSA_TICKET_NOTES_PROMPT, KB: prompts.KB_ARTICLE_PROMPT,
            CLIENT: prompts.CLIENT_SUMMARY_PROMPT}[output_type]


def check_draft(output_type: str, text: str) -> str | None:
    """None when a model's draft has the document's shape; else what is wrong with it."""
    if not text.strip():
        return "the draft was empty"
    if output_type in HEADINGS:
        wanted = list(HEADINGS[output_type])
        found = notes.section_headings(text)
        if found != wanted:
            return "its sections were " + (", ".join(found) if found else "missing") + f", not {', '.join(wanted)}"
        if not text.startswith("## "):
            return "it has text before its first section"
        return None
    if any(line.lstrip().startswith("#") for line in text.splitlines()):
        return "the client summary has headings"
    if len([p for p in re.split(r"\n\s*\n", text) if p.strip()]) > 5:
        return "the client summary is longer than a few paragraphs"
    return None


def ensure_rule_outs(markdown: str, bundle: Bundle) -> str:
    """Every dead-end branch appears under 'Things to rule out first': the ones the model left out are added
    from stored state, and a model's "Nothing was ruled out" line goes with them."""
    return notes.add_missing(markdown, RULE_OUT, [(line.label, notes.rule_out(line)) for line in bundle.dead_ends])


@dataclass
class _Draft:
    output_type: str
    text: str
    drafter: str  # llm | offline
    model: str | None = None
    reason: str | None = None  # why the offline drafter wrote it, when a model was wanted
    result: LLMResult | None = None


async def _ask_model(provider: Provider, bundle: Bundle, output_type: str) -> tuple[LLMResult | None, str | None]:
    """One call; returns (result, problem). A call that fails returns (None, why)."""
    request = LLMRequest(action="resolution_note", system=_system_prompt(output_type),
                         message=bundle_text(bundle, output_type), max_tokens=MAX_TOKENS[output_type])
    try:
        return await provider.complete(request), None
    except LLMCallError as err:
        return None, f"the model could not draft it: {err.message}"


def _asks_model(provider: Provider | None, offline: bool) -> bool:
    return not offline and provider is not None and provider.can_chat


async def _drafts(bundle: Bundle, types: list[str], provider: Provider | None, offline: bool) -> list[_Draft]:
    """The model's drafts (concurrently, one call per type) where usable; the offline drafter's otherwise."""
    from rfpilot.core.drafting.previews import tidy_draft

    if offline:
        return [_Draft(t, offline_draft(bundle, t), "offline", reason="--offline was asked for") for t in types]
    if provider is None or not provider.can_chat:
        return [_Draft(t, offline_draft(bundle, t), "offline", reason="no model is configured") for t in types]
    answers = await asyncio.gather(*(_ask_model(provider, bundle, t) for t in types))
    drafts = []
    for output_type, (result, problem) in zip(types, answers, strict=True):
        if result is not None:
            text = tidy_draft(result.text)
            problem = check_draft(output_type, text)
            if problem is None:
                if output_type == KB:
                    text = ensure_rule_outs(text, bundle)
                drafts.append(_Draft(output_type, text, "llm", result.model, result=result))
                continue
            problem = f"the model's draft was unusable: {problem}"
        drafts.append(_Draft(output_type, offline_draft(bundle, output_type), "offline", reason=problem, result=result))
    return drafts


# --- reading ---------------------------------------------------------------------------------------------


def content(output: ResolutionOutput) -> str:
    """What the output says now: the engineer's edit, else the drafted text."""
    return output.edited_content if output.edited_content is not None else output.generated_content


def outbox_item_id(output: ResolutionOutput) -> str | None:
    """The outbox item of a PSA push that is still on its way, if any."""
    ref = output.pushed_reference or ""
    return ref[len(OUTBOX_REF):] if output.status != "pushed" and ref.startswith(OUTBOX_REF) else None


async def _settle(ctx: Ctx, output: ResolutionOutput) -> ResolutionOutput:
    """Catch up with the outbox: a queued push delivered since (by `outbox sync`) marks the output pushed; a
    dropped one is forgotten."""
    item_id = outbox_item_id(output)
    if item_id is None:
        return output
    item = await ctx.db.get(models.OutboxItem, item_id)
    if item is not None and item.state in ("pending", "failed"):
        return output
    async with ctx.tx():
        if item is not None and item.state == "delivered":
            output.status = "pushed"
            output.pushed_at = item.delivered_at or ctx.now()
            output.pushed_reference = item.external_id
        else:
            output.pushed_to = None
            output.pushed_reference = None
    return output


async def _rows(ctx: Ctx, session: SessionRow) -> dict[str, ResolutionOutput]:
    stmt = select(ResolutionOutput).where(ResolutionOutput.session_id == session.id,
                                          ResolutionOutput.account_id == ctx.account.id)
    return {row.output_type: row for row in (await ctx.db.execute(stmt)).scalars()}


async def list_outputs(ctx: Ctx, session: SessionRow) -> list[ResolutionOutput]:
    """The session's outputs: PSA ticket notes, KB article, client summary (those that exist)."""
    rows = await _rows(ctx, session)
    return [await _settle(ctx, rows[t]) for t in OUTPUT_TYPES if t in rows]


async def get_output(ctx: Ctx, session: SessionRow, type_or_id: str) -> ResolutionOutput:
    """By type ('psa', 'kb', 'client' or a full name) or by id prefix, within the session."""
    from rfpilot.core.lookup import find_one

    ref = (type_or_id or "").strip()
    if re.fullmatch(r"[0-9a-fA-F]{4,8}(-[0-9a-fA-F-]*)?", ref) and ref.lower() not in ALIASES:
        row = await find_one(ctx, ResolutionOutput, ref, "resolution output", ResolutionOutput.session_id == session.id)
        return await _settle(ctx, row)
    output_type = normalise_type(ref)
    found = (await _rows(ctx, session)).get(output_type)
    if found is None:
        raise NotFoundError(f"session {session.id[:8]} has no {LABELS[output_type]} yet",
                            hint="they are drafted when the session is resolved; or run "
                                 f"`rfpilot outputs generate {session.id[:8]}`")
    return await _settle(ctx, found)


def output_view(output: ResolutionOutput) -> OutputView:
    """What the CLI's --json and the TUI show of one output."""
    pending = outbox_item_id(output)
    return {
        "id": output.id,
        "session_id": output.session_id,
        "output_type": output.output_type,
        "label": LABELS.get(output.output_type, output.output_type),
        "status": output.status,
        "content": content(output),
        "edited": output.edited_content is not None,
        "generated_content": output.generated_content,
        "edited_content": output.edited_content,
        "drafter": output.drafter,
        "model": output.model,
        "fallback_reason": getattr(output, "fallback_reason", None),
        "pushed_to": output.pushed_to,
        "pushed_at": iso(output.pushed_at),
        "pushed_reference": None if pending else output.pushed_reference,
        "push_pending": pending is not None,
        "outbox_item_id": pending,
        "created_at": iso(output.created_at),
        "updated_at": iso(output.updated_at),
    }


def describe(output: ResolutionOutput) -> str:
    """One line: type, status, who drafted it, and where it went."""
    who = ("LLM drafter" + (f" ({output.model})" if output.model else "")) if output.drafter == "llm" else "offline drafter"
    parts = [LABELS.get(output.output_type, output.output_type), output.status, who]
    if output.edited_content is not None:
        parts.append("edited")
    if outbox_item_id(output):
        parts.append("waiting in the PSA outbox")
    elif output.pushed_to and output.pushed_reference:
        parts.append(f"last pushed to {output.pushed_to}: {output.pushed_reference}")
    reason = getattr(output, "fallback_reason", None)
    return " · ".join(parts) + (f" · {reason}" if reason else "")


# --- drafting --------------------------------------------------------------------------------------------


async def _ready_to_draft(ctx: Ctx, session: SessionRow, types: list[str],
                          fresh: bool = False) -> dict[str, ResolutionOutput]:
    """Refuses what may not be drafted now; else the session's rows, by type. ``fresh``: ``session`` was just
    read in this Ctx (not read again)."""
    from rfpilot.core.session.permissions import require_can_modify

    if not fresh:
        await ctx.db.refresh(session)
    await require_can_modify(ctx, session, "draft the resolution outputs of")
    if session.status != "resolved":
        raise ConflictError(f"session {session.id[:8]} is {session.status}; resolution outputs are drafted from a "
                            "resolved session", hint=f"resolve it first (`rfpilot resolve {session.id[:8]}`)")
    rows = await _rows(ctx, session)
    for output_type in types:
        row = rows.get(output_type)
        if row is not None and outbox_item_id(await _settle(ctx, row)):
            raise ConflictError(f"the {LABELS[output_type]} is waiting in the PSA outbox; it is not redrafted "
                                "until that write is delivered or dropped",
                                hint="`rfpilot outbox sync`, or `rfpilot outbox drop ID`")
    return rows


def _put(ctx: Ctx, session: SessionRow, draft: _Draft, provider: Provider | None,
         known: dict[str, ResolutionOutput]) -> ResolutionOutput:
    """The session's row of this type, inserted or replaced, in the caller's transaction (not flushed yet)."""
    if draft.result is not None and provider is not None:
        usage_service.record(ctx, session, "resolution_note", provider, draft.result)
    row = known.get(draft.output_type)
    now = ctx.now()
    if row is None:
        row = ResolutionOutput(account_id=ctx.account.id, session_id=session.id,
                               output_type=draft.output_type, created_at=now)
        ctx.db.add(row)
    row.generated_content = draft.text
    row.edited_content = None
    row.status = "draft"
    row.drafter = draft.drafter
    row.model = draft.model
    row.pushed_to = None
    row.pushed_at = None
    row.pushed_reference = None
    row.updated_at = now
    return row


async def _store(ctx: Ctx, session: SessionRow, draft: _Draft, provider: Provider | None,
                 rows: dict[str, ResolutionOutput] | None = None) -> ResolutionOutput:
    """Insert or replace the session's row of this type (the unique key is session + type). ``rows``: the
    session's rows as just read (``_ready_to_draft``), so the first attempt does not read them again; a row
    inserted meanwhile by another process fails that insert, and the second attempt reads them."""
    for attempt in (1, 2):
        try:
            async with ctx.tx():
                known = rows if attempt == 1 and rows is not None else await _rows(ctx, session)
                row = _put(ctx, session, draft, provider, known)
                await ctx.db.flush()
        except IntegrityError:
            if attempt == 2:
                raise
            await ctx.db.refresh(session)  # the rollback expired it
            continue  # another process inserted it first: replace theirs
        row.fallback_reason = draft.reason  # type: ignore[attr-defined]  # transient: not stored
        return row
    raise AssertionError("unreachable")


async def _store_all(ctx: Ctx, session: SessionRow, drafts: list[_Draft], provider: Provider | None,
                     rows: dict[str, ResolutionOutput]) -> list[ResolutionOutput]:
    """Every draft stored in ONE transaction (the new rows in one INSERT); when that fails (a row another
    process inserted meanwhile, a value the store refuses), each is stored on its own as before, so the drafts
    that can be stored still are."""
    known: dict[str, ResolutionOutput] | None = rows
    if len(drafts) > 1:
        try:
            async with ctx.tx():
                stored = [_put(ctx, session, d, provider, rows) for d in drafts]
                await ctx.db.flush()
        except Exception:  # noqa: BLE001 - rolled back: stored one by one below, each with its own outcome
            log.debug("the outputs were stored one by one", exc_info=True)
            await ctx.db.refresh(session)  # the rollback expired it
            known = None  # read again: the rolled-back transaction's objects are not the store's rows
        else:
            for row, draft in zip(stored, drafts, strict=True):
                row.fallback_reason = draft.reason  # type: ignore[attr-defined]  # transient: not stored
            return stored
    return [await _store(ctx, session, d, provider, known) for d in drafts]


async def _generate(ctx: Ctx, session: SessionRow, types: list[str], provider: Provider | None,
                    offline: bool, fresh: bool = False, known: Known | None = None) -> list[ResolutionOutput]:
    rows = await _ready_to_draft(ctx, session, types, fresh)
    bundle = await build_bundle(ctx, session, recent_work=_asks_model(provider, offline), known=known)
    drafts = await _drafts(bundle, types, provider, offline)
    return await _store_all(ctx, session, drafts, provider, rows)


async def generate_all(ctx: Ctx, session: SessionRow, provider: Provider | None, *,
                       offline: bool = False, fresh: bool = False, known: Known | None = None) -> list[ResolutionOutput]:
    """Draft (or redraft) the three outputs of a resolved session. Model failures fall back to offline drafts;
    each returned row says why in its transient ``fallback_reason``."""
    return await _generate(ctx, session, list(OUTPUT_TYPES), provider, offline, fresh, known)


async def generate(ctx: Ctx, session: SessionRow, output_type: str, provider: Provider | None, *,
                   offline: bool = False) -> ResolutionOutput:
    """Draft (or redraft) one output; the earlier text, edit and push record of that type are replaced."""
    [row] = await _generate(ctx, session, [normalise_type(output_type)], provider, offline)
    return row


async def generate_configured(ctx: Ctx, session: SessionRow, output_type: str | None = None, *,
                              offline: bool = False, fresh: bool = False,
                              known: Known | None = None) -> list[ResolutionOutput]:
    """``generate``/``generate_all`` with the provider the settings select; a provider that cannot be built
    is only a reason to draft offline. ``fresh``: ``session`` was just read in this Ctx; ``known``: see
    ``build_bundle`` (all three outputs only)."""
    from rfpilot.core.llm import optional_provider

    async with optional_provider(ctx.settings, offline=offline) as (provider, problem):
        if output_type is None:
            rows = await generate_all(ctx, session, provider, offline=offline, fresh=fresh, known=known)
        else:
            rows = [await generate(ctx, session, output_type, provider, offline=offline)]
    if problem:
        for row in rows:
            if row.drafter == "offline":
                row.fallback_reason = problem  # type: ignore[attr-defined]
    return rows


async def generate_after_resolve(ctx: Ctx, session: SessionRow, *, offline: bool = False,
                                 fresh: bool = False, known: Known | None = None) -> list[ResolutionOutput] | None:
    """Called once a resolve went through: the three drafts, or None when there is nothing to draft (the
    session is not resolved, e.g. its note waits in the outbox) or drafting was refused. Never raises for a
    model problem: those become offline drafts. ``fresh``: ``session`` was just read in this Ctx (the CLI's
    resolve reads it for this), so it is not read again; ``known``: see ``build_bundle``."""
    if not fresh:
        await ctx.db.refresh(session)
    if session.status != "resolved":
        return None
    try:
        return await generate_configured(ctx, session, offline=offline, fresh=True, known=known)
    except RfpilotError as err:
        log.warning("resolution outputs of session %s not drafted: %s", session.id[:8], err.message)
        return None


# --- the engineer's review ------------------------------------------------------------------------------


async def _editable(ctx: Ctx, output: ResolutionOutput) -> SessionRow:
    from rfpilot.core.session.permissions import require_can_modify

    session = await ctx.db.get(SessionRow, output.session_id)
    if session is None:
        raise NotFoundError("the session of this output no longer exists")
    await require_can_modify(ctx, session, "change the resolution outputs of")
    await _settle(ctx, output)
    return session


def _not_in_outbox(output: ResolutionOutput, verb: str) -> None:
    item_id = outbox_item_id(output)
    if item_id:
        raise ConflictError(
            f"the {LABELS[output.output_type]} is waiting in the PSA outbox (item {item_id[:8]}); it cannot be {verb}",
            hint=f"deliver it with `rfpilot outbox sync`, or drop it with `rfpilot outbox drop {item_id[:8]}` first")


async def edit(ctx: Ctx, output: ResolutionOutput, text: str) -> ResolutionOutput:
    """Replace what the output says (the drafted text is kept). Any output goes back to draft: an edited text
    must be approved again before it is pushed."""
    cleaned = (text or "").strip()
    if not cleaned:
        raise UsageError("the edited text is empty; nothing was saved", hint="to discard the output, reject it")
    if len(cleaned) > EDIT_MAX:
        raise UsageError(f"the edited text is too long ({len(cleaned)} characters; the limit is {EDIT_MAX})")
    await _editable(ctx, output)
    _not_in_outbox(output, "edited")
    async with ctx.tx():
        output.edited_content = cleaned
        output.status = "draft"
        output.updated_at = ctx.now()
    return output


async def _decide(ctx: Ctx, output: ResolutionOutput, status: str) -> ResolutionOutput:
    await _editable(ctx, output)
    verb = "approved" if status == "approved" else "rejected"
    if output.status != "draft":
        label = LABELS[output.output_type]
        hints = {
            "approved": "it is already approved; edit it to send it back to draft",
            "rejected": "edit it or draft it again (`rfpilot outputs generate SESSION --type TYPE`) first",
            "pushed": "it was already pushed; edit it to make a new draft",
        }
        raise ConflictError(f"only a draft can be {verb}; the {label} is {output.status}",
                            hint=hints.get(output.status))
    async with ctx.tx():
        output.status = status
        output.updated_at = ctx.now()
    return output


async def approve(ctx: Ctx, output: ResolutionOutput) -> ResolutionOutput:
    """Sign a draft off: it may now be pushed."""
    return await _decide(ctx, output, "approved")


async def reject(ctx: Ctx, output: ResolutionOutput) -> ResolutionOutput:
    """Discard a draft (it stays listed; editing or redrafting revives it)."""
    return await _decide(ctx, output, "rejected")


# --- pushing ---------------------------------------------------------------------------------------------


@dataclass
class Pushed:
    output: ResolutionOutput
    destination: str
    reference: str | None  # the PSA note id, or the file written
    delivery: Any = None  # writeback.Delivery for a PSA push delivered now
    draft: bool = False  # an export of a draft: the file says DRAFT and nothing is recorded on the output


def export_file_name(session: SessionRow, output_type: str) -> str:
    """Default export name: '<kind>-<slug of the title>.md' (the session id when there is no title)."""
    from rfpilot.core.library.templates import slugify

    slug = slugify(session.title or "")[:60].rstrip("-") or session.id[:8]
    return f"{FILE_PREFIX[normalise_type(output_type)]}-{slug}.md"


def draft_mark(output: ResolutionOutput) -> str:
    """The first line of an exported draft: nobody mistakes it for the approved text."""
    return (f"> **DRAFT — not approved.** This {LABELS[output.output_type]} was exported from rfpilot as a "
            "draft: it has not been reviewed and approved.")


def export_markdown(session: SessionRow, output: ResolutionOutput) -> str:
    """The file's text: the output as it reads now, the KB article under the session's title; a draft (not
    approved yet) opens with a line saying DRAFT."""
    text = content(output).strip()
    if output.output_type == KB and session.title and not text.startswith("# "):
        text = f"# {one_line(session.title)}\n\n{text}"
    if output.status == "draft":
        text = f"{draft_mark(output)}\n\n{text}"
    return inert(text) + "\n"


def _check_pushable(output: ResolutionOutput) -> None:
    """Approved outputs go out; a pushed one may go again (another file, or the ticket after an export)."""
    if output.status in ("approved", "pushed"):
        return
    raise ConflictError(f"the {LABELS[output.output_type]} is {output.status}; only an approved output is pushed",
                        hint="review it, then `rfpilot outputs approve SESSION TYPE` (`rfpilot outputs export` "
                             "writes a draft to a file, marked DRAFT)")


def _write_file(path: Path, text: str, overwrite: bool) -> Path:
    target = file_target(path)
    if target.exists() and not overwrite:
        raise ConflictError(f"{target} already exists; it was not overwritten", hint="add --force to replace it")
    try:
        write_private(private_dir(target.parent) / target.name, text)
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}; nothing was changed") from None
    return target


async def _earlier_post(ctx: Ctx, session: SessionRow, output: ResolutionOutput, text: str) -> OutboxItem | None:
    """The outbox item that already carries this text to the ticket (on its way, failed or delivered), if any:
    pushing again finishes or refuses it, never posts a second note."""
    pending = outbox_item_id(output)
    if pending:
        item = await ctx.db.get(models.OutboxItem, pending)
        if item is not None and item.state != "superseded":
            return item
    outbox = models.OutboxItem
    stmt = (select(outbox)
            .where(outbox.session_id == session.id, outbox.kind == "update",
                   outbox.note_kind == PSA_NOTE_KIND[output.output_type], outbox.state != "superseded")
            .order_by(outbox.seq.desc()))
    for item in (await ctx.db.execute(stmt)).scalars():
        if item.text.strip() == text:
            return item
    return None


async def deliver_outbox(ctx: Ctx) -> SyncReport:
    """Deliver the team's PSA outbox (core.closeout.writeback.sync, which reports what it delivered). A resolve it
    delivered closed its session just now: that session's resolution outputs are drafted here, as after any
    resolve (the outbox itself knows nothing of outputs)."""
    from rfpilot.core.closeout import writeback
    from rfpilot.core.closeout.close_record import RESOLVE

    report = await writeback.sync(ctx)
    for delivery in report.delivered:
        if delivery.item.kind == RESOLVE:
            session = await ctx.db.get(SessionRow, delivery.item.session_id)
            if session is not None:
                await generate_after_resolve(ctx, session)
    return report


def _mark_on_its_way(ctx: Ctx, output: ResolutionOutput, item: OutboxItem) -> None:
    """Approved, with the outbox item carrying it: 'pushed' only once the PSA has the note."""
    output.status = "approved"
    output.pushed_to = "psa"
    output.pushed_reference = OUTBOX_REF + item.id
    output.updated_at = ctx.now()


async def _push_to_psa(ctx: Ctx, session: SessionRow, output: ResolutionOutput) -> Pushed:
    from rfpilot.core.closeout import writeback

    label = LABELS[output.output_type]
    if output.output_type not in PSA_TYPES:
        raise UsageError(f"the {label} is not posted to a ticket", hint="export it as Markdown: "
                         f"`rfpilot outputs export {session.id[:8]} kb`")
    if not (session.psa_connection_id and session.psa_ticket_id):
        raise ConflictError(f"session {session.id[:8]} is not linked to a PSA ticket; there is nowhere to post "
                            f"the {label}", hint="export it to a file or copy it instead")
    text = content(output).strip()
    if len(text) > PSA_TEXT_MAX:
        raise UsageError(f"the {label} is too long for a ticket note ({len(text)} characters; the limit is "
                         f"{PSA_TEXT_MAX})", hint="shorten it with `rfpilot outputs edit`")
    item = await _earlier_post(ctx, session, output, text)
    if item is not None and item.state == "delivered":
        raise ConflictError(f"the {label} is already on {session.ticket_ref or 'the ticket'} as note {item.external_id}",
                            hint="edit it and approve it again to post a corrected version")
    try:
        if item is None:
            async with ctx.tx():
                item, _ = await writeback.enqueue(ctx, session, "update", text)
                item.note_kind = PSA_NOTE_KIND[output.output_type]
                await ctx.db.flush()  # the item's id, recorded on the output in the same transaction
                _mark_on_its_way(ctx, output, item)
        elif outbox_item_id(output) != item.id:
            async with ctx.tx():
                _mark_on_its_way(ctx, output, item)
        # An earlier push on its way is finished, never posted a second time.
        delivery = await (writeback.retry(ctx, item) if item.state == "failed" else writeback.attempt(ctx, item))
    except QueuedError as err:
        raise QueuedError(f"the {label} waits in the PSA outbox: {err.message}",
                          hint=(err.hint + "; " if err.hint else "") + "it shows as pushed once delivered") from None
    async with ctx.tx():
        output.status = "pushed"
        output.pushed_to = "psa"
        output.pushed_at = ctx.now()
        output.pushed_reference = delivery.note_id
        output.updated_at = ctx.now()
    return Pushed(output, "psa", delivery.note_id, delivery)


async def push(ctx: Ctx, session: SessionRow, output: ResolutionOutput, destination: str, *,
               path: Path | None = None, overwrite: bool = False) -> Pushed:
    """Send an approved output to ``destination``: "psa" (a note on the linked ticket, through the outbox;
    QueuedError while it waits, PSAError when the PSA refuses) or "file" (Markdown at ``path``)."""
    where = (destination or "").strip().lower()
    if where not in DESTINATIONS:
        raise UsageError(f"unknown destination {destination!r}", hint="psa or file (copying is done in the TUI, or "
                                                                        "pipe `rfpilot outputs show`)")
    if output.session_id != session.id:
        raise UsageError("that output belongs to another session")
    await _editable(ctx, output)
    _check_pushable(output)
    if where == "psa":
        return await _push_to_psa(ctx, session, output)
    return await _to_file(ctx, session, output, path, overwrite)


async def _to_file(ctx: Ctx, session: SessionRow, output: ResolutionOutput, path: Path | None,
                   overwrite: bool) -> Pushed:
    """Write the output's Markdown to ``path``; an approved or pushed one is recorded as pushed to the file."""
    if path is None:
        raise UsageError("give the file to write")
    _not_in_outbox(output, "exported")
    target = _write_file(path, export_markdown(session, output), overwrite)
    if output.status == "draft":
        return Pushed(output, "file", str(target), draft=True)
    async with ctx.tx():
        output.status = "pushed"
        output.pushed_to = "file"
        output.pushed_at = ctx.now()
        output.pushed_reference = str(target)
        output.updated_at = ctx.now()
    return Pushed(output, "file", str(target))


async def export(ctx: Ctx, session: SessionRow, output: ResolutionOutput, path: Path | None, *,
                 overwrite: bool = False) -> Pushed:
    """Write the output as a Markdown file. An approved (or pushed) output is pushed to the file and recorded
    so; a draft is exported for review elsewhere: its file opens with a line saying DRAFT, and the output stays a
    draft with nothing recorded. A rejected output is not exported."""
    if output.session_id != session.id:
        raise UsageError("that output belongs to another session")
    await _editable(ctx, output)
    if output.status == "rejected":
        raise ConflictError(f"the {LABELS[output.output_type]} is rejected; a rejected output is not exported",
                            hint="edit it or draft it again (`rfpilot outputs generate SESSION --type TYPE`) first")
    return await _to_file(ctx, session, output, path, overwrite)
