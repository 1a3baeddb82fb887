"""Where the app keeps its files: ITA_HOME if set (tests, scripts, portable installs), else the OS user folders."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "ITA Desktop"
APP_AUTHOR = "ITA"


@dataclass(frozen=True)
class AppPaths:
    data: Path
    config: Path
    logs: Path
    cache: Path

    @property
    def database(self) -> Path:
        return self.data / "ita.sqlite3"

    @property
    def user_config_file(self) -> Path:
        return self.config / "config.yaml"

    @property
    def user_rules(self) -> Path:
        """The trader's own rules (saved, edited, new): rules/<rule_id>/v<version>.yaml; the shipped ones stay read-only."""
        return self.data / "rules"

    @property
    def numba_cache(self) -> Path:
        return self.cache / "numba"

    def ensure(self) -> "AppPaths":
        for p in (self.data, self.config, self.logs, self.cache):
            p.mkdir(parents=True, exist_ok=True)
        return self


def app_paths() -> AppPaths:
    """Resolve the folders now (ITA_HOME is read on every call so tests can switch it)."""
    home = os.environ.get("ITA_HOME")
    if home:
        root = Path(home).expanduser().resolve()
        return AppPaths(data=root, config=root / "config", logs=root / "logs", cache=root / "cache")
    return AppPaths(
        data=Path(platformdirs.user_data_dir(APP_NAME, APP_AUTHOR)),
        config=Path(platformdirs.user_config_dir(APP_NAME, APP_AUTHOR)),
        logs=Path(platformdirs.user_log_dir(APP_NAME, APP_AUTHOR)),
        cache=Path(platformdirs.user_cache_dir(APP_NAME, APP_AUTHOR)),
    )
