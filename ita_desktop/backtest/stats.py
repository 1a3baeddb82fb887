"""Statistics of a run: the summary a trader reads first, breakdowns, and chart data.

Definitions (stated because every platform differs a little):

- a win is a trade with net P/L > 0; win rate = wins / trades;
- expectancy R = mean R multiple; avg win/loss R = mean R of wins / of the others;
- profit factor = gross profit / gross loss (money; inf when nothing was lost);
- equity moves when a trade closes (its whole P/L at its exit time, partials included);
  max drawdown = the largest fall from a running peak of that closed-trade equity, in money,
  in percent of the peak, and in R on the cumulative-R curve;
- longest losing streak = most consecutive non-winning trades by exit order;
- Sharpe and Sortino use daily returns on the New York clock, Monday to Friday from the first
  entry to the last exit, days without a close counting as 0, annualised with sqrt(252);
  Sortino's downside deviation is the root mean square of the negative days over ALL days;
- SQN = sqrt(trades) x mean R / std R (sample std);
- a ratio whose divisor is nil is not a number: SQN with under two trades or every R the same,
  Sharpe/Sortino with no spread of daily returns (or no losing day for Sortino), profit factor
  with nothing lost (inf when something was won). "Nil" is relative, within RATIO_TOLERANCE of
  the numerator, so float noise (R of 1.0000000000002) cannot pass for a spread;
- exposure = share of the run's bars with a position open (entry bar to exit bar).

Sessions for the breakdown are by ENTRY time on the New York clock: Asia 20:00-24:00,
London 02:00-05:00, NY AM 07:00-10:00, NY PM 13:30-16:00, else "other".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np

from ita_desktop.domain.clock import local_seconds

SESSION_TZ = "America/New_York"
SESSIONS: tuple[tuple[str, int, int], ...] = (
    ("Asia", 20 * 60, 24 * 60), ("London", 2 * 60, 5 * 60), ("NY AM", 7 * 60, 10 * 60),
    ("NY PM", 13 * 60 + 30, 16 * 60),
)
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MIN_TRADES = 30
#: A divisor at most this share of what it divides counts as zero (see the module docstring).
RATIO_TOLERANCE = 1e-9
#: statistics where the smallest value ranks first (a sweep's best variant, the heatmap's colour scale)
LOWER_IS_BETTER = {"max_drawdown", "max_drawdown_pct", "max_drawdown_r", "longest_losing_streak"}


@dataclass
class Stats:
    """Summary numbers, breakdown tables and chart arrays of one run (or one group of trades)."""

    summary: dict[str, float]
    breakdowns: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    equity_time: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    equity: np.ndarray = field(default_factory=lambda: np.zeros(0))
    r_multiples: np.ndarray = field(default_factory=lambda: np.zeros(0))
    warnings: list[str] = field(default_factory=list)
    #: occurrences -> orders -> filled, expired, refused (backtest.funnel); None for a group of trades
    funnel: dict[str, Any] | None = None

    def __getitem__(self, key: str) -> float:
        return self.summary[key]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (inf/NaN become None so any JSON reader accepts it)."""
        return {
            "summary": {k: _clean(v) for k, v in self.summary.items()},
            "breakdowns": {k: [{kk: _clean(vv) for kk, vv in row.items()} for row in rows]
                           for k, rows in self.breakdowns.items()},
            "equity_curve": {"time": self.equity_time.tolist(), "equity": [_clean(x) for x in self.equity]},
            "r_multiples": [_clean(x) for x in self.r_multiples],
            "warnings": list(self.warnings),
            "funnel": self.funnel,
        }


def _clean(value: Any) -> Any:
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def safe_ratio(numerator: float, divisor: float, scale: float = 1.0) -> float:
    """numerator / divisor, or NaN when the divisor is nil next to the numerator (float noise included).

    ``scale`` multiplies a valid result (sqrt(n) for SQN, sqrt(252) for Sharpe)."""
    if not (math.isfinite(numerator) and math.isfinite(divisor)) or divisor <= RATIO_TOLERANCE * abs(numerator) \
            or divisor <= 0:
        return math.nan
    return float(numerator / divisor * scale)


def sqn_of(r: np.ndarray) -> float:
    """sqrt(n) x mean / sample std of R; NaN for fewer than two trades or no spread of R."""
    if len(r) < 2:
        return math.nan
    return safe_ratio(float(r.mean()), float(r.std(ddof=1)), math.sqrt(len(r)))


def profit_factor(gross_win: float, gross_loss: float) -> float:
    """Gross profit / gross loss; inf when nothing (within float noise) was lost but something won, NaN
    with neither."""
    if gross_loss <= RATIO_TOLERANCE * gross_win or gross_loss <= 0:
        return math.inf if gross_win > 0 else math.nan
    return gross_win / gross_loss


