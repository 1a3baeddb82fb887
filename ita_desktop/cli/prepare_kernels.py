"""The kernel preparation process: compiles every numba kernel a session uses, once, into the cache.

Run as a separate process (``python -m ita_desktop.cli.prepare_kernels``, or ``ita --prepare-kernels``
in a frozen build) by ``KernelService`` when the cache for this code is missing, and by the
installer after installing. numba's compiler holds the GIL for 50-120 ms stretches, so it must
never run in the window's process while the trader looks at it.

It compiles by running the real code on small seeded demo bars (the same dtypes and layouts as
real bars), so exactly the specialisations a session uses are compiled, no more: one unit per
detector kind (after the units of the kinds it depends on), then the simulator and the rule matcher
of one seed rule's backtest (every rule runs the same kernels on the same types), then the
sweep kernel: three groups, in the order a session needs them. Several processes may run at once
(one per core, ``kernel_service.plan``): they share the units through ``cli/unit_board`` (a unit
claimed by one, waiting until the units it needs are cached), so none compiles a kernel another
compiles; with ``--prefer backtest`` a process may take the backtest's units while an earlier group's
are left (when none of those can be taken now). Protocol on
stdout, one line each: ``KERNELS <group> <done> <total> <unit> <how>`` per unit done (by this
process, ``<how>`` its wall time, or found done, ``cached``; ``<done>`` counts the group's units done
by any process), ``FAILED <unit>: <error>`` before a unit that failed, ``GROUP <name>`` when a group
is cached (its last unit done, by any process: ``detectors`` first, the window draws overlays from
then on), ``PRUNED <key>`` per stale key folder removed first, ``DONE`` at the end; with
``ITA_KERNEL_TIMINGS=1``, after each unit, one ``COMPILE <group> <own CPU s> <count> <kernel>`` line per
kernel it compiled, a ``total`` line and ``COMPILE <group> <process CPU s> <pid> process``.
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
SIMULATOR = "simulator"  # the backtest group's first unit: needs no detector
MATCHER = "matcher"  # the seed rule's scan: the rule matcher's kernels, without the simulator's
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

    from ita_desktop.detectors.dispatcher import ALL_KINDS

    try:
        compiled = compile_rule(load_rule(core.backtests._path(SEED_RULE, None)).rule, SEED_SYMBOL)
    except Exception:  # noqa: BLE001 - the backtest unit reports it; until then it waits for every detector
        return frozenset(ALL_KINDS)
    return _kind_units(compiled.kinds, compiled.params)


def _closure(names: frozenset[str], needs: dict[str, frozenset[str]]) -> frozenset[str]:
    out = set(names)
    while True:
        more = {dep for name in out for dep in needs.get(name, ())} - out
        if not more:
            return frozenset(out)
        out |= more


def _units(core, symbol: Callable[[], str], backtest_first: bool = False) -> list[Unit]:
    """The units in the order one process compiles them (the order a session needs them); ``symbol()``
    stores the seed bars the backtest units read (on first call: the detectors need no store).
    ``backtest_first``: the detectors the seed backtest runs before the others (order blocks, ...), so
    that with several processes the backtest can begin while the last detectors compile."""
    from ita_desktop.data.demo import generate_demo_bars
    from ita_desktop.detectors.dispatcher import ALL_KINDS, DetectorParams
    from ita_desktop.domain.timeframes import Timeframe

    start = (int(time.time()) // 86_400 - DEMO_DAYS) * 86_400
    bars = generate_demo_bars("EURUSD", start_utc=start, days=DEMO_DAYS, timeframe=Timeframe.M5)
    kinds = DETECTOR_ORDER + tuple(k for k in ALL_KINDS if k not in DETECTOR_ORDER)
    needs = {kind: _kind_units((kind,), DetectorParams()) - {kind} for kind in kinds}
    order = _topological(kinds, needs)
    if backtest_first:  # a kind's needs are in the closure with it: the order stays topological
        first = _closure(_rule_units(core), needs)
        order = tuple(k for k in order if k in first) + tuple(k for k in order if k not in first)
    units = [Unit("detectors", kind, lambda kind=kind: core.detection.detect(bars, [kind]),
                  lambda kind=kind: needs[kind]) for kind in order]
    units.append(Unit("detectors", "all overlays", lambda: core.detection.detect(bars), lambda: frozenset(kinds)))
    # One seed rule's backtest compiles the rule matcher and the simulator: every rule runs the same
    # kernels with the same argument types, so backtesting the others would compile nothing more. Its two
    # halves are units of their own, so two processes compile them at once (the simulator needs no
    # detector; the matcher, the seed rule's scan, needs the rule's detectors); the backtest then loads both.
    backtest = f"backtest {SEED_RULE}"
    rule_units = functools.cache(lambda: _rule_units(core))
    units.append(Unit("backtest", SIMULATOR, lambda: _simulate_seed(core, symbol), lambda: frozenset()))
    units.append(Unit("backtest", MATCHER, lambda: core.backtests.scan(SEED_RULE, symbol()), rule_units))
    units.append(Unit("backtest", backtest, lambda: core.backtests.backtest(SEED_RULE, symbol()),
                      lambda: rule_units() | {SIMULATOR, MATCHER}))
    units.append(Unit("sweep", "sweep", lambda: core.backtests.sweep_rule(SEED_RULE, symbol(), SWEEP_GRID),
                      lambda: frozenset({backtest})))  # the sweep kernel calls the simulator's
    return units


def _preferred(units: list[Unit], prefer: str, done: Callable[[str], bool]) -> list[Unit]:
    """The order a process looks for work in now. Without ``prefer`` (the first process, or the only one): no
    unit of a later group while a unit of an earlier group is left (not ``done``): when the other process
    held the last detector unit, the first took the simulator and the two shared a core the overlays
    waited on (19.6 s against 8.4-12.8 s, load 1.7-1.9). With ``prefer`` (the later processes): the usual
    order, so a unit of ``prefer``'s group (the simulator, which needs no detector) is taken only when no
    detector unit can be taken now: the overlays first, the simulator in the time another process spends on
    the last detectors (the Decision Log has the schedules measured)."""
    if prefer:
        return units
    groups = list(dict.fromkeys(u.group for u in units))
    left = [g for g in groups if any(u.group == g and not done(u.name) for u in units)]
    return [u for u in units if not left or groups.index(u.group) <= groups.index(left[0])]


def _simulate_seed(core, symbol: Callable[[], str]) -> None:
    """The simulator's kernels (most of the backtest group's compile) without the detectors: one market order
    on the seed bars as the seed backtest loads them (its setup bars, lower bars and settings: the same
    argument types, so the backtest then loads them from the cache), while other units compile the
    detectors the backtest runs."""
    from ita_desktop.backtest.simulator import simulate
    from ita_desktop.rules.engine.occurrences import OrderPlan
    from ita_desktop.rules.engine.orders_from_rule import to_order_rows
    from ita_desktop.rules.engine.runner import setup_bars_with_starts
    from ita_desktop.workflows.rule_backtest import instrument_settings, prepare

    prep = prepare(core.store, core.backtests._path(SEED_RULE, None), symbol())
    bars, _starts = setup_bars_with_starts(prep.bars, prep.compiled)
    signal = len(bars) - 10
    close = float(bars.close[signal])
    plan = OrderPlan("market", close, close * 0.99, close * 0.01, ({"r": 1.0},), -1, None, -1, None, None, None,
                     1.0)
    orders = to_order_rows([(0, 1, signal, plan)], prep.version_id)
    simulate(bars, orders, instrument_settings(prep.compiled, None), lower=prep.lower)


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
    needs), one with ``prefer`` taking that group's units when no earlier one can be taken. A group's
    marker is written by whichever process sees its last unit done."""
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
            units = [unit for unit in _units(core, symbol, {"detectors", "backtest"} <= set(groups))
                     if unit.group in groups]
            run = _Run(numba_dir, board, units, emit, timings)
            for unit in units:  # done before this process began (a preparation stopped half-way, another process)
                if board.done(unit.name) is not None:
                    run.report(unit, "cached")
            pending = {unit.name for unit in units}
            done = lambda name: board.done(name) is not None  # noqa: E731
            while pending:
                taken = run.next([u for u in _preferred(units, prefer, done) if u.name in pending])
                if taken is None:
                    pending = {name for name in pending if not done(name)}
                    if pending:
                        time.sleep(WAIT_S)  # every unit left is compiling elsewhere or waits for one that is
                    continue
                unit, claim = taken
                pending.discard(unit.name)
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
                if timings:  # this unit's compiles, with this process's CPU by then (start-up, set-up, compiles):
                    for line in timings.take(unit.group):  # the benchmark's "on a core of its own"
                        emit(line)
                    emit(f"COMPILE {unit.group} {time.process_time():.2f} {os.getpid()} process")
                run.report(unit, f"{time.perf_counter() - started:.2f}s")
                run.close_groups()
            run.close_groups()  # groups whose last unit another process ended
    emit("DONE")
    return 0 if failures == 0 else 1


