"""Resolution outputs (SPEC §10, seed-004 §5 and §7.3 cases 19–21): drafting, review, push and export."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from rfpilot.core.session import branches, facts, fixes
from rfpilot.core.closeout import closing, psa, tickets, writeback
from rfpilot.core.team import outputs
from rfpilot.core.llm.scripted import ScriptedProvider, ScriptedReply
from rfpilot.core.text import markdown_section
from rfpilot.db.models import LLMUsage, ResolutionOutput
from rfpilot.errors import ConflictError, NotFoundError, PSAError, QueuedError, UsageError

NOTE = ("## Problem\nOutlook prompted for a password after a reset.\n\n## What we confirmed\n- A stale credential.\n\n"
        "## Root cause\nA stale cached credential.\n\n## Resolution\nCleared the cached credential.")
PSA_REPLY = ("## Problem\nThe mail client asked for a password.\n\n## Diagnostic steps\n- Checked the vault.\n\n"
             "## Resolution\nCleared the entry.\n\n## Recommendations\nNo follow-up recommended.")
KB_REPLY = ("## Symptoms\n- Password prompts.\n\n## Root cause\nA stale entry.\n\n## Resolution steps\n1. Clear it.\n\n"
            "## Things to rule out first\nNothing was ruled out in this session.")
CLIENT_REPLY = "Your mail kept asking for your password.\n\nWe removed an old saved password. It works now."


def scripted(psa_reply: str = PSA_REPLY, kb_reply: str = KB_REPLY, client_reply: str = CLIENT_REPLY,
             **errors: str) -> ScriptedProvider:
    """One reply per output type, picked by the instruction that ends each request; errors by type key."""
    matches = {"psa": "write the psa ticket notes now", "kb": "write the knowledge base article now",
               "client": "write the client summary now"}
    replies = {"psa": psa_reply, "kb": kb_reply, "client": client_reply}
    return ScriptedProvider([ScriptedReply(reply=replies[k], action="resolution_note", match=m, error=errors.get(k))
                             for k, m in matches.items()])


async def resolve(ctx, session, note: str = NOTE):
    await closing.resolve_session(ctx, session, note)
    await ctx.db.refresh(session)
    return session


async def with_dead_end(ctx, session, reason: str = "Mailbox quota was well below the limit"):
    """Fork into two hypotheses and rule the first one out."""
    _, (quota, cred) = await branches.fork(ctx, session, "Two causes fit the symptom",
                                           [("Mailbox quota", "The mailbox is full"),
                                            ("Cached credential", "A stale password is cached")])
    await branches.mark(ctx, session, quota, "dead_end", reason)
    await branches.switch(ctx, session, cred)
    return quota, cred


async def usage_rows(ctx, session) -> list[LLMUsage]:
    rows = await ctx.db.execute(select(LLMUsage).where(LLMUsage.session_id == session.id))
    return list(rows.scalars())


# --- drafting ----------------------------------------------------------------------------------------


async def test_generate_all_drafts_three_outputs_with_one_call_each(ctx, session) -> None:
    """Case 19: a resolved session gets three drafts, one model call per type, usage recorded."""
    await facts.add_note(ctx, session, "The password was reset on Friday")
    await resolve(ctx, session)
    provider = scripted()
    rows = await outputs.generate_all(ctx, session, provider)
    assert [r.output_type for r in rows] == ["psa_ticket_notes", "knowledge_base", "client_summary"]
    assert {r.status for r in rows} == {"draft"} and {r.drafter for r in rows} == {"llm"}
    assert {r.model for r in rows} == {"scripted"}
    assert len(provider.calls) == 3
    assert [outputs.content(r) for r in rows] == [PSA_REPLY, KB_REPLY, CLIENT_REPLY]
    # The model sees stored state: the fact and the resolution note, and the system prompt of each type.
    assert all("The password was reset on Friday" in c.message for c in provider.calls)
    assert all("> Cleared the cached credential." in c.message for c in provider.calls)
    assert {c.system for c in provider.calls} == {outputs._system_prompt(t) for t in outputs.OUTPUT_TYPES}
    used = await usage_rows(ctx, session)
    assert len(used) == 3 and {u.action for u in used} == {"note"} and all(u.ok for u in used)
    assert [o.output_type for o in await outputs.list_outputs(ctx, session)] == list(outputs.OUTPUT_TYPES)


async def test_edit_keeps_the_generated_text(ctx, session) -> None:
    """Case 20: the edit is stored beside the draft, which is kept."""
    await resolve(ctx, session)
    [notes_row] = [r for r in await outputs.generate_all(ctx, session, scripted()) if r.output_type == "psa_ticket_notes"]
    edited = await outputs.edit(ctx, notes_row, "My edited notes")
    assert edited.edited_content == "My edited notes" and edited.generated_content == PSA_REPLY
    assert outputs.content(edited) == "My edited notes" and edited.status == "draft"
    view = outputs.output_view(edited)
    assert view["edited"] is True and view["content"] == "My edited notes" and view["label"] == "PSA ticket notes"


async def test_a_session_without_outputs_lists_none(ctx, session) -> None:
    """Case 21: an open session has no outputs (and none are drafted for it)."""
    assert await outputs.list_outputs(ctx, session) == []
    with pytest.raises(ConflictError, match="resolved session") as err:
        await outputs.generate_all(ctx, session, scripted())
    assert err.value.exit_code == 3
    assert await outputs.list_outputs(ctx, session) == []
    assert await outputs.generate_after_resolve(ctx, session) is None
    with pytest.raises(NotFoundError, match="no KB article yet"):
        await outputs.get_output(ctx, session, "kb")


async def test_offline_drafts_have_their_sections(ctx, session) -> None:
    await facts.add_note(ctx, session, "The password was reset on Friday")
    fix = await fixes.suggest_fix(ctx, session, "Clear cached Office credentials", confidence=80,
                                  description="Stale credentials made the client prompt.")
    await fixes.record_outcome(ctx, session, fix, "applied_success")
    await resolve(ctx, session)
    rows = {r.output_type: r for r in await outputs.generate_all(ctx, session, None)}
    assert {r.drafter for r in rows.values()} == {"offline"} and {r.model for r in rows.values()} == {None}
    assert rows["psa_ticket_notes"].fallback_reason == "no model is configured"
    psa_notes = rows["psa_ticket_notes"].generated_content
    assert re.findall(r"^## (.+)$", psa_notes, re.M) == list(outputs.HEADINGS["psa_ticket_notes"])
    assert "Confirmed: The password was reset on Friday." in psa_notes
    assert 'Applied "Clear cached Office credentials": confirmed working.' in psa_notes
    assert "Cleared the cached credential." in markdown_section(psa_notes, "Resolution")
    kb = rows["knowledge_base"].generated_content
    assert re.findall(r"^## (.+)$", kb, re.M) == list(outputs.HEADINGS["knowledge_base"])
    assert markdown_section(kb, "Root cause") == "A stale cached credential."
    assert markdown_section(kb, "Things to rule out first") == outputs.NOTHING_RULED_OUT
    client = rows["client_summary"].generated_content
    paragraphs = [p for p in client.split("\n\n") if p.strip()]
    assert 2 <= len(paragraphs) <= 3 and "#" not in client and "- " not in client
    assert "Clear cached Office credentials" not in client  # no fix titles (jargon) for the client
    assert "confirmed that it works" in client


# Words the offline KB drafter adds around the stored state (its headings and connectives).
KB_OWN_WORDS = set("""symptoms root cause resolution steps things to rule out first apply run the script template
tried applied it did not resolve issue nothing was ruled in this session 1 2 3""".split())


def words(text: str) -> set[str]:
    return {w.lower() for w in re.findall(r"[A-Za-z0-9']+", text)}


async def test_the_offline_kb_restates_stored_state_only(ctx, session) -> None:
    """Every word of the offline KB article comes from the session's stored state or the drafter's headings."""
    await facts.add_note(ctx, session, "Credential Manager holds two entries for the tenant")
    failed = await fixes.suggest_fix(ctx, session, "Recreate the mail profile", confidence=60)
    await fixes.record_outcome(ctx, session, failed, "applied_failed", notes="The prompt came back at once")
    quota, _ = await with_dead_end(ctx, session)
    fix = await fixes.suggest_fix(ctx, session, "Clear cached Office credentials", confidence=85,
                                  description="Stale credentials made the client prompt.")
    await fixes.record_outcome(ctx, session, fix, "applied_success")
    await resolve(ctx, session)
    kb = (await outputs.generate(ctx, session, "kb", None)).generated_content
    stored = " ".join([
        session.intake_text or "", session.title or "", NOTE, quota.description, "Credential Manager holds two entries for the tenant",
        "Recreate the mail profile", "The prompt came back at once", "Clear cached Office credentials",
        "Stale credentials made the client prompt.", quota.label, quota.status_reason or "",
        " ".join((quota.context_summary or {}).get("tried") or []), (quota.context_summary or {}).get("concluded") or "",
    ])
    invented = words(kb) - words(stored) - KB_OWN_WORDS
    assert invented == set(), f"words not in the stored state: {sorted(invented)}\n{kb}"
    rule_out = markdown_section(kb, "Things to rule out first")
    assert "- Mailbox quota (The mailbox is full): Mailbox quota was well below the limit.\n" in rule_out
    assert '"Recreate the mail profile": applied, it did not resolve the issue (The prompt came back at once).' in rule_out
    assert '1. Apply "Clear cached Office credentials". Stale credentials made the client prompt.' in kb


@pytest.mark.parametrize("drafter", ["offline", "llm"])
async def test_the_kb_lists_a_dead_end_branch_under_things_to_rule_out_first(ctx, session, drafter) -> None:
    """Acceptance: with a dead-end branch A, the KB article lists A's hypothesis under 'Things to rule out
    first', whichever drafter wrote it (a model that leaves it out gets it added from stored state)."""
    quota, _ = await with_dead_end(ctx, session)
    await resolve(ctx, session)
    provider = scripted() if drafter == "llm" else None
    row = await outputs.generate(ctx, session, "knowledge_base", provider)
    assert row.drafter == drafter
    body = markdown_section(row.generated_content, "Things to rule out first")
    assert "Mailbox quota" in body and "well below the limit" in body
    assert outputs.NOTHING_RULED_OUT not in body
    if drafter == "llm":
        assert "Dead ends (ruled out):\n- Mailbox quota — The mailbox is full" in provider.calls[0].message


