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

Two more pieces of numba's start-up only serve a compile, and wait for it (issue 19: warm
``ita backtest`` <= 0.5 s):

* ``import numba`` runs ``numba.experimental.jitclass.overloads``, which registers ~40
  ``@overload``s for jitclass instances (``len``, ``hash``, operators) by generating and
  ``exec``-ing their source: 20-30 ms. No kernel here is a jitclass, and registrations are only
  read when a context refreshes, which every compile does first. ``defer_jitclass_overloads``
  (called by ``ita_desktop/__init__`` before numba is imported) lets that import make an empty
  placeholder and runs the real module just before the typing or CPU context loads its registries.
* The first call of every dispatcher scans the entry points of every installed distribution
  for numba extensions (``numba.core.entrypoints.init_all``, ~30 ms of CPU and more of disk on
  165 packages), although a cached kernel's argument types are numba's own (arrays, numbers).
  ``defer_extension_scan`` leaves that scan to the CPU context's refresh, which runs it before
  any compile (numba's ``CPUContext.load_additional_registries`` calls it).

numba's type of an array argument (``typeof`` of an ndarray, at each kernel's first call) first
asks whether it is a ``numpy.ma.MaskedArray``, which imports ``numpy.ma`` (numpy loads it on
first use: 8-15 ms). No masked array can exist before ``numpy.ma`` is imported, so
``array_typeof_without_numpy_ma`` asks only when it is.

Starting numba's runtime (NRT) compiles its few LLVM functions (atomic reference counts, the
abort for an unresolved symbol) in every process: 15-25 ms of LLVM. ``cached_runtime_library``
keeps their machine code beside the kernels, as numba keeps a kernel's (object code and the
module to link against), under a name of numba's, llvmlite's and the CPU's description
(``codegen.magic_tuple``); any other process compiles them as numba does and writes the file.

And the BLAS probe is set up only when ``numba.np.arraymath`` is about to be imported (a cached
kernel whose code uses one of its implementations, ``np.iinfo`` say, imports it), so a process
that never imports it does not import numba's linalg (15 ms) for nothing.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import os
import sys
import threading
import types

ENV_FULL = "ITA_NUMBA_FULL_START"
JITCLASS_OVERLOADS = "numba.experimental.jitclass.overloads"
ARRAYMATH = "numba.np.arraymath"


def prepare() -> None:
    """Light cached loads, and the two skips set up for when the target does start; unless ``ITA_NUMBA_FULL_START=1``."""
    if os.environ.get(ENV_FULL) == "1":
        return
    light_cached_loads()
    skips_before_target_start()
    defer_extension_scan()
    array_typeof_without_numpy_ma()
    cached_runtime_library()
    from ita_desktop.numba_link_symbols import defer_linking_modules  # a cached kernel's linking module: parsed on use

    defer_linking_modules()


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
        run_deferred_jitclass_overloads()
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
            skip_blas_probe_on_import()  # unpickling a kernel's environment can import numba.np.arraymath (its probe)
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


NRT_FILE_PREFIX = "nrt-"


def cached_runtime_library() -> bool:
    """numba's runtime functions loaded from their machine code kept in the kernel cache (compiled and kept when
    missing); True if patched."""
    from numba.core.runtime import nrtdynmod

    current = nrtdynmod.compile_nrt_functions
    if getattr(current, "_ita_cached", False):
        return True
    if current.__code__.co_names != ("create_nrt_module", "add_ir_module", "finalize"):
        return False  # numba's function is not the one this replaces: leave it

    def compile_nrt_functions(ctx):  # type: ignore[no-untyped-def]
        """numba's ``compile_nrt_functions``, its result kept as object code and loaded from there next time."""
        path = _runtime_library_file(ctx)
        codegen = ctx.codegen()
        if path is not None and path.is_file():
            try:
                return codegen.unserialize_library(_read_library(path))
            except Exception:  # a damaged or foreign file: compile as numba does (and replace it)
                pass
        ir_mod, library = nrtdynmod.create_nrt_module(ctx)
        if path is not None:
            library.enable_object_caching()  # so the machine code can be kept (numba does the same for a kernel)
        library.add_ir_module(ir_mod)
        library.finalize()
        if path is not None:
            _write_library(path, library.serialize_using_object_code())
        return library

    compile_nrt_functions._ita_cached = True  # type: ignore[attr-defined]
    nrtdynmod.compile_nrt_functions = compile_nrt_functions
    return True


