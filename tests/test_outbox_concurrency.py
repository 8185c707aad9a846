"""Exactly-once PSA writes under overlapping deliveries (issue 12, items 1, 2 and 12).

Many real ``rfpilot outbox sync`` processes run at the same time on one store (SQLite file and Postgres)
against a slow fake PSA served over loopback HTTP (tests/fakes/loopback.py), while:

* some note POSTs are applied and then lose their reply (connection dropped, or a 502);
* the ticket already has more notes than one page, listed oldest first or newest first;
* on ConnectWise the keys are API-member keys: notes are recorded under ``rfpilot-api`` while the connection's
  member is ``jdoe`` (adoption must not look at the author).

Every outbox item must end up on its ticket exactly once. RFPILOT_STRESS multiplies processes and items.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select

from rfpilot.core.closeout import psa, tickets, writeback
from rfpilot.db.models import OutboxItem
from tests.fakes.loopback import LoopbackPSA

STRESS = max(1, int(os.environ.get("RFPILOT_STRESS", "1") or 1))
PROCESSES = 10 * STRESS
ITEMS = 3 * STRESS
EARLIER_NOTES = 32  # more than one page (pages are capped at 10 below)
PAGE_CAP = 10
POST_DELAY = 0.8  # seconds a note POST takes before the PSA records it
SYNC_TIMEOUT = 300 * STRESS  # seconds one sync process may take (a loaded 2-core CI machine is slow)
TAG = re.compile(r"rfpilot ref [0-9a-f]{10}")


# --- one PSA each: a fake, how to seed tickets, what a note POST is, how to read its notes -------------------


class Setup:
    """One PSA: its fake, how to seed tickets, what a note POST is, how to read a ticket's notes."""

    provider: str
    upstream: str  # the fake's own scheme://host

    def __init__(self, order: str) -> None:
        self.order = order

    def handler(self) -> Callable[[httpx.Request], httpx.Response]: ...
    def is_note_post(self, request: httpx.Request) -> bool: ...
    def seed(self, n: int) -> list[str]: ...
    def settings(self, base_url: str) -> tuple[dict[str, Any], dict[str, str]]: ...
    def note_texts(self, ticket: str) -> list[str]: ...


class CW(Setup):
    provider = "connectwise"
    upstream = "https://api-na.myconnectwise.net"

    def __init__(self, order: str) -> None:
        from tests.fakes.connectwise import FakeConnectWise

        super().__init__(order)
        self.fake = FakeConnectWise()
        self.fake._clock = datetime.now(UTC) - timedelta(hours=2)
        self.fake.notes_order = order
        self.fake.max_page_size = PAGE_CAP

    def handler(self):
        return self.fake._handle

    def is_note_post(self, request):
        return request.method == "POST" and request.url.path.endswith("/notes")

    def seed(self, n):
        ids = []
        for i in range(n):
            number = 48400 + i
            self.fake.seed_ticket(number, summary=f"Printer {i} offline", description="It stopped printing.")
            for k in range(EARLIER_NOTES):
                self.fake.add_note(number, f"earlier note {k}", internal=True, author="jdoe")
            ids.append(str(number))
        return ids

    def settings(self, base_url):
        # API-member keys: the fake records every note under "rfpilot-api", the connection says member jdoe.
        settings, secrets = self.fake.connection(member="jdoe")
        # --base-url is the whole API root (SPEC §16), so it carries the fake's codebase path.
        return {**settings, "base_url": base_url + f"/{self.fake.codebase}/apis/3.0"}, secrets

    def note_texts(self, ticket):
        return [n["text"] for n in self.fake.notes[int(ticket)]]


class AT(Setup):
    provider = "autotask"
    upstream = "https://webservices5.autotask.net"

    def __init__(self, order: str) -> None:
        from tests.fakes.autotask import FakeAutotask

        super().__init__(order)
        self.fake = FakeAutotask()
        self.fake.list_order = order
        self.fake.page_size = PAGE_CAP

    def handler(self):
        return self.fake.transport.handler  # type: ignore[attr-defined]

    def is_note_post(self, request):
        return request.method == "POST" and request.url.path.lower().endswith("/notes")

    def seed(self, n):
        ids = []
        for _ in range(n):
            ticket = self.fake.add_ticket(title="Printer offline")
            for k in range(EARLIER_NOTES):
                self.fake.add_note(ticket["id"], f"earlier note {k}")
            ids.append(str(ticket["id"]))
        return ids

    def settings(self, base_url):
        settings, secrets = self.fake.connection(with_zone=True)
        return {**settings, "zone_url": base_url + "/atservicesrest/"}, secrets

    def note_texts(self, ticket):
        return [n["description"] for n in self.fake.notes.get(int(ticket), [])]


class HALO(Setup):
    provider = "halo"
    upstream = "https://acme.halopsa.com"

    def __init__(self, order: str) -> None:
        from tests.fakes.halo import FakeHalo

        super().__init__(order)
        self.fake = FakeHalo()
        self.fake.actions_order = order
        self.fake.max_page_size = PAGE_CAP

    def handler(self):
        return self.fake.handle

    def is_note_post(self, request):
        return request.method == "POST" and request.url.path.lower() == "/api/actions"

    def seed(self, n):
        ids = []
        for i in range(n):
            ticket = self.fake.seed_ticket(summary=f"Printer {i} offline")
            for k in range(EARLIER_NOTES):
                self.fake.seed_action(ticket["id"], f"earlier note {k}")
            ids.append(str(ticket["id"]))
        return ids

    def settings(self, base_url):
        return self.fake.settings_and_secrets(url=base_url)

    def note_texts(self, ticket):
        return [a["note"] for a in self.fake.actions.get(int(ticket), [])]


