"""The learning dataset cache on the real EURUSD: a second call (and a new process's core) reads the rows back
instead of recomputing them, equal to the recomputed ones; new bars stored make the next call recompute."""

from __future__ import annotations

import time

import numpy as np
import pytest

from tests.support.cores import new_core
from tests.support.real_bars import eurusd_bars, store_bars

pytestmark = pytest.mark.realdata


def test_dataset_is_cached_across_cores_and_recomputed_after_new_bars(ita_home, eurusd_csv) -> None:
    bars = eurusd_bars(eurusd_csv)
    cut = int(bars.time[len(bars) * 3 // 4])
    store_bars(bars.between(None, cut))
    with new_core() as core:
        t0 = time.perf_counter()
        first = core.learning.dataset("ib_raid", "EURUSD")
        built_s = time.perf_counter() - t0
        assert (core.learning.cache.misses, core.learning.cache.hits) == (1, 0)
        assert core.learning.dataset("ib_raid", "EURUSD") is first  # memory
        assert core.learning.cache.hits == 1
    with new_core() as core:  # a new process: the file
        t0 = time.perf_counter()
        again = core.learning.dataset("ib_raid", "EURUSD")
        read_s = time.perf_counter() - t0
        assert (core.learning.cache.misses, core.learning.cache.hits) == (0, 1)
        assert again.fingerprint == first.fingerprint and len(again) == len(first)
        np.testing.assert_array_equal(again.X, first.X)
        np.testing.assert_array_equal(again.r, first.r)
        assert read_s < built_s  # gross bound only: reading back is never slower than the backtest it replaces
    store_bars(bars.between(cut, None))  # the rest of the file arrives
    with new_core() as core:
        longer = core.learning.dataset("ib_raid", "EURUSD")
        assert core.learning.cache.misses == 1
        assert len(longer) > len(first) and longer.fingerprint != first.fingerprint
        np.testing.assert_array_equal(longer.signal_time[: len(first)], first.signal_time)
