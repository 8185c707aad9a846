"""How well "seen before" finds the same problem: the held-out queries of the labelled set against its reference
half, loaded into a store (tests/test_memory_quality.py asserts the goals; bench/memory.py prints the table).

- recall@3: the share of queries with at least one session of the query's family among the first three found;
- top-1 precision: the share of queries whose first match is of the query's family (a query that finds nothing
  counts as a miss in both).

A query is what a new session offers (load.query_of): its title, its first one or two facts and its client.
Nothing here is tuned on the held-out half: it is only read to be scored.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from tests.data.memory.load import Loaded, query_of

RECALL_GOAL = 0.8
PRECISION_GOAL = 0.7


@dataclass
class Outcome:
    query_id: str
    family: str
    found: list[str]  # the families of the matches, best first
    same_client_first: bool = False

    @property
    def hit3(self) -> bool:
        return self.family in self.found[:3]

    @property
    def hit1(self) -> bool:
        return bool(self.found) and self.found[0] == self.family


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0  # the queries' total time

    @property
    def recall3(self) -> float:
        return sum(o.hit3 for o in self.outcomes) / max(1, len(self.outcomes))

    @property
    def precision1(self) -> float:
        return sum(o.hit1 for o in self.outcomes) / max(1, len(self.outcomes))

    def per_family(self) -> dict[str, tuple[int, float, float]]:
        """family -> (queries, recall@3, top-1 precision)."""
        groups: dict[str, list[Outcome]] = defaultdict(list)
        for o in self.outcomes:
            groups[o.family].append(o)
        return {name: (len(g), sum(o.hit3 for o in g) / len(g), sum(o.hit1 for o in g) / len(g))
                for name, g in sorted(groups.items())}

    def confusions(self) -> dict[tuple[str, str], int]:
        """(query family, family of the wrong first match) -> how often."""
        found: dict[tuple[str, str], int] = defaultdict(int)
        for o in self.outcomes:
            if o.found and not o.hit1:
                found[(o.family, o.found[0])] += 1
        return dict(sorted(found.items(), key=lambda kv: -kv[1]))

    def lines(self) -> list[str]:
        out = [f"{len(self.outcomes)} held-out queries: recall@3 {self.recall3:.3f} (goal >= {RECALL_GOAL}), "
               f"top-1 precision {self.precision1:.3f} (goal >= {PRECISION_GOAL})",
               f"{'family':28} {'queries':>7} {'recall@3':>9} {'top-1':>6}"]
        for name, (n, r3, p1) in self.per_family().items():
            out.append(f"{name:28} {n:7d} {r3:9.2f} {p1:6.2f}")
        misses = list(self.confusions().items())[:8]
        if misses:
            out.append("most frequent wrong first matches: " + "; ".join(f"{a} -> {b} ({n})" for (a, b), n in misses))
        return out


async def evaluate(ws, loaded: Loaded, held_out: list[dict[str, Any]], *, limit: int = 3) -> Report:
    """Run find_similar for each held-out query in its own ORM session; score its matches by family."""
    import time

    from rfpilot.core.memory.similar import find_similar

    report = Report()
    started = time.perf_counter()
    for item in held_out:
        query = query_of(item)
        async with ws.ctx() as ctx:
            matches = await find_similar(ctx, title=query["title"], facts=query["facts"],
                                         client_name=query["client_name"], limit=limit)
        unknown = [m.session_id for m in matches if m.session_id not in loaded.families]
        if unknown:
            raise AssertionError(f"find_similar returned sessions that were never loaded: {unknown}")
        report.outcomes.append(Outcome(item["id"], item["family"], [loaded.families[m.session_id] for m in matches],
                                       bool(matches) and matches[0].same_client))
    report.seconds = time.perf_counter() - started
    return report
