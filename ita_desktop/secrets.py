"""The only door to API keys and tokens: the OS keyring. Nothing else may read or store them.

Values read here are registered with the log redactor so they never reach a log file.
"""

from __future__ import annotations

import keyring
import keyring.errors

from ita_desktop import log_setup

SERVICE = "ita-desktop"
KNOWN = ("openai_api_key", "telegram_bot_token", "notion_token", "mt5_password")


class SecretStoreError(RuntimeError):
    """The OS keyring is missing or refused; the message says what to do."""


def _check(name: str) -> None:
    if name not in KNOWN:
        raise KeyError(f"unknown secret {name!r}; known: {', '.join(KNOWN)}")


def set_secret(name: str, value: str) -> None:
    _check(name)
    try:
        keyring.set_password(SERVICE, name, value)
    except keyring.errors.KeyringError as exc:
        raise SecretStoreError(f"could not save {name} in the OS keyring: {exc}") from exc
    log_setup.redact(value)


def get_secret(name: str) -> str | None:
    """The stored value, or None when it was never set."""
    _check(name)
    try:
        value = keyring.get_password(SERVICE, name)
    except keyring.errors.KeyringError as exc:
        raise SecretStoreError(f"could not read {name} from the OS keyring: {exc}") from exc
    if value:
        log_setup.redact(value)
    return value


def delete_secret(name: str) -> None:
    _check(name)
    try:
        keyring.delete_password(SERVICE, name)
    except keyring.errors.PasswordDeleteError:
        pass  # deleting what is not there is not an error
    except keyring.errors.KeyringError as exc:
        raise SecretStoreError(f"could not delete {name} from the OS keyring: {exc}") from exc


def has_secret(name: str) -> bool:
    return bool(get_secret(name))
