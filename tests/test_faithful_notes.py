"""What rfpilot writes is faithful (issue 13, "Notes, outputs and exports"), on both stores.

A ticket's summary and description stay apart in every text built from them; the escalation package and the
session export carry the branch map; a product-added item never sits under a "nothing …" line; a branch
status change invalidates a cached preview; a draft output exports as a marked DRAFT; `sessions show` says
where a close stands on the PSA.
"""

from __future__ import annotations

import json

import pytest

from rfpilot.core.text import markdown_section

SUMMARY = "Outlook asks for a password after the reset"
DESCRIPTION = ("Since Monday's password reset, Outlook on the user's laptop prompts every few minutes.\n\n"
               "Webmail signs in fine.")


def _connect(cli, fake) -> None:
    stdin = "".join(f"{k}={v}\n" for k, v in fake.secrets().items())
    code, _, err = cli("psa", "connect", "connectwise", "--site", fake.site, "--company-id", fake.company_id,
                       "--codebase", fake.codebase, "--member", "jdoe", "--resolve-status", "Resolved",
                       "--escalate-status", "Escalated", "--secrets-stdin", stdin=stdin)
    assert code == 0, err


@pytest.fixture
def ticket_session(cli, cw, memory_keyring) -> str:
    cw.seed_ticket(48320, summary=SUMMARY, description=DESCRIPTION)
    _connect(cli, cw)
    code, out, err = cli("new", "--ticket", "48320")
    assert code == 0, err
    return out.strip()


# --- 1. the ticket's summary and description are never run together ------------------------------


@pytest.mark.parametrize("kind", ["resolve", "escalate"])
def test_the_problem_of_a_ticket_session_keeps_summary_and_description_apart(cli, ticket_session, kind) -> None:
    code, out, err = cli("preview", kind, ticket_session, "--offline")
    assert code == 0, err
    problem = markdown_section(out, "Problem")
    assert problem == ("Outlook asks for a password after the reset.\n\n"
                       "Since Monday's password reset, Outlook on the user's laptop prompts every few minutes.")
    assert "reset Since" not in out


def test_the_resolution_note_posted_to_the_ticket_keeps_them_apart(cli, cw, ticket_session) -> None:
    code, out, err = cli("resolve", ticket_session, "--yes", "--offline")
    assert code == 0, err
    posted = cw.notes[48320][-1]["text"]
    assert markdown_section(posted, "Problem").startswith("Outlook asks for a password after the reset.\n\nSince Monday")
    shown = json.loads(cli("sessions", "show", ticket_session, "--json")[1])
    assert shown["session"]["resolution_summary"] == "Outlook asks for a password after the reset."
    assert shown["session"]["intake_text"] == f"{SUMMARY}\n\n{DESCRIPTION}"
    code, out, _ = cli("outputs", "show", ticket_session, "client")
    assert "after the reset.\n\nSince Monday" in out and "reset Since" not in out


def test_the_session_export_and_show_keep_them_apart(cli, ticket_session) -> None:
    code, out, _ = cli("sessions", "export", ticket_session)
    assert code == 0
    assert f"> {SUMMARY}\n>\n> Since Monday's password reset" in out
    code, out, _ = cli("sessions", "show", ticket_session)
    assert f"\nProblem\n  {SUMMARY}\n\n  Since Monday's password reset" in out


async def test_the_model_sees_summary_and_description_on_lines_of_their_own(ctx, cw, memory_keyring) -> None:
    from rfpilot.core.drafting import notes
    from rfpilot.core.team import outputs
    from rfpilot.core.closeout import psa, tickets
    from rfpilot.core.engine.chat import ticket_context

    cw.seed_ticket(48321, summary=SUMMARY, description=DESCRIPTION)
    settings, secrets = cw.connection()
    await psa.connect(ctx, "connectwise", "main", settings, secrets)
    row = await tickets.session_from_ticket(ctx, "48321")
    assert row.intake_text == f"{SUMMARY}\n\n{DESCRIPTION}"
    assert row.ticket_context["description"] == DESCRIPTION  # paragraphs kept
    bundle = await notes.build_bundle(ctx, row, notes.ESCALATION)
    text = notes.bundle_text(bundle)
    assert f"Ticket summary: {SUMMARY}\nTicket description:\n{DESCRIPTION}\n" in text
    assert f"Ticket summary: {SUMMARY}\n" in outputs.bundle_text(await outputs.build_bundle(ctx, row), outputs.KB)
    assert f"\n{SUMMARY}\n\n{DESCRIPTION}\n" in ticket_context(row)