async def test_a_model_that_names_the_dead_end_is_left_alone(ctx, session) -> None:
    await with_dead_end(ctx, session)
    await resolve(ctx, session)
    kb = KB_REPLY.replace("Nothing was ruled out in this session.", "- Mailbox quota: it had plenty of room.")
    row = await outputs.generate(ctx, session, "kb", scripted(kb_reply=kb))
    assert row.generated_content == kb


async def test_model_failures_fall_back_to_offline_drafts_and_say_why(ctx, session) -> None:
    await resolve(ctx, session)
    provider = scripted(kb_reply="Here is your article: it was a stale password.", psa="overloaded, try later")
    rows = {r.output_type: r for r in await outputs.generate_all(ctx, session, provider)}
    assert rows["psa_ticket_notes"].drafter == "offline"
    assert rows["psa_ticket_notes"].fallback_reason == "the model could not draft it: overloaded, try later"
    assert rows["knowledge_base"].drafter == "offline"
    assert rows["knowledge_base"].fallback_reason.startswith("the model's draft was unusable: its sections were missing")
    assert rows["client_summary"].drafter == "llm" and rows["client_summary"].fallback_reason is None
    assert "offline drafter" in outputs.describe(rows["knowledge_base"])
    assert "unusable" in outputs.output_view(rows["knowledge_base"])["fallback_reason"]
    # The unusable draft cost tokens (recorded); the failed call returned nothing to record.
    assert len(await usage_rows(ctx, session)) == 2


