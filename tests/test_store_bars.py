"""The bar store: round trips, merging re-imports, provenance, one transaction per ingest, worker threads."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import numpy as np
import pytest

from ita_desktop.domain.bars import Bars
from ita_desktop.domain.errors import InputError, ItaError
from ita_desktop.domain.ingest import Finding, ImportResult
from ita_desktop.domain.timeframes import Timeframe
from ita_desktop.storage import bar_store, migrations
from ita_desktop.storage.bar_reader import BarReader
from ita_desktop.storage.bar_store import merge_columns, month_keys
from ita_desktop.storage.store import Store
from tests.support.real_bars import xauusd_bars

JAN_31_2022 = 1_643_587_200  # 2022-01-31 00:00 UTC


def minute_bars(start: int, n: int, *, base: float = 1.1, seed: int = 0, symbol: str = "EURUSD") -> Bars:
    rng = np.random.default_rng(seed)
    close = np.round(base + np.cumsum(rng.normal(0, 1e-4, n)), 5)
    open_ = np.r_[base, close[:-1]]
    return Bars.from_columns(
        symbol,
        Timeframe.M1,
        {
            "time": start + 60 * np.arange(n, dtype=np.int64),
            "open": open_,
            "high": np.maximum(open_, close) + 0.0001,
            "low": np.minimum(open_, close) - 0.0001,
            "close": close,
            "tick_volume": rng.integers(1, 100, n),
            "spread": rng.integers(0, 20, n),
        },
    )


def result_of(bars: Bars, path: str = "bars.csv", findings: list[Finding] | None = None) -> ImportResult:
    result = ImportResult(path, f"hash-{path}", "test", "UTC", bars, rows_read=len(bars), findings=findings or [])
    result.rows_read += result.rows_rejected
    return result


@pytest.fixture
def store(tmp_path: Path):
    with Store.open(tmp_path / "store.sqlite3") as s:
        yield s


def dump(path: Path) -> list[str]:
    """Every table's content as SQL text: equal dumps mean an unchanged database."""
    with sqlite3.connect(path) as conn:
        return list(conn.iterdump())


def assert_same_bars(a: Bars, b: Bars) -> None:
    for c in ("time", "open", "high", "low", "close", "tick_volume", "spread"):
        np.testing.assert_array_equal(getattr(a, c), getattr(b, c), err_msg=c)


def test_write_then_load_returns_the_same_bars_across_month_chunks(store: Store) -> None:
    bars = minute_bars(JAN_31_2022, 3000)  # 31 Jan into 2 Feb: two monthly chunks
    summary = store.bars.write(result_of(bars), symbol="EURUSD", timeframe=Timeframe.M1, source="csv")

    loaded = store.bars.load("EURUSD", Timeframe.M1)
    assert_same_bars(loaded, bars)
    assert (loaded.ingest_id == summary.ingest_id).all()
    assert (summary.new, summary.replaced, summary.unchanged, summary.rows_stored) == (3000, 0, 0, 3000)
    assert (summary.first_utc, summary.last_utc) == (int(bars.time[0]), int(bars.time[-1]))
    with sqlite3.connect(store.path) as conn:
        months = [m for (m,) in conn.execute("SELECT month FROM bar_chunks ORDER BY month")]
    assert months == [202201, 202202]


def test_load_window_is_half_open_and_accepts_numpy_integers(store: Store) -> None:
    bars = minute_bars(JAN_31_2022, 3000)
    store.bars.write(result_of(bars), symbol="EURUSD", timeframe=Timeframe.M1, source="csv")

    window = store.bars.load("EURUSD", Timeframe.M1, bars.time[1430], bars.time[1450])
    assert_same_bars(window, bars.slice(1430, 1450))
    assert len(store.bars.load("EURUSD", Timeframe.M1, start_utc=int(bars.time[-1]) + 60)) == 0
    assert len(store.bars.load("EURUSD", Timeframe.M5)) == 0
    assert len(store.bars.load("GBPUSD", Timeframe.M1)) == 0


