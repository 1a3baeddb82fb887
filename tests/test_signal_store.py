"""The signals table: a deterministic key stored once, written in the bars' transaction (both or neither)."""

from __future__ import annotations

import numpy as np
import pytest

from ita_desktop.domain.bars import Bars
from ita_desktop.domain.ingest import ImportResult
from ita_desktop.domain.timeframes import Timeframe
from ita_desktop.storage.signal_store import SignalRecord
from ita_desktop.storage.store import Store

T0 = 1_641_168_000


def _bars(n: int, start: int = T0) -> Bars:
    t = start + 60 * np.arange(n)
    price = 1.1 + 0.0001 * np.arange(n)
    return Bars.from_columns("EURUSD", Timeframe.M1, {"time": t, "open": price, "high": price + 0.0002,
                                                     "low": price - 0.0002, "close": price + 0.0001})


def _record(key: str = "k1", **kw) -> SignalRecord:
    base = dict(occurrence_key=key, rule_id="asia_sweep", rule_version="1", symbol="EURUSD", timeframe="M5",
                signal_time=T0, direction=1, source="live", status="pending", steps=[{"name": "sweep", "time": T0}],
                occurrence={"id": 0}, order_type="limit", entry_price=1.1, stop_price=1.09, targets=[{"r": 2.0}])
    base.update(kw)
    return SignalRecord(**base)


def _result(bars: Bars) -> ImportResult:
    return ImportResult(path="live:test", file_hash="", source_format="mt5-live", server_tz="UTC", bars=bars,
                        rows_read=len(bars))


def test_a_signal_key_is_stored_once_and_read_back_with_its_fields(ita_home) -> None:
    with Store.open() as store:
        assert store.signals.store([_record(), _record("k2", direction=-1)]) == [True, True]
        assert store.signals.store([_record(), _record("k3")]) == [False, True]
        rows = store.signals.list(symbol="EURUSD")
        assert [r.occurrence_key for r in rows] == ["k1", "k2", "k3"]
        assert rows[0].targets == [{"r": 2.0}] and rows[0].steps[0]["name"] == "sweep"
        store.signals.update("k1", "filled", {"entry_price": 1.1})
        assert [r.occurrence_key for r in store.signals.list(status=("filled",))] == ["k1"]
        with pytest.raises(ValueError, match="unknown signal source"):
            store.signals.store([_record("k9", source="paper")])


def test_signals_are_written_in_the_transaction_of_their_bars(ita_home) -> None:
    with Store.open() as store:
        summary = store.bars.write(_result(_bars(5)), symbol="EURUSD", timeframe=Timeframe.M1, source="live",
                                   also=lambda s, ingest_id: store.signals.insert(s, [_record()], ingest_id))
        [row] = store.signals.list()
        assert row.ingest_id == summary.ingest_id and store.ingests.get(summary.ingest_id).source == "live"

        def fail(session, ingest_id):
            store.signals.insert(session, [_record("k2")], ingest_id)
            raise RuntimeError("disk gone")

        with pytest.raises(RuntimeError):
            store.bars.write(_result(_bars(3, T0 + 600)), symbol="EURUSD", timeframe=Timeframe.M1, source="live",
                             also=fail)
        assert len(store.bars.load("EURUSD", Timeframe.M1)) == 5  # neither the bars
        assert [r.occurrence_key for r in store.signals.list()] == ["k1"]  # nor the signal
