"""Detections of several requests over the same bars, each detector built and advanced once.

A live session runs several rules on one timeframe (three seed rules on M5); each asks the
dispatcher for its own kinds and params, so each ran its own ATR, session levels, swings,
structure... over the same bars. Here they share: :class:`SharedDetections` holds one bar
buffer and a pool of detectors keyed by ``dispatcher.detector_keys`` (a detector's own params
and its inputs' keys), and each request gets a :class:`SharedDetection`, a DetectionResult
whose detectors are the pool's. The first member to take a new bar appends it and advances
every pooled detector once; the others take the same bar and only read what changed. A
detector is shared only when its key is equal, so each member's tables and series are exactly
those of its own full pass (tested on the seed rules against their ``ita scan``).

Rules: members over the same bars (the same times and closes: checked), a request whose ATR length or
structure (the buffer's ``atr`` and ``trend`` series) differs from the group's goes to another
group, levels from finer bars are never shared (they read bars of their own), and members
take each bar in turn: all of them take bar n before any takes bar n + 1 (a member's tables are
the group's, so between the first and its own take of a bar it must not be read).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ita_desktop.detectors.base import ObjectDetector
from ita_desktop.detectors.dispatcher import (
    _RUN_ORDER, DetectionResult, DetectorParams, _as_columns, _BarBuffer, _check_after, _first_not_increasing,
    detector_keys, normalize_kinds,
)

#: Keys of the series the bar buffer holds for its detectors, one producer each per group.
_SERIES_PRODUCERS = ("atr", "structure")
_BAR_COLUMNS = ("time", "open", "high", "low", "close")


class SharedDetection(DetectionResult):
    """One request's view of a :class:`SharedDetections`: its own detectors (the pool's) and bar count."""

    def __init__(self, group: "SharedDetections", kinds: tuple[str, ...], params: DetectorParams) -> None:
        super().__init__(kinds, params, group.symbol, group.timeframe)
        self.group = group
        self.parallel = False
        self._seen = 0
        self._tables: tuple[int, dict[str, np.ndarray]] | None = None

    def run(self, time, open_, high, low, close) -> "DetectionResult":
        raise RuntimeError("a shared detection runs through its group (SharedDetections.join)")

    def _append(self, new_bar: Any) -> tuple[int, int]:
        return self.group._take(self, new_bar)

    @property
    def tables(self) -> dict[str, np.ndarray]:
        """As DetectionResult's, built once per bar (the live engine reads them several times a bar)."""
        cached = self._tables
        if cached is None or cached[0] != self.group.version:
            cached = self._tables = (self.group.version, DetectionResult.tables.fget(self))  # type: ignore[attr-defined]
        return cached[1]

    def changed_index(self, first_bar: int, last_bar: int | None = None) -> dict[str, np.ndarray]:
        """As DetectionResult's; a pooled detector's rows changed on a live bar are read once per bar for
        every member that has it (the members share the arrays: read only)."""
        last_bar = first_bar if last_bar is None else last_bar
        group = self.group
        if not (first_bar == last_bar == group._last[0] and group._last[1] == 1):
            return super().changed_index(first_bar, last_bar)
        if group._index_version != group.version:
            group._index_version, group._index = group.version, {}
        cache = group._index
        index: dict[str, np.ndarray] = {}
        for name, det in self.detectors.items():
            got = cache.get(id(det))
            if got is None:
                if isinstance(det, ObjectDetector) and det.last_bar() == first_bar:
                    log = det.changed_index  # the kernel's log of its last bar (as DetectionResult reads it)
                    got = {name: log.copy() if len(log) < 2 else np.unique(log)}
                else:
                    got = DetectionResult.changed_index(_One(name, det), first_bar, last_bar)
                cache[id(det)] = got
            index.update(got)
        return index

    @property
    def n_bars(self) -> int:
        return self._seen

    @property
    def time(self) -> np.ndarray | None:
        return None if self._bars is None else self._bars.cols["time"][: self._seen]

    @property
    def series(self) -> dict[str, np.ndarray]:
        if self._bars is None:
            return {}
        out = {}
        if "atr" in self.detectors:
            out["atr"] = self._bars.series["atr"][: self._seen]
        if "structure" in self.detectors:
            out["trend"] = self._bars.series["trend"][: self._seen]
        return out


class _One:
    """One pooled detector as DetectionResult.changed_index reads a detection (its ``detectors``)."""

    def __init__(self, name: str, det: Any) -> None:
        self.detectors = {name: det}


