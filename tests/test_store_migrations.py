"""Schema versions: a new file gets the latest schema, an old file is upgraded in place and keeps its data."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy
from sqlalchemy import inspect
from sqlmodel import SQLModel

from ita_desktop.domain.errors import ItaError
from ita_desktop.domain.timeframes import Timeframe
from ita_desktop.paths import app_paths
from ita_desktop.storage import migrations
from ita_desktop.storage.store import Store
from ita_desktop.storage.db import write_session
from ita_desktop.storage.models import Ingest

# The v1 schema as a file of that version had it, written out here on purpose: the test must
# not build the old file with the code under test.
V1_SCHEMA = """
CREATE TABLE instruments (symbol VARCHAR NOT NULL PRIMARY KEY, digits INTEGER NOT NULL, point FLOAT NOT NULL,
    pip_size FLOAT NOT NULL, is_demo BOOLEAN NOT NULL);
CREATE TABLE ingests (ingest_id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, source VARCHAR NOT NULL,
    path VARCHAR NOT NULL, file_hash VARCHAR NOT NULL, symbol VARCHAR NOT NULL REFERENCES instruments (symbol),
    timeframe VARCHAR NOT NULL, server_tz VARCHAR NOT NULL, rows_read INTEGER NOT NULL, rows_stored INTEGER NOT NULL,
    rows_rejected INTEGER NOT NULL, bars_new INTEGER NOT NULL, bars_replaced INTEGER NOT NULL,
    bars_unchanged INTEGER NOT NULL, first_utc INTEGER, last_utc INTEGER, findings_json VARCHAR NOT NULL,
    created_at INTEGER NOT NULL);
CREATE TABLE bar_chunks (id INTEGER NOT NULL PRIMARY KEY, symbol VARCHAR NOT NULL REFERENCES instruments (symbol),
    timeframe VARCHAR NOT NULL, month INTEGER NOT NULL, n_bars INTEGER NOT NULL, first_utc INTEGER NOT NULL,
    last_utc INTEGER NOT NULL, codec VARCHAR NOT NULL, time BLOB NOT NULL, open BLOB NOT NULL, high BLOB NOT NULL,
    low BLOB NOT NULL, close BLOB NOT NULL, tick_volume BLOB NOT NULL, spread BLOB NOT NULL, ingest_id BLOB NOT NULL,
    UNIQUE (symbol, timeframe, month));
