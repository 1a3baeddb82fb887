"""The rule YAML editor widget: colours, line numbers, squiggles, gutter markers, hover and completion.

A QPlainTextEdit (native, no web engine: the installer stays small). It knows nothing about
validation timing: the panel hands it located problems (:meth:`RuleCodeEditor.set_problems`)
and it draws them: a wavy underline under the exact key or value, a dot in the gutter, the
message as the tooltip. Hovering a key shows its help (the schema's description and
docs/rules.md's row); completion lists come from ``rules.editing`` (the JSON Schema).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from PySide6.QtCore import QEvent, QRect, QSize, QStringListModel, Qt, Signal
from PySide6.QtGui import (
    QColor, QFont, QFontDatabase, QKeyEvent, QPainter, QPaintEvent, QSyntaxHighlighter, QTextCharFormat, QTextCursor,
    QTextFormat,
)
from PySide6.QtWidgets import QCompleter, QPlainTextEdit, QTextEdit, QToolTip, QWidget

from ita_desktop.rules import editing

ERROR = QColor("#e53935")
WARNING = QColor("#fb8c00")


@dataclass(frozen=True)
class Problem:
    """One located problem as the editor draws it (0-based line and column)."""

    line: int
    column: int
    length: int
    message: str
    severity: str = "error"  # or "warning"


class YamlHighlighter(QSyntaxHighlighter):
    """Keys, values, comments, times (HH:MM) and numbers in different colours."""

    _KEY = re.compile(r"^(\s*)(-\s+)?([\w.]+)(\s*:)(?=\s|$)")
    _INLINE_KEY = re.compile(r"[{,]\s*([\w.]+)\s*:")
    _TIME = re.compile(r"""["']?\b([01]?\d|2[0-4]):[0-5]\d\b["']?""")
    _NUMBER = re.compile(r"(?<![\w.])-?\d+(\.\d+)?(?![\w:])")
    _STRING = re.compile(r"""("[^"]*"|'[^']*')""")

    def __init__(self, document, dark: bool = False) -> None:
        super().__init__(document)
        self.formats = {
            "key": self._fmt("#64b5f6" if dark else "#1565c0", bold=True),
            "value": self._fmt("#c5e1a5" if dark else "#2e7d32"),
            "comment": self._fmt("#9e9e9e", italic=True),
            "time": self._fmt("#ffb74d" if dark else "#e65100"),
            "number": self._fmt("#ce93d8" if dark else "#6a1b9a"),
            "dash": self._fmt("#9e9e9e"),
        }

    @staticmethod
    def _fmt(colour: str, bold: bool = False, italic: bool = False) -> QTextCharFormat:
        fmt = QTextCharFormat()
        fmt.setForeground(QColor(colour))
        if bold:
            fmt.setFontWeight(QFont.Weight.Bold)
        fmt.setFontItalic(italic)
        return fmt

    def highlightBlock(self, text: str) -> None:  # noqa: N802 (Qt's name)
        comment = _comment_start(text)
        code = text[:comment] if comment is not None else text
        start_value = 0
        m = self._KEY.match(code)
        if m:
            if m.group(2):
                self.setFormat(len(m.group(1)), 1, self.formats["dash"])
            self.setFormat(m.start(3), len(m.group(3)), self.formats["key"])
            start_value = m.end()
        elif code.lstrip().startswith("-"):
            start_value = len(code) - len(code.lstrip()) + 1
        if code[start_value:].strip():
            self.setFormat(start_value, len(code) - start_value, self.formats["value"])
        for km in self._INLINE_KEY.finditer(code, start_value):
            self.setFormat(km.start(1), len(km.group(1)), self.formats["key"])
        for nm in self._NUMBER.finditer(code, start_value):
            self.setFormat(nm.start(), nm.end() - nm.start(), self.formats["number"])
        for tm in self._TIME.finditer(code, start_value):
            self.setFormat(tm.start(), tm.end() - tm.start(), self.formats["time"])
        if comment is not None:
            self.setFormat(comment, len(text) - comment, self.formats["comment"])


def _comment_start(text: str) -> int | None:
    """Where a YAML comment starts (a # at the line start or after a space, not inside quotes)."""
    quote = None
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or text[i - 1] in " \t"):
            return i
    return None


