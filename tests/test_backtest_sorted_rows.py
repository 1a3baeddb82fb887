"""The sweep statistics' own merge sort (``_kernel._sorted_rows``, compiled as in the kernel) gives exactly
numpy's stable order: by the first column, then the second, then the third, then the row (ties everywhere)."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from ita_desktop.backtest import _kernel as K


@njit(cache=False)
def _compiled_order(ti, n, c0, c1, c2):
    work = np.zeros((2, max(n, 1)), np.int64)
    return K._sorted_rows(ti, n, c0, c1, c2, work[0], work[1]).copy()


@pytest.mark.parametrize("n", [0, 1, 2, 3, 7, 16, 17, 100, 1000])
@pytest.mark.parametrize("spread", [2, 5, 1000])
def test_sorted_rows_is_the_stable_lexicographic_order(n: int, spread: int) -> None:
    rng = np.random.default_rng(n * 31 + spread)
    ti = rng.integers(0, spread, size=(n, K.NI)).astype(np.int64)
    expected = np.lexsort((ti[:, K.I_ORDER], ti[:, K.I_ENTRY_TIME], ti[:, K.I_EXIT_TIME])) if n else np.zeros(0, int)
    got = _compiled_order(ti, n, K.I_EXIT_TIME, K.I_ENTRY_TIME, K.I_ORDER)[:n]
    assert got.tolist() == expected.tolist()
    by_entry = _compiled_order(ti, n, K.I_ENTRY_BAR, K.I_ENTRY_BAR, K.I_ENTRY_BAR)[:n]
    assert by_entry.tolist() == np.argsort(ti[:, K.I_ENTRY_BAR], kind="mergesort").tolist()


def test_nearly_sorted_rows_keep_their_order_and_ties_keep_row_order() -> None:
    ti = np.zeros((9, K.NI), np.int64)
    ti[:, K.I_EXIT_TIME] = [1, 2, 2, 3, 3, 3, 5, 4, 6]
    ti[:, K.I_ENTRY_TIME] = [0, 1, 1, 2, 1, 2, 0, 0, 0]
    order = _compiled_order(ti, 9, K.I_EXIT_TIME, K.I_ENTRY_TIME, K.I_ORDER)
    assert order.tolist() == [0, 1, 2, 4, 3, 5, 7, 6, 8]
