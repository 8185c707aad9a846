"""The command line end to end: the issue's acceptance scenario and the CLI contract of SPEC §14.

Every test drives `rfpilot …` in-process through the `cli` fixture, so it runs
once on SQLite and once on Postgres. Nothing here needs a network or a model:
with no API key the offline drafter writes the notes.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest

RESOLUTION_HEADINGS = ["Problem", "What we confirmed", "Root cause", "Resolution"]
ESCALATION_HEADINGS = [
    "Problem",
    "What we've confirmed",
    "What we've tried",
    "Current hypothesis",
    "Suggested next steps",
]
LIVE_TIMERS = ("active_seconds", "parked_seconds")  # computed from the clock at read time


# --- helpers ---------------------------------------------------------------


def ok(cli, *args: str, stdin: str | None = None) -> str:
    """Run a command that must succeed; return its stdout."""
    code, out, err = cli(*args, stdin=stdin)
    assert code == 0, f"`rfpilot {' '.join(args)}` exited {code}\nstdout: {out}\nstderr: {err}"
    return out


def js(cli, *args: str, stdin: str | None = None):
    """Run a command with --json and parse its stdout."""
    out = ok(cli, *args, "--json", stdin=stdin)
    try:
        return json.loads(out)
    except json.JSONDecodeError as exc:  # pragma: no cover - a failure message
        pytest.fail(f"`rfpilot {' '.join(args)} --json` did not print JSON ({exc}): {out!r}")


def new_id(cli, text: str, *extra: str) -> str:
    out = ok(cli, "new", text, *extra)
    return out.strip()


def headings(markdown: str) -> list[str]:
    return [line[3:].strip() for line in markdown.splitlines() if line.startswith("#")]


def section(markdown: str, heading: str) -> str:
    """The body of `## heading` (up to the next `##`)."""
    lines = markdown.splitlines()
    start = lines.index(f"## {heading}") + 1
    body = []
    for line in lines[start:]:
        if line.startswith("## "):
            break
        body.append(line)
    return "\n".join(body).strip()


def _strip_timers(view: dict) -> dict:
    return {k: v for k, v in view.items() if k not in LIVE_TIMERS}


def snapshot(cli, session_id: str) -> dict:
    """What the store says about a session (export minus exported_at and live timers) plus the list."""
    data = json.loads(ok(cli, "sessions", "export", session_id, "--format", "json"))
    data.pop("exported_at")
    data["session"] = _strip_timers(data["session"])
    listing = [_strip_timers(v) for v in js(cli, "sessions", "list", "--limit", "10000")]
    return {"export": data, "list": listing}


def first_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert lines, "nothing on stderr"
    assert lines[0].startswith("error:"), f"stderr does not start with 'error:': {err!r}"
    return lines[0]


def session_show(cli, session_id: str) -> dict:
    return js(cli, "sessions", "show", session_id)


def verifying_session(cli, text: str = "Printer offline for the whole floor.") -> str:
    """A session whose fix has been applied and waits for an outcome."""
    sid = new_id(cli, text)
    ok(cli, "facts", "add", sid, "The print spooler service was stopped")
    ok(cli, "fix", "suggest", sid, "Restart the print spooler", "-c", "75", "-d", "The spooler had stopped.")
    ok(cli, "fix", "apply", sid)
    assert js(cli, "fix", "show", sid)["banner"] == "verifying"
    return sid


# --- the issue's acceptance scenario --------------------------------------


def test_issue_acceptance_scenario(cli, monkeypatch):
    """The issue's acceptance walk-through passes end to end with no API key and an empty RFPILOT_HOME."""
    home = Path(os.environ["RFPILOT_HOME"])
    assert not home.exists() or not any(home.iterdir()), "RFPILOT_HOME must start empty"
    monkeypatch.delenv("RFPILOT_LLM_PROVIDER", raising=False)  # nothing configured, no key: offline
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)

    # Create a session: stdout is the id and nothing else.
    code, out, err = cli("new", "Outlook prompts for a password after the reset. It started on Monday.")
    assert code == 0, err
    sid = out.strip()
    assert out == sid + "\n" and str(uuid.UUID(sid)) == sid

    # Three facts.
    fact_texts = [
        "MFA is enabled for the user",
        "The password was reset on Monday",
        "Other users on the tenant are not affected",
    ]
    fact_ids = [ok(cli, "facts", "add", sid, text).strip() for text in fact_texts]
    assert all(str(uuid.UUID(f)) == f for f in fact_ids)

    # A question and a check, answered and run.
    question = ok(cli, "lane", "ask", sid, "Does Outlook on the web accept the new password?").strip()
    check = ok(cli, "lane", "check", sid, "List cached credentials", "--command", "cmdkey /list").strip()
    answered = js(cli, "lane", "answer", sid, question, "Yes, OWA signs in fine")
    assert answered["item"]["state"] == "answered" and answered["fact"] is None
    ran = js(cli, "lane", "ran", sid, check, "--output", "Target: MicrosoftOffice16_Data:SSPI (stale)")
    assert ran["item"]["state"] == "run" and ran["item"]["response"].startswith("Target:")

    # A fix suggested by hand at 80%, then applied.
    fix = js(cli, "fix", "suggest", sid, "Clear the cached Outlook credentials", "--confidence", "80",
             "--description", "A stale cached credential survived the password reset.")
    assert (fix["status"], fix["confidence_pct"], fix["origin"], fix["banner"]) == ("proposed", 80, "engineer", "proposed")
    applied = js(cli, "fix", "apply", sid)
    assert applied["changed"] is True and applied["verifying"] is True and applied["applied_at"]
    assert applied["banner"] == "verifying"

    # Partial with no notes: missing input is a usage error (exit 1), the message names the notes, nothing changed.
    before = snapshot(cli, sid)
    code, out, err = cli("fix", "outcome", sid, "applied_partial")
    assert code == 1
    assert out == ""
    assert "notes" in first_error_line(err).lower()
    assert snapshot(cli, sid) == before

    # Then with notes.
    notes = "Cleared on the laptop; the desktop still prompts"
    partial = js(cli, "fix", "outcome", sid, "applied_partial", "--notes", notes)
    assert partial["status"] == "applied_partial" and partial["partial_notes"] == notes
    assert partial["verified_at"] is None and partial["applied_at"] == applied["applied_at"]

    shown_fix = js(cli, "fix", "show", sid)
    assert shown_fix["banner"] == "partial"
    assert shown_fix["fix"]["id"] == fix["id"] and shown_fix["fix"]["status"] == "applied_partial"
    listed = js(cli, "facts", "list", sid)
    assert [f["text"] for f in listed] == fact_texts
    assert {f["source_type"] for f in listed} == {"user_note"}

    # preview resolve: exactly the four sections, facts as bullets, the partial outcome reflected.
    code, out, err = cli("preview", "resolve", sid)
    assert code == 0, err
    markdown = out.rstrip("\n")
    assert headings(markdown) == RESOLUTION_HEADINGS
    assert [line for line in markdown.splitlines() if line.startswith("## ")] == [f"## {h}" for h in RESOLUTION_HEADINGS]
    assert section(markdown, "What we confirmed").splitlines() == [f"- {t}." for t in fact_texts]
    resolution = section(markdown, "Resolution")
    assert "partially applied" in resolution and notes in resolution
    assert section(markdown, "Problem").startswith("Outlook prompts for a password after the reset.")
    assert "drafter" not in out and "offline drafter" in err and "freshly drafted" in err

    # A second preview is a cache hit.
    first_version = session_show(cli, sid)["session"]["state_version"]
    again = js(cli, "preview", "resolve", sid)
    assert again["from_cache"] is True
    assert again["markdown"] == markdown
    assert again["drafter"] == "offline" and again["kind"] == "resolution_note"
    assert again["state_version"] == first_version
    code, _, err = cli("preview", "resolve", sid)
    assert code == 0 and "cache hit" in err

    # Editing a fact makes the next preview a miss.
    edited_text = "The password was reset on Monday morning by the service desk"
    edited = js(cli, "facts", "edit", sid, fact_ids[1], "--text", edited_text)
    assert edited["text"] == edited_text and edited["state_version"] == first_version + 1
    miss = js(cli, "preview", "resolve", sid)
    assert miss["from_cache"] is False
    assert miss["state_version"] == first_version + 1
    assert f"- {edited_text}." in miss["markdown"]

    # resolve --yes: resolved_local, markdown stored.
    code, out, err = cli("resolve", sid, "--yes")
    assert code == 0, err
    assert out == "resolved_local\n"
    shown = session_show(cli, sid)
    assert shown["session"]["status"] == "resolved"
    assert shown["session"]["resolved_at"] and shown["session"]["has_resolution_note"] is True
    assert shown["resolution_note"] == miss["markdown"]
    assert shown["session"]["resolution_summary"] == "Outlook prompts for a password after the reset."
    assert shown["active_fix"]["status"] == "applied_partial"  # resolving does not rewrite a parked outcome

    # Resolving again: exit 3, "already resolved", nothing changed.
    before = snapshot(cli, sid)
    code, out, err = cli("resolve", sid, "--yes")
    assert code == 3 and out == ""
    assert "already resolved" in first_error_line(err).lower()
    assert snapshot(cli, sid) == before

    # Escalating the resolved session works and produces the five sections.
    code, out, err = cli("escalate", sid, "--yes")
    assert code == 0, err
    assert out == "escalated_local\n"
    shown = session_show(cli, sid)
    assert shown["session"]["status"] == "escalated"
    package = shown["escalation_package"]
    assert headings(package) == ESCALATION_HEADINGS
    assert f"- {edited_text}." in section(package, "What we've confirmed")
    assert "Partially applied" in section(package, "What we've tried")
    assert shown["resolution_note"] == miss["markdown"]  # the earlier note is kept


