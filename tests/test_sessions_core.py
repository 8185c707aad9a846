"""Sessions: the status machine, timers, titles, ownership and lookup of SPEC §2–§3."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from rfpilot.core.closeout import closing
from rfpilot.core.session import sessions
from rfpilot.db.models import Account, Engineer, SessionRow
from rfpilot.errors import ConflictError, NotFoundError, UsageError

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
NOTE = "## Problem\nOutlook prompted for a password.\n\n## Resolution\nCleared cached credentials."
STATUSES = ("active", "paused", "escalated", "resolved", "abandoned")

# SPEC §3, spelled out independently of rfpilot.core.session.sessions.TRANSITIONS.
ALLOWED = {
    ("active", "paused"),
    ("paused", "active"),
    ("active", "resolved"),
    ("paused", "resolved"),
    ("escalated", "resolved"),
    ("active", "escalated"),
    ("paused", "escalated"),
    ("resolved", "escalated"),
    ("active", "abandoned"),
    ("paused", "abandoned"),
    ("escalated", "abandoned"),
    ("resolved", "active"),
    ("abandoned", "active"),
}

# action -> (target status, statuses it is allowed from)
ACTIONS = {
    "pause": ("paused", {"active"}),
    "resume": ("active", {"paused"}),
    "resolve": ("resolved", {"active", "paused", "escalated"}),
    "escalate": ("escalated", {"active", "paused", "resolved"}),
    "abandon": ("abandoned", {"active", "paused", "escalated"}),
    "reopen": ("active", {"resolved", "abandoned"}),
}


class Clock:
    """A controllable clock for ctx.clock."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)


async def run_action(ctx, session: SessionRow, action: str) -> None:
    if action == "pause":
        await sessions.pause_session(ctx, session)
    elif action == "resume":
        await sessions.resume_session(ctx, session)
    elif action == "resolve":
        await closing.resolve_session(ctx, session, NOTE)
    elif action == "escalate":
        await closing.escalate_session(ctx, session, NOTE)
    elif action == "abandon":
        await sessions.abandon_session(ctx, session, "duplicate ticket")
    elif action == "reopen":
        await sessions.reopen_session(ctx, session)
    else:  # pragma: no cover
        raise AssertionError(action)


async def put_in(ctx, session: SessionRow, status: str) -> SessionRow:
    """Bring a fresh active session into ``status`` through the services."""
    action = {"active": None, "paused": "pause", "escalated": "escalate", "resolved": "resolve", "abandoned": "abandon"}
    if action[status]:
        await run_action(ctx, session, action[status])
    await ctx.db.refresh(session)
    assert session.status == status
    return session


def snapshot(session: SessionRow) -> tuple:
    return (
        session.status,
        session.active_seconds,
        session.parked_seconds,
        session.status_changed_at,
        session.updated_at,
        session.state_version,
        session.resolved_at,
        session.resolution_summary,
        session.resolution_note_markdown,
        session.escalated_at,
        session.escalation_reason,
        session.escalation_package_markdown,
        session.abandoned_at,
        session.abandon_reason,
        session.owner_id,
        session.title,
    )


async def reload(ctx, session: SessionRow) -> SessionRow:
    await ctx.db.refresh(session)
    return session


# --- the transition table ------------------------------------------------------


@pytest.mark.parametrize("current", STATUSES)
@pytest.mark.parametrize("target", STATUSES)
def test_check_transition_matches_spec(current, target):
    """check_transition allows exactly the SPEC §3 edges and refuses every other one."""
    row = SessionRow(id=str(uuid.uuid4()), status=current)
    if (current, target) in ALLOWED:
        sessions.check_transition(row, target)
    else:
        with pytest.raises(ConflictError):
            sessions.check_transition(row, target)


@pytest.mark.parametrize("status", ["active", "paused", "escalated", "resolved", "abandoned"])
def test_same_status_wording(status):
    """Moving to the status a session already has says "session is already <status>"."""
    row = SessionRow(id=str(uuid.uuid4()), status=status)
    with pytest.raises(ConflictError, match=f"^session is already {status}$"):
        sessions.check_transition(row, status)


