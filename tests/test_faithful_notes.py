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
    from rfpilot.core import notes, outputs, psa, tickets
    from rfpilot.core.chat import ticket_context

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
    from rfpilot.core import notes, psa, tickets
    from rfpilot.core.handoffs import _problem_text

    cw.seed_ticket(48322, summary=SUMMARY, description=DESCRIPTION)
    settings, secrets = cw.connection()
    await psa.connect(ctx, "connectwise", "main", settings, secrets)
    row = await tickets.session_from_ticket(ctx, "48322")
    async with ctx.tx():
        row.intake_text = f"{SUMMARY} {' '.join(DESCRIPTION.split())}"
    markdown = notes.offline_draft(await notes.build_bundle(ctx, row, notes.RESOLUTION))
    assert markdown_section(markdown, "Problem").startswith(f"{SUMMARY}.\n\nSince Monday")
    assert _problem_text(row).startswith(f"{SUMMARY}. Since Monday")