# --- --json and stdout discipline -----------------------------------------


def test_every_data_command_prints_json(cli, tmp_path):
    """`--json` output parses as JSON for every command that prints data."""
    script = tmp_path / "fix.ps1"
    script.write_text("Restart-Service Spooler\n", encoding="utf-8")
    def run(*args: str):
        return js(cli, *args)

    sid = run("new", "Printer offline for the whole floor.")["id"]
    run("sessions", "list")
    run("sessions", "show", sid)
    run("sessions", "rename", sid, "Floor printer offline")
    run("sessions", "pause", sid)
    run("sessions", "resume", sid)
    fact = run("facts", "add", sid, "The spooler was stopped")["id"]
    run("facts", "list", sid)
    run("facts", "edit", sid, fact, "--summary", "rules in the spooler")
    extra = run("facts", "add", sid, "A duplicate note")["id"]
    run("facts", "rm", sid, extra)
    question = run("lane", "ask", sid, "Which printers are affected?")["id"]
    check = run("lane", "check", sid, "Spooler state", "-c", "Get-Service Spooler")["id"]
    skipped = run("lane", "ask", sid, "Was there a Windows update?")["id"]
    run("lane", "list", sid)
    run("lane", "answer", sid, question, "All of them", "--promote")
    run("lane", "ran", sid, check, "-o", "Stopped")
    run("lane", "skip", sid, skipped)
    run("fix", "suggest", sid, "Restart the spooler", "-c", "70")
    run("fix", "show", sid)
    assert isinstance(js(cli, "fix", "show", sid, "--all")["fixes"], list)
    run("fix", "decide", sid, "one_off", "--script", str(script))
    run("fix", "outcome", sid, "pending", "--notes", "the user is at lunch")
    run("fix", "finish", sid)
    run("fix", "apply", sid)
    run("preview", "resolve", sid)
    run("preview", "escalate", sid)
    assert run("resolve", sid, "--yes")["outcome"] == "resolved_local"
    run("sessions", "reopen", sid)
    assert run("escalate", sid, "--yes")["outcome"] == "escalated_local"
    assert run("sessions", "abandon", sid, "--reason", "duplicate ticket")["status"] == "abandoned"
    assert run("config", "get")[0].keys() >= {"key", "value", "source"}
    assert run("config", "get", "identity.email")["value"] == "tester@example.com"
    assert run("db", "current")["up_to_date"] is True
    assert run("doctor")["database"]["ok"] is True


