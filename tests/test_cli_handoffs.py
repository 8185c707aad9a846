"""`park`, `queue list|claim`, `handoffs` and the `escalate --handoff` hook, in-process, on both stores."""

from __future__ import annotations

import json

import pytest


@pytest.fixture(autouse=True)
def handoff_commands():
    """The commands, registered for this test if rfpilot.cli does not register them (yet)."""
    from rfpilot.cli import app
    from rfpilot.cli import handoffs as module

    if any(c.name == "park" for c in app.registered_commands):
        yield
        return
    commands, groups = list(app.registered_commands), list(app.registered_groups)
    module.register(app)
    try:
        yield
    finally:
        app.registered_commands[:] = commands
        app.registered_groups[:] = groups


def ok(result: tuple[int, str, str]) -> str:
    code, out, err = result
    assert code == 0, err
    return out


def be(monkeypatch: pytest.MonkeyPatch, email: str, name: str) -> None:
    monkeypatch.setenv("RFPILOT_USER_EMAIL", email)
    monkeypatch.setenv("RFPILOT_USER_NAME", name)


def test_park_list_claim_and_a_second_claim(cli, monkeypatch) -> None:
    sid = ok(cli("new", "Scanner on floor 2 cannot reach the file share")).strip()
    out = ok(cli("park", sid[:8], "--waiting-on", "the client's firewall export"))
    handoff_id = out.strip()
    assert len(handoff_id) == 36

    code, out, err = cli("queue", "list")
    assert code == 0, err
    assert handoff_id[:8] in out and "park" in out and "the client's firewall export" in out
    assert "Test Engineer" in out
    [item] = json.loads(ok(cli("queue", "list", "--json")))
    assert item["handoff_id"] == handoff_id and item["session_id"] == sid and item["priority"] == "normal"

    be(monkeypatch, "casey@example.com", "Casey Colleague")
    code, out, err = cli("queue", "claim", handoff_id[:8])
    assert code == 0, err
    assert "Parked by Test Engineer" in out and "Waiting on: the client's firewall export" in out
    assert "claimed session" in err and "yours and active" in err
    assert ok(cli("queue", "list")).strip() == "the queue is empty: nothing waits to be claimed"

    be(monkeypatch, "tam@example.com", "Tam Third")
    code, out, err = cli("queue", "claim", handoff_id[:8])
    assert code == 3 and out == ""
    assert "already claimed by Casey Colleague at" in err

    [view] = json.loads(ok(cli("handoffs", sid, "--json")))
    assert view["state"] == "claimed" and view["claimed_by_name"] == "Casey Colleague"
    assert view["snapshot"]["waiting_on"] == "the client's firewall export"
    assert "claimed by Casey Colleague" in ok(cli("handoffs", sid))


def test_claim_json_carries_the_briefing(cli, monkeypatch) -> None:
    sid = ok(cli("new", "VPN drops every hour")).strip()
    handoff_id = ok(cli("park", sid, "--waiting-on", "the ISP ticket")).strip()
    be(monkeypatch, "casey@example.com", "Casey Colleague")
    data = json.loads(ok(cli("queue", "claim", handoff_id, "--json")))
    assert data["session_status"] == "active" and data["briefing_by"] == "offline"
    assert "Waiting on: the ISP ticket" in data["briefing"] and data["owner_id"] == data["claimed_by"]


def test_park_needs_what_it_waits_on(cli) -> None:
    sid = ok(cli("new", "Printer offline")).strip()
    code, _, err = cli("park", sid)
    assert code == 1 and "--waiting-on" in err
    code, _, err = cli("park", sid, "--waiting-on", "  ")
    assert code == 1 and "what you are waiting on is empty" in err
    assert ok(cli("handoffs", sid)).strip() == "no handoffs: this session was never parked or escalated"


def test_parking_twice_is_a_conflict(cli) -> None:
    sid = ok(cli("new", "Printer offline")).strip()
    ok(cli("park", sid, "--waiting-on", "toner delivery"))
    code, _, err = cli("park", sid, "--waiting-on", "something else")
    assert code == 3 and "already waits in the queue" in err


def test_escalate_handoff_hook(cli, capsys) -> None:
    from rfpilot.cli.handoffs import escalate_handoff_command

    sid = ok(cli("new", "Mailbox will not sync on the phone")).strip()
    escalate_handoff_command(sid, "needs an Exchange admin", True, False)
    out, err = capsys.readouterr()
    assert out.startswith("Likely cause (low confidence, offline): Not isolated yet")
    assert "with elevated priority" in err
    [item] = json.loads(ok(cli("queue", "list", "--json")))
    assert (item["intent"], item["priority"], item["notes"]) == ("escalate", "elevated", "needs an Exchange admin")
    from rfpilot.errors import ConflictError

    with pytest.raises(ConflictError, match="already escalated"):
        escalate_handoff_command(sid, None, False, True)
