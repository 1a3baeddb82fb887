"""Ranged scans, backtests and sweeps start with warm detectors, on the real EURUSD file in a real store.

A run from T loads the history the rule's detectors need before T (runner.warmup_for), so what it
finds from T on is exactly what the run over all the history finds from T on: occurrences, orders
and trades, for every seed rule and two stress rules (previous week's levels, ATR stops and
filters, an H4 bias; a sweep of swing levels, which needs all stored history). T is a Monday right
after the weekend, a moment in the middle of a London session and of a setup bar, and a moment
between an occurrence's first step and its signal (which a cold start cannot find). The reported
range is the one asked for; no bar after ``--to`` changes anything.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ita_desktop.backtest.reports import html_report
from ita_desktop.backtest.simulator import EXIT_REASONS
from ita_desktop.cli.main import main
from ita_desktop.domain.clock import utc_iso
from ita_desktop.domain.timeframes import Timeframe
from ita_desktop.workflows.rule_backtest import RuleSweeper, backtest_rule, sweep_rule
from ita_desktop.workflows.rule_scan import ScanResult, resolve_rule, scan
from ita_desktop.rules.engine import compile_rule, run_setup
from ita_desktop.rules.engine.runner import LEVELS_WARMUP_SECONDS, warmup_for
from ita_desktop.rules.loader import repo_rules_dir, validate_text
from ita_desktop.storage.store import Store

pytestmark = pytest.mark.realdata

MONDAY_OPEN = 1642975200  # 2022-01-23T22:00Z: Sunday 17:00 New York, the first bar after the weekend
MONDAY = 1642982400  # 2022-01-24T00:00Z
MID_LONDON = 1644309120  # 2022-02-08T08:32Z: 03:32 New York, inside London and inside an M5 bar
MID_WEEK = 1644930000  # 2022-02-15T13:00Z
FIXED_STARTS = (MONDAY_OPEN, MONDAY, MID_LONDON, MID_WEEK)

STRESS_RULES = {
    # previous day/week levels swept, a displacement, an ATR stop and filter, the week's levels as targets
    # (a warm-up of 4 days instead of 15 changes 17 of its occurrences, 10 days 9)
    "pw_raid": """
rule_id: pw_raid
version: 1
name: previous day or week raid
description: warm-up test rule
market:
  symbols:
    EURUSD: {point: 0.00001, pip_size: 0.0001, point_value: 1.0}
  timeframe: M5
steps:
  - name: raid
    event: sweep
    levels: [pwh, pwl, pdh, pdl]
  - name: disp
    event: displacement
    with: raid
    within: {bars: 12, after: raid}
entry:
  order: market
  with: raid
stop:
  atr: 1.5
targets:
  - first_of:
      - level: pwh
      - level: pwl
filters:
  min_atr: {pips: 1}
risk:
  percent: 1
detectors:
  displacement: {k: 1.2}
""",
    # session and day levels, a CHOCH, an H4 structure bias
    "pd_bias": """
rule_id: pd_bias
version: 1
name: day or session raid with the H4 trend
description: warm-up test rule
market:
  symbols:
    EURUSD: {point: 0.00001, pip_size: 0.0001, point_value: 1.0}
  timeframe: M5
  bias: {timeframe: H4, trade: with}
steps:
  - name: raid
    event: sweep
    levels: [pdh, pdl, asia.high, asia.low, london.high, london.low]
  - name: shift
    event: choch
    with: raid
    within: {bars: 30, after: raid}
entry:
  order: market
  with: shift
stop:
  beyond: raid
targets:
  - r: 2
risk:
  percent: 1
""",
    # swing highs/lows stay raidable until raided: only all stored history is enough
    "swing_raid": """
rule_id: swing_raid
version: 1
name: swing raid
description: warm-up test rule
market:
  symbols:
    EURUSD: {point: 0.00001, pip_size: 0.0001, point_value: 1.0}
  timeframe: M15
steps:
  - name: raid
    event: sweep
    levels: [swing.high, swing.low]
