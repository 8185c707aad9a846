"""Bad input anywhere in the CLI: a one-line error naming the problem, the documented exit code, no change.

SPEC §14 exit codes: 0 ok, 1 usage, 2 not found, 3 conflict or invalid
transition. Each case builds a small world through the CLI, takes a snapshot
of the store, runs one bad command, and checks the exit code, that stderr's
first line is `error: …` naming the problem, that stdout is empty, and that
the snapshot (session export minus `exported_at`, the session list, and
config.toml) is unchanged. Runs on SQLite and on Postgres (the `cli` fixture).
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

USAGE, NOT_FOUND, CONFLICT = 1, 2, 3
LIVE_TIMERS = ("active_seconds", "parked_seconds")  # computed from the clock at read time
NO_SUCH_ID = "0000aaaa"  # well formed, matches nothing


# --- worlds -----------------------------------------------------------------


def _ok(cli, *args: str) -> str:
    code, out, err = cli(*args)
    assert code == 0, f"setup `rfpilot {' '.join(args)}` exited {code}: {err}"
    return out


def _js(cli, *args: str):
    return json.loads(_ok(cli, *args, "--json"))


WORLDS = ("bare", "nofix", "basic", "verifying", "partial", "success", "failed", "superseded",
          "paused", "resolved", "escalated", "abandoned")


def build_world(cli, tmp_path: Path, kind: str) -> dict[str, str]:
    """A session in the state ``kind`` names; returns the ids and paths the case templates use.

    bare: just a session. Every other world has a user-note fact F, an open
    question Q, an answered question QA promoted to fact FQ, and an open check
    C; all but nofix have a proposed fix X, then moved to ``kind``.
    """
    assert kind in WORLDS, kind
    (tmp_path / "empty.md").write_text("  \n", encoding="utf-8")
    (tmp_path / "output.txt").write_text("Stopped\n", encoding="utf-8")
    ids = {
        "TMP": str(tmp_path),
        "UNKNOWN": str(uuid.uuid4()),
        "BAD": "not-an-id",
        "LONG": "word " * 120,
        **{key: NO_SUCH_ID for key in ("F", "FQ", "Q", "QA", "C", "X", "OLD")},
    }
    ids["S"] = _ok(cli, "new", "Outlook prompts for a password after the reset.").strip()
    if kind == "bare":
        return ids
    s = ids["S"]
    ids["F"] = _ok(cli, "facts", "add", s, "MFA is enabled for the user").strip()
    ids["Q"] = _ok(cli, "lane", "ask", s, "Does OWA work?").strip()
    ids["QA"] = _ok(cli, "lane", "ask", s, "Is the user licensed?").strip()
    ids["FQ"] = _js(cli, "lane", "answer", s, ids["QA"], "Yes, E3", "--promote")["fact"]["id"]
    ids["C"] = _ok(cli, "lane", "check", s, "Cached credentials", "-c", "cmdkey /list").strip()
    if kind == "nofix":
        return ids
    ids["X"] = _js(cli, "fix", "suggest", s, "Clear cached credentials", "-c", "70")["id"]
    if kind in ("verifying", "success", "failed", "partial"):
        _ok(cli, "fix", "apply", s)
    if kind == "success":
        _ok(cli, "fix", "outcome", s, "worked")
    elif kind == "failed":
        _ok(cli, "fix", "outcome", s, "failed", "--notes", "still prompts")
    elif kind == "partial":
        _ok(cli, "fix", "outcome", s, "partial", "--notes", "laptop done, desktop left")
    elif kind == "superseded":
        ids["OLD"] = ids["X"]
        ids["X"] = _js(cli, "fix", "suggest", s, "Recreate the Outlook profile", "-c", "60")["id"]
    elif kind == "paused":
        _ok(cli, "sessions", "pause", s)
    elif kind == "resolved":
        _ok(cli, "resolve", s, "--yes")
    elif kind == "escalated":
        _ok(cli, "escalate", s, "--yes")
    elif kind == "abandoned":
        _ok(cli, "sessions", "abandon", s)
    return ids


def fill(arg: str, ids: dict[str, str]) -> str:
    """Replace the {NAME} placeholders of a case's argument (no str.format: JSON has braces)."""
    for key, value in ids.items():
        arg = arg.replace("{" + key + "}", value)
    return arg


