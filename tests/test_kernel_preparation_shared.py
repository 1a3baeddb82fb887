"""Several kernel preparation processes sharing one cache: claims, markers, a killed process, a failure, progress.

Real child processes on a real cache folder. Most tests run against a copy of this code's kernels without
their markers (tests/support/kernel_caches.py: every unit goes through again, loading instead of
compiling); one compiles the detectors and the seed backtest on an empty cache with two processes and
checks that no kernel compiled twice.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from ita_desktop.bus.events import KernelsProgressed, KernelsReady
from ita_desktop.cli.unit_board import UnitBoard
from ita_desktop.core import kernel_service
from ita_desktop.core.kernel_service import GROUPS, PREFER_FLAG, UNITS_FOLDER, plan, ready_file
from ita_desktop.kernel_cache import cache_root
from tests.support.cores import new_core
from tests.support.kernel_caches import unmarked_copy

WAIT_S = 240
DETECTOR_UNITS = {"atr", "fvg", "swings", "structure", "order_blocks", "levels", "equal", "sweeps", "sessions",
                  "displacement", "trend", "all overlays"}
ALL_UNITS = DETECTOR_UNITS | {"simulator", "matcher", "backtest asia_sweep", "sweep"}
HOLDER = textwrap.dedent("""
    import sys
    from ita_desktop.cli.unit_board import UnitBoard
    claim = UnitBoard(sys.argv[1]).try_claim(sys.argv[2])
    print("held" if claim else "busy", flush=True)
    sys.stdin.read()  # holds the claim until killed or its stdin closes
