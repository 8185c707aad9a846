"""Load sessions of the labelled team-memory set (sessions.json) into a store through the core services.

Every session is written as an engineer would leave it, by the same services the CLI and the TUI call (as
`rfpilot demo` does): a new session from the problem text with its title and client, its facts as the
engineer's notes, a dead-end hypothesis where the data has one (a fork into that hypothesis and the other cause,
the first marked dead_end with its reason), then

- resolved: the fix that worked suggested, applied and recorded as worked, the note drafted offline and the
  session resolved locally (no PSA);
- escalated: the fix tried first (where the data has one) recorded as failed, the note drafted offline and the
  session escalated locally with the reason.

So the search index, its triggers and everything else that watches the store see ordinary writes. A session is
one transaction. Its clock is the data's: it opens ``closed_days_ago`` days before the load and closes
``active_seconds`` later, so its active time and age are the data's too.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent / "sessions.json"


def read_set(path: Path = DATA) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def reference(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in data["sessions"] if s["split"] == "reference"]


def queries(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in data["sessions"] if s["split"] == "query"]


def query_of(item: dict[str, Any]) -> dict[str, Any]:
    """What a held-out session offers as a query: its title, its first facts and its client (a new session)."""
    return {"title": item["title"], "facts": item["facts"][: item["query_facts"]], "client_name": item["client"]}


@dataclass
class Loaded:
    ids: dict[str, str]  # data id -> session id in the store
    families: dict[str, str]  # session id in the store -> family
    seconds: float


async def load_one(ctx, item: dict[str, Any], now: datetime) -> str:
    from rfpilot.core.closeout import closing
    from rfpilot.core.session import branches, facts, fixes
    from rfpilot.core.session.sessions import create_session

    start = now - timedelta(days=item["closed_days_ago"], seconds=item["active_seconds"])
    clock = [start]
    saved = ctx.clock
    ctx.clock = lambda: clock[0]

    def tick(seconds: int = 20) -> None:
        clock[0] += timedelta(seconds=seconds)

    try:
        async with ctx.tx():
            row = await create_session(ctx, item["intake"], title=item["title"], client=item["client"])
            await ctx.db.flush()  # its id, for the facts (create_session commits only when it is the transaction)
            for text in item["facts"]:
                tick()
                await facts.add_note(ctx, row, text)
            dead = item.get("dead_end")
            if dead:
                tick()
                _, children = await branches.fork(ctx, row, "What explains it?", [
                    (dead["hypothesis"], "first suspicion"), ("Another cause", "what the facts point to")])
                await branches.switch(ctx, row, children[0])
                tick(120)
                await branches.mark(ctx, row, children[0], "dead_end", dead["reason"])
                await branches.switch(ctx, row, children[1])
            failed = item.get("failed_fix")
            if failed:
                tick()
                fix = await fixes.suggest_fix(ctx, row, failed["title"], confidence=70)
                await fixes.apply_fix(ctx, row, fix)
                tick(300)
                await fixes.record_outcome(ctx, row, fix, "failed", failed.get("notes"))
            if item["status"] == "resolved":
                tick()
                fix = await fixes.suggest_fix(ctx, row, item["fix"]["title"], description=item["fix"]["description"],
                                              confidence=80)
                await fixes.apply_fix(ctx, row, fix)
                clock[0] = max(clock[0], start + timedelta(seconds=item["active_seconds"]))
                await fixes.record_outcome(ctx, row, fix, "worked")
                drafted = await closing.draft_for_close(ctx, row, "resolve", offline=True)
                await closing.resolve_session(ctx, row, drafted.markdown, local=True)
            else:
                clock[0] = max(clock[0], start + timedelta(seconds=item["active_seconds"]))
                drafted = await closing.draft_for_close(ctx, row, "escalate", offline=True)
                await closing.escalate_session(ctx, row, drafted.markdown, reason=item["escalation_reason"],
                                               local=True)
    finally:
        ctx.clock = saved
    return row.id


async def load(ws, items: Iterable[dict[str, Any]], *, now: datetime | None = None) -> Loaded:
    """Write ``items`` into the workspace's store (a fresh ORM session per item) and time it."""
    now = now or datetime.now(UTC)
    ids: dict[str, str] = {}
    families: dict[str, str] = {}
    started = time.perf_counter()
    for item in items:
        async with ws.ctx() as ctx:
            ids[item["id"]] = await load_one(ctx, item, now)
        families[ids[item["id"]]] = item["family"]
    return Loaded(ids, families, time.perf_counter() - started)
