"""How the app starts its helper processes (kernel preparation, the chart picture), from sources or frozen.

From sources a child is ``python -m <module>``; a PyInstaller build has no ``-m``, so the console ``ita``
executable beside the window runs each child through a flag its launcher (``installer/launch_cli.py``)
dispatches before the command line is parsed.
"""

from __future__ import annotations

import sys
from pathlib import Path

CHILD_FLAGS = {
    "ita_desktop.cli.prepare_kernels": "--prepare-kernels",
    "ita_desktop.ui.chart_snapshot": "--chart-snapshot",
}


def child_command(module: str) -> list[str]:
    """The command that runs ``module``'s ``main`` in a new process (arguments to be appended)."""
    if getattr(sys, "frozen", False):
        folder = Path(sys.executable).resolve().parent
        cli = folder / ("ita.exe" if sys.platform == "win32" else "ita")
        return [str(cli if cli.exists() else sys.executable), CHILD_FLAGS[module]]
    return [sys.executable, "-m", module]
