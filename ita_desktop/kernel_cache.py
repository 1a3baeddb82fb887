"""Where numba keeps the compiled kernels: the user cache folder, under a key that survives moved code.

numba's own locators key a kernel's cache on the absolute folder of its source file and stamp it
with that file's content hash (or, frozen, with the executable's). A frozen app breaks both: the
install folder can move (upgrade, another user, a portable copy), the two executables (window and
``ita``) differ so each would invalidate the other's kernels, and an edit to a helper module
(``detectors/_core.py``) is not seen by a kernel that inlines it. So the app names its own locator
in ``NUMBA_CACHE_LOCATOR_CLASSES`` (set in ``ita_desktop/__init__``):

* folder: ``<NUMBA_CACHE_DIR>/<key>/<module path inside ita_desktop>``: no absolute paths;
* key: ``<app version>-py<major><minor>-numba<version>-<code stamp>``, where the code stamp is
  a hash of every kernel-bearing package's sources (dev), or the one written into a frozen
  build at build time (``_build_stamp.txt``, made by installer/ita_desktop.spec). Any change of
  code, numba or Python lands in a new folder; the preparation process removes the stale ones
  (:func:`prune_stale`: ~10 MB each, one per upgrade or kernel edit).

This module never imports numba: the window asks it whether the kernels are ready before numba loads.
The locator itself is in ``kernel_cache_locator`` (it subclasses numba's).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
import time
from functools import lru_cache
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent
# Packages whose files hold jitted kernels or what kernels inline (constants, helpers, dtypes).
KERNEL_PACKAGES = ("detectors", "backtest", "rules/engine", "domain")
BUILD_STAMP_FILE = "_build_stamp.txt"
# What cache_key() makes, whatever the versions and stamp: only such folders are ever removed.
KEY_PATTERN = re.compile(r"^\d[\w.+!]*-py\d+-numba[\w.+!]+-(?:[0-9a-f]{16}|v[\w.+!]+)$")
# A key folder used or written this recently may belong to a copy still running (another version or checkout).
PRUNE_GRACE_S = 3600.0
USED_FILE = "last-used"  # touched by every process that loads or compiles kernels under the key
# Ours first; numba's own (by their names in numba.core.caching) for any other cached function.
LOCATORS = ("ita_desktop.kernel_cache_locator.AppCacheLocator,UserProvidedCacheLocator,InTreeCacheLocator,"
            "UserWideCacheLocator,ZipCacheLocator")


def source_stamp(root: Path = PACKAGE_ROOT) -> str:
    """A short hash of the kernel packages' .py files (names and contents), in a stable order."""
    digest = hashlib.sha256()
    for package in KERNEL_PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@lru_cache(maxsize=1)
def code_stamp() -> str:
    """The frozen build's stamp when there is one, else the sources' hash (computed once per process)."""
    frozen = PACKAGE_ROOT / BUILD_STAMP_FILE
    if frozen.is_file():
        return frozen.read_text(encoding="utf-8").strip()
    if (PACKAGE_ROOT / "detectors").is_dir() and any((PACKAGE_ROOT / "detectors").glob("*.py")):
        return source_stamp()
    from ita_desktop import __version__  # no sources and no stamp: only the version tells builds apart

    return f"v{__version__}"


@lru_cache(maxsize=1)
def cache_key() -> str:
    from importlib import metadata

    from ita_desktop import __version__

    try:
        numba_version = distribution_version("numba")
    except metadata.PackageNotFoundError:  # pragma: no cover - a frozen build without dist-info
        numba_version = "unknown"
    py = f"{sys.version_info[0]}{sys.version_info[1]}"
    return f"{__version__}-py{py}-numba{numba_version}-{code_stamp()}"


def distribution_version(name: str) -> str:
    """``importlib.metadata.version(name)`` without parsing the whole METADATA file as an e-mail message.

    The library's parser imports and runs the ``email`` package over numba's long description: ~15 ms of every
    warm command for one header. The headers end at the first empty line; ``Version`` is one of them. The
    METADATA beside the package (``<site>/<name>-<version>.dist-info``, the one installer's copy) is read without
    importing ``importlib.metadata`` at all; otherwise the library finds the distribution (a test compares this
    with the library's answer for every installed distribution)."""
    text = _metadata_beside_package(name)
    if text is None:
        from importlib import metadata

        dist = metadata.distribution(name)
        text = dist.read_text("METADATA") or dist.read_text("PKG-INFO")
        fallback = lambda: dist.version  # noqa: E731
    else:
        fallback = lambda: _library_version(name)  # noqa: E731
    headers: dict[str, str] = {}
    for line in (text or "").splitlines():
        if not line.strip():
            break
        key, sep, value = line.partition(":")
        if sep and not line[0].isspace():
            headers.setdefault(key.strip().lower(), value.strip())
    if "version" in headers and _normal(headers.get("name", "")) == _normal(name):
        return headers["version"]
    return fallback()  # no Version header where expected: the library's own parser decides


def _library_version(name: str) -> str:
    from importlib import metadata

    return metadata.version(name)


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _metadata_beside_package(name: str) -> str | None:
    """The METADATA text of the single ``<name>-*.dist-info`` folder beside the importable package ``name``."""
    import importlib.util

    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    site = Path(next(iter(spec.submodule_search_locations))).parent
    found = [p for p in site.glob("*.dist-info") if _normal(p.name[:-len(".dist-info")].rsplit("-", 1)[0]) == _normal(name)]
    if len(found) != 1:
        return None
    try:
        return (found[0] / "METADATA").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def cache_root(base: Path | str) -> Path:
    """The folder this code's kernels live in under the numba cache folder ``base``."""
    return Path(base) / cache_key()


def module_subpath(module: str) -> str:
    """``ita_desktop.detectors.levels`` -> ``detectors.levels`` (other modules keep their full name)."""
    prefix = "ita_desktop."
    return module[len(prefix):] if module.startswith(prefix) else module


def mark_used(root: Path) -> None:
    """Note that a process uses the key folder ``root`` now (once per process, by the locator)."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        (root / USED_FILE).touch()
    except OSError:  # a read-only cache is still a cache
        pass


def _last_touched(folder: Path) -> float:
    """When the key folder was last used (USED_FILE) or written (its module folders, where numba writes)."""
    times = [folder.stat().st_mtime]
    times += [child.stat().st_mtime for child in folder.iterdir()
              if (child.is_dir() or child.name == USED_FILE) and not child.is_symlink()]
    return max(times)


def prune_stale(base: Path | str, keep: str | None = None, grace_s: float = PRUNE_GRACE_S) -> list[Path]:
    """Remove the key folders under ``base`` other than ``keep`` (this code's key) and return them.

    Only direct children of ``base`` named like a cache key (KEY_PATTERN), real folders (never a
    symlink), neither used nor written for ``grace_s`` seconds, are removed; anything else in the folder (numba's own
    per-path folders, files, another app's data) is left alone. A process still running from a
    removed folder loses nothing: numba keeps loaded kernels in memory and recreates the folder
    if it compiles again. Errors (a file held open on Windows) leave that folder for next time.
    """
    base = Path(base)
    keep = cache_key() if keep is None else keep
    if not base.is_dir():
        return []
    removed: list[Path] = []
    now = time.time()
    for child in sorted(base.iterdir()):
        if child.name == keep or not KEY_PATTERN.match(child.name) or child.is_symlink() or not child.is_dir():
            continue
        try:
            if now - _last_touched(child) < grace_s:
                continue
            shutil.rmtree(child)
        except OSError:
            continue
        removed.append(child)
    return removed
