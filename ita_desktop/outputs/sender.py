"""The sender: delivers the outbox's due rows through their channels, retrying with back-off.

Each row is claimed (``sending``) before the far side is asked and marked ``sent`` right after,
so a kill between enqueue and send loses nothing (the row is still pending), and a kill during a
send resends only the row in flight. An update waits until its signal's message is sent (it
replies to it); when the signal was refused, the update goes on its own. The trader's feedback
(``feedback``, one row per edit) waits for its signal's page and for its older edits, so the page
ends with the newest. The far side's wait
(Telegram's ``retry_after``, Notion's ``Retry-After``) is honoured; otherwise back-off doubles
from 2 s to 5 minutes. A refusal is final and keeps the far side's words.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from ita_desktop.outputs.delivery import Delivery
from ita_desktop.storage.outbox import Outbox, OutboxRow

log = logging.getLogger("ita.outputs")

BACKOFF_FIRST_S = 2.0
#: events that stand alone; the others (a signal's outcomes) follow their signal's message or page
STANDALONE_EVENTS = ("signal", "test", "daily_summary")
BACKOFF_MAX_S = 300.0
#: events a signal can have more than once (one outbox row per revision); they go out in order
REPEATED_EVENTS = ("feedback",)


class Channel(Protocol):
    name: str

    def deliver(self, row: OutboxRow, reply_to: str | None) -> Delivery: ...


def backoff(attempts: int) -> float:
    return min(BACKOFF_FIRST_S * 2 ** max(attempts - 1, 0), BACKOFF_MAX_S)


class OutboxSender:
    def __init__(self, outbox: Outbox, channels: dict[str, Channel],
                 pictures: Callable[[list[OutboxRow]], None] | None = None,
                 on_result: Callable[[OutboxRow, Delivery], None] | None = None,
                 annotate: Callable[[list[OutboxRow]], list[OutboxRow]] | None = None) -> None:
        """``pictures``: draws the missing pictures of the due signal rows before they are sent;
        ``on_result``: told each attempt's outcome (the window's notification list follows it);
        ``annotate``: settles what the due rows' text adds once per signal (the similar past setups' line)."""
        self.outbox, self.channels, self.pictures, self.on_result = outbox, channels, pictures, on_result
        self.annotate = annotate
        self.wake = threading.Event()
        self.last_result: Delivery | None = None  # the last attempt's outcome (send_one returns it)
        self._sending = threading.Lock()  # the job's loop and the exit's drain never claim the same row

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.channels)

    def send_due(self, now: float | None = None) -> int:
        """Try every due row once; returns how many were sent."""
        with self._sending:
            count = 0
            rows = self.outbox.due(time.time() if now is None else now, self.names)
            if self.annotate is not None and rows:
                rows = self.annotate(rows)
            if self.pictures is not None and rows:
                self.pictures(rows)
            for row in rows:
                count += self._send(row)
            return count

    def send_one(self, row_id: int) -> Delivery | None:
        """Deliver one row now (Send test), unless it is no longer waiting; returns the far side's outcome."""
        with self._sending:
            row = next((r for r in self.outbox.list() if r.id == row_id), None)
            if row is None or row.status not in ("pending", "sending"):
                return None
            self.last_result = None
            self._send(row)
            return self.last_result

    def _send(self, row: OutboxRow) -> int:
        reply_to = None
        if row.event not in STANDALONE_EVENTS:
            state = self.outbox.status_of(row.signal_key, row.channel)
            if state in ("pending", "sending"):  # its signal first: the update replies to it
                return 0
            if row.event in REPEATED_EVENTS and self.outbox.earlier_waiting(row):  # the older edit first
                return 0
            reply_to = self.outbox.remote_ref(row.signal_key, row.channel)
        self.outbox.mark_sending(row.id)
        try:
            result = self.channels[row.channel].deliver(row, reply_to)
        except Exception as exc:  # a channel's bug must not stop the others; retried like a network failure
            log.exception("outbox row %d (%s) failed", row.id, row.channel)
            result = Delivery("retry", detail=f"{type(exc).__name__}: {exc}")
        self.last_result = result
        if self.on_result is not None:
            self.on_result(row, result)
        if result.outcome == "sent":
            self.outbox.mark_sent(row.id, result.remote_ref)
            return 1
        if result.outcome == "refused":
            log.warning("%s refused %s: %s", row.channel, row.idem_key, result.detail)
            self.outbox.mark_refused(row.id, result.detail)
            return 0
        wait = result.retry_after if result.retry_after is not None else backoff(row.attempts + 1)
        log.info("%s: %s; retry in %.1f s", row.channel, result.detail, wait)
        self.outbox.mark_retry(row.id, time.time() + wait, result.detail)
        return 0

    def run(self, ctx: Any = None, *, stop: threading.Event | None = None, poll_s: float = 0.5) -> None:
        """The sender job's loop (core job engine): send what is due until asked to stop."""
        stop = stop or threading.Event()
        while not stop.is_set() and not (ctx is not None and ctx.cancelled):
            self.send_due()
            self.wake.wait(poll_s)
            self.wake.clear()

    def drain(self, timeout_s: float, poll_s: float = 0.2) -> int:
        """Send until nothing waits or ``timeout_s`` passed; returns how many still wait."""
        end = time.monotonic() + timeout_s
        while True:
            self.send_due()
            left = self.outbox.waiting(self.names)
            if not left or time.monotonic() >= end:
                return left
            time.sleep(min(poll_s, max(end - time.monotonic(), 0)))
