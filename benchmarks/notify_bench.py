"""Notification benchmark: signal raised -> Telegram request received by the stand-in, picture included.

    uv run python benchmarks/notify_bench.py [--signals 5] [--rule asia_sweep]

The real EURUSD M1 file in a throwaway ITA_HOME; a replay of asia_sweep with the Telegram channel
pointed at the stand-in on 127.0.0.1 and the sender running as in ``ita live --notify`` (polling
every 50 ms; the picture process started with the sender, so the first signal may still wait for
its start-up: printed apart from the warm ones). After each signal the replay waits until the stand-in has its request (one signal at
a time, as in a quiet market). Timed: from the bus's SignalRaised (the signal committed with its
outbox row) to the stand-in's receipt, once with the chart picture drawn headless (sendPhoto) and
once without (sendMessage). Budget (issue 13): 1 s with the picture.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def one_pass(signals: int, rule: str, with_picture: bool) -> list[float]:
    from ita_desktop.bus.events import SignalRaised
    from ita_desktop.cli.core_factory import build_core
    from ita_desktop.core.live.replay_feed import play
    from ita_desktop.outputs.sender import OutboxSender
    from ita_desktop.outputs.signal_picture import SignalPictures
    from ita_desktop.outputs.telegram import TelegramChannel
    from tests.support.telegram_standin import TelegramStandIn

    raised_at: list[float] = []
    latencies: list[float] = []
    with build_core() as core, TelegramStandIn() as tg:
        core.bus.subscribe(SignalRaised, lambda e: raised_at.append(time.perf_counter()))
        plan = core.live.replay("EURUSD", [rule])
        session = plan.session
        session.notify = ("telegram",)
        pictures = SignalPictures(core.store_path) if with_picture else None
        if pictures is not None:
            pictures.start()  # as core.outputs.start_sender does: the process starts with the sender
        sender = OutboxSender(core.store.outbox, {"telegram": TelegramChannel(tg.token, tg.chat_id, tg.api_root)},
                              pictures=pictures)
        stop = threading.Event()
        thread = threading.Thread(target=sender.run, kwargs={"stop": stop, "poll_s": 0.05}, daemon=True)
        thread.start()

        def on_step(step) -> None:
            fresh = [r for r in step.raised if r.status != "skipped"]
            if not fresh:
                return
            want = len(latencies) + len(fresh)
            deadline = time.time() + 120
            while len([r for r in tg.received if "caption" in r or r.get("text", "").startswith(("LONG", "SHORT"))]) \
                    < want and time.time() < deadline:
                time.sleep(0.005)
            time.sleep(0.05)  # the bus handler's stamp
            got = [r for r in tg.received if "caption" in r or r.get("text", "").startswith(("LONG", "SHORT"))]
            for r, t0 in zip(got[len(latencies):want], raised_at[-len(fresh):]):
                latencies.append(r["received_at"] - t0)
            if len(latencies) >= signals:
                session.stop()

        play(session, plan.to_play, speed=None, on_step=on_step)
        stop.set()
        thread.join(10)
        if pictures is not None:
            pictures.close()
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--signals", type=int, default=5)
    parser.add_argument("--rule", default="asia_sweep")
    args = parser.parse_args()
    # the first home's numba cache (NUMBA_CACHE_DIR, set at the first import) serves the later passes:
    # pass 1 starts the picture process on a cold kernel cache, pass 2 on a warm one (a trader's usual day)
    for with_picture, cache in ((True, "cold kernel cache"), (True, "warm kernel cache"), (False, "")):
        from tests.support.real_bars import real_eurusd_home

        real_eurusd_home("ita-notify-bench-")
        lat = one_pass(args.signals, args.rule, with_picture)
        kind = "sendPhoto (chart drawn by the picture process)" if with_picture else "sendMessage (no picture)"
        warm = lat[1:] or lat
        print(f"signal raised -> Telegram stand-in received, {kind}{', ' + cache if cache else ''}: first signal {lat[0] * 1000:.0f} ms; "
              f"warm n={len(warm)} median {statistics.median(warm) * 1000:.0f} ms, worst {max(warm) * 1000:.0f} ms "
              f"(budget 1000 ms with the picture)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
