"""A Core over the test's ITA_HOME, as app.py and the CLI build one."""

from __future__ import annotations

from typing import Any

from ita_desktop.config import load_settings
from ita_desktop.core.app_core import Core
from ita_desktop.paths import app_paths


def new_core(**kwargs: Any) -> Core:
    paths = app_paths().ensure()
    return Core(load_settings(paths), paths, **kwargs)
