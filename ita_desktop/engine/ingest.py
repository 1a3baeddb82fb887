"""Import a file into the store: parse and clean it (data layer), then write it as one ingest (storage).

The CLI, the GUI's import dialog and scheduled jobs all call ``import_file`` so they report
the same summary and the same errors.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ita_desktop.domain.timeframes import Timeframe
from ita_desktop.storage import IngestSummary, Store

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