def _runtime_library_file(ctx):  # type: ignore[no-untyped-def]
    """The file for this numba, llvmlite and CPU in this code's kernel cache folder; None without a cache folder."""
    import hashlib

    import llvmlite
    import numba
    from numba.core import config

    from ita_desktop.kernel_cache import cache_root

    base = config.CACHE_DIR or os.environ.get("NUMBA_CACHE_DIR")
    if not base:
        return None
    what = repr((numba.__version__, llvmlite.__version__, ctx.codegen().magic_tuple(), sys.version_info[:2]))
    return cache_root(base) / f"{NRT_FILE_PREFIX}{hashlib.sha256(what.encode()).hexdigest()[:16]}.bin"


def _read_library(path):  # type: ignore[no-untyped-def]
    import pickle

    with open(path, "rb") as f:
        state = pickle.load(f)
    if not (isinstance(state, tuple) and len(state) == 3 and state[1] == "object"):
        raise ValueError(f"{path}: not a kept runtime library")
    return state


def _write_library(path, state) -> None:  # type: ignore[no-untyped-def]
    """Write through a temporary file and a rename (a reader never sees half a file); a read-only cache is skipped."""
    import pickle
    import tempfile

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            pickle.dump(state, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except OSError:
        pass


_TYPEOF_NDARRAY_NAMES = ('isinstance', 'np', 'ma', 'MaskedArray', 'errors', 'NumbaTypeError', 'numpy_support',
                         'from_dtype', 'dtype', 'NumbaNotImplementedError', 'NumbaValueError', 'map_layout', 'flags',
                         'writeable', 'types', 'Array', 'ndim')


def array_typeof_without_numpy_ma() -> bool:
    """numba's ``typeof`` of an ndarray without importing ``numpy.ma`` while nothing has (then no value can be a
    masked array); True if registered."""
    import numpy as np
    from numba.core import errors, types
    from numba.core.typing import typeof
    from numba.np import numpy_support

    current = typeof.typeof_impl.dispatch(np.ndarray)
    if getattr(current, "_ita_lazy_ma", False):
        return True
    if current.__code__.co_names != _TYPEOF_NDARRAY_NAMES:
        return False  # numba's function is not the one this mirrors: leave it

    def _typeof_ndarray(val, c):  # type: ignore[no-untyped-def]
        """numba's ``_typeof_ndarray``, its masked-array check only once ``numpy.ma`` exists."""
        if "numpy.ma" in sys.modules:
            return current(val, c)
        try:
            dtype = numpy_support.from_dtype(val.dtype)
        except errors.NumbaNotImplementedError:
            raise errors.NumbaValueError(f"Unsupported array dtype: {val.dtype}")
        layout = numpy_support.map_layout(val)
        readonly = not val.flags.writeable
        return types.Array(dtype, val.ndim, layout, readonly=readonly)

    _typeof_ndarray._ita_lazy_ma = True  # type: ignore[attr-defined]
    typeof.typeof_impl.register(np.ndarray)(_typeof_ndarray)
    return True


class _BeforeImport:
    """An import finder that runs ``action`` once, just before ``name`` is first imported, then leaves."""

    def __init__(self, name: str, action) -> None:  # type: ignore[no-untyped-def]
        self.name = name
        self.action = action

    def find_spec(self, name, path=None, target=None):  # type: ignore[no-untyped-def]
        if name == self.name:
            try:
                sys.meta_path.remove(self)
            except ValueError:  # another thread got here first
                return None
            self.action()
        return None  # the usual finders import the module itself


def skip_blas_probe_on_import() -> bool:
    """``skip_blas_probe`` just before ``numba.np.arraymath`` is imported; True if set up (not imported yet)."""
    if ARRAYMATH in sys.modules:
        return False
    if not any(isinstance(f, _BeforeImport) and f.name == ARRAYMATH for f in sys.meta_path):
        sys.meta_path.insert(0, _BeforeImport(ARRAYMATH, skip_blas_probe))
    return True


def defer_extension_scan() -> bool:
    """A dispatcher's first call skips numba's scan for extension entry points (a compile still runs it first, from
    the CPU context's registries); True if patched."""
    from numba.core import dispatcher

    base = dispatcher._DispatcherBase
    hook = base._compilation_chain_init_hook
    if getattr(hook, "_ita_deferred", False):
        return True
    if set(hook.__code__.co_names) != {"entrypoints", "init_all"}:
        return False  # numba's hook does something else now: leave it

    def _compilation_chain_init_hook(self):  # type: ignore[no-untyped-def]
        """numba's hook, its ``entrypoints.init_all()`` left to ``CPUContext.load_additional_registries``."""

    _compilation_chain_init_hook._ita_deferred = True  # type: ignore[attr-defined]
    base._compilation_chain_init_hook = _compilation_chain_init_hook
    return True


class _DeferJitclassOverloads:
    """Import finder and loader: ``numba.experimental.jitclass.overloads`` becomes an empty placeholder (once)."""

    def find_spec(self, name, path=None, target=None):  # type: ignore[no-untyped-def]
        if name != JITCLASS_OVERLOADS:
            return None
        try:
            sys.meta_path.remove(self)
        except ValueError:
            return None
        try:
            real = importlib.util.find_spec(name)  # through the other finders (a frozen app's too)
        except (ImportError, ValueError):
            real = None
        if real is None:
            return None  # not there: let the usual import say so
        return importlib.machinery.ModuleSpec(name, self)

    def create_module(self, spec):  # type: ignore[no-untyped-def]
        module = types.ModuleType(spec.name, "Placeholder: the real module runs before numba's first compile "
                                             "(ita_desktop.numba_start).")
        module._ita_deferred = True  # type: ignore[attr-defined]
        return module

    def exec_module(self, module) -> None:  # type: ignore[no-untyped-def]
        skips_before_target_start()  # numba's contexts are imported by now: the hook that runs the real module


def defer_jitclass_overloads() -> bool:
    """Before numba is imported: its jitclass overloads are registered just before the first compile, not on import;
    True if set up. ``ITA_NUMBA_FULL_START=1`` or numba imported already: nothing done."""
    if os.environ.get(ENV_FULL) == "1" or "numba" in sys.modules:
        return False
    if not any(isinstance(f, _DeferJitclassOverloads) for f in sys.meta_path):
        sys.meta_path.insert(0, _DeferJitclassOverloads())
    return True


def run_deferred_jitclass_overloads() -> bool:
    """Run the real ``numba.experimental.jitclass.overloads`` in place of its placeholder; True if it ran now."""
    placeholder = sys.modules.get(JITCLASS_OVERLOADS)
    if not getattr(placeholder, "_ita_deferred", False):
        return False
    del sys.modules[JITCLASS_OVERLOADS]
    real = importlib.import_module(JITCLASS_OVERLOADS)
    package = sys.modules.get("numba.experimental.jitclass")
    if package is not None:
        package.overloads = real  # type: ignore[attr-defined]
    return True


def lazy_importlib_metadata() -> bool:
    """``importlib.metadata`` as a lazy module (``importlib.util.LazyLoader``: run at its first attribute use) while
    nothing has imported it; True if made so.

    numba imports it on ``import numba`` (``numba.core.entrypoints``) for the extension scan, which a process running
    cached kernels never does (``defer_extension_scan``); importing it costs ~10 ms (the ``email`` package, zipfile,
    csv). Only for a single-threaded start (``ita``'s kernel commands): Python 3.11's LazyLoader is not safe when
    two threads first touch the module at once."""
    name = "importlib.metadata"
    if name in sys.modules or os.environ.get(ENV_FULL) == "1":
        return False
    try:
        spec = importlib.util.find_spec(name)
        lazy = importlib.util.LazyLoader(spec.loader)  # TypeError: a loader without exec_module (a frozen importer)
    except (AttributeError, ImportError, TypeError, ValueError):
        return False
    spec.loader = lazy
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    importlib.metadata = module  # type: ignore[attr-defined]  # the package's attribute, as an import sets it
    spec.loader.exec_module(module)
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
