"""PyInstaller entry for the window (a windowed executable: no console)."""

import sys

from preload import load_native_libraries_before_qt

load_native_libraries_before_qt()  # before anything imports PySide6 (Windows DLL order)

from ita_desktop.desktop_entry import main  # noqa: E402  (kernel preparation starts first)

sys.exit(main())
