"""A cached kernel's module for linking parsed only when something links it; its symbol names kept beside the kernels.

numba keeps a kernel as machine code plus the kernel's LLVM module as bitcode, "for further inlining
with other libraries" (a later compile that calls the kernel links it in). Loading a cached kernel
parsed that bitcode and walked its symbols (~1,000 over the 11 kernels of a warm ``ita backtest``,
two LLVM calls each) to learn which names the process defines: ~28 ms of CPU at load 5 (issue 19),
for a module that a process running cached kernels never links.

``defer_linking_modules`` replaces numba's ``CPUCodeLibrary._unserialize`` (object kind only) so that
a load takes the defined names from a small file kept in this code's kernel cache folder, named by the
SHA-256 of the exact bitcode and llvmlite's version, and keeps the bitcode as bytes; numba's
``_get_module_for_linking`` parses it on first use (a compile that links the kernel, or numba writing
it to a cache), as numba would have at load. Without that file, or with one that is damaged or not
what it claims, the load is numba's own and the file is written from the parsed module (temp file and
rename). Both replacements check the numba code they replace and stand aside if it differs.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from pathlib import Path

FORMAT = 1
FOLDER = "link-symbols"
_EXPECTED_UNSERIALIZE = {"create_library", "enable_object_caching", "_set_compiled_object", "parse_bitcode",
                         "_shared_module", "_finalize_final_module", "_load_defined_symbols"}


def defer_linking_modules() -> bool:
    """Install the deferred parse; True if installed (now or before)."""
    from numba.core import codegen

    library = codegen.CPUCodeLibrary
    current = library.__dict__.get("_unserialize")
    if getattr(getattr(current, "__func__", None), "_ita_deferred", False):
        return True
    linking = library.__dict__.get("_get_module_for_linking")
    if (not isinstance(current, classmethod) or linking is None
            or not _EXPECTED_UNSERIALIZE <= set(current.__func__.__code__.co_names)
            or "_shared_module" not in linking.__code__.co_names):
        return False  # numba's code is not the one this replaces: leave it
    numba_unserialize, numba_linking = current.__func__, linking

    def _unserialize(cls, codegen_, state):  # type: ignore[no-untyped-def]
        name, kind, data = state
        if kind != "object":
            return numba_unserialize(cls, codegen_, state)
        object_code, shared_bitcode = data
        digest = _digest(shared_bitcode)
        path = _symbols_file(digest)
        names = _read_symbols(path, digest) if path is not None else None
        if names is None:  # numba's own load, then the names kept for next time
            self = numba_unserialize(cls, codegen_, state)
            if path is not None:
                _write_symbols(path, digest, defined_names(self._shared_module))
            return self
        self = codegen_.create_library(name)
        self.enable_object_caching()
        self._set_compiled_object(object_code)
        self._ita_linking_bitcode = shared_bitcode
        self._finalize_final_module()
        self._codegen._engine._defined_symbols |= names  # what numba's _load_defined_symbols adds
        return self

    def _get_module_for_linking(self):  # type: ignore[no-untyped-def]
        bitcode = self.__dict__.pop("_ita_linking_bitcode", None)
        if bitcode is not None and self._shared_module is None:
            import llvmlite.binding as ll

            self._shared_module = ll.parse_bitcode(bitcode)
        return numba_linking(self)

    _unserialize._ita_deferred = True  # type: ignore[attr-defined]
    library._unserialize = classmethod(_unserialize)
    library._get_module_for_linking = _get_module_for_linking
    return True


def defined_names(module) -> frozenset[str]:  # type: ignore[no-untyped-def]
    """The names an LLVM module defines, as numba's ``JitEngine._load_defined_symbols`` collects them."""
    return frozenset(gv.name for group in (module.functions, module.global_variables) for gv in group
                     if not gv.is_declaration)


def _digest(bitcode: bytes) -> bytes:
    import llvmlite

    return hashlib.sha256(f"{FORMAT}|{llvmlite.__version__}|".encode() + bitcode).digest()


def _symbols_file(digest: bytes) -> Path | None:
    """The names' file in this code's kernel cache folder; None without a cache folder."""
    from numba.core import config

    from ita_desktop.kernel_cache import cache_root

    base = config.CACHE_DIR or os.environ.get("NUMBA_CACHE_DIR")
    if not base:
        return None
    return cache_root(base) / FOLDER / f"{digest.hex()[:32]}.pickle"


def _read_symbols(path: Path, digest: bytes) -> frozenset[str] | None:
    """The kept names when the file is whole and for this bitcode; None otherwise (missing, damaged, foreign)."""
    try:
        with open(path, "rb") as f:
            fmt, kept, names = pickle.load(f)
    except Exception:  # noqa: BLE001 - any unreadable file: numba's own load, and the file written again
        return None
    if fmt != FORMAT or kept != digest or not isinstance(names, frozenset):
        return None
    if not all(isinstance(n, str) for n in names):
        return None
    return names


def _write_symbols(path: Path, digest: bytes, names: frozenset[str]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            pickle.dump((FORMAT, digest, names), f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except OSError:  # a read-only cache is still a cache
        pass
