"""Bars from the real shared CSV files, read with pandas, for tests that must not depend on the importer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ita_desktop.domain.bars import Bars
from ita_desktop.domain.clock import ServerClock
from ita_desktop.domain.ingest import ImportResult
from ita_desktop.domain.timeframes import Timeframe

EURUSD_SERVER_TZ = "-03:30"  # the file's weekly gap lands on Fri/Sun 17:00 New York only at this offset (see test_csv_import_realdata)


def eurusd_naive_seconds(path: Path) -> tuple[np.ndarray, pd.DataFrame]:
    """Rows of EURUSD_M1.csv (each line quoted, tab-separated inside) and their naive server times."""
    lines = path.read_text(encoding="utf-8").splitlines()
    rows = [line.strip().strip('"').split("\t") for line in lines[1:] if line.strip()]
    frame = pd.DataFrame(rows, columns=["time", "open", "high", "low", "close", "volume"])
    naive = pd.to_datetime(frame["time"]).to_numpy("datetime64[s]").astype(np.int64)
    return naive, frame


def eurusd_bars(path: Path) -> Bars:
    naive, frame = eurusd_naive_seconds(path)
    utc = ServerClock.parse(EURUSD_SERVER_TZ).to_utc(naive)
    cols = {c: frame[c].astype(float).to_numpy() for c in ("open", "high", "low", "close")}
    return Bars.from_columns("EURUSD", Timeframe.M1, {"time": utc, "tick_volume": frame["volume"].astype(np.int64).to_numpy(), **cols})


def xauusd_bars(path: Path) -> Bars:
    frame = pd.read_csv(path)
    utc = pd.to_datetime(frame["time"], utc=True).to_numpy("datetime64[s]").astype(np.int64)
    cols = {c: frame[c].to_numpy() for c in ("open", "high", "low", "close", "tick_volume", "spread")}
    return Bars.from_columns("XAUUSD", Timeframe.M1, {"time": utc, **cols})


SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def real_eurusd_home(prefix: str) -> Path:
    """A throwaway ITA_HOME (set in the environment, before the app's paths are first read) whose store holds
    the real EURUSD M1 file imported by the app's own CSV reader: the set-up the real-data benchmarks share."""
    import os
    import tempfile

    from ita_desktop.data.csv_import import read_csv

    home = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ["ITA_HOME"] = str(home)
    store_bars(read_csv(SHARED_DATA / "EURUSD_M1.csv", symbol="EURUSD", server_tz=EURUSD_SERVER_TZ).bars)
    return home


def store_bars(bars: Bars) -> None:
    """Write ``bars`` into the store of the current ITA_HOME, as an import would."""
    from ita_desktop.storage.store import Store

    result = ImportResult(path="test", file_hash="", source_format="test", server_tz="UTC", bars=bars, rows_read=len(bars))
    with Store.open() as store:
        store.bars.write(result, symbol=bars.symbol, timeframe=bars.timeframe, source="csv")
