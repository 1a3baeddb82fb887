"""The benchmarks' common input: N M1 bars built from the real EURUSD file in ../shared/data.

The file's bar-to-bar ratios (open, high, low, close relative to the previous close) are
chained again and again onto a continuing price path, and its real time steps (overnight
thin minutes, weekend gaps) are repeated, joining copies as if one more weekend had passed.
So sessions, gaps and volatility look like the real market, at any length.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from ita_desktop.domain.bars import Bars
from ita_desktop.domain.clock import ServerClock
from ita_desktop.domain.timeframes import Timeframe

EURUSD = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "EURUSD_M1.csv"
SERVER_TZ = "-03:30"  # the file's week runs Fri 18:29 -> Sun 18:30 server time: FX hours at UTC-3:30
WEEK = 7 * 86_400


def describe(n: int) -> str:
    return (f"{n:,} M1 bars chained from the real {EURUSD.name} (2022-01-04..2022-02-22, 49,993 bars): "
            "its returns and time steps repeated end to end, weekend gaps kept")


def chained_eurusd(n: int) -> Bars:
    """N bars as described above; raises FileNotFoundError (naming the path) without ../shared/data."""
    if not EURUSD.exists():
        raise FileNotFoundError(f"real data not found at {EURUSD}")
    frame = pd.read_csv(io.StringIO(EURUSD.read_text().replace('"', "")), sep="\t")  # lines are quoted
    naive = pd.to_datetime(frame["Time"]).to_numpy("datetime64[s]").astype(np.int64)
    utc = ServerClock.parse(SERVER_TZ).to_utc(naive)
    steps = np.r_[np.diff(utc), WEEK - (utc[-1] - utc[0]) % WEEK]
    prev_close = frame["Close"].to_numpy()[:-1]
    ratios = {c: frame[c.capitalize()].to_numpy()[1:] / prev_close for c in ("open", "high", "low", "close")}
    reps = -(-n // len(prev_close))
    growth = np.cumprod(np.tile(ratios["close"], reps)[:n])
    prev = 1.10 * np.r_[1.0, growth[:-1]]
    cols = {c: np.round(prev * np.tile(r, reps)[:n], 5) for c, r in ratios.items()}
    cols["high"] = np.maximum.reduce([cols["high"], cols["open"], cols["close"]])
    cols["low"] = np.minimum.reduce([cols["low"], cols["open"], cols["close"]])
    cols["time"] = utc[0] + np.r_[0, np.cumsum(np.tile(steps, reps + 1)[: n - 1])]
    cols["tick_volume"] = np.tile(frame["Volume"].to_numpy()[1:], reps)[:n]
    cols["spread"] = np.full(n, 2, dtype=np.int32)  # the file has no spread; 0.2 pip is a typical EURUSD M1 spread
    return Bars.from_columns("EURUSD", Timeframe.M1, cols)
