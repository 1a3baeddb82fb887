"""Settings merge and errors, secrets through the real keyring API, and secrets kept out of logs."""

from __future__ import annotations

import io
import logging
import sys

import pytest

from ita_desktop import log_setup, secrets
from ita_desktop.cli.main import main
from ita_desktop.config import load_settings, save_user_settings
from ita_desktop.domain.errors import InputError
from ita_desktop.paths import app_paths


def test_ita_home_moves_every_folder(ita_home):
    paths = app_paths()
    assert paths.data == ita_home and paths.database.parent == ita_home
    assert paths.logs.is_relative_to(ita_home) and paths.cache.is_relative_to(ita_home)


def test_defaults_then_user_override_merges_deeply(ita_home):
    assert load_settings().sessions.windows["asia"] == ("20:00", "00:00")
    save_user_settings({"sessions": {"windows": {"asia": ["19:00", "00:00"]}}, "data": {"server_tz": "+02:00"}})
    settings = load_settings()
    assert settings.sessions.windows["asia"] == ("19:00", "00:00")
    assert settings.sessions.windows["london"] == ("02:00", "05:00")  # untouched keys survive
    assert settings.data.server_tz == "+02:00"


def test_broken_user_config_names_file_line_and_column(ita_home):
    app_paths().ensure().user_config_file.write_text("data:\n  server_tz: [unclosed\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_settings()
    assert err.value.file.endswith("config.yaml") and err.value.line == 3 and err.value.column is not None


def test_invalid_change_is_refused_and_file_left_as_it_was(ita_home):
    path = save_user_settings({"ui": {"theme": "light"}})
    before = path.read_text()
    with pytest.raises(Exception):
        save_user_settings({"ui": {"no_such_key": 1}})
    assert path.read_text() == before


def test_secret_round_trip_through_keyring_and_never_in_config_or_log(ita_home, capsys):
    log_file = log_setup.configure(app_paths().logs, console=False)
    secrets.set_secret("openai_api_key", "sk-test-1234567890")
    assert secrets.get_secret("openai_api_key") == "sk-test-1234567890"
    logging.getLogger("test").warning("calling with key sk-test-1234567890 now")
    for handler in logging.getLogger().handlers:
        handler.flush()
    text = log_file.read_text()
    assert "calling with key *** now" in text and "sk-test-1234567890" not in text
    assert not app_paths().user_config_file.exists() or "sk-test" not in app_paths().user_config_file.read_text()
    secrets.delete_secret("openai_api_key")
    assert secrets.get_secret("openai_api_key") is None
    secrets.delete_secret("openai_api_key")  # deleting twice is fine


def test_unknown_secret_name_is_refused(ita_home):
    with pytest.raises(KeyError):
        secrets.set_secret("api_key_typo", "x")


def test_cli_secret_set_reads_stdin_and_list_hides_values(ita_home, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO("bot-token-abc\n"))
    assert main(["secret", "set", "telegram_bot_token"]) == 0
    assert main(["secret", "list"]) == 0
    out = capsys.readouterr().out
    assert "telegram_bot_token" in out and "bot-token-abc" not in out
    assert secrets.get_secret("telegram_bot_token") == "bot-token-abc"


def test_cli_config_path_names_the_database(ita_home, capsys):
    assert main(["config", "path"]) == 0
    assert str(ita_home / "ita.sqlite3") in capsys.readouterr().out


def test_the_shipped_defaults_read_with_libyaml_are_what_the_python_parser_reads() -> None:
    from importlib import resources

    import yaml

    from ita_desktop.config import defaults_dict

    text = resources.files("ita_desktop.config").joinpath("defaults.yaml").read_text(encoding="utf-8")
    assert defaults_dict() == yaml.safe_load(text) and defaults_dict()["sessions"]