def test_reimport_merges_by_time_newer_ingest_wins_and_counts_each_kind(store: Store) -> None:
    first = minute_bars(JAN_31_2022, 2000, seed=1)
    a = store.bars.write(result_of(first, "a.csv"), symbol="EURUSD", timeframe=Timeframe.M1, source="csv")

    # second file: bars 1000..2999; of the overlap 1000..1999, bars 1000..1099 carry new prices
    cols = minute_bars(JAN_31_2022, 3000, seed=2).columns()
    for c in ("open", "high", "low", "close", "tick_volume", "spread"):
        cols[c][1100:2000] = getattr(first, c)[1100:2000]
    cols["close"][1000:1100] += 0.001
    second = Bars.from_columns("EURUSD", Timeframe.M1, {c: v[1000:] for c, v in cols.items()})
    b = store.bars.write(result_of(second, "b.csv"), symbol="EURUSD", timeframe=Timeframe.M1, source="csv")

    assert (b.new, b.replaced, b.unchanged, b.rows_stored) == (1000, 100, 900, 2000)
    loaded = store.bars.load("EURUSD", Timeframe.M1)
    assert len(loaded) == 3000 and (np.diff(loaded.time) == 60).all()
    np.testing.assert_array_equal(loaded.close[:1000], first.close[:1000])
    np.testing.assert_array_equal(loaded.close[1000:], second.close)
    # provenance: unchanged bars keep the ingest that brought them, changed and new bars point at b
    assert (loaded.ingest_id[:1000] == a.ingest_id).all()
    assert (loaded.ingest_id[1000:1100] == b.ingest_id).all()
    assert (loaded.ingest_id[1100:2000] == a.ingest_id).all()
    assert (loaded.ingest_id[2000:] == b.ingest_id).all()
    assert [i.ingest_id for i in store.ingests.list()] == [a.ingest_id, b.ingest_id]
    assert (store.ingests.get(b.ingest_id).bars_replaced, store.ingests.get(b.ingest_id).bars_unchanged) == (100, 900)


def test_importing_the_same_file_twice_changes_no_bar(store: Store) -> None:
    bars = minute_bars(JAN_31_2022, 500)
    store.bars.write(result_of(bars), symbol="EURUSD", timeframe=Timeframe.M1, source="csv")
    again = store.bars.write(result_of(bars), symbol="EURUSD", timeframe=Timeframe.M1, source="csv")
    assert (again.new, again.replaced, again.unchanged) == (0, 0, 500)
    loaded = store.bars.load("EURUSD", Timeframe.M1)
    assert len(loaded) == 500 and (loaded.ingest_id == again.ingest_id - 1).all()


def test_merge_columns_inserts_bars_between_existing_ones() -> None:
    old = minute_bars(JAN_31_2022, 10).take(np.arange(0, 10, 2)).columns()  # even minutes
    new = minute_bars(JAN_31_2022, 10, seed=5).take(np.array([1, 3, 4, 9])).columns()
    merged, fresh, replaced, unchanged = merge_columns(old, new)
    np.testing.assert_array_equal(merged["time"], JAN_31_2022 + 60 * np.array([0, 1, 2, 3, 4, 6, 8, 9]))
    assert (fresh, replaced, unchanged) == (3, 1, 0)
    assert merged["close"][4] == new["close"][2]


def test_month_keys_use_utc_calendar_months() -> None:
    times = np.array([JAN_31_2022 + 86_399, JAN_31_2022 + 86_400, 951_782_400], dtype=np.int64)  # last one: 2000-02-29
    np.testing.assert_array_equal(month_keys(times), [202201, 202202, 200002])


def test_failure_in_the_middle_of_a_write_leaves_the_store_unchanged(store: Store, monkeypatch) -> None:
    store.bars.write(result_of(minute_bars(JAN_31_2022, 1000)), symbol="EURUSD", timeframe=Timeframe.M1, source="csv")
    before = dump(store.path)

    real_encode = bar_store.encode_chunk
    calls = []

    def encode_then_fail(columns):
        calls.append(1)
        if len(calls) == 2:  # the first month's chunk is already written in this transaction
            raise OSError("disk full (injected)")
        return real_encode(columns)

    monkeypatch.setattr(bar_store, "encode_chunk", encode_then_fail)
    overlapping = minute_bars(JAN_31_2022 + 600 * 60, 3000, seed=9)  # rewrites January, adds February
    with pytest.raises(OSError, match="injected"):
        store.bars.write(result_of(overlapping, "b.csv"), symbol="EURUSD", timeframe=Timeframe.M1, source="csv")

    assert len(calls) == 2
    assert dump(store.path) == before
    assert len(store.ingests.list()) == 1
    monkeypatch.undo()
    # the id sequence was rolled back too: the next ingest continues from 1
    nxt = store.bars.write(result_of(overlapping, "b.csv"), symbol="EURUSD", timeframe=Timeframe.M1, source="csv")
    assert nxt.ingest_id == 2


