"""Two versions of a rule side by side: what changed in the text, and their stored results next to each other."""

from __future__ import annotations

import html
import math

from PySide6.QtWidgets import (
    QComboBox, QDialog, QHBoxLayout, QHeaderView, QLabel, QTableWidget, QTableWidgetItem, QTextEdit, QVBoxLayout,
    QWidget,
)

from ita_desktop.core.rule_authoring import RuleAuthoring, VersionPair
from ita_desktop.core.rules_service import VersionEntry

ROWS = (("trades", "Trades", "d"), ("win_rate", "Win rate", "%"), ("expectancy_r", "Expectancy (R)", "+.2f"),
        ("profit_factor", "Profit factor", ".2f"), ("max_drawdown_pct", "Max drawdown", "dd"),
        ("net_pnl", "Net P/L", ",.2f"))


def stat_text(value: object, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float) and math.isinf(value):
        return "∞"
    if fmt == "%":
        return f"{float(value) * 100:.1f}%"
    if fmt == "dd":
        return f"{float(value):.2f}%"
    if fmt == "d":
        return str(int(value))  # type: ignore[call-overload]
    return format(value, fmt)


def diff_html(pair: VersionPair) -> str:
    """The unified diff coloured: removed lines red, added green, hunk headers grey."""
    if not pair.diff:
        return "<i>the two versions have the same text</i>"
    out = []
    for line in pair.diff:
        text = html.escape(line)
        if line.startswith(("+++", "---")):
            out.append(f"<b>{text}</b>")
        elif line.startswith("+"):
            out.append(f"<span style='background:#1b5e20;color:#ffffff'>{text}</span>")
        elif line.startswith("-"):
            out.append(f"<span style='background:#b71c1c;color:#ffffff'>{text}</span>")
        elif line.startswith("@@"):
            out.append(f"<span style='color:#9e9e9e'>{text}</span>")
        else:
            out.append(text)
    return "<pre style='margin:0'>" + "\n".join(out) + "</pre>"


class VersionsDialog(QDialog):
    """Pick any two versions: the diff above, the two latest stored runs' statistics below."""

    def __init__(self, authoring: RuleAuthoring, entries: list[VersionEntry], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ruleVersionsDialog")
        self.authoring = authoring
        self.entries = sorted(entries, key=lambda e: e.version)
        rule_id = entries[0].rule_id if entries else ""
        self.setWindowTitle(f"Versions of {rule_id}")
        self.left, self.right = QComboBox(), QComboBox()
        for box in (self.left, self.right):
            for e in self.entries:
                box.addItem(f"v{e.version}" + ("  · yours" if e.origin == "user" else "  · shipped"))
            box.currentIndexChanged.connect(self.refresh)
        self.diff = QTextEdit()
        self.diff.setReadOnly(True)
        self.diff.setObjectName("ruleDiff")
        self.table = QTableWidget(len(ROWS), 2)
        self.table.setVerticalHeaderLabels([label for _k, label, _f in ROWS])
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setMaximumHeight(230)
        top = QHBoxLayout()
        top.addWidget(QLabel("Compare"))
        top.addWidget(self.left)
        top.addWidget(QLabel("with"))
        top.addWidget(self.right)
        top.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.diff, 1)
        layout.addWidget(QLabel("Latest stored run of each version"))
        layout.addWidget(self.table)
        self.resize(900, 700)
        self.pair: VersionPair | None = None
        if len(self.entries) >= 2:
            self.left.setCurrentIndex(len(self.entries) - 2)
        self.right.setCurrentIndex(len(self.entries) - 1)
        self.refresh()

    def choose(self, left_version: str, right_version: str) -> None:
        versions = [e.version for e in self.entries]
        self.left.setCurrentIndex(versions.index(left_version))
        self.right.setCurrentIndex(versions.index(right_version))
        self.refresh()

    def refresh(self, *_args) -> None:
        if not self.entries:
            self.diff.setPlainText("no versions")
            return
        a, b = self.entries[max(self.left.currentIndex(), 0)], self.entries[max(self.right.currentIndex(), 0)]
        self.pair = self.authoring.compare(a, b)
        self.diff.setHtml(diff_html(self.pair))
        self.table.setHorizontalHeaderLabels([f"v{a.version}", f"v{b.version}"])
        for row, (key, _label, fmt) in enumerate(ROWS):
            for col, entry in enumerate((a, b)):
                text = stat_text(entry.stats.get(key), fmt) if entry.run_id is not None else "no run"
                self.table.setItem(row, col, QTableWidgetItem(text))
