"""The sweep kernel on the real EURUSD bars: its light statistics equal compute_stats on the same
trades, order columns shared between variants give what ORDER_DTYPE rows give, and bad orders
are refused naming the variant and row."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from ita_desktop.backtest._sweep_kernel import STAT_NAMES
from ita_desktop.backtest.costs import SimSettings
from ita_desktop.backtest.simulator import simulate
from ita_desktop.backtest.stats import compute_stats
from ita_desktop.backtest.sweep import sweep
from ita_desktop.backtest.variants import VariantBatch, summary_dict
from ita_desktop.data.csv_import import read_csv
from ita_desktop.detectors.dispatcher import detect
from tests.test_backtest_runs import fvg_orders

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def eurusd(eurusd_csv: Path):
    return read_csv(eurusd_csv, symbol="EURUSD", server_tz="-03:30").bars.slice(0, 20_000)


def _same(a: float, b: float) -> bool:
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return a == pytest.approx(b, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("settings", [SimSettings(spread_points=8, commission_per_lot=7.0),
                                      SimSettings(max_positions=0, compound=False),
                                      SimSettings(max_positions=3, intrabar="best")])
def test_kernel_statistics_equal_compute_stats(eurusd, settings) -> None:
    sets = [fvg_orders(eurusd, {"target.r": r, "stop.buffer_points": b}) for r in (1.0, 2.5) for b in (0, 40)]
    sets.append(sets[0][:0])  # a variant without orders
    batch = VariantBatch(eurusd, settings)
    for orders in sets:
        batch.add(orders)
    stats = batch.run()
    for k, orders in enumerate(sets):
        full = compute_stats(simulate(eurusd, orders, settings), breakdowns=False).summary
        light = summary_dict(stats[k])
        assert set(light) == set(STAT_NAMES)
        bad = {name: (light[name], full[name]) for name in STAT_NAMES if not _same(light[name], full[name])}
        assert not bad, f"variant {k}: {bad}"
        assert batch.trades(k).rows.tobytes() == simulate(eurusd, orders, settings).rows.tobytes()


def test_shared_columns_give_what_rows_give_and_are_pooled_once(eurusd) -> None:
    fvg = detect(eurusd, kinds=("fvg",)).tables["fvg"]
    fvg = fvg[fvg["confirmed_at"] < len(eurusd) - 1]
    m = len(fvg)
    d = fvg["direction"].astype(np.int64)
    base = {"direction": d, "signal_bar": fvg["confirmed_at"].astype(np.int64), "entry_type": np.ones(m, np.int64),
            "entry_price": np.where(d > 0, fvg["top"], fvg["bottom"]),
            "stop_price": np.where(d > 0, fvg["bottom"] - 20e-5, fvg["top"] + 20e-5),
            "expiry_bar": fvg["confirmed_at"].astype(np.int64) + 30,
            "target_fraction": np.tile([1.0, np.nan, np.nan], (m, 1))}
    targets = {r: np.tile([r, np.nan, np.nan], (m, 1)) for r in (1.0, 2.0, 3.0)}

    def by_columns(_bars, p):
        return {**base, "target_r": targets[p["target.r"]]}

    def by_rows(bars, p):
        return fvg_orders(bars, {"target.r": p["target.r"]})

    settings = SimSettings(spread_points=8)
    a = sweep(eurusd, by_columns, ["target.r=1.0,2.0,3.0"], settings, statistic="sharpe")
    b = sweep(eurusd, by_rows, ["target.r=1.0,2.0,3.0"], settings, statistic="sharpe")
    assert a.rows == b.rows and a.rows[0]["trades"] > 30
    single = compute_stats(simulate(eurusd, by_rows(eurusd, {"target.r": 2.0}), settings)).summary
    assert a.rows[1]["sharpe"] == pytest.approx(single["sharpe"])
    batch = VariantBatch(eurusd, settings)
    for r in (1.0, 2.0, 3.0):
        batch.add(by_columns(eurusd, {"target.r": r}))
    batch.run()
    assert batch._size["signal_bar"] == m and batch._size["target_r"] == 3 * m  # shared columns stored once


def test_bad_orders_are_refused_naming_the_variant_and_row(eurusd) -> None:
    good = fvg_orders(eurusd)
    bad = good.copy()
    bad["stop_price"][5] = np.nan
    batch = VariantBatch(eurusd, SimSettings())
    batch.add(good)
    batch.add(bad)
    with pytest.raises(ValueError, match=r"variant 1: order row 5 .*no stop_price"):
        batch.run()
    with pytest.raises(ValueError, match="unknown order column"):
        VariantBatch(eurusd, SimSettings()).add({"direction": np.ones(1), "signal_bar": np.zeros(1), "stopp": 1})


def test_a_gap_fill_at_the_stop_within_float_rounding_is_refused_not_sized_to_infinity() -> None:
    """A sell limit filled on a gap that opens (to float rounding) at its stop: the 'risk' is 2e-16,
    which sized 10^13 lots and made R multiples of 10^11 in sweeps before; now the order is invalid."""
    from ita_desktop.backtest.orders import make_orders
    from ita_desktop.domain.bars import Bars
    from ita_desktop.domain.timeframes import Timeframe

    o = np.array([1.0990, 1.1005, 1.0990, 1.0980])
    bars = Bars.from_columns("EURUSD", Timeframe.M1, {
        "time": 1_700_000_000 + 60 * np.arange(4), "open": o, "high": o + 0.0001, "low": o - 0.0001,
        "close": o, "tick_volume": np.ones(4, np.int64)})
    stop = float(np.nextafter(1.1005, 2.0))  # what "top + buffer" can round to
    orders = make_orders([{"direction": "short", "signal_bar": 0, "entry": "limit", "entry_price": 1.1000,
                           "stop": stop, "targets": [{"r": 1.25}]}])
    trades = simulate(bars, orders, SimSettings(spread_points=0))
    assert len(trades) == 0 and trades.status_counts() == {"invalid_stop": 1}
    ok = make_orders([{"direction": "short", "signal_bar": 0, "entry": "limit", "entry_price": 1.1000,
                       "stop": 1.1010, "targets": [{"r": 1.25}]}])
    assert simulate(bars, ok, SimSettings(spread_points=0)).rows["r_multiple"][0] > 0  # a real stop still trades


def test_rows_unpacked_as_they_are_added_give_the_same_sweep(eurusd) -> None:
    """A sweep that needs no trades unpacks each variant's rows into reused pools as it is added
    (pools grow mid-batch, batches of different sizes share them); the result is the same as
    keeping the rows, and a bad row is still named."""
    def by_rows(bars, p):
        orders = fvg_orders(bars, {"target.r": p["target.r"], "stop.buffer_points": p["buffer"]})
        return orders[: len(orders) // p["part"]]  # variants of different sizes

    grid = {"target.r": [1.0, 2.0, 3.0], "buffer": [0, 40], "part": [1, 3, 2]}
    settings = SimSettings(spread_points=8, max_positions=0)
    unpacked = sweep(eurusd, by_rows, grid, settings, statistic="expectancy_r", chunk=4)
    kept = sweep(eurusd, by_rows, grid, settings, statistic="expectancy_r", chunk=4, keep_trades=True)
    assert unpacked.rows == kept.rows and len(kept.trades) == 18 and unpacked.trades == []
    assert min(r["trades"] for r in unpacked.rows) > 10
    batch = VariantBatch(eurusd, settings, scratch={}, keep_orders=False)
    good = fvg_orders(eurusd)
    bad = good.copy()
    bad["stop_price"][5] = np.nan
    batch.add(good)
    batch.add(bad)
    with pytest.raises(ValueError, match=r"variant 1: order row 5 .*no stop_price"):
        batch.run()
    with pytest.raises(RuntimeError, match="keep_orders=True"):
        batch.trades(0)
