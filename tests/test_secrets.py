"""API keys: env first, then the OS keyring; never files, never printed.

Keyring backends are swapped in with ``keyring.set_keyring()`` and the previous
one restored afterwards. The keys below are made-up strings, not credentials.
"""

from __future__ import annotations

import json
import subprocess
import sys

import keyring
import keyring.core
import keyring.errors
import pytest
import typer
from keyring.backend import KeyringBackend
from keyring.backends import chainer, fail, null

from rfpilot.core import secrets
from tests.fakes.memkeyring import MemoryKeyring
from rfpilot.errors import ConfigError, UsageError

FAKE = "sk-test-not-a-real-key-0123456789abcdef"


class PlaintextKeyring(MemoryKeyring):
    """Looks like keyrings.alt.file.PlaintextKeyring to rfpilot."""


class LockedKeyring(MemoryKeyring):
    def get_password(self, service, username, *args):
        raise keyring.errors.KeyringLocked("Failed to unlock the collection!")

    set_password = get_password


class SecretServiceLike(MemoryKeyring):
    pass


SecretServiceLike.__module__ = "keyring.backends.SecretService"


@pytest.fixture
def use_keyring(monkeypatch: pytest.MonkeyPatch):
    """Install a keyring backend for this test; the previous one comes back afterwards."""
    previous = keyring.core._keyring_backend
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "set-by-test")  # no D-Bus skip unless a test asks for it

    def install(backend: KeyringBackend) -> KeyringBackend:
        keyring.set_keyring(backend)
        return backend

    yield install
    keyring.core._keyring_backend = previous


@pytest.fixture
def memory(use_keyring) -> MemoryKeyring:
    return use_keyring(MemoryKeyring())


# --- backend status -----------------------------------------------------------


def test_memory_backend_is_usable(memory) -> None:
    status = secrets.backend_status()
    assert status.usable and status.reason is None
    assert status.name.endswith("MemoryKeyring")


@pytest.mark.parametrize("backend, words", [(fail.Keyring, "no OS keyring"), (null.Keyring, "disabled")])
def test_fail_and_null_backends_are_unusable(use_keyring, backend, words) -> None:
    use_keyring(backend())
    status = secrets.backend_status()
    assert not status.usable
    assert words in status.reason
    assert status.name == f"{backend.__module__}.Keyring"


def test_plaintext_backend_is_refused(use_keyring) -> None:
    ring = use_keyring(PlaintextKeyring())
    ring.store[("rfpilot", "anthropic")] = FAKE  # even a value already there is not read
    status = secrets.backend_status()
    assert not status.usable and "plaintext" in status.reason
    found = secrets.lookup("anthropic", env={})
    assert found.value is None and "plaintext" in found.problem
    with pytest.raises(ConfigError) as err:
        secrets.store("openai", FAKE)
    assert "ANTHROPIC" not in err.value.hint and "RFPILOT_OPENAI_API_KEY" in err.value.hint
    assert ("rfpilot", "openai") not in ring.store


def test_secret_service_without_dbus_is_skipped(use_keyring, monkeypatch) -> None:
    ring = use_keyring(SecretServiceLike())
    ring.store[("rfpilot", "anthropic")] = FAKE
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND", raising=False)
    status = secrets.backend_status()
    assert not status.usable and "DBUS_SESSION_BUS_ADDRESS" in status.reason
    assert secrets.lookup("anthropic", env={}).value is None
    # configured explicitly, or with a D-Bus session, it is used
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.SecretService.Keyring")
    assert secrets.lookup("anthropic", env={}).value == FAKE
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND")
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/run/user/1000/bus")
    assert secrets.backend_status().usable


def test_chainer_usable_only_with_a_real_backend(use_keyring, monkeypatch) -> None:
    monkeypatch.setattr(chainer.ChainerBackend, "backends", [fail.Keyring(), PlaintextKeyring()])
    use_keyring(chainer.ChainerBackend())
    assert not secrets.backend_status().usable
    monkeypatch.setattr(chainer.ChainerBackend, "backends", [fail.Keyring(), MemoryKeyring()])
    status = secrets.backend_status()
    assert status.usable and "MemoryKeyring" in status.name


def test_backend_that_cannot_load_is_unusable(monkeypatch) -> None:
    def boom():
        raise RuntimeError("Unable to initialize SecretService: Environment variable DBUS_SESSION_BUS_ADDRESS is unset")

    monkeypatch.setattr(keyring, "get_keyring", boom)
    status = secrets.backend_status()
    assert not status.usable and "could not be loaded" in status.reason


