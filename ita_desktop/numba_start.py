"""Spare a process that only runs cached kernels numba's compiler start-up (issue 19: warm ``ita backtest``).

Loading the first cached kernel made numba "refresh" its CPU target: import about 90 modules of
lowering and typing registries (every ufunc, every builtin) and install them, 0.25-0.3 s of
CPU, although a cached kernel is machine code that needs none of them: only numba's runtime
(NRT) and the C helpers' symbols, which the target installs when it is made.
``light_cached_loads`` lets a cached load initialise just the runtime (and import
``numba.cpython.hashing``, the one registry module that adds symbols on import: the hash
secret); compiling anything still refreshes the whole target first (numba's compiler does it
itself), so a process that loads and then compiles works as before. Parallel kernels bring
their thread pool up themselves when loaded (numba's ``reload_init``).

When numba does start its whole target (compiling), two of the modules it imports probe
optional packages at import time:

* ``numba.np.arraymath`` asks once whether scipy's BLAS is there (``_HAVE_BLAS``), which
  imports all of ``scipy.linalg`` and numpy.f2py: 0.1-0.3 s of every ``ita backtest``
  (scipy is installed for scikit-learn). The answer only picks BLAS over a plain loop for
  inner products of floats; no kernel here uses BLAS. ``skip_blas_probe`` answers that one
  probe "no BLAS" and puts numba's function back at once, so a later ``np.dot`` or
  ``np.linalg`` call in a jitted function still finds scipy's BLAS as usual.
* ``numba.core.typing.cffi_utils`` builds a ``cffi.FFI()`` (cffi and pycparser: 30-40 ms)
  so that jitted code may call cffi functions; no kernel here does. ``skip_cffi`` imports
  that module while cffi is hidden from the importing thread only, so numba's cffi support
  is off in this process; cffi itself stays importable, also for other threads meanwhile.

``prepare`` sets all three up (the skips run when the target starts); ``kernel_cache_locator`` calls it, which numba imports when the first
cached kernel is declared, before its target starts. ``ITA_NUMBA_FULL_START=1`` leaves numba
alone (a kernel that ever needs BLAS or cffi would be the reason to set it or drop this).
Each patch checks the numba code it replaces and stands aside if that code is not as expected.
"""

from __future__ import annotations

import os
import sys
import threading

ENV_FULL = "ITA_NUMBA_FULL_START"


def prepare() -> None:
    """Light cached loads, and the two skips set up for when the target does start; unless ``ITA_NUMBA_FULL_START=1``."""
    if os.environ.get(ENV_FULL) == "1":
        return
    light_cached_loads()
    skips_before_target_start()


def skips_before_target_start() -> bool:
    """Run ``skip_blas_probe`` and ``skip_cffi`` just before numba's typing or CPU context imports its registries
    (not earlier: importing numba's linalg alone costs 50-70 ms that a process running only cached kernels never
    pays). numba's compiler refreshes the typing context first, whose registries import the cffi support."""
    from numba.core import cpu
    from numba.core.typing import context as typing_context

    for context in (typing_context.Context, cpu.CPUContext):
        current = context.load_additional_registries
        if getattr(current, "_ita_skips", False):
            continue
        context.load_additional_registries = _with_skips(current)
    return True


def _with_skips(load):  # type: ignore[no-untyped-def]
    def load_additional_registries(self):  # type: ignore[no-untyped-def]
        skip_blas_probe()
        skip_cffi()
        return load(self)

    load_additional_registries._ita_skips = True  # type: ignore[attr-defined]
    return load_additional_registries


def light_cached_loads() -> bool:
    """Cached loads initialise only numba's runtime, not the compiler's registries; True if patched."""
    from numba.core import caching

    cache = caching.Cache
    current = cache.load_overload
    if getattr(current, "_ita_light", False):
        return True
    names = current.__code__.co_names
    if not {"refresh", "_guard_against_spurious_io_errors", "_load_overload"} <= set(names) or len(names) != 3:
        return False  # numba's method is not the one this replaces: leave it

    def load_overload(self, sig, target_context):  # type: ignore[no-untyped-def]
        """numba's ``Cache.load_overload`` with the target's full refresh replaced by the runtime's start."""
        if not getattr(target_context, "_ita_runtime_ready", False):
            from numba.core.runtime import rtsys
            import numba.cpython.hashing  # noqa: F401  (adds the hash secret's symbols on import)

            rtsys.initialize(target_context)
            skip_blas_probe()  # unpickling a kernel's environment can import numba.np.arraymath (its probe)
            target_context._ita_runtime_ready = True
        with self._guard_against_spurious_io_errors():
            return self._load_overload(sig, target_context)

    load_overload._ita_light = True  # type: ignore[attr-defined]
    cache.load_overload = load_overload
    return True


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


class _HiddenFromThisThread:
    """An import finder that makes ``import cffi`` fail in one thread only (others import it as usual)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.thread = threading.get_ident()

    def find_spec(self, name, path=None, target=None):  # type: ignore[no-untyped-def]
        if name == self.name and threading.get_ident() == self.thread:
            raise ModuleNotFoundError(f"No module named {name!r} (hidden from numba's start-up)", name=name)
        return None


def skip_cffi() -> bool:
    """Import numba's cffi support with cffi hidden from this thread (support off); True if done now.

    Left alone when cffi is imported already (then it costs numba nothing more than a small FFI object)."""
    if "numba.core.typing.cffi_utils" in sys.modules or "cffi" in sys.modules:
        return False
    finder = _HiddenFromThisThread("cffi")
    sys.meta_path.insert(0, finder)
    try:
        import numba.core.typing.cffi_utils  # noqa: F401
    finally:
        sys.meta_path.remove(finder)
    return True