""")


def _holder(folder: Path, unit: str) -> tuple[subprocess.Popen[str], str]:
    """A real process that claims ``unit`` and holds it (a preparation process in the middle of that unit)."""
    process = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder), unit], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


class _Preparation:
    """A real ``prepare_kernels`` process; its protocol lines collected by a thread as they come."""

    def __init__(self, numba_dir: Path, *args: str, env: dict[str, str] | None = None) -> None:
        environment = dict(os.environ, NUMBA_CACHE_DIR=str(numba_dir), PYTHONUNBUFFERED="1", **(env or {}))
        self.process = subprocess.Popen([sys.executable, "-m", "ita_desktop.cli.prepare_kernels", *args],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.strip())

    def finish(self) -> int:
        code = self.process.wait(WAIT_S)
        self._reader.join(30)
        return code

    def units(self, how: str | None = None) -> list[str]:
        """Units this process reported done: ``how`` None every one, "compiled" its own, "cached" found done."""
        out = []
        for line in self.lines:
            if line.startswith("KERNELS "):
                _group, _done, _total, rest = line.split(" ", 4)[1:]
                name, done_how = rest.rsplit(" ", 1)
                if how is None or (how == "cached") == (done_how == "cached"):
                    out.append(name)
        return out


def _wait(condition, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_claim_is_held_while_its_process_lives_and_taken_over_when_it_dies(tmp_path: Path):
    board = UnitBoard(tmp_path / "units")
    holder, said = _holder(board.folder, "swings")
    try:
        assert said == "held"
        assert board.try_claim("swings") is None  # a live process compiles it
        other = board.try_claim("fvg")
        assert other is not None and _holder(board.folder, "fvg")[1] == "busy"
    finally:
        holder.kill()
        holder.wait(30)
    taken = board.try_claim("swings")  # the OS dropped the dead process's lock: this one takes the unit over
    assert taken is not None
    taken.finish("RuntimeError: boom")
    other.finish()
    assert board.done("swings")["failed"] == "RuntimeError: boom" and board.done("fvg")["failed"] == ""
    assert board.try_claim("swings") is None and board.try_claim("fvg") is None  # done: nobody compiles it again
    assert board.done("equal") is None
    assert sorted(p.name for p in board.folder.iterdir() if p.suffix == ".part") == []


def test_two_processes_share_the_units_and_wait_for_a_unit_held_by_another(tmp_path: Path, monkeypatch):
    numba_dir = unmarked_copy(tmp_path)
    board = UnitBoard(cache_root(numba_dir) / UNITS_FOLDER)
    holder, said = _holder(board.folder, "swings")  # a third process "compiling" swings, which dies below
    assert said == "held"
    try:
        first = _Preparation(numba_dir)
        second = _Preparation(numba_dir, PREFER_FLAG, "backtest")
        free = {"atr", "fvg", "levels", "sessions", "displacement", "simulator"}  # need nothing that waits for swings
        _wait(lambda: set(first.units() + second.units()) >= free)
        time.sleep(1.0)
        assert set(first.units() + second.units()) == free  # the rest waits for swings, which is held
        assert first.process.poll() is None and second.process.poll() is None
        assert not ready_file(numba_dir, "detectors").exists()
    finally:
        holder.kill()  # the process holding swings dies: one of the two takes swings over, then all the rest
        holder.wait(30)
    assert first.finish() == 0 and second.finish() == 0
    compiled = first.units("compiled") + second.units("compiled")
    assert sorted(compiled) == sorted(ALL_UNITS)  # each unit by exactly one process
    assert len(first.units()) == len(set(first.units())) and len(second.units()) == len(set(second.units()))
    for group in GROUPS:
        assert f"GROUP {group}" in first.lines + second.lines
        assert json.loads(ready_file(numba_dir, group).read_text())["failures"] == 0
    assert first.lines[-1] == second.lines[-1] == "DONE"
    again = _Preparation(numba_dir)  # a later preparation (a group's marker lost, say) compiles nothing again
    assert again.finish() == 0 and sorted(again.units("cached")) == sorted(ALL_UNITS) and not again.units("compiled")


def _service_events(core) -> tuple[list[KernelsProgressed], list[KernelsReady]]:
    progressed: list[KernelsProgressed] = []
    ready: list[KernelsReady] = []
    core.bus.subscribe(KernelsProgressed, progressed.append)
    core.bus.subscribe(KernelsReady, ready.append)
    return progressed, ready


def _counted_once_in_order(progressed: list[KernelsProgressed]) -> None:
    """Per group: "Preparing detectors: n of 12" goes 1, 2, ... 12, each unit once, whichever process did it."""
    groups = (("detectors", DETECTOR_UNITS), ("backtest", {"simulator", "matcher", "backtest asia_sweep"}),
              ("sweep", {"sweep"}))
    for group, units in groups:
        mine = [e for e in progressed if e.group == group]
        assert [e.done for e in mine] == list(range(1, len(units) + 1))
        assert {e.total for e in mine} == {len(units)} and {e.unit for e in mine} == units


def test_the_service_runs_two_processes_and_a_killed_one_leaves_its_work_to_the_other(
        tmp_path: Path, ita_home: Path, monkeypatch):
    numba_dir = unmarked_copy(tmp_path)
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(numba_dir))
    monkeypatch.setattr(kernel_service.os, "cpu_count", lambda: 2)
    with new_core() as core:
        progressed, ready = _service_events(core)
        assert core.kernels.start()
        _wait(lambda: len(core.kernels._processes) == 2)
        core.kernels._processes[0].send_signal(signal.SIGKILL)  # still importing: it has done nothing yet
        assert core.kernels.wait("sweep", WAIT_S)
        core.kernels._thread.join(WAIT_S)
        core.bus.wait_idle(5.0)
    assert "exited with -9" in core.kernels.error
    assert sorted(e.group for e in ready) == sorted(GROUPS) and all(not e.error for e in ready)
    assert [e.group for e in ready].index("backtest") < [e.group for e in ready].index("sweep")
    _counted_once_in_order(progressed)
    assert core.kernels.units_done == ALL_UNITS
    assert all(ready_file(numba_dir, g).is_file() for g in GROUPS)


FAILING = textwrap.dedent("""
    import sys
    import ita_desktop.cli.prepare_kernels as prepare

    real_units = prepare._units

    def fail():
        raise RuntimeError("stand-in compile error")

    def units(*args):
        out = real_units(*args)
        for unit in out:
            if unit.name == "order_blocks":
                unit.call = fail
        return out

    prepare._units = units
    sys.exit(prepare.main(sys.argv[1:]))
