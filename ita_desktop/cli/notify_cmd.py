"""`ita notify test telegram|notion [--create-properties]`: send a test message through a channel and print the
far side's answer (Notion's also lists the journal properties its database lacks; --create-properties adds them);
`ita notify summary [--date YYYY-MM-DD]`: send a day's summary to the channels that take it;
`ita notify outbox [--status S]`: the outbox's rows as JSON lines (a refused row keeps the far side's words).

A message goes through the outbox like any other (so it is recorded), then is sent at once;
the exit code is 0 when the far side took it, 1 when it refused or asked to retry later (its words are printed).
"""

from __future__ import annotations

import argparse
import sys
from datetime import date

from ita_desktop.cli.core_factory import build_core
from ita_desktop.domain.errors import InputError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("notify", help="notification channels: send a test message or the daily summary")
    sub = p.add_subparsers(dest="notify_command", required=True)
    test = sub.add_parser("test", help="send a test message through a channel and print its answer")
    test.add_argument("channel", choices=("telegram", "notion"))
    test.add_argument("--create-properties", action="store_true",
                      help="notion: add the journal properties the database lacks (data source update)")
    test.set_defaults(func=_test)
    summary = sub.add_parser("summary", help="send a day's summary (signals, outcomes, R by rule) to the channels "
                             "whose events include daily_summary")
    summary.add_argument("--date", default=None, metavar="YYYY-MM-DD",
                         help="the New York day (default: the last whose summary time has come)")
    summary.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the sending (default 30)")
    summary.set_defaults(func=_summary)
    box = sub.add_parser("outbox", help="the notifications as JSON lines: status, attempts, the far side's last words")
    box.add_argument("--status", choices=("pending", "sending", "sent", "refused"), default=None)
    box.set_defaults(func=_outbox)


def _outbox(args: argparse.Namespace) -> int:
    import json

    with build_core() as core:
        for r in core.store.outbox.list(args.status):
            print(json.dumps({"id": r.id, "channel": r.channel, "event": r.event, "signal_key": r.signal_key,
                              "status": r.status, "attempts": r.attempts, "last_error": r.last_error,
                              "remote_ref": r.remote_ref, "picture_path": r.picture_path}))
    return 0


def _test(args: argparse.Namespace) -> int:
    if args.create_properties and args.channel != "notion":
        raise InputError("--create-properties is for notion", column="--create-properties")
    with build_core() as core:
        if args.create_properties:
            _missing, created = core.outputs.notion_properties(create=True)
            print(f"notion: added properties: {', '.join(created)}" if created
                  else "notion: every journal property is there")
        answer = core.outputs.send_test(args.channel)
        print(answer.text, file=sys.stdout if answer.sent else sys.stderr)
        return 0 if answer.sent else 1


def _summary(args: argparse.Namespace) -> int:
    try:
        day = date.fromisoformat(args.date) if args.date else None
    except ValueError:
        raise InputError(f"--date must be YYYY-MM-DD, not {args.date!r}", column="--date") from None
    with build_core() as core:
        names = core.outputs.summary_channels()
        if not names:
            raise InputError("no enabled channel takes the daily summary (add daily_summary to "
                             "outputs.<channel>.events and enable the channel)", column="--date")
        added = core.outputs.enqueue_daily_summary(day, channels=names)
        sender = core.outputs.sender({n: c for n, c in core.outputs.channels().items() if n in names})
        left = sender.drain(args.timeout)
        print(f"daily summary: {added} new for {', '.join(names)}; {left} not sent yet")
        return 0 if left == 0 else 1