def test_bad_bars_are_refused_with_the_file_named_and_nothing_stored(store: Store) -> None:
    bars = minute_bars(JAN_31_2022, 100)
    unsorted = bars.take(np.r_[np.arange(50), 40, np.arange(51, 100)])
    with pytest.raises(InputError, match=r"bad\.csv: bar times are not strictly increasing at bar 50"):
        store.bars.write(result_of(unsorted, "bad.csv"), symbol="EURUSD", timeframe=Timeframe.M1, source="csv")
    cols = bars.columns()
    cols["high"] = cols["high"].copy()
    cols["high"][7] = np.nan
    with pytest.raises(InputError, match="bar 7 has a non-finite high"):
        store.bars.write(result_of(Bars(**cols, symbol="EURUSD", timeframe=Timeframe.M1)), symbol="EURUSD", timeframe=Timeframe.M1, source="csv")
    with pytest.raises(InputError, match="bars are M1 but were to be stored as M5"):
        store.bars.write(result_of(bars), symbol="EURUSD", timeframe=Timeframe.M5, source="csv")
    with pytest.raises(InputError, match="invalid symbol"):
        store.bars.write(result_of(bars), symbol="EUR USD", timeframe=Timeframe.M1, source="csv")
    assert store.ingests.list() == [] and store.bars.series() == [] and store.instruments.list() == []


def test_demo_bars_never_mix_with_real_bars_of_a_symbol(store: Store) -> None:
    store.bars.write(result_of(minute_bars(JAN_31_2022, 100)), symbol="EURUSD", timeframe=Timeframe.M1, source="csv")
    with pytest.raises(InputError, match="EURUSD holds real bars"):
        store.bars.write(result_of(minute_bars(JAN_31_2022, 100)), symbol="EURUSD", timeframe=Timeframe.M1, source="demo")
    demo = store.bars.write(result_of(minute_bars(JAN_31_2022, 100)), symbol="DEMO_EURUSD", timeframe=Timeframe.M1, source="demo")
    assert demo.ingest_id == 2  # the refused write used no id
    assert store.bars.load("DEMO_EURUSD", Timeframe.M1).demo is True
    assert [(s.symbol, s.is_demo) for s in store.bars.series()] == [("DEMO_EURUSD", True), ("EURUSD", False)]


def test_series_lists_each_symbol_and_timeframe_with_counts_and_range(store: Store) -> None:
    m1 = minute_bars(JAN_31_2022, 3000)
    h1_cols = minute_bars(JAN_31_2022, 24, base=2000.0).columns()
    h1_cols["time"] = JAN_31_2022 + 3600 * np.arange(24, dtype=np.int64)
    h1 = Bars.from_columns("XAUUSD", Timeframe.H1, h1_cols)
    store.bars.write(result_of(m1), symbol="EURUSD", timeframe=Timeframe.M1, source="csv")
    store.bars.write(result_of(m1.slice(0, 100)), symbol="EURUSD", timeframe=Timeframe.M1, source="mt5")
    store.bars.write(result_of(h1), symbol="XAUUSD", timeframe=Timeframe.H1, source="mt5")

    listed = [(s.symbol, s.timeframe, s.bars, s.first_utc, s.last_utc) for s in store.bars.series()]
    assert listed == [
        ("EURUSD", Timeframe.M1, 3000, int(m1.time[0]), int(m1.time[-1])),
        ("XAUUSD", Timeframe.H1, 24, int(h1.time[0]), int(h1.time[-1])),
    ]
    eurusd, xauusd = store.instruments.get("EURUSD"), store.instruments.get("XAUUSD")
    assert (eurusd.digits, eurusd.point, eurusd.pip_size) == (5, 1e-5, pytest.approx(1e-4))
    assert xauusd.digits <= 5
    assert [i.source for i in store.ingests.list(symbol="EURUSD")] == ["csv", "mt5"]


def test_findings_are_kept_with_the_ingest(store: Store) -> None:
    findings = [Finding("duplicate_time", "same time twice", [12, 40]), Finding("flat", "o=h=l=c", [7], rejected=False)]
    summary = store.bars.write(
        result_of(minute_bars(JAN_31_2022, 10), findings=findings), symbol="EURUSD", timeframe=Timeframe.M1, source="csv"
    )
    assert summary.rejected == 2 and summary.rows_read == 12
    stored = store.ingests.get(summary.ingest_id)
    assert [(f["kind"], f["count"], f["rows"], f["rejected"]) for f in stored.findings] == [
        ("duplicate_time", 2, [12, 40], True),
        ("flat", 1, [7], False),
    ]
    assert summary.to_dict()["findings"][0]["count"] == 2


