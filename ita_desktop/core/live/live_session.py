"""A live session: closed bars of one symbol in, stored bars and signals out, every rule advanced
incrementally on its own timeframe, and every signal followed as a paper trade.

Rules act on closed bars only. A feed (MT5 polling, a replay of stored bars) hands ``process``
the bars that closed, oldest first; ``tick`` only moves the forming bar (for the chart). For
each closed streamed bar, each rule's :class:`TimeframeBuilder` says which of its bars closed,
``LiveSetup.update`` (the detectors' step kernels and the matcher, advanced on the saved state:
the same result as a full pass) gives the occurrences signalled on it, and the paper tracker
re-simulates the open signals. A rule on a higher timeframe than the stream gets every streamed bar
too (``LiveSetup.add_fine``): its session and day levels come from them, as a full pass has them. Then, in ONE transaction, the streamed bars are merged into the
store as a ``live`` ingest (one row per session and UTC day, which each write continues) and the new
signals inserted (``BarStore.write(..., also=...)``); a replay's bars are stored already, so only its signals are written. Only signals the store did
not hold (their deterministic key is new) are raised; bars at or before the last one processed
are ignored, so a reconnect's overlap or a restart never processes a bar or raises a signal twice.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ita_desktop.backtest.costs import SimSettings
from ita_desktop.bus.event_bus import EventBus
from ita_desktop.bus.events import BarClosed, SignalRaised, SignalUpdated, Tick
from ita_desktop.core.live.bar_buffer import BarBuffer
from ita_desktop.core.live.bar_builder import ClosedBar, TimeframeBuilder
from ita_desktop.core.live.paper_trades import PaperTracker, PaperUpdate
from ita_desktop.core.live.signal_rows import occurrence_key, signal_payload, signal_record, update_payload
from ita_desktop.domain.bars import Bars
from ita_desktop.domain.ingest import ImportResult
from ita_desktop.domain.resample import bucket_starts
from ita_desktop.detectors.live_ready import make_ready
from ita_desktop.detectors.shared_detection import DetectionGroups
from ita_desktop.domain.timeframes import Timeframe
from ita_desktop.rules.engine.compiler import CompiledRule
from ita_desktop.rules.engine.runner import LiveSetup, setup_bars
from ita_desktop.storage.outbox import OutboxItem
from ita_desktop.storage.signal_store import OPEN_STATUSES, SignalRecord
from ita_desktop.storage.store import Store

log = logging.getLogger("ita.live")


@dataclass
class ActiveRule:
    """One rule in a session: its builder, its live engine, its setup bars and its paper trades."""

    compiled: CompiledRule
    version_id: int | None
    builder: TimeframeBuilder
    setup: LiveSetup
    setup_bars: BarBuffer
    tracker: PaperTracker


@dataclass
class RuleTimeframe:
    """The session's rules on one timeframe and bar clock: one builder, one buffer of their closed bars."""

    builder: TimeframeBuilder
    bars: BarBuffer
    rules: list[int] = field(default_factory=list)  # indexes in LiveSession.rules


@dataclass
class SessionStep:
    """What one call did: streamed bars taken in, signals raised (new), stored as missed, and updates."""

    bars: list[ClosedBar] = field(default_factory=list)
    raised: list[SignalRecord] = field(default_factory=list)
    missed: list[SignalRecord] = field(default_factory=list)
    updates: list[PaperUpdate] = field(default_factory=list)

    def extend(self, other: "SessionStep") -> None:
        self.bars += other.bars
        self.raised += other.raised
        self.missed += other.missed
        self.updates += other.updates


def _split_history(history: Bars, compiled: CompiledRule, stream_tf: Timeframe) -> tuple[Bars, Bars]:
    """History whose rule-timeframe buckets are complete, and the tail of a bucket still open (fed to the builder)."""
    if not len(history) or compiled.timeframe == stream_tf:
        return history, history.slice(len(history), len(history))
    starts = bucket_starts(history.time, compiled.timeframe, clock=compiled.clock)
    last = int(starts[-1])
    after = bucket_starts(np.array([history.time[-1] + stream_tf.seconds]), compiled.timeframe, clock=compiled.clock,
                          in_order=False)
    if int(after[0]) > last:
        return history, history.slice(len(history), len(history))
    cut = int(np.searchsorted(starts, last, side="left"))
    return history.slice(0, cut), history.slice(cut, len(history))


def _closed(bars: Bars, i: int) -> ClosedBar:
    return ClosedBar(int(bars.time[i]), float(bars.open[i]), float(bars.high[i]), float(bars.low[i]),
                     float(bars.close[i]), int(bars.tick_volume[i]), float(bars.spread[i]))


