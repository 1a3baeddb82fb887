"""The chart picture without a window: the real chart widget, its detector overlays, rendered offscreen to PNG.

The CLI may not import Qt, so ``ita review`` runs this module in a child process
(``python -m ita_desktop.ui.chart_snapshot --symbol EURUSD --timeframe M15 --shot AT FILE``, offscreen
platform): the picture is the same chart the window shows, at a fixed size with the price and time
axes legible, ending at ``AT`` with the last VISIBLE_BARS bars in view.

``--serve`` keeps the child up for the notification sender (outputs/picture_process.py): Qt, the
Core and the kernels are loaded once, then one JSON request per stdin line is answered with one
JSON line on stdout (``{"id", "ok"}`` or ``{"id", "error"}``); anything else the child prints goes
to stderr, so the answers stay parseable.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from ita_desktop.domain.timeframes import Timeframe

if TYPE_CHECKING:
    from ita_desktop.core.app_core import Core

SIZE = (1280, 720)
VISIBLE_BARS = 120
RIGHT_PAD_BARS = 6


LEVEL_COLOURS = {"entry": "#4fa3ff", "stop": "#ff5252"}  # targets: TARGET_COLOUR
TARGET_COLOUR = "#4caf50"


def parse_levels(text: str) -> list[tuple[str, float]]:
    """``entry=1.085,stop=1.083,T1=1.089`` as (name, price) pairs (a signal's picture draws them)."""
    out = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, price = part.partition("=")
        out.append((name.strip(), float(price)))
    return out


def render_chart_png(core: Core, symbol: str, timeframe: Timeframe, at: int | None = None, *,
                     size: tuple[int, int] = SIZE, visible_bars: int = VISIBLE_BARS,
                     levels: list[tuple[str, float]] | None = None) -> bytes:
    """PNG bytes of the chart of ``symbol`` ``timeframe`` ending at ``at`` (a QApplication must exist);
    ``levels``: a signal's entry, stop and targets, drawn as labelled horizontal lines."""
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice
    from PySide6.QtWidgets import QApplication

    from ita_desktop.ui.chart.chart_data import prepare_chart_data
    from ita_desktop.ui.chart.overlays import OverlaySet, overlay_data
    from ita_desktop.ui.chart.widget import CandleChart
    from ita_desktop.ui.theme import get_theme

    sessions = core.settings.sessions
    end = None if at is None else int(at) + 1
    tail = core.series.load(symbol, timeframe, None, end)
    if not len(tail):
        from ita_desktop.domain.errors import ItaError

        raise ItaError(f"no {symbol} {timeframe.value} bars stored to draw")
    start = int(tail.time[max(0, len(tail) - visible_bars)])
    found = core.detection.detect_window(symbol, timeframe, start, end)  # the review's own detection, same warm-up
    bars = found.bars
    theme = get_theme(core.settings.ui.theme)
    chart = CandleChart(theme, sessions.clock, dict(sessions.windows))
    chart.resize(*size)
    chart.set_prepared(prepare_chart_data(bars, sessions.clock, dict(sessions.windows), core.series.digits(symbol)))
    overlays = OverlaySet(chart, theme, chart)  # goes with the chart
    overlays.set_layers(overlay_data(bars, found.result).layers)
    n = len(bars)
    chart.set_x_window(n - len(found.window) - 0.5, n - 0.5 + RIGHT_PAD_BARS)
    if levels:
        import pyqtgraph as pg

        for name, price in levels:
            colour = LEVEL_COLOURS.get(name, TARGET_COLOUR)
            line = pg.InfiniteLine(pos=price, angle=0, movable=False, pen=pg.mkPen(colour, width=2),
                                   label=f"{name} {price:g}", labelOpts={"color": colour, "position": 0.05})
            chart.plot.addItem(line)
    chart.show()
    QApplication.processEvents()
    image = chart.grab()
    buffer = QBuffer()
    data = QByteArray()
    buffer.setData(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    png = bytes(buffer.data())
    chart.close()
    chart.deleteLater()
    return png


def serve(core: Core, requests_in, answers_out) -> None:
    """Answer picture requests until stdin closes: ``{"id", "symbol", "timeframe", "at", "out", "levels"}``
    per line; a bad request or a failed drawing is an ``error`` answer, the child carries on."""
    import json

    from ita_desktop.domain.errors import ItaError

    answers_out.write(json.dumps({"ready": True}) + "\n")
    answers_out.flush()
    for line in requests_in:
        if not line.strip():
            continue
        req: dict = {}
        try:
            req = json.loads(line)
            png = render_chart_png(core, req["symbol"], Timeframe.parse(req["timeframe"]),
                                   int(req["at"]) if req.get("at") is not None else None,
                                   levels=parse_levels(req.get("levels") or ""))
            with open(req["out"], "wb") as file:
                file.write(png)
            answer = {"id": req.get("id"), "ok": True}
        except (ItaError, ValueError, KeyError, TypeError, OSError) as exc:
            answer = {"id": req.get("id") if isinstance(req, dict) else None, "error": f"{type(exc).__name__}: {exc}"}
        answers_out.write(json.dumps(answer) + "\n")
        answers_out.flush()


def warm_up(core: Core) -> None:
    """Draw one throwaway picture of the first stored series: Qt's chart, the store and the detector kernels
    are loaded before ``ready``, so the first signal's picture costs what the next ones do."""
    from ita_desktop.domain.errors import ItaError

    try:
        series = core.store.bars.series()
        if series:
            render_chart_png(core, series[0].symbol, Timeframe(series[0].timeframe))
    except (ItaError, ValueError) as exc:
        print(f"picture process warm-up: {exc}", file=sys.stderr)


def _serve_main(store: str | None) -> int:
    """``--serve``: the protocol owns the real stdout; prints from anything else go to stderr."""
    from pathlib import Path

    from PySide6.QtWidgets import QApplication

    from ita_desktop.config import load_settings
    from ita_desktop.core.app_core import Core
    from ita_desktop.paths import app_paths

    answers = sys.stdout
    sys.stdout = sys.stderr
    app = QApplication.instance() or QApplication([])
    paths = app_paths().ensure()
    with Core(load_settings(paths), paths, store_path=Path(store) if store else None) as core:
        warm_up(core)
        serve(core, sys.stdin, answers)
    del app
    return 0


def main(argv: list[str] | None = None) -> int:
    """Child-process entry for the CLI: write the PNG to --out; an error is one line on stderr, exit 1."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    parser = argparse.ArgumentParser(prog="python -m ita_desktop.ui.chart_snapshot")
    parser.add_argument("--serve", action="store_true",
                        help="stay up and answer JSON picture requests on stdin, one per line (outputs' picture process)")
    parser.add_argument("--store", default=None, help="--serve: the SQLite store to read (default: the data folder's)")
    parser.add_argument("--symbol")
    parser.add_argument("--timeframe")
    parser.add_argument("--shot", nargs=2, action="append", metavar=("AT", "OUT"),
                        help="a picture ending at AT (UTC epoch seconds; empty: the last bar) written to OUT (repeatable)")
    parser.add_argument("--levels", action="append", default=[], metavar="NAME=PRICE,...",
                        help="the lines of the shot of the same rank: entry=..,stop=..,T1=.. (a signal's picture)")
    args = parser.parse_args(argv)
    if args.serve:
        return _serve_main(args.store)
    if not (args.symbol and args.timeframe and args.shot):
        parser.error("--symbol, --timeframe and --shot are required (or --serve)")
    from PySide6.QtWidgets import QApplication

    from ita_desktop.config import load_settings
    from ita_desktop.core.app_core import Core
    from ita_desktop.domain.errors import ItaError
    from ita_desktop.paths import app_paths

    app = QApplication.instance() or QApplication([])
    paths = app_paths().ensure()
    try:
        with Core(load_settings(paths), paths) as core:
            for k, (at, out) in enumerate(args.shot):
                levels = parse_levels(args.levels[k]) if k < len(args.levels) else None
                png = render_chart_png(core, args.symbol, Timeframe.parse(args.timeframe), int(at) if at else None,
                                       levels=levels)
                with open(out, "wb") as file:
                    file.write(png)
    except (ItaError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    del app
    return 0


if __name__ == "__main__":
    sys.exit(main())
