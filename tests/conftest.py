"""Shared fixtures: a throwaway ITA_HOME per test, the real data files, a test keyring, offscreen Qt."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import keyring
import pytest

from tests.support.file_keyring import JsonFileKeyring

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"


@pytest.fixture
def ita_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh data folder for the test: store, config, logs and keyring all live under it."""
    home = tmp_path / "ita_home"
    home.mkdir()
    monkeypatch.setenv("ITA_HOME", str(home))
    previous = keyring.get_keyring()
    keyring.set_keyring(JsonFileKeyring(home / "test-keyring.json"))
    yield home
    keyring.set_keyring(previous)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data beside the project; tests that need the real files skip without it."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real market data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def eurusd_csv(shared_data: Path) -> Path:
    return shared_data / "EURUSD_M1.csv"


@pytest.fixture(scope="session")
def xauusd_csv(shared_data: Path) -> Path:
    return shared_data / "XAUUSD_M1.csv"


@pytest.fixture
def eurusd_store(ita_home: Path, eurusd_csv: Path) -> Path:
    """The test's store holding the real EURUSD M1, imported with the file's true server clock (-03:30)."""
    from ita_desktop.data.csv_import import read_csv
    from tests.support.real_bars import store_bars

    store_bars(read_csv(eurusd_csv, symbol="EURUSD", server_tz="-03:30").bars)
    return ita_home


_KERNELS_CHECKED = False


@pytest.fixture(autouse=True)
def _kernels_prepared_for_windows(request: pytest.FixtureRequest) -> None:
    """Before the first Qt test: this code's numba kernels prepared once, in this process's cache.

    A window on an unprepared cache starts the preparation process and ends it when it closes; with
    dozens of short window tests (in random order) each would start one again. Preparing once here
    (a file check when the cache is ready) keeps that to the tests that are about it
    (test_kernel_preparation.py points NUMBA_CACHE_DIR at a copy without markers)."""
    global _KERNELS_CHECKED
    if _KERNELS_CHECKED or "qtbot" not in request.fixturenames:
        return
    _KERNELS_CHECKED = True
    from ita_desktop.core.kernel_service import GROUPS, ready_file

    numba_dir = os.environ["NUMBA_CACHE_DIR"]
    if not all(ready_file(numba_dir, group).is_file() for group in GROUPS):
        from ita_desktop.cli.prepare_kernels import prepare

        prepare(numba_dir, emit=lambda _line: None)
