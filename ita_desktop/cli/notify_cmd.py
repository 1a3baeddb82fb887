"""`ita notify test telegram|notion`: send a test message through a channel and print the far side's answer;
`ita notify outbox [--status S]`: the outbox's rows as JSON lines (a refused row keeps the far side's words).

The message goes through the outbox like any other (so it is recorded), then is sent at once;
the exit code is 0 when the far side took it, 1 when it refused or did not answer in time.
"""

from __future__ import annotations

import argparse
import sys
import time

from ita_desktop.cli.core_factory import build_core
from ita_desktop.domain.errors import ItaError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("notify", help="notification channels: send a test message")
    sub = p.add_subparsers(dest="notify_command", required=True)
    test = sub.add_parser("test", help="send a test message through a channel and print its answer")
    test.add_argument("channel", choices=("telegram", "notion"))
    test.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for an answer (default 30)")
    test.set_defaults(func=_test)
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
    from ita_desktop.outputs.channels import telegram_channel
    from ita_desktop.outputs.sender import OutboxSender
    from ita_desktop.storage.outbox import OutboxItem

    if args.channel == "notion":
        raise ItaError("the Notion channel is not built yet: only telegram can be tested")
    with build_core() as core:
        channel = telegram_channel(core.settings)
        outbox = core.store.outbox
        key = f"test-{time.time_ns()}"
        outbox.enqueue_now([OutboxItem("telegram", "test", key, {"text": "ITA Desktop: test message"})])
        sender = OutboxSender(outbox, {"telegram": channel})
        sender.drain(args.timeout)
        row = next(r for r in outbox.list() if r.signal_key == key)
        if row.status == "sent":
            print(f"telegram: sent (message {row.remote_ref})")
            return 0
        print(f"telegram: {row.status}: {row.last_error}", file=sys.stderr)
        return 1
