"""Store and CLI faults from issue 20: a locked store, a data folder named with '?' and '%', and
`ita data list | head -3` (the reader closing the pipe)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ita_desktop.domain.errors import ItaError
from ita_desktop.workflows.bar_ingest import import_file
from ita_desktop.paths import app_paths
from ita_desktop.storage import db
from ita_desktop.storage.store import Store

CSV = "time,open,high,low,close\n" + "".join(f"2024-01-02 00:{m:02d}:00,1.1,1.2,1.0,1.1\n" for m in range(10))
REPO = Path(__file__).resolve().parents[1]


def test_a_data_folder_named_with_question_mark_and_percent_holds_the_store(tmp_path: Path, monkeypatch):
    home = tmp_path / "q?mode=ro%41%20x"
    monkeypatch.setenv("ITA_HOME", str(home))
    csv = tmp_path / "bars.csv"
    csv.write_text(CSV)
    with Store.open() as store:
        summary = import_file(store, csv, symbol="EURUSD", server_tz="UTC")
        assert summary.new == 10
    database = app_paths().database
    assert str(database).startswith(str(home)) and database.is_file() and database.stat().st_size > 0
    assert not (tmp_path / "q").exists()
    with Store.open() as again:
        assert len(again.bars.load("EURUSD", summary.timeframe)) == 10


def test_a_store_locked_by_another_process_names_it_and_stores_nothing(ita_home: Path, tmp_path: Path, monkeypatch):
    csv = tmp_path / "bars.csv"
    csv.write_text(CSV)
    with Store.open() as store:
        database = Path(store.engine.url.database)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sqlite3, sys, time\n"
         "c = sqlite3.connect(sys.argv[1], isolation_level=None)\nc.execute('BEGIN IMMEDIATE')\n"
         "print('locked', flush=True)\ntime.sleep(60)\n", str(database)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        monkeypatch.setattr(db, "BUSY_TIMEOUT_S", 0.3)
        with Store.open() as store:
            with pytest.raises(db.StoreLocked) as caught:
                import_file(store, csv, symbol="EURUSD", server_tz="UTC")
    finally:
        holder.kill()
        holder.wait()
    message = str(caught.value)
    assert isinstance(caught.value, ItaError)
    assert f"process {holder.pid}" in message and "nothing was stored" in message and str(database) in message
    with Store.open() as store:
        assert store.ingests.get(1) is None


def test_data_list_into_a_closed_pipe_ends_quietly(ita_home: Path):
    env = {**os.environ, "ITA_HOME": str(ita_home)}
    proc = subprocess.Popen([sys.executable, "-m", "ita_desktop.cli.main", "data", "list"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before the first line is written, as `| head` does at its end
    err = proc.stderr.read().decode()
    assert proc.wait() == 1
    assert "Traceback" not in err and "BrokenPipeError" not in err and "Exception ignored" not in err