def test_stdout_carries_data_only(cli):
    """stdout holds only data (ids, markdown, outcomes); messages about it go to stderr."""
    code, out, err = cli("new", "VPN drops every ten minutes. Only on Wi-Fi.")
    assert code == 0
    sid = out.strip()
    assert out == sid + "\n"
    assert "created session" in err

    code, out, err = cli("facts", "add", sid, "Wired connections are stable")
    fact = out.strip()
    assert code == 0 and out == fact + "\n" and str(uuid.UUID(fact)) == fact and err == ""

    code, out, _ = cli("lane", "ask", sid, "Which Wi-Fi network?")
    assert code == 0 and len(out.strip()) == 36 and out.count("\n") == 1

    code, out, err = cli("facts", "rm", sid, fact)
    assert code == 0 and out == "" and "removed fact" in err

    code, out, err = cli("preview", "resolve", sid)
    assert code == 0
    assert out.startswith("## Problem\n")
    assert headings(out) == RESOLUTION_HEADINGS
    assert "drafter" not in out and "cache" not in out
    assert "offline drafter" in err and "state v" in err

    code, out, err = cli("preview", "escalate", sid)
    assert code == 0 and headings(out) == ESCALATION_HEADINGS and "offline drafter" in err

    code, out, err = cli("resolve", sid, "--yes")
    assert code == 0
    assert out == "resolved_local\n"
    assert "local only" in err and "offline drafter" in err

    code, out, err = cli("sessions", "reopen", sid)
    assert code == 0 and out.strip() == f"{sid[:8]} is now active"


