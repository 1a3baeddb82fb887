"""Outputs as a core service: the channels from configuration, the sender job and its picture process,
tests, the daily summary, exports.

The faces (``ita notify``, ``ita live --notify``, ``ita signals export``, the window's Settings, tray
and Notifications list) call these instead of building channels themselves, so the rules are in one
place: which channels are on, which events each takes, what a test answers, when the summary goes out.
``start_sender()`` builds the enabled channels (configuration + keyring), starts the picture process
at once (warm before the first signal) and runs the sender as a core job; live sessions built while it
runs enqueue for its channels (``attach``). ``close()`` (the Core's close) stops the job and ends the
picture process. Every attempt goes out on the bus as ``NotificationAttempted`` with the far side's words.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ita_desktop.bus.events import NotificationAttempted
from ita_desktop.domain.errors import InputError, ItaError

if TYPE_CHECKING:
    from ita_desktop.core.app_core import Core
    from ita_desktop.outputs.sender import OutboxSender
    from ita_desktop.storage.outbox import OutboxRow

TEST_TEXT = "ITA Desktop: test message"


@dataclass(frozen=True)
class ChannelAnswer:
    """What a channel's far side said: ``sent`` or not, and the words (Telegram's, Notion's) to show as they are."""

    channel: str
    sent: bool
    text: str


