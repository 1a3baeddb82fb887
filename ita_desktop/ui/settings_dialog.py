"""File > Settings…: everything in config.yaml a trader changes by hand, plus the secret fields.

The Notifications tab holds each channel (Telegram, Notion): on/off, chat id or database id, API
root, its token (keyring only) and a "Send test" button that runs as a job (``send_test``, given by
the window) and shows the far side's exact answer; and the tray: which updates, sounds, quiet hours,
minimise to tray.

Two doors, never crossed: ordinary settings go through ``save_user_settings`` (validated
before anything is written: a bad value is shown in the dialog and the file is unchanged);
secrets go through ``ita_desktop.secrets`` into the OS keyring only. A secret field is never
filled with the stored value: it shows "set" / "not set", an empty field keeps what is stored,
and "Clear" removes it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout, QLabel,
    QDoubleSpinBox, QLineEdit, QMessageBox, QPushButton, QTabWidget, QVBoxLayout, QWidget,
)

from ita_desktop import secrets
from ita_desktop.config import TRAY_UPDATE_KINDS, Settings, load_settings, save_user_settings
from ita_desktop.domain.clock import ServerClock, parse_hhmm
from ita_desktop.domain.display_clock import DISPLAY_CLOCKS
from ita_desktop.paths import app_paths
from ita_desktop.ui.theme import THEMES
from ita_desktop.ui.wheel_guard import guard_wheel

log = logging.getLogger(__name__)

SECRET_FIELDS = (
    ("openai_api_key", "OpenAI API key"),
    ("telegram_bot_token", "Telegram bot token"),
    ("notion_token", "Notion token"),
    ("mt5_password", "MT5 password"),
)
ERROR_STYLE = "color: #ef5350;"
OK_STYLE = "color: #4caf50;"
#: (channel, title, its id field in outputs.<channel>, the label of that field, its keyring token)
CHANNELS = (("telegram", "Telegram", "chat_id", "Chat id", "telegram_bot_token"),
            ("notion", "Notion", "database_id", "Database id", "notion_token"))
#: Send test: (channel, settings to test, done(answer or error text)) -> None; runs the test as a job
SendTest = Callable[[str, Settings, Callable[[Any], None]], None]


class SettingsError(ValueError):
    """A field's value is not valid; ``field`` names it so the dialog can point at it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class SecretField(QWidget):
    """A masked entry for one keyring secret with its "set"/"not set" state and a Clear box."""

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.edit = QLineEdit()
        self.edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.edit.setObjectName(f"secret_{name}")
        self.state = QLabel()
        self.clear = QCheckBox("Clear")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.edit, 1)
        layout.addWidget(self.state)
        layout.addWidget(self.clear)
        self.refresh()

    def refresh(self) -> None:
        try:
            stored = secrets.has_secret(self.name)
        except secrets.SecretStoreError as exc:
            self.state.setText("unavailable")
            self.state.setToolTip(str(exc))
            self.edit.setEnabled(False)
            return
        self.state.setText("set" if stored else "not set")
        self.edit.setPlaceholderText("stored — type to replace" if stored else "not set")
        self.clear.setEnabled(stored)

    def apply(self) -> str | None:
        """Write the change, if any, to the keyring; returns "saved"/"cleared"/None."""
        value = self.edit.text()
        if value:
            secrets.set_secret(self.name, value)
            action = "saved"
        elif self.clear.isChecked():
            secrets.delete_secret(self.name)
            action = "cleared"
        else:
            return None
        self.edit.clear()
        self.clear.setChecked(False)
        self.refresh()
        return action


def _event_choices(cfg: Any) -> tuple[str, ...]:
    """The events a channel's ``events`` setting may list (its field's allowed values)."""
    from typing import get_args

    annotation = type(cfg).model_fields["events"].annotation
    (item,) = get_args(annotation)  # list[Literal[...]]
    return tuple(get_args(item))


def _check_zone(field: str, text: str) -> str:
    try:
        ServerClock.parse(text)
    except Exception as exc:  # ServerClock says what forms it accepts
        raise SettingsError(field, f"{field}: {exc}") from exc
    return text.strip()


