"""Which preparation units are done and which one a process compiles now, shared by several processes.

On a first start two (or more) preparation processes (``cli/prepare_kernels``) walk the same unit
list and split it between them as they go, so the cores the window leaves idle compile too and no
kernel compiles twice: a unit is claimed by an exclusive, non-blocking OS lock on its ``.lock`` file
(``flock``; Windows ``msvcrt.locking``), held while it compiles, and a ``.done`` marker (written whole,
then renamed) says it is cached. The OS drops a lock when its process ends, so a unit whose process
died (killed, crashed) is free again and the next process that looks takes it over. The folder lies
in the cache key's folder: new code starts with an empty board, and units done before a
preparation was stopped are not compiled again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def _slug(unit: str) -> str:
    return unit.replace(" ", "_").replace("/", "_")


def _try_lock(fd: int) -> bool:
    if os.name == "nt":  # pragma: no cover - Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _unlock_and_close(fd: int) -> None:
    if os.name == "nt":  # pragma: no cover - Windows: unlock before closing, as msvcrt asks
        import msvcrt

        try:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        except OSError:
            pass
    os.close(fd)  # POSIX: closing the only descriptor drops the flock


class Claim:
    """A unit this process compiles now (its lock held); ``finish`` marks it done and lets the lock go."""

    def __init__(self, board: UnitBoard, unit: str, fd: int) -> None:
        self.board, self.unit, self._fd = board, unit, fd

    def finish(self, failed: str = "") -> None:
        """Write the unit's done marker (``failed``: the error, when it compiled nothing), then unlock."""
        try:
            self.board.mark_done(self.unit, failed)
        finally:
            self.release()

    def release(self) -> None:
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            _unlock_and_close(fd)


class UnitBoard:
    """``done(unit)``, ``try_claim(unit)``: the shared state of the units in ``folder``."""

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def _done_file(self, unit: str) -> Path:
        return self.folder / f"{_slug(unit)}.done"

    def done(self, unit: str) -> dict | None:
        """The unit's done marker (``{"failed": ""}`` or the error), or None while it is not done."""
        try:
            return json.loads(self._done_file(unit).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def mark_done(self, unit: str, failed: str = "") -> None:
        target = self._done_file(unit)
        part = target.with_name(f"{target.name}.{os.getpid()}.part")
        part.write_text(json.dumps({"failed": failed, "pid": os.getpid()}), encoding="utf-8")
        os.replace(part, target)

    def try_claim(self, unit: str) -> Claim | None:
        """The unit's claim if no live process holds it and it is not done; else None (never blocks)."""
        if self.done(unit) is not None:
            return None
        fd = os.open(self.folder / f"{_slug(unit)}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        if not _try_lock(fd):
            os.close(fd)
            return None
        if self.done(unit) is not None:  # finished by its holder just before we locked
            _unlock_and_close(fd)
            return None
        return Claim(self, unit, fd)
