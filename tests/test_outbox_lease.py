"""The outbox delivery lease and content-based adoption, in process, on both stores (issue 12, items 1, 2, 12).

The subprocess version of these attacks is tests/test_outbox_concurrency.py.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from rfpilot.core.closeout import closing, psa, tickets, writeback
from rfpilot.db.models import OutboxItem
from rfpilot.errors import QueuedError
from tests.test_psa_writeback import NOTE, _linked_session, _notes, _other_psa


async def _item(ctx, row) -> OutboxItem:
    [item] = (await ctx.db.execute(select(OutboxItem).where(OutboxItem.session_id == row.id))).scalars()
    return item


async def _queued_resolve(ctx, cw):
    """A resolve whose first attempt found the PSA down: one pending item, nothing posted."""
    row = await _linked_session(ctx, cw, resolve="Resolved")
    cw.down = True
    with pytest.raises(QueuedError):
        await closing.resolve_session(ctx, row, NOTE)
    cw.down = False
    cw.requests.clear()
    return row, await _item(ctx, row)


async def _lease(ctx, item, owner: str | None, expires_in: timedelta | None, **values) -> None:
    until = ctx.now() + expires_in if expires_in is not None else None
    async with ctx.tx():
        await ctx.db.execute(update(OutboxItem).where(OutboxItem.id == item.id)
                             .values(lease_owner=owner, lease_expires_at=until, **values))
    await ctx.db.refresh(item)


async def test_a_live_lease_of_another_process_means_busy_never_a_post(ctx, cw, memory_keyring) -> None:
    row, item = await _queued_resolve(ctx, cw)
    await _lease(ctx, item, "otherhost:4242:abc", timedelta(minutes=2))
    report = await writeback.sync(ctx)
    assert not report.delivered and not report.failed
    [(queued, reason)] = report.queued
    assert queued.id == item.id and "another rfpilot process" in reason and "otherhost:4242" in reason
    assert _notes(cw) == [] and not cw.calls("POST")
    with pytest.raises(writeback.Busy) as err:  # `outbox retry` and the TUI get the same answer
        await writeback.attempt(ctx, item)
    assert err.value.exit_code == 6
    await ctx.db.refresh(item)
    assert item.lease_owner == "otherhost:4242:abc" and item.attempts == 1  # not touched


async def test_an_expired_lease_is_taken_over_after_reading_the_ticket(ctx, cw, memory_keyring) -> None:
    # The holder died right after committing post_started_at and sending the note: the note is on the ticket.
    row, item = await _queued_resolve(ctx, cw)
    cw.add_note(48307, writeback.posted_text(item), resolution=True, author="rfpilot-api")
    await _lease(ctx, item, "deadhost:1:abc", timedelta(minutes=-1), post_started_at=ctx.now())
    report = await writeback.sync(ctx)
    [delivery] = report.delivered
    assert delivery.adopted and len(_notes(cw)) == 1
    await ctx.db.refresh(item)
    assert item.state == "delivered" and item.lease_owner is None and item.lease_expires_at is None


async def test_an_expired_lease_without_a_started_post_still_reads_the_ticket_first(ctx, cw, memory_keyring) -> None:
    row, item = await _queued_resolve(ctx, cw)
    await _lease(ctx, item, "deadhost:1:abc", timedelta(seconds=-1))
    report = await writeback.sync(ctx)
    assert report.delivered and not report.delivered[0].adopted and len(_notes(cw)) == 1
    paths = [(r.method, r.url.path) for r in cw.requests]
    first_read = paths.index(("GET", cw.api_prefix + "/service/tickets/48307/notes"))
    assert first_read < paths.index(("POST", cw.api_prefix + "/service/tickets/48307/notes"))


async def test_a_lease_lost_before_the_post_posts_nothing(ctx, cw, memory_keyring, monkeypatch) -> None:
    """A process paused past its lease (another took over) finds out in the UPDATE that records the post."""
    row, item = await _queued_resolve(ctx, cw)
    real = writeback._renew

    async def stolen(ctx_, item_, lease, **values):
        await _lease(ctx_, item_, "thief:2:def", timedelta(minutes=5))
        return await real(ctx_, item_, lease, **values)

    monkeypatch.setattr(writeback, "_renew", stolen)
    with pytest.raises(writeback.Busy, match="taken over"):
        await writeback.attempt(ctx, item)
    assert _notes(cw) == []
    await ctx.db.refresh(item)
    assert item.lease_owner == "thief:2:def" and item.post_started_at is None and item.state == "pending"


async def test_killed_mid_post_keeps_the_lease_until_it_expires(ws, cw, memory_keyring, monkeypatch) -> None:
    async with ws.ctx() as ctx:
        row, item = await _queued_resolve(ctx, cw)

        async def killed(*args, **kwargs):
            cw.add_note(48307, args[2], resolution=True)  # the PSA got it; then the process is killed
            raise KeyboardInterrupt

        from rfpilot.psa.connectwise import ConnectWiseClient

        real = ConnectWiseClient.post_note
        monkeypatch.setattr(ConnectWiseClient, "post_note", killed)
        with pytest.raises(KeyboardInterrupt):
            await writeback.attempt(ctx, item)
        monkeypatch.setattr(ConnectWiseClient, "post_note", real)
    async with ws.ctx() as ctx:
        item = await ctx.db.get(OutboxItem, item.id)
        assert item.lease_owner is not None and item.post_started_at is not None  # the lease was kept
        report = await writeback.sync(ctx)
        assert [q.id for q, _ in report.queued] == [item.id] and len(_notes(cw)) == 1  # busy, not posted
        await _lease(ctx, item, item.lease_owner, timedelta(seconds=-1))  # ... until it expires
        [delivery] = (await writeback.sync(ctx)).delivered
        assert delivery.adopted and len(_notes(cw)) == 1


async def test_api_member_keys_a_lost_reply_adopts_the_note_whoever_wrote_it(ctx, cw, memory_keyring) -> None:
    """Issue 12 item 2: notes posted with API-member keys are recorded under the API member, not --member."""
    settings, secrets = cw.connection(member="jdoe")
    await psa.connect(ctx, "connectwise", "main", settings, secrets, targets={"resolve": {"": "Resolved"}})
    row = await tickets.session_from_ticket(ctx, "48307")
    cw.fail_after_post = True
    done = await closing.resolve_session(ctx, row, NOTE)
    [note] = _notes(cw)
    assert note["member"]["identifier"] == "rfpilot-api"  # not jdoe
    assert done.adopted and done.outcome == "resolved" and done.external_id == str(note["id"])


async def test_the_same_text_by_someone_else_before_the_post_is_not_adopted(ctx, cw, memory_keyring) -> None:
    """Adoption is by the tag: an identical untagged note written earlier is someone else's."""
    row, item = await _queued_resolve(ctx, cw)
    clock, cw._clock = cw._clock, ctx.now() - timedelta(hours=3)
    cw.add_note(48307, NOTE, resolution=True, author="jdoe")  # a teammate's note, hours before our attempt
    cw._clock = clock
    await _lease(ctx, item, None, None, post_started_at=ctx.now())  # our post started; its outcome is unknown
    report = await writeback.sync(ctx)
    [delivery] = report.delivered
    assert not delivery.adopted and len(_notes(cw)) == 2
    assert writeback.note_tag(item.id) in _notes(cw)[-1]["text"]