def _strip_timers(view: dict) -> dict:
    return {k: v for k, v in view.items() if k not in LIVE_TIMERS}


def store_state(cli, session_id: str) -> dict:
    """Everything a bad command could have changed, in comparable form."""
    export = json.loads(_ok(cli, "sessions", "export", session_id, "--format", "json"))
    export.pop("exported_at")
    export["session"] = _strip_timers(export["session"])
    listing = [_strip_timers(v) for v in _js(cli, "sessions", "list", "--limit", "10000")]
    config = Path(os.environ["RFPILOT_HOME"]) / "config" / "config.toml"
    return {
        "export": export,
        "list": listing,
        "config": config.read_text(encoding="utf-8") if config.exists() else None,
    }


# --- the table --------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    world: str
    argv: tuple[str, ...]
    code: int
    names: str  # what the first stderr line must mention (case-insensitive)


def case(id_: str, world: str, argv: str | tuple[str, ...], code: int, names: str, *marks):
    args = tuple(argv.split()) if isinstance(argv, str) else argv
    return pytest.param(Case(world, args, code, names), id=id_, marks=marks)


# Every command that takes a SESSION, with otherwise valid arguments.
SESSION_COMMANDS: dict[str, tuple[str, ...]] = {
    "sessions-show": ("sessions", "show", "{S}"),
    "sessions-export": ("sessions", "export", "{S}"),
    "sessions-export-json": ("sessions", "export", "{S}", "--format", "json"),
    "sessions-pause": ("sessions", "pause", "{S}"),
    "sessions-resume": ("sessions", "resume", "{S}"),
    "sessions-reopen": ("sessions", "reopen", "{S}"),
    "sessions-abandon": ("sessions", "abandon", "{S}", "--reason", "duplicate"),
    "sessions-rename": ("sessions", "rename", "{S}", "A new title"),
    "facts-list": ("facts", "list", "{S}"),
    "facts-add": ("facts", "add", "{S}", "A fact"),
    "facts-edit": ("facts", "edit", "{S}", "{F}", "--text", "New text"),
    "facts-rm": ("facts", "rm", "{S}", "{F}"),
    "lane-list": ("lane", "list", "{S}"),
    "lane-ask": ("lane", "ask", "{S}", "A question?"),
    "lane-check": ("lane", "check", "{S}", "A check", "-c", "whoami"),
    "lane-answer": ("lane", "answer", "{S}", "{Q}", "yes"),
    "lane-skip": ("lane", "skip", "{S}", "{Q}"),
    "lane-ran": ("lane", "ran", "{S}", "{C}", "-o", "done"),
    "fix-show": ("fix", "show", "{S}"),
    "fix-suggest": ("fix", "suggest", "{S}", "A fix", "-c", "50"),
    "fix-apply": ("fix", "apply", "{S}"),
    "fix-outcome": ("fix", "outcome", "{S}", "worked"),
    "fix-decide": ("fix", "decide", "{S}", "dismissed"),
    "fix-finish": ("fix", "finish", "{S}"),
    "preview-resolve": ("preview", "resolve", "{S}"),
    "preview-escalate": ("preview", "escalate", "{S}"),
    "resolve": ("resolve", "{S}", "--yes"),
    "escalate": ("escalate", "{S}", "--yes"),
}


def _session_cases():
    for name, argv in SESSION_COMMANDS.items():
        unknown = tuple(a.replace("{S}", "{UNKNOWN}") for a in argv)
        malformed = tuple(a.replace("{S}", "{BAD}") for a in argv)
        yield case(f"unknown-session-{name}", "bare", unknown, NOT_FOUND, "no session matches")
        yield case(f"malformed-session-{name}", "bare", malformed, USAGE, "not a valid session id")
    yield case("too-short-session-id", "bare", "sessions show ab", USAGE, "not a valid session id")