entry:
  order: market
  with: raid
stop:
  beyond: raid
targets:
  - r: 1
risk:
  percent: 1
""",
}
SEEDS = ("asia_sweep", "ib_raid", "fvg_reversal", "Frank_raid")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, eurusd_csv: Path) -> Iterator[Path]:
    """One store with the real EURUSD M1 bars (imported as a trader would) and the stress rules."""
    root = tmp_path_factory.mktemp("ranged")
    rules = root / "rules"
    for rule_id, text in STRESS_RULES.items():
        (rules / rule_id).mkdir(parents=True)
        (rules / rule_id / "v1.yaml").write_text(text.lstrip(), encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ITA_HOME", str(root / "home"))
        (root / "home").mkdir()
        assert main(["data", "import", str(eurusd_csv), "--symbol", "EURUSD", "--server-tz=-03:30"]) == 0
        yield rules


@pytest.fixture(scope="module")
def store(home: Path) -> Iterator[Store]:
    with Store.open() as s:
        yield s


def _rules_dir(rule_id: str, home: Path) -> Path:
    return home if rule_id in STRESS_RULES else repo_rules_dir()


def _key(o) -> str:
    """An occurrence by what it is (times and prices), not by the indexes of the run it came from."""
    p = o.order
    plan = None if p is None else (p.entry, p.entry_price, p.stop_price, p.stop_distance, p.targets,
                                   p.expiry_time, p.time_exit_time)
    steps = tuple((s.name, s.time, s.price, s.direction, s.low, s.high, s.top, s.bottom) for s in o.steps)
    return repr((o.signal_time, o.direction, steps, o.skipped, plan))  # repr: NaN == NaN


_FULL: dict[str, ScanResult] = {}


def _full(store: Store, rule_id: str, home: Path) -> ScanResult:
    if rule_id not in _FULL:
        _FULL[rule_id] = scan(store, rule_id, "EURUSD", rules_dir=_rules_dir(rule_id, home))
    return _FULL[rule_id]


def _starts(full: ScanResult) -> list[int]:
    """The fixed starts, one between an occurrence's first step and its signal, and up to 12 signal times."""
    split = [o for o in full.occurrences if o.steps[0].time < o.signal_time]
    inside = [split[len(split) // 2].steps[0].time + 60] if split else []
    signals = [o.signal_time for o in full.occurrences]
    return [*FIXED_STARTS, *inside, *signals[:: max(1, len(signals) // 12)]]


@pytest.mark.parametrize("rule_id", [*SEEDS, *STRESS_RULES])
def test_a_run_from_t_finds_what_the_full_run_finds_from_t(store, home, rule_id) -> None:
    full = _full(store, rule_id, home)
    setup_seconds = 900 if rule_id in ("fvg_reversal", "swing_raid") else 300
    need = warmup_for(compile_rule(resolve_rule(rule_id, _rules_dir(rule_id, home)).rule, "EURUSD"))
    assert (need is None) == (rule_id == "swing_raid") and len(full.occurrences) >= 2
    split_seen = False
    for t in _starts(full):
        ranged = scan(store, rule_id, "EURUSD", start_utc=t, rules_dir=_rules_dir(rule_id, home))
        want = [o for o in full.occurrences if o.signal_time >= t]
        assert [_key(o) for o in ranged.occurrences] == [_key(o) for o in want], f"from {utc_iso(t)}"
        assert [o.id for o in ranged.occurrences] == list(range(len(want)))
        split_seen |= any(o.steps[0].time < t for o in want)
        # the range reported is the one asked for: setup bars opening at or after t
        first = -(-t // setup_seconds) * setup_seconds
        assert ranged.first_utc is not None and first <= ranged.first_utc < first + 3 * 86400
        assert ranged.last_utc == full.last_utc and ranged.n_bars < full.n_bars
        before = full.n_bars - ranged.n_bars  # setup bars stored before the range
        if need is None:  # all stored history
            assert (ranged.warmup_bars, ranged.warmup_from_utc) == (before, full.first_utc)
        else:
            assert min(need.bars, before) <= ranged.warmup_bars <= before
            # every stored bar of the 15 days before t is in (levels: the previous week's high and low)
            assert ranged.warmup_from_utc <= store.bars.load("EURUSD", Timeframe.M1, t - LEVELS_WARMUP_SECONDS).first_time
        assert len(ranged.orders) == sum(o.order is not None for o in ranged.occurrences)
    assert split_seen or rule_id in ("ib_raid", "swing_raid"), "no start fell inside an occurrence"


@pytest.mark.parametrize("rule_id", ["asia_sweep", "ib_raid", "pw_raid", "pd_bias"])
def test_bars_after_to_never_change_anything(store, home, rule_id) -> None:
    full = _full(store, rule_id, home)
    ends = sorted({o.signal_time + d for o in full.occurrences[::2] for d in (0, 300)} | {MID_LONDON - 120, MID_WEEK})
    for start in (None, MONDAY):
        for end in (e for e in ends if start is None or e > start + 86400):
            cut = scan(store, rule_id, "EURUSD", start_utc=start, end_utc=end, rules_dir=_rules_dir(rule_id, home))
            want = [o for o in full.occurrences if (start is None or o.signal_time >= start) and o.signal_time < end]
            assert [_key(o) for o in cut.occurrences] == [_key(o) for o in want], f"to {utc_iso(end)}"
            assert cut.last_utc is not None and cut.last_utc < end


def test_a_start_before_the_first_stored_bar_is_no_start(store, home) -> None:
    full = _full(store, "asia_sweep", home)
    early = scan(store, "asia_sweep", "EURUSD", start_utc=full.first_utc - 10 * 86400)
    assert early.to_dict() == full.to_dict() and early.warmup_bars == 0
    a = backtest_rule(store, "asia_sweep", "EURUSD")
    b = backtest_rule(store, "asia_sweep", "EURUSD", start_utc=full.first_utc - 10 * 86400)
    assert (b.bars_range, b.warmup_bars, b.inputs_hash) == (a.bars_range, 0, a.inputs_hash)
    assert b.stats.to_dict() == a.stats.to_dict()


def test_less_history_than_the_warmup_wants_uses_what_there_is(store, home) -> None:
    full = _full(store, "asia_sweep", home)
    t = full.first_utc + 3 * 86400
    ranged = scan(store, "asia_sweep", "EURUSD", start_utc=t)
    assert ranged.warmup_from_utc == full.first_utc and t - full.first_utc < LEVELS_WARMUP_SECONDS
    assert ranged.warmup_bars == full.n_bars - ranged.n_bars > 0


def _trade_keys(result, start: int | None = None) -> list[tuple]:
    """Trades by times, prices and outcome (sizes differ: each run starts with its own equity)."""
    rows = result.trades.rows
    signal = result.trades.bar_times[rows["signal_bar"]]
    return [(int(s), int(r["entry_time"]), r["entry_price"], int(r["exit_time"]), r["exit_price"],
             int(r["exit_reason"]), r["stop_price"], round(float(r["r_multiple"]), 9))
            for s, r in zip(signal, rows) if start is None or s >= start]


def test_a_backtest_from_t_trades_as_the_full_run_does_from_t(store, home) -> None:
    full = backtest_rule(store, "ib_raid", "EURUSD")
    occ = _full(store, "ib_raid", home).occurrences
    rows = full.trades.rows
    candidates = [*FIXED_STARTS, occ[5].signal_time, occ[12].signal_time + 60]
    # a run from t holds no position from before t: compare where the full run held none at t
    starts = [t for t in candidates if not ((rows["entry_time"] < t) & (rows["exit_time"] >= t)).any()]
    assert len(starts) >= 4
    compared = 0
    for t in starts:
        ranged = backtest_rule(store, "ib_raid", "EURUSD", start_utc=t)
        assert _trade_keys(ranged) == _trade_keys(full, t), f"from {utc_iso(t)}"
        compared += len(ranged.trades)
        assert (ranged.trades.rows["entry_time"] >= t).all()  # never a fill before t
        assert ranged.bars_range[0] >= t and ranged.bars_range[1] == full.bars_range[1] and ranged.warmup_bars > 0
        assert ranged.stats.summary["trades"] == len(ranged.trades)
        stored = store.runs.get(ranged.run_id)
        assert (stored.first_utc, stored.last_utc) == ranged.bars_range
        assert (stored.warmup_bars, stored.warmup_from_utc) == (ranged.warmup_bars, ranged.warmup_from_utc)
        assert stored.rule_version_id == ranged.rule_version_id and "warmup" not in json.loads(stored.stats_json)
        assert f"detectors warmed on {ranged.warmup_bars:,} bars before from {utc_iso(ranged.warmup_from_utc)}" \
            in html_report(ranged)
        # the GUI draws each trade with the scan's occurrence of the same id: same ids, same signals
        found = {o.id: o for o in scan(store, "ib_raid", "EURUSD", start_utc=t).occurrences}
        signal = ranged.trades.bar_times[ranged.trades.rows["signal_bar"]]
        assert [found[int(i)].signal_time for i in ranged.trades.rows["occurrence"]] == signal.tolist()
    assert compared >= 5


def test_a_backtest_to_u_agrees_with_the_full_run_on_what_closed_before_u(store, home) -> None:
    full = backtest_rule(store, "ib_raid", "EURUSD")
    rows = full.trades.rows
    for end in (MID_LONDON - 120, MID_WEEK, int(rows["exit_time"][len(rows) // 2]) + 60):
        cut = backtest_rule(store, "ib_raid", "EURUSD", start_utc=MONDAY, end_utc=end)
        closed = [k for k in _trade_keys(cut) if EXIT_REASONS[k[5]] != "end_of_data"]  # still open at the cut
        want = [k for k in _trade_keys(full, MONDAY) if k[3] < end]
        assert closed == want and closed, f"to {utc_iso(end)}"


def test_a_sweep_from_t_warms_for_its_hungriest_variant_and_matches_single_runs(store, home) -> None:
    t = MID_LONDON
    single = backtest_rule(store, "ib_raid", "EURUSD", start_utc=t)
    swept = sweep_rule(store, "ib_raid", "EURUSD", ["stop.buffer.pips=0,1"], start_utc=t)
    row = next(r for r in swept.rows if r["stop.buffer.pips"] == 1)  # the rule as written
    assert row["trades"] == single.stats.summary["trades"] and row["net_pnl"] == pytest.approx(single.stats["net_pnl"])
    meta = swept.meta
    assert (meta["first_utc"], meta["last_utc"], meta["warmup_bars"]) == (*single.bars_range, single.warmup_bars)
    hungry = sweep_rule(store, "asia_sweep", "EURUSD", ["detectors.atr_length=14,60"], start_utc=t)
    loaded = resolve_rule("asia_sweep")
    wants = RuleSweeper(loaded, "EURUSD", store.bars.load("EURUSD", loaded.rule.market.data_timeframe))
    need = warmup_for(wants.compiled_for({"detectors.atr_length": 60}))
    assert need is not None and hungry.meta["warmup_bars"] >= need.bars > 50 * 14 + 25


def test_run_setup_indexes_the_range_and_steps_before_it_are_negative(store, home) -> None:
    loaded = resolve_rule("asia_sweep")
    compiled = compile_rule(loaded.rule, "EURUSD")
    bars = store.bars.load("EURUSD", loaded.rule.market.data_timeframe)
    full = run_setup(compiled, bars)
    split = next(o for o in full.occurrences if o.steps[0].time < o.signal_time)
    t = split.steps[0].time + 60
    ranged = run_setup(compiled, bars, start_utc=t)
    first = int(np.searchsorted(full.bars.time, t))
    assert ranged.warmup_bars == first and len(ranged.bars) == len(full.bars) - first
    assert ranged.detection.n_bars == len(full.bars)
    for o in ranged.occurrences:
        assert ranged.bars.time[o.signal_bar] == o.signal_time
        twin = next(f for f in full.occurrences if f.signal_time == o.signal_time)
        assert [s.bar for s in o.steps] == [s.bar - first for s in twin.steps]
        if o.order is not None and o.order.expiry_bar >= 0:
            assert o.order.expiry_bar == twin.order.expiry_bar - first
    assert any(o.steps[0].bar < 0 for o in ranged.occurrences)  # the split one's sweep came before the range
    assert ranged.orders["signal_bar"].tolist() == [o.signal_bar for o in ranged.occurrences if o.order is not None]
    assert ranged.bars.time[0] == full.bars.time[first] and ranged.bars.close[0] == full.bars.close[first]


def test_the_warmup_rule() -> None:
    """Bars for ATR and structure to settle plus the occurrence's span; None where nothing short of
    all history will do (swing sweeps, a retest that may come any time later)."""
    spans = {}
    for rule_id in SEEDS:
        need = warmup_for(compile_rule(resolve_rule(rule_id).rule, "EURUSD"))
        assert need is not None and need.bars == 50 * 14 + need.span and need.bias_bars == 0
        spans[rule_id] = need.span
    # within 24 (+1: the FVG is known a bar after its candle); within 24 (+20: an order block's
    # lookback); within 12 (+1); a single step
    assert spans == {"asia_sweep": 25, "ib_raid": 0, "fvg_reversal": 13, "Frank_raid": 44}
    text = (repo_rules_dir() / "Frank_raid" / "v1.2.yaml").read_text()
    biased, issues = validate_text(text.replace("  timeframe: M5\n", "  timeframe: M5\n  bias: {timeframe: H4}\n"))
    assert not issues
    need = warmup_for(compile_rule(biased, "EURUSD"))
    assert need.bias_bars == 40 * 3 and need.guess_seconds() >= 1.5 * 120 * 4 * 3600
    retest = text.replace("  order: limit\n  with: shift\n  zone: ob\n", "  order: limit\n  with: shift\n  zone: again\n")
    retest = retest.replace("    formed_between: [raid, shift]\n",
                            "    formed_between: [raid, shift]\n  - name: again\n    event: retest\n    zone: ob\n")
    rule, issues = validate_text(retest)
    assert not issues, issues
    assert warmup_for(compile_rule(rule, "EURUSD")) is None


def test_cli_prints_the_range_asked_for_and_the_warmup(store, home, capsys) -> None:
    assert main(["scan", "asia_sweep", "--symbol", "EURUSD", "--from", "2022-02-08T08:32:00Z"]) == 0
    head = capsys.readouterr().out.splitlines()[0]
    assert ", 2022-02-08T08:35:00Z .. 2022-02-22T" in head
    assert "; detectors warmed on " in head and " M5 bars before 2022-02-08T08:35:00Z (from 2022-01-" in head
    assert main(["backtest", "ib_raid", "--symbol", "EURUSD", "--from", "2022-01-24", "--json"]) == 0
    run = json.loads(capsys.readouterr().out)
    assert run["range"][0] == MONDAY and run["warmup_bars"] >= 50 * 14  # ib_raid: no span, ATR and 15 days
    assert run["warmup_from_utc"] == store.bars.load("EURUSD", Timeframe.M1, MONDAY - LEVELS_WARMUP_SECONDS).first_time
    assert main(["backtest", "ib_raid", "--symbol", "EURUSD", "--from", "2022-01-24"]) == 0
    head = capsys.readouterr().out.splitlines()[0]
    assert f"2022-01-24T00:00:00Z .. 2022-02-22T18:55:00Z; detectors warmed on {run['warmup_bars']:,} setup bars " \
           f"before 2022-01-24T00:00:00Z" in head
    assert main(["scan", "asia_sweep", "--symbol", "EURUSD"]) == 0  # no start: no warm-up said
    assert "warmed" not in capsys.readouterr().out.splitlines()[0]
