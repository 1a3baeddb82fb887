"""Live MT5 sessions from the window (what ``ita live --source mt5`` runs headless): symbols, streamed
timeframe and rules, Start and Stop, and each session's state in the window's words.

Starting builds one core live session per symbol (``core.live.mt5``: rules compiled, stored history
loaded) on a worker, then starts each feed on its own thread (the one that owns the MetaTrader5
calls). Its bus events move the chart (LiveChartFeed, overlays included) and the Signals panel; the
status bar's connection indicator shows each feed. The chart shows the first symbol's stored series
BEFORE the feeds start, so every bar a feed closes after it (the backfill since the last stored bar
first) reaches the chart as a bus event and appends: none is missed between a load and the stream.
Nothing here waits on the terminal.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QComboBox, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget

from ita_desktop.ui.panels.replay_panel import DEFAULT_RULES

FINEST = "finest stored"
REFRESH_MS = 500


def feed_line(feed, bars: int = 0, raised: int = 0) -> str:  # core.live.mt5_feed.MT5LiveFeed
    """One session's line: ``EURUSD M1: connected · poll 500 ms · 12 bars closed · 1 signal`` or why it is
    not (``bars``/``raised``: closed bars processed and signals raised since the start)."""
    status, session = feed.status, feed.session
    head = f"{feed.symbol} {feed.timeframe.value}"
    if session.stopped.is_set():
        return f"{head}: stopped"
    if not status.connected:
        if not status.last_error:
            return f"{head}: connecting to the MT5 terminal…"
        return f"{head}: not connected: {status.last_error} (trying again)"
    parts = [f"{head}: connected", f"poll {status.interval_s * 1000:.0f} ms",
             f"{bars:,} bar{'s' if bars != 1 else ''} closed"]
    if raised:
        parts.append(f"{raised} signal{'s' if raised != 1 else ''}")
    if status.clock_warning:
        parts.append(f"⚠ {status.clock_warning}")
    return " · ".join(parts)


class LivePanel(QWidget):
    """MT5 live controls. ``mt5_options`` go to ``core.live.mt5`` (tests inject the MT5 stand-in module there)."""

    started = Signal()  # the feeds run
    connected = Signal(str)  # the first feed connected (symbol)

    def __init__(self, window, core) -> None:  # MainWindow, Core
        super().__init__()
        self.window, self.core = window, core
        self.mt5_options: dict[str, Any] = {}
        self.feeds: list = []
        self.counts: list[list[int]] = []
        self._announced = False
        self.symbols_edit = QLineEdit()
        self.symbols_edit.setPlaceholderText("EURUSD, XAUUSD")
        self.timeframe_box = QComboBox()
        self.timeframe_box.addItem(FINEST)
        self.rules_edit = QLineEdit(DEFAULT_RULES)
        self.start_button = QPushButton("Start live")
        self.stop_button = QPushButton("Stop")
        self.status = QLabel("Not running. Start watches the symbols on the MT5 terminal (Settings: MT5).")
        self.status.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Symbols", self.symbols_edit)
        form.addRow("Timeframe", self.timeframe_box)
        form.addRow("Rules", self.rules_edit)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.stop_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        layout.addStretch(1)
        self.start_button.clicked.connect(self.start_live)
        self.stop_button.clicked.connect(self.stop)
        self._ticker = QTimer(self)
        self._ticker.setInterval(REFRESH_MS)
        self._ticker.timeout.connect(self.refresh)
        self._set_running(False)

    def set_series(self, series: list) -> None:
        """The stored series (SeriesInfo): the timeframes offered, and the chart's symbol as the default."""
        current = self.timeframe_box.currentText()
        self.timeframe_box.clear()
        self.timeframe_box.addItem(FINEST)
        tfs = sorted({s.timeframe for s in series}, key=lambda tf: tf.seconds)
        self.timeframe_box.addItems([tf.value for tf in tfs])
        if self.timeframe_box.findText(current) >= 0:
            self.timeframe_box.setCurrentText(current)
        bars = self.window.chart.bars
        if not self.symbols_edit.text() and bars is not None:
            self.symbols_edit.setText(bars.symbol)

    @property
    def running(self) -> bool:
        return any(not f.session.stopped.is_set() for f in self.feeds)

    def start_live(self) -> None:
        """Build the sessions on a worker (rules compiled, history loaded), then start their feeds."""
        self.stop()
        self.feeds, self.counts = [], []
        symbols = [s.strip().upper() for s in self.symbols_edit.text().replace(";", ",").split(",") if s.strip()]
        rules = [r.strip() for r in self.rules_edit.text().split(",") if r.strip()]
        if not symbols:
            self.status.setText("Type the symbol(s) to watch, e.g. EURUSD")
            return
        tf = None if self.timeframe_box.currentText() == FINEST else self.timeframe_box.currentText()
        live, options = self.core.live, dict(self.mt5_options)

        def work(_ctx):
            feeds = []
            try:
                for symbol in symbols:
                    feeds.append(live.mt5(symbol, rules, timeframe=tf, **options))
            except BaseException:
                for feed in feeds:
                    feed.session.stop()
                raise
            return feeds

        self.status.setText(f"Starting MT5 live for {', '.join(symbols)}…")
        self.start_button.setEnabled(False)
        self.window.runner.start(f"MT5 live {', '.join(symbols)}", work, self._ready, self._failed)

    def _failed(self, message: str) -> None:
        self.start_button.setEnabled(True)
        self.status.setText(f"Cannot start MT5 live: {message}")

    def _ready(self, feeds: list) -> None:
        self.feeds = list(feeds)
        self._announced = False
        first = self.feeds[0]
        bars = self.window.chart.bars
        if bars is None or (bars.symbol, bars.timeframe) != (first.symbol, first.timeframe):
            self.status.setText(f"Loading {first.symbol} {first.timeframe.value} on the chart…")
            self.window.loaded.connect(self._start_feeds, Qt.ConnectionType.SingleShotConnection)
            self.window.select(first.symbol, first.timeframe)
            return
        self._start_feeds()

    def _start_feeds(self, *_loaded) -> None:
        if not self.feeds or any(f.session.stopped.is_set() for f in self.feeds):
            return  # stopped while the chart loaded
        self.counts = [[0, 0] for _ in self.feeds]  # closed bars, raised signals (the feed threads add)
        for feed, count in zip(self.feeds, self.counts):
            feed.start(on_step=lambda step, c=count: _count(c, step))
        self._set_running(True)
        self._ticker.start()
        self.refresh()
        self.started.emit()

    def refresh(self) -> None:
        """Each session's state, twice a second."""
        if not self.counts:
            return
        self.status.setText(self._lines())
        first = self.feeds[0]
        if not self._announced and first.status.connected:
            self._announced = True
            self.connected.emit(first.symbol)
        if not self.running:
            self._ticker.stop()
            self._set_running(False)

    def stop(self, join_s: float = 0.0) -> None:
        """Stop every session (their threads end at their next nap; ``join_s`` waits for them, on close)."""
        for feed in self.feeds:
            feed.session.stop()
            if join_s:
                feed.stop(join_s)
        if self.counts:
            self.status.setText(self._lines())
        self._ticker.stop()
        self._set_running(False)

    def _lines(self) -> str:
        return "\n".join(feed_line(f, *c) for f, c in zip(self.feeds, self.counts))

    def _set_running(self, running: bool) -> None:
        self.start_button.setEnabled(not running)
        self.stop_button.setEnabled(running)


def _count(count: list[int], step) -> None:  # on the feed's thread: two ints the GUI reads
    count[0] += len(step.bars)
    count[1] += len(step.raised)
