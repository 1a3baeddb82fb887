"""Logging to a rotating file in the user log folder and to the console, with secrets redacted."""

from __future__ import annotations

import logging
import logging.handlers
import os
import threading
from pathlib import Path

_REDACT: set[str] = set()
_LOCK = threading.Lock()
FORMAT = "%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"
OWN_LOGGERS = ("ita_desktop", "ita")  # module loggers (__name__) and the CLI's "ita.cli"
LIBRARY_LEVEL_ENV = "ITA_LOG_LIBRARIES"  # e.g. DEBUG: let numba, pandas etc. log below INFO too


def redact(value: str) -> None:
    """Never let this value appear in a log record again (called by the secrets module)."""
    if value and len(value) >= 4:
        with _LOCK:
            _REDACT.add(value)


def _redacted(text: str) -> str:
    for secret in _REDACT:
        if secret in text:
            text = text.replace(secret, "***")
    return text


class RedactingFilter(logging.Filter):
    """Secrets out of the message, the exception text (exc_info: tracebacks quote the exception's
    message, which may hold a token) and the stack text, before any handler formats the record."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        if _REDACT:
            record.msg, record.args = _redacted(record.getMessage()), None
            if record.exc_info and not record.exc_text:
                record.exc_text = self._formatter.formatException(record.exc_info)
            if record.exc_text:
                record.exc_text = _redacted(record.exc_text)
            if record.stack_info:
                record.stack_info = _redacted(record.stack_info)
        return True


def configure(log_dir: Path, level: str = "INFO", console: bool = True) -> Path:
    """Set up the root logger once per process; returns the log file path.

    ``level`` is for the app's own loggers. Third-party ones (numba wrote 57 MB of compiler debug
    output under -v) stay at INFO unless the environment variable ITA_LOG_LIBRARIES names a level.
    """
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
    library_level = os.environ.get(LIBRARY_LEVEL_ENV, "").strip().upper() or "INFO"
    if library_level not in logging.getLevelNamesMapping():
        library_level = "INFO"
    root.setLevel(library_level)
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(level)
    return log_file
