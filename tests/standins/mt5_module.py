"""A stand-in for the MetaTrader5 Python package, for tests: no terminal runs on Linux CI.

It follows the package's documented contract: initialize / login / shutdown / last_error /
terminal_info / version / symbol_info / symbol_select / copy_rates_range / copy_rates_from_pos /
copy_ticks_range, the TIMEFRAME_*, COPY_TICKS_*, TICK_FLAG_* and RES_* constants, the exact
numpy structured dtypes, and times as broker server time labelled UTC. It serves bars and
ticks from arrays the test gives it, and can fail the way a real terminal does.

Live mode (``live_now`` set: the terminal's clock, in server seconds, which the test moves on):
rates and ticks after it are hidden, the M1 bar holding it is the forming bar at position 0 of
``copy_rates_from_pos`` (built from the ticks so far), ``copy_ticks_from`` and
``symbol_info_tick`` serve the ticks up to it (None for a symbol not in Market Watch).
``ticks_from_rates`` builds a tick stream from real M1 bars. Faults for live mode: ``gone_until``
(the terminal is gone until its clock reaches it), ``ipc_timeouts`` set mid-stream, and
``tick_offset_s`` (the terminal's clock disagrees with the broker time zone configured).

The dtypes and codes are written out here from the package documentation on purpose, not
imported from the code under test, so a wrong constant there shows up as a failing test.

``new_module(terminal)`` builds a fresh module object per test; ``module.terminal`` steers it.
"""

from __future__ import annotations

import calendar
from collections import namedtuple
from dataclasses import dataclass, field
from datetime import datetime
from types import ModuleType
from typing import Any

import numpy as np

RATES_DTYPE = np.dtype([
    ("time", "<i8"), ("open", "<f8"), ("high", "<f8"), ("low", "<f8"), ("close", "<f8"),
    ("tick_volume", "<u8"), ("spread", "<i4"), ("real_volume", "<u8"),
])
TICKS_DTYPE = np.dtype([
    ("time", "<i8"), ("bid", "<f8"), ("ask", "<f8"), ("last", "<f8"), ("volume", "<u8"),
    ("time_msc", "<i8"), ("flags", "<u4"), ("volume_real", "<f8"),
])

CONSTANTS: dict[str, int] = {
    "TIMEFRAME_M1": 1, "TIMEFRAME_M2": 2, "TIMEFRAME_M3": 3, "TIMEFRAME_M4": 4, "TIMEFRAME_M5": 5,
    "TIMEFRAME_M6": 6, "TIMEFRAME_M10": 10, "TIMEFRAME_M12": 12, "TIMEFRAME_M15": 15, "TIMEFRAME_M20": 20,
    "TIMEFRAME_M30": 30, "TIMEFRAME_H1": 16385, "TIMEFRAME_H2": 16386, "TIMEFRAME_H3": 16387,
    "TIMEFRAME_H4": 16388, "TIMEFRAME_H6": 16390, "TIMEFRAME_H8": 16392, "TIMEFRAME_H12": 16396,
    "TIMEFRAME_D1": 16408, "TIMEFRAME_W1": 32769, "TIMEFRAME_MN1": 49153,
    "COPY_TICKS_ALL": -1, "COPY_TICKS_INFO": 1, "COPY_TICKS_TRADE": 2,
    "TICK_FLAG_BID": 2, "TICK_FLAG_ASK": 4, "TICK_FLAG_LAST": 8, "TICK_FLAG_VOLUME": 16,
    "TICK_FLAG_BUY": 32, "TICK_FLAG_SELL": 64,
    "RES_S_OK": 1, "RES_E_FAIL": -1, "RES_E_INVALID_PARAMS": -2, "RES_E_NO_MEMORY": -3,
    "RES_E_NOT_FOUND": -4, "RES_E_INVALID_VERSION": -5, "RES_E_AUTH_FAILED": -6,
    "RES_E_UNSUPPORTED": -7, "RES_E_AUTO_TRADING_DISABLED": -8,
    "RES_E_INTERNAL_FAIL": -10000, "RES_E_INTERNAL_FAIL_SEND": -10001,
    "RES_E_INTERNAL_FAIL_RECEIVE": -10002, "RES_E_INTERNAL_FAIL_INIT": -10003,
    "RES_E_INTERNAL_FAIL_CONNECT": -10004, "RES_E_INTERNAL_FAIL_TIMEOUT": -10005,
}

OK = (1, "Success")
INIT_FAILED = (-10003, "IPC initialize failed, MetaTrader 5 x64 not found")
NO_IPC = (-10004, "No IPC connection")
IPC_TIMEOUT = (-10005, "IPC timeout")
AUTH_FAILED = (-6, "Terminal: Authorization failed")
NOT_FOUND = (-4, "Terminal: Not found")
INVALID_PARAMS = (-2, "Terminal: Invalid params")

