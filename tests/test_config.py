"""Paths, config precedence, `config get|set|path`, identity on first run."""

from __future__ import annotations

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
