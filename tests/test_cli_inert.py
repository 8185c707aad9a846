"""Inert output (issue 12 item 4): no command lets a control sequence from stored or external text reach the terminal.

Every text field a command echoes is written with control sequences in it — OSC 52 (clipboard write), a screen
clear, a title change, BEL, the 8-bit CSI and OSC introducers, backspace, DEL (and NUL where a store can hold it) —
through every way text gets in: arguments, files and stdin, the model's reply (scripted provider), the PSA (the
ConnectWise fake: ticket summary, description, company, contact) and a teammate's display name on the same store.
Then every command of the Typer app runs (the test enumerates them: a command added later fails
``test_every_command_is_tried`` until it is tried here) and none of their stdout/stderr may hold ESC, BEL or a C1
code point. The text must still be readable: the words around a control survive and the control shows as U+FFFD.
Files written by exports are held to the same rule; a template export round-trips exactly.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

import pytest

PLACEHOLDER = "\N{REPLACEMENT CHARACTER}"
# What a hostile ticket, model or teammate might carry. No NUL: argv and the environment cannot hold one.
ATTACK = "\x1b]52;c;ZXZpbA==\x07\x1b[2J\x1b[H\x1b]0;pwned\x07 \x07\x9b31m\x9d0;t\x9c\b\x7f"
# Nothing a terminal would act on: ESC, BEL, any C0 but newline and tab, DEL, C1.
FORBIDDEN = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")

# Commands that cannot run in a test process, with the reason.
NOT_TRIED = {
    "open": "starts the full-screen TUI (tests/test_tui*.py cover its inert text through tui/safe.py)",
}


def V(label: str) -> str:
    """A hostile value whose words can be found again: '<label> <attack> end'."""
    return f"{label} {ATTACK} end"


def seen(label: str) -> str:
    """How ``V(label)`` reads once inert: the label, then the placeholder where ESC was, then the rest."""
    return f"{label} {PLACEHOLDER}]52;c;ZXZpbA=="


REPLY = "reply-words " + ATTACK + "\r\nsecond line\x1b[2J tail"


def _block(name: str, payload) -> str:
    return f"[{name}]\n{json.dumps(payload)}\n[/{name}]"


def _replies(nul: str) -> str:
    first = REPLY + nul + "\n\n" + "\n".join([
        _block("QUESTIONS", [{"text": V("model-question"), "context": V("model-context")}]),
        _block("ACTIONS", [{"label": V("model-check"), "command": V("model-command"),
                            "description": V("model-why")}]),
        _block("SUGGEST_FIX", {"title": V("model-fix"), "description": V("model-fixdesc"), "confidence": 70,
                               "ai_drafted_script": V("model-script") + " {{ host }}"}),
    ])
    second = "again " + ATTACK + "\n\n" + _block("FIX_OUTCOME", {"fix_id": "{{fix}}", "outcome": "success",
                                                                  "reason": V("model-reason")})
    note = ("## Problem\n" + V("note-problem") + "\n\n## What we confirmed\n- " + V("note-fact")
            + "\n\n## Root cause\n" + V("note-cause") + "\n\n## Resolution\n" + V("note-resolution") + "\n")
    package = ("## Problem\n" + V("pkg-problem") + "\n\n## What we've confirmed\n- " + V("pkg-fact") + "\n\n## What we've tried\n"
               + V("pkg-tried") + "\n\n## Current hypothesis\n" + V("pkg-hypothesis") + "\n\n## Suggested next steps\n"
               + V("pkg-next") + "\n")
    extraction = {"parameters": [{"key": "host", "label": V("param-label"), "type": "text", "value": V("param-value"),
                                  "inferred_from": V("param-source")}],
                  "templated_body": V("model-script") + " {{ host }}"}
    return json.dumps({"replies": [
        {"match": "again", "reply": second},
        {"reply": first},
        {"action": "resolution_note", "reply": note},
        {"action": "escalation_package", "reply": package},
        {"action": "extraction", "reply": json.dumps(extraction)},
        {"action": "fact_synthesis", "reply": json.dumps({"text": V("model-synth"), "summary": V("model-synsum")})},
    ]})


@functools.cache
def _command_tree():
    import typer

    from rfpilot.cli import app

    return typer.main.get_command(app)


def _path_of(args: tuple[str, ...]) -> str:
    """The command path ('sessions show') that ``args`` invokes."""
    node, path = _command_tree(), []
    for arg in args:
        commands = getattr(node, "commands", None)
        if not commands or arg not in commands:
            break
        node, path = commands[arg], [*path, arg]
    return " ".join(path)


def all_commands() -> set[str]:
    found: set[str] = set()

    def walk(node, path: list[str]) -> None:
        for name, sub in getattr(node, "commands", {}).items():
            if getattr(sub, "commands", None) is not None:
                walk(sub, [*path, name])
            else:
                found.add(" ".join([*path, name]))

    walk(_command_tree(), [])
    return found


class Runner:
    """Runs commands through the `cli` fixture and holds every output to the rule."""

    def __init__(self, cli) -> None:
        self.cli = cli
        self.tried: dict[str, int] = {}
        self.calls = 0
        self.problems: list[str] = []
        self.leaks: list[str] = []  # the command path of every call that printed a control

    def __call__(self, *args: str, stdin: str | None = None, code: int | tuple[int, ...] | None = 0,
                 shows: tuple[str, ...] = ()) -> str:
        got, out, err = self.cli(*args, stdin=stdin)
        path = _path_of(args)
        self.tried[path] = self.tried.get(path, 0) + 1
        self.calls += 1
        where = f"`rfpilot {' '.join(map(repr, args))}` exited {got}\nstdout: {out[:3000]!r}\nstderr: {err[:3000]!r}"
        for stream, text in (("stdout", out), ("stderr", err)):
            bad = FORBIDDEN.findall(text)
            if bad:
                self.leaks.append(path)
                self.problems.append(f"{stream} holds {len(bad)} controls ({sorted(set(bad))!r}): {where}")
        if code is not None and got not in (code if isinstance(code, tuple) else (code,)):
            self.problems.append(f"unexpected exit code: {where}")
        for label in shows:
            if seen(label) not in out + err:
                self.problems.append(f"{label!r} is not shown inert: {where}")
        return out

    def expect(self, ok: bool, what: str) -> None:
        if not ok:
            self.problems.append(what)

    def check(self) -> None:
        assert not self.problems, f"{len(self.problems)} problems in {self.calls} calls:\n\n" + "\n\n".join(self.problems)

    def js(self, *args: str, **kwargs):
        return json.loads(self(*args, "--json", **kwargs))


def test_no_command_prints_a_control(cli, cw, memory_keyring, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                     db_url: str) -> None:
    """Every command, on both stores, over every hostile field; a command this run never tries fails the test."""
    run = Runner(cli)
    _exercise(run, cw, monkeypatch, tmp_path, postgres=not db_url.startswith("sqlite"))
    run.check()
    commands = all_commands()
    assert len(commands) > 80 and "sessions show" in commands
    missing = commands - set(run.tried) - set(NOT_TRIED)
    assert not missing, f"commands never run by the escape test: {sorted(missing)} (add them to _exercise)"


def _exercise(run: Runner, cw, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *, postgres: bool) -> None:
    # NUL comes from the model and the PSA (files given to the CLI with a NUL are refused as binary input, see
    # tests/test_hostile_input.py); Postgres text cannot hold NUL, SQLite can, so it is tried there.
    nul = "" if postgres else "\x00"
    files = tmp_path / "in"
    files.mkdir()

    def file(name: str, text: str) -> str:
        path = files / name
        path.write_text(text, encoding="utf-8")
        return str(path)

    replies = file("replies.json", _replies(nul))
    monkeypatch.setenv("RFPILOT_LLM_PROVIDER", "scripted")
    monkeypatch.setenv("RFPILOT_SCRIPTED_FILE", replies)

    # The PSA: a ticket whose every field is hostile.
    cw.seed_ticket(48400, summary=V("ticket-summary") + nul, company="Hostile " + V("company"),
                   contact=V("contact"), description=V("ticket-description") + nul)
    secrets = "".join(f"{k}={v}\n" for k, v in cw.secrets().items())
    run("psa", "connect", "connectwise", "--site", cw.site, "--company-id", cw.company_id, "--codebase", cw.codebase,
        "--member", "jdoe", "--resolve-status", "Resolved", "--escalate-status", "Escalated", "--secrets-stdin",
        stdin=secrets)
    run("psa", "connect", "connectwise", "--name", V("conn"), "--site", cw.site, "--company-id", cw.company_id,
        "--secrets-stdin", "--no-test", stdin=secrets, code=None)
    run("psa", "list")
    run("psa", "list", "--json")
    run("psa", "test", code=None)
    run("psa", "statuses", "48400", code=None)
    run("psa", "targets", code=None)
    run("tickets", "list", shows=("ticket-summary",))
    run("tickets", "list", "--json")
    run("tickets", "show", "48400", shows=("ticket-summary", "ticket-description"))
    run("tickets", "show", "48400", "--json")

    # Sessions: one from the ticket, one typed in.
    s1 = run("new", "--ticket", "48400").strip()
    s2 = run("new", V("problem"), "--title", V("title"), "--client", V("client")).strip()
    run("sessions", "rename", s2, V("title2"), shows=("title2",))
    run("sessions", "rename", s2, V("title2"), "--json")

    # What we know, questions, checks.
    fact = run.js("facts", "add", s2, V("fact"), "--summary", V("fact-summary"))["id"]
    run("facts", "add", s2, V("fact-other"))
    run("facts", "edit", s2, fact[:8], "--text", V("fact-edited"), code=None)
    doomed = run("facts", "add", s2, V("fact-doomed")).strip()
    run("facts", "rm", s2, doomed[:8], "--json", code=None)
    qid = run("lane", "ask", s2, V("question"), "--why", V("why")).strip()
    cid = run("lane", "check", s2, V("check"), "--command", V("command"), "--why", V("check-why")).strip()
    run("lane", "answer", s2, qid[:8], V("answer"), code=None)
    run("lane", "ran", s2, cid[:8], "--output-file", file("out.txt", V("check-output") + "\r\n"), code=None)
    run("lane", "promote", s2, qid[:8], "--text", V("promoted"), code=None)

    # The model: a streamed reply, questions, a check and a fix from it.
    out = run("chat", s2, V("message"), shows=("model-question", "model-check", "model-fix"))
    run.expect(f"reply-words {PLACEHOLDER}]52;c;ZXZpbA==" in out and "second line" in out and "\r" not in out,
               f"the streamed reply is not shown inert: {out!r}")
    run("lane", "list", s2, shows=("question", "check", "model-question", "model-check"))
    run("lane", "list", s2, "--json")
    lane = run.js("lane", "list", s2)["items"]
    model_q = next(i["id"] for i in lane if i["kind"] == "question" and i["text"].startswith("model-question"))
    run("lane", "skip", s2, model_q[:8], code=None)
    run("lane", "promote", s2, cid[:8], "--synthesize", code=None)
    run("facts", "list", s2, shows=("fact-other",))
    run("facts", "list", s2, "--json")
    run("fix", "show", s2, shows=("model-fix",))
    run("fix", "show", s2, "--all", "--json")

    # A fix by hand, with a script, applied; the model proposes the outcome.
    run("fix", "suggest", s2, V("fix-title"), "-c", "80", "-d", V("fix-description"),
        "--script", file("fix.ps1", V("fix-script") + "\n"), code=None)
    run("fix", "show", s2, "--all", shows=("fix-title",))
    run("fix", "apply", s2, code=None)
    run("fix", "decide", s2, "draft_template", "--script", file("ran.ps1", V("ran-script") + " host1\n"), code=None)
    run("chat", s2, "again " + V("message2"), code=None)
    run("fix", "reject-outcome", s2, code=None)
    run("chat", s2, "again " + V("message3"), "--json", code=None)
    run("fix", "confirm-outcome", s2, "--notes", V("confirm-notes"), code=None)
    run("fix", "outcome", s2, "partial", "--notes", V("partial"), code=None)
    run("fix", "finish", s2, code=None)

    # The script library.
    body = file("body.ps1", V("tpl-body") + " {{ host }}\r\n")
    params = file("params.json", json.dumps([{"key": "host", "label": V("tpl-param"), "type": "text"}]))
    slug = run.js("templates", "new", "--name", "Tpl " + V("tpl-name"), "--file", body, "--description",
                  V("tpl-desc"), "--category", V("tpl-cat"), "--param-file", params)["slug"]
    run("templates", "list", shows=("tpl-name",))
    run("templates", "list", "--json")
    run("templates", "show", slug, shows=("tpl-name", "tpl-desc", "tpl-body", "tpl-param"))
    run("templates", "show", slug, "--json")
    run("templates", "render", slug, "--set", f"host={V('host-value')}", shows=("tpl-body", "host-value"))
    run("templates", "render", slug, "--session", s2, "--set", "host=h1", "--json")
    run("templates", "edit", slug, "--description", V("tpl-desc2"), code=None)
    run("fix", "suggest", s2, V("fix-tpl"), "-c", "90", "--template", slug, code=None)
    run("fix", "run", s2, "--set", f"host={V('run-host')}", "--yes", code=None)
    exported = tmp_path / "templates"
    run("templates", "export", slug, "--dir", str(exported), code=None)
    run("templates", "export", slug, "--dir", str(exported), "--format", "yaml", code=None)
    for path in exported.iterdir():
        run.expect(FORBIDDEN.search(path.read_text(encoding="utf-8").replace("\r\n", "\n")) is None,
                   f"raw control in the template export {path.name}")
    run("templates", "import", *map(str, exported.iterdir()), code=None)
    after = run.js("templates", "show", slug)
    run.expect(after["name"] == "Tpl " + V("tpl-name") and after["body"].startswith(V("tpl-body")),
               f"the template did not round-trip: {after!r}")

    # Branches.
    run("branches", "fork", s2, "--reason", V("fork-reason"), "-o", f"Alpha: {V('alpha')}", "-o", f"Beta: {V('beta')}",
        code=None)
    run("branches", "list", s2)
    run("branches", "list", s2, "--json")
    run("branches", "switch", s2, "Beta", code=None)
    run("branches", "mark", s2, "Alpha", "dead_end", "--reason", V("dead-end"), "--offline", code=None)
    run("branches", "revive", s2, "Alpha", "--from", "Beta", "--evidence", V("evidence"), code=None)
    run("branches", "list", s2, shows=("dead-end",))

    # A teammate with a hostile display name parks a session; we see it in the queue and claim it.
    monkeypatch.setenv("RFPILOT_USER_EMAIL", "casey@example.com")
    monkeypatch.setenv("RFPILOT_USER_NAME", V("casey"))
    s3 = run("new", V("b-problem"), "--title", V("b-title")).strip()
    run("facts", "add", s3, V("b-fact"))
    handoff = run("park", s3, "--waiting-on", V("b-waiting")).strip()
    monkeypatch.setenv("RFPILOT_USER_EMAIL", "tester@example.com")
    monkeypatch.setenv("RFPILOT_USER_NAME", "Test Engineer")
    run("sessions", "list", shows=("b-title", "title2"))
    run("sessions", "list", "--json")
    run("queue", "list", shows=("b-waiting", "casey"))
    run("queue", "list", "--json")
    run("handoffs", s3, shows=("b-waiting",))
    run("handoffs", s3, "--json")
    run("sessions", "show", s3, shows=("b-title",))
    run("queue", "claim", handoff[:8], "--offline", shows=("casey",))
    run("handoffs", s3, "--json")

    # Previews, closing, and what a close leaves behind.
    run("preview", "resolve", s2, "--offline", code=None)
    run("preview", "resolve", s2, shows=("note-problem",))
    run("preview", "escalate", s2, shows=("pkg-problem",))
    run("preview", "escalate", s2, "--offline", "--json")
    run("share-update", s1, "--text", V("share-update"), "--yes", code=None)
    run("share-update", s1, "--yes", "--json", code=None)
    cw.error_next = (400, {"code": "InvalidObject", "message": V("psa-error")})  # the PSA's own words, kept as last_error
    run("share-update", s1, "--text", "second update", "--yes", code=None, shows=("psa-error",))
    run("park", s1, "--waiting-on", V("s1-waiting"), code=None)
    run("handoffs", s1)
    run("sessions", "resume", s1, code=None)
    note_file = tmp_path / "note.md"
    run("escalate", s1, "--yes", "--offline", "--reason", V("esc-reason"), "--markdown-file",
        file("esc.md", "## Problem\n" + V("esc-note") + "\n"), "--export", str(note_file), code=None)
    run("outbox", "list", "--all", shows=("psa-error",))
    outbox = run.js("outbox", "list", "--all")
    run("outbox", "sync", code=None)
    run("outbox", "sync", "--json", code=None)
    if outbox:
        run("outbox", "retry", outbox[0]["id"][:8], code=None)
        run("outbox", "drop", outbox[-1]["id"][:8], "--yes", code=None)
    else:
        run("outbox", "retry", "00000000", code=None)
        run("outbox", "drop", "00000000", "--yes", code=None)
    resolved_file = tmp_path / "resolved.md"
    run("resolve", s2, "--yes", "--offline", "--summary", V("res-summary"), "--fix-outcome", "worked",
        "--export", str(resolved_file), code=None)
    run("resolve", s2, "--yes", "--json", code=None)
    run("stats", shows=("client",))  # the resolved session's client in the per-client table
    run("stats", "--json")
    run("stats", "--client", V("client"), "--json", code=None)
    # Team memory: the closed sessions' hostile words are found again and shown inert.
    run("search", "title2", shows=("title2",))
    run("search", "title2", "--json")
    s4 = run("new", V("title2"), "--client", V("client")).strip()
    run("seen", "list", s4, shows=("title2",))
    run("seen", "list", s4, "--json")
    run("seen", "dismiss", s4, s2[:8], code=None)
    run("db", "reindex")
    run("db", "reindex", "--json")
    run("sessions", "show", s2, shows=("title2",))
    run("sessions", "show", s2, "--json")
    run("sessions", "show", s1, "--json")
    run("sessions", "show", s1, shows=("ticket-summary",))

    # Templates drafted from the resolved session.
    run("templates", "drafts", "--all", code=None)
    drafts = run.js("templates", "drafts", "--all")
    run("templates", "review", stdin="s\n" * 5, code=None)
    if drafts:
        run("templates", "accept", drafts[0]["id"][:8], "--name", "Drafted " + V("drafted"), code=None)
        run("templates", "reject", drafts[0]["id"][:8], code=None)
    else:
        run("templates", "accept", "00000000", code=None)
        run("templates", "reject", "00000000", code=None)
    run("templates", "prompt", "off")
    run("templates", "rm", slug, "--yes", code=None)

    # Resolution outputs.
    run("outputs", "generate", s2, "--offline", code=None)
    run("outputs", "edit", s2, "kb", "--file", file("kb.md", "# " + V("kb-title") + "\n\n" + V("kb-body") + "\n"),
        code=None)
    run("outputs", "edit", s2, "client", "--file", "-", stdin=V("client-summary") + "\n", code=None)
    run("outputs", "list", s2, code=None)
    run("outputs", "list", s2, "--json", code=None)
    run("outputs", "show", s2, "kb", shows=("kb-title", "kb-body"))
    run("outputs", "show", s2, "kb", "--json")
    run("outputs", "approve", s2, "kb", code=None)
    run("outputs", "reject", s2, "client", code=None)
    kb_file, kb_file2 = tmp_path / "kb.md", tmp_path / "kb2.md"
    run("outputs", "export", s2, "kb", "--out", str(kb_file), code=None)
    run("outputs", "push", s2, "kb", "--to", "file", "--out", str(kb_file2), code=None)

    # Session lifecycle and exports.
    export_md, export_json = tmp_path / "s.md", tmp_path / "s.json"
    run("sessions", "export", s2, shows=("title2", "fact-other", "question", "reply-words", "model-fix"))
    run("sessions", "export", s2, "--format", "json")
    run("sessions", "export", s2, "--output", str(export_md))
    run("sessions", "export", s2, "--format", "json", "--output", str(export_json))
    data = json.loads(export_json.read_text(encoding="utf-8"))
    run.expect(data["session"]["title"] == V("title2"), "the JSON export does not keep the text exact")
    for path in (export_md, export_json, note_file, resolved_file, kb_file, kb_file2):
        run.expect(path.exists(), f"{path.name} was not written")
        if path.exists():
            bad = FORBIDDEN.findall(path.read_text(encoding="utf-8"))
            run.expect(not bad, f"{path.name} holds {len(bad)} raw controls: {sorted(set(bad))!r}")
    run.expect(seen("title2") in export_md.read_text(encoding="utf-8"), "the Markdown export lost the title")
    run("sessions", "pause", s3, code=None)
    run("sessions", "resume", s3, code=None)
    run("sessions", "abandon", s3, "--reason", V("abandon"), code=None)
    run("sessions", "reopen", s2, code=None)
    run("sessions", "list", "--status", "abandoned", "--json")

    # Everything else: settings, keys, the store, the demo, and usage errors that quote the argument back.
    run("config", "set", "identity.name", V("cfg-name"), code=None)
    run("config", "get", "identity.name", code=None)
    run("config", "get", "identity.name", "--json", code=None)
    run("config", "path")
    run("config", "set", V("cfg-key"), "x", code=None)
    run("keys", "set", "anthropic", stdin=V("not-a-key") + "\n", code=None)
    run("keys", "list", code=None)
    run("keys", "delete", V("key-name"), code=None)
    run("db", "path", code=None)
    run("db", "current", code=None)
    run("db", "upgrade", code=None)
    run("db", "backup", str(tmp_path / "backup.db"), code=None)
    run("doctor", code=None)
    run("demo", code=None)
    run("sessions", "show", V("no-such-session"), code=None)
    run("sessions", "export", s2, "--format", V("format"), code=None)
    run("sessions", "list", "--status", V("status"), code=None)
    run("lane", "list", s2, V("extra-argument"), code=None)
    run(V("no-such-command"), code=None)
    run("psa", "remove", V("conn"), "--yes", code=None)
    run("psa", "remove", "main", "--yes", code=None)
    run("sessions", V("no-such-subcommand"), code=None)


def test_json_output_keeps_the_exact_text(cli) -> None:
    """JSON output is data: the controls come back exactly when it is parsed, yet none is raw on stdout."""
    run = Runner(cli)
    sid = run("new", V("problem"), "--title", V("title"), "--client", V("client")).strip()
    run("facts", "add", sid, V("fact"))
    run("lane", "ask", sid, V("question"))
    shown = run.js("sessions", "show", sid)
    assert (shown["session"]["title"], shown["session"]["client"]) == (V("title"), V("client"))
    assert [f["text"] for f in shown["facts"]] == [V("fact")]
    assert [i["text"] for i in shown["lane"]] == [V("question")]
    run.check()