SymbolInfo = namedtuple("SymbolInfo", "name description path visible select digits point spread trade_tick_size")
TerminalInfo = namedtuple("TerminalInfo", "connected trade_allowed build name company path data_path")


def symbol(name: str, *, digits: int, visible: bool = True, spread: int = 10) -> SymbolInfo:
    point = 10.0 ** -digits
    return SymbolInfo(name, name, f"Standin\\{name}", visible, visible, digits, point, spread, point)


def rates_array(columns: dict[str, np.ndarray]) -> np.ndarray:
    """A copy_rates result from columns (time in server seconds); missing real_volume is 0."""
    n = len(columns["time"])
    out = np.zeros(n, RATES_DTYPE)
    for name in RATES_DTYPE.names:
        if name in columns:
            out[name] = columns[name]
    return out


def ticks_array(columns: dict[str, np.ndarray]) -> np.ndarray:
    """A copy_ticks result from columns; ``time`` is derived from time_msc (server ms)."""
    n = len(columns["time_msc"])
    out = np.zeros(n, TICKS_DTYPE)
    for name in TICKS_DTYPE.names:
        if name in columns:
            out[name] = columns[name]
    out["time"] = out["time_msc"] // 1000
    return out


def _seconds(value: Any) -> int:
    """Range bounds as the package takes them: datetime (read as UTC wall clock) or epoch seconds."""
    if isinstance(value, datetime):
        return calendar.timegm(value.utctimetuple()) if value.tzinfo else calendar.timegm(value.timetuple())
    return int(value)


