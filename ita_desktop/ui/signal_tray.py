"""The system-tray face of live signals: an icon with a menu, one message per raised signal and per
chosen update, a sound per kind, and a click on the message that brings the window up with the chart
at that signal.

Qt's ``messageClicked`` carries no id, so the tray remembers the last message's signal. The menu:
Show window, Pause live (the live session stops processing until Resume), Mute (no sounds), Quit.
Quiet hours (``outputs.tray.quiet_hours``) hold back messages and sounds. Where the platform has no
tray nothing is shown there and the status bar says why; every notification is listed in the
window's Notifications list either way (``noted`` tells it).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time
from typing import Any

from PySide6.QtCore import QEvent, QObject, QTimer, Signal
from PySide6.QtWidgets import QApplication, QLabel, QMainWindow, QMenu, QStyle, QSystemTrayIcon

from ita_desktop.bus.events import SignalRaised, SignalUpdated
from ita_desktop.ui.tray_sounds import TraySounds

NO_TRAY = "No system tray on this desktop: notifications are listed in the Notifications panel"


def message_text(event: SignalRaised) -> tuple[str, str]:
    side = "LONG" if event.direction > 0 else "SHORT"
    return f"{side} {event.symbol} {event.timeframe}", f"{event.rule_id} v{event.rule_version} signalled"


def update_message(event: SignalUpdated) -> tuple[str, str]:
    r = f" ({event.r_multiple:+.2f}R)" if event.r_multiple is not None else ""
    return f"{event.symbol} {event.state}{r}", f"{event.rule_id}: the signal's paper trade is {event.state}"


def in_quiet_hours(spec: str, now: time) -> bool:
    """``spec`` "HH:MM-HH:MM" (may span midnight; start included, end excluded); "" is never quiet."""
    if not spec:
        return False
    start_text, end_text = spec.split("-")
    start, end = time.fromisoformat(start_text), time.fromisoformat(end_text)
    if start <= end:
        return start <= now < end
    return now >= start or now < end


class SignalTray(QObject):
    """``show_signal(record)`` puts the chart at a stored signal; ``load(key)`` reads it (runs on a worker);
    ``tray_settings()`` returns the current ``outputs.tray``; ``pause(on)`` pauses or resumes live processing.

    ``noted(kind, key, title, text, how, at)`` fires for every notification: how is ``shown``, ``quiet hours``
    or ``no tray``, ``at`` the signal's or update's UTC time (the Notifications list shows it; the latency
    benchmark times it)."""

    noted = Signal(str, str, str, str, str, int)
    paused_changed = Signal(bool)

    def __init__(self, window: QMainWindow, runner: Any, load: Callable[[str], Any],
                 show_signal: Callable[[Any], None], tray_settings: Callable[[], Any],
                 pause: Callable[[bool], None], clock: Callable[[], time] | None = None) -> None:
        super().__init__(window)
        self.window, self.runner, self.load, self.show_signal = window, runner, load, show_signal
        self.tray_settings, self._pause = tray_settings, pause
        self.clock = clock or (lambda: datetime.now().time())
        self.last_key: str | None = None
        self.sounds = TraySounds(self)
        self.available = QSystemTrayIcon.isSystemTrayAvailable()
        self.icon: QSystemTrayIcon | None = None
        self.no_tray_label: QLabel | None = None
        menu = QMenu(window)  # built either way: the window's own Notifications menu offers the same actions
        self.show_action = menu.addAction("Show window", self.bring_up)
        self.pause_action = menu.addAction("Pause live")
        self.pause_action.setCheckable(True)
        self.pause_action.toggled.connect(self.set_paused)
        self.mute_action = menu.addAction("Mute")
        self.mute_action.setCheckable(True)
        self.mute_action.toggled.connect(self.set_muted)
        menu.addSeparator()
        self.quit_action = menu.addAction("Quit", QApplication.quit)
        self.menu = menu
        window.installEventFilter(self)  # minimise to tray
        if not self.available:  # said for good (a passing message would be overwritten at once)
            self.no_tray_label = QLabel("No tray")
            self.no_tray_label.setToolTip(NO_TRAY)
            window.statusBar().addPermanentWidget(self.no_tray_label)
            window.statusBar().showMessage(NO_TRAY, 15000)
            return
        icon = window.windowIcon()
        if icon.isNull():
            icon = window.style().standardIcon(QStyle.StandardPixmap.SP_ComputerIcon)
        self.icon = QSystemTrayIcon(icon, self)
        self.icon.setToolTip("ITA Desktop")
        self.icon.setContextMenu(menu)
        self.icon.messageClicked.connect(self.open_last)
        self.icon.show()

    # -- menu actions ---------------------------------------------------------------------------
    @property
    def paused(self) -> bool:
        return self.pause_action.isChecked()

    def set_paused(self, on: bool) -> None:
        """Pause (or resume) live processing; the menu's check follows."""
        if self.pause_action.isChecked() != on:
            self.pause_action.setChecked(on)  # comes back here through toggled
            return
        self.pause_action.setText("Resume live" if on else "Pause live")
        self._pause(on)
        self.window.statusBar().showMessage("Live paused: no bars processed until Resume" if on else "Live resumed",
                                            8000)
        self.paused_changed.emit(on)

    def set_muted(self, on: bool) -> None:
        if self.mute_action.isChecked() != on:
            self.mute_action.setChecked(on)
            return
        self.sounds.muted = on

    # -- notifications ----------------------------------------------------------------------------
    def on_signal(self, event: SignalRaised) -> None:
        """A raised signal: remembered (for the click), a message and its sound unless quiet hours say no."""
        title, text = message_text(event)
        self._notify("signal", event.occurrence_key, title, text, event.signal_utc)

    def on_update(self, event: SignalUpdated) -> None:
        """A paper-trade update of a kind chosen in ``outputs.tray.updates``: a message and its sound."""
        if event.state not in self.tray_settings().updates:
            return
        title, text = update_message(event)
        self._notify(event.state, event.occurrence_key, title, text, event.time_utc)

    def _notify(self, kind: str, key: str, title: str, text: str, at: int) -> None:
        settings = self.tray_settings()
        if in_quiet_hours(settings.quiet_hours, self.clock()):
            self.noted.emit(kind, key, title, text, "quiet hours", int(at))
            return
        self.last_key = key or None
        if self.icon is not None:
            self.icon.showMessage(title, text, QSystemTrayIcon.MessageIcon.Information, 10000)
        if settings.sounds:
            self.sounds.play(kind)
            if self.sounds.why:
                self.window.statusBar().showMessage(self.sounds.why, 8000)
        self.noted.emit(kind, key, title, text, "shown" if self.icon is not None else "no tray", int(at))

    # -- the window -----------------------------------------------------------------------------
    def bring_up(self) -> None:
        self.window.showNormal()
        self.window.raise_()
        self.window.activateWindow()

    def open_last(self) -> None:
        """The message was clicked: the window up, the chart at the last message's signal."""
        self.bring_up()
        if self.last_key is not None:
            self.open_key(self.last_key)

    def open_key(self, key: str) -> None:
        """The chart at the stored signal ``key`` (read on a worker)."""
        load = self.load
        self.runner.start("Open signal", lambda _ctx: load(key),
                          lambda record: record is not None and self.show_signal(record),
                          lambda message: self.window.statusBar().showMessage(f"Cannot open the signal: {message}", 8000))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        """Minimise to tray (``outputs.tray.minimize_to_tray``): a minimised window hides; the tray brings it back."""
        if watched is self.window and event.type() == QEvent.Type.WindowStateChange and self.icon is not None \
                and self.window.isMinimized() and self.tray_settings().minimize_to_tray:
            QTimer.singleShot(0, self.window.hide)
        return False
