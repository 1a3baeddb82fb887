"""PyInstaller entry for the `ita` command line (a console executable beside the window).

``ita --prepare-kernels`` compiles the numba kernels into the user cache: the window starts it as a
separate process on a first start, and the installer runs it once after installing. ``ita
--chart-snapshot ...`` is the chart picture child (``ita review``'s picture, the notifications' picture
process): a frozen app has no ``python -m`` (ita_desktop/child_process.py). ``ita --check-sounds`` loads the
tray's sounds and says whether they loaded (installer/sound_check.py, run by the smoke).
"""

import sys

from preload import load_native_libraries_before_qt

load_native_libraries_before_qt()  # the CLI can draw a screenshot too (Windows DLL order)

if sys.argv[1:2] == ["--prepare-kernels"]:
    from ita_desktop.cli.prepare_kernels import main as prepare

    sys.exit(prepare())

if sys.argv[1:2] == ["--check-sounds"]:  # the frozen smoke's check that the tray's sounds load
    from sound_check import main as check_sounds

    sys.exit(check_sounds())

if sys.argv[1:2] == ["--chart-snapshot"]:
    from ita_desktop.ui.chart_snapshot import main as chart_snapshot

    sys.exit(chart_snapshot(sys.argv[2:]))

from ita_desktop.cli.main import main  # noqa: E402

sys.exit(main())