def guard_kernel_summary(summary: dict) -> dict:
    """The sweep kernel's SQN and profit factor held to the same rule as :func:`sqn_of` and
    :func:`profit_factor` (the kernel divides by any positive spread): ``|sqn| >= sqrt(n) / tolerance``
    is exactly ``std <= tolerance x |mean|``, and a factor of ``1 / tolerance`` or more is a loss within noise."""
    n = summary.get("trades", 0) or 0
    sqn = summary.get("sqn")
    if sqn is not None and (not math.isfinite(sqn) or n < 2 or abs(sqn) >= math.sqrt(n) / RATIO_TOLERANCE):
        summary["sqn"] = math.nan
    pf = summary.get("profit_factor")
    if pf is not None and math.isfinite(pf) and pf >= 1.0 / RATIO_TOLERANCE:
        summary["profit_factor"] = math.inf
    return summary


def max_drawdown(curve: np.ndarray, start: float) -> tuple[float, float]:
    """Largest fall from a running peak (money) and the largest fall in percent of its peak."""
    if len(curve) == 0:
        return 0.0, 0.0
    values = np.concatenate([[start], curve])
    peaks = np.maximum.accumulate(values)
    falls = peaks - values
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = np.where(peaks > 0, falls / peaks * 100.0, 0.0)
    return float(falls.max()), float(pct.max())


def longest_losing_streak(pnl: np.ndarray) -> int:
    best = run = 0
    for x in pnl:
        run = run + 1 if x <= 0 else 0
        best = max(best, run)
    return best


