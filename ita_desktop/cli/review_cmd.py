"""`ita review`: a vision model's second opinion on a chart, and `ita review evaluate`: what it is worth.

The chart picture is drawn by the window's own chart in a child process (ui/chart_snapshot.py on the
offscreen platform: the CLI never imports Qt), or taken from --image. A model failure is one line on
stderr and exit 1 (the failed attempt is stored with its error).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from ita_desktop.child_process import child_command

from ita_desktop.domain.clock import utc_iso
from ita_desktop.domain.errors import InputError, ItaError
from ita_desktop.domain.timeframes import Timeframe
from ita_desktop.cli.options import utc_seconds

SNAPSHOT_TIMEOUT_S = 300


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("review", help="a vision model's review of the chart (model.endpoint, model.name), "
                                      "its drawings grounded in the stored data")
    p.add_argument("--symbol")
    p.add_argument("--timeframe", help="M1, M5, M15, H1, ...")
    p.add_argument("--at", help="the chart ends at this UTC time (ISO; default: the last stored bar)")
    p.add_argument("--json", action="store_true", help="print review_id, model, prompt_version, answer, grounding as JSON")
    p.add_argument("--image", help="send this PNG instead of drawing the chart")
    p.set_defaults(func=_review)
    inner = p.add_subparsers(dest="review_command")
    e = inner.add_parser("evaluate", help="review past occurrences of a rule whose outcome the backtest knows; "
                                          "report accuracy vs base rate, Brier score, reliability, grounding failures")
    e.add_argument("--rule", required=True)
    e.add_argument("--symbol", required=True)
    e.add_argument("--limit", type=int, default=20, help="the latest N occurrences with a trade (default 20)")
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=_evaluate)


def render_pictures(symbol: str, timeframe: Timeframe, ats: list[int | None]) -> list[bytes]:
    """The chart pictures, drawn in one child process by ui/chart_snapshot.py (offscreen Qt)."""
    with tempfile.TemporaryDirectory(prefix="ita-review-") as folder:
        outs = [str(Path(folder) / f"{k}.png") for k in range(len(ats))]
        cmd = child_command("ita_desktop.ui.chart_snapshot") + ["--symbol", symbol, "--timeframe", timeframe.value]
        for at, out in zip(ats, outs):
            cmd += ["--shot", "" if at is None else str(at), out]
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=SNAPSHOT_TIMEOUT_S)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no message"])[-1]
            raise ItaError(f"could not draw the chart picture: {last.removeprefix('error: ')}")
        return [Path(out).read_bytes() for out in outs]


def _timeframe(text: str | None) -> Timeframe:
    if not text:
        raise InputError("--timeframe is required", column="--timeframe")
    try:
        return Timeframe.parse(text)
    except ValueError as exc:
        raise InputError(str(exc), column="--timeframe") from None


def review_json(stored: Any) -> dict[str, Any]:
    return {"review_id": stored.id, "model": stored.model, "prompt_version": stored.prompt_version,
            "endpoint_host": stored.endpoint_host, "method": stored.method, "symbol": stored.symbol,
            "timeframe": stored.timeframe, "window": {"from": utc_iso(stored.window_from), "to": utc_iso(stored.window_to)},
            "answer": stored.answer, "grounding": stored.grounding, "latency_ms": round(stored.latency_ms, 1),
            "tokens": stored.tokens, "picture": str(stored.picture_path)}


def _review(args: argparse.Namespace) -> int:
    from ita_desktop.cli.core_factory import build_core

    if not args.symbol:
        raise InputError("--symbol is required", column="--symbol")
    timeframe = _timeframe(args.timeframe)
    at = utc_seconds(args.at, "--at")
    if args.image:
        try:
            png = Path(args.image).read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read the picture: {exc.strerror or exc}", file=args.image) from None
    with build_core() as core:
        context = core.reviews.context(args.symbol, timeframe, at)
        if not args.image:
            png = render_pictures(args.symbol, timeframe, [context.last_time])[0]
        stored = core.reviews.review(args.symbol, timeframe, png, context=context)
    if args.json:
        print(json.dumps(review_json(stored), indent=2))
        return 0
    a, g = stored.answer, stored.grounding
    print(f"review {stored.id}: {stored.symbol} {stored.timeframe} to {utc_iso(stored.window_to)} · {stored.model} "
          f"({stored.endpoint_host}) · prompt {stored.prompt_version} · {stored.latency_ms / 1000:.1f} s")
    print(f"{a['bias']} (confidence {a['confidence']:.2f}): {a['summary']}")
    for item, ann in zip(g["annotations"], a["annotations"]):
        mark = "drawn " if item["ok"] else "NOT drawn"
        why = "" if item["ok"] else f" ({'; '.join(item['reasons'])})"
        print(f"  [{mark}] {ann['kind']} {ann['price']}{'' if ann['price2'] is None else '..' + str(ann['price2'])} "
              f"{ann['text']}{' -> ' + ann['ref_id'] if ann['ref_id'] else ''}{why}")
    if a["trade_idea"]:
        t = a["trade_idea"]
        ok = g["trade_idea"]["ok"]
        print(f"  idea: {t['direction']} {t['entry']} stop {t['stop']} targets {', '.join(map(str, t['targets']))}"
              + ("" if ok else f" (NOT drawn: {'; '.join(g['trade_idea']['reasons'])})"))
    print(f"grounding: {g['failed']} of {g['checked']} items failed" + (f" {g['reasons']}" if g["reasons"] else ""))
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from ita_desktop.cli.core_factory import build_core
    from ita_desktop.vision.evaluation import Case, evaluate
    from ita_desktop.vision.model_client import ReviewFault

    if args.limit < 1:
        raise InputError("--limit must be at least 1", column="--limit")
    with build_core() as core:
        result = core.backtests.backtest(args.rule, args.symbol)
        timeframe = Timeframe.parse(result.timeframe)
        trades = result.trades.to_records()[-args.limit:]
        if not trades:
            raise ItaError(f"{args.rule} has no trades on {args.symbol}: nothing to evaluate")
        contexts = [core.reviews.context(args.symbol, timeframe, int(t["entry_time"]) - 1,
                                         occurrence=_occurrence(result.rule_id, t)) for t in trades]
        pictures = render_pictures(args.symbol, timeframe, [c.last_time for c in contexts])
        cases = []
        for trade, context, png in zip(trades, contexts, pictures):
            went_up = (trade["r_multiple"] > 0) == (trade["direction"] == "long")
            try:
                stored = core.reviews.review(args.symbol, timeframe, png, context=context,
                                             subject=f"occurrence {result.rule_id} {trade['occurrence']}")
                cases.append(Case(stored.answer, stored.grounding, went_up, trade["direction"]))
            except ReviewFault as fault:
                if fault.kind in ("missing_key", "connection", "refused_key"):
                    raise  # nothing will work: say so once
                cases.append(Case(None, None, went_up, trade["direction"], fault.kind))
    report = {"rule": result.rule_id, "symbol": args.symbol, "timeframe": timeframe.value, "run_id": result.run_id,
              **evaluate(cases)}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    pct = lambda v: "n/a" if v is None else f"{100 * v:.0f}%"  # noqa: E731
    print(f"{report['rule']} on {args.symbol} {timeframe.value}: {report['answered']} of {report['occurrences']} "
          f"occurrences reviewed" + (f" (failed: {report['failed_reviews']})" if report["failed_reviews"] else ""))
    print(f"direction accuracy {pct(report['direction_accuracy'])} on {report['direction_calls']} calls "
          f"({report['neutral']} neutral) vs base rate {pct(report['base_rate'])}; agrees with the rule "
          f"{pct(report['agrees_with_rule'])}")
    brier = report["brier"]
    print(f"Brier score {'n/a' if brier is None else f'{brier:.3f}'} (a coin flip scores 0.250)")
    print("reliability (P(up) bin: n, mean P(up), observed up):")
    for row in report["reliability"]:
        if row["n"]:
            print(f"  {row['p_up_from']:.1f}-{row['p_up_to']:.1f}: {row['n']:3d}  {row['mean_p_up']:.2f}  "
                  f"{row['observed_up']:.2f}")
    print(f"grounding failure rate {pct(report['grounding_failure_rate'])} "
          f"({report['grounding_failed']} of {report['grounding_checked']} items)")
    return 0


def _occurrence(rule_id: str, trade: dict[str, Any]) -> dict[str, Any]:
    """The occurrence as the model sees it: the rule and its orders, never the outcome."""
    targets = [trade[k] for k in ("target1", "target2", "target3") if trade.get(k) is not None]
    return {"rule": rule_id, "direction": trade["direction"], "entry_time": utc_iso(int(trade["entry_time"])),
            "orders": {"entry": trade["entry_price"], "stop": trade["stop_price"], "targets": targets}}
