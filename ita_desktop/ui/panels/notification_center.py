"""The window's side of notifications: it sends (the core's outbox sender runs while the window does),
shows (the tray, its sounds) and lists (the Notifications dock).

Once the window is ready, the sender job starts on a worker for the enabled channels
(``core.outputs.start_sender``): live signals, and replay signals when the Bar Replay asks, reach
Telegram from the window as from ``ita live --notify``. The list is re-read from the outbox (on a
worker, at most every REFRESH_MS) when a signal, an update or a delivery attempt is on the bus.
The dock is made on first use (a new bottom tab at start-up would change the restored layout).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtWidgets import QDockWidget

from ita_desktop.bus.events import NotificationAttempted, SignalRaised, SignalUpdated
from ita_desktop.ui.panels.notification_list import NotificationList
from ita_desktop.ui.signal_tray import SignalTray
from ita_desktop.ui.tray_sounds import SOUND_KINDS

REFRESH_MS = 250


class NotificationCenter(QObject):
    """Made by the Workbench; ``show_signal(record)`` puts the chart at a stored signal."""

    def __init__(self, window: Any, core: Any, show_signal: Any, replay: Callable[[], Any] | None = None,
                 tab_with: Callable[[], QDockWidget | None] | None = None) -> None:
        """``replay()``: the Bar Replay panel (its ``control`` is paused with live); ``tab_with()``: the bottom
        dock the list goes beside as a tab when it is first shown."""
        super().__init__(window)
        self.window, self.core, self.replay, self.tab_with = window, core, replay, tab_with
        self.sender_note = ""
        self._resume_replay = False
        signals_of = lambda key: core.store.signals.get_many([key]).get(key)  # noqa: E731 (on a worker)
        self.tray = SignalTray(window, window.runner, signals_of, show_signal, lambda: core.settings.outputs.tray,
                               self._pause)
        self.list = NotificationList()
        self.list.chosen.connect(self.tray.open_key)
        self.dock: QDockWidget | None = None
        self.action = window.view_menu.addAction("Notifications", self.show_list)
        self.tray.noted.connect(self._on_noted)
        self._refresh_timer = QTimer(self, singleShot=True, interval=REFRESH_MS)
        self._refresh_timer.timeout.connect(self.refresh)
        self._refreshing = False
        events = window.events
        events.register(SignalRaised, self.tray.on_signal)
        events.register(SignalUpdated, self.tray.on_update)
        for kind in (SignalRaised, SignalUpdated, NotificationAttempted):
            events.register(kind, lambda _event: self._refresh_timer.start())
        window.ready.connect(self._on_ready, Qt.ConnectionType.SingleShotConnection)

    def _on_ready(self) -> None:
        self.start_sender()
        if self.core.settings.outputs.tray.sounds:
            self.load_sounds()

    def load_sounds(self) -> None:
        """QtMultimedia imported on a worker (~20 ms of loading), then one sound made per event-loop turn:
        the GUI thread is never held for the whole (the first signal then finds them ready)."""
        import importlib

        kinds = list(SOUND_KINDS)
        sounds = self.tray.sounds

        def next_one(_result: Any = None) -> None:
            if kinds:
                sounds.preload((kinds.pop(0),))
                QTimer.singleShot(0, next_one)

        self.window.runner.start("Load sounds", lambda _ctx: importlib.import_module("PySide6.QtMultimedia") and None,
                                 next_one, lambda _message: None)  # a failed import is said at the first sound

    # -- sending ---------------------------------------------------------------------------------
    def start_sender(self) -> None:
        """Run the outbox sender for the enabled channels (a worker: it opens the store and the keyring)."""
        outputs = self.core.outputs
        self.window.runner.start("Start notifications", lambda _ctx: outputs.start_sender(), self._on_sender,
                                 self._on_sender_failed)

    def restart_sender(self) -> None:
        """Settings changed (channels, tokens): the sender starts again with them."""
        outputs = self.core.outputs

        def again(_ctx: Any) -> Any:
            outputs.close()
            return outputs.start_sender()

        self.window.runner.start("Restart notifications", again, self._on_sender, self._on_sender_failed)

    def _on_sender(self, sender: Any) -> None:
        if sender is None:
            self.sender_note = "No notification channel is enabled (Settings > Notifications)"
            return
        self.sender_note = f"Sending notifications to {', '.join(sender.names)}"
        self.window.statusBar().showMessage(self.sender_note, 8000)
        self._refresh_timer.start()

    def _on_sender_failed(self, message: str) -> None:
        self.sender_note = f"Notifications not sent: {message}"
        self.window.statusBar().showMessage(self.sender_note, 15000)

    # -- pause -----------------------------------------------------------------------------------
    def _pause(self, on: bool) -> None:
        """The tray's Pause live: MT5 live feeds stop processing, a playing Bar Replay pauses (and plays on)."""
        (self.core.live.pause if on else self.core.live.resume)()
        control = getattr(self.replay(), "control", None) if self.replay is not None else None
        if control is None:
            return
        if on:
            self._resume_replay = not control.paused
            control.pause()
        elif self._resume_replay:
            self._resume_replay = False
            control.play()

    # -- the list ----------------------------------------------------------------------------------
    def show_list(self) -> None:
        """Dock the Notifications list (the first time: a bottom tab) and bring it up."""
        if self.dock is None:
            dock = QDockWidget("Notifications", self.window)
            dock.setObjectName("notificationsDock")
            dock.setWidget(self.list)
            self.window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
            beside = self.tab_with() if self.tab_with is not None else None
            if beside is not None:
                self.window.tabifyDockWidget(beside, dock)
            self.dock = dock
        self.dock.show()
        self.dock.raise_()
        self.refresh()

    def _on_noted(self, kind: str, key: str, title: str, text: str, how: str, at: int) -> None:
        self.list.add_local(kind, key, title, text, how, at)
        if how != "shown" and (self.dock is None or not self.dock.isVisible()):
            self.show_list()  # no tray (or quiet hours): the window's own list shows the same

    def refresh(self) -> None:
        """Re-read the outbox on a worker (one read at a time; a later event reads again)."""
        if self._refreshing or self.core.store_if_open is None:
            return
        self._refreshing = True
        outputs = self.core.outputs
        self.window.runner.start("List notifications", lambda _ctx: outputs.notifications(), self._on_listed,
                                 self._on_list_failed)

    def _on_listed(self, rows: list) -> None:
        self._refreshing = False
        self.list.set_outbox(rows)

    def _on_list_failed(self, message: str) -> None:
        self._refreshing = False
        self.list.summary.setText(f"Cannot read the notifications: {message}")
