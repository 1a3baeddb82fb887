"""The system-tray face of live signals: an icon with a menu, one message per raised signal, and a
click on the message that brings the window up with the chart at that signal.

Qt's ``messageClicked`` carries no id, so the tray remembers the last message's signal. Where the
platform has no tray (a headless or tray-less desktop) nothing is shown there and the status bar
says why; the Signals panel lists the same signals either way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QApplication, QLabel, QMainWindow, QMenu, QStyle, QSystemTrayIcon

from ita_desktop.bus.events import SignalRaised

NO_TRAY = "No system tray on this desktop: signals are listed in the Signals panel only"


def message_text(event: SignalRaised) -> tuple[str, str]:
    side = "LONG" if event.direction > 0 else "SHORT"
    return f"{side} {event.symbol} {event.timeframe}", f"{event.rule_id} v{event.rule_version} signalled"


class SignalTray(QObject):
    """``show_signal(record)`` puts the chart at a stored signal; ``load(key)`` reads it (runs on a worker)."""

    def __init__(self, window: QMainWindow, runner: Any, load: Callable[[str], Any],
                 show_signal: Callable[[Any], None]) -> None:
        super().__init__(window)
        self.window, self.runner, self.load, self.show_signal = window, runner, load, show_signal
        self.last_key: str | None = None
        self.available = QSystemTrayIcon.isSystemTrayAvailable()
        self.icon: QSystemTrayIcon | None = None
        self.no_tray_label: QLabel | None = None
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
        menu = QMenu(window)
        menu.addAction("Show window", self.bring_up)
        menu.addAction("Quit", QApplication.quit)
        self.icon.setContextMenu(menu)
        self.icon.messageClicked.connect(self.open_last)
        self.icon.show()

    def on_signal(self, event: SignalRaised) -> None:
        """A raised signal: remembered (for the click) and shown as a tray message when there is a tray."""
        self.last_key = event.occurrence_key or None
        if self.icon is not None:
            title, text = message_text(event)
            self.icon.showMessage(title, text, QSystemTrayIcon.MessageIcon.Information, 10000)

    def bring_up(self) -> None:
        self.window.showNormal()
        self.window.raise_()
        self.window.activateWindow()

    def open_last(self) -> None:
        """The message was clicked: the window up, the chart at the last message's signal."""
        self.bring_up()
        key = self.last_key
        if key is None:
            return
        load = self.load
        self.runner.start("Open signal", lambda _ctx: load(key),
                          lambda record: record is not None and self.show_signal(record),
                          lambda message: self.window.statusBar().showMessage(f"Cannot open the signal: {message}", 8000))
