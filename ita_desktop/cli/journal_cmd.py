"""`ita journal add|list|tags`: the trader's feedback on signals and backtest trades, the journal and its tag lists.

``add`` edits the entry in place when the target already has feedback (only the options given
change); a signal's feedback is sent at once to the channels that take it (Notion's page), each
answer printed. ``list`` prints the entries with R, then R per New York day and the statistics by setup tag
and by mistake (``--json``: ``entries``, ``r_per_day``, ``stats``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ita_desktop.cli.core_factory import build_core
from ita_desktop.cli.options import utc_seconds
from ita_desktop.domain.clock import utc_iso
from ita_desktop.domain.errors import InputError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("journal", help="the trader's feedback on signals and trades, the journal, tags")
    sub = p.add_subparsers(dest="journal_command", required=True)
    a = sub.add_parser("add", help="give (or edit) feedback on a signal or a stored run's trade")
    target = a.add_mutually_exclusive_group(required=True)
    target.add_argument("--signal", metavar="KEY", help="a stored signal's occurrence key")
    target.add_argument("--trade", metavar="RUN:OCC", help="a stored run's trade: run id and occurrence")
    taken = a.add_mutually_exclusive_group()
    taken.add_argument("--taken", action="store_true", help="the trader took it")
    taken.add_argument("--skipped", metavar="WHY", help="the trader skipped it, and why")
    a.add_argument("--label", choices=("valid", "invalid"), help="a valid setup or not")
    a.add_argument("--grade", help="the trader's grade (A+, A, B, ...)")
    a.add_argument("--tag", action="append", default=None, help="a setup tag (repeat for more)")
    a.add_argument("--mistake", action="append", default=None, help="a mistake tag (repeat for more)")
    a.add_argument("--emotions")
    a.add_argument("--notes")
    a.add_argument("--picture", type=Path, help="a PNG of the chart")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=_add)
    ls = sub.add_parser("list", help="the journal: entries with R, R per day, statistics by tag and mistake")
    ls.add_argument("--rule")
    ls.add_argument("--version", dest="rule_version")
    ls.add_argument("--symbol")
    ls.add_argument("--tag", help="a setup tag or a mistake")
    ls.add_argument("--outcome", choices=("win", "loss", "breakeven", "open"))
    ls.add_argument("--from", dest="start", metavar="ISO")
    ls.add_argument("--to", dest="end", metavar="ISO", help="exclusive")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=_list)
    t = sub.add_parser("tags", help="the trader's setup and mistake tag lists (add or remove a word)")
    change = t.add_mutually_exclusive_group()
    change.add_argument("--add", metavar="NAME")
    change.add_argument("--remove", metavar="NAME")
    t.add_argument("--mistake", action="store_true", help="the mistake list (default: setup tags)")
    t.add_argument("--json", action="store_true")
    t.set_defaults(func=_tags)


def _target(core, args: argparse.Namespace):
    from ita_desktop.core.journal_service import signal_feedback, trade_feedback

    if args.signal:
        record = core.store.signals.get_many([args.signal]).get(args.signal)
        if record is None:
            raise InputError(f"no stored signal with the key {args.signal!r} (see `ita live` / the Signals panel)",
                             column="--signal")
        return signal_feedback(record)
    run_text, _, occ_text = args.trade.partition(":")
    if not (run_text.isdigit() and occ_text.lstrip("-").isdigit()):
        raise InputError(f"--trade {args.trade!r}: expected RUN:OCC, e.g. 12:3", column="--trade")
    outcome = core.runs.reopen(int(run_text))
    rows = outcome.result.trades.rows
    matches = [i for i in range(len(rows)) if int(rows[i]["occurrence"]) == int(occ_text)]
    if not matches:
        raise InputError(f"run {run_text} has no trade of occurrence {occ_text}", column="--trade")
    return trade_feedback(outcome, matches[0])


def _add(args: argparse.Namespace) -> int:
    picture = None
    if args.picture is not None:
        if not args.picture.is_file():
            raise InputError(f"{args.picture}: no such file", column="--picture")
        picture = args.picture.read_bytes()
    with build_core() as core:
        fresh = _target(core, args)
        fb = core.journal.get(fresh.target_kind, fresh.target_key) or fresh
        if args.taken:
            fb.taken, fb.skip_reason = True, None
        elif args.skipped is not None:
            fb.taken, fb.skip_reason = False, args.skipped
        for name in ("label", "grade", "emotions", "notes"):
            if getattr(args, name) is not None:
                setattr(fb, name, getattr(args, name))
        if args.tag is not None:
            fb.tags = args.tag
        if args.mistake is not None:
            fb.mistakes = args.mistake
        fb.outcome_r = fresh.outcome_r
        core.journal.save(fb, picture)
        answers = core.outputs.send_feedback(fb.target_key) if fb.target_kind == "signal" else []
        saved = core.journal.entries()
        entry = next(e for e in saved if e.feedback.target_key == fb.target_key and e.feedback.target_kind == fb.target_kind)
    if args.json:
        out = entry.to_dict()
        if answers:
            out["notifications"] = [{"channel": a.channel, "sent": a.sent, "text": a.text} for a in answers]
        print(json.dumps(out, indent=2))
    else:
        print(f"feedback saved on {fb.target_kind} {fb.target_key} ({fb.rule_id} v{fb.rule_version} {fb.symbol} "
              f"{utc_iso(fb.signal_time)})")
        for a in answers:
            print(a.text)
    return 0


def _list(args: argparse.Namespace) -> int:
    from ita_desktop.core.journal_service import JournalFilter
    from ita_desktop.learning.journal_stats import r_per_day, stats_by

    flt = JournalFilter(rule_id=args.rule, rule_version=args.rule_version, symbol=args.symbol, tag=args.tag,
                        outcome=args.outcome, start_utc=utc_seconds(args.start, "--from"),
                        end_utc=utc_seconds(args.end, "--to"))
    with build_core() as core:
        entries = core.journal.entries(flt)
    days = r_per_day(entries)
    stats = {"tags": stats_by(entries, "tags"), "mistakes": stats_by(entries, "mistakes")}
    if args.json:
        print(json.dumps({"entries": [e.to_dict() for e in entries],
                          "r_per_day": {d.isoformat(): {"r": v.r, "trades": v.trades, "entries": v.entries}
                                        for d, v in sorted(days.items())},
                          "stats": {k: [s.to_dict() for s in v] for k, v in stats.items()}}, indent=2))
        return 0
    print(f"{len(entries)} journal entr{'y' if len(entries) == 1 else 'ies'}")
    for e in entries:
        f = e.feedback
        r = "  –  " if e.r is None else f"{e.r:+.2f}R"
        taken = "taken" if f.taken else f"skipped ({f.skip_reason})" if f.taken is False else ""
        print(f"  {utc_iso(f.signal_time)}  {f.rule_id} v{f.rule_version} {f.symbol} {f.target_kind} {r} "
              f"{f.label or ''} {f.grade or ''} {taken} tags={','.join(f.tags)} mistakes={','.join(f.mistakes)}")
    for d, v in sorted(days.items()):
        print(f"  {d.isoformat()}  {v.r:+.2f}R over {v.trades} trade(s)")
    for what, rows in stats.items():
        for s in rows:
            win = "–" if s.win_rate is None else f"{s.win_rate:.0%}"
            exp = "–" if s.expectancy_r is None else f"{s.expectancy_r:+.2f}R"
            print(f"  by {what[:-1]} {s.name}: {s.count} entr(ies), win rate {win}, expectancy {exp}")
    return 0


def _tags(args: argparse.Namespace) -> int:
    kind = "mistake" if args.mistake else "setup"
    with build_core() as core:
        if args.add:
            core.journal.add_tag(kind, args.add)
        elif args.remove and not core.journal.remove_tag(kind, args.remove):
            raise InputError(f"{args.remove!r} is not in the {kind} list", column="--remove")
        tags = core.journal.tags()
    if args.json:
        print(json.dumps(tags, indent=2))
    else:
        for k, names in tags.items():
            print(f"{k}: {', '.join(names) if names else '(none)'}")
    return 0
