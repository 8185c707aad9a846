""""Seen before" finds the same problem (issue 17's quality goals), on SQLite and on Postgres.

The reference half of the labelled set (tests/data/memory/sessions.json) is written into a fresh store through the
core services (tests/data/memory/load.py); every held-out query (a new session's title and first facts) asks
find_similar for three matches. Goals: recall@3 of the query's family >= 0.8, top-1 precision >= 0.7. The figures
are printed (run with -s to see them); bench/memory.py prints the same table with the per-family rows.
"""

from __future__ import annotations

import pytest

from tests.data.memory import load as memory_set
from tests.data.memory.quality import PRECISION_GOAL, RECALL_GOAL, evaluate

# Which earlier sessions are found depends on every account's items (the words' rarity): a database of its own.
pytestmark = pytest.mark.own_database


async def test_seen_before_finds_the_same_family(ws) -> None:
    data = memory_set.read_set()
    reference, held_out = memory_set.reference(data), memory_set.queries(data)
    assert len(data["families"]) >= 25 and len(data["sessions"]) >= 300
    assert {s["family"] for s in reference} == {s["family"] for s in held_out} == set(data["families"])

    loaded = await memory_set.load(ws, reference)
    async with ws.ctx() as ctx:
        from sqlalchemy import func, select

        from rfpilot.db.models import SessionRow

        statuses = dict((await ctx.db.execute(select(SessionRow.status, func.count()).where(
            SessionRow.account_id == ctx.account.id).group_by(SessionRow.status))).all())
    assert statuses == {"resolved": sum(s["status"] == "resolved" for s in reference),
                        "escalated": sum(s["status"] == "escalated" for s in reference)}

    report = await evaluate(ws, loaded, held_out)
    store = ws.store.dialect
    print(f"\n[{store}] loaded {len(reference)} sessions in {loaded.seconds:.1f} s; "
          f"{len(held_out)} queries in {report.seconds:.1f} s")
    print("\n".join(report.lines()))
    summary = f"recall@3 {report.recall3:.3f}, top-1 precision {report.precision1:.3f}"
    assert report.recall3 >= RECALL_GOAL, summary + "\n" + "\n".join(report.lines())
    assert report.precision1 >= PRECISION_GOAL, summary + "\n" + "\n".join(report.lines())
