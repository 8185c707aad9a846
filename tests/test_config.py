"""Paths, config precedence, `config get|set|path`, identity on first run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rfpilot.config import load_settings, write_setting
from rfpilot.errors import ConfigError


def test_rfpilot_home_relocates_everything(tmp_path: Path) -> None:
    """RFPILOT_HOME puts config, data and cache (and the default database) under one directory."""
    s = load_settings(env={"RFPILOT_HOME": str(tmp_path)})
    assert s.paths.config_file == tmp_path / "config" / "config.toml"
    assert s.paths.default_db_file == tmp_path / "data" / "rfpilot.db"
    assert s.paths.cache_dir == tmp_path / "cache"
    assert s.database_url == f"sqlite+aiosqlite:///{tmp_path / 'data' / 'rfpilot.db'}"


def test_env_overrides_config_file(tmp_path: Path) -> None:
    """Precedence: env var > config.toml > default."""
    home = {"RFPILOT_HOME": str(tmp_path)}
    write_setting(load_settings(env=home).paths, "identity.name", "From File")
    assert load_settings(env=home).identity_name == "From File"
    both = load_settings(env={**home, "RFPILOT_USER_NAME": "From Env"})
    assert both.identity_name == "From Env"
    assert both.source_of("identity.name") == "env RFPILOT_USER_NAME"


def test_write_setting_keeps_comments(tmp_path: Path) -> None:
    """`config set` rewrites one key and leaves the user's comments alone."""
    paths = load_settings(env={"RFPILOT_HOME": str(tmp_path)}).paths
    paths.config_dir.mkdir(parents=True)
    paths.config_file.write_text("# my team settings\n[identity]\nname = \"Old\"  # me\n", encoding="utf-8")
    write_setting(paths, "identity.email", "me@example.com")
    text = paths.config_file.read_text(encoding="utf-8")
    assert "# my team settings" in text and "# me" in text and 'email = "me@example.com"' in text


def test_unknown_setting_is_refused(tmp_path: Path) -> None:
    paths = load_settings(env={"RFPILOT_HOME": str(tmp_path)}).paths
    with pytest.raises(ConfigError, match="unknown setting"):
        write_setting(paths, "identity.shoe_size", "44")
    assert not paths.config_file.exists()


