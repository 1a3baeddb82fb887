"""Zone size filters and fixed-distance stops and targets change the occurrences and orders as written.

On the real EURUSD (M1 built to M5): the seed asia_sweep, then the same rule with one key changed.
"""

from __future__ import annotations

import math

import pytest

from ita_desktop.domain.resample import resample
from ita_desktop.domain.timeframes import Timeframe
from ita_desktop.rules.engine import run_setup
from ita_desktop.rules.loader import repo_rules_dir, validate_text
from tests.support.real_bars import eurusd_bars

SEED = (repo_rules_dir() / "asia_sweep" / "v1.yaml").read_text(encoding="utf-8")
PIP = 0.0001


@pytest.fixture(scope="module")
def m5(eurusd_csv):
    return resample(eurusd_bars(eurusd_csv), Timeframe.M5)


def occurrences(text: str, bars):
    rule, issues = validate_text(text)
    assert rule is not None, [i.located() for i in issues]
    return run_setup(rule, bars, "EURUSD").occurrences


def test_a_minimum_fvg_size_drops_the_sub_pip_gaps_and_keeps_the_rest(m5):
    every = occurrences(SEED, m5)
    sized = occurrences(SEED.replace("    formed_between: [sweep, choch]",
                                     "    formed_between: [sweep, choch]\n    min_size: {pips: 2}"), m5)
    assert every and len(sized) < len(every)
    heights = [s.top - s.bottom for o in sized for s in o.steps if s.name == "fvg"]
    assert heights and min(heights) >= 2 * PIP - 1e-9
    small = [o for o in every if any(s.name == "fvg" and s.top - s.bottom < 2 * PIP - 1e-9 for s in o.steps)]
    assert small, "the real data has gaps under 2 pips"
    kept = {o.key() for o in sized}
    assert not kept & {o.key() for o in small}


def test_a_fixed_stop_in_pips_sits_that_far_from_the_entry(m5):
    text = SEED.replace("  beyond: sweep\n  buffer: {pips: 1}", "  pips: 12")
    orders = [o.order for o in occurrences(text, m5) if o.order is not None]
    assert orders
    for plan in orders:
        assert math.isnan(plan.stop_price)
        assert plan.stop_distance == pytest.approx(12 * PIP)
    points = [o.order for o in occurrences(text.replace("  pips: 12", "  points: 70"), m5) if o.order]
    assert points and all(p.stop_distance == pytest.approx(70 * 0.00001) for p in points)


def test_fixed_targets_in_pips_points_and_atr_are_prices_that_far_from_the_entry(m5):
    pips = SEED.replace("      - opposite: sweep\n      - r: 2", "      - pips: 15\n      - r: 20")
    found = [o for o in occurrences(pips, m5) if o.order is not None]
    assert found
    for o in found:
        assert o.order.targets[0]["price"] == pytest.approx(o.order.entry_price + o.direction * 15 * PIP)
    single = SEED.replace("  - first_of:\n      - opposite: sweep\n      - r: 2", "  - points: 100")
    for o in (o for o in occurrences(single, m5) if o.order is not None):
        assert o.order.targets[0]["price"] == pytest.approx(o.order.entry_price + o.direction * 100 * 0.00001)
    atr = SEED.replace("  - first_of:\n      - opposite: sweep\n      - r: 2", "  - atr: 3")
    with_atr = [o for o in occurrences(atr, m5) if o.order is not None]
    assert with_atr
    for o in with_atr:
        distance = (o.order.targets[0]["price"] - o.order.entry_price) * o.direction
        assert distance > 0


@pytest.mark.parametrize("stop, message", [
    ("  beyond: sweep\n  pips: 10", "'beyond' and 'pips' cannot be used together"),
    ("  pips: 0", "stop.pips: expected a number greater than 0"),
])
def test_stop_mistakes_are_located(stop, message):
    _rule, issues = validate_text(SEED.replace("  beyond: sweep\n  buffer: {pips: 1}", stop), "r.yaml")
    assert any(message in i.message for i in issues), [i.located() for i in issues]


def test_a_target_gives_one_price_only():
    text = SEED.replace("  - first_of:\n      - opposite: sweep\n      - r: 2", "  - pips: 10\n    r: 2")
    _rule, issues = validate_text(text, "r.yaml")
    assert any("'r' and 'pips' cannot be used together" in i.message for i in issues), [i.located() for i in issues]
