"""Detection: the one way into the detectors, with one settings-to-parameters mapping and one warm-up policy.

The chart's overlays, ``ita detect`` and anything else that shows detector objects ask here, so
the levels drawn, the levels printed and the session shading agree: the user's session clock,
trading-day start and session windows always reach the detectors the same way
(:func:`detector_params`), with any explicit parameters laid over them.

Warm-up: a window that starts at T is detected over bars loaded from before T, so ATR, swings,
structure and the previous day's and week's levels are settled at T: the same calendar
look-back a ranged scan or backtest uses (``LEVELS_WARMUP_SECONDS``) and at least
MIN_WARMUP_BARS bars, or exactly the number of bars asked for. Rules extend this with what their
own steps need (``rules.engine.runner.warmup_for``). The warm-up and the window are one series split
at the window's start: bars built from finer ones then share their buckets.

Levels on a higher timeframe: session and day levels are facts about time, so they are read from
the finest stored series that covers the bars (``core.series.finest``, ``detectors.fine_levels``),
and the result says where they came from and which levels the bars used cannot know exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ita_desktop.domain.bars import Bars
from ita_desktop.domain.errors import InputError
from ita_desktop.domain.timeframes import Timeframe

if TYPE_CHECKING:
    from ita_desktop.core.app_core import Core
    from ita_desktop.detectors.dispatcher import DetectionResult, DetectorParams

MIN_WARMUP_BARS = 1000


def detector_params(settings: Any, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Detector parameters that follow the user's settings (session clock, trading-day start, session
    windows: the levels drawn match the shading), with ``overrides`` (``{"swings": {"length": 3}}``) on top."""
    from ita_desktop.detectors.levels import SessionLevelParams

    params: dict[str, Any] = {"session_tz": settings.sessions.clock, "day_start": settings.data.day_start,
                              "session_levels": SessionLevelParams.from_settings(settings)}
    for key, value in (overrides or {}).items():
        if isinstance(value, Mapping) and isinstance(params.get(key), Mapping):
            params[key] = {**params[key], **value}
        else:
            params[key] = value
    return params


def warmup_count(before: Bars, start_utc: int, warmup: int | None) -> int:
    """How many of the bars ``before`` a window from ``start_utc`` is detected with (the policy above)."""
    if warmup is not None:
        if warmup < 0:
            raise InputError("--warmup must be >= 0", column="--warmup")
        return min(warmup, len(before))
    from ita_desktop.rules.engine.runner import LEVELS_WARMUP_SECONDS  # the rules' own calendar look-back

    in_reach = len(before) - int(np.searchsorted(before.time, start_utc - LEVELS_WARMUP_SECONDS))
    return min(max(in_reach, MIN_WARMUP_BARS), len(before))


@dataclass
class WindowDetection:
    """Detection over a window of stored bars and its warm-up: ``bars[first:]`` is the window asked for."""

    bars: Bars
    window: Bars
    first: int
    result: DetectionResult
    params: DetectorParams
    kinds: tuple[str, ...]

    #: where the session and day levels come from, and the levels those bars cannot know exactly
    levels_from: str = ""
    inexact_levels: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def kept(self, name: str) -> np.ndarray:
        """Rows of table ``name`` confirmed inside the window (warm-up objects are not reported)."""
        return np.flatnonzero(self.result.tables[name]["confirmed_at"] >= self.first)


LEVEL_KINDS = frozenset({"levels", "sessions", "sweeps"})  # what the finest bars change


def level_source(bars: Bars, fine: Bars | None, params: DetectorParams) -> tuple[str, dict[str, tuple[str, ...]]]:
    """The timeframe the session and day levels are computed from, and the levels it cannot know exactly."""
    from ita_desktop.detectors.fine_levels import inexact_levels

    source = fine if fine is not None and len(fine) and fine.timeframe.minutes < bars.timeframe.minutes else bars
    if not len(source):
        return source.timeframe.value, {}
    inexact = inexact_levels(source.time, source.timeframe.minutes, params.session_levels,
                             tz_name=params.session_tz, day_start=params.day_start)
    return source.timeframe.value, inexact


