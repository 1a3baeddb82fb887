"""`ita live --symbol SYM --rules A,B [--timeframe TF] [--source mt5|replay] [--from ISO] [--speed N|max] [--notify]`.

Runs the core's live session headless and prints one JSON object per line: ``"event": "signal"``
(the fields of an ``ita scan --json`` occurrence, plus signal_id, occurrence_key, source, status),
``"event": "update"`` (a signal's new paper-trade status and outcome) and ``"event": "missed"``
(a setup that completed in bars backfilled after a gap: stored, not raised). Ctrl+C stops it
cleanly (what was processed is stored); a replay stops by itself after the last stored bar.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from typing import Any

from ita_desktop.cli.core_factory import build_core
from ita_desktop.cli.options import utc_seconds
from ita_desktop.domain.clock import utc_iso
from ita_desktop.domain.errors import InputError



def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("live", help="watch a symbol live (MT5) or replay its stored bars, printing signals as JSON lines")
    p.add_argument("--symbol", required=True, help="symbol to watch")
    p.add_argument("--rules", required=True, help="comma-separated rule ids or rule files (each runs on its own timeframe)")
    p.add_argument("--timeframe", default=None, help="the streamed timeframe (default: the finest stored for the symbol)")
    p.add_argument("--source", choices=("mt5", "replay"), default="mt5", help="the MT5 terminal (default) or a replay of stored bars")
    p.add_argument("--from", dest="start", default=None, metavar="ISO", help="replay: first bar played (default: the first stored)")
    p.add_argument("--speed", default="max", help="replay: bars per second, or max (default)")
    p.add_argument("--notify", action="store_true", help="send signals through the enabled notification channels too")
    p.set_defaults(func=_live)


def _speed(text: str) -> float | None:
    if text.strip().lower() == "max":
        return None
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise InputError(f"--speed must be a positive number of bars per second or max, not {text!r}", column="--speed")
    return value


def _print(obj: dict[str, Any]) -> None:
    print(json.dumps(obj), flush=True)


def step_lines(step: Any) -> list[dict[str, Any]]:
    """The JSON lines of one session step, in order: signals, missed setups, then paper-trade updates."""
    from ita_desktop.core.live.signal_rows import signal_line

    lines = [signal_line(r) for r in step.raised]
    lines += [{**signal_line(r), "event": "missed"} for r in step.missed]
    for u in step.updates:
        lines.append({"event": "update", "signal_id": u.signal_id, "occurrence_key": u.key, "rule_id": u.rule_id,
                      "symbol": u.symbol, "status": u.status, "time_utc": u.time_utc, "time_iso": utc_iso(u.time_utc),
                      "outcome": u.outcome})
    return lines


def _live(args: argparse.Namespace) -> int:
    rules = [r.strip() for r in args.rules.split(",") if r.strip()]
    if not rules:
        raise InputError("--rules names no rule", column="--rules")
    speed = _speed(args.speed)
    start = utc_seconds(args.start, "--from")
    with build_core() as core:
        sender = _sender(core) if args.notify else None
        if args.source == "replay":
            plan = core.live.replay(args.symbol, rules, timeframe=args.timeframe, start_utc=start)
            session, run = plan.session, lambda: _play(plan, speed)
        else:
            if args.start is not None or args.speed != "max":
                raise InputError("--from and --speed are for --source replay", column="--from")
            live = core.live.mt5(args.symbol, rules, timeframe=args.timeframe)
            session, run = live.session, lambda: live.run(on_step=lambda s: [_print(x) for x in step_lines(s)])
        if sender is not None:
            core.outputs.attach(session, sender)
            if core.outputs.summary_channels(sender.names):
                core.outputs.schedule_daily_summary(sender)
        previous = signal.signal(signal.SIGINT, lambda *_: session.stop())
        try:
            run()
        finally:
            signal.signal(signal.SIGINT, previous)
            if sender is not None:
                core.outputs.stop_sender()
        why = "stopped (Ctrl+C)" if session.stopped.is_set() else "the last stored bar was reached"
        print(f"live {args.source} {args.symbol}: {why}", file=sys.stderr)
        if sender is not None:
            _drain(sender, core.settings.outputs.drain_timeout_s)
    return 0


def _sender(core: Any) -> Any:
    """The core's sender job for the enabled channels (its picture process started at once); --notify with
    none enabled is refused (it would send nothing)."""
    sender = core.outputs.start_sender()
    if sender is None:
        raise InputError("--notify: no notification channel is enabled (set outputs.telegram.enabled or "
                         "outputs.notion.enabled to true in config.yaml)", column="--notify")
    return sender


def _drain(sender: Any, timeout_s: float) -> None:
    """Wait (at most ``timeout_s``) for the outbox to be sent before exit, saying so."""
    waiting = sender.outbox.waiting(sender.names)
    if not waiting:
        return
    print(f"waiting up to {timeout_s:g} s for {waiting} notification(s) to be sent", file=sys.stderr)
    left = sender.drain(timeout_s)
    if left:
        print(f"{left} notification(s) not sent yet: they stay in the outbox and go with the next "
              f"`ita live --notify`", file=sys.stderr)


def _play(plan: Any, speed: float | None) -> None:
    from ita_desktop.core.live.replay_feed import play

    play(plan.session, plan.to_play, speed=speed, on_step=lambda s: [_print(x) for x in step_lines(s)])
