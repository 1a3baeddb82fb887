"""max_positions 0 (no limit) gives the same trades as a limit never reached, on the real EURUSD bars.

The kernel keeps open positions in a compact slot list (cost grows with bars + open positions,
not bars x orders); these tests pin that the list changes nothing: bit-identical trade rows and
order status against a bounded run, also when more positions are open at once than the kernel's
first slot allocation (it then starts again with more slots).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ita_desktop.backtest import _kernel as K
from ita_desktop.backtest.costs import SimSettings
from ita_desktop.backtest.orders import empty_orders
from ita_desktop.backtest.simulator import Trades, bar_arrays, order_arrays, settings_args, simulate
from ita_desktop.data.csv_import import read_csv
from ita_desktop.detectors.dispatcher import detect

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def bars(eurusd_csv: Path):
    return read_csv(eurusd_csv, symbol="EURUSD", server_tz="-03:30").bars


def every_fvg_market_orders(bars) -> np.ndarray:
    """The every-signal FVG strategy of the benchmark: buy at the next open after every bullish FVG,
    stop 10 pips below the signal close, target 20 above; each signal its own position."""
    fvg = detect(bars, kinds=("fvg",)).tables["fvg"]
    sig = np.unique(fvg["confirmed_at"][(fvg["direction"] > 0) & (fvg["confirmed_at"] < len(bars) - 1)])
    out = empty_orders(len(sig))
    out["occurrence"] = np.arange(len(sig))
    out["direction"] = 1
    out["signal_bar"] = sig
    out["stop_price"] = bars.close[sig] - 0.0010
    out["target_price"][:, 0] = bars.close[sig] + 0.0020
    out["target_fraction"][:, 0] = 1.0
    out["risk_pct"] = 0.5  # compounding: the equity each fill sizes from depends on the order of exits
    return out


def peak_open(trades: Trades) -> int:
    """Most positions open at once (entry bar inclusive, exit bar exclusive, as slots are freed)."""
    rows = trades.rows
    events = np.r_[rows["entry_bar"], rows["exit_bar"]]
    steps = np.r_[np.ones(len(rows), np.int64), -np.ones(len(rows), np.int64)]
    order = np.lexsort((steps, events))  # at one bar exits (-1) before entries
    return int(np.cumsum(steps[order]).max())


def assert_same(a: Trades, b: Trades) -> None:
    assert np.array_equal(a.order_status, b.order_status)
    assert len(a) == len(b)
    for name in a.rows.dtype.names:
        np.testing.assert_array_equal(a.rows[name], b.rows[name], err_msg=name)


def test_no_limit_gives_the_trades_of_a_limit_never_reached(bars) -> None:
    orders = every_fvg_market_orders(bars)
    unlimited = simulate(bars, orders, SimSettings(spread_points=0, max_positions=0))
    peak = peak_open(unlimited)
    assert 20 < peak < 256  # many positions at once, yet fewer than the bounded run's slots
    bounded = simulate(bars, orders, SimSettings(spread_points=0, max_positions=256))
    assert unlimited.status_counts() == {"filled": len(orders)}
    assert_same(unlimited, bounded)
    # a limit below the peak does change the result (the comparison above can fail)
    tight = simulate(bars, orders, SimSettings(spread_points=0, max_positions=peak - 1))
    assert tight.status_counts().get("no_slot", 0) > 0


def test_limit_orders_with_partials_and_break_even_unchanged_by_the_limit(bars) -> None:
    fvg = detect(bars, kinds=("fvg",)).tables["fvg"]
    fvg = fvg[fvg["confirmed_at"] < len(bars) - 1]
    d = fvg["direction"].astype(np.int8)
    orders = empty_orders(len(fvg))
    orders["occurrence"] = np.arange(len(fvg))
    orders["direction"] = d
    orders["signal_bar"] = fvg["confirmed_at"]
    orders["entry_type"] = np.where(np.arange(len(fvg)) % 3 == 2, 2, 1)  # limits at the gap, some stop entries
    orders["entry_price"] = np.where(d > 0, fvg["top"], fvg["bottom"]) + np.where(orders["entry_type"] == 2,
                                                                                  d * 0.0003, 0.0)
    orders["stop_price"] = np.where(d > 0, fvg["bottom"] - 0.0002, fvg["top"] + 0.0002)
    orders["expiry_bar"] = fvg["confirmed_at"] + 20
    orders["target_r"][:, 0], orders["target_fraction"][:, 0] = 1.0, 0.5
    orders["target_r"][:, 1], orders["target_fraction"][:, 1] = 3.0, 0.5
    orders["breakeven_at_r"] = 0.8
    orders["max_bars"] = 120
    unlimited = simulate(bars, orders, SimSettings(max_positions=0, commission_per_lot=7.0, slippage_points=2))
    bounded = simulate(bars, orders, SimSettings(max_positions=len(orders), commission_per_lot=7.0,
                                                 slippage_points=2))
    assert len(unlimited) > 1000 and peak_open(unlimited) > 10
    assert_same(unlimited, bounded)


def test_more_positions_at_once_than_the_first_slots(bars) -> None:
    """FIRST_SLOTS + 500 orders on one signal bar, stops and targets far away: all open at once."""
    m = K.FIRST_SLOTS + 500
    orders = empty_orders(m)
    orders["occurrence"] = np.arange(m)
    orders["direction"] = 1
    orders["signal_bar"] = 100
    orders["stop_price"] = bars.close[100] - 0.05 - 1e-6 * np.arange(m)  # each its own, to tell them apart
    orders["target_price"][:, 0] = bars.close[100] + 0.05
    orders["target_fraction"][:, 0] = 1.0
    orders["max_bars"] = 50 + np.arange(m) % 7
    orders["risk_pct"] = 0.01
    unlimited = simulate(bars, orders, SimSettings(max_positions=0))
    assert unlimited.status_counts() == {"filled": m} and peak_open(unlimited) == m
    assert_same(unlimited, simulate(bars, orders, SimSettings(max_positions=m)))
    capped = simulate(bars, orders, SimSettings(max_positions=K.FIRST_SLOTS))
    assert capped.status_counts() == {"filled": K.FIRST_SLOTS, "no_slot": 500}


def test_the_slot_kernel_asks_for_more_slots_instead_of_overrunning(bars) -> None:
    orders = every_fvg_market_orders(bars)
    settings = SimSettings(spread_points=0, max_positions=0)
    m = len(orders)
    tf, ti, status = np.empty((m, K.NF)), np.empty((m, K.NI), np.int64), np.zeros(m, np.int8)
    args = bar_arrays(bars, settings) + order_arrays(orders) + settings_args(settings)
    args = args[:-5] + (m,) + args[-4:]  # the limit: every order
    assert K._simulate_slots(*args, tf, ti, status, 4) == -1
    assert K._simulate_slots(*args, tf, ti, status, 256) == len(orders)