def test_broken_config_file_is_a_clear_error(tmp_path: Path) -> None:
    paths = load_settings(env={"RFPILOT_HOME": str(tmp_path)}).paths
    paths.config_dir.mkdir(parents=True)
    paths.config_file.write_text("[identity\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(env={"RFPILOT_HOME": str(tmp_path)})


def test_config_cli_round_trip(cli) -> None:
    """`config set` then `config get` shows the value; `config path` names the file."""
    code, out, _ = cli("config", "path")
    assert code == 0 and out.strip().endswith("config.toml")
    assert cli("config", "set", "ui.theme", "light")[0] == 0
    code, out, _ = cli("config", "get", "ui.theme")
    assert (code, out.strip()) == (0, "light")
    code, _, err = cli("config", "set", "nope.key", "1")
    assert code == 1 and err.startswith("error: unknown setting")


async def test_identity_created_once(settings) -> None:
    """The account and engineer of the config are created on first open and reused after."""
    from rfpilot.core.context import Workspace

    first = await Workspace.open(settings)
    await first.close()
    second = await Workspace.open(settings)
    await second.close()
    assert first.engineer.id == second.engineer.id
    assert first.account.id == second.account.id
    assert second.engineer.email == "tester@example.com"
    assert second.engineer.display_name == "Test Engineer"
    renamed = await Workspace.open(load_settings(env={**settings.env, "RFPILOT_USER_NAME": "Tess Engineer"}))
    await renamed.close()
    unnamed = await Workspace.open(load_settings(env={k: v for k, v in settings.env.items() if k != "RFPILOT_USER_NAME"}))
    await unnamed.close()
    assert renamed.engineer.id == unnamed.engineer.id == first.engineer.id  # the same engineer, renamed
    assert unnamed.engineer.display_name == "Tess Engineer"  # as stored: no name in this config


# --- values are checked against the one schema ---------------------------------------------------------------------


@pytest.mark.parametrize("key, value, accepted", [
    ("llm.provider", "bogus", "anthropic, openai, offline, scripted"),
    ("ui.theme", "purple", "dark, light, no-color"),
    ("psa.time_rounding", "-5", "a number from 0 to 8"),
    ("psa.time_rounding", "nan", "a number from 0 to 8"),
    ("psa.time_rounding", "9", "a number from 0 to 8"),
    ("branches.limit", "1", "a whole number from 2 to 100"),
    ("branches.limit", "2.5", "a whole number from 2 to 100"),
    ("llm.timeout", "-1", "a whole number from 1 to 3,600"),
    ("llm.max_reply_chars", "999", "a whole number from 1,000 to 10,000,000"),
    ("ui.mouse", "maybe", "true or false"),
    ("psa.time_entry", "-1", "true or false"),
    # Each number has an upper bound: TOML holds 64-bit integers only, and no sane value comes near.
    ("llm.timeout", "99999999999999999999", "a whole number from 1 to 3,600"),
    ("branches.limit", "9999999999999999999999", "a whole number from 2 to 100"),
    ("llm.context_tokens", "10000001", "a whole number from 4,000 to 10,000,000"),
])
def test_config_set_refuses_a_bad_value_naming_key_value_and_choices(cli, env, key, value, accepted) -> None:
    """Values starting with '-' reach the check too (they are not taken for options)."""
    code, out, err = cli("config", "set", key, value)
    assert code == 1 and out == ""
    assert err.splitlines()[0] == f"error: {key} does not take {value!r}: it takes {accepted}"
    assert not (Path(env["RFPILOT_HOME"]) / "config" / "config.toml").exists()


def test_config_set_takes_good_values_in_their_type(cli, env) -> None:
    """Everything after KEY is the value: '-' values (even ones Click would read as -h) are values; `--` and
    `--unset` right after KEY still work."""
    for args in [("llm.provider", "OpenAI"), ("ui.theme", "no-color"), ("psa.time_rounding", "--", "0"),
                 ("branches.limit", "4"), ("ui.mouse", "off"), ("identity.name", "-dash-h"),
                 ("identity.account", "--", "--team")]:
        code, _, err = cli("config", "set", *args)
        assert code == 0, (args, err)
    config = Path(env["RFPILOT_HOME"]) / "config" / "config.toml"
    text = config.read_text(encoding="utf-8")
    for line in ['provider = "openai"', 'theme = "no-color"', "time_rounding = 0.0", "limit = 4", "mouse = false",
                 'name = "-dash-h"', 'account = "--team"']:
        assert line in text
    code, _, err = cli("config", "set", "psa.time_rounding", "--", "-0.5")
    assert code == 1 and "psa.time_rounding does not take '-0.5'" in err
    code, _, err = cli("config", "set", "ui.theme", "dark", "light")
    assert code == 1 and "ui.theme takes one value, not 2" in err
    assert cli("config", "set", "identity.name", "--unset")[0] == 0
    assert "-dash-h" not in config.read_text(encoding="utf-8")
    code, out, err = cli("config", "set", "identity.name", "--help")
    assert code == 1 and "error: --help after KEY would be the value of identity.name" in err
    assert 'name = "--help"' not in config.read_text(encoding="utf-8")
    code, out, _ = cli("config", "set", "--help")
    assert code == 0 and out.startswith("Usage: rfpilot config set")


def test_config_get_prints_effective_values_and_their_source(cli, monkeypatch) -> None:
    monkeypatch.delenv("RFPILOT_LLM_PROVIDER")
    assert [cli("config", "get", k)[1].strip() for k in
            ("llm.provider", "llm.models.chat", "llm.models.title", "ui.theme", "psa.time_rounding", "preview.editor",
             "ui.mouse", "branches.limit")] == [
        "offline", "claude-sonnet-4-6", "claude-haiku-4-5", "dark", "0.25", "vi", "true", "10"]
    code, out, _ = cli("config", "get", "--json")
    rows = {r["key"]: r for r in json.loads(out)}
    assert rows["llm.provider"]["source"].startswith("derived: no llm.provider set and no Anthropic key found")
    assert rows["llm.models.note"] == {"key": "llm.models.note", "value": "claude-sonnet-4-6", "source": "default"}
    assert rows["identity.email"]["source"] == "env RFPILOT_USER_EMAIL"
    monkeypatch.setenv("EDITOR", "nano")
    code, out, _ = cli("config", "get", "preview.editor", "--json")
    assert json.loads(out) == {"key": "preview.editor", "value": "nano", "source": "env EDITOR"}
    # Only what has no value at all shows as such.
    code, out, _ = cli("config", "get")
    unset = sorted(line.split()[0] for line in out.splitlines() if "(not set)" in line)
    assert unset == ["llm.openai.base_url", "llm.openai.model", "llm.scripted.file"]


def test_docs_settings_table_is_the_schema() -> None:
    """docs/configuration.md carries the table settings_table() makes from SCHEMA, word for word."""
    from rfpilot.config import SCHEMA, settings_table

    doc = (Path(__file__).parent.parent / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert settings_table() in doc, "regenerate the table: python -c 'from rfpilot.config import settings_table; print(settings_table())'"
    assert all(f"`{s.key}`" in settings_table() for s in SCHEMA)


# --- every reader gets a valid value or the error naming it ------------------------------------------------------

SQLITE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def _config_file(env) -> Path:
    file = Path(env["RFPILOT_HOME"]) / "config" / "config.toml"
    file.parent.mkdir(parents=True, exist_ok=True)
    return file


@pytest.fixture
def session_id(cli) -> str:
    code, out, err = cli("new", "The front-desk copier stopped scanning to the shared folder this morning")
    assert code == 0, err
    return out.strip()


def _wrong_type(spec):
    return {str: 5, int: "abc", float: "x", bool: "yes"}[spec.kind]


@pytest.mark.parametrize("spec", __import__("rfpilot.config", fromlist=["SCHEMA"]).SCHEMA, ids=lambda s: s.key)
def test_no_setting_is_read_raw_from_a_hand_edited_file(tmp_path: Path, spec) -> None:
    """Whatever reads a setting gets a value of its type, in its range, or the ConfigError that names the key, the
    value, where it came from and how to fix it; doctor lists the same error."""
    from rfpilot.config import check_settings

    home = {"RFPILOT_HOME": str(tmp_path)}
    paths = load_settings(env=home).paths
    paths.config_dir.mkdir(parents=True)
    section, _, name = spec.key.rpartition(".")
    value = _wrong_type(spec)
    paths.config_file.write_text(f"[{section}]\n{name} = {json.dumps(value)}\n", encoding="utf-8")
    settings = load_settings(env=home)
    with pytest.raises(ConfigError) as caught:
        settings.get(spec.key)
    assert caught.value.message == (f"{spec.key} does not take {value!r}: it takes {spec.accepted()} "
                                    f"(config {paths.config_file})")
    assert caught.value.hint == (f"fix it with `rfpilot config set {spec.key} VALUE`, or remove it with "
                                 f"`rfpilot config set {spec.key} --unset`")
    bad, _ = check_settings(settings)
    assert [(b["key"], b["error"]) for b in bad] == [(spec.key, caught.value.message.rsplit(" (config ", 1)[0])]


def test_typed_values_come_back_in_their_type(tmp_path: Path) -> None:
    home = {"RFPILOT_HOME": str(tmp_path)}
    paths = load_settings(env=home).paths
    paths.config_dir.mkdir(parents=True)
    paths.config_file.write_text('[llm]\nprovider = "Offline"\ntimeout = 90\n[psa]\ntime_rounding = 1\n', encoding="utf-8")
    settings = load_settings(env={**home, "RFPILOT_LLM_PROVIDER": ""})  # empty: not set
    assert (settings.get("llm.provider"), settings.get("llm.timeout"), settings.get("psa.time_rounding")) == (
        "offline", 90, 1.0)
    assert isinstance(settings.get("psa.time_rounding"), float)
    assert settings.get("branches.limit") == 10  # unset: the default


@pytest.mark.parametrize("toml, error", [
    ('[llm]\ntimeout = "abc"\n', "llm.timeout does not take 'abc': it takes a whole number from 1 to 3,600"),
    ("[llm]\ntimeout = [1]\n", "llm.timeout does not take [1]: it takes a whole number from 1 to 3,600"),
    ("[llm]\ntimeout = -5\n", "llm.timeout does not take -5: it takes a whole number from 1 to 3,600"),
    ("[llm]\ntimeout = 0\n", "llm.timeout does not take 0: it takes a whole number from 1 to 3,600"),
    ('[llm]\ntimeout = 1.5\n', "llm.timeout does not take 1.5: it takes a whole number from 1 to 3,600"),
    ('[llm]\nprovider = "scripted"\n[llm.scripted]\nfile = 5\n', "llm.scripted.file does not take 5: it takes text"),
])
def test_a_bad_model_setting_is_an_error_not_a_traceback(cli, env, monkeypatch, session_id, toml, error) -> None:
    """chat stops with the error (exit 1) before the message is stored; drafting a note falls back to the offline
    drafter and says why, as for any model that cannot be built; doctor fails the config and the model parts."""
    file = _config_file(env)
    file.write_text(toml, encoding="utf-8")
    monkeypatch.setenv("RFPILOT_LLM_PROVIDER", "scripted" if "scripted" in toml else "anthropic")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-not-a-key")
    full = f"{error} (config {file})"
    key = error.split()[0]
    code, out, err = cli("chat", session_id, "the copier stopped scanning")
    assert (code, out) == (1, "")
    assert err.splitlines() == [f"error: {full}",
                                f"hint: fix it with `rfpilot config set {key} VALUE`, or remove it with "
                                f"`rfpilot config set {key} --unset`"]
    assert "Traceback" not in err
    code, out, err = cli("preview", "resolve", session_id)
    assert code == 0 and f"the model is not usable: {full}" in out + err
    code, out, err = cli("doctor", "--json", "--no-network")
    report = json.loads(out)  # valid JSON, whatever the value
    assert code == 1 and report["failed"] == ["config", "llm"]
    assert report["config"]["bad"][0]["error"] == error and report["llm"]["error"] == full
    code, out, _ = cli("doctor", "--no-network")
    assert code == 1 and f"config    NOT OK: {full}" in out


@SQLITE
def test_offline_commands_do_not_read_the_model_settings(cli, env, session_id) -> None:
    """A bad llm.timeout stops what talks to a model, not what never does (RFPILOT_LLM_PROVIDER=offline here)."""
    _config_file(env).write_text('[llm]\ntimeout = "abc"\n', encoding="utf-8")
    assert cli("preview", "resolve", session_id)[0] == 0
    assert cli("preview", "escalate", session_id)[0] == 0
    code, _, err = cli("escalate", session_id, "--yes", "--reason", "needs the vendor")
    assert code == 0, err
    code, _, err = cli("chat", session_id, "hello")
    assert code == 5 and "running offline" in err  # the usual answer offline, not the timeout


@SQLITE
@pytest.mark.parametrize("toml, command, error", [
    ("[branches]\nlimit = 1000\n", ("branches", "fork", "{s}", "--reason", "two ideas", "-o", "DNS", "-o", "Firewall"),
     "branches.limit does not take 1000: it takes a whole number from 2 to 100"),
    ("[psa]\ntime_entry = 1\n", ("resolve", "{s}", "--yes", "--summary", "fixed"),
     "psa.time_entry does not take 1: it takes true or false"),
    ('[identity]\nemail = ""\n', ("sessions", "list"), "identity.email does not take an empty value"),
    ("[identity]\naccount = 7\n", ("sessions", "list"), "identity.account does not take 7: it takes text"),
])
def test_other_readers_name_the_bad_value(cli, env, monkeypatch, session_id, toml, command, error) -> None:
    if "identity" in toml:  # the file's identity, not the test's environment
        for name in ("RFPILOT_USER_EMAIL", "RFPILOT_ACCOUNT"):
            monkeypatch.delenv(name)
    file = _config_file(env)
    file.write_text(toml, encoding="utf-8")
    code, out, err = cli(*(word.replace("{s}", session_id) for word in command))
    assert code == 1 and out == "" and err.splitlines()[0] == f"error: {error} (config {file})", err


@SQLITE
@pytest.mark.parametrize("name, value, error", [
    ("RFPILOT_LLM_PROVIDER", "bogus", "llm.provider does not take 'bogus': it takes anthropic, openai, offline, scripted"),
    ("RFPILOT_USER_NAME", "   ", "identity.name does not take an empty value"),
])
def test_a_bad_environment_variable_is_named(cli, monkeypatch, session_id, name, value, error) -> None:
    monkeypatch.setenv(name, value)
    code, out, err = cli("chat", session_id, "hello")
    assert (code, out) == (1, "")
    assert err.splitlines() == [f"error: {error} (env {name})", f"hint: change the environment variable {name}, or unset it"]
    code, out, _ = cli("doctor", "--json", "--no-network")
    assert code == 1 and json.loads(out)["config"]["bad"][0]["source"] == f"env {name}"


@SQLITE
def test_config_get_shows_an_invalid_value_as_invalid(cli, env) -> None:
    """Never as if it were used: `config get KEY` is the error; the list shows it as written, marked, and exits 1."""
    file = _config_file(env)
    file.write_text("[llm]\ntimeout = 0\n", encoding="utf-8")
    error = f"llm.timeout does not take 0: it takes a whole number from 1 to 3,600 (config {file})"
    code, out, err = cli("config", "get", "llm.timeout")
    assert (code, out, err.splitlines()[0]) == (1, "", f"error: {error}")
    code, out, err = cli("config", "get")
    assert code == 1
    assert [line.split() for line in out.splitlines() if line.startswith("llm.timeout")] == [
        ["llm.timeout", "0", "(invalid)", "config", str(file)]]
    assert err.splitlines() == [f"error: {error}", "hint: fix it with `rfpilot config set llm.timeout VALUE`, or "
                                                   "remove it with `rfpilot config set llm.timeout --unset`"]
    code, out, _ = cli("config", "get", "--json")
    rows = {r["key"]: r for r in json.loads(out)}
    assert rows["llm.timeout"] == {"key": "llm.timeout", "value": 0, "source": f"config {file}", "error": error}
    assert "error" not in rows["llm.max_reply_chars"]
    assert cli("config", "set", "llm.timeout", "90")[0] == 0  # the fix the hint gives
    assert cli("config", "get", "llm.timeout")[1].strip() == "90"
    assert cli("config", "get")[0] == 0


@SQLITE
def test_config_get_shows_a_configured_editor(cli) -> None:
    """preview.editor from config.toml is the editor used (it was shown as $EDITOR's, or vi)."""
    assert cli("config", "set", "preview.editor", "nano")[0] == 0
    code, out, _ = cli("config", "get", "preview.editor", "--json")
    assert json.loads(out)["value"] == "nano"


# --- keymap.<binding id> -----------------------------------------------------------------------------------------


@SQLITE
def test_config_set_writes_a_keymap_binding_the_tui_reads(cli, env) -> None:
    """A binding id has dots: `keymap.session.new` is [keymap] "session.new", as docs/tui.md writes it."""
    file = _config_file(env)
    assert cli("config", "set", "keymap.session.new", "ctrl+e")[0] == 0
    assert cli("config", "set", 'keymap."banner.action1"', "y")[0] == 0  # TOML's own spelling works too
    assert file.read_text(encoding="utf-8") == '[keymap]\n"session.new" = "ctrl+e"\n"banner.action1" = "y"\n'
    settings = load_settings(env={"RFPILOT_HOME": env["RFPILOT_HOME"]})
    assert settings.keymap() == ({"session.new": "ctrl+e", "banner.action1": "y"}, [])
    assert cli("config", "get", "keymap.session.new")[1].strip() == "ctrl+e"
    assert cli("config", "set", "keymap.session.new", "--unset")[0] == 0
    assert file.read_text(encoding="utf-8") == '[keymap]\n"banner.action1" = "y"\n'
    for args, error in [(("keymap.", "x"), "error: 'keymap.' names no TUI binding"),
                        (("keymap.x", " "), "error: keymap.x does not take an empty value"),
                        (("keymap", "x"), "error: keymap is a table of keys: set one binding at a time")]:
        code, _, err = cli("config", "set", *args)
        assert code == 1 and err.splitlines()[0] == error, err
    assert file.read_text(encoding="utf-8") == '[keymap]\n"banner.action1" = "y"\n'


@SQLITE
def test_a_bad_keymap_is_named_with_how_to_write_one(cli, env) -> None:
    file = _config_file(env)
    file.write_text("keymap = 5\n", encoding="utf-8")
    code, out, _ = cli("doctor", "--json", "--no-network")
    report = json.loads(out)
    assert code == 1 and report["config"]["unknown"] == []
    assert [(b["key"], b["error"]) for b in report["config"]["bad"]] == [
        ("keymap", "keymap does not take 5: it takes a table of binding ids and keys")]
    assert "`rfpilot config set keymap --unset`" in report["config"]["hint"]
    code, _, err = cli("config", "set", "keymap.session.new", "ctrl+e")
    assert code == 1 and "hint: remove it with `rfpilot config set keymap --unset` first" in err
    assert cli("config", "set", "keymap", "--unset")[0] == 0
    # What `config set` wrote before it knew binding ids have dots: named, with the way to write it.
    file.write_text('[keymap.session]\nnew = "ctrl+e"\n[keymap]\n"app.quit" = 5\n', encoding="utf-8")
    code, out, _ = cli("doctor", "--no-network")
    assert code == 1
    assert (f"config    NOT OK: keymap.session does not take {{'new': 'ctrl+e'}}: it takes a key, or keys separated "
            f'by commas, e.g. "ctrl+e" (config {file}); and 1 more') in out
    assert (f'          also: keymap.app.quit does not take 5: it takes a key, or keys separated by commas, e.g. '
            f'"ctrl+e" (config {file})') in out
    settings = load_settings(env={"RFPILOT_HOME": env["RFPILOT_HOME"]})
    entries, errors = settings.keymap()
    assert entries == {} and [e.hint for e in errors][0].startswith('a binding id is one quoted key under [keymap]')


@SQLITE
def test_the_tui_refuses_a_bad_ui_setting_before_it_starts(cli, env, session_id) -> None:
    file = _config_file(env)
    for toml, error in [('[ui]\ntheme = "purple"\n', "ui.theme does not take 'purple': it takes dark, light, no-color"),
                        ('[ui]\nmouse = "no"\n', "ui.mouse does not take 'no': it takes true or false"),
                        ("[ui]\nearly_list = 1\n", "ui.early_list does not take 1: it takes auto, on, off")]:
        file.write_text(toml, encoding="utf-8")
        code, out, err = cli("open", session_id)
        assert (code, out, err.splitlines()[0]) == (1, "", f"error: {error} (config {file})")


def test_a_model_server_in_clear_on_another_machine_is_refused_wherever_it_is_set(cli, env, monkeypatch) -> None:
    """Plain http only to this machine (SPEC): `config set` refuses it and leaves the file alone; from the
    environment every command that reads it says which variable and what to do instead; loopback and https
    are taken."""
    config = Path(env["RFPILOT_HOME"]) / "config" / "config.toml"
    code, out, err = cli("config", "set", "llm.openai.base_url", "http://gpu-box:11434/v1")
    assert code == 1 and out == "" and not config.exists()
    lines = err.splitlines()
    assert lines[0] == ("error: llm.openai.base_url: refused plain http:// to gpu-box: the model server would get "
                        "the session's text (and any key) across the network in clear")
    assert lines[1] == ("hint: use its https:// address, or tunnel to it over SSH (`ssh -N -L 11434:localhost:11434 "
                        "gpu-box`) and use http://localhost:11434/v1; plain http:// is only for 127.0.0.1, ::1 or "
                        "localhost")
    for good in ("http://localhost:11434/v1", "http://127.0.0.1:8080/v1", "https://gpu-box:11434/v1"):
        assert cli("config", "set", "llm.openai.base_url", good)[0] == 0
    monkeypatch.setenv("RFPILOT_OPENAI_BASE_URL", "http://10.0.0.5:8000/v1")
    monkeypatch.setenv("RFPILOT_OPENAI_MODEL", "llama3.1")
    monkeypatch.setenv("RFPILOT_LLM_PROVIDER", "openai")
    code, out, _ = cli("new", "VPN drops every hour", "--json")
    sid = json.loads(out)["id"]
    code, out, err = cli("chat", sid, "it drops at 10:00 sharp")
    assert code == 1 and "refused plain http:// to 10.0.0.5" in err and "(env RFPILOT_OPENAI_BASE_URL)" in err
    assert "ssh -N -L 8000:localhost:8000 10.0.0.5" in err
    code, out, err = cli("config", "get", "llm.openai.base_url")
    assert "refused plain http:// to 10.0.0.5" in out + err
