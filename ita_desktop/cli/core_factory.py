"""The CLI's composition root: each command handler builds the Core it needs here, and closes it.

A Core is cheap to build (no numba, pandas or SQLAlchemy import until a service needs them), so
``ita --help`` and light commands stay fast; the store opens on first use.
"""

from __future__ import annotations

from ita_desktop.config import load_settings
from ita_desktop.core.app_core import Core
from ita_desktop.paths import app_paths


def build_core() -> Core:
    """A Core over the user's settings and folders (ITA_HOME respected). Use it in a ``with`` block."""
    paths = app_paths().ensure()
    return Core(load_settings(paths), paths)
