"""The enabled channels, built from configuration (``outputs.*``) and the keyring (tokens)."""

from __future__ import annotations

from typing import Any

from ita_desktop.domain.errors import ItaError
from ita_desktop.secrets import get_secret


def telegram_channel(settings: Any) -> Any:
    """The Telegram channel of ``settings.outputs.telegram``; a missing token or chat id says what to do."""
    from ita_desktop.outputs.telegram import TelegramChannel

    cfg = settings.outputs.telegram
    if not cfg.chat_id:
        raise ItaError("outputs.telegram.chat_id is not set in config.yaml (ita config path shows where)")
    token = get_secret("telegram_bot_token")
    if not token:
        raise ItaError("no Telegram bot token in the keyring: ita secret set telegram_bot_token")
    return TelegramChannel(token, cfg.chat_id, cfg.api_root)


def enabled_channels(settings: Any) -> dict[str, Any]:
    """Every channel whose ``outputs.<name>.enabled`` is true; Notion is not built yet and says so."""
    out: dict[str, Any] = {}
    if settings.outputs.telegram.enabled:
        out["telegram"] = telegram_channel(settings)
    if settings.outputs.notion.enabled:
        raise ItaError("outputs.notion.enabled is set, but the Notion channel is not built yet; "
                       "set it to false in config.yaml")
    return out
