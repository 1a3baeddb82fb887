"""`ita data import | mt5 | demo | list | export`: bars into and out of the store from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ita_desktop.domain.bars import Bars
from ita_desktop.domain.errors import InputError
from ita_desktop.domain.timeframes import Timeframe
from ita_desktop.cli.core_factory import build_core
from ita_desktop.cli.options import utc_seconds
from ita_desktop.storage.bar_reader import optional_utc_iso
from ita_desktop.storage.bar_store import IngestSummary
from ita_desktop.storage.models import Ingest

EXPORT_COLUMNS = ("time", "open", "high", "low", "close", "tick_volume", "spread")


def register(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("data", help="import, list and export stored bars")
    data_sub = data.add_subparsers(dest="data_command", required=True)

    imp = data_sub.add_parser("import", help="import a bar CSV (MT5 export or similar) into the store")
    imp.add_argument("path", type=Path)
    imp.add_argument("--symbol", required=True)
    imp.add_argument("--timeframe", help="M1, M5, ... H1, D1 (default: detected from the bar spacing)")
    imp.add_argument("--server-tz", help='time zone of naive times: "+03:00", "Europe/Athens", "NY+7" (default: config)')
    imp.add_argument("--json", action="store_true", help="print the summary as JSON")
    imp.set_defaults(func=_import)

    lst = data_sub.add_parser("list", help="list stored series and ingests")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(func=_list)

    mt5 = data_sub.add_parser("mt5", help="download history from the MetaTrader 5 terminal into the store")
    mt5.add_argument("--symbol", required=True)
    mt5.add_argument("--timeframe", required=True)
    mt5.add_argument("--from", dest="start", required=True, help="first time, UTC ISO")
    mt5.add_argument("--to", dest="end", help="end time, UTC ISO, exclusive (default: now)")
    mt5.add_argument("--json", action="store_true")
    mt5.set_defaults(func=_mt5)

    demo = data_sub.add_parser("demo", help="store seeded demo bars (labelled .demo) to try the app without data")
    demo.add_argument("--symbol", default="EURUSD", help="EURUSD, GBPUSD, USDJPY or XAUUSD")
    demo.add_argument("--days", type=int, default=30)
    demo.add_argument("--json", action="store_true")
    demo.set_defaults(func=_demo)

    exp = data_sub.add_parser("export", help="write stored bars to a CSV (times in UTC)")
    exp.add_argument("--symbol", required=True)
    exp.add_argument("--timeframe", required=True)
    exp.add_argument("--out", required=True, type=Path, help="the CSV file to write")
    exp.add_argument("--from", dest="start", help="first time, UTC ISO (e.g. 2022-01-05 or 2022-01-05T08:00)")
    exp.add_argument("--to", dest="end", help="end time, UTC ISO, exclusive")
    exp.set_defaults(func=_export)


def _timeframe(text: str | None) -> Timeframe | None:
    if text is None:
        return None
    try:
        return Timeframe.parse(text)
    except ValueError as exc:
        raise InputError(str(exc), column="--timeframe") from None


def _progress_on_stderr(label: str):
    """The importer's ``progress(fraction, stage)`` as lines on stderr, so stdout stays the summary alone."""

    def report(fraction: float, stage: str) -> None:
        print(f"{label}: {fraction:4.0%} {stage}", file=sys.stderr, flush=True)

    return report


def _import(args: argparse.Namespace) -> int:
    timeframe = _timeframe(args.timeframe)
    progress = _progress_on_stderr(f"importing {args.path.name}")
    with build_core() as core:
        summary = core.ingest.import_file(args.path, symbol=args.symbol, timeframe=timeframe,
                                          server_tz=args.server_tz, progress=progress)
    _output(summary, args.json)
    return 0


def _mt5(args: argparse.Namespace) -> int:
    timeframe = _timeframe(args.timeframe)
    start = utc_seconds(args.start, "--from")
    end = utc_seconds(args.end, "--to") if args.end else int(datetime.now(timezone.utc).timestamp())

    def progress(done: int, total: int) -> None:
        print(f"downloading {args.symbol} {args.timeframe}: chunk {done}/{total}", file=sys.stderr, flush=True)

    with build_core() as core:  # the MT5 settings are the core's (config.yaml), not read down in the engine
        summary = core.ingest.download_mt5(args.symbol, timeframe, start, end, progress=progress)
    _output(summary, args.json)
    return 0