def _sync_processes(env: dict[str, str], count: int) -> list[tuple[int, dict[str, Any] | None, str]]:
    """Start ``count`` `python -m rfpilot outbox sync --json` at once; (exit code, JSON, stderr) of each.
    Their pipes are read in parallel (a full pipe never stalls one); a process still running after
    ``SYNC_TIMEOUT`` seconds is stopped with a traceback dump, and its stderr is in the failure."""
    procs = [subprocess.Popen([sys.executable, "-X", "faulthandler", "-m", "rfpilot", "outbox", "sync", "--json"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(count)]

    def wait(proc: subprocess.Popen[str]) -> tuple[int, dict[str, Any] | None, str]:
        try:
            out, err = proc.communicate(timeout=SYNC_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGABRT)  # faulthandler writes every thread's stack to stderr
            out, err = proc.communicate()
            raise AssertionError(f"an outbox sync process hung for {SYNC_TIMEOUT} s:\n{err[-4000:]}") from None
        try:
            payload = json.loads(out) if out.strip() else None
        except ValueError:
            payload = None
        return proc.returncode, payload, err

    with concurrent.futures.ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(wait, procs))


ORDERS = {"sqlite": ["oldest"] + (["newest"] if STRESS > 1 else []),
          "postgres": ["newest"] + (["oldest"] if STRESS > 1 else [])}


async def test_overlapping_syncs_post_each_note_exactly_once(db_url: str, env: dict[str, str], ws,
                                                             memory_keyring) -> None:
    """One store, three PSAs (one connection each), ITEMS notes per PSA, PROCESSES syncs at once. Both list
    orders run on both stores with RFPILOT_STRESS > 1 (by default oldest first on SQLite, newest on Postgres)."""
    store = "sqlite" if db_url.startswith("sqlite") else "postgres"
    for order in ORDERS[store]:
        await _one_run(order, store, env, ws)


async def _one_run(order: str, store: str, env: dict[str, str], ws) -> None:
    setups = [cls(order) for cls in (CW, AT, HALO)]
    with contextlib.ExitStack() as stack:
        servers = [stack.enter_context(LoopbackPSA(s.handler(), s.upstream, is_note_post=s.is_note_post,
                                                   post_delay=POST_DELAY, lose_replies=2)) for s in setups]
        child_env = {**os.environ, **env}
        planned: list[tuple[Setup, str, str]] = []  # (setup, ticket, item id)
        async with ws.ctx() as ctx:
            for setup, server in zip(setups, servers, strict=True):
                name = f"{setup.provider}-{order}"
                ticket_ids = setup.seed(ITEMS)
                settings, secrets = setup.settings(server.base_url)
                conn = (await psa.connect(ctx, setup.provider, name, settings, secrets)).connection
                conn.settings = {**conn.settings, **settings}  # e.g. ConnectWise's --base-url
                await ctx.db.commit()
                child_env.update({psa.env_var(name, k): v for k, v in secrets.items()})
                for i, ticket in enumerate(ticket_ids):
                    session = await tickets.session_from_ticket(ctx, ticket, name)
                    item, _ = await writeback.enqueue(ctx, session, "update", f"Update {i}: the spooler was restarted.")
                    planned.append((setup, ticket, item.id))

        started = time.monotonic()
        results = _sync_processes(child_env, PROCESSES)
        elapsed = time.monotonic() - started
        for code, payload, err in results:
            assert code in (0, 6), f"exit {code}: {err[-2000:]}"
            assert "Traceback" not in err and payload is not None, err[-2000:]
            assert not payload["failed"], payload["failed"]
        busy = sum(1 for _, p, _ in results for q in p["queued"] if "another rfpilot process" in q["reason"])

        # Whatever is left (a process may have been busy for all of them) is delivered by one more sync.
        async with ws.ctx() as ctx:
            await writeback.sync(ctx)
            ids = [item_id for _, _, item_id in planned]
            rows = {i.id: i for i in (await ctx.db.execute(select(OutboxItem).where(OutboxItem.id.in_(ids)))).scalars()}

        duplicates = 0
        for setup, ticket, item_id in planned:
            texts = setup.note_texts(ticket)
            ours = [t for t in texts if writeback.note_tag(item_id) in t]
            duplicates += max(0, len(ours) - 1)
            assert len(ours) == 1, f"{setup.provider}: {len(ours)} notes for one outbox item on ticket {ticket}"
            assert sum(1 for t in texts if TAG.search(t)) == 1  # nothing else was posted to the ticket
            assert rows[item_id].state == "delivered" and rows[item_id].lease_owner is None
        posts = sum(s.note_posts for s in servers)
        lost = sum(s.lost for s in servers)
        print(f"\n{store}, notes listed {order} first: {PROCESSES} overlapping syncs, {len(planned)} items on "
              f"3 PSAs, {posts} note POSTs, {lost} replies lost and adopted, {busy} busy reports, "
              f"{duplicates} duplicates, {elapsed:.1f} s")
        assert duplicates == 0
        assert posts == len(planned)  # never a second POST for one item
        assert lost == 3 * min(2, ITEMS)  # the lost replies really happened (and were adopted, above)
        assert busy >= 1  # the processes overlapped: some found an item leased by another one
