"""`ita signals export --out FILE [--format csv|xlsx] [--rule ID] [--symbol SYM] [--from ISO] [--to ISO]`.

The stored signals (live, replayed and missed; the Source column says which) written as CSV or
an Excel workbook in the run reports' conventions: each time column names its clock, prices at
the symbol's digits, real datetimes in the workbook. ``--from``/``--to`` bound the signal time
(UTC unless an offset is given; ``--to`` excluded).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ita_desktop.cli.core_factory import build_core
from ita_desktop.cli.options import utc_seconds


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("signals", help="stored signals: export to CSV or Excel")
    sub = p.add_subparsers(dest="signals_command", required=True)
    ex = sub.add_parser("export", help="write the stored signals as CSV or XLSX")
    ex.add_argument("--out", required=True, type=Path, metavar="FILE", help="the file to write")
    ex.add_argument("--format", choices=("csv", "xlsx"), default=None, help="default: the file's suffix")
    ex.add_argument("--rule", default=None, help="only this rule's signals")
    ex.add_argument("--symbol", default=None, help="only this symbol's signals")
    ex.add_argument("--from", dest="start", default=None, metavar="ISO", help="first signal time (UTC unless an offset)")
    ex.add_argument("--to", dest="end", default=None, metavar="ISO", help="signal times before this")
    ex.set_defaults(func=_export)


def _export(args: argparse.Namespace) -> int:
    start, end = utc_seconds(args.start, "--from"), utc_seconds(args.end, "--to")
    with build_core() as core:
        count = core.outputs.export_signals(args.out, args.format, rule_id=args.rule, symbol=args.symbol,
                                            start_utc=start, end_utc=end)
    print(f"{count} signal(s) written to {args.out}")
    return 0
