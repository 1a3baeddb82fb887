"""A signal's chart picture, drawn without a window: the chart's own widget in an offscreen child process.

outputs/ may not import Qt, so the picture process (outputs/picture_process.py: one
``python -m ita_desktop.ui.chart_snapshot --serve`` child that stays up) draws each signal's
picture, ending at the signal bar, its entry, stop and targets drawn as lines. The file goes where the outbox row's ``picture_path`` says (the data
folder's ``signal_pictures/<occurrence key>.png``), so the signal's picture is found again by key.
A picture that cannot be drawn is logged and the signal goes as text.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ita_desktop.outputs.picture_process import PictureProcess
from ita_desktop.storage.outbox import OutboxRow

log = logging.getLogger("ita.outputs")

PICTURES_FOLDER = "signal_pictures"


def picture_path(data_dir: Path, signal_key: str) -> Path:
    return data_dir / PICTURES_FOLDER / f"{signal_key}.png"


def _levels(p: dict) -> str:
    parts = []
    entry, stop = p.get("entry_price"), p.get("stop_price")
    if entry is not None:
        parts.append(f"entry={entry}")
    if stop is not None:
        parts.append(f"stop={stop}")
    for i, t in enumerate(p.get("targets") or [], 1):
        price = t.get("price")
        if price is None and t.get("r") is not None and entry is not None and stop is not None:
            price = entry + p["direction"] * t["r"] * abs(entry - stop)
        if price is not None:
            parts.append(f"T{i}={price}")
    return ",".join(parts)


class SignalPictures:
    """The sender's ``pictures`` hook: draws the missing pictures of due signal rows in the picture process."""

    def __init__(self, store_path: Path | None = None, process: PictureProcess | None = None) -> None:
        self.process = process or PictureProcess(store_path)

    def start(self) -> None:
        """Start the picture process now, so the first signal finds it warm."""
        self.process.start()

    def __call__(self, rows: list[OutboxRow]) -> None:
        for row in rows:
            if row.event != "signal" or not row.picture_path or Path(row.picture_path).is_file():
                continue
            Path(row.picture_path).parent.mkdir(parents=True, exist_ok=True)
            p = row.payload
            why = self.process.draw(p["symbol"], p["timeframe"], int(p["signal_time"]), row.picture_path, _levels(p))
            if why is not None:
                log.warning("the picture of %s could not be drawn (sent as text): %s", row.signal_key, why)

    def close(self) -> None:
        self.process.close()
