"""GUI start-up: launch the real app on a store of real bars and time it to an interactive window.

Each run is a fresh process, ``python -m ita_desktop --screenshot``, exactly what a double-click
starts (minus the launcher). The app logs its own milestones (ita_desktop/app.py, StartupTimes):
imports done, window shown, first chart painted (interactive), chart with overlays (ready). The
process's own start before that (the interpreter) is measured apart, with ``python -c pass``.
Budget from DESIGN.md: GUI start to an interactive window (warm cache) <= 2 s.

A second part runs the window in a child process with a 2 ms timer on the GUI thread and prints
the longest gaps between two ticks, and when, from the moment it is shown until 3 s after the
full store has opened (numba, the ORM and pandas load on workers in that time). Budget: the GUI
thread is never blocked for more than 50 ms.

    uv run python benchmarks/startup_bench.py [--runs 5] [--bars 1000000] [--timeframe M5]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

BUDGET_S = 2.0
GAP_BUDGET_MS = 50.0
PROBE_MS = 2
AFTER_READY_MS = 3000
MARKS = re.compile(r"start-up: (.+) seconds after launch")


def fill_store(home: Path, bars: int) -> str:
    """Store the real EURUSD M1 file (or N bars chained from it) in ``home``'s store; returns a description."""
    os.environ["ITA_HOME"] = str(home)
    from chained_series import EURUSD, SERVER_TZ, chained_eurusd, describe

    from ita_desktop.domain.ingest import ImportResult
    from ita_desktop.workflows.bar_ingest import import_file
    from ita_desktop.storage.store import Store

    with Store.open() as store:
        if bars:
            series = chained_eurusd(bars)
            result = ImportResult(path="chained", file_hash="", source_format="bench", server_tz="UTC", bars=series,
                                  rows_read=len(series))
            store.bars.write(result, symbol="EURUSD", timeframe=series.timeframe, source="csv")
            return describe(bars)
        summary = import_file(store, EURUSD, symbol="EURUSD", server_tz=SERVER_TZ)
        return f"the real {EURUSD.name}: {summary.rows_stored:,} M1 bars"


def child_env(home: Path) -> dict[str, str]:
    """The app's environment as on a trader's machine from its second start: warm numba and bytecode caches."""
    env = {**os.environ, "ITA_HOME": str(home)}
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    env.pop("NUMBA_CACHE_DIR", None)  # the app's own cache folder under ITA_HOME, as for a user
    # Python writes .pyc files on the first start unless told not to (this sandbox sets the variable);
    # without them every module is compiled from source at each start, holding the GIL 30-70 ms a module.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def launch(home: Path, timeframe: str) -> tuple[float, dict[str, float]]:
    """One app start to its screenshot; returns (wall seconds spawn->exit, the app's milestones)."""
    shot = home / "startup.png"
    command = [sys.executable, "-m", "ita_desktop", "--screenshot", str(shot), "--symbol", "EURUSD",
               "--timeframe", timeframe]
    t0 = time.perf_counter()
    done = subprocess.run(command, env=child_env(home), capture_output=True, text=True, timeout=300)
    wall = time.perf_counter() - t0
    found = MARKS.search(done.stderr)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"the app failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    marks = {name: float(value) for name, value in (part.split() for part in found.group(1).split(", "))}
    return wall, marks


def interpreter_start() -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - t0


