"""The script library (SPEC §11): rendering, the library, runs, drafts and review, files — on both stores."""

from __future__ import annotations

import pytest

from rfpilot.core.session import fixes
from rfpilot.core.library import render, templates
from rfpilot.core.session.facts import add_note
from rfpilot.core.library.render import Parameter
from rfpilot.errors import ConflictError, UsageError

SENTINEL = "S3ntinel-Pa55"
BODY = ("$cred = New-Object PSCredential('{{ account }}', (ConvertTo-SecureString '{{ password }}' -AsPlainText -Force))\n"
        "New-PSDrive -Name S -PSProvider FileSystem -Root {{ share_path }} -Credential $cred  # @{ keep = 'braces' }\n"
        "if (${env:DEBUG}) { Write-Host 'debug' }")
PARAMS = [
    Parameter("account", "Scan account"),
    Parameter("password", "Password", "password"),
    Parameter("share_path", "Share path"),
]


def _spec(**kw) -> templates.TemplateSpec:
    base = dict(name="Map the scan share", body=BODY, parameters=list(PARAMS), description="Maps the scans share.",
                language="powershell", category="Scanning")
    base.update(kw)
    return templates.TemplateSpec(**base)


# --- rendering -------------------------------------------------------------------------------------


def test_render_is_plain_substitution() -> None:
    out = render.render(BODY, PARAMS, {"account": "HARBOUR\\svc-scan", "password": "x", "share_path": "\\\\fs01\\scans"})
    assert "New-Object PSCredential('HARBOUR\\svc-scan'" in out and "-Root \\\\fs01\\scans" in out
    assert "@{ keep = 'braces' }" in out and "${env:DEBUG}" in out  # a script's own braces are untouched


def test_render_refuses_what_it_cannot_do() -> None:
    with pytest.raises(UsageError, match="missing required value.*Share path"):
        render.render(BODY, PARAMS, {"account": "a", "password": "p"})
    with pytest.raises(UsageError, match=r"no parameter declares: \{\{ port \}\}"):
        render.render("ping {{ port }}", [], {})
    with pytest.raises(UsageError, match="no parameter called 'color'"):
        render.render("x", [], {"color": "red"})
    assert render.render("{{ __import__ }}", [Parameter("__import__", "x")], {"__import__": "os"}) == "os"  # text, never code


def test_render_field_types() -> None:
    params = [Parameter("on", "On", "boolean", true_value="$true", false_value="$false"),
              Parameter("n", "Count", "number"), Parameter("mode", "Mode", "select", options=("a", "b")),
              Parameter("hosts", "Hosts", "multi_text")]
    out = render.render("{{ on }} {{ n }} {{ mode }}\n{{ hosts }}", params,
                        {"on": "yes", "n": "3", "mode": "b", "hosts": ["h1", "h2"]})
    assert out == "$true 3 b\nh1\nh2"
    with pytest.raises(UsageError, match="Count: 'three' is not a number"):
        render.render("{{ n }}", params, {"on": "no", "n": "three", "mode": "a", "hosts": "h"})
    with pytest.raises(UsageError, match="Mode: 'c' is not one of a, b"):
        render.render("{{ mode }}", params, {"on": "no", "n": "1", "mode": "c", "hosts": "h"})


def test_redaction() -> None:
    values = {"account": "svc", "password": SENTINEL, "share_path": "\\\\fs01"}
    assert SENTINEL not in repr(render.redact(PARAMS, values))
    assert SENTINEL not in render.render_redacted(BODY, PARAMS, values)


# --- the library ---------------------------------------------------------------------------------------


async def test_slugs_are_unique_per_account(ctx) -> None:
    first = await templates.create_template(ctx, _spec())
    assert first.slug == "map-the-scan-share"
    second = await templates.create_template(ctx, _spec())
    assert second.slug == "map-the-scan-share-2"  # derived: a suffix
    with pytest.raises(ConflictError, match="taken by the template 'Map the scan share'"):
        await templates.create_template(ctx, _spec(slug="map-the-scan-share"))  # given: an error
    with pytest.raises(UsageError, match="not a usable slug"):
        await templates.create_template(ctx, _spec(slug="Bad Slug"))
    assert [t.slug for t in await templates.list_templates(ctx, "scan")] == ["map-the-scan-share", "map-the-scan-share-2"]


async def test_password_parameters_never_reach_the_store(ctx, session) -> None:
    tpl = await templates.create_template(ctx, _spec())
    fix = await fixes.suggest_fix(ctx, session, "Map the share with the scan account", confidence=80,
                                  template_slug=tpl.slug)
    run = await templates.record_run(ctx, session, template=tpl, fix=fix,
                                     values={"account": "svc", "password": SENTINEL, "share_path": "\\\\fs01\\scans"})
    assert run.parameters["password"] == render.REDACTED and SENTINEL not in run.script
    await ctx.db.refresh(tpl)
    await ctx.db.refresh(fix)
    assert tpl.usage_count == 1 and fix.applied_at is not None
    from rfpilot.core.drafting.notes import build_bundle, bundle_text, offline_draft

    bundle = await build_bundle(ctx, session, "resolution_note")
    text = bundle_text(bundle)
    assert "Map the scan share" in text and SENTINEL not in text and SENTINEL not in offline_draft(bundle)
    from rfpilot.db.models import load_all

    dump = []
    for table in load_all().sorted_tables:  # this account's rows (the Postgres run database is shared)
        mine = table.c.id == ctx.account.id if table.name == "accounts" else table.c.account_id == ctx.account.id
        dump += [repr(tuple(r)) for r in (await ctx.db.execute(table.select().where(mine))).all()]
    assert dump and SENTINEL not in "\n".join(dump)