PRAGMA user_version = 1;
"""
T0 = 1_641_168_000  # 2022-01-03 00:00 UTC


def make_v1_file(path: Path) -> dict[str, np.ndarray]:
    """A version-1 store with one instrument, one ingest and one chunk of 5 bars, written with plain sqlite3."""
    bars = {
        "time": (T0 + 60 * np.arange(5)).astype("<i8"),
        "open": np.array([1.13, 1.1301, 1.1302, 1.1299, 1.13], "<f8"),
        "high": np.array([1.1302, 1.1303, 1.1304, 1.1301, 1.1302], "<f8"),
        "low": np.array([1.1299, 1.13, 1.1298, 1.1297, 1.1299], "<f8"),
        "close": np.array([1.1301, 1.1302, 1.1299, 1.13, 1.1301], "<f8"),
        "tick_volume": np.array([10, 12, 9, 30, 4], "<i8"),
        "spread": np.array([2, 2, 3, 2, 2], "<i4"),
        "ingest_id": np.full(5, 1, "<i4"),
    }
    conn = sqlite3.connect(path)
    conn.executescript(V1_SCHEMA)
    conn.execute("INSERT INTO instruments VALUES ('EURUSD', 5, 0.00001, 0.0001, 0)")
    conn.execute(
        "INSERT INTO ingests (source, path, file_hash, symbol, timeframe, server_tz, rows_read, rows_stored, rows_rejected,"
        " bars_new, bars_replaced, bars_unchanged, first_utc, last_utc, findings_json, created_at)"
        " VALUES ('mt5', 'C:/old.csv', 'h1', 'EURUSD', 'M1', 'NY+7', 6, 5, 1, 5, 0, 0, ?, ?, '[]', 1700000000)",
        (T0, T0 + 240),
    )
    conn.execute(
        "INSERT INTO bar_chunks (symbol, timeframe, month, n_bars, first_utc, last_utc, codec, time, open, high, low,"
        " close, tick_volume, spread, ingest_id) VALUES ('EURUSD', 'M1', 202201, 5, ?, ?, 'raw-le', ?, ?, ?, ?, ?, ?, ?, ?)",
        (T0, T0 + 240, *(bars[c].tobytes() for c in ("time", "open", "high", "low", "close", "tick_volume", "spread", "ingest_id"))),
    )
    conn.commit()
    conn.close()
    return bars


def pragma(path: Path, name: str):
    with sqlite3.connect(path) as conn:
        return conn.execute(f"PRAGMA {name}").fetchone()[0]


def test_a_new_store_is_created_in_the_data_folder_at_the_latest_version_in_wal_mode(ita_home: Path) -> None:
    with Store.open() as store:
        assert store.path == app_paths().database
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
    assert app_paths().database.parent == ita_home
    assert pragma(app_paths().database, "user_version") == migrations.LATEST == len(migrations.MIGRATIONS) == 12
    assert pragma(app_paths().database, "journal_mode") == "wal"


def test_migrated_schema_matches_the_models(tmp_path: Path) -> None:
    """Every SQLModel table exists with the same columns, nullability and keys: models and migrations agree."""
    with Store.open(tmp_path / "s.sqlite3") as store:
        db = inspect(store.engine)
        for table in SQLModel.metadata.sorted_tables:
            assert db.has_table(table.name), f"no migration creates {table.name}"
            found = {c["name"]: c for c in db.get_columns(table.name)}
            assert set(found) == {c.name for c in table.columns}, table.name
            for column in table.columns:
                assert found[column.name]["nullable"] == (column.nullable and not column.primary_key), column.name
            assert set(db.get_pk_constraint(table.name)["constrained_columns"]) == {c.name for c in table.primary_key}
            fks = {(fk["constrained_columns"][0], fk["referred_table"]) for fk in db.get_foreign_keys(table.name)}
            assert fks == {(fk.parent.name, fk.column.table.name) for fk in table.foreign_keys}, table.name
            indexed = {tuple(ix["column_names"]) for ix in db.get_indexes(table.name)}
            assert {tuple(c.name for c in ix.columns) for ix in table.indexes} <= indexed, table.name


def test_a_v1_file_made_by_hand_is_upgraded_on_open_and_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    bars = make_v1_file(path)
    assert pragma(path, "user_version") == 1

    with Store.open(path) as store:
        loaded = store.bars.load("EURUSD", Timeframe.M1)
        for c, values in bars.items():
            np.testing.assert_array_equal(getattr(loaded, c), values, err_msg=c)
        (ingest,) = store.ingests.list()
        assert (ingest.ingest_id, ingest.path, ingest.server_tz, ingest.rows_rejected) == (1, "C:/old.csv", "NY+7", 1)
        assert ingest.source_format == "mt5"  # v2 backfills the format from the source
        assert store.instruments.get("EURUSD").pip_size == pytest.approx(0.0001)
        # the upgraded file takes new ingests after the old one
        more = store.bars.write(
            _result_after(loaded), symbol="EURUSD", timeframe=Timeframe.M1, source="csv"
        )
        assert more.ingest_id == 2 and more.new == 3
    assert pragma(path, "user_version") == migrations.LATEST
    with sqlite3.connect(path) as conn:
        assert ("ix_ingests_symbol",) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'").fetchall()


def test_v6_moves_a_runs_rule_version_and_warm_up_out_of_its_statistics(tmp_path: Path, monkeypatch) -> None:
    """A v5 file kept them inside stats_json; v6 makes them columns and leaves the statistics alone."""
    path = tmp_path / "v5.sqlite3"
    make_v1_file(path)
    with monkeypatch.context() as patch:  # bring the file to v5 exactly as a v5 app left it
        patch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:5])
        patch.setattr(migrations, "LATEST", 5)
        Store.open(path).close()
    assert pragma(path, "user_version") == 5
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO rule_versions (id, rule_id, version, content_hash, text, created_at) "
                     "VALUES (7, 'asia_sweep', '1', 'h', 'rule', 0)")
        insert = ("INSERT INTO runs (rule_id, rule_version, label, symbols, timeframe, ingest_ids_json, settings_json, "
                  "stats_json, inputs_hash, n_trades, created_at) VALUES ('asia_sweep', '1', '', 'EURUSD', 'M5', '[]', "
                  "'{}', ?, 'x', 0, 0)")
        conn.execute(insert, ('{"summary": {"trades": 3}, "rule_version_id": 7, '
                              '"warmup": {"bars": 120, "from_utc": 1643000000}}',))
        conn.execute(insert, ('{"summary": {"trades": 1}}',))

    with Store.open(path) as store:
        ranged, plain = store.runs.list("asia_sweep")
    assert (ranged.rule_version_id, ranged.warmup_bars, ranged.warmup_from_utc) == (7, 120, 1643000000)
    assert (plain.rule_version_id, plain.warmup_bars, plain.warmup_from_utc) == (None, 0, None)
    assert json.loads(ranged.stats_json) == {"summary": {"trades": 3}}
    assert json.loads(plain.stats_json) == {"summary": {"trades": 1}}


def _result_after(bars):
    from ita_desktop.domain.bars import Bars
    from ita_desktop.domain.ingest import ImportResult

    t = bars.last_time + 60 * np.arange(1, 4)
    price = np.full(3, 1.1305)
    new = Bars.from_columns("EURUSD", Timeframe.M1, {"time": t, "open": price, "high": price, "low": price, "close": price})
    return ImportResult("new.csv", "h2", "mt5-csv", "UTC", new, rows_read=3)


def test_a_file_from_a_newer_app_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "future.sqlite3"
    make_v1_file(path)
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")
    before = path.read_bytes()
    with pytest.raises(ItaError, match="schema version 99, newer than this app knows"):
        Store.open(path)
    assert pragma(path, "user_version") == 99
    assert path.read_bytes() == before


def test_a_failing_migration_step_rolls_back_to_the_previous_version(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "s.sqlite3"
    Store.open(path).close()

    latest = migrations.LATEST

    def broken_next(conn) -> None:
        conn.exec_driver_sql("CREATE TABLE broken_step (id INTEGER PRIMARY KEY)")
        conn.exec_driver_sql("ALTER TABLE ingests ADD COLUMN run_id INTEGER")
        conn.exec_driver_sql("INSERT INTO broken_step (nonexistent) VALUES (1)")

    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, broken_next])
    monkeypatch.setattr(migrations, "LATEST", latest + 1)
    with pytest.raises(sqlalchemy.exc.OperationalError):
        Store.open(path)
    assert pragma(path, "user_version") == latest
    with sqlite3.connect(path) as conn:
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        columns = {row[1] for row in conn.execute("PRAGMA table_info(ingests)")}
    assert "broken_step" not in tables and "run_id" not in columns


def test_foreign_keys_are_enforced(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s.sqlite3") as store:
        with pytest.raises(sqlalchemy.exc.IntegrityError, match="FOREIGN KEY"):
            with write_session(store.engine) as session:
                session.add(Ingest(source="csv", symbol="NOPE", timeframe="M1", created_at=0))
        assert store.ingests.list() == []
