"""The notification sender as a core service: the outbox sender job, its picture process, "Send test", the outbox read.

The window and ``ita live --notify`` both send through here: ``start_sender()`` builds the enabled
channels (configuration + keyring), starts the picture process at once (warm before the first
signal) and runs the sender as a core job (``core.sending``); live sessions built while it runs
enqueue for its channels (``channels``). ``close()`` (the Core's close) stops the job and ends the picture process.
Every attempt goes out on the bus as ``NotificationAttempted`` with the far side's words.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ita_desktop.bus.events import NotificationAttempted
from ita_desktop.domain.errors import ItaError

if TYPE_CHECKING:
    from ita_desktop.core.app_core import Core
    from ita_desktop.outputs.sender import OutboxSender
    from ita_desktop.storage.outbox import OutboxRow

log = logging.getLogger(__name__)

CHANNEL_NAMES = ("telegram", "notion")
TEST_TEXT = "ITA Desktop: test message"


@dataclass(frozen=True)
class ChannelAnswer:
    """What a channel's far side said to a test: ``sent`` or not, and its words as they are."""

    channel: str
    sent: bool
    text: str


def channel_named(settings: Any, name: str) -> Any:
    """The channel ``name`` built from settings and the keyring, whether enabled or not (Send test)."""
    from ita_desktop.outputs import channels

    if name == "telegram":
        return channels.telegram_channel(settings)
    if name == "notion":
        build = getattr(channels, "notion_channel", None)  # the Notion channel's builder, once it exists
        if build is None:
            raise ItaError("Send test needs the Notion channel, which is not built in this version")
        return build(settings)
    raise ItaError(f"no notification channel named {name!r} (telegram or notion)")


class SenderService:
    def __init__(self, core: Core) -> None:
        self._core = core
        self._lock = threading.Lock()
        self.sender: OutboxSender | None = None
        self._pictures: Any = None
        self._job: Any = None

    @property
    def channels(self) -> tuple[str, ...]:
        """The channels the running sender delivers (empty when none runs): live sessions enqueue for these."""
        sender = self.sender
        return sender.names if sender is not None else ()

    def _publish(self, row: OutboxRow, result: Any) -> None:
        self._core.bus.publish(NotificationAttempted(outbox_id=row.id, channel=row.channel, event=row.event,
                                                     signal_key=row.signal_key, outcome=result.outcome,
                                                     detail=result.detail))

    def start_sender(self, *, pictures: bool = True, poll_s: float = 0.5) -> OutboxSender | None:
        """Run the sender job for the enabled channels (None when none is enabled); a second call returns the first."""
        from ita_desktop.outputs.channels import enabled_channels
        from ita_desktop.outputs.sender import OutboxSender
        from ita_desktop.outputs.signal_picture import SignalPictures

        with self._lock:
            if self.sender is not None:
                return self.sender
            channels = enabled_channels(self._core.settings)
            if not channels:
                return None
            self._pictures = SignalPictures(self._core.store_path) if pictures else None
            if self._pictures is not None:
                self._pictures.start()
            sender = OutboxSender(self._core.store.outbox, channels, pictures=self._pictures, on_result=self._publish)
            self._job = self._core.jobs.submit("outputs: send notifications",
                                               lambda ctx: sender.run(ctx, poll_s=poll_s), key="outputs.sender")
            self.sender = sender
            return sender

    def stop_sender(self, timeout_s: float = 10.0) -> None:
        """Stop the job (what is left stays in the outbox); the picture process stays for a drain."""
        job = self._job
        if job is not None:
            job.cancel()
            if self.sender is not None:
                self.sender.wake.set()
            job.wait(timeout_s)
        self._job = None

    def close(self) -> None:
        """The Core closes: the job stops and the picture process ends."""
        self.stop_sender(timeout_s=5.0)
        with self._lock:
            pictures, self._pictures, self.sender = self._pictures, None, None
        if pictures is not None:
            pictures.close()

    def send_test(self, channel: str, settings: Any = None) -> ChannelAnswer:
        """Send a test message through ``channel`` (enabled or not; through the outbox, so it is recorded) and
        return the far side's exact answer; a retry (429, 5xx, network) is not waited for: its words are shown.
        ``settings``: test these (Settings' fields not saved yet) instead of the core's."""
        from ita_desktop.outputs.sender import OutboxSender
        from ita_desktop.storage.outbox import OutboxItem

        built = channel_named(settings if settings is not None else self._core.settings, channel)
        outbox = self._core.store.outbox
        key = f"test-{time.time_ns()}"
        outbox.enqueue_now([OutboxItem(channel, "test", key, {"text": TEST_TEXT})])
        row = next(r for r in reversed(outbox.list()) if r.signal_key == key)
        running = self.sender
        # the running sender's lock keeps its loop from sending the same row; else a sender of its own
        sender = running if settings is None and running is not None and channel in running.names else \
            OutboxSender(outbox, {channel: built}, on_result=self._publish)
        result = sender.send_one(row.id)
        row = next(r for r in outbox.list() if r.id == row.id)
        words = result.detail if result is not None else \
            row.last_error or (f"message {row.remote_ref}" if row.remote_ref else "no answer")
        return ChannelAnswer(channel, row.status == "sent", f"{channel}: {row.status}: {words}")

    def notifications(self, limit: int = 500) -> list[OutboxRow]:
        """The newest ``limit`` outbox rows, newest first (the window's notification list)."""
        return list(reversed(self._core.store.outbox.list()))[:limit]
