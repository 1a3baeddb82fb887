"""What the window shows before there is anything to chart: a way to get data in two clicks."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget


class EmptyState(QWidget):
    """Three buttons into the window's Add data dialog; ``requested`` names its page ("import", "mt5", "demo")."""

    requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("emptyState")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)  # let the QSS paint its background
        self.title = QLabel("No market data yet")
        self.title.setObjectName("emptyTitle")
        self.text = QLabel(
            "Import a CSV export from MetaTrader 5 (or any OHLC file), download bars from an MT5\n"
            "terminal, or try the app on made-up demo bars. Demo data is labelled DEMO everywhere\n"
            "so it is never mistaken for a feed."
        )
        self.text.setObjectName("emptyText")
        self.import_button = QPushButton("Import CSV…")
        self.import_button.setObjectName("importButton")
        self.import_button.setDefault(True)
        self.mt5_button = QPushButton("Connect MT5")
        self.mt5_button.setObjectName("mt5Button")
        self.demo_button = QPushButton("Try demo data")
        self.demo_button.setObjectName("demoButton")
        self.message = QLabel("")
        self.message.setObjectName("emptyMessage")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.import_button.clicked.connect(lambda: self.requested.emit("import"))
        self.mt5_button.clicked.connect(lambda: self.requested.emit("mt5"))
        self.demo_button.clicked.connect(lambda: self.requested.emit("demo"))

        buttons = QHBoxLayout()
        buttons.addStretch(1)
        for button in (self.import_button, self.mt5_button, self.demo_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addStretch(2)
        for label in (self.title, self.text):
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            layout.addWidget(label)
        layout.addSpacing(16)
        layout.addLayout(buttons)
        layout.addSpacing(12)
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self.message)
        layout.addStretch(3)

    def set_unavailable(self, message: str) -> None:
        """The store could not be opened: nothing can be added, and ``message`` says why."""
        for button in (self.import_button, self.mt5_button, self.demo_button):
            button.setEnabled(False)
        self.message.setText(message)
