"""The store's live tail: closed bars written one at a time append a row each instead of rewriting
their month chunk, and the series loads exactly as if its bars had come in one ingest (merge
semantics, provenance, restarts, folding, a kill -9 between or during writes)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from ita_desktop.domain.bars import Bars
from ita_desktop.domain.timeframes import Timeframe
from ita_desktop.storage import bar_store
from ita_desktop.storage.bar_reader import BarReader
from ita_desktop.storage.store import Store
from tests.test_store_bars import JAN_31_2022, minute_bars, result_of

ROOT = Path(__file__).resolve().parents[1]
VALUES = ("time", "open", "high", "low", "close", "tick_volume", "spread")


def write(store: Store, bars: Bars, path: str = "live:EURUSD", source: str = "live", also=None):
    return store.bars.write(result_of(bars, path), symbol="EURUSD", timeframe=Timeframe.M1, source=source, also=also)


def one_by_one(store: Store, bars: Bars) -> None:
    for i in range(len(bars)):
        write(store, bars.slice(i, i + 1))


def assert_same_bars(a: Bars, b: Bars) -> None:
    assert len(a) == len(b)
    for c in VALUES:
        np.testing.assert_array_equal(getattr(a, c), getattr(b, c), err_msg=c)


def chunk_rows(path: Path) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT month, n_bars, first_utc, last_utc, time, close, ingest_id FROM bar_chunks "
                            "ORDER BY month").fetchall()


def test_appending_a_closed_bar_leaves_its_month_chunk_untouched(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    history = minute_bars(JAN_31_2022 - 600 * 60, 600)  # ends inside January
    nxt = minute_bars(int(history.time[-1]) + 60, 1, seed=5)
    with Store.open(path) as store:
        write(store, history, "bars.csv", "csv")
        before = chunk_rows(path)
        summary = write(store, nxt)
        assert (summary.new, summary.replaced, summary.unchanged) == (1, 0, 0)
        assert chunk_rows(path) == before  # no chunk rewritten for one live bar
        assert store.bars.tail_size("EURUSD", Timeframe.M1) == 1
        loaded = store.bars.load("EURUSD", Timeframe.M1)
        assert_same_bars(loaded, Bars.from_columns("EURUSD", Timeframe.M1, {
            c: np.concatenate([getattr(history, c), getattr(nxt, c)]) for c in VALUES}))
        assert int(loaded.ingest_id[-1]) == summary.ingest_id
        info = store.bars.series()[0]
        assert (info.bars, info.first_utc, info.last_utc) == (601, int(history.time[0]), int(nxt.time[0]))


@pytest.mark.parametrize("tail_limit", [bar_store.TAIL_LIMIT, 97])
def test_a_thousand_bars_appended_one_by_one_load_as_one_ingest_across_a_month_end(
        tmp_path: Path, monkeypatch, tail_limit: int) -> None:
    monkeypatch.setattr(bar_store, "TAIL_LIMIT", tail_limit)  # 97: the tail is folded ten times on the way
    bars = minute_bars(JAN_31_2022 + 86_400 - 500 * 60, 1000)  # 500 in January, 500 in February
    with Store.open(tmp_path / "whole.sqlite3") as whole:
        write(whole, bars, "bars.csv", "csv")
        expected, expected_series = whole.bars.load("EURUSD", Timeframe.M1), whole.bars.series()
    with Store.open(tmp_path / "live.sqlite3") as store:
        one_by_one(store, bars)
        assert store.bars.tail_size("EURUSD", Timeframe.M1) == 1000 % tail_limit
        loaded = store.bars.load("EURUSD", Timeframe.M1)
        assert_same_bars(loaded, expected)
        assert len(set(loaded.ingest_id.tolist())) == 1000  # each bar traces to the write that stored it
        assert [(s.bars, s.first_utc, s.last_utc) for s in store.bars.series()] == \
            [(s.bars, s.first_utc, s.last_utc) for s in expected_series]
        inside = store.bars.load("EURUSD", Timeframe.M1, int(bars.time[990]), int(bars.time[995]))
        np.testing.assert_array_equal(inside.time, bars.time[990:995])
        assert_same_bars(BarReader(store.path).load("EURUSD", Timeframe.M1), expected)  # the window's reader too
        assert store.bars.compact() == 1000 % tail_limit
        assert store.bars.tail_size("EURUSD", Timeframe.M1) == 0
        assert_same_bars(store.bars.load("EURUSD", Timeframe.M1), expected)
        assert sum(row[1] for row in chunk_rows(store.path)) == 1000


def test_a_restart_in_the_middle_of_a_live_run_loses_and_doubles_nothing(tmp_path: Path) -> None:
    bars = minute_bars(JAN_31_2022 - 300 * 60, 800, seed=3)
    path = tmp_path / "s.sqlite3"
    with Store.open(path) as store:
        write(store, bars.slice(0, 200), "bars.csv", "csv")
        one_by_one(store, bars.slice(200, 500))
    with Store.open(path) as store:  # the app restarted; the overlap is re-sent, as MT5 backfill does
        summary = write(store, bars.slice(490, 520))
        assert (summary.new, summary.replaced, summary.unchanged) == (20, 0, 10)
        one_by_one(store, bars.slice(520, 800))
        assert_same_bars(store.bars.load("EURUSD", Timeframe.M1), bars)
        assert store.bars.series()[0].bars == 800


def test_small_writes_keep_the_merge_semantics_and_a_later_large_ingest_wins(tmp_path: Path) -> None:
    bars = minute_bars(JAN_31_2022 - 100 * 60, 100)
    with Store.open(tmp_path / "s.sqlite3") as store:
        first = write(store, bars, "bars.csv", "csv")
        changed = Bars.from_columns("EURUSD", Timeframe.M1, {
            c: (np.r_[bars.close[50] + 0.001] if c == "close" else getattr(bars, c)[50:51]) for c in VALUES})
        again = bars.slice(40, 41)
        fresh = minute_bars(int(bars.time[-1]) + 60, 1, seed=9)
        for part in (again, changed):  # one unchanged (keeps its ingest), one replaced
            write(store, part)
        s = write(store, fresh)
        assert (s.new, s.replaced, s.unchanged) == (1, 0, 0)
        loaded = store.bars.load("EURUSD", Timeframe.M1)
        assert len(loaded) == 101 and store.bars.series()[0].bars == 101
        assert loaded.close[50] == pytest.approx(bars.close[50] + 0.001)
        assert int(loaded.ingest_id[40]) == first.ingest_id and int(loaded.ingest_id[50]) != first.ingest_id
        s = write(store, changed)  # the same bar again: unchanged, from the tail
        assert (s.new, s.replaced, s.unchanged) == (0, 0, 1)
        s = write(store, bars.slice(0, 100), "again.csv", "csv")  # a large ingest: the tail is folded first
        assert (s.new, s.replaced, s.unchanged) == (0, 1, 99)
        assert store.bars.tail_size("EURUSD", Timeframe.M1) == 0
        loaded = store.bars.load("EURUSD", Timeframe.M1)
        assert loaded.close[50] == bars.close[50] and len(loaded) == 101


def test_a_failure_in_the_same_transaction_stores_no_tail_bar(tmp_path: Path) -> None:
    bars = minute_bars(JAN_31_2022, 10)
    with Store.open(tmp_path / "s.sqlite3") as store:
        write(store, bars.slice(0, 5))

        def fails(session, ingest_id):
            raise RuntimeError("signal insert failed")

        with pytest.raises(RuntimeError):
            write(store, bars.slice(5, 6), also=fails)
        empty = write(store, bars.slice(6, 6))  # an empty write is an ingest of nothing, as before
        assert (empty.new, empty.replaced, empty.unchanged) == (0, 0, 0)
        assert store.bars.tail_size("EURUSD", Timeframe.M1) == 5
        np.testing.assert_array_equal(store.bars.load("EURUSD", Timeframe.M1).time, bars.time[:5])


WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    sys.path.insert(0, {root!r})
    from ita_desktop.storage import bar_store
    from ita_desktop.storage.store import Store
    from tests.test_store_bars import JAN_31_2022, minute_bars, result_of
    bar_store.TAIL_LIMIT = 23  # folds happen often, so a kill may land inside one
    bars = minute_bars(JAN_31_2022 - 3000 * 60, 6000, seed=11)
    with Store.open(Path({path!r})) as store:
        start = len(store.bars.load("EURUSD", bars.timeframe))
        for i in range(start, len(bars)):
            store.bars.write(result_of(bars.slice(i, i + 1), "live:EURUSD"), symbol="EURUSD",
                             timeframe=bars.timeframe, source="live")
            print(i, flush=True)
""")


