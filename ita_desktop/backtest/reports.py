"""Reports of a run: one self-contained HTML file (inline SVG, no scripts, no CDN), CSV and XLSX.

Self-contained because the trader mails it or opens it offline; SVG because it is text,
scales, and needs no plotting library in the app.
"""

from __future__ import annotations

import csv
import html
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ita_desktop.backtest.funnel import funnel_text
from ita_desktop.backtest.stats import Stats, format_stat, r_histogram
from ita_desktop.domain.clock import utc_iso

if TYPE_CHECKING:
    from ita_desktop.backtest.runs import RunResult

TRADE_COLUMNS = ("symbol", "direction", "occurrence", "entry_iso", "entry_price", "exit_iso", "exit_price",
                 "stop_price", "target1", "target2", "target3", "lots", "r_multiple", "pnl_money", "pnl_points",
                 "commission", "exit_reason", "targets_hit", "mfe_r", "mae_r", "entry_bar", "exit_bar", "signal_bar")
SUMMARY_LABELS = {
    "trades": "Trades", "win_rate": "Win rate", "expectancy_r": "Expectancy (R)", "avg_win_r": "Average win (R)",
    "avg_loss_r": "Average loss (R)", "profit_factor": "Profit factor", "net_pnl": "Net P/L",
    "return_pct": "Return %", "max_drawdown": "Max drawdown", "max_drawdown_pct": "Max drawdown %",
    "max_drawdown_r": "Max drawdown (R)", "longest_losing_streak": "Longest losing streak", "sharpe": "Sharpe (daily)",
    "sortino": "Sortino (daily)", "sqn": "SQN", "exposure": "Exposure", "final_equity": "Final equity",
}
#: The trades as a report shows them: (record key, label, kind). Kinds: price (the symbol's digits),
#: time (UTC), money, r, lots, text. Bar indexes and other internals stay in the CSV.
REPORT_TRADE_COLUMNS = (
    ("direction", "Side", "text"), ("entry_iso", "Entry (UTC)", "time"), ("entry_price", "Entry", "price"),
    ("stop_price", "Stop", "price"), ("target1", "Target", "price"), ("exit_iso", "Exit (UTC)", "time"),
    ("exit_price", "Exit", "price"), ("lots", "Lots", "lots"), ("r_multiple", "R", "r"),
    ("pnl_money", "P/L", "money"), ("commission", "Commission", "money"), ("exit_reason", "Exit reason", "text"),
    ("mfe_r", "MFE (R)", "r"), ("mae_r", "MAE (R)", "r"),
)
BREAKDOWN_LABELS = {"group": "Group", "trades": "Trades", "win_rate": "Win rate", "expectancy_r": "Expectancy (R)",
                    "profit_factor": "Profit factor", "net_pnl": "Net P/L", "total_r": "Total R"}
PERCENT_STATS = {"win_rate", "exposure"}
W, H, PAD = 720, 240, 40


def price_digits(point: float) -> int:
    """Decimals of a price whose smallest step is ``point`` (0.00001 -> 5)."""
    return max(0, round(-math.log10(point))) if point > 0 else 5


