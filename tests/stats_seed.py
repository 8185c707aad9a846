"""A hand-built store for Insights (core.memory.stats): nine sessions with known outcomes, so that every figure of
`rfpilot stats` and the f8 screen has one exact expected value (worked out by hand in EXPECTED_21D).

The clock is NOW (Friday 2026-11-20, ISO week 47). With `--since 21d` the window starts on Monday 2026-10-26
(week 44): four weeks, 44 to 47. The sessions (A = the test's own engineer, B = bob@example.com):

  S1 Contoso  A  opened W44, resolved W44, 600 s    fixes: clear-creds worked (first)
  S2 Contoso  A  opened W45, resolved W45, 1200 s   fixes: "Restart the spooler" failed (first), clear-creds worked
  S3 Fabrikam B  opened W46, resolved W47, 3000 s   fixes: "Reset the VPN profile" worked (first)
  S4 Fabrikam B  opened W46, escalated W46, 1800 s  fixes: clear-creds failed (first)
  S5 -        A  opened W47, still active           fixes: map-drives applied, pending (no such template)
  S6 Contoso  A  opened 2026-10-01, resolved W44, 900 s, problem_domain "Email", no fixes
  S7 Old Co   B  opened and resolved in July, clear-creds worked (outside any window used here)
  S8 -        A  opened W47, resolved then reopened (active now)
  S9 Fabrikam A  opened W45, escalated W45, claimed and resolved W47, 4000 s
                 fixes: "Reboot the firewall" dismissed (first), "Reset the VPN profile." worked
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

NOW = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)


def at(month: int, day: int, hour: int = 10) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


async def seed(ctx) -> dict[str, str]:
    """Write the store above into ``ctx``'s account; returns the session ids by name (S1…S9)."""
    from rfpilot.db.models import Engineer, ScriptTemplate, SessionRow, SuggestedFix

    me = ctx.engineer.id
    bob = Engineer(account_id=ctx.account.id, email="bob@example.com", display_name="Bob Builder")
    ctx.db.add(bob)
    await ctx.db.flush()
    ctx.db.add(ScriptTemplate(account_id=ctx.account.id, name="Clear cached Office credentials", slug="clear-creds",
                              body="cmdkey /delete:{{target}}", created_at=at(6, 1)))
    ids: dict[str, str] = {}

    def session(name: str, owner: str, client: str | None, created: datetime, status: str, *,
                resolved: datetime | None = None, escalated: datetime | None = None, active: int = 0,
                domain: str | None = None) -> SessionRow:
        last = max(t for t in (created, resolved, escalated) if t is not None)  # as the services bump it
        row = SessionRow(account_id=ctx.account.id, owner_id=owner, title=f"{name} session", status=status,
                         client_name=client, created_at=created, updated_at=last, status_changed_at=last,
                         resolved_at=resolved, escalated_at=escalated, active_seconds=active, problem_domain=domain)
        ctx.db.add(row)
        return row

    rows = {
        "S1": session("S1", me, "Contoso", at(10, 27, 9), "resolved", resolved=at(10, 27, 11), active=600),
        "S2": session("S2", me, "Contoso", at(11, 3), "resolved", resolved=at(11, 4), active=1200),
        "S3": session("S3", bob.id, "Fabrikam", at(11, 10), "resolved", resolved=at(11, 17), active=3000),
        "S4": session("S4", bob.id, "Fabrikam", at(11, 11), "escalated", escalated=at(11, 12), active=1800),
        "S5": session("S5", me, None, at(11, 17), "active", active=300),
        "S6": session("S6", me, "Contoso", at(10, 1), "resolved", resolved=at(10, 28), active=900, domain="Email"),
        "S7": session("S7", bob.id, "Old Co", at(7, 1), "resolved", resolved=at(7, 2), active=500),
        "S8": session("S8", me, None, at(11, 18), "active", resolved=at(11, 18, 12), active=100),
        "S9": session("S9", me, "Fabrikam", at(11, 2), "resolved", resolved=at(11, 19), escalated=at(11, 5),
                      active=4000),
    }
    await ctx.db.flush()

    def fix(name: str, title: str, created: datetime, status: str, *, slug: str | None = None,
            applied: datetime | None = None, verified: datetime | None = None) -> None:
        ctx.db.add(SuggestedFix(account_id=ctx.account.id, session_id=rows[name].id, title=title, confidence_pct=70,
                                script_template_slug=slug, status=status, applied_at=applied, verified_at=verified,
                                created_at=created, updated_at=created,
                                superseded_at=created + timedelta(minutes=1) if status == "dismissed" else None))

    fix("S1", "Clear cached credentials", at(10, 27, 9), "applied_success", slug="clear-creds",
        applied=at(10, 27, 10), verified=at(10, 27, 11))
    fix("S2", "Restart the spooler", at(11, 3, 10), "applied_failed", applied=at(11, 3, 11), verified=at(11, 3, 12))
    fix("S2", "Clear cached credentials.", at(11, 3, 13), "applied_success", slug="clear-creds",
        applied=at(11, 3, 14), verified=at(11, 4, 9))
    fix("S3", "Reset the VPN profile", at(11, 10, 11), "applied_success", applied=at(11, 10, 12),
        verified=at(11, 17, 9))
    fix("S4", "Clear cached credentials", at(11, 11, 11), "applied_failed", slug="clear-creds",
        applied=at(11, 11, 12), verified=at(11, 12, 9))
    fix("S5", "Remap the drives", at(11, 17, 11), "applied_pending", slug="map-drives", applied=at(11, 18))
    fix("S7", "Clear cached credentials", at(7, 1, 11), "applied_success", slug="clear-creds",
        applied=at(7, 1, 12), verified=at(7, 1, 13))
    fix("S9", "Reboot the firewall", at(11, 3, 9), "dismissed")
    fix("S9", "Reset the VPN profile.", at(11, 18, 9), "applied_success", applied=at(11, 18, 10),
        verified=at(11, 19, 9))
    await ctx.db.commit()
    for name, row in rows.items():
        ids[name] = row.id
    return ids


