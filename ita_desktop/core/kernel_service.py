"""Kernel preparation: are this code's numba kernels cached, and if not, compile them in another process.

The window asks ``ready("detectors")`` before it detects (a file check: no numba import); when the
cache is missing or stale it calls ``start()``, which runs ``cli/prepare_kernels`` as a child process
on a plain daemon thread (not the job pool: the store must still open meanwhile) and publishes
``KernelsProgressed`` per unit and ``KernelsReady`` per group on the bus. The compiler then holds
the child's GIL, never the window's. If the child cannot start or fails, ``KernelsReady`` carries the
error and the kernels compile where they are first used (slower, still correct).
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from ita_desktop.bus.events import KernelsProgressed, KernelsReady

if TYPE_CHECKING:
    from ita_desktop.core.app_core import Core

log = logging.getLogger(__name__)

GROUPS = ("detectors", "backtest", "sweep")  # in the order the preparation compiles them
PARALLEL_MIN_CORES = 4


def ready_file(numba_dir: Path | str, group: str) -> Path:
    """The marker a prepared group leaves beside its kernels (in the key's folder: new code, no marker)."""
    from ita_desktop.kernel_cache import cache_root

    return cache_root(numba_dir) / f"ready-{group}.json"


def preparation_command() -> list[str]:
    """How to start the preparation process: ``python -m ...`` from sources, the ``ita`` executable frozen."""
    from ita_desktop.child_process import child_command

    return child_command("ita_desktop.cli.prepare_kernels")


def plan(missing: tuple[str, ...], cores: int) -> list[tuple[str, ...]]:
    """Which groups each preparation process compiles. With PARALLEL_MIN_CORES cores or more, the
    detectors get a process of their own (the overlays wait for them) and the backtest and sweep
    another, started at the same time: the backtest is then ready after about max(detectors,
    backtest) instead of their sum (its process compiles the detectors a rule needs too: CPU spent,
    wall time saved). With fewer cores the second process would slow the overlays down (measured on
    2 busy cores: overlays 21 s -> 41 s), so one process compiles the groups in order."""
    first = tuple(g for g in missing if g == "detectors")
    rest = tuple(g for g in missing if g != "detectors")
    if cores >= PARALLEL_MIN_CORES and first and rest:
        return [first, rest]
    return [missing] if missing else []


class KernelService:
    """``ready(group)``, ``start()`` (idempotent), ``wait(group, timeout)``; events on the core's bus."""

    def __init__(self, core: Core) -> None:
        self._core = core
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._processes: list[subprocess.Popen[str]] = []
        self._parts: list[tuple[str, ...]] = []  # the groups each process prepares
        self._done = {group: threading.Event() for group in GROUPS}
        self._stopping = False
        self.error = ""
        self.compile_times: list[str] = []  # the child's COMPILE lines (ITA_KERNEL_TIMINGS=1): for benchmarks

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
            self._thread = threading.Thread(target=self._run, args=(plan(missing, os.cpu_count() or 1),),
                                            name="kernel-preparation", daemon=True)
            self._thread.start()
            return True

    def stop(self) -> None:
        """End the preparation (the window is closing); kernels cached so far stay cached. Not an error."""
        self._stopping = True
        for process in list(self._processes):
            if process.poll() is None:
                process.terminate()

    def _run(self, parts: list[tuple[str, ...]]) -> None:
        publish = self._core.bus.publish
        self._parts = parts
        readers = [threading.Thread(target=self._run_one, args=(k, groups, publish), daemon=True,
                                    name=f"kernel-preparation-{k}") for k, groups in enumerate(parts)]
        for reader in readers:
            reader.start()
        for reader in readers:
            reader.join()
        if self.error:
            log.warning("%s", self.error)
        for group in GROUPS:  # ended: whatever is not cached compiles where it is first used
            if not self._done[group].is_set():
                self._done[group].set()
                publish(KernelsReady(group=group, error=self.error or "not prepared"))

    def _run_one(self, k: int, groups: tuple[str, ...], publish) -> None:
        env = dict(os.environ, NUMBA_CACHE_DIR=str(self.numba_dir), PYTHONUNBUFFERED="1")
        flags = getattr(subprocess, "CREATE_NO_WINDOW", 0)  # no console window flashing up on Windows
        command = preparation_command() + ["--groups", ",".join(groups)]
        try:
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       stdin=subprocess.DEVNULL, text=True, env=env, creationflags=flags)
        except OSError as exc:
            self.error = f"kernel preparation could not start: {exc}"
            return
        self._processes.append(process)
        assert process.stdout is not None
        for line in process.stdout:
            self._handle(k, line.strip(), publish)
        code = process.wait()
        stderr = process.stderr.read() if process.stderr is not None else ""
        if code != 0 and not self.error and not self._stopping:
            self.error = f"kernel preparation exited with {code}: {stderr.strip()[-500:]}"

    def _handle(self, k: int, line: str, publish) -> None:
        kind, _, rest = line.partition(" ")
        if kind == "KERNELS":  # each process counts its own units: "detectors 7 of 12", "backtest 1 of 2"
            done, total, unit = rest.split(" ", 2)
            publish(KernelsProgressed(group=self._parts[k][0], done=int(done), total=int(total),
                                      unit=unit.rsplit(" ", 1)[0]))
        elif kind == "GROUP" and rest in self._done:
            self._done[rest].set()
            publish(KernelsReady(group=rest))
        elif kind == "COMPILE":
            self.compile_times.append(rest)
        elif kind == "FAILED":
            self.error = rest
            log.warning("kernel preparation: %s", rest)
