"""Per-kernel compile times of the preparation process (``ITA_KERNEL_TIMINGS=1``), for the first-start benchmark.

numba announces every compile of a jitted function (``numba:compile`` events, nested when one kernel
compiles another it calls). This listener keeps, per function, how many specialisations were
compiled and the time spent in them alone (nested compiles subtracted), so the benchmark can show
which kernels make a clean-cache first start slow and whether a change cut their specialisations.
"""

from __future__ import annotations

import time
from collections import defaultdict

TIMINGS_ENV = "ITA_KERNEL_TIMINGS"


class CompileTimes:
    """``install()`` once; ``charge_to(group)`` before a unit of that group; ``take(group)`` gives
    ``COMPILE <group> <own CPU s> <count> <module.function>`` lines, costliest first, for the group's
    compiles since its last ``take`` (and a ``total`` line)."""

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[dict[str, float], dict[str, int]]] = {}
        self.own: dict[str, float] = defaultdict(float)
        self.count: dict[str, int] = defaultdict(int)
        self._stack: list[list[float]] = []  # [started, time spent in nested compiles]

    def charge_to(self, group: str) -> None:
        """Count the compiles from now on under ``group`` (several processes interleave units of groups)."""
        self.own, self.count = self._buckets.setdefault(group, (defaultdict(float), defaultdict(int)))

    def install(self) -> None:
        from numba.core import event

        timings = self

        class _Listener(event.Listener):
            def on_start(self, ev) -> None:
                timings._stack.append([time.process_time(), 0.0])

            def on_end(self, ev) -> None:
                started, nested = timings._stack.pop()
                spent = time.process_time() - started
                if timings._stack:
                    timings._stack[-1][1] += spent
                fn = ev.data["dispatcher"].py_func
                name = f"{fn.__module__.removeprefix('ita_desktop.')}.{fn.__qualname__}"
                timings.own[name] += spent - nested
                timings.count[name] += 1

        event.register("numba:compile", _Listener())

    def take(self, group: str) -> list[str]:
        if group in self._buckets:
            self.own, self.count = self._buckets[group]
        ranked = sorted(self.own.items(), key=lambda kv: -kv[1])
        total = sum(self.own.values())
        lines = ([f"COMPILE {group} {own:.2f} {self.count[name]} {name}" for name, own in ranked]
                 + [f"COMPILE {group} {total:.2f} {sum(self.count.values())} total"])
        self.own.clear()
        self.count.clear()
        return lines
