"""A place holder that builds its widget the first time it is shown or asked for.

For the parts of the window that are hidden at start (tabs behind the current one): built with the
window, their pyqtgraph plots and tables cost tens of milliseconds of the start-up and of the first
show's polish and layout, which the GUI thread pays in one turn (issue 17: never blocked over 50 ms).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QVBoxLayout, QWidget

from ita_desktop.ui.wheel_guard import guard_wheel

W = TypeVar("W", bound=QWidget)


class LazyWidget(QWidget, Generic[W]):
    """Holds ``build()``'s widget, made on the first ``get()`` or when this place holder is first shown."""

    def __init__(self, build: Callable[[], W], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._build: Callable[[], W] | None = build
        self._widget: W | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)

    @property
    def built(self) -> bool:
        return self._widget is not None

    def get(self) -> W:
        if self._widget is None:
            assert self._build is not None
            self._widget, self._build = self._build(), None
            self.layout().addWidget(self._widget)
            self._widget.show()  # a child added to a shown parent stays hidden until told; under a hidden one it waits
            guard_wheel(self._widget)  # as the window's own boxes (the window guarded those it had when built)
        return self._widget

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt's name)
        self.get()
        super().showEvent(event)
