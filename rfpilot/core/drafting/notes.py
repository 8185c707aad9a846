"""Resolution notes and escalation packages, built from structured state.

``build_bundle`` gathers what a note may say (never the transcript);
``bundle_text`` renders it for a model (reference/seed-003.md §12.4);
``offline_draft`` writes the sections with no model and invents nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from rfpilot.core.session.branches import list_branches
from rfpilot.core.context import Ctx
from rfpilot.core.session.facts import facts_window
from rfpilot.core.session.sessions import intake_of
from rfpilot.core.text import (
    as_sentence,
    markdown_section,
    one_line,
    paragraphs,
    problem_paragraphs,
    replace_section,
    says_nothing,
    truncate,
)
from rfpilot.db.models import Fact, LaneItem, SessionBranch, SessionRow, SuggestedFix
from rfpilot.grammar import count

RESOLUTION = "resolution_note"
ESCALATION = "escalation_package"
KINDS = (RESOLUTION, ESCALATION)

RESOLUTION_HEADINGS = ("Problem", "What we confirmed", "Root cause", "Resolution")
ESCALATION_HEADINGS = (
    "Problem",
    "What we've confirmed",
    "What we've tried",
    "Current hypothesis",
    "Suggested next steps",
)
HEADINGS = {RESOLUTION: RESOLUTION_HEADINGS, ESCALATION: ESCALATION_HEADINGS}
CONFIDENT_PCT = 60
TRY_FIRST_PCT = 80
REDACTED = "********"
# What a note (and a model drafting one) reads of the facts: the first NOTE_FACTS, oldest first, and no more
# than NOTE_FACT_CHARS of their text, so the note fits what a PSA note takes (closing.MARKDOWN_MAX); the rest
# are counted ("… and N more facts"), never read. A note's cost does not grow with the session.
NOTE_FACTS = 50
NOTE_FACT_CHARS = 8_000


@dataclass
class FixState:
    title: str
    description: str
    confidence: int
    status: str
    user_decision: str | None
    applied_at: datetime | None
    verified_at: datetime | None
    partial_notes: str | None
    failure_reason: str | None
    pending_reason: str | None
    template_slug: str | None

    @property
    def verifying(self) -> bool:
        return self.status == "proposed" and self.applied_at is not None

    @classmethod
    def of(cls, fix: SuggestedFix) -> FixState:
        return cls(
            title=fix.title,
            description=fix.description or "",
            confidence=fix.confidence_pct,
            status=fix.status,
            user_decision=fix.user_decision,
            applied_at=fix.applied_at,
            verified_at=fix.verified_at,
            partial_notes=fix.partial_notes,
            failure_reason=fix.failure_reason,
            pending_reason=fix.pending_reason,
            template_slug=fix.script_template_slug,
        )


@dataclass
class FactLine:
    source_type: str
    text: str
    summary: str | None


@dataclass
class CheckLine:
    label: str
    command: str | None


@dataclass
class ScriptRun:
    name: str
    slug: str | None
    parameters: dict[str, Any]  # password values already redacted


@dataclass
class BranchLine:
    """One hypothesis of the branch map (a branch other than the root), as a note may state it."""

    label: str
    status: str  # untried | active | revived | dead_end | solved
    description: str
    reason: str | None  # why it was marked (dead_end / solved)
    tried: list[str]
    concluded: str | None
    evidence: str | None = None  # what revived it


def branch_line(branch: SessionBranch) -> BranchLine:
    summary = branch.context_summary or {}
    description = one_line(branch.description or "")
    tried = [truncate(one_line(str(t)), 160) for t in summary.get("tried") or [] if str(t).strip()]
    # An offline summary falls back to the hypothesis itself when nothing was said on the branch: not a step.
    tried = [t for t in tried if t.rstrip(".") != description.rstrip(".")]
    concluded = one_line(str(summary.get("concluded") or "")) or None
    return BranchLine(branch.label, branch.status, description, one_line(branch.status_reason or "") or None,
                      tried, concluded, one_line(branch.evidence_description or "") or None)


@dataclass
class Bundle:
    kind: str
    title: str | None
    problem_summary: str | None
    domain: str | None
    intake: str | None  # for a ticket session: the summary, a blank line, the description
    client: str | None
    ticket_ref: str | None
    from_ticket: bool = False  # the intake is a ticket's summary and description
    facts: list[FactLine] = field(default_factory=list)  # the first NOTE_FACTS (see more_facts)
    more_facts: int = 0  # live facts the note does not list
    fix: FixState | None = None  # the latest fix: the active one, or one just dismissed
    earlier_fixes: list[FixState] = field(default_factory=list)  # superseded ones that were tried
    # Checks whose findings were promoted to facts. Only state that bumps
    # state_version may reach a note, or a cached preview would go stale.
    checks_run: list[CheckLine] = field(default_factory=list)
    scripts_run: list[ScriptRun] = field(default_factory=list)
    # The branch map (hypotheses, never the root), in fork order. Every write that changes it (fork, a status
    # change) bumps state_version.
    branches: list[BranchLine] = field(default_factory=list)

    def with_status(self, *statuses: str) -> list[BranchLine]:
        return [b for b in self.branches if b.status in statuses]


async def build_bundle(ctx: Ctx, session: SessionRow, kind: str) -> Bundle:
    if kind not in KINDS:
        raise ValueError(f"unknown note kind {kind!r}")
    facts, fact_total = await facts_window(ctx, session, NOTE_FACTS, chars=NOTE_FACT_CHARS)
    fixes = list(
        (
            await ctx.db.execute(
                select(SuggestedFix)
                .where(SuggestedFix.session_id == session.id)
                .order_by(SuggestedFix.created_at, SuggestedFix.id)
            )
        ).scalars()
    )
    check_ids = await _promoted_checks(ctx, session)
    checks: dict[str, LaneItem] = {}
    if check_ids:
        rows = await ctx.db.execute(select(LaneItem).where(LaneItem.id.in_(set(check_ids))))
        checks = {item.id: item for item in rows.scalars()}
    ordered_checks = [checks[i] for i in check_ids if i in checks]
    # The newest fix is the active one, or one just dismissed (dismissing supersedes).
    latest = fixes[-1] if fixes else None
    earlier = [
        FixState.of(f)
        for f in fixes
        if f is not latest and (f.applied_at is not None or f.status not in ("proposed", "dismissed"))
    ]
    from rfpilot.db.models import ScriptRun as RunRow
    from rfpilot.db.models import ScriptTemplate

    hypotheses = [branch_line(b) for b in await list_branches(ctx, session) if b.parent_branch_id is not None]
    runs = (await ctx.db.execute(
        select(RunRow, ScriptTemplate).outerjoin(ScriptTemplate, RunRow.template_id == ScriptTemplate.id)
        .where(RunRow.session_id == session.id).order_by(RunRow.created_at, RunRow.id)
    )).all()
    return Bundle(
        kind=kind,
        title=session.title,
        problem_summary=session.problem_summary,
        domain=session.problem_domain,
        intake=intake_of(session),
        client=session.client_name,
        ticket_ref=session.ticket_ref,
        from_ticket=session.intake_type == "psa_ticket",
        facts=[FactLine(f.source_type, f.text, f.source_summary) for f in facts],
        more_facts=fact_total - len(facts),
        fix=FixState.of(latest) if latest is not None else None,
        earlier_fixes=earlier,
        checks_run=[CheckLine(item.text, item.command) for item in ordered_checks],
        # Runs are stored with passwords already redacted; nothing here can carry one in clear.
        scripts_run=[ScriptRun(tpl.name if tpl else "one-off script", tpl.slug if tpl else None, dict(run.parameters or {}))
                     for run, tpl in runs],
        branches=hypotheses,
    )


async def _promoted_checks(ctx: Ctx, session: SessionRow) -> list[str]:
    """The checks whose findings were promoted to a live fact, in the order of their first such fact: one row
    per check (the store groups the facts), whichever facts the note lists. The facts are looked up from the
    session's checks (a few), so an index on facts.source_ref keeps this off the session's other facts."""
    from rfpilot.core.lookup import no_index

    first = func.min(Fact.created_at)
    checks = select(LaneItem.id).where(LaneItem.session_id == session.id, LaneItem.kind == "check")
    # ix_facts_source_ref (migration 0009) finds each check's facts; SQLite's planner, without statistics, would
    # walk the session's facts through their session index instead: ``+session_id`` keeps it off that index.
    own = no_index(Fact.session_id) if ctx.db.get_bind().dialect.name == "sqlite" else Fact.session_id
    stmt = (select(Fact.source_ref)
            .where(Fact.source_ref.in_(checks.scalar_subquery()), own == session.id,
                   Fact.deleted_at.is_(None), Fact.source_type == "diagnostic_check")
            .group_by(Fact.source_ref).order_by(first, func.min(Fact.id)))
    return [ref for ref in (await ctx.db.execute(stmt)).scalars() if ref is not None]


def more_facts_line(bundle: Bundle) -> str | None:
    """'… and 12 more facts, recorded in the session' when the note does not list them all."""
    if not bundle.more_facts:
        return None
    return f"… and {count(bundle.more_facts, 'more fact')}, recorded in the session"


# --- the model's input ----------------------------------------------------


def _iso(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else ""


def _fix_lines(fix: FixState, with_decision: bool) -> list[str]:
    lines = [f"Title: {fix.title}", f"Confidence: {fix.confidence}%"]
    if fix.description:
        lines.append(f"Description: {fix.description}")
    if fix.template_slug:
        lines.append(f"Script template: {fix.template_slug}")
    if with_decision:
        lines.append(f"Engineer decision: {fix.user_decision or '(none)'}")
    lines.append(f"Outcome status: {fix.status}")
    for label, value in (
        ("Applied at", _iso(fix.applied_at)),
        ("Verified at", _iso(fix.verified_at)),
        ("Partial notes", fix.partial_notes),
        ("Failure reason", fix.failure_reason),
        ("Waiting on", fix.pending_reason),
    ):
        if value:
            lines.append(f"{label}: {value}")
    return lines


def _script_lines(runs: list[ScriptRun]) -> list[str]:
    lines: list[str] = []
    for run in runs:
        slug = f" (slug={run.slug})" if run.slug else ""
        lines.append(f"- {run.name}{slug}")
        if run.parameters:
            params = ", ".join(f"{k}={v}" for k, v in sorted(run.parameters.items()))
            lines.append(f"  parameters: {params}")
    return lines or ["(none)"]


def intake_lines(bundle: Bundle) -> list[str]:
    """The problem as reported, for a model: a ticket's summary and description on lines of their own."""
    if not bundle.intake:
        return []
    if bundle.from_ticket:
        head, *rest = paragraphs(bundle.intake) or [""]
        return [f"Ticket summary: {head}"] + (["Ticket description:", "\n\n".join(rest)] if rest else [])
    return [f"Intake message: {bundle.intake}"]