def _demo(args: argparse.Namespace) -> int:
    with build_core() as core:
        summaries = core.ingest.store_demo(base=args.symbol.upper(), days=args.days,
                                           progress=_progress_on_stderr("demo data"))
    _output(summaries, args.json)
    return 0


def _output(summaries: IngestSummary | list[IngestSummary], as_json: bool) -> None:
    """One summary prints as one JSON object, several (demo: one per timeframe) as a list."""
    many = summaries if isinstance(summaries, list) else [summaries]
    if as_json:
        payload = [s.to_dict() for s in many] if isinstance(summaries, list) else summaries.to_dict()
        print(json.dumps(payload, indent=2))
        return
    for summary in many:
        _print_summary(summary)


def _print_summary(s: IngestSummary) -> None:
    print(f"ingest {s.ingest_id}: {s.symbol} {s.timeframe.value} from {s.path} ({s.source_format or s.source})")
    print(f"  rows read {s.rows_read:,}, stored {s.rows_stored:,}, rejected {s.rejected:,}")
    print(f"  bars new {s.new:,}, replaced {s.replaced:,}, unchanged {s.unchanged:,}")
    print(f"  first {optional_utc_iso(s.first_utc) or '-'}  last {optional_utc_iso(s.last_utc) or '-'}")
    if not s.findings:
        print("  findings: none")
    for f in s.findings:
        if not f.rows:
            print(f"  note {f.kind}: {f.message}")
            continue
        action = "rejected" if f.rejected else "kept"
        rows = ", ".join(str(r) for r in f.rows[:5]) + (", ..." if f.count > 5 else "")
        print(f"  finding {f.kind}: {f.count:,} rows {action} ({f.message}); first rows {rows}")


def _list(args: argparse.Namespace) -> int:
    with build_core() as core:
        series = core.store.bars.series()
        ingests = core.store.ingests.list()
    if args.json:
        payload = {
            "series": [s.to_dict() for s in series],
            "ingests": [
                {**{k: getattr(i, k) for k in Ingest.model_fields if k != "findings_json"}, "findings": i.findings}
                for i in ingests
            ],
        }
        print(json.dumps(payload, indent=2))
        return 0
    if not series:
        print("the store is empty; add bars with `ita data import PATH --symbol SYM`")
        return 0
    print(f"{'symbol':12} {'tf':4} {'bars':>10}  {'first (UTC)':20}  {'last (UTC)':20}")
    for s in series:
        demo = "  demo" if s.is_demo else ""
        print(f"{s.symbol:12} {s.timeframe.value:4} {s.bars:>10,}  {optional_utc_iso(s.first_utc):20}  {optional_utc_iso(s.last_utc):20}{demo}")
    print(f"\n{len(ingests)} ingests:")
    for i in ingests:
        print(
            f"  {i.ingest_id:>4} {i.source:6} {i.symbol} {i.timeframe} {i.rows_stored:,} bars "
            f"(new {i.bars_new:,}, replaced {i.bars_replaced:,}) from {i.path}"
        )
    return 0


def _export(args: argparse.Namespace) -> int:
    timeframe = _timeframe(args.timeframe)
    assert timeframe is not None
    start, end = utc_seconds(args.start, "--from"), utc_seconds(args.end, "--to")
    with build_core() as core:
        stored = any(s.symbol == args.symbol and s.timeframe == timeframe for s in core.series.list())
        bars = core.series.load(args.symbol, timeframe, start, end)  # built from finer bars when not stored
    if not len(bars):
        raise InputError(f"no {args.symbol} {timeframe.value} bars, nor finer ones to build them from, stored in "
                         "that range (see `ita data list`)")
    write_csv(bars, args.out)
    built = "" if stored else " (built from finer stored bars, as the chart and the rules build them)"
    print(f"wrote {len(bars):,} bars of {args.symbol} {timeframe.value}{built} to {args.out}")
    return 0


def write_csv(bars: Bars, out: Path) -> None:
    """MT5 copy_rates columns, times as ``2022-01-05 08:00:00+00:00`` (what the CSV importer reads back)."""
    import pandas as pd

    times = np.char.add(np.char.replace(np.datetime_as_string(bars.time.astype("datetime64[s]")), "T", " "), "+00:00")
    frame = pd.DataFrame({"time": times, **{c: getattr(bars, c) for c in EXPORT_COLUMNS[1:]}})
    try:
        frame.to_csv(out, index=False)
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror}", file=out) from None
