"""The clock times are SHOWN on (chart axis, readout, crosshair, trades table): one setting, named everywhere.

Sessions are computed on the session clock (New York); what the trader reads may be another
clock: New York, UTC, the broker's server time (``data.server_tz``: ``NY+7``, ``+03:00`` or a
zone) or the computer's local zone. ``ui.display_clock`` picks one; every place that shows a time
says which clock it is on with :attr:`DisplayClock.short`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np

from ita_desktop.domain.clock import ServerClock

#: Setting value -> what the Settings dialog calls it.
DISPLAY_CLOCKS = {"new_york": "New York", "utc": "UTC", "broker": "Broker (server time)", "local": "This computer"}


def _local_zone_name() -> str:
    """The computer's IANA zone when it can be told (for zoneinfo and DST), else a fixed offset."""
    try:
        import tzlocal  # type: ignore[import-not-found]

        return str(tzlocal.get_localzone_name())
    except Exception:  # noqa: BLE001 - optional: fall back to the current offset
        offset = datetime.now().astimezone().utcoffset()
        minutes = int(offset.total_seconds() // 60) if offset else 0
        sign = "+" if minutes >= 0 else "-"
        return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


@dataclass(frozen=True)
class DisplayClock:
    """``kind`` (a DISPLAY_CLOCKS key) and the zone spec it stands for; ``wall`` maps UTC to its wall time."""

    kind: str
    spec: str  # an IANA zone, or a ServerClock spec (NY+7, +03:00)

    @classmethod
    def from_settings(cls, settings) -> "DisplayClock":
        kind = getattr(settings.ui, "display_clock", "new_york")
        return cls.of(kind, settings.data.server_tz)

    @classmethod
    def of(cls, kind: str, server_tz: str = "NY+7") -> "DisplayClock":
        if kind not in DISPLAY_CLOCKS:
            raise ValueError(f"unknown display clock {kind!r}; expected one of {', '.join(DISPLAY_CLOCKS)}")
        spec = {"new_york": "America/New_York", "utc": "UTC", "broker": server_tz, "local": _local_zone_name()}[kind]
        return cls(kind, spec)

    @property
    def short(self) -> str:
        """What follows a time on screen: ``NY``, ``UTC``, ``broker``, ``local``."""
        return {"new_york": "NY", "utc": "UTC", "broker": "broker", "local": "local"}[self.kind]

    @property
    def title(self) -> str:
        return DISPLAY_CLOCKS[self.kind] + ("" if self.kind in ("new_york", "utc") else f" ({self.spec})")

    def wall(self, utc_seconds: np.ndarray) -> np.ndarray:
        """Wall-clock seconds on this clock (minute of day = s // 60 % 1440), as clock.local_seconds."""
        return ServerClock.parse(self.spec).to_server(np.asarray(utc_seconds, dtype=np.int64))

    def text(self, utc_second: int, fmt: str = "%Y-%m-%d %H:%M") -> str:
        """One time as text on this clock (without the clock's name: add ``short`` where it is shown)."""
        wall = int(self.wall(np.array([int(utc_second)]))[0])
        return datetime.fromtimestamp(wall, timezone.utc).strftime(fmt)
