"""`ita scan RULE --symbol SYM [--timeframe TF] [--from ISO] [--to ISO] [--json]`: list a setup's occurrences.

RULE is a rule file or a rule_id (its latest version under rules/). A bad rule prints every
problem as ``file:line:col: message`` on stderr and exits 1, as ``ita rules validate`` does.
With ``--from`` the detectors are warmed on the history before it (workflows.rule_scan) and the header
says on how many bars; the range shown is the one asked for.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from ita_desktop.cli.options import utc_seconds
from ita_desktop.domain.clock import utc_iso
from ita_desktop.cli.core_factory import build_core
from ita_desktop.rules.rule_issues import RuleValidationError
from ita_desktop.workflows.rule_scan import ScanResult


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("scan", help="find a setup rule's occurrences in the stored bars")
    p.add_argument("rule", metavar="RULE", help="a rule file (rules/<id>/v<version>.yaml) or a rule_id (latest version)")
    p.add_argument("--symbol", required=True, help="symbol whose stored bars are scanned (must be in the rule's market.symbols)")
    p.add_argument("--timeframe", default=None, help="run the setup on this timeframe instead of the rule's")
    p.add_argument("--from", dest="start", default=None, metavar="ISO", help="first time (UTC unless an offset is given)")
    p.add_argument("--to", dest="end", default=None, metavar="ISO", help="end time, exclusive")
    p.add_argument("--rules-dir", type=Path, default=None, help="folder of rules for a rule_id (default: the shipped rules and yours, the latest version)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_scan)


def _scan(args: argparse.Namespace) -> int:
    start, end = utc_seconds(args.start, "--from"), utc_seconds(args.end, "--to")
    try:
        with build_core() as core:
            result = core.backtests.scan(args.rule, args.symbol, timeframe=args.timeframe, start_utc=start,
                                         end_utc=end, rules_dir=args.rules_dir)
    except RuleValidationError as exc:
        print(exc.located(), file=sys.stderr)
        return 1
    if result.version_action == "new_version":
        print(f"note: {result.rule_id} changed since results were recorded; stored as version {result.rule_version} "
              f"(save the file as rules/{result.rule_id}/v{result.rule_version}.yaml)", file=sys.stderr)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(_table(result))
    return 0


def _fmt(x: float | None) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.6g}"


def _times(t: int, tz: ZoneInfo) -> str:
    dt = datetime.fromtimestamp(t, tz=timezone.utc)
    return f"{dt:%Y-%m-%d %H:%M}Z ({dt.astimezone(tz):%H:%M} NY)" if tz.key == "America/New_York" else \
        f"{dt:%Y-%m-%d %H:%M}Z ({dt.astimezone(tz):%H:%M} {tz.key})"


def range_text(first_utc: int | None, last_utc: int | None, warmup_bars: int, warmup_from_utc: int | None,
               what: str = "setup bars") -> str:
    """'FIRST .. LAST' of a run's range, and on how many ``what`` before it the detectors were warmed."""
    first, last = (utc_iso(t) if t is not None else "…" for t in (first_utc, last_utc))
    text = f"{first} .. {last}"
    if warmup_bars:
        text += f"; detectors warmed on {warmup_bars:,} {what} before {first}"
        text += f" (from {utc_iso(warmup_from_utc)})" if warmup_from_utc is not None else ""
    return text


def _table(r: ScanResult) -> str:
    lines = [f"{r.rule_id} v{r.rule_version} (version id {r.rule_version_id}) on {r.symbol} {r.timeframe}: "
             f"{len(r.occurrences)} occurrence(s), {len(r.orders)} order(s) over {r.n_bars} bars, "
             + range_text(r.first_utc, r.last_utc, r.warmup_bars, r.warmup_from_utc, f"{r.timeframe} bars")]
    if r.levels_from and (r.levels_from != r.timeframe or r.inexact_levels):
        from ita_desktop.cli.detect_cmd import levels_note

        lines.append("  " + levels_note(r.timeframe, r.levels_from, r.inexact_levels or {}))
    for o in r.occurrences:
        tz = ZoneInfo(o.clock)
        side = "LONG" if o.direction > 0 else "SHORT"
        lines.append(f"#{o.id} {side} signal {_times(o.signal_time, tz)}")
        for s in o.steps:
            lines.append(f"    {s.name:<12} {s.event:<12} {_times(s.time, tz)}  price {_fmt(s.price)}"
                         + (f"  zone {_fmt(s.bottom)}-{_fmt(s.top)}" if not math.isnan(s.top) else ""))
        if o.order is None:
            lines.append(f"    skipped: {o.skipped}")
            continue
        p = o.order
        targets = ", ".join((f"{t['r']}R" if "r" in t else _fmt(t["price"])) +
                            (f" ({t['fraction'] * 100:.0f}%)" if "fraction" in t else "") for t in p.targets)
        stop = _fmt(p.stop_price) if not math.isnan(p.stop_price) else f"{_fmt(p.stop_distance)} away"
        lines.append(f"    entry {p.entry} {_fmt(p.entry_price) if p.entry != 'market' else 'at the next open'}"
                     f"  stop {stop}  targets {targets}")
    return "\n".join(lines)
