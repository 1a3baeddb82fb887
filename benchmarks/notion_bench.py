"""Notion benchmark: signal raised -> journal page created by the Notion stand-in, picture uploaded first.

    uv run python benchmarks/notion_bench.py [--signals 5] [--rule asia_sweep]

The real EURUSD M1 file in a throwaway ITA_HOME; a replay of the rule with the Notion channel (the
real notion-client) pointed at the stand-in on 127.0.0.1 and the sender polling every 50 ms. After
each signal the replay waits until the stand-in has made its page (one signal at a time). Timed:
from the bus's SignalRaised (the signal committed with its outbox row) to the page's creation, the
picture upload included (a ready 150 KB PNG is put at the signal's picture path: drawing the chart
is the picture process's cost, measured by notify_bench.py); the first delivery also reads the
database and its data source. Issue 13 sets its 1 s budget for Telegram; this prints Notion's.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def one_pass(signals: int, rule: str, png: Path) -> list[float]:
    from ita_desktop.bus.events import SignalRaised
    from ita_desktop.cli.core_factory import build_core
    from ita_desktop.core.live.replay_feed import play
    from ita_desktop.outputs.notion import NotionChannel
    from ita_desktop.outputs.sender import OutboxSender
    from tests.support.notion_standin import NotionStandIn

    def pictures(rows) -> None:
        for row in rows:
            if row.picture_path and not Path(row.picture_path).is_file():
                Path(row.picture_path).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(png, row.picture_path)

    raised_at: list[float] = []
    latencies: list[float] = []
    with build_core() as core, NotionStandIn() as notion:
        made_at: list[float] = []
        original = notion._create_page

        def stamped(h, data):  # the stand-in's moment of creation
            page = original(h, data)
            made_at.append(time.perf_counter())
            return page

        notion._create_page = stamped
        core.bus.subscribe(SignalRaised, lambda e: raised_at.append(time.perf_counter()))
        plan = core.live.replay("EURUSD", [rule])
        session = plan.session
        session.notify = ("notion",)
        sender = OutboxSender(core.store.outbox, {"notion": NotionChannel(notion.token, notion.database_id,
                                                                          notion.api_root)}, pictures=pictures)
        stop = threading.Event()
        thread = threading.Thread(target=sender.run, kwargs={"stop": stop, "poll_s": 0.05}, daemon=True)
        thread.start()

        def on_step(step) -> None:
            fresh = [r for r in step.raised if r.status != "skipped"]
            if not fresh:
                return
            want = len(latencies) + len(fresh)
            deadline = time.time() + 60
            while len(made_at) < want and time.time() < deadline:
                time.sleep(0.005)
            time.sleep(0.05)  # the bus handler's stamp
            for t1, t0 in zip(made_at[len(latencies):want], raised_at[-len(fresh):]):
                latencies.append(t1 - t0)
            if len(latencies) >= signals:
                session.stop()

        play(session, plan.to_play, speed=None, on_step=on_step)
        stop.set()
        thread.join(10)
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--signals", type=int, default=5)
    parser.add_argument("--rule", default="asia_sweep")
    args = parser.parse_args()
    from tests.support.real_bars import real_eurusd_home

    home = real_eurusd_home("ita-notion-bench-")
    png = home / "chart.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(150 * 1024))
    lat = one_pass(args.signals, args.rule, png)
    print(f"signal raised -> Notion stand-in page created (150 KB picture uploaded first): n={len(lat)} "
          f"median {statistics.median(lat) * 1000:.0f} ms, worst {max(lat) * 1000:.0f} ms, "
          f"first (reads the database and data source) {lat[0] * 1000:.0f} ms", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