@pytest.mark.parametrize("current", STATUSES)
@pytest.mark.parametrize("action", list(ACTIONS))
async def test_every_action_from_every_status(ctx, current, action):
    """Each service action works on its allowed edges and otherwise raises ConflictError, changing nothing."""
    clock = Clock()
    ctx.clock = clock
    session = await sessions.create_session(ctx, "Outlook prompts for a password.")
    clock.advance(60)
    await put_in(ctx, session, current)
    clock.advance(60)
    target, allowed_from = ACTIONS[action]
    if current in allowed_from:
        await run_action(ctx, session, action)
        await reload(ctx, session)
        assert session.status == target
        assert session.status_changed_at == clock.now
        assert session.updated_at == clock.now
    else:
        before = snapshot(await reload(ctx, session))
        with pytest.raises(ConflictError):
            await run_action(ctx, session, action)
        assert snapshot(await reload(ctx, session)) == before


async def test_resolve_twice_says_already_resolved(ctx, session):
    """Resolving a resolved session is refused as "session is already resolved"."""
    await closing.resolve_session(ctx, session, NOTE)
    with pytest.raises(ConflictError, match="^session is already resolved$"):
        await closing.resolve_session(ctx, session, NOTE)


async def test_pause_twice_says_already_paused(ctx, session):
    """Pausing a paused session is refused as "session is already paused"."""
    await sessions.pause_session(ctx, session)
    with pytest.raises(ConflictError, match="^session is already paused$"):
        await sessions.pause_session(ctx, session)


async def test_closed_session_hints_at_reopen(ctx, session):
    """Changing a resolved session (other than reopening) hints at reopen."""
    await closing.resolve_session(ctx, session, NOTE)
    with pytest.raises(ConflictError) as err:
        await sessions.pause_session(ctx, session)
    assert err.value.hint is not None and "reopen" in err.value.hint


@pytest.mark.parametrize("status", ["active", "paused", "escalated"])
async def test_reopen_only_from_resolved_or_abandoned(ctx, session, status):
    """reopen refuses open sessions with a clear message."""
    await put_in(ctx, session, status)
    message = f"only a resolved or abandoned session can be reopened; this one is {status}"
    with pytest.raises(ConflictError, match=message):
        await sessions.reopen_session(ctx, session)
    assert (await reload(ctx, session)).status == status


@pytest.mark.parametrize("status", ["resolved", "abandoned"])
async def test_reopen_makes_active(ctx, session, status):
    """reopen brings a resolved or abandoned session back to active."""
    await put_in(ctx, session, status)
    await sessions.reopen_session(ctx, session)
    assert (await reload(ctx, session)).status == "active"


# --- abandon ------------------------------------------------------------------------


async def test_abandon_with_reason(ctx, session):
    """abandon stores the reason (one line) and the time."""
    ctx.clock = lambda: T0 + timedelta(hours=1)
    await sessions.abandon_session(ctx, session, "  duplicate of\n ticket 48290 ")
    await reload(ctx, session)
    assert session.status == "abandoned"
    assert session.abandon_reason == "duplicate of ticket 48290"
    assert session.abandoned_at == T0 + timedelta(hours=1)


async def test_abandon_without_reason(ctx, session):
    """The abandon reason is optional."""
    await sessions.abandon_session(ctx, session)
    await reload(ctx, session)
    assert session.status == "abandoned"
    assert session.abandon_reason is None
    assert session.abandoned_at is not None


async def test_abandon_reason_too_long_changes_nothing(ctx, session):
    """An over-long reason is a usage error and the session stays open."""
    before = snapshot(await reload(ctx, session))
    with pytest.raises(UsageError, match="too long"):
        await sessions.abandon_session(ctx, session, "x" * 501)
    assert snapshot(await reload(ctx, session)) == before


# --- timers ---------------------------------------------------------------------------


async def test_timers_accrue_active_and_parked(ctx):
    """Active and parked seconds accrue from status transitions (SPEC §3)."""
    clock = Clock()
    ctx.clock = clock
    session = await sessions.create_session(ctx, "Printer offline.")
    assert session.status_changed_at == T0

    clock.advance(100)
    assert sessions.live_timers(session, clock.now) == sessions.Timers(100, 0)
    await sessions.pause_session(ctx, session)
    await reload(ctx, session)
    assert (session.active_seconds, session.parked_seconds) == (100, 0)

    clock.advance(60)
    assert sessions.live_timers(session, clock.now) == sessions.Timers(100, 60)
    await sessions.resume_session(ctx, session)
    await reload(ctx, session)
    assert (session.active_seconds, session.parked_seconds) == (100, 60)

    clock.advance(40)
    await closing.resolve_session(ctx, session, NOTE)
    await reload(ctx, session)
    assert (session.active_seconds, session.parked_seconds) == (140, 60)

    clock.advance(1000)  # resolved: nothing accrues
    assert sessions.live_timers(session, clock.now) == sessions.Timers(140, 60)
    await sessions.reopen_session(ctx, session)
    clock.advance(15)
    await sessions.abandon_session(ctx, session)
    await reload(ctx, session)
    assert (session.active_seconds, session.parked_seconds) == (155, 60)


