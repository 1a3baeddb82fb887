"""Signals as CSV or Excel, in the run reports' conventions.

Each time column says its clock in its header (New York, UTC); prices are written at the symbol's
digits (from its stored instrument); in the workbook times are real datetimes and prices numbers
with a format of that many decimals, so a spreadsheet can sort and compute on them.
"""

from __future__ import annotations

import csv
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ita_desktop.backtest.reports import cell, xlsx_value

_NY = ZoneInfo("America/New_York")
EXPORT_FORMATS = ("csv", "xlsx")

#: (field, header, kind): kinds as the reports' (price at the symbol's digits, time, r, text)
SIGNAL_COLUMNS = (
    ("id", "Id", "text"), ("signal_ny", "Signal (New York)", "time"), ("signal_utc", "Signal (UTC)", "time"),
    ("symbol", "Symbol", "text"), ("timeframe", "Timeframe", "text"), ("rule_id", "Rule", "text"),
    ("rule_version", "Version", "text"), ("direction", "Direction", "text"), ("order_type", "Order", "text"),
    ("entry_price", "Entry", "price"), ("stop_price", "Stop", "price"), ("target1", "Target 1", "price"),
    ("target2", "Target 2", "price"), ("target3", "Target 3", "price"), ("status", "Status", "text"),
    ("filled_utc", "Filled (UTC)", "time"), ("exit_utc", "Exit (UTC)", "time"), ("exit_price", "Exit", "price"),
    ("exit_reason", "Exit reason", "text"), ("r_multiple", "R", "r"), ("source", "Source", "text"),
    ("occurrence_key", "Signal key", "text"),
)


def _iso(t: Any, tz: Any = timezone.utc) -> str | None:
    if t is None:
        return None
    moment = datetime.fromtimestamp(int(t), timezone.utc).astimezone(tz)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _targets(rec: Any) -> list[float | None]:
    out: list[float | None] = []
    for t in rec.targets or []:
        price = t.get("price")
        if price is None and t.get("r") is not None and rec.entry_price is not None and rec.stop_price is not None:
            price = rec.entry_price + rec.direction * t["r"] * abs(rec.entry_price - rec.stop_price)
        out.append(price)
    return (out + [None, None, None])[:3]


def signal_row(rec: Any) -> dict[str, Any]:
    """One stored signal (a SignalRecord) as the export's fields."""
    o = rec.outcome or {}
    t1, t2, t3 = _targets(rec)
    return {"id": rec.id, "signal_ny": _iso(rec.signal_time, _NY), "signal_utc": _iso(rec.signal_time),
            "symbol": rec.symbol, "timeframe": rec.timeframe, "rule_id": rec.rule_id, "rule_version": rec.rule_version,
            "direction": "long" if rec.direction > 0 else "short", "order_type": rec.order_type,
            "entry_price": rec.entry_price, "stop_price": rec.stop_price, "target1": t1, "target2": t2, "target3": t3,
            "status": rec.status, "filled_utc": _iso(o.get("entry_time")), "exit_utc": _iso(o.get("exit_time")),
            "exit_price": o.get("exit_price"), "exit_reason": o.get("exit_reason"), "r_multiple": o.get("r_multiple"),
            "source": rec.source, "occurrence_key": rec.occurrence_key}


def _csv_text(value: Any, kind: str, digits: int) -> str:
    if value is None:
        return ""
    if kind == "time":
        return str(value).replace("T", " ").replace("Z", "")[:19]
    return cell(value, kind, digits)


def write_signals_csv(records: list[Any], digits: dict[str, int], path: Path) -> Path:
    """``records`` as CSV; ``digits``: each symbol's price digits (5 when unknown)."""
    with Path(path).open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow([label for _, label, _ in SIGNAL_COLUMNS])
        for rec in records:
            row, d = signal_row(rec), digits.get(rec.symbol, 5)
            writer.writerow([_csv_text(row[key], kind, d) for key, _, kind in SIGNAL_COLUMNS])
    return Path(path)


def write_signals_xlsx(records: list[Any], digits: dict[str, int], path: Path) -> Path:
    """``records`` as a workbook: real datetimes (each column's clock in its header), prices at the symbol's digits."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "Signals"
    ws.append([label for _, label, _ in SIGNAL_COLUMNS])
    for i, rec in enumerate(records, start=2):
        row, d = signal_row(rec), digits.get(rec.symbol, 5)
        ws.append([xlsx_value(row[key], kind, d) for key, _, kind in SIGNAL_COLUMNS])
        for col, (_, _, kind) in enumerate(SIGNAL_COLUMNS, start=1):
            fmt = {"price": "0." + "0" * d if d else "0", "r": "+0.00;-0.00;0.00", "time": "yyyy-mm-dd hh:mm"}.get(kind)
            if fmt:
                ws.cell(row=i, column=col).number_format = fmt
    for col, (_, label, kind) in enumerate(SIGNAL_COLUMNS, start=1):
        ws.column_dimensions[ws.cell(row=1, column=col).column_letter].width = max(len(label) + 2,
                                                                                   17 if kind == "time" else 10)
    wb.save(path)
    return Path(path)


def write_signals(records: list[Any], digits: dict[str, int], path: Path, fmt: str) -> Path:
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"export format is csv or xlsx, not {fmt!r}")
    return (write_signals_csv if fmt == "csv" else write_signals_xlsx)(records, digits, path)