CASES = [
    *_session_cases(),
    # -- not found (2): other ids
    case("unknown-fact-edit", "basic", ("facts", "edit", "{S}", NO_SUCH_ID, "--text", "x"), NOT_FOUND, "fact not found"),
    case("unknown-fact-rm", "basic", ("facts", "rm", "{S}", NO_SUCH_ID), NOT_FOUND, "fact not found"),
    case("unknown-question", "basic", ("lane", "answer", "{S}", NO_SUCH_ID, "yes"), NOT_FOUND, "no question matches"),
    case("check-id-given-as-question", "basic", "lane answer {S} {C} yes", NOT_FOUND, "no question matches"),
    case("unknown-check", "basic", ("lane", "ran", "{S}", NO_SUCH_ID, "-o", "x"), NOT_FOUND, "no diagnostic check matches"),
    case("question-id-given-as-check", "basic", "lane ran {S} {Q} -o x", NOT_FOUND, "no diagnostic check matches"),
    case("unknown-lane-item-skip", "basic", ("lane", "skip", "{S}", NO_SUCH_ID), NOT_FOUND, "no lane item matches"),
    case("unknown-fix-apply", "basic", ("fix", "apply", "{S}", "--fix", NO_SUCH_ID), NOT_FOUND, "fix not found"),
    case("unknown-fix-outcome", "basic", ("fix", "outcome", "{S}", "worked", "--fix", NO_SUCH_ID), NOT_FOUND, "fix not found"),
    case("no-fix-apply", "nofix", "fix apply {S}", NOT_FOUND, "no active suggested fix"),
    case("no-fix-outcome", "nofix", "fix outcome {S} worked", NOT_FOUND, "no active suggested fix"),
    case("no-fix-decide", "nofix", "fix decide {S} dismissed", NOT_FOUND, "no active suggested fix"),
    case("no-fix-finish", "nofix", "fix finish {S}", NOT_FOUND, "no active suggested fix"),
    # -- malformed ids (1)
    case("malformed-fact-edit", "basic", ("facts", "edit", "{S}", "zz!", "--text", "x"), USAGE, "not a valid fact id"),
    case("malformed-fact-rm", "basic", "facts rm {S} ab", USAGE, "not a valid fact id"),
    case("malformed-question", "basic", "lane answer {S} q-1 yes", USAGE, "not a valid question id"),
    case("malformed-check", "basic", "lane ran {S} check1 -o x", USAGE, "not a valid diagnostic check id"),
    case("malformed-lane-item", "basic", "lane skip {S} xyz", USAGE, "not a valid lane item id"),
    case("malformed-fix-id", "basic", "fix apply {S} --fix nope", USAGE, "not a valid fix id"),
    # -- invalid outcome / decision / choice (1)
    case("invalid-outcome", "verifying", "fix outcome {S} bogus", USAGE, "invalid outcome"),
    case("empty-outcome", "verifying", ("fix", "outcome", "{S}", ""), USAGE, "invalid outcome"),
    case("invalid-decision", "basic", "fix decide {S} bogus", USAGE, "invalid decision"),
    case("invalid-resolve-fix-outcome", "verifying", "resolve {S} --yes --fix-outcome bogus", USAGE, "invalid fix outcome"),
    case("invalid-escalate-fix-outcome", "verifying", "escalate {S} --yes --fix-outcome maybe", USAGE, "invalid fix outcome"),
    case("invalid-export-format", "basic", "sessions export {S} --format xml", USAGE, "unknown export format"),
    case("invalid-status-filter", "basic", "sessions list --status bogus", USAGE, "unknown status"),
    case("params-not-json", "basic", ("fix", "suggest", "{S}", "t", "-c", "50", "--params", "{bad"), USAGE, "--params is not valid json"),
    case("params-not-object", "basic", ("fix", "suggest", "{S}", "t", "-c", "50", "--params", "[1]"), USAGE, "json object"),
    # -- empty text (1)
    case("new-empty", "bare", ("new", ""), USAGE, "description is empty"),
    case("new-blank", "bare", ("new", "   "), USAGE, "description is empty"),
    case("new-empty-title", "bare", ("new", "Printer offline", "--title", ""), USAGE, "title is empty"),
    case("fact-add-empty", "basic", ("facts", "add", "{S}", ""), USAGE, "fact text cannot be empty"),
    case("fact-add-blank", "basic", ("facts", "add", "{S}", " \n "), USAGE, "fact text cannot be empty"),
    case("fact-edit-empty", "basic", ("facts", "edit", "{S}", "{F}", "--text", ""), USAGE, "fact text cannot be empty"),
    case("lane-ask-empty", "basic", ("lane", "ask", "{S}", ""), USAGE, "question is empty"),
    case("lane-check-blank", "basic", ("lane", "check", "{S}", "  "), USAGE, "check label is empty"),
    case("lane-answer-empty", "basic", ("lane", "answer", "{S}", "{Q}", ""), USAGE, "answer is empty"),
    case("lane-ran-promote-nothing", "basic", "lane ran {S} {C} --promote", USAGE, "no output to promote"),
    case("fix-title-empty", "basic", ("fix", "suggest", "{S}", "", "-c", "50"), USAGE, "fix title is empty"),
    case("rename-blank", "basic", ("sessions", "rename", "{S}", " "), USAGE, "title is empty"),
    case("resolve-empty-markdown-file", "verifying", "resolve {S} --yes --markdown-file {TMP}/empty.md", USAGE, "note is empty"),
    case("escalate-empty-markdown-file", "verifying",
         "escalate {S} --yes --fix-outcome failed --notes x --markdown-file {TMP}/empty.md", USAGE, "note is empty"),
    # -- required input missing (1): the command lacks something only the engineer can give
    case("decide-without-script", "basic", "fix decide {S} one_off", USAGE, "no drafted script"),
    case("partial-without-notes", "verifying", "fix outcome {S} applied_partial", USAGE, "notes are required"),
    case("pending-blank-notes", "verifying", ("fix", "outcome", "{S}", "pending", "--notes", "  "), USAGE, "notes are required"),
    case("escalate-partial-without-notes", "verifying", "escalate {S} --yes --fix-outcome partial", USAGE, "notes are required"),
    # -- confidence out of range (1)
    case("confidence-above-100", "basic", "fix suggest {S} t -c 101", USAGE, "confidence must be from 0 to 100"),
    case("confidence-negative", "basic", "fix suggest {S} t -c -5", USAGE, "confidence must be from 0 to 100"),
    case("confidence-not-a-number", "basic", "fix suggest {S} t -c abc", USAGE, "'--confidence'"),
    # -- too long (1)
    case("abandon-reason-too-long", "basic", ("sessions", "abandon", "{S}", "--reason", "x" * 600), USAGE, "reason is too long"),
    case("resolve-summary-too-long", "verifying", ("resolve", "{S}", "--yes", "--summary", "{LONG}"), USAGE, "summary is too long"),
    # -- wrong session status (3)
    case("resume-active", "basic", "sessions resume {S}", CONFLICT, "only a paused session"),
    case("reopen-active", "basic", "sessions reopen {S}", CONFLICT, "only a resolved or abandoned session"),
    case("reopen-escalated", "escalated", "sessions reopen {S}", CONFLICT, "only a resolved or abandoned session"),
    case("pause-paused", "paused", "sessions pause {S}", CONFLICT, "already paused"),
    case("pause-resolved", "resolved", "sessions pause {S}", CONFLICT, "cannot pause a session that is resolved"),
    case("pause-escalated", "escalated", "sessions pause {S}", CONFLICT, "cannot pause a session that is escalated"),
    case("abandon-abandoned", "abandoned", "sessions abandon {S}", CONFLICT, "already abandoned"),
    case("abandon-resolved", "resolved", "sessions abandon {S}", CONFLICT, "cannot abandon a session that is resolved"),
    case("resolve-resolved", "resolved", "resolve {S} --yes", CONFLICT, "already resolved"),
    case("resolve-abandoned", "abandoned", "resolve {S} --yes", CONFLICT, "cannot resolve a session that is abandoned"),
    case("escalate-escalated", "escalated", "escalate {S} --yes", CONFLICT, "already escalated"),
    case("escalate-abandoned", "abandoned", "escalate {S} --yes", CONFLICT, "cannot escalate a session that is abandoned"),
    case("resolve-resolved-with-fix-outcome", "resolved", "resolve {S} --yes --fix-outcome worked", CONFLICT, "already resolved"),
    # -- wrong item / fix state (3)
    case("edit-fact-from-question", "basic", "facts edit {S} {FQ} --text x", CONFLICT, "read-only"),
    case("skip-answered-question", "basic", "lane skip {S} {QA}", CONFLICT, "already answered"),
    case("finish-proposed-fix", "basic", "fix finish {S}", CONFLICT, "only a partial or pending fix"),
    case("finish-verifying-fix", "verifying", "fix finish {S}", CONFLICT, "only a partial or pending fix"),
    case("apply-partial-fix", "partial", "fix apply {S}", CONFLICT, "only valid from 'proposed'"),
    # -- terminal or superseded fix (3)
    case("outcome-on-success", "success", "fix outcome {S} failed", CONFLICT, "terminal status 'applied_success'"),
    case("outcome-on-failed", "failed", "fix outcome {S} worked", CONFLICT, "terminal status 'applied_failed'"),
    case("apply-on-success", "success", "fix apply {S}", CONFLICT, "already 'applied_success'"),
    case("decide-on-failed", "failed", ("fix", "decide", "{S}", "one_off", "--script", "{TMP}/output.txt"), CONFLICT, "terminal status"),
    case("finish-on-success", "success", "fix finish {S}", CONFLICT, "only a partial or pending fix"),
    case("outcome-on-superseded", "superseded", "fix outcome {S} worked --fix {OLD}", CONFLICT, "superseded"),
    case("apply-superseded", "superseded", "fix apply {S} --fix {OLD}", CONFLICT, "superseded"),
    case("fix-outcome-flag-on-terminal-fix", "success", "resolve {S} --yes --fix-outcome worked", CONFLICT, "no fix is waiting"),
    # -- closing without an answer when nobody can be asked (1)
    case("resolve-without-yes", "basic", "resolve {S}", USAGE, "--yes"),
    case("escalate-without-yes", "verifying", "escalate {S}", USAGE, "--yes"),
    case("escalate-verifying-needs-fix-outcome", "verifying", "escalate {S} --yes", USAGE, "--fix-outcome"),
    case("notes-without-fix-outcome", "basic", "escalate {S} --yes --notes x", USAGE, "--notes goes with --fix-outcome"),
    # -- files (1): refused before the fix outcome is recorded
    case("resolve-export-to-directory", "verifying", "resolve {S} --yes --export {TMP}", USAGE, "is a directory"),
    case("escalate-export-to-directory", "verifying",
         "escalate {S} --yes --fix-outcome failed --notes x --export {TMP}", USAGE, "is a directory"),
    case("resolve-markdown-file-missing", "verifying", "resolve {S} --yes --markdown-file {TMP}/missing.md", USAGE, "file not found"),
    case("export-to-missing-directory", "basic", "sessions export {S} -o {TMP}/missing/s.md", USAGE, "cannot write"),
    case("ran-output-and-file", "basic", "lane ran {S} {C} -o a --output-file {TMP}/output.txt", USAGE, "not both"),
    case("ran-output-file-missing", "basic", "lane ran {S} {C} --output-file {TMP}/missing.txt", USAGE, "file not found"),
    # -- Typer/click usage errors: 1, never click's 2
    case("missing-session-argument", "bare", "sessions show", USAGE, "missing argument"),
    case("missing-fact-text", "basic", "facts add {S}", USAGE, "missing argument"),
    case("missing-outcome", "verifying", "fix outcome {S}", USAGE, "missing argument"),
    case("missing-confidence", "basic", "fix suggest {S} t", USAGE, "missing option '--confidence'"),
    case("unknown-option", "basic", "sessions show {S} --bogus", USAGE, "no such option: --bogus"),
    case("unknown-root-option", "basic", "--bogus", USAGE, "no such option: --bogus"),
    case("unknown-command", "basic", "bogus {S}", USAGE, "no such command 'bogus'"),
    case("unknown-subcommand", "basic", "facts frobnicate {S}", USAGE, "no such command 'frobnicate'"),
    case("extra-argument", "basic", "preview resolve {S} extra", USAGE, "unexpected extra argument"),
    case("limit-out-of-range", "basic", "sessions list --limit 0", USAGE, "'--limit'"),
    case("option-missing-value", "basic", "fix suggest {S} t -c", USAGE, "requires an argument"),
    case("facts-edit-nothing-to-change", "basic", "facts edit {S} {F}", USAGE, "at least one of"),
    # -- config (1)
    case("config-get-unknown", "bare", "config get nope.key", USAGE, "unknown setting 'nope.key'"),
    case("config-set-unknown", "bare", "config set nope.key 1", USAGE, "unknown setting 'nope.key'"),
    case("config-set-no-value", "bare", "config set identity.name", USAGE, "give a value"),
    case("config-set-value-and-unset", "bare", "config set identity.name Bob --unset", USAGE, "give a value"),
    case("config-set-missing-key", "bare", "config set", USAGE, "missing argument"),
]


