"""`rfpilot doctor`: each part's failure gives its line, its hint and exit 1; --json keeps one shape.

No network: the model server is an ``httpx.MockTransport`` (``rfpilot.core.doctor.TRANSPORT``), the PSA is the
ConnectWise fake (tests/fakes/connectwise.py) with its secrets in the environment.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from rfpilot.core import doctor

SECRET = "sk-doctor-test-0123456789"
SQLITE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
PART_KEYS = {"status", "ok", "error", "hint"}


def _report(cli, *args: str) -> tuple[int, dict]:
    code, out, err = cli("doctor", "--json", *args)
    return code, json.loads(out)


def _block(out: str, label: str) -> list[str]:
    """The lines of one part in the human report: its own line and the indented ones under it."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{label} ") or line.startswith(f"{label:<10}"))
    block = [lines[start]]
    for line in lines[start + 1:]:
        if not line.startswith(" " * 10):
            break
        block.append(line)
    return block


def test_a_healthy_offline_setup_is_ok_and_keeps_its_shape(cli) -> None:
    code, report = _report(cli)
    assert code == 0 and report["ok"] is True and report["failed"] == []
    assert list(doctor.PARTS) == ["config", "database", "identity", "keyring", "llm", "psa", "outbox"]
    for name in doctor.PARTS:
        assert PART_KEYS <= report[name].keys(), name
        assert report[name]["ok"] == (report[name]["status"] != "fail")
    assert report["database"]["revision"] == report["database"]["head"]
    assert report["llm"]["provider"] == "offline" and report["llm"]["status"] == "ok"
    assert report["psa"]["connections"] == []
    assert (report["outbox"]["pending"], report["outbox"]["failed"]) == (0, 0)
    code, out, _ = cli("doctor")
    assert code == 0
    assert "offline by design" in _block(out, "llm")[0]
    assert _block(out, "psa") == ["psa       no connection (sessions stay local)"]
    assert _block(out, "outbox") == ["outbox    empty"]
    assert _block(out, "config")[0].endswith("config.toml (none yet: defaults)")
    assert out.rstrip().endswith("all OK")


def test_bad_values_in_config_toml_or_the_environment_are_not_ok(cli, env, monkeypatch) -> None:
    """`config set` refuses bad values; a hand-edited file or an environment variable is caught here."""
    config = Path(env["RFPILOT_HOME"]) / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('[ui]\ntheme = "purple"\ncolour = "red"\n[psa]\ntime_rounding = -5\n'
                      '[keymap]\n"session.new" = "ctrl+e"\n', encoding="utf-8")
    code, out, _ = cli("doctor", "--no-network")
    assert code == 1
    block = _block(out, "config")
    assert block[0] == (f"config    NOT OK: ui.theme does not take 'purple': it takes dark, light, no-color "
                        f"(config {config}); and 1 more")
    assert any(line.startswith("          hint: fix it with `rfpilot config set KEY VALUE`") for line in block)
    code, report = _report(cli, "--no-network")
    assert report["failed"] == ["config"]
    assert [(b["key"], b["source"]) for b in report["config"]["bad"]] == [
        ("ui.theme", f"config {config}"), ("psa.time_rounding", f"config {config}")]
    assert report["config"]["unknown"] == ["ui.colour"]

    config.write_text('[ui]\ncolour = "red"\n', encoding="utf-8")
    code, out, _ = cli("doctor", "--no-network")
    assert code == 0  # an unknown key is a warning
    assert _block(out, "config")[0] == "config    WARNING: unknown settings in config.toml: ui.colour"

    monkeypatch.setenv("RFPILOT_LLM_PROVIDER", "bogus")
    code, report = _report(cli, "--no-network")
    assert code == 1 and report["failed"] == ["config", "llm"]
    assert report["config"]["bad"] == [{"key": "llm.provider", "source": "env RFPILOT_LLM_PROVIDER",
                                        "error": "llm.provider does not take 'bogus': it takes anthropic, openai, "
                                                 "offline, scripted",
                                        "hint": "change the environment variable RFPILOT_LLM_PROVIDER, or unset it"}]
    assert report["config"]["hint"] == report["config"]["bad"][0]["hint"]  # one bad value: its own hint


