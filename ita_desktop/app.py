"""Composition root of the window: logging, settings, the headless Core, QApplication, theme and the main window.

``--screenshot FILE.png`` opens the window on the stored data, waits for the explicit
``ready`` signal (chart drawn, or the empty state shown), saves the whole window as a PNG
and exits: how screenshots are taken for review under Xvfb or the offscreen platform.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()  # before the imports below: the start-up timings count them

import argparse  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from PySide6.QtCore import QObject, Qt, QTimer, Signal  # noqa: E402
from PySide6.QtGui import QIcon  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from ita_desktop import __version__, log_setup  # noqa: E402
from ita_desktop.config import load_settings  # noqa: E402
from ita_desktop.core.app_core import Core  # noqa: E402
from ita_desktop.domain.errors import ItaError  # noqa: E402
from ita_desktop.domain.timeframes import Timeframe  # noqa: E402
from ita_desktop.paths import APP_AUTHOR, APP_NAME, app_paths  # noqa: E402
from ita_desktop.ui.main_window import MainWindow  # noqa: E402
from ita_desktop.ui.theme import get_theme, resources_dir  # noqa: E402

log = logging.getLogger(__name__)

SCREENSHOT_SIZE = (1440, 900)
SCREENSHOT_TIMEOUT_MS = 60_000  # a store that never answers must not hang a CI run
# A first start on an empty kernel cache on a loaded machine may compile longer than that: the smoke
# script of the frozen build (installer/build_and_smoke.sh) allows more through this variable.
SCREENSHOT_TIMEOUT_ENV = "ITA_SCREENSHOT_TIMEOUT_S"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="ita-desktop", description="ITA Desktop: charts, detectors and backtests")
    parser.add_argument("--screenshot", type=Path, metavar="FILE.png",
                        help="open on the stored data, save a PNG of the window once drawn, and exit")
    parser.add_argument("--symbol", help="symbol to show first (default: the last one shown)")
    parser.add_argument("--timeframe", type=Timeframe.parse, help="timeframe to show first, e.g. M1 or H1")
    parser.add_argument("--rule", help="backtest this rule (a rule_id) on the symbol shown and show its results and trades")
    parser.add_argument("--edit-rule", metavar="RULE",
                        help="open the rule editor on this rule (a rule_id: its latest version, or a rule file)")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser.parse_args(argv)


def _save_screenshot(window: MainWindow, path: Path, app: QApplication, watchdog: QTimer) -> None:
    watchdog.stop()
    path.parent.mkdir(parents=True, exist_ok=True)
    saved = window.grab().save(str(path), "PNG")
    if saved:
        log.info("screenshot saved to %s", path)
    else:
        log.error("could not write the screenshot to %s", path)
    app.exit(0 if saved else 1)


class StartupTimes:
    """Seconds from the start of this module's import to each start-up milestone, logged once ready.

    ``imports`` done, window ``shown``, first ``chart`` painted (the window is interactive), ``ready``:
    the chart with its overlays, or the empty state. benchmarks/startup_bench.py reads the line.
    """

    def __init__(self) -> None:
        self.marks: dict[str, float] = {}
        self.mark("imports")

    def mark(self, name: str) -> None:
        self.marks.setdefault(name, time.perf_counter() - STARTED)

    def watch(self, window: MainWindow) -> None:
        window.chart.drawn.connect(lambda: self.mark("chart"), Qt.ConnectionType.SingleShotConnection)
        window.ready.connect(lambda: self._on_ready(window), Qt.ConnectionType.SingleShotConnection)

    def _on_ready(self, window: MainWindow) -> None:
        if window.chart.bars is not None:
            self.mark("chart")  # drawn in the same frame as its overlays: the window saw it first
        self.mark("ready")
        log.info("start-up: %s seconds after launch",
                 ", ".join(f"{name} {seconds:.2f}" for name, seconds in self.marks.items()))


class _Both(QObject):
    """``fired`` once both signals have fired (each at least once)."""

    fired = Signal()

    def __init__(self, first, second, parent: QObject) -> None:
        super().__init__(parent)
        self._seen: set[int] = set()
        first.connect(lambda *_a: self._mark(0))
        second.connect(lambda *_a: self._mark(1))

    def _mark(self, which: int) -> None:
        if self._seen >= {0, 1}:
            return  # fired already
        self._seen.add(which)
        if self._seen >= {0, 1}:
            self.fired.emit()


def _both(first, second, parent: QObject):
    return _Both(first, second, parent).fired


def _screenshot_timeout(app: QApplication) -> None:
    log.error("the window did not finish drawing within %s s (%s); no screenshot",
              os.environ.get(SCREENSHOT_TIMEOUT_ENV) or SCREENSHOT_TIMEOUT_MS // 1000, SCREENSHOT_TIMEOUT_ENV)
    app.exit(2)


NO_DISPLAY = ("ita-desktop: no display found (neither DISPLAY nor WAYLAND_DISPLAY is set). Run it in a desktop "
              "session, or under a virtual display: xvfb-run -a uv run ita-desktop; for a screenshot without any "
              "display: QT_QPA_PLATFORM=offscreen uv run ita-desktop --screenshot FILE.png")


def display_missing(environ: dict[str, str] | None = None, platform: str | None = None) -> bool:
    """True on Linux/BSD when Qt would look for an X or Wayland display and none is set: Qt would abort
    (exit 134) with a misleading libxcb-cursor0 message instead of saying so."""
    import os

    env = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    if platform.startswith(("win", "darwin", "cygwin")) or QApplication.instance() is not None:
        return False
    qpa = env.get("QT_QPA_PLATFORM", "")
    if qpa and not qpa.startswith(("xcb", "wayland")):
        return False  # offscreen, minimal, vnc, eglfs ... need no display
    return not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


def main(argv: list[str] | None = None) -> int:
    times = StartupTimes()
    args = parse_args(argv)
    if display_missing():
        print(NO_DISPLAY, file=sys.stderr)
        return 1
    paths = app_paths().ensure()
    log_setup.configure(paths.logs)
    try:
        settings = load_settings(paths)
    except ItaError as exc:
        log.error("%s", exc)
        print(f"ita-desktop: {exc}", file=sys.stderr)
        return 1
    logging.getLogger().setLevel(settings.logging.level)
    log.info("ITA Desktop %s starting; data in %s", __version__, paths.data)

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(APP_AUTHOR)
    app.setApplicationVersion(__version__)
    icon = resources_dir() / "icons" / "app.svg"
    if icon.is_file():
        app.setWindowIcon(QIcon(str(icon)))
    core = Core(settings, paths)  # the window closes it when it closes
    window = MainWindow(core, theme=get_theme(settings.ui.theme), symbol=args.symbol,
                        timeframe=args.timeframe.value if args.timeframe else None, rule=args.rule)
    times.watch(window)
    if args.edit_rule:
        try:
            window.rule_editor.edit(args.edit_rule)
        except (ItaError, OSError) as exc:
            log.error("cannot open the rule %s in the editor: %s", args.edit_rule, exc)
    if args.screenshot is not None:
        window.resize(*SCREENSHOT_SIZE)
        timeout_ms = int(float(os.environ.get(SCREENSHOT_TIMEOUT_ENV) or 0) * 1000) or SCREENSHOT_TIMEOUT_MS
        watchdog = QTimer(window, singleShot=True, interval=timeout_ms)
        watchdog.timeout.connect(lambda: _screenshot_timeout(app))
        watchdog.start()
        # with --rule, the picture waits until the rule's backtest is shown and its first trade drawn
        done = window.workbench.settled if args.rule else window.ready
        if args.edit_rule and not args.rule:  # the editor's squiggles drawn as well as the chart
            done = _both(window.ready, window.rule_editor.panel.validated, window)
        done.connect(lambda: QTimer.singleShot(0, lambda: _save_screenshot(window, args.screenshot, app, watchdog)))
    window.show()
    QTimer.singleShot(0, lambda: times.mark("shown"))
    code = app.exec()
    if args.screenshot is not None:
        # Closed after the loop: closing the last window inside it would post a Quit event that
        # outlives this loop (and ends the next one, e.g. in tests).
        window.close()
    return code


if __name__ == "__main__":
    sys.exit(main())