async def test_paused_time_is_counted_when_closing_from_paused(ctx):
    """Resolving a paused session adds the paused time to the parked counter."""
    clock = Clock()
    ctx.clock = clock
    session = await sessions.create_session(ctx, "VPN drops.")
    clock.advance(30)
    await sessions.pause_session(ctx, session)
    clock.advance(90)
    await closing.resolve_session(ctx, session, NOTE)
    await reload(ctx, session)
    assert (session.active_seconds, session.parked_seconds) == (30, 90)


async def test_refused_transition_does_not_touch_timers(ctx):
    """A refused transition accrues nothing and keeps status_changed_at."""
    clock = Clock()
    ctx.clock = clock
    session = await sessions.create_session(ctx, "VPN drops.")
    clock.advance(50)
    with pytest.raises(ConflictError):
        await sessions.resume_session(ctx, session)
    await reload(ctx, session)
    assert (session.active_seconds, session.status_changed_at) == (0, T0)


# --- creation and titles -------------------------------------------------------------


async def test_title_is_the_first_sentence(ctx):
    """Without an LLM the title is the first sentence of the description, without its full stop."""
    session = await sessions.create_session(ctx, "Outlook prompts for a password after a reset. It started Monday.")
    await reload(ctx, session)
    assert session.title == "Outlook prompts for a password after a reset"
    assert session.intake_text == "Outlook prompts for a password after a reset. It started Monday."
    assert session.intake_type == "free_text"
    assert session.status == "active"
    assert session.owner_id == ctx.engineer.id
    assert session.account_id == ctx.account.id
    assert session.state_version == 0


async def test_long_title_is_truncated(ctx):
    """A long first sentence is cut at a word boundary with an ellipsis."""
    text = "Outlook " + "keeps asking for the password again " * 6 + "forever."
    session = await sessions.create_session(ctx, text)
    await reload(ctx, session)
    assert session.title is not None
    assert len(session.title) <= 80
    assert session.title.endswith("…")
    assert session.title.startswith("Outlook keeps asking")


async def test_explicit_title_wins(ctx):
    """A given title replaces the generated one."""
    session = await sessions.create_session(ctx, "Outlook prompts. Since Monday.", title="  CW 48291:  Outlook  ")
    assert (await reload(ctx, session)).title == "CW 48291: Outlook"


async def test_empty_session(ctx):
    """A session without a description is empty and untitled."""
    session = await sessions.create_session(ctx)
    await reload(ctx, session)
    assert session.intake_type == "empty"
    assert session.title is None
    assert session.intake_text is None


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
async def test_empty_description_is_refused(ctx, text):
    """An empty description is a usage error and creates nothing."""
    before = await sessions.count_sessions(ctx)
    with pytest.raises(UsageError, match="the problem description is empty"):
        await sessions.create_session(ctx, text)
    assert await sessions.count_sessions(ctx) == before


async def test_blank_title_is_refused(ctx):
    """A given title must not be blank."""
    before = await sessions.count_sessions(ctx)
    with pytest.raises(UsageError, match="the title is empty"):
        await sessions.create_session(ctx, "Printer offline.", title="   ")
    assert await sessions.count_sessions(ctx) == before


# --- ownership --------------------------------------------------------------------------


async def hand_to_other_engineer(ctx, session: SessionRow) -> Engineer:
    other = Engineer(account_id=ctx.account.id, email="other@example.com", display_name="Other Engineer")
    ctx.db.add(other)
    await ctx.db.flush()
    session.owner_id = other.id
    await ctx.db.commit()
    return other


