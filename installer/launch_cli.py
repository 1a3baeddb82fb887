"""PyInstaller entry for the `ita` command line (a console executable beside the window)."""

import sys

from ita_desktop.cli.main import main

sys.exit(main())
