"""The script library (SPEC §11): templates, runs, draft templates and their review.

* A template is a named, slugged script body with ``{{ key }}`` placeholders and a parameter schema
  (``core.library.render``). Slugs are unique per account; an auto-derived slug that collides gets a ``-2`` suffix, a
  slug given explicitly that collides is an error.
* A run records that the engineer ran a script in a session: its parameters and its text with every password
  redacted, never in clear. Recording a run bumps the session's state (notes mention scripts run) and stamps the
  fix's ``applied_at``.
* A draft template is queued by the ``draft_template`` decision; extraction (``core.library.extraction``) proposes its
  parameters; after a successful resolve the engineer reviews it: accept (creates the template with provenance)
  or reject (kept for audit). The account preference ``templatize_prompt_enabled`` turns the post-resolve
  offer off ("don't ask again").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import func, or_, select

from rfpilot.core.context import Ctx
from rfpilot.core.lookup import find_one
from rfpilot.core.session.permissions import owner_action, team_action
from rfpilot.core.text import one_line
from rfpilot.core.view_types import DraftView, ProposedParameterView, TemplateView
from rfpilot.db.models import (
    SLUG_MAX,
    AccountSettings,
    DraftTemplate,
    Engineer,
    Fact,
    ScriptRun,
    ScriptTemplate,
    SessionRow,
    SuggestedFix,
)
from rfpilot.errors import ConflictError, NotFoundError, UsageError

if TYPE_CHECKING:
    from types import ModuleType

    from rfpilot.core.library.render import Parameter



def _render() -> ModuleType:
    """core.library.render, imported on first use: a resolve reads the session's drafts through this module and
    renders nothing."""
    from rfpilot.core.library import render

    return render


NAME_MAX = 200
BODY_MAX = 50_000
DESCRIPTION_MAX = 2_000
TICKET_REF_MAX = 64
LANGUAGES = ("powershell", "bash", "sh", "python", "cmd", "other")
PROMPT_PREF = "templatize_prompt_enabled"
_SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


def slugify(name: str) -> str:
    """'Map the Scan Share!' -> 'map-the-scan-share' (ASCII, lower-case, hyphens)."""
    slug = re.sub(r"[^a-z0-9]+", "-", (name or "").lower()).strip("-")
    return slug[:SLUG_MAX].rstrip("-")


def check_slug(slug: str) -> str:
    value = (slug or "").strip().lower()
    if not value or len(value) > SLUG_MAX or not _SLUG.match(value):
        raise UsageError(f"{slug!r} is not a usable slug", hint="lower-case letters and digits separated by single hyphens")
    return value


def _language(value: str | None) -> str | None:
    if value is None or not str(value).strip():
        return None
    lang = str(value).strip().lower()
    if lang not in LANGUAGES:
        raise UsageError(f"unknown language {value!r}", hint="one of: " + ", ".join(LANGUAGES))
    return lang


@dataclass
class TemplateSpec:
    """What a template is made of, before it is stored (from the CLI, a draft, or an imported file)."""

    name: str
    body: str
    parameters: list[Parameter] = field(default_factory=list)
    slug: str | None = None
    description: str = ""
    language: str | None = None
    category: str | None = None
    source_ticket_ref: str | None = None
    source_engineer_name: str | None = None

    def clean(self) -> TemplateSpec:
        name = one_line(self.name)
        if not name:
            raise UsageError("the template needs a name")
        if len(name) > NAME_MAX:
            raise UsageError(f"the name is too long (limit {NAME_MAX} characters)")
        body = self.body or ""  # byte for byte: CRLF, CR, a trailing newline or none
        if not body.strip():
            raise UsageError("the script body is empty", hint="give the script the template runs")
        if len(body) > BODY_MAX:
            raise UsageError(f"the script is too long (limit {BODY_MAX} characters)")
        for param in self.parameters:
            _render().refuse_secret_default(param.key, param.field_type, param.default)
        _render().check_body(body, self.parameters)
        description = (self.description or "").strip()
        if len(description) > DESCRIPTION_MAX:
            raise UsageError(f"the description is too long (limit {DESCRIPTION_MAX} characters)")
        category = one_line(self.category or "") or None
        if category and len(category) > 100:
            raise UsageError("the category is at most 100 characters")
        ticket = one_line(self.source_ticket_ref or "") or None
        engineer = one_line(self.source_engineer_name or "") or None
        if ticket and len(ticket) > TICKET_REF_MAX:
            raise UsageError(f"the provenance ticket is too long (limit {TICKET_REF_MAX} characters)")
        if engineer and len(engineer) > NAME_MAX:
            raise UsageError(f"the provenance engineer is too long (limit {NAME_MAX} characters)")
        return TemplateSpec(
            name=name, body=body, parameters=list(self.parameters),
            slug=check_slug(self.slug) if self.slug else None, description=description,
            language=_language(self.language), category=category,
            source_ticket_ref=ticket, source_engineer_name=engineer,
        )


# --- reading ---------------------------------------------------------------------------------


def parameters_of(tpl: ScriptTemplate) -> list[Parameter]:
    return _render().parse_parameters(tpl.parameters or {})


async def _by_slug(ctx: Ctx, slug: str) -> ScriptTemplate | None:
    stmt = select(ScriptTemplate).where(ScriptTemplate.account_id == ctx.account.id, ScriptTemplate.slug == slug)
    return (await ctx.db.execute(stmt)).scalar_one_or_none()


async def get_template(ctx: Ctx, ref: str) -> ScriptTemplate:
    """By slug, else by id or id prefix."""
    value = (ref or "").strip().lower()
    found = await _by_slug(ctx, value) if value else None
    if found is not None:
        return found
    try:
        return await find_one(ctx, ScriptTemplate, value, "template")
    except UsageError:
        raise NotFoundError(f"no template with the slug {ref!r}", hint="`rfpilot templates list` shows them") from None


async def find_by_slug(ctx: Ctx, slug: str | None) -> ScriptTemplate | None:
    """The template a fix names (exact slug), or None."""
    if not slug:
        return None
    return await _by_slug(ctx, slug.strip().lower())


SEARCH_MAX = 200


async def list_templates(ctx: Ctx, query: str | None = None) -> list[ScriptTemplate]:
    stmt = select(ScriptTemplate).where(ScriptTemplate.account_id == ctx.account.id)
    needle = (query or "").strip().lower()
    if len(needle) > SEARCH_MAX:  # SQLite refuses LIKE patterns over 50,000 bytes
        raise UsageError(f"the search text is too long ({len(needle):,} characters; the limit is {SEARCH_MAX})")
    if needle:
        like = f"%{needle}%"
        stmt = stmt.where(or_(func.lower(ScriptTemplate.name).like(like), ScriptTemplate.slug.like(like),
                              func.lower(ScriptTemplate.description).like(like),
                              func.lower(func.coalesce(ScriptTemplate.category, "")).like(like)))
    # The slug last: templates may share a name, and the list must come back in the same order on every store.
    stmt = stmt.order_by(ScriptTemplate.usage_count.desc(), ScriptTemplate.name, ScriptTemplate.slug)
    return list((await ctx.db.execute(stmt)).scalars())


def provenance_line(tpl: ScriptTemplate) -> str:
    """'from CW #48307 · by M. Davis · used 7×' (only the parts that are known)."""
    parts = []
    if tpl.source_ticket_ref:
        parts.append(f"from {tpl.source_ticket_ref}")
    if tpl.source_engineer_name:
        parts.append(f"by {tpl.source_engineer_name}")
    parts.append(f"used {tpl.usage_count}×")
    return " · ".join(parts)


def template_view(tpl: ScriptTemplate) -> TemplateView:
    return {
        "id": tpl.id, "name": tpl.name, "slug": tpl.slug, "description": tpl.description, "language": tpl.language,
        "category": tpl.category, "body": tpl.body, "parameters": [p.as_dict() for p in parameters_of(tpl)],
        "usage_count": tpl.usage_count, "provenance": provenance_line(tpl),
        "source_ticket_ref": tpl.source_ticket_ref, "source_engineer_name": tpl.source_engineer_name,
        "source_session_id": tpl.source_session_id,
        "created_at": tpl.created_at.isoformat() if tpl.created_at else None,
        "updated_at": tpl.updated_at.isoformat() if tpl.updated_at else None,
    }


# --- writing ---------------------------------------------------------------------------------


async def _free_slug(ctx: Ctx, wanted: str | None, name: str, *, keep: ScriptTemplate | None = None) -> str:
    if wanted:
        taken = await _by_slug(ctx, wanted)
        if taken is not None and taken is not keep:
            raise ConflictError(f"the slug {wanted!r} is taken by the template {taken.name!r}",
                                hint="choose another --slug, or edit that template instead")
        return wanted
    base = slugify(name) or "script"
    candidate, n = base, 1
    while True:
        taken = await _by_slug(ctx, candidate)
        if taken is None or taken is keep:
            return candidate
        n += 1
        suffix = f"-{n}"
        candidate = base[: SLUG_MAX - len(suffix)] + suffix


@team_action("add to the team's template library")
async def create_template(
    ctx: Ctx,
    spec: TemplateSpec,
    *,
    source_session: SessionRow | None = None,
    source_engineer: Engineer | None = None,
) -> ScriptTemplate:
    spec = spec.clean()
    async with ctx.tx():
        slug = await _free_slug(ctx, spec.slug, spec.name)
        now = ctx.now()
        tpl = ScriptTemplate(
            account_id=ctx.account.id, name=spec.name, slug=slug, description=spec.description,
            language=spec.language, category=spec.category, body=spec.body,
            parameters=_render().schema(spec.parameters), usage_count=0,
            source_session_id=source_session.id if source_session else None,
            source_engineer_id=source_engineer.id if source_engineer else None,
            source_engineer_name=spec.source_engineer_name or (source_engineer.display_name if source_engineer else None),
            source_ticket_ref=spec.source_ticket_ref or (source_session.ticket_ref if source_session else None),
            created_at=now, updated_at=now,
        )
        ctx.db.add(tpl)
    return tpl


@team_action("edit a library template")
async def update_template(ctx: Ctx, tpl: ScriptTemplate, spec: TemplateSpec) -> ScriptTemplate:
    """Replace what ``spec`` says (the whole template: name, slug, body, parameters…); provenance is kept
    unless the spec carries its own (an import)."""
    spec = spec.clean()
    async with ctx.tx():
        tpl.slug = await _free_slug(ctx, spec.slug or tpl.slug, spec.name, keep=tpl)
        tpl.name, tpl.description, tpl.body = spec.name, spec.description, spec.body
        tpl.language, tpl.category = spec.language, spec.category
        tpl.parameters = _render().schema(spec.parameters)
        if spec.source_ticket_ref is not None:
            tpl.source_ticket_ref = spec.source_ticket_ref
        if spec.source_engineer_name is not None:
            tpl.source_engineer_name = spec.source_engineer_name
        tpl.updated_at = ctx.now()
    return tpl


def spec_of(tpl: ScriptTemplate) -> TemplateSpec:
    return TemplateSpec(name=tpl.name, body=tpl.body, parameters=parameters_of(tpl), slug=tpl.slug,
                        description=tpl.description, language=tpl.language, category=tpl.category)


@team_action("remove a library template")
async def delete_template(ctx: Ctx, tpl: ScriptTemplate, confirm: Callable[[str | None], None] | None = None) -> None:
    """``confirm`` (raises to stop) is asked once the template is found."""
    if confirm is not None:
        confirm(None)
    async with ctx.tx():
        await ctx.db.delete(tpl)


# --- runs --------------------------------------------------------------------------------------


def value_sources(tpl: ScriptTemplate, fix: SuggestedFix | None, facts: list[Fact]) -> tuple[dict[str, str], dict[str, str]]:
    """Pre-filled values for a template's form and where each came from.

    The fix's suggested values come first ("from the fix"); then a session fact that names the parameter
    ("The scan account is HARBOUR\\svc-scan" fills *scan account*) marked "from session: <fact>"; then the
    parameter's default. Password values are never pre-filled.
    """
    values: dict[str, str] = {}
    sources: dict[str, str] = {}
    suggested = (fix.ai_drafted_parameters or {}) if fix is not None else {}
    for p in parameters_of(tpl):
        if p.secret:
            continue
        given = suggested.get(p.key)
        if isinstance(given, (str, int, float, bool)) and str(given).strip():
            values[p.key] = given if isinstance(given, str) else _render().coerce(p, given)
            sources[p.key] = "from the fix"
            continue
        for fact in facts:
            found = value_in_fact(p, fact.text)
            if found is not None:
                values[p.key], sources[p.key] = found, f"from session: {fact.text}"
                break
        else:
            if p.default is not None:
                values[p.key], sources[p.key] = p.default, "default"
    return values, sources


_ASSIGN = r"\s*(?:is|was|are|=|:|set to|of)\s+"


def value_in_fact(param: Parameter, fact: str) -> str | None:
    """The value a fact gives for ``param``: the text after "<label or key> is|=|:" up to the sentence's end,
    unquoted. Deterministic and conservative: no match, no value."""
    names = {param.label.lower(), param.key.replace("_", " ").lower()}
    for name in sorted(names, key=len, reverse=True):
        if not name.strip():
            continue
        match = re.search(re.escape(name) + _ASSIGN + r"(.+)", fact, flags=re.IGNORECASE)
        if not match:
            continue
        value = match.group(1).strip()
        value = re.sub(r"[.;,]\s*$", "", value) if not value.endswith("..") else value
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'`":
            value = value[1:-1]
        if value and param.field_type != "select" or value in param.options:
            return value
    return None


@owner_action("record a script run in")
async def record_run(
    ctx: Ctx,
    session: SessionRow | None,
    *,
    template: ScriptTemplate | None = None,
    values: dict[str, Any] | None = None,
    script: str | None = None,
    fix: SuggestedFix | None = None,
    confirm: Callable[[str | None], None] | None = None,
) -> ScriptRun:
    """"I ran this": a template rendered with ``values``, or a one-off ``script``. Stores only redacted text.
    ``confirm`` (shown the script; raises to stop) is asked once every check has passed."""
    values = dict(values or {})
    if template is not None:
        params = parameters_of(template)
        _render().render(template.body, params, values)  # refuse a run that could not have happened
        shown = _render().render_redacted(template.body, params, values)
        stored = _render().redact(params, values)
    else:
        shown = script or ""  # byte for byte
        if not shown.strip():
            raise UsageError("there is no script to record")
        stored = {}
    if confirm is not None:
        confirm(shown)
    async with ctx.tx():
        run = ScriptRun(account_id=ctx.account.id, session_id=session.id if session else None,
                        fix_id=fix.id if fix else None, template_id=template.id if template else None,
                        engineer_id=ctx.engineer.id, parameters=stored, script=shown, created_at=ctx.now())
        ctx.db.add(run)
        if template is not None:
            template.usage_count += 1
        if fix is not None and fix.applied_at is None:
            fix.applied_at = ctx.now()
            fix.updated_at = ctx.now()
        if session is not None:
            await ctx.bump_state(session)
    return run


async def list_runs(ctx: Ctx, session: SessionRow) -> list[ScriptRun]:
    stmt = select(ScriptRun).where(ScriptRun.session_id == session.id).order_by(ScriptRun.created_at, ScriptRun.id)
    return list((await ctx.db.execute(stmt)).scalars())


# --- drafts and review ----------------------------------------------------------------------------


async def list_drafts(ctx: Ctx, *, session: SessionRow | None = None, pending_only: bool = True) -> list[DraftTemplate]:
    stmt = select(DraftTemplate).where(DraftTemplate.account_id == ctx.account.id)
    if session is not None:
        stmt = stmt.where(DraftTemplate.source_session_id == session.id)
    if pending_only:
        stmt = stmt.where(DraftTemplate.status == "pending")
    return list((await ctx.db.execute(stmt.order_by(DraftTemplate.created_at, DraftTemplate.id))).scalars())


async def get_draft(ctx: Ctx, ref: str) -> DraftTemplate:
    return await find_one(ctx, DraftTemplate, ref, "draft template")


def draft_parameters(draft: DraftTemplate) -> list[ProposedParameterView]:
    """The parameters ``extract_draft`` proposed (a plain JSON document in the column)."""
    return cast("list[ProposedParameterView]", list((draft.proposed_parameters or {}).get("parameters") or []))


async def draft_view(ctx: Ctx, draft: DraftTemplate) -> DraftView:
    session = await ctx.db.get(SessionRow, draft.source_session_id)
    engineer = await ctx.db.get(Engineer, draft.source_engineer_id)
    ref = session.ticket_ref if session else None
    who = engineer.display_name if engineer else None
    provenance = " · ".join(x for x in (f"generated from {ref}" if ref else "generated from a session",
                                        f"resolved by {who}" if who else "") if x)
    extraction = draft.extraction or {}
    name = draft.proposed_name or "Script"
    return {
        "id": draft.id, "status": draft.status, "proposed_name": name, "slug": slugify(name),
        "description": "", "category": None, "language": draft.language,
        "body": draft.templated_body if draft.templated_body is not None else draft.script_body,
        "parameters": draft_parameters(draft), "provenance": provenance,
        "source": extraction.get("source", "fallback"), "reason": extraction.get("reason"),
        # Without parameters the body is the script exactly as it ran: any password typed into it is still there.
        "warning": None if extraction.get("source") == "llm" else
        "no parameters were proposed, so this is the script exactly as it ran: remove any password or "
        "customer-specific value before saving it for the team",
        "session_id": draft.source_session_id, "ticket_ref": ref, "context": list(draft.context or []),
        "created_at": draft.created_at.isoformat() if draft.created_at else None,
    }


def _require_pending(draft: DraftTemplate) -> None:
    if draft.status != "pending":
        raise ConflictError(f"the draft is already {draft.status}")


@team_action("review a draft template")
async def accept_draft(
    ctx: Ctx,
    draft: DraftTemplate,
    *,
    name: str | None = None,
    slug: str | None = None,
    description: str = "",
    category: str | None = None,
    parameters: Sequence[Mapping[str, Any]] | None = None,
    body: str | None = None,
    language: str | None = None,
) -> ScriptTemplate:
    """Promote a pending draft to a team template (provenance from its session); the draft is kept, accepted."""
    _require_pending(draft)
    chosen = parameters if parameters is not None else draft_parameters(draft)
    params = _render().parse_parameters(
        [{k: v for k, v in p.items() if k not in ("value", "inferred_from")} for p in chosen])
    text = body if body is not None else (draft.templated_body if draft.templated_body is not None else draft.script_body)
    session = await ctx.db.get(SessionRow, draft.source_session_id)
    engineer = await ctx.db.get(Engineer, draft.source_engineer_id)
    spec = TemplateSpec(name=name or draft.proposed_name or "", body=text, parameters=params, slug=slug,
                        description=description, category=category, language=language or draft.language)
    async with ctx.tx():
        tpl = await create_template(ctx, spec, source_session=session, source_engineer=engineer)
        await ctx.db.flush()
        fix = await ctx.db.get(SuggestedFix, draft.source_fix_id) if draft.source_fix_id else None
        if fix is not None and fix.user_decision == "build_template" and not fix.script_template_slug:
            # Built now: the fix runs through the new template (its form, then "I ran this").
            fix.script_template_slug, fix.script_template_id = tpl.slug, tpl.id
        draft.status = "accepted"
        draft.promoted_template_id = tpl.id
        draft.resolved_at = ctx.now()
    return tpl


@team_action("review a draft template")
async def reject_draft(ctx: Ctx, draft: DraftTemplate) -> DraftTemplate:
    _require_pending(draft)
    async with ctx.tx():
        draft.status = "rejected"
        draft.resolved_at = ctx.now()
    return draft


async def extract_draft(ctx: Ctx, draft: DraftTemplate, provider: Any) -> DraftTemplate:
    """Propose the draft's parameters (LLM, or the offline fallback) and store the result, passwords redacted."""
    from rfpilot.core.library import extraction

    session = await ctx.db.get(SessionRow, draft.source_session_id)
    facts = []
    if session is not None:
        from rfpilot.core.session.facts import list_facts

        facts = [f.text for f in await list_facts(ctx, session)]
    context = None
    if session is not None and session.ticket_context:
        tc = session.ticket_context
        context = " · ".join(str(tc.get(k)) for k in ("company", "contact", "priority", "board") if tc.get(k)) or None
    result = await extraction.extract(ctx, provider, draft.script_body, facts, context, session=session)
    params: list[ProposedParameterView] = []
    for p in result.parameters:
        item = ProposedParameterView(key=p.key, label=p.label, field_type=p.field_type, inferred_from=p.inferred_from)
        if p.field_type != "password":
            item["value"] = p.value
        params.append(item)
    async with ctx.tx():
        draft.templated_body = result.templated_body
        draft.script_body = extraction.redacted_original(result)
        draft.proposed_parameters = {"parameters": [dict(p) for p in params]}
        draft.extraction = {"source": result.source, "reason": result.reason, "model": result.model}
        draft.context = facts
    return draft


