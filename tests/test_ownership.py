"""Ownership as one rule (core/session/permissions.py), tried from the command line on one shared store.

Three users share the store: the session's **owner**, a **teammate** in the same account, and a **stranger** in
another account. Every CLI command is classified in ``COMMANDS`` (the test fails when the Typer app has a command
the table does not know, so a new command cannot be forgotten), and every owner-only, team and session-scoped
read command is run by all three: refusals exit with the documented code (3 for a teammate, 2 — not found — for
the stranger) and leave every row of the team's account as it was; the owner's run shows the command itself
works. After a claim the previous owner is refused and the claimer is not.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

# --- every command, classified ----------------------------------------------------------------------------

READ = "read"  # reads the account's data: a teammate may, a stranger sees nothing
OWNER = "owner-only"  # changes a session (or its outbox items): only its owner
TEAM = "team action"  # explicit team work: claim, deliver the outbox, the account's library and PSA connections
CREATE = "create"  # makes a new session of the acting engineer's own
LOCAL = "local"  # this machine only (config file, keyring, database file maintenance): no account data
TUI = "tui"  # opens the full-screen app (which calls the same core services)

COMMANDS: dict[str, str] = {
    "open": TUI,
    "new": CREATE,
    "demo": CREATE,
    "chat": OWNER,
    "resolve": OWNER,
    "escalate": OWNER,
    "share-update": OWNER,
    "park": OWNER,
    "handoffs": READ,
    "doctor": LOCAL,
    "sessions list": READ,
    "sessions show": READ,
    "sessions export": READ,
    "sessions pause": OWNER,
    "sessions resume": OWNER,
    "sessions reopen": OWNER,
    "sessions abandon": OWNER,
    "sessions rename": OWNER,
    "facts list": READ,
    "facts add": OWNER,
    "facts edit": OWNER,
    "facts rm": OWNER,
    "lane list": READ,
    "lane ask": OWNER,
    "lane check": OWNER,
    "lane answer": OWNER,
    "lane ran": OWNER,
    "lane skip": OWNER,
    "lane promote": OWNER,
    "fix suggest": OWNER,
    "fix show": READ,
    "seen list": READ,
    "seen dismiss": OWNER,
    "fix apply": OWNER,
    "fix outcome": OWNER,
    "fix finish": OWNER,
    "fix decide": OWNER,
    "fix confirm-outcome": OWNER,
    "fix reject-outcome": OWNER,
    "fix run": OWNER,
    "preview resolve": READ,  # drafts into the preview cache; the session does not change
    "preview escalate": READ,
    "keys set": LOCAL,
    "keys list": LOCAL,
    "keys delete": LOCAL,
    "psa connect": TEAM,
    "psa list": READ,
    "psa test": READ,
    "psa statuses": READ,
    "psa targets": TEAM,
    "psa remove": TEAM,
    "tickets list": READ,
    "tickets show": READ,
    "outbox list": READ,
    "outbox sync": TEAM,  # delivery is idempotent and only carries out what the owner asked for
    "outbox retry": OWNER,
    "outbox drop": OWNER,
    "templates list": READ,
    "templates show": READ,
    "templates new": TEAM,
    "templates edit": TEAM,
    "templates rm": TEAM,
    "templates export": READ,
    "templates import": TEAM,
    "templates render": READ,  # prints a script; `fix run` is what records a run
    "templates drafts": READ,
    "templates accept": TEAM,
    "templates reject": TEAM,
    "templates prompt": TEAM,
    "templates review": TEAM,
    "branches list": READ,
    "branches fork": OWNER,
    "branches switch": OWNER,
    "branches mark": OWNER,
    "branches revive": OWNER,
    "queue list": READ,
    "queue claim": TEAM,
    "outputs list": READ,
    "outputs show": READ,
    "outputs generate": OWNER,
    "outputs edit": OWNER,
    "outputs approve": OWNER,
    "outputs reject": OWNER,
    "outputs push": OWNER,
    "outputs export": OWNER,  # marks the output pushed
    "config path": LOCAL,
    "config get": LOCAL,
    "config set": LOCAL,
    "db path": LOCAL,
    "db current": LOCAL,
    "db upgrade": LOCAL,
    "db backup": LOCAL,
    "db reindex": LOCAL,  # rebuilds the store's index from its own rows: maintenance, like db upgrade
    "search": READ,
    "stats": READ,  # the team's figures: a teammate sees them, a stranger sees only their own account's
}

# Tried by all three users in the matrix below (LOCAL/TUI/CREATE ones hold no data of another engineer's).
MUST_TRY = {name for name, kind in COMMANDS.items() if kind in (OWNER, TEAM, READ)}


def cli_commands() -> set[str]:
    import typer

    from rfpilot.cli import app

    found: set[str] = set()

    def walk(command, path: list[str]) -> None:
        subcommands = getattr(command, "commands", None)
        if subcommands is None:
            found.add(" ".join(path))
            return
        for name, sub in subcommands.items():
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return found


def test_every_cli_command_is_classified() -> None:
    commands = cli_commands()
    missing = sorted(commands - set(COMMANDS))
    stale = sorted(set(COMMANDS) - commands)
    assert not missing, f"classify these commands in COMMANDS (owner-only, team action, read, …): {missing}"
    assert not stale, f"these commands no longer exist: {stale}"


def test_every_mutating_core_service_declares_its_rule() -> None:
    """The services behind the owner-only and team commands go through core/session/permissions.py."""
    import rfpilot.core.session.branches
    import rfpilot.core.engine.chat
    import rfpilot.core.session.facts
    import rfpilot.core.session.fixes
    import rfpilot.core.team.handoffs
    import rfpilot.core.session.lane
    import rfpilot.core.closeout.psa
    import rfpilot.core.session.sessions
    import rfpilot.core.library.templates
    import rfpilot.core.closeout.updates
    import rfpilot.core.closeout.writeback  # noqa: F401
    from rfpilot.core.session.permissions import DECLARED

    expected = {
        "branches.fork": "owner", "branches.switch": "owner", "branches.mark": "owner", "branches.revive": "owner",
        "writeback.drop": "owner", "writeback.retry": "owner", "writeback.sync": "team",
        "handoffs.park": "owner", "handoffs.escalate": "owner", "handoffs.claim": "team",
        "sessions.pause_session": "owner", "sessions.resume_session": "owner", "sessions.abandon_session": "owner",
        "sessions.reopen_session": "owner", "sessions.rename_session": "owner",
        "chat.store_message": "owner", "facts.create_fact": "owner", "facts.update_fact": "owner",
        "facts.delete_fact": "owner", "lane.add_item": "owner", "lane.skip_item": "owner",
        "fixes.suggest_fix": "owner", "fixes.apply_fix": "owner", "fixes.record_outcome": "owner",
        "fixes.decide": "owner", "templates.record_run": "owner", "updates.share_update": "owner",
        "templates.create_template": "team", "templates.accept_draft": "team", "psa.connect": "team",
    }
    declared = {".".join(name.split(".")[-2:]): kind for name, (kind, _) in DECLARED.items()}  # module.function
    assert {k: declared.get(k) for k in expected} == expected


# --- the shared store ---------------------------------------------------------------------------------------

OWNER_ID = ("owner@example.com", "Olive Owner")
TEAMMATE_ID = ("teammate@example.com", "Tess Teammate")
STRANGER_ID = ("stranger@example.com", "Sam Stranger")
NOT_YOURS = 3
NOT_FOUND = 2


def dump(engine, account: str) -> dict[str, list[str]]:
    """Every row of the account's data (the team's), as text, to compare before and after a refusal."""
    from sqlalchemy import select

    from rfpilot.db.models import Account, load_all

    async def go() -> dict[str, list[str]]:
        async with engine.connect() as conn:
            account_id = (await conn.execute(select(Account.id).where(Account.name == account))).scalar_one()
            rows: dict[str, list[str]] = {}
            for table in load_all().sorted_tables:
                if "account_id" in table.c:
                    stmt = select(table).where(table.c.account_id == account_id)
                elif table.name == "accounts":
                    stmt = select(table).where(table.c.id == account_id)
                else:
                    stmt = select(table)
                rows[table.name] = sorted(repr(tuple(r)) for r in (await conn.execute(stmt)).all())
            return rows

    return asyncio.run(go())


class World:
    """Runs commands as one of the three users and checks who may do what."""

    def __init__(self, cli, env, monkeypatch, tmp_path: Path) -> None:
        self.cli, self.env, self.monkeypatch, self.tmp = cli, env, monkeypatch, tmp_path
        self.account = env["RFPILOT_ACCOUNT"]
        self.other = self.account + "-other"
        self.tried: dict[str, set[str]] = {}
        from sqlalchemy.ext.asyncio import create_async_engine
        from sqlalchemy.pool import NullPool

        self.engine = create_async_engine(env["RFPILOT_DATABASE_URL"], poolclass=NullPool)  # a connection per dump

    def as_(self, who: tuple[str, str], account: str | None = None) -> None:
        self.monkeypatch.setenv("RFPILOT_USER_EMAIL", who[0])
        self.monkeypatch.setenv("RFPILOT_USER_NAME", who[1])
        self.monkeypatch.setenv("RFPILOT_ACCOUNT", account or self.account)

    def run(self, who: str, *argv: str, stdin: str | None = None) -> tuple[int, str, str]:
        ident, account = {"owner": (OWNER_ID, None), "teammate": (TEAMMATE_ID, None),
                          "stranger": (STRANGER_ID, self.other)}[who]
        self.as_(ident, account)
        return self.cli(*argv, stdin=stdin)

    def ok(self, who: str, *argv: str, stdin: str | None = None) -> str:
        code, out, err = self.run(who, *argv, stdin=stdin)
        assert code == 0, f"{who}: rfpilot {' '.join(argv)} -> {code}: {err}"
        return out

    def js(self, who: str, *argv: str) -> dict:
        return json.loads(self.ok(who, *argv, "--json"))

    def dump(self) -> dict[str, list[str]]:
        return dump(self.engine, self.account)

    def _note(self, name: str, who: str) -> None:
        self.tried.setdefault(name, set()).add(who)

    def refused(self, name: str, argv: tuple[str, ...], who: str, code: int, stdin: str | None = None,
                before: dict | None = None) -> dict:
        """``who`` is refused with ``code`` and the store stays as it was; returns the dump (for the next one)."""
        before = before if before is not None else self.dump()
        got, out, err = self.run(who, *argv, stdin=stdin)
        assert got == code, f"{who}: rfpilot {' '.join(argv)} -> {got} (expected {code}): {err}"
        assert out == "", f"{who}: a refusal prints no data: {out!r}"
        if code == NOT_YOURS:
            assert "error: cannot" in err and "belongs to" in err and "hint:" in err, err
        assert self.dump() == before, f"{who}: rfpilot {' '.join(argv)} was refused but changed the store"
        self._note(name, who)
        return before

    def owner_only(self, name: str, *argv: str, owner_codes: tuple[int, ...] = (0,), stdin: str | None = None) -> str:
        """The teammate gets exit 3 and the stranger exit 2, the store unchanged; then the owner may."""
        assert COMMANDS[name] == OWNER, name
        after = self.refused(name, argv, "teammate", NOT_YOURS, stdin)
        self.refused(name, argv, "stranger", NOT_FOUND, stdin, before=after)
        code, out, err = self.run("owner", *argv, stdin=stdin)
        assert code in owner_codes, f"owner: rfpilot {' '.join(argv)} -> {code}: {err}"
        self._note(name, "owner")
        return out

    def read(self, name: str, *argv: str, secret: str | None = None) -> None:
        """A teammate reads; a stranger gets not found (a session's data) or sees none of the team's rows."""
        assert COMMANDS[name] == READ, name
        self.ok("teammate", *argv)
        self._note(name, "teammate")
        if secret is None:
            self.refused(name, argv, "stranger", NOT_FOUND)
        else:
            before = self.dump()
            code, out, err = self.run("stranger", *argv)
            assert secret not in out and secret not in err, f"stranger saw the team's data in {argv}"
            assert self.dump() == before
            self._note(name, "stranger")
        self._note(name, "owner")  # the owner reads what a teammate reads

    def team(self, name: str, teammate: tuple[str, ...], stranger: tuple[str, ...], stranger_code: int | None,
             stdin: str | None = None) -> str:
        """The teammate may; the stranger is refused (``stranger_code``) or acts on their own account only."""
        assert COMMANDS[name] == TEAM, name
        before = self.dump()
        code, out, err = self.run("stranger", *stranger, stdin=stdin)
        if stranger_code is not None:
            assert code == stranger_code, f"stranger: rfpilot {' '.join(stranger)} -> {code}: {err}"
        assert self.dump() == before, f"stranger: rfpilot {' '.join(stranger)} changed the team's rows"
        self._note(name, "stranger")
        out = self.ok("teammate", *teammate, stdin=stdin)
        self._note(name, "teammate")
        self._note(name, "owner")  # a team action is the owner's too (the same code path, no owner check)
        return out


@pytest.fixture
def world(cli, env, monkeypatch, tmp_path: Path, cw, memory_keyring):
    import typer

    from rfpilot.cli import app

    built = typer.main.get_command(app)  # build the command tree once: ~250 runs follow
    monkeypatch.setattr(typer.main, "get_command", lambda _app: built)
    w = World(cli, env, monkeypatch, tmp_path)
    for who in ("owner", "teammate", "stranger"):  # each engineer exists before the first dump
        w.ok(who, "sessions", "list")
    yield w
    asyncio.run(w.engine.dispose())


def _file(tmp: Path, name: str, text: str) -> str:
    path = tmp / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_who_may_do_what_on_one_store(world: World, cw, tmp_path: Path, monkeypatch) -> None:
    w = world
    # The team's PSA connection and a session linked to a ticket; a library template.
    secrets = "".join(f"{k}={v}\n" for k, v in cw.secrets().items())
    connect = ("psa", "connect", "connectwise", "--site", cw.site, "--company-id", cw.company_id, "--codebase",
               cw.codebase, "--member", "jdoe", "--resolve-status", "Resolved", "--secrets-stdin")
    w.ok("owner", *connect, stdin=secrets)
    body = _file(tmp_path, "flush.ps1", "ipconfig /flushdns\n")
    w.ok("owner", "templates", "new", "--name", "Flush DNS", "--file", body)

    # --- a session with something of everything: facts, lane items, a fix, two hypotheses -------------------
    s = w.ok("owner", "new", "Outlook prompts for a password after the reset").strip()
    f1 = w.js("owner", "facts", "add", s, "Only on the VPN")["id"]
    f2 = w.js("owner", "facts", "add", s, "Started on Monday")["id"]
    q1 = w.js("owner", "lane", "ask", s, "Does webmail work?")["id"]
    q2 = w.js("owner", "lane", "ask", s, "Other users too?")["id"]
    c1 = w.js("owner", "lane", "check", s, "Credential manager", "-c", "cmdkey /list")["id"]
    w.ok("owner", "branches", "fork", s, "--reason", "cause unclear", "-o", "Creds: cached credentials",
         "-o", "Profile: a broken profile")

    for name, ref in (("sessions show", s), ("sessions export", s), ("facts list", s), ("lane list", s),
                      ("fix show", s), ("handoffs", s), ("branches list", s), ("outputs list", s)):
        w.read(name, *name.split(), ref)
    # "Seen before": an earlier session of the team like this one, resolved; anyone of the team sees the match,
    # only the owner dismisses it.
    earlier = w.ok("owner", "new", "Outlook prompts for a password after the reset, on the laptop").strip()
    w.ok("owner", "resolve", earlier, "--yes", "--offline")
    w.read("seen list", "seen", "list", s)
    assert earlier in {m["id"] for m in w.js("teammate", "seen", "list", s)}
    w.owner_only("seen dismiss", "seen", "dismiss", s, earlier[:8])
    w.read("preview resolve", "preview", "resolve", s, "--offline")
    w.read("preview escalate", "preview", "escalate", s, "--offline")
    w.read("templates render", "templates", "render", "flush-dns", "--session", s)
    w.read("sessions list", "sessions", "list", secret=s[:8])
    w.read("search", "search", "webmail VPN", secret=s[:8])
    w.read("stats", "stats", "--json", secret=OWNER_ID[0])

    w.owner_only("sessions rename", "sessions", "rename", s, "Outlook password prompts")
    w.owner_only("facts add", "facts", "add", s, "The user has MFA")
    w.owner_only("facts edit", "facts", "edit", s, f1, "--text", "Only on the VPN, not in the office")
    w.owner_only("facts rm", "facts", "rm", s, f2)
    w.owner_only("lane ask", "lane", "ask", s, "Which Outlook build?")
    w.owner_only("lane check", "lane", "check", s, "Build number", "-c", "outlook /version")
    w.owner_only("lane answer", "lane", "answer", s, q1, "yes, webmail works")
    w.owner_only("lane ran", "lane", "ran", s, c1, "-o", "two stale entries")
    w.owner_only("lane skip", "lane", "skip", s, q2)
    w.owner_only("lane promote", "lane", "promote", s, q1, "--text", "Webmail works with the same password")
    # Drafted by the model: refused before the model is asked (a call here would exit 5, not 3 or 2).
    monkeypatch.setenv("RFPILOT_LLM_PROVIDER", "scripted")
    monkeypatch.setenv("RFPILOT_SCRIPTED_FILE", _file(tmp_path, "no-call.yaml",
                                                      "replies:\n  - action: fact_synthesis\n    error: asked\n"))
    argv = ("lane", "promote", s, q1, "--synthesize", "--text", "webmail works")
    w.refused("lane promote", argv, "stranger", NOT_FOUND, before=w.refused("lane promote", argv, "teammate", NOT_YOURS))
    monkeypatch.setenv("RFPILOT_LLM_PROVIDER", "offline")
    w.owner_only("fix suggest", "fix", "suggest", s, "Clear cached credentials", "-c", "70")
    w.owner_only("fix apply", "fix", "apply", s)
    w.owner_only("fix outcome", "fix", "outcome", s, "partial", "--notes", "one of two entries removed")
    w.owner_only("fix finish", "fix", "finish", s)
    _propose_outcome(w, s)
    w.owner_only("fix reject-outcome", "fix", "reject-outcome", s)
    _propose_outcome(w, s)
    w.owner_only("fix confirm-outcome", "fix", "confirm-outcome", s)
    w.ok("owner", "fix", "suggest", s, "Run the DNS flush", "-c", "60", "--template", "flush-dns")
    w.owner_only("fix run", "fix", "run", s, "--yes")
    w.ok("owner", "fix", "suggest", s, "Reset the credential cache", "-c", "55")
    script = _file(tmp_path, "ran.ps1", "cmdkey /delete:outlook\n")
    w.owner_only("fix decide", "fix", "decide", s, "draft_template", "--script", script)
    w.owner_only("branches switch", "branches", "switch", s, "Creds")
    w.owner_only("branches mark", "branches", "mark", s, "Creds", "dead_end", "--reason", "no cached entries")
    w.owner_only("branches revive", "branches", "revive", s, "Creds", "--from", "Profile", "--evidence",
                 "a stale entry came back after the reboot")
    w.owner_only("branches fork", "branches", "fork", s, "--reason", "which store", "-o", "Vault: Windows vault",
                 "-o", "Keychain: Office keychain")
    _chat(w, s, tmp_path, monkeypatch)

    # --- status changes: pause, resume, park, escalate (both kinds), resolve, reopen, abandon ---------------
    w.owner_only("sessions pause", "sessions", "pause", s)
    w.owner_only("sessions resume", "sessions", "resume", s)
    w.owner_only("park", "park", s, "--waiting-on", "the user's callback")
    w.owner_only("escalate", "escalate", s, "--yes", "--offline", "--fix-outcome", "failed")
    w.owner_only("resolve", "resolve", s, "--yes", "--offline", "--summary", "Cleared the cached credentials")
    # resolving drafted the resolution outputs
    w.read("outputs show", "outputs", "show", s, "kb")
    w.owner_only("outputs generate", "outputs", "generate", s, "--type", "notes", "--offline")
    w.owner_only("outputs edit", "outputs", "edit", s, "kb", "--file",
                 _file(tmp_path, "kb.md", _kb_text()))
    w.owner_only("outputs approve", "outputs", "approve", s, "kb")
    w.owner_only("outputs reject", "outputs", "reject", s, "client")
    w.owner_only("outputs export", "outputs", "export", s, "kb", "--out", str(tmp_path / "kb-out.md"))
    w.ok("owner", "outputs", "approve", s, "notes")
    w.owner_only("outputs push", "outputs", "push", s, "notes", "--to", "file", "--out", str(tmp_path / "n.md"))
    w.owner_only("sessions reopen", "sessions", "reopen", s)
    w.owner_only("sessions abandon", "sessions", "abandon", s, "--reason", "duplicate ticket")

    # --- the team's library: a teammate may, a stranger cannot see it ---------------------------------------
    w.read("templates list", "templates", "list", secret="flush-dns")
    w.read("templates show", "templates", "show", "flush-dns")
    w.read("templates drafts", "templates", "drafts", secret=s[:8])
    [draft] = [d for d in w.js("owner", "templates", "drafts") if d["session_id"] == s]
    w.team("templates accept", ("templates", "accept", draft["id"], "--name", "Delete Outlook creds"),
           ("templates", "accept", draft["id"], "--name", "Mine"), NOT_FOUND)
    w.team("templates new", ("templates", "new", "--name", "Restart spooler", "--file", body),
           ("templates", "new", "--name", "Their own template", "--file", body), 0)
    w.team("templates edit", ("templates", "edit", "restart-spooler", "--description", "Restarts the spooler"),
           ("templates", "edit", "restart-spooler", "--description", "theirs"), NOT_FOUND)
    exported = tmp_path / "exported"
    w.read("templates export", "templates", "export", "flush-dns", "--dir", str(exported))
    w.team("templates import", ("templates", "import", str(next(exported.iterdir()))),
           ("templates", "import", str(next(exported.iterdir()))), None)
    w.team("templates rm", ("templates", "rm", "restart-spooler", "--yes"),
           ("templates", "rm", "restart-spooler", "--yes"), NOT_FOUND)
    w.team("templates prompt", ("templates", "prompt", "on"), ("templates", "prompt", "off"), 0)
    _second_draft_reviewed(w, tmp_path, monkeypatch)

    # --- the PSA: a linked session, its outbox items, the team's connection --------------------------------
    linked = w.ok("owner", "new", "--ticket", "48307").strip()
    w.read("psa list", "psa", "list", secret="jdoe")
    w.read("psa test", "psa", "test", "--connection", "main")
    w.read("psa statuses", "psa", "statuses", "48307")
    w.read("tickets show", "tickets", "show", "48307")
    w.read("tickets list", "tickets", "list", secret="48307")
    notes_before = len(cw.notes[48307])
    w.owner_only("share-update", "share-update", linked, "--text", "Still testing with the user", "--yes")
    assert len(cw.notes[48307]) == notes_before + 1  # the owner's only
    cw.down = True
    assert w.run("owner", "share-update", linked, "--text", "Second update", "--yes")[0] == 6
    [item] = [i for i in w.js("owner", "outbox", "list") if i["state"] == "pending"]
    w.read("outbox list", "outbox", "list", secret=item["id"][:8])
    w.owner_only("outbox drop", "outbox", "drop", item["id"][:8], "--yes")
    assert w.run("owner", "share-update", linked, "--text", "Third update", "--yes")[0] == 6
    [item] = [i for i in w.js("owner", "outbox", "list") if i["state"] == "pending"]
    cw.down = False
    w.owner_only("outbox retry", "outbox", "retry", item["id"][:8])
    cw.down = True
    assert w.run("owner", "share-update", linked, "--text", "Fourth update", "--yes")[0] == 6
    cw.down = False
    notes_before = len(cw.notes[48307])
    w.team("outbox sync", ("outbox", "sync"), ("outbox", "sync"), 0)  # the stranger's sync delivers nothing of ours
    assert len(cw.notes[48307]) == notes_before + 1 and cw.notes[48307][-1]["text"].startswith("Fourth update\n")  # + its rfpilot ref tag
    w.team("psa targets", ("psa", "targets", "--connection", "main", "--resolve", "Closed"),
           ("psa", "targets", "--connection", "main", "--resolve", "Theirs"), NOT_FOUND)
    w.team("psa connect", connect, connect, None, stdin=secrets)

    # --- the queue: a claim is the team's way in; after it the previous owner is refused -------------------
    q = w.ok("owner", "new", "Scanner cannot reach the share").strip()
    w.ok("owner", "branches", "fork", q, "--reason", "network or auth", "-o", "Net: the network path",
         "-o", "Auth: the scan account")
    handoff = w.ok("owner", "park", q, "--waiting-on", "the firewall export").strip()
    w.read("queue list", "queue", "list", secret=handoff[:8])
    w.team("queue claim", ("queue", "claim", handoff[:8]), ("queue", "claim", handoff[:8]), NOT_FOUND)
    before = w.dump()
    for argv in (("branches", "fork", q, "--reason", "again", "-o", "A: a", "-o", "B: b"),
                 ("branches", "switch", q, "Net"), ("branches", "mark", q, "Net", "dead_end", "--reason", "fine"),
                 ("sessions", "rename", q, "Mine again"), ("facts", "add", q, "Still mine"),
                 ("park", q, "--waiting-on", "me")):
        code, _, err = w.run("owner", *argv)
        assert code == NOT_YOURS and "belongs to Tess Teammate" in err, (argv, code, err)
    assert w.dump() == before
    w.ok("teammate", "branches", "switch", q, "Net")  # the claimer is the owner now
    w.ok("teammate", "branches", "mark", q, "Net", "dead_end", "--reason", "the path answers")
    # The stranger's own connection is also called "main" (their `psa connect` above): removing it leaves ours.
    w.team("psa remove", ("psa", "remove", "main", "--yes"), ("psa", "remove", "main", "--yes"), 0)

    untried = {name: sorted({"owner", "teammate", "stranger"} - w.tried.get(name, set())) for name in MUST_TRY}
    assert {k: v for k, v in untried.items() if v} == {}, "commands not tried by every user"


def _propose_outcome(w: World, session: str) -> None:
    """What a model's [FIX_OUTCOME] marker leaves on the active fix (no model here)."""
    from sqlalchemy import update
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    from rfpilot.db.models import SuggestedFix

    async def go() -> None:
        engine = create_async_engine(w.env["RFPILOT_DATABASE_URL"], poolclass=NullPool)
        async with engine.begin() as conn:
            await conn.execute(update(SuggestedFix).where(SuggestedFix.session_id == session,
                                                          SuggestedFix.superseded_at.is_(None))
                               .values(ai_outcome_proposal={"outcome": "success", "reason": "it works now"}))
        await engine.dispose()

    asyncio.run(go())


def _chat(w: World, session: str, tmp_path: Path, monkeypatch) -> None:
    replies = _file(tmp_path, "replies.yaml", "replies:\n  - reply: |\n      Check the credential manager first.\n")
    monkeypatch.setenv("RFPILOT_LLM_PROVIDER", "scripted")
    monkeypatch.setenv("RFPILOT_SCRIPTED_FILE", replies)
    try:
        w.owner_only("chat", "chat", session, "It prompts again after the reboot")
    finally:
        monkeypatch.setenv("RFPILOT_LLM_PROVIDER", "offline")


def _kb_text() -> str:
    return ("## Symptoms\nOutlook prompts.\n\n## Root cause\nStale credentials.\n\n## Resolution steps\n"
            "Cleared them.\n\n## Things to rule out first\nThe profile.\n")


def _second_draft_reviewed(w: World, tmp_path: Path, monkeypatch) -> None:
    from rfpilot.cli import output

    s = w.ok("owner", "new", "Mapped drive drops").strip()
    w.ok("owner", "fix", "suggest", s, "Remap the drive", "-c", "60")
    script = _file(tmp_path, "map.cmd", "net use Z: \\\\fs\\share\n")
    w.ok("owner", "fix", "decide", s, "draft_template", "--script", script)
    [draft] = [d for d in w.js("owner", "templates", "drafts") if d["session_id"] == s]
    original = output.stdin_is_interactive
    monkeypatch.setattr(output, "stdin_is_interactive", lambda: True)  # review asks at a terminal
    try:
        out = w.team("templates review", ("templates", "review", "--session", s),
                     ("templates", "review", "--session", s), NOT_FOUND, stdin="s\n")
    finally:
        monkeypatch.setattr(output, "stdin_is_interactive", original)
    assert "net use Z:" in out
    w.team("templates reject", ("templates", "reject", draft["id"]), ("templates", "reject", draft["id"]), NOT_FOUND)


# --- issue 6: a handoff stands only while its session waits ------------------------------------------------


def test_a_parked_session_that_is_escalated_leaves_the_queue(cli, monkeypatch) -> None:
    def be(who: tuple[str, str]) -> None:
        monkeypatch.setenv("RFPILOT_USER_EMAIL", who[0])
        monkeypatch.setenv("RFPILOT_USER_NAME", who[1])

    be(OWNER_ID)
    sid = cli("new", "Printer offline on floor 2")[1].strip()
    handoff = cli("park", sid, "--waiting-on", "user")[1].strip()
    assert handoff[:8] in cli("queue", "list")[1]
    code, _, err = cli("escalate", sid, "--yes", "--offline")
    assert code == 0, err
    assert cli("queue", "list")[1].strip() == "the queue is empty: nothing waits to be claimed"
    [view] = json.loads(cli("handoffs", sid, "--json")[1])
    assert view["state"] == "withdrawn"

    be(TEAMMATE_ID)
    code, out, err = cli("queue", "claim", handoff[:8])
    assert code == 3 and out == ""
    assert "withdrawn" in err and "the session is escalated now" in err
    shown = json.loads(cli("sessions", "show", sid, "--json")[1])["session"]
    assert shown["status"] == "escalated"


@pytest.mark.parametrize("close", [("resolve", "--yes", "--offline"), ("sessions", "abandon"),
                                   ("escalate", "--yes", "--offline", "--local")])
def test_closing_a_parked_session_withdraws_its_handoff(cli, close) -> None:
    sid = cli("new", "VPN drops every hour")[1].strip()
    cli("park", sid, "--waiting-on", "the ISP")
    argv = [*close[:2], sid, *close[2:]] if close[0] == "sessions" else [close[0], sid, *close[1:]]
    code, _, err = cli(*argv)
    assert code == 0, err
    assert [v["state"] for v in json.loads(cli("handoffs", sid, "--json")[1])] == ["withdrawn"]
    assert json.loads(cli("queue", "list", "--json")[1]) == []


async def test_a_stale_park_handoff_of_an_escalated_session_is_not_claimable(env, ctx, session) -> None:
    """A store written before closing withdrew handoffs: the park stays open while the session is escalated.
    It is not listed, and a claim is refused and changes nothing."""
    from sqlalchemy import update

    from rfpilot.config import load_settings
    from rfpilot.core.team import handoffs
    from rfpilot.core.context import Workspace
    from rfpilot.db.models import SessionHandoff, SessionRow
    from rfpilot.errors import ConflictError

    handoff = await handoffs.park(ctx, session, "user")
    await ctx.db.execute(update(SessionRow).where(SessionRow.id == session.id).values(status="escalated"))
    await ctx.db.commit()
    assert await handoffs.queue(ctx) == []
    mate = await Workspace.open(load_settings(env={**env, "RFPILOT_USER_EMAIL": TEAMMATE_ID[0],
                                                   "RFPILOT_USER_NAME": TEAMMATE_ID[1]}))
    try:
        async with mate.ctx() as c:
            with pytest.raises(ConflictError, match="is escalated now, not paused"):
                await handoffs.claim(c, handoff.id)
    finally:
        await mate.close()
    await ctx.db.refresh(session)
    stored = await ctx.db.get(SessionHandoff, handoff.id, populate_existing=True)
    assert session.status == "escalated" and session.owner_id == ctx.engineer.id and stored.claimed_by is None