@SQLITE
def test_a_broken_database_gives_the_hint_every_command_gives(cli, tmp_path, monkeypatch) -> None:
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"this is not a SQLite database, just some text" * 100)
    monkeypatch.setenv("RFPILOT_DATABASE_URL", f"sqlite:///{broken}")
    code, _, other = cli("sessions", "list")
    assert code == 1
    hint = next(line for line in other.splitlines() if line.startswith("hint: "))
    code, out, err = cli("doctor")
    assert code == 1, err
    block = _block(out, "database")
    assert block[0].startswith("database  NOT OK: cannot open the database at ")
    assert f"          {hint}" in block
    assert _block(out, "psa")[0].startswith("psa       SKIPPED: the database could not be opened")
    assert "NOT OK: database (exit 1)" in out
    code, report = _report(cli)
    assert code == 1 and report["failed"] == ["database"]
    assert report["database"]["hint"] == hint.removeprefix("hint: ")
    assert report["psa"]["status"] == report["outbox"]["status"] == "skipped"


@SQLITE
def test_an_explicit_sqlite_url_in_a_missing_folder_is_an_error_not_a_new_tree(cli, tmp_path, monkeypatch) -> None:
    missing = tmp_path / "nonexistent" / "dir"
    monkeypatch.setenv("RFPILOT_DATABASE_URL", f"sqlite:///{missing / 'x.db'}")
    for command in (["sessions", "list"], ["db", "current"], ["db", "upgrade"]):
        code, _, err = cli(*command)
        assert code == 1, command
        assert f"error: the folder of the SQLite database {missing} does not exist" in err
        assert "hint: create it (mkdir -p" in err
    code, out, _ = cli("doctor")
    assert code == 1 and f"NOT OK: the folder of the SQLite database {missing} does not exist" in out
    assert not (tmp_path / "nonexistent").exists()


@SQLITE
def test_the_default_location_is_still_created(cli, env, monkeypatch) -> None:
    monkeypatch.delenv("RFPILOT_DATABASE_URL")
    assert cli("sessions", "list")[0] == 0
    assert (Path(env["RFPILOT_HOME"]) / "data" / "rfpilot.db").is_file()