async def test_offline_is_honoured_even_with_a_model(ctx, session) -> None:
    await resolve(ctx, session)
    provider = scripted()
    rows = await outputs.generate_all(ctx, session, provider, offline=True)
    assert provider.calls == [] and {r.drafter for r in rows} == {"offline"}
    assert rows[0].fallback_reason == "--offline was asked for"


async def test_generate_after_resolve_uses_the_configured_provider(ctx, session) -> None:
    """The test settings select the offline provider: three offline drafts, and the reason says so."""
    await resolve(ctx, session)
    rows = await outputs.generate_after_resolve(ctx, session)
    assert rows is not None and [r.drafter for r in rows] == ["offline"] * 3
    assert rows[0].fallback_reason == "no model is configured"


async def test_regenerating_replaces_the_draft(ctx, session) -> None:
    await resolve(ctx, session)
    first = {r.output_type: r for r in await outputs.generate_all(ctx, session, None)}
    kb = first["knowledge_base"]
    await outputs.edit(ctx, kb, "Engineer's own article")
    await outputs.approve(ctx, kb)
    again = await outputs.generate(ctx, session, "kb", scripted())
    assert again.id == kb.id and again.status == "draft" and again.edited_content is None
    assert again.generated_content == KB_REPLY and again.drafter == "llm"
    await outputs.generate_all(ctx, session, None)
    count = (await ctx.db.execute(select(func.count()).select_from(ResolutionOutput)
                                  .where(ResolutionOutput.session_id == session.id))).scalar_one()
    assert count == 3


