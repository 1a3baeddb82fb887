"""Overlay colours per theme, by role: builders name a role, the item looks the colour up here.

Kept apart from the theme dataclass so overlays can grow roles without touching the window's
look; colours follow the chart's own up/down colours so zones read like the candles.
"""

from __future__ import annotations

from ita_desktop.ui.theme import Theme

_COMMON = {
    "opens": "#b0bec5",
    "ib": "#ba68c8",
    "buyside": "#42a5f5",
    "sellside": "#ffa726",
    "sweep": "#fdd835",
    "entry": "#90a4ae",
    "stop": "#ef5350",
    "target": "#26a69a",
    "exit": "#eceff1",
    "step": "#ffca28",
    "review": "#e040fb",  # the vision model's drawings
    "review_hi": "#ffeb3b",  # the one clicked in the Review panel
}
_DARK = {**_COMMON, "ce": "#9e9e9e", "ob_bull": "#4db6ac", "ob_bear": "#e57373"}
_LIGHT = {**_COMMON, "opens": "#546e7a", "sweep": "#f9a825", "exit": "#263238", "step": "#ff8f00",
          "ce": "#757575", "ob_bull": "#00897b", "ob_bear": "#e53935"}


def overlay_palette(theme: Theme) -> dict[str, str]:
    """Role -> colour for ``theme``; "bull"/"bear" are the candles' colours, "label" the axis text."""
    base = _LIGHT if theme.name == "light" else _DARK
    return {**base, "bull": theme.up, "bear": theme.down, "label": theme.foreground,
            "label_back": theme.background}
