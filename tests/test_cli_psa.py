"""The PSA from the command line: connect, tickets, new --ticket, resolve (exit 0/4/6), outbox, share-update.

Against the ConnectWise fake (no network) with an in-memory keyring; greps the database file, the outputs and
the logs for the secrets.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from rfpilot.core.closeout import psa
from rfpilot.grammar import with_article


@pytest.fixture
def cw(cw):
    cw.seed_ticket(48311, summary="Printer offline on floor 2", owner="rfpilot-api")
    return cw


def _secrets_stdin(fake) -> str:
    return "".join(f"{k}={v}\n" for k, v in fake.secrets().items())


def _connect(cli, fake) -> tuple[int, str, str]:
    return cli("psa", "connect", "connectwise", "--site", fake.site, "--company-id", fake.company_id,
               "--codebase", fake.codebase, "--member", "jdoe", "--resolve-status", "Resolved",
               "--escalate-status", "Escalated", "--secrets-stdin", stdin=_secrets_stdin(fake))


def test_the_whole_psa_flow(cli, cw, memory_keyring, env, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    code, out, err = _connect(cli, cw)
    assert code == 0, err
    assert "connected ConnectWise 'main' as jdoe" in err and "stored in the OS keyring" in err

    code, out, _ = cli("psa", "list", "--json")
    [conn] = json.loads(out)
    assert conn["secrets"] == {"public_key": "keyring", "private_key": "keyring", "client_id": "keyring"}
    assert conn["targets"] == {"resolve": {"": "Resolved"}, "escalate": {"": "Escalated"}}

    code, out, _ = cli("psa", "statuses", "48307")
    assert code == 0 and "Resolved" in out and "resolve" in out

    code, out, _ = cli("tickets", "list", "--json")
    assert [t["ref"] for t in json.loads(out)] == ["CW #48307"]  # jdoe's, not the API member's

    code, out, _ = cli("tickets", "show", "48307")
    assert "Outlook prompts for a password after the reset." in out

    code, out, err = cli("new", "--ticket", "48307")
    assert code == 0, err
    sid = out.strip()
    assert "CW #48307" in err

    # The status does not stick: exit 4, the observed status, the note kept; a second resolve posts nothing.
    cw.keep_old_status = True
    code, out, err = cli("resolve", sid, "--yes", "--offline")
    assert code == 4 and "still 'New' after the change to 'Resolved'" in err
    assert len(cw.notes[48307]) == 2
    code, out, err = cli("resolve", sid, "--yes", "--offline")
    assert code == 4 and len(cw.notes[48307]) == 2
    code, out, _ = cli("outbox", "list", "--json")
    [item] = json.loads(out)
    assert item["state"] == "failed" and item["external_id"] == str(cw.notes[48307][1]["id"])

    # Fixed in the PSA: retry finishes it without a second note.
    cw.keep_old_status = False
    code, out, err = cli("outbox", "retry", item["id"][:8])
    assert code == 0, err
    assert "status 'Resolved' verified" in out and len(cw.notes[48307]) == 2
    code, out, _ = cli("sessions", "show", sid, "--json")
    assert json.loads(out)["session"]["status"] == "resolved"

    # Nothing secret in the store, the config, the outputs or the logs.
    config = Path(env["RFPILOT_HOME"]) / "config" / "config.toml"
    db_file = Path(env["RFPILOT_DATABASE_URL"].removeprefix("sqlite+aiosqlite:///")) \
        if env["RFPILOT_DATABASE_URL"].startswith("sqlite") else None
    blobs = [out, err, "\n".join(r.getMessage() for r in caplog.records)]
    if config.exists():
        blobs.append(config.read_text())
    if db_file is not None:
        blobs.append(db_file.read_bytes().decode("latin-1"))
        wal = db_file.with_name(db_file.name + "-wal")
        if wal.exists():
            blobs.append(wal.read_bytes().decode("latin-1"))
    for secret in cw.secrets().values():
        assert all(secret not in blob for blob in blobs)


def test_unreachable_psa_queues_and_sync_delivers_once(cli, cw, memory_keyring) -> None:
    assert _connect(cli, cw)[0] == 0
    sid = cli("new", "--ticket", "48307")[1].strip()
    cw.down = True
    code, out, err = cli("resolve", sid, "--yes", "--offline")
    assert code == 6 and "queued" in err and "outbox sync" in err
    # While it waits, the engineer hears why (rfpilot.progress on stderr), one line per retry, before the verdict.
    retries = [line for line in err.splitlines() if "trying again" in line]
    assert [line.rsplit("(", 1)[1] for line in retries] == ["request 2 of 4)", "request 3 of 4)", "request 4 of 4)"]
    assert err.index("request 4 of 4") < err.index("queued")
    code, out, _ = cli("outbox", "list")
    assert "pending" in out
    code, out, _ = cli("sessions", "show", sid)
    assert "PSA       resolve queued (outbox" in out and "cannot connect to ConnectWise" in out
    # A try is one delivery of the outbox item; the requests inside it are counted as requests, not as tries
    # (it said "(outbox …, 1 try): … after 4 tries").
    [line] = [line for line in out.splitlines() if line.startswith("  PSA ")]
    assert ", 1 try): " in line and line.endswith(", after 4 requests") and "tries" not in line
    code, out, err = cli("outbox", "sync")
    assert code == 6 and "still queued" in out
    cw.down = False
    code, out, err = cli("outbox", "sync")
    assert code == 0 and "delivered" in out and "status 'Resolved' verified" in out
    assert len(cw.notes[48307]) == 2
    code, out, _ = cli("outbox", "sync")
    assert code == 0 and out.strip() == "nothing to deliver"
    assert len(cw.notes[48307]) == 2


def test_share_update_and_time(cli, cw, memory_keyring) -> None:
    assert _connect(cli, cw)[0] == 0
    sid = cli("new", "--ticket", "48307")[1].strip()
    code, out, err = cli("share-update", sid, "--text", "Still testing with the user", "--yes")
    assert code == 0, err
    assert cw.notes[48307][-1]["internalAnalysisFlag"] is True
    code, out, err = cli("resolve", sid, "--yes", "--offline", "--time")
    assert code == 0, err
    assert "logged 0.25 h on the ticket" in err and len(cw.time_entries) == 1


def test_connect_refuses_secrets_on_the_command_line(cli, cw, memory_keyring) -> None:
    code, _, err = cli("psa", "connect", "connectwise", "--site", cw.site, "--private-key", "x")
    assert code == 1 and "never taken on the command line" in err
    code, _, err = cli("psa", "connect", "connectwise", "--sight", cw.site)
    assert code == 1 and "has no setting --sight" in err and "--site" in err


def test_connect_help_lists_every_setting_with_its_psa(cli) -> None:
    from rfpilot.psa.fields import BY_PROVIDER, DISPLAY_NAMES

    code, out, _ = cli("psa", "connect", "--help")
    assert code == 0
    lines = " ".join(out.split())  # help wraps the texts
    for provider, fields in BY_PROVIDER.items():
        for f in fields:
            flag = "--" + f.name.replace("_", "-")
            if f.secret:
                continue
            assert f"{flag} <str> {DISPLAY_NAMES[provider]} only" in lines, flag
    for secret in ("--private-key", "--public-key", "--secret", "--integration-code", "--client-secret"):
        assert f"{secret} <str>" not in lines


@pytest.mark.parametrize(("provider", "given", "whose"), [
    ("autotask", ["--site", "api-na.myconnectwise.net"], "ConnectWise"),
    ("halo", ["--note-type", "Task Notes"], "Autotask"),
    ("halo", ["--publish-public=All Autotask Users"], "Autotask"),
    ("connectwise", ["--team", "2"], "HaloPSA"),
    ("connectwise", ["--outcome-private", "Private Note"], "HaloPSA"),
])
def test_connect_refuses_another_psas_setting(cli, memory_keyring, provider, given, whose) -> None:
    code, out, err = cli("psa", "connect", provider, *given, "--no-test", "--secrets-stdin", stdin="")
    flag = given[0].split("=")[0]
    assert code == 1, err
    assert f"{flag} is {with_article(whose)} setting" in err and "hint:" in err
    code, out, _ = cli("psa", "list", "--json")
    assert json.loads(out) == []


def test_connect_takes_settings_as_name_equals_value(cli, cw, memory_keyring) -> None:
    """`--site=host` (the form scripts used with the old free-form settings) is a real option now."""
    code, _, err = cli("psa", "connect", "connectwise", f"--site={cw.site}", f"--company-id={cw.company_id}",
                       "--codebase", cw.codebase, "--member=jdoe", "--secrets-stdin", stdin=_secrets_stdin(cw))
    assert code == 0, err
    code, out, _ = cli("psa", "list", "--json")
    [conn] = json.loads(out)
    assert conn["settings"]["site"] == cw.site and conn["settings"]["member"] == "jdoe"


def test_connect_on_a_machine_without_a_keyring_explains(cli, cw, monkeypatch) -> None:
    """The null backend (the test env's default) is not a keyring: connect says what to do instead."""
    code, out, err = _connect(cli, cw)
    assert code == 1
    assert "RFPILOT_PSA_MAIN_PRIVATE_KEY" in err and "Traceback" not in err
    code, out, _ = cli("psa", "list", "--json")
    assert json.loads(out) == []
    for key, value in cw.secrets().items():
        monkeypatch.setenv(psa.env_var("main", key), value)
    code, out, err = cli("psa", "connect", "connectwise", "--site", cw.site, "--company-id", cw.company_id,
                         "--codebase", cw.codebase)
    assert code == 0, err
    assert "read from the environment" in err


def test_no_connection_is_a_clear_error(cli) -> None:
    code, _, err = cli("tickets", "list")
    assert code == 2 and "no PSA connection" in err and "psa connect" in err
    code, _, err = cli("new", "--ticket", "48307")
    assert code == 2


def test_progress_never_reaches_the_tui_screen(env, monkeypatch) -> None:
    """`rfpilot open` runs inside a command that prints progress on stderr; inside the app nothing may (a line on
    stderr tears the screen): the TUI's background outbox sync waits on the same PSA retries."""
    from rfpilot import progress, tui
    from rfpilot.tui import app as tui_app

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    heard: list[str] = []

    class App:
        return_code = 0

        def __init__(self, *args, **kwargs) -> None:
            pass

        def run(self, **kwargs) -> None:
            progress.say("ConnectWise did not answer within 30 s; trying again (request 2 of 2)")

    monkeypatch.setattr(tui_app, "RfpilotApp", App)
    with progress.shown_by(heard.append):
        assert tui.run("0123abcd") == 0
        progress.say("after the app")
    assert heard == ["after the app"]
