"""Kernel preparation: are this code's numba kernels cached, and if not, compile them in another process.

The window asks ``ready("detectors")`` before it detects (a file check: no numba import); when the
cache is missing or stale it calls ``start()``, which runs ``cli/prepare_kernels`` as a child process
on a plain daemon thread (not the job pool: the store must still open meanwhile) and publishes
``KernelsProgressed`` per unit and ``KernelsReady`` per group on the bus. The compiler then holds
the child's GIL, never the window's. If the child cannot start or fails, ``KernelsReady`` carries the
error and the kernels compile where they are first used (slower, still correct).
"""

from __future__ import annotations

import atexit
import logging
import os
import subprocess
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ita_desktop.bus.events import KernelsProgressed, KernelsReady

if TYPE_CHECKING:
    from ita_desktop.core.app_core import Core

log = logging.getLogger(__name__)

GROUPS = ("detectors", "backtest", "sweep")  # in the order the preparation compiles them
MAX_PROCESSES = 3  # the unit graph keeps at most ~3 busy at once (a backtest needs most detectors first)
PREFER_FLAG = "--prefer"  # prepare_kernels: this group's units may be taken while an earlier group's are left
#: The window's service starts the later processes this long after its own start (after the window's first
#: show and candles): started at once, their imports lengthened the first show's turn (GUI thread's longest
#: gap 33-45 ms, median 39, against 20-32 ms, median 26, 4 runs each near quiet; overlays 8.4-8.9 s against
#: 8.0-8.4 s, the first backtest 2.5-3.0 s against 3.0-3.8 s).
LATER_START_S = 0.6
UNITS_FOLDER = "units"  # in the key's folder: the units' claims and done markers (cli/unit_board.py)


def ready_file(numba_dir: Path | str, group: str) -> Path:
    """The marker a prepared group leaves beside its kernels (in the key's folder: new code, no marker)."""
    from ita_desktop.kernel_cache import cache_root

    return cache_root(numba_dir) / f"ready-{group}.json"


def preparation_command() -> list[str]:
    """How to start the preparation process: ``python -m ...`` from sources, the ``ita`` executable frozen."""
    from ita_desktop.child_process import child_command

    return child_command("ita_desktop.cli.prepare_kernels")


def plan(missing: tuple[str, ...], cores: int) -> list[tuple[str, ...]]:
    """The groups each preparation process compiles: every process all of ``missing``, one process per
    core up to MAX_PROCESSES. They share the units as they go (cli/unit_board.py: no kernel compiled
    twice), the first taking the detectors first, the others the backtest as soon as the detectors it
    needs are cached; the window's process is mostly idle meanwhile, so on 2 cores the second core
    compiles too. (A static split, detectors in one process and backtest and sweep in another, made the
    second compile the rule's detectors again: overlays 21 s -> 41 s on 2 busy cores.)"""
    if not missing:
        return []
    return [missing] * max(1, min(cores, MAX_PROCESSES))


def _prefer(k: int, groups: tuple[str, ...]) -> list[str]:
    """Process ``k``'s preference: the first only the detectors until they are done (the overlays wait for them),
    the rest also the backtest's units whenever no detector unit can be taken."""
    return [PREFER_FLAG, "backtest"] if k > 0 and "backtest" in groups else []


