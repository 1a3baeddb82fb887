"""`ita backtest` and `ita sweep`: a rule on the stored bars -> a stored run (table, JSON, reports) or a grid.

    ita backtest RULE --symbol SYM [--timeframe TF] [--from ISO] [--to ISO] [--json]
                 [--report FILE.html] [--csv FILE.csv] [--xlsx FILE.xlsx] [--spread POINTS]
                 [--max-positions N] ...
    ita sweep RULE --symbol SYM --set path=v1,v2,... [--set ...] [--statistic NAME] [--json]

RULE is a rule file or a rule_id, as for ``ita scan``; with ``--from`` the detectors are warmed on
the history before it and the header says on how many bars (the range shown, the statistics and
the stored run are the range asked for). Paths are the rule file's own fields
(``targets.0.r``, ``stop.buffer.pips``, ``detectors.swings.length``) or ``settings.<name>`` for
the simulation (``settings.spread_points``). A bad rule, path or value exits 1 with a message
naming it; progress goes to stderr; Ctrl-C stops cleanly (exit 130, nothing half-stored).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from ita_desktop.backtest.funnel import funnel_text, plural
from ita_desktop.backtest.runs import BacktestCancelled, RunResult
from ita_desktop.backtest.stats import format_stat
from ita_desktop.backtest.sweep import SUMMARY_COLUMNS, SweepResult
from ita_desktop.cli.options import utc_seconds
from ita_desktop.cli.scan_cmd import range_text
from ita_desktop.cli.core_factory import build_core
from ita_desktop.rules.rule_issues import RuleValidationError

SUMMARY_SHOWN = ("trades", "win_rate", "expectancy_r", "avg_win_r", "avg_loss_r", "profit_factor", "net_pnl",
                 "return_pct", "max_drawdown", "max_drawdown_pct", "max_drawdown_r", "longest_losing_streak",
                 "sharpe", "sortino", "sqn", "exposure")


def register(subparsers: argparse._SubParsersAction) -> None:
    b = subparsers.add_parser("backtest", help="backtest a setup rule on the stored bars and store the run")
    _common(b)
    b.add_argument("--report", type=Path, default=None, metavar="FILE.html", help="write a self-contained HTML report")
    b.add_argument("--csv", type=Path, default=None, metavar="FILE.csv", help="write the trades as CSV")
    b.add_argument("--xlsx", type=Path, default=None, metavar="FILE.xlsx", help="write trades and summary as Excel")
    b.set_defaults(func=_backtest)
    s = subparsers.add_parser("sweep", help="backtest every combination of rule/settings values (nothing stored)")
    _common(s)
    s.add_argument("--set", dest="grid", action="append", required=True, metavar="PATH=V1,V2,...",
                   help="a dotted rule path (targets.0.r) or settings.<name>, and its values; repeat for a grid")
    s.add_argument("--statistic", default="expectancy_r", help="statistic to rank the variants by (default expectancy_r)")
    s.add_argument("--walk-forward", dest="walk_forward", type=int, default=None, metavar="N",
                   help="walk forward in N parts: sweep the first 75%% of each part, run the best variant on the "
                        "rest; both stored as runs, printed side by side")
    s.set_defaults(func=_sweep)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("rule", metavar="RULE", help="a rule file (rules/<id>/v<version>.yaml) or a rule_id (latest version)")
    p.add_argument("--symbol", required=True, help="symbol whose stored bars are used (listed in the rule's market.symbols)")
    p.add_argument("--timeframe", default=None, help="run the setup on this timeframe instead of the rule's")
    p.add_argument("--from", dest="start", default=None, metavar="ISO", help="first time (UTC unless an offset is given)")
    p.add_argument("--to", dest="end", default=None, metavar="ISO", help="end time, exclusive")
    p.add_argument("--rules-dir", type=Path, default=None, help="folder of rules for a rule_id (default: rules/)")
    p.add_argument("--spread", type=float, default=None, metavar="POINTS",
                   help="fixed spread in points (default: the bars' own spread column)")
    p.add_argument("--commission", type=float, default=None, metavar="MONEY", help="commission per lot per round trip")
    p.add_argument("--slippage", type=float, default=None, metavar="POINTS", help="slippage on stop fills, in points")
    p.add_argument("--equity", type=float, default=None, help="initial equity (default 10,000)")
    p.add_argument("--intrabar", default=None, choices=("worst", "best", "open_distance"),
                   help="stop-or-target policy for a bar without lower-timeframe data (default worst)")
    p.add_argument("--max-positions", type=int, default=None, metavar="N",
                   help="positions open at once (0 = no limit; default: the rule's risk.max_positions, else 1)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {"spread_points": args.spread, "commission_per_lot": args.commission, "slippage_points": args.slippage,
            "initial_equity": args.equity, "intrabar": args.intrabar, "max_positions": args.max_positions}


_open_line = [False]  # a progress line without its newline yet (an error must start on a fresh line)


def _progress(fraction: float, message: str) -> None:
    _open_line[0] = fraction < 1
    print(f"\r[{fraction * 100:5.1f}%] {message:<60}", end="" if fraction < 1 else "\n", file=sys.stderr, flush=True)


def _end_line() -> None:
    if _open_line[0]:
        print(file=sys.stderr)
        _open_line[0] = False


def _run(args: argparse.Namespace, work) -> Any:
    """The work's result, or the exit code: 1 for a bad rule (every problem located), 130 when cancelled."""
    start, end = utc_seconds(args.start, "--from"), utc_seconds(args.end, "--to")
    try:
        with build_core() as core:
            return work(core, start, end)
    except RuleValidationError as exc:
        _end_line()
        print(exc.located(), file=sys.stderr)
        return 1
    except (KeyboardInterrupt, BacktestCancelled):
        _end_line()
        print("cancelled: nothing was stored", file=sys.stderr)
        return 130
    except Exception:
        _end_line()  # main prints the message (InputError: exit 1)
        raise


