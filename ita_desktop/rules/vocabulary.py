"""The rule language's words for levels and events, mapped onto the detectors' enums.

This is the ONE place where a name a trader writes in YAML (``asia.high``, ``pdh``,
``prior_session.low``, ``choch``) meets the detectors' numbers (:class:`LevelKind`,
:class:`Kind`). The schema validates names against it and the setup engine will translate
through it, so a renamed enum breaks one module, not every rule.

Level names are ``<window>.high`` / ``<window>.low`` for every session window the rule knows
(the defaults plus ``market.sessions``), ``ib.high`` / ``ib.low`` / ``ib.mid`` for the
initial balance, ``prior_session.high`` / ``.low`` (the most recent completed session of any
window), ``pdh`` / ``pdl`` / ``pwh`` / ``pwl``, the opens, and the swing-based liquidity
``swing.high`` / ``swing.low`` / ``equal.highs`` / ``equal.lows``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

from ita_desktop.config import defaults_dict
from ita_desktop.detectors.objects import Kind, LevelKind

# Session windows every rule knows without declaring them: the PACKAGE defaults (DESIGN.md,
# New York time), never the user's config.yaml, so a rule file means the same on every machine.
_SESSIONS = defaults_dict()["sessions"]
DEFAULT_SESSION_WINDOWS: dict[str, tuple[str, str]] = {k: (str(v[0]), str(v[1])) for k, v in _SESSIONS["windows"].items()}
DEFAULT_IB: tuple[str, str] = (str(_SESSIONS["initial_balance"][0]), str(_SESSIONS["initial_balance"][1]))
#: The initial balance is a window too (``session: ib``), set with ``market.initial_balance``;
#: the name is the one detectors/sessions.py gives it.
IB_WINDOW = "ib"

#: Detector event kinds a step can wait for. ``retest`` and ``time`` are not detector rows of
#: their own: a retest is the ``touched_at`` of an earlier zone step, a time step is the clock.
EVENT_KINDS: dict[str, Kind | None] = {
    "sweep": Kind.SWEEP,
    "bos": Kind.BOS,
    "choch": Kind.CHOCH,
    "fvg": Kind.FVG,
    "order_block": Kind.ORDER_BLOCK,
    "displacement": Kind.DISPLACEMENT,
    "retest": None,
    "time": None,
}
#: Events whose step has a price zone (top/bottom) an entry can be placed in.
ZONE_EVENTS = frozenset({"fvg", "order_block", "retest"})
#: Events with a bullish/bearish direction (a time step has none).
DIRECTED_EVENTS = frozenset(EVENT_KINDS) - {"time"}
#: Events with a price extreme a stop can sit beyond.
EXTREME_EVENTS = frozenset(EVENT_KINDS) - {"time"}

# Session windows whose highs and lows have their own LevelKind; others use SESSION_HIGH/LOW.
_WINDOW_KINDS: dict[str, tuple[LevelKind, LevelKind]] = {
    "asia": (LevelKind.ASIA_HIGH, LevelKind.ASIA_LOW),
    "london": (LevelKind.LONDON_HIGH, LevelKind.LONDON_LOW),
    "ny_am": (LevelKind.NY_AM_HIGH, LevelKind.NY_AM_LOW),
    "ny_pm": (LevelKind.NY_PM_HIGH, LevelKind.NY_PM_LOW),
}

_FIXED_LEVELS: dict[str, tuple[tuple[LevelKind, ...], int]] = {
    "pdh": ((LevelKind.PDH,), +1),
    "pdl": ((LevelKind.PDL,), -1),
    "pwh": ((LevelKind.PWH,), +1),
    "pwl": ((LevelKind.PWL,), -1),
    "ib.high": ((LevelKind.IB_HIGH,), +1),
    "ib.low": ((LevelKind.IB_LOW,), -1),
    "ib.mid": ((LevelKind.IB_MID,), 0),
    "midnight_open": ((LevelKind.MIDNIGHT_OPEN,), 0),
    "daily_open": ((LevelKind.DAILY_OPEN,), 0),
    "weekly_open": ((LevelKind.WEEKLY_OPEN,), 0),
    "ny_open": ((LevelKind.NY_OPEN,), 0),
    "swing.high": ((LevelKind.SWING_HIGH,), +1),
    "swing.low": ((LevelKind.SWING_LOW,), -1),
    "equal.highs": ((LevelKind.EQUAL_HIGHS,), +1),
    "equal.lows": ((LevelKind.EQUAL_LOWS,), -1),
}

_OPPOSITES = {
    "pdh": "pdl", "pwh": "pwl", "swing.high": "swing.low", "equal.highs": "equal.lows",
}
_OPPOSITES.update({v: k for k, v in _OPPOSITES.items()})


@dataclass(frozen=True)
class LevelRef:
    """A level name resolved: which LEVEL/SWEEP ``sub`` values it matches, and its side.

    ``side`` is +1 for buy-side liquidity (a high), -1 for sell-side (a low), 0 for a
    two-sided price (an open, the IB mid) that cannot be swept. ``window`` narrows
    SESSION_HIGH/LOW to one custom window; ``latest_session`` means "whichever session
    completed most recently" (``prior_session.*``).
    """

    name: str
    kinds: tuple[LevelKind, ...]
    side: int
    window: str | None = None
    latest_session: bool = False

    @property
    def opposite(self) -> str | None:
        """The level on the other side of the same range (``asia.high`` -> ``asia.low``), if any."""
        if self.name in _OPPOSITES:
            return _OPPOSITES[self.name]
        stem, _, leaf = self.name.rpartition(".")
        if leaf in ("high", "low") and self.side != 0:
            return f"{stem}.{'low' if leaf == 'high' else 'high'}"
        return None


def level_names(windows: Iterable[str]) -> list[str]:
    """Every level name valid in a rule whose session windows are ``windows`` (for messages)."""
    names = list(_FIXED_LEVELS)
    for w in windows:
        if w != IB_WINDOW:
            names += [f"{w}.high", f"{w}.low"]
    names += ["prior_session.high", "prior_session.low"]
    return sorted(set(names))


def resolve_level(name: str, windows: Iterable[str]) -> LevelRef:
    """``name`` as a :class:`LevelRef`; ValueError says what was expected (with a "did you mean")."""
    windows = list(windows)
    if name in _FIXED_LEVELS:
        kinds, side = _FIXED_LEVELS[name]
        return LevelRef(name, kinds, side)
    stem, dot, leaf = name.partition(".")
    if dot and leaf in ("high", "low"):
        side = +1 if leaf == "high" else -1
        pick = 0 if side > 0 else 1
        if stem == "prior_session":
            kinds = tuple(pair[pick] for pair in _WINDOW_KINDS.values())
            kinds += ((LevelKind.SESSION_HIGH, LevelKind.SESSION_LOW)[pick],)
            return LevelRef(name, kinds, side, latest_session=True)
        if stem in windows and stem != IB_WINDOW:
            if stem in _WINDOW_KINDS:
                return LevelRef(name, (_WINDOW_KINDS[stem][pick],), side)
            return LevelRef(name, ((LevelKind.SESSION_HIGH, LevelKind.SESSION_LOW)[pick],), side, window=stem)
    raise ValueError(f"unknown level {name!r}{did_you_mean(name, level_names(windows))}")


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``" (did you mean 'x'?)"`` for the closest choice, or ``""`` when nothing is close."""
    close = difflib.get_close_matches(str(word)[:100], list(choices), n=1, cutoff=0.6)  # difflib is quadratic
    return f" (did you mean {close[0]!r}?)" if close else ""