class SharedDetections:
    """Requests over one series of bars (a symbol's timeframe), sharing detectors with equal keys."""

    def __init__(self, symbol: str | None, timeframe: Any) -> None:
        self.symbol, self.timeframe = symbol, timeframe
        self.pool: dict[tuple, Any] = {}
        self.members: list[SharedDetection] = []
        self._bars: _BarBuffer | None = None
        self._series: dict[str, tuple] = {}  # "atr"/"structure" -> the key of the group's producer
        self._order: list[tuple[str, Any]] = []  # pooled detectors in run order
        self._last: tuple[int, int] = (0, 0)  # the bars the group appended last (first index, count)
        #: changes whenever bars are appended or detectors join (members' cached table views expire)
        self.version = 0
        self._index_version = -1  # the version _index holds the changed rows of (per pooled detector)
        self._index: dict[int, dict[str, np.ndarray]] = {}

    @property
    def n_bars(self) -> int:
        return 0 if self._bars is None else self._bars.n

    def accepts(self, kinds: Any, params: DetectorParams, bars: Any = None, *, fine: bool = False) -> bool:
        """Can this request join: no fine-bar levels, the same ATR and structure as the group's (when
        both have them), the same bars (``bars``' times and closes), and every member at the last bar."""
        if fine:
            return False
        keys = detector_keys(normalize_kinds(kinds), params)
        if any(name in keys and self._series.get(name, keys[name]) != keys[name] for name in _SERIES_PRODUCERS):
            return False
        if any(m._seen != self.n_bars for m in self.members):
            return False
        if bars is not None and self._bars is not None:
            n = self._bars.n
            return len(bars.time) == n and all(np.array_equal(np.asarray(getattr(bars, c)), self._bars.cols[c][:n])
                                               for c in ("time", "close"))
        return True

    def join(self, kinds: Any, params: DetectorParams | None, bars: Any) -> SharedDetection:
        """A request's detection over ``bars`` (the group's bars; the first join sets them). Detectors
        the pool lacks are built and run over the bars so far; the others are taken as they stand."""
        params = params if isinstance(params, DetectorParams) else DetectorParams.from_dict(params)
        kinds = normalize_kinds(kinds)
        if not self.accepts(kinds, params, bars):
            raise ValueError("this request cannot share the group's detectors (other bars, ATR or structure, "
                             "or a member behind the others)")
        if self._bars is None:
            self._bars = _BarBuffer(bars.time, bars.open, bars.high, bars.low, bars.close)
            bad = _first_not_increasing(self._bars.cols["time"], self._bars.n)
            if bad >= 0:
                raise ValueError(f"bar times must be strictly increasing: bar {bad} is not after bar {bad - 1}")
        member = SharedDetection(self, kinds, params)
        before = set(self.pool)
        member._bars = self._bars
        member._build(self._bars.n, self.pool)
        for name in _SERIES_PRODUCERS:
            if name in member.detectors:
                self._series.setdefault(name, detector_keys(kinds, params)[name])
        new = [(key[0], det) for key, det in self.pool.items() if key not in before and key[0] != "clock"]
        self._order = sorted(self._order + new, key=lambda item: _RUN_ORDER.index(item[0]))
        self._run(sorted(new, key=lambda item: _RUN_ORDER.index(item[0])), 0, self._bars.n)
        member._seen = self._bars.n
        self.members.append(member)
        self.version += 1
        return member

    def _run(self, detectors: list[tuple[str, Any]], i0: int, i1: int) -> None:
        assert self._bars is not None
        ctx = self._bars.ctx()
        for name, det in detectors:
            if name == "session_levels":
                det.update(self._bars.view())
            else:
                det.run(ctx, i0, i1)

    def _take(self, member: SharedDetection, new_bar: Any) -> tuple[int, int]:
        """``member`` takes new bars: the first to take them appends them and advances every pooled
        detector once; the others check they take the same bars."""
        bars = self._bars
        if bars is None:
            raise RuntimeError("join the group before update()")
        one = isinstance(new_bar, Mapping) and not hasattr(new_bar["time"], "__len__")  # a live bar's values
        if member._seen == bars.n:  # the first to take it: append, advance every pooled detector once
            n0 = bars.n
            if one and n0 < len(bars.cols["time"]) and n0 < len(bars.series["atr"]):  # a live bar, room for it
                k = 1
                if n0 and not new_bar["time"] > bars.cols["time"][n0 - 1]:
                    raise ValueError(f"new bars must come after bar {n0 - 1} (time {bars.cols['time'][n0 - 1]}) in "
                                     "increasing time order")
                for c in _BAR_COLUMNS:  # what _BarBuffer.append writes, without five one-value arrays
                    bars.cols[c][n0] = new_bar[c]
                bars.n = n0 + 1
            else:
                cols = {c: np.array([new_bar[c]]) for c in _BAR_COLUMNS} if one else _as_columns(new_bar)
                k = len(cols["time"])
                if k == 0:
                    return n0, 0
                _check_after(bars, cols)
                bars.append(cols)
            self._run(self._order, n0, n0 + k)
            self._last = (n0, k)
            self.version += 1
        else:  # the others: the same bars
            n0, k = self._last
            if one:
                same = k == 1 and all(bars.cols[c][n0] == new_bar[c] for c in _BAR_COLUMNS)
            else:
                cols = _as_columns(new_bar)
                if not len(cols["time"]):
                    return member._seen, 0
                same = len(cols["time"]) == k and \
                    all(np.array_equal(bars.cols[c][n0 : n0 + k], cols[c]) for c in _BAR_COLUMNS)
            if member._seen != n0 or not same:
                raise RuntimeError("members of a shared detection take the same bars in turn: this member is at bar "
                                   f"{member._seen}, the group appended {k} bar(s) at {n0} (other bars or "
                                   "a member skipped a bar)")
        member._seen = n0 + k
        return n0, k


class DetectionGroups:
    """The groups of a live session: per series (what the caller names it by: symbol, timeframe, bar
    clock), a request joins the first group that accepts it, else starts one."""

    def __init__(self) -> None:
        self.groups: dict[Any, list[SharedDetections]] = {}

    def detect(self, series: Any, bars: Any, kinds: Any, params: DetectorParams) -> SharedDetection:
        groups = self.groups.setdefault(series, [])
        for group in groups:
            if group.accepts(kinds, params, bars):
                return group.join(kinds, params, bars)
        group = SharedDetections(getattr(bars, "symbol", None), getattr(bars, "timeframe", None))
        groups.append(group)
        return group.join(kinds, params, bars)

    def detectors(self) -> int:
        """How many detectors run per bar in all groups (what sharing saves is visible here)."""
        return sum(len(g._order) for groups in self.groups.values() for g in groups)