async def test_a_session_stored_with_the_two_run_together_reads_right(ctx, cw, memory_keyring) -> None:
    """Sessions created before the fix stored 'summary description' on one line: the stored ticket rebuilds it."""
    from rfpilot.core.drafting import notes
    from rfpilot.core.closeout import psa, tickets
    from rfpilot.core.team.handoffs import _problem_text

    cw.seed_ticket(48322, summary=SUMMARY, description=DESCRIPTION)
    settings, secrets = cw.connection()
    await psa.connect(ctx, "connectwise", "main", settings, secrets)
    row = await tickets.session_from_ticket(ctx, "48322")
    async with ctx.tx():
        row.intake_text = f"{SUMMARY} {' '.join(DESCRIPTION.split())}"
    markdown = notes.offline_draft(await notes.build_bundle(ctx, row, notes.RESOLUTION))
    assert markdown_section(markdown, "Problem").startswith(f"{SUMMARY}.\n\nSince Monday")
    assert _problem_text(row).startswith(f"{SUMMARY}. Since Monday")


# --- 2. the escalation package and the session export carry the branch map -------------------------------

ESCALATION_REPLY = ("## Problem\nOutlook asked for a password.\n\n## What we've confirmed\n- Webmail works.\n\n"
                    "## What we've tried\nNo diagnostic actions run yet.\n\n"
                    "## Current hypothesis\nA stale cached credential.\n\n## Suggested next steps\n- Clear it.")


async def _forked(ctx, session):
    """Three hypotheses: one ruled out, one being worked, one not tried yet."""
    from rfpilot.core.session import branches

    _, (quota, cred, dns) = await branches.fork(ctx, session, "Three causes fit the symptom", [
        ("Mailbox quota", "The mailbox is full"), ("Cached credential", "A stale password is cached"),
        ("DNS", "Autodiscover resolves wrongly")])
    await branches.mark(ctx, session, quota, "dead_end", "Mailbox quota was well below the limit")
    await branches.switch(ctx, session, cred)
    return quota, cred, dns


async def test_the_offline_escalation_package_states_the_branch_map(ctx, session) -> None:
    from rfpilot.core.drafting import previews

    await _forked(ctx, session)
    markdown = (await previews.preview(ctx, session, "escalate")).markdown
    tried = markdown_section(markdown, "What we've tried")
    assert tried == ("- Ruled out: Mailbox quota (The mailbox is full): Mailbox quota was well below the limit.")
    hypothesis = markdown_section(markdown, "Current hypothesis")
    assert hypothesis.startswith("No leading fix yet.\n\n")  # never "no hypothesis" above the open ones
    assert hypothesis.endswith('Hypotheses still open: "Cached credential" (A stale password is cached), being '
                               'worked on; "DNS" (Autodiscover resolves wrongly), not tried yet.')
    assert '- Work the open hypotheses: "Cached credential", "DNS".' in markdown_section(markdown, "Suggested next steps")


async def test_a_model_package_without_the_dead_end_gets_it_and_loses_its_nothing_line(ctx, session) -> None:
    from rfpilot.core.drafting import previews
    from rfpilot.core.llm.scripted import ScriptedProvider, ScriptedReply

    await _forked(ctx, session)
    provider = ScriptedProvider([ScriptedReply(reply=ESCALATION_REPLY, action="escalation_package")])
    result = await previews.preview(ctx, session, "escalate", provider=provider)
    assert result.drafter == "llm"
    assert "# Hypotheses explored (the branch map)\n- Mailbox quota [dead end (ruled out)] — The mailbox is full\n" \
           "  Why: Mailbox quota was well below the limit" in provider.calls[0].message
    assert "- DNS [not tried yet] — Autodiscover resolves wrongly" in provider.calls[0].message
    tried = markdown_section(result.markdown, "What we've tried")
    assert tried == "- Ruled out: Mailbox quota (The mailbox is full): Mailbox quota was well below the limit."
    assert markdown_section(result.markdown, "Current hypothesis") == "A stale cached credential."  # untouched


