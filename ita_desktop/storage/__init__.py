"""storage layer: the only code that speaks SQL. Open it with ``Store.open()``."""

from ita_desktop.storage.bar_store import IngestSummary, SeriesInfo
from ita_desktop.storage.store import Store

__all__ = ["IngestSummary", "SeriesInfo", "Store"]