def _show(args: argparse.Namespace, result: Any, table) -> int:
    """Print a finished command's result: its JSON with --json, else its table."""
    print(json.dumps(result.to_dict(), indent=2) if args.json else table(result))
    return 0


def _backtest(args: argparse.Namespace) -> int:
    def work(core, start: int | None, end: int | None) -> RunResult:
        return core.backtests.backtest(args.rule, args.symbol, timeframe=args.timeframe, start_utc=start, end_utc=end,
                                       rules_dir=args.rules_dir, progress=_progress, **_overrides(args))

    result = _run(args, work)
    if isinstance(result, int):
        return result
    for path, name in ((args.report, "write_html"), (args.csv, "write_csv"), (args.xlsx, "write_xlsx")):
        if path is not None:
            from ita_desktop.backtest import reports  # only when a report is asked for (its imports cost ~60 ms)

            getattr(reports, name)(result, path)
            print(f"wrote {path}", file=sys.stderr)
    return _show(args, result, backtest_table)


def _walk_forward(args: argparse.Namespace) -> int:
    def work(core, start: int | None, end: int | None):
        return core.backtests.walk_forward(args.rule, args.symbol, args.grid, args.walk_forward,
                                           statistic=args.statistic, timeframe=args.timeframe, start_utc=start,
                                           end_utc=end, rules_dir=args.rules_dir, progress=_progress,
                                           **_overrides(args))

    result = _run(args, work)
    if isinstance(result, int):
        return result
    return _show(args, result, walk_forward_table)


def walk_forward_table(result) -> str:
    """In-sample and out-of-sample side by side, one line per part, with the stored run ids."""
    from ita_desktop.domain.clock import utc_iso

    stat = result.statistic
    lines = [f"{result.rule_id} v{result.rule_version} on {result.symbol}: walk-forward in "
             f"{len(result.parts)} part(s), best by {stat} in-sample (times UTC)"]
    header = ["part", "in-sample (UTC)", "best variant", f"IS {stat}", "IS trades", "IS run",
              "out-of-sample (UTC)", f"OOS {stat}", "OOS trades", "OOS run"]
    rows = []
    for p in result.parts:
        d = p.to_dict(stat)
        rows.append([f"{p.part}/{p.parts}", f"{utc_iso(p.in_sample[0])[:10]}..{utc_iso(p.in_sample[1])[:10]}",
                     ", ".join(f"{k}={v}" for k, v in p.params.items()), _fmt(d["in"][stat]), str(d["in"]["trades"]),
                     str(d["in"]["run_id"]),
                     f"{utc_iso(p.out_of_sample[0])[:10]}..{utc_iso(p.out_of_sample[1])[:10]}",
                     _fmt(d["out"][stat]), str(d["out"]["trades"]), str(d["out"]["run_id"])])
    return "\n".join(lines + _grid(header, rows))