def test_a_worker_thread_loads_while_another_thread_writes(store: Store) -> None:
    base = minute_bars(JAN_31_2022, 20_000)
    store.bars.write(result_of(base), symbol="EURUSD", timeframe=Timeframe.M1, source="csv")
    errors: list[BaseException] = []
    lengths: list[int] = []

    def reader() -> None:
        try:
            for _ in range(20):
                lengths.append(len(store.bars.load("EURUSD", Timeframe.M1)))
        except BaseException as exc:  # surfaced below; a thread would swallow it
            errors.append(exc)

    def writer() -> None:
        try:
            for k in range(5):
                more = minute_bars(JAN_31_2022 + 60 * (20_000 + 100 * k), 100, seed=k)
                store.bars.write(result_of(more, f"{k}.csv"), symbol="EURUSD", timeframe=Timeframe.M1, source="mt5")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=reader), threading.Thread(target=writer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert set(lengths) <= {20_000 + 100 * k for k in range(6)}
    assert len(store.bars.load("EURUSD", Timeframe.M1)) == 20_500


@pytest.mark.realdata
def test_real_mt5_gold_file_round_trips_through_the_store(store: Store, xauusd_csv: Path) -> None:
    bars = xauusd_bars(xauusd_csv)
    summary = store.bars.write(result_of(bars, str(xauusd_csv)), symbol="XAUUSD", timeframe=Timeframe.M1, source="csv")

    assert summary.new == len(bars) == 4676
    assert_same_bars(store.bars.load("XAUUSD", Timeframe.M1), bars)
    assert store.instruments.get("XAUUSD").digits == 2


def test_an_instrument_can_be_corrected_after_its_grid_was_inferred(store: Store) -> None:
    price = np.round(2000 + 0.37 * np.arange(50), 2)  # quoted in cents: 2000.37, 2000.74, ...
    gold = Bars.from_columns(
        "XAUUSD", Timeframe.M1, {"time": JAN_31_2022 + 60 * np.arange(50), "open": price, "high": price, "low": price, "close": price}
    )
    store.bars.write(result_of(gold), symbol="XAUUSD", timeframe=Timeframe.M1, source="mt5")
    assert (store.instruments.get("XAUUSD").digits, store.instruments.get("XAUUSD").pip_size) == (2, 0.01)

    store.instruments.define("XAUUSD", digits=2, pip_size=0.1)
    store.bars.write(result_of(gold), symbol="XAUUSD", timeframe=Timeframe.M1, source="mt5")  # does not re-infer
    (gold_row,) = store.instruments.list()
    assert (gold_row.digits, gold_row.point, gold_row.pip_size, gold_row.is_demo) == (2, 0.01, 0.1, False)


def test_the_plain_sql_reader_sees_what_the_store_sees_without_writing_to_the_file(store: Store) -> None:
    """The window's start-up path (BarReader on sqlite3) and the ORM store read the same bars."""
    m1 = minute_bars(JAN_31_2022, 3000)
    store.bars.write(result_of(m1), symbol="EURUSD", timeframe=Timeframe.M1, source="csv")
    store.bars.write(result_of(minute_bars(JAN_31_2022, 10, symbol="DEMO1")), symbol="DEMO1", timeframe=Timeframe.M1,
                     source="demo")
    before = dump(store.path)

    reader = BarReader.at_schema(store.path, migrations.LATEST)
    assert reader is not None
    assert reader.series() == store.bars.series()
    assert [(s.symbol, s.is_demo) for s in reader.series()] == [("DEMO1", True), ("EURUSD", False)]
    assert_same_bars(reader.load("EURUSD", Timeframe.M1), m1)
    assert_same_bars(reader.load("EURUSD", Timeframe.M1, m1.time[1430], m1.time[1450]), m1.slice(1430, 1450))
    assert reader.load("DEMO1", Timeframe.M1).demo and not reader.load("EURUSD", Timeframe.M1).demo
    assert len(reader.load("EURUSD", Timeframe.M5)) == 0
    assert (reader.digits("EURUSD"), reader.digits("GBPUSD")) == (store.instruments.get("EURUSD").digits, None)
    assert dump(store.path) == before


def test_the_reader_is_only_offered_for_an_existing_file_at_the_current_schema(tmp_path: Path) -> None:
    """A missing or older file must go through Store.open, which creates or migrates it."""
    path = tmp_path / "store.sqlite3"
    assert BarReader.at_schema(path, migrations.LATEST) is None
    assert not path.exists()  # looking did not create the file
    Store.open(path).close()
    assert BarReader.at_schema(path, migrations.LATEST) is not None
    assert BarReader.at_schema(path, migrations.LATEST + 1) is None


def test_a_chunk_in_an_unknown_codec_is_refused_by_name(store: Store) -> None:
    store.bars.write(result_of(minute_bars(JAN_31_2022, 100)), symbol="EURUSD", timeframe=Timeframe.M1, source="csv")
    with sqlite3.connect(store.path) as conn:
        conn.execute("UPDATE bar_chunks SET codec = 'zstd'")
    with pytest.raises(ItaError, match="EURUSD M1 202201 uses unknown codec 'zstd'"):
        store.bars.load("EURUSD", Timeframe.M1)

