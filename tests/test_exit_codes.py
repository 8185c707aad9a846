"""The exit-code table (docs/cli.md's conventions, docs/architecture.md "Errors and exit codes"), driven for every
command.

``TABLE`` lists, for every command of the Typer app, one run per documented error class that the command can
meet: 1 usage (malformed input, missing required input), 2 not found, 3 conflict or invalid transition, 4 PSA
error or verification failure, 5 LLM unavailable, 6 queued for later delivery. A class a command cannot meet is
absent. ``test_every_command_is_in_the_table`` fails when the app has a command the table does not know (the
command list is test_ownership's), so a new command cannot be forgotten. The runs share one world built through
the CLI on each store (SQLite and Postgres); each run must exit with its code, print nothing on stdout, and say
``error: …`` naming the problem on stderr's first line.

The PSA cases run against the ConnectWise fake: ``refuses`` makes its next answer a 403, ``down`` makes it
unreachable. Ticket ids on Autotask and HaloPSA (their own not-found answers) are checked at the end.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.test_ownership import cli_commands

USAGE, NOT_FOUND, CONFLICT, PSA, LLM, QUEUED = 1, 2, 3, 4, 5, 6
NO_ID = "0000aaaa"  # well formed, matches nothing
OWNER = ("tester@example.com", "Test Engineer")  # the `env` fixture's engineer, who builds the world


@dataclass(frozen=True)
class Run:
    argv: str | tuple[str, ...]  # a string is split on spaces (a tuple keeps empty arguments); {S}… are world ids
    names: str  # what stderr's first line must say (case-insensitive)
    psa: str | None = None  # "refuses" (the next PSA answer is a 403) or "down" (the PSA cannot be reached)
    stdin: str = ""
    who: str = "owner"  # "teammate": the same account, not the session's owner (owner-only changes exit 3)
    report: bool = False  # a report command: its report is data (stdout), not an `error:` line
    sqlite_only: bool = False  # a refusal only a SQLite store can reach (Postgres is refused before it)


def mate(argv: str | tuple[str, ...]) -> Run:
    """A teammate trying an owner-only change: exit 3, "… belongs to …"."""
    return Run(argv, "belongs to", who="teammate")


TABLE: dict[str, dict[int, Run]] = {
    "open": {USAGE: Run("open", "missing argument")},  # opens the TUI: nothing else to refuse before it starts
    "new": {
        USAGE: Run("new --ticket abc", "'abc' is not a ConnectWise ticket id"),
        NOT_FOUND: Run("new --ticket 99999", "ConnectWise has no ticket 99999"),
        CONFLICT: Run("new --ticket 48307", "already has an open session"),
        PSA: Run("new --ticket 48311", "ConnectWise refused the request (403)", psa="refuses"),
    },
    "demo": {USAGE: Run("demo --bogus", "no such option: --bogus")},
    "chat": {
        USAGE: Run("chat {S} --answer zz! yes", "not a valid"),
        NOT_FOUND: Run(f"chat {NO_ID} hello", "no session matches"),
        CONFLICT: Run("chat {A} hello", "session is abandoned; the conversation is closed"),
        LLM: Run("chat {S} hello", "chat needs a model"),
    },
    "resolve": {
        USAGE: Run("resolve not-an-id", "not a valid session id"),
        NOT_FOUND: Run(f"resolve {NO_ID}", "no session matches"),
        CONFLICT: Run("resolve {R} --yes", "already resolved"),
        PSA: Run("resolve {L2} --yes --offline", "ConnectWise refused the request (403)", psa="refuses"),
        QUEUED: Run("resolve {L4} --yes --offline", "unreachable", psa="down"),
    },
    "escalate": {
        USAGE: Run("escalate not-an-id", "not a valid session id"),
        NOT_FOUND: Run(f"escalate {NO_ID}", "no session matches"),
        CONFLICT: Run("escalate {A} --yes", "cannot escalate a session that is abandoned"),
        PSA: Run("escalate {L3} --yes --offline", "ConnectWise refused the request (403)", psa="refuses"),
        QUEUED: Run("escalate {L5} --yes --offline", "unreachable", psa="down"),
    },
    "share-update": {
        USAGE: Run(("share-update", "{L}", "--text", ""), "the update is empty"),
        NOT_FOUND: Run(f"share-update {NO_ID} --text x --yes", "no session matches"),
        CONFLICT: Run("share-update {S} --text x --yes", "not linked to a PSA ticket"),
        PSA: Run("share-update {L6} --text x --yes", "ConnectWise refused the request (403)", psa="refuses"),
        QUEUED: Run("share-update {L7} --text y --yes", "unreachable", psa="down"),
    },
    "park": {
        USAGE: Run("park {S}", "missing option '--waiting-on'"),
        NOT_FOUND: Run(f"park {NO_ID} --waiting-on x", "no session matches"),
        CONFLICT: Run("park {P} --waiting-on again", "already waits in the queue"),
    },
    "handoffs": {USAGE: Run("handoffs not-an-id", "not a valid session id"),
                 NOT_FOUND: Run(f"handoffs {NO_ID}", "no session matches")},
    "doctor": {USAGE: Run("doctor extra", "unexpected extra argument")},
    "sessions list": {USAGE: Run("sessions list --status bogus", "unknown status")},
    "sessions show": {USAGE: Run("sessions show ab", "not a valid session id"),
                      NOT_FOUND: Run(f"sessions show {NO_ID}", "no session matches")},
    "sessions export": {USAGE: Run("sessions export {S} --format xml", "unknown export format"),
                        NOT_FOUND: Run(f"sessions export {NO_ID}", "no session matches")},
    "sessions pause": {USAGE: Run("sessions pause zz", "not a valid session id"),
                       NOT_FOUND: Run(f"sessions pause {NO_ID}", "no session matches"),
                       CONFLICT: Run("sessions pause {R}", "cannot pause a session that is resolved")},
    "sessions resume": {USAGE: Run("sessions resume zz", "not a valid session id"),
                        NOT_FOUND: Run(f"sessions resume {NO_ID}", "no session matches"),
                        CONFLICT: Run("sessions resume {S}", "only a paused session")},
    "sessions reopen": {USAGE: Run("sessions reopen zz", "not a valid session id"),
                        NOT_FOUND: Run(f"sessions reopen {NO_ID}", "no session matches"),
                        CONFLICT: Run("sessions reopen {S}", "only a resolved or abandoned session")},
    "sessions abandon": {USAGE: Run("sessions abandon {S} --reason " + "x" * 600, "reason is too long"),
                         NOT_FOUND: Run(f"sessions abandon {NO_ID}", "no session matches"),
                         CONFLICT: Run("sessions abandon {A}", "already abandoned")},
    "sessions rename": {USAGE: Run("sessions rename {S}", "missing argument"),
                        NOT_FOUND: Run(f"sessions rename {NO_ID} Title", "no session matches"),
                        CONFLICT: mate("sessions rename {S} Title")},
    "facts list": {USAGE: Run("facts list zz", "not a valid session id"),
                   NOT_FOUND: Run(f"facts list {NO_ID}", "no session matches")},
    "facts add": {USAGE: Run("facts add {S}", "missing argument"),
                  NOT_FOUND: Run(f"facts add {NO_ID} text", "no session matches"),
                  CONFLICT: mate("facts add {S} text")},
    "facts edit": {USAGE: Run("facts edit {S} {F}", "at least one of"),
                   NOT_FOUND: Run(f"facts edit {{S}} {NO_ID} --text x", "fact not found"),
                   CONFLICT: Run("facts edit {S} {FQ} --text x", "read-only")},
    "facts rm": {USAGE: Run("facts rm {S} ab", "not a valid fact id"),
                 NOT_FOUND: Run(f"facts rm {{S}} {NO_ID}", "fact not found"),
                 CONFLICT: mate("facts rm {S} {F}")},
    "lane list": {USAGE: Run("lane list zz", "not a valid session id"),
                  NOT_FOUND: Run(f"lane list {NO_ID}", "no session matches")},
    "lane ask": {USAGE: Run(("lane", "ask", "{S}", ""), "question is empty"),
                 NOT_FOUND: Run(f"lane ask {NO_ID} why?", "no session matches"),
                 CONFLICT: mate("lane ask {S} why?")},
    "lane check": {USAGE: Run(("lane", "check", "{S}", ""), "check label is empty"),
                   NOT_FOUND: Run(f"lane check {NO_ID} label", "no session matches"),
                   CONFLICT: mate("lane check {S} label")},
    "lane answer": {USAGE: Run("lane answer {S} q-1 yes", "not a valid question id"),
                    NOT_FOUND: Run(f"lane answer {{S}} {NO_ID} yes", "no question matches"),
                    CONFLICT: mate("lane answer {S} {Q} yes")},
    "lane ran": {USAGE: Run("lane ran {S} {C} --promote", "no output to promote"),
                 NOT_FOUND: Run(f"lane ran {{S}} {NO_ID} -o x", "no diagnostic check matches"),
                 CONFLICT: mate("lane ran {S} {C} -o x")},
    "lane skip": {USAGE: Run("lane skip {S} xyz", "not a valid lane item id"),
                  NOT_FOUND: Run(f"lane skip {{S}} {NO_ID}", "no lane item matches"),
                  CONFLICT: Run("lane skip {S} {QA}", "already answered")},
    "lane promote": {USAGE: Run("lane promote {S}", "give a question or check to promote from"),
                     NOT_FOUND: Run(f"lane promote {{S}} {NO_ID}", "no lane item matches"),
                     CONFLICT: Run("lane promote {S} {Q}", "has no answer yet"),
                     LLM: Run("lane promote {S} {QA} --synthesize", "synthesizing a fact needs a model")},
    "fix suggest": {USAGE: Run("fix suggest {S} t -c 101", "confidence must be from 0 to 100"),
                    NOT_FOUND: Run(f"fix suggest {NO_ID} t -c 50", "no session matches"),
                    CONFLICT: mate("fix suggest {S} t -c 50")},
    "seen list": {USAGE: Run("seen list zz", "not a valid session id"),
                  NOT_FOUND: Run(f"seen list {NO_ID}", "no session matches")},
    "seen dismiss": {USAGE: Run("seen dismiss {S} #zz", "not a valid seen-before match id"),
                     NOT_FOUND: Run(f"seen dismiss {{S}} #{NO_ID}", "has no seen-before match"),
                     CONFLICT: mate(f"seen dismiss {{S}} #{NO_ID}")},
    "fix show": {USAGE: Run("fix show zz", "not a valid session id"),
                 NOT_FOUND: Run(f"fix show {NO_ID}", "no session matches")},
    "fix apply": {USAGE: Run("fix apply {S} --fix nope", "not a valid fix id"),
                  NOT_FOUND: Run("fix apply {N}", "no active suggested fix"),
                  CONFLICT: Run("fix apply {W}", "already 'applied_success'")},
    "fix outcome": {USAGE: Run("fix outcome {V} applied_partial", "notes are required"),
                    NOT_FOUND: Run("fix outcome {N} worked", "no active suggested fix"),
                    CONFLICT: Run("fix outcome {W} failed", "terminal status 'applied_success'")},
    "fix finish": {USAGE: Run("fix finish {S} --fix nope", "not a valid fix id"),
                   NOT_FOUND: Run("fix finish {N}", "no active suggested fix"),
                   CONFLICT: Run("fix finish {S}", "only a partial or pending fix")},
    "fix decide": {USAGE: Run("fix decide {S} one_off", "no drafted script"),
                   NOT_FOUND: Run("fix decide {N} dismissed", "no active suggested fix"),
                   CONFLICT: Run("fix decide {W} dismissed", "terminal status")},
    "fix confirm-outcome": {USAGE: Run("fix confirm-outcome {S} --fix nope", "not a valid fix id"),
                            NOT_FOUND: Run("fix confirm-outcome {N}", "no active suggested fix"),
                            CONFLICT: Run("fix confirm-outcome {S}", "no outcome proposal")},
    "fix reject-outcome": {USAGE: Run("fix reject-outcome {S} --fix nope", "not a valid fix id"),
                           NOT_FOUND: Run("fix reject-outcome {N}", "no active suggested fix"),
                           CONFLICT: Run("fix reject-outcome {S}", "no outcome proposal")},
    "fix run": {USAGE: Run("fix run {S} --yes", "give a template slug"),
                NOT_FOUND: Run("fix run {S} --template no-such-template --yes", "no template with the slug"),
                CONFLICT: mate("fix run {S} --template flush-dns --yes")},
    # A preview changes nothing, so no state refuses it (a teammate may read one too).
    "preview resolve": {USAGE: Run("preview resolve zz", "not a valid session id"),
                        NOT_FOUND: Run(f"preview resolve {NO_ID}", "no session matches")},
    "preview escalate": {USAGE: Run("preview escalate zz", "not a valid session id"),
                         NOT_FOUND: Run(f"preview escalate {NO_ID}", "no session matches")},
    "keys set": {USAGE: Run("keys set bogus", "bogus")},
    "keys list": {USAGE: Run("keys list extra", "unexpected extra argument")},
    "keys delete": {USAGE: Run("keys delete bogus", "bogus"),
                    NOT_FOUND: Run("keys delete openai", "no openai key is stored")},
    "psa connect": {USAGE: Run("psa connect connectwise --private-key x", "never taken on the command line"),
                    CONFLICT: Run("psa connect autotask --username u@example.com", "is a ConnectWise connection"),
                    PSA: Run("psa connect connectwise --site {SITE} --company-id {COMPANY} --codebase {CODEBASE} "
                             "--member jdoe --secrets-stdin", "ConnectWise refused", psa="refuses", stdin="{SECRETS}")},
    "psa list": {USAGE: Run("psa list extra", "unexpected extra argument")},
    "psa test": {USAGE: Run("psa test --ticket abc", "'abc' is not a ConnectWise ticket id"),
                 NOT_FOUND: Run("psa test --ticket 99999", "ConnectWise has no ticket 99999"),
                 PSA: Run("psa test", "ConnectWise refused the request (403)", psa="refuses")},
    "psa statuses": {USAGE: Run("psa statuses #x1", "is not a ConnectWise ticket id"),
                     NOT_FOUND: Run("psa statuses 99999", "ConnectWise has no ticket 99999"),
                     PSA: Run("psa statuses 48307", "ConnectWise refused the request (403)", psa="refuses")},
    "psa targets": {USAGE: Run("psa targets", "give --resolve NAME and/or --escalate NAME"),
                    NOT_FOUND: Run("psa targets --connection nope --resolve Closed", "no PSA connection called")},
    "psa remove": {USAGE: Run("psa remove spare", "not confirmed"),
                   NOT_FOUND: Run("psa remove nope", "no PSA connection called 'nope'"),
                   CONFLICT: Run("psa remove main", "still waits for the connection 'main'")},
    "tickets list": {USAGE: Run("tickets list --limit 0", "--limit"),
                     NOT_FOUND: Run("tickets list --connection nope", "no PSA connection called"),
                     PSA: Run("tickets list", "ConnectWise refused the request (403)", psa="refuses")},
    "tickets show": {USAGE: Run("tickets show abc", "'abc' is not a ConnectWise ticket id"),
                     NOT_FOUND: Run("tickets show 99999", "ConnectWise has no ticket 99999"),
                     PSA: Run("tickets show 48307", "ConnectWise refused the request (403)", psa="refuses")},
    "outbox list": {USAGE: Run("outbox list extra", "unexpected extra argument")},
    "outbox sync": {USAGE: Run("outbox sync extra", "unexpected extra argument"),
                    PSA: Run("outbox sync", "failed: ConnectWise refused the request (403)", psa="refuses",
                             report=True),
                    QUEUED: Run("outbox sync", "still queued: ConnectWise is unreachable", psa="down", report=True)},
    "outbox retry": {USAGE: Run("outbox retry zz", "not a valid outbox item id"),
                     NOT_FOUND: Run(f"outbox retry {NO_ID}", "no outbox item matches"),
                     CONFLICT: Run("outbox retry {DELIVERED}", "already delivered"),
                     QUEUED: Run("outbox retry {PENDING}", "unreachable", psa="down")},
    "outbox drop": {USAGE: Run("outbox drop {PENDING}", "not confirmed"),
                    NOT_FOUND: Run(f"outbox drop {NO_ID}", "no outbox item matches"),
                    CONFLICT: Run("outbox drop {DELIVERED} --yes", "already delivered")},
    "templates list": {USAGE: Run("templates list extra", "unexpected extra argument")},
    "templates show": {USAGE: Run("templates show", "missing argument"),
                       NOT_FOUND: Run("templates show no-such-template", "no template with the slug")},
    "templates new": {USAGE: Run("templates new --name x --file {TMP}/missing.ps1", "file not found"),
                      CONFLICT: Run("templates new --name Other --slug flush-dns --file {TMP}/flush.ps1",
                                    "is taken by the template")},
    "templates edit": {USAGE: Run("templates edit flush-dns --file {TMP}/missing.ps1", "file not found"),
                       NOT_FOUND: Run("templates edit no-such-template --description x", "no template with the slug")},
    "templates rm": {USAGE: Run("templates rm flush-dns", "not confirmed"),
                     NOT_FOUND: Run("templates rm no-such-template", "no template with the slug")},
    "templates export": {USAGE: Run("templates export flush-dns --format xml", "xml"),
                         NOT_FOUND: Run("templates export no-such-template --dir {TMP}/out", "no template with the slug")},
    "templates import": {USAGE: Run("templates import {TMP}/missing.toml", "file not found")},
    "templates render": {USAGE: Run("templates render flush-dns --set novalue", "is not key=value"),
                         NOT_FOUND: Run("templates render no-such-template", "no template with the slug")},
    "templates drafts": {USAGE: Run("templates drafts --session zz", "not a valid session id"),
                         NOT_FOUND: Run(f"templates drafts --session {NO_ID}", "no session matches")},
    "templates accept": {USAGE: Run("templates accept zz --name x", "not a valid"),
                         NOT_FOUND: Run(f"templates accept {NO_ID} --name x", "matches"),
                         CONFLICT: Run("templates accept {DONE_DRAFT} --name again", "already")},
    "templates reject": {USAGE: Run("templates reject zz", "not a valid"),
                         NOT_FOUND: Run(f"templates reject {NO_ID}", "matches"),
                         CONFLICT: Run("templates reject {DONE_DRAFT}", "already")},
    "templates prompt": {USAGE: Run("templates prompt maybe", "say on or off")},
    "templates review": {USAGE: Run("templates review --session {D}", "needs a terminal"),
                         NOT_FOUND: Run(f"templates review --session {NO_ID}", "no session matches")},
    "branches list": {USAGE: Run("branches list zz", "not a valid session id"),
                      NOT_FOUND: Run(f"branches list {NO_ID}", "no session matches")},
    "branches fork": {USAGE: Run("branches fork {S} --reason why -o A:only", "hypotheses"),
                      NOT_FOUND: Run(f"branches fork {NO_ID} --reason why -o A:a -o B:b", "no session matches"),
                      CONFLICT: Run("branches fork {E} --reason why -o A:a -o B:b",
                                    "cannot fork an escalated session")},
    "branches switch": {USAGE: Run("branches switch {B}", "missing argument"),
                        NOT_FOUND: Run("branches switch {B} Nowhere", "no branch"),
                        CONFLICT: mate("branches switch {B} Auth")},
    "branches mark": {USAGE: Run("branches mark {B} Auth bogus", "bogus"),
                      NOT_FOUND: Run("branches mark {B} Nowhere dead_end --reason x", "no branch"),
                      CONFLICT: mate("branches mark {B} Auth dead_end --reason x")},
    "branches revive": {USAGE: Run(("branches", "revive", "{B}", "Net", "--from", "Auth", "--evidence", ""), "evidence"),
                        NOT_FOUND: Run("branches revive {B} Nowhere --from Auth --evidence x", "no branch"),
                        CONFLICT: Run("branches revive {B} Auth --from Net --evidence x", "dead")},
    "queue list": {USAGE: Run("queue list extra", "unexpected extra argument")},
    "queue claim": {USAGE: Run("queue claim zz", "not a valid"),
                    NOT_FOUND: Run(f"queue claim {NO_ID}", "matches"),
                    CONFLICT: Run("queue claim {WITHDRAWN}", "withdrawn")},
    "outputs list": {USAGE: Run("outputs list zz", "not a valid session id"),
                     NOT_FOUND: Run(f"outputs list {NO_ID}", "no session matches")},
    "outputs show": {USAGE: Run("outputs show {R} bogus", "bogus"),
                     NOT_FOUND: Run("outputs show {S} kb", "")},
    "outputs generate": {USAGE: Run("outputs generate {R} --type bogus", "bogus"),
                         NOT_FOUND: Run(f"outputs generate {NO_ID} --offline", "no session matches"),
                         CONFLICT: Run("outputs generate {S} --offline", "resolution outputs are drafted from")},
    "outputs edit": {USAGE: Run("outputs edit {R} kb --file {TMP}/missing.md", "file not found"),
                     NOT_FOUND: Run(f"outputs edit {NO_ID} kb --file {{TMP}}/kb.md", "no session matches"),
                     CONFLICT: mate("outputs edit {R} notes --file {TMP}/kb.md")},
    "outputs approve": {USAGE: Run("outputs approve {R} bogus", "bogus"),
                        NOT_FOUND: Run(f"outputs approve {NO_ID} kb", "no session matches"),
                        CONFLICT: mate("outputs approve {R} notes")},
    "outputs reject": {USAGE: Run("outputs reject {R} bogus", "bogus"),
                       NOT_FOUND: Run(f"outputs reject {NO_ID} kb", "no session matches"),
                       CONFLICT: mate("outputs reject {R} notes")},
    "outputs push": {USAGE: Run("outputs push {R} kb", "missing option '--to'"),
                     NOT_FOUND: Run(f"outputs push {NO_ID} kb --to file --out {{TMP}}/x.md", "no session matches"),
                     CONFLICT: Run("outputs push {R} client --to file --out {TMP}/x.md", "only an approved"),
                     PSA: Run("outputs push {RP} client --to psa", "ConnectWise refused the request (403)",
                              psa="refuses"),
                     QUEUED: Run("outputs push {RQ} client --to psa", "waits in the PSA outbox", psa="down")},
    "outputs export": {USAGE: Run("outputs export {R} bogus --out {TMP}/x.md", "bogus"),
                       NOT_FOUND: Run(f"outputs export {NO_ID} kb --out {{TMP}}/x.md", "no session matches"),
                       CONFLICT: mate("outputs export {R} client --out {TMP}/x.md")},
    "config path": {USAGE: Run("config path extra", "unexpected extra argument")},
    "config get": {USAGE: Run("config get nope.key", "unknown setting 'nope.key'")},
    "config set": {USAGE: Run("config set nope.key 1", "unknown setting 'nope.key'")},
    "db path": {USAGE: Run("db path extra", "unexpected extra argument")},
    "db current": {USAGE: Run("db current extra", "unexpected extra argument")},
    "db upgrade": {USAGE: Run("db upgrade extra", "unexpected extra argument")},
    "db backup": {USAGE: Run("db backup {TMP}/a.db {TMP}/b.db", "unexpected extra argument"),
                  CONFLICT: Run("db backup {TMP}/kb.md", "already exists; it was not overwritten", sqlite_only=True)},
    "db reindex": {USAGE: Run("db reindex extra", "unexpected extra argument")},
    "search": {USAGE: Run(("search", "printer", "--since", "last week"), "is not a duration or a date")},
    "stats": {USAGE: Run(("stats", "--since", "3m"), "is not a duration or a date"),
              NOT_FOUND: Run(("stats", "--client", "Nobody Inc"), "Nobody Inc")},
}


def test_every_command_is_in_the_table() -> None:
    commands = cli_commands()
    assert not sorted(commands - set(TABLE)), f"add these commands to TABLE: {sorted(commands - set(TABLE))}"
    assert not sorted(set(TABLE) - commands), f"these commands no longer exist: {sorted(set(TABLE) - commands)}"
    assert all(USAGE in runs for runs in TABLE.values()), "every command can be misused: give it a usage run"
    assert all(code in (USAGE, NOT_FOUND, CONFLICT, PSA, LLM, QUEUED) for runs in TABLE.values() for code in runs)


def test_the_exit_codes_are_documented() -> None:
    """The table the tests drive is the one the docs give (architecture.md) and the errors module declares."""
    from rfpilot import errors

    doc = (Path(__file__).resolve().parent.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    for code, cls in ((USAGE, errors.UsageError), (NOT_FOUND, errors.NotFoundError), (CONFLICT, errors.ConflictError),
                      (PSA, errors.PSAError), (LLM, errors.LLMUnavailableError), (QUEUED, errors.QueuedError)):
        assert cls.exit_code == code
        assert f"| {code} | `{cls.__name__}`" in doc, f"docs/architecture.md: no table row for exit {code}"


@pytest.mark.parametrize(("provider", "says"), [
    ("offline", "chat needs a model, and rfpilot is running offline"),
    ("anthropic", "no Anthropic API key found"),
    ("openai", "the openai provider needs a base URL and a model"),
])
def test_chat_with_no_model_to_answer_exits_5_on_every_provider(cli, monkeypatch, provider: str, says: str) -> None:
    """No model configured is "LLM unavailable" (5) however it comes about: the offline provider, Anthropic with
    no key (it was ConfigError, exit 1), an OpenAI-compatible server not set. resolve and escalate, which have an
    offline drafter, say the same reason and go on."""
    monkeypatch.setenv("RFPILOT_LLM_PROVIDER", provider)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    sid = cli("new", "Printer offline on floor 2")[1].strip()
    code, out, err = cli("chat", sid, "hello")
    assert (code, out) == (LLM, "") and err.startswith(f"error: {says}"), err
    code, _, err = cli("resolve", sid, "--yes")
    assert code == 0, err
    if provider != "offline":
        assert f"the model is not usable: {says}" in err
    code, _, err = cli("chat", sid, "hello")  # the session's state is named before the model
    assert code == CONFLICT and "the conversation is closed" in err, err
    monkeypatch.setenv("RFPILOT_LLM_PROVIDER", "bogus")  # a wrong setting, not a missing model: the user's to fix
    code, _, err = cli("chat", cli("new", "Scanner offline")[1].strip(), "hello")
    assert code == USAGE and "llm.provider does not take 'bogus'" in err, err


# --- the world -----------------------------------------------------------------------------------------------


def _ok(cli, *argv: str, stdin: str | None = None) -> str:
    code, out, err = cli(*argv, stdin=stdin)
    assert code == 0, f"setup `rfpilot {' '.join(argv)}` exited {code}: {err}"
    return out


def _js(cli, *argv: str):
    return json.loads(_ok(cli, *argv, "--json"))


def build_world(cli, cw, tmp_path: Path) -> dict[str, str]:
    """Everything the runs name, made through the CLI."""
    (tmp_path / "flush.ps1").write_text("ipconfig /flushdns\n", encoding="utf-8")
    (tmp_path / "kb.md").write_text("## Symptoms\nOutlook prompts.\n", encoding="utf-8")
    secrets = "".join(f"{k}={v}\n" for k, v in cw.secrets().items())
    cw.seed_ticket(48311, summary="Printer offline on floor 2")
    for number in range(48312, 48320):
        cw.seed_ticket(number, summary=f"Ticket {number}")
    w = {"TMP": str(tmp_path), "SITE": cw.site, "COMPANY": cw.company_id, "CODEBASE": cw.codebase,
         "SECRETS": secrets}
    _ok(cli, "psa", "connect", "connectwise", "--site", cw.site, "--company-id", cw.company_id, "--codebase",
        cw.codebase, "--member", "jdoe", "--secrets-stdin", stdin=secrets)
    _ok(cli, "psa", "connect", "connectwise", "--name", "spare", "--site", cw.site, "--company-id", cw.company_id,
        "--codebase", cw.codebase, "--secrets-stdin", stdin=secrets)
    _ok(cli, "templates", "new", "--name", "Flush DNS", "--file", str(tmp_path / "flush.ps1"))

    s = w["S"] = _ok(cli, "new", "Outlook prompts for a password after the reset").strip()
    w["F"] = _js(cli, "facts", "add", s, "Only on the VPN")["id"]
    w["Q"] = _js(cli, "lane", "ask", s, "Does webmail work?")["id"]
    w["QA"] = _js(cli, "lane", "ask", s, "Is the user licensed?")["id"]
    w["FQ"] = _js(cli, "lane", "answer", s, w["QA"], "Yes, E3", "--promote")["fact"]["id"]
    w["C"] = _js(cli, "lane", "check", s, "Cached credentials", "-c", "cmdkey /list")["id"]
    _ok(cli, "fix", "suggest", s, "Clear cached credentials", "-c", "70")
    w["N"] = _ok(cli, "new", "No fix yet").strip()
    w["V"] = _ok(cli, "new", "A fix being verified").strip()
    _ok(cli, "fix", "suggest", w["V"], "Restart the spooler", "-c", "60")
    _ok(cli, "fix", "apply", w["V"])
    w["W"] = _ok(cli, "new", "A fix that worked").strip()
    _ok(cli, "fix", "suggest", w["W"], "Restart the spooler", "-c", "60")
    _ok(cli, "fix", "apply", w["W"])
    _ok(cli, "fix", "outcome", w["W"], "worked")

    r = w["R"] = _ok(cli, "new", "A resolved session").strip()
    w["RF"] = _js(cli, "facts", "add", r, "Fixed by a reboot")["id"]
    w["RC"] = _js(cli, "lane", "check", r, "Uptime", "-c", "uptime")["id"]
    _ok(cli, "resolve", r, "--yes", "--offline")
    w["E"] = _ok(cli, "new", "An escalated session").strip()
    _ok(cli, "escalate", w["E"], "--yes", "--offline")
    w["A"] = _ok(cli, "new", "An abandoned session").strip()
    _ok(cli, "sessions", "abandon", w["A"])

    w["P"] = p = _ok(cli, "new", "A parked session").strip()
    w["H"] = _ok(cli, "park", p, "--waiting-on", "the user's callback").strip()
    p2 = _ok(cli, "new", "A session parked, then resumed").strip()
    w["WITHDRAWN"] = _ok(cli, "park", p2, "--waiting-on", "the vendor").strip()
    _ok(cli, "sessions", "resume", p2)

    b = w["B"] = _ok(cli, "new", "Scanner cannot reach the share").strip()
    _ok(cli, "branches", "fork", b, "--reason", "network or auth", "-o", "Net: the network path",
        "-o", "Auth: the scan account")
    _ok(cli, "branches", "mark", b, "Net", "dead_end", "--reason", "the path answers")

    d = w["D"] = _ok(cli, "new", "A session with a drafted template").strip()
    _ok(cli, "fix", "suggest", d, "Remap the drive", "-c", "60")
    (tmp_path / "map.cmd").write_text("net use Z: \\\\fs\\share\n", encoding="utf-8")
    _ok(cli, "fix", "decide", d, "draft_template", "--script", str(tmp_path / "map.cmd"))
    [draft] = [x for x in _js(cli, "templates", "drafts") if x["session_id"] == d]
    _ok(cli, "templates", "reject", draft["id"])
    w["DONE_DRAFT"] = draft["id"]
    d2 = _ok(cli, "new", "Another drafted template").strip()
    _ok(cli, "fix", "suggest", d2, "Remap the printer", "-c", "60")
    _ok(cli, "fix", "decide", d2, "draft_template", "--script", str(tmp_path / "map.cmd"))
    w["D"] = d2  # a session whose draft still waits for review

    w["L"] = _ok(cli, "new", "--ticket", "48307").strip()
    for key, number in zip(("L2", "L3", "L4", "L5", "L6", "L7"), range(48312, 48318)):
        w[key] = _ok(cli, "new", "--ticket", str(number)).strip()
    _ok(cli, "share-update", w["L"], "--text", "Delivered update", "--yes")
    [delivered] = [i for i in _js(cli, "outbox", "list", "--all") if i["state"] == "delivered"]
    w["DELIVERED"] = delivered["id"][:8]
    cw.down = True
    code, _, err = cli("share-update", w["L"], "--text", "Queued update", "--yes")
    assert code == QUEUED, err
    cw.down = False
    [pending] = [i for i in _js(cli, "outbox", "list") if i["state"] == "pending"]
    w["PENDING"] = pending["id"][:8]
    for key, number in (("RP", 48318), ("RQ", 48319)):  # resolved on a ticket, the client summary approved
        w[key] = _ok(cli, "new", "--ticket", str(number)).strip()
        _ok(cli, "resolve", w[key], "--yes", "--offline")
        _ok(cli, "outputs", "approve", w[key], "client")
    return w


def fill(text: str, world: dict[str, str]) -> str:
    for key in sorted(world, key=len, reverse=True):  # {L2} before {L}
        text = text.replace("{" + key + "}", world[key])
    return text


def _argv(run: Run, world: dict[str, str]) -> list[str]:
    parts = run.argv if isinstance(run.argv, tuple) else tuple(run.argv.split())
    return [fill(a, world) for a in parts]


def _order(item: tuple[str, int, Run]) -> int:
    """Refusals first, then the PSA failures, then the runs that queue (they add to the outbox)."""
    _, _, run = item
    return {None: 0, "refuses": 1, "down": 2}[run.psa]


def test_every_command_exits_with_its_documented_code(cli, cw, memory_keyring, tmp_path: Path, monkeypatch,
                                                      db_url: str) -> None:
    world = build_world(cli, cw, tmp_path)
    runs = sorted(((name, code, run) for name, codes in TABLE.items() for code, run in codes.items()
                   if not (run.sqlite_only and not db_url.startswith("sqlite"))), key=_order)
    wrong = []
    for name, code, run in runs:
        argv = _argv(run, world)
        cw.down = run.psa == "down"
        if run.psa == "refuses":
            cw.error_next = (403, {"code": "Forbidden", "message": "The member lacks the permission"})
        if run.who == "teammate":
            monkeypatch.setenv("RFPILOT_USER_EMAIL", "teammate@example.com")
            monkeypatch.setenv("RFPILOT_USER_NAME", "Tess Teammate")
        got, out, err = cli(*argv, stdin=fill(run.stdin, world))
        monkeypatch.setenv("RFPILOT_USER_EMAIL", OWNER[0])
        monkeypatch.setenv("RFPILOT_USER_NAME", OWNER[1])
        cw.down, cw.error_next = False, None
        # Drafting notes (resolve, escalate) may come first on stderr; the error is one line starting `error:`.
        said = out if run.report else next((ln for ln in err.splitlines() if ln.startswith("error: ")), "")
        problems = []
        if got != code:
            problems.append(f"exit {got}, expected {code}")
        if out and not run.report:
            problems.append(f"stdout {out[:80]!r}")
        if not said:
            problems.append("no `error: …` line")
        if run.names.lower() not in said.lower():
            problems.append(f"does not say {run.names!r}")
        if "Traceback" in err:
            problems.append("a traceback")
        if problems:
            wrong.append(f"{name} [{code}] rfpilot {' '.join(argv)[:100]}: {'; '.join(problems)}\n    {err.strip()[:300]}")
    assert not wrong, f"{len(wrong)} of {len(runs)} runs are off:\n" + "\n".join(wrong)


# --- ticket ids on every PSA: the PSA's own "no such ticket" is exit 2, a malformed id exit 1 and no request ---


def _psa_fake(provider: str, monkeypatch):
    """(fake, `psa connect` arguments, secrets on stdin, a request counter) for ``provider``."""
    from rfpilot.core.closeout import psa
    from rfpilot.psa import autotask
    from rfpilot.psa.http import RetryPolicy
    from tests.fakes.autotask import FakeAutotask
    from tests.fakes.connectwise import FakeConnectWise
    from tests.fakes.halo import FakeHalo

    async def no_sleep(_: float) -> None:
        return None

    autotask.clear_zone_cache()
    if provider == "connectwise":
        fake = FakeConnectWise()
        fake.seed_ticket(4711)
        settings, secrets = fake.connection()
    elif provider == "autotask":
        fake = FakeAutotask()
        fake.add_ticket(4711, title="VPN drops every hour")
        settings, secrets = fake.connection()
    else:
        fake = FakeHalo()
        fake.seed_ticket(4711, summary="VPN drops every hour")
        settings, secrets = fake.settings_and_secrets()
    monkeypatch.setattr(psa, "TRANSPORTS", {provider: fake.transport})
    monkeypatch.setattr(psa, "POLICY", RetryPolicy(sleep=no_sleep))
    flags = [part for key, value in settings.items() if value for part in ("--" + key.replace("_", "-"), str(value))]
    stdin = "".join(f"{k}={v}\n" for k, v in secrets.items())
    return fake, ["psa", "connect", provider, *flags, "--secrets-stdin"], stdin, lambda: len(fake.requests)


@pytest.mark.parametrize(("provider", "name", "malformed"), [
    ("connectwise", "ConnectWise", ["abc", "T20240516.0012", "5x"]),
    ("autotask", "Autotask", ["printer", "T2024.1", "48 307"]),
    ("halo", "HaloPSA", ["abc", "0", "4.5"]),
])
def test_ticket_ids_on_every_psa(cli, memory_keyring, monkeypatch, provider: str, name: str, malformed: list[str]):
    fake, connect, secrets, requests = _psa_fake(provider, monkeypatch)
    code, _, err = cli(*connect, stdin=secrets)
    assert code == 0, err
    assert cli("tickets", "show", "4711")[0] == 0
    for argv in (("tickets", "show", "99999"), ("new", "--ticket", "99999"), ("psa", "statuses", "99999"),
                 ("psa", "test", "--ticket", "99999")):
        code, out, err = cli(*argv)
        assert (code, out) == (NOT_FOUND, ""), (argv, err)
        assert err.startswith(f"error: {name} has no ticket 99999\nhint: check the ticket number"), err
    for bad in malformed:
        before = requests()
        for argv in (("tickets", "show", bad), ("new", "--ticket", bad), ("psa", "statuses", bad)):
            code, out, err = cli(*argv)
            assert (code, out) == (USAGE, ""), (argv, err)
            assert err.startswith(f"error: {bad!r} is not a"), err
        assert requests() == before, f"{bad!r}: a malformed id must not reach {name}"
    if provider == "autotask":  # a ticket number no ticket has: the query finds none
        code, _, err = cli("tickets", "show", "T20991231.0001")
        assert code == NOT_FOUND and err.startswith("error: Autotask has no ticket T20991231.0001"), err
    assert json.loads(cli("sessions", "list", "--json")[1]) == []  # no session was started from a missing ticket
