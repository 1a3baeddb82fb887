"""The Journal panel: the trader's feedback entries with filters, a calendar of R per day, statistics by setup
tag and by mistake, the tag lists, and the picture and notes of the selected entry.

Everything is read through ``core.journal`` in a job (the GUI thread only fills tables); the calendar and
the statistics are the same functions ``ita journal list`` prints (``learning.journal_stats``). A click
on an entry emits ``entry_chosen`` (the window puts the chart there); a double-click or Edit opens the
feedback form (``edit_requested``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QDate, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView, QCheckBox, QComboBox, QDateEdit, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QListWidget,
    QPushButton, QSizePolicy, QSplitter, QTableWidget, QTableWidgetItem, QTabWidget, QTextBrowser, QVBoxLayout,
    QWidget,
)

from ita_desktop.learning.journal_stats import (
    DAY_ZONE, OUTCOMES, DayR, JournalEntry, TagStats, month_grid, r_per_day, stats_by,
)
from ita_desktop.ui.panels.feedback_dialog import picture_pixmap

if TYPE_CHECKING:
    from ita_desktop.core.journal_service import JournalService
    from ita_desktop.ui.job_bridge import JobBridge
    from ita_desktop.ui.theme import Theme

ANY = "any outcome"
COLUMNS = ("Signal (UTC)", "Rule", "Symbol", "On", "Taken", "Label", "Grade", "R", "Tags", "Mistakes")
STAT_COLUMNS = ("Tag", "Count", "Trades", "Win rate", "Expectancy R", "Total R")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
FULL_COLOUR_R = 3.0  # a day at +-3R (or more) is drawn in the full up/down colour
PICTURE_WIDTH = 300


@dataclass
class JournalView:
    """One refresh's result: the entries the filters pick, every entry (for the filters' choices), the tag lists."""

    entries: list[JournalEntry]
    everything: list[JournalEntry]
    tags: dict[str, list[str]]


def _utc(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%d %H:%M")


def row_values(e: JournalEntry) -> list[str]:
    f = e.feedback
    taken = "–" if f.taken is None else "taken" if f.taken else f"skipped{': ' + f.skip_reason if f.skip_reason else ''}"
    return [_utc(f.signal_time), f"{f.rule_id} v{f.rule_version}", f.symbol, f.target_kind, taken, f.label or "–",
            f.grade or "–", "–" if e.r is None else f"{e.r:+.2f}", ", ".join(f.tags), ", ".join(f.mistakes)]


def _blend(base: str, colour: str, weight: float) -> QColor:
    a, b = QColor(base), QColor(colour)
    w = max(0.0, min(1.0, weight))
    return QColor(round(a.red() + (b.red() - a.red()) * w), round(a.green() + (b.green() - a.green()) * w),
                  round(a.blue() + (b.blue() - a.blue()) * w))


class JournalPanel(QWidget):
    entry_chosen = Signal(object)  # JournalEntry
    edit_requested = Signal(object)  # JournalEntry
    listed = Signal(int)  # entries shown after a refresh

    def __init__(self, runner: JobBridge, journal: JournalService, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("journalPanel")
        self.runner, self.journal, self.theme = runner, journal, theme
        self.entries: list[JournalEntry] = []
        self.days: dict[date, DayR] = {}
        self.month = date.today().replace(day=1)
        self._month_set = False
        self._asked = 0  # refreshes asked for: only the latest one's result is shown (jobs may finish out of order)
        self._build()

    # -- building -----------------------------------------------------------------------------
    def _build(self) -> None:
        self.rule_box, self.version_box, self.symbol_box, self.tag_box = (QComboBox() for _ in range(4))
        self.outcome_box = QComboBox()
        self.outcome_box.addItems([ANY, *OUTCOMES])
        self.dates = QCheckBox("From")
        self.start_edit, self.end_edit = QDateEdit(), QDateEdit()
        for edit in (self.start_edit, self.end_edit):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
            edit.setDate(QDate.currentDate())
            edit.dateChanged.connect(self._on_dates)
        self.dates.toggled.connect(lambda _on: self.refresh())
        for box, first in ((self.rule_box, "any rule"), (self.version_box, "any version"),
                           (self.symbol_box, "any symbol"), (self.tag_box, "any tag")):
            box.addItem(first)
            box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        for box in (self.rule_box, self.version_box, self.symbol_box, self.tag_box, self.outcome_box):
            box.currentIndexChanged.connect(self.refresh)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.refresh)
        self.edit_button = QPushButton("Edit feedback…")
        self.edit_button.setEnabled(False)
        self.edit_button.clicked.connect(self._edit_selected)
        self.count_label = QLabel("")
        self.count_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        filters = QHBoxLayout()
        for w in (self.rule_box, self.version_box, self.symbol_box, self.tag_box, self.outcome_box, self.dates,
                  self.start_edit, QLabel("to"), self.end_edit, self.refresh_button, self.edit_button):
            filters.addWidget(w)
        filters.addWidget(self.count_label, 1)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Expanding)
        self.table.itemSelectionChanged.connect(self._on_selected)
        self.table.cellDoubleClicked.connect(lambda row, _c: self._edit_row(row))

        self.picture = QLabel("No entry selected")
        self.picture.setObjectName("journalPicture")
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.picture.setMinimumWidth(160)
        self.notes = QTextBrowser()
        self.notes.setObjectName("journalNotes")
        detail = QSplitter(Qt.Orientation.Horizontal)
        detail.addWidget(self.picture)
        detail.addWidget(self.notes)
        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(self.table)
        left.addWidget(detail)
        left.setSizes([300, 160])

        self.tabs = QTabWidget()
        self.tabs.addTab(self._build_calendar(), "Calendar")
        self.tag_stats = self._stat_table("Setup tag")
        self.mistake_stats = self._stat_table("Mistake")
        self.tabs.addTab(self.tag_stats, "By tag")
        self.tabs.addTab(self.mistake_stats, "By mistake")
        self.tabs.addTab(self._build_tag_lists(), "Tag lists")
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(self.tabs)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(filters)
        layout.addWidget(split, 1)

    def _build_calendar(self) -> QWidget:
        self.prev_month, self.next_month = QPushButton("◀"), QPushButton("▶")
        self.prev_month.clicked.connect(lambda: self.step_month(-1))
        self.next_month.clicked.connect(lambda: self.step_month(1))
        self.month_label = QLabel("")
        self.month_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.month_total = QLabel("")
        self.calendar = QTableWidget(6, 7)
        self.calendar.setObjectName("journalCalendar")
        self.calendar.setHorizontalHeaderLabels(list(WEEKDAYS))
        self.calendar.verticalHeader().setVisible(False)
        self.calendar.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.calendar.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.calendar.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.calendar.cellClicked.connect(self._on_day_clicked)
        nav = QHBoxLayout()
        nav.addWidget(self.prev_month)
        nav.addWidget(self.month_label, 1)
        nav.addWidget(self.next_month)
        box = QWidget()
        column = QVBoxLayout(box)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(nav)
        column.addWidget(self.calendar, 1)
        column.addWidget(self.month_total)
        return box

    def _stat_table(self, first: str) -> QTableWidget:
        table = QTableWidget(0, len(STAT_COLUMNS))
        table.setHorizontalHeaderLabels([first, *STAT_COLUMNS[1:]])
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.verticalHeader().setVisible(False)
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        return table

    def _build_tag_lists(self) -> QWidget:
        box = QWidget()
        row = QHBoxLayout(box)
        self.tag_lists: dict[str, QListWidget] = {}
        self.tag_inputs: dict[str, QLineEdit] = {}
        for kind, title in (("setup", "Setup tags"), ("mistake", "Mistakes")):
            column = QVBoxLayout()
            column.addWidget(QLabel(title))
            words = QListWidget()
            self.tag_lists[kind] = words
            column.addWidget(words, 1)
            typed = QLineEdit()
            typed.setPlaceholderText(f"new {'setup tag' if kind == 'setup' else 'mistake'}")
            self.tag_inputs[kind] = typed
            add, remove = QPushButton("Add"), QPushButton("Remove")
            add.clicked.connect(lambda _=False, k=kind: self.add_tag(k, self.tag_inputs[k].text()))
            typed.returnPressed.connect(lambda k=kind: self.add_tag(k, self.tag_inputs[k].text()))
            remove.clicked.connect(lambda _=False, k=kind: self._remove_selected_tag(k))
            buttons = QHBoxLayout()
            buttons.addWidget(typed, 1)
            buttons.addWidget(add)
            buttons.addWidget(remove)
            column.addLayout(buttons)
            row.addLayout(column)
        return box

    # -- reading ----------------------------------------------------------------------------
    def filter(self) -> Any:
        from ita_desktop.core.journal_service import JournalFilter

        def chosen(box: QComboBox) -> str | None:
            return box.currentText() if box.currentIndex() > 0 else None

        start = end = None
        if self.dates.isChecked():
            start = _day_start(self.start_edit.date().toPython())
            end = _day_start(self.end_edit.date().toPython() + timedelta(days=1))
        outcome = self.outcome_box.currentText()
        return JournalFilter(rule_id=chosen(self.rule_box), rule_version=chosen(self.version_box),
                             symbol=chosen(self.symbol_box), tag=chosen(self.tag_box),
                             outcome=None if outcome == ANY else outcome, start_utc=start, end_utc=end)

    def refresh(self) -> None:
        flt, journal = self.filter(), self.journal
        self._asked += 1
        asked = self._asked

        def work(_ctx: Any) -> JournalView:
            return JournalView(journal.entries(flt), journal.entries(), journal.tags())

        def done(view: JournalView) -> None:
            if asked == self._asked:  # a later refresh (other filters) is on its way: this one is stale
                self.show_view(view)

        self.runner.start("Read the journal", work, done,
                          lambda error: self.count_label.setText(f"Cannot read the journal: {error}"))

    def _on_dates(self) -> None:
        if self.dates.isChecked():
            self.refresh()

    # -- showing ------------------------------------------------------------------------------
    def show_view(self, view: JournalView) -> None:
        self._fill_choices(view.everything, view.tags)
        self.entries = list(reversed(view.entries))  # newest first
        self.table.setRowCount(len(self.entries))
        for i, e in enumerate(self.entries):
            for j, text in enumerate(row_values(e)):
                item = QTableWidgetItem(text)
                if j == 7 and e.r is not None:
                    item.setForeground(QColor(self.theme.up if e.r > 0 else self.theme.down if e.r < 0 else self.theme.text))
                self.table.setItem(i, j, item)
        total = sum(e.r for e in self.entries if e.r is not None)
        self.count_label.setText(f"{len(self.entries)} entr{'y' if len(self.entries) == 1 else 'ies'}, {total:+.2f}R")
        self.days = r_per_day(view.entries)
        if not self._month_set and view.entries:
            last = max(self.days)
            self.month = last.replace(day=1)
        self.show_month(self.month)
        self._fill_stats(self.tag_stats, stats_by(view.entries, "tags"))
        self._fill_stats(self.mistake_stats, stats_by(view.entries, "mistakes"))
        for kind, words in self.tag_lists.items():
            words.clear()
            words.addItems(view.tags.get(kind, []))
        self.edit_button.setEnabled(False)
        self.listed.emit(len(self.entries))

    def _fill_choices(self, everything: list[JournalEntry], tags: dict[str, list[str]]) -> None:
        fbs = [e.feedback for e in everything]
        used = {w for f in fbs for w in (*f.tags, *f.mistakes)}
        for box, values in ((self.rule_box, {f.rule_id for f in fbs}), (self.version_box, {f.rule_version for f in fbs}),
                            (self.symbol_box, {f.symbol for f in fbs}),
                            (self.tag_box, used | set(tags.get("setup", [])) | set(tags.get("mistake", [])))):
            current = box.currentText() if box.currentIndex() > 0 else None
            box.blockSignals(True)
            while box.count() > 1:
                box.removeItem(1)
            box.addItems(sorted(values))
            box.setCurrentIndex(max(0, box.findText(current)) if current else 0)
            box.blockSignals(False)

    def _fill_stats(self, table: QTableWidget, rows: list[TagStats]) -> None:
        table.setRowCount(len(rows))
        for i, s in enumerate(rows):
            values = [s.name, str(s.count), str(s.trades), "–" if s.win_rate is None else f"{s.win_rate:.0%}",
                      "–" if s.expectancy_r is None else f"{s.expectancy_r:+.2f}", f"{s.total_r:+.2f}"]
            for j, text in enumerate(values):
                table.setItem(i, j, QTableWidgetItem(text))

    # -- the calendar ---------------------------------------------------------------------------
    @staticmethod
    def _shift(month: date, by: int) -> date:
        index = month.year * 12 + month.month - 1 + by
        return date(index // 12, index % 12 + 1, 1)

    def step_month(self, by: int) -> None:
        """The trader moved the calendar: later refreshes keep the month chosen."""
        self._month_set = True
        self.show_month(self._shift(self.month, by))

    def show_month(self, month: date) -> None:
        """Draw ``month``'s grid: each day's R (and trades), coloured from the theme's down to up colour."""
        self.month = month.replace(day=1)
        self.month_label.setText(self.month.strftime("%B %Y") + f" · R per {DAY_ZONE.split('/')[-1].replace('_', ' ')} day")
        weeks = month_grid(self.month.year, self.month.month)
        self.calendar.clearContents()
        self.calendar.setRowCount(len(weeks))
        month_r = 0.0
        for i, week in enumerate(weeks):
            for j, day in enumerate(week):
                item = QTableWidgetItem("")
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                if day is not None:
                    d = self.days.get(day)
                    text = str(day.day)
                    if d is not None and d.trades:
                        month_r += d.r
                        text += f"\n{d.r:+.2f}R ({d.trades})"
                        if abs(d.r) > 1e-9:  # a flat day keeps the plain background
                            colour = self.theme.up if d.r > 0 else self.theme.down
                            item.setBackground(_blend(self.theme.base, colour, 0.25 + 0.75 * abs(d.r) / FULL_COLOUR_R))
                    elif d is not None:
                        text += f"\n{d.entries} entr."
                    item.setText(text)
                    item.setData(Qt.ItemDataRole.UserRole, day.isoformat())
                self.calendar.setItem(i, j, item)
        self.month_total.setText(f"{self.month.strftime('%B')}: {month_r:+.2f}R")

    def day_cell(self, day: date) -> QTableWidgetItem | None:
        for i in range(self.calendar.rowCount()):
            for j in range(7):
                item = self.calendar.item(i, j)
                if item is not None and item.data(Qt.ItemDataRole.UserRole) == day.isoformat():
                    return item
        return None

    def _on_day_clicked(self, row: int, col: int) -> None:
        """A day in the calendar: the list selects that day's first entry."""
        item = self.calendar.item(row, col)
        key = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        if not key:
            return
        from ita_desktop.learning.journal_stats import trading_day

        for i, e in enumerate(self.entries):
            if trading_day(e.feedback.signal_time).isoformat() == key:
                self.table.selectRow(i)
                return

    # -- the selected entry -------------------------------------------------------------------
    def selected(self) -> JournalEntry | None:
        rows = self.table.selectionModel().selectedRows()
        return self.entries[rows[0].row()] if rows and rows[0].row() < len(self.entries) else None

    def _on_selected(self) -> None:
        e = self.selected()
        self.edit_button.setEnabled(e is not None)
        if e is None:
            return
        self.show_entry(e)
        self.entry_chosen.emit(e)

    def show_entry(self, e: JournalEntry) -> None:
        f = e.feedback
        pixmap = picture_pixmap(f.picture_path, PICTURE_WIDTH)
        if pixmap is not None:
            self.picture.setPixmap(pixmap)
        else:
            self.picture.clear()
            self.picture.setText("No picture" if not f.picture_path else f"Picture missing:\n{f.picture_path}")
        lines = [f"<b>{f.rule_id} v{f.rule_version}</b> · {f.symbol} · {_utc(f.signal_time)} UTC · {f.target_kind}",
                 f"Outcome: {e.outcome}" + ("" if e.r is None else f" ({e.r:+.2f}R)"),
                 f"Label: {f.label or '–'} · Grade: {f.grade or '–'}"
                 + (" · taken" if f.taken else f" · skipped: {f.skip_reason or '–'}" if f.taken is False else ""),
                 f"Setup tags: {', '.join(f.tags) or '–'}", f"Mistakes: {', '.join(f.mistakes) or '–'}",
                 f"Emotions: {f.emotions or '–'}"]
        self.notes.setHtml("<br>".join(lines) + "<hr>" + (f.notes or "<i>no notes</i>").replace("\n", "<br>"))

    def _edit_selected(self) -> None:
        e = self.selected()
        if e is not None:
            self.edit_requested.emit(e)

    def _edit_row(self, row: int) -> None:
        if 0 <= row < len(self.entries):
            self.edit_requested.emit(self.entries[row])

    # -- tag lists ----------------------------------------------------------------------------
    def add_tag(self, kind: str, name: str) -> None:
        name = name.strip()
        if not name:
            return
        self.tag_inputs[kind].clear()
        journal = self.journal
        self.runner.start("Add a tag", lambda _ctx: journal.add_tag(kind, name), lambda _r: self.refresh(),
                          lambda error: self.count_label.setText(f"Cannot add the tag: {error}"))

    def remove_tag(self, kind: str, name: str) -> None:
        journal = self.journal
        self.runner.start("Remove a tag", lambda _ctx: journal.remove_tag(kind, name), lambda _r: self.refresh(),
                          lambda error: self.count_label.setText(f"Cannot remove the tag: {error}"))

    def _remove_selected_tag(self, kind: str) -> None:
        item = self.tag_lists[kind].currentItem()
        if item is not None:
            self.remove_tag(kind, item.text())


def _day_start(day: date) -> int:
    """00:00 UTC of ``day`` (the date filter is in UTC, as the list's times)."""
    return int(datetime.combine(day, time(0), timezone.utc).timestamp())
