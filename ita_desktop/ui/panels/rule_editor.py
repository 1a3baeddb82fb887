"""The rule editor panel: write a rule, see every mistake as you type, try it on the chart, save versions.

Validation is the loader the CLI uses (``rules.loader.validate_text``: every problem at its
line and column, with did-you-mean), run after a short pause in typing (DEBOUNCE_MS) on a
worker thread of its own: on a long rule it takes tens of milliseconds, which the GUI thread
must not spend. A result for a text that has changed since is dropped (a generation count).
The same pause writes the draft (``core.rule_authoring``), so a crash loses at most the last
pause's keystrokes.

"Try" runs the text as typed, saved or not, on the chart's symbol, timeframe and loaded range
as a job (``workflows.rule_try``) and hands the occurrences to whoever draws them
(``tried``); a text with errors does not run and the status line says why. "Save" writes the
next free version to the user rules folder (``RulesService.save``: never over a file).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QInputDialog, QLabel, QListWidget, QListWidgetItem, QMenu, QMessageBox, QSizePolicy, QSplitter, QToolBar,
    QToolButton, QVBoxLayout, QWidget,
)

from ita_desktop.core.rule_authoring import RuleAuthoring, key_of
from ita_desktop.domain.errors import ItaError
from ita_desktop.domain.versioning import version_from_path
from ita_desktop.rules.editing import issue_span
from ita_desktop.rules.loader import validate_text, warnings_of_text
from ita_desktop.rules.rule_issues import RuleIssue
from ita_desktop.ui.panels.version_compare import VersionsDialog
from ita_desktop.ui.rule_code_editor import Problem, RuleCodeEditor

if TYPE_CHECKING:
    from ita_desktop.core.app_core import Core
    from ita_desktop.ui.job_bridge import JobBridge
    from ita_desktop.workflows.rule_try import TryResult

DEBOUNCE_MS = 150  # a pause this long after a keystroke validates; the issue asks for squiggles within 0.5 s
WARNING_PREFIX = "warning:"
MINIMUM_SIZE = (220, 160)


@dataclass(frozen=True)
class ChartScope:
    """What Try runs on: the chart's symbol, timeframe and loaded range."""

    symbol: str
    timeframe: str
    start_utc: int | None
    end_utc: int | None


@dataclass(frozen=True)
class Validation:
    generation: int
    issues: list[RuleIssue]
    seconds: float  # time spent validating (the benchmark reads it)


def _warm_up() -> None:
    """Build the JSON Schema and read docs/rules.md once, on the worker: done on the first keystroke's
    completion instead, it held the GUI thread ~50 ms."""
    from ita_desktop.rules import editing

    editing.completions("rule_id: x\n", 1, 0)
    editing.docs_rows()


class _Validator(QObject):
    """Validates texts on one worker thread; ``done`` arrives on the GUI thread (queued)."""

    done = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rule-validate")
        self._pool.submit(_warm_up)
        self.closed = False


    def submit(self, generation: int, text: str, file: str, after: Callable[[], None] | None = None) -> None:
        if self.closed:
            return
        def work() -> None:
            t0 = time.perf_counter()
            try:
                _rule, issues = validate_text(text, file)
                issues = issues + warnings_of_text(text, file)  # "warning: ..." issues: shown, never blocking
            except Exception as exc:  # noqa: BLE001 (a loader bug must not kill the editor: show it)
                issues = [RuleIssue(1, 1, f"the validator failed: {exc}", file)]
            seconds = time.perf_counter() - t0
            if after is not None:
                after()
            self.done.emit(Validation(generation, issues, seconds))

        self._pool.submit(work)

    def close(self) -> None:
        self.closed = True
        self._pool.shutdown(wait=False, cancel_futures=True)


