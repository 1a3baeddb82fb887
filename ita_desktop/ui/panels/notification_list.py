"""The window's Notifications list: every notification with where it went and what became of it.

Two kinds of rows, the latest signal or update first (rows are dated by the signal's or update's
time, so a replay's notifications sit at the replayed day): the tray's own (shown, held back by quiet hours, or listed here
because the desktop has no tray) and the outbox's, one per channel (Telegram, Notion) with its status
(pending, sending, sent, refused) and the far side's words as the outbox keeps them (a refusal shows
exactly what Telegram or Notion said). A click on a row puts the chart at its signal (``chosen``).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

COLUMNS = ("Signal / update (UTC)", "Channel", "Event", "Notification", "Status", "Far side's answer")
KEY_ROLE = Qt.ItemDataRole.UserRole
MAX_LOCAL = 500  # tray rows kept in the list (the outbox's are read from the store)


def _when(seconds: float | int | None) -> str:
    if seconds is None:
        return ""
    return datetime.fromtimestamp(float(seconds), timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def outbox_title(row: Any) -> str:
    """A readable line for an outbox row (an OutboxRow): the signal, its update, or a test."""
    p = row.payload
    if row.event == "signal":
        side = "LONG" if p.get("direction", 0) > 0 else "SHORT"
        return f"{side} {p.get('symbol', '')} {p.get('timeframe', '')} {p.get('rule_id', '')} v{p.get('rule_version', '')}"
    if row.event == "test":
        return str(p.get("text", "test message"))
    return f"{p.get('symbol', '')} {p.get('rule_id', '')}: {row.event}"


def outbox_time(row: Any) -> float | None:
    p = row.payload
    return p.get("signal_time") if row.event == "signal" else p.get("time_utc")


class NotificationList(QWidget):
    """``add_local`` (the tray's notifications) and ``set_outbox`` (the outbox's rows); ``chosen(key)`` on a click."""

    chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tree = QTreeWidget()
        self.tree.setObjectName("notificationList")
        self.tree.setColumnCount(len(COLUMNS))
        self.tree.setHeaderLabels(list(COLUMNS))
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.itemClicked.connect(self._clicked)
        self.tree.itemActivated.connect(self._clicked)
        for column, width in enumerate((150, 70, 70, 260, 80)):
            self.tree.setColumnWidth(column, width)
        self.summary = QLabel("No notifications yet")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.summary)
        layout.addWidget(self.tree, 1)
        self._local: list[tuple[float, str, str, str, str]] = []  # (time, kind, key, title, how)
        self._outbox: list[Any] = []

    def add_local(self, kind: str, key: str, title: str, text: str, how: str, at: int) -> None:
        """A tray notification (``how``: shown, quiet hours, no tray; ``at``: its signal's or update's UTC time)."""
        del text  # the title says it in one line; the tray message had both
        self._local.insert(0, (float(at), kind, key, title, how))
        del self._local[MAX_LOCAL:]
        self._fill()

    def set_outbox(self, rows: list[Any]) -> None:
        """The outbox's rows (newest first), as ``core.outputs.notifications()`` reads them."""
        self._outbox = rows
        self._fill()

    def _fill(self) -> None:
        items: list[tuple[float, QTreeWidgetItem]] = []
        for at, kind, key, title, how in self._local:
            item = QTreeWidgetItem([_when(at), "tray", kind, title, how, ""])
            item.setData(0, KEY_ROLE, key)
            items.append((at, item))
        refused = 0
        for row in self._outbox:
            words = row.last_error or ""
            if row.status == "sent" and row.remote_ref:
                words = f"message {row.remote_ref}"
            item = QTreeWidgetItem([_when(outbox_time(row)), row.channel, row.event, outbox_title(row), row.status, words])
            item.setToolTip(5, words)
            item.setData(0, KEY_ROLE, row.signal_key)
            if row.status == "refused":
                refused += 1
                for column in (4, 5):
                    item.setForeground(column, Qt.GlobalColor.red)
            items.append((float(outbox_time(row) or 0), item))
        items.sort(key=lambda pair: -pair[0])  # stable: equal times keep tray rows before the channels'
        self.tree.clear()
        self.tree.addTopLevelItems([item for _at, item in items])
        count = len(items)
        self.summary.setText(f"{count} notification{'s' if count != 1 else ''}"
                             + (f", {refused} refused (the far side's words are in the last column)" if refused else ""))

    def row_of(self, channel: str, status: str | None = None) -> QTreeWidgetItem | None:
        """The first listed row of ``channel`` (and ``status``): what a test or a look for a refusal reads."""
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if item.text(1) == channel and (status is None or item.text(4) == status):
                return item
        return None

    def _clicked(self, item: QTreeWidgetItem, _column: int = 0) -> None:
        key = item.data(0, KEY_ROLE)
        if key and not str(key).startswith("test-"):
            self.chosen.emit(str(key))
