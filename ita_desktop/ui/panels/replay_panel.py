"""Bar Replay in the window, like TradingView's: symbol, timeframe and a start time; the chart shows
only the bars before the start (future bars hidden), then play, pause, step one bar and a speed from
1 bar/s to as fast as it goes. The core's replay session (``core.live.replay``) runs on its own
thread (``ReplayControl``); its bus events move the chart (LiveChartFeed) and the Signals panel.
Its signals are stored with source ``replay``; they reach the notification channels (Telegram, Notion)
only when "Send its signals" is ticked (the window's sender must be running: a channel enabled).
"""

from __future__ import annotations

from datetime import datetime, timezone

from PySide6.QtCore import QDateTime, QTimer, QTimeZone, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDateTimeEdit, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton,
                               QVBoxLayout, QWidget)

from ita_desktop.domain.display_clock import DisplayClock
from ita_desktop.domain.timeframes import Timeframe
from ita_desktop.ui.chart.chart_data import prepare_chart_data
from ita_desktop.ui.chart.live_series import growable

SPEEDS = ["1", "2", "5", "10", "30", "100", "1000", "max"]  # bars a second
DEFAULT_RULES = "asia_sweep,ib_raid"


def speed_value(text: str) -> float | None:
    return None if text == "max" else float(text)


