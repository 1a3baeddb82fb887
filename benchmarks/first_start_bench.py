"""First start on a clean numba cache: time to overlays drawn, the first backtest, the GUI thread's worst block.

The trader's first start after installing (or after an upgrade changed the kernels' code): the
store holds the real EURUSD M1 file, the numba cache folder is empty. A child process runs the
real window (``MainWindow`` over a real ``Core``) with a 2 ms timer on the GUI thread. The kernels
compile in the preparation processes (``cli/prepare_kernels``, one per core up to three, sharing the
units); the window shows candles at once and
overlays when the detectors' kernels are cached. As soon as the overlays are drawn the child asks
for a backtest of the seed rule ``asia_sweep`` on EURUSD through the core (as the Backtest panel
does), and stops 1 s after it returns.

Goals (issue 17): first start to overlays drawn <= 10 s, first backtest of a seed rule <= 5 s,
the GUI thread never blocked over 50 ms meanwhile (each gap also with the GUI thread's own CPU in it:
a gap it spent working, rather than waiting for a core or the GIL; and the first second after show()
apart). Times are from the child's first line (before
Qt, numba or the app are imported), on this machine's cores (shared: see the load printed). The
preparation starts first, as the window's entry point starts it (``kernel_service.prestart``); each
layer is drawn as soon as its kernels are (``first layers``, then ``default layers``: every layer the
legend shows by default), the ``overlays`` mark is the window's ``ready`` (every layer, full detection). Then
each kernel's compile time (CPU seconds, steadier than wall time on a shared machine) per group
and how many specialisations of it were compiled, as the preparation processes reported them (summed;
with each process's CPU when it had done its part of a group: on a quiet machine, each process has a
core and the group is ready about when the busiest of them is done).

    uv run python benchmarks/first_start_bench.py [--timeframe M5] [--rule asia_sweep]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

T0 = time.perf_counter()
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

TIMINGS_ENV = "ITA_KERNEL_TIMINGS"  # ita_desktop.cli.kernel_timings (not imported here: no numba in this parent)

OVERLAYS_GOAL_S = 10.0
BACKTEST_GOAL_S = 5.0
GAP_BUDGET_MS = 50.0
PROBE_MS = 2


def probe(timeframe: str, rule: str) -> None:
    """Child mode: the real window on a cold cache; prints milestones and the GUI thread's longest gaps."""
    from ita_desktop.core.kernel_service import prestart

    prestart()  # as the window's entry point does (ita_desktop/desktop_entry.py), before Qt and the app load
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from ita_desktop.bus.events import KernelsReady
    from ita_desktop.config import load_settings
    from ita_desktop.core.app_core import Core
    from ita_desktop.paths import app_paths
    from ita_desktop.ui.main_window import MainWindow
    from ita_desktop.ui.chart.overlays.detector_layers import LAYER_KINDS

    app = QApplication([])
    paths = app_paths().ensure()
    core = Core(load_settings(paths), paths)
    marks: dict[str, float] = {}
    cpu: dict[str, float] = {}  # this (the window's) process's CPU seconds at a milestone
    core.bus.subscribe(KernelsReady, lambda e: marks.setdefault(f"kernels {e.group}", time.perf_counter()))
    window = MainWindow(core, symbol="EURUSD", timeframe=timeframe)
    ticks: list[float] = []
    cpu_ticks: list[float] = []  # the GUI thread's own CPU at each tick: a gap it spent working, not waiting
    timer = QTimer(interval=PROBE_MS)
    timer.timeout.connect(lambda: (ticks.append(time.perf_counter()), cpu_ticks.append(time.thread_time())))

    def backtest_done(_result: object) -> None:
        marks["backtest done"] = time.perf_counter()
        cpu["preparation"] = preparation_cpu(core.kernels._processes)
        QTimer.singleShot(1000, app.quit)

    def failed(message: str) -> None:
        print(f"FAILED {message}")
        app.quit()

    def overlays_drawn() -> None:
        marks["overlays"] = time.perf_counter()
        cpu["overlays"] = time.process_time()
        marks["backtest asked"] = time.perf_counter()
        window.runner.start("first backtest", lambda _ctx: core.backtests.backtest(rule, "EURUSD"),
                            backtest_done, failed)

    window.chart.drawn.connect(lambda: marks.setdefault("candles", time.perf_counter()))
    from ita_desktop.ui.chart.overlays.layers import LAYERS

    shown = [spec.name for spec in LAYERS if spec.visible and spec.name in LAYER_KINDS]

    given: set[str] = set()  # layers handed to the chart so far
    set_layers = window.overlays.set_layers
    window.overlays.set_layers = lambda layers, key=None: (given.update(layers), set_layers(layers, key))[1]

    def layers_drawn() -> None:  # each layer is drawn as soon as its kernels are ready (ui/early_layers.py)
        now = time.perf_counter()
        marks.setdefault("first layers", now)
        if given >= set(shown):
            marks.setdefault("default layers", now)

    window.overlays.drawn.connect(layers_drawn)
    window.ready.connect(overlays_drawn)
    QTimer.singleShot(380_000, lambda: (print("FAILED timeout"), app.quit()))
    marks["window built"] = time.perf_counter()
    ticks.append(time.perf_counter())  # the gap from show() to the first tick is the first show's turn
    cpu_ticks.append(time.thread_time())
    window.show()
    timer.start()
    app.exec()
    turns = [((b - a) * 1000, (cb - ca) * 1000, (a - T0) * 1000)
             for a, b, ca, cb in zip(ticks, ticks[1:], cpu_ticks, cpu_ticks[1:])]
    gaps = sorted((wall, at) for wall, _, at in turns)
    shown_at = ticks[0]
    show = [t for t in turns if t[2] / 1000 < shown_at - T0 + 1.0]  # the first second after show()
    worst_show = max(show)
    print(f"SHOW {worst_show[0]:.1f} {worst_show[1]:.1f} {max(t[1] for t in show):.1f}")
    print("CPUGAPS " + ", ".join(f"{wall:.0f}/{cpu:.0f} ms at {at / 1000:.2f} s"
                                 for wall, cpu, at in sorted(turns, key=lambda t: -t[1])[:3]))
    print(f"GAPS {gaps[-1][0]:.1f} {gaps[int(len(gaps) * 0.99)][0]:.1f} {len(gaps)}")
    print("WORST " + ", ".join(f"{gap:.0f} ms at {at / 1000:.2f} s" for gap, at in reversed(gaps[-3:])))
    print("MARKS " + ", ".join(f"{name}={t - T0:.2f}" for name, t in sorted(marks.items(), key=lambda kv: kv[1])))
    print(f"WINDOW CPU {cpu.get('overlays', float('nan')):.2f} {cpu.get('preparation', float('nan')):.2f}")
    print(f"WINDOW COMPILES {' '.join(window_compiles()) or 'none'}")
    for line in core.kernels.compile_times:  # "<group> <own CPU s> <specialisations> <kernel>"
        print(f"COMPILE {line}")
    window.close()


