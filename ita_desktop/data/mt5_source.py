"""History from a MetaTrader 5 terminal through the MetaTrader5 Python package's API.

The module is a parameter: the official ``MetaTrader5`` package on Windows, an ``mt5linux``
connection under Wine, or a stand-in in tests all expose the same functions. The terminal
talks over IPC that drops and times out, so every call reconnects with exponential back-off on
the IPC result codes; anything else (bad symbol, wrong password) fails at once with MT5's code.

MT5 labels broker server time as if it were UTC. Requests are made in server time and the
answers converted to real UTC with the configured ServerClock before they become Bars.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timezone
from types import ModuleType
from typing import Any

import numpy as np

from ita_desktop import secrets
from ita_desktop.config import MT5Settings
from ita_desktop.domain.bars import Bars
from ita_desktop.domain.clock import ServerClock
from ita_desktop.data.mt5_history_checks import Gap, missing_finding, open_market_gaps, place_in_utc
from ita_desktop.domain.errors import InputError, ItaError, SourceError
from ita_desktop.domain.ingest import Finding
from ita_desktop.domain.timeframes import Timeframe

log = logging.getLogger(__name__)

# The package's documented result arrays.
RATES_DTYPE = np.dtype([
    ("time", "<i8"), ("open", "<f8"), ("high", "<f8"), ("low", "<f8"), ("close", "<f8"),
    ("tick_volume", "<u8"), ("spread", "<i4"), ("real_volume", "<u8"),
])
TICKS_DTYPE = np.dtype([
    ("time", "<i8"), ("bid", "<f8"), ("ask", "<f8"), ("last", "<f8"), ("volume", "<u8"),
    ("time_msc", "<i8"), ("flags", "<u4"), ("volume_real", "<f8"),
])

# The package's documented result codes (mt5.last_error()[0]).
RES_S_OK = 1
RES_E_AUTH_FAILED = -6
RES_E_INTERNAL_FAIL = -10000
RES_E_INTERNAL_FAIL_TIMEOUT = -10005
# -10000 .. -10005: internal / send / receive / init / connect / timeout. Only these are worth a reconnect.
IPC_FAILURES = frozenset(range(RES_E_INTERNAL_FAIL_TIMEOUT, RES_E_INTERNAL_FAIL + 1))
COPY_TICKS_ALL = -1

CHUNK_REASKS = 2  # a chunk short of the open market is asked again this many times (stops when answers repeat)
REASK_WAIT_S = 1.0  # first wait before a re-ask, doubling: a terminal syncing history needs a moment
TICK_CHUNK_SECONDS = 86_400  # a day of ticks per request: a few hundred thousand rows at most
MAX_BACKOFF_S = 60.0

Progress = Callable[[int, int], None]
Cancel = Callable[[], bool]


class DownloadCancelled(ItaError):
    """The cancel check said stop. ``partial`` holds what the finished chunks gave (Bars, or a tick
    array for fetch_ticks), so the caller decides whether to keep it; nothing is stored here."""

    def __init__(self, what: str, done: int, total: int, partial: Any) -> None:
        self.partial = partial
        super().__init__(f"download of {what} cancelled after {done} of {total} chunks")


class _IpcFailure(Exception):
    """One failed attempt on the IPC link; turned into a reconnect, or a SourceError when attempts run out."""

    def __init__(self, code: int, message: str) -> None:
        self.code, self.message = code, message
        super().__init__(message)


def load_mt5_module() -> ModuleType:
    """The official package, imported only when a terminal is actually used."""
    try:
        import MetaTrader5  # type: ignore[import-not-found]
    except ImportError as exc:
        raise SourceError(
            "the MetaTrader5 Python package is not installed; it exists for Windows only "
            "(pip install MetaTrader5). Elsewhere pass an mt5linux connection as the module."
        ) from exc
    return MetaTrader5


class MT5Source:
    """A connection to one terminal. Use as a context manager, or call connect() and close()."""

    def __init__(
        self,
        settings: MT5Settings,
        *,
        module: Any = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.clock = ServerClock.parse(settings.server_tz)
        self._mt5 = module
        self._sleep = sleep
        self._connected = False
        self.findings: list[Finding] = []  # what the last fetch_bars / fetch_latest found (short chunks, clock folds)

    # -- connection ---------------------------------------------------------------------

    @property
    def mt5(self) -> Any:
        if self._mt5 is None:
            self._mt5 = load_mt5_module()
        return self._mt5

    def __enter__(self) -> "MT5Source":
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def connect(self) -> None:
        """Open the IPC link (retrying IPC failures); wrong credentials fail at once."""
        self._retrying("initialize", lambda: None)

    def close(self) -> None:
        if self._connected:
            self._shutdown_quietly()

    def _initialize(self) -> None:
        s = self.settings
        args: list[Any] = [s.terminal_path] if s.terminal_path else []
        kwargs: dict[str, Any] = {"timeout": s.timeout_ms}
        if s.login:
            password = secrets.get_secret("mt5_password")
            if not password:
                raise SourceError(f"MT5 login {s.login} is configured but no password is stored; run `ita secret set mt5_password`")
            kwargs.update(login=s.login, password=password, server=s.server)
        ok = self._invoke(self.mt5.initialize, *args, **kwargs)
        if not ok:
            code, message = self._last_error()
            self._shutdown_quietly()
            if code in IPC_FAILURES:
                raise _IpcFailure(code, message)
            hint = " (check login, server and the stored mt5_password)" if code == RES_E_AUTH_FAILED else ""
            raise SourceError(f"MetaTrader 5 refused the connection: {message}{hint}", code=code)
        self._connected = True

    def _shutdown_quietly(self) -> None:
        """Drop the link so the next call initializes afresh, as the package wants after a failure."""
        self._connected = False
        try:
            self.mt5.shutdown()
        except (OSError, EOFError):
            pass  # the link is already gone; nothing left to close

    def _invoke(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call the module; a broken remote link (mt5linux raises instead of returning None) is an IPC failure."""
        try:
            return fn(*args, **kwargs)
        except (OSError, EOFError) as exc:
            code = RES_E_INTERNAL_FAIL_TIMEOUT if isinstance(exc, TimeoutError) else RES_E_INTERNAL_FAIL
            raise _IpcFailure(code, f"{type(exc).__name__}: {exc}") from exc
        except Exception as exc:  # a bridge (mt5linux, rpyc) may raise anything; the trader gets a message
            name = getattr(fn, "__name__", "call")
            raise SourceError(f"the MetaTrader 5 module raised {type(exc).__name__} in {name}: {_short(exc)}") from exc

    def _last_error(self) -> tuple[int, str]:
        """MT5's (code, message); a broken link, or an answer that is not a pair, counts as an IPC failure."""
        try:
            answer = self.mt5.last_error()
        except (OSError, EOFError) as exc:
            return RES_E_INTERNAL_FAIL, f"{type(exc).__name__}: {exc}"
        except Exception as exc:
            return RES_E_INTERNAL_FAIL, f"last_error() raised {type(exc).__name__}: {_short(exc)}"
        try:
            code, message = answer
            return int(code), str(message)
        except (TypeError, ValueError):
            return RES_E_INTERNAL_FAIL, f"the terminal failed and last_error() gave no code ({_short(answer)})"

    def _retrying(self, what: str, attempt: Callable[[], Any]) -> Any:
        """Run attempt() on a live link; on IPC failure wait (doubling), reconnect and run it again."""
        reconnects = self.settings.reconnect_attempts
        failure: _IpcFailure | None = None
        for n in range(reconnects + 1):
            if n:
                delay = min(self.settings.reconnect_backoff_s * 2 ** (n - 1), MAX_BACKOFF_S)
                log.warning("MT5 %s failed (%s, code %s); reconnect %d/%d in %.1f s",
                            what, failure.message, failure.code, n, reconnects, delay)  # type: ignore[union-attr]
                self._sleep(delay)
            try:
                if not self._connected:
                    self._initialize()
                return attempt()
            except _IpcFailure as exc:
                self._shutdown_quietly()
                failure = exc
        assert failure is not None
        raise SourceError(
            f"MetaTrader 5 terminal did not answer {what} after {reconnects + 1} tries: {failure.message}",
            code=failure.code,
        )

    def _call(self, what: str, fn_name: str, *args: Any) -> Any:
        """A data call: None with an IPC code retries, None with another error code raises,
        None with RES_S_OK (nothing there) is returned as None."""

        def attempt() -> Any:
            result = self._invoke(getattr(self.mt5, fn_name), *args)
            if result is None:
                code, message = self._last_error()
                if code in IPC_FAILURES:
                    raise _IpcFailure(code, message)
                if code != RES_S_OK:
                    raise SourceError(f"MetaTrader 5 {what}: {message}", code=code)
            return result

        return self._retrying(what, attempt)

    # -- symbols ------------------------------------------------------------------------

    def symbol_point(self, symbol: str) -> float:
        """Make sure the terminal serves ``symbol`` (select it into Market Watch) and return its point."""
        info = self._call(f"symbol_info({symbol})", "symbol_info", symbol)
        if info is None:
            raise SourceError(f"symbol {symbol} is not known to the MetaTrader 5 terminal")
        if not info.visible:
            selected = self._retrying(f"symbol_select({symbol})", lambda: self._invoke(self.mt5.symbol_select, symbol, True))
            if not selected:
                code, message = self._last_error()
                raise SourceError(f"could not select {symbol} in Market Watch: {message}", code=code)
        return float(info.point)

    # -- bars ---------------------------------------------------------------------------

    def fetch_bars(
        self,
        symbol: str,
        timeframe: Timeframe,
        start_utc: int,
        end_utc: int,
        *,
        progress: Progress | None = None,
        cancel: Cancel | None = None,
    ) -> Bars:
        """Bars with start_utc <= time < end_utc, fetched in history_chunk_days pieces."""
        chunks = self._server_chunks(start_utc, end_utc, self.settings.history_chunk_days * 86_400)
        self._prepare(symbol)
        tf_constant = self._tf_constant(timeframe)
        label = f"copy_rates_range({symbol}, {timeframe.value})"

        def ask(a: int, b: int) -> np.ndarray:
            rates = self._call(label, "copy_rates_range", symbol, tf_constant, _server_datetime(a), _server_datetime(b))
            if rates is None or not len(rates):
                return np.empty(0, RATES_DTYPE)
            rates = _conform(rates, RATES_DTYPE, "copy_rates_range")
            return rates[(rates["time"] >= a) & (rates["time"] < b)]  # the range is inclusive: drop the border bar

        gaps: list[Gap] = []

        def fetch(a: int, b: int) -> np.ndarray | None:
            rates = self._ask_until_complete(ask, a, b, timeframe, gaps)
            return rates if len(rates) else None

        self.findings = []
        parts = self._download(f"{symbol} {timeframe.value}", chunks, fetch,
                               lambda done: self._rates_to_bars(symbol, timeframe, done, start_utc, end_utc),
                               progress, cancel)
        bars = self._rates_to_bars(symbol, timeframe, parts, start_utc, end_utc)
        lo, hi = start_utc, end_utc
        inside = [g for g in gaps if g.end > lo and g.start < hi]
        finding = missing_finding(inside, timeframe.value, CHUNK_REASKS)
        if finding is not None:
            log.warning("MT5 %s %s: %s", symbol, timeframe.value, finding.message)
            self.findings.append(finding)
        return bars

    def _ask_until_complete(self, ask: Callable[[int, int], np.ndarray], a: int, b: int,
                            timeframe: Timeframe, gaps: list[Gap]) -> np.ndarray:
        """Ask for server range [a, b) and again while the answer misses open-market time (a terminal
        still loading history answers short with code OK); keep the fullest answer, note its gaps."""
        checked = timeframe.minutes <= Timeframe.D1.minutes
        lo, hi = (int(t) for t in self.clock.to_utc(np.array([a, b])))
        best = ask(a, b)
        if not checked:
            return best
        best_gaps = open_market_gaps(self._placed_times(best), lo, hi, timeframe.seconds)
        for n in range(CHUNK_REASKS):
            if not best_gaps:
                break
            log.info("MT5 answer for server %s..%s is short (%d gap(s)); asking again", a, b, len(best_gaps))
            self._sleep(REASK_WAIT_S * 2 ** n)
            again = ask(a, b)
            if len(again) <= len(best):
                if len(again) == len(best) and np.array_equal(again["time"], best["time"]):
                    break  # the same answer twice: that is what the terminal holds
                continue
            best = again
            best_gaps = open_market_gaps(self._placed_times(best), lo, hi, timeframe.seconds)
        gaps.extend(best_gaps)
        return best

    def _placed_times(self, rates: np.ndarray) -> np.ndarray:
        placed = place_in_utc([rates["time"]], self.clock)
        return placed.utc[placed.keep]

    def fetch_latest(self, symbol: str, timeframe: Timeframe, count: int) -> Bars:
        """The newest ``count`` bars (the last one may still be forming), for live refresh."""
        self._prepare(symbol)
        rates = self._call(f"copy_rates_from_pos({symbol}, {timeframe.value})", "copy_rates_from_pos",
                           symbol, self._tf_constant(timeframe), 0, count)
        parts = [] if rates is None or not len(rates) else [_conform(rates, RATES_DTYPE, "copy_rates_from_pos")]
        self.findings = []
        return self._rates_to_bars(symbol, timeframe, parts, None, None)

    def _prepare(self, symbol: str) -> None:
        """Connect and make sure the terminal serves the symbol before asking for its history."""
        self.connect()
        self.symbol_point(symbol)

    def _tf_constant(self, timeframe: Timeframe) -> int:
        return int(getattr(self.mt5, f"TIMEFRAME_{timeframe.value}", timeframe.mt5_constant))

    def _server_chunks(self, start_utc: int, end_utc: int, span: int) -> list[tuple[int, int]]:
        """[start, end) in real UTC as half-open pieces of server time, the clock MT5 is asked in."""
        if end_utc < start_utc:
            raise InputError(f"download range ends ({end_utc}) before it starts ({start_utc})")
        server_from, server_to = (int(t) for t in self.clock.to_server(np.array([start_utc, end_utc])))
        # a range that ends after clocks went back holds labels above the end's own label: ask up to the
        # largest offset in the range (bars past the end are dropped after placement)
        samples = np.r_[np.arange(start_utc, end_utc, 3600, dtype=np.int64), end_utc]
        offsets = self.clock.to_server(samples) - samples
        server_to += max(0, int(offsets.max()) - int(offsets[-1]))
        edges = list(range(server_from, server_to, max(span, 1))) + [server_to]
        return [(a, b) for a, b in zip(edges[:-1], edges[1:]) if b > a]

    def _download(
        self,
        label: str,
        chunks: list[tuple[int, int]],
        fetch: Callable[[int, int], np.ndarray | None],
        partial: Callable[[list[np.ndarray]], Any],
        progress: Progress | None,
        cancel: Cancel | None,
    ) -> list[np.ndarray]:
        """Fetch chunk by chunk, reporting (done, total) and checking cancel before each request."""
        parts: list[np.ndarray] = []
        for i, (a, b) in enumerate(chunks):
            if cancel is not None and cancel():
                raise DownloadCancelled(label, i, len(chunks), partial(parts))
            part = fetch(a, b)
            if part is not None:
                parts.append(part)
            log.debug("MT5 %s chunk %d/%d done", label, i + 1, len(chunks))
            if progress is not None:
                progress(i + 1, len(chunks))
        return parts

    def _rates_to_bars(self, symbol: str, timeframe: Timeframe, parts: list[np.ndarray],
                       start_utc: int | None, end_utc: int | None) -> Bars:
        if not parts:
            return Bars.empty(symbol, timeframe)
        placement = place_in_utc([p["time"] for p in parts], self.clock)
        for finding in placement.findings:
            log.warning("MT5 %s %s: %s", symbol, timeframe.value, finding.message)
        self.findings.extend(placement.findings)
        rates = np.concatenate(parts)[placement.keep]
        utc = placement.utc[placement.keep]
        order = np.argsort(utc, kind="stable")
        times, rates = utc[order], rates[order]
        bars = Bars.from_columns(symbol, timeframe, {
            "time": times,
            "open": rates["open"], "high": rates["high"], "low": rates["low"], "close": rates["close"],
            "tick_volume": rates["tick_volume"].astype(np.int64),
            "spread": rates["spread"],
        })
        return bars.between(start_utc, end_utc)

    # -- live polling ---------------------------------------------------------------------

    def last_tick(self, symbol: str) -> tuple[int, float, float] | None:
        """The symbol's last tick as (time_msc in real UTC, bid, ask); None if the terminal has none.

        ``symbol_info_tick`` answers None until the symbol is in Market Watch: it is selected then
        and asked once more."""
        def ask() -> Any:
            tick = self._invoke(self.mt5.symbol_info_tick, symbol)
            if tick is None:
                code, message = self._last_error()
                if code in IPC_FAILURES:
                    raise _IpcFailure(code, message)
            return tick

        tick = self._retrying(f"symbol_info_tick({symbol})", ask)
        if tick is None:
            self.symbol_point(symbol)  # selects it into Market Watch
            tick = self._retrying(f"symbol_info_tick({symbol})", ask)
        if tick is None:
            return None
        msc = int(tick.time_msc)
        utc = int(self.clock.to_utc(np.array([msc // 1000]))[0])
        return utc * 1000 + msc % 1000, float(tick.bid), float(tick.ask)

    def ticks_since(self, symbol: str, after_msc_utc: int, count: int = 100_000) -> np.ndarray:
        """Ticks with time_msc > ``after_msc_utc`` (real UTC ms), oldest first, as TICKS_DTYPE in real UTC
        (``copy_ticks_from``, asked from the server-clock second holding ``after_msc_utc``)."""
        flags = getattr(self.mt5, "COPY_TICKS_ALL", COPY_TICKS_ALL)
        server_from = int(self.clock.to_server(np.array([after_msc_utc // 1000]))[0])
        ticks = self._call(f"copy_ticks_from({symbol})", "copy_ticks_from", symbol, _server_datetime(server_from),
                           count, flags)
        if ticks is None or not len(ticks):
            return np.empty(0, TICKS_DTYPE)
        ticks = self._ticks_to_utc([_conform(ticks, TICKS_DTYPE, "copy_ticks_from")])
        return ticks[ticks["time_msc"] > after_msc_utc]

    # -- ticks --------------------------------------------------------------------------

    def fetch_ticks(
        self,
        symbol: str,
        start_utc: int,
        end_utc: int,
        *,
        progress: Progress | None = None,
        cancel: Cancel | None = None,
    ) -> np.ndarray:
        """All ticks with start_utc <= time < end_utc as TICKS_DTYPE, ``time`` and ``time_msc`` in real UTC."""
        chunks = self._server_chunks(start_utc, end_utc, TICK_CHUNK_SECONDS)
        self._prepare(symbol)
        flags = getattr(self.mt5, "COPY_TICKS_ALL", COPY_TICKS_ALL)

        def ask(a: int, b: int) -> np.ndarray:
            ticks = self._call(f"copy_ticks_range({symbol})", "copy_ticks_range",
                               symbol, _server_datetime(a), _server_datetime(b), flags)
            if ticks is None or not len(ticks):
                return np.empty(0, TICKS_DTYPE)
            ticks = _conform(ticks, TICKS_DTYPE, "copy_ticks_range")
            msc = ticks["time_msc"]
            return ticks[(msc >= a * 1000) & (msc < b * 1000)]

        gaps: list[Gap] = []

        def fetch(a: int, b: int) -> np.ndarray | None:
            ticks = self._ask_until_complete(ask, a, b, Timeframe.M1, gaps)  # judged as the M1 bars they make
            return ticks if len(ticks) else None

        self.findings = []
        parts = self._download(f"{symbol} ticks", chunks, fetch, self._ticks_to_utc, progress, cancel)
        ticks = self._ticks_to_utc(parts)
        keep = (ticks["time_msc"] >= start_utc * 1000) & (ticks["time_msc"] < end_utc * 1000)
        finding = missing_finding([g for g in gaps if g.end > start_utc and g.start < end_utc], "tick (as M1)",
                                  CHUNK_REASKS)
        if finding is not None:
            log.warning("MT5 %s ticks: %s", symbol, finding.message)
            self.findings.append(finding)
        return ticks[keep]

    def _ticks_to_utc(self, parts: list[np.ndarray]) -> np.ndarray:
        ticks = np.concatenate([np.empty(0, TICKS_DTYPE), *parts])
        seconds = ticks["time_msc"] // 1000
        utc = self.clock.to_utc(seconds)
        ticks["time_msc"] = utc * 1000 + ticks["time_msc"] % 1000
        ticks["time"] = utc
        return ticks[np.argsort(ticks["time_msc"], kind="stable")]

    def fetch_tick_bars(
        self,
        symbol: str,
        start_utc: int,
        end_utc: int,
        *,
        progress: Progress | None = None,
        cancel: Cancel | None = None,
    ) -> Bars:
        """M1 bars built from ticks (see ticks_to_m1): for brokers whose M1 history is short or gappy."""
        ticks = self.fetch_ticks(symbol, start_utc, end_utc, progress=progress, cancel=cancel)
        return ticks_to_m1(ticks, self.symbol_point(symbol), symbol)


def ticks_to_m1(ticks: np.ndarray, point: float, symbol: str) -> Bars:
    """Aggregate ticks (sorted by time_msc, UTC) to M1 bars.

    OHLC follow the bid, as MT5's own bars do; tick_volume is the number of ticks; spread is the
    bar's smallest ask-bid in points, like the spread field of MT5 rates. Ticks without a bid
    (trade-only updates) carry no price for the bar and are skipped.
    """
    ticks = ticks[ticks["bid"] > 0]
    if not len(ticks):
        return Bars.empty(symbol, Timeframe.M1)
    bid = ticks["bid"]
    minute = ticks["time_msc"] // 60_000 * 60
    starts = np.flatnonzero(np.r_[True, minute[1:] != minute[:-1]])
    ends = np.r_[starts[1:], len(ticks)]
    spread_points = np.rint(np.maximum(ticks["ask"] - bid, 0.0) / point)
    return Bars.from_columns(symbol, Timeframe.M1, {
        "time": minute[starts],
        "open": bid[starts],
        "high": np.maximum.reduceat(bid, starts),
        "low": np.minimum.reduceat(bid, starts),
        "close": bid[ends - 1],
        "tick_volume": ends - starts,
        "spread": np.minimum.reduceat(spread_points, starts).astype(np.int32),
    })


def _short(value: object, limit: int = 200) -> str:
    """Text of an exception or answer, cut so a bridge's huge message cannot flood the log or a dialog."""
    text = str(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


def _server_datetime(server_seconds: int) -> datetime:
    """MT5 reads a range bound's wall clock as its server time; a UTC datetime carries it unshifted."""
    return datetime.fromtimestamp(server_seconds, timezone.utc)


def _conform(array: np.ndarray, dtype: np.dtype, what: str) -> np.ndarray:
    """The package's exact dtype, copied field by field by name (a bridge such as mt5linux may
    hand back another field order or width; structured casts would match fields by position)."""
    names = array.dtype.names or ()
    missing = [n for n in dtype.names if n not in names]
    if missing:
        raise SourceError(f"MetaTrader 5 {what} returned an array without {', '.join(missing)}; got fields {names}")
    out = np.empty(len(array), dtype)
    for name in dtype.names:
        out[name] = array[name]
    return out
