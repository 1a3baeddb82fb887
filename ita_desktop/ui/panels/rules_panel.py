"""The Rules list: each rule of the shipped and the user rules folders, its versions (latest marked, origin
shown) and their latest results; "Open run" reopens a version's latest stored run without recomputing it.

Reading and validating the files and the stored runs happens in a job (a rules folder on a
network drive, or a big runs table, must not freeze the window). A broken file is a row like
any other, showing its first problem as ``file:line:col: message`` and all of them below the
list when selected: the trader sees what to fix instead of a missing rule.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QHBoxLayout, QHeaderView, QLabel, QMenu, QPushButton, QSizePolicy, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget,
)

from ita_desktop.core.rules_service import RuleChoice, VersionEntry
from ita_desktop.ui.job_bridge import JobBridge

if TYPE_CHECKING:
    from ita_desktop.core.rules_service import RulesService

COLUMNS = ("Rule / version", "Status", "Trades", "Win %", "Exp. R", "Net P/L")
BROKEN = "#ef5350"
WARNED = "#ffa726"


def _num(value: object, fmt: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return format(value, fmt)


class RulesPanel(QWidget):
    """``rule_chosen(RuleChoice)`` when a valid version (or a rule: its latest) is selected; ``listed`` after a refresh."""

    rule_chosen = Signal(object)
    rule_activated = Signal(object)  # double-click: the trader wants to test it now
    listed = Signal(list)  # list[VersionEntry]
    run_requested = Signal(int)  # "Open run": the run_id of the selected version's latest stored run
    edit_requested = Signal(object)  # "Edit": the selected version (RuleChoice) to open in the rule editor

    def __init__(self, runner: JobBridge, rules: RulesService, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("rulesPanel")
        self.runner = runner
        self.rules = rules
        self.entries: list[VersionEntry] = []
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(list(COLUMNS))
        self.tree.setRootIsDecorated(True)
        self.tree.setUniformRowHeights(True)
        header = self.tree.header()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        # the Status text takes the spare width, so Net P/L's header stays right above its values
        header.setStretchLastSection(False)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        for col in range(2, len(COLUMNS)):
            self.tree.headerItem().setTextAlignment(col, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.tree.currentItemChanged.connect(self._on_current)
        self.tree.itemDoubleClicked.connect(self._on_activated)
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.refresh)
        self.open_run_button = QPushButton("Open run")
        self.open_run_button.setToolTip("show the selected version's latest stored run (statistics, trades, chart)")
        self.open_run_button.setEnabled(False)
        self.open_run_button.clicked.connect(self._request_run)
        # right-click a version: Edit in the rule editor (a menu, not a button: the bottom docks' width is tight)
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(self._context_menu)
        self.folder_label = QLabel(f"shipped: {rules.shipped_dir}   ·   yours: {rules.user_dir}")
        self.folder_label.setToolTip("rules folders: the shipped examples (read-only) and your own")
        self.folder_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        top = QHBoxLayout()
        top.addWidget(self.folder_label, 1)
        top.addWidget(self.refresh_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.details)
        layout.addWidget(self.open_run_button, 0, Qt.AlignmentFlag.AlignLeft)

    def refresh(self) -> None:
        """List both rules folders again, with the stored runs' stats once the store is open (a job)."""
        rules = self.rules
        self.refresh_button.setEnabled(False)
        self.runner.start("List rules", lambda _ctx: rules.list(), self._show, self._failed)

    def _request_run(self) -> None:
        entry = self.selected()
        if entry is not None and entry.run_id is not None:
            self.run_requested.emit(entry.run_id)

    def context_menu_for(self, entry: VersionEntry | None) -> QMenu:
        """The right-click menu of a row: Edit in the rule editor, Open run."""
        menu = QMenu(self)
        edit = menu.addAction("Edit in the rule editor")
        edit.setEnabled(entry is not None)
        if entry is not None:
            edit.triggered.connect(lambda: self.edit_requested.emit(entry.choice))
        run = menu.addAction("Open run")
        run.setEnabled(entry is not None and entry.run_id is not None)
        run.triggered.connect(self._request_run)
        return menu

    def _context_menu(self, pos) -> None:
        item = self.tree.itemAt(pos)
        if item is not None:
            self.tree.setCurrentItem(item)
        self.context_menu_for(self.selected()).exec(self.tree.viewport().mapToGlobal(pos))

    def _failed(self, message: str) -> None:
        self.refresh_button.setEnabled(True)
        self.details.setText(f"Could not list the rules: {message}")

    def _show(self, entries: list[VersionEntry]) -> None:
        self.refresh_button.setEnabled(True)
        selected = self.selected()
        self.entries = entries
        self.tree.blockSignals(True)
        self.tree.clear()
        parents: dict[str, QTreeWidgetItem] = {}
        for entry in entries:
            parent = parents.get(entry.rule_id)
            if parent is None:
                parent = QTreeWidgetItem([entry.rule_id])
                parent.setToolTip(0, entry.name or entry.rule_id)
                self.tree.addTopLevelItem(parent)
                parents[entry.rule_id] = parent
            parent.addChild(self._row(entry))
            if entry.latest:
                parent.setData(0, Qt.ItemDataRole.UserRole, entry)
                parent.setText(1, "broken" if not entry.valid else entry.timeframe)
                if not entry.valid:
                    parent.setForeground(1, QBrush(QColor(BROKEN)))
        self.tree.expandAll()
        self.tree.blockSignals(False)
        if selected is not None:
            self.select(selected.rule_id, selected.version, emit=False)
        self.listed.emit(entries)

    def _row(self, entry: VersionEntry) -> QTreeWidgetItem:
        title = f"v{entry.version}" + ("  (latest)" if entry.latest else "") + ("  · yours" if entry.origin == "user" else "")
        if entry.valid:
            status = f"ok · {entry.timeframe}" + (f" · run {entry.run_id}" if entry.run_id is not None else "")
            if entry.warnings:
                status += " · ⚠ " + entry.warnings[0].split("warning: ", 1)[-1]
        else:
            status = entry.problems[0]
        s = entry.stats
        win = s.get("win_rate")
        item = QTreeWidgetItem([title, status, _num(s.get("trades"), "d"),
                                _num(win * 100 if isinstance(win, float) else None, ".1f"),
                                _num(s.get("expectancy_r"), "+.2f"), _num(s.get("net_pnl"), ",.2f")])
        item.setData(0, Qt.ItemDataRole.UserRole, entry)
        item.setToolTip(1, "\n".join(entry.problems + entry.warnings) or str(entry.path))
        if not entry.valid:
            item.setForeground(1, QBrush(QColor(BROKEN)))
        elif entry.warnings:
            item.setForeground(1, QBrush(QColor(WARNED)))
        for col in range(2, len(COLUMNS)):
            item.setTextAlignment(col, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        font = item.font(0)
        font.setBold(entry.latest)
        item.setFont(0, font)
        return item

    # -- selection ----------------------------------------------------------------------
    def selected(self) -> VersionEntry | None:
        item = self.tree.currentItem()
        return item.data(0, Qt.ItemDataRole.UserRole) if item is not None else None

    def item_of(self, rule_id: str, version: str | None = None) -> QTreeWidgetItem | None:
        """The row of a version, or of the rule itself when ``version`` is None."""
        for i in range(self.tree.topLevelItemCount()):
            parent = self.tree.topLevelItem(i)
            if parent.text(0) != rule_id:
                continue
            if version is None:
                return parent
            for j in range(parent.childCount()):
                child = parent.child(j)
                if child.data(0, Qt.ItemDataRole.UserRole).version == version:
                    return child
        return None

    def select(self, rule_id: str, version: str | None = None, *, emit: bool = True) -> bool:
        item = self.item_of(rule_id, version)
        if item is None:
            return False
        if not emit:
            self.tree.blockSignals(True)
        self.tree.setCurrentItem(item)
        self.tree.blockSignals(False)
        self._describe(item.data(0, Qt.ItemDataRole.UserRole))
        return True

    def _on_current(self, item: QTreeWidgetItem | None, _previous: QTreeWidgetItem | None) -> None:
        entry: VersionEntry | None = item.data(0, Qt.ItemDataRole.UserRole) if item is not None else None
        self._describe(entry)
        if entry is not None and entry.valid:
            self.rule_chosen.emit(RuleChoice(entry.rule_id, entry.version, entry.path))

    def _on_activated(self, item: QTreeWidgetItem, _column: int) -> None:
        entry: VersionEntry | None = item.data(0, Qt.ItemDataRole.UserRole)
        if entry is not None and entry.valid:
            self.rule_activated.emit(entry.choice)

    def _describe(self, entry: VersionEntry | None) -> None:
        self.open_run_button.setEnabled(entry is not None and entry.run_id is not None)
        if entry is None:
            self.details.clear()
        elif entry.valid:
            origin = "yours" if entry.origin == "user" else "shipped (read-only)"
            self.details.setText(f"<b>{entry.rule_id} v{entry.version}</b> — {entry.name}<br>{entry.path} · {origin}")
        else:
            lines = "<br>".join(p.replace("&", "&amp;").replace("<", "&lt;") for p in entry.problems)
            self.details.setText(f"<span style='color:{BROKEN}'><b>{entry.rule_id} v{entry.version} is broken"
                                 f"</b></span><br>{lines}")

    def problems_text(self) -> str:
        return "\n".join(p for e in self.entries for p in e.problems)