@pytest.mark.parametrize("action", ["pause", "resolve", "escalate", "abandon"])
async def test_other_engineers_session_cannot_be_changed(ctx, session, action):
    """Only the owner changes a session; others get ConflictError and nothing changes."""
    await hand_to_other_engineer(ctx, session)
    before = snapshot(await reload(ctx, session))
    with pytest.raises(ConflictError, match="belongs to Other Engineer"):
        await run_action(ctx, session, action)
    assert snapshot(await reload(ctx, session)) == before


@pytest.mark.parametrize("status", ["paused", "resolved"])
async def test_other_engineers_session_cannot_be_resumed_or_reopened(ctx, session, status):
    """Resume and reopen are owner-only too."""
    await put_in(ctx, session, status)
    await hand_to_other_engineer(ctx, session)
    before = snapshot(await reload(ctx, session))
    with pytest.raises(ConflictError, match="belongs to Other Engineer"):
        await run_action(ctx, session, "resume" if status == "paused" else "reopen")
    with pytest.raises(ConflictError, match="belongs to Other Engineer"):
        await sessions.rename_session(ctx, session, "Mine now")
    assert snapshot(await reload(ctx, session)) == before


# --- lookup -------------------------------------------------------------------------------


async def test_find_by_full_id_and_prefix(ctx, session):
    """A session is found by its full id, or a unique prefix, in any case."""
    assert (await sessions.get_session(ctx, session.id)).id == session.id
    assert (await sessions.get_session(ctx, session.id[:8])).id == session.id
    assert (await sessions.get_session(ctx, session.id[:4].upper())).id == session.id


@pytest.mark.parametrize("ref", ["", "abc", "xyz!", "not-an-id", "12345678-zzzz", "g" * 36, "0" * 37])
async def test_malformed_id_is_a_usage_error(ctx, session, ref):
    """A malformed session id is a usage error."""
    with pytest.raises(UsageError):
        await sessions.get_session(ctx, ref)


async def test_unknown_id_is_not_found(ctx, session):
    """A well-formed id of no session is not found."""
    unknown = str(uuid.uuid4())
    while unknown[:8] == session.id[:8]:
        unknown = str(uuid.uuid4())
    with pytest.raises(NotFoundError):
        await sessions.get_session(ctx, unknown)
    with pytest.raises(NotFoundError):
        await sessions.get_session(ctx, unknown[:8])


async def test_ambiguous_prefix_is_a_usage_error(ctx):
    """A prefix matching two sessions asks for more of the id."""
    prefix = uuid.uuid4().hex[:8]
    for n in (1, 2):
        ctx.db.add(
            SessionRow(
                id=f"{prefix}-0000-4000-8000-{n:012d}",
                account_id=ctx.account.id,
                owner_id=ctx.engineer.id,
                status="active",
            )
        )
    await ctx.db.commit()
    with pytest.raises(UsageError, match="matches more than one session"):
        await sessions.get_session(ctx, prefix)
    found = await sessions.get_session(ctx, f"{prefix}-0000-4000-8000-000000000002")
    assert found.id.endswith("2")


async def test_other_accounts_session_is_not_found(ctx):
    """Lookups are scoped to the current account."""
    account = Account(name=f"other-{uuid.uuid4().hex[:10]}")
    ctx.db.add(account)
    await ctx.db.flush()
    engineer = Engineer(account_id=account.id, email="x@example.com", display_name="X")
    ctx.db.add(engineer)
    await ctx.db.flush()
    foreign = SessionRow(account_id=account.id, owner_id=engineer.id, status="active", title="Not yours")
    ctx.db.add(foreign)
    await ctx.db.commit()
    with pytest.raises(NotFoundError):
        await sessions.get_session(ctx, foreign.id)
    assert foreign.id not in [s.id for s in (await sessions.session_page(ctx)).sessions]


async def test_escalated_time_counts_as_parked(ctx):
    """Time spent escalated (waiting on the next engineer) accrues as parked time."""
    clock = Clock()
    ctx.clock = clock
    session = await sessions.create_session(ctx, "Mailbox full.")
    clock.advance(20)
    await closing.escalate_session(ctx, session, NOTE)
    clock.advance(300)
    assert sessions.live_timers(session, clock.now) == sessions.Timers(20, 300)
    await closing.resolve_session(ctx, session, NOTE)
    await reload(ctx, session)
    assert (session.active_seconds, session.parked_seconds) == (20, 300)