def preparation_cpu(processes) -> float:
    """CPU seconds of the preparation processes so far (Linux: the ended ones as reaped, the running ones from
    /proc)."""
    try:
        import resource

        used = resource.getrusage(resource.RUSAGE_CHILDREN)
        total = used.ru_utime + used.ru_stime
        tick = os.sysconf("SC_CLK_TCK")
        for process in processes:
            if process.poll() is None:
                fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / tick
        return total
    except (ImportError, OSError, ValueError):
        return float("nan")


def window_compiles() -> list[str]:
    """Kernels this (the window's) process compiled instead of loading them from the cache: should be none."""
    from numba.core.registry import CPUDispatcher

    found = []
    for name, module in list(sys.modules.items()):
        if not name.startswith("ita_desktop."):
            continue
        for attr, value in list(vars(module).items()):
            if isinstance(value, CPUDispatcher) and value.stats.cache_misses:
                found.append(f"{name.removeprefix('ita_desktop.')}.{attr}x{sum(value.stats.cache_misses.values())}")
    return sorted(set(found))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeframe", default="M5")
    parser.add_argument("--rule", default="asia_sweep")
    parser.add_argument("--probe", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        probe(args.timeframe, args.rule)
        return 0

    from startup_bench import child_env, fill_store

    with tempfile.TemporaryDirectory(prefix="ita-first-start-") as folder:
        home = Path(folder)
        what = fill_store(home, 0)
        env = child_env(home)  # NUMBA_CACHE_DIR unset: the app's own folder under this new ITA_HOME, empty
        env[TIMINGS_ENV] = "1"  # the preparation process reports each kernel's compile time
        print(f"store: {what}; window on EURUSD {args.timeframe}; {os.cpu_count()} cores, load "
              f"{os.getloadavg()[0]:.1f}; numba cache empty ({home / 'cache' / 'numba'})")
        t0 = time.perf_counter()
        done = subprocess.run([sys.executable, __file__, "--probe", "--timeframe", args.timeframe, "--rule", args.rule],
                              env=env, capture_output=True, text=True, timeout=420)
        wall = time.perf_counter() - t0
        found = re.search(r"GAPS ([\d.]+) ([\d.]+) (\d+)\nWORST (.+)\nMARKS (.+)", done.stdout)
        if found is None or "FAILED" in done.stdout:
            raise RuntimeError(f"the probe failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
        worst, p99, count, where, marks_text = found.groups()
        marks = {k: float(v) for k, v in (part.split("=") for part in marks_text.split(", "))}
        backtest = marks["backtest done"] - marks["backtest asked"]
        print(f"first start, seconds from the process's first line: candles {marks['candles']:.2f} s, "
              f"overlays drawn {marks['overlays']:.2f} s (goal {OVERLAYS_GOAL_S:.0f} s)")
        print(f"first backtest of {args.rule} on EURUSD, asked when the overlays were drawn: {backtest:.2f} s "
              f"(goal {BACKTEST_GOAL_S:.0f} s)")
        print(f"GUI thread ({count} ticks of {PROBE_MS} ms): longest gap {float(worst):.1f} ms, p99 {float(p99):.1f} ms "
              f"(budget {GAP_BUDGET_MS:.0f} ms); longest at {where}")
        print(f"  milestones: {marks_text}; whole child process {wall:.1f} s; load after {os.getloadavg()[0]:.1f}")
        show = re.search(r"SHOW ([\d.]+) ([\d.]+) ([\d.]+)", done.stdout)
        cpu_gaps = re.search(r"CPUGAPS (.+)", done.stdout)
        if show:
            print(f"  first second after show(): longest gap {show[1]} ms (the GUI thread's CPU in it {show[2]} ms), "
                  f"the GUI thread's costliest turn there {show[3]} ms of CPU")
        if cpu_gaps:
            print(f"  costliest GUI turns by the thread's own CPU (wall/CPU): {cpu_gaps[1]}")
        print(f"  first layers drawn {marks.get('first layers', float('nan')):.2f} s, every default-visible layer "
              f"{marks.get('default layers', float('nan')):.2f} s; kernels the window compiled itself: "
              + next((line[16:] for line in done.stdout.splitlines() if line.startswith("WINDOW COMPILES ")), "?"))
        window_cpu, prep_cpu = next((line[11:].split() for line in done.stdout.splitlines()
                                     if line.startswith("WINDOW CPU ")), ("?", "?"))
        print(f"  the window's own process had used {window_cpu} s of CPU when the overlays were drawn; the "
              f"preparation processes {prep_cpu} s in all when the first backtest was done")
        compiles = [line.split(" ", 4)[1:] for line in done.stdout.splitlines() if line.startswith("COMPILE ")]
        print("kernel compile CPU seconds in the preparation processes (own time, nested compiles "
              "excluded; summed over the processes: a kernel compiled in two shows x2), per group, costliest "
              "first (specialisations compiled):")
        for group in dict.fromkeys(c[0] for c in compiles):
            rows = [c for c in compiles if c[0] == group]
            totals = [c for c in rows if c[3] == "total"]  # one per unit (older code: one per group)
            own: dict[str, float] = {}
            count: dict[str, int] = {}
            for _, seconds, n, name in (c for c in rows if c[3] not in ("total", "process")):
                own[name] = own.get(name, 0.0) + float(seconds)
                count[name] = count.get(name, 0) + int(n)
            top = sorted(own, key=lambda name: -own[name])[:8]
            process: dict[str, float] = {}  # per process (its pid), its CPU after its last unit of the group
            for _, seconds, pid, _name in (c for c in rows if c[3] == "process"):
                process[pid] = max(process.get(pid, 0.0), float(seconds))
            print(f"  {group}: {sum(float(c[1]) for c in totals):.2f} s in {sum(int(c[2]) for c in totals)} compiles "
                  f"over {len(process)} process(es) (each preparation process's CPU when it had done its part: "
                  f"{' + '.join(f'{v:.2f}' for v in process.values()) or '?'} s); "
                  + ", ".join(f"{name} {own[name]:.2f} s x{count[name]}" for name in top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