class LiveSession:
    """One symbol's streamed timeframe, its rules, the store and the bus. Not thread-safe: one feed
    thread calls ``tick``/``process``; ``stop`` may be called from anywhere (it sets a flag)."""

    def __init__(self, store: Store, bus: EventBus | None, *, symbol: str, stream_timeframe: Timeframe,
                 rules: list[tuple[CompiledRule, int | None]], history: Bars, source: str = "live",
                 store_bars: bool = True, sim_settings: dict[str, SimSettings] | None = None) -> None:
        if source not in ("live", "replay"):
            raise ValueError(f"a session's source is live or replay, not {source!r}")
        self.store, self.bus, self.symbol = store, bus, symbol
        self.stream_timeframe = Timeframe(stream_timeframe)
        self.source, self.store_bars = source, store_bars
        self.stopped = threading.Event()
        #: notification channels (outputs/) whose outbox rows are enqueued with each signal and update
        self.notify: tuple[str, ...] = ()
        #: the events each channel takes (``outputs.<channel>.events``); a channel not named takes every event
        self.notify_events: dict[str, frozenset[str]] = {}
        self._price_grid: dict[str, Any] | None = None
        #: the raised signals' feature vectors (learning.signal_features), by key, until their outbox rows are written
        self._features: dict[str, list[float]] = {}
        self.forming: ClosedBar | None = None
        self.streamed = BarBuffer(symbol, self.stream_timeframe, history)
        self.last_time: int | None = history.last_time
        #: (UTC day, ingest id) of the live ingest this session's closed bars of that day continue: one
        #: ``ingests`` row per session and day, not per bar; each bar and signal still names it
        self._ingest: tuple[int, int] | None = None
        self.rules: list[ActiveRule] = []
        #: rules on the same timeframe and clock share a builder and their bars, and detectors with equal
        #: keys (detectors.shared_detection): each is advanced once per bar, whatever the number of rules
        self.timeframes: dict[tuple[Timeframe, str], RuleTimeframe] = {}
        self.detections = DetectionGroups()
        self._fine: list[int] = []  # rules whose levels read the streamed bars (add_fine)
        for compiled, version_id in rules:
            self.rules.append(self._activate(compiled, version_id, history, (sim_settings or {}).get(compiled.rule.rule_id)))
        for active in self.rules:  # the first closed bar and signal cost what the others do (detectors.live_ready)
            make_ready(active.setup.det)
            active.tracker.warm()

    def _activate(self, compiled: CompiledRule, version_id: int | None, history: Bars,
                  settings: SimSettings | None) -> ActiveRule:
        from ita_desktop.workflows.rule_backtest import instrument_settings

        done, tail = _split_history(history, compiled, self.stream_timeframe)
        key = (compiled.timeframe, compiled.clock)
        group = self.timeframes.get(key)
        if group is None:
            builder = TimeframeBuilder(self.stream_timeframe, compiled.timeframe, compiled.clock)
            for i in range(len(tail)):
                assert not builder.add(_closed(tail, i))  # a bucket still open closes nothing
            sbars = setup_bars(done, compiled) if len(done) else Bars.empty(self.symbol, compiled.timeframe)
            group = self.timeframes[key] = RuleTimeframe(builder, BarBuffer(self.symbol, compiled.timeframe, sbars))
        builder, buffer = group.builder, group.bars
        setup = LiveSetup(compiled, done, shared=self.detections)
        setup.add_fine(tail)  # levels from the streamed bars: the open bucket's bars are theirs too
        if setup.det.fine_levels is not None:
            self._fine.append(len(self.rules))
        group.rules.append(len(self.rules))
        lower = self.streamed if compiled.timeframe != self.stream_timeframe else None
        tracker = PaperTracker(settings or instrument_settings(compiled), buffer, lower)
        active = ActiveRule(compiled, version_id, builder, setup, buffer, tracker)
        self._resume(active)
        return active

    def _resume(self, active: ActiveRule) -> None:
        """Follow again the stored signals of the history that were still open when the last session ended."""
        by_key = {occurrence_key(o): o for o in active.setup.occurrences if o.order is not None}
        stored = self.store.signals.get_many(list(by_key)) if by_key else {}
        for key, rec in stored.items():
            if rec.status in OPEN_STATUSES:
                o = by_key[key]
                active.tracker.follow(key, o, o.signal_bar, rec.id or 0, rec.status, rec.outcome)

    # -- the feed's calls ----------------------------------------------------------------------

    def tick(self, time_utc: float, bid: float, ask: float, forming: ClosedBar | None = None) -> None:
        """A price update: the forming bar moves (the chart draws it); rules wait for the close."""
        if forming is not None:
            self.forming = forming
        elif self.forming is not None:
            f = self.forming
            self.forming = ClosedBar(f.time, f.open, max(f.high, bid), min(f.low, bid), bid, f.tick_volume + 1, f.spread)
        if self.bus is not None:
            self.bus.publish(Tick(symbol=self.symbol, time_utc=time_utc, bid=bid, ask=ask))

    def process(self, bars: list[ClosedBar], *, missed: bool = False) -> SessionStep:
        """Take in closed streamed bars (oldest first); ``missed``: bars of a gap being filled, whose
        setups are stored as ``missed`` and not raised."""
        fresh = [b for b in bars if self.last_time is None or b.time > self.last_time]
        if len(fresh) != len(bars):
            log.debug("%s: %d bar(s) at or before %s already processed, ignored", self.symbol,
                      len(bars) - len(fresh), self.last_time)
        step = SessionStep(bars=fresh)
        records: list[tuple[SignalRecord, ActiveRule, Any, int]] = []
        kind = "missed" if missed else self.source
        advanced: set[int] = set()
        for bar in fresh:
            self.streamed.append(bar)
            self.last_time = bar.time
            for k in self._fine:
                self.rules[k].setup.add_fine(bar)  # their levels read the streamed bars
            closed = [(group, sbars) for group in self.timeframes.values() if (sbars := group.builder.add(bar))]
            if closed:  # most streamed bars close no rule bar (4 of 5 M1 bars on M5)
                records += self._close_bars(closed, kind, advanced)
        self._store(fresh, records, step)
        for k in sorted(advanced):  # paper trades move when their rule's bar closes
            step.updates += self._track(self.rules[k])
        return step

    def finish(self) -> SessionStep:
        """The end of a replay: the rules' buckets still open close as the stored bars have them."""
        step = SessionStep()
        records = self._close_bars([(group, group.builder.flush()) for group in self.timeframes.values()],
                                   self.source, set())
        self._store([], records, step)
        for active in self.rules:
            step.updates += self._track(active)
        return step

    def stop(self) -> None:
        self.stopped.set()

    def fold_bars(self) -> None:
        """When the feed stops: the closed bars kept in the store's live tail (a row each, cheap to
        append) are folded into their month chunks, so the next load reads chunks only. A failure
        loses nothing (the tail stays and is folded later), so it is only logged."""
        if not self.store_bars:
            return
        try:
            self.store.bars.compact(self.symbol, self.stream_timeframe)
        except Exception:  # noqa: BLE001 - the bars are stored either way
            log.warning("%s: could not fold the live tail into the month chunks; it stays in the tail",
                        self.symbol, exc_info=True)

    # -- internals --------------------------------------------------------------------------------

    def _close_bars(self, closed: list[tuple[RuleTimeframe, list[ClosedBar]]], kind: str,
                    advanced: set[int]) -> list[tuple[SignalRecord, ActiveRule, Any, int]]:
        """Rule bars closed by one streamed bar (or a flush), per timeframe: each is appended once and every
        rule on it takes it in turn (a shared detection's members take bar n before n + 1); the records in
        rule order, as each rule alone would give them."""
        per_rule: dict[int, list[tuple[SignalRecord, ActiveRule, Any, int]]] = {}
        for group, sbars in closed:
            for sbar in sbars:
                group.bars.append(sbar)
                for k in group.rules:
                    advanced.add(k)
                    per_rule.setdefault(k, []).extend(self._setup_bar(self.rules[k], sbar, kind))
        return [r for k in sorted(per_rule) for r in per_rule[k]]

    def _setup_bar(self, active: ActiveRule, sbar: ClosedBar, kind: str) -> list[tuple[SignalRecord, ActiveRule, Any, int]]:
        """``sbar`` (appended to the rule's bars already) through the rule's live engine."""
        out = []
        for o in active.setup.update(sbar):
            rec = signal_record(o, kind, active.version_id)
            out.append((rec, active, o, len(active.setup_bars) - 1))
            if self.notify and kind != "missed" and o.order is not None:
                self._signal_features(active, o, rec.occurrence_key)
        return out

    def _signal_features(self, active: ActiveRule, o: Any, key: str) -> None:
        """The signal's feature vector from the setup's bars (the notification's similar past setups are looked up
        with it by the sender); a failure costs only that line, never the signal."""
        try:
            from ita_desktop.learning.signal_features import live_features

            self._features[key] = live_features(active.setup, o)
        except Exception:  # noqa: BLE001 - the signal is stored and sent without its similar setups
            log.warning("%s: no feature vector for signal %s (sent without similar setups)", self.symbol, key,
                        exc_info=True)

    def _store(self, bars: list[ClosedBar], records: list[tuple[SignalRecord, ActiveRule, Any, int]],
               step: SessionStep) -> None:
        if not records and not (self.store_bars and bars):  # nothing to store: a replay's bar without a signal
            if self.bus is not None:
                for b in bars:
                    self.bus.publish(BarClosed(symbol=self.symbol, timeframe=self.stream_timeframe.value,
                                               time_utc=b.time, open=b.open, high=b.high, low=b.low, close=b.close))
            return
        recs = [r[0] for r in records]
        if self.store_bars and bars:
            fresh: list[bool] = []

            def with_signals(session: Any, ingest_id: int) -> None:
                fresh.extend(self.store.signals.insert(session, recs, ingest_id))
                self._enqueue_signals(session, recs, fresh)

            batch = Bars.from_columns(self.symbol, self.stream_timeframe, {
                c: np.array([getattr(b, c) for b in bars]) for c in ("time", "open", "high", "low", "close",
                                                                     "tick_volume", "spread")})
            result = ImportResult(path=f"live:{self.symbol}", file_hash="", source_format="mt5-live", server_tz="UTC",
                                  bars=batch, rows_read=len(batch))
            day = bars[0].time // 86_400
            ingest_id = self._ingest[1] if self._ingest is not None and self._ingest[0] == day else None
            summary = self.store.bars.write(result, symbol=self.symbol, timeframe=self.stream_timeframe, source="live",
                                            also=with_signals, ingest_id=ingest_id)
            self._ingest = (day, summary.ingest_id)
        else:
            fresh = self.store.signals.store(recs, also=lambda session, new: self._enqueue_signals(session, recs, new))
        if self.bus is not None:
            for b in bars:
                self.bus.publish(BarClosed(symbol=self.symbol, timeframe=self.stream_timeframe.value, time_utc=b.time,
                                           open=b.open, high=b.high, low=b.low, close=b.close))
        stored_before = self.store.signals.get_many([r.occurrence_key for r, new in zip(recs, fresh) if not new]) \
            if not all(fresh) else {}
        for (rec, active, o, index), new in zip(records, fresh):
            if new:
                (step.missed if rec.source == "missed" else step.raised).append(rec)
                active.tracker.follow(rec.occurrence_key, o, index, rec.id or 0)
                if rec.source != "missed" and self.bus is not None:
                    self.bus.publish(SignalRaised(rule_id=rec.rule_id, rule_version=rec.rule_version, symbol=rec.symbol,
                                                  timeframe=rec.timeframe, occurrence_id=rec.id or 0,
                                                  direction=rec.direction, signal_utc=rec.signal_time,
                                                  source=rec.source, occurrence_key=rec.occurrence_key))
                continue
            before = stored_before.get(rec.occurrence_key)
            if before is not None and before.status in OPEN_STATUSES:  # stored by an earlier session: follow it on
                active.tracker.follow(rec.occurrence_key, o, index, before.id or 0, before.status, before.outcome)
        self._features.clear()  # written with their rows (or their signals were stored before)

    def _wants(self, channel: str, event: str) -> bool:
        events = self.notify_events.get(channel)
        return events is None or event in events

    def price_grid(self) -> dict[str, Any]:
        """The symbol's digits and pip size as stored with its instrument (read once), for the notifications' prices."""
        if self._price_grid is None:
            row = self.store.instruments.get(self.symbol)
            self._price_grid = {"digits": row.digits, "pip_size": row.pip_size} if row is not None else {}
        return self._price_grid

    def _enqueue_signals(self, session: Any, recs: list[SignalRecord], fresh: list[bool]) -> None:
        """The raised signals' notifications, in the transaction that stores them (a missed or skipped one is not sent)."""
        if self.notify:
            pictures = self.store.path.parent / "signal_pictures"  # drawn by the sender (outputs/signal_picture.py)
            items = [OutboxItem(channel, "signal", rec.occurrence_key, {**signal_payload(rec), **self.price_grid(),
                                                                        **self._features_of(rec.occurrence_key)},
                                str(pictures / f"{rec.occurrence_key}.png"))
                     for rec, new in zip(recs, fresh) if new and rec.source != "missed" and rec.status != "skipped"
                     for channel in self.notify if self._wants(channel, "signal")]
            self.store.outbox.enqueue(session, items)

    def _features_of(self, key: str) -> dict[str, Any]:
        vec = self._features.get(key)
        return {"features": vec} if vec is not None else {}

    def _enqueue_update(self, session: Any, u: PaperUpdate) -> None:
        if self.notify:
            self.store.outbox.enqueue(session, [OutboxItem(channel, u.status, u.key, update_payload(u))
                                                for channel in self.notify if self._wants(channel, u.status)])

    def _track(self, active: ActiveRule) -> list[PaperUpdate]:
        updates = active.tracker.advance()
        for u in updates:
            self.store.signals.update(u.key, u.status, u.outcome,
                                      also=lambda session, u=u: self._enqueue_update(session, u))
            if self.bus is not None:
                self.bus.publish(SignalUpdated(rule_id=u.rule_id, symbol=u.symbol, occurrence_id=u.signal_id, state=u.status,
                                               time_utc=u.time_utc, occurrence_key=u.key,
                                               r_multiple=u.outcome.get("r_multiple")))
        return updates
