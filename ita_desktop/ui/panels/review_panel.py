"""The vision review in the window: a Review button (Ctrl+R) on the chart, a spinner with Cancel, the
model's drawings as the "Vision review" overlay layer, and a Review dock.

The dock shows the verdict, the summary, every annotation (grounded ones drawn; the others listed
with why they were not; a click highlights one on the chart), the trade idea and risks, the
earlier reviews of the symbol (double-click: reopen and redraw) and a follow-up box whose
conversation is stored with the review. All model calls and store reads are jobs: the GUI thread
only grabs the chart picture (a few ms) and draws arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QObject, Qt, Signal
from PySide6.QtGui import QAction, QImage, QKeySequence
from PySide6.QtWidgets import (QDockWidget, QFrame, QHBoxLayout, QLabel, QLineEdit, QListWidget, QListWidgetItem,
                               QProgressBar, QPushButton, QScrollArea, QTabWidget, QTextBrowser, QVBoxLayout, QWidget)

from ita_desktop.ui.chart.overlays.review_layer import REVIEW_LAYER, review_layer
from ita_desktop.vision.model_client import ReviewFault

if TYPE_CHECKING:
    from ita_desktop.core.app_core import Core
    from ita_desktop.storage.review_records import StoredReview

PICTURE_SIZE = (1280, 720)
MIN_VISIBLE, MAX_VISIBLE = 30, 400
DOCK_WIDTH = 380


@dataclass
class ReviewFailed:
    """A review job's result when the model failed (the failure is stored; the panel shows it)."""

    kind: str
    message: str


