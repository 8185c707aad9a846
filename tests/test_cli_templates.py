"""The script library from the command line with the scripted provider (issue 6's acceptance run)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

SCRIPT = "Set-CopierSmb -Host copier-01 -Account 'HARBOUR\\svc-scan' -Path '\\\\fs01\\scans'"
TEMPLATED = "Set-CopierSmb -Host copier-01 -Account '{{ scan_account }}' -Path '{{ share_path }}'"
EXTRACTED = {
    "parameters": [
        {"key": "scan_account", "label": "Scan account", "type": "text", "value": "HARBOUR\\svc-scan",
         "inferred_from": "the fact naming the scan account"},
        {"key": "share_path", "label": "Share path", "type": "text", "value": "\\\\fs01\\scans",
         "inferred_from": "the fact naming the share"},
    ],
    "templated_body": TEMPLATED,
}


def _block(name: str, payload) -> str:
    return f"[{name}]\n{json.dumps(payload)}\n[/{name}]"


def _replies() -> str:
    first = "The copier still sends the old password.\n\n" + _block("SUGGEST_FIX", {
        "title": "Update the copier's scan login", "description": "Store the rotated password on the copier.",
        "confidence": 85, "ai_drafted_script": SCRIPT})
    second = "Same fix as last month.\n\n" + _block("SUGGEST_FIX", {
        "title": "Update the copier's scan login", "description": "Use the team's template.", "confidence": 90,
        "script_template_slug": "copier-scan-login"})
    replies = [
        {"match": "scan fails", "reply": first},
        {"match": "again", "reply": second},
        {"action": "extraction", "reply": json.dumps(EXTRACTED)},
    ]
    return json.dumps({"replies": replies})


@pytest.fixture
def scripted(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "replies.json"
    path.write_text(_replies(), encoding="utf-8")
    monkeypatch.setenv("RFPILOT_LLM_PROVIDER", "scripted")
    monkeypatch.setenv("RFPILOT_SCRIPTED_FILE", str(path))
    return cli


def ok(result: tuple[int, str, str]) -> str:
    code, out, err = result
    assert code == 0, err
    return out


def test_draft_review_accept_then_reuse(scripted) -> None:
    cli = scripted
    sid = ok(cli("new", "Front-desk copier cannot scan to the share")).strip()
    ok(cli("chat", sid, "The scan fails with a login error since the password rotation"))
    code, out, err = cli("fix", "decide", sid, "draft_template", "--json")
    assert code == 0, err
    decided = json.loads(out)
    assert decided["extraction"]["source"] == "llm" and decided["extraction"]["parameters"] == 2
    assert decided["applied_at"] is not None

    code, out, err = cli("resolve", sid, "--yes", "--offline", "--fix-outcome", "worked")
    assert code == 0, err
    assert "1 draft template from this session waits for review" in err
    draft_id = json.loads(ok(cli("templates", "drafts", "--session", sid, "--json")))[0]["id"]
    assert f"rfpilot templates accept {draft_id[:8]}" in err

    view = json.loads(ok(cli("templates", "accept", draft_id[:8], "--name", "Copier scan login", "--json")))
    assert view["slug"] == "copier-scan-login" and view["body"] == TEMPLATED
    assert [p["key"] for p in view["parameters"]] == ["scan_account", "share_path"]
    listing = ok(cli("templates", "list"))
    assert "copier-scan-login" in listing and "by Test Engineer · used 0×" in listing
    assert json.loads(ok(cli("templates", "drafts", "--json"))) == []

    # A second session: its fix names the slug; the values come from its facts.
    sid2 = ok(cli("new", "Copier scanning broken again after the password change")).strip()
    ok(cli("facts", "add", sid2, "The scan account is HARBOUR\\svc-scan2"))
    ok(cli("facts", "add", sid2, "The share path is \\\\fs02\\scans."))
    ok(cli("chat", sid2, "Scanning is broken again"))
    shown = json.loads(ok(cli("fix", "show", sid2, "--json")))
    assert shown["fix"]["script_template_slug"] == "copier-scan-login"
    code, out, err = cli("templates", "render", "copier-scan-login", "--session", sid2)
    assert code == 0, err
    assert out.strip() == "Set-CopierSmb -Host copier-01 -Account 'HARBOUR\\svc-scan2' -Path '\\\\fs02\\scans'"
    assert "scan_account: from session: The scan account is HARBOUR\\svc-scan2" in err

    ran = json.loads(ok(cli("fix", "run", sid2, "--yes", "--json")))
    assert ran["template"] == "copier-scan-login" and "svc-scan2" in ran["script"]
    assert json.loads(ok(cli("fix", "show", sid2, "--json")))["banner"] == "verifying"
    assert "used 1×" in ok(cli("templates", "list"))


def test_reject_and_dont_ask_again(scripted) -> None:
    cli = scripted
    sid = ok(cli("new", "Copier cannot scan")).strip()
    ok(cli("chat", sid, "The scan fails after the rotation"))
    ok(cli("fix", "decide", sid, "draft_template"))
    ok(cli("templates", "prompt", "off"))
    code, out, err = cli("resolve", sid, "--yes", "--offline", "--fix-outcome", "worked")
    assert code == 0 and "draft template" not in err
    draft_id = json.loads(ok(cli("templates", "drafts", "--json")))[0]["id"]
    ok(cli("templates", "reject", draft_id[:8]))
    code, _, err = cli("templates", "reject", draft_id[:8])
    assert code == 3 and "already rejected" in err
    assert json.loads(ok(cli("templates", "drafts", "--all", "--json")))[0]["status"] == "rejected"


def test_export_import_round_trip(cli, tmp_path: Path, monkeypatch) -> None:
    body = tmp_path / "body.ps1"
    body.write_text("Restart-Service -Name {{ service }} -Force\n", encoding="utf-8")
    params = tmp_path / "params.toml"
    params.write_text('[[parameters]]\nkey = "service"\nlabel = "Service"\nfield_type = "select"\n'
                      'options = ["Spooler", "LanmanServer"]\n', encoding="utf-8")
    ok(cli("templates", "new", "--name", "Restart a service", "--file", str(body), "--param-file", str(params),
           "--language", "powershell", "--category", "Windows"))
    code, _, err = cli("templates", "new", "--name", "Other", "--file", str(body), "--param-file", str(params),
                       "--slug", "restart-a-service")
    assert code == 3 and "taken" in err
    out_dir = tmp_path / "library"
    files = ok(cli("templates", "export", "--dir", str(out_dir))).split()
    assert files == [str(out_dir / "restart-a-service.toml")]
    original = Path(files[0]).read_text()

    # Into an empty store (another account), twice.
    monkeypatch.setenv("RFPILOT_ACCOUNT", "empty-team")
    assert ok(cli("templates", "import", *files)).startswith("created")
    assert ok(cli("templates", "import", *files)).startswith("unchanged")
    again = ok(cli("templates", "export", "--dir", str(tmp_path / "again"))).split()
    assert Path(again[0]).read_text() == original
    code, out, err = cli("templates", "render", "restart-a-service", "--set", "service=Spooler")
    assert code == 0 and out.strip() == "Restart-Service -Name Spooler -Force"
    code, _, err = cli("templates", "render", "restart-a-service", "--set", "service=Nope")
    assert code == 1 and "not one of Spooler, LanmanServer" in err


def test_interactive_review_after_resolve(scripted, monkeypatch) -> None:
    """At a terminal, resolve walks the session's drafts: accept with a name, a slug and a category."""
    from rfpilot.cli import output

    cli = scripted
    sid = ok(cli("new", "Copier cannot scan")).strip()
    ok(cli("chat", sid, "The scan fails after the rotation"))
    ok(cli("fix", "decide", sid, "draft_template"))
    monkeypatch.setattr(output, "stdin_is_interactive", lambda: True)
    answers = "\n".join([
        "y",                      # resolve with this note?
        "a",                      # accept the draft
        "Copier scan login",      # name
        "",                       # slug: the derived one
        "Stores the rotated scan password on the copier.",
        "Scanning",               # category
        "2",                      # remove parameter 2 (share_path)… refused: the body still uses it
        "n",                      # do not edit the body
    ]) + "\n"
    code, out, err = cli("resolve", sid, "--offline", "--fix-outcome", "worked", stdin=answers)
    assert code == 0, err
    assert "Keep the script that fixed it as a team template?" in err
    assert "not saved" in err and "share_path" in err  # removing a used parameter is refused, nothing saved
    assert json.loads(ok(cli("templates", "drafts", "--json")))[0]["status"] == "pending"
    answers = "a\nCopier scan login\n\n\nScanning\n\nn\n"
    code, out, err = cli("templates", "review", "--session", sid, stdin=answers)
    assert code == 0, err
    shown = json.loads(ok(cli("templates", "show", "copier-scan-login", "--json")))
    assert shown["category"] == "Scanning" and [p["key"] for p in shown["parameters"]] == ["scan_account", "share_path"]
