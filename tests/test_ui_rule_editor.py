"""The rule editor on the real panel (pytest-qt): squiggles as you type, completion, Try, Save, versions."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from ita_desktop.rules.loader import repo_rules_dir
from ita_desktop.ui.job_bridge import JobBridge
from ita_desktop.ui.panels.rule_editor import DEBOUNCE_MS, ChartScope, RuleEditorPanel
from tests.support.cores import new_core

WAIT_MS = 60_000
SEED = repo_rules_dir() / "asia_sweep" / "v1.yaml"


@pytest.fixture
def editor(qtbot, ita_home):
    core = new_core()
    runner = JobBridge(core.jobs)
    scope: dict[str, ChartScope | None] = {"scope": None}
    panel = RuleEditorPanel(runner, core, lambda: scope["scope"])
    panel.scope_box = scope  # tests set what "the chart" shows
    panel.ask = lambda _message: "discard"
    qtbot.addWidget(panel)
    panel.resize(700, 800)
    panel.show()
    yield panel
    panel.close_validator()
    runner.detach()
    core.close(5)


def open_and_settle(qtbot, panel: RuleEditorPanel, path: Path) -> None:
    with qtbot.waitSignal(panel.validated, timeout=WAIT_MS):
        panel.open_path(path)


def line_of(panel: RuleEditorPanel, needle: str) -> int:
    return next(i for i, line in enumerate(panel.text.split("\n")) if needle in line)


def put_cursor_at_end_of(panel: RuleEditorPanel, line: int) -> None:
    block = panel.editor.document().findBlockByNumber(line)
    cursor = panel.editor.textCursor()
    cursor.setPosition(block.position() + block.length() - 1)
    panel.editor.setTextCursor(cursor)


def test_typing_an_unknown_key_squiggles_it_with_did_you_mean_soon_after_typing(qtbot, editor):
    """The issue's half second is DEBOUNCE_MS (150) plus one validation (7 ms median, benchmarks/
    rule_editor_bench.py prints it); the test bounds it at 2 s, a gross regression on a busy machine."""
    open_and_settle(qtbot, editor, SEED)
    assert editor.issues == []
    row = line_of(editor, "formed_between: [sweep, choch]")
    put_cursor_at_end_of(editor, row)
    editor.editor.textCursor().insertText("\n    ")
    qtbot.keyClicks(editor.editor, "min_sise: {pips: 1}")
    typed = time.perf_counter()
    qtbot.waitUntil(lambda: any(p.line == row + 1 for p in editor.editor.problems), timeout=10_000)
    elapsed = time.perf_counter() - typed
    problem = next(p for p in editor.editor.problems if p.line == row + 1)
    assert (problem.column, problem.length) == (4, len("min_sise"))
    assert "did you mean 'min_size'" in problem.message
    print(f"squiggle {elapsed * 1000:.0f} ms after the last keystroke")
    assert elapsed < 2.0
    # the problems list names it at line:col and a click puts the cursor there
    item = editor.problems.item(0)
    assert item.text().startswith(f"{row + 2}:5  ")
    editor.editor.go_to(0, 0)
    editor.problems.itemClicked.emit(item)
    assert (editor.editor.textCursor().blockNumber(), editor.editor.textCursor().positionInBlock()) == (row + 1, 4)
    # the gutter marks the line, hovering the span shows the message
    assert editor.editor._problem_lines[row + 1] == "error"
    assert "did you mean" in editor.editor.hover_text(row + 1, 6)
    # fixing it clears the squiggle
    cursor = editor.editor.textCursor()
    cursor.select(cursor.SelectionType.LineUnderCursor)
    cursor.insertText("    min_size: {pips: 1}")
    qtbot.waitUntil(lambda: not editor.editor.problems and not editor.validation_pending, timeout=WAIT_MS)


def test_hover_on_a_key_shows_its_help_from_the_schema_and_docs(qtbot, editor):
    open_and_settle(qtbot, editor, SEED)
    row = line_of(editor, "formed_between")
    help_text = editor.editor.hover_text(row, 6)
    assert "displacement candle" in help_text and "docs/rules.md" in help_text


def test_completion_at_a_step_offers_the_step_keys_and_step_names(qtbot, editor):
    open_and_settle(qtbot, editor, SEED)
    row = line_of(editor, "formed_between: [sweep, choch]")
    put_cursor_at_end_of(editor, row)
    editor.editor.textCursor().insertText("\n    ")
    offered = editor.editor.show_completions()
    assert {"direction", "within", "min_size", "max_size", "session"} <= set(offered)
    assert "formed_between" not in offered and "name" not in offered  # already written in that step
    assert "levels" not in offered  # a sweep's key, not an fvg's
    editor.editor.textCursor().insertText("against: ")
    assert editor.editor.show_completions() == ["sweep", "choch"]
    editor.editor.textCursor().insertText("sw")
    assert editor.editor.show_completions() == ["sweep"]
    editor.editor.insert_completion("sweep")
    assert editor.text.split("\n")[row + 1] == "    against: sweep"
    # enumerated values: the entry's order types
    order_row = line_of(editor, "order: limit")
    block = editor.editor.document().findBlockByNumber(order_row)
    cursor = editor.editor.textCursor()
    cursor.setPosition(block.position() + len("  order: "))
    editor.editor.setTextCursor(cursor)
    assert editor.editor.show_completions() == ["market", "limit", "stop"]


def test_an_invalid_rule_cannot_run_and_says_why(qtbot, editor):
    open_and_settle(qtbot, editor, SEED)
    editor.scope_box["scope"] = ChartScope("EURUSD", "M5", None, None)
    with qtbot.waitSignal(editor.validated, timeout=WAIT_MS):
        editor.editor.setPlainText(editor.text.replace("zone: fvg", "zone: fvgg"))
    with qtbot.waitSignal(editor.try_failed, timeout=WAIT_MS) as failed:
        assert editor.try_rule() is None
    assert "Cannot try" in failed.args[0] and "fvgg" in failed.args[0]


def test_an_unsaved_draft_survives_a_crash_and_closing_asks(qtbot, editor, ita_home):
    open_and_settle(qtbot, editor, SEED)
    edited = editor.text.replace("percent: 0.5", "percent: 0.4")
    with qtbot.waitSignal(editor.validated, timeout=WAIT_MS):
        editor.editor.setPlainText(edited)
    # "crash": a new panel over a new core opens the same rule and gets the draft back
    again = RuleEditorPanel(editor.runner, new_core(), lambda: None)
    qtbot.addWidget(again)
    again.open_path(SEED)
    assert again.text == edited and again.dirty and "draft" in again.status.text()
    asked: list[str] = []
    again.ask = lambda message: asked.append(message) or "cancel"
    assert again.may_close() is False and asked
    again.ask = lambda _message: "discard"
    assert again.may_close() is True
    assert editor.authoring.read_draft("asia_sweep") is None
    again.close_validator()


def test_new_from_template_duplicate_and_rename_keep_folder_and_rule_id_in_step(qtbot, editor):
    templates = {e.rule_id for e in editor.authoring.templates()}
    assert {"asia_sweep", "ib_raid", "fvg_reversal"} <= templates
    editor.new_rule("london_raid", SEED)
    assert editor.text.startswith("rule_id: london_raid") and 'version: "1"' in editor.text
    saved = editor.save()
    assert saved == editor.core.rules.user_dir / "london_raid" / "v1.yaml"
    copy = editor.duplicate("london_raid_b")
    assert copy == editor.core.rules.user_dir / "london_raid_b" / "v1.yaml"
    folder = editor.rename("paris_raid")
    assert folder == editor.core.rules.user_dir / "paris_raid"
    assert not (editor.core.rules.user_dir / "london_raid_b").exists()
    assert editor.core.rules.resolve("paris_raid").rule.rule_id == "paris_raid"
    assert editor.rule_id == "paris_raid" and editor.path == folder / "v1.yaml"
    with pytest.raises(Exception, match="already exists"):
        editor.authoring.rename("paris_raid", "london_raid")
    editor.new_rule("scratch_one")
    with qtbot.waitSignal(editor.validated, timeout=WAIT_MS):
        editor.validate_now()
    assert editor.issues == [], editor.issues


def test_try_on_the_real_eurusd_finds_what_ita_scan_finds_and_stores_nothing(qtbot, editor, eurusd_store):
    open_and_settle(qtbot, editor, SEED)
    editor.scope_box["scope"] = ChartScope("EURUSD", "M5", None, None)
    runs_before = editor.core.store.runs.list("asia_sweep")
    with qtbot.waitSignal(editor.tried, timeout=WAIT_MS * 3) as tried:
        assert editor.try_rule() is not None
    result = tried.args[0]
    scan = editor.core.backtests.scan("asia_sweep", "EURUSD", timeframe="M5")
    assert scan.occurrences, "the real EURUSD has asia sweeps"
    assert [o.key() for o in result.occurrences] == [o.key() for o in scan.occurrences]
    assert editor.core.store.runs.list("asia_sweep") == runs_before  # a try is not a run
    assert f"{len(scan.occurrences)} occurrences" in editor.status.text()
    assert "trades" in editor.status.text() and "win" in editor.status.text() and "PF" in editor.status.text()


def test_save_creates_v2_in_the_user_folder_leaving_v1_and_its_runs_untouched_and_the_diff_shows_it(
        qtbot, editor, eurusd_store):
    from ita_desktop.ui.panels.version_compare import VersionsDialog

    editor.new_rule("my_sweep", SEED)
    v1 = editor.save()
    v1_text = v1.read_bytes()
    run = editor.core.backtests.backtest("my_sweep", "EURUSD")
    assert run.run_id is not None
    runs_v1 = [(r.run_id, r.rule_version, r.stats_json) for r in editor.core.store.runs.list("my_sweep")]
    with qtbot.waitSignal(editor.validated, timeout=WAIT_MS):
        editor.editor.setPlainText(editor.text.replace("percent: 0.5", "percent: 0.4"))
    v2 = editor.save()
    assert v2 == editor.core.rules.user_dir / "my_sweep" / "v2.yaml"
    assert v1.read_bytes() == v1_text
    assert "percent: 0.4" in v2.read_text() and 'version: "2"' in v2.read_text()
    assert [(r.run_id, r.rule_version, r.stats_json) for r in editor.core.store.runs.list("my_sweep")] == runs_v1
    assert editor.path == v2 and not editor.dirty
    entries = editor.authoring.versions("my_sweep")
    dialog = VersionsDialog(editor.authoring, entries, editor)
    qtbot.addWidget(dialog)
    dialog.choose("1", "2")
    assert "-  percent: 0.5" in dialog.pair.diff and "+  percent: 0.4" in dialog.pair.diff
    assert "percent: 0.4" in dialog.diff.toPlainText()
    assert dialog.table.item(0, 0).text() == str(len(run.trades))
    assert dialog.table.item(0, 1).text() == "no run"


def test_editing_a_shipped_rule_saves_v2_in_the_user_folder_and_leaves_the_shipped_v1(qtbot, editor):
    before = SEED.read_bytes()
    open_and_settle(qtbot, editor, SEED)
    with qtbot.waitSignal(editor.validated, timeout=WAIT_MS):
        editor.editor.setPlainText(editor.text.replace("bars: 24", "bars: 30"))
    assert editor.dirty
    path = editor.save()
    assert path == editor.core.rules.user_dir / "asia_sweep" / "v2.yaml"
    assert SEED.read_bytes() == before
    assert editor.core.rules.resolve("asia_sweep").path == path
    assert editor.authoring.read_draft("asia_sweep") is None  # saved: the draft is gone


def test_warnings_are_orange_and_do_not_stop_try_or_save(qtbot, editor):
    open_and_settle(qtbot, editor, SEED)
    with qtbot.waitSignal(editor.validated, timeout=WAIT_MS):
        editor.editor.setPlainText(editor.text.replace("percent: 0.5", "percent: 8"))
    row = line_of(editor, "percent: 8")
    assert [(p.line, p.severity) for p in editor.editor.problems] == [(row, "warning")]
    assert editor.errors() == [] and "0.08" in editor.editor.problems[0].message
    assert editor.editor._problem_lines[row] == "warning"
    editor.scope_box["scope"] = None
    with qtbot.waitSignal(editor.try_failed, timeout=WAIT_MS) as failed:
        editor.try_rule()
    assert "no chart" in failed.args[0]  # the warning did not stop it: the missing chart did
    assert editor.save() == editor.core.rules.user_dir / "asia_sweep" / "v2.yaml"


def test_closing_the_window_with_unsaved_edits_asks(qtbot, ita_home):
    from ita_desktop.ui.main_window import MainWindow

    window = MainWindow(new_core())
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.ready, timeout=WAIT_MS):
        window.show()
    panel = window.rule_editor.panel
    with qtbot.waitSignal(panel.validated, timeout=WAIT_MS):
        window.rule_editor.edit("asia_sweep")
    panel.editor.textCursor().insertText("# a note\n")
    asked: list[str] = []
    panel.ask = lambda message: asked.append(message) or "cancel"
    assert window.close() is False and window.isVisible() and asked
    panel.ask = lambda _message: "discard"
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=WAIT_MS)
    assert window.close() is True


def test_hovering_a_squiggle_shows_its_message_as_a_tooltip(qtbot, editor):
    from PySide6.QtCore import QEvent, QPoint
    from PySide6.QtGui import QHelpEvent
    from PySide6.QtWidgets import QApplication, QToolTip

    open_and_settle(qtbot, editor, SEED)
    with qtbot.waitSignal(editor.validated, timeout=WAIT_MS):
        editor.editor.setPlainText(editor.text.replace("zone: fvg", "zone: fvgg"))
    row = line_of(editor, "zone: fvgg")
    editor.editor.go_to(row, 8)
    rect = editor.editor.cursorRect()
    pos = QPoint(rect.x() + 2, rect.center().y())
    viewport = editor.editor.viewport()
    QApplication.sendEvent(viewport, QHelpEvent(QEvent.Type.ToolTip, pos, viewport.mapToGlobal(pos)))
    qtbot.waitUntil(lambda: "does not exist" in QToolTip.text(), timeout=2000)
    assert "did you mean 'fvg'" in QToolTip.text()


def test_rules_right_click_edit_and_the_open_menu_open_a_rule_in_the_editor(qtbot, ita_home):
    from ita_desktop.ui.main_window import MainWindow

    window = MainWindow(new_core())
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.ready, timeout=WAIT_MS):
        window.show()
    rules = window.workbench.rules
    qtbot.waitUntil(lambda: rules.item_of("ib_raid", "1") is not None, timeout=WAIT_MS)
    rules.select("ib_raid", "1")
    menu = rules.context_menu_for(rules.selected())
    edit = next(a for a in menu.actions() if a.text() == "Edit in the rule editor")
    panel = window.rule_editor.panel
    with qtbot.waitSignal(panel.validated, timeout=WAIT_MS):
        edit.trigger()
    assert panel.rule_id == "ib_raid" and window.rule_editor.dock.isVisible()
    assert {"asia_sweep", "ib_raid", "fvg_reversal", "Frank_raid"} <= set(panel.rule_ids())
    panel._open_asking("asia_sweep")
    assert panel.rule_id == "asia_sweep"
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=WAIT_MS)
