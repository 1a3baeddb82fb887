"""variants.over_threads: every variant in exactly one range, whatever the count, and a kernel's error reaches
the caller (the sweep kernels run on these threads instead of a prange loop)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from ita_desktop.backtest.variants import over_threads


@pytest.mark.parametrize("n", [0, 1, 2, 3, 17, 1000])
def test_every_variant_runs_once(n: int) -> None:
    seen = np.zeros(n, np.int64)
    threads: set[int] = set()

    def kernel(v0: int, v1: int, out: np.ndarray) -> None:
        assert 0 <= v0 < v1 <= n
        out[v0:v1] += 1
        threads.add(threading.get_ident())

    over_threads(n, kernel, seen)
    assert seen.tolist() == [1] * n
    if n == 0:
        assert not threads


def test_a_kernel_error_reaches_the_caller() -> None:
    def kernel(v0: int, v1: int) -> None:
        if v0 <= 5 < v1:
            raise ZeroDivisionError("division by zero")

    with pytest.raises(ZeroDivisionError):
        over_threads(40, kernel)
