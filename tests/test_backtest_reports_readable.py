"""Reports a trader can read (issue 18): prices at the symbol's digits, labels instead of column names,
a trades table that fits, XLSX times as real datetimes, numbers rounded, lots on the broker's 0.01 step."""

from __future__ import annotations

import re
from datetime import datetime

import pytest

from ita_desktop.backtest.reports import REPORT_TRADE_COLUMNS, write_html, write_xlsx

pytestmark = pytest.mark.realdata


@pytest.fixture
def run(eurusd_store):
    from ita_desktop.workflows.rule_backtest import backtest_rule
    from ita_desktop.storage.store import Store

    with Store.open() as store:
        return backtest_rule(store, "ib_raid", "EURUSD")


def test_lots_are_on_the_brokers_step(run):
    lots = run.trades.rows["lots"]
    assert len(lots) > 5
    assert all(abs(x * 100 - round(x * 100)) < 1e-6 for x in lots), lots[:5]
    assert run.trades.settings.lot_step == 0.01 and run.trades.settings.min_lot == 0.01


def test_html_report_has_labels_digits_and_a_table_that_fits(run, tmp_path):
    page = write_html(run, tmp_path / "r.html").read_text(encoding="utf-8")
    trades = page[page.index("<h2>Trades</h2>"):]
    for raw in ("entry_iso", "pnl_money", "exit_iso", "r_multiple", "entry_bar"):
        assert raw not in page, raw
    for label in ("Entry (UTC)", "Exit (UTC)", "P/L", "Win rate", "Expectancy (R)"):
        assert label in page
    first_entry = f"{run.trades.rows['entry_price'][0]:.5f}"
    assert f"<td>{first_entry}</td>" in trades  # 5 digits for EURUSD, not 4
    assert re.search(r"<td>1\.\d{5}</td>", trades) and not re.search(r"<td>1\.\d{6,}</td>", trades)
    assert "overflow-x:auto" in page and len(REPORT_TRADE_COLUMNS) <= 14


def test_xlsx_times_are_datetimes_and_numbers_are_rounded(run, tmp_path):
    from openpyxl import load_workbook

    wb = load_workbook(write_xlsx(run, tmp_path / "t.xlsx"))
    ws = wb["Trades"]
    header = [c.value for c in ws[1]]
    assert "Entry (UTC)" in header and "entry_iso" not in header
    row = [c.value for c in ws[2]]
    entry_time = row[header.index("Entry (UTC)")]
    assert isinstance(entry_time, datetime)
    assert int(entry_time.timestamp() if entry_time.tzinfo else
               (entry_time - datetime(1970, 1, 1)).total_seconds()) == int(run.trades.rows["entry_time"][0])
    lots = row[header.index("Lots")]
    assert lots == round(lots, 2)
    entry = row[header.index("Entry")]
    assert entry == round(entry, 5)
    for name, value in wb["Summary"].iter_rows(min_row=2, values_only=True):
        if isinstance(value, float):
            assert value == round(value, 4), (name, value)
