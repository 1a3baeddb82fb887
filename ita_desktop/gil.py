"""Worker-thread courtesy: hand the GIL to a waiting thread (the GUI's, above all) every few ms.

CPython makes a thread that wants the GIL wait a 5 ms switch interval and then asks the holder
to let go, but any switch in between restarts that wait, and a switch includes the holder
releasing and retaking the GIL itself, which numpy and pandas do on every large array or
chunk. A worker parsing a big CSV does that hundreds of times a second, so the GUI thread
could wait 70-120 ms for the GIL (measured) while every single call lasted 1-2 ms. A real
sleep at points between such calls lets the waiting thread take its turn.
"""

from __future__ import annotations

import threading
import time

PAUSE_S = 0.0001  # long enough for a thread woken by the release to take the GIL
EVERY_S = 0.002  # at most one pause per this much work: a year-of-M1 read_csv 625 -> 664 ms

_last = threading.local()


def let_others_run() -> None:
    """Sleep briefly if this thread has worked ``EVERY_S`` since it last did; call it between C calls."""
    now = time.perf_counter()
    if now - getattr(_last, "pause", 0.0) >= EVERY_S:
        time.sleep(PAUSE_S)
        _last.pause = time.perf_counter()
