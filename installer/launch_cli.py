"""PyInstaller entry for the `ita` command line (a console executable beside the window).

``ita --prepare-kernels`` compiles the numba kernels into the user cache: the window starts it as a
separate process on a first start, and the installer runs it once after installing.
"""

import sys

from preload import load_native_libraries_before_qt

load_native_libraries_before_qt()  # the CLI can draw a screenshot too (Windows DLL order)

if sys.argv[1:2] == ["--prepare-kernels"]:
    from ita_desktop.cli.prepare_kernels import main as prepare

    sys.exit(prepare())

from ita_desktop.cli.main import main  # noqa: E402

sys.exit(main())