@pytest.mark.parametrize("db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_a_derived_identity_in_a_shared_store_is_a_warning(cli, monkeypatch) -> None:
    monkeypatch.delenv("RFPILOT_USER_EMAIL")
    code, out, _ = cli("doctor")
    assert code == 0
    block = _block(out, "identity")
    assert block[0].startswith("identity  WARNING: your identity is derived (") and "in a shared store" in block[0]
    assert "          hint: set your own: `rfpilot config set identity.email you@example.com` (and identity.name)" in block
    code, report = _report(cli)
    assert report["identity"]["status"] == "warn" and report["identity"]["email_source"] == "default"


def test_openai_without_url_or_model_is_not_ok(cli, monkeypatch) -> None:
    monkeypatch.setenv("RFPILOT_LLM_PROVIDER", "openai")
    monkeypatch.delenv("RFPILOT_OPENAI_MODEL", raising=False)
    code, out, _ = cli("doctor")
    assert code == 1
    block = _block(out, "llm")
    assert block[0] == "llm       NOT OK: the openai provider needs a base URL and a model"
    assert any(line.startswith("          hint: set RFPILOT_OPENAI_BASE_URL") for line in block)
    code, report = _report(cli)
    assert code == 1 and report["failed"] == ["llm"] and report["llm"]["provider"] == "openai"


def test_a_scripted_file_that_does_not_exist_is_a_failure(cli, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("RFPILOT_LLM_PROVIDER", "scripted")
    monkeypatch.setenv("RFPILOT_SCRIPTED_FILE", str(tmp_path / "missing.toml"))
    code, out, _ = cli("doctor")
    assert code == 1
    block = _block(out, "llm")
    assert block[0].startswith("llm       NOT OK: cannot read the scripted replies file ")
    assert "          hint: check RFPILOT_SCRIPTED_FILE / llm.scripted.file" in block


class Server:
    """A model server behind httpx.MockTransport: records requests, answers what the test says."""

    def __init__(self, answer) -> None:
        self.answer = answer
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answer(request)


@pytest.fixture
def server(monkeypatch):
    def install(answer) -> Server:
        fake = Server(answer)
        monkeypatch.setattr(doctor, "TRANSPORT", httpx.MockTransport(fake))
        return fake

    return install


@pytest.fixture
def anthropic(cli, monkeypatch):
    monkeypatch.delenv("RFPILOT_LLM_PROVIDER")
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    return cli


def test_anthropic_is_reached_with_one_authenticated_request(anthropic, server) -> None:
    fake = server(lambda r: httpx.Response(200, json={"data": [{"id": "claude-sonnet-4-6"}], "has_more": True}))
    code, out, err = anthropic("doctor")
    assert code == 0, out
    [request] = fake.requests
    assert (request.method, request.url.host, request.url.path) == ("GET", "api.anthropic.com", "/v1/models")
    assert request.headers["x-api-key"] == SECRET and request.headers["anthropic-version"]
    assert "reached https://api.anthropic.com" in _block(out, "llm")[0]
    assert SECRET not in out + err


def test_anthropic_refusing_the_key_is_not_ok(anthropic, server) -> None:
    server(lambda r: httpx.Response(401, json={"type": "error", "error": {"type": "authentication_error"}}))
    code, out, err = anthropic("doctor")
    assert code == 1
    block = _block(out, "llm")
    assert block[0] == "llm       NOT OK: the Anthropic API refused the key (HTTP 401, from env ANTHROPIC_API_KEY)"
    assert "          hint: set a valid ANTHROPIC_API_KEY, or store one with `rfpilot keys set anthropic`" in block
    assert SECRET not in out + err


def test_anthropic_unreachable_is_not_ok_and_honours_the_base_url(anthropic, server, monkeypatch) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    fake = server(refuse)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "https://llm-gateway.example.com/")
    code, out, _ = anthropic("doctor")
    assert code == 1
    assert fake.requests[0].url == "https://llm-gateway.example.com/v1/models?limit=1"
    block = _block(out, "llm")
    assert block[0].startswith("llm       NOT OK: cannot reach https://llm-gateway.example.com/v1/models")
    assert any("hint: check the network (and ANTHROPIC_BASE_URL if set)" in line for line in block)


def test_an_anthropic_address_in_clear_is_refused_and_never_sent_the_key(anthropic, server, monkeypatch) -> None:
    fake = server(lambda r: httpx.Response(200, json={"data": []}))
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://llm-gateway.lan:8080")
    code, out, err = anthropic("doctor")
    assert code == 1 and fake.requests == []
    block = _block(out, "llm")
    assert block[0] == ("llm       NOT OK: refused plain http:// to llm-gateway.lan: the model server would get "
                        "the session's text (and any key) across the network in clear (env ANTHROPIC_BASE_URL)")
    assert any("ssh -N -L 8080:localhost:8080 llm-gateway.lan" in line for line in block)
    assert SECRET not in out + err
    code, out, err = anthropic("new", "Printer offline", "--json")
    code, out, err = anthropic("chat", json.loads(out)["id"], "the spooler stops")
    assert code == 1 and err.startswith("error: refused plain http:// to llm-gateway.lan")
    assert err.splitlines()[0].endswith("in clear (env ANTHROPIC_BASE_URL)")


def test_no_network_contacts_nothing(anthropic, server) -> None:
    fake = server(lambda r: httpx.Response(500))
    code, out, _ = anthropic("doctor", "--no-network")
    assert code == 0 and fake.requests == []
    assert "not contacted (--no-network)" in _block(out, "llm")[0]


@pytest.fixture
def openai(cli, monkeypatch):
    monkeypatch.setenv("RFPILOT_LLM_PROVIDER", "openai")
    monkeypatch.setenv("RFPILOT_OPENAI_BASE_URL", "http://127.0.0.1:11434/v1")
    monkeypatch.setenv("RFPILOT_OPENAI_MODEL", "llama3.1")
    return cli


def test_openai_lists_models_and_finds_the_configured_one(openai, server) -> None:
    fake = server(lambda r: httpx.Response(200, json={"object": "list", "data": [{"id": "llama3.1"}, {"id": "qwen"}]}))
    code, out, _ = openai("doctor")
    assert code == 0, out
    assert str(fake.requests[0].url) == "http://127.0.0.1:11434/v1/models"
    assert "authorization" not in fake.requests[0].headers  # no key set: none sent
    assert "reached http://127.0.0.1:11434/v1" in _block(out, "llm")[0]


def test_openai_model_the_server_does_not_offer_is_not_ok(openai, server, monkeypatch) -> None:
    monkeypatch.setenv("RFPILOT_OPENAI_API_KEY", SECRET)
    fake = server(lambda r: httpx.Response(200, json={"data": [{"id": "mistral"}, {"id": "qwen"}]}))
    code, out, err = openai("doctor")
    assert code == 1
    assert fake.requests[0].headers["authorization"] == f"Bearer {SECRET}"
    block = _block(out, "llm")
    assert block[0] == "llm       NOT OK: the server at http://127.0.0.1:11434/v1 does not offer the model 'llama3.1'"
    assert "          hint: set llm.openai.model / RFPILOT_OPENAI_MODEL to one it offers: mistral, qwen" in block
    assert SECRET not in out + err


def test_openai_server_down_is_not_ok(openai, server) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    server(refuse)
    code, report = _report(openai)
    assert code == 1 and report["failed"] == ["llm"]
    assert report["llm"]["error"].startswith("cannot reach http://127.0.0.1:11434/v1/models")
    assert report["llm"]["hint"] == "is the server running? check llm.openai.base_url / RFPILOT_OPENAI_BASE_URL"


# --- PSA connections and the outbox -------------------------------------------------------------------------------


def _connect_with_env_secrets(cli, cw, monkeypatch) -> None:
    """A ConnectWise connection whose secrets come from the environment (the test keyring is null)."""
    from rfpilot.core.closeout.psa import env_var

    for field, value in cw.secrets().items():
        monkeypatch.setenv(env_var("main", field), value)
    code, _, err = cli("psa", "connect", "connectwise", "--site", cw.site, "--company-id", cw.company_id,
                       "--codebase", cw.codebase, "--resolve-status", "Resolved")
    assert code == 0, err


def test_psa_connection_shows_where_each_secret_comes_from_and_signs_in(cli, cw, monkeypatch) -> None:
    _connect_with_env_secrets(cli, cw, monkeypatch)
    code, out, err = cli("doctor")
    assert code == 0, out
    [line] = _block(out, "  main")
    assert line.startswith("  main    ConnectWise, default · site ")
    assert "private_key from env RFPILOT_PSA_MAIN_PRIVATE_KEY" in line and "signed in as " in line
    for value in cw.secrets().values():
        assert value not in out + err
    code, report = _report(cli)
    [conn] = report["psa"]["connections"]
    assert {s["field"]: s["source"] for s in conn["secrets"]} == {
        "public_key": "env RFPILOT_PSA_MAIN_PUBLIC_KEY", "private_key": "env RFPILOT_PSA_MAIN_PRIVATE_KEY",
        "client_id": "env RFPILOT_PSA_MAIN_CLIENT_ID"}
    assert conn["network_checked"] is True and conn["member"]


def test_psa_connection_missing_a_secret_is_not_ok(cli, cw, monkeypatch) -> None:
    _connect_with_env_secrets(cli, cw, monkeypatch)
    monkeypatch.delenv("RFPILOT_PSA_MAIN_PRIVATE_KEY")
    code, out, _ = cli("doctor", "--no-network")
    assert code == 1
    assert _block(out, "psa")[0] == "psa       NOT OK: 1 of 1 PSA connection not usable: main"
    block = _block(out, "  main")
    assert block[0].startswith("  main    NOT OK: no private_key found")
    assert any("hint: store them with `rfpilot psa connect connectwise --name main`, or set "
               "RFPILOT_PSA_MAIN_PRIVATE_KEY" in line for line in block)
    assert "private_key missing" in block[1]
    assert "NOT OK: psa (exit 1)" in out


def test_psa_refusing_the_sign_in_is_not_ok(cli, cw, monkeypatch) -> None:
    _connect_with_env_secrets(cli, cw, monkeypatch)
    cw.down = True
    code, report = _report(cli)
    assert code == 1 and report["failed"] == ["psa"]
    [conn] = report["psa"]["connections"]
    assert conn["status"] == "fail" and "ConnectWise" in conn["error"] and conn["hint"]


def test_outbox_waiting_warns_and_failed_fails(cli, cw, monkeypatch) -> None:
    _connect_with_env_secrets(cli, cw, monkeypatch)
    sid = cli("new", "--ticket", "48307")[1].strip()
    cw.down = True
    assert cli("resolve", sid, "--yes", "--offline")[0] == 6
    code, out, _ = cli("doctor", "--no-network")
    assert code == 0, out  # waiting is not a failure
    block = _block(out, "outbox")
    assert block[0] == "outbox    WARNING: 1 PSA write waits for delivery"
    assert block[1].startswith("          1 waiting · 0 failed · oldest waiting ")
    assert "          hint: `rfpilot outbox sync` delivers what waits now (the TUI also does on start)" in block

    cw.down = False
    cw.error_next = (400, {"code": "InvalidObject", "message": "the note was refused"})
    cli("outbox", "sync")
    code, report = _report(cli, "--no-network")
    assert code == 1 and report["failed"] == ["outbox"]
    assert (report["outbox"]["pending"], report["outbox"]["failed"]) == (0, 1)
    [item] = report["outbox"]["failed_items"]
    assert item["kind"] == "resolve" and item["ticket_ref"] == "CW #48307" and item["last_error"]
    code, out, _ = cli("doctor", "--no-network")
    block = _block(out, "outbox")
    assert block[0] == "outbox    NOT OK: 1 PSA write failed; a failed write is not retried on its own"
    assert any("hint: `rfpilot outbox list` shows the failed writes; `rfpilot outbox retry ID`" in line for line in block)
    assert any(line.startswith(f"          {item['id'][:8]} resolve CW #48307: ") for line in block)


async def _never_answer(request: httpx.Request) -> httpx.Response:
    await asyncio.Event().wait()  # a server that accepted the connection and went quiet
    raise AssertionError("unreachable")


def test_a_model_server_that_never_answers_is_not_ok(anthropic, monkeypatch) -> None:
    monkeypatch.setattr(doctor, "TRANSPORT", httpx.MockTransport(_never_answer))
    monkeypatch.setattr(doctor, "TIMEOUT", 0.05)
    code, out, _ = anthropic("doctor")
    assert code == 1
    block = _block(out, "llm")
    assert block[0] == "llm       NOT OK: no answer from https://api.anthropic.com/v1/models?limit=1 within 0.05 s"


def test_a_psa_that_never_answers_is_not_ok(cli, cw, monkeypatch) -> None:
    from rfpilot.core.closeout import psa

    _connect_with_env_secrets(cli, cw, monkeypatch)
    monkeypatch.setattr(psa, "TRANSPORTS", {"connectwise": httpx.MockTransport(_never_answer)})
    monkeypatch.setattr(doctor, "TIMEOUT", 0.05)
    code, out, _ = cli("doctor")
    assert code == 1
    block = _block(out, "  main")
    assert block[0] == "  main    NOT OK: ConnectWise did not answer a sign-in within 0.05 s"
    assert "          hint: check the network and the connection's site; `rfpilot psa test --connection main` retries" in block
