"""The CLI's fixed cost: `ita --version` and a warm `ita backtest asia_sweep --symbol EURUSD`, fresh processes.

    uv run python benchmarks/cli_bench.py [--runs 7]

A throwaway ITA_HOME gets the real EURUSD M1 file (../shared/data) through `ita data import`;
each figure is the median wall-clock time of ``--runs`` fresh processes after two warm-up
runs (numba cache and the rule version stored: "warm"). Python byte code is allowed to be
written (PYTHONDONTWRITEBYTECODE is dropped for the children), as on an installed machine.

Printed beside them, for scale: an empty interpreter, and the floor of any backtest, a fresh
process that only imports numpy, numba, sqlmodel (SQLAlchemy) and pydantic and loads one cached
numba kernel (the first load initialises numba's compiler target, whatever the kernel).
Goals (issue 19): `ita --version` <= 0.15 s, the warm backtest <= 0.5 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EURUSD = ROOT.parent / "shared" / "data" / "EURUSD_M1.csv"
ITA = [sys.executable, "-c", "import sys; from ita_desktop.cli.main import main; sys.exit(main())"]
FLOOR = ("import numpy, numba, sqlmodel, pydantic; from ita_desktop.detectors.dispatcher import _first_not_increasing;"
         " _first_not_increasing(numpy.arange(3), 3)")


def timed(cmd: list[str], env: dict[str, str], runs: int) -> float:
    """Median seconds of ``runs`` fresh processes (after two warm-up runs); a failure stops the benchmark."""
    times = []
    for i in range(runs + 2):
        t0 = time.perf_counter()
        done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
        dt = time.perf_counter() - t0
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(cmd[-4:])} failed ({done.returncode}): {done.stderr[-500:]}")
        if i >= 2:
            times.append(dt)
    return statistics.median(times)


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
    print(f"fresh processes, median of {args.runs} after 2 warm-up runs, 2-core shared machine; "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"  python -c pass                                   {empty:6.3f} s")
    print(f"  ita --version                                    {version:6.3f} s   (goal <= 0.15 s)")
    print(f"  ita backtest asia_sweep --symbol EURUSD (warm)   {backtest:6.3f} s   (goal <= 0.5 s; "
          f"49,993 M1 bars of the real EURUSD)")
    print(f"  floor: numpy + numba + sqlmodel + pydantic imports and one cached kernel   {floor:6.3f} s")


if __name__ == "__main__":
    main()
