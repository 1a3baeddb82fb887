"""Colours and style sheets for the dark (default) and light themes.

The chart draws with these colours directly (pyqtgraph does not read QSS); the widgets
around it take the QSS file of the same name from resources/themes.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Theme:
    name: str
    background: str
    foreground: str
    axis: str
    grid: str
    up: str
    down: str
    crosshair: str
    demo: str
    window: str
    base: str
    text: str
    highlight: str
    placeholder: str = "#9598a1"  # hint text in empty fields: readable on ``base`` (contrast >= 4.5)
    sessions: dict[str, str] = field(default_factory=dict)  # session name -> RGBA fill


SESSION_COLORS = {
    "asia": "#7e57c2",
    "london": "#1e88e5",
    "ny_am": "#fb8c00",
    "ny_pm": "#26a69a",
}

THEMES: dict[str, Theme] = {
    "dark": Theme(
        name="dark", background="#131722", foreground="#d1d4dc", axis="#787b86", grid="#2a2e39",
        up="#26a69a", down="#ef5350", crosshair="#9598a1", demo="#ff5252",
        window="#1e222d", base="#131722", text="#d1d4dc", highlight="#2962ff",
        sessions=SESSION_COLORS,
    ),
    "light": Theme(
        name="light", background="#ffffff", foreground="#131722", axis="#5d606b", grid="#e0e3eb",
        up="#089981", down="#f23645", crosshair="#787b86", demo="#d50000",
        window="#f0f3fa", base="#ffffff", text="#131722", highlight="#2962ff", placeholder="#5d606b",
        sessions=SESSION_COLORS,
    ),
}

SESSION_ALPHA = {"dark": 40, "light": 34}


def get_theme(name: str) -> Theme:
    """The named theme; an unknown name falls back to dark with a warning (settings are user input)."""
    theme = THEMES.get(name.lower())
    if theme is None:
        log.warning("unknown ui.theme %r, using dark; themes: %s", name, ", ".join(THEMES))
        return THEMES["dark"]
    return theme


def contrast_ratio(a: str, b: str) -> float:
    """WCAG contrast ratio of two ``#rrggbb`` colours (1 to 21; 4.5 is the floor for body text)."""
    def luminance(hex_colour: str) -> float:
        c = QColor(hex_colour)
        channels = []
        for v in (c.redF(), c.greenF(), c.blueF()):
            channels.append(v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4)
        return 0.2126 * channels[0] + 0.7152 * channels[1] + 0.0722 * channels[2]

    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def resources_dir() -> Path:
    """resources/ beside the package in a checkout, or inside a PyInstaller bundle."""
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "resources"
    return Path(__file__).resolve().parents[2] / "resources"


def apply_theme(app: QApplication, theme: Theme) -> None:
    """Palette for every widget, plus the theme's QSS when the file is present."""
    palette = QPalette()
    palette.setColor(QPalette.ColorRole.Window, QColor(theme.window))
    palette.setColor(QPalette.ColorRole.WindowText, QColor(theme.text))
    palette.setColor(QPalette.ColorRole.Base, QColor(theme.base))
    palette.setColor(QPalette.ColorRole.AlternateBase, QColor(theme.window))
    palette.setColor(QPalette.ColorRole.Text, QColor(theme.text))
    palette.setColor(QPalette.ColorRole.Button, QColor(theme.window))
    palette.setColor(QPalette.ColorRole.ButtonText, QColor(theme.text))
    palette.setColor(QPalette.ColorRole.ToolTipBase, QColor(theme.window))
    palette.setColor(QPalette.ColorRole.ToolTipText, QColor(theme.text))
    palette.setColor(QPalette.ColorRole.Highlight, QColor(theme.highlight))
    palette.setColor(QPalette.ColorRole.HighlightedText, QColor("#ffffff"))
    palette.setColor(QPalette.ColorRole.PlaceholderText, QColor(theme.placeholder))
    app.setStyle("Fusion")
    app.setPalette(palette)
    qss = resources_dir() / "themes" / f"{theme.name}.qss"
    if qss.is_file():
        app.setStyleSheet(qss.read_text(encoding="utf-8"))
    else:
        log.warning("style sheet %s not found; using the palette only", qss)
        app.setStyleSheet("")
