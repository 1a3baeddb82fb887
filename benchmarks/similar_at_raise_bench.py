"""What the similar past setups cost a fresh signal (issue 16: the line in the notification).

On the real EURUSD (../shared/data, imported into a throwaway ITA_HOME), per rule: the collection is built
(`ita learn index`), then a replay with notifications on raises the rule's signals of the second half of the
data. Printed:
- the feature vector at raise time (``learning.signal_features.live_features``, inside the live session,
  before the transaction that stores the signal): per signal, median and max;
- the sender's hook (``learning.similar_line.SimilarLines``) per signal: the ChromaDB query (k=10) and the whole
  hook (query + the line written into the signal's outbox rows);
- the hook's index opening in a fresh process would also pay importing ChromaDB: timed here as opening a
  second client on the same folder (ChromaDB already imported), and the import alone in a child process.
Asserts nothing.

    uv run python benchmarks/similar_at_raise_bench.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RULES = ("ib_raid", "fvg_reversal")


def _fmt(ms: list[float]) -> str:
    return f"median {statistics.median(ms):.2f} ms, max {max(ms):.2f} ms over {len(ms)}"


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from tests.support.real_bars import real_eurusd_home

    real_eurusd_home("ita-similar-bench-")
    from ita_desktop.core.live.replay_feed import play
    from ita_desktop.learning import signal_features
    from ita_desktop.learning.similar_line import SimilarLines
    from tests.support.cores import new_core

    print(f"load: {os.getloadavg()[0]:.1f} (1-min average) on {os.cpu_count()} cores")
    raise_ms: list[float] = []
    real = signal_features.live_features

    def timed(setup, occ):
        t = time.perf_counter()
        out = real(setup, occ)
        raise_ms.append((time.perf_counter() - t) * 1e3)
        return out

    signal_features.live_features = timed
    for rule in RULES:
        raise_ms.clear()
        with new_core() as core:
            ds, _ = core.learning.index(rule, "EURUSD")
            bars = core.store.bars.load("EURUSD", "M1")
            plan = core.live.replay("EURUSD", [rule], start_utc=int(bars.time[len(bars) // 2]), publish=False)
            plan.session.notify = ("telegram",)
            play(plan.session, plan.to_play)
            rows = [r for r in core.store.outbox.list() if r.event == "signal" and r.payload["rule_id"] == rule]
            t = time.perf_counter()
            lines = SimilarLines(core.learning.index_store, core.store.outbox)
            lines.ready.wait(120)
            opened = (time.perf_counter() - t) * 1e3
            hook = []
            for row in rows:
                t = time.perf_counter()
                lines([row])
                hook.append((time.perf_counter() - t) * 1e3)
        print(f"{rule}: {len(ds.all_time)} occurrences indexed ({len(ds)} with outcomes), {len(rows)} replayed signals, "
              f"{len(plan.session.rules[0].setup_bars)} setup bars")
        print(f"  feature vector at raise time: {_fmt(raise_ms)}")
        print(f"  sender's hook: index ready after {opened:.0f} ms (ChromaDB already imported); "
              f"query k=10 {_fmt(lines.query_ms)}; whole hook (query + line written) {_fmt(hook)}")
        print(f"  e.g. {rows[-1].payload.get('symbol')} {rule}: {lines(rows[-1:])[0].payload['similar']!r}")
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import chromadb"], check=True)
    print(f"importing ChromaDB in a fresh process (the hook's first open, on its own thread): "
          f"{(time.perf_counter() - t) * 1e3:.0f} ms (with the interpreter's start)")


if __name__ == "__main__":
    main()
