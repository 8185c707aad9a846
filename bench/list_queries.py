"""The session list's queries against the store's size (issue 15: the same cost at 1k and 100k sessions).
Run by hand; results go in docs/performance.md.

    python bench/list_queries.py [--sessions 1000 100000] [--postgres URL] [--runs 15]

For each size, a fresh store (a SQLite file, or a scratch database on the Postgres server at URL) is seeded with
one bulk INSERT (a third of the sessions open, two owners, eight clients, a ticket reference each) and analysed
(on Postgres the trigram indexes' pending entries are merged too, as autovacuum soon does),
then each query is timed through the product's own function, ``--runs`` times (median and minimum):

- list: the first page of the list (`core.session.sessions.session_page`, 50 rows, as the TUI and `sessions list`);
- mine: the same with `--mine`;
- closed: the first page of closed sessions only (`--status resolved --status abandoned`);
- prefix: an id-prefix lookup of 8 characters (`core.session.sessions.get_session`, as `sessions show 3f2ab1c9`);
- filter rare / common: the list filtered by a text one session has (`87654` style) or every eighth has.

The code measured is whatever `rfpilot` imports: run it with ``PYTHONPATH=<another checkout>`` to measure that
one (its own migrations then build its schema), side by side with this one in the same minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

CLIENTS = ["Northwind", "Contoso", "Harbourside Physio", "Fabrikam", "Tailspin", "Litware", "Adatum", "Proseware"]


async def _admin(server: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(server.replace("postgresql+asyncpg://", "postgresql://") + "/postgres")
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def measure(url: str, sessions: int, runs: int) -> dict[str, float]:
    from sqlalchemy import insert, select, text

    from rfpilot.config import load_settings
    from rfpilot.core.context import Workspace
    from rfpilot.core.session.sessions import get_session, session_page
    from rfpilot.db.models import Engineer, SessionRow

    home = tempfile.mkdtemp(prefix="list-queries-")
    env = {"RFPILOT_HOME": home, "RFPILOT_DATABASE_URL": url, "RFPILOT_ACCOUNT": "bench",
           "RFPILOT_USER_EMAIL": "bench@example.com", "RFPILOT_USER_NAME": "Bench", "RFPILOT_LLM_PROVIDER": "offline",
           "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    ws = await Workspace.open(load_settings(env=env))
    rare = f"#{sessions * 7 // 8}"
    async with ws.ctx() as ctx:
        now = datetime.now(UTC)
        other = str(uuid.uuid4())
        await ctx.db.execute(insert(Engineer), [dict(id=other, account_id=ctx.account.id, email="o@example.com",
                                                     display_name="Other", psa_member_ids={}, created_at=now)])
        batch, some = [], None
        for i in range(sessions):
            when = now - timedelta(minutes=i)
            status = ("active", "paused", "escalated")[i % 3] if i % 3 == 0 else ("resolved", "abandoned")[i % 2]
            sid = str(uuid.uuid4())
            some = some or (sid if i == sessions // 2 else None)
            batch.append(dict(id=sid, account_id=ctx.account.id, owner_id=ctx.engineer.id if i % 2 else other,
                              title=f"Printer offline #{i}", status=status, intake_type="empty",
                              client_name=CLIENTS[i % len(CLIENTS)], ticket_ref=f"T{1_000_000 + i}",
                              status_changed_at=when, created_at=when, updated_at=when))
            if len(batch) == 5_000:
                await ctx.db.execute(insert(SessionRow), batch)
                batch = []
        if batch:
            await ctx.db.execute(insert(SessionRow), batch)
        await ctx.db.commit()
        await ctx.db.execute(text("ANALYZE"))
        if ctx.db.bind.dialect.name == "postgresql":  # what autovacuum soon does to a bulk insert's GIN entries
            for name in ("ix_sessions_title_trgm", "ix_sessions_client_name_trgm", "ix_sessions_ticket_ref_trgm"):
                if (await ctx.db.execute(text(f"SELECT to_regclass('{name}')"))).scalar():
                    await ctx.db.execute(text(f"SELECT gin_clean_pending_list('{name}')"))
        await ctx.db.commit()
        assert (await ctx.db.execute(select(SessionRow.id).where(SessionRow.id == some))).scalar_one()

    cases = {
        "list": lambda ctx: session_page(ctx, limit=50),
        "mine": lambda ctx: session_page(ctx, mine=True, limit=50),
        "closed": lambda ctx: session_page(ctx, statuses=("resolved", "abandoned"), limit=50),
        "prefix": lambda ctx: get_session(ctx, some[:8]),
        "filter rare": lambda ctx: session_page(ctx, match=rare, limit=50),
        "filter common": lambda ctx: session_page(ctx, match="Contoso", limit=50),
    }
    out = {}
    for name, call in cases.items():
        times = []
        for _ in range(runs):
            async with ws.ctx() as ctx:
                start = time.perf_counter()
                await call(ctx)
                times.append(time.perf_counter() - start)
        out[name] = (statistics.median(times), min(times))
    await ws.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, nargs="+", default=[1_000, 100_000])
    parser.add_argument("--postgres", metavar="URL", help="a server URL without database, e.g. postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    import rfpilot.db.engine as engine

    print(f"code: {Path(engine.__file__).parents[2]} (schema {engine.SCHEMA_HEAD}); "
          f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    results = {}
    for n in args.sessions:
        if args.postgres:
            name = f"rfpilot_bench_{uuid.uuid4().hex[:10]}"
            asyncio.run(_admin(args.postgres, f'CREATE DATABASE "{name}"'))
            try:
                results[n] = asyncio.run(measure(f"{args.postgres}/{name}", n, args.runs))
            finally:
                asyncio.run(_admin(args.postgres, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        else:
            folder = tempfile.mkdtemp(prefix="list-queries-db-")
            results[n] = asyncio.run(measure(f"sqlite:///{folder}/rfpilot.db", n, args.runs))
    sizes = list(results)
    # The median moves with the machine's load; the minimum is the steadier guide on a shared machine.
    print("query".ljust(14) + "".join(f"{f'{n:,} median / min':>26}" for n in sizes)
          + ("   ratio median / min" if len(sizes) > 1 else ""))
    for case in results[sizes[0]]:
        row = [results[n][case] for n in sizes]
        cells = "".join(f"{med * 1000:>14.2f} / {low * 1000:>6.2f}ms" for med, low in row)
        ratio = f"{row[-1][0] / row[0][0]:>10.2f}x / {row[-1][1] / row[0][1]:.2f}x" if len(sizes) > 1 else ""
        print(case.ljust(14) + cells + ratio)
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
