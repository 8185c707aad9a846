"""Work proportional to what is shown (issue 15): `sessions show`, `preview`, `resolve` and `escalate --handoff` on
a session of 20,000 messages and 20,000 facts read a bounded number of those rows, on SQLite and on Postgres.

Two counters, no timings (bench/scale.py has those): the Message and Fact rows the ORM builds, and every SQL
statement that reads rows of `messages` or `facts` without a LIMIT (an aggregate such as count(*) hands none
out, and the facts grouped by the lane item they came from one per item; a statement that would hand every row
of a long session to Python fails the test).
"""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest

from tests.fakes.bulk import fill

BIG = 20_000


@pytest.fixture
def reads():
    """(Message/Fact rows built by the ORM, SELECTs of messages/facts rows without a LIMIT) while the test runs."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from rfpilot.db.models import Fact, Message

    loaded: Counter[str] = Counter()
    unbounded: list[str] = []
    everything: list[str] = []
    table = re.compile(r"\bFROM\s+(messages|facts)\b", re.I)

    def on_load(target, _context) -> None:
        loaded[type(target).__name__] += 1

    def on_statement(_conn, _cursor, statement, _params, _context, _many) -> None:
        text = " ".join(statement.split())
        everything.append(text)
        if not text.upper().startswith("SELECT") or not table.search(text):
            return
        if re.search(r"\bLIMIT\b", text, re.I):
            return
        # Aggregates hand back one row (per group: per lane item), not the rows they read.
        head = text[: table.search(text).start()].lower()
        if re.match(r"select (count|min|max)\(", head) or re.search(r"\bgroup by facts\.source_ref\b", text, re.I):
            return
        unbounded.append(text)

    for model in (Message, Fact):
        event.listen(model, "load", on_load)
    event.listen(Engine, "before_cursor_execute", on_statement)
    yield loaded, unbounded, everything
    for model in (Message, Fact):
        event.remove(model, "load", on_load)
    event.remove(Engine, "before_cursor_execute", on_statement)


@pytest.fixture
async def big(ws) -> str:
    """A session of BIG messages and BIG facts, one of them promoted from a check, with a fix verifying."""
    from rfpilot.core.session import facts, fixes, lane
    from rfpilot.core.session.sessions import create_session

    async with ws.ctx() as ctx:
        row = await create_session(ctx, "Every printer on floor 3 is offline")
        await fill(ctx, row, messages=BIG, facts=BIG)
        check = (await lane.add_item(ctx, row, "check", "Spooler state", command="Get-Service Spooler"))
        await facts.promote(ctx, row, source_type="diagnostic_check", source_ref=check.id, text="The spooler is stopped")
        fix = await fixes.suggest_fix(ctx, row, "Restart the print spooler", description="The spooler had crashed.",
                                      confidence=85)
        await fixes.apply_fix(ctx, row, fix)
        return row.id


def _ok(cli, *args: str) -> str:
    code, out, err = cli(*args)
    assert code == 0, err
    return out


def test_show_reads_a_page_of_facts_and_counts_the_rest(cli, big, reads) -> None:
    from rfpilot.core.session.facts import FACT_PAGE
    from rfpilot.core.views import RECENT_MESSAGES

    loaded, unbounded, _ = reads
    data = json.loads(_ok(cli, "sessions", "show", big, "--json"))
    assert data["fact_count"] == BIG + 1 and len(data["facts"]) == FACT_PAGE
    assert [f["text"] for f in data["facts"][:2]] == ["fact 0", "fact 1"]
    assert data["messages"]["count"] == BIG and len(data["messages"]["last"]) == RECENT_MESSAGES
    assert loaded["Fact"] <= FACT_PAGE and loaded["Message"] <= RECENT_MESSAGES, loaded
    assert not unbounded, unbounded

    text = _ok(cli, "sessions", "show", big)
    assert f"What we know · {BIG + 1:,}" in text
    assert f"… and {BIG + 1 - FACT_PAGE:,} more facts: `rfpilot facts list {big[:8]}` lists them all" in text


@pytest.mark.parametrize("kind", ["resolve", "escalate"])
def test_an_uncached_preview_reads_a_bounded_window(cli, big, reads, kind) -> None:
    from rfpilot.core.drafting.notes import NOTE_FACTS

    loaded, unbounded, _ = reads
    note = _ok(cli, "preview", kind, big, "--offline", "--force")
    assert loaded["Fact"] <= NOTE_FACTS and loaded["Message"] == 0, loaded
    assert not unbounded, unbounded
    assert "- fact 0.\n" in note and f"- … and {BIG + 1 - NOTE_FACTS:,} more facts, recorded in the session." in note
    if kind == "escalate":  # the promoted check is found, though its fact is not among those listed
        assert "- Ran check: Spooler state (`Get-Service Spooler`)." in note


def test_resolve_reads_a_bounded_window_and_its_note_fits(cli, big, reads) -> None:
    from rfpilot.core.drafting.notes import NOTE_FACTS
    from rfpilot.core.team.outputs import RECENT_WORK

    loaded, unbounded, _ = reads
    out = json.loads(_ok(cli, "resolve", big, "--yes", "--offline", "--json"))
    assert out["session_status"] == "resolved"
    # The note drafted for the close, then the outputs' bundle (the same window), and the latest turns.
    assert loaded["Fact"] <= 2 * NOTE_FACTS, loaded
    assert loaded["Message"] <= 2 * RECENT_WORK, loaded
    assert not unbounded, unbounded
    outputs = json.loads(_ok(cli, "outputs", "list", big, "--json"))
    assert len(outputs) == 3


def test_a_handoff_reads_a_bounded_window(cli, big, reads) -> None:
    from rfpilot.core.team.handoffs import RECENT_MESSAGES
    from rfpilot.core.drafting.notes import NOTE_FACTS

    loaded, unbounded, _ = reads
    _ok(cli, "escalate", big, "--handoff", "--offline")
    assert loaded["Fact"] <= NOTE_FACTS and loaded["Message"] <= RECENT_MESSAGES + 1, loaded
    assert not unbounded, unbounded


async def test_the_banner_counts_the_messages_since_a_fix_from_the_newest(ctx, session, reads) -> None:
    """A fix applied late in a long session: the banner reads back from the newest message, not the transcript."""
    from rfpilot.core.session import fixes
    from rfpilot.db.models import Message

    await fill(ctx, session, messages=2_000)  # a day old
    fix = await fixes.suggest_fix(ctx, session, "Restart the spooler", confidence=80)
    await fixes.apply_fix(ctx, session, fix)
    _, _, statements = reads
    statements.clear()
    assert await fixes.banner_state(ctx, session) == ("verifying", fix)
    about_messages = [s for s in statements if "FROM messages" in s]
    assert about_messages and all("LIMIT" in s for s in about_messages), about_messages
    for n in range(2):
        async with ctx.tx():
            ctx.db.add(Message(account_id=ctx.account.id, session_id=session.id, seq=2_000 + 2 * n, role="user",
                               status="complete", display_content="still broken", created_at=ctx.now()))
            ctx.db.add(Message(account_id=ctx.account.id, session_id=session.id, seq=2_001 + 2 * n,
                               role="assistant", status="complete", display_content="ok", created_at=ctx.now()))
    assert (await fixes.banner_state(ctx, session))[0] == "verifying"
    assert await fixes.engineer_messages_since(ctx, session, fix.applied_at) == 2
    async with ctx.tx():
        ctx.db.add(Message(account_id=ctx.account.id, session_id=session.id, seq=2_004, role="user",
                           status="complete", display_content="and again", created_at=ctx.now()))
    assert (await fixes.banner_state(ctx, session))[0] == "nudge"
    assert await fixes.engineer_messages_since(ctx, session, fix.applied_at, most=99) == 3


# --- small sessions: the same answers as reading everything ----------------------------------------------


def test_show_limit_and_all(cli) -> None:
    sid = _ok(cli, "new", "VPN drops every hour").strip()
    for n in range(4):
        _ok(cli, "facts", "add", sid, f"Fact number {n}")
    data = json.loads(_ok(cli, "sessions", "show", sid, "--limit", "3", "--json"))
    assert data["fact_count"] == 4 and [f["text"] for f in data["facts"]] == [f"Fact number {n}" for n in range(3)]
    assert "… and 1 more fact: `rfpilot facts list" in _ok(cli, "sessions", "show", sid, "--limit", "3")
    assert len(json.loads(_ok(cli, "sessions", "show", sid, "--all", "--limit", "1", "--json"))["facts"]) == 4
    assert "more fact" not in _ok(cli, "sessions", "show", sid)
    code, _, err = cli("sessions", "show", sid, "--limit", "0")
    assert code != 0 and "--limit" in err


def test_the_cli_default_is_the_fact_page() -> None:
    import inspect

    from rfpilot.cli.sessions import sessions_show
    from rfpilot.core.session.facts import FACT_PAGE

    assert inspect.signature(sessions_show).parameters["limit"].default.default == FACT_PAGE


async def test_the_facts_window_stops_at_its_character_budget(ctx, session) -> None:
    from rfpilot.core.session import facts

    for n in range(5):
        await facts.add_note(ctx, session, f"{n}" * 1000)
    shown, total = await facts.facts_window(ctx, session, 4, chars=2500)
    assert [f.text[0] for f in shown] == ["0", "1"] and total == 5
    shown, total = await facts.facts_window(ctx, session, 10, chars=10)  # the first fact always stays
    assert len(shown) == 1 and total == 5
    shown, total = await facts.facts_window(ctx, session, None)
    assert len(shown) == total == 5


async def test_the_latest_turns_skip_blank_messages_within_the_scan(ctx, session) -> None:
    from sqlalchemy import update

    from rfpilot.core.session import branches
    from rfpilot.core.team.outputs import RECENT_WORK, build_bundle
    from rfpilot.db.models import Message

    await fill(ctx, session, messages=60)  # even seqs are the engineer's
    async with ctx.tx():  # the engineer's last ten messages say nothing
        await ctx.db.execute(update(Message).where(Message.session_id == session.id, Message.seq >= 40,
                                                   Message.role == "user").values(display_content="  "))
    bundle = await build_bundle(ctx, session)
    assert bundle.recent_work == [f"message {i}" for i in range(28, 40, 2)]
    assert len(bundle.recent_work) == RECENT_WORK
    # At most ``scan`` messages are looked at: a window of the latest 8 of the engineer's finds none with text.
    found = await branches.latest_messages(ctx, session, None, 3, roles=("user",),
                                           wanted=lambda m: bool(m.display_content.strip()), scan=8)
    assert found == []
    found = await branches.latest_messages(ctx, session, None, 3, roles=("user",),
                                           wanted=lambda m: bool(m.display_content.strip()), scan=14)
    assert [m.seq for m in found] == [34, 36, 38]


def test_resolve_reads_each_thing_once(cli, reads) -> None:
    """`resolve --yes` (offline, no PSA ticket): the note's bundle is read once and handed on to the three
    resolution outputs, the draft-template offer and the outputs share one read of the session, and no statement
    re-reads what the command just read. A count, not a timing (bench/startup.py has those)."""
    code, out, err = cli("new", "Printer offline after the driver update")
    assert code == 0, err
    sid = out.strip()
    assert cli("facts", "add", sid, "Spooler was running")[0] == 0
    _, _, everything = reads
    everything.clear()
    out = json.loads(_ok(cli, "resolve", sid, "--yes", "--json"))
    assert out["session_status"] == "resolved"
    selects = Counter(re.sub(r"\s+", " ", s).split(" FROM ", 1)[1].split(" ", 1)[0]
                      for s in everything if s.upper().startswith("SELECT") and " FROM " in s)
    assert selects["facts"] == 2, selects  # the bundle's window and its promoted checks: once
    assert selects["script_runs"] == 1 and selects["session_branches"] == 2, selects  # bundle; the outputs' map
    # The close and its row lock; the offer and the outputs take the row as the close committed it.
    assert selects["sessions"] == 2, selects
    assert selects["messages"] == 0, selects  # the latest turns are a model's input only
    assert selects["account_settings"] == 0, selects  # no draft templates to offer: the preference is not read
    assert selects["session_resolution_outputs"] == 1, selects
    # A session never handed off has no handoff to withdraw: the close does not write to the queue.
    assert not [s for s in everything if s.startswith("UPDATE session_handoffs")], everything
    # The three outputs: one INSERT, in one transaction.
    assert len([s for s in everything if s.startswith("INSERT INTO session_resolution_outputs")]) == 1, everything
    # Nor the offline draft of the note it stores itself: no preview_cache write.
    assert not [s for s in everything if s.startswith(("DELETE FROM preview_cache", "INSERT INTO preview_cache"))]
    assert len(everything) <= 19, everything
