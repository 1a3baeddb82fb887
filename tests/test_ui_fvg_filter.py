"""The chart's FVG size filter is the trader's saved setting, the legend says what it hides, and
the zones a drawn setup used are drawn whatever their size (issue 18: 210 FVGs shown on M5 of
2,362 found, and the FVG a trade entered on not drawn)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ita_desktop.config import load_settings
from ita_desktop.domain.resample import resample
from ita_desktop.domain.timeframes import Timeframe
from ita_desktop.ui.chart.overlays import overlay_data, overlay_options
from ita_desktop.ui.chart.overlays.shapes import Boxes
from tests.support.cores import new_core
from tests.support.real_bars import eurusd_bars

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def m5(eurusd_csv: Path):
    return resample(eurusd_bars(eurusd_csv), Timeframe.M5)


def test_the_legend_says_how_many_gaps_the_filter_hides(qtbot, ita_home, m5):
    from ita_desktop.ui.chart import CandleChart
    from ita_desktop.ui.chart.overlays import OverlaySet
    from ita_desktop.ui.legend import LegendPanel

    settings = load_settings()
    assert settings.chart.fvg_min_atr == 1.0
    result = new_core().detection.detect(m5)
    data = overlay_data(m5, result, overlay_options(settings))
    shown, total = data.counts["fvg"], data.counts["fvg_total"]
    assert 0 < shown < total and total > 2000
    everything = overlay_data(m5, result, type(overlay_options(settings))(fvg_min_atr=0.0))
    assert everything.counts["fvg"] == total
    chart = CandleChart()
    qtbot.addWidget(chart)
    legend = LegendPanel(OverlaySet(chart, chart.theme))
    qtbot.addWidget(legend)
    legend.set_filter_text("fvg", "≥ 1 ATR")
    legend.set_counts(data.counts)
    assert legend.row_of("fvg").text() == f"FVGs ≥ 1 ATR  ({shown:,}/{total:,})"
    assert f"{shown:,} drawn of {total:,} found" in legend.row_of("fvg").toolTip()


def test_the_filter_is_a_saved_setting(qtbot, ita_home):
    from ita_desktop.ui.settings_dialog import SettingsDialog

    dialog = SettingsDialog(load_settings())
    qtbot.addWidget(dialog)
    dialog.fvg_min_atr.setValue(0.5)
    assert dialog.save()
    assert load_settings().chart.fvg_min_atr == 0.5
    assert overlay_options(load_settings()).fvg_min_atr == 0.5


def test_a_traded_setups_fvg_is_drawn_with_the_setup(eurusd_store):
    from ita_desktop.workflows.rule_backtest import backtest_rule
    from ita_desktop.workflows.rule_scan import scan
    from ita_desktop.storage.store import Store
    from ita_desktop.core.backtest_service import BacktestOutcome
    from ita_desktop.core.rules_service import RuleChoice
    from ita_desktop.ui.panels.trade_drawing import setup_shapes

    with Store.open() as store:
        result = backtest_rule(store, "fvg_reversal", "EURUSD")
        occurrences = scan(store, "fvg_reversal", "EURUSD").occurrences
        chart = store.bars.load("EURUSD", Timeframe.M1)
    assert len(result.trades) > 0
    outcome = BacktestOutcome(RuleChoice("fvg_reversal", "2", Path("x")), "EURUSD", "M15", result, occurrences)
    layer = setup_shapes(outcome, chart.time)
    boxes = [b for b in layer.batches if isinstance(b, Boxes)]
    assert boxes, "the setups' FVGs are not drawn"
    traded = set(result.trades.rows["occurrence"].tolist())
    fvgs = [s for o in occurrences if o.id in traded for s in o.steps if s.event == "fvg"]
    assert len(fvgs) == len(boxes[0])
    np.testing.assert_allclose(np.sort(boxes[0].y1), np.sort([s.top for s in fvgs]))
    np.testing.assert_allclose(np.sort(boxes[0].y0), np.sort([s.bottom for s in fvgs]))