async def test_a_model_package_that_names_the_dead_end_is_left_alone(ctx, session) -> None:
    from rfpilot.core.drafting import previews
    from rfpilot.core.llm.scripted import ScriptedProvider, ScriptedReply

    await _forked(ctx, session)
    reply = ESCALATION_REPLY.replace("No diagnostic actions run yet.", "- Mailbox quota: plenty of room left.")
    provider = ScriptedProvider([ScriptedReply(reply=reply, action="escalation_package")])
    assert (await previews.preview(ctx, session, "escalate", provider=provider)).markdown == reply


def test_the_session_export_carries_branches_and_fork_points(cli) -> None:
    code, sid, err = cli("new", "Outlook prompts for a password after the reset.")
    sid = sid.strip()
    assert code == 0, err
    assert cli("branches", "fork", sid, "--reason", "Network or DNS?", "-o", "Network: ping the gateway",
               "-o", "DNS: nslookup both servers")[0] == 0
    assert cli("branches", "mark", sid, "Network", "dead_end", "--reason", "The gateway answers")[0] == 0
    assert cli("branches", "switch", sid, "DNS")[0] == 0
    code, out, err = cli("sessions", "export", sid, "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    by_label = {b["label"]: b for b in data["branches"]}
    assert set(by_label) == {"Root", "Network", "DNS"}
    assert by_label["Network"]["status"] == "dead_end" and by_label["Network"]["status_reason"] == "The gateway answers"
    assert by_label["DNS"]["active"] and by_label["Network"]["parent_branch_id"] == by_label["Root"]["id"]
    [fork] = data["fork_points"]
    assert fork["reason"] == "Network or DNS?" and fork["parent_branch_id"] == by_label["Root"]["id"]
    assert [(o["label"], o["branch_id"]) for o in fork["options"]] == [("Network", by_label["Network"]["id"]),
                                                                        ("DNS", by_label["DNS"]["id"])]
    code, out, _ = cli("sessions", "export", sid)
    section = markdown_section(out, "Hypotheses (branches)")
    assert "- **Root** · active\n  - **Network** · dead_end — ping the gateway\n    - why: The gateway answers" in section
    assert "  - **DNS** · active (being worked on) — nslookup both servers" in section
    assert "### Fork points\n\n- before the first message, from Root: Network or DNS? → Network, DNS" in section


def test_a_session_that_never_forked_exports_empty_lists(cli) -> None:
    sid = cli("new", "Printer offline.")[1].strip()
    data = json.loads(cli("sessions", "export", sid, "--format", "json")[1])
    assert data["branches"] == [] and data["fork_points"] == []
    assert "## Hypotheses" not in cli("sessions", "export", sid)[1]


# --- 3. a product-added item never sits under a "nothing …" line -----------------------------------


async def _resolved_with_a_dead_end(ctx, session) -> None:
    """The session forked into two causes, "Mailbox quota" marked a dead end, then resolved."""
    from rfpilot.core.closeout import closing
    from rfpilot.core.session import branches

    _, (quota, _cred) = await branches.fork(ctx, session, "Two causes", [("Mailbox quota", "The mailbox is full"),
                                                                         ("Cached credential", "A stale password")])
    await branches.mark(ctx, session, quota, "dead_end", "Mailbox quota was well below the limit")
    await closing.resolve_session(ctx, session, "## Problem\nX.\n\n## What we confirmed\n- Y.\n\n## Root cause\nZ."
                                                "\n\n## Resolution\nW.")


@pytest.mark.parametrize("nothing", ["- Nothing was ruled out in this session.", "_Nothing was ruled out._",
                                     "None.", "No hypotheses were ruled out during the session.",
                                     "There were no dead ends in this session.", "- Nothing ruled out.", "(none)",
                                     "- None — nothing was ruled out.", "No dead ends.", "N/A"])
async def test_the_kb_drops_the_models_nothing_line_when_a_dead_end_is_added(ctx, session, nothing) -> None:
    from rfpilot.core.team import outputs
    from rfpilot.core.llm.scripted import ScriptedProvider, ScriptedReply

    await _resolved_with_a_dead_end(ctx, session)
    reply = ("## Symptoms\n- Prompts.\n\n## Root cause\nA stale entry.\n\n## Resolution steps\n1. Clear it.\n\n"
             f"## Things to rule out first\n- Webmail: it signs in fine.\n{nothing}")
    provider = ScriptedProvider([ScriptedReply(reply=reply, action="resolution_note", match="knowledge base")])
    row = await outputs.generate(ctx, session, "kb", provider)
    assert row.drafter == "llm"
    assert markdown_section(row.generated_content, "Things to rule out first") == (
        "- Webmail: it signs in fine.\n"
        "- Mailbox quota (The mailbox is full): Mailbox quota was well below the limit.")


async def test_the_kb_keeps_an_item_that_starts_like_a_nothing_line(ctx, session) -> None:
    """A real rule-out worded "None of …" or "No …: ruled out because …" stays beside the dead end added."""
    from rfpilot.core.team import outputs
    from rfpilot.core.llm.scripted import ScriptedProvider, ScriptedReply

    await _resolved_with_a_dead_end(ctx, session)
    items = ("- None of the printers were affected, so the driver was ruled out.\n"
             "- No VPN: ruled out because the user is in the office.")
    reply = ("## Symptoms\n- Prompts.\n\n## Root cause\nA stale entry.\n\n## Resolution steps\n1. Clear it.\n\n"
             f"## Things to rule out first\n{items}")
    provider = ScriptedProvider([ScriptedReply(reply=reply, action="resolution_note", match="knowledge base")])
    row = await outputs.generate(ctx, session, "kb", provider)
    assert markdown_section(row.generated_content, "Things to rule out first") == (
        f"{items}\n- Mailbox quota (The mailbox is full): Mailbox quota was well below the limit.")


def test_says_nothing_tells_empty_list_lines_from_items() -> None:
    from rfpilot.core.text import says_nothing

    for line in ("Nothing was ruled out in this session.", "- Nothing was ruled out.", "_None._", "N/A",
                 "No diagnostic actions run yet.", "* No other causes were ruled out.", "No dead ends.",
                 # paraphrases a model writes
                 "There were no dead ends in this session.", "Nothing ruled out.", "(none)", "- (None)",
                 "None — nothing was ruled out.", "n/a", "**None.**", "1. None", "There weren't any dead ends.",
                 "Not applicable.", "No rule-outs were needed for this ticket.", "Nothing else to report."):
        assert says_nothing(line), line
    for line in ("- DNS: nslookup was fine.", "None of the mailbox rules were at fault: checked all 12.",
                 "Nothing in the event log pointed at the disk.", "No MFA prompt: MFA is off for the account.", "",
                 # items that open like a nothing line
                 "None of the printers were affected, so the driver was ruled out",
                 "No VPN: ruled out because the user is in the office.",
                 "Nothing was ruled out except DNS, which answered correctly.",
                 "No dead ends besides the proxy, which was bypassed.", "Not the network: the gateway answers.",
                 "- None — 代理服务器正常", "- 0", "---"):
        assert not says_nothing(line), line


# --- 4. a branch status change invalidates a cached preview ------------------------------------------


async def test_every_branch_status_change_bumps_state_version_and_misses_the_cache(ctx, session) -> None:
    from rfpilot.core.session import branches
    from rfpilot.core.drafting import previews

    async def fresh() -> previews.Preview:
        first = await previews.preview(ctx, session, "escalate")
        again = await previews.preview(ctx, session, "escalate")
        assert again.from_cache and again.state_version == first.state_version
        return first

    base = await fresh()
    _, (quota, cred) = await branches.fork(ctx, session, "Two causes", [("Mailbox quota", "The mailbox is full"),
                                                                        ("Cached credential", "A stale password")])
    forked = await previews.preview(ctx, session, "escalate")
    assert not forked.from_cache and forked.state_version == base.state_version + 1 and "Mailbox quota" in forked.markdown
    await fresh()
    await branches.switch(ctx, session, cred)  # untried -> active
    switched = await previews.preview(ctx, session, "escalate")
    assert not switched.from_cache and '"Cached credential" (A stale password), being worked on' in switched.markdown
    await fresh()
    await branches.switch(ctx, session, cred)  # no status change: the cache stands
    assert (await previews.preview(ctx, session, "escalate")).from_cache
    await branches.mark(ctx, session, quota, "dead_end", "Plenty of room")
    marked = await previews.preview(ctx, session, "escalate")
    assert not marked.from_cache and "- Ruled out: Mailbox quota (The mailbox is full): Plenty of room." in marked.markdown
    await fresh()
    await branches.revive(ctx, session, quota, cred, "The password was fine after all")
    revived = await previews.preview(ctx, session, "escalate")
    assert not revived.from_cache and "Ruled out" not in revived.markdown
    assert "revived on new evidence: The password was fine after all" in revived.markdown
    await fresh()
    await branches.mark(ctx, session, cred, "solved", "The cached password was stale")
    solved = await previews.preview(ctx, session, "escalate")
    assert not solved.from_cache and "- Confirmed hypothesis: Cached credential: The cached password was stale." \
        in solved.markdown
    assert solved.state_version == base.state_version + 5


# --- 5. a draft output exports, marked DRAFT --------------------------------------------------------------


def test_a_draft_exports_marked_draft_and_stays_a_draft(cli, tmp_path) -> None:
    sid = cli("new", "Outlook prompts for a password after the reset.")[1].strip()
    assert cli("resolve", sid, "--yes", "--offline")[0] == 0
    target = tmp_path / "kb.md"
    code, out, err = cli("outputs", "export", sid, "kb", "--out", str(target), "--json")
    assert code == 0, err
    view = json.loads(out)
    assert view["exported_draft"] is True and view["exported_to"] == str(target)
    assert view["status"] == "draft" and view["pushed_to"] is None and view["pushed_reference"] is None
    first, blank, title = target.read_text(encoding="utf-8").split("\n")[:3]
    assert first.startswith("> **DRAFT — not approved.**") and blank == "" and title.startswith("# Outlook prompts")
    listed = {v["output_type"]: v for v in json.loads(cli("outputs", "list", sid, "--json")[1])}
    assert listed["knowledge_base"]["status"] == "draft" and listed["knowledge_base"]["pushed_to"] is None
    code, _, err = cli("outputs", "push", sid, "kb", "--to", "file", "--out", str(tmp_path / "p.md"))
    assert code == 3 and "only an approved output is pushed" in err and "export" in err


# --- 6. `sessions show` says where the close stands on the PSA ---------------------------------------------


async def _linked(ctx, cw, **targets):
    from rfpilot.core.closeout import psa, tickets

    settings, secrets = cw.connection()
    await psa.connect(ctx, "connectwise", "main", settings, secrets, targets={a: {"": s} for a, s in targets.items()})
    return await tickets.session_from_ticket(ctx, "48307")


NOTE = ("## Problem\nOutlook asked for the password.\n\n## What we confirmed\n- Cached credential.\n\n"
        "## Root cause\nA stale credential.\n\n## Resolution\nCleared it.")


async def _writeback(ctx, row):
    from rfpilot.core.views import session_details

    await ctx.db.refresh(row)
    details = await session_details(ctx, row)
    return details["psa_writeback"], details


async def test_a_verified_close_shows_the_note_id_and_the_status_read_back(ctx, cw, memory_keyring) -> None:
    from rfpilot.cli.sessions import _show_text
    from rfpilot.core.closeout import closing

    row = await _linked(ctx, cw, resolve="Resolved")
    assert (await _writeback(ctx, row))[0] is None  # nothing sent yet
    await closing.resolve_session(ctx, row, NOTE)
    view, details = await _writeback(ctx, row)
    note_id = str(cw.notes[48307][-1]["id"])
    assert view["state"] == "verified" and view["note_id"] == note_id and view["kind"] == "resolve"
    assert view["verified_status"] == "Resolved" and view["status_verified"] is True
    assert details["psa_delivery"] is None and details["session"]["resolution_note_external_id"] == note_id
    assert (f"  writeback verified: resolution note posted as note {note_id}; ticket status 'Resolved' verified "
            "(read back)") in _show_text(details)


async def test_queued_failed_posted_and_delivering_closes_say_so(ctx, cw, memory_keyring) -> None:
    from datetime import timedelta

    from rfpilot.cli.sessions import _show_text
    from rfpilot.core.closeout import closing
    from rfpilot.errors import PSAError, QueuedError

    row = await _linked(ctx, cw, escalate="Escalated")
    cw.down = True
    with pytest.raises(QueuedError):
        await closing.escalate_session(ctx, row, NOTE.replace("What we confirmed", "What we've confirmed"))
    view, details = await _writeback(ctx, row)
    assert view["state"] == "queued" and view["note_id"] is None and view["kind"] == "escalate"
    assert "  writeback queued: escalation package not posted yet; ticket status 'Escalated' not set yet" \
        in _show_text(details)
    from rfpilot.db.models import OutboxItem

    item = await ctx.db.get(OutboxItem, view["outbox_item_id"])
    async with ctx.tx():  # another process is delivering it right now
        item.lease_owner, item.lease_expires_at = "elsewhere:1:abc", ctx.now() + timedelta(minutes=2)
    assert (await _writeback(ctx, row))[0]["state"] == "delivering"
    async with ctx.tx():
        item.lease_owner, item.lease_expires_at = None, None
    cw.down, cw.keep_old_status = False, True
    with pytest.raises(PSAError):
        await closing.escalate_session(ctx, row, NOTE)
    view, details = await _writeback(ctx, row)
    note_id = str(cw.notes[48307][-1]["id"])
    assert view["state"] == "failed" and view["note_id"] == note_id and view["status_verified"] is False
    assert f"  writeback failed: escalation package posted as note {note_id}; ticket status 'Escalated' not " \
           "verified — " in _show_text(details)


async def test_a_close_with_no_target_status_is_posted_and_a_local_one_has_none(ctx, cw, memory_keyring) -> None:
    from rfpilot.cli.sessions import _show_text
    from rfpilot.core.closeout import closing
    from rfpilot.core.session import sessions

    row = await _linked(ctx, cw)
    await closing.resolve_session(ctx, row, NOTE)
    view, details = await _writeback(ctx, row)
    assert view["state"] == "posted" and view["note_id"] == str(cw.notes[48307][-1]["id"])
    assert view["status_verified"] is False and view["verified_status"] is None
    assert "ticket status left as it was (no target status set)" in _show_text(details)
    local = await sessions.create_session(ctx, "Printer offline.")
    await closing.resolve_session(ctx, local, NOTE)
    view, details = await _writeback(ctx, local)
    assert view is None and "writeback" not in _show_text(details)


def test_sessions_show_json_keeps_its_keys_and_adds_the_writeback(cli, cw, memory_keyring, ticket_session) -> None:
    before = json.loads(cli("sessions", "show", ticket_session, "--json")[1])
    assert before["psa_writeback"] is None and "psa_delivery" in before
    assert cli("resolve", ticket_session, "--yes", "--offline")[0] == 0
    after = json.loads(cli("sessions", "show", ticket_session, "--json")[1])
    assert set(after) == set(before)
    assert after["psa_writeback"]["state"] == "verified" and after["psa_writeback"]["verified_status"] == "Resolved"
    assert after["psa_writeback"]["note_id"] == after["session"]["resolution_note_external_id"]
    code, out, _ = cli("sessions", "show", ticket_session)
    assert "  writeback verified: resolution note posted as note " in out
