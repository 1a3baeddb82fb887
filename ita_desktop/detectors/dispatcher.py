"""Run the detectors a request needs, sharing common work, and keep them live.

``detect(bars, kinds=("fvg", "ob"), params=...)`` works out the dependencies (order blocks
need structure, which needs swings; FVG, displacement and equal highs/lows need ATR; sweeps
need their level sources), builds each detector once, runs one full pass and returns a
:class:`DetectionResult`. The result IS the live state: ``result.update(new_bar)`` appends
one bar (or several), advances every detector over just the new bars with the same step
kernels, and returns a :class:`Changes` with the rows each table created or changed.

Tables (``result.tables``) are OBJECT_DTYPE arrays keyed by name: ``swings``, ``equal``,
``structure``, ``fvg``, ``order_blocks``, ``sweeps``, ``displacement`` and, from the
session-clock detector (levels.py), ``sessions`` and ``levels``. Series
(``result.series``): ``atr`` (float64) and ``trend`` (int8, structure after each bar).
Views returned by ``tables``/``series`` are live: copy them to keep a snapshot.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import threading
from collections.abc import Iterable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np
try:
    from numpy._core import multiarray as _multiarray
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core import multiarray as _multiarray

from ita_desktop.detectors._core import U, kernel
from ita_desktop.detectors.atr import AtrSeries
from ita_desktop.detectors.base import BarContext, ObjectDetector
from ita_desktop.detectors.displacement import Displacement, DisplacementParams
from ita_desktop.detectors.fvg import Fvg, FvgParams
from ita_desktop.detectors.liquidity import EqualHighsLows, EqualParams
from ita_desktop.detectors.objects import DetectedObject, rows_to_objects
from ita_desktop.detectors.order_blocks import OrderBlockParams, OrderBlocks
from ita_desktop.detectors.structure import Structure, StructureParams
from ita_desktop.detectors.swings import SwingParams, Swings
from ita_desktop.detectors.sweeps import SweepParams, Sweeps

#: Tables the detectors here produce, plus the session-clock ones.
OBJECT_KINDS = ("swings", "equal", "structure", "fvg", "order_blocks", "sweeps", "displacement", "sessions", "levels")
SERIES_KINDS = ("atr", "trend")
ALIASES = {
    "swing": "swings", "fvgs": "fvg", "gap": "fvg", "gaps": "fvg",
    "ob": "order_blocks", "obs": "order_blocks", "order_block": "order_blocks", "orderblocks": "order_blocks",
    "bos": "structure", "choch": "structure", "mss": "structure",
    "eq": "equal", "eqh": "equal", "eql": "equal", "equal_highs": "equal", "equal_lows": "equal",
    "liquidity": "equal",
    "sweep": "sweeps", "raid": "sweeps", "raids": "sweeps",
    "disp": "displacement", "displacements": "displacement",
    "session": "sessions", "level": "levels", "killzones": "sessions",
}
ALL_KINDS = OBJECT_KINDS + SERIES_KINDS
#: The kinds computed by this package's own kernels (not the session-clock ones).
MY_KINDS = ("swings", "equal", "structure", "fvg", "order_blocks", "sweeps", "displacement", "atr", "trend")


def normalize_kinds(kinds: Iterable[str] | str | None) -> tuple[str, ...]:
    """Request names -> canonical kind names (``None`` or ``"all"`` -> every kind)."""
    if kinds is None:
        return ALL_KINDS
    if isinstance(kinds, str):
        kinds = [k for k in kinds.split(",")]
    out: list[str] = []
    for raw in kinds:
        k = raw.strip().lower()
        if not k:
            continue
        if k == "all":
            return ALL_KINDS
        k = ALIASES.get(k, k)
        if k not in ALL_KINDS:
            raise ValueError(f"unknown detector kind {raw!r}; expected some of {', '.join(ALL_KINDS)} (or aliases "
                             f"{', '.join(sorted(ALIASES))})")
        if k not in out:
            out.append(k)
    return tuple(out)


@dataclass(frozen=True)
class DetectorParams:
    """Every parameter of every detector, grouped per detector (all have defaults)."""

    atr_length: int = 14
    swings: SwingParams = field(default_factory=SwingParams)
    displacement: DisplacementParams = field(default_factory=DisplacementParams)
    equal: EqualParams = field(default_factory=EqualParams)
    structure: StructureParams = field(default_factory=StructureParams)
    fvg: FvgParams = field(default_factory=FvgParams)
    order_blocks: OrderBlockParams = field(default_factory=OrderBlockParams)
    sweeps: SweepParams = field(default_factory=SweepParams)
    #: levels.SessionLevelParams (None = its defaults) and the session clock options.
    session_levels: Any = None
    session_tz: str = "America/New_York"
    day_start: str = "18:00"
    fold_weekend: bool = True

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> "DetectorParams":
        """From a plain mapping (YAML rules): ``{"swings": {"length": 3}, "fvg": {"min_atr": 0.5}}``."""
        data = dict(data or {})
        groups = {
            "swings": SwingParams, "displacement": DisplacementParams, "equal": EqualParams,
            "structure": StructureParams, "fvg": FvgParams, "order_blocks": OrderBlockParams, "sweeps": SweepParams,
        }
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            key = ALIASES.get(key, key)
            if key in groups:
                if isinstance(value, groups[key]):
                    kwargs[key] = value
                    continue
                if not isinstance(value, Mapping):
                    raise ValueError(f"detector params {key!r} must be a mapping, got {type(value).__name__}")
                names = {f.name for f in dataclasses.fields(groups[key])}
                unknown = sorted(set(value) - names)
                if unknown:
                    raise ValueError(f"unknown {key} parameter(s) {unknown}; expected some of {sorted(names)}")
                vals = dict(value)
                if key == "sweeps" and "sources" in vals:
                    vals["sources"] = tuple(vals["sources"])
                kwargs[key] = groups[key](**vals)
            elif key == "session_levels":
                kwargs[key] = value
            elif key in ("atr_length", "session_tz", "day_start", "fold_weekend"):
                kwargs[key] = value
            else:
                raise ValueError(f"unknown detector parameter group {key!r}")
        return cls(**kwargs)


def _plan(kinds: tuple[str, ...], params: DetectorParams) -> set[str]:
    """Detectors to build for the requested kinds (dependencies included)."""
    need: set[str] = set()

    def add(name: str) -> None:
        if name in need:
            return
        need.add(name)
        for dep in _DEPS.get(name, ()):
            add(dep)
        if name == "sweeps":
            for src in params.sweeps.sources:
                add("session_levels" if src == "levels" else src)

    for k in kinds:
        add({"sessions": "session_levels", "levels": "session_levels", "trend": "structure"}.get(k, k))
    return need


_DEPS = {
    "displacement": ("atr",),
    "equal": ("swings", "atr"),
    "structure": ("swings",),
    "fvg": ("atr",),
    "order_blocks": ("structure", "atr"),
}
_RUN_ORDER = ("atr", "session_levels", "swings", "displacement", "equal", "structure", "fvg", "order_blocks", "sweeps")
#: The detector whose kernel carries the ATR series when both run (fvg.Fvg.run_carrying): ATR's recurrence is
#: a serial chain of ~8 cycles a bar that runs in the shadow of FVG's branchy per-bar loop, ~1.5-2 ms less per
#: 1M bars on one thread than ATR's own kernel before it. FVG needs nothing else, so it takes ATR's place in
#: _RUN_ORDER, and ATR's readers wait for it on worker threads (:func:`_run_plan`).
ATR_HOST = "fvg"
#: What each built detector waits for when detectors run concurrently.
_RUN_DEPS = {
    "displacement": ("atr",), "equal": ("swings", "atr"), "structure": ("swings",), "fvg": ("atr",),
    "order_blocks": ("structure", "atr"), "sweeps": ("swings", "equal", "session_levels"),
}


def _run_plan(detectors: Mapping[str, Any]) -> tuple[tuple[str, ...], dict[str, tuple[str, ...]], str | None]:
    """The built detectors in run order, what each waits for on worker threads, and the ATR host (None when
    ATR or its host is not built): the host takes ATR's place in the order, and ATR's readers wait for it."""
    return _run_plan_of(frozenset(detectors), ATR_HOST)  # once per set of detectors: a live update pays a lookup


@functools.lru_cache(maxsize=64)
def _run_plan_of(built: frozenset[str], host: str) -> tuple[tuple[str, ...], dict[str, tuple[str, ...]], str | None]:
    names = [name for name in _RUN_ORDER if name in built]
    if not (host in built and "atr" in built):
        return tuple(names), _RUN_DEPS, None
    names = [host if name == "atr" else name for name in names if name != host]
    deps = {}
    for name, got in _RUN_DEPS.items():
        if name == host:
            deps[name] = tuple(dep for dep in got if dep != "atr")
        else:
            deps[name] = tuple(host if dep == "atr" else dep for dep in got)
    return tuple(names), deps, host


#: Passes at least this long run independent detectors on worker threads (the kernels release
#: the GIL); shorter ones (live updates) run in order on the calling thread.
PARALLEL_MIN_BARS = 50_000
_POOL = None


def _pool():
    global _POOL
    if _POOL is None:
        import os
        from concurrent.futures import ThreadPoolExecutor

        _POOL = ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1)), thread_name_prefix="detectors")
    return _POOL


class _BarBuffer:
    """Bar columns with room to append (the caller's arrays are used as-is until the first append)."""

    def __init__(self, time, open_, high, low, close) -> None:
        self.cols = {
            "time": np.ascontiguousarray(time, np.int64),
            "open": np.ascontiguousarray(open_, np.float64),
            "high": np.ascontiguousarray(high, np.float64),
            "low": np.ascontiguousarray(low, np.float64),
            "close": np.ascontiguousarray(close, np.float64),
        }
        self.n = len(self.cols["time"])
        for name, arr in self.cols.items():
            if len(arr) != self.n:
                raise ValueError(f"bar column {name} has {len(arr)} values, time has {self.n}")
        self.series = {"atr": np.empty(self.n + 1024, np.float64), "trend": np.zeros(self.n + 1024, np.int8)}

    def append(self, cols: dict[str, np.ndarray]) -> None:
        k = len(cols["time"])
        need = self.n + k
        for name in list(self.cols):
            arr = self.cols[name]
            if len(arr) < need:
                new = np.empty(max(2 * need, 1024), arr.dtype)
                new[: self.n] = arr[: self.n]
                self.cols[name] = new
            self.cols[name][self.n : need] = cols[name]
        for name in list(self.series):
            arr = self.series[name]
            if len(arr) < need:
                new = np.zeros(max(2 * need, 1024), arr.dtype)
                new[: self.n] = arr[: self.n]
                self.series[name] = new
        self.n = need

    def ctx(self) -> BarContext:
        c = self.cols
        return BarContext(c["open"], c["high"], c["low"], c["close"], c["time"], self.n, self.series)

    def view(self) -> SimpleNamespace:
        return SimpleNamespace(**{name: arr[: self.n] for name, arr in self.cols.items()})


@dataclass
class Changes:
    """What one update changed: per table, the indexes of rows created or changed, and those rows."""

    first_bar: int
    last_bar: int
    index: dict[str, np.ndarray]
    rows: dict[str, np.ndarray]
    times: np.ndarray | None = None

    def __bool__(self) -> bool:
        return any(len(v) for v in self.index.values())

    def count(self) -> int:
        return sum(len(v) for v in self.index.values())

    def objects(self, table: str) -> list[DetectedObject]:
        return rows_to_objects(self.rows[table], self.times, self.index[table])

    def to_dict(self) -> dict[str, Any]:
        return {
            "first_bar": self.first_bar,
            "last_bar": self.last_bar,
            "tables": {name: [o.to_dict() for o in self.objects(name)] for name in self.index if len(self.index[name])},
        }


class DetectionResult:
    """Tables per kind plus the live state; :meth:`update` appends bars and says what changed."""

    def __init__(self, kinds: tuple[str, ...], params: DetectorParams, symbol: str | None = None,
                 timeframe: Any = None, fine_bars: Any = None, fine_buckets: np.ndarray | None = None) -> None:
        self.kinds = kinds
        #: finer bars the session and day levels are computed from (fine_levels.py), or None
        self.fine_bars = fine_bars
        self.fine_buckets = fine_buckets
        self.params = params
        self.symbol = symbol
        self.timeframe = timeframe
        self.plan = _plan(kinds, params)
        self._bars: _BarBuffer | None = None
        self.detectors: dict[str, Any] = {}
        #: None: threads for long passes (>= PARALLEL_MIN_BARS); False: always one thread.
        self.parallel: bool | None = None

    # -- building and running -------------------------------------------------------------

    def _build(self, n_hint: int, pool: dict[tuple, Any] | None = None) -> None:
        """Build the planned detectors. ``pool``: detectors already built over the same bars for other
        requests, by :func:`detector_keys` (shared_detection.SharedDetections): one with the same key
        is taken instead of built, and what is built is added (a session clock is pooled too)."""
        p = self.params
        d: dict[str, Any] = {}
        keys = detector_keys(self.kinds, p, fine=self.fine_bars is not None)

        def made(name: str, factory: Any) -> None:
            if pool is None:
                d[name] = factory()
                return
            if keys[name] not in pool:
                pool[keys[name]] = factory()
            d[name] = pool[keys[name]]

        if "atr" in self.plan:
            made("atr", lambda: AtrSeries(p.atr_length))
        if "session_levels" in self.plan:
            from ita_desktop.detectors.levels import SessionLevels

            if self.fine_bars is not None:
                from ita_desktop.detectors.fine_levels import FineSessionLevels

                made("session_levels", lambda: FineSessionLevels(self.fine_bars, self.timeframe, p.session_levels,
                                                                 buckets=self.fine_buckets, tz_name=p.session_tz,
                                                                 day_start=p.day_start, fold_weekend=p.fold_weekend))
            else:
                clock = None
                if pool is not None:
                    from ita_desktop.detectors.session_clock import SessionClock

                    clock = pool.setdefault(("clock", p.session_tz, p.day_start, p.fold_weekend),
                                            SessionClock(p.session_tz, p.day_start, p.fold_weekend))
                made("session_levels", lambda: SessionLevels(p.session_levels, clock, tz_name=p.session_tz,
                                                             day_start=p.day_start, fold_weekend=p.fold_weekend))
        if "swings" in self.plan:
            made("swings", lambda: Swings(p.swings, n_hint))
        if "displacement" in self.plan:
            made("displacement", lambda: Displacement(p.displacement, n_hint))
        if "equal" in self.plan:
            made("equal", lambda: EqualHighsLows(d["swings"], p.equal, n_hint))
        if "structure" in self.plan:
            made("structure", lambda: Structure(d["swings"], p.structure, n_hint))
        if "fvg" in self.plan:
            made("fvg", lambda: Fvg(p.fvg, n_hint))
        if "order_blocks" in self.plan:
            made("order_blocks", lambda: OrderBlocks(d["structure"], p.order_blocks, n_hint))
        if "sweeps" in self.plan:
            sources = {}
            for src in p.sweeps.sources:
                key = "session_levels" if src == "levels" else src
                sources[src] = d[key]
            made("sweeps", lambda: Sweeps(p.sweeps, sources, n_hint))
        self.detectors = d

    def _advance(self, i0: int, i1: int) -> None:
        assert self._bars is not None
        ctx = self._bars.ctx()
        names, run_deps, host = _run_plan(self.detectors)

        def run_one(name: str) -> None:
            det = self.detectors[name]
            if name == "session_levels":
                det.update(self._bars.view())
            elif name == host:
                det.run_carrying(ctx, i0, i1, self.detectors["atr"])
            else:
                det.run(ctx, i0, i1)

        if i1 - i0 < PARALLEL_MIN_BARS or len(names) < 3 or self.parallel is False:
            for name in names:
                run_one(name)
            return
        # a small dependency scheduler: start each detector as soon as what it reads is done
        from concurrent.futures import FIRST_COMPLETED, wait

        pool = _pool()
        done: set[str] = set()
        running = {}
        pending = list(names)
        while pending or running:
            for name in list(pending):
                if all(dep in done or dep not in self.detectors for dep in run_deps.get(name, ())):
                    pending.remove(name)
                    running[pool.submit(run_one, name)] = name
            finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for fut in finished:
                name = running.pop(fut)
                fut.result()  # re-raise a detector's error here
                done.add(name)

    def run(self, time, open_, high, low, close) -> "DetectionResult":
        """Full pass over the given columns (from bar 0, fresh state)."""
        self._bars = _BarBuffer(time, open_, high, low, close)
        n = self._bars.n
        bad = _first_not_increasing(self._bars.cols["time"], n)
        if bad >= 0:
            raise ValueError(f"bar times must be strictly increasing: bar {bad} is not after bar {bad - 1}")
        with small_pages():
            self._build(n)
            self._advance(0, n)
        return self

    def update(self, new_bar: Any) -> Changes:
        """Append one bar (mapping/tuple ``time, open, high, low, close``) or several (Bars or a
        mapping of arrays); run every detector over the new bars; return what changed."""
        n0, k = self._append(new_bar)
        if k == 0:
            return Changes(n0, n0 - 1, {}, {}, self.time)
        return self.changes(n0, n0 + k - 1)

    def advance(self, new_bar: Any) -> dict[str, np.ndarray]:
        """:meth:`update` without copying the changed rows: per table, the indexes of the rows created or
        changed (the live engine reads the tables themselves; the copies cost more than its kernels)."""
        n0, k = self._append(new_bar)
        return self.changed_index(n0, n0 + k - 1) if k else {}

    def _append(self, new_bar: Any) -> tuple[int, int]:
        """Append and detect the new bars; (index of the first new bar, how many)."""
        if self._bars is None:
            raise RuntimeError("run() the full pass before update()")
        cols = _as_columns(new_bar)
        k = len(cols["time"])
        n0 = self._bars.n
        if k == 0:
            return n0, 0
        _check_after(self._bars, cols)
        self._bars.append(cols)
        self._advance(n0, n0 + k)
        return n0, k

    @property
    def fine_levels(self) -> Any:
        """The fine-bar session-level detector (fine_levels.FineSessionLevels), or None when the levels
        come from these bars."""
        det = self.detectors.get("session_levels")
        return det if det is not None and hasattr(det, "add_fine") else None

    def add_fine_bars(self, bars: Any) -> None:
        """Live: append streamed fine bars (one or several, after the last ones fed) for the levels to
        read when the coarse bar holding them is appended with :meth:`update`. No-op without fine levels."""
        fine = self.fine_levels
        if fine is not None:
            fine.add_fine(bars)

    # -- reading --------------------------------------------------------------------------

    @property
    def n_bars(self) -> int:
        return 0 if self._bars is None else self._bars.n

    @property
    def time(self) -> np.ndarray | None:
        return None if self._bars is None else self._bars.cols["time"][: self._bars.n]

    @property
    def tables(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for name, det in self.detectors.items():
            if name == "session_levels":
                out["sessions"] = det.sessions
                out["levels"] = det.levels
            elif isinstance(det, ObjectDetector):
                out[name] = det.rows
        return out

    @property
    def series(self) -> dict[str, np.ndarray]:
        if self._bars is None:
            return {}
        n = self._bars.n
        out = {}
        if "atr" in self.detectors:
            out["atr"] = self._bars.series["atr"][:n]
        if "structure" in self.detectors:
            out["trend"] = self._bars.series["trend"][:n]
        return out

    def changes(self, first_bar: int, last_bar: int | None = None) -> Changes:
        """Rows per table with ``updated_at`` in [first_bar, last_bar] (default: that one bar)."""
        last_bar = first_bar if last_bar is None else last_bar
        index = self.changed_index(first_bar, last_bar)
        tables = self.tables
        rows = {name: tables[name][idx] for name, idx in index.items()}  # an index array's take is a copy already
        return Changes(first_bar, last_bar, index, rows, self.time)

    def changed_index(self, first_bar: int, last_bar: int | None = None) -> dict[str, np.ndarray]:
        """:meth:`changes`' row indexes only."""
        last_bar = first_bar if last_bar is None else last_bar
        index: dict[str, np.ndarray] = {}
        for name, det in self.detectors.items():
            if isinstance(det, ObjectDetector):
                if first_bar == last_bar == det.last_bar():
                    log = det.changed_index  # the kernel's log of its last bar
                    index[name] = log.copy() if len(log) < 2 else np.unique(log)
                else:
                    u = det.rows["updated_at"]
                    index[name] = np.flatnonzero((u >= first_bar) & (u <= last_bar))
            elif name == "session_levels":
                if det.last_changed is not None and det.last_changed[:2] == (first_bar, last_bar):
                    index.update(det.last_changed[2])  # the update's own account: rows it could change only
                    continue
                for tname, rows in (("sessions", det.sessions), ("levels", det.levels)):
                    u = rows["updated_at"]
                    index[tname] = np.flatnonzero((u >= first_bar) & (u <= last_bar))
        return index

    def objects(self, table: str) -> list[DetectedObject]:
        return rows_to_objects(self.tables[table], self.time)

    def snapshot(self) -> dict[str, np.ndarray]:
        """Copies of every table (live views change with updates)."""
        return {name: rows.copy() for name, rows in self.tables.items()}

    def to_dict(self, kinds: Iterable[str] | None = None) -> dict[str, Any]:
        want = set(normalize_kinds(kinds) if kinds is not None else self.kinds)
        tables = {name: [o.to_dict() for o in self.objects(name)] for name in self.tables if name in want}
        return {"symbol": self.symbol, "timeframe": getattr(self.timeframe, "value", self.timeframe),
                "bars": self.n_bars, "tables": tables}


def _check_after(bars: _BarBuffer, cols: dict[str, np.ndarray]) -> None:
    """New bars must follow the last one held, in increasing time order."""
    n0, k = bars.n, len(cols["time"])
    last = bars.cols["time"][n0 - 1] if n0 else None
    if last is not None and cols["time"][0] <= last or (k > 1 and not np.all(np.diff(cols["time"]) > 0)):
        raise ValueError(f"new bars must come after bar {n0 - 1} (time {last}) in increasing time order")


def detector_keys(kinds: tuple[str, ...], params: DetectorParams, *, fine: bool = False) -> dict[str, tuple]:
    """Per detector a request builds (its plan), what makes it the same detector over the same bars: its
    own params and its inputs' keys. Detectors with equal keys over equal bars hold equal tables and
    series (shared_detection shares them). Levels from fine bars read bars of their own: never equal."""
    p = params
    plan = _plan(kinds, p)
    k: dict[str, tuple] = {}
    if "atr" in plan:
        k["atr"] = ("atr", p.atr_length)
    if "session_levels" in plan:
        k["session_levels"] = ("session_levels", p.session_levels, p.session_tz, p.day_start, p.fold_weekend) + \
            (("fine", object()) if fine else ())
    if "swings" in plan:
        k["swings"] = ("swings", p.swings)
    if "displacement" in plan:
        k["displacement"] = ("displacement", p.displacement, k["atr"])
    if "equal" in plan:
        k["equal"] = ("equal", p.equal, k["swings"], k["atr"])
    if "structure" in plan:
        k["structure"] = ("structure", p.structure, k["swings"])
    if "fvg" in plan:
        k["fvg"] = ("fvg", p.fvg, k["atr"])
    if "order_blocks" in plan:
        k["order_blocks"] = ("order_blocks", p.order_blocks, k["structure"], k["atr"])
    if "sweeps" in plan:
        k["sweeps"] = ("sweeps", p.sweeps, tuple(k["session_levels" if s == "levels" else s] for s in p.sweeps.sources))
    return k


@contextmanager
def small_pages():
    """Allocate without numpy's huge-page advice while a full pass makes its buffers.

    numpy advises huge pages (madvise) for every array of 4 MB or more. Where the kernel then compacts
    memory on the fault to find one (transparent_hugepage/defrag = madvise, the common default), a
    fresh process's first full pass spent more time in those faults than in the detectors: measured on
    the 1M chain, 177-197 ms CPU with the advice (85-110 ms of it in the kernel) against 107-120 ms
    without (21-32 ms). Only the advice changes (numpy's own switch, process-wide, put back after);
    where numpy has no such switch, nothing does.
    """
    global _SMALL_PAGE_USERS, _ADVICE_BEFORE
    switch = getattr(_multiarray, "_set_madvise_hugepage", None)
    if switch is None or os.environ.get("ITA_DETECT_HUGE_PAGES"):
        yield
        return
    with _SMALL_PAGES_LOCK:  # passes on several threads: the first in turns the advice off, the last out back
        if _SMALL_PAGE_USERS == 0:
            _ADVICE_BEFORE = switch(False)
        _SMALL_PAGE_USERS += 1
    try:
        yield
    finally:
        with _SMALL_PAGES_LOCK:
            _SMALL_PAGE_USERS -= 1
            if _SMALL_PAGE_USERS == 0:
                switch(_ADVICE_BEFORE)


_SMALL_PAGES_LOCK = threading.Lock()
_SMALL_PAGE_USERS = 0
_ADVICE_BEFORE = True


@kernel
def _first_not_increasing(t, n):
    """The first i < n with t[i] <= t[i - 1], else -1. Blocks of 4,096 are tested without an early
    exit (the compiler vectorises that), and only a block that fails is searched: 2x faster. Unsigned
    indexes (``_core.U``) leave out numba's negative-index wraparound: 2x faster again (0.52 -> 0.28 ms)."""
    i = 1
    while i < n:
        e = min(i + 4096, n)
        bad = False
        for j in range(i, e):
            bad |= t[U(j)] <= t[U(j - 1)]
        if bad:
            for j in range(i, e):
                if t[U(j)] <= t[U(j - 1)]:
                    return j
        i = e
    return -1


def _as_columns(new_bar: Any) -> dict[str, np.ndarray]:
    names = ("time", "open", "high", "low", "close")
    if hasattr(new_bar, "time") and hasattr(new_bar, "close"):
        return {k: np.atleast_1d(np.asarray(getattr(new_bar, k))) for k in names}
    if isinstance(new_bar, Mapping):
        return {k: np.atleast_1d(np.asarray(new_bar[k])) for k in names}
    if isinstance(new_bar, (tuple, list)) and len(new_bar) >= 5:
        return {k: np.atleast_1d(np.asarray(v)) for k, v in zip(names, new_bar[:5])}
    raise TypeError(f"cannot read a bar from {type(new_bar).__name__}: give time, open, high, low, close")


def detect(bars: Any, kinds: Iterable[str] | str | None = None, params: DetectorParams | Mapping | None = None,
           *, parallel: bool | None = None, fine_bars: Any = None,
           fine_buckets: np.ndarray | None = None) -> DetectionResult:
    """Run the detectors ``kinds`` need over ``bars`` (a Bars or anything with time/open/high/low/close).

    Prices must be finite, as the bar store keeps them (it refuses a NaN or infinite price): structure,
    equal highs/lows and the sweeps of swings read what the swings' life found, which equals a bar-by-bar
    scan on finite bars only (a NaN high can hide a swing's touch; see their module docstrings).

    ``fine_bars`` (a Bars of a finer timeframe over the same time, e.g. the stored M1 under an H4
    chart): the session and day levels, and the sweeps of them, come from those bars
    (fine_levels.py) instead of from ``bars``; ``bars`` must then be a Bars (its timeframe gives
    the bar length). ``fine_buckets``: the start of the ``bars`` bar each fine bar falls in, when the
    caller has them (the bars were resampled from ``fine_bars``); else computed (fine_levels.py).

    ``parallel=None`` runs independent detectors on worker threads for passes of at least
    PARALLEL_MIN_BARS bars; False keeps everything on the calling thread. Results are identical.
    """
    if params is None:
        params = DetectorParams()
    elif not isinstance(params, DetectorParams):
        params = DetectorParams.from_dict(params)
    timeframe = getattr(bars, "timeframe", None)
    if fine_bars is not None and (timeframe is None or getattr(fine_bars, "timeframe", timeframe).minutes
                                  >= timeframe.minutes):
        fine_bars = None  # not finer: the bars' own levels are the best there are
    result = DetectionResult(normalize_kinds(kinds), params, getattr(bars, "symbol", None), timeframe, fine_bars,
                             fine_buckets if fine_bars is not None else None)
    result.parallel = parallel
    return result.run(bars.time, bars.open, bars.high, bars.low, bars.close)