@dataclass
class Terminal:
    """What the terminal holds and how it misbehaves. Times are server seconds labelled UTC."""

    rates: dict[tuple[str, int], np.ndarray] = field(default_factory=dict)
    ticks: dict[str, np.ndarray] = field(default_factory=dict)
    symbols: dict[str, SymbolInfo] = field(default_factory=dict)
    login: int = 0
    password: str | None = None          # when set, initialize(login=..) must bring this password
    # failure modes
    dead: bool = False                   # initialize always fails: terminal not running
    init_failures: int = 0               # the first k initialize calls fail (terminal still starting)
    ipc_timeouts: int = 0                # the first k copy_* calls return None with (-10005, 'IPC timeout')
    lose_connection_after: int | None = None  # after this many answered copy_* calls the link drops
    dead_after_loss: bool = False        # ... and the terminal never comes back
    fail_with: tuple[int, str] | None = None  # every copy_* returns None with this error
    # answer faults, consumed one per answered copy_rates_range / copy_ticks_range call (history still syncing):
    # None = a true answer, "empty" = an empty array, "none" = None, both with code OK,
    # ("first", k) / ("last", k) = only the first / last k rows of the true answer, all with code OK
    short_answers: list[Any] = field(default_factory=list)
    raise_on_copy: list[BaseException] = field(default_factory=list)  # the next copy_* calls raise these (a bridge)
    last_error_answers: list[Any] = field(default_factory=list)  # what last_error() returns next (e.g. None)
    # state the tests can read
    initialized: bool = False
    error: tuple[int, str] = OK
    calls: list[tuple[str, tuple]] = field(default_factory=list)
    init_kwargs: list[dict] = field(default_factory=list)
    answered: int = 0
    # live mode
    live_now: int | None = None          # server seconds "now": later bars and ticks do not exist yet
    gone_until: int | None = None        # the terminal is not running until live_now reaches this
    tick_offset_s: int = 0               # ticks stamped this far off the configured server clock

    def calls_to(self, name: str) -> list[tuple]:
        return [args for fn, args in self.calls if fn == name]

    # -- connection -----------------------------------------------------------------------

    def initialize(self, path: str | None = None, *, login: int | None = None, password: str | None = None,
                   server: str | None = None, timeout: int | None = None, portable: bool = False) -> bool:
        self.calls.append(("initialize", (path,)))
        self.init_kwargs.append({"path": path, "login": login, "password": password, "server": server,
                                 "timeout": timeout, "portable": portable})
        if self.dead or self.init_failures > 0 or self._gone():
            self.init_failures = max(0, self.init_failures - 1)
            self.error = INIT_FAILED
            return False
        if self.password is not None and login is not None and (login != self.login or password != self.password):
            self.error = AUTH_FAILED
            return False
        self.initialized = True
        self.error = OK
        return True

    def login_(self, login: int, password: str | None = None, server: str | None = None, timeout: int | None = None) -> bool:
        self.calls.append(("login", (login,)))
        if not self.initialized:
            self.error = NO_IPC
            return False
        if self.password is not None and (login != self.login or password != self.password):
            self.error = AUTH_FAILED
            return False
        self.error = OK
        return True

    def shutdown(self) -> None:
        self.calls.append(("shutdown", ()))
        self.initialized = False

    def last_error(self) -> tuple[int, str]:
        if self.last_error_answers:
            return self.last_error_answers.pop(0)
        return self.error

    def version(self) -> tuple[int, int, str] | None:
        if not self.initialized:
            self.error = NO_IPC
            return None
        return (500, 4410, "14 Jun 2024")

    def terminal_info(self) -> TerminalInfo | None:
        if not self.initialized:
            self.error = NO_IPC
            return None
        self.error = OK
        return TerminalInfo(True, True, 4410, "MetaTrader 5", "Standin Broker", "C:\\MT5", "C:\\MT5\\data")

    # -- symbols --------------------------------------------------------------------------

    def symbol_info(self, name: str) -> SymbolInfo | None:
        self.calls.append(("symbol_info", (name,)))
        if not self.initialized:
            self.error = NO_IPC
            return None
        if name not in self.symbols:
            self.error = NOT_FOUND
            return None
        self.error = OK
        return self.symbols[name]

    def symbol_select(self, name: str, enable: bool = True) -> bool:
        self.calls.append(("symbol_select", (name, enable)))
        if not self.initialized:
            self.error = NO_IPC
            return False
        if name not in self.symbols:
            self.error = NOT_FOUND
            return False
        self.symbols[name] = self.symbols[name]._replace(visible=enable, select=enable)
        self.error = OK
        return True

    # -- history --------------------------------------------------------------------------

    def _gone(self) -> bool:
        return self.gone_until is not None and self.live_now is not None and self.live_now < self.gone_until

    def _copy_fails(self, name: str, args: tuple) -> bool:
        """Apply the failure modes to one copy_* call; True when it must return None."""
        self.calls.append((name, args))
        if self.raise_on_copy:
            raise self.raise_on_copy.pop(0)
        if self._gone():
            self.initialized = False
        if not self.initialized:
            self.error = NO_IPC
            return True
        if self.lose_connection_after is not None and self.answered >= self.lose_connection_after:
            self.lose_connection_after = None
            self.initialized = False
            self.dead = self.dead_after_loss
            self.error = NO_IPC
            return True
        if self.ipc_timeouts > 0:
            self.ipc_timeouts -= 1
            self.error = IPC_TIMEOUT
            return True
        if self.fail_with is not None:
            self.error = self.fail_with
            return True
        return False

    def _answer(self, array: np.ndarray, faultable: bool = False) -> np.ndarray | None:
        self.answered += 1
        self.error = OK
        fault = self.short_answers.pop(0) if faultable and self.short_answers else None
        if fault == "empty":
            return array[:0].copy()
        if fault == "none":
            return None
        if isinstance(fault, tuple):
            how, k = fault
            return (array[:k] if how == "first" else array[len(array) - k:]).copy()
        return array.copy()

    def copy_rates_range(self, symbol_name: str, timeframe: int, date_from: Any, date_to: Any) -> np.ndarray | None:
        lo, hi = _seconds(date_from), _seconds(date_to)
        if self._copy_fails("copy_rates_range", (symbol_name, timeframe, lo, hi)):
            return None
        if symbol_name not in self.symbols or lo > hi:
            self.error = INVALID_PARAMS
            return None
        rates = self._live_rates(symbol_name, timeframe)
        return self._answer(rates[(rates["time"] >= lo) & (rates["time"] <= hi)], faultable=True)

    def copy_rates_from_pos(self, symbol_name: str, timeframe: int, start_pos: int, count: int) -> np.ndarray | None:
        if self._copy_fails("copy_rates_from_pos", (symbol_name, timeframe, start_pos, count)):
            return None
        if symbol_name not in self.symbols or start_pos < 0 or count < 0:
            self.error = INVALID_PARAMS
            return None
        rates = self._live_rates(symbol_name, timeframe)
        stop = len(rates) - start_pos  # position 0 is the newest bar
        return self._answer(rates[max(0, stop - count):max(0, stop)])

    def copy_ticks_range(self, symbol_name: str, date_from: Any, date_to: Any, flags: int) -> np.ndarray | None:
        lo, hi = _seconds(date_from), _seconds(date_to)
        if self._copy_fails("copy_ticks_range", (symbol_name, lo, hi, flags)):
            return None
        if symbol_name not in self.symbols or lo > hi:
            self.error = INVALID_PARAMS
            return None
        ticks = self._live_ticks(symbol_name)
        return self._answer(ticks[(ticks["time"] >= lo) & (ticks["time"] <= hi)], faultable=True)


    # -- live mode ------------------------------------------------------------------------

    def _live_ticks(self, symbol_name: str) -> np.ndarray:
        ticks = self.ticks.get(symbol_name, np.empty(0, TICKS_DTYPE))
        if self.live_now is None:
            return ticks
        ticks = ticks[ticks["time_msc"] < (self.live_now + 1) * 1000].copy()
        if self.tick_offset_s:
            ticks["time_msc"] += self.tick_offset_s * 1000
            ticks["time"] = ticks["time_msc"] // 1000
        return ticks

    def _live_rates(self, symbol_name: str, timeframe: int) -> np.ndarray:
        rates = self.rates.get((symbol_name, timeframe), np.empty(0, RATES_DTYPE))
        if self.live_now is None:
            return rates
        rates = rates[rates["time"] <= self.live_now].copy()
        if len(rates) and timeframe == CONSTANTS["TIMEFRAME_M1"] and self.live_now < rates["time"][-1] + 60:
            ticks = self.ticks.get(symbol_name, np.empty(0, TICKS_DTYPE))
            t0 = int(rates["time"][-1])
            inside = ticks[(ticks["time_msc"] >= t0 * 1000) & (ticks["time_msc"] < (self.live_now + 1) * 1000)]
            last = rates[-1]
            if len(inside):  # the forming bar as the ticks so far make it
                last["high"], last["low"], last["close"] = inside["bid"].max(), inside["bid"].min(), inside["bid"][-1]
                last["tick_volume"] = len(inside)
            else:
                last["high"] = last["low"] = last["close"] = last["open"]
            rates[-1] = last
        return rates

    def copy_ticks_from(self, symbol_name: str, date_from: Any, count: int, flags: int) -> np.ndarray | None:
        lo = _seconds(date_from)
        if self._copy_fails("copy_ticks_from", (symbol_name, lo, count, flags)):
            return None
        if symbol_name not in self.symbols or count < 0:
            self.error = INVALID_PARAMS
            return None
        ticks = self._live_ticks(symbol_name)
        return self._answer(ticks[ticks["time_msc"] >= lo * 1000][:count])

    def symbol_info_tick(self, name: str) -> Any:
        if self._copy_fails("symbol_info_tick", (name,)):
            return None
        info = self.symbols.get(name)
        if info is None or not info.visible:  # not in Market Watch: MT5 answers None
            self.error = OK
            return None
        ticks = self._live_ticks(name)
        if not len(ticks):
            return None
        self.error = OK
        return TickInfo(*(ticks[-1][k].item() for k in TICKS_DTYPE.names))


