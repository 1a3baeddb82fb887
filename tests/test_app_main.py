"""The composition root: argument parsing and the --screenshot run on a real store."""

from __future__ import annotations

import logging

import pytest
from PySide6.QtGui import QImage

from ita_desktop.app import SCREENSHOT_SIZE, main, parse_args
from ita_desktop.domain.timeframes import Timeframe
from ita_desktop.storage import Store
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
    assert (ita_home / "logs" / "ita.log").read_text(encoding="utf-8").count("screenshot saved") == 1


def test_screenshot_of_an_empty_store(qtbot, ita_home, tmp_path):
    out = tmp_path / "empty.png"
    assert main(["--screenshot", str(out)]) == 0
    assert QImage(str(out)).width() == SCREENSHOT_SIZE[0]
    with Store.open() as store:  # the window created the store in the data folder
        assert store.bars.series() == []


def test_broken_settings_file_exits_with_the_location(ita_home, capsys):
    (ita_home / "config").mkdir(exist_ok=True)
    (ita_home / "config" / "config.yaml").write_text("ui: [unclosed\n", encoding="utf-8")
    assert main([]) == 1
    assert "config.yaml:" in capsys.readouterr().err
