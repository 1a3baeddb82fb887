"""The simulator's trades on the real EURUSD are exactly what they were before the kernel's helpers were regrouped.

The first-start work (issue 17) moved the kernel's own exits and single-bar paths behind small helpers so
numba compiles ``_close_part`` and ``_append_bar`` once instead of twice. Nothing may change: this digest
of every trade row and order status was taken with the code before that change (main 0234d40), over an
order stream that reaches every exit the kernel has (stops, three partial targets, break-even, time exits
at the open, end of data), market/limit/stop entries, each intrabar policy, slot limits, commission and
slippage, with and without the M1 path inside each M5 bar.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from ita_desktop.backtest.costs import SimSettings
from ita_desktop.backtest.orders import empty_orders
from ita_desktop.backtest.simulator import simulate
from ita_desktop.detectors.dispatcher import detect
from ita_desktop.domain.resample import resample
from ita_desktop.domain.timeframes import Timeframe
from tests.support.real_bars import eurusd_bars

pytestmark = pytest.mark.realdata

#: sha256 of the trade rows and statuses below, from the code before the change (main 0234d40).
EXPECTED = "7eae19726d5d0975f0664b53617d838f71eba34ad6bd81b18cdbe61b75735697"


def _orders(bars) -> np.ndarray:
    """One order per FVG confirmed on the M5 bars, cycling through entry types, exits and sizes."""
    fvg = detect(bars, kinds=("fvg",)).tables["fvg"]
    keep = fvg["confirmed_at"] < len(bars) - 1
    sig, direction = fvg["confirmed_at"][keep], fvg["direction"][keep].astype(np.int8)
    n = len(sig)
    k = np.arange(n)
    orders = empty_orders(n)
    orders["occurrence"] = k
    orders["direction"] = direction
    orders["signal_bar"] = sig
    close = bars.close[sig]
    orders["entry_type"] = k % 3  # market, limit, stop
    orders["entry_price"] = np.where(k % 3 == 1, close - direction * 0.0003,
                                     np.where(k % 3 == 2, close + direction * 0.0002, np.nan))
    orders["expiry_bar"] = np.where(k % 3 == 0, -1, sig + 1 + k % 7)
    orders["stop_price"] = np.where(k % 2 == 0, close - direction * 0.0008, np.nan)
    orders["stop_distance"] = np.where(k % 2 == 1, 0.0006, np.nan)
    orders["target_r"][:, 0] = 1.0
    orders["target_r"][:, 1] = np.where(k % 4 < 2, 2.0, np.nan)
    orders["target_r"][:, 2] = np.where(k % 4 == 0, 3.0, np.nan)
    orders["target_fraction"][:, 0] = np.where(k % 4 < 2, 0.5, 1.0)
    orders["target_fraction"][:, 1] = np.where(k % 4 == 0, 0.25, 0.5)
    orders["target_fraction"][:, 2] = 0.25
    orders["breakeven_at_r"] = np.where(k % 5 == 0, 0.7, np.nan)
    orders["max_bars"] = np.where(k % 6 == 0, 4 + k % 9, -1)
    orders["time_exit_bar"] = np.where(k % 11 == 0, sig + 3, -1)
    orders["lots"] = np.where(k % 8 == 0, 0.05, np.nan)
    return orders


def test_trades_on_the_real_eurusd_equal_the_digest_taken_before(eurusd_csv) -> None:
    m1 = eurusd_bars(eurusd_csv)
    m5 = resample(m1, Timeframe.M5)
    orders = _orders(m5)
    digest = hashlib.sha256()
    reasons: set[str] = set()
    for lower in (None, m1):
        for intrabar in ("worst", "best", "open_distance"):
            for max_positions, commission, slippage in ((1, 0.0, 0.0), (0, 7.0, 3.0), (3, 3.5, 0.0)):
                settings = SimSettings(spread_points=8, max_positions=max_positions, intrabar=intrabar,
                                       commission_per_lot=commission, slippage_points=slippage)
                trades = simulate(m5, orders, settings, lower=lower)
                digest.update(trades.rows.tobytes())
                digest.update(trades.order_status.tobytes())
                reasons.update(trades.reasons())
    assert {"stop", "target1", "target2", "target3", "breakeven", "time", "end_of_data"} <= reasons, reasons
    assert digest.hexdigest() == EXPECTED
