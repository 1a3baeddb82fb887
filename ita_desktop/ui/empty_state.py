"""What the window shows before there is anything to chart: a way to get data in two clicks."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget


class EmptyState(QWidget):
    """Offers demo data and a CSV import; ``set_message`` shows progress or what went wrong."""

    demo_requested = Signal()
    import_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("emptyState")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)  # let the QSS paint its background
        self.title = QLabel("No market data yet")
        self.title.setObjectName("emptyTitle")
        self.text = QLabel(
            "Import a CSV export from MetaTrader 5 (or any OHLC file), or try the app on made-up\n"
            "demo bars. Demo data is labelled DEMO everywhere so it is never mistaken for a feed."
        )
        self.text.setObjectName("emptyText")
        self.demo_button = QPushButton("Try demo data")
        self.demo_button.setObjectName("demoButton")
        self.import_button = QPushButton("Import CSV…")
        self.import_button.setObjectName("importButton")
        self.import_button.setDefault(True)
        self.message = QLabel("")
        self.message.setObjectName("emptyMessage")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.demo_button.clicked.connect(self.demo_requested)
        self.import_button.clicked.connect(self.import_requested)

        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.import_button)
        buttons.addWidget(self.demo_button)
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

    def set_busy(self, busy: bool, message: str = "") -> None:
        self.demo_button.setEnabled(not busy)
        self.import_button.setEnabled(not busy)
        self.message.setText(message)