@dataclass
class ChartDetection:
    """Every detector over a chart's bars, with where its levels came from."""

    result: DetectionResult
    levels_from: str
    inexact_levels: dict[str, tuple[str, ...]]


class DetectionService:
    def __init__(self, core: Core) -> None:
        self._core = core

    def params(self, overrides: Mapping[str, Any] | None = None) -> DetectorParams:
        """The settings' parameters with ``overrides``; bad names or values: InputError."""
        from ita_desktop.detectors.dispatcher import DetectorParams

        try:
            return DetectorParams.from_dict(detector_params(self._core.settings, overrides))
        except (ValueError, TypeError) as exc:
            raise InputError(str(exc), column="--param") from None

    def detect(self, bars: Bars, kinds: Iterable[str] | str | None = None,
               overrides: Mapping[str, Any] | None = None, fine_bars: Bars | None = None) -> DetectionResult:
        """Every detector ``kinds`` needs over ``bars`` (all of them by default), settings' parameters;
        ``fine_bars``: a finer series the session and day levels are read from."""
        from ita_desktop.detectors.dispatcher import detect

        return detect(bars, kinds, self.params(overrides), fine_bars=fine_bars)

    def fine_bars_for(self, bars: Bars) -> Bars | None:
        """The finest stored series under ``bars`` that covers them (None: the bars' own levels are used)."""
        if not len(bars) or bars.timeframe == Timeframe.M1:
            return None
        first, last = int(bars.time[0]), int(bars.time[-1])
        return self._core.series.finest(bars.symbol, bars.timeframe, first, last + bars.timeframe.seconds,
                                        covering=(first, last))

    def detect_chart(self, bars: Bars, overrides: Mapping[str, Any] | None = None) -> ChartDetection:
        """Every detector over a chart's bars, levels from the finest stored series covering them (worker thread)."""
        fine = self.fine_bars_for(bars)
        result = self.detect(bars, None, overrides, fine_bars=fine)
        levels_from, inexact = level_source(bars, fine, result.params)
        return ChartDetection(result, levels_from, inexact)

    def detect_window(self, symbol: str, timeframe: Timeframe, start_utc: int | None, end_utc: int | None, *,
                      kinds: Iterable[str] | str | None = None, overrides: Mapping[str, Any] | None = None,
                      warmup: int | None = None) -> WindowDetection:
        """Detect over [start_utc, end_utc) of the stored (or built) bars, warmed up on the bars before it."""
        from ita_desktop.detectors.dispatcher import detect, normalize_kinds

        try:
            names = normalize_kinds(kinds)
        except (ValueError, TypeError) as exc:
            raise InputError(str(exc), column="--kinds") from None
        params = self.params(overrides)
        if warmup is not None and warmup < 0:
            raise InputError("--warmup must be >= 0", column="--warmup")
        series = self._core.series
        window = series.load(symbol, timeframe, start_utc, end_utc)
        if not len(window):
            raise InputError(f"no {symbol} {timeframe.value} bars (or finer ones to build them from) "
                             "stored in that range (see `ita data list`)")
        bars = window
        if start_utc is not None and warmup != 0:
            # one series up to the end, split at the start: bars built from finer ones then share their
            # buckets (two loads would each build a partial bar for the bucket holding the start)
            whole = series.load(symbol, timeframe, None, end_utc)
            split = int(np.searchsorted(whole.time, start_utc, side="left"))
            before, window = whole.slice(0, split), whole.slice(split, len(whole))
            if not len(window):
                window = bars
                before = whole.slice(0, int(np.searchsorted(whole.time, int(bars.time[0]), side="left")))
            bars = window
            count = warmup_count(before, start_utc, warmup)
            if count:
                bars = Bars.concat([before.slice(len(before) - count, len(before)), window])
        fine = None
        if LEVEL_KINDS & set(names):
            first, last = int(bars.time[0]), int(bars.time[-1])
            fine = series.finest(symbol, timeframe, first, end_utc, covering=(first, last))
        result = detect(bars, names, params, fine_bars=fine)
        levels_from, inexact = level_source(bars, fine, params)
        return WindowDetection(bars, window, len(bars) - len(window), result, params, names, levels_from, inexact)
