"""Spin boxes and combo boxes take the mouse wheel only when they have the keyboard focus.

A trader scrolling a panel passes the pointer over Deposit or Intrabar; Qt's default would change
them (Deposit 10000 -> 9997, worst -> best) without a click. One event filter on the application
covers every such widget in every window and dialog, present and future: an unfocused one hands
the wheel to its parent, so the panel scrolls instead.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QAbstractSpinBox, QApplication, QComboBox, QWidget


class WheelGuard(QObject):
    """The application-wide filter (see :func:`install_wheel_guard`)."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        if event.type() != QEvent.Type.Wheel or not isinstance(watched, (QAbstractSpinBox, QComboBox)):
            return False
        widget: QWidget = watched
        if widget.hasFocus():
            return False
        if widget.focusPolicy() == Qt.FocusPolicy.WheelFocus:
            widget.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # a wheel must not give it the focus either
        # hand it up the parents as Qt's own propagation would (a forwarded event is not propagated
        # by Qt), until one takes it: the enclosing scroll area scrolls
        parent = widget.parentWidget()
        while parent is not None:
            event.setAccepted(False)
            QApplication.sendEvent(parent, event)
            if event.isAccepted() or parent.isWindow():
                break
            parent = parent.parentWidget()
        return True


def install_wheel_guard(app: QApplication | None = None) -> WheelGuard:
    """Install the guard once on the application (later calls return the same one)."""
    app = app or QApplication.instance()
    guard = getattr(app, "_ita_wheel_guard", None)
    if guard is None:
        guard = WheelGuard(app)
        app.installEventFilter(guard)
        app._ita_wheel_guard = guard
    return guard
