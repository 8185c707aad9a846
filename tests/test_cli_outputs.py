"""`rfpilot outputs …` (SPEC §10, §14; seed-004 §7.3 cases 21–22 over the CLI)."""

from __future__ import annotations

import json

import pytest


@pytest.fixture
def cli_outputs(cli):
    """The CLI with the `outputs` commands (registered here until rfpilot.cli registers them itself)."""
    from rfpilot.cli import app
    from rfpilot.cli import outputs as outputs_cli

    added = None
    if not any(group.name == "outputs" for group in app.registered_groups):
        outputs_cli.register(app)
        added = app.registered_groups[-1]
    yield cli
    if added is not None:
        app.registered_groups.remove(added)


def ok(cli, *args: str, stdin: str | None = None) -> str:
    code, out, err = cli(*args, stdin=stdin)
    assert code == 0, f"`rfpilot {' '.join(args)}` exited {code}\nstdout: {out}\nstderr: {err}"
    return out


def js(cli, *args: str, stdin: str | None = None):
    return json.loads(ok(cli, *args, "--json", stdin=stdin))


def resolved_session(cli) -> str:
    sid = ok(cli, "new", "Outlook prompts for a password after the reset. It started on Monday.").strip()
    ok(cli, "facts", "add", sid, "The password was reset on Friday")
    ok(cli, "resolve", sid, "--yes")
    return sid


def test_an_open_session_has_no_outputs_and_cannot_draft_them(cli_outputs) -> None:
    """Case 21: listing the outputs of a fresh session gives an empty list."""
    cli = cli_outputs
    sid = ok(cli, "new", "VPN drops every ten minutes.").strip()
    assert js(cli, "outputs", "list", sid) == []
    code, out, err = cli("outputs", "list", sid)
    assert code == 0 and "no resolution outputs" in out
    code, out, err = cli("outputs", "generate", sid)
    assert code == 3 and "resolved session" in err and out == ""
    code, _, err = cli("outputs", "show", sid, "kb")
    assert code == 2 and "no KB article yet" in err


def test_generate_list_show_and_edit_over_the_cli(cli_outputs) -> None:
    """Case 22: an edit given on stdin is stored and echoed; the draft is kept."""
    cli = cli_outputs
    sid = resolved_session(cli)
    drafted = js(cli, "outputs", "generate", sid)
    assert [v["output_type"] for v in drafted] == ["psa_ticket_notes", "knowledge_base", "client_summary"]
    assert {v["drafter"] for v in drafted} == {"offline"} and {v["status"] for v in drafted} == {"draft"}
    listed = js(cli, "outputs", "list", sid)
    assert [v["id"] for v in listed] == [v["id"] for v in drafted]
    code, out, err = cli("outputs", "show", sid, "kb")
    assert code == 0 and out.startswith("## Symptoms\n") and "KB article · draft · offline drafter" in err
    edited = js(cli, "outputs", "edit", sid, "psa", "--file", "-", stdin="My edited version\n")
    assert edited["edited_content"] == "My edited version" and edited["content"] == "My edited version"
    assert edited["generated_content"] == drafted[0]["generated_content"] and edited["status"] == "draft"
    assert ok(cli, "outputs", "show", sid, "psa_ticket_notes") == "My edited version\n"
    code, _, err = cli("outputs", "edit", sid, "psa", "--file", "-", stdin="  \n")
    assert code == 1 and "empty" in err
    code, _, err = cli("outputs", "edit", sid, "psa")  # stdin is not a terminal: say where the text comes from
    assert code == 1 and "--file" in err
    again = js(cli, "outputs", "generate", sid, "--type", "psa", "--offline")
    assert len(again) == 1 and again[0]["edited_content"] is None and again[0]["fallback_reason"] == "--offline was asked for"
    code, _, err = cli("outputs", "generate", sid, "--type", "memo")
    assert code == 1 and "unknown output type" in err


