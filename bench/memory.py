"""Team memory: how well "seen before" finds the same problem, and what search costs (issue 17). Run by hand;
results go in docs/memory.md ("How well it finds").

    python bench/memory.py [--parts quality,latency,cli,block] [--stores sqlite,postgres] [--sessions 100000]
                           [--runs 21] [--wall-runs 9] [--postgres URL] [--keep DIR]

- quality: the reference half of the labelled set (tests/data/memory/sessions.json) loaded through the core
  services into a fresh store; each held-out query (a new session's title, first facts and client) asks
  find_similar for three matches. recall@3 of the query's family (goal >= 0.8), top-1 precision (goal >= 0.7),
  per family, offline. Nothing is tuned on the held-out half.
- latency: a store of --sessions closed sessions (bulk INSERTs, so the index's triggers fill it as for any write)
  whose titles, problems, facts, fixes and escalation reasons are drawn from the same families by the set's
  generator (another seed); the median in-process time of `search` and of find_similar over --runs held-out
  queries (a fresh ORM session each, the first run not counted). Goal <= 30 ms on each store.
- cli: `rfpilot search QUERY` through the console script on that store against `python -c "import typer"`, runs
  interleaved, medians compared (goal <= 6x), as bench/startup.py does.
- block: the "seen before" block the model gets for three matches, in tokens as core.engine.context_budget
  estimates them (goal <= 1,500): median and largest over the held-out queries of the quality store. Rendered by
  core.memory.seen_before.model_block when this tree has it, else by this file's stand-in (said in the output).

The stores are the bench's own (temporary SQLite files; Postgres databases created next to --postgres's and
dropped at the end). The machine's load average is printed: on a shared machine the times move with it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from scale import PG_DEFAULT, Store  # noqa: E402
from startup import compiled, timed  # noqa: E402

from tests.data.memory import load as memory_set  # noqa: E402
from tests.data.memory.quality import evaluate  # noqa: E402

LATENCY_GOAL_MS = 30.0
CLI_GOAL = 6.0
BLOCK_GOAL = 1_500
BIG_SEED = 4242  # the big store's text: not the labelled set's seed
BATCH = 1_000  # rows per multi-row INSERT (Postgres's statement triggers then fire once per statement)
COMMIT_EVERY = 10_000


def load_line() -> str:
    a, b, c = os.getloadavg()
    return f"load average {a:.2f} {b:.2f} {c:.2f} ({os.cpu_count()} CPUs)"


# --- quality ---------------------------------------------------------------------------------------------------


async def bench_quality(store: Store) -> tuple[list[str], object, object]:
    data = memory_set.read_set()
    loaded = await memory_set.load(store.ws, memory_set.reference(data))
    report = await evaluate(store.ws, loaded, memory_set.queries(data))
    head = (f"[{store.kind}] loaded {len(loaded.ids)} reference sessions through the services in "
            f"{loaded.seconds:.1f} s ({loaded.seconds / max(1, len(loaded.ids)) * 1000:.0f} ms each); "
            f"{len(report.outcomes)} queries in {report.seconds:.1f} s")
    return [head, *report.lines()], loaded, report


# --- the big store ---------------------------------------------------------------------------------------------


async def seed_big(store: Store, total: int) -> None:
    """``total`` sessions with the families' text: 85% closed as the generator says (resolved with the fix that
    worked, or escalated with a reason), the rest active; three facts each; one fix per resolved session."""
    import uuid

    from sqlalchemy import insert, text

    from rfpilot.db.models import Fact, SessionRow, SuggestedFix

    sys.path.insert(0, str(ROOT / "tests" / "data" / "memory"))
    from families import FAMILIES  # noqa: E402
    from generate import make_session  # noqa: E402

    rng = random.Random(BIG_SEED)
    names = sorted(FAMILIES)
    end = datetime.now(UTC) - timedelta(days=1)
    async with store.ws.ctx() as ctx:
        account, owner = ctx.account.id, ctx.engineer.id
        rows: dict[type, list[dict]] = {SessionRow: [], Fact: [], SuggestedFix: []}

        async def flush(final: bool = False) -> None:
            for model, values in rows.items():
                while len(values) >= BATCH or (final and values):
                    chunk, values[:] = values[:BATCH], values[BATCH:]
                    await ctx.db.execute(insert(model).values(chunk))

        for i in range(total):
            name = names[rng.randrange(len(names))]
            item = make_session(f"b{i}", name, FAMILIES[name], rng)
            when = end - timedelta(minutes=i)
            opened = when - timedelta(seconds=item["active_seconds"])
            sid = str(uuid.uuid4())
            status = "active" if rng.random() < 0.15 else item["status"]
            session = dict(id=sid, account_id=account, owner_id=owner, title=item["title"][:200], status=status,
                           intake_type="free_text", intake_text=item["intake"], client_name=item["client"],
                           status_changed_at=when, created_at=opened, updated_at=when,
                           active_seconds=item["active_seconds"], resolved_at=None, resolution_summary=None,
                           escalated_at=None, escalation_reason=None, fact_count=0)
            if status == "resolved":
                session.update(resolved_at=when, resolution_summary=item["fix"]["title"][:500])
            elif status == "escalated":
                session.update(escalated_at=when, escalation_reason=item["escalation_reason"][:500])
            rows[SessionRow].append(session)
            for n, fact in enumerate(item["facts"][:3]):
                at = opened + timedelta(seconds=20 * (n + 1))
                rows[Fact].append(dict(id=str(uuid.uuid4()), account_id=account, session_id=sid, text=fact,
                                       source_type="user_note", created_by=owner, created_at=at, updated_at=at))
            if status == "resolved":
                rows[SuggestedFix].append(dict(
                    id=str(uuid.uuid4()), account_id=account, session_id=sid, origin="engineer",
                    title=item["fix"]["title"][:200], description=item["fix"]["description"], confidence_pct=80,
                    status="applied_success", applied_at=when, verified_at=when, created_at=when, updated_at=when))
            if len(rows[SessionRow]) >= BATCH:
                await flush()
            if (i + 1) % COMMIT_EVERY == 0:
                await flush(final=True)
                await ctx.db.commit()
                print(f"[{store.kind}] {i + 1:,} sessions", file=sys.stderr)
        await flush(final=True)
        await ctx.db.commit()
        await ctx.db.execute(text("ANALYZE"))
        await ctx.db.commit()


# --- latency ---------------------------------------------------------------------------------------------------


def search_call():
    """(label, coroutine function of (ctx, text)) for the store's search: core.memory.search's when this tree has
    it, else the index's own ranked read (core.memory.index.item_hits of the query's terms), labelled so."""
    try:
        from rfpilot.core.memory.search import search  # type: ignore[import-not-found]
    except ImportError:
        from rfpilot.core.memory.index import item_hits
        from rfpilot.core.memory.terms import query_terms

        async def hits(ctx, query: str):
            return await item_hits(ctx, query_terms(query), operator="OR", limit=50)

        return "index hits (no core.memory.search in this tree)", hits

    async def full(ctx, query: str):
        return await search(ctx, query)

    return "search", full


async def median_ms(store: Store, fn, queries: list, runs: int) -> tuple[float, float]:
    times = []
    for n in range(runs + 1):  # the first run warms the caches and is not counted
        query = queries[n % len(queries)]
        async with store.ws.ctx() as ctx:
            start = time.perf_counter()
            await fn(ctx, query)
            elapsed = time.perf_counter() - start
        if n:
            times.append(elapsed * 1000)
    return statistics.median(times), max(times)


async def bench_latency(store: Store, runs: int) -> list[str]:
    from rfpilot.core.memory.similar import find_similar

    held_out = [memory_set.query_of(q) for q in memory_set.queries(memory_set.read_set())]
    label, search = search_call()

    async def similar(ctx, q):
        return await find_similar(ctx, title=q["title"], facts=q["facts"], client_name=q["client_name"])

    texts = [q["title"] for q in held_out]
    lines = []
    for name, fn, qs in ((label, search, texts), ("find_similar", similar, held_out)):
        med, worst = await median_ms(store, fn, qs, runs)
        verdict = "met" if med <= LATENCY_GOAL_MS else "NOT met"
        lines.append(f"[{store.kind}] {name:48} median {med:7.1f} ms  slowest {worst:7.1f} ms  "
                     f"goal <= {LATENCY_GOAL_MS:.0f} ms: {verdict}")
    return lines


# --- the console script -------------------------------------------------------------------------------------------


def bench_cli(store: Store, runs: int) -> list[str]:
    py = sys.executable
    script = str(Path(py).parent / "rfpilot")
    env = {k: v for k, v in store.env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    probe = subprocess.run([script, "search", "--help"], env=env, capture_output=True, text=True)
    if probe.returncode != 0:
        return [f"[{store.kind}] `rfpilot search` is not in this tree (exit {probe.returncode}): not measured"]
    compiled(py)
    texts = [q["title"] for q in memory_set.queries(memory_set.read_set())]
    base, cmd, base_cpu, cmd_cpu = [], [], [], []
    timed([script, "search", texts[0]], env)  # the first open is not what is measured
    for n in range(runs):
        (wall, cpu), _ = timed([py, "-c", "import typer"], env)
        base.append(wall), base_cpu.append(cpu)
        (wall, cpu), _ = timed([script, "search", texts[n % len(texts)]], env)
        cmd.append(wall), cmd_cpu.append(cpu)
    b, c = statistics.median(base), statistics.median(cmd)
    ratio = c / b
    return [f"[{store.kind}] import typer {b * 1000:.0f} ms; rfpilot search {c * 1000:.0f} ms: {ratio:.2f}x "
            f"(cpu {statistics.median(cmd_cpu) / statistics.median(base_cpu):.2f}x); goal <= {CLI_GOAL}x: "
            f"{'met' if ratio <= CLI_GOAL else 'NOT met'}"]


# --- the model's block ---------------------------------------------------------------------------------------------


def stand_in_block(matches) -> str:
    """Three matches as the model would read them, field for field what MEMORY_API.md's Similar carries."""
    lines = ["# Seen before (earlier sessions of this team like this one; matched by rfpilot, not the engineer)"]
    for m in matches:
        head = f"#{m.session_id[:8]} · {m.status} · {m.title}"
        if m.client_name:
            head += f" · client {m.client_name}" + (" (this client)" if m.same_client else "")
        lines.append(head)
        if m.fixed_by:
            lines.append(f"  Fixed by: {m.fixed_by}")
        if m.escalation_reason:
            lines.append(f"  Escalated: {m.escalation_reason}")
        if m.dead_ends:
            lines.append("  Dead ends: " + "; ".join(m.dead_ends[:3]))
        if m.active_seconds:
            lines.append(f"  Time to resolve: {max(1, m.active_seconds // 60)} min of active work")
    return "\n".join(lines)


