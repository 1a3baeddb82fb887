"""First start on a clean kernel cache: the preparation starts before the window, layers come as their kernels do.

The window's entry point starts the preparation process before its own imports (``prestart``) and
the window takes it over; while the detectors group compiles, each overlay layer is drawn as soon as
the kinds it is drawn from are compiled (``ui/early_layers.py``), in the order the preparation
compiles them (``DETECTOR_ORDER``: the default-visible layers' kinds first). A stand-in preparation
process (a real child process printing the real protocol, named as such) lets the test decide when
each unit is "compiled"; the kernels themselves come from a copy of this code's cache.
"""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import numpy as np

from ita_desktop.core.kernel_service import ready_file
from tests.support.cores import new_core
from tests.support.kernel_caches import marked_ready, unmarked_copy

WAIT_S = 240


def test_detector_order_compiles_each_kind_once_and_the_default_layers_kinds_first():
    from ita_desktop.cli.prepare_kernels import DETECTOR_ORDER
    from ita_desktop.detectors.dispatcher import ALL_KINDS
    from ita_desktop.ui.chart.overlays.detector_layers import LAYER_KINDS
    from ita_desktop.ui.chart.overlays.layers import LAYERS

    assert sorted(DETECTOR_ORDER) == sorted(ALL_KINDS)
    shown = {k for spec in LAYERS if spec.visible and spec.name in LAYER_KINDS for k in LAYER_KINDS[spec.name]}
    assert set(DETECTOR_ORDER[:len(shown)]) == shown  # nothing else compiles before the last of them


def test_layer_kinds_name_every_detector_layer_and_a_subset_draws_as_the_whole(eurusd_csv):
    from ita_desktop.data.csv_import import read_csv
    from ita_desktop.domain.resample import resample
    from ita_desktop.detectors.dispatcher import detect
    from ita_desktop.domain.timeframes import Timeframe
    from ita_desktop.ui.chart.overlays.detector_layers import LAYER_KINDS, detector_layers

    bars = resample(read_csv(eurusd_csv, symbol="EURUSD", server_tz="-03:30").bars, Timeframe.M5)
    whole = detector_layers(detect(bars).tables, len(bars))
    assert set(LAYER_KINDS) == set(whole) and all(whole[name].objects > 0 for name in ("fvg", "liquidity", "sweeps"))
    for name, kinds in LAYER_KINDS.items():  # detecting only a layer's kinds draws that layer exactly as all do
        part = detector_layers(detect(bars, kinds).tables, len(bars), only=(name,))
        assert list(part) == [name] and part[name].objects == whole[name].objects
        for a, b in zip(part[name].batches, whole[name].batches, strict=True):
            for field in ("x0", "x1", "y0", "y1"):
                if hasattr(a, field):
                    assert np.array_equal(getattr(a, field), getattr(b, field), equal_nan=True)


def _standin_preparation(tmp_path: Path, numba_dir: Path) -> list[str]:
    """A stand-in preparation process: reports the units in DETECTOR_ORDER, pausing after the third until
    ``go`` exists, then writes the detectors' marker and reports the group (the kernels are already cached)."""
    from ita_desktop.cli.prepare_kernels import DETECTOR_ORDER

    script = tmp_path / "standin_prepare.py"
    script.write_text(textwrap.dedent(f"""
        import json, pathlib, sys, time
        order, go = {list(DETECTOR_ORDER)!r}, pathlib.Path({str(tmp_path / "go")!r})
        for n, unit in enumerate(order, start=1):
            print(f"KERNELS detectors {{n}} {{len(order)}} {{unit}} 0.01s", flush=True)
            while n == 3 and not go.exists():
                time.sleep(0.02)
        marker = pathlib.Path({str(ready_file(numba_dir, "detectors"))!r})
        marker.write_text(json.dumps({{"key": "standin"}}))
        print("GROUP detectors", flush=True)
        time.sleep(60)
    """), encoding="utf-8")
    return [sys.executable, str(script)]