@pytest.mark.parametrize("bad", CASES)
def test_bad_input_is_refused_cleanly(cli, tmp_path, bad: Case):
    """A bad command exits with its documented code, says `error: <problem>` on stderr, prints nothing, changes nothing."""
    ids = build_world(cli, tmp_path, bad.world)
    argv = [fill(arg, ids) for arg in bad.argv]
    before = store_state(cli, ids["S"])

    code, out, err = cli(*argv, stdin="")

    assert code == bad.code, f"rfpilot {' '.join(argv)}: exit {code}, expected {bad.code}\n{err}"
    assert out == "", f"stdout must stay empty on error, got {out!r}"
    first = err.strip().splitlines()[0] if err.strip() else ""
    assert first.startswith("error: "), f"stderr does not start with 'error:': {err!r}"
    assert bad.names.lower() in first.lower(), f"{first!r} does not name the problem ({bad.names!r})"
    assert "Traceback" not in err
    assert store_state(cli, ids["S"]) == before, "the store changed"


def test_removing_a_removed_fact_is_not_found(cli, tmp_path):
    """`facts rm` of an already removed fact exits 2 ("fact not found") and changes nothing."""
    ids = build_world(cli, tmp_path, "basic")
    _ok(cli, "facts", "rm", ids["S"], ids["F"])
    before = store_state(cli, ids["S"])
    for argv in (("facts", "rm", ids["S"], ids["F"]), ("facts", "edit", ids["S"], ids["F"], "--text", "x")):
        code, out, err = cli(*argv)
        assert code == NOT_FOUND and out == ""
        assert err.startswith("error: fact not found")
    assert store_state(cli, ids["S"]) == before


def test_group_without_subcommand_exits_1_with_usage(cli):
    """A command group given no subcommand shows its usage on stderr and exits 1 (not click's 2)."""
    for group in ("sessions", "facts", "lane", "fix", "preview", "config", "db"):
        code, out, err = cli(group)
        assert code == USAGE, group
        assert out == ""
        assert f"Usage: rfpilot {group}" in err


def test_error_hint_is_on_its_own_line(cli):
    """A hint, when there is one, follows the one-line error on its own `hint:` line."""
    code, out, err = cli("sessions", "show", "zz")
    assert code == USAGE and out == ""
    lines = err.strip().splitlines()
    assert lines[0] == "error: 'zz' is not a valid session id"
    assert lines[1].startswith("hint: ") and len(lines) == 2