# --- review --------------------------------------------------------------------------------------------


async def test_approve_and_reject_only_from_draft(ctx, session) -> None:
    await resolve(ctx, session)
    await outputs.generate_all(ctx, session, None)
    row = await outputs.get_output(ctx, session, "psa")
    assert (await outputs.approve(ctx, row)).status == "approved"
    with pytest.raises(ConflictError, match="only a draft can be approved; the PSA ticket notes is approved"):
        await outputs.approve(ctx, row)
    with pytest.raises(ConflictError, match="only a draft can be rejected"):
        await outputs.reject(ctx, row)
    assert row.status == "approved"  # a refused transition changes nothing
    assert (await outputs.edit(ctx, row, "Rewritten")).status == "draft"  # an edit must be approved again
    assert (await outputs.reject(ctx, row)).status == "rejected"
    with pytest.raises(ConflictError, match="is rejected") as err:
        await outputs.approve(ctx, row)
    assert "edit it or draft it again" in err.value.hint
    with pytest.raises(ConflictError, match="only an approved output is pushed"):
        await outputs.push(ctx, session, row, "file", path=None)
    with pytest.raises(UsageError, match="empty"):
        await outputs.edit(ctx, row, "   ")
    with pytest.raises(UsageError, match="too long"):
        await outputs.edit(ctx, row, "x" * (outputs.EDIT_MAX + 1))
    assert outputs.content(row) == "Rewritten"


async def test_outputs_are_found_by_alias_or_id(ctx, session) -> None:
    await resolve(ctx, session)
    rows = await outputs.generate_all(ctx, session, None)
    for alias, wanted in (("psa", 0), ("knowledge_base", 1), ("KB", 1), ("client-summary", 2), ("client", 2)):
        assert (await outputs.get_output(ctx, session, alias)).id == rows[wanted].id
    assert (await outputs.get_output(ctx, session, rows[2].id[:8])).id == rows[2].id
    with pytest.raises(UsageError, match="unknown output type 'memo'"):
        await outputs.get_output(ctx, session, "memo")


# --- push and export --------------------------------------------------------------------------------------


async def linked_and_resolved(ctx, fake):
    settings, secrets = fake.connection()
    await psa.connect(ctx, "connectwise", "main", settings, secrets)
    row = await tickets.session_from_ticket(ctx, "48307")
    return await resolve(ctx, row)


def posted(fake) -> list[dict]:
    return fake.notes[48307][1:]  # the first is the ticket's description


async def test_push_posts_through_the_outbox_once_approved(ctx, cw, memory_keyring, tmp_path) -> None:
    row = await linked_and_resolved(ctx, cw)
    assert len(posted(cw)) == 1  # the resolution note
    await outputs.generate_all(ctx, row, None)
    notes_row = await outputs.get_output(ctx, row, "psa")
    with pytest.raises(ConflictError, match="only an approved output is pushed"):
        await outputs.push(ctx, row, notes_row, "psa")
    await outputs.approve(ctx, notes_row)
    done = await outputs.push(ctx, row, notes_row, "psa")
    note = posted(cw)[-1]
    # the note is the output's text and, on a last line, the outbox item's idempotency tag
    assert note["text"] == notes_row.generated_content + "\n\n" + writeback.note_tag(done.delivery.item.id)
    assert note["internalAnalysisFlag"] is True
    assert note["detailDescriptionFlag"] is False and note["resolutionFlag"] is False
    assert done.reference == str(note["id"]) and done.delivery.item.state == "delivered"
    assert notes_row.status == "pushed" and notes_row.pushed_to == "psa" and notes_row.pushed_reference == str(note["id"])
    with pytest.raises(ConflictError, match=f"already on CW #48307 as note {note['id']}"):
        await outputs.push(ctx, row, notes_row, "psa")
    await outputs.push(ctx, row, notes_row, "file", path=tmp_path / "notes.md")  # a copy for the records
    with pytest.raises(ConflictError, match="already on CW #48307"):  # the export does not make it postable again
        await outputs.push(ctx, row, notes_row, "psa")
    # The client summary is for the client: a customer-visible discussion note.
    client = await outputs.get_output(ctx, row, "client")
    await outputs.approve(ctx, client)
    await outputs.push(ctx, row, client, "psa")
    assert posted(cw)[-1]["detailDescriptionFlag"] is True and posted(cw)[-1]["internalAnalysisFlag"] is False
    # The KB article does not go on a ticket.
    kb = await outputs.get_output(ctx, row, "kb")
    await outputs.approve(ctx, kb)
    with pytest.raises(UsageError, match="not posted to a ticket"):
        await outputs.push(ctx, row, kb, "psa")
    assert len(posted(cw)) == 3