def test_approve_reject_export_and_push(cli_outputs, tmp_path, monkeypatch) -> None:
    cli = cli_outputs
    sid = resolved_session(cli)
    ok(cli, "outputs", "generate", sid)
    monkeypatch.chdir(tmp_path)
    # A draft exports (marked DRAFT on its first line, still a draft); pushing it is refused, naming the push.
    code, out, err = cli("outputs", "export", sid, "kb", "--out", str(tmp_path / "draft.md"))
    assert code == 0 and out.strip() == str(tmp_path / "draft.md") and "exported as a DRAFT" in err
    draft = (tmp_path / "draft.md").read_text(encoding="utf-8")
    assert draft.startswith("> **DRAFT — not approved.** This KB article was exported from rfpilot as a draft")
    assert "\n\n# Outlook prompts for a password after the reset\n\n## Symptoms\n" in draft
    code, _, err = cli("outputs", "push", sid, "kb", "--to", "file", "--out", str(tmp_path / "pushed.md"))
    assert code == 3 and "only an approved output is pushed" in err and not (tmp_path / "pushed.md").exists()
    assert js(cli, "outputs", "approve", sid, "kb")["status"] == "approved"
    code, _, err = cli("outputs", "approve", sid, "kb")
    assert code == 3 and "only a draft can be approved" in err
    code, out, _ = cli("outputs", "export", sid)
    written = out.strip()
    assert code == 0 and written.endswith("kb-outlook-prompts-for-a-password-after-the-reset.md")
    text = (tmp_path / "kb-outlook-prompts-for-a-password-after-the-reset.md").read_text(encoding="utf-8")
    assert "## Things to rule out first\nNothing was ruled out in this session." in text
    assert text.startswith("# Outlook prompts") and "DRAFT" not in text  # approved: no draft mark
    code, _, err = cli("outputs", "export", sid)
    assert code == 3 and "already exists" in err and "--force" in err
    view = js(cli, "outputs", "export", sid, "kb", "--out", str(tmp_path / "kb.md"), "--force")
    assert view["status"] == "pushed" and view["pushed_to"] == "file" and view["pushed_reference"] == str(tmp_path / "kb.md")
    # No linked ticket: nothing to post to.
    ok(cli, "outputs", "approve", sid, "psa")
    code, _, err = cli("outputs", "push", sid, "psa", "--to", "psa")
    assert code == 3 and "not linked to a PSA ticket" in err
    code, _, err = cli("outputs", "push", sid, "psa", "--to", "file")
    assert code == 1 and "--out" in err
    assert js(cli, "outputs", "reject", sid, "client")["status"] == "rejected"
    code, _, err = cli("outputs", "export", sid, "client", "--out", str(tmp_path / "client.md"))
    assert code == 3 and "a rejected output is not exported" in err and not (tmp_path / "client.md").exists()
    statuses = {v["output_type"]: v["status"] for v in js(cli, "outputs", "list", sid)}
    assert statuses == {"psa_ticket_notes": "approved", "knowledge_base": "pushed", "client_summary": "rejected"}


def test_after_resolve_drafts_quietly_on_stderr(cli_outputs, capsys) -> None:
    """The hook the resolve command calls: drafts the three outputs, says so on stderr, never fails."""
    from rfpilot.cli.outputs import after_resolve

    cli = cli_outputs
    sid = ok(cli, "new", "Printer offline on floor two.").strip()
    ok(cli, "resolve", sid, "--yes")
    capsys.readouterr()
    after_resolve(sid)
    out, err = capsys.readouterr()
    assert out == "" and "Drafted the resolution outputs" in err and "KB article · draft" in err
    assert len(js(cli, "outputs", "list", sid)) == 3
    open_sid = ok(cli, "new", "Another problem.").strip()
    capsys.readouterr()
    after_resolve(open_sid)  # not resolved: nothing drafted, nothing said, no error
    assert capsys.readouterr() == ("", "")
