"""Live session benchmark: a LiveSession (core.live) with the four seed rules over H streamed M1 bars of
history, then bar closes fed one at a time, each stored with its signals in one transaction.

    uv run python benchmarks/live_session_bench.py [--history 100000,1000000,5000000] [--closes 300]
        [--replay 50000] [--replay-history 0,100000,1000000] [--replay-only] [--idle-s 10]
        [--rules asia_sweep,ib_raid,fvg_reversal,Frank_raid]

Prints, per history size: the session's start (every rule's full pass), then per bar close
(``LiveSession.process``: the rules' bars built, detectors + setup engine advanced, paper trades
re-simulated, the M1 bar merged into its month's chunk and the signals inserted in one SQLite
transaction) the median, 99th percentile and worst, against the 20 ms budget; a tick moving the
forming bar (the core's part only: no chart is drawn here); Bar Replay speed at full speed (bars a
second; signals stored, bars already stored); and the CPU of an idle MT5 feed polling every 500 ms
against the stand-in terminal (tests/standins, in process: its own numpy work counts too) as a
percentage of one core, against the 2 % budget. Bars: chained_series.chained_eurusd (the real
EURUSD M1's returns chained end to end). The store holds the last 60 days of the history (what a
bar close's merge touches is its month's chunk, whatever lies before it).

A closed bar is stored in the series' live tail (storage/bar_store.py: a row per bar, folded into
the month chunks every TAIL_LIMIT bars). So it also prints: the load of 1,000,000 M1 bars with a full
tail against none (budget 100 ms), and the bar write that folds a full tail into its month chunk
(once per TAIL_LIMIT bar closes, so it is not in the p99 of 300 closes). Replay speed is printed per
wall second and per CPU second of the process (the second is steadier on a shared machine), after
each ``--replay-history`` size of history (the session's start, every rule's full pass, is not in the
figure), with "a year of M1" in seconds both for a trading year (~372,000 M1 bars: 24 hours, 5 days
a week) and for 525,600 bars (every minute of a year), and the machine's load average. The rules on
one timeframe share their detectors (detectors/shared_detection.py): the count run per bar is printed.
``--replay-only`` skips the bar-close, tail and idle parts.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from chained_series import chained_eurusd, describe  # noqa: E402


def _pct(a: np.ndarray) -> str:
    return f"p50 {np.median(a) * 1e3:7.2f} ms  p99 {np.percentile(a, 99) * 1e3:7.2f} ms  worst {a.max() * 1e3:7.2f} ms"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--history", default="100000,1000000,5000000")
    ap.add_argument("--closes", type=int, default=300)
    ap.add_argument("--replay", type=int, default=50_000)
    ap.add_argument("--replay-history", default="0,100000,1000000")
    ap.add_argument("--replay-only", action="store_true")
    ap.add_argument("--idle-s", type=float, default=10.0)
    ap.add_argument("--rules", default="asia_sweep,ib_raid,fvg_reversal,Frank_raid")
    args = ap.parse_args()
    os.environ["ITA_HOME"] = tempfile.mkdtemp(prefix="ita-live-bench-")

    from ita_desktop.core.live.bar_builder import ClosedBar
    from ita_desktop.core.live.live_session import LiveSession
    from ita_desktop.domain.ingest import ImportResult
    from ita_desktop.rules.engine import compile_rule
    from ita_desktop.rules.loader import load_rule, repo_rules_dir
    from ita_desktop.storage.store import Store

    rules_ids = [r.strip() for r in args.rules.split(",") if r.strip()]
    histories = [int(h) for h in args.history.split(",")]
    latest = {r: max((repo_rules_dir() / r).glob("v*.yaml")) for r in rules_ids}
    compiled = [(compile_rule(load_rule(p).rule, "EURUSD"), None) for p in latest.values()]
    replay_histories = [int(h) for h in args.replay_history.split(",") if h.strip()]
    if args.replay_only:
        histories = []
    n_total = max(histories + [h + args.replay for h in replay_histories] + [args.replay]) + args.closes + 10
    print(f"bars: {describe(n_total)}; rules: {', '.join(f'{c.rule.rule_id} {c.timeframe.value}' for c, _ in compiled)}")
    m1 = chained_eurusd(n_total)

    def closed(i: int) -> ClosedBar:
        return ClosedBar(int(m1.time[i]), float(m1.open[i]), float(m1.high[i]), float(m1.low[i]), float(m1.close[i]),
                         int(m1.tick_volume[i]), float(m1.spread[i]))

    for h in histories:
        store_path = Path(os.environ["ITA_HOME"]) / f"bench-{h}.sqlite3"
        with Store.open(store_path) as store:
            history = m1.slice(0, h)
            recent = history.between(int(history.time[-1]) - 60 * 86_400, None)
            store.bars.write(ImportResult(path="bench", file_hash="", source_format="bench", server_tz="UTC",
                                          bars=recent, rows_read=len(recent)), symbol="EURUSD",
                             timeframe=m1.timeframe, source="csv")
            t0 = time.perf_counter()
            session = LiveSession(store, None, symbol="EURUSD", stream_timeframe=m1.timeframe, rules=compiled,
                                  history=history, source="live", store_bars=True)
            start = time.perf_counter() - t0
            per = np.empty(args.closes)
            ticks = np.empty(args.closes)
            in_store = np.zeros(args.closes)
            raised = 0
            write = store.bars.write
            current = [0]

            def timed_write(*a, **k):  # the SQLite part of a bar close, timed apart
                t = time.perf_counter()
                out = write(*a, **k)
                in_store[current[0]] += time.perf_counter() - t
                return out

            store.bars.write = timed_write  # type: ignore[method-assign]
            for j in range(args.closes):
                current[0] = j
                bar = closed(h + j)
                t = time.perf_counter()
                session.tick(bar.time + 30.0, bar.close, bar.close + 1e-5)
                ticks[j] = time.perf_counter() - t
                t = time.perf_counter()
                step = session.process([bar])
                per[j] = time.perf_counter() - t
                raised += len(step.raised)
            print(f"history {h:>9,} M1: session start {start:6.2f} s | bar close -> stored {_pct(per)} "
                  f"(budget 20 ms; {raised} signal(s))\n    of which rules + paper trades {_pct(per - in_store)}; "
                  f"SQLite (bar merge + signals) {_pct(in_store)} | tick -> forming bar {_pct(ticks)}", flush=True)

    # Bar Replay at full speed (signals stored; the bars are the store's already)
    for h in replay_histories:
        _replay(m1, compiled, h, args.replay)
    if args.replay_only:
        return

    _tail_load_and_fold(m1)

    _idle(m1, compiled, args.idle_s)


#: M1 bars in a trading year (24 hours, 5 days a week, 52 weeks) and in every minute of a year
TRADING_YEAR_M1 = 372_000
CALENDAR_YEAR_M1 = 525_600


def _replay(m1, compiled, history: int, n: int) -> None:
    """Bar Replay at full speed of ``n`` M1 bars after ``history`` bars (signals stored, bars not: the
    store's already), per wall and per CPU second, and what that makes a year of M1."""
    from ita_desktop.core.live.live_session import LiveSession
    from ita_desktop.core.live.replay_feed import play
    from ita_desktop.storage.store import Store

    with Store.open(Path(os.environ["ITA_HOME"]) / f"replay-{history}.sqlite3") as store:
        t = time.perf_counter()
        session = LiveSession(store, None, symbol="EURUSD", stream_timeframe=m1.timeframe, rules=compiled,
                              history=m1.slice(0, history), source="replay", store_bars=False)
        start = time.perf_counter() - t
        t, cpu = time.perf_counter(), time.process_time()
        step = play(session, m1.slice(history, history + n))
        took, cpu = time.perf_counter() - t, time.process_time() - cpu
    wall_rate, cpu_rate = n / took, n / cpu
    shared = getattr(session, "detections", None)  # None: code before detections were shared (A/B runs)
    per_bar = shared.detectors() if shared is not None else sum(len(a.setup.det.detectors) for a in session.rules)
    print(f"replay after {history:,} M1 of history (session start {start:.2f} s; {per_bar} "
          f"detectors run per bar for {len(compiled)} rules): {n:,} M1 bars in {took:.2f} s = {wall_rate:,.0f} bars/s "
          f"({cpu_rate:,.0f} per CPU second; {len(step.raised)} signals) at load {os.getloadavg()[0]:.1f}; a year of "
          f"M1 in {TRADING_YEAR_M1 / wall_rate:.0f} s ({TRADING_YEAR_M1 / cpu_rate:.0f} s of CPU) for "
          f"{TRADING_YEAR_M1:,} bars, {CALENDAR_YEAR_M1 / wall_rate:.0f} s ({CALENDAR_YEAR_M1 / cpu_rate:.0f} s of "
          f"CPU) for {CALENDAR_YEAR_M1:,} (goal: under 60 s); no chart drawn here", flush=True)


def _tail_load_and_fold(m1) -> None:
    """Load 1,000,000 M1 bars with the live tail empty and full (TAIL_LIMIT - 1 rows), then the bar
    write that folds the full tail into its month chunk."""
    from ita_desktop.domain.ingest import ImportResult
    from ita_desktop.storage import bar_store
    from ita_desktop.storage.store import Store

    n = 1_000_000
    limit = bar_store.TAIL_LIMIT
    if len(m1) < n + limit:
        from chained_series import chained_eurusd
        m1 = chained_eurusd(n + limit)

    def result(bars):
        return ImportResult(path="bench", file_hash="", source_format="bench", server_tz="UTC", bars=bars,
                            rows_read=len(bars))

    def load_ms(store) -> float:
        times = []
        for _ in range(7):
            t = time.perf_counter()
            store.bars.load("EURUSD", m1.timeframe)
            times.append(time.perf_counter() - t)
        return float(np.median(times)) * 1e3

    with Store.open(Path(os.environ["ITA_HOME"]) / "tail.sqlite3") as store:
        store.bars.write(result(m1.slice(0, n)), symbol="EURUSD", timeframe=m1.timeframe, source="csv")
        empty = load_ms(store)
        i = n
        while i < n + limit - 1:  # fill the tail in writes of up to TAIL_WRITE_MAX bars
            j = min(i + bar_store.TAIL_WRITE_MAX, n + limit - 1)
            store.bars.write(result(m1.slice(i, j)), symbol="EURUSD", timeframe=m1.timeframe, source="live")
            i = j
        assert store.bars.tail_size("EURUSD", m1.timeframe) == limit - 1
        full = load_ms(store)
        t = time.perf_counter()
        store.bars.write(result(m1.slice(i, i + 1)), symbol="EURUSD", timeframe=m1.timeframe, source="live")
        fold = (time.perf_counter() - t) * 1e3
        assert store.bars.tail_size("EURUSD", m1.timeframe) == 0
    print(f"load {n:,} M1 bars (median of 7): tail empty {empty:.1f} ms, tail full ({limit - 1:,} rows) {full:.1f} ms "
          f"(budget 100 ms) | the bar write that folds a full tail into its month chunk: {fold:.1f} ms "
          f"(once per {limit:,} bar closes)", flush=True)


def _idle(m1, compiled, seconds: float) -> None:
    """CPU of an idle MT5 feed: the terminal's clock stands still, so every poll finds nothing new."""
    from ita_desktop.config import MT5Settings
    from ita_desktop.core.live.live_session import LiveSession
    from ita_desktop.core.live.mt5_feed import MT5LiveFeed
    from ita_desktop.data.mt5_source import MT5Source
    from ita_desktop.storage.store import Store
    from tests.standins import mt5_module as standin

    n = 20_000
    part = m1.slice(0, n)
    rates = standin.rates_array({"time": part.time, "open": part.open, "high": part.high, "low": part.low,
                                 "close": part.close, "tick_volume": part.tick_volume, "spread": part.spread})
    terminal = standin.Terminal(rates={("EURUSD", 1): rates}, ticks={"EURUSD": standin.ticks_from_rates(rates, 1e-5)},
                                symbols={"EURUSD": standin.symbol("EURUSD", digits=5)}, live_now=int(part.time[-1]) + 61)
    with Store.open(Path(os.environ["ITA_HOME"]) / "idle.sqlite3") as store:
        session = LiveSession(store, None, symbol="EURUSD", stream_timeframe=m1.timeframe, rules=compiled,
                              history=part.slice(0, n - 1), source="live", store_bars=True)
        feed = MT5LiveFeed(session, MT5Source(MT5Settings(server_tz="UTC"), module=standin.new_module(terminal)),
                           interval_s=0.5, clock=lambda: float(part.time[-1]) + 61)
        feed.poll()  # connects, takes the last closed bar
        thread = threading.Thread(target=feed.run)
        wall0 = time.perf_counter()
        start_cpu = time.process_time()
        thread.start()
        time.sleep(seconds)
        used = time.process_time() - start_cpu
        wall = time.perf_counter() - wall0
        session.stop()
        thread.join(5)
        print(f"idle MT5 feed polling every 500 ms for {wall:.1f} s: {100 * used / wall:.2f} % of one core "
              f"(budget 2 %; includes the in-process stand-in terminal)")


if __name__ == "__main__":
    main()
