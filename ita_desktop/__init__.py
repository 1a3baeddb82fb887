"""ITA Desktop: ICT-style setup detection, backtesting and live signals for MT5 traders."""

__version__ = "0.1.0"

import os as _os

if "NUMBA_CACHE_DIR" not in _os.environ:
    # A packaged app cannot write __pycache__ beside its code: keep compiled kernels in the user cache.
    from ita_desktop.paths import app_paths as _app_paths

    _os.environ["NUMBA_CACHE_DIR"] = str(_app_paths().numba_cache)
if "NUMBA_CACHE_LOCATOR_CLASSES" not in _os.environ:
    # Kernels cached under a key of code + versions, not of absolute paths (ita_desktop/kernel_cache.py).
    from ita_desktop.kernel_cache import LOCATORS as _LOCATORS

    _os.environ["NUMBA_CACHE_LOCATOR_CLASSES"] = _LOCATORS

# Before numba is imported: its jitclass overloads register at the first compile, not on import (numba_start).
from ita_desktop.numba_start import defer_jitclass_overloads as _defer_jitclass_overloads

_defer_jitclass_overloads()
