"""The helper processes' command lines: ``python -m`` from sources, the ``ita`` executable's flag when frozen
(a PyInstaller build has no ``-m``; installer/launch_cli.py dispatches the flags)."""

from __future__ import annotations

import sys
from pathlib import Path

from ita_desktop.child_process import CHILD_FLAGS, child_command


def test_from_sources_a_child_is_python_dash_m() -> None:
    assert child_command("ita_desktop.ui.chart_snapshot") == [sys.executable, "-m", "ita_desktop.ui.chart_snapshot"]


def test_frozen_a_child_is_the_ita_executable_with_its_flag(tmp_path: Path, monkeypatch) -> None:
    gui = tmp_path / "ita-desktop"
    cli = tmp_path / ("ita.exe" if sys.platform == "win32" else "ita")
    gui.write_bytes(b"")
    cli.write_bytes(b"")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(gui))
    assert child_command("ita_desktop.ui.chart_snapshot") == [str(cli.resolve()), "--chart-snapshot"]
    assert child_command("ita_desktop.cli.prepare_kernels") == [str(cli.resolve()), "--prepare-kernels"]


def test_the_frozen_launcher_dispatches_every_flag() -> None:
    launcher = (Path(__file__).parents[1] / "installer" / "launch_cli.py").read_text(encoding="utf-8")
    for module, flag in CHILD_FLAGS.items():
        assert f'sys.argv[1:2] == ["{flag}"]' in launcher and f"from {module} import main" in launcher
