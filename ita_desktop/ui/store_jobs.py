"""The work the window hands to its job runner: plain functions over the store.

Each runs on a worker thread; the window gets the return value through a signal.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from ita_desktop.domain.errors import ItaError
from ita_desktop.domain.ingest import ImportResult
from ita_desktop.domain.timeframes import Timeframe
from ita_desktop.paths import app_paths
from ita_desktop.storage import IngestSummary, SeriesInfo, Store
from ita_desktop.ui.chart.chart_data import ChartData, prepare_chart_data
from ita_desktop.ui.jobs import Progress

DEMO_BASE = "EURUSD"  # stored as EURUSD.demo (data.demo's naming), never under the real name
DEMO_DAYS = 30
DEMO_TIMEFRAMES = (Timeframe.M1, Timeframe.M15, Timeframe.H1)
DAY = 86_400


def open_store(path: Path | None) -> tuple[Store, list[SeriesInfo]]:
    """Open (create, migrate) the store and list its series in one trip off the GUI thread."""
    store = Store.open(path)
    try:
        return store, store.bars.series()
    except BaseException:
        store.close()
        raise


def load_chart_data(store: Store, symbol: str, timeframe: Timeframe, clock: str,
                    windows: dict[str, tuple[str, str]]) -> ChartData:
    """Load a stored series and prepare it for the chart, digits from the instruments table when known."""
    bars = store.bars.load(symbol, timeframe)
    if not len(bars):
        raise ItaError(f"no {symbol} {timeframe.value} bars are stored")
    instrument = store.instruments.get(symbol)
    return prepare_chart_data(bars, clock, windows, instrument.digits if instrument is not None else None)


def store_demo(store: Store, progress: Progress, now_utc: int | None = None) -> list[IngestSummary]:
    """Generate DEMO_DAYS of made-up bars ending today (M1 and coarser) and store each as a demo ingest."""
    from ita_desktop.data.demo import generate_demo_bars

    now = int(time.time()) if now_utc is None else now_utc
    start = (now // DAY - DEMO_DAYS) * DAY
    summaries = []
    for k, timeframe in enumerate(DEMO_TIMEFRAMES):
        progress(k / len(DEMO_TIMEFRAMES), f"demo {timeframe.value}")
        bars = generate_demo_bars(DEMO_BASE, start_utc=start, days=DEMO_DAYS, timeframe=timeframe)
        result = ImportResult(path="demo", file_hash="", source_format="demo", server_tz="UTC",
                              bars=bars, rows_read=len(bars))
        summaries.append(store.bars.write(result, symbol=bars.symbol, timeframe=timeframe, source="demo"))
    progress(1.0, "done")
    return summaries


def numba_cache_state() -> str:
    """'warm (N kernels)' when compiled detectors are cached on disk, else 'cold' (first run compiles)."""
    folder = Path(os.environ.get("NUMBA_CACHE_DIR") or app_paths().numba_cache)
    count = sum(1 for _ in folder.rglob("*.nbi")) if folder.is_dir() else 0
    return f"warm ({count} kernels)" if count else "cold"