def context_lines(bundle: Bundle) -> list[str]:
    """The '# Session context' block every drafter's model input starts with."""
    out = ["# Session context", f"Title: {bundle.title or '(untitled)'}"]
    if bundle.problem_summary:
        out.append(f"Problem summary: {bundle.problem_summary}")
    if bundle.domain:
        out.append(f"Domain: {bundle.domain}")
    out += intake_lines(bundle)
    for label, value in (("Client", bundle.client), ("Linked PSA ticket", bundle.ticket_ref)):
        if value:
            out.append(f"{label}: {value}")
    return out


def bundle_text(bundle: Bundle) -> str:
    """The single user message a model drafting this note receives."""
    out = context_lines(bundle)
    out += ["", "# Confirmed facts (What we know)"]
    if bundle.facts:
        for fact in bundle.facts:
            suffix = f" — {fact.summary}" if fact.summary else ""
            out.append(f"- [{fact.source_type}] {fact.text}{suffix}")
        if bundle.more_facts:
            out.append(f"({more_facts_line(bundle)}; not listed here)")
    else:
        out.append("(none)")
    is_resolution = bundle.kind == RESOLUTION
    if not is_resolution:
        out += ["", "# Diagnostic checks run during the session"]
        tried = [f"- {c.label}" + (f" (command: {c.command})" if c.command else "") for c in bundle.checks_run]
        tried += [ln for ln in _script_lines(bundle.scripts_run) if ln != "(none)"]
        out += tried or ["(none)"]
    out += ["", "# Active suggested fix" + ("" if is_resolution else " (current hypothesis)")]
    if bundle.fix is None:
        out.append("(no active suggested fix)")
    else:
        out += _fix_lines(bundle.fix, with_decision=is_resolution)
    if bundle.earlier_fixes:
        out += ["", "# Earlier fixes tried"]
        for fix in bundle.earlier_fixes:
            out += ["-"] + [f"  {line}" for line in _fix_lines(fix, with_decision=False)]
    if is_resolution:
        out += ["", "# Scripts run during the session (passwords redacted)"] + _script_lines(bundle.scripts_run)
    elif bundle.branches:
        out += ["", "# Hypotheses explored (the branch map)"]
        out += [ln for line in bundle.branches for ln in branch_text(line, with_status=True)]
    out.append("")
    if is_resolution:
        out.append("Produce the four-section resolution note now. Use only the input above.")
    else:
        out.append("Produce the five-section escalation handoff now. Use only the input above.")
    return "\n".join(out)