@pytest.mark.parametrize("kill_after", [40, 131])
def test_a_kill_9_between_or_during_bar_writes_loses_nothing_stored(tmp_path: Path, kill_after: int) -> None:
    path = tmp_path / "s.sqlite3"
    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(root=str(ROOT), path=str(path)))
    bars = minute_bars(JAN_31_2022 - 3000 * 60, 6000, seed=11)
    stored = -1
    for _round in range(2):  # killed twice; the second run resumes after what the first stored
        proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, cwd=ROOT,
                                env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert proc.stdout is not None
        for line in proc.stdout:
            stored = int(line)
            if stored >= kill_after * (_round + 1):
                break
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        loaded = BarReader(path).load("EURUSD", Timeframe.M1)
        # every bar reported stored is there; at most the one being written when killed is extra
        assert stored + 1 <= len(loaded) <= stored + 2
        assert_same_bars(loaded, bars.slice(0, len(loaded)))


def test_writes_continuing_an_ingest_grow_one_row_and_refuse_another_series(tmp_path: Path) -> None:
    """A live session's closed bars continue its ingest: one ``ingests`` row whose counts and first/last
    time grow, every bar naming it; continuing another symbol's, timeframe's or source's ingest is refused
    and stores nothing."""
    bars = minute_bars(JAN_31_2022 - 30 * 60, 60)  # across the month end
    with Store.open(tmp_path / "s.sqlite3") as store:
        first = write(store, bars.slice(0, 1))
        for i in range(1, 60):
            summary = store.bars.write(result_of(bars.slice(i, i + 1), "live:EURUSD"), symbol="EURUSD",
                                       timeframe=Timeframe.M1, source="live", ingest_id=first.ingest_id)
            assert summary.ingest_id == first.ingest_id and summary.new == 1
        again = store.bars.write(result_of(bars.slice(50, 60), "live:EURUSD"), symbol="EURUSD",
                                 timeframe=Timeframe.M1, source="live", ingest_id=first.ingest_id)
        assert (again.new, again.unchanged) == (0, 10)
        rows = store.ingests.list("EURUSD")
        assert len(rows) == 1
        row = rows[0]
        assert (row.bars_new, row.bars_unchanged, row.rows_stored, row.rows_read) == (60, 10, 70, 70)
        assert (row.first_utc, row.last_utc) == (int(bars.time[0]), int(bars.time[-1]))
        loaded = store.bars.load("EURUSD", Timeframe.M1)
        assert set(loaded.ingest_id.tolist()) == {first.ingest_id}
        later = minute_bars(int(bars.time[-1]) + 60, 1, seed=3)
        for kwargs in ({"source": "mt5"}, {"timeframe": Timeframe.M5}, {"symbol": "GBPUSD"}):
            args = {"symbol": "EURUSD", "timeframe": Timeframe.M1, "source": "live"} | kwargs
            part = later if args["timeframe"] == Timeframe.M1 else Bars.from_columns(
                "EURUSD", Timeframe.M5, {c: getattr(later, c) for c in VALUES})
            with pytest.raises(ValueError, match="cannot continue it"):
                store.bars.write(result_of(part, "live:EURUSD"), ingest_id=first.ingest_id, **args)
        assert len(store.bars.load("EURUSD", Timeframe.M1)) == 60 and len(store.ingests.list("EURUSD")) == 1