# --- lookup -------------------------------------------------------------------


def test_env_beats_keyring(memory) -> None:
    secrets.store("anthropic", "sk-from-keyring")
    found = secrets.lookup("anthropic", env={"ANTHROPIC_API_KEY": f"  {FAKE}\n"})
    assert found.value == FAKE and found.source == "env ANTHROPIC_API_KEY" and found.problem is None


def test_blank_env_falls_through_to_keyring(memory) -> None:
    secrets.store("openai", FAKE)
    found = secrets.lookup("openai", env={"RFPILOT_OPENAI_API_KEY": "  "})
    assert found.value == FAKE
    assert found.source.startswith("keyring (") and "MemoryKeyring" in found.source
    assert FAKE not in repr(found)


def test_nothing_stored(memory) -> None:
    assert secrets.lookup("anthropic", env={}) == secrets.KeyLookup(None, None, None)


def test_fail_backend_gives_problem_not_error(use_keyring) -> None:
    use_keyring(fail.Keyring())
    found = secrets.lookup("anthropic", env={})
    assert found.value is None and found.source is None
    assert found.problem.startswith("no usable keyring on this machine (keyring.backends.fail.Keyring")


def test_locked_keyring_gives_problem(use_keyring) -> None:
    use_keyring(LockedKeyring())
    found = secrets.lookup("anthropic", env={})
    assert found.value is None and "Failed to unlock" in found.problem
    with pytest.raises(ConfigError) as err:
        secrets.store("anthropic", FAKE)
    assert FAKE not in str(err.value) and "ANTHROPIC_API_KEY" in err.value.hint


def test_lookup_reads_os_environ_by_default(memory, monkeypatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE)
    assert secrets.lookup("anthropic").source == "env ANTHROPIC_API_KEY"


# --- store / delete -----------------------------------------------------------


def test_store_delete_roundtrip(memory) -> None:
    where = secrets.store("anthropic", f"{FAKE}\n")
    assert where.startswith("keyring (")
    assert memory.store == {("rfpilot", "anthropic"): FAKE}
    assert secrets.lookup("anthropic", env={}).value == FAKE
    assert secrets.delete("anthropic") is True
    assert memory.store == {}
    assert secrets.delete("anthropic") is False


def test_delete_when_absent(memory) -> None:
    assert secrets.delete("openai") is False


def test_unknown_name(memory) -> None:
    for call in (lambda: secrets.store("gemini", FAKE), lambda: secrets.delete("gemini"),
                 lambda: secrets.lookup("gemini", env={})):
        with pytest.raises(UsageError) as err:
            call()
        assert "anthropic" in str(err.value) and "openai" in str(err.value)


@pytest.mark.parametrize("value", ["", "   ", "\n", "sk-a sk-b"])
def test_empty_or_mangled_value_refused(memory, value) -> None:
    with pytest.raises(UsageError):
        secrets.store("anthropic", value)
    assert memory.store == {}


def test_store_without_usable_keyring_names_env_var(use_keyring) -> None:
    use_keyring(fail.Keyring())
    with pytest.raises(ConfigError) as err:
        secrets.store("anthropic", FAKE)
    assert "no usable keyring" in str(err.value)
    assert "export ANTHROPIC_API_KEY=" in err.value.hint
    with pytest.raises(ConfigError):
        secrets.delete("anthropic")


def test_null_backend_is_not_trusted_to_store(use_keyring) -> None:
    use_keyring(null.Keyring())
    with pytest.raises(ConfigError):
        secrets.store("anthropic", FAKE)


def test_generic_secret_names_for_later_psa_credentials(memory) -> None:
    name = "psa:conn-1:private_key"
    secrets.keyring_set(name, "-----BEGIN KEY----- abc")
    assert secrets.keyring_get(name).value == "-----BEGIN KEY----- abc"
    assert secrets.keyring_delete(name) is True
    assert secrets.keyring_get(name).value is None


def test_status_all_never_has_values(memory) -> None:
    secrets.store("openai", FAKE)
    rows = secrets.status_all(env={"ANTHROPIC_API_KEY": "sk-env-" + "x" * 20})
    by = {r["name"]: r for r in rows}
    assert by["anthropic"]["in_env"] and not by["anthropic"]["in_keyring"]
    assert by["anthropic"]["used"] == "env ANTHROPIC_API_KEY"
    assert by["openai"]["in_keyring"] and not by["openai"]["in_env"]
    assert by["openai"]["used"].startswith("keyring (")
    dumped = json.dumps(rows)
    assert FAKE not in dumped and "sk-env-" not in dumped and FAKE[-4:] not in dumped