def daily_ratios(exit_time: np.ndarray, pnl: np.ndarray, first_time: int, initial_equity: float) -> tuple[float, float]:
    """Sharpe and Sortino (annualised, sqrt(252)) of weekday returns on the New York clock."""
    if len(pnl) == 0:
        return math.nan, math.nan
    day = local_seconds(exit_time, SESSION_TZ) // 86_400
    d0 = int(local_seconds(np.array([first_time]), SESSION_TZ)[0] // 86_400)
    days = np.arange(d0, int(day.max()) + 1)
    days = days[((days + 3) % 7) < 5]  # epoch day 0 was a Thursday: (d + 3) % 7 is 0 on Monday
    if len(days) < 2:
        return math.nan, math.nan
    per_day = np.zeros(len(days))
    idx = np.searchsorted(days, day)
    ok = (idx < len(days)) & (days[np.minimum(idx, len(days) - 1)] == day)
    np.add.at(per_day, idx[ok], pnl[ok])
    # weekend closes (rare) count on the next Monday
    late = ~ok
    if late.any():
        np.add.at(per_day, np.minimum(idx[late], len(days) - 1), pnl[late])
    equity_start = initial_equity + np.concatenate([[0.0], np.cumsum(per_day)[:-1]])
    ret = per_day / equity_start
    mean = float(ret.mean())
    sharpe = safe_ratio(mean, float(ret.std(ddof=1)), math.sqrt(252))
    sortino = safe_ratio(mean, math.sqrt(np.mean(np.minimum(ret, 0.0) ** 2)), math.sqrt(252))
    return sharpe, sortino


def exposure(entry_bar: np.ndarray, exit_bar: np.ndarray, n_bars: int) -> float:
    """Share of bars with a position open; overlapping trades count a bar once."""
    if n_bars <= 0 or len(entry_bar) == 0:
        return 0.0
    marks = np.zeros(n_bars + 1, np.int64)
    np.add.at(marks, entry_bar, 1)
    np.add.at(marks, exit_bar + 1, -1)
    return float((np.cumsum(marks)[:n_bars] > 0).mean())


def summarize(r: np.ndarray, pnl: np.ndarray) -> dict[str, float]:
    """The numbers every group gets (the whole run and each breakdown row)."""
    n = len(r)
    wins = pnl > 0
    gross_win = float(pnl[wins].sum())
    gross_loss = float(-pnl[~wins].sum())
    return {
        "trades": n,
        "win_rate": float(wins.mean()) if n else math.nan,
        "expectancy_r": float(r.mean()) if n else math.nan,
        "avg_win_r": float(r[wins].mean()) if wins.any() else math.nan,
        "avg_loss_r": float(r[~wins].mean()) if (~wins).any() else math.nan,
        "profit_factor": profit_factor(gross_win, gross_loss),
        "net_pnl": float(pnl.sum()),
        "total_r": float(r.sum()),
    }


def session_of(entry_time: np.ndarray) -> np.ndarray:
    minute = local_seconds(entry_time, SESSION_TZ) // 60 % 1440
    out = np.full(len(entry_time), "other", dtype=object)
    for name, lo, hi in SESSIONS:
        out[(minute >= lo) & (minute < hi)] = name
    return out


def _breakdown(keys: np.ndarray, r: np.ndarray, pnl: np.ndarray, order: Sequence[str] | None = None) -> list[dict]:
    names = list(order) if order is not None else sorted(set(keys.tolist()))
    rows = []
    for name in names:
        mask = keys == name
        if mask.any():
            row = {"group": name}
            row.update(summarize(r[mask], pnl[mask]))
            rows.append(row)
    return rows


def compute_stats(trades: Any, *, initial_equity: float | None = None, n_bars: int | None = None,
                  breakdowns: bool = True) -> Stats:
    """Statistics of one ``Trades`` or a list of them (several symbols of one run).

    ``initial_equity`` defaults to the simulation's; ``n_bars`` (for exposure) to the bars the
    trades were simulated on (for a list: exposure is the mean over its members)."""
    parts = list(trades) if isinstance(trades, (list, tuple)) else [trades]
    rows = np.concatenate([p.rows for p in parts]) if parts else np.zeros(0)
    symbols = np.concatenate([np.full(len(p.rows), p.symbol, dtype=object) for p in parts]) if parts else np.zeros(0)
    if initial_equity is None:
        initial_equity = parts[0].settings.initial_equity if parts else 10_000.0
    by_exit = np.lexsort((rows["entry_time"], rows["exit_time"])) if len(rows) else np.zeros(0, np.int64)
    rows, symbols = rows[by_exit], symbols[by_exit]
    r, pnl = rows["r_multiple"], rows["pnl_money"]
    summary = summarize(r, pnl)
    curve = initial_equity + np.cumsum(pnl)
    dd_money, dd_pct = max_drawdown(curve, initial_equity)
    dd_r, _ = max_drawdown(np.cumsum(r), 0.0)
    first = min((int(p.bar_times[0]) for p in parts if len(p.bar_times)), default=0)
    sharpe, sortino = daily_ratios(rows["exit_time"], pnl, int(rows["entry_time"].min()) if len(rows) else first,
                                   initial_equity)
    n = len(r)
    if n_bars is None:
        exp = float(np.mean([exposure(p.rows["entry_bar"], p.rows["exit_bar"], len(p.bar_times)) for p in parts])) \
            if parts else 0.0
    else:
        exp = exposure(rows["entry_bar"], rows["exit_bar"], n_bars)
    summary.update({
        "max_drawdown": dd_money, "max_drawdown_pct": dd_pct, "max_drawdown_r": dd_r,
        "longest_losing_streak": longest_losing_streak(pnl),
        "sharpe": sharpe, "sortino": sortino,
        "sqn": sqn_of(r),
        "exposure": exp,
        "final_equity": float(curve[-1]) if n else float(initial_equity),
        "return_pct": float(pnl.sum() / initial_equity * 100.0),
    })
    stats = Stats(summary, equity_time=rows["exit_time"].astype(np.int64), equity=curve, r_multiples=r.copy())
    if n < MIN_TRADES:
        stats.warnings.append(f"only {n} trades: statistics on fewer than {MIN_TRADES} trades are not reliable")
    if breakdowns and n:
        local = local_seconds(rows["entry_time"], SESSION_TZ)
        weekday = np.array(WEEKDAYS, dtype=object)[((local // 86_400) + 3) % 7]
        month = np.array([datetime.fromtimestamp(int(t), timezone.utc).strftime("%Y-%m") for t in local], dtype=object)
        direction = np.where(rows["direction"] > 0, "long", "short").astype(object)
        stats.breakdowns = {
            "session": _breakdown(session_of(rows["entry_time"]), r, pnl, [s[0] for s in SESSIONS] + ["other"]),
            "weekday": _breakdown(weekday, r, pnl, WEEKDAYS),
            "month": _breakdown(month, r, pnl),
            "direction": _breakdown(direction, r, pnl, ("long", "short")),
            "symbol": _breakdown(symbols, r, pnl),
        }
    return stats


def r_histogram(r: np.ndarray, width: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Counts of R multiples in bins of ``width`` R (edges on multiples of width)."""
    if len(r) == 0:
        return np.zeros(0, np.int64), np.array([0.0, width])
    lo = math.floor(float(r.min()) / width) * width
    hi = math.floor(float(r.max()) / width) * width + width
    edges = np.arange(lo, hi + width / 2, width)
    counts, edges = np.histogram(r, bins=edges)
    return counts, edges


def format_stat(value: Any, *, digits: int | None = None, missing: str = "–", infinite: str = "∞") -> str:
    """A statistic as text for reports, the terminal and the GUI: None/NaN -> ``missing``, ±inf -> ``infinite``.

    ``digits`` None means 4 decimals below 10 (ratios, R) and 2 above (money), with thousands separators.
    """
    if value is None:
        return missing
    if isinstance(value, float):
        if math.isnan(value):
            return missing
        if math.isinf(value):
            return infinite
        places = digits if digits is not None else (4 if abs(value) < 10 else 2)
        return f"{value:,.{places}f}"
    return str(value)
