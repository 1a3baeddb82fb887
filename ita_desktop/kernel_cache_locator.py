"""The numba cache locator for the app's kernels (see ``kernel_cache`` for the why and the key).

numba imports this module itself, by the name in ``NUMBA_CACHE_LOCATOR_CLASSES``.
"""

from __future__ import annotations

import os

from numba.core import config
from numba.core.caching import _CacheLocator

from ita_desktop import numba_start
from ita_desktop.kernel_cache import cache_key, cache_root, mark_used, module_subpath

_marked: set[str] = set()  # key folders this process has marked used (kernel_cache.prune_stale spares them)

numba_start.prepare()  # numba imports this module before its target starts: spare scipy and cffi (numba_start)


def _cache_dir() -> str:
    return config.CACHE_DIR or os.environ.get("NUMBA_CACHE_DIR") or ""


class AppCacheLocator(_CacheLocator):
    """Kernels of ``ita_desktop.*`` under ``<cache dir>/<key>/<module>``; other functions fall through."""

    def __init__(self, py_func, py_file) -> None:
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        self._cache_path = str(cache_root(_cache_dir()) / module_subpath(py_func.__module__))

    def get_cache_path(self) -> str:
        return self._cache_path

    def get_source_stamp(self) -> str:
        return cache_key()  # the folder already carries it; numba's index checks it again

    def get_disambiguator(self) -> str:
        return str(self._lineno)

    @classmethod
    def from_function(cls, py_func, py_file):
        module = getattr(py_func, "__module__", "") or ""
        if not module.startswith("ita_desktop.") or not _cache_dir():
            return None
        self = cls(py_func, py_file)
        try:
            self.ensure_cache_path()
        except OSError:  # not writable: numba's next locator (or no cache) takes over
            return None
        root = str(cache_root(_cache_dir()))
        if root not in _marked:
            _marked.add(root)
            mark_used(cache_root(_cache_dir()))
        return self
