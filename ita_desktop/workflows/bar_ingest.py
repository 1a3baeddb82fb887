"""Bars into the store from every source: CSV files, the MT5 terminal, demo data.

The CLI, the GUI's dialogs and scheduled jobs all call these functions so they report
the same summary and the same errors; each source ends as one ingest written in one transaction.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from ita_desktop.config import MT5Settings
from ita_desktop.domain.bars import Bars
from ita_desktop.domain.errors import InputError
from ita_desktop.domain.ingest import Finding, ImportResult
from ita_desktop.domain.timeframes import Timeframe
from ita_desktop.storage.bar_store import IngestSummary
from ita_desktop.storage.store import Store

DAY = 86_400

if TYPE_CHECKING:
    from ita_desktop.data.csv_import import Progress


def import_file(
    store: Store,
    path: Path | str,
    *,
    symbol: str,
    timeframe: Timeframe | None = None,
    server_tz: str | None = None,
    progress: Progress | None = None,
) -> IngestSummary:
    """Read ``path`` as a bar CSV and store it; raises InputError (file, line, column) and stores nothing on bad input.

    ``timeframe`` None lets the importer detect it from the bar spacing; ``progress(fraction, stage)``
    is the importer's, and an exception raised from it cancels the import before anything is stored.
    """
    from ita_desktop.data.csv_import import read_csv  # loads pandas: paid only by imports, not by every CLI start

    result = read_csv(Path(path), symbol=symbol, timeframe=timeframe, server_tz=server_tz, progress=progress)
    return store.bars.write(result, symbol=symbol, timeframe=timeframe or result.bars.timeframe, source="csv")


def store_bars(
    store: Store, bars: Bars, *, source: str, origin: str, source_format: str, server_tz: str,
    findings: Sequence[Finding] = (),
) -> IngestSummary:
    """Store bars that came from a live source (MT5, demo) after the same price checks a CSV gets.

    Rows in the findings are 1-based positions in the downloaded series. Bad bars are rejected and
    reported, never repaired; identical bytes make the same hash so a repeated download is traceable.
    ``findings`` are the source's own (bars it could not place, history it did not give); bars they
    reject were never in ``bars`` and count as read.
    """
    from ita_desktop.data.cleaning import PRICES, Report, check_price_magnitudes, check_prices

    report = Report()
    ok = np.ones(len(bars), dtype=bool)
    rows = np.arange(1, len(bars) + 1)
    check_price_magnitudes(bars.columns(), PRICES, rows, ok, report)  # a bridge can hand back 1e308
    check_prices(bars.columns(), rows, ok, report)
    kept = bars if ok.all() else bars.take(ok)
    digest = hashlib.sha256(b"".join(c.tobytes() for c in bars.columns().values())).hexdigest()
    result = ImportResult(path=origin, file_hash=digest, source_format=source_format, server_tz=server_tz,
                          bars=kept, rows_read=len(bars) + sum(f.count for f in findings if f.rejected),
                          findings=[*findings, *report.findings])
    return store.bars.write(result, symbol=bars.symbol, timeframe=bars.timeframe, source=source)


def download_mt5(
    store: Store,
    symbol: str,
    timeframe: Timeframe,
    start_utc: int,
    end_utc: int,
    *,
    settings: MT5Settings,
    module: ModuleType | None = None,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> IngestSummary:
    """Download [start_utc, end_utc) from the MT5 terminal and store it as one ingest.

    ``settings`` are the caller's (the core's ``settings.mt5``: no layer below the faces reads the
    settings file). ``module`` is the MetaTrader5 module or a drop-in (mt5linux); None imports MetaTrader5.
    A cancelled or failed download stores nothing.
    """
    from ita_desktop.data.mt5_source import MT5Source

    with MT5Source(settings, module=module) as source:
        bars = source.fetch_bars(symbol, timeframe, start_utc, end_utc, progress=progress, cancel=cancel)
    if not len(bars):
        raise InputError(f"MT5 returned no {symbol} {timeframe.value} bars in the range; nothing stored")
    origin = f"mt5:{settings.server or 'terminal'}/{symbol}"
    return store_bars(store, bars, source="mt5", origin=origin, source_format="mt5_copy_rates",
                      server_tz=settings.server_tz, findings=source.findings)


def store_demo(
    store: Store, *, base: str = "EURUSD", days: int = 30, end_utc: int | None = None,
    timeframes: tuple[Timeframe, ...] = (Timeframe.M1, Timeframe.M15, Timeframe.H1),
    progress: Callable[[float, str], None] | None = None,
) -> list[IngestSummary]:
    """Generate ``days`` of seeded demo bars ending at ``end_utc`` (default now) under ``<base>.demo``."""
    from ita_desktop.data.demo import generate_demo_bars

    end = int(time.time()) if end_utc is None else end_utc
    start = (end // DAY - days) * DAY
    summaries = []
    for k, timeframe in enumerate(timeframes):
        if progress is not None:
            progress(k / len(timeframes), f"demo {timeframe.value}")
        bars = generate_demo_bars(base, start_utc=start, days=days, timeframe=timeframe)
        summaries.append(store_bars(store, bars, source="demo", origin="demo", source_format="demo", server_tz="UTC"))
    if progress is not None:
        progress(1.0, "done")
    return summaries
