"""PSA writeback through the outbox (SPEC §9), on both stores, against the ConnectWise fake.

Exactly once, verified status changes, queued delivery, and secrets that never reach the database.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from rfpilot.core.closeout import closing, psa, tickets, writeback
from rfpilot.db.models import OutboxItem, SessionRow
from rfpilot.errors import ConfigError, ConflictError, PSAError, QueuedError

NOTE = "## Problem\nOutlook asked for the password.\n\n## What we confirmed\n- Cached credential.\n\n" \
       "## Root cause\nA stale credential.\n\n## Resolution\nCleared it."


async def _connect(ctx, fake, **targets):
    settings, secrets = fake.connection()
    return await psa.connect(ctx, "connectwise", "main", settings, secrets,
                             targets={a: {"": s} for a, s in targets.items()})


async def _linked_session(ctx, fake, **targets) -> SessionRow:
    await _connect(ctx, fake, **targets)
    return await tickets.session_from_ticket(ctx, "48307")


def _notes(fake) -> list[dict]:
    """The notes rfpilot posted (the ticket's first note is its seeded description)."""
    return fake.notes[48307][1:]


def _status(fake) -> str:
    return fake.tickets[48307]["status"]["name"]


async def _items(ctx, session) -> list[OutboxItem]:
    rows = await ctx.db.execute(select(OutboxItem).where(OutboxItem.session_id == session.id).order_by(OutboxItem.seq))
    return list(rows.scalars())


async def test_a_session_from_a_ticket_carries_its_context(ctx, cw, memory_keyring) -> None:
    row = await _linked_session(ctx, cw)
    assert row.ticket_ref == "CW #48307" and row.psa_ticket_id == "48307" and row.intake_type == "psa_ticket"
    assert row.client_name == "Contoso Ltd" and row.title == "Outlook keeps asking for the password"
    doc = row.ticket_context
    assert doc["board"] == "Help Desk" and doc["status"] == "New"
    assert "after the reset" in doc["description"]
    from rfpilot.core.engine.chat import ticket_context

    assert "Outlook prompts for a password after the reset." in ticket_context(row)  # uncached context
    with pytest.raises(ConflictError, match="already has an open session"):
        await tickets.session_from_ticket(ctx, "48307")


async def test_resolve_posts_a_resolution_note_and_verifies_the_status(ctx, cw, memory_keyring) -> None:
    row = await _linked_session(ctx, cw, resolve="Resolved")
    done = await closing.resolve_session(ctx, row, NOTE)
    assert done.outcome == "resolved" and done.verified_status == "Resolved"
    posted = _notes(cw)
    assert len(posted) == 1 and posted[0]["resolutionFlag"] is True and posted[0]["internalAnalysisFlag"] is False
    [item] = await _items(ctx, row)  # the note carries the item's idempotency tag on a last line of its own
    assert posted[0]["text"] == NOTE + "\n\n" + writeback.note_tag(item.id)
    assert writeback.note_tag(item.id).startswith("rfpilot ref ")
    assert _status(cw) == "Resolved"
    await ctx.db.refresh(row)
    assert row.status == "resolved" and row.resolution_note_external_id == str(posted[0]["id"])
    assert row.resolution_note_posted_at is not None
    assert [i.state for i in await _items(ctx, row)] == ["delivered"]
    assert "ticket status is now 'Resolved'" in "\n".join(closing.result_lines(done))


async def test_a_status_that_does_not_stick_fails_loudly_and_never_posts_twice(ctx, cw, memory_keyring) -> None:
    row = await _linked_session(ctx, cw, resolve="Resolved")
    cw.keep_old_status = True
    with pytest.raises(PSAError, match="still 'New' after the change to 'Resolved'") as err:
        await closing.resolve_session(ctx, row, NOTE)
    assert err.value.exit_code == 4
    await ctx.db.refresh(row)
    assert row.status == "active"  # never a silent success
    [item] = await _items(ctx, row)
    assert item.state == "failed" and item.external_id == str(_notes(cw)[0]["id"])
    # Run it again: the note is not posted a second time.
    with pytest.raises(PSAError, match="did not apply it"):
        await closing.resolve_session(ctx, row, NOTE)
    assert len(_notes(cw)) == 1
    # Fixed on the PSA side: the next attempt only changes the status.
    cw.keep_old_status = False
    done = await closing.resolve_session(ctx, row, NOTE)
    assert done.outcome == "resolved" and len(_notes(cw)) == 1 and _status(cw) == "Resolved"
    assert done.external_id == item.external_id


async def test_an_unreachable_psa_queues_the_note_then_sync_delivers_it_once(ctx, cw, memory_keyring) -> None:
    row = await _linked_session(ctx, cw, resolve="Resolved")
    cw.down = True
    with pytest.raises(QueuedError) as err:
        await closing.resolve_session(ctx, row, NOTE)
    assert err.value.exit_code == 6 and "outbox sync" in (err.value.hint or "")
    await ctx.db.refresh(row)
    assert row.status == "active"
    from rfpilot.core.views import session_details

    assert (await session_details(ctx, row))["psa_delivery"]["state"] == "queued"
    report = await writeback.sync(ctx)
    assert report.queued and not report.delivered  # still down
    cw.down = False
    report = await writeback.sync(ctx)
    assert [d.status for d in report.delivered] == ["Resolved"]
    assert len(_notes(cw)) == 1 and _status(cw) == "Resolved"
    await ctx.db.refresh(row)
    assert row.status == "resolved"
    assert (await writeback.sync(ctx)).delivered == []
    assert len(_notes(cw)) == 1


async def test_killed_after_the_post_before_storing_its_id_adopts_the_note(ws, cw, memory_keyring, monkeypatch) -> None:
    async with ws.ctx() as ctx:
        row = await _linked_session(ctx, cw, resolve="Resolved")
        real = writeback._record_post

        async def die(*args, **kwargs):
            raise KeyboardInterrupt  # the process dies right after the PSA answered

        monkeypatch.setattr(writeback, "_record_post", die)
        with pytest.raises(KeyboardInterrupt):
            await closing.resolve_session(ctx, row, NOTE)
        monkeypatch.setattr(writeback, "_record_post", real)
    assert len(_notes(cw)) == 1
    async with ws.ctx() as ctx:  # a new run
        [item] = await _items(ctx, row)
        assert item.post_started_at is not None and item.external_id is None and item.state == "pending"
        report = await writeback.sync(ctx)
        assert report.delivered and report.delivered[0].adopted
        assert len(_notes(cw)) == 1 and _status(cw) == "Resolved"
        assert (await ctx.db.get(SessionRow, row.id)).status == "resolved"


async def test_killed_between_the_note_and_the_status_change(ws, cw, memory_keyring, monkeypatch) -> None:
    async with ws.ctx() as ctx:
        row = await _linked_session(ctx, cw, resolve="Resolved")

        real = writeback._change_status

        async def die(*args, **kwargs):
            raise KeyboardInterrupt

        monkeypatch.setattr(writeback, "_change_status", die)
        with pytest.raises(KeyboardInterrupt):
            await closing.resolve_session(ctx, row, NOTE)
        monkeypatch.setattr(writeback, "_change_status", real)
    async with ws.ctx() as ctx:
        [item] = await _items(ctx, row)
        assert item.external_id is not None
        report = await writeback.sync(ctx)
        assert report.delivered and not report.delivered[0].adopted
        assert len(_notes(cw)) == 1 and _status(cw) == "Resolved"


async def test_an_ambiguous_failure_finds_the_note_instead_of_posting_again(ctx, cw, memory_keyring) -> None:
    row = await _linked_session(ctx, cw, resolve="Resolved")
    cw.fail_after_post = True  # applied, then the answer is lost
    done = await closing.resolve_session(ctx, row, NOTE)
    assert done.adopted and len(_notes(cw)) == 1 and done.outcome == "resolved"


async def test_escalate_posts_an_internal_note(ctx, cw, memory_keyring) -> None:
    row = await _linked_session(ctx, cw, escalate="Escalated")
    done = await closing.escalate_session(ctx, row, "## Problem\nStuck.")
    [note] = _notes(cw)
    assert note["internalAnalysisFlag"] is True and note["resolutionFlag"] is False
    assert note["detailDescriptionFlag"] is False
    assert done.outcome == "escalated" and _status(cw) == "Escalated"


async def test_without_a_target_status_the_ticket_keeps_its_status(ctx, cw, memory_keyring) -> None:
    row = await _linked_session(ctx, cw)
    done = await closing.resolve_session(ctx, row, NOTE)
    assert done.outcome == "resolved" and done.verified_status is None
    assert "left as it was" in done.status_skipped
    assert _status(cw) == "New" and not cw.calls("PATCH")


async def test_an_unknown_target_status_names_the_choices(ctx, cw, memory_keyring) -> None:
    row = await _linked_session(ctx, cw, resolve="Closed - Fixed")
    with pytest.raises(PSAError, match="no status named 'Closed - Fixed'") as err:
        await closing.resolve_session(ctx, row, NOTE)
    assert "Resolved" in err.value.hint
    assert not cw.calls("PATCH")


async def test_share_update_posts_an_internal_note_and_leaves_the_status(ctx, cw, memory_keyring) -> None:
    from rfpilot.core.session import facts
    from rfpilot.core.closeout import updates

    row = await _linked_session(ctx, cw, resolve="Resolved")
    await facts.add_note(ctx, row, "The cached credential predates the reset")
    delivery = await updates.share_update(ctx, row)
    [note] = _notes(cw)
    assert note["internalAnalysisFlag"] is True and "The cached credential predates the reset" in note["text"]
    assert delivery.item.state == "delivered" and _status(cw) == "New"
    await ctx.db.refresh(row)
    assert row.status == "active"


async def test_time_entry_logs_the_rounded_active_time(ctx, cw, memory_keyring) -> None:
    row = await _linked_session(ctx, cw, resolve="Resolved")
    row.active_seconds = 50 * 60
    done = await closing.resolve_session(ctx, row, NOTE, log_time=True)
    assert done.time_entry["hours"] == 1.0 and "error" not in done.time_entry
    [entry] = cw.time_entries
    assert entry["chargeToType"] == "ServiceTicket" and entry["chargeToId"] == 48307 and entry["actualHours"] == 1.0


def test_billable_hours() -> None:
    assert writeback.billable_hours(0, 0.25) == 0.25
    assert writeback.billable_hours(15 * 60, 0.25) == 0.25
    assert writeback.billable_hours(16 * 60, 0.25) == 0.5
    assert writeback.billable_hours(90 * 60, 0.5) == 1.5
    assert writeback.billable_hours(100 * 60, 0) == 1.67


async def test_writes_to_one_ticket_go_in_order(ctx, cw, memory_keyring) -> None:
    from rfpilot.core.closeout import updates

    row = await _linked_session(ctx, cw, resolve="Resolved")
    cw.error_next = (400, {"code": "InvalidObject", "message": "note object is invalid", "errors": []})
    with pytest.raises(PSAError, match="note object is invalid"):
        await updates.share_update(ctx, row, "First update")
    with pytest.raises(QueuedError, match="waits for an earlier write"):
        await closing.resolve_session(ctx, row, NOTE)
    assert _notes(cw) == []
    first = (await _items(ctx, row))[0]
    await writeback.retry(ctx, first)
    report = await writeback.sync(ctx)
    assert [d.item.kind for d in report.delivered] == ["resolve"]
    assert [n["text"] for n in _notes(cw)] == [  # each note carries its item's tag
        f"First update\n\n{writeback.note_tag(first.id)}", f"{NOTE}\n\n{writeback.note_tag(report.delivered[0].item.id)}"]


async def test_closing_locally_drops_a_queued_note_that_never_left(ctx, cw, memory_keyring) -> None:
    row = await _linked_session(ctx, cw, resolve="Resolved")
    cw.down = True
    with pytest.raises(QueuedError):
        await closing.resolve_session(ctx, row, NOTE)
    [item] = await _items(ctx, row)
    assert item.post_started_at is None  # a connection that never opened posted nothing
    done = await closing.resolve_session(ctx, row, NOTE, local=True)
    assert done.outcome == "resolved_local"
    await ctx.db.refresh(item)
    assert item.state == "superseded"
    cw.down = False
    assert (await writeback.sync(ctx)).delivered == [] and _notes(cw) == []


async def test_closing_locally_is_refused_once_a_note_may_be_on_the_ticket(ctx, cw, memory_keyring) -> None:
    row = await _linked_session(ctx, cw, resolve="Resolved")
    cw.keep_old_status = True
    with pytest.raises(PSAError):
        await closing.resolve_session(ctx, row, NOTE)
    with pytest.raises(ConflictError, match="already posted"):
        await closing.resolve_session(ctx, row, NOTE, local=True)


async def test_secrets_live_in_the_keyring_not_the_store(ctx, cw, memory_keyring) -> None:
    await _linked_session(ctx, cw, resolve="Resolved")
    conn = await psa.get_connection(ctx)
    stored = {k: v for (service, k), v in memory_keyring.store.items() if service == "rfpilot"}
    assert stored[psa.secret_name(conn.id, "private_key")] == cw.private_key
    from rfpilot.db.models import load_all

    dump = []
    for table in load_all().sorted_tables:
        dump += [repr(tuple(r)) for r in (await ctx.db.execute(table.select())).all()]
    text = "\n".join(dump)
    for secret in (cw.private_key, cw.public_key, cw.client_id):
        assert secret not in text
    assert "api-na.myconnectwise.net" in text  # the settings are there


async def test_connect_without_a_keyring_explains_and_stores_nothing(ctx, cw, monkeypatch) -> None:
    from rfpilot.core import secrets as secret_store

    monkeypatch.setattr(secret_store, "backend_status",
                        lambda: secret_store.BackendStatus(False, "keyring.backends.fail.Keyring", "no backend"))
    settings, secrets = cw.connection()
    with pytest.raises(ConfigError) as err:
        await psa.connect(ctx, "connectwise", "main", settings, secrets)
    assert "RFPILOT_PSA_MAIN_PRIVATE_KEY" in err.value.hint and "dbus-run-session" in err.value.hint
    assert await psa.list_connections(ctx) == []
    # With the secrets in the environment instead, it connects and stores none of them.
    env = {psa.env_var("main", k): v for k, v in secrets.items()}
    monkeypatch.setattr("os.environ", {**env})
    result = await psa.connect(ctx, "connectwise", "main", settings, {})
    assert result.stored_secrets == [] and sorted(result.env_secrets) == sorted(secrets)
    assert psa.read_secrets(result.connection) == secrets


async def test_connect_refuses_a_setting_of_another_psa(ctx, cw, memory_keyring) -> None:
    from rfpilot.errors import UsageError

    settings, secrets = cw.connection()
    for extra, whose in (({"zone_url": "https://webservices5.autotask.net/"}, "an Autotask"),
                         ({"outcome_public": "Note"}, "a HaloPSA"), ({"colour": "red"}, None)):
        with pytest.raises(UsageError) as err:
            await psa.connect(ctx, "connectwise", "main", {**settings, **extra}, secrets)
        flag = "--" + next(iter(extra)).replace("_", "-")
        expected = f"{flag} is {whose} setting" if whose else f"ConnectWise has no setting {flag}"
        assert expected in err.value.message and "--site" in (err.value.hint or "")
    assert await psa.list_connections(ctx) == []


# --- the same writeback on Autotask and HaloPSA ------------------------------------------------------


def _other_psa(provider: str, monkeypatch):
    """(fake, settings, secrets, ticket id, closed status name, notes of the ticket) for Autotask or Halo."""
    from datetime import UTC, datetime

    from rfpilot.psa.http import RetryPolicy

    async def no_sleep(_: float) -> None:
        return None

    if provider == "autotask":
        from rfpilot.psa import autotask
        from tests.fakes.autotask import FakeAutotask

        autotask.clear_zone_cache()
        fake = FakeAutotask()
        fake._clock = datetime.now(UTC)
        fake.add_ticket(4711, title="VPN drops every hour", description="Since the firmware update.")
        settings, secrets = fake.connection(resource_id="jdoe")
        notes = lambda: fake.notes[4711]  # noqa: E731
        status = lambda: fake.tickets[4711]["status"]  # noqa: E731
        target, closed = "Complete", 5
    else:
        from tests.fakes.halo import FakeHalo

        fake = FakeHalo()
        fake.seed_ticket(4711, summary="VPN drops every hour", details="Since the firmware update.")
        settings, secrets = fake.settings_and_secrets()
        notes = lambda: fake.actions[4711]  # noqa: E731
        status = lambda: fake.tickets[4711]["status_id"]  # noqa: E731
        target, closed = "Closed", 9
    monkeypatch.setattr(psa, "TRANSPORTS", {provider: fake.transport})
    monkeypatch.setattr(psa, "POLICY", RetryPolicy(sleep=no_sleep))
    return fake, settings, secrets, target, closed, notes, status


@pytest.mark.parametrize("provider", ["autotask", "halo"])
async def test_resolve_and_escalate_on_autotask_and_halo(ctx, memory_keyring, monkeypatch, provider) -> None:
    fake, settings, secrets, target, closed, notes, status = _other_psa(provider, monkeypatch)
    await psa.connect(ctx, provider, "main", settings, secrets, targets={"resolve": {"": target}},
                      test=None)
    row = await tickets.session_from_ticket(ctx, "4711")
    assert row.title == "VPN drops every hour" and "Since the firmware update." in row.intake_text
    before = len(notes())
    fake.keep_old_status = True
    with pytest.raises(PSAError, match="did not apply it"):
        await closing.resolve_session(ctx, row, NOTE)
    assert len(notes()) == before + 1
    fake.keep_old_status = False
    done = await closing.resolve_session(ctx, row, NOTE)
    assert done.outcome == "resolved" and done.verified_status == target
    assert status() == closed and len(notes()) == before + 1  # one note, whatever happened


@pytest.mark.parametrize("provider", ["autotask", "halo"])
async def test_internal_notes_on_autotask_and_halo_are_hidden(ctx, memory_keyring, monkeypatch, provider) -> None:
    fake, settings, secrets, *_, notes, status = _other_psa(provider, monkeypatch)
    await psa.connect(ctx, provider, "main", settings, secrets)
    row = await tickets.session_from_ticket(ctx, "4711")
    await closing.escalate_session(ctx, row, "## Problem\nStuck.")
    note = notes()[-1]
    if provider == "autotask":
        assert note["publish"] in (2, "2")  # Internal Only
    else:
        assert note["hiddenfromuser"] is True
