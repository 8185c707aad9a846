"""An interactive resolve: the engineer reads the note with no transaction open, and a "no" changes nothing."""

from __future__ import annotations

import json
import sqlite3

import pytest


def ok(result: tuple[int, str, str]) -> str:
    code, out, err = result
    assert code == 0, err
    return out


def _fix_state(cli, sid: str) -> dict:
    return json.loads(ok(cli("fix", "show", sid, "--json")))


@pytest.mark.parametrize("action", ["resolve", "escalate"])
def test_declining_the_note_records_no_outcome_and_the_store_is_free_while_reading(cli, env, monkeypatch, action) -> None:
    from rfpilot.cli import output

    sid = ok(cli("new", "Outlook prompts for a password after the reset")).strip()
    ok(cli("fix", "suggest", sid, "Clear the cached Office credentials", "-c", "80"))
    ok(cli("fix", "apply", sid))
    before = _fix_state(cli, sid)
    monkeypatch.setattr(output, "stdin_is_interactive", lambda: True)
    seen: list[str] = []

    def confirm(prompt: str, default: bool = False) -> bool:
        seen.append(prompt)
        url = env["RFPILOT_DATABASE_URL"]
        if url.startswith("sqlite"):
            # Another process writes while the engineer reads: no write lock may be held now.
            conn = sqlite3.connect(url.split("///", 1)[1], timeout=0)
            try:
                conn.execute("CREATE TABLE IF NOT EXISTS probe (x INTEGER)")
                conn.execute("INSERT INTO probe VALUES (1)")
                conn.commit()
            finally:
                conn.close()
        return False

    monkeypatch.setattr(output, "confirm", confirm)
    code, out, err = cli(action, sid, "--offline", "--fix-outcome", "worked")
    assert code == 1 and f"not {action}d" in err, err
    assert seen, "the engineer was asked"
    assert "Clear the cached Office credentials" in out  # the note they were shown
    assert _fix_state(cli, sid) == before  # the outcome given for the note was not kept
    assert json.loads(ok(cli("sessions", "show", sid, "--json")))["session"]["status"] == "active"

    monkeypatch.setattr(output, "confirm", lambda prompt, default=False: True)
    ok(cli(action, sid, "--offline", "--fix-outcome", "worked"))
    shown = json.loads(ok(cli("sessions", "show", sid, "--json")))
    assert shown["session"]["status"] == ("resolved" if action == "resolve" else "escalated")