class SettingsDialog(QDialog):
    """``saved(Settings)`` fires after a successful save with the settings as now on disk."""

    saved = Signal(object)

    def __init__(self, settings: Settings, parent: QWidget | None = None, send_test: SendTest | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setObjectName("settingsDialog")
        self.settings = settings
        self._send_test = send_test
        self.secret_fields: dict[str, SecretField] = {}
        self.channel_tokens_changed = False
        self.error = QLabel("")
        self.error.setObjectName("settingsError")
        self.error.setStyleSheet(ERROR_STYLE)
        self.error.setWordWrap(True)
        tabs = QTabWidget()
        tabs.addTab(self._general_tab(), "General")
        tabs.addTab(self._mt5_tab(), "MetaTrader 5")
        tabs.addTab(self._sessions_tab(), "Sessions")
        tabs.addTab(self._chart_tab(), "Chart")
        tabs.addTab(self._notifications_tab(), "Notifications")
        tabs.addTab(self._secrets_tab(), "Keys and tokens")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        self.save_button = buttons.button(QDialogButtonBox.StandardButton.Save)
        layout = QVBoxLayout(self)
        layout.addWidget(tabs)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.resize(620, 460)
        guard_wheel(self)

    # -- tabs ---------------------------------------------------------------------------
    def _general_tab(self) -> QWidget:
        s = self.settings
        page = QWidget()
        form = QFormLayout(page)
        paths = app_paths()
        self.data_folder = QLineEdit(str(paths.data))
        self.data_folder.setReadOnly(True)
        change = QPushButton("Change…")
        change.clicked.connect(self._explain_data_folder)
        row = QHBoxLayout()
        row.addWidget(self.data_folder, 1)
        row.addWidget(change)
        form.addRow("Data folder", row)
        self.data_server_tz = QLineEdit(s.data.server_tz)
        form.addRow("CSV server time zone", self.data_server_tz)
        self.model_endpoint = QLineEdit(s.model.endpoint)
        self.model_name = QLineEdit(s.model.name)
        form.addRow("Model endpoint", self.model_endpoint)
        form.addRow("Model name", self.model_name)
        self.model_timeout = QDoubleSpinBox()
        self.model_timeout.setObjectName("modelTimeout")
        self.model_timeout.setRange(1, 600)
        self.model_timeout.setSuffix(" s")
        self.model_timeout.setValue(float(s.model.timeout_s))
        form.addRow("Model timeout", self.model_timeout)
        self.theme = QComboBox()
        self.theme.addItems(list(THEMES))
        self.theme.setCurrentText(s.ui.theme)
        form.addRow("Theme", self.theme)
        return page

    def _chart_tab(self) -> QWidget:
        c = self.settings.chart
        page = QWidget()
        form = QFormLayout(page)
        self.fvg_min_atr = QDoubleSpinBox()
        self.fvg_min_atr.setRange(0.0, 10.0)
        self.fvg_min_atr.setSingleStep(0.25)
        self.fvg_min_atr.setDecimals(2)
        self.fvg_min_atr.setSuffix(" ATR")
        self.fvg_min_atr.setSpecialValueText("all gaps")
        self.fvg_min_atr.setValue(float(c.fvg_min_atr))
        self.fvg_min_atr.setToolTip("Fair value gaps smaller than this are not drawn; the legend says how many are "
                                    "hidden. A gap a drawn setup or trade used is always drawn.")
        form.addRow("Smallest FVG drawn", self.fvg_min_atr)
        self.display_clock = QComboBox()
        for key, title in DISPLAY_CLOCKS.items():
            self.display_clock.addItem(title, key)
        self.display_clock.setCurrentIndex(self.display_clock.findData(self.settings.ui.display_clock))
        self.display_clock.setToolTip("The clock every time is shown on: chart axis, readout, crosshair, trades. "
                                      "Sessions stay on the session clock (Sessions tab).")
        form.addRow("Show times on", self.display_clock)
        return page

    def _mt5_tab(self) -> QWidget:
        m = self.settings.mt5
        page = QWidget()
        form = QFormLayout(page)
        self.mt5_path = QLineEdit(m.terminal_path)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse_terminal)
        row = QHBoxLayout()
        row.addWidget(self.mt5_path, 1)
        row.addWidget(browse)
        form.addRow("Terminal path", row)
        self.mt5_login = QLineEdit(str(m.login) if m.login else "")
        self.mt5_login.setPlaceholderText("account number")
        self.mt5_server = QLineEdit(m.server)
        self.mt5_server_tz = QLineEdit(m.server_tz)
        self.mt5_server_tz.setToolTip('"+03:00", an IANA zone like "Europe/Athens", or "NY+7" (New York + 7 h)')
        self.mt5_tz_error = QLabel("")
        self.mt5_tz_error.setStyleSheet(ERROR_STYLE)
        self.mt5_server_tz.textChanged.connect(lambda text: self._show_zone_error(text, self.mt5_tz_error))
        form.addRow("Login", self.mt5_login)
        form.addRow("Server", self.mt5_server)
        form.addRow("Server time zone", self.mt5_server_tz)
        form.addRow("", self.mt5_tz_error)
        form.addRow(QLabel("The MT5 password is under Keys and tokens (kept in the OS keyring)."))
        return page

    def _sessions_tab(self) -> QWidget:
        s = self.settings.sessions
        page = QWidget()
        form = QFormLayout(page)
        self.clock = QLineEdit(s.clock)
        form.addRow("Session clock", self.clock)
        self.windows: dict[str, tuple[QLineEdit, QLineEdit]] = {}
        for name, (start, end) in s.windows.items():
            a, b = QLineEdit(start), QLineEdit(end)
            for edit in (a, b):
                edit.setInputMask("99:99")
                edit.setMaximumWidth(70)
            row = QHBoxLayout()
            row.addWidget(a)
            row.addWidget(QLabel("to"))
            row.addWidget(b)
            row.addStretch(1)
            form.addRow(name, row)
            self.windows[name] = (a, b)
        form.addRow(QLabel("Times are on the session clock. Session changes apply to the next chart load."))
        return page

    def _secrets_tab(self) -> QWidget:
        page = QGroupBox("Stored in the OS keyring only, never in config.yaml or the logs")
        form = QFormLayout(page)
        for name, label in SECRET_FIELDS:
            if name in self.secret_fields:  # a channel's token: on the Notifications tab, beside its channel
                continue
            field = SecretField(name)
            form.addRow(label, field)
            self.secret_fields[name] = field
        problems = [f.state.toolTip() for f in self.secret_fields.values() if not f.edit.isEnabled()]
        if problems:  # said once, in words, instead of "keyring unavailable" on every field
            self.keyring_problem = QLabel(problems[0].rsplit("; ", 1)[0])
            self.keyring_problem.setObjectName("keyring_problem")
            self.keyring_problem.setWordWrap(True)
            form.insertRow(0, self.keyring_problem)
        return page

    def _notifications_tab(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        self.channel_fields: dict[str, dict[str, Any]] = {}
        for name, title, id_key, id_label, token in CHANNELS:
            cfg = getattr(self.settings.outputs, name)
            box = QGroupBox(title)
            form = QFormLayout(box)
            enabled = QCheckBox("Send notifications through this channel")
            enabled.setObjectName(f"{name}_enabled")
            enabled.setChecked(cfg.enabled)
            ident = QLineEdit(getattr(cfg, id_key))
            ident.setObjectName(f"{name}_{id_key}")
            root = QLineEdit(cfg.api_root)
            root.setObjectName(f"{name}_api_root")
            field = SecretField(token)
            self.secret_fields[token] = field
            test = QPushButton("Send test")
            test.setObjectName(f"{name}_send_test")
            answer = QLabel("")
            answer.setObjectName(f"{name}_test_answer")
            answer.setWordWrap(True)
            answer.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            test.clicked.connect(lambda _checked=False, n=name: self.send_test(n))
            form.addRow(enabled)
            form.addRow(id_label, ident)
            form.addRow("API root", root)
            form.addRow("Token (keyring)", field)
            fields: dict[str, Any] = {"enabled": enabled, id_key: ident, "api_root": root, "test": test,
                                      "answer": answer, "token": field}
            events = getattr(cfg, "events", None)  # events per channel, where the configuration has them
            if events is not None:
                kinds = _event_choices(cfg)
                row = QHBoxLayout()
                fields["events"] = {}
                for kind in kinds:
                    check = QCheckBox(kind)
                    check.setChecked(kind in events)
                    fields["events"][kind] = check
                    row.addWidget(check)
                form.addRow("Events", row)
            test_row = QHBoxLayout()
            test_row.addWidget(test)
            test_row.addWidget(answer, 1)
            form.addRow(test_row)
            self.channel_fields[name] = fields
            layout.addWidget(box)
        tray = self.settings.outputs.tray
        box = QGroupBox("Tray and sounds")
        form = QFormLayout(box)
        row = QHBoxLayout()
        self.tray_updates: dict[str, QCheckBox] = {}
        for kind in TRAY_UPDATE_KINDS:
            check = QCheckBox(kind)
            check.setChecked(kind in tray.updates)
            self.tray_updates[kind] = check
            row.addWidget(check)
        form.addRow("Updates shown", row)
        self.tray_sounds = QCheckBox("A sound per event kind")
        self.tray_sounds.setChecked(tray.sounds)
        form.addRow(self.tray_sounds)
        self.quiet_hours = QLineEdit(tray.quiet_hours)
        self.quiet_hours.setObjectName("quiet_hours")
        self.quiet_hours.setPlaceholderText("e.g. 22:00-07:00 (this computer's clock); empty: none")
        form.addRow("Quiet hours", self.quiet_hours)
        self.minimize_to_tray = QCheckBox("Minimising the window hides it to the tray")
        self.minimize_to_tray.setChecked(tray.minimize_to_tray)
        form.addRow(self.minimize_to_tray)
        layout.addWidget(box)
        layout.addStretch(1)
        return page

    def _outputs_changes(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, _title, id_key, _label, _token in CHANNELS:
            f = self.channel_fields[name]
            section: dict[str, Any] = {"enabled": f["enabled"].isChecked(), id_key: f[id_key].text().strip(),
                                       "api_root": f["api_root"].text().strip()}
            if "events" in f:
                section["events"] = [kind for kind, check in f["events"].items() if check.isChecked()]
            out[name] = section
        quiet = self.quiet_hours.text().strip()
        if quiet:
            parts = quiet.split("-")
            try:
                if len(parts) != 2:
                    raise ValueError(quiet)
                for part in parts:
                    parse_hhmm(part.strip())
            except Exception as exc:
                raise SettingsError("outputs.tray.quiet_hours", f"quiet hours: {quiet!r} is not HH:MM-HH:MM "
                                    "(e.g. 22:00-07:00)") from exc
            quiet = "-".join(p.strip() for p in parts)
        out["tray"] = {"updates": [k for k, c in self.tray_updates.items() if c.isChecked()],
                       "sounds": self.tray_sounds.isChecked(), "quiet_hours": quiet,
                       "minimize_to_tray": self.minimize_to_tray.isChecked()}
        return out

    def send_test(self, channel: str) -> None:
        """Send a test through ``channel`` as the fields now say (its token, if typed, goes to the keyring
        first); the far side's exact answer is shown beside the button."""
        fields = self.channel_fields[channel]
        answer: QLabel = fields["answer"]
        if self._send_test is None:
            answer.setText("Send test is not available here")
            return
        try:
            section = self._outputs_changes()[channel]
            if fields["token"].apply():
                self.channel_tokens_changed = True
        except (SettingsError, secrets.SecretStoreError) as exc:
            answer.setStyleSheet(ERROR_STYLE)
            answer.setText(str(exc))
            return
        cfg = getattr(self.settings.outputs, channel).model_copy(update=section)
        settings = self.settings.model_copy(update={"outputs": self.settings.outputs.model_copy(update={channel: cfg})})
        fields["test"].setEnabled(False)
        answer.setStyleSheet("")
        answer.setText("Sending…")
        self._send_test(channel, settings, lambda result, c=channel: self._show_answer(c, result))

    def _show_answer(self, channel: str, result: Any) -> None:
        fields = self.channel_fields[channel]
        fields["test"].setEnabled(True)
        sent = bool(getattr(result, "sent", False))
        fields["answer"].setStyleSheet(OK_STYLE if sent else ERROR_STYLE)
        fields["answer"].setText(getattr(result, "text", str(result)))

    # -- actions ------------------------------------------------------------------------
    def _explain_data_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a data folder", self.data_folder.text())
        if not folder:
            return
        self.folder_note = QMessageBox(
            QMessageBox.Icon.Information, "Data folder",
            f"The data folder is chosen when the app starts. To use\n{folder}\nset the environment "
            f"variable ITA_HOME to it (for example in the shortcut that starts the app) and restart. "
            f"Copy the existing folder there first to keep your data.", parent=self)
        self.folder_note.open()

    def _browse_terminal(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "MetaTrader 5 terminal", self.mt5_path.text(),
                                              "terminal64.exe (terminal64.exe);;All files (*)")
        if path:
            self.mt5_path.setText(path)

    def _show_zone_error(self, text: str, label: QLabel) -> None:
        try:
            ServerClock.parse(text)
            label.setText("")
        except Exception as exc:
            label.setText(str(exc))

    def changes(self) -> dict[str, Any]:
        """The non-secret settings as entered; raises SettingsError naming a bad field."""
        login_text = self.mt5_login.text().strip()
        if login_text and not login_text.isdigit():
            raise SettingsError("mt5.login", "MT5 login must be the account number (digits only)")
        clock = self.clock.text().strip()
        try:
            ZoneInfo(clock)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise SettingsError("sessions.clock", f"sessions.clock: unknown time zone {clock!r}") from exc
        windows = {}
        for name, (a, b) in self.windows.items():
            for edit in (a, b):
                try:
                    parse_hhmm(edit.text())
                except Exception as exc:
                    raise SettingsError(f"sessions.windows.{name}",
                                        f"session {name}: {edit.text()!r} is not a time HH:MM") from exc
            windows[name] = [a.text(), b.text()]
        return {
            "data": {"server_tz": _check_zone("data.server_tz", self.data_server_tz.text())},
            "mt5": {"terminal_path": self.mt5_path.text().strip(), "login": int(login_text or 0),
                    "server": self.mt5_server.text().strip(),
                    "server_tz": _check_zone("mt5.server_tz", self.mt5_server_tz.text())},
            "sessions": {"clock": clock, "windows": windows},
            "model": {"endpoint": self.model_endpoint.text().strip(), "name": self.model_name.text().strip(),
                      "timeout_s": self.model_timeout.value()},
            "ui": {"theme": self.theme.currentText(), "display_clock": self.display_clock.currentData()},
            "chart": {"fvg_min_atr": round(float(self.fvg_min_atr.value()), 2)},
            "outputs": self._outputs_changes(),
        }

    def save(self) -> bool:
        """Validate and write; on any error show it here, write nothing, keep the dialog open."""
        try:
            changes = self.changes()
            save_user_settings(changes)
        except SettingsError as exc:
            self.error.setText(str(exc))
            return False
        except Exception as exc:  # pydantic's validation error or a file error: say what it was
            self.error.setText(f"Not saved: {exc}")
            return False
        try:
            done = {name: f.apply() for name, f in self.secret_fields.items()}
        except secrets.SecretStoreError as exc:
            self.error.setText(f"Settings saved, but a secret was not: {exc}")
            return False
        changed = [name for name, action in done.items() if action]
        if any(token in changed for *_rest, token in CHANNELS):
            self.channel_tokens_changed = True
        if changed:
            log.info("secrets updated in the keyring: %s", ", ".join(changed))  # names only, never values
        self.error.setText("")
        self.settings = load_settings()
        self.saved.emit(self.settings)
        self.accept()
        return True
