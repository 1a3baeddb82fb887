"""The composition root: argument parsing and the --screenshot run on a real store."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys

import pytest
from PySide6.QtGui import QImage

from ita_desktop.app import SCREENSHOT_SIZE, main, parse_args
from ita_desktop.domain.timeframes import Timeframe
from ita_desktop.storage.store import Store
from tests.support.real_bars import store_bars, xauusd_bars


@pytest.fixture(autouse=True)
def restore_logging():
    """main() configures the root logger; give the next test the handlers it had."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


def test_parse_args():
    args = parse_args(["--screenshot", "out.png", "--symbol", "XAUUSD", "--timeframe", "m15", "--rule", "asia"])
    assert (str(args.screenshot), args.symbol, args.timeframe, args.rule) == ("out.png", "XAUUSD", Timeframe.M15, "asia")
    with pytest.raises(SystemExit):
        parse_args(["--timeframe", "M7"])


def test_screenshot_of_stored_data(qtbot, ita_home, xauusd_csv, tmp_path):
    store_bars(xauusd_bars(xauusd_csv))
    out = tmp_path / "shots" / "window.png"
    assert main(["--screenshot", str(out), "--symbol", "XAUUSD", "--timeframe", "M1"]) == 0
    image = QImage(str(out))
    assert (image.width(), image.height()) == SCREENSHOT_SIZE
    log_text = (ita_home / "logs" / "ita.log").read_text(encoding="utf-8")
    assert log_text.count("screenshot saved") == 1
    # the start-up milestones, in order (benchmarks/startup_bench.py reads this line)
    times = re.search(r"start-up: imports ([\d.]+), shown ([\d.]+), chart ([\d.]+), ready ([\d.]+) seconds", log_text)
    assert times is not None
    marks = [float(t) for t in times.groups()]
    assert marks == sorted(marks) and marks[0] > 0


def test_screenshot_of_an_empty_store(qtbot, ita_home, tmp_path):
    out = tmp_path / "empty.png"
    assert main(["--screenshot", str(out)]) == 0
    assert QImage(str(out)).width() == SCREENSHOT_SIZE[0]
    with Store.open() as store:  # the window created the store in the data folder
        assert store.bars.series() == []


def test_the_window_module_loads_without_numba_the_orm_or_pandas():
    """Start-up budget (2 s to an interactive window): these take ~1.5 s to import, so they load on
    workers after the first chart is drawn (Core.open_store), never with the window's own modules."""
    heavy = ("numba", "llvmlite", "sqlalchemy", "sqlmodel", "pandas")
    code = f"import sys, ita_desktop.app; print(' '.join(m for m in {heavy!r} if m in sys.modules))"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, check=True)
    assert out.stdout.split() == []


def test_broken_settings_file_exits_with_the_location(ita_home, capsys):
    (ita_home / "config").mkdir(exist_ok=True)
    (ita_home / "config" / "config.yaml").write_text("ui: [unclosed\n", encoding="utf-8")
    assert main([]) == 1
    assert "config.yaml:" in capsys.readouterr().err


def test_screenshot_with_the_rule_editor_open(qtbot, ita_home, xauusd_csv, tmp_path):
    """``--edit-rule RULE`` opens the editor on the rule (validated, squiggles drawn) before the picture."""
    store_bars(xauusd_bars(xauusd_csv))
    out = tmp_path / "editor.png"
    assert main(["--screenshot", str(out), "--symbol", "XAUUSD", "--timeframe", "M1", "--edit-rule", "ib_raid"]) == 0
    assert QImage(str(out)).width() == SCREENSHOT_SIZE[0]
    assert parse_args(["--edit-rule", "asia_sweep"]).edit_rule == "asia_sweep"
