"""`ita learn index|similar|score|propose`: the similar-setups index, the nearest past setups and the scorer's report.

The index lives in the data folder (``chroma``); it is rebuilt from the stored bars and rule
versions when missing or stale. ``similar`` finds the rule's occurrence signalled at ``--at`` (or
the last one before it) and lists the k nearest setups signalled before it (the past only).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ita_desktop.cli.core_factory import build_core
from ita_desktop.cli.options import utc_seconds
from ita_desktop.domain.clock import utc_iso
from ita_desktop.domain.errors import InputError

SEED_RULES = ("asia_sweep", "ib_raid", "fvg_reversal", "Frank_raid")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("learn", help="similar past setups (ChromaDB), a calibrated score, walk-forward")
    sub = p.add_subparsers(dest="learn_command", required=True)
    i = sub.add_parser("index", help="index the rules' occurrences (prints how many are indexed)")
    i.add_argument("--rule", default=None, help="one rule_id (default: the seed rules)")
    i.add_argument("--symbol", default="EURUSD")
    i.add_argument("--json", action="store_true")
    i.set_defaults(func=_index)
    s = sub.add_parser("similar", help="the k most similar past setups of a rule's occurrence")
    s.add_argument("rule", metavar="RULE")
    s.add_argument("--symbol", required=True)
    s.add_argument("--at", required=True, metavar="ISO", help="the occurrence's signal time (or the last one before it)")
    s.add_argument("--k", type=int, default=20)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=_similar)
    c = sub.add_parser("score", help="the scorer's walk-forward report against the base rate")
    c.add_argument("rule", metavar="RULE")
    c.add_argument("--symbol", required=True)
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=_score)
    r = sub.add_parser("propose", help="a proposed rule version from the statistics, in and out of sample, with the YAML diff")
    r.add_argument("rule", metavar="RULE")
    r.add_argument("--symbol", required=True)
    r.add_argument("--accept", nargs="?", const="", default=None, metavar="N|KIND",
                   help="store a proposal as a new version in your rules folder; with several proposals, "
                        "which one: its number in the list or its kind (weekday, sweep:<path>)")
    r.add_argument("--no-sweeps", action="store_true", help="only the weekday proposal (no backtests)")
    r.add_argument("--walk-forward", type=int, default=None, metavar="N",
                   help="walk-forward parts of the sweep proposals (as `ita sweep --walk-forward N`; default 3)")
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=_propose)


def _progress(fraction: float, message: str) -> None:
    print(f"[{fraction * 100:3.0f}%] {message}", file=sys.stderr)


def _index(args: argparse.Namespace) -> int:
    rules = [args.rule] if args.rule else list(SEED_RULES)
    out = {}
    with build_core() as core:
        for rule in rules:
            ds, state = core.learning.index(rule, args.symbol, _progress)
            out[ds.rule_id] = {"indexed": len(ds), "state": state, "rule_version": ds.rule_version}
        total = core.learning.index_store().count()
    if args.json:
        print(json.dumps({"symbol": args.symbol, "rules": out, "indexed": total}, indent=2))
    else:
        for rule, r in out.items():
            print(f"{rule} v{r['rule_version']} on {args.symbol}: {r['indexed']} occurrence(s) indexed ({r['state']})")
        print(f"{total} occurrence(s) indexed in all")
    return 0


def _similar(args: argparse.Namespace) -> int:
    at = utc_seconds(args.at, "--at")
    with build_core() as core:
        found = core.learning.similar(args.rule, args.symbol, at, args.k, _progress)
    if args.json:
        print(json.dumps(found.to_dict(), indent=2))
        return 0
    nb = found.neighbours
    print(f"{found.rule_id} v{found.rule_version} {args.symbol} signal {utc_iso(found.signal_time)}: "
          f"{len(nb)} similar past setup(s)"
          + (f", win rate {found.win_rate:.0%}, average {found.average_r:+.2f}R" if nb else ""))
    for n in nb:
        print(f"  {utc_iso(n.signal_time)}  distance {n.distance:8.3f}  {n.outcome_r:+.2f}R  {'win' if n.win else 'loss'}")
    return 0


def _score(args: argparse.Namespace) -> int:
    with build_core() as core:
        ds, report = core.learning.score(args.rule, args.symbol)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
        return 0
    d = report.to_dict()
    print(f"{ds.rule_id} v{ds.rule_version} on {args.symbol}: {report.n_rows} occurrence(s) with an outcome; "
          f"walk-forward n_train {report.n_train}, n_test {report.n_test}")
    if report.brier is not None:
        print(f"  brier {d['brier']:.4f} vs base rate {d['base_rate_brier']:.4f}; "
              f"log loss {d['log_loss']:.4f} vs base rate {d['base_rate_log_loss']:.4f}")
    print(f"  {report.message}")
    if report.latest_probability is not None:
        print(f"  latest signal {report.latest_signal_utc}: P(first target before the stop) = {report.latest_probability:.2f}")
    return 0


def _fmt_stats(s: dict) -> str:
    if not s.get("trades"):
        return "0 trades"
    return f"{s['trades']} trades, win {s['win_rate']:.0%}, {s['expectancy_r']:+.2f}R/trade, {s['total_r']:+.1f}R"


def _choose(proposals: list[Any], choice: str) -> Any | None:
    """The proposal ``--accept`` names: the only one with a change, or by number (1-based) or kind."""
    offered = [p for p in proposals if p.proposed_text]
    if not offered and not choice:
        return None  # as before: nothing to accept, said on stderr
    if not offered:
        raise InputError("--accept: there is no proposal to accept (" + "; ".join(p.message for p in proposals) + ")")
    if not choice:
        if len(offered) == 1:
            return offered[0]
        raise InputError("--accept: there are several proposals; name one: "
                         + ", ".join(f"{proposals.index(p) + 1} ({p.kind})" for p in offered))
    for i, p in enumerate(proposals, 1):
        if choice in (str(i), p.kind):
            if not p.proposed_text:
                raise InputError(f"--accept {choice}: {p.kind} has no proposal ({p.message})")
            return p
    raise InputError(f"--accept {choice}: no such proposal; the proposals are "
                     + ", ".join(f"{i} ({p.kind})" for i, p in enumerate(proposals, 1)))


def _propose(args: argparse.Namespace) -> int:
    from ita_desktop.learning.sweep_proposals import fmt_value

    with build_core() as core:
        proposal = core.learning.propose(args.rule, args.symbol)
        sweeps = [] if args.no_sweeps else core.learning.propose_sweeps(args.rule, args.symbol, _progress,
                                                                           args.walk_forward)
        proposals = [proposal, *sweeps]
        chosen = _choose(proposals, args.accept) if args.accept is not None else None
        saved = core.learning.accept(chosen) if chosen is not None else None
    if args.json:
        d = proposal.to_dict()
        d["proposals"] = [p.to_dict() for p in proposals]
        d["accepted"] = str(saved) if saved else None
        d["accepted_kind"] = chosen.kind if chosen is not None else None
        print(json.dumps(d, indent=2))
        return 0
    print(f"{proposal.rule_id} v{proposal.rule_version} on {args.symbol}: {proposal.n_in_sample} in-sample, "
          f"{proposal.n_out_of_sample} out-of-sample trade(s)")
    for what, table in proposal.stats_in_sample.items():
        print(f"  in-sample by {what}: " + "; ".join(f"{k} {_fmt_stats(v)}" for k, v in table.items()))
    for i, p in enumerate(proposals, 1):
        print(f"[{i}] {p.kind}: " + (f"proposal v{p.proposed_version}: {p.change}" if p.change else p.message))
        if p.kind.startswith("sweep:"):
            print(f"  walk-forward in {p.parts} parts from {utc_iso(p.in_sample_range[0])} to "
                  f"{utc_iso(p.out_of_sample_range[1])} (each part's last {p.oos_fraction:.0%} out-of-sample); "
                  f"objective {p.objective}, at least {p.min_trades} in-sample trades")
            for w in p.walk_forward:
                chosen = fmt_value(w["chosen"]) if w["chosen"] is not None else "none (no trades)"
                print(f"  part {w['part']}/{w['parts']} {utc_iso(w['in_sample'][0])[:10]} .. "
                      f"{utc_iso(w['out_of_sample'][1])[:10]}: chose {chosen:<12} in-sample: "
                      f"{_fmt_stats(w['in']['chosen']):<45} out-of-sample: {_fmt_stats(w['out']['chosen'])}")
            wf = p.walk_forward_result
            print(f"  walk-forward         in-sample: {_fmt_stats(wf['in_sample']):<45} "
                  f"out-of-sample: {_fmt_stats(wf['out_of_sample'])}")
            for row in p.rows:
                print(f"  {p.path} = {fmt_value(row['value']):<6} in-sample: {_fmt_stats(row['in_sample']):<45} "
                      f"out-of-sample: {_fmt_stats(row['out_of_sample'])}")
        if p.change:
            for side in ("in_sample", "out_of_sample"):
                cur, new = getattr(p, side)["current"], getattr(p, side)["proposed"]
                print(f"  {side.replace('_', '-'):<14} current: {_fmt_stats(cur):<45} proposed: {_fmt_stats(new)}")
            print(p.yaml_diff, end="")
            print(f"  {p.message}")
    if saved:
        print(f"accepted {chosen.kind}: stored as {saved}")
    elif args.accept is not None:
        print("nothing to accept", file=sys.stderr)
    return 0