@pytest.mark.parametrize("order", ["oldest", "newest"])
@pytest.mark.parametrize("provider", ["connectwise", "autotask", "halo"])
async def test_adoption_finds_the_note_in_any_order_and_past_the_first_page(
    ctx, cw, memory_keyring, monkeypatch, provider, order
) -> None:
    """Issue 12 item 12: 32 earlier notes, listed oldest or newest first, pages of 10; the reply is lost."""
    if provider == "connectwise":
        fake = cw
        cw.notes_order, cw.max_page_size = order, 10
        for k in range(32):
            cw.add_note(48307, f"earlier note {k}", internal=True, author="jdoe")
        settings, secrets = cw.connection(member="jdoe")
        ticket, notes = "48307", (lambda: cw.notes[48307])
    else:
        fake, settings, secrets, *_, notes, _status = _other_psa(provider, monkeypatch)
        if provider == "autotask":
            fake.list_order, fake.page_size = order, 10
            for k in range(32):
                fake.add_note(4711, f"earlier note {k}")
        else:
            fake.actions_order, fake.max_page_size = order, 10
            for k in range(32):
                fake.seed_action(4711, f"earlier note {k}")
        ticket = "4711"
    await psa.connect(ctx, provider, "main", settings, secrets)
    row = await tickets.session_from_ticket(ctx, ticket)
    before = len(notes())
    fake.fail_after_post = True
    done = await closing.escalate_session(ctx, row, "## Problem\nStuck on the VPN.")
    assert done.adopted and len(notes()) == before + 1
