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
from dataclasses import dataclass
from pathlib import Path

from ita_desktop.cli.kernel_timings import TIMINGS_ENV, CompileTimes
from ita_desktop.cli.unit_board import UnitBoard
from ita_desktop.core.kernel_service import GROUPS, PREFER_FLAG, UNITS_FOLDER, ready_file
from ita_desktop.kernel_cache import cache_key, cache_root, prune_stale

#: Scheduling priority below the window's (POSIX nice; Windows: below normal, set where it is started).
#: Started before the window's imports, at the same priority it took half the CPU the window starts
#: with: candles at 9.0-10.2 s instead of 4.8-5.8 s (load 7-8, 2 cores); at nice 10, 4.6-4.8 s.
PREPARATION_NICE = 10
WAIT_S = 0.03  # a process with nothing to take looks again after this (a unit takes 0.1-6 s)
DEMO_DAYS = 8
SEED_SYMBOL = "EURUSD"  # listed by every shipped rule
SEED_RULE = "asia_sweep"
SWEEP_GRID = ["targets.0.first_of.1.r=1.5,2"]
#: Detector units in the order the window can draw its layers as they come (ui/chart/overlays/detector_layers.
#: LAYER_KINDS): the default-visible layers, cheapest first (FVGs; BOS/CHoCH after swings; order blocks;
#: liquidity levels; sweeps), then the kinds no layer draws. Every kind of ALL_KINDS, once (a test checks).
DETECTOR_ORDER = ("fvg", "swings", "structure", "order_blocks", "levels", "equal", "sweeps", "sessions",
                  "displacement", "atr", "trend")


@dataclass
class Unit:
    """A step of the preparation: ``call`` compiles (or loads) its kernels; ``needs()`` the units that must be
    cached first, so that no process compiles what another compiles at the same time (evaluated once)."""

    group: str
    name: str
    call: Callable[[], object]
    needs: Callable[[], frozenset[str]]


def _kind_units(kinds: tuple[str, ...], params) -> frozenset[str]:
    """The detector units whose kernels a detection of ``kinds`` runs (the dispatcher's own plan of
    dependencies: order blocks need structure and ATR, sweeps their level sources, ...)."""
    from ita_desktop.detectors.dispatcher import _plan

    return frozenset("levels" if name == "session_levels" else name for name in _plan(kinds, params))


def _topological(kinds: tuple[str, ...], needs: dict[str, frozenset[str]]) -> tuple[str, ...]:
    """``kinds`` in their order, each preceded by what it needs (ATR before FVG): a process walking the
    list in order never waits for a unit that nobody has begun."""
    out: list[str] = []

    def add(kind: str) -> None:
        if kind not in out:
            for dep in kinds:  # in DETECTOR_ORDER, for a stable order
                if dep in needs[kind]:
                    add(dep)
            out.append(kind)

    for kind in kinds:
        add(kind)
    return tuple(out)


def _rule_units(core) -> frozenset[str]:
    """The detector units the seed rule's backtest runs (its compiled kinds and their dependencies)."""
    from ita_desktop.rules.engine.compiler import compile_rule
    from ita_desktop.rules.loader import load_rule

    compiled = compile_rule(load_rule(core.backtests._path(SEED_RULE, None)).rule, SEED_SYMBOL)
    return _kind_units(compiled.kinds, compiled.params)


