"""The picture process: one child that stays up and draws the signals' chart pictures on request.

A child per picture cost ~7 s (interpreter, Qt, the Core, the kernels) against a budget of 1 s
from signal to Telegram. This keeps one ``chart_snapshot --serve`` child (``child_process.child_command``)
per sender: started once (eagerly, when the sender starts, so the first signal finds it warm), fed
one JSON request per stdin line, answered one JSON line per picture on stdout. A child that died or
stopped answering is killed and started again on the next request; ``close()`` ends it with the
sender (stdin closed, then terminate). outputs/ still imports no Qt: Qt lives only in the child.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import subprocess
import threading
from pathlib import Path
from typing import IO, Any

from ita_desktop.child_process import child_command

log = logging.getLogger("ita.outputs")

START_TIMEOUT_S = 120.0  # a cold numba cache compiles the detectors in the child's first picture
PICTURE_TIMEOUT_S = 120.0
DIED = "the picture process had ended"
NO_ANSWER = "the picture process did not answer in time"
NOT_STARTED = "the picture process did not start in time"


class PictureProcess:
    """``draw(request)`` -> None when the PNG was written, else the reason (the signal then goes as text)."""

    def __init__(self, store_path: Path | None = None, *, start_timeout_s: float = START_TIMEOUT_S,
                 picture_timeout_s: float = PICTURE_TIMEOUT_S) -> None:
        self.store_path = store_path
        self.start_timeout_s, self.picture_timeout_s = start_timeout_s, picture_timeout_s
        self.starts = 0  # how many children were started (a restart counts)
        self._proc: subprocess.Popen[str] | None = None
        self._answers: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._lock = threading.Lock()
        self._next_id = 0
        self._ready = False

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def start(self) -> None:
        """Start the child unless it runs (returns at once; ``draw`` waits for its ``ready``)."""
        with self._lock:
            self._start_locked()

    def _start_locked(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            return
        cmd = child_command("ita_desktop.ui.chart_snapshot") + ["--serve"]
        if self.store_path is not None:
            cmd += ["--store", str(self.store_path)]
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True, bufsize=1, env=env)
        self.starts += 1
        self._ready = False
        self._answers = queue.Queue()
        threading.Thread(target=_read_answers, args=(self._proc.stdout, self._answers), daemon=True,
                         name="picture-process-out").start()
        threading.Thread(target=_log_stderr, args=(self._proc.stderr,), daemon=True,
                         name="picture-process-err").start()

    def _wait_answer(self, timeout_s: float, want_id: int | None) -> dict[str, Any] | None:
        """The next answer (``want_id``: the one of that request; older ones are dropped); None: no answer in time."""
        import time

        end = time.monotonic() + timeout_s
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return None
            try:
                answer = self._answers.get(timeout=left)
            except queue.Empty:
                return None
            if answer is None:  # the child's stdout closed: it died
                return None
            if want_id is None or answer.get("id") == want_id:
                return answer

    def draw(self, symbol: str, timeframe: str, at: int | None, out: str, levels: str = "") -> str | None:
        """Draw one picture into ``out``; None when written, else why not. A child found dead is started
        again and asked once more; one that does not answer in time is killed (started again next time)."""
        req = {"symbol": symbol, "timeframe": timeframe, "at": at, "out": out, "levels": levels}
        with self._lock:
            why = self._ask_locked(req)
            if why == DIED:
                self._kill_locked(why)
                why = self._ask_locked(req)
            if why in (DIED, NO_ANSWER, NOT_STARTED):
                return self._kill_locked(why)
            return why

    def _ask_locked(self, req: dict[str, Any]) -> str | None:
        self._start_locked()
        proc = self._proc
        assert proc is not None and proc.stdin is not None
        if not self._ready:
            if self._wait_answer(self.start_timeout_s, None) is None:
                return DIED if proc.poll() is not None else NOT_STARTED
            self._ready = True
        self._next_id += 1
        try:
            proc.stdin.write(json.dumps({"id": self._next_id, **req}) + "\n")
            proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return DIED
        answer = self._wait_answer(self.picture_timeout_s, self._next_id)
        if answer is None:
            try:
                proc.wait(0.5)
            except subprocess.TimeoutExpired:
                return NO_ANSWER
            return DIED
        return None if answer.get("ok") else str(answer.get("error") or "no picture")

    def _kill_locked(self, why: str) -> str:
        proc, self._proc, self._ready = self._proc, None, False
        if proc is not None:
            proc.kill()
            proc.wait(5)
        log.warning("%s: it is started again for the next picture", why)
        return why

    def close(self, timeout_s: float = 5.0) -> None:
        """End the child: stdin closed (it leaves its loop), killed if it does not end in time."""
        with self._lock:
            proc, self._proc, self._ready = self._proc, None, False
        if proc is None:
            return
        try:
            if proc.stdin is not None:
                proc.stdin.close()
            proc.wait(timeout_s)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait(5)


def _read_answers(stream: IO[str], answers: queue.Queue[dict[str, Any] | None]) -> None:
    for line in stream:
        try:
            answers.put(json.loads(line))
        except ValueError:
            log.debug("picture process said: %s", line.rstrip())
    answers.put(None)


def _log_stderr(stream: IO[str]) -> None:
    for line in stream:
        log.debug("picture process: %s", line.rstrip())