class OutputsService:
    def __init__(self, core: Core) -> None:
        self.core = core
        self._summary_schedule: str | None = None
        self._lock = threading.Lock()
        self.running: OutboxSender | None = None  # the sender job's sender (the window's, or --notify's)
        self._pictures: Any = None
        self._similar: Any = None
        self._job: Any = None

    # -- channels -----------------------------------------------------------------------------
    def channels(self) -> dict[str, Any]:
        """The enabled channels (``outputs.<name>.enabled``), built with their keyring tokens."""
        from ita_desktop.outputs.channels import enabled_channels

        return enabled_channels(self.core.settings)

    def events(self) -> dict[str, frozenset[str]]:
        """The events each channel takes (``outputs.<name>.events``)."""
        from ita_desktop.outputs.channels import channel_events

        return channel_events(self.core.settings)

    def feedback_channels(self) -> tuple[str, ...]:
        """The enabled channels that take the trader's feedback on a signal: those that keep a page per signal
        (Notion) and list ``feedback`` in their events. Read from configuration only (no keyring, no network)."""
        from ita_desktop.outputs.channels import FEEDBACK_CHANNELS

        events = self.events()
        return tuple(n for n in FEEDBACK_CHANNELS
                     if getattr(self.core.settings.outputs, n).enabled and "feedback" in events.get(n, ()))

    def feedback_items(self, feedback: Any, updated_at: int) -> list[Any]:
        """The outbox rows of a signal's saved feedback (none for a backtest trade's, none when no channel takes
        it): the feedback's fields as the payload, its revision (``updated_at`` and the fields' digest) in the
        key, so an edit sends again and a retry of the same save does not."""
        from ita_desktop.storage.outbox import OutboxItem

        names = self.feedback_channels() if feedback.target_kind == "signal" else ()
        if not names:
            return []
        fields = {k: v for k, v in asdict(feedback).items() if k != "picture_path"}
        digest = hashlib.sha1(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:12]
        payload = {**fields, "updated_at": updated_at}
        return [OutboxItem(n, "feedback", feedback.target_key, payload, revision=f"{updated_at}-{digest}")
                for n in names]

    def send_feedback(self, target_key: str) -> list[ChannelAnswer]:
        """Send now the waiting feedback rows of signal ``target_key`` (``ita journal add`` outside the window),
        oldest first; a row whose signal's page is not made yet stays for the running sender or the next
        ``ita live --notify``. A PATCH sent twice (the window's sender in another process) writes the same."""
        from ita_desktop.outputs.channels import build_channel
        from ita_desktop.outputs.sender import OutboxSender

        outbox = self.core.store.outbox
        rows = [r for r in outbox.list() if r.event == "feedback" and r.signal_key == target_key
                and r.status in ("pending", "sending")]
        answers: list[ChannelAnswer] = []
        senders: dict[str, OutboxSender] = {}
        for row in rows:
            if row.channel not in senders:
                try:
                    senders[row.channel] = OutboxSender(outbox, {row.channel: build_channel(row.channel,
                                                                                            self.core.settings)},
                                                        on_result=self._publish)
                except ItaError as exc:
                    answers.append(ChannelAnswer(row.channel, False, f"{row.channel}: not sent now: {exc}"))
                    continue
            result = senders[row.channel].send_one(row.id)
            status = next((r.status for r in outbox.list() if r.id == row.id), None)
            if status == "sent":
                answers.append(ChannelAnswer(row.channel, True, f"{row.channel}: feedback sent (page {result.remote_ref})"
                                             if result is not None else f"{row.channel}: feedback sent"))
            elif result is None:
                answers.append(ChannelAnswer(row.channel, False, f"{row.channel}: the feedback waits for the "
                                             "signal's page (the window or the next `ita live --notify` sends it)"))
            else:
                answers.append(ChannelAnswer(row.channel, False, f"{row.channel}: {status}: {result.detail}"))
        return answers

    def sender(self, channels: dict[str, Any] | None = None) -> OutboxSender:
        """A sender of ``channels`` (default: the enabled ones) that draws the signals' pictures first (in the
        picture process, started on first use and ended by ``close``)."""
        from ita_desktop.outputs.sender import OutboxSender
        from ita_desktop.outputs.signal_picture import SignalPictures

        with self._lock:
            if self._pictures is None:
                self._pictures = SignalPictures(self.core.store_path)
            pictures = self._pictures
        return OutboxSender(self.core.store.outbox, self.channels() if channels is None else channels,
                            pictures=pictures, on_result=self._publish, annotate=self.similar_lines())

    def similar_lines(self) -> Any:
        """The sender's hook that adds a signal's similar past setups (learning.similar_line); its index opens on a
        thread of its own at the first call, so the first signal does not wait for ChromaDB to load."""
        from ita_desktop.learning.similar_line import SimilarLines

        with self._lock:
            if self._similar is None:
                manifest = self.core.learning.folder / "manifest.json"
                self._similar = SimilarLines(self.core.learning.index_store, self.core.store.outbox,
                                             exists=manifest.is_file)
            return self._similar

    def attach(self, session: Any, sender: OutboxSender | None = None) -> None:
        """Make a live session enqueue, in its own transactions, what ``sender``'s channels take (default: the
        running sender's; none running: nothing)."""
        sender = sender if sender is not None else self.running
        names = sender.names if sender is not None else ()
        events = self.events() if names else {}
        session.notify = names
        session.notify_events = {name: events.get(name, frozenset()) for name in names}

    # -- the sender job --------------------------------------------------------------------------
    @property
    def sending_channels(self) -> tuple[str, ...]:
        """The channels the running sender delivers (empty when none runs)."""
        running = self.running
        return running.names if running is not None else ()

    def _publish(self, row: OutboxRow, result: Any) -> None:
        self.core.bus.publish(NotificationAttempted(outbox_id=row.id, channel=row.channel, event=row.event,
                                                    signal_key=row.signal_key, outcome=result.outcome,
                                                    detail=result.detail))

    def start_sender(self, *, pictures: bool = True, poll_s: float = 0.5) -> OutboxSender | None:
        """Run the sender job for the enabled channels (None when none is enabled), its picture process started
        at once; a second call returns the first."""
        from ita_desktop.outputs.sender import OutboxSender

        with self._lock:
            if self.running is not None:
                return self.running
        channels = self.channels()
        if not channels:
            return None
        sender = self.sender(channels) if pictures else \
            OutboxSender(self.core.store.outbox, channels, on_result=self._publish, annotate=self.similar_lines())
        with self._lock:
            if self.running is not None:
                return self.running
            if pictures and self._pictures is not None:
                self._pictures.start()
            self._job = self.core.jobs.submit("outputs: send notifications",
                                              lambda ctx: sender.run(ctx, poll_s=poll_s), key="outputs.sender")
            self.running = sender
        return sender

    def stop_sender(self, timeout_s: float = 10.0) -> None:
        """Stop the job (what is left stays in the outbox); the picture process stays for a drain."""
        job = self._job
        if job is not None:
            job.cancel()
            if self.running is not None:
                self.running.wake.set()
            job.wait(timeout_s)
        self._job = None

    def close(self) -> None:
        """The Core closes (or Settings changed the channels): the job stops and the picture process ends."""
        self.stop_sender(timeout_s=5.0)
        with self._lock:
            pictures, self._pictures, self.running, self._similar = self._pictures, None, None, None
        if pictures is not None:
            pictures.close()

    def notifications(self, limit: int = 500) -> list[OutboxRow]:
        """The newest ``limit`` outbox rows, newest first (the window's notification list)."""
        return list(reversed(self.core.store.outbox.list()))[:limit]

    # -- tests ----------------------------------------------------------------------------------
    def send_test(self, channel: str, settings: Any = None) -> ChannelAnswer:
        """Send a test message through ``channel`` (enabled or not; through the outbox, so it is recorded) and
        return the far side's exact answer; a retry (429, 5xx, network) is not waited for: its words are shown.
        ``settings``: test these (Settings' fields not saved yet) instead of the core's. Notion's answer also
        says which journal properties the database lacks."""
        from ita_desktop.outputs.channels import build_channel
        from ita_desktop.outputs.sender import OutboxSender
        from ita_desktop.storage.outbox import OutboxItem

        built = build_channel(channel, settings if settings is not None else self.core.settings)
        outbox = self.core.store.outbox
        key = f"test-{time.time_ns()}"
        outbox.enqueue_now([OutboxItem(channel, "test", key, {"text": TEST_TEXT, "time_utc": int(time.time())})])
        row = next(r for r in reversed(outbox.list()) if r.signal_key == key)
        result = OutboxSender(outbox, {channel: built}, on_result=self._publish).send_one(row.id)
        row = next(r for r in outbox.list() if r.id == row.id)
        if row.status == "sent":
            what = "page" if channel == "notion" else "message"
            text = f"{channel}: sent ({what} {row.remote_ref})"
            if result is not None and result.detail:
                text += f": {result.detail}"  # the far side's own answer, as it came
            if channel == "notion":
                text += f"; {built.report()}"
            return ChannelAnswer(channel, True, text)
        words = result.detail if result is not None else row.last_error or "no answer"
        if row.status != "refused":  # a test is tried once: a "retry later" is its answer, not a waiting row
            outbox.mark_refused(row.id, words)
        return ChannelAnswer(channel, False, f"{channel}: {row.status}: {words}")

    def notion_properties(self, create: bool = False) -> tuple[list[str], list[str]]:
        """The journal properties the Notion database lacks, and (``create``) those just added to it."""
        from ita_desktop.outputs.channels import notion_channel
        from ita_desktop.outputs.notion import NotionRefusal

        channel = notion_channel(self.core.settings)
        try:
            missing = [p.name for p in channel.missing()]
            created = channel.create_missing() if create and missing else []
        except NotionRefusal as why:
            raise ItaError(f"notion: {why.delivery.detail}") from None
        return missing, created

    # -- the daily summary ---------------------------------------------------------------------
    def summary_channels(self, names: tuple[str, ...] | None = None) -> tuple[str, ...]:
        """The channels (among ``names``, default the enabled ones) whose events include the daily summary."""
        events = self.events()
        if names is None:
            names = tuple(n for n in events if getattr(self.core.settings.outputs, n).enabled)
        return tuple(n for n in names if "daily_summary" in events.get(n, ()))

    def enqueue_daily_summary(self, day: date | None = None, *, now_utc: float | None = None,
                              channels: tuple[str, ...] | None = None) -> int:
        """Enqueue ``day``'s summary (default: the last whose time has come) for the channels that take it;
        one per day and channel (the key), so a second call, a restart or two processes add nothing."""
        from ita_desktop.outputs.daily_summary import last_summary_day, summary_day, summary_payload
        from ita_desktop.storage.outbox import OutboxItem

        at = self.core.settings.outputs.daily_summary.time
        d = summary_day(day, at) if day is not None else last_summary_day(time.time() if now_utc is None else now_utc, at)
        names = self.summary_channels(channels)
        if not names:
            return 0
        payload = summary_payload(d, self.core.store.signals.list())
        return self.core.store.outbox.enqueue_now([OutboxItem(n, "daily_summary", d.key, payload) for n in names])

    def schedule_daily_summary(self, sender: OutboxSender | None = None) -> str:
        """A core job at ``outputs.daily_summary.time`` New York, every day: enqueue the day's summary (for
        ``sender``'s channels when given) and wake the sender. Returns the schedule id (``core.jobs.unschedule``)."""
        hh, mm = (int(x) for x in self.core.settings.outputs.daily_summary.time.split(":"))
        names = sender.names if sender is not None else None

        def run(ctx: Any) -> int:
            count = self.enqueue_daily_summary(channels=names)
            if sender is not None:
                sender.wake.set()
            return count

        self._summary_schedule = self.core.jobs.schedule_cron("outputs: daily summary", run, f"{mm} {hh} * * *",
                                                              key="outputs.daily_summary",
                                                              timezone_name="America/New_York")
        return self._summary_schedule

    # -- export ---------------------------------------------------------------------------------
    def export_signals(self, path: Path, fmt: str | None = None, *, rule_id: str | None = None,
                       symbol: str | None = None, start_utc: int | None = None, end_utc: int | None = None) -> int:
        """Write the stored signals (filtered; missed setups included, their source says so) as CSV or XLSX
        (``fmt``, default from the file's suffix); returns how many were written."""
        from ita_desktop.outputs.signal_export import EXPORT_FORMATS, write_signals

        path = Path(path)
        fmt = (fmt or path.suffix.lstrip(".")).lower()
        if fmt not in EXPORT_FORMATS:
            raise InputError(f"export format is csv or xlsx, not {fmt or 'none'!r}", file=path)
        store = self.core.store
        records = [r for r in store.signals.list(symbol=symbol, rule_id=rule_id)
                   if (start_utc is None or r.signal_time >= start_utc) and (end_utc is None or r.signal_time < end_utc)]
        digits = {}
        for sym in {r.symbol for r in records}:
            inst = store.instruments.get(sym)
            if inst is not None:
                digits[sym] = int(inst.digits)
        write_signals(records, digits, path, fmt)
        return len(records)