""")


def test_a_failed_unit_is_reported_once_counted_in_its_group_and_not_usable(tmp_path: Path, ita_home: Path,
                                                                           monkeypatch):
    numba_dir = unmarked_copy(tmp_path)
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(numba_dir))
    monkeypatch.setattr(kernel_service.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(kernel_service, "preparation_command", lambda: [sys.executable, "-c", FAILING])
    with new_core() as core:
        progressed, ready = _service_events(core)
        assert core.kernels.start()
        assert core.kernels.wait("sweep", WAIT_S)
        core.kernels._thread.join(WAIT_S)
        core.bus.wait_idle(5.0)
        assert len(core.kernels._processes) == 2
    assert core.kernels.error == "order_blocks: RuntimeError: stand-in compile error"
    assert core.kernels.units_done == ALL_UNITS - {"order_blocks"}  # its layer waits for the group's full pass
    assert not core.kernels.kinds_ready(("order_blocks",)) or core.kernels.ready("detectors")
    _counted_once_in_order(progressed)
    assert sorted(e.group for e in ready) == sorted(GROUPS)
    assert json.loads(ready_file(numba_dir, "detectors").read_text())["failures"] == 1
    assert json.loads(ready_file(numba_dir, "backtest").read_text())["failures"] == 0


@pytest.mark.skipif(os.name == "nt", reason="compiles on an empty cache: POSIX CI only, as the installer smoke")
def test_two_processes_on_an_empty_cache_compile_each_kernel_once(tmp_path: Path):
    """The detectors and the seed backtest on an empty cache: every kernel (a cached dispatcher) compiled by
    one process only: the backtest waits for the detectors it runs instead of compiling them again."""
    from numba.core.registry import CPUDispatcher

    import importlib

    numba_dir = tmp_path / "numba"
    env = {"ITA_KERNEL_TIMINGS": "1"}
    first = _Preparation(numba_dir, "--groups", "detectors,backtest", env=env)
    second = _Preparation(numba_dir, "--groups", "detectors,backtest", PREFER_FLAG, "backtest", env=env)
    assert first.finish() == 0 and second.finish() == 0, (first.lines[-5:], second.lines[-5:])
    assert sorted(first.units("compiled") + second.units("compiled")) == sorted(ALL_UNITS - {"sweep"})
    assert first.units("compiled") and second.units("compiled")  # both worked
    compiles: dict[str, int] = {}
    for line in first.lines + second.lines:
        if line.startswith("COMPILE "):
            _group, _own, count, name = line.split(" ", 4)[1:]
            if name not in ("total", "process"):
                compiles[name] = compiles.get(name, 0) + int(count)
    kernels = {}
    for name in compiles:
        module, _, attr = name.rpartition(".")
        try:
            value = getattr(importlib.import_module(f"ita_desktop.{module}"), attr)
        except (ImportError, AttributeError):
            continue  # numba's own overloads, nested helpers: compiled per caller, as in one process
        if isinstance(value, CPUDispatcher) and type(value._cache).__name__ == "FunctionCache":
            kernels[name] = compiles[name]
    assert "detectors.order_blocks.order_blocks_kernel" in kernels and "backtest._kernel._simulate_slots" in kernels
    # the dispatcher's input check runs before any detector: each process compiles it first (0.1-0.5 s)
    twice = {name: n for name, n in kernels.items()
             if n != 1 and name != "detectors.dispatcher._first_not_increasing"}
    assert twice == {}


def test_plan_runs_one_process_per_core_up_to_three_each_over_every_missing_group():
    assert plan(GROUPS, 1) == [GROUPS]
    assert plan(GROUPS, 2) == [GROUPS, GROUPS]
    assert plan(GROUPS, 8) == [GROUPS] * 3
    assert plan(("backtest", "sweep"), 2) == [("backtest", "sweep")] * 2
    assert plan((), 8) == []
    assert kernel_service._prefer(0, GROUPS) == [] and kernel_service._prefer(1, GROUPS) == [PREFER_FLAG, "backtest"]
    assert kernel_service._prefer(1, ("sweep",)) == []


def test_units_come_after_what_they_need_and_the_second_process_takes_the_backtest_when_idle():
    from ita_desktop.cli.prepare_kernels import DETECTOR_ORDER, _preferred, _topological, _units

    class _Core:  # the units' calls are not run here: only their order and needs
        backtests = None

    units = _units(_Core(), lambda: "EURUSD")
    names = [u.name for u in units]
    assert set(names) == ALL_UNITS and names.index("atr") < names.index("fvg")
    assert _topological(("fvg", "atr"), {"fvg": frozenset({"atr"}), "atr": frozenset()}) == ("atr", "fvg")
    for k, unit in enumerate(units):
        if unit.group == "detectors":
            assert set(unit.needs()) <= set(names[:k])  # walking in order, a process never waits for nobody
    layers_first = [n for n in names if n in DETECTOR_ORDER]
    assert layers_first.index("fvg") < layers_first.index("order_blocks")
    done: set[str] = set()
    # the later processes walk the usual order: the simulator (it needs nothing) only when no detector unit
    # can be taken, whatever is done
    assert [u.name for u in _preferred(units, "backtest", done.__contains__)] == names
    assert names.index("simulator") > max(names.index(n) for n in DETECTOR_UNITS)
    assert [u.name for u in _preferred(units, "", done.__contains__)] == \
        [n for n in names if n in DETECTOR_UNITS]  # the first process: the detectors before anything else
    done.update(DETECTOR_UNITS - {"sweeps"})
    assert [u.name for u in _preferred(units, "", done.__contains__)] == [n for n in names if n in DETECTOR_UNITS]
    done.add("sweeps")
    assert [u.name for u in _preferred(units, "", done.__contains__)] == \
        [n for n in names if n != "sweep"]  # then the backtest group (the sweep after it)
    assert [u.name for u in _preferred(units, "backtest", done.__contains__)] == names
    by_name = {u.name: u for u in units}  # the backtest's halves: the matcher waits for the rule's detectors only
    assert by_name["simulator"].needs() == frozenset()
    assert "swings" in by_name["matcher"].needs() and not by_name["matcher"].needs() & {"simulator", "matcher"}
    assert {"simulator", "matcher"} <= by_name["backtest asia_sweep"].needs()
