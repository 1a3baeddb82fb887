"""The overlay legend: a compact checkable list, one row per chart layer, with its object count.

Checking a row only flips the layer's visibility (the shapes are already built), so toggling
is instant however many objects a layer holds.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QWidget

from ita_desktop.ui.chart.overlays import LAYERS, OverlaySet

SESSIONS = "sessions"


class LegendPanel(QListWidget):
    """Rows for session shading and every overlay layer. ``toggled(name, on)`` after a change."""

    toggled = Signal(str, bool)

    def __init__(self, overlays: OverlaySet, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("overlayLegend")
        self.overlays = overlays
        self._rows: dict[str, QListWidgetItem] = {}
        self._titles: dict[str, str] = {SESSIONS: "Session shading"}
        self._filters: dict[str, str] = {}
        self._tips: dict[str, str] = {}
        self._approx = False  # some levels are not exact (only coarse bars stored)
        self._add(SESSIONS, overlays.chart.layer(SESSIONS).isVisible())
        for spec in LAYERS:
            self._titles[spec.name] = spec.title
            self._add(spec.name, overlays.visible[spec.name])
            self._rows[spec.name].setToolTip(spec.tip)
            self._tips[spec.name] = spec.tip
        self.itemChanged.connect(self._on_item_changed)
        overlays.visibility_changed.connect(self._sync)

    def _add(self, name: str, on: bool) -> None:
        item = QListWidgetItem(self._titles[name])
        item.setData(Qt.ItemDataRole.UserRole, name)
        item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable)
        item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
        self.addItem(item)
        self._rows[name] = item

    def row_of(self, name: str) -> QListWidgetItem:
        return self._rows[name]

    def is_checked(self, name: str) -> bool:
        return self._rows[name].checkState() == Qt.CheckState.Checked

    def set_checked(self, name: str, on: bool) -> None:
        """Check or uncheck a row as a click would (the layer follows)."""
        self._rows[name].setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)

    def set_counts(self, counts: dict[str, int]) -> None:
        """Show how many objects each layer holds for the series on the chart."""
        for name, item in self._rows.items():
            count = counts.get(name)
            total = counts.get(f"{name}_total")
            if count is None:
                item.setText(self._titles[name])
            elif total is not None and total != count:
                item.setText(f"{self._titles[name]}{self._filter_text(name)}  ({count:,}/{total:,})")
                item.setToolTip(f"{count:,} drawn of {total:,} found; the size filter is in Settings > Chart")
            else:
                item.setText(f"{self._titles[name]}  ({count:,})")
            if self._approx and name in ("opens", "ib", "liquidity") and count is not None:
                item.setText("≈ " + item.text())

    def set_levels_source(self, levels_from: str, timeframe: str, inexact: dict[str, tuple[str, ...]]) -> None:
        """Say on the level layers where their levels come from, and which ones these bars cannot know
        exactly (only coarse bars stored): marked with a "≈" and named in the tooltip."""
        note = f"Levels computed from {levels_from} bars" + (f", shown on {timeframe}" if levels_from != timeframe else "")
        if inexact:
            times = sorted({t for ts in inexact.values() for t in ts})
            note += (f".\nNot exact from {levels_from} bars (a time inside a bar: {', '.join(times)}): "
                     + ", ".join(sorted(inexact)))
        for name in ("opens", "ib", "ib_ext", "liquidity", "sweeps"):
            row = self._rows.get(name)
            if row is None:
                continue
            tip = self._tips.get(name, "")
            row.setToolTip((tip + "\n" if tip else "") + note)
        self._approx = bool(inexact)

    def set_filter_text(self, name: str, text: str) -> None:
        """A display filter's words after a layer's title (``≥ 1 ATR``), so hidden objects are never a secret."""
        self._filters[name] = text

    def _filter_text(self, name: str) -> str:
        text = self._filters.get(name)
        return f" {text}" if text else ""

    def _on_item_changed(self, item: QListWidgetItem) -> None:
        name = item.data(Qt.ItemDataRole.UserRole)
        on = item.checkState() == Qt.CheckState.Checked
        if name == SESSIONS:
            if self.overlays.chart.layer(SESSIONS).isVisible() != on:
                self.overlays.chart.set_layer_visible(SESSIONS, on)
                self.toggled.emit(name, on)
        elif self.overlays.visible.get(name) != on:
            self.overlays.set_visible(name, on)
            self.toggled.emit(name, on)

    def _sync(self, name: str, on: bool) -> None:
        row = self._rows.get(name)
        if row is not None and (row.checkState() == Qt.CheckState.Checked) != on:
            self.set_checked(name, on)
