"""The events the application tells about, as frozen dataclasses of plain values.

Frozen and made of numbers and strings (no numpy arrays, no store rows), so an event can be
handed to any number of threads at once and nobody can change what another one sees. Every
event carries ``at``, the wall-clock UTC seconds it was made (for logs and notifiers).
Subscribing to a base class receives its subclasses: ``Event`` receives everything.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    at: float = field(default_factory=time.time)


# -- market data -------------------------------------------------------------------------

@dataclass(frozen=True, slots=True, kw_only=True)
class BarsStored(Event):
    """An ingest (CSV, MT5 download, demo data) wrote bars to the store."""

    symbol: str
    timeframe: str
    rows: int
    first_utc: int | None
    last_utc: int | None
    source: str  # "csv", "mt5", "demo"


@dataclass(frozen=True, slots=True, kw_only=True)
class BarClosed(Event):
    """A bar of a live or replayed feed closed (its values are final)."""

    symbol: str
    timeframe: str
    time_utc: int
    open: float
    high: float
    low: float
    close: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Tick(Event):
    symbol: str
    time_utc: float
    bid: float
    ask: float


# -- setups --------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True, kw_only=True)
class SignalRaised(Event):
    """A rule's setup completed: an occurrence is known at ``signal_utc``."""

    rule_id: str
    rule_version: str
    symbol: str
    timeframe: str
    occurrence_id: int  # the signal's row id in the store's signals table
    direction: int  # +1 long, -1 short
    signal_utc: int
    source: str = "live"  # live | replay (missed setups are stored, never raised)
    occurrence_key: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class SignalUpdated(Event):
    """A raised signal changed (its order filled, expired, was stopped or hit its target)."""

    rule_id: str
    symbol: str
    occurrence_id: int
    state: str
    time_utc: int
    occurrence_key: str = ""
    r_multiple: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedbackSaved(Event):
    """The trader saved feedback on a signal or a backtest trade (the journal), for whoever drives the core
    (a script, a test, another face). The Notion page update does not hang off it: it is an outbox row
    written in the feedback's own transaction, so it survives a crash between the two. ``target_key`` is
    the signal's occurrence key when ``target_kind`` is "signal"; the rest is in ``store.feedback.get``."""

    target_kind: str  # signal | trade
    target_key: str
    rule_id: str
    rule_version: str
    symbol: str
    signal_utc: int


# -- results -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True, kw_only=True)
class RunStored(Event):
    """A backtest run was written to the store (``run_id`` reopens it)."""

    run_id: int
    rule_id: str
    rule_version: str
    symbol: str
    timeframe: str
    trades: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviewReady(Event):
    """A review of a run or a signal (report, chart, notes) can be shown or sent."""

    subject: str  # e.g. "run 12"
    path: str = ""  # the file written, if any
    summary: str = ""


# -- jobs ------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True, kw_only=True)
class JobStarted(Event):
    job_id: int
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class JobProgressed(Event):
    job_id: int
    name: str
    fraction: float
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class JobFinished(Event):
    job_id: int
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class JobFailed(Event):
    job_id: int
    name: str
    error: str


@dataclass(frozen=True, slots=True, kw_only=True)
class JobCancelled(Event):
    job_id: int
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class KernelsProgressed(Event):
    """A kernel preparation unit (compiling numba kernels) is done: ``done`` of the ``total`` units of its
    ``group`` ("detectors", "backtest", "sweep") are, whichever preparation process compiled them."""

    group: str
    done: int
    total: int
    unit: str


@dataclass(frozen=True, slots=True, kw_only=True)
class KernelsReady(Event):
    """A group of kernels ("detectors", "backtest", "sweep"; with several preparation processes the backtest
    may be ready before the detectors, the sweep always after the backtest) is compiled and cached, or its
    preparation failed (``error``; the kernels then compile where they are first used)."""

    group: str
    error: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class NotificationAttempted(Event):
    """The outbox sender asked a channel to deliver a notification: ``outcome`` sent, retry or refused, with
    the far side's own words (``detail``); the window's notification list shows it."""

    outbox_id: int
    channel: str
    event: str  # signal, an update's status, or test
    signal_key: str
    outcome: str
    detail: str = ""
