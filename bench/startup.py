"""Start-up of the CLI through the `rfpilot` console script (run by hand; results go in docs/performance.md).

    python bench/startup.py [--runs 9] [--stores sqlite,postgres] [--pg URL]

Every sample is a fresh process of `.venv/bin/rfpilot` (the console script, never `python -m`), timed from the
fork to its exit. One round runs, in this order, the baseline `python -c "import typer"` (same venv), `--version`,
`--help`, and on each store: `new`, `facts add`, `sessions show`, `preview resolve` (a fresh session: uncached),
`resolve --yes` (offline drafter, no PSA ticket). Rounds repeat, so the baseline and the commands see the same
machine load; the medians are compared with the baseline's median of the same run. rfpilot's byte code is compiled
first and PYTHONDONTWRITEBYTECODE is dropped for the runs (see ``compiled``).

Budgets (issue 15): `--version` <= 1.3x, `--help` <= 1.5x; every store command <= 6x on SQLite and <= 7x on
Postgres. Postgres gets a database of its own (created here and dropped at the end, as tests/conftest.py does),
so the bench never touches anyone's data; it is skipped when the server is not reachable.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

PG_URL = os.environ.get("RFPILOT_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
BUDGET = {"--version": 1.3, "--help": 1.5}
STORE_BUDGET = {"sqlite": 6.0, "postgres": 7.0}
STORE_COMMANDS = ("new", "facts add", "sessions show", "preview resolve", "resolve --yes")


def timed(argv: list[str], env: dict[str, str]) -> tuple[tuple[float, float], str]:
    """(wall seconds, CPU seconds of the process: user + system), stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv[1:])} failed ({done.returncode}): {done.stderr.strip()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return (elapsed, cpu), done.stdout


async def _admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_URL.replace("postgresql+asyncpg://", "postgresql://", 1), timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def compiled(py: str) -> None:
    """rfpilot's byte code written once, as any install has it: with PYTHONDONTWRITEBYTECODE set (as on the bench
    machine) and no __pycache__, every run would compile each of rfpilot's modules again (~40 for a store command,
    +100-250 ms) while the libraries' byte code, written by pip, is read."""
    import rfpilot

    subprocess.run([py, "-m", "compileall", "-q", str(Path(rfpilot.__file__).parent)], check=True)


def store_env(base: dict[str, str], store: str, home: Path) -> dict[str, str]:
    env = {**base, "RFPILOT_HOME": str(home / store), "RFPILOT_ACCOUNT": f"bench-{uuid.uuid4().hex[:8]}"}
    env.pop("RFPILOT_DATABASE_URL", None)
    if store == "postgres":
        name = f"rfpilot_bench_{uuid.uuid4().hex[:10]}"
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
        env["RFPILOT_DATABASE_URL"] = f"{PG_URL.rpartition('/')[0]}/{name}"
    return env


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--stores", default="sqlite,postgres")
    args = parser.parse_args()
    py = sys.executable
    rfpilot = str(Path(py).parent / "rfpilot")
    home = Path(tempfile.mkdtemp(prefix="rfpilot-bench-"))
    base = {**os.environ, "RFPILOT_LLM_PROVIDER": "offline", "RFPILOT_USER_EMAIL": "bench@example.com",
            "RFPILOT_USER_NAME": "Bench", "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    for key in ("ANTHROPIC_API_KEY", "RFPILOT_OPENAI_API_KEY", "RFPILOT_OPENAI_BASE_URL", "PYTHONDONTWRITEBYTECODE"):
        base.pop(key, None)
    compiled(py)
    stores: dict[str, dict[str, str]] = {}
    for store in args.stores.split(","):
        try:
            stores[store] = store_env(base, store, home)
        except Exception as exc:  # noqa: BLE001 - Postgres down or asyncpg missing: bench the rest
            print(f"({store} skipped: {exc})")
    plain = stores.get("sqlite", {**base, "RFPILOT_HOME": str(home / "plain")})
    samples: dict[str, list[tuple[float, float]]] = {}

    def add(label: str, seconds: tuple[float, float]) -> None:
        samples.setdefault(label, []).append(seconds)

    try:
        for store, env in stores.items():  # the first open (migrations) is not what is measured
            timed([rfpilot, "sessions", "list"], env)
        for _ in range(args.runs):
            add("baseline", timed([py, "-c", "import typer"], plain)[0])
            add("--version", timed([rfpilot, "--version"], plain)[0])
            add("--help", timed([rfpilot, "--help"], plain)[0])
            for store, env in stores.items():
                seconds, out = timed([rfpilot, "new", "Printer offline after driver update"], env)
                add(f"{store} new", seconds)
                sid = out.strip()
                add(f"{store} facts add", timed([rfpilot, "facts", "add", sid, "Spooler was running"], env)[0])
                add(f"{store} search", timed([rfpilot, "search", "printer spooler"], env)[0])
                add(f"{store} sessions show", timed([rfpilot, "sessions", "show", sid], env)[0])
                add(f"{store} preview resolve", timed([rfpilot, "preview", "resolve", sid], env)[0])
                add(f"{store} resolve --yes", timed([rfpilot, "resolve", sid, "--yes"], env)[0])
    finally:
        for env in stores.values():
            url = env.get("RFPILOT_DATABASE_URL", "")
            if url.startswith("postgresql"):
                try:
                    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{url.rpartition("/")[2]}" WITH (FORCE)'))
                except Exception:  # noqa: BLE001
                    pass

    def median(label: str, which: int) -> float:
        return statistics.median(sample[which] for sample in samples[label])

    base_wall, base_cpu = median("baseline", 0), median("baseline", 1)
    load = os.getloadavg()
    print(f"{args.runs} rounds, medians; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print("the budget is on the wall-clock ratio; the CPU ratio (user + system time of the process) is steadier "
          "on a loaded machine")
    print(f"{'':32} {'wall':>7} {'ratio':>6} {'cpu':>7} {'ratio':>6}")
    print(f"{'import typer (baseline)':32} {base_wall * 1000:4.0f} ms {'':6} {base_cpu * 1000:4.0f} ms")
    all_met = True
    for label in samples:
        if label == "baseline":
            continue
        wall, cpu = median(label, 0), median(label, 1)
        ratio = wall / base_wall
        budget = BUDGET.get(label) or STORE_BUDGET[label.split(" ", 1)[0]]
        met = ratio <= budget
        all_met &= met
        print(f"{'rfpilot ' + label:32} {wall * 1000:4.0f} ms {ratio:5.2f}x {cpu * 1000:4.0f} ms {cpu / base_cpu:5.2f}x"
              f"  budget {budget}x: {'met' if met else 'NOT met'}")
    print("every budget met" if all_met else "some budgets NOT met")

if __name__ == "__main__":
    main()
