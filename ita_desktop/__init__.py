"""ITA Desktop: ICT-style setup detection, backtesting and live signals for MT5 traders."""

__version__ = "0.1.0"

import os as _os

if "NUMBA_CACHE_DIR" not in _os.environ:
    # A packaged app cannot write __pycache__ beside its code: keep compiled kernels in the user cache.
    from ita_desktop.paths import app_paths as _app_paths

    _os.environ["NUMBA_CACHE_DIR"] = str(_app_paths().numba_cache)