def _spawn(numba_dir: Path, groups: tuple[str, ...], k: int = 0) -> subprocess.Popen[str]:
    """Preparation process ``k`` compiling ``groups`` into ``numba_dir``; its protocol lines on stdout."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(numba_dir), PYTHONUNBUFFERED="1")
    # no console window flashing up on Windows, and below the window's priority (POSIX: the child's nice)
    flags = getattr(subprocess, "CREATE_NO_WINDOW", 0) | getattr(subprocess, "BELOW_NORMAL_PRIORITY_CLASS", 0)
    return subprocess.Popen(preparation_command() + ["--groups", ",".join(groups)] + _prefer(k, groups),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                            env=env, creationflags=flags)


#: Processes ``prestart`` began, waiting for the window's KernelService to read them: (numba dir, parts, processes)
_PRESTARTED: list[tuple[Path, list[tuple[str, ...]], list[subprocess.Popen[str]]]] = []


def prestart() -> bool:
    """Start the preparation now, before the window's own imports and set-up (1-3 s on a first start),
    when this code's kernels are not all cached; True if started. Only the first process of the plan:
    the window's imports take a core meanwhile, and on 2 cores a second process would halve the
    first's. The window's ``KernelService.start`` then takes it over (its lines wait in the pipe
    meanwhile) and starts the others. A process nobody
    took over (the app exited early: ``--version``, no display, bad settings) is ended at exit.
    Needs ``NUMBA_CACHE_DIR`` (set on importing ``ita_desktop``); imports neither numba nor Qt."""
    numba_dir = os.environ.get("NUMBA_CACHE_DIR")
    if not numba_dir or _PRESTARTED:
        return False
    missing = tuple(g for g in GROUPS if not ready_file(numba_dir, g).is_file())
    parts = plan(missing, os.cpu_count() or 1)
    if not parts:
        return False
    try:  # the first only: the others start with the window's service, once its imports are done (below)
        processes = [_spawn(Path(numba_dir), parts[0], 0)]
    except OSError as exc:  # the window's start() tries again and reports it
        log.warning("kernel preparation could not start early: %s", exc)
        return False
    _PRESTARTED.append((Path(numba_dir), parts, processes))
    atexit.register(_end_prestarted)
    return True


def _end_prestarted() -> None:
    for _dir, _parts, processes in _PRESTARTED:
        for process in processes:
            if process.poll() is None:
                process.terminate()
    _PRESTARTED.clear()


def _take_prestarted(numba_dir: Path, missing: tuple[str, ...]):
    """The prestarted (parts, processes) when they prepare what is missing in this folder; else None
    (and any prestarted process is ended: it compiles for another folder)."""
    if not _PRESTARTED:
        return None
    folder, parts, processes = _PRESTARTED[0]
    if folder == numba_dir and set(missing) <= {g for part in parts for g in part}:
        _PRESTARTED.clear()
        return parts, processes
    _end_prestarted()
    return None


class KernelService:
    """``ready(group)``, ``start()`` (idempotent), ``wait(group, timeout)``; events on the core's bus."""

    def __init__(self, core: Core) -> None:
        self._core = core
        self._lock = threading.Lock()
        self._count_lock = threading.Lock()  # the reader threads' counts and group events
        self._thread: threading.Thread | None = None
        self._processes: list[subprocess.Popen[str]] = []
        self._done = {group: threading.Event() for group in GROUPS}
        self._stopping = False
        self._failed: set[str] = set()
        self._seen: dict[str, set[str]] = {}  # per group, the units reported done so far (by any process)
        # groups whose KernelsReady went out: apart from _done, which ready() also sets when it finds a group's
        # marker on disk (the window asks while the marker is written and before the GROUP line is read: that
        # event must still go out, the window's full detection waits for it)
        self._published: set[str] = set()
        self.error = ""
        self.compile_times: list[str] = []  # the child's COMPILE lines (ITA_KERNEL_TIMINGS=1): for benchmarks
        self.units_done: set[str] = set()  # units compiled without failure ("fvg", ...): detector kinds usable now

    @property
    def numba_dir(self) -> Path:
        return Path(os.environ.get("NUMBA_CACHE_DIR") or self._core.paths.numba_cache)

    def ready(self, group: str = "detectors") -> bool:
        """True once this code's kernels of ``group`` are cached (or their preparation has ended, even failed)."""
        if self._done[group].is_set():
            return True
        if ready_file(self.numba_dir, group).is_file():
            self._done[group].set()
            return True
        return False

    def kinds_ready(self, kinds: tuple[str, ...]) -> bool:
        """True when every detector kind in ``kinds`` can run without compiling here: its unit (which
        compiled what the kind depends on) is done, or the whole detectors group is."""
        return self.ready("detectors") or set(kinds) <= self.units_done

    def wait(self, group: str = "detectors", timeout: float | None = None) -> bool:
        return self.ready(group) or self._done[group].wait(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> bool:
        """Start the preparation process unless every group is ready or it already runs; True if started."""
        with self._lock:
            if self.running or all(self.ready(g) for g in GROUPS):
                return False
            missing = tuple(g for g in GROUPS if not self.ready(g))
            taken = _take_prestarted(self.numba_dir, missing)  # started before the window's imports
            parts, started = taken if taken else (plan(missing, os.cpu_count() or 1), [])
            self._thread = threading.Thread(target=self._run, args=(parts, started),
                                            name="kernel-preparation", daemon=True)
            self._thread.start()
            return True

    def stop(self) -> None:
        """End the preparation (the window is closing); kernels cached so far stay cached. Not an error."""
        self._stopping = True
        for process in list(self._processes):
            if process.poll() is None:
                process.terminate()

    def _run(self, parts: list[tuple[str, ...]], started: list[subprocess.Popen[str]]) -> None:
        publish = self._core.bus.publish
        readers = [threading.Thread(target=self._run_one, daemon=True, name=f"kernel-preparation-{k}",
                                    args=(k, groups, publish, started[k] if k < len(started) else None))
                   for k, groups in enumerate(parts)]
        for reader in readers:
            reader.start()
        for reader in readers:
            reader.join()
        if self.error:
            log.warning("%s", self.error)
        for group in dict.fromkeys(g for part in parts for g in part):  # ended: what is not cached compiles where used
            cached = ready_file(self.numba_dir, group).is_file()  # marked by a process whose line was lost
            self._publish_ready(group, publish, "" if cached else self.error or "not prepared")

    def _publish_ready(self, group: str, publish, error: str = "") -> None:
        """``KernelsReady`` for ``group``, once, whichever reader thread (or the end of the run) comes first."""
        with self._count_lock:
            if group in self._published:
                return
            self._published.add(group)
            self._done[group].set()
            publish(KernelsReady(group=group, error=error))

    def _run_one(self, k: int, groups: tuple[str, ...], publish, process: subprocess.Popen[str] | None) -> None:
        if process is None:
            if k > 0:  # after the window's first show and candles
                time.sleep(LATER_START_S)
            if self._stopping:
                return
            try:
                process = _spawn(self.numba_dir, groups, k)
            except OSError as exc:
                self.error = f"kernel preparation could not start: {exc}"
                return
        self._processes.append(process)
        if self._stopping and process.poll() is None:
            process.terminate()  # stop() came before this process was listed
        assert process.stdout is not None
        for line in process.stdout:
            self._handle(k, line.strip(), publish)
        code = process.wait()
        stderr = process.stderr.read() if process.stderr is not None else ""
        if code != 0 and not self.error and not self._stopping:
            self.error = f"kernel preparation exited with {code}: {stderr.strip()[-500:]}"

    def _handle(self, k: int, line: str, publish) -> None:
        kind, _, rest = line.partition(" ")
        if kind == "KERNELS":  # "<group> <done> <total> <unit> <how>": a unit done, by this process or another
            group, _done, total, unit = rest.split(" ", 3)
            name = unit.rsplit(" ", 1)[0]
            with self._count_lock:  # one reader thread per process: each unit counted once, whoever reports it
                seen = self._seen.setdefault(group, set())
                if name in seen:
                    return
                seen.add(name)
                if name not in self._failed:
                    self.units_done.add(name)  # before the event: its subscribers read units_done
                event = KernelsProgressed(group=group, done=len(seen), total=int(total), unit=name)
                publish(event)  # under the lock: the counts reach the bus in order
        elif kind == "GROUP" and rest in self._done:  # two processes may both see the group's last unit done
            self._publish_ready(rest, publish)
        elif kind == "COMPILE":
            self.compile_times.append(rest)
        elif kind == "FAILED":
            self._failed.add(rest.split(":", 1)[0])
            self.error = rest
            log.warning("kernel preparation: %s", rest)