async def test_a_resolve_delivered_by_the_outbox_drafts_its_outputs(ctx, cw, memory_keyring) -> None:
    """A resolve that waited in the outbox closes the session when `outbox sync` delivers it; the resolution
    outputs are drafted then (core.team.outputs.deliver_outbox), as after a resolve that went straight through."""
    settings, secrets = cw.connection()
    await psa.connect(ctx, "connectwise", "main", settings, secrets)
    row = await tickets.session_from_ticket(ctx, "48307")
    cw.down = True
    with pytest.raises(QueuedError):
        await closing.resolve_session(ctx, row, NOTE)

    async def drafted() -> int:
        stmt = select(func.count()).select_from(ResolutionOutput).where(ResolutionOutput.session_id == row.id)
        return (await ctx.db.execute(stmt)).scalar_one()

    assert await drafted() == 0  # not resolved yet: nothing to draft
    cw.down = False
    report = await outputs.deliver_outbox(ctx)
    assert [d.item.kind for d in report.delivered] == ["resolve"]
    await ctx.db.refresh(row)
    assert row.status == "resolved" and await drafted() == 3


async def test_a_queued_push_is_marked_pushed_only_when_delivered(ctx, cw, memory_keyring) -> None:
    row = await linked_and_resolved(ctx, cw)
    await outputs.generate_all(ctx, row, None)
    notes_row = await outputs.get_output(ctx, row, "psa")
    await outputs.approve(ctx, notes_row)
    cw.down = True
    with pytest.raises(QueuedError, match="waits in the PSA outbox") as err:
        await outputs.push(ctx, row, notes_row, "psa")
    assert err.value.exit_code == 6
    view = outputs.output_view(notes_row)
    assert view["status"] == "approved" and view["push_pending"] is True and view["pushed_reference"] is None
    with pytest.raises(ConflictError, match="waiting in the PSA outbox"):
        await outputs.edit(ctx, notes_row, "Changed my mind")
    with pytest.raises(ConflictError, match="waiting in the PSA outbox"):
        await outputs.generate(ctx, row, "psa", None)
    with pytest.raises(QueuedError):  # pushing again retries the same outbox item
        await outputs.push(ctx, row, notes_row, "psa")
    assert len(await writeback.open_items(ctx, row, "update")) == 1
    cw.down = False
    assert len((await writeback.sync(ctx)).delivered) == 1
    [settled, *_] = await outputs.list_outputs(ctx, row)
    assert settled.status == "pushed" and settled.pushed_reference == str(posted(cw)[-1]["id"])
    assert len(posted(cw)) == 2  # the resolution note and these notes, once


async def test_a_refused_push_stays_approved_and_is_retried(ctx, cw, memory_keyring) -> None:
    row = await linked_and_resolved(ctx, cw)
    await outputs.generate_all(ctx, row, None)
    notes_row = await outputs.get_output(ctx, row, "psa")
    await outputs.approve(ctx, notes_row)
    cw.error_next = (400, {"code": "InvalidObject", "message": "Ticket is closed to notes"})
    with pytest.raises(PSAError) as err:
        await outputs.push(ctx, row, notes_row, "psa")
    assert err.value.exit_code == 4 and notes_row.status == "approved"
    done = await outputs.push(ctx, row, notes_row, "psa")
    assert done.output.status == "pushed" and len(posted(cw)) == 2


async def test_an_exported_client_summary_can_still_go_on_the_ticket(ctx, cw, memory_keyring, tmp_path) -> None:
    row = await linked_and_resolved(ctx, cw)
    await outputs.generate_all(ctx, row, None)
    client = await outputs.get_output(ctx, row, "client")
    await outputs.approve(ctx, client)
    await outputs.push(ctx, row, client, "file", path=tmp_path / "summary.md")
    cw.down = True
    with pytest.raises(QueuedError):
        await outputs.push(ctx, row, client, "psa")
    assert client.status == "approved" and outputs.output_view(client)["push_pending"] is True
    cw.down = False
    done = await outputs.push(ctx, row, client, "psa")
    assert done.output.status == "pushed" and done.reference == str(posted(cw)[-1]["id"]) and len(posted(cw)) == 2