def encode_png(image: QImage) -> bytes:
    """``image`` scaled into the fixed picture size and encoded as PNG (any thread: QImage only)."""
    scaled = image.scaled(*PICTURE_SIZE, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    scaled.save(buffer, "PNG")
    return bytes(data)


def _utc(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%d %H:%M")


class ReviewPanel(QWidget):
    """What one review said. ``annotation_clicked(index)``, ``reopen(review_id)``, ``ask(question)``, ``cancel()``."""

    annotation_clicked = Signal(int)
    reopen = Signal(int)
    ask = Signal(str)
    cancel = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("reviewPanel")
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)  # a spinner: no fraction to show while the model thinks
        self.busy.setVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(self.cancel.emit)
        self.status = QLabel("Press Review (Ctrl+R) for a vision model's second opinion on the chart.")
        self.status.setWordWrap(True)
        self.status.setMinimumWidth(120)
        self.verdict = QLabel("")
        self.verdict.setObjectName("reviewVerdict")
        self.verdict.setStyleSheet("font-weight: bold; font-size: 14px")
        self.summary = QTextBrowser()
        self.summary.setMaximumHeight(130)
        self.annotations = QListWidget()
        self.annotations.setObjectName("reviewAnnotations")
        self.annotations.currentRowChanged.connect(self._on_row)
        self.grounding = QLabel("")
        self.grounding.setWordWrap(True)
        self.earlier = QListWidget()
        self.earlier.setObjectName("earlierReviews")
        self.earlier.itemDoubleClicked.connect(lambda item: self.reopen.emit(int(item.data(Qt.ItemDataRole.UserRole))))
        self.conversation = QTextBrowser()
        self.question = QLineEdit()
        self.question.setPlaceholderText("Ask about this review, e.g. why not the order block at 1.0850?")
        self.ask_button = QPushButton("Ask")
        self.ask_button.clicked.connect(self._on_ask)
        self.question.returnPressed.connect(self._on_ask)
        top = QHBoxLayout()
        top.addWidget(self.busy, 1)
        top.addWidget(self.cancel_button)
        asking = QHBoxLayout()
        asking.addWidget(self.question, 1)
        asking.addWidget(self.ask_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.status)
        layout.addWidget(self.verdict)
        layout.addWidget(self.summary)
        layout.addWidget(QLabel("Annotations (click: highlight on the chart)"))
        layout.addWidget(self.annotations, 2)
        layout.addWidget(self.grounding)
        layout.addWidget(QLabel("Follow-up"))
        layout.addWidget(self.conversation, 1)
        layout.addLayout(asking)
        layout.addWidget(QLabel("Earlier reviews of this symbol (double-click: reopen)"))
        layout.addWidget(self.earlier, 1)
        self.set_asking_enabled(False)

    def set_busy(self, busy: bool, message: str = "") -> None:
        self.busy.setVisible(busy)
        self.cancel_button.setVisible(busy)
        if message:
            self.status.setText(message)

    def set_asking_enabled(self, on: bool) -> None:
        self.question.setEnabled(on)
        self.ask_button.setEnabled(on)

    def show_review(self, review: StoredReview) -> None:
        a, g = review.answer or {}, review.grounding or {}
        self.status.setText(f"Review {review.id} · {review.symbol} {review.timeframe} to {_utc(review.window_to)} UTC · "
                            f"{review.model} · prompt {review.prompt_version} · {review.latency_ms / 1000:.1f} s")
        self.verdict.setText(f"{a.get('bias', '?').upper()}  ·  confidence {a.get('confidence', 0):.2f}")
        idea = a.get("trade_idea")
        parts = [a.get("summary", "")]
        if idea:
            ok = (g.get("trade_idea") or {}).get("ok")
            parts.append(f"Idea: {idea['direction']} {idea['entry']} · stop {idea['stop']} · targets "
                         f"{', '.join(map(str, idea['targets']))} · invalid if {idea['invalidation']}"
                         + ("" if ok else " (NOT drawn: " + "; ".join(g["trade_idea"]["reasons"]) + ")"))
        if a.get("risks"):
            parts.append("Risks: " + "; ".join(a["risks"]))
        self.summary.setPlainText("\n\n".join(parts))
        self.annotations.blockSignals(True)
        self.annotations.clear()
        for ann, check in zip(a.get("annotations", []), g.get("annotations", [])):
            price = f"{ann['price']}" + ("" if ann.get("price2") is None else f"..{ann['price2']}")
            ref = f" → {ann['ref_id']}" if ann.get("ref_id") else ""
            text = f"{ann['kind']} {price} {ann['text']}{ref}"
            item = QListWidgetItem(text if check["ok"] else f"✗ {text}  ({'; '.join(check['reasons'])})")
            if not check["ok"]:
                item.setForeground(Qt.GlobalColor.gray)
            self.annotations.addItem(item)
        self.annotations.blockSignals(False)
        failed, checked = g.get("failed", 0), g.get("checked", 0)
        reasons = ", ".join(f"{k} {v}" for k, v in (g.get("reasons") or {}).items())
        self.grounding.setText(f"Grounding: {checked - failed} of {checked} items drawn"
                               + (f"; not drawn: {failed} ({reasons})" if failed else ""))
        self.conversation.setPlainText("\n\n".join(f"{t['role']}: {t['content']}" for t in review.conversation[1:]))
        self.set_asking_enabled(True)

    def show_failure(self, message: str) -> None:
        self.status.setText(message)
        self.verdict.setText("No review")

    def set_earlier(self, reviews: list[StoredReview]) -> None:
        self.earlier.clear()
        for r in reviews:
            what = (f"{r.answer['bias']} {r.answer['confidence']:.2f}" if r.answer else f"failed: {r.error_kind}")
            item = QListWidgetItem(f"#{r.id} {r.timeframe} to {_utc(r.window_to)} · {what} · {r.model}")
            item.setData(Qt.ItemDataRole.UserRole, r.id)
            self.earlier.addItem(item)

    def _on_row(self, row: int) -> None:
        if row >= 0:
            self.annotation_clicked.emit(row)

    def _on_ask(self) -> None:
        text = self.question.text().strip()
        if text:
            self.ask.emit(text)


class ReviewDesk(QObject):
    """Wires the Review button, jobs, overlay layer and dock to a window (known only by what it uses)."""

    drawn = Signal(int)  # review id whose drawings are on the chart
    failed = Signal(str)

    def __init__(self, host: Any, core: Core) -> None:
        super().__init__(host)
        self.host, self.core = host, core
        self.job_id: int | None = None
        self.current: StoredReview | None = None
        self._pending_draw: StoredReview | None = None
        self._tabbed = False
        self.panel = ReviewPanel()
        self.dock = QDockWidget("Review", host)
        self.dock.setObjectName("reviewDock")
        scroll = QScrollArea()  # the panel scrolls rather than forcing a minimum size on the window
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(self.panel)
        self.dock.setWidget(scroll)
        host.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.dock)
        self.dock.hide()  # shown by the first review (or View > Review): an unused dock takes no room
        host.view_menu.addAction(self.dock.toggleViewAction())
        self.review_action = QAction("Review", host, shortcut=QKeySequence("Ctrl+R"), triggered=self.start_review)
        self.review_action.setToolTip("A vision model's second opinion on the chart as shown (Ctrl+R)")
        host.chart_toolbar.addSeparator()
        host.chart_toolbar.addAction(self.review_action)
        self.panel.cancel.connect(self.cancel)
        self.panel.annotation_clicked.connect(self.highlight)
        self.panel.reopen.connect(self.reopen)
        self.panel.ask.connect(self.ask)
        host.loaded.connect(self._on_loaded)
        self.dock.visibilityChanged.connect(lambda shown: shown and self.refresh_earlier())

    # -- a new review -------------------------------------------------------------------------
    def grab(self) -> QImage:
        """The chart as shown (GUI thread: one paint into an image); scaling and PNG encoding happen in the job."""
        return self.host.chart.grab().toImage()

    def picture(self) -> bytes:
        return encode_png(self.grab())

    def start_review(self) -> None:
        chart = self.host.chart
        bars = chart.bars
        if bars is None or not len(bars) or self.job_id is not None:
            return
        first, stop = chart.visible_range()
        stop = max(min(stop, len(bars)), 1)
        count = min(max(stop - first, MIN_VISIBLE), MAX_VISIBLE)
        at = int(bars.time[stop - 1])
        symbol, timeframe = bars.symbol, bars.timeframe
        image = self.grab()
        reviews = self.core.reviews

        def job(ctx: Any) -> Any:
            png = encode_png(image)  # a QImage may be used off the GUI thread (a QPixmap may not)
            context = reviews.context(symbol, timeframe, at, visible_bars=count)
            try:
                return reviews.review(symbol, timeframe, png, context=context, check=ctx.check)
            except ReviewFault as fault:
                return ReviewFailed(fault.kind, str(fault))

        self.panel.set_busy(True, f"Asking {self.core.settings.model.name} at {reviews.model_config().host}…")
        self.reveal()
        self.review_action.setEnabled(False)
        self.job_id = self.host.runner.start(f"Review {symbol} {timeframe.value}", job, self._on_done, self._on_error,
                                             key="vision-review")

    def cancel(self) -> None:
        if self.job_id is not None:
            self.host.runner.cancel(self.job_id)

    def _end_job(self) -> None:
        self.job_id = None
        self.panel.set_busy(False)
        self.review_action.setEnabled(True)

    def _on_done(self, result: Any) -> None:
        self._end_job()
        if isinstance(result, ReviewFailed):
            self.panel.show_failure(result.message)
            self.failed.emit(result.kind)
            if result.kind == "missing_key":
                self._open_key_settings()
        else:
            self.show(result)
        self.refresh_earlier()

    def _on_error(self, message: str) -> None:
        self._end_job()
        self.panel.show_failure("Review cancelled: nothing stored." if message.endswith("cancelled") else message)
        self.failed.emit(message)

    def _open_key_settings(self) -> None:
        opener = getattr(self.host, "open_settings", None)
        if opener is None:
            return
        dialog = opener()
        tabs = dialog.findChild(QTabWidget)
        if tabs is not None:
            for k in range(tabs.count()):
                if tabs.tabText(k).startswith("Keys"):
                    tabs.setCurrentIndex(k)
        field = getattr(dialog, "secret_fields", {}).get("openai_api_key")
        if field is not None:
            field.edit.setFocus()

    # -- showing ------------------------------------------------------------------------------
    def reveal(self) -> None:
        """Show the dock, tabbed with the legend the first time (not at start-up: a hidden tabbed dock
        widened the restored window), and bring it to the front."""
        if not self.dock.isVisible() and not self._tabbed:
            self._tabbed = True
            self.host.tabifyDockWidget(self.host.legend_dock, self.dock)
            self.dock.show()
            self.host.resizeDocks([self.dock], [DOCK_WIDTH], Qt.Orientation.Horizontal)  # room for the text
        self.dock.show()
        self.dock.raise_()

    def show(self, review: StoredReview) -> None:
        self.current = review
        self.reveal()
        self.panel.show_review(review)
        self.draw()

    def draw(self, highlight: int | None = None) -> None:
        review, bars = self.current, self.host.chart.bars
        if review is None or bars is None:
            return
        if (bars.symbol, bars.timeframe.value) != (review.symbol, review.timeframe):
            self._pending_draw = review
            self.host.select(review.symbol, review.timeframe)
            return
        layer = review_layer(review.answer, review.grounding, bars.time, (review.window_from, review.window_to), highlight)
        self.host.overlays.set_layers({REVIEW_LAYER: layer})
        self.drawn.emit(review.id)

    def _on_loaded(self, *_args: Any) -> None:
        if self._pending_draw is not None:
            self.current, self._pending_draw = self._pending_draw, None
            self.draw()
        elif self.dock.isVisible():
            self.refresh_earlier()  # the window cleared every layer for the new series; list its reviews

    def highlight(self, index: int) -> None:
        self.draw(highlight=index)

    def refresh_earlier(self) -> None:
        """List the symbol's reviews (a job); not before the store is open: start-up must not wait for it."""
        bars = self.host.chart.bars
        if bars is None or self.core.store_if_open is None:
            return
        reviews, symbol = self.core.reviews, bars.symbol
        self.host.runner.start(f"List reviews of {symbol}", lambda _ctx: reviews.list(symbol), self.panel.set_earlier,
                               lambda message: self.panel.show_failure(message))

    def reopen(self, review_id: int) -> None:
        reviews = self.core.reviews
        self.host.runner.start(f"Open review {review_id}", lambda _ctx: reviews.get(review_id), self._on_reopened,
                               lambda message: self.panel.show_failure(message))

    def _on_reopened(self, review: StoredReview | None) -> None:
        if review is None or review.answer is None:
            self.panel.show_failure("That review has no answer to show" + (f": {review.error}" if review else ""))
            return
        self.show(review)

    # -- follow-up ----------------------------------------------------------------------------
    def ask(self, question: str) -> None:
        review = self.current
        if review is None or self.job_id is not None:
            return
        reviews = self.core.reviews
        self.panel.set_busy(True, "Asking the follow-up…")
        self.panel.set_asking_enabled(False)

        def job(ctx: Any) -> Any:
            try:
                reviews.follow_up(review.id, question, check=ctx.check)
            except ReviewFault as fault:
                return ReviewFailed(fault.kind, str(fault))
            return reviews.get(review.id)

        self.job_id = self.host.runner.start(f"Follow-up on review {review.id}", job, self._on_answered, self._on_error,
                                             key="vision-review")

    def _on_answered(self, result: Any) -> None:
        self._end_job()
        self.panel.set_asking_enabled(True)
        if isinstance(result, ReviewFailed):
            self.panel.show_failure(result.message)
            return
        self.current = result
        self.panel.question.clear()
        self.panel.conversation.setPlainText("\n\n".join(f"{t['role']}: {t['content']}" for t in result.conversation[1:]))
