"""Detection: the one way into the detectors, with one settings-to-parameters mapping and one warm-up policy.

The chart's overlays, ``ita detect`` and anything else that shows detector objects ask here, so
the levels drawn, the levels printed and the session shading agree: the user's session clock,
trading-day start and session windows always reach the detectors the same way
(:func:`detector_params`), with any explicit parameters laid over them.

Warm-up: a window that starts at T is detected over bars loaded from before T, so ATR, swings,
structure and the previous day's and week's levels are settled at T: the same calendar
look-back a ranged scan or backtest uses (``LEVELS_WARMUP_SECONDS``) and at least
MIN_WARMUP_BARS bars, or exactly the number of bars asked for. Rules extend this with what their
own steps need (``rules.engine.runner.warmup_for``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
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

    def kept(self, name: str) -> np.ndarray:
        """Rows of table ``name`` confirmed inside the window (warm-up objects are not reported)."""
        return np.flatnonzero(self.result.tables[name]["confirmed_at"] >= self.first)


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
               overrides: Mapping[str, Any] | None = None) -> DetectionResult:
        """Every detector ``kinds`` needs over ``bars`` (all of them by default), settings' parameters."""
        from ita_desktop.detectors.dispatcher import detect

        return detect(bars, kinds, self.params(overrides))

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
            before = series.load(symbol, timeframe, None, start_utc)
            count = warmup_count(before, start_utc, warmup)
            if count:
                bars = Bars.concat([before.slice(len(before) - count, len(before)), window])
        result = detect(bars, names, params)
        return WindowDetection(bars, window, len(bars) - len(window), result, params, names)