# --- the account preference -------------------------------------------------------------------------


async def _settings_row(ctx: Ctx) -> AccountSettings | None:
    return await ctx.db.get(AccountSettings, ctx.account.id)


async def templatize_prompt_enabled(ctx: Ctx) -> bool:
    row = await _settings_row(ctx)
    return bool((row.preferences if row else {}).get(PROMPT_PREF, True))


@team_action("set the team's templatize prompt")
async def set_templatize_prompt(ctx: Ctx, enabled: bool) -> None:
    async with ctx.tx():
        row = await _settings_row(ctx)
        if row is None:
            row = AccountSettings(account_id=ctx.account.id, preferences={}, created_at=ctx.now(), updated_at=ctx.now())
            ctx.db.add(row)
        row.preferences = {**(row.preferences or {}), PROMPT_PREF: bool(enabled)}
        row.updated_at = ctx.now()


async def drafts_to_offer(ctx: Ctx, session: SessionRow) -> list[DraftTemplate]:
    """After a successful resolve: the session's pending drafts, unless the account said don't ask. The drafts
    are read first: most sessions have none, and then the account's settings are not read."""
    if session.status != "resolved":
        return []
    drafts = await list_drafts(ctx, session=session)
    if not drafts or not await templatize_prompt_enabled(ctx):
        return []
    return drafts


