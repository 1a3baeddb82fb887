"""A rule on H1 or H4 reads its session and day levels from the M1 bars, in a full pass and live alike.

On the real EURUSD (issue 18): the H4 London high of 2022-02-22 is 1.13367 and the Asia high 1.1316,
the H1 initial-balance low 1.13319, as the M1 bars say; a level is used only from the setup bar at
which the M1 bars made it known (a run cut at any bar is the full run up to it); live (one streamed
M1 bar at a time through the rule's TimeframeBuilder) equals the full pass, and so does a replay
session against `ita scan`; the four seed rules (M5/M15), whose bars hold every level time, give the
same occurrences, orders and trades as from their own bars.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ita_desktop.backtest.simulator import simulate
from ita_desktop.core.live.bar_builder import TimeframeBuilder
from ita_desktop.core.live.live_session import _closed, _split_history
from ita_desktop.detectors.live_ready import make_ready
from ita_desktop.detectors.objects import FIXED_FIELDS, LevelKind
from ita_desktop.domain.bars import Bars
from ita_desktop.domain.timeframes import Timeframe
from ita_desktop.rules.engine import LiveSetup, compile_rule, run_setup
from ita_desktop.rules.engine.runner import levels_exact_on, setup_bars
from ita_desktop.workflows.rule_backtest import instrument_settings
from ita_desktop.workflows.rule_scan import resolve_rule, with_timeframe
from tests.support.real_bars import eurusd_bars

pytestmark = pytest.mark.realdata
SEED_RULES = ("asia_sweep", "ib_raid", "fvg_reversal", "Frank_raid")


@pytest.fixture(scope="module")
def m1(eurusd_csv: Path) -> Bars:
    return eurusd_bars(eurusd_csv)


def _compiled(rule_id: str, timeframe: str | None = None):
    return compile_rule(with_timeframe(resolve_rule(rule_id).rule, timeframe), "EURUSD")


def _key(o) -> tuple:
    p = o.order
    return o.key(), o.skipped, None if p is None else (p.entry, p.entry_price, p.stop_price, p.targets, p.expiry_time)


def _level_on(run, sub: LevelKind, day: str) -> float:
    """The last ``sub`` level the run's setup bars knew on New York day ``day``."""
    rows = run.detection.tables["levels"]
    time = run.detection.time
    known = pd.to_datetime(time[rows["confirmed_at"]], unit="s", utc=True).tz_convert("America/New_York")
    pick = (rows["sub"] == int(sub)) & (known.date == pd.Timestamp(day).date())
    assert pick.any(), f"no {sub.name} known on {day}"
    return float(rows["price"][pick][-1])


def test_the_issues_levels_of_an_h4_and_an_h1_rule_are_the_m1_values(m1: Bars) -> None:
    h4 = run_setup(_compiled("asia_sweep", "H4"), m1)
    assert h4.levels_from == "M1" and h4.inexact_levels == {}
    assert _level_on(h4, LevelKind.LONDON_HIGH, "2022-02-22") == pytest.approx(1.13367)
    assert _level_on(h4, LevelKind.ASIA_HIGH, "2022-02-22") == pytest.approx(1.1316)
    h1 = run_setup(_compiled("ib_raid", "H1"), m1)
    assert _level_on(h1, LevelKind.IB_LOW, "2022-02-22") == pytest.approx(1.13319)
    # from the H4 / H1 bars alone those levels are wrong (what the rule engine used before) and named
    coarse_h4 = run_setup(_compiled("asia_sweep", "H4"), setup_bars(m1, _compiled("asia_sweep", "H4")))
    assert _level_on(coarse_h4, LevelKind.ASIA_HIGH, "2022-02-22") != pytest.approx(1.1316)
    assert coarse_h4.levels_from == "H4" and set(coarse_h4.inexact_levels) == {"ASIA_HIGH", "ASIA_LOW"}
    coarse_h1 = run_setup(_compiled("ib_raid", "H1"), setup_bars(m1, _compiled("ib_raid", "H1")))
    assert {"IB_HIGH", "IB_LOW", "IB_MID"} <= set(coarse_h1.inexact_levels)
    assert coarse_h1.inexact_levels["IB_LOW"] == ("09:30", "10:30")


@pytest.mark.parametrize("rule_id,timeframe", [("asia_sweep", "H4"), ("ib_raid", "H1")])
def test_every_sweep_of_a_level_took_an_m1_level(m1: Bars, rule_id: str, timeframe: str) -> None:
    run = run_setup(_compiled(rule_id, timeframe), m1)
    tables = run.detection.tables
    fine = run_setup(_compiled(rule_id, "M1"), m1).detection.tables["levels"]
    swept = tables["sweeps"]
    swept = swept[np.isin(swept["sub"], [int(LevelKind.ASIA_HIGH), int(LevelKind.ASIA_LOW),
                                         int(LevelKind.IB_HIGH), int(LevelKind.IB_LOW)])]
    assert len(swept)
    assert np.isin(swept["price"], fine["price"]).all()


