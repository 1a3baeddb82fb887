"""Ingest as the core's use case: bars from a CSV file, the MT5 terminal or demo data into the store.

The work is ``workflows.bar_ingest``'s (one transaction per ingest, nothing stored on bad input); the
service runs it on the core's store with the core's settings (no layer below reads the
settings file itself) and announces every write on the bus (``BarsStored``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ita_desktop.bus.events import BarsStored
from ita_desktop.domain.timeframes import Timeframe

if TYPE_CHECKING:
    from ita_desktop.core.app_core import Core
    from ita_desktop.storage.bar_store import IngestSummary

Progress = Callable[[float, str], None]


class IngestService:
    def __init__(self, core: Core) -> None:
        self._core = core

    def import_file(self, path: Path | str, *, symbol: str, timeframe: Timeframe | None = None,
                    server_tz: str | None = None, progress: Progress | None = None) -> IngestSummary:
        from ita_desktop.workflows.bar_ingest import import_file

        summary = import_file(self._core.store, path, symbol=symbol, timeframe=timeframe, server_tz=server_tz,
                              progress=progress)
        return self._announce([summary])[0]

    def download_mt5(self, symbol: str, timeframe: Timeframe, start_utc: int, end_utc: int, *, module=None,
                     progress: Callable[[int, int], None] | None = None,
                     cancel: Callable[[], bool] | None = None) -> IngestSummary:
        from ita_desktop.workflows.bar_ingest import download_mt5

        summary = download_mt5(self._core.store, symbol, timeframe, start_utc, end_utc,
                               settings=self._core.settings.mt5, module=module, progress=progress, cancel=cancel)
        return self._announce([summary])[0]

    def store_demo(self, *, progress: Progress | None = None, **kwargs) -> list[IngestSummary]:
        from ita_desktop.workflows.bar_ingest import store_demo

        return self._announce(store_demo(self._core.store, progress=progress, **kwargs))

    def _announce(self, summaries: list[IngestSummary]) -> list[IngestSummary]:
        for s in summaries:
            self._core.bus.publish(BarsStored(symbol=s.symbol, timeframe=s.timeframe.value, rows=s.rows_stored,
                                              first_utc=s.first_utc, last_utc=s.last_utc, source=s.source))
        return summaries