def test_status_all_without_keyring(use_keyring) -> None:
    use_keyring(fail.Keyring())
    rows = secrets.status_all(env={})
    assert all(r["in_keyring"] is None and r["used"] is None and r["problem"] for r in rows)


# --- the CLI ------------------------------------------------------------------


@pytest.fixture
def keys_cli(cli, monkeypatch):
    """`cli`, with the keys group on the app (a local app until rfpilot.cli registers it)."""
    import rfpilot.cli as cli_module
    from rfpilot.cli import admin, keys

    if not any(group.name == "keys" for group in cli_module.app.registered_groups):
        local = typer.Typer(pretty_exceptions_enable=False, rich_markup_mode=None)
        keys.register(local)
        admin.register(local)
        monkeypatch.setattr(cli_module, "app", local)
    return cli


def test_keys_set_list_delete(keys_cli, memory) -> None:
    code, out, err = keys_cli("keys", "set", "anthropic", stdin=FAKE + "\n")
    assert code == 0, err
    assert "stored the anthropic key in the keyring (" in err
    assert memory.store[("rfpilot", "anthropic")] == FAKE

    code, out, err = keys_cli("keys", "list")
    assert code == 0, err
    line = next(ln for ln in out.splitlines() if ln.startswith("anthropic"))
    assert "ANTHROPIC_API_KEY" in line and "keyring (" in line
    assert "not set" in next(ln for ln in out.splitlines() if ln.startswith("openai"))

    code, out2, err2 = keys_cli("keys", "list", "--json")
    data = json.loads(out2)
    assert data["keyring"]["usable"] is True
    assert {r["name"]: r["in_keyring"] for r in data["keys"]} == {"anthropic": True, "openai": False,
                                                                    "database": False}
    for text in (out, err, out2, err2):
        assert FAKE not in text and FAKE[-4:] not in text

    code, out, err = keys_cli("keys", "delete", "anthropic")
    assert code == 0 and "deleted the anthropic key" in err
    assert memory.store == {}
    code, out, err = keys_cli("keys", "delete", "anthropic")
    assert code == 2 and "no anthropic key is stored" in err


