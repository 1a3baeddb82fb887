"""The only door to API keys and tokens: the OS keyring. Nothing else may read or store them.

Values read here are registered with the log redactor so they never reach a log file.
"""

from __future__ import annotations

import sys

import keyring
import keyring.errors

from ita_desktop import log_setup
from ita_desktop.domain.errors import ItaError

SERVICE = "ita-desktop"
KNOWN = ("openai_api_key", "telegram_bot_token", "notion_token", "mt5_password")


class SecretStoreError(ItaError):
    """The OS keyring is missing or refused; the message says what to do (the CLI prints it, exit 1)."""


def no_keyring_message() -> str:
    """One line: what is missing and how to get it, for this OS."""
    if sys.platform.startswith("linux"):
        how = ("the Secret Service of a Linux desktop session (GNOME Keyring or KWallet, running and unlocked), "
               "which a headless machine lacks")
    elif sys.platform == "darwin":
        how = "the macOS Keychain of a logged-in user"
    else:
        how = "the Windows Credential Manager of a logged-in user"
    return f"no OS keyring is available: ITA keeps secrets only in {how}"


def _failure(action: str, name: str, exc: Exception) -> SecretStoreError:
    if isinstance(exc, keyring.errors.NoKeyringError):
        return SecretStoreError(f"{no_keyring_message()}; {name} was not {action}")
    return SecretStoreError(f"the OS keyring refused: {type(exc).__name__}: {str(exc)[:200]}; {name} was not {action}")


def clean_value(value: str) -> str:
    """A typed or piped value without its line end (a CRLF paste kept the \r); blank is refused."""
    value = value.strip("\r\n")
    if not value.strip():
        raise SecretStoreError("empty value: nothing stored")
    return value


def _check(name: str) -> None:
    if name not in KNOWN:
        raise KeyError(f"unknown secret {name!r}; known: {', '.join(KNOWN)}")


def set_secret(name: str, value: str) -> None:
    _check(name)
    value = clean_value(value)
    try:
        keyring.set_password(SERVICE, name, value)
    except Exception as exc:  # a backend may raise its own errors (D-Bus, locked collection)
        raise _failure("stored", name, exc) from None
    log_setup.redact(value)


def get_secret(name: str) -> str | None:
    """The stored value, or None when it was never set."""
    _check(name)
    try:
        value = keyring.get_password(SERVICE, name)
    except Exception as exc:
        raise _failure("read", name, exc) from None
    if value:
        log_setup.redact(value)
    return value


def delete_secret(name: str) -> None:
    _check(name)
    try:
        keyring.delete_password(SERVICE, name)
    except keyring.errors.PasswordDeleteError:
        pass  # deleting what is not there is not an error
    except Exception as exc:
        raise _failure("deleted", name, exc) from None


def has_secret(name: str) -> bool:
    return bool(get_secret(name))