# --- export ----------------------------------------------------------------


def test_sessions_export_markdown_and_json(cli, tmp_path):
    """`sessions export` writes the whole session as Markdown or JSON, to stdout or to --output."""
    sid = new_id(cli, "Scanner cannot save to the share. Started after the NAS update.", "--client", "Acme Dental")
    ok(cli, "facts", "add", sid, "The NAS firmware was updated on Friday", "--summary", "timeline")
    question = ok(cli, "lane", "ask", sid, "Can the PC open the share?").strip()
    ok(cli, "lane", "answer", sid, question, "Yes, from Explorer")
    check = ok(cli, "lane", "check", sid, "SMB dialect", "-c", "Get-SmbConnection").strip()
    ok(cli, "lane", "ran", sid, check, "-o", "Dialect 3.1.1")
    ok(cli, "fix", "suggest", sid, "Enable SMB2 on the scanner", "-c", "65")
    ok(cli, "resolve", sid, "--yes")

    code, md, err = cli("sessions", "export", sid)
    assert code == 0, err
    assert md.startswith("# Scanner cannot save to the share\n")
    assert f"- **Session:** {sid}" in md and "- **Status:** resolved" in md and "- **Client:** Acme Dental" in md
    for heading in ("## Problem as reported", "## What we know", "## Questions", "## Diagnostic checks",
                    "## Suggested fixes", "## Resolution note"):
        assert heading in md.splitlines(), heading
    assert "- The NAS firmware was updated on Friday _(user_note · timeline)_" in md
    assert "- [answered] Can the PC open the share? — Yes, from Explorer" in md
    assert "Get-SmbConnection" in md and "Dialect 3.1.1" in md
    assert "> ## Problem" in md  # the stored note, quoted

    code, raw, err = cli("sessions", "export", sid, "--format", "json")
    assert code == 0, err
    data = json.loads(raw)
    assert data["format"] == 1 and data["exported_at"] and data["exported_by"].startswith("rfpilot ")
    assert data["session"]["id"] == sid and data["session"]["status"] == "resolved"
    assert data["session"]["client"] == "Acme Dental" and data["session"]["owner"] == "Test Engineer"
    assert [f["text"] for f in data["facts"]] == ["The NAS firmware was updated on Friday"]
    assert {i["kind"]: i["state"] for i in data["lane"]} == {"question": "answered", "check": "run"}
    assert [f["title"] for f in data["fixes"]] == ["Enable SMB2 on the scanner"]
    assert headings(data["resolution_note"]) == RESOLUTION_HEADINGS and data["escalation_package"] is None

    md_file, json_file = tmp_path / "out" / "s.md", tmp_path / "s.json"
    md_file.parent.mkdir()
    code, out, err = cli("sessions", "export", sid, "-o", str(md_file))
    assert code == 0 and out == "" and "wrote" in err
    assert md_file.read_text(encoding="utf-8") == md
    code, out, _ = cli("sessions", "export", sid, "--format", "json", "--output", str(json_file))
    assert code == 0 and out == ""
    written = json.loads(json_file.read_text(encoding="utf-8"))
    for view in (written, data):
        view.pop("exported_at")
        view["session"] = _strip_timers(view["session"])
    assert written == data


# --- resolve / escalate options -------------------------------------------


def test_resolve_markdown_file_summary_and_export(cli, tmp_path):
    """`resolve --markdown-file F --summary S --export P` posts F as written, keeps S, and writes P."""
    sid = new_id(cli, "Teams crashes on launch. Only for one user.")
    note = ("## Problem\nTeams crashed on launch for one user.\n\n## What we confirmed\n- The cache was corrupt.\n\n"
            "## Root cause\nA corrupt Teams cache.\n\n## Resolution\nCleared %appdata%\\Microsoft\\Teams.\n")
    note_file = tmp_path / "note.md"
    note_file.write_text("\n" + note + "\n\n", encoding="utf-8")
    export = tmp_path / "notes" / "resolution.md"

    result = js(cli, "resolve", sid, "--yes", "--markdown-file", str(note_file),
                "--summary", "Cleared the Teams cache", "--export", str(export))
    assert result["outcome"] == "resolved_local" and result["session_status"] == "resolved"
    assert result["markdown"] == note.strip()
    assert result["drafter"] == "engineer" and result["from_cache"] is False
    assert result["summary"] == "Cleared the Teams cache"
    assert result["exported_to"] == str(export)
    assert export.read_text(encoding="utf-8") == note.strip() + "\n"

    shown = session_show(cli, sid)
    assert shown["resolution_note"] == note.strip()
    assert shown["session"]["resolution_summary"] == "Cleared the Teams cache"


