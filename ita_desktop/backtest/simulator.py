"""simulate(bars, orders, settings) -> Trades: the Python face of the numba kernel.

The fill model is stated in ``_kernel.py`` (bar paths, gaps, spread, event order) and
``costs.py`` (settings, intrabar policy). Here orders are checked, bars and the optional
lower timeframe are turned into plain arrays, and the kernel's rows become ``TRADE_DTYPE``.

Trade fields: ``order_index`` (row in the sorted orders), ``occurrence``, ``rule_version``,
``direction``, ``entry_type``, ``signal_bar``, entry/exit bar, time (UTC s) and price (the
exit price is the size-weighted average over partial exits), ``stop_price`` (initial),
``target1..3`` (absolute, NaN unused), ``lots``, ``risk_money`` (lots x stop distance x
contract size), ``r_multiple`` (net P/L / risk money), ``pnl_money`` (net of commission;
the spread is in the fill prices), ``pnl_points`` (size-weighted, per unit), ``commission``,
``exit_reason`` (see EXIT_REASONS; for partial exits the reason of the last part),
``targets_hit``, ``mfe_price``/``mae_price`` (best and worst excursion from the entry in
price, on the exit side: a long's bid) and the same in R, ``equity_before``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ita_desktop.backtest import _kernel as K
from ita_desktop.backtest.costs import SimSettings
from ita_desktop.backtest.orders import check_orders, order_columns, sort_orders
from ita_desktop.domain.bars import Bars

EXIT_REASONS = {K.STOP: "stop", K.TARGET1: "target1", K.TARGET2: "target2", K.TARGET3: "target3",
                K.BREAKEVEN: "breakeven", K.TIME: "time", K.END: "end_of_data"}
ORDER_STATUS = {K.NOT_ACTIVE: "not_active", K.FILLED: "filled", K.EXPIRED: "expired", K.NO_SLOT: "no_slot",
                K.INVALID: "invalid_stop", K.OPEN_AT_END: "open_at_end", K.TOO_SMALL: "size_too_small"}

TRADE_DTYPE = np.dtype([
    ("order_index", np.int64), ("occurrence", np.int64), ("rule_version", np.int64), ("direction", np.int8),
    ("entry_type", np.int8), ("signal_bar", np.int64), ("entry_bar", np.int64), ("entry_time", np.int64),
    ("entry_price", np.float64), ("exit_bar", np.int64), ("exit_time", np.int64), ("exit_price", np.float64),
    ("stop_price", np.float64), ("target1", np.float64), ("target2", np.float64), ("target3", np.float64),
    ("lots", np.float64), ("risk_money", np.float64), ("r_multiple", np.float64), ("pnl_money", np.float64),
    ("pnl_points", np.float64), ("commission", np.float64), ("exit_reason", np.int8), ("targets_hit", np.int8),
    ("mfe_price", np.float64), ("mae_price", np.float64), ("mfe_r", np.float64), ("mae_r", np.float64),
    ("equity_before", np.float64),
])


@dataclass
class Trades:
    """The trades of one simulation (sorted by entry), what became of each order, and the context."""

    rows: np.ndarray  # TRADE_DTYPE
    order_status: np.ndarray  # int8 per sorted order, see ORDER_STATUS
    symbol: str
    settings: SimSettings
    bar_times: np.ndarray = field(repr=False)  # the bars' times: stats need the span for exposure
    orders: np.ndarray = field(repr=False)  # the sorted orders the trades refer to

    def __len__(self) -> int:
        return len(self.rows)

    def reasons(self) -> list[str]:
        return [EXIT_REASONS[int(r)] for r in self.rows["exit_reason"]]

    def status_counts(self) -> dict[str, int]:
        codes, counts = np.unique(self.order_status, return_counts=True)
        return {ORDER_STATUS[int(c)]: int(k) for c, k in zip(codes, counts)}

    def to_records(self) -> list[dict]:
        """Plain dicts with names for codes and ISO UTC times, for JSON, CSV and the store."""
        from ita_desktop.domain.clock import utc_iso

        out = []
        for row in self.rows:
            rec = {name: row[name].item() for name in TRADE_DTYPE.names}
            rec["symbol"] = self.symbol
            rec["exit_reason"] = EXIT_REASONS[int(row["exit_reason"])]
            rec["direction"] = "long" if row["direction"] > 0 else "short"
            rec["entry_iso"] = utc_iso(int(row["entry_time"]))
            rec["exit_iso"] = utc_iso(int(row["exit_time"]))
            for key, value in rec.items():
                if isinstance(value, float) and np.isnan(value):
                    rec[key] = None
            out.append(rec)
        return out


def _lower_index(bars: Bars, lower: Bars) -> tuple[np.ndarray, np.ndarray]:
    """For each bar, the [start, end) rows of the lower timeframe inside it."""
    span = bars.timeframe.seconds
    start = np.searchsorted(lower.time, bars.time, side="left").astype(np.int64)
    end = np.searchsorted(lower.time, bars.time + span, side="left").astype(np.int64)
    return start, end


def _spread_prices(bars: Bars, settings: SimSettings) -> np.ndarray:
    if settings.spread_points is not None:
        return np.full(len(bars), settings.spread_points * settings.point)
    return bars.spread.astype(np.float64) * settings.point


def order_arrays(orders: np.ndarray, columns: dict[str, np.ndarray] | None = None) -> tuple:
    """The ORDER_DTYPE columns as contiguous arrays, in the kernel's argument order."""
    cols = columns if columns is not None else order_columns(orders)

    def col(name: str, dtype) -> np.ndarray:
        return np.ascontiguousarray(cols[name], dtype=dtype)

    return (col("direction", np.int64), col("signal_bar", np.int64), col("entry_type", np.int64),
            col("entry_price", np.float64), col("expiry_bar", np.int64), col("stop_price", np.float64),
            col("stop_distance", np.float64), col("target_price", np.float64), col("target_r", np.float64),
            col("target_fraction", np.float64), col("breakeven_at_r", np.float64), col("time_exit_bar", np.int64),
            col("max_bars", np.int64), col("risk_pct", np.float64), col("lots", np.float64))


