"""Run-time hook of the `ita` executable, in place of PyInstaller's pyi_rth_pyside6 (installer/ita_desktop.spec).

pyi_rth_pyside6 imports PySide6.QtCore at every start to register a qt.conf, which PyPI's PySide6
registers by itself when QtCore loads; `ita --version` and the backtests never touch Qt, so here only
the plugin folder is named (and, on Windows, the folder of the bundled DLLs put on PATH, as that hook
does for QtNetwork's OpenSSL). Qt loads when a command draws.
"""

import os
import sys

_qt = os.path.join(sys._MEIPASS, "PySide6") if sys.platform == "win32" else os.path.join(sys._MEIPASS, "PySide6", "Qt")
os.environ["QT_PLUGIN_PATH"] = os.path.join(_qt, "plugins")
if sys.platform == "win32":
    os.environ["PATH"] = sys._MEIPASS + os.pathsep + os.environ.get("PATH", "")
del _qt
