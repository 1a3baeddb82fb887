"""A legal value that is probably a slip (``risk.percent: 50``) is a warning, not an error."""

from __future__ import annotations

import shutil
from pathlib import Path

from ita_desktop.cli.main import main
from ita_desktop.rules.loader import repo_rules_dir, validate_file, warnings_of_file


def _risky_copy(tmp_path: Path, percent: str) -> Path:
    folder = tmp_path / "rules" / "asia_sweep"
    folder.mkdir(parents=True)
    text = (repo_rules_dir() / "asia_sweep" / "v1.yaml").read_text(encoding="utf-8")
    path = folder / "v1.yaml"
    path.write_text(text.replace("  percent: 0.5", f"  percent: {percent}"), encoding="utf-8")
    return path


def test_risk_percent_50_validates_with_a_located_warning(tmp_path: Path, capsys):
    path = _risky_copy(tmp_path, "50")
    rule, issues = validate_file(path)
    assert rule is not None and issues == []  # still a valid rule: the trader's call
    warnings = warnings_of_file(path)
    assert len(warnings) == 1
    line = path.read_text(encoding="utf-8").splitlines()[warnings[0].line - 1]
    assert "percent: 50" in line and "did you mean 0.5" in warnings[0].message
    assert main(["rules", "validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert ": OK (asia_sweep v1" in out and f"{path}:{warnings[0].line}:" in out and "warning: risk.percent 50" in out


def test_usual_risk_has_no_warning(tmp_path: Path):
    assert warnings_of_file(_risky_copy(tmp_path, "2")) == []
    assert all(not warnings_of_file(p) for p in (repo_rules_dir()).rglob("v*.yaml"))


def test_the_rules_panel_shows_the_warning_and_aligns_net_pnl(qtbot, tmp_path: Path, ita_home: Path):
    from PySide6.QtCore import Qt

    from ita_desktop.core.job_engine import JobEngine
    from ita_desktop.ui.job_bridge import JobBridge
    from ita_desktop.ui.panels.rules_panel import COLUMNS, RulesPanel

    path = _risky_copy(tmp_path, "50")
    runner = JobBridge(JobEngine(2))
    from tests.support.cores import new_core

    panel = RulesPanel(runner, new_core(rules_dir=path.parent.parent).rules)
    qtbot.addWidget(panel)
    try:
        with qtbot.waitSignal(panel.listed, timeout=60_000):
            panel.refresh()
        row = panel.tree.topLevelItem(0).child(0)
        assert "⚠" in row.text(1) and "risk.percent 50" in row.text(1)
        col = COLUMNS.index("Net P/L")
        assert panel.tree.headerItem().textAlignment(col) & Qt.AlignmentFlag.AlignRight
        assert not panel.tree.header().stretchLastSection()
    finally:
        runner.shutdown(5000)
