"""A fixed-length feature vector per setup occurrence, from what is known at its signal bar only.

Why these numbers: they are what the detectors and the bars already know when the setup is
confirmed (ATR-scaled sizes and distances of the steps' objects, the step timings, time of day,
session and weekday on the New York clock, a structure/bias proxy, the signal bar's displacement,
the distance to the previous New York day's high and low). Every per-bar array in
:class:`FeatureContext` is causal (a bar's value uses that bar and earlier ones), so the vector of
an occurrence computed on the whole history equals the one computed on the bars up to its signal
bar (tested on the real EURUSD).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ita_desktop.detectors.atr import atr
from ita_desktop.domain.bars import Bars
from ita_desktop.rules.engine.occurrences import Occurrence

MAX_STEPS = 4
PER_STEP = ("size_atr", "zone_atr", "dist_atr", "bars_before_signal", "bars_obj_to_event")
SESSIONS = ("asia", "london", "new_york", "afternoon")
FEATURE_NAMES: tuple[str, ...] = (
    "direction", "tod_sin", "tod_cos", *(f"session_{s}" for s in SESSIONS),
    *(f"weekday_{d}" for d in ("mon", "tue", "wed", "thu", "fri")),
    "atr_bp", "displacement_atr", "range5_atr", "trend20_atr", "pos100", "prev_day_high_atr", "prev_day_low_atr",
    "n_steps", *(f"step{i + 1}_{name}" for i in range(MAX_STEPS) for name in PER_STEP),
)
N_FEATURES = len(FEATURE_NAMES)
ATR_LENGTH = 14


def _session(hour: float) -> int:
    """New York hour -> index in SESSIONS (Asia 18-02, London 02-07, New York 07-12, afternoon 12-18)."""
    if hour >= 18 or hour < 2:
        return 0
    if hour < 7:
        return 1
    return 2 if hour < 12 else 3


@dataclass(frozen=True)
class FeatureContext:
    """Causal per-bar arrays of one run's setup bars (index = the occurrences' bar indexes)."""

    bars: Bars
    atr: np.ndarray
    ny_hour: np.ndarray  # fractional hour on the New York clock
    ny_weekday: np.ndarray  # 0 Monday
    prev_day_high: np.ndarray  # the previous New York day's high (NaN before a whole day is seen)
    prev_day_low: np.ndarray

    @classmethod
    def of(cls, bars: Bars, clock: str = "America/New_York") -> FeatureContext:
        local = pd.to_datetime(bars.time, unit="s", utc=True).tz_convert(clock)
        hour = (local.hour + local.minute / 60.0).to_numpy(np.float64)
        day = np.asarray(local.normalize().tz_localize(None).to_numpy().astype("datetime64[D]").astype(np.int64))
        high, low = bars.high, bars.low
        pdh = np.full(len(bars), np.nan)
        pdl = np.full(len(bars), np.nan)
        if len(bars):
            starts = np.flatnonzero(np.r_[True, day[1:] != day[:-1]])
            ends = np.r_[starts[1:], len(bars)]
            day_high = np.maximum.reduceat(high, starts)
            day_low = np.minimum.reduceat(low, starts)
            for k in range(1, len(starts)):  # a day's bars see the day before (complete: it has ended)
                pdh[starts[k]:ends[k]] = day_high[k - 1]
                pdl[starts[k]:ends[k]] = day_low[k - 1]
        return cls(bars, atr(high, low, bars.close, ATR_LENGTH), hour, local.day_of_week.to_numpy(), pdh, pdl)


def _num(x: float) -> float:
    return 0.0 if not math.isfinite(x) else float(x)


def occurrence_features(occ: Occurrence, ctx: FeatureContext, offset: int = 0) -> np.ndarray:
    """The vector (float32, ``N_FEATURES``) of ``occ`` from bars up to its signal bar.

    ``offset``: the bar index of ``ctx``'s first bar (a context over a window of the bars, as a live signal's
    is: ``learning.signal_features``); the occurrence's bar indexes count from the whole series' start."""
    s = occ.signal_bar - offset  # the signal bar in ctx's arrays; step timings are differences of indexes
    b = ctx.bars
    a = ctx.atr[s]
    if not math.isfinite(a) or a <= 0:
        a = float(b.high[s] - b.low[s]) or 1e-9
    d = float(occ.direction)
    close = float(b.close[s])
    hour = float(ctx.ny_hour[s])
    session = np.zeros(len(SESSIONS))
    session[_session(hour)] = 1.0
    weekday = np.zeros(5)
    if ctx.ny_weekday[s] < 5:
        weekday[ctx.ny_weekday[s]] = 1.0
    lo5 = max(0, s - 4)
    range5 = (b.high[lo5:s + 1].max() - b.low[lo5:s + 1].min()) / a
    trend = (close - b.close[max(0, s - 20)]) / a * d
    lo100 = max(0, s - 99)
    hi, lo = b.high[lo100:s + 1].max(), b.low[lo100:s + 1].min()
    pos = (close - lo) / (hi - lo) if hi > lo else 0.5
    pos = pos if d > 0 else 1.0 - pos
    head = [d, math.sin(2 * math.pi * hour / 24), math.cos(2 * math.pi * hour / 24), *session, *weekday,
            a / close * 1e4, (close - b.open[s]) / a * d, range5, trend, pos,
            _num((ctx.prev_day_high[s] - close) / a), _num((close - ctx.prev_day_low[s]) / a), len(occ.steps)]
    steps: list[float] = []
    for hit in occ.steps[:MAX_STEPS]:
        size = (hit.high - hit.low) / a if math.isfinite(hit.high - hit.low) else 0.0
        zone = (hit.top - hit.bottom) / a if math.isfinite(hit.top - hit.bottom) else 0.0
        steps += [size, zone, _num((hit.price - close) / a * d), float(occ.signal_bar - hit.bar),
                  float(hit.bar - hit.obj_bar)]
    steps += [0.0] * (MAX_STEPS * len(PER_STEP) - len(steps))
    return np.asarray([_num(x) for x in head] + steps, dtype=np.float32)


def features_matrix(occurrences: list[Occurrence], ctx: FeatureContext) -> np.ndarray:
    """Rows of :func:`occurrence_features` (shape ``(len(occurrences), N_FEATURES)``)."""
    out = np.zeros((len(occurrences), N_FEATURES), dtype=np.float32)
    for i, occ in enumerate(occurrences):
        out[i] = occurrence_features(occ, ctx)
    return out
