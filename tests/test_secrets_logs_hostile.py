"""Secrets and logs from issues 18 and 20: no keyring backend, CRLF and blank values, third-party
debug output under -v, and secrets inside exceptions logged with exc_info."""

from __future__ import annotations

import io
import logging

import keyring
import keyring.backends.fail
import pytest

from ita_desktop import log_setup, secrets
from ita_desktop.cli.main import main


@pytest.fixture
def no_keyring(ita_home):
    """A machine without any keyring backend (headless Linux): keyring's own 'fail' backend."""
    keyring.set_keyring(keyring.backends.fail.Keyring())
    yield


@pytest.mark.parametrize("argv", [["secret", "set", "openai_api_key"], ["secret", "list"],
                                  ["secret", "delete", "notion_token"]])
def test_secret_commands_without_a_keyring_say_what_is_missing_in_one_line(no_keyring, monkeypatch, capsys, argv):
    monkeypatch.setattr("sys.stdin", io.StringIO("sk-test-abcdef\n"))
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1
    assert "no OS keyring is available" in err and "Secret Service" in err and "sk-test-abcdef" not in err


def test_a_secret_piped_with_crlf_is_stored_without_the_carriage_return(ita_home, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("sk-test-crlf-123\r\n"))
    assert main(["secret", "set", "openai_api_key"]) == 0
    assert secrets.get_secret("openai_api_key") == "sk-test-crlf-123"


@pytest.mark.parametrize("typed", ["\n", "   \r\n", "\r\n", "\t \n", ""])
def test_a_blank_secret_is_refused_and_nothing_is_stored(ita_home, monkeypatch, capsys, typed):
    monkeypatch.setattr("sys.stdin", io.StringIO(typed))
    assert main(["secret", "set", "notion_token"]) == 1
    assert "empty value: nothing stored" in capsys.readouterr().err
    assert secrets.get_secret("notion_token") is None


def test_the_settings_dialog_says_once_what_keyring_is_missing(qtbot, no_keyring):
    from ita_desktop.ui.settings_dialog import SettingsDialog

    from ita_desktop.config import load_settings

    dialog = SettingsDialog(load_settings())
    qtbot.addWidget(dialog)
    assert "Secret Service" in dialog.keyring_problem.text()
    assert all(f.state.text() == "unavailable" for f in dialog.secret_fields.values())


def test_third_party_debug_stays_out_under_verbose_but_app_debug_goes_in(ita_home, monkeypatch):
    monkeypatch.delenv(log_setup.LIBRARY_LEVEL_ENV, raising=False)
    log_file = log_setup.configure(ita_home / "logs", level="DEBUG", console=False)
    logging.getLogger("numba.core.ssa").debug("numba compiler chatter")
    logging.getLogger("numba.core.ssa").warning("numba warning")
    logging.getLogger("ita_desktop.data.csv_import").debug("app debug line")
    text = log_file.read_text()
    assert "numba compiler chatter" not in text
    assert "numba warning" in text and "app debug line" in text


def test_library_debug_comes_in_when_asked(ita_home, monkeypatch):
    monkeypatch.setenv(log_setup.LIBRARY_LEVEL_ENV, "DEBUG")
    log_file = log_setup.configure(ita_home / "logs", level="DEBUG", console=False)
    logging.getLogger("numba.core.ssa").debug("numba compiler chatter")
    assert "numba compiler chatter" in log_file.read_text()


def test_a_secret_inside_an_exception_logged_with_exc_info_is_redacted(ita_home):
    log_file = log_setup.configure(ita_home / "logs", level="INFO", console=False)
    secrets.set_secret("telegram_bot_token", "bot-secret-98765")
    try:
        raise RuntimeError("HTTP 401 for https://api.telegram.org/botbot-secret-98765/sendMessage")
    except RuntimeError:
        logging.getLogger("ita_desktop.core.job_engine").exception("job %s failed", 7)
    text = log_file.read_text()
    assert "job 7 failed" in text and "RuntimeError: HTTP 401" in text
    assert "bot-secret-98765" not in text and "bot***" in text
