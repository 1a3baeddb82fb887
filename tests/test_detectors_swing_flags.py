"""swing_flags (the vectorised window extremes behind every swing) against the rule written out plainly.

Prices rounded to a few ticks so flat tops and bottoms (ties) are common; every length from 1 to 13
(powers of two, where the last doubling step is empty, included), both tie rules, blocks that start
before, at and after the first full window.
"""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from ita_desktop.detectors.swings import BLOCK, swing_flags


@njit(cache=False)
def compiled_flags(high, low, n, ties_all, b0, b1, scratch, flags):
    """The compiled helper, as the kernel inlines it (called from Python it would run as Python)."""
    swing_flags(high, low, n, ties_all, b0, b1, scratch, flags)


def plain_flags(high: np.ndarray, low: np.ndarray, n: int, ties_all: bool, b0: int, b1: int) -> np.ndarray:
    out = np.zeros(b1 - b0, np.int8)
    for i in range(max(b0, 2 * n), b1):
        p = i - n
        left_h, right_h = high[p - n:p].max(), high[p + 1:p + n + 1].max()
        left_l, right_l = low[p - n:p].min(), low[p + 1:p + n + 1].min()
        fh = high[p] >= right_h and (high[p] > left_h or (ties_all and high[p] == left_h))
        fl = low[p] <= right_l and (low[p] < left_l or (ties_all and low[p] == left_l))
        out[i - b0] = int(fh) | (int(fl) << 1)
    return out


@pytest.mark.parametrize("n", list(range(1, 14)))
def test_swing_flags_match_the_plain_rule(n: int) -> None:
    rng = np.random.default_rng(n)
    m = 3 * BLOCK + 77
    mid = 100 + np.cumsum(rng.integers(-2, 3, m)) * 0.5  # half-tick steps: many equal highs and lows
    high = mid + rng.integers(0, 3, m) * 0.5
    low = mid - rng.integers(0, 3, m) * 0.5
    scratch = np.empty((4, BLOCK + 2 * n + 2))
    flags = np.empty(BLOCK, np.int8)
    for ties_all in (False, True):
        for b0, b1 in ((0, BLOCK), (3, 2 * n + 1), (BLOCK, 2 * BLOCK), (2 * BLOCK + 5, m), (0, 2 * n), (m - 1, m)):
            if b1 - b0 > BLOCK or b1 <= b0:
                continue
            compiled_flags(high, low, n, ties_all, b0, b1, scratch, flags)
            np.testing.assert_array_equal(flags[: b1 - b0], plain_flags(high, low, n, ties_all, b0, b1),
                                          err_msg=f"n={n} ties_all={ties_all} bars {b0}..{b1}")
        # the kernel's view: a whole series in blocks, as Swings runs it
        got = np.concatenate([_block(high, low, n, ties_all, b, min(b + BLOCK, m), scratch, flags)
                              for b in range(0, m, BLOCK)])
        np.testing.assert_array_equal(got, plain_flags(high, low, n, ties_all, 0, m))
    assert np.count_nonzero(plain_flags(high, low, n, False, 0, m))  # the data has swings at all


def _block(high, low, n, ties_all, b0, b1, scratch, flags):
    compiled_flags(high, low, n, ties_all, b0, b1, scratch, flags)
    return flags[: b1 - b0].copy()
