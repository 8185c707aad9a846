"""Wall-clock benchmarks of the CLI (run by hand; results go in docs/performance.md).

    python bench/startup.py [--runs 15]

Measures, as the median of N runs in fresh processes:
- `python -c "import typer"` (the baseline SPEC §15 compares against),
- `rfpilot --version` and `rfpilot --help` (target: within 1.5x of the baseline),
- an offline `rfpilot resolve --yes` of a local session with a few facts (target: <= 0.5 s).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time


def timed(argv: list[str], env: dict[str, str], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, env=env, check=True, capture_output=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    py = sys.executable
    home = tempfile.mkdtemp(prefix="rfpilot-bench-")
    env = {**os.environ, "RFPILOT_HOME": home}
    env.pop("RFPILOT_DATABASE_URL", None)
    rf = [py, "-m", "rfpilot"]

    base = timed([py, "-c", "import typer"], env, runs)
    version = timed([*rf, "--version"], env, runs)
    help_ = timed([*rf, "--help"], env, runs)

    def new_session() -> str:
        out = subprocess.run([*rf, "new", "Printer offline after driver update"], env=env, check=True,
                             capture_output=True, text=True).stdout.strip()
        for text in ("Spooler was running", "Driver 3.2 was installed on Monday", "Test page fails"):
            subprocess.run([*rf, "facts", "add", out, text], env=env, check=True, capture_output=True)
        return out

    samples = []
    for _ in range(max(3, runs // 3)):
        sid = new_session()
        start = time.perf_counter()
        subprocess.run([*rf, "resolve", sid, "--yes"], env=env, check=True, capture_output=True)
        samples.append(time.perf_counter() - start)
    resolve = statistics.median(samples)

    print(f"import typer (baseline)   {base * 1000:7.0f} ms")
    print(f"rfpilot --version         {version * 1000:7.0f} ms  ({version / base:.2f}x baseline; target <= 1.5x)")
    print(f"rfpilot --help            {help_ * 1000:7.0f} ms  ({help_ / base:.2f}x baseline; target <= 1.5x)")
    print(f"rfpilot resolve --yes     {resolve * 1000:7.0f} ms  (target <= 500 ms)")


if __name__ == "__main__":
    main()