def _sweep(args: argparse.Namespace) -> int:
    if args.walk_forward is not None:
        return _walk_forward(args)

    def work(core, start: int | None, end: int | None) -> SweepResult:
        return core.backtests.sweep_rule(args.rule, args.symbol, args.grid, statistic=args.statistic,
                                         timeframe=args.timeframe, start_utc=start, end_utc=end,
                                         rules_dir=args.rules_dir, progress=_progress, **_overrides(args))

    result = _run(args, work)
    if isinstance(result, int):
        return result
    return _show(args, result, sweep_table)


def _fmt(x: Any) -> str:
    return format_stat(x, missing="-", infinite="inf")  # plain ASCII for any terminal


def _grid(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    line = lambda cells: "  ".join(c.rjust(w) for c, w in zip(cells, widths))  # noqa: E731
    return [line(header), line(["-" * w for w in widths])] + [line(r) for r in rows]


def backtest_table(r: RunResult) -> str:
    """Summary, validator findings and the trades, for the terminal."""
    lines = [f"{r.rule_id} v{r.rule_version} (version id {r.rule_version_id}) on {r.symbol}: run {r.run_id}, "
             f"{plural(len(r.trades), 'trade')}, " + range_text(*r.bars_range, r.warmup_bars, r.warmup_from_utc)]
    lines.append("  funnel: " + funnel_text(r.stats.funnel))
    if r.levels_from and (r.levels_from != r.timeframe or r.inexact_levels):
        from ita_desktop.cli.detect_cmd import levels_note

        lines.append("  " + levels_note(r.timeframe, r.levels_from, r.inexact_levels))
    s = r.stats.summary
    lines += [f"  {name:<22} {_fmt(s.get(name))}" for name in SUMMARY_SHOWN if name in s]
    for f in r.findings:
        lines.append(f"  {f.level}: {f.message}")
    if len(r.trades):
        digits = max(0, round(-math.log10(r.trades.settings.point)))

        def px(x: float | None) -> str:
            return "-" if x is None else f"{x:.{digits}f}"

        header = ["#", "side", "entry (UTC)", "entry", "exit (UTC)", "exit", "stop", "R", "P/L", "reason"]
        rows = [[str(i), t["direction"], t["entry_iso"][:16], px(t["entry_price"]), t["exit_iso"][:16],
                 px(t["exit_price"]), px(t["stop_price"]), f"{t['r_multiple']:+.2f}", _fmt(t["pnl_money"]),
                 t["exit_reason"]] for i, t in enumerate(r.trades.to_records())]
        lines += [""] + _grid(header, rows)
    return "\n".join(lines)


def sweep_table(result: SweepResult) -> str:
    """Every variant (grid order) with the chosen statistic first, then the best settings."""
    meta = result.meta
    params = list(meta.get("grid", {}))
    stat = result.statistic
    cols = [stat] + [c for c in SUMMARY_COLUMNS if c != stat]
    lines = [f"{meta.get('rule_id')} v{meta.get('rule_version')} on {meta.get('symbol')} {meta.get('timeframe')}: "
             f"{len(result.rows)} variant(s), detectors run {meta.get('detector_runs')} time(s), "
             + range_text(meta.get("first_utc"), meta.get("last_utc"), meta.get("warmup_bars", 0),
                          meta.get("warmup_from_utc"), f"{meta.get('timeframe')} bars")]
    rows = [[_fmt(row[p]) for p in params] + [_fmt(row.get(c)) for c in cols] for row in result.rows]
    lines += _grid(params + cols, rows)
    best = result.best()
    if best is not None:
        lines.append(f"best {stat} {_fmt(best[stat])}: " + ", ".join(f"{p}={best[p]}" for p in params))
    return "\n".join(lines)
