"""The two real files in ../shared/data import as they are, with counts and UTC ranges checked
by hand against the files' first and last lines and the time-zone rule.

EURUSD_M1.csv states no zone. Its every week ends with a bar at Friday 18:29 and starts again
at Sunday 18:30 (naive), and liquidity thins around 18:30 each day: the FX week closes and
opens at 17:00 New York (22:00 UTC in January/February), so the file's clock is UTC-03:30
(server GMT+2 shifted by India's +05:30, most likely). With that zone the weekend gap lands
exactly on Friday 17:00 / Sunday 17:00 New York; with the default NY+7 it lands at 11:30.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from ita_desktop.data.csv_import import read_csv
from ita_desktop.domain.clock import local_seconds
from ita_desktop.domain.timeframes import Timeframe

pytestmark = pytest.mark.realdata

EURUSD_ZONE = "-03:30"


def utc(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp())


def weekend_gaps_in_new_york(time: np.ndarray) -> list[tuple[str, str]]:
    """(last bar before, first bar after) every gap over a day, as New York weekday and wall time."""
    gaps = np.flatnonzero(np.diff(time) > 86_400)
    ny = local_seconds(np.r_[time[gaps], time[gaps + 1]], "America/New_York")
    show = [datetime.fromtimestamp(int(s), timezone.utc).strftime("%a %H:%M") for s in ny]
    return list(zip(show[: len(gaps)], show[len(gaps):]))


def test_eurusd_imports_whole_in_its_real_zone(eurusd_csv: Path):
    result = read_csv(eurusd_csv, symbol="EURUSD", server_tz=EURUSD_ZONE)
    assert (result.source_format, result.server_tz) == ("generic_ohlc", EURUSD_ZONE)
    assert (result.rows_read, len(result.bars), result.findings) == (49_993, 49_993, [])
    bars = result.bars
    assert bars.timeframe is Timeframe.M1
    # First line "2022-01-04 18:00:00", last "2022-02-22 15:25:00", both + 3:30.
    assert (bars.first_time, bars.last_time) == (utc("2022-01-04 21:30"), utc("2022-02-22 18:55"))
    assert (bars.open[0], bars.high[0], bars.low[0], bars.close[0], bars.tick_volume[0]) == (
        1.12834, 1.1284, 1.12834, 1.12838, 24)


def test_eurusd_weekend_gap_is_the_fx_close_and_open_in_new_york(eurusd_csv: Path):
    bars = read_csv(eurusd_csv, symbol="EURUSD", server_tz=EURUSD_ZONE).bars
    # The last bar opens at 16:59 and closes at 17:00 New York; the week reopens at 17:00.
    assert weekend_gaps_in_new_york(bars.time) == [("Fri 16:59", "Sun 17:00")] * 7


def test_eurusd_under_the_default_ny_plus_7_misplaces_the_week(eurusd_csv: Path):
    result = read_csv(eurusd_csv, symbol="EURUSD", server_tz="NY+7")
    assert (result.bars.first_time, result.bars.last_time) == (utc("2022-01-04 16:00"), utc("2022-02-22 13:25"))
    assert weekend_gaps_in_new_york(result.bars.time) == [("Fri 11:29", "Sun 11:30")] * 7


def test_xauusd_aware_times_ignore_server_tz(xauusd_csv: Path):
    result = read_csv(xauusd_csv, symbol="XAUUSD", server_tz="NY+7")
    assert (result.source_format, result.server_tz) == ("mt5_copy_rates", "UTC")
    assert result.rows_read == 4_676 and len(result.bars) == 4_676
    assert [(f.kind, f.rows, f.rejected) for f in result.findings] == [("aware_times", [], False)]
    bars = result.bars
    assert bars.timeframe is Timeframe.M1
    # First line "2026-06-28 22:00:00+00:00", last "2026-07-02 09:55:00+00:00".
    assert (bars.first_time, bars.last_time) == (utc("2026-06-28 22:00"), utc("2026-07-02 09:55"))
    assert (bars.open[0], bars.close[0], bars.tick_volume[0], bars.spread[0]) == (4082.28, 4079.36, 1171, 136)