def renderer():
    try:
        from rfpilot.core.memory.seen_before import model_block  # type: ignore[attr-defined]
    except ImportError:
        return "stand-in rendering (core.memory.seen_before.model_block not in this tree)", stand_in_block

    def render(matches) -> str:
        views = [dict(id=m.session_id, ref=f"#{m.session_id[:8]}", rank=n, score=m.score, title=m.title,
                      client_name=m.client_name, status=m.status, same_client=m.same_client, fixed_by=m.fixed_by,
                      fix_template_slug=m.fix_template_slug, escalation_reason=m.escalation_reason,
                      dead_ends=list(m.dead_ends), active_seconds=m.active_seconds, closed_at=None,
                      dismissed=False, dismissed_at=None) for n, m in enumerate(matches, 1)]
        return model_block(views)

    return "core.memory.seen_before.model_block", render


async def bench_block(store: Store) -> list[str]:
    from rfpilot.core.engine.context_budget import estimate
    from rfpilot.core.memory.similar import find_similar

    how, render = renderer()
    sizes = []
    for item in memory_set.queries(memory_set.read_set()):
        q = memory_set.query_of(item)
        async with store.ws.ctx() as ctx:
            matches = await find_similar(ctx, title=q["title"], facts=q["facts"], client_name=q["client_name"])
        if len(matches) == 3:
            sizes.append(estimate(render(matches)))
    if not sizes:
        return [f"[{store.kind}] no query found three matches: block not measured"]
    worst = max(sizes)
    return [f"[{store.kind}] seen-before block for 3 matches ({how}), {len(sizes)} queries: median "
            f"{statistics.median(sizes):.0f} tokens, largest {worst} (context_budget.estimate: 3 bytes a token); "
            f"goal <= {BLOCK_GOAL}: {'met' if worst <= BLOCK_GOAL else 'NOT met'}"]


