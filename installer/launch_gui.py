"""PyInstaller entry for the window (a windowed executable: no console)."""

import sys

from ita_desktop.app import main

sys.exit(main())
