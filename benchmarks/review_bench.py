"""The app's own overhead per vision review, the model's time excluded (budget 300 ms, DESIGN.md).

On the real EURUSD M1 file built up to M15, in a throwaway ITA_HOME, offscreen Qt. Per review it
times what the app does itself: the picture (the window's chart grab, scaled to 1280x720 and PNG
encoded, on the GUI thread; and the CLI's headless render), the context (load + detection of the
window + ids), parsing the answer (JSON -> pydantic), grounding, storing the row and picture, and
drawing (building the review layer + handing it to the chart + one paint, GUI thread). A full
review through the stand-in OpenAI server on 127.0.0.1 is timed too, its model part (HTTP and the
client) reported apart. Prints median and worst of --runs.

    uv run python benchmarks/review_bench.py [--runs 15]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PySide6.QtWidgets import QApplication  # noqa: E402

BUDGET_MS = 300.0
GUI_BUDGET_MS = 50.0


def ms(fn):
    t = time.perf_counter()
    out = fn()
    return (time.perf_counter() - t) * 1000, out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="ita-review-bench-"))
    os.environ["ITA_HOME"] = str(home)
    app = QApplication.instance() or QApplication([])

    from ita_desktop.data.csv_import import read_csv
    from ita_desktop.domain.resample import resample
    from ita_desktop.domain.timeframes import Timeframe
    from ita_desktop.ui.chart.overlays.review_layer import REVIEW_LAYER, review_layer
    from ita_desktop.ui.chart_snapshot import render_chart_png
    from ita_desktop.ui.main_window import MainWindow
    from ita_desktop.ui.panels.review_panel import encode_png
    from ita_desktop.vision.answer_schema import ReviewAnswer
    from ita_desktop.vision.grounding import ground
    from tests.standins.openai_server import StandinOpenAI, Step
    from tests.support.cores import new_core
    from tests.support.real_bars import store_bars
    from tests.support.review_answers import as_text, tiny_png, valid_answer

    bars = read_csv(ROOT.parent / "shared" / "data" / "EURUSD_M1.csv", symbol="EURUSD", server_tz="-03:30").bars
    store_bars(resample(bars, Timeframe.M15))
    core = new_core()
    window = MainWindow(core, symbol="EURUSD", timeframe="M15")
    window.resize(1440, 900)
    window.show()
    deadline = time.time() + 120
    while (window.chart.bars is None or window.overlays.key is None) and time.time() < deadline:
        app.processEvents()
        time.sleep(0.01)
    desk, chart = window.review_desk, window.chart
    chart.set_x_window(chart.count - 120.5, chart.count + 5.5)
    app.processEvents()
    m15 = Timeframe.M15
    core.reviews.context("EURUSD", m15)  # warm: numba kernels, imports
    render_chart_png(core, "EURUSD", m15)
    rows: dict[str, list[float]] = {k: [] for k in ("picture_gui", "picture_encode", "context", "parse", "grounding", "store",
                                                    "drawing_gui", "total_app", "picture_cli", "review_call_app",
                                                    "review_call_model")}
    with StandinOpenAI([Step("{}")]) as server:
        core.settings.model.endpoint = server.endpoint
        for _ in range(args.runs):
            t, image = ms(desk.grab)
            rows["picture_gui"].append(t)
            t, png = ms(lambda: encode_png(image))
            rows["picture_encode"].append(t)
            t, ctx = ms(lambda: core.reviews.context("EURUSD", m15))
            rows["context"].append(t)
            text = as_text(valid_answer(ctx))
            t, answer = ms(lambda: ReviewAnswer.model_validate(json.loads(text)))
            rows["parse"].append(t)
            t, grounding = ms(lambda: ground(answer, ctx))
            rows["grounding"].append(t)
            t, _ = ms(lambda: core.store.reviews.add(png=png, symbol="EURUSD", timeframe="M15",
                                                     window=(ctx.first_time, ctx.last_time), endpoint_host="bench",
                                                     model="bench", prompt_version="bench", method="bench",
                                                     context=ctx.payload, raw_answer=[text],
                                                     answer=answer.model_dump(mode="json"), grounding=grounding,
                                                     latency_ms=0, tokens={}))
            rows["store"].append(t)
            dumped = answer.model_dump(mode="json")

            def draw():
                layer = review_layer(dumped, grounding, chart.bars.time, (ctx.first_time, ctx.last_time))
                window.overlays.set_layers({REVIEW_LAYER: layer})
                chart.grab()  # forces the paint

            t, _ = ms(draw)
            rows["drawing_gui"].append(t)
            rows["total_app"].append(sum(rows[k][-1] for k in ("picture_gui", "picture_encode", "context", "parse",
                                                                "grounding", "store", "drawing_gui")))
            t, _ = ms(lambda: render_chart_png(core, "EURUSD", m15))
            rows["picture_cli"].append(t)
            server.script = [Step(text)]
            t, _ = ms(lambda: core.reviews.review("EURUSD", m15, tiny_png(), context=ctx))
            timings = core.reviews.last_timings
            rows["review_call_model"].append(timings.model_ms)
            rows["review_call_app"].append(t - timings.model_ms)
    print(f"vision review overhead, EURUSD M15 (120 visible bars), {args.runs} runs; model time excluded")
    print(f"{'step':<22}{'median ms':>11}{'worst ms':>10}")
    for name, values in rows.items():
        print(f"{name:<22}{statistics.median(values):>11.1f}{max(values):>10.1f}")
    total = statistics.median(rows["total_app"])
    gui = statistics.median(rows["picture_gui"]) + statistics.median(rows["drawing_gui"])
    print(f"app overhead per review (window path): {total:.1f} ms median vs budget {BUDGET_MS:.0f} ms -> "
          f"{'OK' if total <= BUDGET_MS else 'OVER'}")
    print(f"GUI-thread work per review (grab + draw; PNG encoding runs in the job): {gui:.1f} ms median, worst single step "
          f"{max(max(rows['picture_gui']), max(rows['drawing_gui'])):.1f} ms vs {GUI_BUDGET_MS:.0f} ms")
    print("picture_cli is the headless render used by `ita review` (in its child process, after Qt starts)")
    window.close()
    core.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
