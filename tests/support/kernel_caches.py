"""Numba kernel cache folders for the first-start tests: a copy of this code's compiled kernels without their
ready markers (a cache the preparation must finish), and a folder marked ready in every group."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from ita_desktop.core.kernel_service import GROUPS, UNITS_FOLDER, ready_file
from ita_desktop.kernel_cache import cache_root


def unmarked_copy(tmp_path: Path) -> Path:
    """This code's kernels (compiled once into the test process's cache), copied without their ready markers
    and unit board (every unit to go through again)."""
    from ita_desktop.cli.prepare_kernels import prepare

    source = Path(os.environ["NUMBA_CACHE_DIR"])
    if not all(ready_file(source, g).is_file() for g in GROUPS):
        assert prepare(source, emit=lambda _line: None) == 0
    target = tmp_path / "numba"
    shutil.copytree(cache_root(source), cache_root(target), ignore=shutil.ignore_patterns("ready-*.json", UNITS_FOLDER))
    return target


def marked_ready(numba_dir: Path) -> Path:
    """``numba_dir`` with every group's ready marker written (and no kernels)."""
    for group in GROUPS:
        ready_file(numba_dir, group).parent.mkdir(parents=True, exist_ok=True)
        ready_file(numba_dir, group).write_text("{}")
    return numba_dir
