"""Paper trades: every stored signal with an order followed with the backtester's own fill rules.

Each bar that closes on a signal's timeframe re-simulates that signal's one order with
``backtest.simulator.simulate`` over the bars from its signal bar to now (and the streamed finer
bars inside them, for the intrabar order, as a backtest reads M1 inside M5): the same kernel,
spread, slippage and intrabar policy as a backtest, so live and replay results compare with
backtests. The window is short (a pending order expires, a trade hits its stop, target or the
rule's exit time), so the cost does not grow with the history.

One difference, on purpose: each signal is followed on its own (as if it had a slot), while a
backtest with ``max_positions: 1`` skips a signal that comes while a trade is open. The trader
sees every signal; the statistics of the two can then differ by those skipped signals.

Status: ``pending`` until the order fills, ``expired`` (expiry or exit time before a fill),
``filled`` while in the trade, then ``target``, ``stop``, ``breakeven`` or ``time`` with the
outcome's R; ``invalid_stop`` / ``not_filled`` when the simulator refuses the fill.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ita_desktop.backtest import _kernel as K
from ita_desktop.backtest.costs import SimSettings
from ita_desktop.backtest.simulator import EXIT_REASONS, simulate
from ita_desktop.core.live.bar_buffer import BarBuffer
from ita_desktop.rules.engine.occurrences import Occurrence, OrderPlan
from ita_desktop.rules.engine.orders_from_rule import to_order_rows

FINAL_BY_REASON = {"stop": "stop", "target1": "target", "target2": "target", "target3": "target",
                   "breakeven": "breakeven", "time": "time"}
STATUS_BY_ORDER = {K.EXPIRED: "expired", K.INVALID: "invalid_stop", K.TOO_SMALL: "not_filled",
                   K.OPEN_AT_END: "pending", K.NOT_ACTIVE: "pending"}


@dataclass
class Followed:
    """A signal being followed: its key, its occurrence (the plan) and where its signal bar is."""

    key: str
    occurrence: Occurrence
    signal_index: int  # the signal bar's position in the setup-bar buffer
    signal_id: int = 0  # its row id in the signals table
    status: str = "pending"
    outcome: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PaperUpdate:
    key: str
    signal_id: int
    rule_id: str
    symbol: str
    status: str
    time_utc: int
    outcome: dict[str, Any]


def _plan_on_window(plan: OrderPlan, times: np.ndarray, signal_index: int) -> OrderPlan:
    """The plan's bar fields counted from the signal bar, times resolved on the bars there are now."""
    if plan.expiry_time is not None:
        first = int(np.searchsorted(times, plan.expiry_time, side="left"))
        expiry = first - 1 if first < len(times) else -1
    else:
        expiry = plan.expiry_bar - signal_index if plan.expiry_bar >= 0 else -1
    exit_bar = -1
    if plan.time_exit_time is not None:
        first = int(np.searchsorted(times, plan.time_exit_time, side="left"))
        exit_bar = first if first < len(times) else -1
    return replace(plan, expiry_bar=expiry, time_exit_bar=exit_bar)


class PaperTracker:
    """The open signals of one rule on one symbol, advanced on each closed setup bar."""

    def __init__(self, settings: SimSettings, setup_bars: BarBuffer, lower: BarBuffer | None) -> None:
        self.settings = replace(settings, max_positions=0)
        self.setup_bars = setup_bars
        self.lower = lower
        self.open: list[Followed] = []

    def follow(self, key: str, occurrence: Occurrence, signal_index: int, signal_id: int = 0, status: str = "pending",
               outcome: dict[str, Any] | None = None) -> None:
        """Follow a signal from its bar (``status``/``outcome``: as stored by an earlier session)."""
        if occurrence.order is not None:
            self.open.append(Followed(key, occurrence, signal_index, signal_id, status, dict(outcome or {})))

    def advance(self) -> list[PaperUpdate]:
        """Re-simulate every open signal on the bars so far; the ones whose status or outcome changed."""
        updates: list[PaperUpdate] = []
        still: list[Followed] = []
        for f in self.open:
            status, outcome = self._simulate(f)
            if status != f.status or outcome != f.outcome:
                f.status, f.outcome = status, outcome
                updates.append(PaperUpdate(f.key, f.signal_id, f.occurrence.rule_id, f.occurrence.symbol, status,
                                           int(self.setup_bars.last_time or 0), outcome))
            if status in ("pending", "filled"):
                still.append(f)
        self.open = still
        return updates

    def warm(self) -> None:
        """Simulate a throwaway market order on the last bars once (nothing is followed or stored), so the
        session's first signal does not pay the simulator kernel's first call in this process."""
        n = len(self.setup_bars)
        if n < 3:
            return
        bars = self.setup_bars.bars(n - 3)
        close = float(bars.close[0])
        plan = OrderPlan("market", close, close * 0.99, close * 0.01, ({"r": 1.0},), -1, None, -1, None, None,
                         None, 1.0)
        occurrence = Occurrence(0, "warm", "v0", bars.symbol, bars.timeframe.value, 1, 0, int(bars.time[0]), (),
                                plan)
        self._simulate(Followed("warm", occurrence, n - 3))

    def _simulate(self, f: Followed) -> tuple[str, dict[str, Any]]:
        bars = self.setup_bars.bars(f.signal_index)
        assert f.occurrence.order is not None
        plan = _plan_on_window(f.occurrence.order, bars.time, f.signal_index)
        orders = to_order_rows([(0, f.occurrence.direction, 0, plan)])
        lower = None
        if self.lower is not None:
            lo = self.lower.index_at_or_after(int(bars.time[0]))
            lower = self.lower.bars(lo)
        trades = simulate(bars, orders, self.settings, lower=lower)
        if len(trades.rows):
            row = trades.rows[0]
            reason = EXIT_REASONS[int(row["exit_reason"])]
            outcome = {"entry_time": int(row["entry_time"]), "entry_price": float(row["entry_price"]),
                       "stop_price": float(row["stop_price"])}
            if reason == "end_of_data":
                return "filled", outcome
            outcome.update(exit_time=int(row["exit_time"]), exit_price=float(row["exit_price"]), exit_reason=reason,
                           r_multiple=float(row["r_multiple"]), targets_hit=int(row["targets_hit"]))
            return FINAL_BY_REASON[reason], outcome
        return STATUS_BY_ORDER.get(int(trades.order_status[0]), "pending"), {}