def _units(core, symbol: Callable[[], str]) -> list[Unit]:
    """The units in the order one process compiles them (the order a session needs them); ``symbol()``
    stores the seed bars the backtest units read (on first call: the detectors need no store)."""
    from ita_desktop.data.demo import generate_demo_bars
    from ita_desktop.detectors.dispatcher import ALL_KINDS, DetectorParams
    from ita_desktop.domain.timeframes import Timeframe

    start = (int(time.time()) // 86_400 - DEMO_DAYS) * 86_400
    bars = generate_demo_bars("EURUSD", start_utc=start, days=DEMO_DAYS, timeframe=Timeframe.M5)
    kinds = DETECTOR_ORDER + tuple(k for k in ALL_KINDS if k not in DETECTOR_ORDER)
    needs = {kind: _kind_units((kind,), DetectorParams()) - {kind} for kind in kinds}
    units = [Unit("detectors", kind, lambda kind=kind: core.detection.detect(bars, [kind]),
                  lambda kind=kind: needs[kind]) for kind in _topological(kinds, needs)]
    units.append(Unit("detectors", "all overlays", lambda: core.detection.detect(bars), lambda: frozenset(kinds)))
    # One seed rule's backtest compiles the rule matcher and the simulator: every rule runs the same
    # kernels with the same argument types, so backtesting the others would compile nothing more.
    backtest = f"backtest {SEED_RULE}"
    units.append(Unit("backtest", backtest, lambda: core.backtests.backtest(SEED_RULE, symbol()),
                      functools.cache(lambda: _rule_units(core))))
    units.append(Unit("sweep", "sweep", lambda: core.backtests.sweep_rule(SEED_RULE, symbol(), SWEEP_GRID),
                      lambda: frozenset({backtest})))  # the sweep kernel calls the simulator's
    return units


def _preferred(units: list[Unit], prefer: str) -> list[Unit]:
    """The order a process looks for work in: ``prefer``'s units first, then what they need (in the
    usual order), then the rest. Each unit is taken as soon as what it needs is cached: the second
    process compiles the seed backtest's detectors, then the backtest, while the first ends the rest
    of the detectors (order blocks, sessions, ...)."""
    by_name = {u.name: u for u in units}
    wanted: set[str] = set()

    def add(name: str) -> None:
        if name in by_name and name not in wanted:
            wanted.add(name)
            for need in by_name[name].needs():
                add(need)

    first = [u for u in units if u.group == prefer]
    for unit in first:
        add(unit.name)
    return first + [u for u in units if u.name in wanted and u.group != prefer] + \
        [u for u in units if u.name not in wanted]


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


def prepare(numba_dir: Path | str, emit: Callable[[str], None] = print, groups: tuple[str, ...] = GROUPS,
            prefer: str = "") -> int:
    """Compile ``groups`` (all by default) into ``numba_dir`` (the parent's NUMBA_CACHE_DIR); 0 if every
    unit went through. Several processes may prepare at once: they share the units through a
    ``UnitBoard`` beside the kernels (each unit compiled by one of them, a unit waiting for what it
    needs), each taking ``prefer``'s group first when it can. A group's marker is written by whichever
    process sees its last unit done."""
    from ita_desktop.config import load_settings
    from ita_desktop.core.app_core import Core
    from ita_desktop.paths import AppPaths, app_paths

    for folder in prune_stale(numba_dir):  # the kernels of code that is no longer this code
        emit(f"PRUNED {folder.name}")
    timings = None
    if os.environ.get(TIMINGS_ENV):
        timings = CompileTimes()
        timings.install()
    board = UnitBoard(cache_root(numba_dir) / UNITS_FOLDER)
    failures = 0
    with tempfile.TemporaryDirectory(prefix="ita-kernels-") as tmp:
        root = Path(tmp)
        paths = AppPaths(data=root, config=root / "config", logs=root / "logs", cache=root / "cache").ensure()
        with Core(load_settings(app_paths()), paths, workers=1) as core:
            symbol = functools.cache(lambda: _store_seed_bars(core))
            units = [unit for unit in _units(core, symbol) if unit.group in groups]
            run = _Run(numba_dir, board, units, emit, timings)
            for unit in units:  # done before this process began (a preparation stopped half-way, another process)
                if board.done(unit.name) is not None:
                    run.report(unit, "cached")
            pending = _preferred(units, prefer)
            while pending:
                taken = run.next(pending)
                if taken is None:
                    time.sleep(WAIT_S)  # every unit left is compiling elsewhere or waits for one that is
                    continue
                unit, claim = taken
                if timings:
                    timings.charge_to(unit.group)
                started = time.perf_counter()
                error = ""
                try:
                    unit.call()
                except Exception as exc:  # noqa: BLE001 - a unit that fails compiles later, where it is used
                    failures += 1
                    error = f"{type(exc).__name__}: {exc}"
                    emit(f"FAILED {unit.name}: {error}")
                claim.finish(error)
                run.cpu[unit.group] = time.process_time()
                run.report(unit, f"{time.perf_counter() - started:.2f}s")
                run.close_groups()
            run.close_groups(final=True)
    emit("DONE")
    return 0 if failures == 0 else 1


class _Run:
    """One process's walk over the shared units: what it takes next, what it reports, the group markers."""

    def __init__(self, numba_dir, board: UnitBoard, units: list[Unit], emit, timings) -> None:
        self.numba_dir, self.board, self.units, self.emit, self.timings = numba_dir, board, units, emit, timings
        self.names = {u.name for u in units}
        self.cpu: dict[str, float] = {}  # this process's CPU when it ended its last unit of each group
        self.closed: set[str] = set()

    def _cached(self, name: str) -> bool:
        return name not in self.names or self.board.done(name) is not None  # another group's: prepared before

    def next(self, pending: list[Unit]):
        """The first unit of ``pending`` whose needs are cached and that no live process holds, claimed;
        drops the units done meanwhile from ``pending``; None when none can be taken now."""
        pending[:] = [u for u in pending if self.board.done(u.name) is None]
        for unit in pending:
            if all(self._cached(name) for name in unit.needs()):
                claim = self.board.try_claim(unit.name)
                if claim is not None:
                    return unit, claim
        return None

    def report(self, unit: Unit, how: str) -> None:
        """``KERNELS <group> <done> <total> <unit> <how>``: done counts the group's units done by any process."""
        mine = [u.name for u in self.units if u.group == unit.group]
        done = sum(self.board.done(name) is not None for name in mine)
        failed = (self.board.done(unit.name) or {}).get("failed")
        if failed and how == "cached":
            self.emit(f"FAILED {unit.name}: {failed}")
        self.emit(f"KERNELS {unit.group} {done} {len(mine)} {unit.name} {how}")

    def close_groups(self, final: bool = False) -> None:
        """Mark each group whose units are all done (by whichever process); at the end, give this process's
        compile times of every group it worked on."""
        for group in dict.fromkeys(u.group for u in self.units):
            if group in self.closed:
                continue
            states = [self.board.done(u.name) for u in self.units if u.group == group]
            complete = all(state is not None for state in states)
            if not complete and not final:
                continue
            self.closed.add(group)
            if complete:
                marker = ready_file(self.numba_dir, group)
                marker.parent.mkdir(parents=True, exist_ok=True)
                part = marker.with_name(f"{marker.name}.{os.getpid()}.part")
                part.write_text(json.dumps({"key": cache_key(), "failures": sum(bool(s["failed"]) for s in states)}),
                                encoding="utf-8")
                os.replace(part, marker)
            if self.timings and group in self.cpu:  # the whole process's CPU by then (start-up, set-up and compiles):
                for line in self.timings.take(group):  # the benchmark's "on a core of its own"
                    self.emit(line)
                self.emit(f"COMPILE {group} {self.cpu[group]:.2f} 0 process")
            if complete:
                self.emit(f"GROUP {group}")


def main(argv: list[str] | None = None) -> int:
    """``[--prepare-kernels] [--groups detectors,backtest,sweep] [--prefer backtest]``: what the service and the
    installer run (``--prefer``: take that group's units first whenever they can run)."""
    args = [a for a in (sys.argv[1:] if argv is None else argv) if a != "--prepare-kernels"]
    usage = f"usage: --prepare-kernels [--groups {','.join(GROUPS)}] [{PREFER_FLAG} GROUP]"
    options: dict[str, str] = {}
    while len(args) >= 2 and args[0] in ("--groups", PREFER_FLAG) and args[0] not in options:
        options[args[0]], args = args[1], args[2:]
    if args:
        print(usage, file=sys.stderr)
        return 2
    groups = tuple(g for g in options.get("--groups", ",".join(GROUPS)).split(",") if g)
    prefer = options.get(PREFER_FLAG, "")
    unknown = sorted(set(groups + ((prefer,) if prefer else ())) - set(GROUPS))
    if unknown:
        print(f"--groups/{PREFER_FLAG}: unknown group(s) {', '.join(unknown)}; groups: {', '.join(GROUPS)}",
              file=sys.stderr)
        return 2
    if hasattr(os, "nice"):  # the window's start-up first (candles at once), then this has the CPU to itself
        os.nice(PREPARATION_NICE)
    numba_dir = os.environ.get("NUMBA_CACHE_DIR")
    if not numba_dir:
        print("NUMBA_CACHE_DIR is not set (ita_desktop sets it on import)", file=sys.stderr)
        return 2
    return prepare(numba_dir, lambda line: print(line, flush=True), groups, prefer)

if __name__ == "__main__":
    sys.exit(main())
