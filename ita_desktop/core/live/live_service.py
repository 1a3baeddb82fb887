"""``core.live``: builds live sessions for the faces (the CLI's ``ita live``, the window's replay).

It resolves the rules (shipped and user folders, any stored version), records the versions the
signals will point at, picks the streamed timeframe (given, or the finest stored for the symbol)
and loads the history the rules start from: every stored bar before the start (the detectors then
stand where a full pass has them, whatever the rule reads).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ita_desktop.domain.bars import Bars
from ita_desktop.domain.errors import InputError
from ita_desktop.domain.timeframes import Timeframe

if TYPE_CHECKING:
    from types import ModuleType

    from ita_desktop.core.app_core import Core
    from ita_desktop.core.live.live_session import LiveSession
    from ita_desktop.core.live.mt5_feed import MT5LiveFeed


@dataclass
class ReplayPlan:
    """A replay session and the stored bars it plays (``to_play``: from the start to the last stored bar)."""

    session: LiveSession
    to_play: Bars


class LiveService:
    def __init__(self, core: Core) -> None:
        self._core = core
        self._feeds: list[MT5LiveFeed] = []  # MT5 sessions started here (a refresh skips their symbols)
        #: set: every MT5 live feed started here stops polling and processing until ``resume`` (the tray's Pause)
        self.paused = threading.Event()

    def pause(self) -> None:
        self.paused.set()

    def resume(self) -> None:
        """The feeds poll again; the bars closed meanwhile are fetched as a gap and processed in order."""
        self.paused.clear()

    def stream_timeframe(self, symbol: str, timeframe: Timeframe | str | None) -> Timeframe:
        """``timeframe`` if given and stored, else the finest stored for ``symbol``."""
        stored = [s.timeframe for s in self._core.store.bars.series() if s.symbol == symbol]
        if not stored:
            raise InputError(f"no stored {symbol} bars; import some first: ita data import FILE --symbol {symbol}")
        if timeframe is None:
            return min(stored, key=lambda tf: tf.seconds)
        tf = Timeframe(timeframe)
        if tf not in stored:
            raise InputError(f"no stored {symbol} {tf.value} bars to stream (stored: "
                             f"{', '.join(t.value for t in stored)})", column="--timeframe")
        return tf

    def compiled_rules(self, rule_refs: list[str], symbol: str, stream_tf: Timeframe) -> list:
        """(compiled rule, stored version id) per reference; a rule finer than the stream is refused."""
        from ita_desktop.rules.engine import compile_rule

        out = []
        for ref in rule_refs:
            loaded = self._core.rules.resolve(ref)
            recorded = self._core.store.rule_versions.record(loaded.version)
            compiled = compile_rule(loaded.rule, symbol)
            if compiled.timeframe.seconds < stream_tf.seconds or compiled.timeframe.seconds % stream_tf.seconds:
                raise InputError(f"rule {loaded.rule.rule_id} runs on {compiled.timeframe.value}, which cannot be built "
                                 f"from streamed {stream_tf.value} bars", column="--timeframe")
            out.append((compiled, recorded.id))
        return out

    def replay(self, symbol: str, rule_refs: list[str], *, timeframe: Timeframe | str | None = None,
               start_utc: int | None = None, publish: bool = True, notify: bool = False) -> ReplayPlan:
        """A replay session over the stored bars of ``symbol``: history before ``start_utc`` (default: the first
        stored bar), the rest played. Its signals are stored with source ``replay``; ``notify``: they are also
        sent through the channels of the running notification sender (``core.outputs.attach``)."""
        from ita_desktop.core.live.live_session import LiveSession

        tf = self.stream_timeframe(symbol, timeframe)
        rules = self.compiled_rules(rule_refs, symbol, tf)
        bars = self._core.store.bars.load(symbol, tf)
        history = bars.between(None, start_utc) if start_utc is not None else bars.slice(0, 0)
        to_play = bars.between(start_utc, None) if start_utc is not None else bars
        if not len(to_play):
            raise InputError(f"no stored {symbol} {tf.value} bars at or after the start to replay", column="--from")
        session = LiveSession(self._core.store, self._core.bus if publish else None, symbol=symbol,
                              stream_timeframe=tf, rules=rules, history=history, source="replay", store_bars=False)
        if notify:
            self._core.outputs.attach(session)
        return ReplayPlan(session, to_play)

    def mt5(self, symbol: str, rule_refs: list[str], *, timeframe: Timeframe | str | None = None,
            module: ModuleType | None = None, publish: bool = True, source_sleep: Callable[[float], None] | None = None,
            **feed_options: object) -> MT5LiveFeed:
        """A live session on the MT5 terminal (``settings.mt5``; ``module``: the MetaTrader5 module or a
        drop-in) over the stored history of ``symbol``: its feed backfills from the last stored bar, then
        polls every ``mt5.poll_interval_ms``. Call ``run`` (this thread owns the terminal) or ``start``."""
        from ita_desktop.core.live.live_session import LiveSession
        from ita_desktop.core.live.mt5_feed import MT5LiveFeed
        from ita_desktop.data.mt5_source import MT5Source

        settings = self._core.settings.mt5
        source = MT5Source(settings, module=module, sleep=source_sleep or time.sleep)
        source.mt5  # noqa: B018  (no MetaTrader5 package: say so now, not as a retry every poll)
        tf = self.stream_timeframe(symbol, timeframe)
        rules = self.compiled_rules(rule_refs, symbol, tf)
        history = self._core.store.bars.load(symbol, tf)
        session = LiveSession(self._core.store, self._core.bus if publish else None, symbol=symbol,
                              stream_timeframe=tf, rules=rules, history=history, source="live", store_bars=True)
        self._core.outputs.attach(session)  # the running sender's channels and their events (the window's, or --notify's)
        options = {"interval_s": settings.poll_interval_ms / 1000.0, **feed_options}
        feed = MT5LiveFeed(session, source, **options)  # type: ignore[arg-type]
        feed.paused = self.paused
        self._feeds = [f for f in self._feeds if not f.session.stopped.is_set()] + [feed]
        return feed

    def running_feeds(self) -> list[MT5LiveFeed]:
        """The MT5 sessions started here that still run (the window's connection indicator)."""
        return [f for f in self._feeds if not f.session.stopped.is_set()]

    def watched_live(self, symbol: str) -> bool:
        """Is an MT5 live session running for ``symbol`` (it stores the bars itself)?"""
        return any(f.symbol == symbol and not f.session.stopped.is_set() for f in self._feeds)

    def refresh_history(self, symbol: str, timeframe: Timeframe | str, *, module: ModuleType | None = None,
                        now_utc: float | None = None) -> object | None:
        """Top ``symbol`` up from MT5, from its last stored bar to the last closed one (what the seed's
        data-refresh flow did); None when a live session stores it already or MT5 has nothing newer."""
        tf = Timeframe(timeframe)
        if self.watched_live(symbol):
            return None
        last = max((s.last_utc for s in self._core.store.bars.series() if s.symbol == symbol and s.timeframe == tf),
                   default=None)
        if last is None:
            raise InputError(f"no stored {symbol} {tf.value} bars to top up; download a range first")
        now = int(now_utc if now_utc is not None else time.time())
        end = now - now % tf.seconds  # the bar holding "now" is still forming
        if end <= last + tf.seconds:
            return None
        try:
            return self._core.ingest.download_mt5(symbol, tf, last + tf.seconds, end, module=module)
        except InputError as exc:
            if "returned no" in str(exc):  # a weekend, a holiday: nothing new
                return None
            raise

    def schedule_refresh(self, watched: list[tuple[str, Timeframe | str]], every_s: float, *,
                         module: ModuleType | None = None, run_now: bool = False,
                         clock: Callable[[], float] = time.time) -> str:
        """Refresh ``watched`` (symbol, timeframe) pairs every ``every_s`` seconds on the job engine
        (skipping symbols a live session stores); returns the schedule id (``core.jobs.unschedule``)."""
        def refresh(ctx: object) -> list:
            return [self.refresh_history(symbol, tf, module=module, now_utc=clock()) for symbol, tf in watched]

        return self._core.jobs.schedule_interval("Refresh history", refresh, every_s, key="refresh-history",
                                                 run_now=run_now)

    def signals(self, *, source: str | None = None, status: str | None = None, symbol: str | None = None) -> list:
        """Stored signals, oldest first; ``status``: a status, or ``open`` (pending, filled) / ``closed``."""
        from ita_desktop.storage.signal_store import OPEN_STATUSES, SIGNAL_STATUSES

        statuses: tuple[str, ...] | None
        if status == "open":
            statuses = OPEN_STATUSES
        elif status == "closed":
            statuses = tuple(s for s in SIGNAL_STATUSES if s not in OPEN_STATUSES)
        else:
            statuses = (status,) if status else None
        return self._core.store.signals.list(symbol=symbol, source=source, status=statuses)
