"""Hand-built bar sequences pin every fill and exit path of the simulator (a table of cases).

Defaults in every case unless the row says otherwise: equity 10,000, contract size 100,000,
point 0.00001, spread 0, risk 1 %, worst-case intrabar policy. Bar 0 is the signal bar of
every order; its own range would hit every level, so any trade entering in bar 0 would be
look-ahead (the expected entries below are never bar 0).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from ita_desktop.backtest.costs import SimSettings
from ita_desktop.backtest.orders import ORDER_DTYPE, make_orders
from ita_desktop.backtest.simulator import simulate
from ita_desktop.domain.bars import Bars
from ita_desktop.domain.timeframes import Timeframe

T0 = 1_641_168_000  # 2022-01-03 00:00 UTC, a Monday
SIGNAL = (1.0000, 1.0500, 0.9500, 1.0000)  # a huge range: anything it "hits" would be look-ahead


def make_bars(rows, spread=0, tf=Timeframe.M1, t0=T0) -> Bars:
    arr = np.asarray(rows, dtype=float)
    return Bars.from_columns("EURUSD", tf, {
        "time": t0 + tf.seconds * np.arange(len(rows)), "open": arr[:, 0], "high": arr[:, 1], "low": arr[:, 2],
        "close": arr[:, 3], "spread": np.full(len(rows), spread)})


LONG_M = {"direction": "long", "signal_bar": 0, "stop": 0.9950, "targets": [1.0100]}

# name, bars after the signal bar, order (overrides of LONG_M), settings, expected
# (entry_bar, entry_price, exit_bar, exit_price, reason, r_multiple)
CASES = [
    ("market fills at next open, target hit", [(1.0000, 1.0120, 0.9990, 1.0110)], {}, {},
     (1, 1.0000, 1, 1.0100, "target1", 2.0)),
    ("stop hit inside a bar", [(1.0000, 1.0010, 0.9940, 0.9960)], {}, {},
     (1, 1.0000, 1, 0.9950, "stop", -1.0)),
    ("a gap through the stop fills at the open (worse)",
     [(1.0000, 1.0010, 0.9990, 1.0000), (0.9930, 0.9940, 0.9920, 0.9935)], {}, {},
     (1, 1.0000, 2, 0.9930, "stop", -1.4)),
    ("a gap through the target fills at the open (better)",
     [(1.0000, 1.0010, 0.9990, 1.0000), (1.0150, 1.0160, 1.0140, 1.0150)], {}, {},
     (1, 1.0000, 2, 1.0150, "target1", 3.0)),
    ("both in one bar, worst case: stop first", [(1.0000, 1.0110, 0.9940, 1.0000)], {}, {},
     (1, 1.0000, 1, 0.9950, "stop", -1.0)),
    ("both in one bar, best case: target first", [(1.0000, 1.0110, 0.9940, 1.0000)], {}, {"intrabar": "best"},
     (1, 1.0000, 1, 1.0100, "target1", 2.0)),
    ("both in one bar, open distance: the low is nearer, stop first", [(1.0000, 1.0110, 0.9940, 1.0000)], {},
     {"intrabar": "open_distance"}, (1, 1.0000, 1, 0.9950, "stop", -1.0)),
    ("both in one bar, open distance: the high is nearer, target first",
     [(1.0000, 1.0010, 0.9990, 1.0100), (1.0100, 1.0105, 0.9940, 1.0000)],
     {"targets": [1.0102]}, {"intrabar": "open_distance"}, (1, 1.0000, 2, 1.0102, "target1", 2.04)),
    ("two targets with partials: 1R on half, 2R on the rest",
     [(1.0000, 1.0060, 0.9990, 1.0040), (1.0040, 1.0110, 1.0030, 1.0100)],
     {"targets": [{"price": 1.0050, "fraction": 0.5}, {"price": 1.0100}]}, {},
     (1, 1.0000, 2, 1.0075, "target2", 1.5)),
    ("three targets all in one bar", [(1.0000, 1.0200, 0.9990, 1.0150)],
     {"targets": [{"r": 1, "fraction": 0.5}, {"r": 2, "fraction": 0.25}, {"r": 3}]}, {},
     (1, 1.0000, 1, 1.0050 * 0.5 + 1.0100 * 0.25 + 1.0150 * 0.25, "target3", 1.75)),
    ("a partial, then the stop for the rest",
     [(1.0000, 1.0060, 0.9990, 1.0040), (1.0040, 1.0045, 0.9940, 0.9960)],
     {"targets": [{"price": 1.0050, "fraction": 0.5}, {"price": 1.0100}]}, {},
     (1, 1.0000, 2, 1.0000, "stop", 0.0)),
    ("break-even at 1R, then back to the entry",
     [(1.0000, 1.0060, 0.9990, 1.0040), (1.0040, 1.0045, 0.9980, 0.9990)],
     {"breakeven_at_r": 1.0}, {}, (1, 1.0000, 2, 1.0000, "breakeven", 0.0)),
    ("break-even armed by the high, hit by the close in the same bar (best path: high then low)",
     [(1.0000, 1.0060, 0.9990, 0.9995)], {"breakeven_at_r": 1.0}, {"intrabar": "best"},
     (1, 1.0000, 1, 1.0000, "breakeven", 0.0)),
    ("time exit at the open of time_exit_bar",
     [(1.0000, 1.0010, 0.9990, 1.0005), (1.0005, 1.0010, 0.9990, 1.0008), (1.0020, 1.0030, 1.0010, 1.0020)],
     {"time_exit_bar": 3}, {}, (1, 1.0000, 3, 1.0020, "time", 0.4)),
    ("max_bars closes at the open of entry_bar + max_bars",
     [(1.0000, 1.0010, 0.9990, 1.0005), (0.9990, 1.0010, 0.9980, 1.0008), (1.0020, 1.0030, 1.0010, 1.0020)],
     {"max_bars": 1}, {}, (1, 1.0000, 2, 0.9990, "time", -0.2)),
    ("end of data closes at the last close",
     [(1.0000, 1.0010, 0.9990, 1.0005), (1.0005, 1.0030, 1.0000, 1.0025)], {}, {},
     (1, 1.0000, 2, 1.0025, "end_of_data", 0.5)),
    ("limit buy fills where the low reaches it",
     [(1.0000, 1.0010, 0.9985, 1.0000), (1.0000, 1.0010, 0.9975, 1.0000), (1.0000, 1.0130, 0.9990, 1.0120)],
     {"entry": "limit", "entry_price": 0.9980, "targets": [{"r": 2}], "stop": 0.9930}, {},
     (2, 0.9980, 3, 1.0080, "target1", 2.0)),
    ("limit buy below a gap fills at the open (better)",
     [(0.9970, 0.9990, 0.9960, 0.9985), (0.9985, 1.0130, 0.9980, 1.0120)],
     {"entry": "limit", "entry_price": 0.9980, "stop": 0.9930, "targets": [1.0070]}, {},
     (1, 0.9970, 2, 1.0070, "target1", 2.5)),
    ("limit fill and stop in the same bar (the path goes down through both)",
     [(1.0000, 1.0010, 0.9920, 0.9950)],
     {"entry": "limit", "entry_price": 0.9980, "stop": 0.9930, "targets": [1.0080]}, {},
     (1, 0.9980, 1, 0.9930, "stop", -1.0)),
    ("stop buy fills at its price plus slippage",
     [(1.0000, 1.0030, 0.9990, 1.0025), (1.0025, 1.0130, 1.0020, 1.0120)],
     {"entry": "stop", "entry_price": 1.0020, "stop": 0.9950, "targets": [1.0100]}, {"slippage_points": 5},
     (1, 1.00205, 2, 1.0100, "target1", (1.0100 - 1.00205) / (1.00205 - 0.9950))),
    ("stop buy above a gap fills at the open (worse)",
     [(1.0040, 1.0130, 1.0030, 1.0120)],
     {"entry": "stop", "entry_price": 1.0020, "stop": 0.9950, "targets": [1.0110]}, {},
     (1, 1.0040, 1, 1.0110, "target1", 0.7 / 0.9)),
    ("slippage on a stop exit", [(1.0000, 1.0010, 0.9940, 0.9960)], {}, {"slippage_points": 3},
     (1, 1.0000, 1, 0.99497, "stop", -1.006)),
    ("stop distance and R targets are measured from the actual fill",
     [(1.0010, 1.0090, 1.0005, 1.0080)], {"stop": None, "stop_distance": 0.0040, "targets": [{"r": 1.5}]}, {},
     (1, 1.0010, 1, 1.0070, "target1", 1.5)),
]


def run(rows, order_overrides=None, settings=None, spread=0, orders=None, lower=None):
    bars = make_bars([SIGNAL, *rows], spread=spread)
    if orders is None:
        spec = {**LONG_M, **(order_overrides or {})}
        orders = make_orders([{k: v for k, v in spec.items() if v is not None}])
    base = {"spread_points": None}
    return simulate(bars, orders, SimSettings(**{**base, **(settings or {})}), lower=lower)


@pytest.mark.parametrize("name, rows, order, settings, expected", CASES, ids=[c[0] for c in CASES])
def test_exit_paths_table(name, rows, order, settings, expected) -> None:
    trades = run(rows, order, settings)
    assert len(trades) == 1, trades.status_counts()
    t = trades.rows[0]
    entry_bar, entry_price, exit_bar, exit_price, reason, r = expected
    assert t["entry_bar"] == entry_bar and t["entry_bar"] > t["signal_bar"]
    assert t["entry_price"] == pytest.approx(entry_price, abs=1e-9)
    assert t["exit_bar"] == exit_bar
    assert t["exit_price"] == pytest.approx(exit_price, abs=1e-9)
    assert trades.reasons() == [reason]
    assert t["r_multiple"] == pytest.approx(r, abs=1e-6)
    assert t["entry_time"] == T0 + 60 * entry_bar and t["exit_time"] == T0 + 60 * exit_bar


def test_money_points_size_and_commission() -> None:
    trades = run([(1.0000, 1.0120, 0.9990, 1.0110)], settings={"commission_per_lot": 7.0})
    t = trades.rows[0]
    assert t["lots"] == pytest.approx(100 / (0.0050 * 100_000))  # 1% of 10,000 over a 50-pip stop = 0.2 lots
    assert t["risk_money"] == pytest.approx(100.0)
    assert t["commission"] == pytest.approx(0.2 * 7.0)
    assert t["pnl_money"] == pytest.approx(200.0 - 1.4)
    assert t["r_multiple"] == pytest.approx(1.986)
    assert t["pnl_points"] == pytest.approx(1000.0)
    assert (t["stop_price"], t["target1"]) == (0.9950, 1.0100) and math.isnan(t["target2"])


def test_mfe_and_mae_follow_the_path_until_the_exit() -> None:
    # bar 1: open 1.0000, worst path low 0.9970 then high 1.0040; bar 2 reaches the target 1.0100
    trades = run([(1.0000, 1.0040, 0.9970, 1.0020), (1.0020, 1.0150, 1.0010, 1.0140)])
    t = trades.rows[0]
    assert t["mae_price"] == pytest.approx(0.0030) and t["mae_r"] == pytest.approx(0.6)
    assert t["mfe_price"] == pytest.approx(0.0100) and t["mfe_r"] == pytest.approx(2.0)  # capped at the exit


def test_spread_buys_at_the_ask_and_a_short_exits_at_the_ask() -> None:
    # spread 2 points = 0.00002
    long_ = run([(1.0000, 1.0120, 0.9990, 1.0110)], spread=2)
    assert long_.rows[0]["entry_price"] == pytest.approx(1.00002)
    assert long_.rows[0]["exit_price"] == pytest.approx(1.0100)
    short = {"direction": "short", "signal_bar": 0, "stop": 1.0050, "targets": [0.9900]}
    # ask high 1.00497 + 0.00002 < 1.0050: no stop; ask low 0.98999 + 0.00002 = 0.99001: no target
    not_yet = run([(1.0000, 1.00497, 0.98999, 1.0000)], spread=2, orders=make_orders([short]))
    assert not_yet.reasons() == ["end_of_data"] and not_yet.rows[0]["entry_price"] == pytest.approx(1.0000)
    # one more point of high: the ask touches the stop
    stopped = run([(1.0000, 1.00498, 0.9990, 1.0000)], spread=2, orders=make_orders([short]))
    assert stopped.reasons() == ["stop"] and stopped.rows[0]["exit_price"] == pytest.approx(1.0050)
    hit = run([(1.0000, 1.0010, 0.98997, 0.9950)], spread=2, orders=make_orders([short]))
    assert hit.reasons() == ["target1"] and hit.rows[0]["r_multiple"] == pytest.approx(2.0)


def test_fixed_spread_setting_overrides_the_bars_column() -> None:
    trades = run([(1.0000, 1.0120, 0.9990, 1.0110)], settings={"spread_points": 10}, spread=2)
    assert trades.rows[0]["entry_price"] == pytest.approx(1.0001)


def test_lower_timeframe_resolves_a_bar_that_holds_stop_and_target() -> None:
    m5 = make_bars([SIGNAL, (1.0000, 1.0110, 0.9940, 1.0000)], tf=Timeframe.M5)
    orders = make_orders([LONG_M])
    # inside the M5 bar the M1 bars rise to the target first, then fall through the stop
    m1_rows = [SIGNAL] * 5 + [(1.0000, 1.0050, 0.9995, 1.0040), (1.0040, 1.0110, 1.0030, 1.0060),
                              (1.0060, 1.0060, 0.9940, 0.9950), (0.9950, 0.9990, 0.9945, 0.9980),
                              (0.9980, 1.0000, 0.9970, 1.0000)]
    m1 = make_bars(m1_rows, tf=Timeframe.M1)
    assert simulate(m5, orders).reasons() == ["stop"]  # worst case without the lower timeframe
    resolved = simulate(m5, orders, lower=m1)
    assert resolved.reasons() == ["target1"]
    assert resolved.rows[0]["exit_time"] == T0 + 300 + 60  # the M1 bar that reached the target
    assert resolved.rows[0]["exit_bar"] == 1
    # and the other way round: the M1 bars fall first
    m1_down = make_bars([SIGNAL] * 5 + [(1.0000, 1.0005, 0.9940, 0.9960), (0.9960, 1.0110, 0.9955, 1.0100)] +
                        [(1.0100, 1.0100, 1.0000, 1.0000)] * 3, tf=Timeframe.M1)
    assert simulate(m5, orders, lower=m1_down, settings=SimSettings(intrabar="best")).reasons() == ["stop"]


def test_expired_and_never_reached_orders_are_not_trades() -> None:
    trades = run([(1.0000, 1.0010, 0.9990, 1.0000)] * 3 + [(1.0000, 1.0010, 0.9970, 1.0000)],
                 {"entry": "limit", "entry_price": 0.9980, "expiry_bar": 3, "stop": 0.9930})
    assert len(trades) == 0 and trades.status_counts() == {"expired": 1}
    on_last_bar = make_orders([{**LONG_M, "signal_bar": 1}])
    assert len(run([(1.0000, 1.0010, 0.9990, 1.0000)], orders=on_last_bar)) == 0


def test_a_time_exit_before_the_fill_cancels_a_pending_order() -> None:
    trades = run([(1.0000, 1.0010, 0.9990, 1.0000), (1.0000, 1.0010, 0.9990, 1.0000),
                  (0.9990, 1.0000, 0.9970, 0.9990)],
                 {"entry": "limit", "entry_price": 0.9980, "time_exit_bar": 3, "stop": 0.9930})
    assert len(trades) == 0 and trades.status_counts() == {"expired": 1}


def test_one_position_at_a_time_unless_allowed() -> None:
    rows = [(1.0000, 1.0010, 0.9990, 1.0000)] * 4
    orders = make_orders([LONG_M, {**LONG_M, "signal_bar": 1}, {**LONG_M, "signal_bar": 2}])
    one = run(rows, orders=orders)
    assert len(one) == 1 and one.status_counts() == {"filled": 1, "no_slot": 2}
    many = run(rows, orders=orders, settings={"max_positions": 0})
    assert len(many) == 3 and list(many.rows["entry_bar"]) == [1, 2, 3]


def test_a_slot_freed_by_an_exit_is_usable_from_the_next_bar() -> None:
    rows = [(1.0000, 1.0010, 0.9940, 0.9960), (0.9960, 0.9970, 0.9950, 0.9960), (0.9960, 0.9970, 0.9940, 0.9960)]
    # A stops out in bar 1; B (market, signal bar 1) fills at bar 2's open
    market = run(rows, orders=make_orders([LONG_M, {**LONG_M, "signal_bar": 1, "stop": 0.9900}]))
    assert market.status_counts() == {"filled": 2}
    assert list(market.rows["entry_bar"]) == [1, 2] and market.rows[0]["exit_bar"] == 1
    # C (limit 0.9945) is reached in bar 1 after A's stop, but the slot is only free from bar 2; bar 3 fills it
    limit = {"direction": "long", "signal_bar": 0, "entry": "limit", "entry_price": 0.9945, "stop": 0.9900}
    trades = run(rows, orders=make_orders([LONG_M, limit]))
    assert list(trades.rows["entry_bar"]) == [1, 3]
    assert trades.rows[1]["entry_price"] == pytest.approx(0.9945)


def test_invalid_stop_and_too_small_size_are_not_trades() -> None:
    wrong_side = make_orders([{"direction": "short", "signal_bar": 0, "stop": 0.9950, "targets": [0.9900]}])
    trades = run([(1.0000, 1.0010, 0.9990, 1.0000)], orders=wrong_side)
    assert len(trades) == 0 and trades.status_counts() == {"invalid_stop": 1}
    tiny = run([(1.0000, 1.0010, 0.9990, 1.0000)], settings={"lot_step": 0.01, "min_lot": 0.01},
               order_overrides={"risk_pct": 0.001})
    assert len(tiny) == 0 and tiny.status_counts() == {"size_too_small": 1}


def test_size_compounds_on_closed_trades_and_rounds_to_the_lot_step() -> None:
    rows = [(1.0000, 1.0120, 0.9990, 1.0110), (1.0000, 1.0120, 0.9990, 1.0110)]
    orders = make_orders([LONG_M, {**LONG_M, "signal_bar": 1}])
    trades = run(rows, orders=orders, settings={"lot_step": 0.01})
    assert list(trades.rows["lots"]) == pytest.approx([0.2, 0.2])  # 10,200 x 1% / 500 = 0.204 -> 0.20
    assert trades.rows[1]["equity_before"] == pytest.approx(10_200.0)
    flat = run(rows, orders=orders, settings={"compound": False})
    assert flat.rows[1]["lots"] == pytest.approx(0.2)
    comp = run(rows, orders=orders)
    assert comp.rows[1]["lots"] == pytest.approx(0.204)


def test_orders_are_checked_and_named_by_row() -> None:
    bad = make_orders([LONG_M])
    bad["direction"] = 0
    with pytest.raises(ValueError, match="order row 0"):
        run([(1.0000, 1.0010, 0.9990, 1.0000)], orders=bad)
    with pytest.raises(ValueError, match="unknown key"):
        make_orders([{**LONG_M, "stp": 1.0}])
    with pytest.raises(ValueError, match="fractions"):
        make_orders([{**LONG_M, "targets": [{"price": 1.01, "fraction": 0.7}, {"price": 1.02, "fraction": 0.6}]}])
    assert make_orders([]).dtype == ORDER_DTYPE


def test_half_at_target_then_break_even_is_not_flagged_as_a_fill_outside_the_bar():
    """Found on ib_raid: the averaged exit of a partial then a break-even lies outside the exit bar."""
    from ita_desktop.backtest.validator import validate

    rows = [(1.0000, 1.0060, 0.9990, 1.0040), (1.0005, 1.0010, 0.9995, 0.9998)]
    order = {"targets": [{"price": 1.0050, "fraction": 0.5}, {"price": 1.0100}], "breakeven_at_r": 1.0}
    trades = run(rows, order)
    (t,) = trades.rows
    assert trades.reasons() == ["breakeven"] and t["targets_hit"] == 1
    assert t["exit_price"] == pytest.approx(1.0025)  # half at 1.0050, half at the entry 1.0000
    assert t["exit_price"] > rows[1][1]  # above the exit bar's high: only the span from entry to exit holds it
    assert [f.code for f in validate(trades, make_bars([SIGNAL, *rows]))] == ["too_few_trades"]


def test_a_size_whose_money_at_risk_rounds_to_zero_is_too_small_not_a_crash() -> None:
    """Compounding can drain an account towards 0 (a ruined sweep variant: commission and losses took 10,000 to
    2e-317 in a real-data sweep). A size still > 0 whose money at risk underflows to 0 became a trade whose R
    divided by zero, a ZeroDivisionError out of the whole run; it is a size too small to trade."""
    drained = run([(1.0000, 1.0120, 0.9990, 1.0110)], settings={"initial_equity": 1e-318})
    assert len(drained) == 0 and drained.status_counts() == {"size_too_small": 1}
    assert len(run([(1.0000, 1.0120, 0.9990, 1.0110)], settings={"initial_equity": 1e-307})) == 0  # 1e-309 at risk: subnormal
    assert len(run([(1.0000, 1.0120, 0.9990, 1.0110)], settings={"initial_equity": 1e-300})) == 1  # 1e-302 at risk: still sized
