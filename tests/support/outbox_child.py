"""A child process that enqueues five signals and drains them through one channel: the SIGKILL tests of the
Telegram and Notion channels kill it before, during and after a send and check each message goes exactly once."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.conftest import PROJECT_ROOT

CHILD = """
import sys, time
from pathlib import Path
from ita_desktop.outputs.sender import OutboxSender
from ita_desktop.storage.outbox import OutboxItem
from ita_desktop.storage.store import Store
{channel_import}
db, picture, pause, *args = sys.argv[1:]
with Store.open(Path(db)) as store:
    store.outbox.enqueue_now([OutboxItem({name!r}, "signal", f"k{{i}}", {{
        "rule_id": "r", "rule_version": "1", "symbol": "EURUSD", "timeframe": "M5", "direction": 1,
        "signal_time": 1700000000 + 300 * i, "entry_price": 1.1, "stop_price": 1.09, "targets": []}}, picture)
        for i in range(5)])
    print("enqueued", flush=True)
    if pause == "1":
        time.sleep(60)
    left = OutboxSender(store.outbox, {{{name!r}: {channel}}}).drain(30)
    print("left", left, flush=True)
"""


def big_picture(folder: Path, png_header: bytes) -> Path:
    """A picture larger than the loopback's socket buffers, so a send can be held half-read."""
    picture = folder / "big.png"
    picture.write_bytes(png_header[:8] + os.urandom(24 * 1024 * 1024))
    return picture


def child_starter(folder: Path, db: Path, picture: Path, name: str, channel_import: str, channel: str,
                  *args: str) -> Callable[[str], subprocess.Popen]:
    """A function starting the child (pause "1": it sleeps between enqueue and send); ``channel`` is the
    expression building the channel from ``args`` (passed on the child's command line)."""
    script = folder / "child.py"
    script.write_text(CHILD.format(name=name, channel_import=channel_import, channel=channel))
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}

    def start(pause: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, str(script), str(db), str(picture), pause, *args],
                                stdout=subprocess.PIPE, text=True, env=env, cwd=PROJECT_ROOT)
    return start


def kill(proc: subprocess.Popen) -> None:
    """SIGKILL: no clean-up runs, as when the machine loses power or the app is killed."""
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
