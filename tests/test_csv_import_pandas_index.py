"""A plain pandas ``to_csv`` file: the timestamps are the unnamed index (``,Open,High,Low,Close,Volume``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ita_desktop.data.csv_import import read_csv
from ita_desktop.domain.errors import InputError
from ita_desktop.domain.timeframes import Timeframe


def _frame(n: int = 30) -> pd.DataFrame:
    idx = pd.date_range("2022-01-03 08:00", periods=n, freq="5min")
    base = 1.13 + 0.0001 * np.arange(n)
    return pd.DataFrame({"Open": base, "High": base + 0.0003, "Low": base - 0.0002, "Close": base + 0.0001,
                         "Volume": np.arange(n) + 10}, index=idx)


def test_the_unnamed_index_column_is_read_as_the_time(tmp_path: Path):
    path = tmp_path / "eurusd.csv"
    frame = _frame()
    frame.to_csv(path)
    assert path.read_text().splitlines()[0] == ",Open,High,Low,Close,Volume"
    bars = read_csv(path, symbol="EURUSD", server_tz="UTC").bars
    assert len(bars) == 30 and bars.timeframe == Timeframe.M5
    assert bars.time[0] == int(pd.Timestamp("2022-01-03 08:00", tz="UTC").timestamp())
    np.testing.assert_allclose(bars.close, frame["Close"].to_numpy())


def test_an_unnamed_integer_index_is_refused_naming_the_row(tmp_path: Path):
    path = tmp_path / "no_times.csv"
    _frame().reset_index(drop=True).to_csv(path)  # index 0, 1, 2 ...: no times anywhere
    with pytest.raises(InputError) as err:
        read_csv(path, symbol="EURUSD", server_tz="UTC")
    assert str(path) in str(err.value)
