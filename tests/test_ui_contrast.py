"""Text and check boxes readable on their background in both themes (issue 18: faint placeholders in
Add data and Settings, unchecked boxes invisible in the lists)."""

from __future__ import annotations

import re

import pytest
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication, QCheckBox, QListWidget, QListWidgetItem
from PySide6.QtCore import Qt

from ita_desktop.ui.theme import THEMES, apply_theme, contrast_ratio, resources_dir


@pytest.fixture(autouse=True)
def restore_app_look():
    """apply_theme changes the whole application: put it back for the tests that follow."""
    app = QApplication.instance()
    palette, sheet, style = app.palette(), app.styleSheet(), app.style().name()
    yield
    app.setStyle(style)
    app.setPalette(palette)
    app.setStyleSheet(sheet)


@pytest.mark.parametrize("name", list(THEMES))
def test_placeholders_have_body_text_contrast(qtbot, name):
    theme = THEMES[name]
    assert contrast_ratio(theme.placeholder, theme.base) >= 4.5
    app = QApplication.instance()
    apply_theme(app, theme)
    assert app.palette().color(QPalette.ColorRole.PlaceholderText).name() == theme.placeholder


@pytest.mark.parametrize("name", list(THEMES))
def test_unchecked_boxes_have_a_visible_border(qtbot, name):
    theme = THEMES[name]
    qss = (resources_dir() / "themes" / f"{name}.qss").read_text(encoding="utf-8")
    rule = re.search(r"QListView::indicator[^{]*\{([^}]*)\}", qss)
    assert rule, "no indicator rule for list check boxes"
    border = re.search(r"border:\s*1px solid (#[0-9a-fA-F]{6})", rule.group(1)).group(1)
    assert contrast_ratio(border, theme.base) >= 3.0  # WCAG's floor for a control's outline
    apply_theme(QApplication.instance(), theme)
    lst = QListWidget()
    qtbot.addWidget(lst)
    item = QListWidgetItem("EURUSD")
    item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable)
    item.setCheckState(Qt.CheckState.Unchecked)
    lst.addItem(item)
    box = QCheckBox("All stored data")
    qtbot.addWidget(box)
    lst.resize(200, 60)
    lst.show()
    qtbot.waitExposed(lst)
    image = lst.viewport().grab().toImage()
    rect = lst.visualItemRect(item)
    # the box's outline: some pixel in the row's first 24 px is far from the base colour
    base = image.pixelColor(rect.right() - 2, rect.center().y())
    row = [image.pixelColor(x, rect.center().y()) for x in range(rect.left(), rect.left() + 24)]
    assert max(abs(c.lightness() - base.lightness()) for c in row) > 60