# --- the offline drafter --------------------------------------------------


_sentence = as_sentence
PROBLEM_MAX = 700


def _q(title: str) -> str:
    return f'"{title}"'


def stated(text: str) -> str:
    return _sentence(text.rstrip("."))


STATUS_WORDS = {"untried": "not tried yet", "active": "being worked on", "revived": "revived",
                "dead_end": "dead end (ruled out)", "solved": "solved"}


def branch_text(line: BranchLine, *, with_status: bool = False) -> list[str]:
    """A hypothesis for a model's input: label, description, status, and what its summary says."""
    status = f" [{STATUS_WORDS.get(line.status, line.status)}]" if with_status else ""
    out = [f"- {line.label}{status}" + (f" — {line.description}" if line.description else "")]
    if line.reason:
        out.append(f"  Why: {line.reason}")
    if line.tried:
        out.append("  Tried: " + "; ".join(line.tried))
    if line.concluded and line.concluded != line.reason:
        out.append(f"  Concluded: {line.concluded}")
    if line.evidence:
        out.append(f"  Revived on this evidence: {line.evidence}")
    return out


def rule_out(line: BranchLine) -> str:
    """'<label> (<hypothesis>): <why it was ruled out>. Tried: …' from the branch and its summary."""
    text = line.label + (f" ({line.description.rstrip('.')})" if line.description else "")
    text += f": {line.reason.rstrip('.')}." if line.reason else "."
    if line.tried:
        text += " Tried: " + "; ".join(t.rstrip(".") for t in line.tried) + "."
    if line.concluded and line.concluded != line.reason:
        text += " " + stated(line.concluded)
    return text