def probe(timeframe: str) -> None:
    """Child mode: the real window with a GUI-thread timer; prints the longest gaps between ticks and when."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from ita_desktop.config import load_settings
    from ita_desktop.core.app_core import Core
    from ita_desktop.paths import app_paths
    from ita_desktop.ui.main_window import MainWindow

    app = QApplication([])
    paths = app_paths().ensure()
    window = MainWindow(Core(load_settings(paths), paths), symbol="EURUSD", timeframe=timeframe)
    ticks: list[float] = []
    marks: dict[str, float] = {}
    timer = QTimer(interval=PROBE_MS)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))

    def settled() -> None:  # the store opened (its jobs done) or the cap passed: stop after AFTER_READY_MS more
        if (window.store is not None and not window.runner.busy) or time.perf_counter() - t0 > 30:
            marks.setdefault("store", time.perf_counter())
            QTimer.singleShot(AFTER_READY_MS, app.quit)
        else:
            QTimer.singleShot(50, settled)

    window.chart.drawn.connect(lambda: marks.setdefault("chart", time.perf_counter()))
    window.ready.connect(lambda: (marks.setdefault("ready", time.perf_counter()), settled()))
    t0 = time.perf_counter()
    window.show()
    timer.start()
    app.exec()
    gaps = sorted(((b - a) * 1000, (a - t0) * 1000) for a, b in zip(ticks, ticks[1:]))
    print(f"GAPS {gaps[-1][0]:.1f} {gaps[int(len(gaps) * 0.99)][0]:.1f} {len(gaps)}")
    print("WORST " + ", ".join(f"{gap:.0f} ms at {at:.0f} ms" for gap, at in reversed(gaps[-3:])))
    print("MARKS " + ", ".join(f"{name} {1000 * (t - t0):.0f} ms" for name, t in marks.items()))
    window.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--bars", type=int, default=0, help="chain N bars from the real file (default: the file itself)")
    parser.add_argument("--timeframe", default="M5", help="timeframe the window opens on (built from the stored M1)")
    parser.add_argument("--probe", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        probe(args.timeframe)
        return 0

    with tempfile.TemporaryDirectory(prefix="ita-startup-") as folder:
        home = Path(folder)
        what = fill_store(home, args.bars)
        print(f"store: {what}; window opens on EURUSD {args.timeframe}; platform "
              f"{child_env(home)['QT_QPA_PLATFORM']}; {os.cpu_count()} cores")
        cold_wall, cold = launch(home, args.timeframe)  # fills the numba and bytecode caches, like a first start
        print(f"first start (empty numba cache): interactive {cold['chart']:.2f} s, ready {cold['ready']:.2f} s, "
              f"process {cold_wall:.2f} s")
        python = statistics.median(interpreter_start() for _ in range(5))
        runs = [launch(home, args.timeframe) for _ in range(args.runs)]
        print(f"warm starts ({args.runs} runs), seconds after the app module began loading; median (worst):")
        for name in runs[0][1]:
            values = [marks[name] for _, marks in runs]
            print(f"  {name:8} {statistics.median(values):5.2f} ({max(values):.2f})")
        interactive = [python + marks["chart"] for _, marks in runs]
        walls = [wall for wall, _ in runs]
        print(f"  interpreter start (python -c pass) {python:.2f} s")
        print(f"  launch to interactive window: median {statistics.median(interactive):.2f} s, worst "
              f"{max(interactive):.2f} s (budget {BUDGET_S:.0f} s)")
        print(f"  whole process, spawn to exit after the screenshot: median {statistics.median(walls):.2f} s")

        done = subprocess.run([sys.executable, __file__, "--probe", "--timeframe", args.timeframe],
                              env=child_env(home), capture_output=True, text=True, timeout=300)
        found = re.search(r"GAPS ([\d.]+) ([\d.]+) (\d+)\nWORST (.+)\nMARKS (.+)", done.stdout)
        if found is None:
            raise RuntimeError(f"the probe failed:\n{done.stderr[-3000:]}")
        worst, p99, count, where, marks = found.groups()
        print(f"GUI thread from shown until {AFTER_READY_MS / 1000:.0f} s after the store opened ({count} ticks of "
              f"{PROBE_MS} ms): longest gap {float(worst):.1f} ms, p99 {float(p99):.1f} ms (budget {GAP_BUDGET_MS:.0f} ms)")
        print(f"  longest gaps: {where}; after show: {marks}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
