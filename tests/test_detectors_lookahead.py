"""No look-ahead: a run truncated at bar t knows exactly what the full run knew at t.

For every table: the truncated run's rows are the full run's rows with confirmed_at <= t,
in the same order, with identical fixed fields; life fields only move forward (a life
event at or before t is in both runs, one after t only in the full run).
"""

from __future__ import annotations

import numpy as np
import pytest

from ita_desktop.detectors.dispatcher import MY_KINDS, detect
from ita_desktop.detectors.objects import Kind
from tests.support.detectors import fixed_equal, real_bars

pytestmark = pytest.mark.realdata

PARAMS = [
    {"sweeps": {"sources": ["swings", "equal"]}},
    {"swings": {"length": 2}, "structure": {"break_on": "wick"}, "order_blocks": {"candle": "extreme"},
     "fvg": {"min_atr": 0.2}, "sweeps": {"max_bars": 5, "sources": ["swings", "equal"]}},
]


def _check_prefix(name, full, trunc, t):
    m = int(np.searchsorted(full["confirmed_at"], t, side="right"))
    assert np.all(np.diff(full["confirmed_at"]) >= 0), f"{name}: rows not in confirmed_at order"
    assert len(trunc) == m, f"{name} at t={t}: truncated run has {len(trunc)} rows, full run knew {m}"
    f = full[:m]
    fixed_equal(trunc, f)
    for life in ("touched_at", "filled_at"):
        expect = np.where(f[life] <= t, f[life], -1)
        np.testing.assert_array_equal(trunc[life], expect, err_msg=f"{name}.{life} at t={t}")
    # end: fixed for events; for live objects the touch/fill/supersede bar, which may only move
    # forward (an equal-highs cluster taken at t can be superseded later)
    settled = (f["end"] >= 0) & (f["end"] <= t)
    np.testing.assert_array_equal(trunc["end"][settled], f["end"][settled], err_msg=f"{name}.end at t={t}")
    seen = trunc["end"] >= 0
    assert np.all(trunc["end"][seen] <= t) and np.all(f["end"][seen] >= trunc["end"][seen]), f"{name}.end at t={t}"
    if name != "equal":
        np.testing.assert_array_equal(trunc["end"], np.where(settled, f["end"], -1), err_msg=f"{name}.end at t={t}")
    assert np.all(trunc["state"] <= f["state"]), f"{name}.state moved backwards at t={t}"
    assert np.all(trunc["updated_at"] <= t) and np.all(trunc["updated_at"] <= f["updated_at"])
    # the state the truncated run shows is the one implied by its life fields
    if name in ("fvg", "order_blocks", "swings"):
        implied = np.where(trunc["filled_at"] >= 0, 2, np.where(trunc["touched_at"] >= 0, 1, 0))
        np.testing.assert_array_equal(trunc["state"], implied, err_msg=f"{name}.state at t={t}")


@pytest.mark.parametrize("which", ["eurusd", "xauusd"])
@pytest.mark.parametrize("pidx", range(len(PARAMS)))
def test_truncated_runs_agree_with_full_run(request, which, pidx):
    bars = real_bars(request.getfixturevalue(f"{which}_csv"), which.upper())
    params = PARAMS[pidx]
    full = detect(bars, MY_KINDS, params)
    ftables = {k: v.copy() for k, v in full.tables.items()}
    rng = np.random.default_rng(7 + pidx)
    n = len(bars)
    points = sorted(set(rng.integers(5, n - 1, size=40).tolist()) | {0, 1, 2, 10, n - 2})
    for t in points:
        trunc = detect(bars.slice(0, t + 1), MY_KINDS, params)
        for name, rows in trunc.tables.items():
            _check_prefix(name, ftables[name], rows, t)
        for name, s in trunc.series.items():
            np.testing.assert_array_equal(s, full.series[name][: t + 1], err_msg=f"series {name} at t={t}")


def test_every_row_is_known_no_earlier_than_its_data(eurusd_csv):
    """Sanity on the confirmed_at rules themselves."""
    bars = real_bars(eurusd_csv, "EURUSD")
    n = 5
    r = detect(bars, MY_KINDS, {"swings": {"length": n}, "sweeps": {"sources": ["swings", "equal"]}})
    t = r.tables
    sw = t["swings"]
    assert np.all(sw["confirmed_at"] == sw["bar"] + n)
    fvg = t["fvg"]
    assert np.all(fvg["confirmed_at"] == fvg["bar"] + 1) and np.all(fvg["start"] == fvg["bar"] - 1)
    st = t["structure"]
    assert np.all(st["confirmed_at"] == st["bar"])
    assert np.all(sw["confirmed_at"][st["ref"]] <= st["bar"]), "a break used a swing not yet confirmed"
    ob = t["order_blocks"]
    assert np.all(ob["bar"] < ob["confirmed_at"]) or np.all(ob["bar"] <= ob["confirmed_at"])
    assert np.all(st["confirmed_at"][ob["ref"]] == ob["confirmed_at"])
    eq = t["equal"]
    assert np.all(eq["confirmed_at"] == sw["confirmed_at"][eq["ref"]])
    sp = t["sweeps"]
    assert np.all(sp["confirmed_at"] >= sp["start"]) and np.all(sp["start"] <= sp["bar"])
    for kind_sub, table in ((23, sw), (24, sw), (25, eq), (26, eq)):
        sel = sp[sp["sub"] == kind_sub]
        assert np.all(table["confirmed_at"][sel["ref"]] <= sel["start"])
    assert set(np.unique(sw["kind"])) <= {Kind.SWING_HIGH, Kind.SWING_LOW}


def test_sweeps_of_session_levels_have_no_lookahead(eurusd_csv):
    """Sweeps fed by levels.py's LEVEL rows (which retire at their `end`, set later) too."""
    bars = real_bars(eurusd_csv, "EURUSD")
    full = detect(bars, ("sweeps", "levels"), {"sweeps": {"sources": ["levels", "swings"]}})
    sweeps = full.tables["sweeps"].copy()
    for t in (3_000, 17_777, 31_000, 49_000):
        trunc = detect(bars.slice(0, t + 1), ("sweeps", "levels"), {"sweeps": {"sources": ["levels", "swings"]}})
        _check_prefix("sweeps", sweeps, trunc.tables["sweeps"], t)
