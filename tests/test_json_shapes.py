"""The `--json` shapes of the commands whose views are typed in rfpilot/core/view_types.py: key sets AND key order.

A scripted scenario (no network, no model: the offline drafter; the PSA is the ConnectWise fake) runs each command
with --json and reduces its output to its shape: every object's keys in order, nested, a list by its first element.
Each shape must equal the one recorded in tests/json_shapes.json (recorded from the code before the views were
typed), so a key renamed, dropped, added or moved in a view fails here as well as in mypy. A few views are also held
to their TypedDict: the JSON's keys are the TypedDict's, in its order (the declaration is the documentation).

Shapes are recorded per store: a JSON document stored in a column (a handoff's snapshot and assessment, a branch's
summary, a connection's settings) comes back from Postgres's JSONB with its keys in JSONB's order (shorter keys
first), from SQLite in the order written, and `--json` has always printed them as read.

To record a deliberate change of shape: RFPILOT_WRITE_SHAPES=1 pytest tests/test_json_shapes.py, then review the
diff of tests/json_shapes.json (it is the JSON contract of these commands).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from rfpilot.core import view_types as vt

SHAPES_FILE = Path(__file__).with_name("json_shapes.json")
WRITE = os.environ.get("RFPILOT_WRITE_SHAPES") == "1"


def shape(value: Any) -> Any:
    """Keys in order, nested; a list by its first element (``[]`` when empty); a scalar as None."""
    if isinstance(value, dict):
        return [[key, shape(item)] for key, item in value.items()]
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return None


def _dumps(recorded: dict[str, dict[str, Any]]) -> str:
    """One line per command, so a change of shape shows as a one-line diff."""
    groups = []
    for group, shapes in recorded.items():
        lines = [f"  {json.dumps(label)}: {json.dumps(one, separators=(',', ':'))}" for label, one in shapes.items()]
        groups.append(f" {json.dumps(group)}: {{\n" + ",\n".join(lines) + "\n }")
    return "{\n" + ",\n".join(groups) + "\n}\n"


class Recorder:
    def __init__(self, cli, request: pytest.FixtureRequest) -> None:
        self.cli, self.group = cli, request.node.name  # per store: see the module docstring
        self.seen: dict[str, Any] = {}
        self.problems: list[str] = []

    def __call__(self, label: str, *args: str, stdin: str | None = None, code: int = 0,
                 typed: Any = None, optional: frozenset[str] = frozenset(), flag: str = "--json") -> Any:
        got, out, err = self.cli(*args, flag, stdin=stdin)
        assert got == code, f"`rfpilot {' '.join(args)} --json` exited {got}: {err}"
        if code and not out.strip():  # a refusal prints no data
            return None
        data = json.loads(out)
        self.seen[label] = shape(data)
        if typed is not None:
            one = data[0] if isinstance(data, list) else data
            declared = list(typed.__annotations__)
            if list(one) != [k for k in declared if k in one] or set(declared) - set(one) - optional:
                self.problems.append(f"{label}: keys {list(one)} are not {typed.__name__}'s {declared}")
        return data

    def check(self) -> None:
        recorded = json.loads(SHAPES_FILE.read_text()) if SHAPES_FILE.exists() else {}
        if WRITE:
            recorded[self.group] = self.seen
            SHAPES_FILE.write_text(_dumps(recorded))
            return
        expected = recorded[self.group]
        assert list(self.seen) == list(expected)
        changed = [label for label in expected if self.seen[label] != expected[label]]
        assert not changed, f"--json shapes changed (key set or order): {changed}"
        assert not self.problems, "\n".join(self.problems)


def test_session_work_and_handoff_shapes(cli, monkeypatch, request) -> None:
    run = Recorder(cli, request)
    run("doctor", "doctor", "--no-network", typed=vt.DoctorReport)
    sid = run("new", "new", "Printer offline for the whole floor.")["id"]
    run("facts add", "facts", "add", sid, "The spooler was stopped")
    question = run("lane ask", "lane", "ask", sid, "Which printers are affected?")["id"]
    check = run("lane check", "lane", "check", sid, "Spooler state", "-c", "Get-Service Spooler")["id"]
    run("lane list", "lane", "list", sid, typed=vt.LaneListView)
    run("lane answer", "lane", "answer", sid, question, "All of them", "--promote", typed=vt.LaneResponseView)
    run("lane ran", "lane", "ran", sid, check, "-o", "Stopped", typed=vt.LaneResponseView)
    run("lane list (answered)", "lane", "list", sid, typed=vt.LaneListView)
    run("fix show (none)", "fix", "show", sid, typed=vt.FixShowView)
    run("fix show --all (none)", "fix", "show", sid, "--all", typed=vt.FixListView)
    run("fix suggest", "fix", "suggest", sid, "Restart the spooler", "-c", "70", "--params", '{"Service": "Spooler"}',
        typed=vt.FixResultView)
    run("fix show", "fix", "show", sid, typed=vt.FixShowView)
    run("fix apply", "fix", "apply", sid, typed=vt.FixApplyView)
    run("fix outcome", "fix", "outcome", sid, "failed", "--notes", "still offline", typed=vt.FixResultView)
    run("fix show --all", "fix", "show", sid, "--all", typed=vt.FixListView)
    run("branches list (none)", "branches", "list", sid, typed=vt.BranchMapView)
    run("branches fork", "branches", "fork", sid, "--reason", "Network or DNS?", "-o", "Network: ping the gateway",
        "-o", "DNS: resolve the name", typed=vt.BranchMapView)
    run("branches switch", "branches", "switch", sid, "Network", typed=vt.BranchMapView)
    marked = run("branches mark", "branches", "mark", sid, "Network", "dead_end", "--reason", "The gateway answers",
                 "--offline", typed=vt.MarkedBranchMapView)
    assert set(marked["marked"]["summary"]) == set(vt.BranchSummary.__annotations__)
    run("branches revive", "branches", "revive", sid, "Network", "--from", "DNS", "--evidence",
        "DNS is fine; the VPN drops packets", typed=vt.BranchMapView)
    run("park", "park", sid, "--waiting-on", "the client's firewall export", typed=vt.HandoffView)
    run("queue list", "queue", "list", typed=vt.QueueItemView)
    [parked] = run("handoffs (parked)", "handoffs", sid, typed=vt.HandoffView)
    assert set(parked["snapshot"]) == set(vt.HandoffSnapshot.__annotations__)  # stored: Postgres orders its keys
    monkeypatch.setenv("RFPILOT_USER_EMAIL", "casey@example.com")
    monkeypatch.setenv("RFPILOT_USER_NAME", "Casey Colleague")
    run("queue claim", "queue", "claim", parked["id"], typed=vt.ClaimView)
    run("escalate --handoff", "escalate", sid, "--handoff", "--notes", "need a network person", "--offline",
        typed=vt.HandoffView)
    escalated = run("handoffs (escalated)", "handoffs", sid, typed=vt.HandoffView)[0]
    assert set(escalated["assessment"]) == set(vt.HandoffAssessment.__annotations__)
    other = run("new (to resolve)", "new", "VPN drops every hour")["id"]
    run("fix suggest (2)", "fix", "suggest", other, "Update the VPN client", "-c", "80")
    run("fix apply (2)", "fix", "apply", other)
    run("fix outcome (worked)", "fix", "outcome", other, "worked")
    run("resolve", "resolve", other, "--yes")
    run("outputs generate", "outputs", "generate", other, typed=vt.OutputView)
    run("outputs list", "outputs", "list", other, typed=vt.OutputView)
    run("outputs show", "outputs", "show", other, "kb", typed=vt.OutputView)
    run("outputs edit", "outputs", "edit", other, "psa", "--file", "-", stdin="My edited version\n", typed=vt.OutputView)
    exported = run("sessions export", "sessions", "export", sid, "--format", flag="json", typed=vt.ExportView)
    assert list(exported["session"]) == list(vt.ExportedSessionView.__annotations__)
    run.check()


@pytest.fixture
def cw_with_ticket(cw):
    cw.seed_ticket(48311, summary="Printer offline on floor 2", owner="rfpilot-api")
    return cw


def test_psa_shapes(cli, cw_with_ticket, memory_keyring, request) -> None:
    fake = cw_with_ticket
    run = Recorder(cli, request)
    secrets = "".join(f"{k}={v}\n" for k, v in fake.secrets().items())
    run("psa connect", "psa", "connect", "connectwise", "--site", fake.site, "--company-id", fake.company_id,
        "--codebase", fake.codebase, "--member", "jdoe", "--resolve-status", "Resolved", "--escalate-status",
        "Escalated", "--secrets-stdin", stdin=secrets, typed=vt.PSAConnectedView)
    run("psa list", "psa", "list", typed=vt.PSAConnectionView)
    run("psa test", "psa", "test", "--ticket", "48307", typed=vt.PSATestView)
    run("psa statuses", "psa", "statuses", "48307", typed=vt.PSAStatusesView)
    run("tickets list", "tickets", "list", typed=vt.TicketRowView)
    shown = run("tickets show", "tickets", "show", "48307", typed=vt.TicketShowView)
    assert list(shown["context"]) == list(vt.TicketContextView.__annotations__)  # built, not read back
    sid = run("new --ticket", "new", "--ticket", "48307")["id"]
    fake.keep_old_status = True
    run("resolve (status not kept)", "resolve", sid, "--yes", "--offline", code=4)
    [item] = run("outbox list", "outbox", "list", typed=vt.OutboxItemView)
    fake.keep_old_status = False
    run("outbox retry", "outbox", "retry", item["id"][:8], typed=vt.OutboxItemView)
    run("outbox list --all", "outbox", "list", "--all", typed=vt.OutboxItemView)
    run("outbox sync", "outbox", "sync", typed=vt.OutboxSyncView)
    run("doctor (a connection)", "doctor", "--no-network", typed=vt.DoctorReport)
    run.check()
