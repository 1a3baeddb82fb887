"""`ita signals export`: stored signals as CSV and Excel, times labelled with their clock, prices at the symbol's digits."""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

from openpyxl import load_workbook

from ita_desktop.cli.main import main
from ita_desktop.storage.signal_store import SignalRecord
from ita_desktop.storage.store import Store

T = 1_700_000_000  # 2023-11-14 22:13:20 UTC = 17:13:20 New York


def _rec(key: str, rule: str, symbol: str, t: int, entry: float, stop: float, status: str = "pending",
         outcome: dict | None = None) -> SignalRecord:
    return SignalRecord(occurrence_key=key, rule_id=rule, rule_version="2", symbol=symbol, timeframe="M5", signal_time=t,
                        direction=-1, source="live", status=status, steps=[], occurrence={}, order_type="stop",
                        entry_price=entry, stop_price=stop, targets=[{"price": entry - 0.004}, {"r": 2.0}],
                        outcome=outcome or {})


def _store_signals() -> None:
    with Store.open() as store:
        store.instruments.define("EURUSD", digits=5)
        store.instruments.define("USDJPY", digits=3)
        store.signals.store([
            _rec("k1", "asia_sweep", "EURUSD", T, 1.0850049, 1.0870, "target",
                 {"entry_time": T + 300, "exit_time": T + 3600, "exit_price": 1.081, "exit_reason": "target",
                  "r_multiple": 1.99751}),
            _rec("k2", "london_fvg", "USDJPY", T + 86400, 150.12345, 150.5),
            _rec("k3", "asia_sweep", "EURUSD", T + 2 * 86400, 1.1, 1.102),
        ])


def test_ita_signals_export_csv_labels_clocks_and_writes_prices_at_the_symbols_digits(ita_home: Path, tmp_path: Path,
                                                                                      capsys) -> None:
    _store_signals()
    out = tmp_path / "signals.csv"
    assert main(["signals", "export", "--out", str(out)]) == 0
    assert "3 signal(s) written" in capsys.readouterr().out
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert list(rows[0])[:3] == ["Id", "Signal (New York)", "Signal (UTC)"] and "Exit (UTC)" in rows[0]
    first, jpy = rows[0], rows[1]
    assert first["Signal (New York)"] == "2023-11-14 17:13:20" and first["Signal (UTC)"] == "2023-11-14 22:13:20"
    assert (first["Entry"], first["Stop"], first["Target 1"], first["Target 2"]) == ("1.08500", "1.08700", "1.08100",  # T2 = 2R
                                                                                      "1.08101")
    assert first["R"] == "+2.00" and first["Exit (UTC)"] == "2023-11-14 23:13:20" and first["Direction"] == "short"
    assert (jpy["Entry"], jpy["Stop"]) == ("150.123", "150.500") and jpy["Status"] == "pending" and jpy["R"] == ""
    # filters: rule, symbol, signal-time range (--to excluded)
    assert main(["signals", "export", "--out", str(out), "--rule", "asia_sweep", "--from", "2023-11-15",
                 "--to", "2023-11-17T00:00"]) == 0
    assert [r["Signal key"] for r in csv.DictReader(out.open(encoding="utf-8"))] == ["k3"]


def test_ita_signals_export_xlsx_has_real_datetimes_and_price_formats(ita_home: Path, tmp_path: Path, capsys) -> None:
    _store_signals()
    out = tmp_path / "signals.xlsx"
    assert main(["signals", "export", "--out", str(out), "--symbol", "EURUSD"]) == 0
    ws = load_workbook(out)["Signals"]
    header = [c.value for c in ws[1]]
    row = {h: c for h, c in zip(header, ws[2])}
    assert row["Signal (New York)"].value == datetime(2023, 11, 14, 17, 13, 20)
    assert row["Signal (UTC)"].value == datetime(2023, 11, 14, 22, 13, 20)
    assert row["Entry"].value == 1.085 and row["Entry"].number_format == "0.00000"
    assert row["R"].value == 2.0 and ws.max_row == 3
    bad = tmp_path / "signals.txt"
    assert main(["signals", "export", "--out", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "export format is csv or xlsx, not 'txt'" in err and "signals.txt" in err and not bad.exists()