class LineGutter(QWidget):
    """Line numbers and a dot on each line with a problem (red: error, orange: warning)."""

    def __init__(self, editor: RuleCodeEditor) -> None:
        super().__init__(editor)
        self.editor = editor

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(self.editor.gutter_width(), 0)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        self.editor.paint_gutter(event)


class RuleCodeEditor(QPlainTextEdit):
    """``help_requested`` is not needed: hover shows problems and key help as tooltips."""

    completion_shown = Signal(list)  # the texts offered (tests and the status line read it)

    def __init__(self, parent: QWidget | None = None, dark: bool = False) -> None:
        super().__init__(parent)
        self.setObjectName("ruleCodeEditor")
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        font.setPointSize(max(font.pointSize(), 10))
        self.setFont(font)
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.setTabStopDistance(self.fontMetrics().horizontalAdvance(" ") * 2)
        self.highlighter = YamlHighlighter(self.document(), dark)
        self.gutter = LineGutter(self)
        self.problems: list[Problem] = []
        self._problem_lines: dict[int, str] = {}
        self.blockCountChanged.connect(self._update_gutter_width)
        self.updateRequest.connect(self._update_gutter)
        self._update_gutter_width()
        self.completer = QCompleter(self)
        self.completer.setModel(QStringListModel(self.completer))
        self.completer.setWidget(self)
        self.completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.completer.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        self.completer.activated.connect(self.insert_completion)
        self._prefix = ""
        self.setMouseTracking(True)

    # -- gutter -----------------------------------------------------------------------------
    def gutter_width(self) -> int:
        digits = len(str(max(1, self.blockCount())))
        return 14 + self.fontMetrics().horizontalAdvance("9") * max(digits, 3)

    def _update_gutter_width(self, *_args) -> None:
        self.setViewportMargins(self.gutter_width(), 0, 0, 0)

    def _update_gutter(self, rect: QRect, dy: int) -> None:
        if dy:
            self.gutter.scroll(0, dy)
        else:
            self.gutter.update(0, rect.y(), self.gutter.width(), rect.height())
        if rect.contains(self.viewport().rect()):
            self._update_gutter_width()

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        cr = self.contentsRect()
        self.gutter.setGeometry(QRect(cr.left(), cr.top(), self.gutter_width(), cr.height()))

    def paint_gutter(self, event: QPaintEvent) -> None:
        painter = QPainter(self.gutter)
        base = self.palette().base().color()
        painter.fillRect(event.rect(), base.darker(108) if base.lightness() > 128 else base.lighter(130))
        block = self.firstVisibleBlock()
        number = block.blockNumber()
        top = round(self.blockBoundingGeometry(block).translated(self.contentOffset()).top())
        bottom = top + round(self.blockBoundingRect(block).height())
        height = self.fontMetrics().height()
        width = self.gutter.width()
        dim = self.palette().text().color()
        dim.setAlpha(140)
        while block.isValid() and top <= event.rect().bottom():
            if block.isVisible() and bottom >= event.rect().top():
                severity = self._problem_lines.get(number)
                if severity is not None:
                    painter.setPen(Qt.PenStyle.NoPen)
                    painter.setBrush(ERROR if severity == "error" else WARNING)
                    d = max(6, height // 2)
                    painter.drawEllipse(3, top + (height - d) // 2, d, d)
                painter.setPen(dim)
                painter.drawText(0, top, width - 4, height, Qt.AlignmentFlag.AlignRight, str(number + 1))
            block = block.next()
            top, bottom = bottom, bottom + round(self.blockBoundingRect(block).height())
            number += 1
        painter.end()

    # -- problems ---------------------------------------------------------------------------
    def set_problems(self, problems: list[Problem]) -> None:
        """Underline each problem's span (wavy) and mark its line in the gutter."""
        self.problems = problems
        self._problem_lines = {}
        selections = []
        doc = self.document()
        for p in problems:
            if self._problem_lines.get(p.line) != "error":
                self._problem_lines[p.line] = p.severity
            block = doc.findBlockByNumber(p.line)
            if not block.isValid():
                continue
            sel = QTextEdit.ExtraSelection()
            fmt = QTextCharFormat()
            fmt.setUnderlineStyle(QTextCharFormat.UnderlineStyle.WaveUnderline)
            fmt.setUnderlineColor(ERROR if p.severity == "error" else WARNING)
            fmt.setToolTip(p.message)
            sel.format = fmt
            cursor = QTextCursor(block)
            start = min(p.column, max(block.length() - 1, 0))
            cursor.setPosition(block.position() + start)
            end = min(start + max(p.length, 1), max(block.length() - 1, start + 1))
            cursor.setPosition(block.position() + end, QTextCursor.MoveMode.KeepAnchor)
            sel.cursor = cursor
            selections.append(sel)
        self.setExtraSelections(selections)
        self.gutter.update()

    def problem_at(self, line: int, column: int) -> Problem | None:
        for p in self.problems:
            if p.line == line and p.column <= column < p.column + max(p.length, 1):
                return p
        return None

    def go_to(self, line: int, column: int) -> None:
        block = self.document().findBlockByNumber(line)
        if not block.isValid():
            return
        cursor = QTextCursor(block)
        cursor.setPosition(block.position() + min(column, max(block.length() - 1, 0)))
        self.setTextCursor(cursor)
        self.centerCursor()
        self.setFocus()

    def hover_text(self, line: int, column: int) -> str:
        """The tooltip at a text position: the problem there, else the key's help."""
        problem = self.problem_at(line, column)
        if problem is not None:
            return problem.message
        found = editing.key_at(self.toPlainText(), line, column)
        if found is None:
            return ""
        return editing.key_help(*found)

    def viewportEvent(self, event) -> bool:  # noqa: N802 (tooltip events go to the viewport, not the editor)
        if event.type() == QEvent.Type.ToolTip:
            cursor = self.cursorForPosition(event.pos())
            text = self.hover_text(cursor.blockNumber(), cursor.positionInBlock())
            if text:
                QToolTip.showText(event.globalPos(), text, self.viewport())
            else:
                QToolTip.hideText()
            return True
        return super().viewportEvent(event)

    # -- completion -------------------------------------------------------------------------
    def completions_here(self) -> list[editing.Completion]:
        cursor = self.textCursor()
        ctx, items = editing.completions(self.toPlainText(), cursor.blockNumber(), cursor.positionInBlock())
        self._prefix = ctx.prefix
        return items

    def show_completions(self) -> list[str]:
        """Pop up what may be written at the cursor; returns the texts offered."""
        items = self.completions_here()
        texts = [c.text for c in items]
        model: QStringListModel = self.completer.model()  # type: ignore[assignment]
        model.setStringList(texts)
        self.completer.setCompletionPrefix(self._prefix)
        if texts:
            rect = self.cursorRect()
            rect.setWidth(self.completer.popup().sizeHintForColumn(0)
                          + self.completer.popup().verticalScrollBar().sizeHint().width() + 8)
            self.completer.complete(rect)
        else:
            self.completer.popup().hide()
        self.completion_shown.emit(texts)
        return texts

    def insert_completion(self, text: str) -> None:
        cursor = self.textCursor()
        for _ in self._prefix:
            cursor.deletePreviousChar()
        ctx = editing.cursor_context(self.toPlainText(), cursor.blockNumber(), cursor.positionInBlock())
        cursor.insertText(text + (": " if ctx.mode == "key" else ""))
        self.setTextCursor(cursor)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        popup = self.completer.popup()
        if popup.isVisible() and event.key() in (Qt.Key.Key_Enter, Qt.Key.Key_Return, Qt.Key.Key_Tab,
                                                 Qt.Key.Key_Escape, Qt.Key.Key_Backtab):
            event.ignore()  # the completer handles them
            return
        if event.key() == Qt.Key.Key_Space and event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.show_completions()
            return
        if event.key() == Qt.Key.Key_Tab and not popup.isVisible():
            self.insertPlainText("  ")
            return
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            indent = re.match(r"^(\s*)(-\s+)?", self.textCursor().block().text())
            lead = len(indent.group(1)) + (len(indent.group(2)) if indent and indent.group(2) else 0) if indent else 0
            extra = 2 if self.textCursor().block().text().rstrip().endswith(":") else 0
            super().keyPressEvent(event)
            self.insertPlainText(" " * (lead + extra))
            return
        super().keyPressEvent(event)
        typed = event.text()
        if typed and (typed.isalnum() or typed in "_ ,[") and not event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            before = self.textCursor().block().text()[:self.textCursor().positionInBlock()]
            if typed.isalnum() or typed == "_" or before.endswith((": ", "[", ", ")):
                self.show_completions()
        elif popup.isVisible():  # backspace, arrows: offer what fits where the cursor is now
            self.show_completions()