async def extract_with_configured(ctx: Ctx, draft: DraftTemplate, *, offline: bool = False) -> DraftTemplate:
    """``extract_draft`` with the provider the settings select; a provider that cannot be built means the
    offline fallback (no parameters, the body as it ran), and the draft says why."""
    from rfpilot.core.llm import optional_provider

    async with optional_provider(ctx.settings, offline=offline) as (provider, problem):
        draft = await extract_draft(ctx, draft, provider)
    if problem and (draft.extraction or {}).get("source") == "fallback":
        async with ctx.tx():
            draft.extraction = {**draft.extraction, "reason": problem}
    return draft


@dataclass
class ApplyPlan:
    """What Apply on a fix opens (SPEC §11): the template's form, the three choices, or nothing (just apply)."""

    kind: str  # "template" | "script" | "plain"
    template: ScriptTemplate | None = None
    values: dict[str, str] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    script: str | None = None


async def apply_plan(ctx: Ctx, session: SessionRow, fix: SuggestedFix) -> ApplyPlan:
    from rfpilot.core.session.facts import list_facts

    tpl = await find_by_slug(ctx, fix.script_template_slug)
    if tpl is not None:
        values, sources = value_sources(tpl, fix, await list_facts(ctx, session))
        return ApplyPlan("template", tpl, values, sources)
    if fix.ai_drafted_script and fix.ai_drafted_script.strip() and fix.user_decision is None:
        return ApplyPlan("script", script=fix.ai_drafted_script)
    return ApplyPlan("plain")