@pytest.mark.parametrize("rule_id,timeframe", [("asia_sweep", "H4"), ("ib_raid", "H1"), ("ib_raid", "H4")])
def test_no_look_ahead_a_run_cut_at_any_setup_bar_is_the_full_run_up_to_it(m1: Bars, rule_id: str,
                                                                          timeframe: str) -> None:
    """The M1 bars up to the end of setup bar k give the same levels known by k and the same occurrences
    signalled by k as all the M1 bars: nothing from after a setup bar reaches it."""
    compiled = _compiled(rule_id, timeframe)
    full = run_setup(compiled, m1)
    levels = full.detection.tables["levels"]
    sbars = full.bars
    for k in np.linspace(60, len(sbars) - 2, 9).astype(int):
        cut = m1.between(None, int(sbars.time[k + 1]))  # every M1 bar of setup bars 0..k
        part = run_setup(compiled, cut)
        assert len(part.bars) == k + 1
        early = levels[levels["confirmed_at"] <= k]
        got = part.detection.tables["levels"]
        assert len(got) == len(early), f"cut after bar {k}"
        for name in FIXED_FIELDS:
            np.testing.assert_array_equal(got[name], early[name], err_msg=f"{name}, cut after bar {k}")
        assert [_key(o) for o in part.occurrences] == [_key(o) for o in full.occurrences if o.signal_bar <= k]


def _live(compiled, m1: Bars, start: int) -> LiveSetup:
    """The rule live from M1 bar ``start`` on, fed as a LiveSession feeds it (streamed bars, then the closes)."""
    done, tail = _split_history(m1.slice(0, start), compiled, m1.timeframe)
    live = LiveSetup(compiled, done)
    live.add_fine(tail)
    make_ready(live.det)  # as LiveSession's start does (room reserved, update path warmed): results unchanged
    builder = TimeframeBuilder(m1.timeframe, compiled.timeframe, compiled.clock)
    for i in range(len(tail)):
        builder.add(_closed(tail, i))
    for i in range(start, len(m1)):
        bar = _closed(m1, i)
        live.add_fine(bar)
        for sbar in builder.add(bar):
            live.update(sbar)
    for sbar in builder.flush():
        live.update(sbar)
    return live


@pytest.mark.parametrize("rule_id,timeframe", [("asia_sweep", "H1"), ("asia_sweep", "H4"), ("ib_raid", "H1"),
                                               ("ib_raid", "H4")])
def test_live_from_streamed_m1_equals_the_full_pass(m1: Bars, rule_id: str, timeframe: str) -> None:
    compiled = _compiled(rule_id, timeframe)
    full = run_setup(compiled, m1)
    live = _live(compiled, m1, 5_000)
    assert full.occurrences, "nothing to compare"
    assert [_key(o) for o in live.occurrences] == [_key(o) for o in full.occurrences]
    for name in ("levels", "sessions", "sweeps"):
        got, want = live.det.tables[name], full.detection.tables[name]
        assert len(got) == len(want), name
        for field in want.dtype.names:
            np.testing.assert_array_equal(got[field], want[field], err_msg=f"{name}.{field}")


def test_a_setup_bar_appended_before_its_streamed_bars_is_refused(m1: Bars) -> None:
    """Live levels that silently stood still would differ from the full pass: refuse instead."""
    compiled = _compiled("asia_sweep", "H1")
    live = LiveSetup(compiled, m1.slice(0, 600))
    h1 = setup_bars(m1.slice(0, 720), compiled)
    with pytest.raises(RuntimeError, match="add_fine"):
        live.update({c: getattr(h1, c)[-1] for c in ("time", "open", "high", "low", "close")})


@pytest.mark.parametrize("rule_id", SEED_RULES)
def test_the_seed_rules_give_the_same_occurrences_orders_and_trades_as_from_their_own_bars(m1: Bars, rule_id) -> None:
    """M5 and M15 bars hold every level time: levels from M1 (forced here) change nothing a rule reads,
    which is why a run of them computes its levels on its own bars (levels_exact_on) and costs no more."""
    compiled = _compiled(rule_id)
    assert compiled.timeframe in (Timeframe.M5, Timeframe.M15) and levels_exact_on(compiled)
    sbars = setup_bars(m1, compiled)
    fine, own = run_setup(compiled, m1, fine_levels=True), run_setup(compiled, sbars)
    assert fine.levels_from == "M1" and own.levels_from == compiled.timeframe.value and own.inexact_levels == {}
    assert run_setup(compiled, m1).levels_from == compiled.timeframe.value
    assert fine.occurrences, "nothing to compare"
    assert [_key(o) for o in fine.occurrences] == [_key(o) for o in own.occurrences]
    assert len(fine.orders) == len(own.orders)
    for name in own.orders.dtype.names:  # field by field: NaN equals NaN here
        np.testing.assert_array_equal(fine.orders[name], own.orders[name], err_msg=name)
    settings = instrument_settings(compiled)
    a, b = simulate(fine.bars, fine.orders, settings, lower=m1), simulate(own.bars, own.orders, settings, lower=m1)
    assert a.to_records() == b.to_records()


