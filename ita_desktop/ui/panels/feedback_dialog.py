"""The feedback form on one signal or backtest trade: taken or skipped (and why), the label, a grade, setup and
mistake tags from the trader's own lists (new words join the lists), emotions, notes and the chart picture.

A plain form: it reads a ``Feedback`` in and gives one back (``feedback()``), plus the chart picture (a
QImage grabbed when Save is pressed, a few ms; encoded to PNG by the caller's job) when "Attach" is ticked. Saving is the caller's job (a job on the engine: the GUI thread
never writes to the store). Non-modal, so the trader can look at the chart while writing.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QListWidget,
    QListWidgetItem, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget,
)

if TYPE_CHECKING:  # the window module loads no ORM at start-up
    from ita_desktop.storage.feedback_store import Feedback

TAKEN = ("not said", "taken", "skipped")
LABELS = ("", "valid", "invalid")
GRADES = ("", "A+", "A", "B", "C", "D")


class TagPicker(QWidget):
    """Checkable words from the trader's list, and a box to add a new one (it joins the list on save)."""

    def __init__(self, words: list[str], chosen: list[str], placeholder: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.list = QListWidget()
        self.list.setMaximumHeight(110)
        self.new = QLineEdit()
        self.new.setPlaceholderText(placeholder)
        self.new.returnPressed.connect(self.add_typed)
        add = QPushButton("Add")
        add.clicked.connect(self.add_typed)
        for word in sorted(set(words) | set(chosen)):
            self._item(word, word in chosen)
        row = QHBoxLayout()
        row.addWidget(self.new, 1)
        row.addWidget(add)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list)
        layout.addLayout(row)

    def _item(self, word: str, checked: bool) -> None:
        item = QListWidgetItem(word)
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
        self.list.addItem(item)

    def add_typed(self) -> None:
        word = self.new.text().strip()
        if not word:
            return
        found = self.list.findItems(word, Qt.MatchFlag.MatchExactly)
        if found:
            found[0].setCheckState(Qt.CheckState.Checked)
        else:
            self._item(word, True)
        self.new.clear()

    def chosen(self) -> list[str]:
        return [self.list.item(i).text() for i in range(self.list.count())
                if self.list.item(i).checkState() == Qt.CheckState.Checked]

    def set_chosen(self, words: list[str]) -> None:
        for word in words:
            self.new.setText(word)
            self.add_typed()


class FeedbackDialog(QDialog):
    """``saved(feedback, chart_image_or_None)`` when the trader presses Save."""

    saved = Signal(object, object)

    def __init__(self, feedback: Feedback, tag_lists: dict[str, list[str]], title: str,
                 grab_chart: Callable[[], QImage] | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("feedbackDialog")
        self.setWindowTitle(f"Feedback · {title}")
        self._base = feedback
        self._grab = grab_chart
        when = datetime.fromtimestamp(feedback.signal_time, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        header = QLabel(f"<b>{feedback.rule_id} v{feedback.rule_version}</b> · {feedback.symbol} · {when} · "
                        f"{feedback.target_kind} {feedback.target_key}")
        header.setWordWrap(True)
        self.taken = QComboBox()
        self.taken.addItems(TAKEN)
        self.taken.setCurrentIndex(0 if feedback.taken is None else 1 if feedback.taken else 2)
        self.skip_reason = QLineEdit(feedback.skip_reason or "")
        self.skip_reason.setPlaceholderText("why skipped (news, spread, late, ...)")
        self.taken.currentIndexChanged.connect(self._on_taken)
        self.label = QComboBox()
        self.label.addItems(LABELS)
        self.label.setCurrentText(feedback.label or "")
        self.grade = QComboBox()
        self.grade.setEditable(True)
        self.grade.addItems(GRADES)
        self.grade.setCurrentText(feedback.grade or "")
        self.tags = TagPicker(tag_lists.get("setup", []), feedback.tags, "new setup tag")
        self.mistakes = TagPicker(tag_lists.get("mistake", []), feedback.mistakes, "new mistake")
        self.emotions = QLineEdit(feedback.emotions or "")
        self.emotions.setPlaceholderText("calm, FOMO, hesitant, ...")
        self.notes = QPlainTextEdit(feedback.notes or "")
        self.notes.setMinimumHeight(70)
        self.attach = QCheckBox("Attach the chart as it is now" if grab_chart else "No chart to attach")
        self.attach.setEnabled(grab_chart is not None)
        self.attach.setChecked(grab_chart is not None and not feedback.picture_path)
        self.picture_note = QLabel(f"picture kept: {feedback.picture_path}" if feedback.picture_path else "")
        self.picture_note.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Taken", self.taken)
        form.addRow("Why skipped", self.skip_reason)
        form.addRow("Label", self.label)
        form.addRow("Grade", self.grade)
        form.addRow("Setup tags", self.tags)
        form.addRow("Mistakes", self.mistakes)
        form.addRow("Emotions", self.emotions)
        form.addRow("Notes", self.notes)
        form.addRow("Picture", self.attach)
        form.addRow("", self.picture_note)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        self.save_button = buttons.button(QDialogButtonBox.StandardButton.Save)
        layout = QVBoxLayout(self)
        layout.addWidget(header)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self._on_taken()

    def _on_taken(self) -> None:
        self.skip_reason.setEnabled(self.taken.currentIndex() == 2)

    def feedback(self) -> Feedback:
        """The form's values on the target it was opened for."""
        index = self.taken.currentIndex()
        return replace(self._base, taken=None if index == 0 else index == 1,
                       skip_reason=self.skip_reason.text().strip() or None if index == 2 else None,
                       label=self.label.currentText() or None, grade=self.grade.currentText().strip() or None,
                       tags=self.tags.chosen(), mistakes=self.mistakes.chosen(),
                       emotions=self.emotions.text().strip() or None,
                       notes=self.notes.toPlainText().strip() or None)

    def save(self) -> None:
        picture = self._grab() if self._grab is not None and self.attach.isChecked() else None
        self.saved.emit(self.feedback(), picture)
        self.accept()


def picture_pixmap(path: str | None, width: int) -> QPixmap | None:
    """A stored picture scaled to ``width`` (None when there is none or it cannot be read)."""
    if not path:
        return None
    pixmap = QPixmap(path)
    if pixmap.isNull():
        return None
    return pixmap.scaledToWidth(width, Qt.TransformationMode.SmoothTransformation)