def solved_line(line: BranchLine) -> str:
    return f"Confirmed hypothesis: {line.label}" + (f": {line.reason.rstrip('.')}." if line.reason else ".")


def add_missing(markdown: str, heading: str, items: list[tuple[str, str]]) -> str:
    """Every ``(label, bullet)`` whose label the ``## heading`` section does not name is added to it as
    ``- bullet``: what stored state says must be there, a model's draft may leave out. A line of that section
    saying it is empty ("Nothing was ruled out…") goes when anything is added, or the note contradicts itself."""
    body = markdown_section(markdown, heading)
    if body is None:
        return markdown
    missing = [bullet for label, bullet in items if label.casefold() not in body.casefold()]
    if not missing:
        return markdown
    kept = [line for line in body.splitlines() if not says_nothing(line)]
    new_body = "\n".join(kept).strip()
    added = "\n".join(f"- {bullet}" for bullet in missing)
    return replace_section(markdown, heading, f"{new_body}\n{added}" if new_body else added)


def ensure_branch_map(markdown: str, bundle: Bundle) -> str:
    """The escalation package names every dead end (and solved hypothesis) under "What we've tried", whatever
    the model wrote."""
    if bundle.kind != ESCALATION:
        return markdown
    items = [(b.label, f"Ruled out: {rule_out(b)}") for b in bundle.with_status("dead_end")]
    items += [(b.label, solved_line(b)) for b in bundle.with_status("solved")]
    return add_missing(markdown, ESCALATION_HEADINGS[2], items)