def test_keys_set_warns_when_env_wins(keys_cli, memory, monkeypatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-env-" + "y" * 20)
    code, out, err = keys_cli("keys", "set", "anthropic", stdin=FAKE + "\n")
    assert code == 0 and "ANTHROPIC_API_KEY is also set" in err
    assert "sk-env-" not in out + err and FAKE not in out + err


def test_keys_set_without_keyring_names_env_var(keys_cli, use_keyring) -> None:
    use_keyring(fail.Keyring())
    code, out, err = keys_cli("keys", "set", "openai", stdin=FAKE + "\n")
    assert code == 1
    assert "no usable keyring" in err and "export RFPILOT_OPENAI_API_KEY=" in err
    assert FAKE not in out + err


def test_keys_set_errors(keys_cli, memory) -> None:
    code, _, err = keys_cli("keys", "set", "gemini", stdin=FAKE + "\n")
    assert code == 1 and "known: anthropic, openai" in err
    code, _, err = keys_cli("keys", "set", "anthropic", stdin="")
    assert code == 1 and "no anthropic key given" in err
    assert memory.store == {}


def test_keys_list_without_keyring(keys_cli, use_keyring) -> None:
    use_keyring(fail.Keyring())
    code, out, err = keys_cli("keys", "list")
    assert code == 0 and "no usable keyring" in err and "not set" in out


# --- doctor ---------------------------------------------------------------------


def test_doctor_offline_with_reason(keys_cli, use_keyring, monkeypatch) -> None:
    use_keyring(fail.Keyring())
    monkeypatch.delenv("RFPILOT_LLM_PROVIDER")
    code, out, err = keys_cli("doctor", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["llm"]["provider"] == "offline" and report["llm"]["ok"] is True
    assert "no llm.provider set and no Anthropic key found" in report["llm"]["reason"]
    assert "no usable keyring" in report["llm"]["reason"]
    ring = report["keyring"]
    assert (ring["backend"], ring["usable"], ring["reason"], ring["fallback"], ring["status"]) == (
        "keyring.backends.fail.Keyring", False, "no OS keyring service was found", "environment variables", "warn")
    code, out, err = keys_cli("doctor")
    assert code == 0, err  # no keyring is a warning: the environment variables still work
    assert "llm       offline (no llm.provider set and no Anthropic key found" in out
    assert "notes use the offline drafter" in out
    assert "keyring   WARNING: not usable (no OS keyring service was found)" in out
    assert "keyring.backends.fail.Keyring · fallback: environment variables" in out


def test_doctor_anthropic_from_env(keys_cli, memory, monkeypatch) -> None:
    monkeypatch.delenv("RFPILOT_LLM_PROVIDER")
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE)
    code, out, err = keys_cli("doctor", "--json", "--no-network")
    assert code == 0, err
    report = json.loads(out)
    assert report["llm"]["provider"] == "anthropic"
    assert report["llm"]["key_source"] == "env ANTHROPIC_API_KEY"
    assert report["keyring"]["usable"] is True
    code, human, err2 = keys_cli("doctor", "--no-network")
    assert "llm       anthropic · key from env ANTHROPIC_API_KEY · claude-sonnet-4-6 · not contacted (--no-network)" in human
    for text in (out, err, human, err2):
        assert FAKE not in text


def test_doctor_unknown_provider_is_not_ok(keys_cli, memory, monkeypatch) -> None:
    monkeypatch.setenv("RFPILOT_LLM_PROVIDER", "gpt-local")
    code, out, err = keys_cli("doctor", "--json")
    assert code == 1
    report = json.loads(out)
    assert report["llm"]["ok"] is False and "gpt-local" in report["llm"]["error"]
    code, out, err = keys_cli("doctor")
    assert code == 1 and ("llm       NOT OK: llm.provider does not take 'gpt-local': it takes anthropic, openai, "
                          "offline, scripted (env RFPILOT_LLM_PROVIDER)") in out


def test_modules_stay_light() -> None:
    """Importing rfpilot.core.secrets or rfpilot.cli.keys loads neither keyring nor an SDK."""
    code = ("import sys, rfpilot.core.secrets, rfpilot.cli.keys\n"
            "print(sorted(m for m in ('keyring', 'anthropic', 'httpx') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_doctor_does_not_import_anthropic(tmp_path) -> None:
    import os

    env = {**os.environ, "RFPILOT_HOME": str(tmp_path), "RFPILOT_DATABASE_URL": "",
           "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring", "ANTHROPIC_API_KEY": FAKE,
           "ANTHROPIC_BASE_URL": "http://127.0.0.1:9"}  # the reachability check runs, against a closed loopback port
    env.pop("RFPILOT_LLM_PROVIDER", None)
    code = ("import sys\nfrom rfpilot.cli import admin\n"
            "try:\n    admin.doctor(as_json=True, no_network=False)\nexcept BaseException:\n    pass\n"
            "print('anthropic' in sys.modules, file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert proc.stderr.strip().splitlines()[-1] == "False", proc.stderr
    assert FAKE not in proc.stdout + proc.stderr


def test_headless_linux_does_not_even_import_keyring(tmp_path) -> None:
    """No D-Bus, no configured backend: the keyring is known unusable without importing it."""
    import sys

    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    code = (
        "import sys\n"
        "from rfpilot.core import secrets\n"
        "status = secrets.backend_status()\n"
        "found = secrets.lookup('anthropic', {})\n"
        "print(status.usable, 'keyring' in sys.modules, found.value, 'D-Bus' in (found.problem or ''))\n"
    )
    printed = _fresh_python(code, env)
    if sys.platform.startswith("linux"):
        assert printed == ["False", "False", "None", "True"]


@pytest.mark.parametrize("backend", ["keyring.backends.null.Keyring", "keyring.backends.fail.Keyring"])
def test_a_keyring_turned_off_by_name_is_known_without_importing_it(tmp_path, backend: str) -> None:
    """PYTHON_KEYRING_BACKEND naming the null or fail backend: the same status keyring itself gives, without its
    import (every Postgres command asks for the store's password)."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHON_KEYRING_BACKEND": backend}
    code = (
        "import sys\n"
        "from rfpilot.core import secrets\n"
        "before = secrets.backend_status()\n"
        "loaded = 'keyring' in sys.modules\n"
        "import keyring\n"
        "print(loaded, before == secrets.backend_status(), before.usable)\n"
    )
    assert _fresh_python(code, env) == ["False", "True", "False"]


def _fresh_python(code: str, env: dict[str, str]) -> list[str]:
    """The words ``code`` prints in a new Python process with only ``env``."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()
