"""A signal's chart picture, drawn without a window: the chart's own widget in an offscreen child process.

outputs/ may not import Qt, so it runs ``python -m ita_desktop.ui.chart_snapshot`` (the same child
``ita review`` uses) with one ``--shot`` per signal, ending at the signal bar, its entry, stop and
targets drawn as lines. The file goes where the outbox row's ``picture_path`` says (the data
folder's ``signal_pictures/<occurrence key>.png``), so the signal's picture is found again by key.
A picture that cannot be drawn is logged and the signal goes as text.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from ita_desktop.storage.outbox import OutboxRow

log = logging.getLogger("ita.outputs")

PICTURES_FOLDER = "signal_pictures"
RENDER_TIMEOUT_S = 180.0


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


def render_pictures(rows: list[OutboxRow], timeout_s: float = RENDER_TIMEOUT_S) -> None:
    """Draw the missing pictures of ``rows`` (signal rows with a ``picture_path``): one child per series."""
    groups: dict[tuple[str, str], list[OutboxRow]] = defaultdict(list)
    wanted: set[str] = set()  # a signal sent to two channels shares one picture: drawn once
    for row in rows:
        if row.event == "signal" and row.picture_path and row.picture_path not in wanted \
                and not Path(row.picture_path).is_file():
            wanted.add(row.picture_path)
            groups[(row.payload["symbol"], row.payload["timeframe"])].append(row)
    for (symbol, timeframe), group in groups.items():
        cmd = [sys.executable, "-m", "ita_desktop.ui.chart_snapshot", "--symbol", symbol, "--timeframe", timeframe]
        for row in group:
            Path(row.picture_path).parent.mkdir(parents=True, exist_ok=True)
            cmd += ["--shot", str(int(row.payload["signal_time"])), row.picture_path,
                    "--levels", _levels(row.payload)]
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=env)
        except subprocess.TimeoutExpired:
            log.warning("the %s %s signal pictures took over %.0f s: sent as text", symbol, timeframe, timeout_s)
            continue
        if done.returncode != 0:
            log.warning("the %s %s signal pictures could not be drawn (sent as text): %s", symbol, timeframe,
                        done.stderr.strip()[-500:])