@dataclass
class Rendered:
    """A template filled in for a session (or on its own): the script, the values and where each came from."""

    template: ScriptTemplate
    script: str
    values: dict[str, Any]  # the real values, passwords included: never store these as they are
    sources: dict[str, str]
    session: SessionRow | None = None
    fix: SuggestedFix | None = None

    @property
    def shown_values(self) -> dict[str, Any]:
        return _render().redact(parameters_of(self.template), self.values)


async def render_for(
    ctx: Ctx, slug: str | None, session: SessionRow | None, given: dict[str, Any]
) -> Rendered:
    """Fill a template: ``given`` values win, then the session's fix and facts (``value_sources``). Without a
    slug, the template the session's active fix names."""
    from rfpilot.core.session import fixes as fix_service
    from rfpilot.core.session.facts import list_facts

    fix = await fix_service.active_fix(ctx, session) if session is not None else None
    tpl = await get_template(ctx, slug) if slug else await find_by_slug(ctx, fix.script_template_slug if fix else None)
    if tpl is None and not slug and fix is not None and fix.script_template_slug:
        raise NotFoundError(f"the template {fix.script_template_slug!r} the session's fix names is no longer in "
                            "the library", hint="give another template's slug, or record a one-off script with "
                                                "`rfpilot fix decide`")
    if tpl is None:
        raise UsageError("give a template slug: the session's fix names no template in the library",
                         hint="or record a one-off script with `rfpilot fix decide`")
    values, sources = value_sources(tpl, fix, await list_facts(ctx, session)) if session is not None else ({}, {})
    values.update(given)
    sources.update({k: "given" for k in given})
    script = _render().render(tpl.body, parameters_of(tpl), values)
    return Rendered(tpl, script, values, sources, session, fix)