# --- main ------------------------------------------------------------------------------------------------------


async def run_store(kind: str, tmp: Path, args) -> list[str]:
    out: list[str] = []
    parts = set(args.parts.split(","))
    if parts & {"quality", "block"}:
        store = Store(kind, "quality", tmp, args.postgres)
        try:
            await store.open()
            if "quality" in parts:
                lines, _, _ = await bench_quality(store)
            else:
                data = memory_set.read_set()
                await memory_set.load(store.ws, memory_set.reference(data))
                lines = []
            out += lines
            if "block" in parts:
                out += await bench_block(store)
        finally:
            await store.close()
    if parts & {"latency", "cli"}:
        keep = Path(args.keep) if args.keep else None
        store = Store(kind, f"big{args.sessions}", keep or tmp, args.postgres)
        marker = keep / f"{kind}-{args.sessions}.url" if keep else None
        reuse = marker is not None and marker.exists()
        if reuse:  # the store a run with the same --keep and --sessions built and kept
            store.url, store.db_name = marker.read_text().strip(), None
            store.env["RFPILOT_DATABASE_URL"] = store.url
        try:
            await store.open()
            if reuse:
                out.append(f"[{kind}] the kept store of {args.sessions:,} sessions ({marker})")
            else:
                started = time.perf_counter()
                await seed_big(store, args.sessions)
                out.append(f"[{kind}] built a store of {args.sessions:,} sessions in "
                           f"{time.perf_counter() - started:.0f} s")
                if marker is not None:
                    marker.write_text(store.url)
                    store.db_name = None  # kept: not dropped at the end
            if "latency" in parts:
                out += await bench_latency(store, args.runs)
            if "cli" in parts:
                out += bench_cli(store, args.wall_runs)
        finally:
            await store.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="quality,latency,cli,block")
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--sessions", type=lambda s: int(s.replace("_", "").replace(",", "")), default=100_000)
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--wall-runs", type=int, default=9)
    parser.add_argument("--postgres", default=PG_DEFAULT)
    parser.add_argument("--keep", metavar="DIR", help="build the big stores in DIR and keep them (a Postgres database "
                        "is named in DIR/postgres-N.url); a later run with the same DIR and --sessions reuses them "
                        "instead of building again. Drop them by hand.")
    args = parser.parse_args()
    print(load_line())
    tmp = Path(tempfile.mkdtemp(prefix="rfpilot-memory-"))
    try:
        for kind in args.stores.split(","):
            for line in asyncio.run(run_store(kind.strip(), tmp, args)):
                print(line)
            sys.stdout.flush()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"at the end: {load_line()}")


if __name__ == "__main__":
    main()