def cell(value: Any, kind: str, digits: int) -> str:
    """One report cell as text: prices at the symbol's digits, money 2 decimals, R 2, lots 2, times to the minute."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if kind == "price":
        return f"{value:.{digits}f}"
    if kind == "money":
        return f"{value:,.2f}"
    if kind == "r":
        return f"{value:+.2f}"
    if kind == "lots":
        return f"{value:.2f}"
    if kind == "time":
        return str(value).replace("T", " ").replace("Z", "")[:16]
    return str(value)


def stat_text(key: str, value: Any) -> str:
    """A summary or breakdown value as a trader reads it (rates in percent)."""
    if key in PERCENT_STATS and isinstance(value, (int, float)) and math.isfinite(value):
        return f"{value * 100:.1f} %"
    return format_stat(value)


def _fmt(value: Any) -> str:
    return html.escape(format_stat(value))


def equity_svg(stats: Stats, initial_equity: float) -> str:
    """The closed-trade equity curve as an SVG polyline (x = trade number, so gaps do not stretch it)."""
    values = np.concatenate([[initial_equity], stats.equity])
    lo, hi = float(values.min()), float(values.max())
    span = hi - lo or 1.0
    xs = PAD + (W - 2 * PAD) * np.arange(len(values)) / max(len(values) - 1, 1)
    ys = H - PAD - (H - 2 * PAD) * (values - lo) / span
    points = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" role="img" aria-label="equity curve">'
            f'<rect width="{W}" height="{H}" fill="#fff" stroke="#ccc"/>'
            f'<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="{points}"/>'
            f'<text x="{PAD}" y="{PAD - 10}" font-size="12">{hi:,.2f}</text>'
            f'<text x="{PAD}" y="{H - 10}" font-size="12">{lo:,.2f}</text>'
            f'<text x="{W - PAD}" y="{H - 10}" font-size="12" text-anchor="end">{len(values) - 1} trades</text></svg>')


def histogram_svg(r: np.ndarray, width: float = 0.5) -> str:
    """Bars of R-multiple counts; losses red, wins green."""
    counts, edges = r_histogram(r, width)
    top = max(int(counts.max()) if len(counts) else 0, 1)
    bw = (W - 2 * PAD) / max(len(counts), 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" role="img" aria-label="R histogram">',
             f'<rect width="{W}" height="{H}" fill="#fff" stroke="#ccc"/>']
    for i, count in enumerate(counts):
        h = (H - 2 * PAD) * count / top
        x = PAD + i * bw
        color = "#2ca02c" if edges[i] >= 0 else "#d62728"
        parts.append(f'<rect x="{x:.1f}" y="{H - PAD - h:.1f}" width="{max(bw - 2, 1):.1f}" height="{h:.1f}" '
                     f'fill="{color}"><title>{edges[i]:g}R to {edges[i + 1]:g}R: {count}</title></rect>')
        parts.append(f'<text x="{x + bw / 2:.1f}" y="{H - PAD + 14}" font-size="10" text-anchor="middle">'
                     f'{edges[i]:g}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _table(rows: list[dict[str, Any]], columns: list[str], labels: dict[str, str] | None = None) -> str:
    labels = labels or {}
    head = "".join(f"<th>{html.escape(labels.get(c, c))}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(stat_text(c, row.get(c)))}</td>" for c in columns) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def trades_table(result: RunResult) -> str:
    """The trades with labelled columns, prices at the symbol's digits, times in UTC (said in the header)."""
    digits = price_digits(result.trades.settings.point)
    head = "<th>#</th>" + "".join(f"<th>{html.escape(label)}</th>" for _, label, _ in REPORT_TRADE_COLUMNS)
    rows = []
    for i, rec in enumerate(result.trades.to_records(), start=1):
        cells = "".join(f"<td>{html.escape(cell(rec.get(key), kind, digits))}</td>" for key, _, kind in REPORT_TRADE_COLUMNS)
        rows.append(f"<tr><td>{i}</td>{cells}</tr>")
    return f"<div class='wide'><table class='trades'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"