def test_a_rule_computes_levels_on_m1_exactly_when_its_own_bars_cannot_hold_their_times() -> None:
    assert not levels_exact_on(_compiled("asia_sweep", "H1"))  # 09:30 (NY open, initial balance) inside an hour
    assert not levels_exact_on(_compiled("asia_sweep", "H4"))  # 20:00 (Asia) inside 18:00-22:00
    assert levels_exact_on(_compiled("asia_sweep", "M30"))
    rule = resolve_rule("asia_sweep").rule
    odd = rule.model_copy(update={"market": rule.market.model_copy(update={
        "timeframe": Timeframe.M15, "sessions": {"early": ["07:10", "08:00"]}})})
    assert not levels_exact_on(compile_rule(odd, "EURUSD"))


def _h4_rule(user_rules: Path) -> str:
    text = (Path(__file__).parents[1] / "rules" / "asia_sweep" / "v1.yaml").read_text(encoding="utf-8")
    text = text.replace("rule_id: asia_sweep", "rule_id: asia_sweep_h4").replace("timeframe: M5", "timeframe: H4")
    folder = user_rules / "asia_sweep_h4"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "v1.yaml").write_text(text, encoding="utf-8")
    return "asia_sweep_h4"


def test_a_replay_of_an_h4_rule_signals_what_ita_scan_finds_with_m1_levels(eurusd_store: Path) -> None:
    from ita_desktop.config import load_settings
    from ita_desktop.core.app_core import Core
    from ita_desktop.core.live.replay_feed import play
    from ita_desktop.paths import app_paths

    paths = app_paths().ensure()
    rule = _h4_rule(paths.user_rules)
    with Core(load_settings(), paths) as core:
        scanned = core.backtests.scan(rule, "EURUSD")
        assert scanned.levels_from == "M1" and scanned.to_dict()["inexact_levels"] == {}
        plan = core.live.replay("EURUSD", [rule], publish=False)
        step = play(plan.session, plan.to_play)
        expected = [_comparable(o.to_dict()) for o in scanned.occurrences]
        assert expected, "the H4 rule signals nothing on the file: the comparison would be empty"
        assert [_comparable(r.occurrence) for r in step.raised] == expected
        # a ranged scan (warm-up before T) finds from T what the whole-history scan finds from T
        t = int(core.store.bars.load("EURUSD", "M1").time[20_000])
        ranged = core.backtests.scan(rule, "EURUSD", start_utc=t)
        assert ranged.levels_from == "M1" and ranged.warmup_bars > 0
        later = [o for o in scanned.occurrences if o.signal_time >= t]
        assert later, "nothing signalled after T: the comparison would be empty"
        timed = lambda o: (o.signal_time, o.direction, o.skipped, tuple((h.name, h.time, h.price) for h in o.steps))  # noqa: E731
        assert [timed(o) for o in ranged.occurrences] == [timed(o) for o in later]


def _comparable(d: dict) -> dict:
    """An occurrence without the order's bar indexes a live run cannot know at the signal (as in
    test_live_session_replay)."""
    d = dict(d)
    if d.get("order"):
        d["order"] = {k: v for k, v in d["order"].items() if k not in ("time_exit_bar", "expiry_bar")}
    return d


def test_stored_h1_uses_the_stored_m1_for_its_levels_and_alone_names_what_it_cannot_know(ita_home, m1: Bars,
                                                                                         capsys) -> None:
    """`ita scan` / `ita backtest` of an H1 rule: with only H1 stored, today's levels from H1 and a note
    naming the inexact ones; with M1 stored beside the H1, the levels come from the M1."""
    import json

    from ita_desktop.cli.main import main
    from ita_desktop.domain.resample import resample
    from tests.support.real_bars import store_bars

    compiled = _compiled("ib_raid", "H1")
    store_bars(resample(m1, Timeframe.H1, clock=compiled.clock))
    assert main(["scan", "ib_raid", "--symbol", "EURUSD", "--timeframe", "H1"]) == 0
    out = capsys.readouterr().out
    assert "levels and sessions computed from H1 bars" in out and "not exact from H1 bars" in out and "IB_LOW" in out
    assert main(["backtest", "ib_raid", "--symbol", "EURUSD", "--timeframe", "H1", "--json"]) == 0
    run = json.loads(capsys.readouterr().out)
    assert run["levels_from"] == "H1" and run["inexact_levels"]["IB_LOW"] == ["09:30", "10:30"]

    store_bars(m1)
    assert main(["scan", "ib_raid", "--symbol", "EURUSD", "--timeframe", "H1", "--json"]) == 0
    scanned = json.loads(capsys.readouterr().out)
    assert scanned["source_timeframe"] == "H1"  # the stored H1 are the setup bars; their levels come from M1
    assert scanned["levels_from"] == "M1" and scanned["inexact_levels"] == {}
    want = run_setup(compiled, m1)
    assert [o["signal_time"] for o in scanned["occurrences"]] == [o.signal_time for o in want.occurrences]
    assert main(["backtest", "ib_raid", "--symbol", "EURUSD", "--timeframe", "H1"]) == 0
    assert "levels and sessions computed from M1 bars (shown on H1)" in capsys.readouterr().out
