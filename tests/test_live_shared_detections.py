"""Rules on one timeframe share detectors (detectors/shared_detection.py): each shared detector is
advanced once per bar, and every rule still gets exactly its own full pass (real EURUSD)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ita_desktop.config import load_settings
from ita_desktop.core.app_core import Core
from ita_desktop.core.live.replay_feed import play
from ita_desktop.detectors.dispatcher import DetectorParams, detect, detector_keys
from ita_desktop.detectors.shared_detection import DetectionGroups, SharedDetections
from ita_desktop.detectors.sweeps import SweepParams
from ita_desktop.domain.resample import resample
from ita_desktop.domain.timeframes import Timeframe
from ita_desktop.paths import app_paths
from tests.support.real_bars import eurusd_bars

pytestmark = pytest.mark.realdata
SEED = ["asia_sweep", "ib_raid", "fvg_reversal", "Frank_raid"]


def _comparable(d: dict) -> dict:
    d = dict(d)
    if d.get("order"):
        d["order"] = {k: v for k, v in d["order"].items() if k not in ("time_exit_bar", "expiry_bar")}
    return d


def test_the_four_seed_rules_share_detectors_and_each_signals_its_own_scan(eurusd_store: Path) -> None:
    """A replay from the middle of the file (a history's full pass, then rules joining a group that
    holds some of their detectors already) raises per rule exactly `ita scan`'s occurrences from there."""
    with Core(load_settings(), app_paths().ensure()) as core:
        bars = core.store.bars.load("EURUSD", "M1")
        start = int(bars.time[len(bars) // 2])
        plan = core.live.replay("EURUSD", SEED, start_utc=start, publish=False)
        session = plan.session
        det = {a.compiled.rule.rule_id: a.setup.det for a in session.rules}
        # the three M5 rules: one ATR and one session clock; asia_sweep and Frank_raid one swings,
        # structure and session levels; ib_raid's levels have a window more (its own); every sweep its own
        for name in ("atr", "swings", "structure", "session_levels"):
            assert det["asia_sweep"].detectors[name] is det["Frank_raid"].detectors[name], name
        assert det["ib_raid"].detectors["atr"] is det["asia_sweep"].detectors["atr"]
        assert det["ib_raid"].detectors["session_levels"] is not det["asia_sweep"].detectors["session_levels"]
        assert det["ib_raid"].detectors["session_levels"].clock is det["asia_sweep"].detectors["session_levels"].clock
        assert len({id(d.detectors["sweeps"]) for d in det.values()}) == 4
        own = sum(len(d.detectors) for d in det.values())
        # M5: one ATR, two session levels, one swings, structure, FVG and order blocks, three sweeps; M15: its five
        assert (session.detections.detectors(), own) == (15, 20)
        step = play(session, plan.to_play)
        assert len(session.timeframes) == 2  # M5 (three rules, one builder) and M15
        for rule in SEED:
            expected = [_comparable(o.to_dict()) for o in core.backtests.scan(rule, "EURUSD").occurrences
                        if o.signal_time >= start]
            got = [_comparable(r.occurrence) for r in step.raised if r.rule_id == rule]
            assert expected, f"{rule} finds nothing in the second half: the comparison would be empty"
            assert got == expected, rule


def _m5(eurusd_csv: Path):
    return resample(eurusd_bars(eurusd_csv), Timeframe.M5)


def test_shared_members_advanced_bar_by_bar_equal_their_own_full_passes(eurusd_csv: Path) -> None:
    """Two requests over M5 sharing ATR, swings, structure and levels but not their sweeps, plus one that
    joins later: after a full pass over half the bars and the rest one bar at a time, every table and
    series of each equals a standalone full pass over all the bars, field by field."""
    m5 = _m5(eurusd_csv)
    half = len(m5) // 2
    a = DetectorParams(sweeps=SweepParams(max_bars=3))
    b = DetectorParams(sweeps=SweepParams(max_bars=6))
    requests = [(("fvg", "structure", "sweeps"), a), (("order_blocks", "sweeps"), b), (("equal", "displacement"), a)]
    group = SharedDetections("EURUSD", Timeframe.M5)
    members = [group.join(kinds, params, m5.slice(0, half)) for kinds, params in requests[:2]]
    assert members[0].detectors["structure"] is members[1].detectors["structure"]
    assert members[0].detectors["sweeps"] is not members[1].detectors["sweeps"]
    for i in range(half, len(m5)):
        bar = {c: getattr(m5, c)[i] for c in ("time", "open", "high", "low", "close")}
        if i == half + 500:  # a late joiner: built over the bars so far, its new detectors caught up
            members.append(group.join(*requests[2], m5.slice(0, i)))
            assert members[2].detectors["swings"] is members[0].detectors["swings"]
        for m in members:
            m.advance(bar)
    for m, (kinds, params) in zip(members, requests):
        alone = detect(m5, kinds=kinds, params=params, parallel=False)
        assert set(m.tables) == set(alone.tables)
        for name, rows in alone.tables.items():
            assert len(rows) and len(m.tables[name]) == len(rows), name
            for field in rows.dtype.names:
                np.testing.assert_array_equal(m.tables[name][field], rows[field], err_msg=f"{name}.{field}")
        for name, values in alone.series.items():
            np.testing.assert_array_equal(m.series[name], values, err_msg=name)
        assert m.n_bars == alone.n_bars


def test_a_member_out_of_turn_or_on_other_bars_is_refused(eurusd_csv: Path) -> None:
    m5 = _m5(eurusd_csv).slice(0, 3000)
    group = SharedDetections("EURUSD", Timeframe.M5)
    one = group.join(("fvg",), DetectorParams(), m5.slice(0, 2000))
    two = group.join(("sweeps",), DetectorParams(), m5.slice(0, 2000))
    bar = {c: getattr(m5, c)[2000] for c in ("time", "open", "high", "low", "close")}
    nxt = {c: getattr(m5, c)[2001] for c in ("time", "open", "high", "low", "close")}
    one.advance(bar)
    with pytest.raises(RuntimeError, match="take the same bars in turn"):
        two.advance(nxt)  # two skips bar 2000
    with pytest.raises(RuntimeError, match="take the same bars in turn"):
        two.advance({**bar, "close": bar["close"] + 1e-4})  # the same time, another price
    two.advance(bar)
    assert not group.accepts(("fvg",), DetectorParams(), m5.slice(0, 1999))  # other bars
    assert not group.accepts(("fvg",), DetectorParams(atr_length=20))  # another ATR in the buffer's series
    assert group.accepts(("fvg",), DetectorParams(), m5.slice(0, 2001))
    groups = DetectionGroups()
    x = groups.detect("s", m5, ("fvg",), DetectorParams())
    y = groups.detect("s", m5, ("fvg",), DetectorParams(atr_length=20))
    assert x.group is not y.group and x.detectors["atr"] is not y.detectors["atr"]
    assert detector_keys(("fvg",), DetectorParams())["fvg"] != detector_keys(("fvg",), DetectorParams(atr_length=20))["fvg"]