def _capped(paragraph: str) -> str:
    text = _sentence(paragraph)
    if len(text) > PROBLEM_MAX:
        text = text[: PROBLEM_MAX - 1].rsplit(" ", 1)[0] + "…"
    return text


def _problem(bundle: Bundle) -> str:
    """The Problem section: the first paragraph of what was reported. A ticket's summary is a headline, so a
    ticket session's Problem is the summary as a sentence of its own, then the description's first paragraph
    as a paragraph of its own: the two never run together."""
    for candidate in (bundle.problem_summary, bundle.intake, bundle.title):
        parts = problem_paragraphs(candidate, candidate is bundle.intake and bundle.from_ticket)
        if parts:
            return "\n\n".join(_capped(p) for p in parts)
    return "No problem description was recorded."


def _fact_bullets(bundle: Bundle, empty: str) -> str:
    if not bundle.facts:
        return empty
    more = more_facts_line(bundle)
    return "\n".join([f"- {_sentence(f.text)}" for f in bundle.facts] + ([f"- {more}."] if more else []))


def _scripts_sentence(bundle: Bundle) -> str | None:
    if not bundle.scripts_run:
        return None
    names = ", ".join(_q(r.name) for r in bundle.scripts_run)
    return f"Scripts run: {names}."


def _root_cause(bundle: Bundle) -> str:
    fix = bundle.fix
    not_isolated = "Root cause not definitively isolated."
    if fix is None or fix.status == "dismissed":
        return not_isolated
    if fix.status == "applied_failed":
        return f"{not_isolated} The cause targeted by {_q(fix.title)} was not confirmed: that fix did not resolve the issue."
    if fix.status == "applied_success" or fix.confidence >= CONFIDENT_PCT:
        return _sentence(fix.description) if fix.description else f"Addressed by {_q(fix.title)}."
    return f"{not_isolated} Suspected: {_q(fix.title)} ({fix.confidence}% confidence)."


