"""``python -m ita_desktop`` starts the window (the ``ita`` command is the CLI)."""

import sys

from ita_desktop.desktop_entry import main

sys.exit(main())