def test_escalate_markdown_from_stdin_with_summary(cli):
    """`escalate --markdown-file - --summary S` reads the package from stdin and keeps S (SPEC §14 flags)."""
    sid = new_id(cli, "Mailbox migration stuck at 95%.")
    package = "\n\n".join(f"## {h}\nSee ticket." for h in ESCALATION_HEADINGS)
    result = js(cli, "escalate", sid, "--yes", "--markdown-file", "-", "--summary", "Needs a tenant admin",
                stdin=package)
    assert result["outcome"] == "escalated_local" and result["markdown"] == package
    shown = session_show(cli, sid)
    assert shown["session"]["status"] == "escalated"
    assert shown["session"]["escalation_reason"] == "Needs a tenant admin"
    assert shown["escalation_package"] == package


def test_resolve_summary_defaults_to_problem_first_sentence(cli):
    """Without --summary the listing summary is the Problem section's first sentence, never a heading."""
    sid = new_id(cli, "Laptop will not dock. The monitors stay black.")
    result = js(cli, "resolve", sid, "--yes")
    assert result["summary"] == "Laptop will not dock."
    assert session_show(cli, sid)["session"]["resolution_summary"] == "Laptop will not dock."


def test_resolve_verifying_fix_with_yes_records_success_first(cli):
    """`resolve --yes` while the fix is verifying records applied_success before resolving."""
    sid = verifying_session(cli)
    code, out, err = cli("resolve", sid, "--yes")
    assert code == 0, err
    assert out == "resolved_local\n"
    assert "recorded as worked" in err
    shown = session_show(cli, sid)
    assert shown["session"]["status"] == "resolved"
    assert shown["active_fix"]["status"] == "applied_success"
    assert shown["active_fix"]["verified_at"] is not None
    assert 'Applied "Restart the print spooler"; confirmed working.' in shown["resolution_note"]


@pytest.mark.parametrize("with_yes", [True, False], ids=["yes", "no-yes"])
def test_escalate_verifying_fix_needs_fix_outcome_when_not_interactive(cli, with_yes):
    """Escalating a verifying fix without --fix-outcome and no terminal exits 1 and changes nothing."""
    sid = verifying_session(cli)
    before = snapshot(cli, sid)
    args = ["escalate", sid] + (["--yes"] if with_yes else [])
    code, out, err = cli(*args, stdin="")
    assert code == 1
    assert out == ""
    line = first_error_line(err)
    assert ("--fix-outcome" if with_yes else "--yes") in line
    assert snapshot(cli, sid) == before


def test_escalate_verifying_fix_with_fix_outcome_failed(cli):
    """`escalate --fix-outcome failed --notes N` records the failure, then escalates with it in the package."""
    sid = verifying_session(cli)
    code, out, err = cli("escalate", sid, "--yes", "--fix-outcome", "failed", "--notes", "Jobs still stuck in the queue")
    assert code == 0, err
    assert out == "escalated_local\n"
    shown = session_show(cli, sid)
    fix = shown["active_fix"]
    assert (fix["status"], fix["failure_reason"]) == ("applied_failed", "Jobs still stuck in the queue")
    assert fix["verified_at"] is not None
    assert shown["session"]["status"] == "escalated"
    package = shown["escalation_package"]
    assert headings(package) == ESCALATION_HEADINGS
    assert "did not resolve the issue (Jobs still stuck in the queue)" in section(package, "What we've tried")
    assert shown["session"]["escalation_reason"] == "Printer offline for the whole floor."


@pytest.mark.parametrize("action", ["resolve", "escalate"])
def test_close_without_yes_and_no_terminal_changes_nothing(cli, action):
    """`resolve`/`escalate` without --yes when stdin is not a terminal exits 1 and changes nothing."""
    sid = verifying_session(cli)
    before = snapshot(cli, sid)
    code, out, err = cli(action, sid, stdin="y\n")
    assert code == 1
    assert out == ""
    assert "--yes" in first_error_line(err)
    assert snapshot(cli, sid) == before