def bar_arrays(bars: Bars, settings: SimSettings, lower: Bars | None = None,
               lower_index: tuple[np.ndarray, np.ndarray] | None = None) -> tuple:
    """Bars (and the lower timeframe, if any) as the kernel's leading arguments."""
    head = (bars.time, bars.open, bars.high, bars.low, bars.close, _spread_prices(bars, settings))
    if lower is None:
        z_f, z_i = np.zeros(0), np.zeros(0, np.int64)
        none = np.zeros(len(bars), np.int64)
        return head + (False, z_i, z_f, z_f, z_f, z_f, z_f, none, none, 1)
    start, end = lower_index if lower_index is not None else _lower_index(bars, lower)
    start, end = np.ascontiguousarray(start, np.int64), np.ascontiguousarray(end, np.int64)
    if len(start) != len(bars) or len(end) != len(bars):
        raise ValueError("the lower-timeframe index needs one [start, end) per bar")
    max_sub = int((end - start).max()) if len(bars) else 1
    return head + (True, lower.time, lower.open, lower.high, lower.low, lower.close,
                   _spread_prices(lower, settings), start, end, max(max_sub, 1))


def settings_args(settings: SimSettings) -> tuple:
    return (float(settings.initial_equity), float(settings.contract_size), float(settings.commission_per_lot),
            float(settings.slippage_points * settings.point), int(settings.max_positions), settings.policy_code,
            bool(settings.compound), float(settings.lot_step), float(settings.min_lot))


def rows_to_trades(tf: np.ndarray, ti: np.ndarray, orders: np.ndarray, settings: SimSettings) -> np.ndarray:
    """Kernel rows (closing order) -> TRADE_DTYPE sorted by entry bar, then order."""
    out = np.zeros(len(tf), TRADE_DTYPE)
    oi = ti[:, K.I_ORDER]
    out["order_index"] = oi
    for name in ("occurrence", "rule_version", "direction", "entry_type", "signal_bar"):
        out[name] = orders[name][oi]
    ints = {"entry_bar": K.I_ENTRY_BAR, "entry_time": K.I_ENTRY_TIME, "exit_bar": K.I_EXIT_BAR,
            "exit_time": K.I_EXIT_TIME, "exit_reason": K.I_REASON, "targets_hit": K.I_TARGETS_HIT}
    for name, j in ints.items():
        out[name] = ti[:, j]
    floats = {"entry_price": K.F_ENTRY, "exit_price": K.F_EXIT, "stop_price": K.F_STOP, "target1": K.F_TP1,
              "target2": K.F_TP2, "target3": K.F_TP3, "lots": K.F_LOTS, "risk_money": K.F_RISK_MONEY,
              "r_multiple": K.F_R, "pnl_money": K.F_PNL, "commission": K.F_COMMISSION, "mfe_price": K.F_MFE,
              "mae_price": K.F_MAE, "equity_before": K.F_EQUITY_BEFORE}
    for name, j in floats.items():
        out[name] = tf[:, j]
    out["pnl_points"] = tf[:, K.F_POINTS] / settings.point
    risk = np.abs(out["entry_price"] - out["stop_price"])
    with np.errstate(divide="ignore", invalid="ignore"):
        out["mfe_r"] = out["mfe_price"] / risk
        out["mae_r"] = out["mae_price"] / risk
    return out[np.lexsort((out["order_index"], out["entry_bar"]))]


def simulate(bars: Bars, orders: np.ndarray, settings: SimSettings | None = None, *, lower: Bars | None = None,
             lower_index: tuple[np.ndarray, np.ndarray] | None = None) -> Trades:
    """Trades from ``orders`` (ORDER_DTYPE) on ``bars``.

    ``lower``: bars of a lower timeframe (M1 inside M5) read instead of each bar's assumed
    path, so a bar that reaches a stop and a target is resolved by what happened first;
    ``lower_index`` gives the [start, end) lower rows per bar when the default (by time,
    within the bar's timeframe) does not fit.
    """
    settings = settings or SimSettings()
    orders = sort_orders(np.asarray(orders))
    columns = order_columns(orders)
    check_orders(orders, len(bars), columns)
    m = len(orders)
    tf = np.empty((m, K.NF))  # only the first n rows are written and read: no need to zero them
    ti = np.empty((m, K.NI), np.int64)
    status = np.zeros(m, np.int8)
    n = K.simulate_core(*bar_arrays(bars, settings, lower, lower_index), *order_arrays(orders, columns),
                        *settings_args(settings), tf, ti, status)
    rows = rows_to_trades(tf[:n], ti[:n], orders, settings)
    return Trades(rows, status, bars.symbol, settings, bars.time, orders)
