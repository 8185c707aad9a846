"""Sessions of any size (issue 14): the transcript and the lane show a page, read from the store a page at a
time; opening a big session never reads every message or fact. On SQLite and on Postgres."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from tests.fakes.bulk import fill

MESSAGES = 2000
FACTS = 2000
ITEMS = 2000  # questions, and checks


# --- the core: keyset pages and counts -------------------------------------------------------------


async def test_message_pages_walk_back_in_order(ctx, session) -> None:
    from rfpilot.core.engine import chat

    await fill(ctx, session, messages=250)
    assert await chat.count_messages(ctx, session) == 250
    latest = await chat.message_page(ctx, session, 40)
    assert [m.seq for m in latest] == list(range(210, 250))
    seen = [m.seq for m in latest]
    while True:
        page = await chat.message_page(ctx, session, 40, before_seq=seen[0])
        if not page:
            break
        assert [m.seq for m in page] == sorted(m.seq for m in page) and page[-1].seq == seen[0] - 1
        seen[:0] = [m.seq for m in page]
    assert seen == list(range(250))
    count, recent = await chat.recent_messages(ctx, session, 4)
    assert count == 250 and [m.display_content for m in recent] == [f"message {i}" for i in range(246, 250)]


async def test_pending_retry_reads_only_the_last_message(ctx, session, loaded_rows) -> None:
    from sqlalchemy import update

    from rfpilot.core.engine import chat
    from rfpilot.db.models import Message

    await fill(ctx, session, messages=11)  # the last one (seq 10) is the engineer's: make it a failed send
    async with ctx.tx():
        await ctx.db.execute(update(Message).where(Message.session_id == session.id, Message.seq == 10)
                             .values(status="failed"))
    ctx.db.expunge_all()
    loaded_rows.clear()
    pending = await chat.pending_retry(ctx, session)
    assert pending is not None and pending.seq == 10
    assert loaded_rows["Message"] == 1
    await fill_reply(ctx, session, seq=11)
    assert await chat.pending_retry(ctx, session) is None


async def fill_reply(ctx, session, seq: int) -> None:
    from rfpilot.db.models import Message

    async with ctx.tx():
        ctx.db.add(Message(account_id=ctx.account.id, session_id=session.id, seq=seq, role="assistant",
                           status="complete", raw_content="ok", display_content="ok"))


async def test_fact_pages_follow_the_keyset(ctx, session) -> None:
    from rfpilot.core.session import facts
    from rfpilot.core.views import fact_page, session_details

    await fill(ctx, session, facts=120)
    assert await facts.count_facts(ctx, session) == 120
    details = await session_details(ctx, session, fact_limit=50)
    assert details["fact_count"] == 120 and [f["text"] for f in details["facts"]] == [f"fact {i}" for i in range(50)]
    shown = details["facts"]
    while page := await fact_page(ctx, session, shown[-1]["id"], 50):
        shown += page
    assert [f["text"] for f in shown] == [f"fact {i}" for i in range(120)]
    assert (await session_details(ctx, session))["fact_count"] == 120  # the CLI's view: every fact


# --- the TUI ------------------------------------------------------------------------------------------


@pytest.fixture
async def big_session(ws):
    """A session with MESSAGES messages and FACTS facts."""
    from rfpilot.core.session.sessions import create_session

    async with ws.ctx() as ctx:
        row = await create_session(ctx, "Every printer on floor 3 is offline")
        await fill(ctx, row, messages=MESSAGES, facts=FACTS)
        return row.id


@pytest.fixture
def loaded_rows():
    """How many Message and Fact rows the ORM builds while the test runs."""
    from sqlalchemy import event

    from rfpilot.db.models import Fact, LaneItem, Message

    counts: Counter[str] = Counter()

    def loaded(target, _context) -> None:
        counts[type(target).__name__] += 1

    for model in (Message, Fact, LaneItem):
        event.listen(model, "load", loaded)
    yield counts
    for model in (Message, Fact, LaneItem):
        event.remove(model, "load", loaded)


async def settle(pilot) -> None:
    for _ in range(3):
        await asyncio.wait_for(pilot.app.workers.wait_for_complete(), 30)
        await pilot.pause()


def _bubbles(app) -> list[str]:
    from textual.widgets import Markdown

    out = []
    for widget in app.screen.query_one("#transcript").children:
        if "bubble" in widget.classes:
            out.append(widget.source if isinstance(widget, Markdown) else str(widget.render()))
    return out


async def test_a_big_session_opens_on_its_latest_page_without_reading_the_rest(settings, big_session,
                                                                              loaded_rows) -> None:
    from rfpilot.tui.app import RfpilotApp
    from rfpilot.tui.data import EARLIER_PAGE, FACT_PAGE, MESSAGE_PAGE

    loaded_rows.clear()
    app = RfpilotApp(settings, open_session=big_session)
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot)
        # Only what is shown was read: the latest page of messages (plus the last one, for retry) and a page of facts.
        assert loaded_rows["Message"] <= MESSAGE_PAGE + 5, loaded_rows
        assert loaded_rows["Fact"] <= FACT_PAGE, loaded_rows
        transcript = app.screen.query_one("#transcript")
        assert _bubbles(app) == [f"message {i}" for i in range(MESSAGES - MESSAGE_PAGE, MESSAGES)]
        earlier = transcript.query_one(".earlier")
        assert f"{MESSAGES - MESSAGE_PAGE} earlier messages" in str(earlier.render())

        # ctrl+up brings the page before, in order, above what was shown; again, the page before that.
        loaded_rows.clear()
        await pilot.press("ctrl+up")
        await pilot.press("ctrl+up")
        await pilot.pause()
        assert loaded_rows["Message"] == 2 * EARLIER_PAGE
        first = MESSAGES - MESSAGE_PAGE - 2 * EARLIER_PAGE
        assert _bubbles(app) == [f"message {i}" for i in range(first, MESSAGES)]
        assert f"{first} earlier messages" in str(transcript.query_one(".earlier").render())
        assert transcript.scroll_y == 0  # the page brought in is the one in view


async def test_paging_to_the_first_message_removes_the_earlier_line(settings, ws) -> None:
    from rfpilot.core.session.sessions import create_session
    from rfpilot.tui.app import RfpilotApp
    from rfpilot.tui.data import EARLIER_PAGE, MESSAGE_PAGE

    total = MESSAGE_PAGE + EARLIER_PAGE + 3
    async with ws.ctx() as ctx:
        row = await create_session(ctx, "Mapped drive vanishes at logon")
        await fill(ctx, row, messages=total)
    app = RfpilotApp(settings, open_session=row.id)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        for _ in range(3):  # the third press has nothing left to read
            await pilot.press("ctrl+up")
        await pilot.pause()
        assert _bubbles(app) == [f"message {i}" for i in range(total)]
        assert not app.screen.query(".earlier")


async def test_paging_far_back_keeps_a_bounded_number_of_messages_mounted(settings, ws, monkeypatch) -> None:
    from rfpilot.core.session.sessions import create_session
    from rfpilot.tui.app import RfpilotApp
    from rfpilot.tui.data import EARLIER_PAGE, MESSAGE_PAGE
    from rfpilot.tui.widgets import transcript

    monkeypatch.setattr(transcript, "MOST", MESSAGE_PAGE + EARLIER_PAGE)
    total = 300
    async with ws.ctx() as ctx:
        row = await create_session(ctx, "Teams calls drop after 30 minutes")
        await fill(ctx, row, messages=total)
    app = RfpilotApp(settings, open_session=row.id)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+up", "ctrl+up")
        await pilot.pause()
        first = total - MESSAGE_PAGE - 2 * EARLIER_PAGE
        assert _bubbles(app) == [f"message {i}" for i in range(first, first + MESSAGE_PAGE + EARLIER_PAGE)]
        later = app.screen.query_one(".later")
        assert f"{EARLIER_PAGE} later messages" in str(later.render())
        assert app.screen.query_one("#transcript").children[-1] is later

        # ctrl+down: the latest page again.
        await pilot.press("ctrl+down")
        await settle(pilot)
        assert _bubbles(app) == [f"message {i}" for i in range(total - MESSAGE_PAGE, total)]
        assert not app.screen.query(".later")


async def test_the_lane_pages_its_facts_and_updates_in_place(settings, big_session, loaded_rows) -> None:
    from rfpilot.grammar import count
    from rfpilot.tui.app import RfpilotApp
    from rfpilot.tui.data import FACT_PAGE
    from rfpilot.tui.screens.text_prompt import TextPrompt
    from rfpilot.tui.widgets.lane import LaneRow, MoreRows

    app = RfpilotApp(settings, open_session=big_session)
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot)
        lane = app.screen.lane

        def facts() -> list[LaneRow]:
            return [r for r in lane.query(LaneRow) if r.kind == "fact"]

        assert f"WHAT WE KNOW · {FACTS}" in str(lane.query(".lane-head").first().render())
        assert [r.item["text"] for r in facts()] == [f"fact {i}" for i in range(FACT_PAGE)]
        more = lane.query_one(MoreRows)
        assert f"{count(FACTS - FACT_PAGE, 'more fact')} (enter" in str(more.render())

        # The cursor walks the rows down to the "more" row; enter there reads the next page only.
        await pilot.press("ctrl+l")
        assert app.focused is facts()[0]
        for _ in range(FACT_PAGE):
            await pilot.press("down")
        assert app.focused is more
        loaded_rows.clear()
        await pilot.press("enter")
        await pilot.pause()
        assert loaded_rows["Fact"] == FACT_PAGE + 1  # the page, and the fact it follows (its keyset)
        assert [r.item["text"] for r in facts()] == [f"fact {i}" for i in range(2 * FACT_PAGE)]
        assert app.focused is facts()[FACT_PAGE] and app.focused.item["text"] == f"fact {FACT_PAGE}"
        assert f"{count(FACTS - 2 * FACT_PAGE, 'more fact')} (enter" in str(lane.query_one(MoreRows).render())
        await pilot.press("up")
        assert app.focused is facts()[FACT_PAGE - 1]
        await pilot.press("down")

        # Editing a fact changes that row; every other row stays the same widget (no rebuild), and the
        # facts brought in stay shown.
        before = facts()
        await pilot.press("e")
        prompt = app.screen
        assert isinstance(prompt, TextPrompt)
        prompt.query_one("#prompt-text").text = "fact 50, edited"
        await pilot.press("ctrl+s")
        await settle(pilot)
        after = facts()
        assert after == before
        assert after[FACT_PAGE].item["text"] == "fact 50, edited"
        assert "fact 50, edited" in str(after[FACT_PAGE].body)
        assert app.focused is after[FACT_PAGE]

        # Deleting one removes its row; the lane still shows as many facts (the next one comes in at the end).
        await pilot.press("d")
        await pilot.pause()
        await _choose(pilot, "delete")
        await settle(pilot)
        texts = [r.item["text"] for r in facts()]
        assert texts == [f"fact {i}" for i in range(2 * FACT_PAGE + 1) if i != FACT_PAGE]
        assert facts()[0] is before[0]
        assert f"WHAT WE KNOW · {FACTS - 1}" in str(lane.query(".lane-head").first().render())


async def test_the_lane_pages_its_questions_and_checks(settings, ws, loaded_rows) -> None:
    """Questions and checks are paged like facts: a lane of thousands reads one page of each to open, its
    headings count them all, and a "more" row after each brings the next page, the cursor on its first row."""
    from rfpilot.core.session.sessions import create_session
    from rfpilot.grammar import count
    from rfpilot.tui.app import RfpilotApp
    from rfpilot.tui.data import ITEM_PAGE
    from rfpilot.tui.widgets.lane import LaneRow, MoreRows

    async with ws.ctx() as ctx:
        row = await create_session(ctx, "Every scanner on floor 2 fails")
        await fill(ctx, row, questions=ITEMS, checks=ITEMS)
    loaded_rows.clear()
    app = RfpilotApp(settings, open_session=row.id)
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot)
        assert loaded_rows["LaneItem"] <= 2 * ITEM_PAGE, loaded_rows
        lane = app.screen.lane

        def rows(kind: str) -> list[LaneRow]:
            return [r for r in lane.query(LaneRow) if r.kind == kind]

        heads = [str(h.render()) for h in lane.query(".lane-head")]
        assert f"QUESTIONS · {ITEMS} unanswered" in heads and f"DIAGNOSTIC CHECKS · 0 / {ITEMS} run" in heads
        for kind in ("question", "check"):
            assert [r.item["text"] for r in rows(kind)] == [f"{kind} {i}" for i in range(ITEM_PAGE)]
        more = {m.kind: m for m in lane.query(MoreRows)}
        assert set(more) == {"question", "check"}
        assert f"{count(ITEMS - ITEM_PAGE, 'more question')} (enter" in str(more["question"].render())

        # enter on the questions' "more" row reads the next page of questions only; the cursor goes to the first
        await pilot.press("ctrl+l")
        more["question"].focus()
        await pilot.pause()
        loaded_rows.clear()
        await pilot.press("enter")
        await settle(pilot)
        assert loaded_rows["LaneItem"] <= ITEM_PAGE + 1, loaded_rows  # the page and the item it follows
        assert [r.item["text"] for r in rows("question")] == [f"question {i}" for i in range(2 * ITEM_PAGE)]
        assert app.focused is rows("question")[ITEM_PAGE]
        assert len(rows("check")) == ITEM_PAGE
        more = {m.kind: m for m in lane.query(MoreRows)}
        assert f"{count(ITEMS - 2 * ITEM_PAGE, 'more question')} (enter" in str(more["question"].render())

        # the same for checks; a refresh (skipping a question) keeps every page shown and the other rows in place
        more["check"].focus()
        await pilot.pause()
        await pilot.press("enter")
        await settle(pilot)
        assert [r.item["text"] for r in rows("check")] == [f"check {i}" for i in range(2 * ITEM_PAGE)]
        first_check = rows("check")[0]
        rows("question")[0].focus()
        await pilot.press("s")
        await settle(pilot)
        assert len(rows("question")) == 2 * ITEM_PAGE and len(rows("check")) == 2 * ITEM_PAGE
        assert rows("check")[0] is first_check and rows("question")[0].item["state"] == "skipped"
        heads = [str(h.render()) for h in lane.query(".lane-head")]
        assert f"QUESTIONS · {ITEMS - 1} unanswered" in heads


async def _choose(pilot, key: str) -> None:
    from textual.widgets import OptionList

    options = pilot.app.screen.query_one("#choices", OptionList)
    options.highlighted = next(i for i in range(options.option_count) if options.get_option_at_index(i).id == key)
    await pilot.press("enter")


async def test_arrows_faster_than_focus_lose_no_row(settings, ws) -> None:
    """focus() lands after the key that asked for it: keys arriving before that still walk one row each."""
    from rfpilot.core.session.sessions import create_session
    from rfpilot.tui.app import RfpilotApp
    from rfpilot.tui.widgets.lane import LaneRow

    async with ws.ctx() as ctx:
        row = await create_session(ctx, "Label printer prints blank labels")
        await fill(ctx, row, facts=12)
    app = RfpilotApp(settings, open_session=row.id)
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+l")
        lane = app.screen.lane
        for _ in range(5):  # five key presses handled before any focus lands
            lane.action_move(1)
        await pilot.pause()
        assert isinstance(app.focused, LaneRow) and app.focused.item["text"] == "fact 5"
        lane.action_move(-1)
        lane.action_move(-1)
        await pilot.pause()
        assert app.focused.item["text"] == "fact 3"


async def test_a_chat_turn_appends_in_place_and_keeps_the_earlier_pages(settings, ws, monkeypatch) -> None:
    """After a turn the transcript reads only what the turn stored (from your message on): the pages loaded
    with ctrl+up stay, and past MOST mounted messages the earliest go behind the "earlier messages" line."""
    from rfpilot.core.engine import chat
    from rfpilot.core.llm.scripted import ScriptedProvider, ScriptedReply
    from rfpilot.core.session.sessions import create_session
    from rfpilot.tui.app import RfpilotApp
    from rfpilot.tui.data import EARLIER_PAGE, MESSAGE_PAGE
    from rfpilot.tui.widgets import transcript

    total = 100
    most = MESSAGE_PAGE + 2 * EARLIER_PAGE + 2  # the first turn fits; the second goes past it by 2
    monkeypatch.setattr(transcript, "MOST", most)
    async with ws.ctx() as ctx:
        row = await create_session(ctx, "Teams calls drop after 30 minutes")
        await fill(ctx, row, messages=total)
    pages: list = []
    real_page = chat.message_page

    async def counting(*args, **kwargs):
        pages.append(kwargs)
        return await real_page(*args, **kwargs)

    monkeypatch.setattr(chat, "message_page", counting)
    replies = [ScriptedReply(reply="Check the idle timeout on the SBC.", match="exactly 30 minutes"),
               ScriptedReply(reply="Then the firewall's session timer.", match="It is the SBC")]
    app = RfpilotApp(settings, open_session=row.id, provider_factory=lambda: ScriptedProvider(list(replies)))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+up", "ctrl+up")
        await settle(pilot)
        first = total - MESSAGE_PAGE - 2 * EARLIER_PAGE
        shown = [f"message {i}" for i in range(first, total)]
        assert _bubbles(app) == shown
        pages.clear()
        box = app.screen.query_one("#transcript")
        top = box.query(".bubble").first()
        app.screen.composer.text = "Calls drop at exactly 30 minutes"
        await pilot.press("enter")
        await settle(pilot)
        # one read after the turn, from the turn's message on; what was shown above it stays mounted as it was
        assert [p for p in pages if "from_seq" in p] == [{"from_seq": total}], pages
        assert box.query(".bubble").first() is top
        assert _bubbles(app) == shown + ["Calls drop at exactly 30 minutes", "Check the idle timeout on the SBC."]
        assert f"{first} earlier messages" in str(box.query_one(".earlier").render())
        user = [w for w in box.query(".bubble.user")][-1]
        assert "failed" not in user.classes and "interrupted" not in user.classes

        # A second turn passes MOST: the earliest mounted messages go behind the earlier line.
        app.screen.composer.text = "It is the SBC"
        await pilot.press("enter")
        await settle(pilot)
        bubbles = _bubbles(app)
        assert len(bubbles) == most and bubbles[-1] == "Then the firewall's session timer."
        assert bubbles[0] == f"message {first + 2}"
        assert f"{first + 2} earlier messages" in str(box.query_one(".earlier").render())
        assert len(box.query(".earlier")) == 1 and box.children[0].has_class("earlier")