def html_report(result: RunResult) -> str:
    stats = result.stats
    settings = result.trades.settings
    title = f"{result.rule_id} v{result.rule_version} on {result.symbol}"
    rng = " – ".join(utc_iso(t) if t is not None else "…" for t in result.bars_range)
    if result.warmup_bars:  # a ranged run: say what the detectors read before the range
        since = f" from {utc_iso(result.warmup_from_utc)}" if result.warmup_from_utc is not None else ""
        rng += f" (detectors warmed on {result.warmup_bars:,} bars before{since})"
    summary_rows = [{"statistic": SUMMARY_LABELS.get(k, k), "value": stat_text(k, v)} for k, v in stats.summary.items()]
    sections = [f"<h1>{html.escape(title)}</h1>",
                f"<p>Run {result.run_id if result.run_id is not None else '(not stored)'} · {html.escape(rng)} · "
                f"inputs {result.inputs_hash[:12]}</p>"]
    notes = [f.message for f in result.findings]
    if notes:
        sections.append("<div class='warn'>" + "".join(f"<p>{html.escape(n)}</p>" for n in notes) + "</div>")
    sections += ["<h2>Funnel</h2>", f"<p class='funnel'>{html.escape(funnel_text(stats.funnel))}</p>"]
    if len(result.trades):
        sections += ["<h2>Equity</h2>", equity_svg(stats, settings.initial_equity),
                     "<h2>R distribution</h2>", histogram_svg(stats.r_multiples)]
    else:
        sections += ["<h2>Equity</h2>", "<p class='empty'>No trades in this run, so no equity curve: "
                     "the funnel above says where the setups stopped.</p>"]
    sections += ["<h2>Statistics</h2>", _table(summary_rows, ["statistic", "value"],
                                               {"statistic": "Statistic", "value": "Value"})]
    cols = ["group", "trades", "win_rate", "expectancy_r", "profit_factor", "net_pnl", "total_r"]
    for name, rows in stats.breakdowns.items():
        sections += [f"<h2>By {html.escape(name)}</h2>", _table(rows, cols, BREAKDOWN_LABELS)]
    sections += ["<h2>Trades</h2>", trades_table(result)]
    style = ("body{font-family:sans-serif;margin:24px;color:#222;max-width:1200px}"
             "table{border-collapse:collapse;margin:8px 0}"
             "td,th{border:1px solid #ddd;padding:3px 6px;text-align:right;font-size:13px;white-space:nowrap}"
             "th{background:#f4f4f4}.warn{background:#fff4e0;border:1px solid #f0b000;padding:4px 12px}"
             ".wide{overflow-x:auto;max-width:100%}table.trades td,table.trades th{font-size:12px;padding:2px 5px}")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>{''.join(sections)}</body></html>")


def write_html(result: RunResult, path: str | Path) -> Path:
    path = Path(path)
    path.write_text(html_report(result), encoding="utf-8")
    return path


def write_csv(result: RunResult, path: str | Path) -> Path:
    path = Path(path)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(TRADE_COLUMNS), extrasaction="ignore")
        writer.writeheader()
        for rec in result.trades.to_records():
            writer.writerow({k: ("" if rec.get(k) is None else rec.get(k)) for k in TRADE_COLUMNS})
    return path


def write_xlsx(result: RunResult, path: str | Path) -> Path:
    """A workbook with the trades and the summary on two sheets."""
    from openpyxl import Workbook

    path = Path(path)
    wb = Workbook()
    ws = wb.active
    ws.title = "Trades"
    digits = price_digits(result.trades.settings.point)
    ws.append(["#"] + [label for _, label, _ in REPORT_TRADE_COLUMNS])
    formats = {"price": "0." + "0" * digits if digits else "0", "money": "#,##0.00", "r": "+0.00;-0.00;0.00",
               "lots": "0.00", "time": "yyyy-mm-dd hh:mm"}
    for i, rec in enumerate(result.trades.to_records(), start=1):
        ws.append([i] + [xlsx_value(rec.get(key), kind, digits) for key, _, kind in REPORT_TRADE_COLUMNS])
        for col, (_, _, kind) in enumerate(REPORT_TRADE_COLUMNS, start=2):
            if kind in formats:
                ws.cell(row=i + 1, column=col).number_format = formats[kind]
    for col, (_, label, kind) in enumerate(REPORT_TRADE_COLUMNS, start=2):
        ws.column_dimensions[ws.cell(row=1, column=col).column_letter].width = max(len(label) + 2,
                                                                                   17 if kind == "time" else 10)
    summary = wb.create_sheet("Summary")
    summary.append(["Statistic", "Value"])
    for key, value in result.stats.summary.items():
        v = float(value) if isinstance(value, (float, np.floating)) else value
        if isinstance(v, float):
            v = round(v, 2 if abs(v) >= 10 else 4) if math.isfinite(v) else None
        summary.append([SUMMARY_LABELS.get(key, key), v])
    summary.column_dimensions["A"].width = 26
    wb.save(path)
    return path


def xlsx_value(value: Any, kind: str, digits: int) -> Any:
    """A trade field as a spreadsheet value: times as real (UTC, naive) datetimes, numbers rounded."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    if kind == "time":
        from datetime import datetime

        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).replace(tzinfo=None)
    if kind == "price":
        return round(float(value), digits)
    if kind in ("money", "r", "lots"):
        return round(float(value), 2)
    return value
