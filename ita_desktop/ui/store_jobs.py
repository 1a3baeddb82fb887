"""The work the window hands to the job engine: plain functions over the store.

Each runs on a worker thread; the window gets the return value through a signal. Demo data
and imports are the engine's own functions (``engine/ingest.py``), shared with the CLI.

Start-up reads the store twice on purpose: ``read_store`` lists and loads bars with plain
sqlite3 so the first chart is drawn without waiting for SQLAlchemy, SQLModel and pandas to
import; ``open_store`` (the full, writable Store) runs once that chart is on screen.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from ita_desktop.domain.errors import ItaError
from ita_desktop.domain.timeframes import Timeframe
from ita_desktop.engine.bars import load_bars
from ita_desktop.paths import app_paths
from ita_desktop.storage import migrations
from ita_desktop.storage.bar_reader import BarReader, SeriesInfo
from ita_desktop.ui.chart.chart_data import ChartData, prepare_chart_data

if TYPE_CHECKING:
    from ita_desktop.storage.store import Store


def read_store(path: Path | None) -> tuple[BarReader | None, list[SeriesInfo]]:
    """A plain-SQL reader and the stored series, when the file exists at the current schema and holds bars.

    (None, []) otherwise: the store must be created or migrated first, which needs the full Store.
    """
    reader = BarReader.at_schema(path or app_paths().ensure().database, migrations.LATEST)
    series = reader.series() if reader is not None else []
    return (reader, series) if series else (None, [])


def open_store(path: Path | None) -> tuple[Store, list[SeriesInfo]]:
    """Open (create, migrate) the store and list its series in one trip off the GUI thread.

    pandas is loaded here too, while the window is still starting: its C modules hold the GIL
    while they initialise (tens of ms at a time), which would stall the window in the middle of
    the trader's first CSV import if it were loaded then.
    """
    import ita_desktop.data.csv_import  # noqa: F401  (loads pandas)
    from ita_desktop.storage.store import Store

    store = Store.open(path)
    try:
        return store, store.bars.series()
    except BaseException:
        store.close()
        raise


def load_chart_data(reader: BarReader, symbol: str, timeframe: Timeframe, clock: str,
                    windows: dict[str, tuple[str, str]], display=None) -> ChartData:
    """Load a series (stored, or built from a finer stored one) and prepare it for the chart
    (``display``: the DisplayClock its times are shown on)."""
    bars = load_bars(reader, symbol, timeframe, clock=clock)
    if not len(bars):
        raise ItaError(f"no {symbol} {timeframe.value} bars are stored, nor finer ones to build them from")
    return prepare_chart_data(bars, clock, windows, reader.digits(symbol), display)


def numba_cache_state() -> str:
    """'warm (N kernels)' when compiled detectors are cached on disk, else 'cold' (first run compiles)."""
    folder = Path(os.environ.get("NUMBA_CACHE_DIR") or app_paths().numba_cache)
    count = sum(1 for _ in folder.rglob("*.nbi")) if folder.is_dir() else 0
    return f"warm ({count} kernels)" if count else "cold"
