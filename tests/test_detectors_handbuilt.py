"""Hand-built bar sequences that pin the definitions: a CHOCH, sweeps, FVG life, OB -> breaker,
equal highs, ATR, displacement, swing ties; plus the dispatcher's request handling."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ita_desktop.detectors.atr import atr
from ita_desktop.detectors.dispatcher import DetectorParams, detect, normalize_kinds
from ita_desktop.detectors.objects import Kind, LevelKind, State, Table, table_of_level_kind
from ita_desktop.detectors.sweeps import LevelInput, Sweeps, SweepParams
from ita_desktop.detectors.base import BarContext
from tests.support.detectors import make_bars

STRUCTURE_BARS = [
    (10, 11, 9, 10),
    (10, 12, 10, 11.5),  # 1: swing high 12 (known at 2)
    (11.5, 11.8, 10.5, 11),
    (11, 11.2, 9.5, 10),  # 3: swing low 9.5; last down candle before the bar-4 displacement
    (10, 12.5, 9.8, 12.4),  # 4: close above 12 -> CHOCH up (no structure before)
    (12.4, 13, 12.2, 12.8),  # 5: swing high 13
    (12.8, 12.9, 11.5, 11.6),
    (11.6, 11.8, 11, 11.2),  # 7: swing low 11; last down candle -> bullish OB [11, 11.8]
    (11.2, 13.5, 11.1, 13.4),  # 8: close above 13 -> BOS up
    (13.4, 13.6, 13, 13.2),  # 9: swing high 13.6
    (13.2, 13.3, 11.5, 11.7),  # 10: low 11.5 re-enters the OB [11, 11.8] -> mitigated
    (11.7, 11.9, 10.4, 10.5),  # 11: close below 11 -> breaker, and CHOCH down (swing low 11 broken)
]
P1 = {"swings": {"length": 1}, "order_blocks": {"displacement_k": 0.0}, "sweeps": {"sources": ["swings", "equal"]}}


def test_known_choch_bos_choch_and_trend():
    r = detect(make_bars(STRUCTURE_BARS), ["structure", "swings"], P1)
    st, sw = r.tables["structure"], r.tables["swings"]
    got = [(int(e["bar"]), Kind(e["kind"]).name, int(e["direction"]), int(sw["bar"][e["ref"]]), float(e["price"]))
           for e in st]
    assert got == [(4, "CHOCH", 1, 1, 12.0), (8, "BOS", 1, 5, 13.0), (11, "CHOCH", -1, 7, 11.0)]
    assert list(st["sub"]) == [0, 1, 1]  # trend before each event
    assert list(st["extra"]) == [1.0, 1.0, -1.0]  # trend after
    assert list(r.series["trend"]) == [0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, -1]
    assert list(zip(sw["bar"], sw["kind"])) == [(1, 1), (3, 2), (5, 1), (7, 2), (9, 1)]
    assert list(sw["confirmed_at"]) == [2, 4, 6, 8, 10]


def test_order_block_mitigated_then_breaker():
    r = detect(make_bars(STRUCTURE_BARS), ["order_blocks"], P1)
    ob, st = r.tables["order_blocks"], r.tables["structure"]
    assert [(int(o["bar"]), int(o["direction"]), o["bottom"], o["top"]) for o in ob] == [
        (3, 1, 9.5, 11.2), (7, 1, 11.0, 11.8), (8, 1 * -1, 11.1, 13.5)]
    assert [int(st["bar"][o["ref"]]) for o in ob] == [4, 8, 11]  # tied to the break that made it
    assert [int(o["extra"]) for o in ob] == [4, 8, 11]  # the displacement candle
    bull = ob[1]
    assert (bull["confirmed_at"], bull["touched_at"], bull["filled_at"], bull["end"]) == (8, 10, 11, 11)
    assert bull["state"] == State.FILLED and bull["price"] == pytest.approx(11.4)
    first = ob[0]  # [9.5, 11.2]: re-entered at bar 7 (low 11), never closed below 9.5
    assert (first["touched_at"], first["filled_at"], first["state"], first["end"]) == (7, -1, State.TOUCHED, -1)


def test_order_block_needs_a_displacement():
    # with displacement_k = 50 x ATR no candle qualifies (ATR length 1 = the previous true range)
    r = detect(make_bars(STRUCTURE_BARS), ["order_blocks"],
               {**P1, "atr_length": 1, "order_blocks": {"displacement_k": 50.0}})
    assert len(r.tables["order_blocks"]) == 0
    assert len(r.tables["structure"]) == 3


FVG_BARS = [
    (10, 10.5, 9.8, 10.4),
    (10.4, 11.5, 10.3, 11.4),  # displacement candle
    (11.4, 11.8, 11, 11.6),  # low 11 > high[0] 10.5 -> bullish FVG [10.5, 11], known here
    (11.6, 11.9, 11.2, 11.5),
    (11.5, 11.6, 10.9, 11.1),  # re-entered (low 10.9 <= 11) -> touched
    (11.1, 11.2, 10.6, 10.8),  # inside, closes above 10.5
    (10.8, 10.9, 10.2, 10.3),  # closes below 10.5 -> filled
]


def _mirror(rows, axis=20.0):
    return [(axis - o, axis - lo, axis - h, axis - c) for o, h, lo, c in rows]


@pytest.mark.parametrize("mirror", [False, True])
def test_fvg_open_touched_filled(mirror):
    rows = _mirror(FVG_BARS) if mirror else FVG_BARS
    bars = make_bars(rows)
    r = detect(bars.slice(0, 4), ["fvg"])
    (g,) = r.tables["fvg"]
    d = -1 if mirror else 1
    bottom, top = (9.0, 9.5) if mirror else (10.5, 11.0)
    assert (g["direction"], g["bar"], g["start"], g["confirmed_at"]) == (d, 1, 0, 2)
    assert (g["bottom"], g["top"], g["price"]) == (pytest.approx(bottom), pytest.approx(top),
                                                   pytest.approx((top + bottom) / 2))
    assert (g["state"], g["touched_at"], g["filled_at"], g["end"]) == (State.OPEN, -1, -1, -1)
    ch = r.update({k: getattr(bars, k)[4] for k in ("time", "open", "high", "low", "close")})
    assert list(ch.index["fvg"]) == [0]
    g = r.tables["fvg"][0]
    assert (g["state"], g["touched_at"], g["updated_at"]) == (State.TOUCHED, 4, 4)
    ch = r.update(bars.slice(5, 6))
    assert not ch  # inside the gap but no close through: nothing changed
    ch = r.update(bars.slice(6, 7))
    g = ch.rows["fvg"][0]
    assert (g["state"], g["filled_at"], g["end"]) == (State.FILLED, 6, 6)
    assert ch.to_dict()["tables"]["fvg"][0]["state"] == "FILLED"


SWEEP_BARS = [
    (10, 10.5, 9.5, 10),
    (10, 11, 9.8, 10.6),  # swing high 11
    (10.6, 10.8, 10.2, 10.4),
    (10.4, 11.3, 10.3, 10.9),  # trades above 11, closes back below on the same bar -> sweep
    (10.9, 11, 10.5, 10.6),  # (swing high 11.3 at bar 3 known here)
    (10.6, 11.6, 10.5, 11.5),  # trades above 11.3 and closes above: raid in progress
    (11.5, 11.7, 11.2, 11.4),  # still above; new extreme 11.7
    (11.4, 11.5, 11, 11.1),  # closes back below 11.3, two bars after the raid -> sweep
]


def test_known_sweeps():
    r = detect(make_bars(SWEEP_BARS), ["sweeps"], {**P1, "sweeps": {"max_bars": 2, "sources": ["swings"]}})
    sw, swings = r.tables["sweeps"], r.tables["swings"]
    got = [(int(s["start"]), int(s["bar"]), int(s["confirmed_at"]), float(s["price"]), float(s["extra"]),
            int(s["direction"]), LevelKind(s["sub"]).name, int(swings["bar"][s["ref"]])) for s in sw]
    assert got == [(3, 3, 3, 11.0, 11.3, -1, "SWING_HIGH", 1), (5, 6, 7, 11.3, 11.7, -1, "SWING_HIGH", 3)]
    assert table_of_level_kind(sw["sub"][0]) == Table.SWINGS
    assert (sw["top"][1], sw["bottom"][1]) == (11.7, 11.3)
    # one bar less to close back: the second raid is a break, not a sweep
    r1 = detect(make_bars(SWEEP_BARS), ["sweeps"], {**P1, "sweeps": {"max_bars": 1, "sources": ["swings"]}})
    assert list(r1.tables["sweeps"]["confirmed_at"]) == [3]


def test_sweep_of_plain_levels_with_validity_window():
    bars = make_bars(SWEEP_BARS)
    n = len(bars)
    levels = LevelInput(price=[11.0, 11.0, 10.35, 11.5], side=[1, 1, -1, 1], valid_from=[0, 4, 3, 0],
                        valid_until=[-1, -1, -1, 2], ref=[7, 8, 9, 10],
                        kind=[LevelKind.PDH, LevelKind.ASIA_HIGH, LevelKind.PDL, LevelKind.PWH])
    sw = Sweeps(SweepParams(max_bars=3))
    sw.add_levels(levels)
    sw.run(BarContext(bars.open, bars.high, bars.low, bars.close, bars.time, n, {}), 0, n)
    got = [(int(s["ref"]), int(s["start"]), int(s["confirmed_at"]), int(s["direction"])) for s in sw.rows]
    # PDH 11.0: raided at 3, closed back at once. ASIA_HIGH 11.0 valid from 4: raided at 5 (high 11.6),
    # no close back to <= 11.0 within 3 bars -> a break, no row. PDL 10.35 valid from 3: bar 3 trades to 10.3
    # and closes 10.9 -> a bullish sweep. PWH 11.5 only valid to bar 2: the raid at 5 is too late.
    assert got == [(7, 3, 3, -1), (9, 3, 3, 1)]


EQUAL_BARS = [
    (10, 10.5, 9.5, 10),
    (10, 11, 9.8, 10.5),  # swing high 11
    (10.5, 10.7, 10, 10.2),
    (10.2, 11.02, 10.1, 10.8),  # swing high 11.02: equal to 11 within 0.05 -> EQH known at 4
    (10.8, 10.9, 10.3, 10.4),
    (10.4, 10.98, 10.35, 10.9),  # swing high 10.98: extends the cluster to 3 swings, known at 6
    (10.9, 10.95, 10.5, 10.6),
    (10.6, 11.1, 10.5, 10.7),  # trades above 11.02: liquidity taken, and a sweep (closes back)
]


def test_equal_highs_cluster_superseded_then_taken_and_swept():
    params = {**P1, "equal": {"tolerance": 0.05, "tolerance_atr": 0.0}}
    r = detect(make_bars(EQUAL_BARS), ["equal", "sweeps"], params)
    eq = r.tables["equal"]
    assert len(eq) == 2
    first, second = eq
    assert (first["start"], first["bar"], first["confirmed_at"], first["extra"]) == (1, 3, 4, 2.0)
    assert (first["state"], first["end"], first["filled_at"]) == (State.FILLED, 6, -1)  # superseded at 6
    assert (second["start"], second["bar"], second["confirmed_at"], second["extra"]) == (1, 5, 6, 3.0)
    assert (second["top"], second["bottom"], second["price"]) == (11.02, 10.98, 11.02)
    assert (second["touched_at"], second["end"], second["state"]) == (7, 7, State.TOUCHED)
    subs = {LevelKind(s["sub"]).name: int(s["ref"]) for s in r.tables["sweeps"] if s["confirmed_at"] == 7}
    assert subs["EQUAL_HIGHS"] == 1  # the live cluster; the superseded one is not swept again
    assert set(subs) == {"EQUAL_HIGHS", "SWING_HIGH"}
    # a tighter tolerance: no cluster at all
    r2 = detect(make_bars(EQUAL_BARS), ["equal"], {**P1, "equal": {"tolerance": 0.01, "tolerance_atr": 0.0}})
    assert len(r2.tables["equal"]) == 0


def test_swing_ties_rule():
    flat = [(10, 11, 9, 10), (10, 12, 10, 11), (11, 12, 10.5, 11), (11, 11.5, 10, 10.5), (10.5, 11, 9.5, 10)]
    sw = detect(make_bars(flat), ["swings"], {"swings": {"length": 1}}).tables["swings"]
    assert list(sw["bar"][sw["kind"] == Kind.SWING_HIGH]) == [1]  # leftmost bar of the flat top
    sw = detect(make_bars(flat), ["swings"], {"swings": {"length": 1, "ties": "all"}}).tables["swings"]
    assert list(sw["bar"][sw["kind"] == Kind.SWING_HIGH]) == [1, 2]


def test_atr_is_wilder(eurusd_csv):
    from tests.support.detectors import real_bars

    b = real_bars(eurusd_csv, "EURUSD")
    h, lo, c = b.high[:3000], b.low[:3000], b.close[:3000]
    tr = np.maximum(h - lo, np.maximum(np.abs(h - np.r_[np.nan, c[:-1]]), np.abs(lo - np.r_[np.nan, c[:-1]])))
    tr[0] = h[0] - lo[0]
    ref = np.full(len(h), np.nan)
    ref[13] = tr[:14].mean()
    for i in range(14, len(h)):
        ref[i] = (ref[i - 1] * 13 + tr[i]) / 14
    np.testing.assert_allclose(atr(h, lo, c, 14), ref, rtol=1e-12, equal_nan=True)


def test_displacement_uses_previous_bar_atr():
    rows = [(10, 10.5, 9.5, 10), (10, 10.6, 9.9, 10.5), (10.5, 12, 10.4, 11.9), (11.9, 12, 11, 11.1)]
    r = detect(make_bars(rows), ["displacement"], {"atr_length": 1, "displacement": {"k": 1.5}})
    d = r.tables["displacement"]
    # bar 2: body 1.4 >= 1.5 x TR[1] (0.7) -> yes; bar 3: body 0.8 < 1.5 x ATR[2] (1.6) -> no
    assert list(d["bar"]) == [2] and d["direction"][0] == 1
    assert d["extra"][0] == pytest.approx(1.4 / 0.7)


def test_request_handling_and_json():
    assert normalize_kinds("FVG, ob,bos") == ("fvg", "order_blocks", "structure")
    with pytest.raises(ValueError, match="unknown detector kind 'fvgz'"):
        normalize_kinds("fvgz")
    with pytest.raises(ValueError, match="unknown fvg parameter"):
        DetectorParams.from_dict({"fvg": {"min_pips": 1}})
    with pytest.raises(ValueError, match="swing length"):
        DetectorParams.from_dict({"swings": {"length": 0}})
    r = detect(make_bars(STRUCTURE_BARS), "fvg", P1)
    assert set(r.tables) == {"fvg"} and set(r.series) == {"atr"}  # only what the request needs
    r = detect(make_bars(STRUCTURE_BARS), "ob", P1)
    assert set(r.tables) == {"order_blocks", "structure", "swings"}
    d = detect(make_bars(STRUCTURE_BARS), "structure", P1).to_dict()
    text = json.dumps(d)
    assert '"kind": "CHOCH"' in text and d["tables"]["structure"][0]["time"].endswith("Z")
    with pytest.raises(ValueError, match="after bar"):
        r.update((r.time[-1], 1, 1, 1, 1))


def test_flat_bars_then_a_move_give_gaps_and_displacement_in_atr_units_of_infinity():
    """A market that did not move (a closed or frozen feed: ATR 0) and then gaps: numba raised
    ZeroDivisionError for the gap's and the candle's size in ATR, and the whole detection failed. Now the
    size is +inf, and a candle with no body is never a displacement (0 >= k x 0 held on the flat bars)."""
    flat = [(1.1, 1.1, 1.1, 1.1)] * 30
    move = [(1.16, 1.2, 1.15, 1.18)] + [(1.18, 1.25, 1.17, 1.24)] * 3
    r = detect(make_bars(flat + move), "all")
    fvg = r.tables["fvg"]
    assert len(fvg) >= 1 and fvg["confirmed_at"][0] == 30 and np.isinf(fvg["extra"][0])
    disp = r.tables["displacement"]
    assert disp["bar"][0] == 30 and np.isposinf(disp["extra"][0])
    assert np.all(disp["bar"] >= 30)  # none of the flat candles
