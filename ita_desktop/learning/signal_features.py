"""A fresh signal's feature vector at raise time, from the bars the live setup already holds.

Why not the dataset: rebuilding a rule's dataset for one live signal costs 0.2-3.4 s (its cache key
changes with every stored bar), which would hold the notification past its budget. The vector needs
only the setup bars up to the signal bar: Wilder's ATR over all of them (it is a recursion from the
first bar, so a window would change it) and a window of the last bars for the rest (the 100-bar range,
the 20-bar trend, the previous New York day's high and low). The window grows until it holds the whole
previous day, so the vector equals the one the dataset computes for the same occurrence (tested on the
real EURUSD through a replay).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from ita_desktop.detectors.atr import atr
from ita_desktop.domain.bars import Bars
from ita_desktop.domain.timeframes import Timeframe
from ita_desktop.learning.features import ATR_LENGTH, FeatureContext, occurrence_features
from ita_desktop.rules.engine.occurrences import Occurrence

MIN_WINDOW = 128  # bars before the signal bar: the 100-bar range and the 20-bar trend fit in it


def _ny_days(times: np.ndarray, clock: str) -> np.ndarray:
    import pandas as pd

    local = pd.to_datetime(times, unit="s", utc=True).tz_convert(clock)
    return local.normalize().tz_localize(None).to_numpy().astype("datetime64[D]").astype(np.int64)


def window_start(times: np.ndarray, s: int, clock: str, width: int = MIN_WINDOW) -> int:
    """The first bar of a window ending at ``s`` that holds at least MIN_WINDOW bars before it and the whole
    previous day present in the bars (or starts at the first bar). ``width``: the first try (doubled until)."""
    width = max(width, MIN_WINDOW)
    while True:
        lo = max(0, s - width)
        if lo == 0:
            return 0
        days = _ny_days(times[lo:s + 1], clock)
        earlier = np.flatnonzero(days != days[-1])
        # the previous day is whole when some bar before it (a day before it) is in the window
        if len(earlier) and days[0] != days[earlier[-1]]:
            return lo
        width *= 2


def features_at_signal(occ: Occurrence, cols: dict[str, np.ndarray], symbol: str, timeframe: Timeframe | str,
                       clock: str = "America/New_York") -> np.ndarray:
    """``occ``'s vector from the setup bars' columns (time, open, high, low, close; index = bar index, at least
    up to the signal bar; later bars are not read)."""
    s = int(occ.signal_bar)
    n = s + 1
    high, low, close = (np.asarray(cols[k][:n], np.float64) for k in ("high", "low", "close"))
    full_atr = atr(high, low, close, ATR_LENGTH)
    tf = Timeframe(timeframe)
    days = 3 * 1440 // max(tf.minutes, 1)  # usually holds the previous day at the first try (a weekend: doubled)
    lo = window_start(np.asarray(cols["time"][:n], np.int64), s, clock, MIN_WINDOW + days)
    window = Bars.from_columns(symbol, tf, {
        "time": np.asarray(cols["time"][lo:n], np.int64), "open": np.asarray(cols["open"][lo:n], np.float64),
        "high": high[lo:], "low": low[lo:], "close": close[lo:]})
    ctx = replace(FeatureContext.of(window, clock), atr=full_atr[lo:])
    return occurrence_features(occ, ctx, offset=lo)


def live_features(setup: Any, occ: Occurrence) -> list[float]:
    """The vector of an occurrence a :class:`LiveSetup` just signalled, as JSON numbers (the outbox payload)."""
    compiled = setup.compiled
    vec = features_at_signal(occ, setup.cols, occ.symbol, compiled.timeframe, compiled.clock)
    return [float(x) for x in vec]