class _Run:
    """One process's walk over the shared units: what it takes next, what it reports, the group markers."""

    def __init__(self, numba_dir, board: UnitBoard, units: list[Unit], emit, timings) -> None:
        self.numba_dir, self.board, self.units, self.emit, self.timings = numba_dir, board, units, emit, timings
        self.names = {u.name for u in units}
        self.closed: set[str] = set()

    def _cached(self, name: str) -> bool:
        return name not in self.names or self.board.done(name) is not None  # another group's: prepared before

    def next(self, order: list[Unit]):
        """The first unit of ``order`` not done, whose needs are cached and that no live process holds,
        claimed; None when none can be taken now."""
        for unit in order:
            if self.board.done(unit.name) is not None:
                continue
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

    def close_groups(self) -> None:
        """Mark each group whose units are all done (by whichever process), once per process."""
        for group in dict.fromkeys(u.group for u in self.units):
            states = [self.board.done(u.name) for u in self.units if u.group == group]
            if group in self.closed or any(state is None for state in states):
                continue
            self.closed.add(group)
            marker = ready_file(self.numba_dir, group)
            marker.parent.mkdir(parents=True, exist_ok=True)
            part = marker.with_name(f"{marker.name}.{os.getpid()}.part")
            failures = sum(bool(state["failed"]) for state in states)
            part.write_text(json.dumps({"key": cache_key(), "failures": failures}), encoding="utf-8")
            os.replace(part, marker)
            self.emit(f"GROUP {group}")


def main(argv: list[str] | None = None) -> int:
    """``[--prepare-kernels] [--groups detectors,backtest,sweep] [--prefer backtest]``: what the service and the
    installer run (``--prefer``: that group's units may be taken while an earlier group's are left)."""
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
        os.nice(PREPARATION_NICE)  # every process alike (tried: nice 19 for the later ones starved the detector
        # units they held while the first compiled the simulator: a priority follows the process, not the unit)
    numba_dir = os.environ.get("NUMBA_CACHE_DIR")
    if not numba_dir:
        print("NUMBA_CACHE_DIR is not set (ita_desktop sets it on import)", file=sys.stderr)
        return 2
    return prepare(numba_dir, lambda line: print(line, flush=True), groups, prefer)

if __name__ == "__main__":
    sys.exit(main())
