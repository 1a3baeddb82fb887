"""Kernel preparation: the cache key, the app's numba locator, the preparation process and the window's wait.

The preparation runs as a real child process. To keep the suite's time down it runs against a
copy of this code's kernels (compiled on first need into the test process's own NUMBA_CACHE_DIR),
without the ready markers: the child then goes through every unit, loads each kernel from the
copy, and reports exactly as on a trader's first start (only faster than a compile).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path


from ita_desktop.bus.events import KernelsProgressed, KernelsReady
from ita_desktop.core.kernel_service import GROUPS, ready_file
from ita_desktop.kernel_cache import KERNEL_PACKAGES, cache_key, cache_root, module_subpath, source_stamp
from tests.support.cores import new_core
from tests.support.kernel_caches import marked_ready, unmarked_copy

WAIT_S = 240


def test_cache_key_names_version_python_numba_and_code():
    import numba

    from ita_desktop import __version__

    key = cache_key()
    assert key.startswith(f"{__version__}-py3") and f"-numba{numba.__version__}-" in key
    assert key.endswith(source_stamp())
    assert os.environ["NUMBA_CACHE_LOCATOR_CLASSES"].startswith("ita_desktop.kernel_cache_locator.AppCacheLocator,")


def test_the_version_header_read_directly_is_the_librarys_answer_for_every_installed_distribution():
    """cache_key reads numba's Version header without the email parser: the same string as importlib.metadata's."""
    from importlib import metadata

    from ita_desktop.kernel_cache import distribution_version

    names = {d.metadata["Name"] for d in metadata.distributions()}
    assert "numba" in names and len(names) > 20
    assert {n: distribution_version(n) for n in names} == {n: metadata.version(n) for n in names}


def test_source_stamp_changes_with_any_kernel_package_file(tmp_path: Path):
    for package in KERNEL_PACKAGES:
        (tmp_path / package).mkdir(parents=True)
        (tmp_path / package / "k.py").write_text("X = 1\n")
    before = source_stamp(tmp_path)
    (tmp_path / "detectors" / "_core.py").write_text("HELPER = 2\n")  # a helper file a kernel inlines
    after_helper = source_stamp(tmp_path)
    (tmp_path / "domain" / "k.py").write_text("X = 3\n")
    assert len({before, after_helper, source_stamp(tmp_path)}) == 3
    (tmp_path / "unrelated.py").write_text("Y = 1\n")  # outside the kernel packages: same kernels
    assert source_stamp(tmp_path) == source_stamp(tmp_path)


def test_locator_keys_on_module_not_on_the_files_path(tmp_path: Path):
    """A frozen or moved install loads the same cache: the folder never names where the source lies."""
    from numba.core import config

    from ita_desktop.detectors.atr import atr_kernel
    from ita_desktop.kernel_cache_locator import AppCacheLocator

    assert config.CACHE_DIR, "ita_desktop sets NUMBA_CACHE_DIR before numba loads"
    here = AppCacheLocator.from_function(atr_kernel.py_func, atr_kernel.py_func.__code__.co_filename)
    moved = AppCacheLocator.from_function(atr_kernel.py_func, str(tmp_path / "elsewhere" / "atr.py"))
    assert here.get_cache_path() == moved.get_cache_path() == str(cache_root(config.CACHE_DIR) / "detectors.atr")
    assert module_subpath("ita_desktop.rules.engine.matcher") == "rules.engine.matcher"

    def not_ours(x):
        return x

    assert AppCacheLocator.from_function(not_ours, __file__) is None  # tests' own kernels: numba's locators


def test_preparation_process_reports_every_unit_and_each_group(tmp_path: Path, ita_home: Path, monkeypatch):
    numba_dir = unmarked_copy(tmp_path)
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(numba_dir))
    with new_core() as core:
        progressed: list[KernelsProgressed] = []
        ready: list[KernelsReady] = []
        core.bus.subscribe(KernelsProgressed, progressed.append)
        core.bus.subscribe(KernelsReady, ready.append)
        assert not core.kernels.ready("detectors")
        assert core.kernels.start() and not core.kernels.start()  # once
        assert core.kernels.wait("sweep", WAIT_S)
        core.kernels._thread.join(WAIT_S)
        core.bus.wait_idle(5.0)
    assert core.kernels.error == ""
    for label in GROUPS:  # each group's units counted once, in order, whichever process reported them
        mine = [e for e in progressed if e.group == label]
        assert [e.done for e in mine] == list(range(1, mine[-1].total + 1))
        assert len({e.unit for e in mine}) == len(mine)
    assert sorted(e.group for e in ready) == sorted(GROUPS) and all(not e.error for e in ready)
    assert [e.group for e in ready].index("backtest") < [e.group for e in ready].index("sweep")
    assert all(ready_file(numba_dir, g).is_file() for g in GROUPS)


def test_a_ready_cache_starts_no_process(ita_home: Path, tmp_path: Path, monkeypatch):
    numba_dir = marked_ready(tmp_path / "numba")
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(numba_dir))
    with new_core() as core:
        assert core.kernels.ready("detectors") and not core.kernels.start() and not core.kernels.running


def test_a_preparation_that_cannot_start_lets_the_kernels_compile_where_used(ita_home: Path, tmp_path: Path,
                                                                             monkeypatch):
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "numba"))
    monkeypatch.setattr("ita_desktop.core.kernel_service.preparation_command",
                        lambda: [str(tmp_path / "no-such-executable")])
    with new_core() as core:
        ready: list[KernelsReady] = []
        core.bus.subscribe(KernelsReady, ready.append)
        assert core.kernels.start()
        assert core.kernels.wait("detectors", 30) and core.kernels.wait("sweep", 30)
        core.kernels._thread.join(30)
        core.bus.wait_idle(5.0)
    assert "could not start" in core.kernels.error
    assert {e.group for e in ready} == set(GROUPS) and all("could not start" in e.error for e in ready)


def test_the_group_event_goes_out_when_the_window_found_the_marker_first(ita_home: Path, tmp_path: Path,
                                                                        monkeypatch):
    """The window asks ``ready("detectors")`` (and finds the group's marker on disk) after a process wrote it and
    before its GROUP line is read: KernelsReady must still go out, once (the window's full detection waits for
    it; the lost event hung a window test in CI). Stand-in processes write the marker, wait for the test's
    word, then print the line: both processes of a 2-core plan do, so the event is also shown to go out once."""
    numba_dir = tmp_path / "numba"
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(numba_dir))
    marker, go = ready_file(numba_dir, "detectors"), tmp_path / "go"
    script = ("import pathlib, sys, time\n"
              "marker = pathlib.Path(sys.argv[1]); marker.parent.mkdir(parents=True, exist_ok=True)\n"
              "marker.write_text('{}')\n"
              "while not pathlib.Path(sys.argv[2]).exists(): time.sleep(0.01)\n"
              "print('GROUP detectors', flush=True)\n")
    monkeypatch.setattr("ita_desktop.core.kernel_service.preparation_command",
                        lambda: [sys.executable, "-c", script, str(marker), str(go)])
    with new_core() as core:
        ready: list[KernelsReady] = []
        core.bus.subscribe(KernelsReady, ready.append)
        assert core.kernels.start()
        deadline = time.monotonic() + 30
        while not core.kernels.ready("detectors") and time.monotonic() < deadline:
            time.sleep(0.01)
        assert core.kernels.ready("detectors")  # found on disk, before any GROUP line was read
        go.write_text("")
        core.kernels._thread.join(30)
        core.bus.wait_idle(5.0)
    detectors = [e for e in ready if e.group == "detectors"]
    assert len(detectors) == 1 and detectors[0].error == ""
    assert {e.group for e in ready} == set(GROUPS)  # the others: not prepared by the stand-ins, said so


def test_stopping_the_preparation_is_not_an_error(ita_home: Path, tmp_path: Path, monkeypatch, caplog):
    """The window closing while kernels compile ends the process quietly: no 'exited with -15' warning."""
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "numba"))
    monkeypatch.setattr("ita_desktop.core.kernel_service.preparation_command",
                        lambda: [sys.executable, "-c", "import time; time.sleep(60)"])
    with new_core() as core:
        assert core.kernels.start()
        deadline = time.monotonic() + 30
        while not core.kernels._processes and time.monotonic() < deadline:
            time.sleep(0.01)
        core.kernels.stop()
        core.kernels._thread.join(30)
        assert not core.kernels.running
    assert core.kernels.error == ""
    assert not [r for r in caplog.records if "exited with" in r.getMessage()]


def test_window_draws_candles_first_and_overlays_when_their_kernels_are_ready(qtbot, eurusd_store: Path,
                                                                             tmp_path: Path, monkeypatch):
    from ita_desktop.ui.chart.overlays import series_key
    from ita_desktop.ui.main_window import MainWindow

    numba_dir = unmarked_copy(tmp_path)
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(numba_dir))
    labels: list[str] = []
    window = MainWindow(new_core(), symbol="EURUSD", timeframe="M5")
    qtbot.addWidget(window)
    window.numba_label.setText = lambda text, real=window.numba_label.setText: (labels.append(text), real(text))
    assert window.core.kernels.running
    with qtbot.waitSignal(window.ready, timeout=WAIT_S * 1000):
        window.show()
        qtbot.waitUntil(lambda: window.chart.bars is not None, timeout=WAIT_S * 1000)
        if not window.core.kernels.ready("detectors"):  # candles on screen, overlays still waiting
            assert window._detect_waiting is not None and window.overlays.key is None
    assert window.overlays.key == series_key(window.chart.bars)
    assert any(text.startswith("Preparing detectors: ") and " of " in text for text in labels)
    qtbot.waitUntil(lambda: not window.core.kernels.running, timeout=WAIT_S * 1000)
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=WAIT_S * 1000)
    window.close()
    assert all(ready_file(numba_dir, g).is_file() for g in GROUPS)


def test_preparation_command_line_names_bad_groups(capsys):
    from ita_desktop.cli.prepare_kernels import main

    assert main(["--prepare-kernels", "--groups", "detectors,charts"]) == 2
    assert "unknown group(s) charts; groups: detectors, backtest, sweep" in capsys.readouterr().err
    assert main(["--frobnicate"]) == 2
    assert main(["--prefer", "charts"]) == 2 and "unknown group(s) charts" in capsys.readouterr().err
    assert main(["--groups", "detectors", "--groups", "sweep"]) == 2


def _key_folder(base: Path, name: str, age_s: float, used_s: float | None = None) -> Path:
    """A key folder with a module folder and a kernel file, last written ``age_s`` ago (used ``used_s`` ago)."""
    from ita_desktop.kernel_cache import USED_FILE

    folder = base / name
    (folder / "detectors.atr").mkdir(parents=True)
    (folder / "detectors.atr" / "atr.atr_kernel-17.py311.nbi").write_bytes(b"x" * 100)
    then = time.time() - age_s
    for path in (folder / "detectors.atr" / "atr.atr_kernel-17.py311.nbi", folder / "detectors.atr", folder):
        os.utime(path, (then, then))
    if used_s is not None:
        (folder / USED_FILE).touch()
        os.utime(folder / USED_FILE, (time.time() - used_s,) * 2)
        os.utime(folder, (then, then))
    return folder


def test_prune_removes_only_stale_key_folders_and_keeps_the_current_key(tmp_path: Path):
    from ita_desktop.kernel_cache import PRUNE_GRACE_S, prune_stale

    base = tmp_path / "numba"
    day = 86_400.0
    current = _key_folder(base, cache_key(), age_s=3 * day)  # old, but it is this code's key
    stale = [_key_folder(base, "0.0.9-py311-numba0.61.0-0123456789abcdef", age_s=3 * day),
             _key_folder(base, "0.1.0-py312-numba0.68.1-fedcba9876543210", age_s=2 * day),
             _key_folder(base, "0.0.1-py311-numba0.68.1-v0.0.1", age_s=day)]
    recent = _key_folder(base, "0.1.0-py311-numba0.68.1-aaaaaaaaaaaaaaaa", age_s=PRUNE_GRACE_S / 10)
    in_use = _key_folder(base, "0.1.0-py311-numba0.68.1-bbbbbbbbbbbbbbbb", age_s=3 * day, used_s=60)
    # Not ours (numba's own per-path folders, a file, a folder of another name), or not a folder: untouched.
    numbas_own = base / "detectors_08387967b1d8a392ebc43966568960145a1e4136"
    numbas_own.mkdir()
    os.utime(numbas_own, (time.time() - 3 * day,) * 2)
    (base / "notes-0.1.0-py311-numba0.68.1-0123456789abcdef").mkdir()
    (base / "0.1.0-py311-numba0.68.1-cccccccccccccccc").write_text("a file named like a key")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("data")
    link = base / "0.1.0-py311-numba0.68.1-dddddddddddddddd"
    link.symlink_to(outside, target_is_directory=True)

    removed = prune_stale(base)

    assert sorted(removed) == sorted(stale)
    assert not any(folder.exists() for folder in stale)
    for kept in (current, recent, in_use, numbas_own, link, base / "0.1.0-py311-numba0.68.1-cccccccccccccccc",
                 base / "notes-0.1.0-py311-numba0.68.1-0123456789abcdef"):
        assert kept.exists() or kept.is_symlink(), kept
    assert (outside / "keep.txt").read_text() == "data"
    assert prune_stale(base) == [] and prune_stale(tmp_path / "missing") == []


def test_loading_a_kernel_marks_its_key_folder_used(tmp_path: Path, monkeypatch):
    """The locator touches USED_FILE once per process, so another running copy's key is never pruned."""
    import ita_desktop.kernel_cache_locator as locator
    from ita_desktop.detectors.atr import atr_kernel
    from ita_desktop.kernel_cache import USED_FILE, prune_stale

    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr("numba.core.config.CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(locator, "_marked", set())
    assert locator.AppCacheLocator.from_function(atr_kernel.py_func, atr_kernel.py_func.__code__.co_filename)
    assert (cache_root(tmp_path) / USED_FILE).is_file()
    assert prune_stale(tmp_path, keep="another-key") == []  # used just now: kept whatever the key
