"""Logging to a rotating file in the user log folder and to the console, with secrets redacted."""

from __future__ import annotations

import logging
import logging.handlers
import threading
from pathlib import Path

_REDACT: set[str] = set()
_LOCK = threading.Lock()
FORMAT = "%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"


def redact(value: str) -> None:
    """Never let this value appear in a log record again (called by the secrets module)."""
    if value and len(value) >= 4:
        with _LOCK:
            _REDACT.add(value)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if _REDACT:
            message = record.getMessage()
            for secret in _REDACT:
                if secret in message:
                    message = message.replace(secret, "***")
            record.msg, record.args = message, None
        return True


def configure(log_dir: Path, level: str = "INFO", console: bool = True) -> Path:
    """Set up the root logger once per process; returns the log file path."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_file = log_dir / "ita.log"
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_ita", False):
            root.removeHandler(handler)
            handler.close()
    handlers: list[logging.Handler] = [
        logging.handlers.RotatingFileHandler(log_file, maxBytes=5_000_000, backupCount=5, encoding="utf-8")
    ]
    if console:
        handlers.append(logging.StreamHandler())
    for handler in handlers:
        handler._ita = True  # type: ignore[attr-defined]
        handler.setFormatter(logging.Formatter(FORMAT))
        handler.addFilter(RedactingFilter())
        root.addHandler(handler)
    root.setLevel(level)
    return log_file