def test_window_draws_each_layer_as_its_kernels_are_ready_with_a_standin_preparation(qtbot, eurusd_store: Path,
                                                                                   tmp_path: Path, monkeypatch):
    from ita_desktop.ui.chart.overlays import series_key
    from ita_desktop.ui.main_window import MainWindow

    numba_dir = unmarked_copy(tmp_path)
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(numba_dir))
    command = _standin_preparation(tmp_path, numba_dir)
    monkeypatch.setattr("ita_desktop.core.kernel_service.preparation_command", lambda: command)
    window = MainWindow(new_core(), symbol="EURUSD", timeframe="M5")
    qtbot.addWidget(window)
    ready: list[bool] = []
    window.ready.connect(lambda: ready.append(True))
    window.show()
    # the first three units (FVGs; swings; structure) are "compiled": their layers come, the others wait
    drawn = window.overlays.shapes
    qtbot.waitUntil(lambda: drawn("fvg").objects > 0 and drawn("structure").objects > 0, timeout=WAIT_S * 1000)
    early = {name: window.overlays.shapes(name).objects for name in ("fvg", "structure")}
    assert window.overlays.shapes("order_blocks").objects == 0 and window.overlays.shapes("liquidity").objects == 0
    assert not ready and window.overlays.key is None and window._detect_waiting is not None
    (tmp_path / "go").write_text("")  # the rest "compiles"; then the group: the full detection, window ready
    qtbot.waitUntil(lambda: bool(ready), timeout=WAIT_S * 1000)
    assert window.overlays.key == series_key(window.chart.bars)
    assert {name: window.overlays.shapes(name).objects for name in early} == early  # same layers as in full
    assert window.overlays.shapes("order_blocks").objects > 0 and window.overlays.shapes("liquidity").objects > 0
    window.close()


def test_prestarted_preparation_is_taken_over_by_the_window_service(ita_home: Path, tmp_path: Path, monkeypatch):
    from ita_desktop.core import kernel_service

    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "numba"))
    monkeypatch.setattr(kernel_service, "preparation_command",
                        lambda: [sys.executable, "-c", "import time; "
                                 "print('KERNELS detectors 1 1 fvg 0.01s', flush=True); time.sleep(60)"])
    monkeypatch.setattr(kernel_service, "_PRESTARTED", [])
    assert kernel_service.prestart() and not kernel_service.prestart()  # once
    early = [p for _dir, _parts, processes in kernel_service._PRESTARTED for p in processes]
    planned = len(kernel_service.plan(kernel_service.GROUPS, os.cpu_count() or 1))
    assert len(early) == 1  # the first of the plan: the others once the window's imports are done
    with new_core() as core:
        assert core.kernels.start()
        assert not kernel_service._PRESTARTED
        import time

        deadline = time.monotonic() + 30
        while ("fvg" not in core.kernels.units_done or len(core.kernels._processes) < planned) \
                and time.monotonic() < deadline:
            time.sleep(0.02)
        assert core.kernels.units_done == {"fvg"} and early[0] in core.kernels._processes  # read, not spawned again
        assert len(core.kernels._processes) == planned and len(set(core.kernels._processes)) == planned
        assert core.kernels.kinds_ready(("fvg",)) and not core.kernels.kinds_ready(("fvg", "sweeps"))
        core.kernels.stop()
        core.kernels._thread.join(30)
    assert early[0].poll() is not None and core.kernels.error == ""


def test_a_prestarted_preparation_nobody_takes_over_ends_at_exit(ita_home: Path, tmp_path: Path, monkeypatch):
    from ita_desktop.core import kernel_service

    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "numba"))
    monkeypatch.setattr(kernel_service, "preparation_command",
                        lambda: [sys.executable, "-c", "import time; time.sleep(60)"])
    monkeypatch.setattr(kernel_service, "_PRESTARTED", [])
    assert kernel_service.prestart()
    process = kernel_service._PRESTARTED[0][2][0]
    kernel_service._end_prestarted()  # what atexit runs (--version, no display, broken settings)
    assert process.wait(30) is not None and not kernel_service._PRESTARTED


def test_a_ready_cache_prestarts_nothing(tmp_path: Path, monkeypatch):
    from ita_desktop.core import kernel_service

    numba_dir = marked_ready(tmp_path / "numba")
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(numba_dir))
    monkeypatch.setattr(kernel_service, "_PRESTARTED", [])
    assert not kernel_service.prestart() and not kernel_service._PRESTARTED
