"""The CLI's fixed cost: `ita --version` and a warm `ita backtest asia_sweep --symbol EURUSD`, fresh processes.

    uv run python benchmarks/cli_bench.py [--runs 7]

A throwaway ITA_HOME gets the real EURUSD M1 file (../shared/data) through `ita data import`;
each figure is the median wall-clock time of ``--runs`` fresh processes after two warm-up
runs (numba cache and the rule version stored: "warm"). Python byte code is allowed to be
written (PYTHONDONTWRITEBYTECODE is dropped for the children), as on an installed machine.

Printed beside them, for scale: an empty interpreter, and the floor of any backtest, a fresh
process that only imports numpy, numba and pydantic and loads one cached numba kernel (the app's
numba start-up, ``ita_desktop.numba_start``, and the CLI's garbage-collector pause included;
``ITA_NUMBA_FULL_START=1`` shows numba's own start-up).
Each line gives the median wall-clock time, the spread (min-max) and the median CPU time
(user + system) of the child: on a loaded shared machine the wall clock waits for a core, the
CPU time much less. Goals (issue 19): `ita --version` <= 0.15 s, the warm backtest <= 0.5 s.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EURUSD = ROOT.parent / "shared" / "data" / "EURUSD_M1.csv"
ITA = [sys.executable, "-c", "import sys; from ita_desktop.cli.main import main; sys.exit(main())"]
FLOOR = ("from ita_desktop.cli.main import collector_paused\n"
         "with collector_paused():\n"
         "    import numpy, numba, pydantic; from ita_desktop.detectors.dispatcher import _first_not_increasing\n"
         "_first_not_increasing(numpy.arange(3), 3)")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(cmd: list[str], env: dict[str, str], runs: int) -> str:
    """'median s (min-max) cpu median s' of ``runs`` fresh processes after two warm-up runs; a failure stops it."""
    times, cpus = [], []
    for i in range(runs + 2):
        c0, t0 = _children_cpu(), time.perf_counter()
        done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
        dt, dc = time.perf_counter() - t0, _children_cpu() - c0
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(cmd[-4:])} failed ({done.returncode}): {done.stderr[-500:]}")
        if i >= 2:
            times.append(dt)
            cpus.append(dc)
    return (f"{statistics.median(times):6.3f} s ({min(times):.3f}-{max(times):.3f}), "
            f"cpu {statistics.median(cpus):.3f} s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as home:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["ITA_HOME"] = home
        subprocess.run(ITA + ["data", "import", str(EURUSD), "--symbol", "EURUSD", "--server-tz=-03:30"], env=env,
                       cwd=ROOT, check=True, capture_output=True)
        empty = timed([sys.executable, "-c", "pass"], env, args.runs)
        version = timed(ITA + ["--version"], env, args.runs)
        backtest = timed(ITA + ["backtest", "asia_sweep", "--symbol", "EURUSD"], env, args.runs)
        floor = timed([sys.executable, "-c", FLOOR], env, args.runs)
        numba_own = timed(ITA + ["backtest", "asia_sweep", "--symbol", "EURUSD"], {**env, "ITA_NUMBA_FULL_START": "1"},
                          args.runs)
    print(f"fresh processes, median of {args.runs} after 2 warm-up runs, 2-core shared machine; "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"  python -c pass                                   {empty}")
    print(f"  ita --version                                    {version}   (goal <= 0.15 s)")
    print(f"  ita backtest asia_sweep --symbol EURUSD (warm)   {backtest}   (goal <= 0.5 s; "
          f"49,993 M1 bars of the real EURUSD)")
    print(f"    the same with numba's own start-up (ITA_NUMBA_FULL_START=1)   {numba_own}")
    print(f"  floor: numpy + numba + pydantic imports and one cached kernel   {floor}")


if __name__ == "__main__":
    main()
