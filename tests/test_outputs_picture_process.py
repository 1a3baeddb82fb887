"""The picture process that stays up: one child draws many signal pictures, comes back after a SIGKILL, ends on close."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from ita_desktop.outputs.picture_process import PictureProcess
from ita_desktop.storage.store import Store

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_picture_process_draws_real_eurusd_pictures_restarts_after_sigkill_and_ends_on_close(
        eurusd_store: Path, tmp_path: Path) -> None:
    with Store.open() as store:
        times = store.bars.load("EURUSD", "M1").time
    at_a, at_b = int(times[5000]), int(times[9000])
    process = PictureProcess()
    try:
        process.start()
        first, second = tmp_path / "a.png", tmp_path / "b.png"
        assert process.draw("EURUSD", "M1", at_a, str(first), f"entry={1.08},stop={1.07},T1={1.1}") is None
        pid = process.pid
        assert process.draw("EURUSD", "M1", at_b, str(second)) is None
        assert process.pid == pid and process.starts == 1  # the same child drew both
        for png in (first, second):
            assert png.read_bytes().startswith(PNG_MAGIC) and png.stat().st_size > 20_000
        assert first.read_bytes() != second.read_bytes()
        # a bad request is answered, the child carries on
        why = process.draw("NOPE", "M1", at_a, str(tmp_path / "c.png"))
        assert why is not None and "NOPE" in why and process.pid == pid
        os.kill(pid, signal.SIGKILL)  # the child dies: the next picture starts another
        third = tmp_path / "d.png"
        assert process.draw("EURUSD", "M1", at_a, str(third)) is None
        assert process.starts == 2 and process.pid not in (None, pid)
        assert third.read_bytes().startswith(PNG_MAGIC)
        last = process.pid
    finally:
        process.close()
    assert process.pid is None
    assert last is not None
    try:
        os.kill(last, 0)
        alive = Path(f"/proc/{last}").exists() and "Z" not in Path(f"/proc/{last}/stat").read_text().split()[2]
    except ProcessLookupError:
        alive = False
    assert not alive
