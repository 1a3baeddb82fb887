"""``core.live``: builds live sessions for the faces (the CLI's ``ita live``, the window's replay).

It resolves the rules (shipped and user folders, any stored version), records the versions the
signals will point at, picks the streamed timeframe (given, or the finest stored for the symbol)
and loads the history the rules start from: every stored bar before the start (the detectors then
stand where a full pass has them, whatever the rule reads).
"""

from __future__ import annotations

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
               start_utc: int | None = None, publish: bool = True) -> ReplayPlan:
        """A replay session over the stored bars of ``symbol``: history before ``start_utc`` (default: the first
        stored bar), the rest played. Its signals are stored with source ``replay``."""
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

        tf = self.stream_timeframe(symbol, timeframe)
        rules = self.compiled_rules(rule_refs, symbol, tf)
        history = self._core.store.bars.load(symbol, tf)
        session = LiveSession(self._core.store, self._core.bus if publish else None, symbol=symbol,
                              stream_timeframe=tf, rules=rules, history=history, source="live", store_bars=True)
        settings = self._core.settings.mt5
        source = MT5Source(settings, module=module, sleep=source_sleep or time.sleep)
        options = {"interval_s": settings.poll_interval_ms / 1000.0, **feed_options}
        return MT5LiveFeed(session, source, **options)  # type: ignore[arg-type]

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