def _resolution(bundle: Bundle) -> str:
    fix = bundle.fix
    scripts = _scripts_sentence(bundle)
    parts: list[str]
    if fix is None:
        parts = ["No fix was recorded in this session."]
    elif fix.status == "applied_success":
        parts = [f"Applied {_q(fix.title)}; confirmed working."]
    elif fix.status == "applied_failed":
        reason = f": {fix.failure_reason.rstrip('.')}" if fix.failure_reason else ""
        parts = [f"The proposed fix {_q(fix.title)} did not resolve the issue and was dropped{reason}."]
        if not scripts:
            parts.append("No other resolution steps were recorded in the session.")
    elif fix.status == "applied_partial":
        notes = f": {fix.partial_notes.rstrip('.')}" if fix.partial_notes else ""
        parts = [f"{_q(fix.title)} was partially applied{notes}.", "It was not fully completed or verified."]
    elif fix.status == "applied_pending":
        reason = f" (waiting on: {fix.pending_reason.rstrip('.')})" if fix.pending_reason else ""
        parts = [f"Applied {_q(fix.title)}; verification is pending{reason}.", "This resolution is provisional."]
    elif fix.status == "dismissed":
        parts = [f"A proposed fix, {_q(fix.title)}, was considered and set aside."]
        if not scripts:
            parts.append("No fix was applied during the session.")
    elif fix.verifying:
        parts = [f"Applied {_q(fix.title)}; the outcome has not been confirmed yet."]
    else:
        parts = [f"Resolution not yet applied — fix proposed: {fix.title}."]
    if scripts:
        parts.append(scripts)
    return " ".join(parts)


def _tried_line(fix: FixState) -> str | None:
    title = _q(fix.title)
    if fix.status == "applied_failed":
        reason = f" ({fix.failure_reason.rstrip('.')})" if fix.failure_reason else ""
        return f"- Applied {title}: it did not resolve the issue{reason}."
    if fix.status == "applied_partial":
        notes = f": {fix.partial_notes.rstrip('.')}" if fix.partial_notes else ""
        return f"- Partially applied {title}{notes}. Not fully completed or verified."
    if fix.status == "applied_success":
        return f"- Applied {title}: verified working; escalation is needed for another reason."
    if fix.status == "applied_pending":
        reason = f" (waiting on: {fix.pending_reason.rstrip('.')})" if fix.pending_reason else ""
        return f"- Applied {title}: verification pending{reason}."
    if fix.verifying:
        return f"- Applied {title}: the outcome is not confirmed yet."
    return None  # proposed or dismissed: only considered, not tried


def _tried(bundle: Bundle) -> str:
    lines = []
    for check in bundle.checks_run:
        command = f" (`{check.command}`)" if check.command and "\n" not in check.command else ""
        lines.append(f"- Ran check: {check.label}{command}.")
    for run in bundle.scripts_run:
        lines.append(f"- Ran script {_q(run.name)}.")
    for fix in bundle.earlier_fixes + ([bundle.fix] if bundle.fix else []):
        line = _tried_line(fix)
        if line:
            lines.append(line)
    lines += [f"- Ruled out: {rule_out(b)}" for b in bundle.with_status("dead_end")]
    lines += [f"- {solved_line(b)}" for b in bundle.with_status("solved")]
    return "\n".join(lines) if lines else "No diagnostic actions run yet."


def _open_hypotheses(bundle: Bundle) -> str | None:
    """The hypotheses still open on the branch map, one sentence."""
    named = []
    for b in bundle.with_status("active", "revived", "untried"):
        what = STATUS_WORDS[b.status] + (f" on new evidence: {b.evidence.rstrip('.')}" if b.evidence else "")
        named.append(f"{_q(b.label)}" + (f" ({b.description.rstrip('.')})" if b.description else "") + f", {what}")
    return ("Hypotheses still open: " + "; ".join(named) + ".") if named else None


NO_LEADING = "No leading hypothesis yet — symptoms are still being narrowed."


def _hypothesis(bundle: Bundle) -> str:
    text = _fix_hypothesis(bundle)
    still_open = _open_hypotheses(bundle)
    if not still_open:
        return text
    if text.startswith(NO_LEADING):  # the open hypotheses follow: "no hypothesis" would contradict them
        text = "No leading fix yet." + text[len(NO_LEADING):]
    return f"{text}\n\n{still_open}"


