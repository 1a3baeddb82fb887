"""Settings: defaults shipped with the package, deep-merged with the user's config.yaml."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from ita_desktop import validated_cache
from ita_desktop.domain.errors import InputError
from ita_desktop.paths import AppPaths, app_paths


class _Section(BaseModel):
    # built on first use (a validation, a dump), not at import: a warm ``ita`` command reads its settings back
    # validated (validated_cache) and never needs the validators
    model_config = ConfigDict(extra="forbid", defer_build=True)


class DataSettings(_Section):
    server_tz: str = "NY+7"
    day_start: str = "18:00"


class SessionSettings(_Section):
    clock: str = "America/New_York"
    windows: dict[str, tuple[str, str]] = Field(default_factory=dict)
    initial_balance: tuple[str, str] = ("09:30", "10:30")


class MT5Settings(_Section):
    terminal_path: str = ""
    login: int = 0
    server: str = ""
    server_tz: str = "NY+7"
    timeout_ms: int = 60000
    reconnect_attempts: int = 5
    reconnect_backoff_s: float = 1.0
    history_chunk_days: int = 30
    #: live sessions ask the terminal for new ticks and closed bars this often
    poll_interval_ms: int = 500


class ModelSettings(_Section):
    endpoint: str = "https://api.openai.com/v1"
    name: str = "gpt-4o"
    timeout_s: float = 60
    structured_output: Literal["auto", "json_schema", "json_mode"] = "auto"  # auto: json_schema, else JSON mode
    max_retries: int = 2  # the OpenAI client's retries of 429 (Retry-After honoured) and 5xx (back-off)


class UISettings(_Section):
    theme: str = "dark"
    #: the clock every time is shown on (domain.display_clock): new_york, utc, broker or local
    display_clock: Literal["new_york", "utc", "broker", "local"] = "new_york"


class ChartSettings(_Section):
    #: Fair value gaps smaller than this many ATRs are not drawn (0 = all); the legend says how many
    #: are hidden, and a gap a drawn setup or trade used is drawn whatever its size.
    fvg_min_atr: float = Field(default=1.0, ge=0.0)


#: What a channel can take: a raised signal, each paper-trade outcome (filled, target, stop, expired,
#: and the rarer final statuses), the day's summary, and the trader's feedback on a signal (written on the
#: signal's page by a channel that keeps one: Notion). ``outputs.<channel>.events`` lists the chosen ones.
OUTPUT_EVENTS = ("signal", "filled", "target", "stop", "expired", "breakeven", "time", "not_filled", "invalid_stop",
                 "daily_summary", "feedback")
OutputEvent = Literal["signal", "filled", "target", "stop", "expired", "breakeven", "time", "not_filled",
                      "invalid_stop", "daily_summary", "feedback"]
#: Telegram has no page to write feedback on: a chat takes every event but that one
TelegramEvent = Literal["signal", "filled", "target", "stop", "expired", "breakeven", "time", "not_filled",
                        "invalid_stop", "daily_summary"]


class TelegramSettings(_Section):
    enabled: bool = False
    #: the events sent to the chat (default: every one it can take, the day's summary included)
    events: list[TelegramEvent] = Field(default_factory=lambda: [e for e in OUTPUT_EVENTS if e != "feedback"])
    chat_id: str = ""
    #: the Bot API's root URL (tests point it at a stand-in on 127.0.0.1); the token is in the keyring
    api_root: str = "https://api.telegram.org"


class NotionSettings(_Section):
    enabled: bool = False
    database_id: str = ""
    api_root: str = "https://api.notion.com"
    #: the events written to the journal (default: a page per signal, updated with every outcome and with the
    #: trader's feedback; no summary page)
    events: list[OutputEvent] = Field(default_factory=lambda: [e for e in OUTPUT_EVENTS if e != "daily_summary"])


class DailySummarySettings(_Section):
    #: when the day's summary goes out, New York time (17:00: the forex day's close); the day it covers is
    #: the 24 hours ending then. Channels whose ``events`` list ``daily_summary`` receive it.
    time: str = Field(default="17:00", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


TRAY_UPDATE_KINDS = ("filled", "target", "stop", "expired", "breakeven", "time", "not_filled", "invalid_stop")
TrayUpdateKind = Literal["filled", "target", "stop", "expired", "breakeven", "time", "not_filled", "invalid_stop"]


class TraySettings(_Section):
    #: the paper-trade updates that get a tray message and a sound (a raised signal always does)
    updates: list[TrayUpdateKind] = Field(default_factory=lambda: ["filled", "target", "stop"])
    #: a sound per event kind (resources/sounds/<kind>.wav); the tray menu's Mute silences them for the session
    sounds: bool = True
    #: "HH:MM-HH:MM" on this computer's clock (may span midnight): no tray message, no sound; "" = none
    quiet_hours: str = Field(default="", pattern=r"^$|^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-3]):[0-5][0-9]$")
    #: minimising the window hides it to the tray (where the desktop has one)
    minimize_to_tray: bool = False


class OutputsSettings(_Section):
    telegram: TelegramSettings = Field(default_factory=TelegramSettings)
    notion: NotionSettings = Field(default_factory=NotionSettings)
    daily_summary: DailySummarySettings = Field(default_factory=DailySummarySettings)
    tray: TraySettings = Field(default_factory=TraySettings)
    #: how long ``ita live`` waits at exit for the outbox to be sent
    drain_timeout_s: float = Field(default=30.0, ge=0.0)


class LoggingSettings(_Section):
    level: str = "INFO"


class Settings(_Section):
    data: DataSettings = Field(default_factory=DataSettings)
    sessions: SessionSettings = Field(default_factory=SessionSettings)
    mt5: MT5Settings = Field(default_factory=MT5Settings)
    model: ModelSettings = Field(default_factory=ModelSettings)
    ui: UISettings = Field(default_factory=UISettings)
    chart: ChartSettings = Field(default_factory=ChartSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    outputs: OutputsSettings = Field(default_factory=OutputsSettings)


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


#: The shipped defaults on disk (the validated-model cache's stamp reads their bytes).
DEFAULTS_FILE = Path(__file__).with_name("defaults.yaml")
#: The modules whose code decides what settings a config makes (validated_cache's stamp).
SETTINGS_MODULES = ("ita_desktop.config", "ita_desktop.domain.errors", "ita_desktop.paths")


def defaults_dict() -> dict[str, Any]:
    text = resources.files("ita_desktop.config").joinpath("defaults.yaml").read_text(encoding="utf-8")
    # libyaml's parser when PyYAML has it (the shipped file is well-formed; 0.5 ms instead of 5 for every command)
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def load_settings(paths: AppPaths | None = None) -> Settings:
    """Defaults merged with the user file; a broken user file is an InputError naming file and line.

    With ``validated_cache`` on (``ita``'s command line), settings already made from these exact bytes (defaults and
    user file) by this code are read back instead of validated again; a broken file is never kept."""
    paths = paths or app_paths()
    user_file: Path = paths.user_config_file
    key = _settings_key(user_file)
    if key is not None:
        kept = validated_cache.fetch("settings", *key)
        if isinstance(kept, Settings):
            return kept
    settings = _validated_settings(user_file)
    if key is not None:
        validated_cache.keep("settings", *key, settings)
    return settings


def _settings_key(user_file: Path) -> tuple[bytes, bytes] | None:
    """(stamp, input bytes) of these settings, None when the cache is off or a file cannot be read."""
    if not validated_cache.enabled():
        return None
    try:
        user = user_file.read_bytes() if user_file.exists() else None
    except OSError:
        return None
    data = b"none" if user is None else b"file:" + user  # the defaults' bytes are in the stamp
    return validated_cache.code_stamp(SETTINGS_MODULES, (DEFAULTS_FILE,)), data


def _validated_settings(user_file: Path) -> Settings:
    merged = defaults_dict()
    if user_file.exists():
        try:
            user = yaml.safe_load(user_file.read_text(encoding="utf-8")) or {}
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark
            raise InputError(str(exc.problem), file=user_file, line=mark.line + 1 if mark else None,
                             column=mark.column + 1 if mark else None) from exc
        if not isinstance(user, dict):
            raise InputError("expected a mapping of settings", file=user_file, line=1, column=1)
        merged = _deep_merge(merged, user)
    try:
        return Settings.model_validate(merged)
    except Exception as exc:  # pydantic.ValidationError: name the file, it is the user's
        raise InputError(f"invalid settings: {exc}", file=user_file) from exc


def save_user_settings(changes: dict[str, Any], paths: AppPaths | None = None) -> Path:
    """Merge ``changes`` into the user's config.yaml (validated first, so a bad change writes nothing)."""
    paths = (paths or app_paths()).ensure()
    user_file = paths.user_config_file
    current = yaml.safe_load(user_file.read_text(encoding="utf-8")) if user_file.exists() else {}
    updated = _deep_merge(current or {}, changes)
    Settings.model_validate(_deep_merge(defaults_dict(), updated))
    tmp = user_file.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(updated, sort_keys=False), encoding="utf-8")
    tmp.replace(user_file)
    return user_file