async def test_values_come_from_the_fix_then_the_facts(ctx, session) -> None:
    tpl = await templates.create_template(ctx, _spec())
    await add_note(ctx, session, "The scan account is HARBOUR\\svc-scan.")
    await add_note(ctx, session, "The share path is \\\\fs01\\scans")
    await add_note(ctx, session, f"The password is {SENTINEL}")  # never pre-filled
    fix = await fixes.suggest_fix(ctx, session, "Map it", confidence=70, template_slug=tpl.slug,
                                  parameters={"share_path": "\\\\fs02\\scans"})
    facts = await __import__("rfpilot.core.session.facts", fromlist=["list_facts"]).list_facts(ctx, session)
    values, sources = templates.value_sources(tpl, fix, facts)
    assert values == {"account": "HARBOUR\\svc-scan", "share_path": "\\\\fs02\\scans"}
    assert sources["share_path"] == "from the fix"
    assert sources["account"] == "from session: The scan account is HARBOUR\\svc-scan."


# --- drafts and review -----------------------------------------------------------------------------------


async def _draft(ctx, session, decision: str = "draft_template"):
    fix = await fixes.suggest_fix(ctx, session, "Update the copier's password", confidence=80,
                                  script="Set-Copier -Password (Read-Host)")
    result = await fixes.decide(ctx, session, fix, decision)
    return fix, result.draft_template


async def test_accepting_a_draft_creates_a_template_with_provenance(ctx, session) -> None:
    session.ticket_ref = "CW #48307"
    _, draft = await _draft(ctx, session)
    assert [d.id for d in await templates.list_drafts(ctx)] == [draft.id]
    tpl = await templates.accept_draft(ctx, draft, name="Do Something On Target", body="Set-Copier -Password $p")
    assert tpl.slug == "do-something-on-target" and tpl.body == "Set-Copier -Password $p"
    assert templates.provenance_line(tpl) == "from CW #48307 · by Test Engineer · used 0×"
    assert draft.status == "accepted" and draft.promoted_template_id == tpl.id and draft.resolved_at is not None
    assert await templates.list_drafts(ctx) == []
    assert [d.status for d in await templates.list_drafts(ctx, pending_only=False)] == ["accepted"]
    with pytest.raises(ConflictError, match="already accepted"):
        await templates.accept_draft(ctx, draft, name="Again")
    with pytest.raises(ConflictError, match="already accepted"):
        await templates.reject_draft(ctx, draft)


async def test_rejecting_keeps_the_draft(ctx, session) -> None:
    _, draft = await _draft(ctx, session)
    await templates.reject_draft(ctx, draft)
    assert draft.status == "rejected" and draft.resolved_at is not None
    assert [d.status for d in await templates.list_drafts(ctx, pending_only=False)] == ["rejected"]


async def test_building_now_links_the_fix_to_the_new_template(ctx, session) -> None:
    fix, draft = await _draft(ctx, session, "build_template")
    assert fix.applied_at is None
    tpl = await templates.accept_draft(ctx, draft, name="Copier password")
    await ctx.db.refresh(fix)
    assert fix.script_template_slug == tpl.slug


async def test_the_post_resolve_offer_and_dont_ask_again(ctx, session) -> None:
    from rfpilot.core.closeout import closing

    _, draft = await _draft(ctx, session)
    assert await templates.drafts_to_offer(ctx, session) == []  # not resolved yet
    await closing.resolve_session(ctx, session, "## Problem\nx")
    assert [d.id for d in await templates.drafts_to_offer(ctx, session)] == [draft.id]
    assert await templates.templatize_prompt_enabled(ctx)
    await templates.set_templatize_prompt(ctx, False)
    assert await templates.drafts_to_offer(ctx, session) == []


async def test_offline_extraction_keeps_the_script_as_it_ran(ctx, session) -> None:
    _, draft = await _draft(ctx, session)
    await templates.extract_draft(ctx, draft, None)
    assert draft.templated_body == "Set-Copier -Password (Read-Host)"
    assert draft.proposed_parameters == {"parameters": []}
    assert draft.extraction["source"] == "fallback"


# --- files ---------------------------------------------------------------------------------------------


async def test_export_then_import_round_trips_and_twice_changes_nothing(ctx, tmp_path, settings) -> None:
    from rfpilot.core.library.template_files import export_template, import_file

    await templates.create_template(ctx, _spec())
    spooler = await templates.create_template(ctx, _spec(
        name="Restart the spooler", body="Restart-Service Spooler -Force", parameters=[], description="",
        language=None, category=None, source_ticket_ref="CW #1", source_engineer_name="M. Davis"))
    async with ctx.tx():
        spooler.usage_count = 7  # used seven times here: the count is this store's, the files do not carry it
    first = tmp_path / "first"
    for fmt in ("toml", "yaml"):
        files = [export_template(t, first / fmt, fmt) for t in await templates.list_templates(ctx)]
        assert not any("usage_count" in f.read_text() for f in files)
        for tpl in await templates.list_templates(ctx):
            await templates.delete_template(ctx, tpl)
        assert [(await import_file(ctx, f))[1] for f in files] == ["created", "created"]
        assert [(await import_file(ctx, f))[1] for f in files] == ["unchanged", "unchanged"]
        again = [export_template(t, tmp_path / "again" / fmt, fmt) for t in await templates.list_templates(ctx)]
        assert sorted(p.read_bytes() for p in again) == sorted(p.read_bytes() for p in files)
    spooler = await templates.get_template(ctx, "restart-the-spooler")
    assert templates.provenance_line(spooler) == "from CW #1 · by M. Davis · used 0×"  # a new template starts at 0
