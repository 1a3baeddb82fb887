"""The kernel preparation process: compiles every numba kernel a session uses, once, into the cache.

Run as a separate process (``python -m ita_desktop.cli.prepare_kernels``, or ``ita --prepare-kernels``
in a frozen build) by ``KernelService`` when the cache for this code is missing, and by the
installer after installing. numba's compiler holds the GIL for 50-120 ms stretches, so it must
never run in the window's process while the trader looks at it.

It compiles by running the real code on small seeded demo bars (the same dtypes and layouts as
real bars), so exactly the specialisations a session uses are compiled, no more: one unit per
detector kind (each compiles what it depends on, once), then the rule matcher and the simulator
through one seed rule's backtest (every rule runs the same kernels on the same types), then the
sweep kernel: three groups, in the order a session needs them. Protocol on stdout, one line each:
``KERNELS <done> <total> <unit>`` after a unit, ``GROUP <name>`` when a group is cached
(``detectors`` first: the window draws overlays from then on), ``PRUNED <key>`` per stale key
folder removed first, ``DONE`` at the end; with ``ITA_KERNEL_TIMINGS=1``, before each ``GROUP``
line, one ``COMPILE`` line per kernel compiled.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ita_desktop.cli.kernel_timings import TIMINGS_ENV, CompileTimes
from ita_desktop.core.kernel_service import GROUPS, ready_file
from ita_desktop.kernel_cache import cache_key, prune_stale

#: Scheduling priority below the window's (POSIX nice; Windows: below normal, set where it is started).
#: Started before the window's imports, at the same priority it took half the CPU the window starts
#: with: candles at 9.0-10.2 s instead of 4.8-5.8 s (load 7-8, 2 cores); at nice 10, 4.6-4.8 s.
PREPARATION_NICE = 10
DEMO_DAYS = 8
SEED_SYMBOL = "EURUSD"  # listed by every shipped rule
SEED_RULE = "asia_sweep"
SWEEP_GRID = ["targets.0.first_of.1.r=1.5,2"]
#: Detector units in the order the window can draw its layers as they come (ui/chart/overlays/detector_layers.
#: LAYER_KINDS): the default-visible layers, cheapest first (FVGs; BOS/CHoCH after swings; order blocks;
#: liquidity levels; sweeps), then the kinds no layer draws. Every kind of ALL_KINDS, once (a test checks).
DETECTOR_ORDER = ("fvg", "swings", "structure", "order_blocks", "levels", "equal", "sweeps", "sessions",
                  "displacement", "atr", "trend")


def _units(core, symbol: Callable[[], str]) -> list[tuple[str, str, Callable[[], object]]]:
    """(group, unit name, call) in the order the session needs them; ``symbol()`` stores the seed bars
    the backtest units read (on first call: the detectors need no store, and come first)."""
    from ita_desktop.data.demo import generate_demo_bars
    from ita_desktop.detectors.dispatcher import ALL_KINDS
    from ita_desktop.domain.timeframes import Timeframe

    start = (int(time.time()) // 86_400 - DEMO_DAYS) * 86_400
    bars = generate_demo_bars("EURUSD", start_utc=start, days=DEMO_DAYS, timeframe=Timeframe.M5)
    kinds = DETECTOR_ORDER + tuple(k for k in ALL_KINDS if k not in DETECTOR_ORDER)
    units: list[tuple[str, str, Callable[[], object]]] = [
        ("detectors", kind, lambda kind=kind: core.detection.detect(bars, [kind])) for kind in kinds]
    units.append(("detectors", "all overlays", lambda: core.detection.detect(bars)))
    # One seed rule's backtest compiles the rule matcher and the simulator: every rule runs the same
    # kernels with the same argument types, so backtesting the others would compile nothing more.
    units.append(("backtest", f"backtest {SEED_RULE}", lambda: core.backtests.backtest(SEED_RULE, symbol())))
    units.append(("sweep", "sweep", lambda: core.backtests.sweep_rule(SEED_RULE, symbol(), SWEEP_GRID)))
    return units


def _store_seed_bars(core) -> str:
    """Seeded demo M1 bars under a symbol the shipped rules list (in the throwaway store only)."""
    import dataclasses

    from ita_desktop.data.demo import generate_demo_bars
    from ita_desktop.domain.timeframes import Timeframe
    from ita_desktop.workflows.bar_ingest import store_bars

    start = (int(time.time()) // 86_400 - DEMO_DAYS) * 86_400
    bars = generate_demo_bars("EURUSD", start_utc=start, days=DEMO_DAYS, timeframe=Timeframe.M1)
    store_bars(core.store, dataclasses.replace(bars, symbol=SEED_SYMBOL), source="demo", origin="demo",
               source_format="demo", server_tz="UTC")
    return SEED_SYMBOL


def prepare(numba_dir: Path | str, emit: Callable[[str], None] = print, groups: tuple[str, ...] = GROUPS) -> int:
    """Compile ``groups`` (all by default) into ``numba_dir`` (the parent's NUMBA_CACHE_DIR); 0 if every
    unit went through. Two processes may prepare different groups at once: numba writes each cache
    file whole (a temporary file renamed), so kernels both compile are simply written twice."""
    from ita_desktop.config import load_settings
    from ita_desktop.core.app_core import Core
    from ita_desktop.paths import AppPaths, app_paths

    for folder in prune_stale(numba_dir):  # the kernels of code that is no longer this code
        emit(f"PRUNED {folder.name}")
    timings = None
    if os.environ.get(TIMINGS_ENV):
        timings = CompileTimes()
        timings.install()
    failures = 0
    with tempfile.TemporaryDirectory(prefix="ita-kernels-") as tmp:
        root = Path(tmp)
        paths = AppPaths(data=root, config=root / "config", logs=root / "logs", cache=root / "cache").ensure()
        with Core(load_settings(app_paths()), paths, workers=1) as core:
            symbol = functools.cache(lambda: _store_seed_bars(core))
            units = [unit for unit in _units(core, symbol) if unit[0] in groups]
            for n, (group, name, call) in enumerate(units, start=1):
                started = time.perf_counter()
                try:
                    call()
                except Exception as exc:  # noqa: BLE001 - a unit that fails compiles later, where it is used
                    failures += 1
                    emit(f"FAILED {name}: {type(exc).__name__}: {exc}")
                emit(f"KERNELS {n} {len(units)} {name} {time.perf_counter() - started:.2f}s")
                last_of_group = n == len(units) or units[n][0] != group
                if last_of_group:
                    marker = ready_file(numba_dir, group)
                    marker.parent.mkdir(parents=True, exist_ok=True)
                    marker.write_text(json.dumps({"key": cache_key(), "failures": failures}), encoding="utf-8")
                    for line in timings.take(group) if timings else []:
                        emit(line)
                    if timings:  # the whole process's CPU so far (start-up, set-up and compiles): the benchmark's
                        emit(f"COMPILE {group} {time.process_time():.2f} 0 process")  # "on a core of its own"
                    emit(f"GROUP {group}")
    emit("DONE")
    return 0 if failures == 0 else 1


def main(argv: list[str] | None = None) -> int:
    """``[--prepare-kernels] [--groups detectors,backtest,sweep]``: what the service and the installer run."""
    args = [a for a in (sys.argv[1:] if argv is None else argv) if a != "--prepare-kernels"]
    groups = GROUPS
    if args[:1] == ["--groups"] and len(args) == 2:
        groups = tuple(g for g in args[1].split(",") if g)
        unknown = sorted(set(groups) - set(GROUPS))
        if unknown:
            print(f"--groups: unknown group(s) {', '.join(unknown)}; groups: {', '.join(GROUPS)}", file=sys.stderr)
            return 2
    elif args:
        print(f"usage: --prepare-kernels [--groups {','.join(GROUPS)}]", file=sys.stderr)
        return 2
    if hasattr(os, "nice"):  # the window's start-up first (candles at once), then this has the CPU to itself
        os.nice(PREPARATION_NICE)
    numba_dir = os.environ.get("NUMBA_CACHE_DIR")
    if not numba_dir:
        print("NUMBA_CACHE_DIR is not set (ita_desktop sets it on import)", file=sys.stderr)
        return 2
    return prepare(numba_dir, lambda line: print(line, flush=True), groups)


if __name__ == "__main__":
    sys.exit(main())
