"""Spare numba's target start-up two imports no kernel of this app uses: scipy's BLAS and cffi.

When numba first loads or compiles a kernel it initialises its CPU target, and two of the
modules it imports then probe optional packages at import time:

* ``numba.np.arraymath`` asks once whether scipy's BLAS is there (``_HAVE_BLAS``), which
  imports all of ``scipy.linalg`` and numpy.f2py: 0.1-0.3 s of every ``ita backtest``
  (scipy is installed for scikit-learn). The answer only picks BLAS over a plain loop for
  inner products of floats; no kernel here uses BLAS. ``skip_blas_probe`` answers that one
  probe "no BLAS" and puts numba's function back at once, so a later ``np.dot`` or
  ``np.linalg`` call in a jitted function still finds scipy's BLAS as usual.
* ``numba.core.typing.cffi_utils`` builds a ``cffi.FFI()`` (cffi and pycparser: 30-40 ms)
  so that jitted code may call cffi functions; no kernel here does. ``skip_cffi`` imports
  that module while cffi is hidden, so numba's cffi support is off in this process; cffi
  itself stays importable for everyone else.

``prepare`` does both; ``kernel_cache_locator`` calls it, which numba imports when the first
cached kernel is declared, before its target starts. ``ITA_NUMBA_FULL_START=1`` leaves numba
alone (a kernel that ever needs BLAS or cffi would be the reason to set it or drop this).
"""

from __future__ import annotations

import os
import sys

ENV_FULL = "ITA_NUMBA_FULL_START"


def prepare() -> None:
    """Both skips, unless ``ITA_NUMBA_FULL_START=1``."""
    if os.environ.get(ENV_FULL) == "1":
        return
    skip_blas_probe()
    skip_cffi()


def skip_blas_probe() -> bool:
    """Answer numba's one start-up BLAS probe with "absent"; True if set up (the probe has not run yet)."""
    if "numba.np.arraymath" in sys.modules:
        return False
    from numba.np import linalg

    probe = linalg.ensure_blas
    if getattr(probe, "_ita_skip", False):
        return True

    def skipped_once() -> None:
        linalg.ensure_blas = probe  # only arraymath's import-time probe sees the answer below
        raise ImportError("BLAS probe skipped at numba start-up (ita_desktop.numba_start)")

    skipped_once._ita_skip = True  # type: ignore[attr-defined]
    linalg.ensure_blas = skipped_once
    return True


def skip_cffi() -> bool:
    """Import numba's cffi support with cffi hidden (support off); True if done now, False if already imported."""
    if "numba.core.typing.cffi_utils" in sys.modules:
        return False
    missing = object()
    held = sys.modules.get("cffi", missing)
    sys.modules["cffi"] = None  # type: ignore[assignment]  # "import cffi" raises ImportError
    try:
        import numba.core.typing.cffi_utils  # noqa: F401
    finally:
        if held is missing:
            del sys.modules["cffi"]
        else:
            sys.modules["cffi"] = held  # type: ignore[assignment]
    return True
