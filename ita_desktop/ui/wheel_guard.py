"""Spin boxes and combo boxes take the mouse wheel only when they have the keyboard focus.

A trader scrolling a panel passes the pointer over Deposit or Intrabar; Qt's default would change
them (Deposit 10000 -> 9997, worst -> best) without a click. One filter object serves the whole
app: :func:`guard_wheel` puts it on every spin box and combo box under a window or dialog (the
main window, the Settings and Add data dialogs, and rows a panel adds later). An unfocused box
hands the wheel to its parents, so the panel scrolls instead.

Why not an event filter on the QApplication: it would run Python for every event of every
widget, and each call needs the GIL, which worker threads (imports, sweeps) hold most of the time:
the GUI thread then waited on the GIL for events it has nothing to do with.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QAbstractSpinBox, QApplication, QComboBox, QWidget

GUARDED = (QAbstractSpinBox, QComboBox)


class WheelGuard(QObject):
    """The filter every guarded box shares (see :func:`guard_wheel`)."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        if event.type() != QEvent.Type.Wheel or not isinstance(watched, GUARDED):
            return False
        widget: QWidget = watched
        if widget.hasFocus():
            return False
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


def _guard() -> WheelGuard:
    app = QApplication.instance()
    guard = getattr(app, "_ita_wheel_guard", None)
    if guard is None:
        guard = WheelGuard(app)
        app._ita_wheel_guard = guard
    return guard


def guard_wheel(root: QWidget) -> int:
    """Guard ``root`` (when it is a box) and every spin/combo box under it; returns how many were guarded.

    Calling it again is harmless (Qt keeps one copy of a filter per object)."""
    guard = _guard()
    boxes = [root] if isinstance(root, GUARDED) else []
    for kind in GUARDED:
        boxes += root.findChildren(kind)
    for box in boxes:
        if box.focusPolicy() == Qt.FocusPolicy.WheelFocus:
            box.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # a wheel must not give it the focus either
        box.installEventFilter(guard)
    return len(boxes)

