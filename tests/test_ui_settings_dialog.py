"""The Settings dialog: ordinary settings into config.yaml (validated), secrets into the keyring only."""

from __future__ import annotations

import logging

import keyring
import yaml

from ita_desktop import log_setup, secrets
from ita_desktop.config import load_settings
from ita_desktop.paths import app_paths
from ita_desktop.secrets import SERVICE
from ita_desktop.ui.settings_dialog import SettingsDialog

SECRET = "sk-test-7f3a9c0d1e2b4a6f8e0c"
TOKEN = "123456:telegram-token-abcdef"


def make_dialog(qtbot) -> SettingsDialog:
    dialog = SettingsDialog(load_settings())
    qtbot.addWidget(dialog)
    return dialog


def test_settings_go_to_config_and_secrets_only_to_the_keyring(qtbot, ita_home):
    log_file = log_setup.configure(app_paths().ensure().logs, console=False)
    dialog = make_dialog(qtbot)
    assert dialog.data_folder.text() == str(app_paths().data) and dialog.data_folder.isReadOnly()
    for field in dialog.secret_fields.values():
        assert field.edit.echoMode() == field.edit.EchoMode.Password
        assert field.state.text() == "not set" and field.edit.text() == ""
    dialog.mt5_path.setText(r"C:\Program Files\MetaTrader 5\terminal64.exe")
    dialog.mt5_login.setText("5012345")
    dialog.mt5_server.setText("Broker-Demo")
    dialog.mt5_server_tz.setText("+02:00")
    dialog.model_endpoint.setText("http://127.0.0.1:8000/v1")
    dialog.model_name.setText("gpt-4o-mini")
    dialog.theme.setCurrentText("light")
    dialog.windows["london"][0].setText("01:00")
    dialog.secret_fields["openai_api_key"].edit.setText(SECRET)
    dialog.secret_fields["telegram_bot_token"].edit.setText(TOKEN)
    with qtbot.waitSignal(dialog.saved, timeout=5000) as saved:
        assert dialog.save()
    settings = saved.args[0]
    assert settings.mt5.login == 5012345 and settings.mt5.server == "Broker-Demo" and settings.mt5.server_tz == "+02:00"
    assert settings.model.name == "gpt-4o-mini" and settings.model.endpoint == "http://127.0.0.1:8000/v1"
    assert settings.ui.theme == "light" and settings.sessions.windows["london"] == ("01:00", "05:00")

    config = app_paths().user_config_file.read_text(encoding="utf-8")
    assert yaml.safe_load(config)["mt5"]["terminal_path"].endswith("terminal64.exe")
    assert keyring.get_password(SERVICE, "openai_api_key") == SECRET
    assert secrets.get_secret("telegram_bot_token") == TOKEN
    for logging_handler in logging.getLogger().handlers:
        logging_handler.flush()
    stored_files = [config, log_file.read_text(encoding="utf-8")]
    assert all(SECRET not in text and TOKEN not in text for text in stored_files)
    assert "openai_api_key" in stored_files[1]  # the log says which secret changed, never its value
    assert not secrets.has_secret("notion_token")

    again = make_dialog(qtbot)  # never pre-filled with the stored value
    field = again.secret_fields["openai_api_key"]
    assert field.edit.text() == "" and field.state.text() == "set"
    field.clear.setChecked(True)
    assert again.save()
    assert secrets.get_secret("openai_api_key") is None
    assert secrets.get_secret("telegram_bot_token") == TOKEN  # an empty field keeps what is stored


def test_bad_input_is_shown_and_nothing_is_written(qtbot, ita_home):
    dialog = make_dialog(qtbot)
    config = app_paths().user_config_file
    before = config.read_bytes() if config.exists() else None
    dialog.mt5_server_tz.setText("Mars/Olympus_Mons")
    assert dialog.mt5_tz_error.text()  # shown inline while typing
    dialog.secret_fields["notion_token"].edit.setText("secret_notion_value")
    dialog.model_name.setText("changed-model")
    assert not dialog.save()
    assert "mt5.server_tz" in dialog.error.text()
    assert (config.read_bytes() if config.exists() else None) == before
    assert not secrets.has_secret("notion_token")  # nothing written, secrets included

    dialog.mt5_server_tz.setText("NY+7")
    assert dialog.mt5_tz_error.text() == ""
    dialog.mt5_login.setText("12ab")
    assert not dialog.save() and "digits" in dialog.error.text()
    dialog.mt5_login.setText("")
    dialog.clock.setText("Not/AZone")
    assert not dialog.save() and "sessions.clock" in dialog.error.text()
    assert (config.read_bytes() if config.exists() else None) == before