class RuleEditorPanel(QWidget):
    """``validated(list[RuleIssue])`` after each validation of the current text; ``tried(TryResult)``;
    ``saved(Path)``; ``try_failed(str)``."""

    validated = Signal(list)
    tried = Signal(object)
    try_failed = Signal(str)
    saved = Signal(object)

    def __init__(self, runner: JobBridge, core: Core, scope: Callable[[], ChartScope | None] | None = None,
                 parent: QWidget | None = None, dark: bool = False) -> None:
        super().__init__(parent)
        self.setObjectName("ruleEditorPanel")
        self.runner = runner
        self.core = core
        self.scope = scope or (lambda: None)
        self.authoring = RuleAuthoring(core.rules, core.paths.data)
        self.path: Path | None = None  # the version file the text came from (None: new, never saved)
        self.rule_id = ""
        self.saved_text = ""
        self.issues: list[RuleIssue] = []
        self.validation_seconds: list[float] = []
        self._generation = 0
        self._validated_generation = -1
        self._loading = False
        self.ask: Callable[[str], str] = self._ask_user  # "save" / "discard" / "cancel" (tests replace it)
        self.last_try: TryResult | None = None

        self.editor = RuleCodeEditor(self, dark=dark)
        self.title = QLabel("No rule open: New or Open (or right-click a version in Rules: Edit)")
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.title.setObjectName("ruleEditorTitle")
        self.problems = QListWidget()
        self.problems.setObjectName("ruleProblems")
        self.problems.itemClicked.connect(self._on_problem_clicked)
        self.problems.itemActivated.connect(self._on_problem_clicked)
        self.status = QLabel("")
        self.status.setObjectName("ruleEditorStatus")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.new_button = self._button("New", "a new rule from a seed setup or from scratch")
        self.new_menu = QMenu(self.new_button)
        self.new_button.setMenu(self.new_menu)
        self.new_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.new_menu.aboutToShow.connect(self._fill_new_menu)
        self.open_button = self._button("Open", "edit a rule: its latest version (or right-click a version in Rules)")
        self.open_menu = QMenu(self.open_button)
        self.open_button.setMenu(self.open_menu)
        self.open_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.open_menu.aboutToShow.connect(self._fill_open_menu)
        self.duplicate_button = self._button("Duplicate", "save this text as a new rule (a new rule_id, v1)",
                                             self.ask_duplicate)
        self.rename_button = self._button("Rename", "rename your rule: its folder and rule_id together",
                                          self.ask_rename)
        self.try_button = self._button("Try", "run the text as typed on the chart's symbol and range (nothing stored)",
                                       self.try_rule)
        self.save_button = self._button("Save", "save as the next version in your rules folder", self.save)
        self.versions_button = self._button("Versions", "compare two versions and their results",
                                            self.show_versions)
        bar = QToolBar()  # a narrow dock folds the buttons into the toolbar's » menu instead of widening the window
        bar.setObjectName("ruleEditorToolbar")
        for b in (self.new_button, self.open_button, self.duplicate_button, self.rename_button, self.try_button, self.save_button,
                  self.versions_button):
            bar.addWidget(b)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.editor)
        split.addWidget(self.problems)
        split.setStretchFactor(0, 5)
        split.setStretchFactor(1, 1)
        split.setSizes([600, 90])
        self.problems.setMinimumHeight(40)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(bar)
        layout.addWidget(self.title)
        layout.addWidget(split, 1)
        layout.addWidget(self.status)

        self.setMinimumSize(*MINIMUM_SIZE)  # explicit: the window's saved size must not grow to fit a hidden editor
        self._debounce = QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self._debounce.timeout.connect(self.validate_now)
        self._validator = _Validator(self)
        self._validator.done.connect(self._on_validated)
        self.editor.textChanged.connect(self._on_text_changed)
        self._update_actions()

    def _button(self, text: str, tip: str, slot: Callable[[], Any] | None = None) -> QToolButton:
        b = QToolButton()
        b.setText(text)
        b.setToolTip(tip)
        b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        if slot is not None:
            b.clicked.connect(lambda _checked=False: slot())
        return b

    # -- documents --------------------------------------------------------------------------
    @property
    def text(self) -> str:
        return self.editor.toPlainText()

    @property
    def dirty(self) -> bool:
        return self.text != self.saved_text

    @property
    def draft_key(self) -> str:
        return key_of(self.path, self.rule_id or "untitled")

    def open_path(self, path: str | Path) -> None:
        """Edit the version file at ``path``; an unsaved draft of that rule, if one was kept, comes back."""
        path = Path(path)
        text = path.read_text(encoding="utf-8-sig")
        where = version_from_path(path)
        self.path, self.rule_id = path, (where[0] if where else path.stem)
        draft = self.authoring.read_draft(self.draft_key)
        self._set_text(text, saved=text)
        if draft is not None and draft != text:
            self._set_text(draft, saved=text)
            self.status.setText("Restored the unsaved draft of this rule (kept when the app last closed or crashed).")
        else:
            self.status.setText("")
        self._show_title()

    def open_rule(self, rule_id: str) -> None:
        """Edit the latest version of ``rule_id`` (either folder)."""
        self.open_path(self.core.rules.resolve(rule_id).path)

    def new_rule(self, rule_id: str, template: Path | None = None) -> None:
        """A new, unsaved rule ``rule_id`` v1: a seed setup's text, or a minimal rule."""
        text = (self.authoring.from_template(template, rule_id) if template is not None
                else self.authoring.from_scratch(rule_id))
        self.path, self.rule_id = None, rule_id
        self._set_text(text, saved="")
        self.status.setText("New rule: Save writes it to your rules folder as v1.")
        self._show_title()

    def _set_text(self, text: str, saved: str) -> None:
        self._loading = True
        self.saved_text = saved
        self.editor.setPlainText(text)
        self._loading = False
        self._on_text_changed()

    def _show_title(self) -> None:
        where = ""
        if self.path is not None:
            where = "yours" if self.core.rules.origin_of(self.path) == "user" else "shipped, read-only: Save makes your copy"
            where = f"{self.path.name} · {where}"
        else:
            where = "not saved yet"
        self.title.setText(f"<b>{self.rule_id}</b>{' •' if self.dirty else ''}  <span style='color:gray'>{where}</span>")
        self._update_actions()

    def _update_actions(self) -> None:
        has = bool(self.rule_id)
        for b in (self.duplicate_button, self.try_button, self.save_button, self.versions_button):
            b.setEnabled(has)
        self.rename_button.setEnabled(has and self.path is not None and self.core.rules.origin_of(self.path) == "user")

    # -- validation -----------------------------------------------------------------------
    def _on_text_changed(self) -> None:
        self._generation += 1
        self._debounce.start()
        if not self._loading:
            self._show_title()

    def validate_now(self) -> None:
        """Validate the current text on the worker (the debounce's end); the draft is written there too."""
        self._debounce.stop()
        text, generation = self.text, self._generation
        file = str(self.path) if self.path is not None else f"{self.rule_id or 'untitled'}.yaml"
        draft = None
        if self.rule_id and text != self.saved_text:
            authoring, key = self.authoring, self.draft_key
            draft = lambda: authoring.write_draft(key, text)  # noqa: E731
        self._validator.submit(generation, text, file, draft)

    @property
    def validation_pending(self) -> bool:
        return self._debounce.isActive() or self._validated_generation != self._generation

    def _on_validated(self, result: Validation) -> None:
        if result.generation != self._generation:
            return  # the text changed since: a newer validation is coming
        self._validated_generation = result.generation
        self.validation_seconds.append(result.seconds)
        self.issues = result.issues
        lines = self.text.split("\n")
        problems = []
        self.problems.clear()
        for issue in result.issues:
            line, col, length = issue_span(lines, issue)
            severity = "warning" if issue.message.startswith(WARNING_PREFIX) else "error"
            problems.append(Problem(line, col, length, issue.message, severity))
            item = QListWidgetItem(f"{issue.line}:{issue.column}  {issue.message}")
            item.setData(Qt.ItemDataRole.UserRole, (line, col))
            item.setForeground(Qt.GlobalColor.red if severity == "error" else Qt.GlobalColor.darkYellow)
            self.problems.addItem(item)
        if not result.issues:
            self.problems.addItem(QListWidgetItem("No problems: the rule is valid."))
        self.editor.set_problems(problems)
        self.validated.emit(result.issues)

    def _on_problem_clicked(self, item: QListWidgetItem) -> None:
        where = item.data(Qt.ItemDataRole.UserRole)
        if where:
            self.editor.go_to(*where)

    def errors(self) -> list[RuleIssue]:
        return [i for i in self.issues if not i.message.startswith(WARNING_PREFIX)]

    # -- try --------------------------------------------------------------------------------
    def try_rule(self) -> int | None:
        """Run the text on the chart's symbol/timeframe/range as a job; None (and why, in the status) if it cannot."""
        if not self.validation_pending and self.errors():
            first = self.errors()[0]
            self._say_try_failed(f"Cannot try: the rule has {len(self.errors())} problem(s); first at line "
                                 f"{first.line}, column {first.column}: {first.message}")
            return None
        scope = self.scope()
        if scope is None:
            self._say_try_failed("Cannot try: no chart is shown (load a symbol first)")
            return None
        text, core = self.text, self.core
        self.try_button.setEnabled(False)
        self.status.setText(f"Trying on {scope.symbol} {scope.timeframe}…")

        def work(ctx: Any) -> TryResult:
            from ita_desktop.workflows.rule_try import try_rule_text

            return try_rule_text(core.store, text, scope.symbol, timeframe=scope.timeframe, start_utc=scope.start_utc,
                                 end_utc=scope.end_utc, cancel=lambda: ctx.cancelled)

        try:
            return self.runner.start("Try rule", work, self._on_tried, self._on_try_error, key="rule-editor-try")
        except ItaError as exc:
            self.try_button.setEnabled(True)
            self._say_try_failed(str(exc))
            return None

    def _on_tried(self, result: TryResult) -> None:
        self.try_button.setEnabled(True)
        self.last_try = result
        self.status.setText(f"Try on {result.symbol} {result.timeframe}: {result.line()}")
        self.tried.emit(result)

    def _on_try_error(self, message: str) -> None:
        self.try_button.setEnabled(True)
        self._say_try_failed(f"Try failed: {message}")

    def _say_try_failed(self, message: str) -> None:
        self.status.setText(message)
        self.try_failed.emit(message)

    # -- save -------------------------------------------------------------------------------
    def save(self) -> Path | None:
        """Write the next version to the user folder (never over a file); None if the text has errors."""
        if self.validation_pending:
            _rule, self.issues = validate_text(self.text, self.rule_id or "<rule>")
        if self.errors():
            self.status.setText(f"Not saved: the rule has {len(self.errors())} problem(s); see the list.")
            return None
        try:
            path = self.core.rules.save(self.text)
        except ItaError as exc:
            self.status.setText(f"Not saved: {exc}")
            return None
        self.authoring.drop_draft(self.draft_key)
        self.open_path(path)
        self.status.setText(f"Saved as {path}")
        self.saved.emit(path)
        return path

    def discard_draft(self) -> None:
        self.authoring.drop_draft(self.draft_key)

    # -- new / duplicate / rename ---------------------------------------------------------
    def _fill_new_menu(self) -> None:
        self.new_menu.clear()
        self.new_menu.addAction("From scratch…", lambda: self._ask_new(None))
        self.new_menu.addSeparator()
        for entry in self.authoring.templates():
            self.new_menu.addAction(f"From {entry.rule_id} v{entry.version}…",
                                    lambda p=entry.path: self._ask_new(p))

    def rule_ids(self) -> list[str]:
        """Rule folders holding a version file, in either rules folder (names only: nothing is read)."""
        ids: set[str] = set()
        for folder, _origin in self.core.rules.folders():
            if folder.is_dir():
                ids.update(d.name for d in folder.iterdir() if d.is_dir() and any(d.glob("v*.y*ml")))
        return sorted(ids, key=str.lower)

    def _fill_open_menu(self) -> None:
        self.open_menu.clear()
        for rule_id in self.rule_ids():
            self.open_menu.addAction(rule_id, lambda r=rule_id: self._open_asking(r))

    def _open_asking(self, rule_id: str) -> None:
        if self.may_close():
            self._guard(lambda: self.open_rule(rule_id))

    def _ask_name(self, title: str, suggestion: str) -> str | None:
        name, ok = QInputDialog.getText(self, title, "rule_id (letters, digits, _):", text=suggestion)
        return name.strip() if ok and name.strip() else None

    def _ask_new(self, template: Path | None) -> None:
        if not self.may_close():
            return
        name = self._ask_name("New rule", "my_setup")
        if name:
            self._guard(lambda: self.new_rule(name, template))

    def ask_duplicate(self) -> None:
        name = self._ask_name("Duplicate as", f"{self.rule_id}_copy")
        if name:
            self._guard(lambda: self.duplicate(name))

    def duplicate(self, rule_id: str) -> Path:
        path = self.authoring.duplicate(self.text, rule_id)
        self.open_path(path)
        return path

    def ask_rename(self) -> None:
        name = self._ask_name("Rename rule", self.rule_id)
        if name and name != self.rule_id:
            self._guard(lambda: self.rename(name))

    def rename(self, new_id: str) -> Path:
        if self.dirty:
            self.authoring.write_draft(self.draft_key, self.text)
        folder = self.authoring.rename(self.rule_id, new_id)
        self.open_rule(new_id)
        return folder

    def _guard(self, action: Callable[[], Any]) -> None:
        try:
            action()
        except ItaError as exc:
            self.status.setText(str(exc))

    # -- versions ---------------------------------------------------------------------------
    def show_versions(self) -> None:
        rule_id, authoring = self.rule_id, self.authoring
        self.runner.start("List versions", lambda _ctx: authoring.versions(rule_id), self._open_versions,
                          lambda message: self.status.setText(f"Could not list the versions: {message}"))

    def _open_versions(self, entries: list) -> None:
        if not entries:
            self.status.setText(f"{self.rule_id} has no saved version yet")
            return
        self.versions_dialog = VersionsDialog(self.authoring, entries, self)
        self.versions_dialog.show()

    # -- closing ----------------------------------------------------------------------------
    def may_close(self) -> bool:
        """True when nothing unsaved would be lost (asks: Save / Discard / Cancel)."""
        if not self.rule_id or not self.dirty:
            return True
        answer = self.ask(f"{self.rule_id} has unsaved changes.")
        if answer == "save":
            return self.save() is not None
        if answer == "discard":
            self.discard_draft()
            self.saved_text = self.text
            return True
        return False

    def _ask_user(self, message: str) -> str:
        buttons = QMessageBox.StandardButton
        answer = QMessageBox.question(self, "Unsaved rule", message + " Save them as a new version?",
                                      buttons.Save | buttons.Discard | buttons.Cancel, buttons.Save)
        return {buttons.Save: "save", buttons.Discard: "discard"}.get(answer, "cancel")

    def close_validator(self) -> None:
        """Stop validating (the window is closing): a pending pause's validation is dropped."""
        self._debounce.stop()
        self._validator.close()