# --- sessions list / status commands ---------------------------------------


def _blocks(text: str) -> dict[str, list[str]]:
    """`sessions list` output split into its titled blocks."""
    blocks: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line in ("Active", "Recent"):
            current = blocks.setdefault(line, [])
        elif line.strip() and current is not None:
            current.append(line)
    return blocks


def test_sessions_list_groups_active_and_recent(cli):
    """`sessions list` shows open sessions under Active and closed ones under Recent."""
    code, out, err = cli("sessions", "list")
    assert code == 0 and out == "" and "no sessions yet" in err
    assert js(cli, "sessions", "list") == []

    ids = {status: new_id(cli, f"A {status} problem.") for status in
           ("active", "paused", "escalated", "resolved", "abandoned")}
    ok(cli, "sessions", "pause", ids["paused"])
    ok(cli, "escalate", ids["escalated"], "--yes")
    ok(cli, "resolve", ids["resolved"], "--yes")
    ok(cli, "sessions", "abandon", ids["abandoned"])

    blocks = _blocks(ok(cli, "sessions", "list"))
    assert list(blocks) == ["Active", "Recent"]
    active, recent = "\n".join(blocks["Active"]), "\n".join(blocks["Recent"])
    for status in ("active", "paused", "escalated"):
        assert ids[status][:8] in active and ids[status][:8] not in recent, status
        assert status in active
    for status in ("resolved", "abandoned"):
        assert ids[status][:8] in recent and ids[status][:8] not in active, status
    assert blocks["Active"][0].split() == ["ID", "STATUS", "TICKET", "CLIENT", "AGE", "TITLE"]

    listed = js(cli, "sessions", "list")
    assert {v["id"]: v["status"] for v in listed} == {sid: status for status, sid in ids.items()}
    only = js(cli, "sessions", "list", "--status", "resolved", "--status", "abandoned")
    assert {v["id"] for v in only} == {ids["resolved"], ids["abandoned"]}

    # Only open sessions: no Recent block.
    assert list(_blocks(ok(cli, "sessions", "list", "--status", "active"))) == ["Active"]


def test_sessions_pause_resume_reopen_abandon(cli):
    """`sessions pause|resume|abandon|reopen` move a session along SPEC §3's transitions."""
    sid = new_id(cli, "Shared mailbox not showing in Outlook.")

    def status() -> str:
        return session_show(cli, sid)["session"]["status"]

    assert js(cli, "sessions", "pause", sid)["status"] == "paused"
    assert status() == "paused"
    code, out, err = cli("sessions", "pause", sid)
    assert code == 3 and out == "" and "already paused" in first_error_line(err)

    code, out, _ = cli("sessions", "resume", sid)
    assert code == 0 and out.strip() == f"{sid[:8]} is now active"
    assert status() == "active"

    view = js(cli, "sessions", "abandon", sid, "--reason", "  duplicate   of another ticket ")
    assert view["status"] == "abandoned" and view["abandon_reason"] == "duplicate of another ticket"
    assert view["abandoned_at"]
    code, _, err = cli("sessions", "resume", sid)
    assert code == 3 and "paused" in first_error_line(err)

    assert js(cli, "sessions", "reopen", sid)["status"] == "active"
    assert status() == "active"
    code, _, err = cli("sessions", "reopen", sid)
    assert code == 3 and "resolved or abandoned" in first_error_line(err)

    ok(cli, "resolve", sid, "--yes")
    assert status() == "resolved"
    assert js(cli, "sessions", "reopen", sid)["status"] == "active"
    assert js(cli, "sessions", "pause", sid[:8])["status"] == "paused"  # a unique prefix is enough


def test_notes_without_fix_outcome_is_refused(cli):
    """`--notes` only makes sense with `--fix-outcome`; nothing is recorded without it."""
    sid = new_id(cli, "Scanner fails.")
    cli("fix", "suggest", sid, "Reinstall driver", "-c", "70")
    cli("fix", "apply", sid)
    code, out, err = cli("resolve", sid, "--yes", "--notes", "half done")
    assert code == 1 and out == "" and "--notes goes with --fix-outcome" in err
    assert js(cli, "fix", "show", sid)["fix"]["status"] == "proposed"
    assert js(cli, "sessions", "show", sid)["session"]["status"] == "active"
