"""Time zones for bars: the broker's server clock and the trader's session clock.

MT5 labels broker server time as if it were UTC; we store real UTC and compute sessions on
a wall clock (America/New_York by default). Conversions are vectorized over sorted or
unsorted int64 epoch seconds: offsets are looked up from the zone's transitions in the
range (found once per day span), so a million bars convert in a few milliseconds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

DAY = 86_400
DAY_MINUTES = 1440
ALIASES = {"NY": "America/New_York", "NEWYORK": "America/New_York"}
_FIXED = re.compile(r"^(?:UTC|GMT)?\s*([+-])(\d{1,2})(?::?(\d{2}))?$", re.IGNORECASE)
_SHIFTED = re.compile(r"^([A-Za-z_/]+?)\s*([+-])(\d{1,2})(?::?(\d{2}))?$")


def zone(name: str) -> ZoneInfo:
    """A ZoneInfo for an IANA name or alias (NY); ValueError with the name if unknown."""
    try:
        return ZoneInfo(ALIASES.get(name.upper(), name))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def _offset_at(tz: ZoneInfo, t: int) -> int:
    return int(datetime.fromtimestamp(t, tz).utcoffset().total_seconds())  # type: ignore[union-attr]


@lru_cache(maxsize=256)
def _transitions(tz_name: str, day_lo: int, day_hi: int) -> tuple[np.ndarray, np.ndarray]:
    """Instants (UTC seconds) where the offset changes within [day_lo, day_hi] days, and the offset from each."""
    tz = zone(tz_name)
    times = [day_lo * DAY]
    offsets = [_offset_at(tz, day_lo * DAY)]
    for day in range(day_lo + 1, day_hi + 1):
        t = day * DAY
        off = _offset_at(tz, t)
        if off != offsets[-1]:
            lo, hi = t - DAY, t  # offset differs between lo and hi: bisect to the minute
            while hi - lo > 60:
                mid = (lo + hi) // 2 // 60 * 60
                mid = mid if lo < mid < hi else lo + 60
                if _offset_at(tz, mid) == offsets[-1]:
                    lo = mid
                else:
                    hi = mid
            times.append(hi)
            offsets.append(off)
    return np.asarray(times, dtype=np.int64), np.asarray(offsets, dtype=np.int64)


def utc_offsets(utc_seconds: np.ndarray, tz_name: str) -> np.ndarray:
    """The zone's UTC offset in seconds at each instant."""
    utc = np.asarray(utc_seconds, dtype=np.int64)
    if utc.size == 0:
        return np.zeros(0, dtype=np.int64)
    day_lo = int(utc.min()) // DAY - 1
    day_hi = int(utc.max()) // DAY + 2
    times, offsets = _transitions(tz_name, day_lo, day_hi)
    return offsets[np.searchsorted(times, utc, side="right") - 1]


def local_seconds(utc_seconds: np.ndarray, tz_name: str) -> np.ndarray:
    """Wall-clock time on tz as epoch-like seconds: minute of day = s // 60 % 1440, day = s // 86400.

    Bar times come sorted: then each transition's stretch is found by one binary search and
    shifted in place (4x faster over 1M bars than a search per bar, which unsorted input gets)."""
    utc = np.asarray(utc_seconds, dtype=np.int64)
    if utc.size < 2 or not bool((utc[1:] >= utc[:-1]).all()):
        return utc + utc_offsets(utc, tz_name)
    times, offsets = _transitions(tz_name, int(utc[0]) // DAY - 1, int(utc[-1]) // DAY + 2)
    bounds = np.r_[np.searchsorted(utc, times, side="left"), utc.size]
    out = utc.copy()
    out[:bounds[0]] += offsets[-1]  # before the first transition: what utc_offsets' lookup gives
    for k in range(len(times)):
        if bounds[k + 1] > bounds[k]:
            out[bounds[k]:bounds[k + 1]] += offsets[k]
    return out


def local_to_utc(local: np.ndarray, tz_name: str) -> np.ndarray:
    """Inverse of local_seconds. Ambiguous wall times (fall back) take the earlier instant; times in the
    spring-forward gap (which no clock shows) map as if the old offset still held."""
    local = np.asarray(local, dtype=np.int64)
    guess = local - utc_offsets(local, tz_name)
    guess = local - utc_offsets(guess, tz_name)
    return local - utc_offsets(guess, tz_name)


@dataclass(frozen=True)
class ServerClock:
    """A broker server clock: a fixed offset, an IANA zone, or a zone shifted by hours (NY+7).

    ``spec`` is what the trader typed; it is stored with every ingest so imports can be redone.
    """

    spec: str
    zone_name: str | None
    shift: int  # seconds added to the zone's wall time (or to UTC when zone_name is None)

    @classmethod
    def parse(cls, spec: str) -> "ServerClock":
        text = spec.strip()
        if text.upper() in ("UTC", "GMT", "Z"):
            return cls(text, None, 0)
        fixed = _FIXED.match(text)
        if fixed:
            return cls(text, None, _signed(fixed.group(1), fixed.group(2), fixed.group(3)))
        try:
            return cls(text, zone(text).key, 0)
        except ValueError:
            pass
        shifted = _SHIFTED.match(text)
        if shifted:
            name = ALIASES.get(shifted.group(1).upper(), shifted.group(1))
            zone(name)  # raises for an unknown zone
            return cls(text, name, _signed(shifted.group(2), shifted.group(3), shifted.group(4)))
        raise ValueError(
            f"cannot read server time zone {spec!r}; use an offset like +03:00, a zone like "
            "Europe/Athens, or a zone plus hours like NY+7"
        )

    def to_utc(self, naive_seconds: np.ndarray) -> np.ndarray:
        """Broker wall time (epoch-like seconds read from a naive timestamp) to real UTC seconds."""
        wall = np.asarray(naive_seconds, dtype=np.int64) - self.shift
        return wall if self.zone_name is None else local_to_utc(wall, self.zone_name)

    def to_server(self, utc_seconds: np.ndarray) -> np.ndarray:
        utc = np.asarray(utc_seconds, dtype=np.int64)
        wall = utc if self.zone_name is None else local_seconds(utc, self.zone_name)
        return wall + self.shift

    def offset_at(self, utc_second: int) -> int:
        """Server offset from UTC in seconds at one instant (for messages and the status bar)."""
        return int(self.to_server(np.array([utc_second]))[0] - utc_second)


def _signed(sign: str, hours: str, minutes: str | None) -> int:
    if int(hours) > 14 or int(minutes or 0) >= 60:
        raise ValueError(f"cannot read server time zone offset {sign}{hours}:{minutes or '00'}; offsets run from -14:00 to +14:00")
    value = int(hours) * 3600 + int(minutes or 0) * 60
    return -value if sign == "-" else value


def utc_iso(seconds: int) -> str:
    """ISO-8601 UTC text for an epoch second, as the CLI and JSON print times."""
    return datetime.fromtimestamp(int(seconds), timezone.utc).isoformat().replace("+00:00", "Z")


def parse_hhmm(text: str) -> int:
    """'09:30' -> 570 minutes; '24:00' is allowed as the end of a day. ValueError names the text."""
    try:
        hours, minutes = text.strip().split(":")
        value = int(hours) * 60 + int(minutes)
    except (AttributeError, ValueError) as exc:
        raise ValueError(f"cannot read time of day {text!r}; expected HH:MM") from exc
    if not (0 <= int(minutes) < 60 and 0 <= value <= DAY_MINUTES):
        raise ValueError(f"time of day {text!r} is outside 00:00..24:00")
    return value
