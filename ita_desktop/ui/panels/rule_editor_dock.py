"""The rule editor in the main window: its dock, the Rules panel's "Edit", Try's occurrences on the chart.

Installed by the window in one line (``RuleEditorDock(window, core)``) so the window keeps no
editor logic: the dock opens hidden on the right (View menu, or Edit in the Rules panel's right-click menu), Try
runs on what the chart shows, and its occurrences are drawn with their steps on the chart's
``setups`` layer. The window asks :meth:`may_close` before it closes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QDockWidget

from ita_desktop.core.rules_service import RuleChoice
from ita_desktop.ui.chart.overlays.trade_layers import setup_layer
from ita_desktop.ui.panels.rule_editor import ChartScope, RuleEditorPanel

if TYPE_CHECKING:
    from ita_desktop.core.app_core import Core
    from ita_desktop.ui.main_window import MainWindow
    from ita_desktop.workflows.rule_try import TryResult

EDITOR_WIDTH = 560


def occurrence_steps(occurrences: list, chart_time: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Every step of every occurrence as (occurrence id, chart bar, price, step name) rows, in order."""
    occ, times, price, names = [], [], [], []
    for o in occurrences:
        for step in o.steps:
            occ.append(o.id)
            times.append(step.time)
            price.append(step.price)
            names.append(step.name)
    t = np.asarray(times, np.int64)
    bars = np.clip(np.searchsorted(chart_time, t, side="right") - 1, 0, max(len(chart_time) - 1, 0)) if len(t) \
        else np.zeros(0, np.int64)
    return np.asarray(occ, np.int64), bars, np.asarray(price, np.float64), names


class RuleEditorDock(QObject):
    def __init__(self, window: MainWindow, core: Core) -> None:
        super().__init__(window)
        self.window = window
        self.panel = RuleEditorPanel(window.runner, core, self.chart_scope, dark=window.theme.name == "dark")
        self.dock = QDockWidget("Rule editor", window)
        self.dock.setObjectName("ruleEditorDock")
        self.dock.setWidget(self.panel)
        window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.dock)
        self._tabbed = False  # tabbed beside Overlays when first shown: a hidden tab would widen the window
        window.view_menu.addAction(self.dock.toggleViewAction())
        self.dock.hide()
        self.panel.tried.connect(self.draw)
        window.workbench.rules.edit_requested.connect(self.edit)

    def chart_scope(self) -> ChartScope | None:
        bars = self.window.chart.bars
        if bars is None or not len(bars):
            return None
        end = int(bars.time[-1]) + bars.timeframe.seconds
        return ChartScope(bars.symbol, bars.timeframe.value, int(bars.time[0]), end)

    def show(self) -> None:
        if not self._tabbed:  # the right column's full height, a tab beside Overlays
            self.window.tabifyDockWidget(self.window.legend_dock, self.dock)
            self._tabbed = True
        self.dock.show()
        self.dock.raise_()
        self.window.resizeDocks([self.dock], [EDITOR_WIDTH], Qt.Orientation.Horizontal)

    def edit(self, choice: RuleChoice | str) -> None:
        """Open a rule version (or a rule_id's latest) in the editor and show it."""
        if not self.panel.may_close():
            return
        if isinstance(choice, RuleChoice):
            self.panel.open_path(choice.path)
        else:
            self.panel.open_rule(choice)
        self.show()

    def draw(self, result: TryResult) -> None:
        bars = self.window.chart.bars
        if bars is None:
            return
        occ, bar, price, names = occurrence_steps(result.occurrences, bars.time)
        self.window.overlays.set_layers({"setups": setup_layer(occ, bar, price, names)})
        self.window.legend.set_checked("setups", True)

    def may_close(self) -> bool:
        ok = self.panel.may_close()
        if ok:
            self.panel.close_validator()
        return ok