async def test_push_to_psa_needs_a_linked_ticket(ctx, session) -> None:
    await resolve(ctx, session)
    await outputs.generate_all(ctx, session, None)
    row = await outputs.get_output(ctx, session, "psa")
    await outputs.approve(ctx, row)
    with pytest.raises(ConflictError, match="not linked to a PSA ticket"):
        await outputs.push(ctx, session, row, "psa")
    with pytest.raises(UsageError, match="unknown destination 'email'"):
        await outputs.push(ctx, session, row, "email")
    assert row.status == "approved"


async def test_export_writes_the_kb_article_as_markdown(ctx, session, tmp_path) -> None:
    await with_dead_end(ctx, session)
    await resolve(ctx, session)
    await outputs.generate_all(ctx, session, None)
    kb = await outputs.get_output(ctx, session, "kb")
    name = outputs.export_file_name(session, "kb")
    assert name.startswith("kb-outlook-prompts-for-a-password") and name.endswith(".md")
    target = tmp_path / "docs" / name
    await outputs.approve(ctx, kb)
    done = await outputs.push(ctx, session, kb, "file", path=target)
    text = target.read_text(encoding="utf-8")
    assert text.startswith(f"# {session.title}\n\n## Symptoms\n") and "Mailbox quota" in text
    assert done.reference == str(target) and kb.status == "pushed" and kb.pushed_to == "file"
    with pytest.raises(ConflictError, match="already exists"):
        await outputs.push(ctx, session, kb, "file", path=target)
    await outputs.push(ctx, session, kb, "file", path=target, overwrite=True)  # a pushed output re-exports
    with pytest.raises(UsageError, match="is a directory"):
        await outputs.push(ctx, session, kb, "file", path=tmp_path, overwrite=True)


async def test_the_drafts_are_stored_together_and_one_by_one_when_that_fails(ws, ctx, session, monkeypatch) -> None:
    """The three drafts go into the store in one transaction; when it refuses them (here: another process
    stored a KB article of the session meanwhile, so the joint insert breaks the unique key), each is stored on
    its own as before, and the other process's row is replaced, not duplicated."""
    from sqlalchemy import event

    from rfpilot.db.models import ResolutionOutput as Row

    await resolve(ctx, session)
    real = outputs._drafts

    async def drafts_then_a_rival(*args, **kwargs):
        drafted = await real(*args, **kwargs)
        async with ws.ctx() as other:
            async with other.tx():
                other.db.add(Row(account_id=other.account.id, session_id=session.id, output_type="knowledge_base",
                                 generated_content="theirs", status="approved", drafter="offline",
                                 created_at=other.now()))
        return drafted

    inserts: list[str] = []
    engine = ctx.db.bind.sync_engine

    def seen(_conn, _cursor, statement, *_args) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO SESSION_RESOLUTION_OUTPUTS"):
            inserts.append(statement)

    first = await outputs.generate_all(ctx, session, None)  # nothing in the way: one INSERT for the three
    assert [r.output_type for r in first] == ["psa_ticket_notes", "knowledge_base", "client_summary"]
    async with ctx.tx():
        for row in first:
            await ctx.db.delete(row)
    event.listen(engine, "before_cursor_execute", seen)
    try:
        assert len(await outputs.generate_all(ctx, session, None)) == 3
        assert len(inserts) == 1, inserts
        async with ctx.tx():
            for row in await outputs.list_outputs(ctx, session):
                await ctx.db.delete(row)
        monkeypatch.setattr(outputs, "_drafts", drafts_then_a_rival)
        rows = await outputs.generate_all(ctx, session, None)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert [r.output_type for r in rows] == ["psa_ticket_notes", "knowledge_base", "client_summary"]
    assert all(r.status == "draft" and r.drafter == "offline" for r in rows)
    assert rows[0].fallback_reason == "no model is configured"
    async with ws.ctx() as check:
        stored = {r.output_type: r for r in (await check.db.execute(
            select(Row).where(Row.session_id == session.id))).scalars()}
    assert len(stored) == 3 and stored["knowledge_base"].generated_content != "theirs"
    assert stored["knowledge_base"].status == "draft"
