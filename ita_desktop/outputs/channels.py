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


def notion_channel(settings: Any) -> Any:
    """The Notion channel of ``settings.outputs.notion``; a missing token or database id says what to do."""
    from ita_desktop.outputs.notion import NotionChannel

    cfg = settings.outputs.notion
    if not cfg.database_id:
        raise ItaError("outputs.notion.database_id is not set in config.yaml (ita config path shows where): "
                       "the id of the trader's journal database, shared with the integration")
    token = get_secret("notion_token")
    if not token:
        raise ItaError("no Notion token in the keyring: ita secret set notion_token")
    return NotionChannel(token, cfg.database_id, cfg.api_root)


CHANNEL_BUILDERS = {"telegram": telegram_channel, "notion": notion_channel}
#: the channels that keep a page per signal, so the trader's feedback has somewhere to go (event ``feedback``)
FEEDBACK_CHANNELS = ("notion",)


def build_channel(name: str, settings: Any) -> Any:
    """The named channel from configuration, enabled or not (a test may precede enabling it)."""
    if name not in CHANNEL_BUILDERS:
        raise ItaError(f"no notification channel {name!r}; channels: {', '.join(CHANNEL_BUILDERS)}")
    return CHANNEL_BUILDERS[name](settings)


def enabled_channels(settings: Any) -> dict[str, Any]:
    """Every channel whose ``outputs.<name>.enabled`` is true."""
    return {name: build(settings) for name, build in CHANNEL_BUILDERS.items()
            if getattr(settings.outputs, name).enabled}


def channel_events(settings: Any) -> dict[str, frozenset[str]]:
    """The events each channel takes (``outputs.<name>.events``)."""
    return {name: frozenset(getattr(settings.outputs, name).events) for name in CHANNEL_BUILDERS}
