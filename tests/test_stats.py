"""Insights (core.memory.stats, `rfpilot stats`): every figure on a hand-built store with known outcomes
(tests/stats_seed.py), on SQLite and on Postgres, through the service and through the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from rfpilot.errors import NotFoundError, UsageError
from tests.stats_seed import EXPECTED_21D, NOW, group, seed, seed_store


@pytest.fixture
async def seeded(ctx):
    ctx.clock = lambda: NOW
    return await seed(ctx)


def _engineers(view) -> list[dict]:
    return [{k: v for k, v in e.items() if k not in ("engineer_id", "name")} for e in view["engineers"]]


async def test_every_figure(ctx, seeded) -> None:
    from rfpilot.core.memory.stats import DEFINITIONS, team_stats

    view = await team_stats(ctx, since="21d")
    assert view["window"] == {"since": "21d", "start": "2026-10-26T00:00:00+00:00", "end": NOW.isoformat(),
                              "weeks": 4}
    assert view["filters"] == {"client": None, "engineer": None}
    for key in ("totals", "weeks", "problems", "unclassified", "templates", "clients"):
        assert view[key] == EXPECTED_21D[key], key  # rates are the same float division of the same counts
    assert _engineers(view) == EXPECTED_21D["engineers"]
    assert [e["name"] for e in view["engineers"]] == ["Test Engineer", "Bob Builder"]
    assert view["definitions"] == DEFINITIONS


async def test_client_and_engineer_narrow_every_figure(ctx, seeded) -> None:
    from rfpilot.core.memory.stats import team_stats

    contoso = await team_stats(ctx, since="21d", client="  contoso ")
    assert contoso["filters"]["client"] == "contoso"
    assert contoso["totals"] == {"opened": 2, "resolved": 3, "escalated": 0, "closed": 3,
                                 "median_resolve_seconds": 900.0, "first_fix": {"count": 1, "of": 2, "rate": 0.5},
                                 "escalation_rate": {"count": 0, "of": 3, "rate": 0.0}}
    assert [c["client"] for c in contoso["clients"]] == ["Contoso"]
    assert [t["slug"] for t in contoso["templates"]] == ["clear-creds"]
    assert contoso["templates"][0]["applied"] == 2 and contoso["templates"][0]["worked"] == 2

    bob = await team_stats(ctx, since="21d", engineer="BOB@example.com")
    assert bob["filters"]["engineer"] == "bob@example.com"
    assert bob["totals"]["opened"] == 2 and bob["totals"]["median_resolve_seconds"] == 3000.0
    assert bob["totals"]["first_fix"] == {"count": 1, "of": 2, "rate": 0.5}
    assert bob["templates"] == [{"slug": "clear-creds", "name": "Clear cached Office credentials", "applied": 1,
                                 "worked": 0, "failed": 1, "success_rate": 0.0}]
    assert _engineers(bob) == [{"email": "bob@example.com", **group(2, 1, 1, 2, 3000.0, 0.5)}]


async def test_a_longer_window_takes_in_earlier_sessions_and_empty_weeks_are_zero(ctx, seeded) -> None:
    from rfpilot.core.memory.stats import team_stats

    view = await team_stats(ctx, since="26w")  # back to 2026-05-22: July's S7 and October's S6 come in
    assert view["window"]["start"] == "2026-05-18T00:00:00+00:00" and view["window"]["weeks"] == 27
    assert len(view["weeks"]) == 27 and view["weeks"][0]["week"] == "2026-W21"
    assert view["totals"]["opened"] == 9 and view["totals"]["resolved"] == 6
    july = [w for w in view["weeks"] if w["start"] == "2026-06-29"]
    assert july == [{"week": "2026-W27", "start": "2026-06-29", "opened": 1, "resolved": 1, "escalated": 0,
                     "median_resolve_seconds": 500.0}]
    quiet = [w for w in view["weeks"] if w["start"] == "2026-08-03"][0]
    assert quiet == {"week": "2026-W32", "start": "2026-08-03", "opened": 0, "resolved": 0, "escalated": 0,
                     "median_resolve_seconds": None}
    assert view["templates"][0] == {"slug": "clear-creds", "name": "Clear cached Office credentials", "applied": 4,
                                    "worked": 3, "failed": 1, "success_rate": 0.75}


async def test_top_limits_each_table(ctx, seeded) -> None:
    from rfpilot.core.memory.stats import team_stats

    view = await team_stats(ctx, since="21d", top=1)
    assert [p["key"] for p in view["problems"]] == ["clear-creds"]
    assert [t["slug"] for t in view["templates"]] == ["clear-creds"]
    assert [c["client"] for c in view["clients"]] == ["Contoso"]
    assert len(view["engineers"]) == 1
    assert view["totals"] == EXPECTED_21D["totals"]  # totals are never cut


async def test_bad_filters_are_named(ctx, seeded) -> None:
    from rfpilot.core.memory.stats import team_stats

    with pytest.raises(NotFoundError, match="Nobody Inc"):
        await team_stats(ctx, client="Nobody Inc")
    with pytest.raises(NotFoundError, match="nobody@example.com"):
        await team_stats(ctx, engineer="nobody@example.com")
    for bad in ("90", "3m", "0d", "-4d", "1.5w", "99999w", ""):
        with pytest.raises(UsageError):
            await team_stats(ctx, since=bad)


async def test_an_empty_store_has_zero_weeks(ctx) -> None:
    from rfpilot.core.memory.stats import team_stats

    ctx.clock = lambda: NOW
    view = await team_stats(ctx, since="14d")
    assert [w["opened"] + w["resolved"] + w["escalated"] for w in view["weeks"]] == [0, 0, 0]
    assert view["totals"]["closed"] == 0 and view["totals"]["median_resolve_seconds"] is None
    assert view["totals"]["first_fix"] == {"count": 0, "of": 0, "rate": None}
    assert view["problems"] == [] and view["clients"] == [] and view["engineers"] == []


async def test_figures_follow_the_services(ctx) -> None:
    """A session worked through the real services (suggest, apply, outcome, resolve) lands in the figures."""
    from rfpilot.core.closeout.closing import resolve_session
    from rfpilot.core.memory.stats import team_stats
    from rfpilot.core.session import fixes
    from rfpilot.core.session.sessions import create_session

    moment = {"t": datetime(2026, 11, 18, 9, tzinfo=UTC)}

    def clock() -> datetime:
        return moment["t"]

    ctx.clock = clock
    row = await create_session(ctx, "Scan to folder fails after the password rotation", client="Northwind")
    fix = await fixes.suggest_fix(ctx, row, "Update the scan account's password", description="On the copier",
                                  confidence=80)
    moment["t"] = datetime(2026, 11, 18, 9, 40, tzinfo=UTC)
    await fixes.apply_fix(ctx, row, fix)
    await fixes.record_outcome(ctx, row, fix, "applied_success")
    moment["t"] = datetime(2026, 11, 18, 10, tzinfo=UTC)
    await resolve_session(ctx, row, "## Problem\nScan to folder failed.\n\n## Resolution\nNew password.\n")
    moment["t"] = NOW
    view = await team_stats(ctx, since="7d")
    assert view["totals"]["resolved"] == 1 and view["totals"]["first_fix"]["rate"] == 1.0
    assert view["totals"]["median_resolve_seconds"] == 3600.0
    assert view["problems"][0]["label"] == "Update the scan account's password"
    assert view["clients"][0]["client"] == "Northwind"


# --- the CLI ----------------------------------------------------------------------------------------------------


@pytest.fixture
def seeded_cli(cli, settings):
    import asyncio

    asyncio.run(seed_store(settings))
    return cli


@pytest.fixture
def frozen(monkeypatch):
    """`rfpilot stats` as if run at NOW."""
    from rfpilot.core.context import Workspace

    monkeypatch.setitem(Workspace.open.__func__.__kwdefaults__, "clock", lambda: NOW)


def test_cli_json_is_the_service_view(seeded_cli, frozen) -> None:
    code, out, err = seeded_cli("stats", "--since", "21d", "--json")
    assert code == 0, err
    view = json.loads(out)
    assert view["totals"] == EXPECTED_21D["totals"]
    assert view["weeks"] == EXPECTED_21D["weeks"]
    assert view["problems"] == EXPECTED_21D["problems"]
    assert _engineers(view) == EXPECTED_21D["engineers"]
    assert set(view["definitions"]) >= {"opened", "resolved", "escalated", "first_fix", "median_resolve_seconds"}


def test_cli_tables(seeded_cli, frozen) -> None:
    code, out, err = seeded_cli("stats", "--since", "21d")
    assert code == 0, err
    lines = out.splitlines()
    assert "7 opened · 5 resolved · 2 escalated" in out
    assert "median time to resolve 20m" in out
    assert "first fix worked 40% (2 of 5)" in out and "escalation rate 33% (2 of 6)" in out
    week47 = next(line for line in lines if line.startswith("2026-W47"))
    assert week47.split() == ["2026-W47", "2026-11-16", "2", "2", "0", "58m"]
    assert any(line.split()[:3] == ["clear-creds", "3", "2"] and "67%" in line for line in lines)
    contoso = next(line for line in lines if line.startswith("Contoso"))
    assert contoso.split() == ["Contoso", "2", "3", "0", "0%", "50%", "15m"]
    assert any(line.startswith("(no client)") for line in lines)
    assert any(line.startswith("bob@example.com") for line in lines)


def test_cli_filters_and_errors(seeded_cli, frozen) -> None:
    code, out, _ = seeded_cli("stats", "--since", "21d", "--client", "FABRIKAM", "--json")
    assert code == 0 and json.loads(out)["totals"]["opened"] == 3
    code, out, err = seeded_cli("stats", "--client", "Nobody Inc")
    assert code == 2 and out == "" and "Nobody Inc" in err
    code, out, err = seeded_cli("stats", "--engineer", "nobody@example.com")
    assert code == 2 and out == "" and "nobody@example.com" in err
    code, out, err = seeded_cli("stats", "--since", "3m")
    assert code == 1 and out == "" and "'3m' is not a duration or a date" in err and "hint:" in err


def test_cli_nothing_to_show_yet(cli, frozen) -> None:
    code, out, err = cli("stats")
    assert code == 0 and out == ""
    assert "nothing to show yet" in err
    code, out, _ = cli("stats", "--json")
    assert code == 0 and json.loads(out)["totals"]["closed"] == 0


def test_every_figure_is_defined_in_the_docs() -> None:
    from pathlib import Path

    from rfpilot.core.memory.stats import DEFINITIONS

    docs = (Path(__file__).resolve().parent.parent / "docs" / "memory.md").read_text()
    insights = docs[docs.index("## Insights"):]
    missing = [key for key in DEFINITIONS if f"**{key}**" not in insights]
    assert not missing, f"figures with no definition in docs/memory.md: {missing}"