async def seed_store(settings) -> dict[str, str]:
    """``seed`` in the store and account of ``settings``, at NOW."""
    from rfpilot.core.context import Workspace

    ws = await Workspace.open(settings, clock=lambda: NOW)
    try:
        async with ws.ctx() as ctx:
            return await seed(ctx)
    finally:
        await ws.close()


def group(opened: int, resolved: int, escalated: int, closed: int, median: float | None,
          first: float | None) -> dict:
    return {"opened": opened, "resolved": resolved, "escalated": escalated, "closed": closed,
            "escalation_rate": escalated / closed if closed else None, "first_fix_rate": first,
            "median_resolve_seconds": median}


# Every figure for `--since 21d` at NOW, worked out by hand from the table in the docstring.
EXPECTED_21D = {
    "totals": {"opened": 7, "resolved": 5, "escalated": 2, "closed": 6, "median_resolve_seconds": 1200.0,
               "first_fix": {"count": 2, "of": 5, "rate": 0.4},
               "escalation_rate": {"count": 2, "of": 6, "rate": 2 / 6}},
    "weeks": [
        {"week": "2026-W44", "start": "2026-10-26", "opened": 1, "resolved": 2, "escalated": 0,
         "median_resolve_seconds": 750.0},
        {"week": "2026-W45", "start": "2026-11-02", "opened": 2, "resolved": 1, "escalated": 1,
         "median_resolve_seconds": 1200.0},
        {"week": "2026-W46", "start": "2026-11-09", "opened": 2, "resolved": 0, "escalated": 1,
         "median_resolve_seconds": None},
        {"week": "2026-W47", "start": "2026-11-16", "opened": 2, "resolved": 2, "escalated": 0,
         "median_resolve_seconds": 3500.0},
    ],
    "problems": [
        {"kind": "template", "key": "clear-creds", "label": "Clear cached Office credentials", "sessions": 2,
         "resolved": 2, "escalated": 0, "fixes": [{"title": "Clear cached credentials", "sessions": 2}]},
        {"kind": "fix", "key": "reset the vpn profile", "label": "Reset the VPN profile", "sessions": 2,
         "resolved": 2, "escalated": 1, "fixes": [{"title": "Reset the VPN profile", "sessions": 2}]},
        {"kind": "domain", "key": "email", "label": "email", "sessions": 1, "resolved": 1, "escalated": 0,
         "fixes": []},
    ],
    "unclassified": 1,
    "templates": [
        {"slug": "clear-creds", "name": "Clear cached Office credentials", "applied": 3, "worked": 2, "failed": 1,
         "success_rate": 2 / 3},
        {"slug": "map-drives", "name": None, "applied": 1, "worked": 0, "failed": 0, "success_rate": 0.0},
    ],
    "clients": [
        {"client": "Contoso", **group(2, 3, 0, 3, 900.0, 0.5)},
        {"client": "Fabrikam", **group(3, 2, 2, 3, 3500.0, 1 / 3)},
        {"client": None, **group(2, 0, 0, 0, None, None)},
    ],
    "engineers": [
        {"email": "tester@example.com", **group(5, 4, 1, 4, 1050.0, 1 / 3)},
        {"email": "bob@example.com", **group(2, 1, 1, 2, 3000.0, 0.5)},
    ],
}
