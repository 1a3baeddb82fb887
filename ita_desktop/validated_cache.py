"""Validated pydantic models kept between processes: a rule file's and the settings', pickled under their inputs' bytes.

Why: building pydantic's validators for the rule schema (about 40 models) and the settings, then
validating, is ~30 ms of every warm ``ita backtest`` (issue 19) for inputs that rarely change. A
model read back with pickle needs no validator: the classes are imported, their schemas are not built.

When an entry is used, and only then: its name is the SHA-256 of the kind, the *stamp* and the
input's exact bytes (a rule file's path as given and its bytes; the shipped defaults and the user's
config file). The stamp names the code that decides validity: the app, Python and pydantic versions
and the source files of the validating modules (hashed; in a frozen build the build's stamp,
``kernel_cache.BUILD_STAMP_FILE``), plus any data file they read at import (the shipped defaults).
A changed byte of the input, of that code or of those versions is a miss. Only valid inputs are
written (a rule or settings with any problem raises before), so every error message is the
validator's own, as before. An entry that cannot be read, unpickled or is not what was written
(a torn or damaged file, an older format) is ignored and written again.

Off unless :func:`enable` names a folder (``ita``'s own command line does, ``cli.main``): tests and
library callers validate every time. The folder is the user's cache (the same trust as numba's
pickled kernels beside it); it is kept small (:data:`MAX_ENTRIES`, oldest removed on a write).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import sys
from pathlib import Path
from typing import Any

#: Bumped when what an entry holds changes shape.
FORMAT = 1
#: Entries kept in the folder; a write beyond removes the least recently written.
MAX_ENTRIES = 64
FOLDER_NAME = "validated-models"

_folder: Path | None = None
_stamps: dict[tuple[str, ...], bytes] = {}


def enable(cache_folder: Path | None) -> None:
    """Keep and reuse validated models under ``cache_folder / FOLDER_NAME`` (None: off)."""
    global _folder
    _folder = None if cache_folder is None else Path(cache_folder) / FOLDER_NAME


def enabled() -> bool:
    return _folder is not None


def code_stamp(modules: tuple[str, ...], data_files: tuple[Path, ...] = ()) -> bytes:
    """Versions + the named modules' sources (frozen: the build stamp) + ``data_files``' bytes, once per process."""
    key = modules + tuple(str(p) for p in data_files)
    stamp = _stamps.get(key)
    if stamp is None:
        import pydantic

        from ita_desktop import __version__
        from ita_desktop.kernel_cache import BUILD_STAMP_FILE, PACKAGE_ROOT

        stamp = _stamps[key] = _stamp(modules, data_files, f"{FORMAT}|{__version__}|{sys.version}|{pydantic.VERSION}",
                                      PACKAGE_ROOT / BUILD_STAMP_FILE)
    return stamp


def _stamp(modules: tuple[str, ...], data_files: tuple[Path, ...], versions: str, build: Path) -> bytes:
    """b"" (never reuse) when a module is not loaded or a file cannot be read: nothing would tell this code apart."""
    digest = hashlib.sha256(versions.encode())
    try:
        for name in modules:
            source = getattr(sys.modules.get(name), "__file__", None)
            if source is not None and source.endswith(".py") and os.path.isfile(source):
                digest.update(name.encode() + b"\0" + Path(source).read_bytes())
            elif build.is_file():  # frozen: no sources, the build names the code
                digest.update(name.encode() + b"\0" + build.read_bytes())
            else:
                return b""
        for path in data_files:
            digest.update(b"\0" + Path(path).read_bytes())
    except OSError:
        return b""
    return digest.digest()


def _entry(kind: str, stamp: bytes, data: bytes) -> Path | None:
    if _folder is None or not stamp:
        return None
    name = hashlib.sha256(kind.encode() + b"\0" + stamp + b"\0" + data).hexdigest()
    return _folder / f"{kind}-{name}.pickle"


def fetch(kind: str, stamp: bytes, data: bytes) -> Any | None:
    """The model kept for these exact bytes under this stamp, or None (off, a miss, or an unreadable entry)."""
    path = _entry(kind, stamp, data)
    if path is None:
        return None
    try:
        with open(path, "rb") as f:
            fmt, got_kind, got_stamp, got_digest, value = pickle.load(f)
    except FileNotFoundError:
        return None
    except Exception:  # noqa: BLE001 - a damaged entry of any kind is a miss, written again
        return None
    if (fmt, got_kind, got_stamp, got_digest) != (FORMAT, kind, stamp, hashlib.sha256(data).digest()):
        return None
    return value


def keep(kind: str, stamp: bytes, data: bytes, value: Any) -> None:
    """Write the validated ``value`` for these bytes (temp file + rename); a cache that cannot be written is no cache."""
    path = _entry(kind, stamp, data)
    if path is None:
        return
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            pickle.dump((FORMAT, kind, stamp, hashlib.sha256(data).digest(), value), f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
        _trim(path.parent)
    except (OSError, pickle.PicklingError, TypeError, AttributeError):
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass


def _trim(folder: Path) -> None:
    """At most MAX_ENTRIES entries: the least recently written go (stale stamps are never read again)."""
    entries = [p for p in folder.iterdir() if p.suffix == ".pickle"]
    if len(entries) <= MAX_ENTRIES:
        return
    entries.sort(key=lambda p: p.stat().st_mtime_ns)
    for p in entries[:len(entries) - MAX_ENTRIES]:
        try:
            p.unlink()
        except OSError:
            pass