def _fix_hypothesis(bundle: Bundle) -> str:
    fix = bundle.fix
    none_yet = NO_LEADING
    if fix is None:
        return none_yet
    title = _q(fix.title)
    if fix.status == "applied_failed":
        reason = f" ({fix.failure_reason.rstrip('.')})" if fix.failure_reason else ""
        return f"The proposed fix {title} did not hold{reason}; the cause remains open."
    if fix.status == "dismissed":
        return f"{title} was considered and set aside; the cause remains open."
    if fix.status == "applied_partial":
        notes = f" ({fix.partial_notes.rstrip('.')})" if fix.partial_notes else ""
        return f"{title} was partially applied{notes}; completing and verifying it is still open."
    if fix.status == "applied_success":
        return f"{title} fixed the original symptom; this escalation concerns a new or related issue."
    if fix.status == "applied_pending":
        reason = f", waiting on {fix.pending_reason.rstrip('.')}" if fix.pending_reason else ""
        return f"Leading hypothesis: {title}, applied and pending verification{reason}."
    if fix.confidence < CONFIDENT_PCT:
        return f"{none_yet} Weakest candidate so far: {title} ({fix.confidence}% confidence)."
    text = f"{title} ({fix.confidence}% confidence)"
    text += f": {_sentence(fix.description)}" if fix.description else "."
    if fix.verifying:
        text += " It has been applied; the outcome is not confirmed yet."
    return text


def _next_steps(bundle: Bundle) -> str:
    steps: list[str] = []
    fix = bundle.fix
    if fix is not None:
        title = _q(fix.title)
        if fix.status == "applied_failed":
            reason = f"; it failed with: {fix.failure_reason.rstrip('.')}" if fix.failure_reason else ""
            steps.append(f"Look for an alternative to {title}{reason}.")
        elif fix.status == "applied_partial":
            notes = f" ({fix.partial_notes.rstrip('.')})" if fix.partial_notes else ""
            steps.append(f"Complete {title}{notes} and verify it.")
        elif fix.status == "applied_pending":
            what = fix.pending_reason.rstrip(".") if fix.pending_reason else "the pending verification"
            steps.append(f"Follow up on {what}, then confirm whether {title} resolved the issue.")
        elif fix.status == "applied_success":
            steps.append(f"Confirm the original symptom stays fixed by {title} while working the new issue.")
        elif fix.verifying:
            steps.append(f"Confirm whether {title} resolved the issue.")
        elif fix.status == "proposed" and fix.confidence > TRY_FIRST_PCT:
            steps.append(f"Try {title} first ({fix.confidence}% confidence).")
        elif fix.status == "proposed" and fix.confidence >= CONFIDENT_PCT:
            steps.append(f"Validate {title} before applying it ({fix.confidence}% confidence).")
    still_open = bundle.with_status("active", "revived", "untried")
    if still_open:
        steps.append("Work the open hypotheses: " + ", ".join(_q(b.label) for b in still_open) + ".")
    fallbacks = [
        "Confirm the symptom still reproduces before changing anything.",
        "Review the confirmed facts above against the ticket history.",
    ]
    for extra in fallbacks:
        if len(steps) >= 2:
            break
        steps.append(extra)
    return "\n".join(f"- {s}" for s in steps[:4])


def offline_draft(bundle: Bundle) -> str:
    """The note's markdown from structured state alone: no model, no invention."""
    if bundle.kind == RESOLUTION:
        bodies = [
            _problem(bundle),
            _fact_bullets(bundle, "Nothing was confirmed."),
            _root_cause(bundle),
            _resolution(bundle),
        ]
    else:
        bodies = [
            _problem(bundle),
            _fact_bullets(bundle, "Nothing confirmed yet."),
            _tried(bundle),
            _hypothesis(bundle),
            _next_steps(bundle),
        ]
    sections = [f"## {heading}\n{body}" for heading, body in zip(HEADINGS[bundle.kind], bodies, strict=True)]
    return "\n\n".join(sections)


def section_headings(markdown: str) -> list[str]:
    return [line[3:].strip() for line in markdown.splitlines() if line.startswith("## ")]