class ReplayPanel(QWidget):
    """The Bar Replay controls; ``started`` fires once the chart shows the history and the replay is ready."""

    started = Signal()

    def __init__(self, window, core) -> None:  # MainWindow, Core
        super().__init__()
        self.window, self.core = window, core
        self.control = None  # the running ReplayControl
        self.symbol_box = QComboBox()
        self.timeframe_box = QComboBox()
        self.start_edit = QDateTimeEdit()
        self.start_edit.setTimeZone(QTimeZone.utc())
        self.start_edit.setDisplayFormat("yyyy-MM-dd HH:mm 'UTC'")
        self.start_edit.setCalendarPopup(True)
        self.rules_edit = QLineEdit(DEFAULT_RULES)
        self.speed_box = QComboBox()
        self.speed_box.addItems(SPEEDS)
        self.start_button = QPushButton("Start replay")
        self.play_button = QPushButton("Play")
        self.pause_button = QPushButton("Pause")
        self.step_button = QPushButton("Step")
        self.stop_button = QPushButton("Stop")
        self.follow_button = QPushButton("Follow latest")
        self.follow_button.setCheckable(True)
        self.follow_button.setChecked(True)
        self.status = QLabel("Pick a symbol, timeframe and start time")
        self.notify_box = QCheckBox("Send its signals to the notification channels")
        self.notify_box.setObjectName("replayNotify")

        form = QFormLayout()
        form.addRow("Symbol", self.symbol_box)
        form.addRow("Timeframe", self.timeframe_box)
        form.addRow("Start", self.start_edit)
        form.addRow("Rules", self.rules_edit)
        form.addRow("Speed (bars/s)", self.speed_box)
        form.addRow(self.notify_box)
        buttons = QHBoxLayout()
        for b in (self.start_button, self.play_button, self.pause_button, self.step_button, self.stop_button,
                  self.follow_button):
            buttons.addWidget(b)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        layout.addStretch(1)

        self.symbol_box.currentTextChanged.connect(self._list_timeframes)
        self.start_button.clicked.connect(self.start_replay)
        self.play_button.clicked.connect(self.play)
        self.pause_button.clicked.connect(self.pause)
        self.step_button.clicked.connect(self.step)
        self.stop_button.clicked.connect(self.stop)
        self.speed_box.currentTextChanged.connect(self._speed_changed)
        self.follow_button.toggled.connect(self._follow)
        self._ticker = QTimer(self)
        self._ticker.setInterval(250)
        self._ticker.timeout.connect(self._show_progress)
        self._series: list = []
        self._set_running(False)

    # -- choices ---------------------------------------------------------------------------
    def set_series(self, series: list) -> None:
        """The stored series (SeriesInfo): symbols, their timeframes and time spans."""
        self._series = list(series)
        current = self.symbol_box.currentText()
        self.symbol_box.blockSignals(True)
        self.symbol_box.clear()
        self.symbol_box.addItems(sorted({s.symbol for s in self._series}))
        self.symbol_box.blockSignals(False)
        if current:
            self.symbol_box.setCurrentText(current)
        self._list_timeframes(self.symbol_box.currentText())

    def _list_timeframes(self, symbol: str) -> None:
        infos = sorted((s for s in self._series if s.symbol == symbol), key=lambda s: s.timeframe.seconds)
        self.timeframe_box.clear()
        self.timeframe_box.addItems([s.timeframe.value for s in infos])
        if infos:
            first, last = infos[0].first_utc, infos[0].last_utc
            lo, hi = QDateTime.fromSecsSinceEpoch(first, QTimeZone.utc()), QDateTime.fromSecsSinceEpoch(last, QTimeZone.utc())
            chosen = int(self.start_edit.dateTime().toSecsSinceEpoch())
            self.start_edit.setDateTimeRange(lo, hi)
            if not first <= chosen <= last:  # a relisting keeps the trader's start; a new symbol gets its middle
                self.start_edit.setDateTime(QDateTime.fromSecsSinceEpoch(first + (last - first) // 2, QTimeZone.utc()))
            else:
                self.start_edit.setDateTime(QDateTime.fromSecsSinceEpoch(chosen, QTimeZone.utc()))

    def set_start(self, start_utc: int) -> None:
        self.start_edit.setDateTime(QDateTime.fromSecsSinceEpoch(int(start_utc), QTimeZone.utc()))

    # -- running ---------------------------------------------------------------------------
    def start_replay(self) -> None:
        """Build the replay session on a worker (rules compiled, history loaded and prepared for the chart)."""
        from ita_desktop.core.live.replay_control import ReplayControl

        self.stop()
        symbol, tf = self.symbol_box.currentText(), self.timeframe_box.currentText()
        rules = [r.strip() for r in self.rules_edit.text().split(",") if r.strip()]
        start_utc = int(self.start_edit.dateTime().toSecsSinceEpoch())
        speed = speed_value(self.speed_box.currentText())
        live, series = self.core.live, self.core.series
        chart = self.window.chart
        clock, windows = chart.session_clock, dict(chart.session_windows)
        display = DisplayClock.from_settings(self.window.settings)
        notify = self.notify_box.isChecked()

        def work(_ctx):
            plan = live.replay(symbol, rules, timeframe=tf, start_utc=start_utc, notify=notify)
            history = plan.session.streamed.bars()
            data = growable(prepare_chart_data(history, clock, windows, series.digits(symbol), display)) \
                if len(history) else None
            return ReplayControl(plan, speed), data

        when = datetime.fromtimestamp(start_utc, timezone.utc).strftime("%Y-%m-%d %H:%M")
        self.status.setText(f"Preparing the replay of {symbol} {tf} from {when} UTC…")
        self.window.runner.start(f"Bar Replay {symbol} {tf}", work, self._ready,
                                 lambda message: self.status.setText(f"Cannot start the replay: {message}"))

    def _ready(self, result) -> None:
        control, data = result
        if data is None:
            self.status.setText("No stored bars before the start: pick a later start")
            return
        self.window.show_prepared(data)
        self.window.chart.follow_latest = self.follow_button.isChecked()
        self.control = control
        control.start()
        self._set_running(True)
        self._ticker.start()
        self._show_progress()
        self.started.emit()

    def play(self) -> None:
        if self.control is not None:
            self.control.play()
            self._show_progress()

    def pause(self) -> None:
        if self.control is not None:
            self.control.pause()
            self._show_progress()

    def step(self) -> None:
        if self.control is not None:
            self.control.step()

    def stop(self) -> None:
        if self.control is not None:
            self.control.stop()
            self.control = None
        self._ticker.stop()
        self._set_running(False)

    def _speed_changed(self, text: str) -> None:
        if self.control is not None:
            self.control.set_speed(speed_value(text))

    def _follow(self, on: bool) -> None:
        self.window.chart.follow_latest = on
        if on:
            self.window.chart.go_end()

    def _set_running(self, running: bool) -> None:
        for b in (self.play_button, self.pause_button, self.step_button, self.stop_button):
            b.setEnabled(running)

    def _show_progress(self) -> None:
        c = self.control
        if c is None:
            return
        if c.error is not None:
            self.status.setText(f"Replay stopped: {c.error}")
            self._ticker.stop()
            return
        state = "finished" if c.finished.is_set() else "paused" if c.paused else "playing"
        signals = len(c.total.raised)
        self.status.setText(f"Replay {state} · {c.played:,} bars played, {c.remaining:,} to go · "
                            f"{signals} replay signal{'s' if signals != 1 else ''}")
        if c.finished.is_set():
            self._ticker.stop()
