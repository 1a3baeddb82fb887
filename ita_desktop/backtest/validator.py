"""Flags results that are more likely a bug than an edge.

Each finding says what is wrong and which trades; the run is still stored, with the findings
in its statistics, so a suspicious result is never silently shown as good.

- look-ahead: a trade entered at or before its signal bar (it used data before it was known);
- fill outside the bar: an entry or exit price outside the bar's range (bid low .. ask high,
  widened by the slippage allowed), which no real fill can do;
- zero risk: a trade whose stop sits at its entry (R is meaningless, sizing explodes);
- too few trades: statistics on fewer than 30 trades (a warning, not an error).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ita_desktop.backtest._kernel import RISK_EPS
from ita_desktop.backtest.simulator import Trades
from ita_desktop.backtest.stats import MIN_TRADES
from ita_desktop.domain.bars import Bars


@dataclass(frozen=True)
class Finding:
    level: str  # "error" | "warning"
    code: str
    message: str
    trades: tuple[int, ...] = ()  # positions in trades.rows

    def to_dict(self) -> dict:
        return {"level": self.level, "code": self.code, "message": self.message, "trades": list(self.trades[:50])}


def _outside(price: np.ndarray, bar: np.ndarray, bars: Bars, spread: np.ndarray, tol: float) -> np.ndarray:
    lo = bars.low[bar] - tol
    hi = bars.high[bar] + spread[bar] + tol
    return (price < lo) | (price > hi)


def validate(trades: Trades, bars: Bars) -> list[Finding]:
    """Findings for one simulation's trades on the bars they were simulated on."""
    rows = trades.rows
    s = trades.settings
    out: list[Finding] = []
    if len(rows):
        ahead = np.flatnonzero(rows["entry_bar"] <= rows["signal_bar"])
        if len(ahead):
            out.append(Finding("error", "look_ahead",
                               f"{len(ahead)} trade(s) entered at or before the bar their setup was confirmed on",
                               tuple(ahead.tolist())))
        spread = (np.full(len(bars), s.spread_points * s.point) if s.spread_points is not None
                  else bars.spread.astype(float) * s.point)
        tol = s.slippage_points * s.point + 1e-9 * np.maximum(1.0, np.abs(bars.high.max()))
        bad = _outside(rows["entry_price"], rows["entry_bar"], bars, spread, tol) | \
            _outside(rows["exit_price"], rows["exit_bar"], bars, spread, tol)
        # a partial exit's average price may fall between bars; check it against the span instead
        partial = rows["targets_hit"] >= 1  # a target closed part: the rest may exit elsewhere (break-even, stop)
        if partial.any():
            idx = np.flatnonzero(partial)
            span_lo = np.array([bars.low[a:b + 1].min() for a, b in zip(rows["entry_bar"][idx], rows["exit_bar"][idx])])
            span_hi = np.array([(bars.high + spread)[a:b + 1].max()
                                for a, b in zip(rows["entry_bar"][idx], rows["exit_bar"][idx])])
            ok_exit = (rows["exit_price"][idx] >= span_lo - tol) & (rows["exit_price"][idx] <= span_hi + tol)
            ok_entry = ~_outside(rows["entry_price"][idx], rows["entry_bar"][idx], bars, spread, tol)
            bad[idx] = ~(ok_exit & ok_entry)
        if bad.any():
            out.append(Finding("error", "fill_outside_bar",
                               f"{int(bad.sum())} trade(s) filled at a price outside the bar's range",
                               tuple(np.flatnonzero(bad).tolist())))
        eps = RISK_EPS * np.abs(rows["entry_price"])  # the simulator's own "no distance" bound
        zero = np.flatnonzero(~(np.abs(rows["entry_price"] - rows["stop_price"]) > eps) | ~(rows["risk_money"] > 0))
        if len(zero):
            out.append(Finding("error", "zero_risk", f"{len(zero)} trade(s) with no distance to the stop",
                               tuple(zero.tolist())))
    if len(rows) < MIN_TRADES:
        out.append(Finding("warning", "too_few_trades",
                           f"only {len(rows)} trades: statistics on fewer than {MIN_TRADES} are not reliable"))
    return out
