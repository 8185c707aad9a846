""""Seen before" (core.memory.similar) on both stores: closed sessions only, itself left out, same client first
among equals, what fixed it and what did not, offline."""

from __future__ import annotations

import pytest

from datetime import timedelta

from sqlalchemy import update

from rfpilot.core.memory.similar import find_similar, similar_to_row
from rfpilot.db.models import Fact, SessionBranch, SessionRow, SuggestedFix

# Which earlier sessions are found depends on every account's items (the words' rarity): a database of its own.
pytestmark = pytest.mark.own_database


async def closed(ctx, title: str, *, status: str = "resolved", client: str | None = None, facts=(),
                 fixed: str | None = None, failed: str | None = None, dead_end: str | None = None,
                 reason: str | None = None, active: int = 600, problem: str | None = None) -> SessionRow:
    """A closed session written as the services leave one (rows, not the services: many are made)."""
    now = ctx.now()
    row = SessionRow(account_id=ctx.account.id, owner_id=ctx.engineer.id, title=title, status=status,
                     client_name=client, problem_summary=problem, active_seconds=active,
                     resolved_at=now if status == "resolved" else None,
                     escalated_at=now if status == "escalated" else None,
                     escalation_reason=reason if status == "escalated" else None)
    ctx.db.add(row)
    await ctx.db.flush()
    for text in facts:
        ctx.db.add(Fact(account_id=ctx.account.id, session_id=row.id, text=text, source_type="user_note",
                        created_by=ctx.engineer.id))
    for title_, outcome in ((failed, "applied_failed"), (fixed, "applied_success")):
        if title_:
            ctx.db.add(SuggestedFix(account_id=ctx.account.id, session_id=row.id, title=title_, confidence_pct=70,
                                    status=outcome, script_template_slug="reset-smb" if outcome == "applied_success"
                                    else None))
            await ctx.db.flush()
    if dead_end:
        ctx.db.add(SessionBranch(account_id=ctx.account.id, session_id=row.id, seq=1, label=dead_end,
                                 status="dead_end", context_summary={"tried": ["checked it"], "concluded": "not it"}))
    await ctx.db.commit()
    return row


async def test_closest_closed_session_with_its_outcome(ctx) -> None:
    copier = await closed(ctx, "Copier scan to folder fails after password rotation", client="Acme",
                          facts=["Scan to SMB folder returns authentication error", "Service account password was rotated"],
                          failed="Reboot the copier", fixed="Update the SMB password in the copier address book",
                          dead_end="Firewall blocking SMB", active=1800)
    await closed(ctx, "Outlook keeps asking for password", client="Acme", facts=["Modern auth disabled"],
                 fixed="Enable modern authentication")
    await closed(ctx, "VPN split tunnel sends all traffic through the office", client="Beta",
                 status="escalated", reason="needs firewall vendor", facts=["Default route via the tunnel"])
    found = await find_similar(ctx, title="Scanner cannot save scans to network folder",
                               facts=["the copier shows an SMB authentication error after the password change"])
    assert [s.session_id for s in found][:1] == [copier.id]
    top = found[0]
    assert top.status == "resolved" and top.fixed_by == "Update the SMB password in the copier address book"
    assert top.fix_template_slug == "reset-smb" and top.active_seconds == 1800
    assert "fix did not work: Reboot the copier" in top.dead_ends
    assert any(d.startswith("Firewall blocking SMB") for d in top.dead_ends)
    vpn = await find_similar(ctx, title="VPN split tunnel not working", facts=["all traffic goes via the tunnel"])
    assert vpn and vpn[0].status == "escalated" and vpn[0].escalation_reason == "needs firewall vendor"


async def test_active_sessions_and_itself_are_left_out(ctx) -> None:
    from rfpilot.core.session.sessions import create_session

    live = await create_session(ctx, "Print spooler crashes when printing PDFs from Edge", client="Acme")
    async with ctx.tx():
        pass
    assert await find_similar(ctx, title="Print spooler crashes when printing PDFs") == []
    done = await closed(ctx, "Print spooler crashes when printing PDFs from Edge", client="Acme")
    assert [s.session_id for s in await similar_to_row(ctx, live)] == [done.id]
    assert await similar_to_row(ctx, done) == []  # itself, and the active one, are not matches


async def test_same_client_first_among_equals(ctx) -> None:
    other = await closed(ctx, "Mapped drive disconnects after sleep", client="Other Co")
    mine = await closed(ctx, "Mapped drive disconnects after sleep", client="Acme")
    for client, first in (("Acme", mine.id), ("Other Co", other.id)):
        found = await find_similar(ctx, title="Mapped drive disconnects after sleep", client_name=client)
        assert [s.session_id for s in found][:2] == [first, ({mine.id, other.id} - {first}).pop()]
        assert found[0].same_client and not found[1].same_client


async def test_unrelated_text_finds_nothing_and_other_accounts_are_not_read(ctx) -> None:
    await closed(ctx, "Certificate expired on the RD gateway")
    assert await find_similar(ctx, title="the a of") == []
    assert await find_similar(ctx, title="Teams camera black in meetings") == []
    async with ctx.tx():
        await ctx.db.execute(update(SessionRow).where(SessionRow.account_id == ctx.account.id)
                             .values(resolved_at=ctx.now() - timedelta(days=1)))
    assert (await find_similar(ctx, title="RD gateway certificate expired"))[0].closed_at is not None