TickInfo = namedtuple("TickInfo", "time bid ask last volume time_msc flags volume_real")


def ticks_from_rates(rates: np.ndarray, point: float) -> np.ndarray:
    """A tick stream that makes these M1 bars: open, low, high, close on an up bar (high before low on
    a down bar), at 0, 20, 40 and 59.5 s into each minute; the ask is the bid plus the bar's spread."""
    n = len(rates)
    up = rates["close"] >= rates["open"]
    path = np.stack([rates["open"], np.where(up, rates["low"], rates["high"]), np.where(up, rates["high"], rates["low"]),
                     rates["close"]], axis=1).reshape(-1)
    offsets = np.tile(np.array([0, 20_000, 40_000, 59_500], np.int64), n)
    msc = np.repeat(rates["time"].astype(np.int64) * 1000, 4) + offsets
    spread = np.repeat(rates["spread"].astype(np.float64), 4) * point
    return ticks_array({"time_msc": msc, "bid": path, "ask": path + spread, "flags": np.full(4 * n, 6)})


FUNCTIONS = ("initialize", "shutdown", "last_error", "version", "terminal_info", "symbol_info",
             "symbol_select", "copy_rates_range", "copy_rates_from_pos", "copy_ticks_range", "copy_ticks_from",
             "symbol_info_tick")


def new_module(terminal: Terminal) -> ModuleType:
    """A module object shaped like ``import MetaTrader5``, backed by ``terminal``."""
    module = ModuleType("MetaTrader5", "stand-in for the MetaTrader5 package (tests only)")
    for name, value in CONSTANTS.items():
        setattr(module, name, value)
    for name in FUNCTIONS:
        setattr(module, name, getattr(terminal, name))
    module.login = terminal.login_  # type: ignore[attr-defined]  # the package's function is named login
    module.terminal = terminal  # type: ignore[attr-defined]
    return module
